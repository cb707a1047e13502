"""`train` of SageMaker's framework images (sagemaker-training toolkit, script mode) with this Python.

The job's runner has unpacked `sagemaker_submit_directory` into `/opt/ml/code`. As the toolkit does, this
runs `python <sagemaker_program> --<hyperparameter> <value> ...` in that folder with the `SM_*`
environment (built by `containers.training.script_mode`, which implements the same contract for the
project's own image), and on failure writes the toolkit's reason to `/opt/ml/output/failure`.
Unlike the project image's script mode, the model folder is not checked: a framework image does not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from containers.training.script_mode import decode, read_json, script_environment
from containers.training.train import TrainingPaths, write_failure

PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"


def train(env: Mapping[str, str]) -> int:
    paths = TrainingPaths.from_env(env)
    raw = read_json(paths.hyperparameters, {})
    program = str(decode(raw.get(PROGRAM, "")))
    base = Path(env.get("SAGEMAKER_BASE_DIR", "/opt/ml"))
    code_dir = base / "code"
    if not program or not (code_dir / program).is_file():
        write_failure(paths.output, f"ImportModuleError: {PROGRAM}={program!r} is not in {code_dir}")
        return 1
    hyperparameters = {key: decode(value) for key, value in raw.items() if not key.startswith("sagemaker_")}
    variables = script_environment(env, paths, code_dir, program, hyperparameters)
    # The toolkit reports where the code came from, not where it was unpacked.
    variables["SM_MODULE_DIR"] = str(decode(raw.get(SUBMIT_DIRECTORY, str(code_dir))))
    for folder in (paths.model, paths.output / "data", paths.output / "intermediate"):
        folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, program, *json.loads(variables["SM_USER_ARGS"])]
    print(f"Invoking script with the following command:\n{' '.join(command)}", flush=True)
    code = subprocess.call(command, env=variables, cwd=code_dir)
    if code != 0:
        write_failure(paths.output, f"AlgorithmError: ExecuteUserScriptError:\nExitCode {code}\n"
                                    f"Command \"{' '.join(command)}\"")
        return code if code > 0 else 1
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] != ["train"]:
        print(f"usage: python -m mlops.local.engine.training_toolkit train (got {' '.join(argv) or 'nothing'})",
              file=sys.stderr)
        return 2
    return train(dict(os.environ))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
