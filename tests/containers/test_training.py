"""The training image's contract: channels and hyperparameters in, model + metadata or a failure file out."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from containers.contracts.model_artifact import load_model_artifact, model_input_frame
from containers.training.hyperparameters import HyperparameterError, parse_hyperparameters
from containers.training.train import infer_problem_type
from tests.containers.conftest import make_tabular_frame, run_entry_point, write_training_job


def train_job(base: Path) -> tuple[int, str]:
    result = run_entry_point("containers.training", "train", {"SAGEMAKER_BASE_DIR": str(base)})
    return result.returncode, result.stdout + result.stderr


def failure_text(base: Path) -> str:
    return (base / "output" / "failure").read_text()


def test_train_writes_model_and_metadata_with_validation_metrics(tmp_path: Path) -> None:
    frame = make_tabular_frame(800, seed=2)
    write_training_job(tmp_path, frame, {"n_estimators": "20", "max_depth": "2"},
                       validation=make_tabular_frame(200, seed=3))
    code, output = train_job(tmp_path)
    assert code == 0, output
    assert not (tmp_path / "output" / "failure").exists()
    pipeline, metadata = load_model_artifact(tmp_path / "model")
    assert metadata.problem_type == "BinaryClassification"
    assert metadata.classes == (0, 1)
    assert [(f.name, f.type) for f in metadata.features] == [
        ("a", "numeric"), ("b", "numeric"), ("c", "numeric"), ("color", "categorical")]
    assert metadata.hyperparameters["n_estimators"] == 20
    assert metadata.metrics["validation_accuracy"] > 0.7
    assert "validation_accuracy=" in output
    predictions = pipeline.predict(model_input_frame(frame, metadata.features))
    assert set(np.unique(predictions)) <= {0, 1}


def test_train_reads_every_csv_of_the_channel_and_infers_regression(tmp_path: Path) -> None:
    frame = make_tabular_frame(400, seed=4)
    frame["target"] = frame["b"] * 3.5 + 0.25
    write_training_job(tmp_path, frame.iloc[:200], {"n_estimators": "10"})
    frame.iloc[200:].to_csv(tmp_path / "input" / "data" / "train" / "part2.csv", index=False)
    code, output = train_job(tmp_path)
    assert code == 0, output
    assert "400 rows" in output
    _, metadata = load_model_artifact(tmp_path / "model")
    assert metadata.problem_type == "Regression"
    assert metadata.classes is None
    assert metadata.metrics["train_r2"] > 0.8


@pytest.mark.parametrize(
    ("hyperparameters", "expected"),
    [
        ({"n_estimators": "abc"}, "'max_iter' parameter of HistGradientBoostingClassifier"),
        ({"learning_rate": "0"}, "learning_rate"),
        ({"problem_type": "Ranking"}, "problem_type='Ranking'"),
        ({"n_trees": "10"}, "HistGradientBoostingClassifier has no hyperparameter 'n_trees'; accepted: "),
        ({"max_dept": "3"}, "no hyperparameter 'max_dept' (did you mean 'max_depth'?)"),
        ({"estimator": "sklearn.ensemble.RandomForestClassifier", "max_iter": "10"},
         "RandomForestClassifier has no hyperparameter 'max_iter'"),
        ({"estimator": "sklearn.ensemble.RandomForestRegressor"}, "is a regressor; problem_type is Binary"),
        ({"estimator": "sklearn.ensemble.NoSuchForest"}, "module 'sklearn.ensemble' has no 'NoSuchForest'"),
    ],
)
def test_bad_hyperparameters_write_failure_naming_the_key(tmp_path: Path, hyperparameters: dict[str, str],
                                                          expected: str) -> None:
    write_training_job(tmp_path, make_tabular_frame(50), hyperparameters)
    code, output = train_job(tmp_path)
    assert code == 1
    assert expected in failure_text(tmp_path)
    assert "Traceback" not in output
    assert not (tmp_path / "model" / "model.joblib").exists()


def test_missing_train_channel_writes_failure(tmp_path: Path) -> None:
    (tmp_path / "input" / "config").mkdir(parents=True)
    code, _ = train_job(tmp_path)
    assert code == 1
    assert "channel 'train'" in failure_text(tmp_path)


def test_missing_target_column_writes_failure(tmp_path: Path) -> None:
    write_training_job(tmp_path, make_tabular_frame(50), {"target": "churn"})
    code, _ = train_job(tmp_path)
    assert code == 1
    assert "target column 'churn' not found" in failure_text(tmp_path)


def test_header_only_channel_writes_failure(tmp_path: Path) -> None:
    write_training_job(tmp_path, make_tabular_frame(10).iloc[:0])
    code, _ = train_job(tmp_path)
    assert code == 1
    assert "no data rows" in failure_text(tmp_path)


def test_entry_point_refuses_an_unknown_command(tmp_path: Path) -> None:
    result = run_entry_point("containers.training", "serve", {"SAGEMAKER_BASE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_hyperparameters_accept_sagemaker_strings_and_json_quoted_values() -> None:
    params = parse_hyperparameters({"target": '"churn"', "n_estimators": "250", "learning_rate": "0.05",
                                    "problem_type": "MulticlassClassification", "sagemaker_program": "x.py"})
    assert params.target == "churn"
    assert params.estimator_hyperparameters == {"n_estimators": "250", "learning_rate": "0.05"}
    assert params.problem_type == "MulticlassClassification"
    with pytest.raises(HyperparameterError, match="problem_type='Ranking'"):
        parse_hyperparameters({"problem_type": "Ranking"})
    with pytest.raises(HyperparameterError, match="expected an import path"):
        parse_hyperparameters({"estimator": "random forest"})


def test_problem_type_inference_by_target_values() -> None:
    assert infer_problem_type(pd.Series([0, 1, 1, 0])) == "BinaryClassification"
    assert infer_problem_type(pd.Series(["a", "b", "c", "a"])) == "MulticlassClassification"
    assert infer_problem_type(pd.Series([0.5, 1.25, 3.0, 2.0])) == "Regression"
    assert infer_problem_type(pd.Series(range(100))) == "Regression"


def test_saved_pipeline_is_the_contract_shape(trained_model_dir: Path) -> None:
    pipeline = joblib.load(trained_model_dir / "model.joblib")
    assert [name for name, _ in pipeline.steps] == ["preprocess", "model"]
    assert type(pipeline.named_steps["model"]).__name__ == "HistGradientBoostingClassifier"
