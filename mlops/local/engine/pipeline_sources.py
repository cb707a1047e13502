"""Other people's pipelines for local mode: a definition file, or a seed-code `get_pipeline(...)` built offline.

`--pipeline MODULE:FUNCTION` imports the module as SageMaker project seed code's `run_pipeline` does and
calls the function with `region`, `role` and `default_bucket` (plus `--kwargs`), in a child process
(`seed_build.py`) where boto3 talks to moto in memory (`mock_aws`), credentials are placeholders and
sockets and name lookups are refused: the SDK's uploads (step code, source tarballs, local inputs) land
in moto's S3 and are then written to the work folder's local S3, where the run reads them. Nothing
reaches the network.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.arns import arn
from config.images import REPO_ROOT
from mlops.local.engine.jobs import die_with
from mlops.local.errors import LocalModeError

_TARGET = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<function>[A-Za-z_]\w*)$")
PLACEHOLDER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local-pipeline-build", "AWS_SECRET_ACCESS_KEY": "local-pipeline-build",
                           "AWS_EC2_METADATA_DISABLED": "true", "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
# Variables that would point boto3 at real credentials or another endpoint.
_DROPPED = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL", "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CONFIG_FILE")


@dataclass(frozen=True)
class PipelineSource:
    """A definition to run and the name its pipeline has."""

    name: str
    definition: dict[str, Any]
    origin: str


def check_definition_shape(definition: Any, origin: str) -> dict[str, Any]:
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise LocalModeError(f"{origin}: not a SageMaker pipeline definition (no Steps list)")
    return definition


def definition_from_file(path: Path) -> PipelineSource:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise LocalModeError(f"--definition {path}: {error.strerror}") from None
    try:
        definition = json.loads(text)
    except ValueError as error:
        raise LocalModeError(f"--definition {path}: not JSON ({error})") from None
    return PipelineSource(name=path.stem, definition=check_definition_shape(definition, f"--definition {path}"),
                          origin=str(path))


def parse_kwargs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        kwargs = json.loads(text)
    except ValueError as error:
        raise LocalModeError(f"--kwargs: not JSON ({error})") from None
    if not isinstance(kwargs, dict):
        raise LocalModeError("--kwargs: expected a JSON object of keyword arguments")
    return kwargs


def build_environment(cwd: Path) -> dict[str, str]:
    """The user's folder first on the path: seed code has its own `pipelines` package, which must win
    over ours (the child imports nothing of the project but its own module)."""
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED}
    env.update(PLACEHOLDER_CREDENTIALS)
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), str(REPO_ROOT)])
    return env


def definition_from_module(target: str, kwargs: Mapping[str, Any], *, region: str, account: str, s3_root: Path,
                           cwd: Path) -> PipelineSource:
    """Build `MODULE:FUNCTION`'s pipeline offline (see the module docstring)."""
    if not _TARGET.match(target):
        raise LocalModeError(f"--pipeline {target!r}: expected MODULE:FUNCTION (e.g. pipelines.abalone.pipeline:"
                             "get_pipeline)")
    role = arn("iam", "role/mlops-local-pipeline", region=region, account=account, global_service=True)
    arguments = {"region": region, "role": role,
                 "default_bucket": f"sagemaker-{region}-{account}", **kwargs}
    parent = os.getpid()
    process = subprocess.run(
        [sys.executable, "-m", "mlops.local.engine.seed_build", target, json.dumps(arguments), str(s3_root)],
        stdin=subprocess.DEVNULL, capture_output=True, cwd=cwd, env=build_environment(cwd),
        preexec_fn=lambda: die_with(parent), check=False,
    )
    if process.returncode != 0:
        lines = [line for line in process.stderr.decode(errors="replace").splitlines() if line.strip()]
        raise LocalModeError(f"--pipeline {target}: {lines[-1] if lines else 'the build printed nothing'}")
    try:
        built = json.loads(process.stdout)
    except ValueError:
        raise LocalModeError(f"--pipeline {target}: the build printed no definition") from None
    definition = check_definition_shape(built.get("definition"), f"--pipeline {target}")
    return PipelineSource(name=str(built["name"]), definition=definition, origin=target)
