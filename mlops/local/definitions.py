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
from mlops.local.errors import LocalModeError
from mlops.local.workdir import WorkDir

DEFINITION_SOURCES = ("pipelines/definition.py", "pipelines/sdk.py", "config/naming.py", "config/settings.py",
                      "config/images.py")


def definition_key(env: EnvironmentConfig) -> str:
    digest = hashlib.sha256()
    digest.update(env.model_dump_json().encode())
    digest.update(source_tag().encode())
    for relative in DEFINITION_SOURCES:
        digest.update(relative.encode() + b"\0" + (REPO_ROOT / relative).read_bytes())
    digest.update(metadata.version("sagemaker").encode())
    if env.training.entry_point:  # its content names the code channel's prefix
        digest.update((REPO_ROOT / env.training.entry_point).read_bytes())
    return digest.hexdigest()[:24]


@dataclass
class DefinitionBuild:
    """A definition that is cached already, or being built by a child process."""

    path: Path
    process: subprocess.Popen[bytes] | None = None
    cached: bool = False

    def result(self) -> dict[str, Any]:
        if self.process is not None:
            stdout, stderr = self.process.communicate()
            if self.process.returncode != 0:
                lines = stderr.decode(errors="replace").strip().splitlines()
                raise LocalModeError(f"cannot build the pipeline definition: {lines[-1] if lines else 'no output'}")
            definition = json.loads(stdout)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            partial.write_text(json.dumps(definition, indent=1), encoding="utf-8")
            partial.replace(self.path)
            self.process = None
            return dict(definition)
        return dict(json.loads(self.path.read_text(encoding="utf-8")))


def start_definition_build(env: EnvironmentConfig, work: WorkDir) -> DefinitionBuild:
    path = work.cache_root / "definitions" / f"{definition_key(env)}.json"
    if path.is_file():
        return DefinitionBuild(path=path, cached=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops.local.definitions", env.model_dump_json()],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT,
        env={**os.environ, "SAGEMAKER_SUPPRESS_V2_WARNING": "1", "PYTHONPATH": str(REPO_ROOT)},
    )
    return DefinitionBuild(path=path, process=process)


def main() -> int:
    """Child process: an EnvironmentConfig as JSON (argument) -> its definition JSON on stdout."""
    from pipelines.definition import DefinitionError, build_pipeline_definition

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
