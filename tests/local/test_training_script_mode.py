"""Local mode runs a definition's script-mode Training step (sagemaker_program + `code` channel) as
the training image does in the cloud, and fails it with the image's reason when the model is missing."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest

from mlops.local.errors import StepFailedError
from mlops.local.workdir import WorkDir
from pipelines.contract import CODE_CHANNEL, PROGRAM_HYPERPARAMETER
from tests.local.conftest import BUCKET, definition, executor, put_object
from tests.local.test_executor import _training_step

SCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "script_mode"
CODE_URI = f"s3://{BUCKET}/code/0123abcd/"


def script_step(work: WorkDir, script: str) -> dict[str, Any]:
    rows = ["target,a,kind"] + [f"{i % 2},{(i % 2) * 3 + i % 5 * 0.1},{'xyz'[i % 3]}" for i in range(60)]
    put_object(work, f"s3://{BUCKET}/splits/train/train.csv", "\n".join(rows) + "\n")
    put_object(work, CODE_URI + script, (SCRIPTS / script).read_text())
    step = _training_step({PROGRAM_HYPERPARAMETER: script, "n_estimators": "8", "target": "target",
                           "problem_type": "BinaryClassification"})
    step["Arguments"]["InputDataConfig"].append({"ChannelName": CODE_CHANNEL, "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": CODE_URI, "S3DataDistributionType": "FullyReplicated"}}})
    return step


def test_script_mode_training_step_packs_the_scripts_model(work: WorkDir) -> None:
    record = executor(definition(script_step(work, "train.py")), work).run()
    model_uri = (record.steps["Train"].properties or {})["ModelArtifacts"]["S3ModelArtifacts"]
    with tarfile.open(work.s3_path(model_uri)) as archive:
        assert {"model.joblib", "metadata.json"} <= set(archive.getnames())


def test_script_mode_step_that_forgets_the_model_fails_naming_what_is_missing(work: WorkDir) -> None:
    with pytest.raises(StepFailedError, match=r"forgets_model\.py ended, but .* missing model\.joblib and metadata"):
        executor(definition(script_step(work, "forgets_model.py")), work).run()
