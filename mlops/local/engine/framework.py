"""SageMaker framework images (scikit-learn, XGBoost, ...) in script mode, as local processes.

What the image would do, done with this project's Python:
- processing (`ScriptProcessor`/`SKLearnProcessor`: `python3 /opt/ml/processing/input/code/x.py`;
  `FrameworkProcessor`: `/bin/bash /opt/ml/processing/input/entrypoint/runproc.sh`): the entry point's
  `/opt/ml` paths are mapped into the job's sandbox, a shell script runs from a mapped copy, and `python`
  / `python3` on its PATH are this interpreter;
- training (`sagemaker_program`, `sagemaker_submit_directory`): the source tarball unpacked into
  `/opt/ml/code` as the training toolkit does, then `mlops.local.engine.training_toolkit` runs the script.
Built-in algorithm mode (no `sagemaker_program`) and `requirements.txt` (the toolkit would pip-install
it) are refused before the run starts.
"""

from __future__ import annotations

import json
import shlex
import sys
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops.local.engine.jobs import JobFailed, Sandbox
from mlops.local.engine.sagemaker_images import SageMakerImage, check_runnable, sagemaker_image
from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import WorkDir, file_uri_path

PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
REQUIREMENTS = "requirements.txt"
PYTHON_NAMES = ("python", "python3")
SHELLS = ("/bin/bash", "bash", "/bin/sh", "sh", "/usr/bin/bash", "/usr/bin/env bash")
SHIMS = "bin"
PATH_HOOK = Path(__file__).resolve().parent / "container_paths"
_PIP_REFUSAL = ("echo 'local mode does not install packages into the project Python: "
                "remove requirements.txt or install them yourself' >&2; exit 1")


def hyperparameter(hyperparameters: Mapping[str, Any], key: str) -> str | None:
    """A `sagemaker_*` hyperparameter as the SDK writes it (JSON-quoted) -> its value."""
    raw = hyperparameters.get(key)
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw


def source_archive(work: WorkDir, uri: str) -> Path:
    return file_uri_path(uri) or work.s3_path(uri)


def archive_names(path: Path) -> list[str]:
    with tarfile.open(path, "r:gz") as tar:
        return [member.name.removeprefix("./") for member in tar.getmembers()]


def check_source(work: WorkDir, uri: str, step: str, program: str | None) -> None:
    """A source tarball already in local S3 (the SDK uploads it when it builds the definition): the
    program must be in it, and a requirements.txt is refused (the toolkit would pip-install it)."""
    path = source_archive(work, uri)
    if not path.is_file():
        return  # produced by an earlier step: checked when the job stages it
    try:
        names = archive_names(path)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise UnsupportedDefinitionError(f"step {step}: {uri} is not a readable source tarball ({error})") from None
    if REQUIREMENTS in names:
        raise UnsupportedDefinitionError(
            f"step {step}: {uri} has a {REQUIREMENTS}, which SageMaker's container would pip-install; local "
            "mode does not install packages into the project's Python: install them there and remove the file")
    if program is not None and program not in names:
        raise UnsupportedDefinitionError(f"step {step}: {PROGRAM}={program!r} is not in {uri}")


def check_framework_step(step: Mapping[str, Any], work: WorkDir | None) -> SageMakerImage | None:
    """Before the run: a step on a SageMaker image runs here in script mode, or is refused by name."""
    name, kind = str(step.get("Name")), step.get("Type")
    arguments = step.get("Arguments", {})
    if kind == "Training":
        uri = arguments.get("AlgorithmSpecification", {}).get("TrainingImage")
    elif kind == "Processing":
        uri = arguments.get("AppSpecification", {}).get("ImageUri")
    else:
        return None
    image = sagemaker_image(uri) if isinstance(uri, str) else None
    if image is None:
        return None
    check_runnable(image, f"step {name}")
    if kind == "Training":
        hyperparameters = arguments.get("HyperParameters") or {}
        program = hyperparameter(hyperparameters, PROGRAM)
        if program is None:
            raise UnsupportedDefinitionError(
                f"step {name}: {image.describe()} without {PROGRAM} runs the built-in {image.family} algorithm, "
                "which local mode does not emulate; use script mode (an entry_point) or run it in SageMaker")
        source = hyperparameter(hyperparameters, SUBMIT_DIRECTORY)
        if source is not None and work is not None and not source.startswith("/opt/ml"):
            check_source(work, source, name, program)
    else:
        entrypoint = arguments.get("AppSpecification", {}).get("ContainerEntrypoint") or []
        program = str(entrypoint[0]) if entrypoint and isinstance(entrypoint[0], str) else ""
        if program not in PYTHON_NAMES + SHELLS:
            raise UnsupportedDefinitionError(
                f"step {name}: {image.describe()} with ContainerEntrypoint {entrypoint!r}: local mode runs a "
                "framework image's python3 or bash entry point (as the SDK's script and framework processors "
                "write them)")
        for item in arguments.get("ProcessingInputs", []):
            s3 = item.get("S3Input", {})
            source = s3.get("S3Uri")
            if item.get("InputName") == "code" and isinstance(source, str) and source.endswith(".tar.gz") \
                    and work is not None:
                check_source(work, source, name, None)
    return image


def shims(sandbox: Sandbox) -> Path:
    """`python`/`python3` as this interpreter and a `pip` that refuses, first on the job's PATH."""
    folder = sandbox.root / SHIMS
    folder.mkdir(parents=True, exist_ok=True)
    for name in PYTHON_NAMES:
        (folder / name).write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n', encoding="utf-8")
    for name in ("pip", "pip3"):
        (folder / name).write_text(f"#!/bin/sh\n{_PIP_REFUSAL}\n", encoding="utf-8")
    for path in folder.iterdir():
        path.chmod(0o755)
    return folder


def processing_command(entrypoint: Sequence[str], arguments: Sequence[str], sandbox: Sandbox) -> list[str]:
    """The command a framework image runs for a processing job's entry point, mapped into the sandbox."""
    program, *rest = [str(item) for item in entrypoint]
    mapped = [sandbox.rewrite(item) for item in rest]
    if program in PYTHON_NAMES:
        return [sys.executable, *mapped, *arguments]
    # A shell entry point (FrameworkProcessor's runproc.sh): run a copy whose /opt/ml paths are mapped;
    # the staged input itself is a link to the local S3 object and stays untouched.
    if not mapped:
        raise JobFailed(f"entry point {program!r} has no script", "client")
    script = Path(mapped[0])
    try:
        text = script.read_text(encoding="utf-8")
    except OSError as error:
        raise JobFailed(f"entry point script {rest[0]}: {error.strerror}", "client") from None
    copy = sandbox.root / "entrypoint" / script.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(sandbox.rewrite(text), encoding="utf-8")
    return ["/bin/bash", str(copy), *mapped[1:], *arguments]


def framework_environment(sandbox: Sandbox, env: Mapping[str, str]) -> dict[str, str]:
    """The job's environment plus what stands in for the container: the shims first on PATH, and the
    `/opt/ml` path hook (container_paths/sitecustomize.py) loaded by every Python process of the job."""
    return {
        **env,
        "PATH": f"{shims(sandbox)}:{env.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": ":".join(filter(None, [str(PATH_HOOK), env.get("PYTHONPATH")])),
        "MLOPS_CONTAINER_OPT_ML": str(sandbox.opt_ml),
    }


def stage_source(work: WorkDir, hyperparameters: Mapping[str, Any], sandbox: Sandbox) -> None:
    """`sagemaker_submit_directory` unpacked into `/opt/ml/code`, as the training toolkit does first."""
    source = hyperparameter(hyperparameters, SUBMIT_DIRECTORY)
    code = sandbox.opt_ml / "code"
    code.mkdir(parents=True, exist_ok=True)
    if source is None:
        return
    if source.startswith("/opt/ml"):
        return  # already in the container (e.g. a code channel); the toolkit reads it there
    path = source_archive(work, source)
    try:
        with tarfile.open(path, "r:gz") as tar:
            tar.extractall(code, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise JobFailed(f"{SUBMIT_DIRECTORY} {source}: cannot unpack ({error})", "client") from None
    if (code / REQUIREMENTS).is_file():
        raise JobFailed(f"{source} has a {REQUIREMENTS}; local mode does not install packages", "client")
