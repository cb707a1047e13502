"""Step caching (CacheConfig): a key over what a step does and reads, and the finished steps it maps to.

The key covers the step's resolved arguments (with the execution id masked, since every run writes
to its own prefix), the content of every local-S3 input the step reads, and the content hash of
the code that runs it (`config.images.source_tag`). SageMaker keys on the arguments alone; hashing
the inputs as well means a changed data file at the same URI is not mistaken for a cache hit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import WorkDir, prefix_files

EXECUTION_MASK = "{PipelineExecutionId}"
_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """ISO-8601 duration (`P30D`, `PT1H`, `P1Y2M`); a year counts 365 days, a month 30."""
    match = _DURATION.match(text or "")
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise UnsupportedDefinitionError(f"CacheConfig ExpireAfter {text!r} is not an ISO-8601 duration")
    years, months, weeks, days, hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return timedelta(days=365 * years + 30 * months + 7 * weeks + days, hours=hours, minutes=minutes,
                     seconds=seconds)


def content_digest(work: WorkDir, uri: str) -> str:
    digest = hashlib.sha256()
    for relative, path in prefix_files(work, uri):
        digest.update(relative.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _inputs_by_content(node: Any, inputs: Mapping[str, str]) -> Any:
    if isinstance(node, str) and node in inputs:
        return f"content:{inputs[node]}"
    if isinstance(node, Mapping):
        return {key: _inputs_by_content(value, inputs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inputs_by_content(item, inputs) for item in node]
    return node


def cache_key(
    step: Mapping[str, Any], arguments: Any, execution_id: str, code_tag: str, inputs: Mapping[str, str]
) -> str:
    """sha256 of the step's name, type and settings, its arguments and the code that runs it.

    Input URIs count by content (the upstream step may have run in another execution); the
    current execution id is masked in what is left (the outputs' prefixes).
    """
    settings = {key: value for key, value in step.items()
                if key not in ("Arguments", "CacheConfig", "RetryPolicies", "DependsOn", "DisplayName", "Description")}
    material = json.dumps(
        {"step": settings, "arguments": _inputs_by_content(arguments, inputs), "code": code_tag},
        sort_keys=True, default=str,
    ).replace(execution_id, EXECUTION_MASK)
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass
class CacheEntry:
    key: str
    step: str
    execution_id: str
    created: str
    properties: dict[str, Any]
    produced: list[str] = field(default_factory=list)


class StepCache:
    """Finished cacheable steps by key, one JSON file each under `<work>/cache/steps/`."""

    def __init__(self, work: WorkDir) -> None:
        self.work = work
        self.root = work.cache_root / "steps"

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def lookup(self, key: str, now: datetime, expire_after: timedelta | None) -> CacheEntry | None:
        """The entry for `key` if it has not expired and everything it produced is still on disk."""
        try:
            entry = CacheEntry(**json.loads(self._path(key).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        if expire_after is not None and now - datetime.fromisoformat(entry.created) > expire_after:
            return None
        if not all(prefix_files(self.work, uri) for uri in entry.produced):
            return None
        return entry

    def store(self, entry: CacheEntry) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self._path(entry.key).with_suffix(".partial")
        partial.write_text(json.dumps(asdict(entry), indent=1, default=str), encoding="utf-8")
        partial.replace(self._path(entry.key))


def expire_after(cache_config: Mapping[str, Any] | None) -> tuple[bool, timedelta | None]:
    """(enabled, expiry) of a step's CacheConfig."""
    if not cache_config or not cache_config.get("Enabled"):
        return False, None
    text = cache_config.get("ExpireAfter")
    return True, parse_duration(str(text)) if text else None


def input_digests(work: WorkDir, uris: Sequence[str]) -> dict[str, str]:
    return {uri: content_digest(work, uri) for uri in uris}
