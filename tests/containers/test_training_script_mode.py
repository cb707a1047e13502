"""Script mode: `training.entry_point` runs under SageMaker's toolkit contract, and the model it
leaves is checked against the artifact contract before the job counts as done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from containers.contracts.model_artifact import load_model_artifact, model_input_frame
from tests.containers.conftest import make_tabular_frame, run_entry_point, write_training_job

SCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "script_mode"


def script_job(base: Path, script: str, hyperparameters: dict[str, str]) -> tuple[int, str]:
    frame = make_tabular_frame(300, seed=41)
    write_training_job(base, frame, {"sagemaker_program": script, **hyperparameters})
    code = base / "input" / "data" / "code"
    code.mkdir(parents=True)
    shutil.copy(SCRIPTS / script, code / script)
    result = run_entry_point("containers.training", "train", {"SAGEMAKER_BASE_DIR": str(base),
                                                               "SM_CHANNEL_TRAIN": str(base / "input/data/train"),
                                                               "SM_MODEL_DIR": str(base / "model"),
                                                               "SM_OUTPUT_DIR": str(base / "output")})
    return result.returncode, result.stdout + result.stderr


def test_user_script_gets_the_toolkit_contract_and_its_model_serves(tmp_path: Path) -> None:
    code, output = script_job(tmp_path, "train.py", {"n_estimators": "12", "target": "target",
                                                     "problem_type": "BinaryClassification"})
    assert code == 0, output
    assert not (tmp_path / "output" / "failure").exists()
    seen = json.loads((tmp_path / "output" / "data" / "environment.json").read_text())
    assert seen["SM_CHANNEL_TRAIN"] == str(tmp_path / "input" / "data" / "train")
    assert seen["SM_CHANNEL_CODE"] == str(tmp_path / "input" / "data" / "code")
    assert json.loads(seen["SM_CHANNELS"]) == ["code", "train"]
    assert seen["SM_MODEL_DIR"] == str(tmp_path / "model")
    # Values JSON-decoded as the toolkit does; SageMaker's own sagemaker_* keys are not the script's.
    assert json.loads(seen["SM_HPS"]) == {"n_estimators": 12, "target": "target",
                                          "problem_type": "BinaryClassification"}
    assert seen["SM_HP_N_ESTIMATORS"] == "12"
    assert json.loads(seen["SM_USER_ARGS"])[:2] == ["--n_estimators", "12"]
    assert seen["SM_USER_ENTRY_POINT"] == "train.py"
    pipeline, metadata = load_model_artifact(tmp_path / "model")
    assert type(pipeline.named_steps["model"]).__name__ == "RandomForestClassifier"
    assert pipeline.named_steps["model"].n_estimators == 12  # the --n_estimators argument reached the script
    rows = make_tabular_frame(20, seed=42)
    assert set(np.unique(pipeline.predict(model_input_frame(rows, metadata.features)))) <= {0, 1}
    assert "model artifact contract checked" in output


def test_user_script_that_forgets_the_model_fails_naming_the_missing_files(tmp_path: Path) -> None:
    code, output = script_job(tmp_path, "forgets_model.py", {"target": "target"})
    assert code == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert "training script forgets_model.py ended, but its model breaks the contract" in failure
    assert "missing model.joblib and metadata.json" in failure
    assert "Traceback" not in output


def test_user_script_that_raises_fails_with_its_last_error_line(tmp_path: Path) -> None:
    code, _ = script_job(tmp_path, "train.py", {"target": "no_such_column"})
    assert code == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert failure.startswith("training failed: training script train.py exited with code 1: KeyError")


def test_missing_script_in_the_code_channel_is_named(tmp_path: Path) -> None:
    write_training_job(tmp_path, make_tabular_frame(20), {"sagemaker_program": "train.py"})
    result = run_entry_point("containers.training", "train", {"SAGEMAKER_BASE_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "sagemaker_program='train.py': no such script in the 'code' channel" in (
        tmp_path / "output" / "failure").read_text()


def test_a_submit_directory_instead_of_the_code_channel_is_refused_by_name(tmp_path: Path) -> None:
    write_training_job(tmp_path, make_tabular_frame(20), {"sagemaker_program": "train.py",
                                                          "sagemaker_submit_directory": "s3://b/sourcedir.tar.gz"})
    result = run_entry_point("containers.training", "train", {"SAGEMAKER_BASE_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "sagemaker_submit_directory (a sourcedir.tar.gz) is not read by this image" in (
        tmp_path / "output" / "failure").read_text()
