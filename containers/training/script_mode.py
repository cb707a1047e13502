"""Script mode: run the user's `training.entry_point` as SageMaker's training toolkit runs one.

The job names the script with the toolkit's own `sagemaker_program` hyperparameter and brings it in
the `code` channel. The script gets the toolkit's contract: `SM_CHANNEL_<NAME>`, `SM_CHANNELS`,
`SM_MODEL_DIR`, `SM_OUTPUT_DATA_DIR`, `SM_HPS` and `SM_HP_<NAME>` (values JSON-decoded where they
parse), the same hyperparameters as `--name value` arguments, `hyperparameters.json` in
`SM_INPUT_CONFIG_DIR`, and the code folder on PYTHONPATH (as is the kit, so it can import
`containers.contracts.model_artifact`). After it ends, the model folder is checked against the model
artifact contract; any failure goes to `/opt/ml/output/failure` with a non-zero exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from containers.contracts.model_artifact import (
    ModelArtifactError,
    add_model_extras,
    check_model_artifact,
    inference_code_channel,
)
from containers.training.train import TrainingPaths, write_failure

PROGRAM_HYPERPARAMETER = "sagemaker_program"
CODE_CHANNEL = "code"
# Lines of the script's stderr kept for the failure reason (SageMaker shows up to 1 KB of it).
STDERR_TAIL = 20


class ScriptModeError(ValueError):
    """The script is missing, failed, or left a model folder that breaks the artifact contract."""


def decode(value: Any) -> Any:
    """A hyperparameter as the toolkit hands it to the script: JSON-decoded when it parses."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def read_json(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ScriptModeError(f"{path}: not readable JSON ({error})") from error


def is_script_mode(hyperparameters_file: Path) -> bool:
    raw = read_json(hyperparameters_file, {})
    return isinstance(raw, dict) and PROGRAM_HYPERPARAMETER in raw


def script_environment(env: Mapping[str, str], paths: TrainingPaths, code_dir: Path,
                       program: str, hyperparameters: dict[str, Any]) -> dict[str, str]:
    """The SM_* variables of the toolkit's `Training Env`, for a single host."""
    base = Path(env.get("SAGEMAKER_BASE_DIR", "/opt/ml"))
    input_dir = base / "input"
    config_dir = paths.hyperparameters.parent
    data_dir = input_dir / "data"
    channels = sorted(path.name for path in data_dir.iterdir() if path.is_dir()) if data_dir.is_dir() else []
    channel_dirs = {name: env.get(f"SM_CHANNEL_{name.upper()}", str(data_dir / name)) for name in channels}
    resource = read_json(config_dir / "resourceconfig.json", {"current_host": "algo-1", "hosts": ["algo-1"]})
    input_data = read_json(config_dir / "inputdataconfig.json", {})
    arguments = [item for key, value in hyperparameters.items() for item in (f"--{key}", _as_text(value))]
    variables = {
        "SM_MODEL_DIR": str(paths.model),
        "SM_OUTPUT_DIR": str(paths.output),
        "SM_OUTPUT_DATA_DIR": str(paths.output / "data"),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(paths.output / "intermediate"),
        "SM_INPUT_DIR": str(input_dir),
        "SM_INPUT_CONFIG_DIR": str(config_dir),
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(hyperparameters),
        "SM_USER_ENTRY_POINT": program,
        "SM_MODULE_NAME": Path(program).stem,
        "SM_MODULE_DIR": str(code_dir),
        "SM_USER_ARGS": json.dumps(arguments),
        "SM_HOSTS": json.dumps(resource.get("hosts", ["algo-1"])),
        "SM_CURRENT_HOST": str(resource.get("current_host", "algo-1")),
        "SM_RESOURCE_CONFIG": json.dumps(resource),
        "SM_INPUT_DATA_CONFIG": json.dumps(input_data),
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_NUM_GPUS": "0",
        "SM_LOG_LEVEL": "20",
    }
    variables |= {f"SM_CHANNEL_{name.upper()}": folder for name, folder in channel_dirs.items()}
    variables |= {f"SM_HP_{key.upper()}": _as_text(value) for key, value in hyperparameters.items()}
    variables["SM_TRAINING_ENV"] = json.dumps({
        "channel_input_dirs": channel_dirs, "hyperparameters": hyperparameters, "model_dir": str(paths.model),
        "output_data_dir": str(paths.output / "data"), "user_entry_point": program, "module_dir": str(code_dir),
        "current_host": variables["SM_CURRENT_HOST"], "hosts": json.loads(variables["SM_HOSTS"]),
    })
    kit_root = str(Path(__file__).resolve().parents[2])  # /opt/program in the image
    python_path = [str(code_dir), kit_root, *filter(None, [env.get("PYTHONPATH")])]
    return {**env, **variables, "PYTHONPATH": os.pathsep.join(python_path)}


def run_script(env: Mapping[str, str], log: Any = print) -> None:
    """Run the script and check the model it wrote; raises ScriptModeError naming the cause."""
    paths = TrainingPaths.from_env(env)
    raw = read_json(paths.hyperparameters, {})
    program = str(decode(raw.get(PROGRAM_HYPERPARAMETER, "")))
    base = Path(env.get("SAGEMAKER_BASE_DIR", "/opt/ml"))
    code_dir = Path(env.get(f"SM_CHANNEL_{CODE_CHANNEL.upper()}", str(base / "input" / "data" / CODE_CHANNEL)))
    script = code_dir / program
    if "sagemaker_submit_directory" in raw and not code_dir.is_dir():
        raise ScriptModeError("sagemaker_submit_directory (a sourcedir.tar.gz) is not read by this image; "
                              f"ship the script in the {CODE_CHANNEL!r} channel (training.entry_point does)")
    if not program or Path(program).name != program or not script.is_file():
        raise ScriptModeError(f"{PROGRAM_HYPERPARAMETER}={program!r}: no such script in the {CODE_CHANNEL!r} "
                              f"channel ({code_dir})")
    hyperparameters = {key: decode(value) for key, value in raw.items() if not key.startswith("sagemaker_")}
    variables = script_environment(env, paths, code_dir, program, hyperparameters)
    for folder in (paths.model, paths.output / "data", paths.output / "intermediate"):
        folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(script), *json.loads(variables["SM_USER_ARGS"])]
    log(f"script mode: {' '.join(command)}")
    tail: deque[str] = deque(maxlen=STDERR_TAIL)
    # The script's stderr goes to the job log as it comes, and its last lines make the failure reason.
    with subprocess.Popen(command, env=variables, cwd=code_dir, stderr=subprocess.PIPE, text=True,
                          errors="replace") as process:
        assert process.stderr is not None  # stderr=PIPE
        for line in process.stderr:
            sys.stderr.write(line)
            tail.append(line.rstrip())
    if process.returncode != 0:
        last = next((line for line in reversed(tail) if line.strip()), "no error output")
        raise ScriptModeError(f"training script {program} exited with code {process.returncode}: {last}")
    try:
        metadata = check_model_artifact(paths.model)
    except ModelArtifactError as error:
        raise ScriptModeError(f"training script {program} ended, but its model breaks the contract: {error}") from None
    log(f"model artifact contract checked: {metadata.problem_type}, {len(metadata.features)} feature(s)")
    # The data contract and inference code travel with the user's model as with the kit's.
    try:
        extras = add_model_extras(paths.model, train_channel=paths.train, code_channel=inference_code_channel(env))
    except ModelArtifactError as error:
        raise ScriptModeError(str(error)) from None
    if extras:
        log(f"shipped with the model: {', '.join(extras)}")


def main(env: Mapping[str, str] | None = None) -> int:
    """`train` for a job with `sagemaker_program`: exit 0 with a checked model, or 1 with the reason."""
    env = dict(os.environ if env is None else env)
    paths = TrainingPaths.from_env(env)
    try:
        run_script(env)
    except ScriptModeError as error:
        message = f"training failed: {error}"
    else:
        return 0
    print(message, file=sys.stderr)
    failure = paths.output / "failure"
    # A script that wrote its own failure reason keeps it; ours follows on the next line.
    earlier = failure.read_text(encoding="utf-8").strip() if failure.is_file() else ""
    write_failure(paths.output, f"{earlier}\n{message}" if earlier else message)
    return 1
