"""The definition local mode runs: `build_pipeline_definition`'s JSON, cached per configuration and code.

Building imports the SageMaker SDK (seconds), so it happens in a child process started early (the
rest of the start-up overlaps it) and its result is kept in `<work>/cache/definitions/<key>.json`.
The key hashes the environment's configuration, the image source tag, the sources that build the
definition and the SDK version: any change builds afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from config.images import REPO_ROOT, source_tag
from config.settings import EnvironmentConfig
from mlops.local.engine.jobs import die_with
from mlops.local.errors import LocalModeError
from mlops.local.workdir import WorkDir, write_atomic
from pipelines.lineage import code_version

DEFINITION_SOURCES = ("pipelines/definition.py", "pipelines/sdk.py", "config/naming.py", "config/settings.py",
                      "config/images.py", "pipelines/lineage.py")


def definition_key(env: EnvironmentConfig) -> str:
    digest = hashlib.sha256()
    digest.update(env.model_dump_json().encode())
    digest.update(source_tag().encode())
    for relative in DEFINITION_SOURCES:
        digest.update(relative.encode() + b"\0" + (REPO_ROOT / relative).read_bytes())
    digest.update(metadata.version("sagemaker").encode())
    # The definition records the commit and tree state it was built from (lineage).
    digest.update(repr(code_version()).encode())
    if env.training.entry_point:  # its content names the code channel's prefix
        digest.update((REPO_ROOT / env.training.entry_point).read_bytes())
    return digest.hexdigest()[:24]


def _definition_of(text: str | bytes) -> dict[str, Any] | None:
    """The definition in `text`, or None when it is not one (a truncated or damaged cache entry)."""
    try:
        definition = json.loads(text)
    except ValueError:
        return None
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        return None
    return definition


@dataclass
class DefinitionBuild:
    """A definition that is cached already, or being built by a child process."""

    path: Path
    process: subprocess.Popen[bytes] | None = None
    cached: bool = False
    definition: dict[str, Any] | None = None

    def result(self) -> dict[str, Any]:
        if self.process is not None:
            stdout, stderr = self.process.communicate()
            if self.process.returncode != 0:
                lines = stderr.decode(errors="replace").strip().splitlines()
                raise LocalModeError(f"cannot build the pipeline definition: {lines[-1] if lines else 'no output'}")
            definition = _definition_of(stdout)
            if definition is None:
                raise LocalModeError("cannot build the pipeline definition: the builder printed no definition")
            self.process = None
            self.definition = definition
            write_atomic(self.path, json.dumps(definition, indent=1))
        assert self.definition is not None
        return dict(self.definition)


def start_definition_build(env: EnvironmentConfig, work: WorkDir) -> DefinitionBuild:
    path = work.cache_root / "definitions" / f"{definition_key(env)}.json"
    try:
        cached = _definition_of(path.read_bytes())
    except OSError:
        cached = None
    if cached is not None:
        return DefinitionBuild(path=path, cached=True, definition=cached)
    # Absent or damaged: a miss; the build below replaces a damaged entry.
    parent = os.getpid()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops.local.engine.definitions", env.model_dump_json()],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT,
        env={**os.environ, "SAGEMAKER_SUPPRESS_V2_WARNING": "1", "PYTHONPATH": str(REPO_ROOT)},
        start_new_session=True, preexec_fn=lambda: die_with(parent),  # noqa: PLW1509 - no allocation in it
    )
    return DefinitionBuild(path=path, process=process)


def main() -> int:
    """Child process: an EnvironmentConfig as JSON (argument) -> its definition JSON on stdout."""
    from pipelines.contract import DefinitionError
    from pipelines.definition import build_pipeline_definition

    try:
        env = EnvironmentConfig.model_validate_json(sys.argv[1])
        definition = build_pipeline_definition(env)
    except (DefinitionError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(definition))
    return 0


if __name__ == "__main__":
    sys.exit(main())
