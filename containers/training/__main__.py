"""`python -m containers.training train`: the command SageMaker runs as `docker run IMAGE train`."""

from __future__ import annotations

import os
import sys

from containers.training import script_mode
from containers.training.tracking import track_training_job
from containers.training.train import TrainingPaths, main


def run(argv: list[str]) -> int:
    if argv[:1] != ["train"]:
        print(f"usage: python -m containers.training train (got {' '.join(argv) or 'no argument'})",
              file=sys.stderr)
        return 2
    # A job naming a script (`sagemaker_program`) runs it in script mode; otherwise the kit's trainer.
    paths = TrainingPaths.from_env(os.environ)
    try:
        scripted = script_mode.is_script_mode(paths.hyperparameters)
    except script_mode.ScriptModeError:
        scripted = False  # the trainer reports the unreadable file with its own message
    code = script_mode.main() if scripted else main()
    if code == 0:  # both write metadata.json, which the run record is read from
        track_training_job(os.environ, paths.hyperparameters, paths.model)
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
