"""The Evaluate step on a model that follows the artifact contract, run as SageMaker runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from containers.contracts.model_artifact import FeatureSpec, ModelMetadata, model_input_frame, save_model_artifact
from pipelines.steps.evaluate import main
from pipelines.steps.job import run_step

REPO_ROOT = Path(__file__).resolve().parents[2]
FEATURES = (FeatureSpec(name="a", type="numeric"), FeatureSpec(name="b", type="numeric"),
            FeatureSpec(name="colour", type="categorical"))


def make_split(rows: int, seed: int, problem_type: str) -> pd.DataFrame:
    """A split file's content: target first, then the features (with some missing values)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    colour = rng.choice(["red", "green"], size=rows).astype(object)
    signal = a + 0.5 * b + (colour == "red") + rng.normal(scale=0.4, size=rows)
    if problem_type == "Regression":
        target: np.ndarray = 3 * signal + 10
    elif problem_type == "BinaryClassification":
        target = (signal > 0.5).astype(int)
    else:
        target = np.digitize(signal, [0.0, 1.0])
    frame = pd.DataFrame({"target": target, "a": a, "b": b, "colour": colour})
    frame.loc[::10, "a"] = np.nan
    return frame


def write_model(folder: Path, problem_type: str) -> tuple[Pipeline, Path]:
    """Fit a small pipeline per the contract, save it, and pack it as SageMaker does (model.tar.gz)."""
    train = make_split(300, seed=1, problem_type=problem_type)
    preprocess = ColumnTransformer([
        ("numeric", SimpleImputer(), ["a", "b"]),
        ("categorical", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                  ("encode", OneHotEncoder(handle_unknown="ignore"))]), ["colour"]),
    ])
    estimator = LinearRegression() if problem_type == "Regression" else LogisticRegression(max_iter=500)
    pipeline = Pipeline([("preprocess", preprocess), ("model", estimator)])
    pipeline.fit(model_input_frame(train, FEATURES), train["target"])
    classes = None if problem_type == "Regression" else tuple(int(c) for c in pipeline.classes_)
    metadata = ModelMetadata(problem_type=problem_type, target="target", features=FEATURES, classes=classes,
                             sklearn_version=sklearn.__version__)
    model_dir = folder / "model-dir"
    save_model_artifact(model_dir, pipeline, metadata)
    archive_dir = folder / "processing" / "input" / "model"
    archive_dir.mkdir(parents=True)
    with tarfile.open(archive_dir / "model.tar.gz", "w:gz") as archive:
        for path in model_dir.iterdir():
            archive.add(path, arcname=path.name)
    return pipeline, archive_dir


def write_test_split(folder: Path, frame: pd.DataFrame) -> Path:
    test_dir = folder / "processing" / "input" / "test"
    test_dir.mkdir(parents=True)
    frame.to_csv(test_dir / "test.csv", index=False)
    return test_dir


def arguments(folder: Path, model_dir: Path, test_dir: Path) -> list[str]:
    return ["--model", str(model_dir), "--test", str(test_dir),
            "--output", str(folder / "processing" / "output" / "evaluation")]


def run_evaluate(folder: Path, model_dir: Path, test_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(folder / "ml")}
    return subprocess.run([sys.executable, "-m", "pipelines.steps.evaluate", *arguments(folder, model_dir, test_dir)],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False)


def evaluation(folder: Path) -> dict[str, object]:
    path = folder / "processing" / "output" / "evaluation" / "evaluation.json"
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


def test_evaluate_writes_binary_model_quality_metrics_from_the_tarball(tmp_path: Path) -> None:
    pipeline, model_dir = write_model(tmp_path, "BinaryClassification")
    test = make_split(250, seed=2, problem_type="BinaryClassification")
    result = run_evaluate(tmp_path, model_dir, write_test_split(tmp_path, test))
    assert result.returncode == 0, result.stderr
    report = evaluation(tmp_path)
    assert list(report) == ["version", "dataset", "binary_classification_metrics"]
    assert report["dataset"] == {"item_count": 250}
    metrics = report["binary_classification_metrics"]
    assert isinstance(metrics, dict)
    features = model_input_frame(test, FEATURES)
    expected_auc = roc_auc_score(test["target"], pipeline.predict_proba(features)[:, 1])
    assert metrics["auc"]["value"] == pytest.approx(expected_auc)
    assert metrics["accuracy"]["value"] == pytest.approx(accuracy_score(test["target"], pipeline.predict(features)))
    assert isinstance(metrics["auc"]["standard_deviation"], float), "250 rows: a spread is reported"
    assert set(metrics["confusion_matrix"]) == {"0", "1"}
    assert "auc=" in result.stdout


@pytest.mark.parametrize(
    ("problem_type", "key"),
    [("Regression", "regression_metrics"), ("MulticlassClassification", "multiclass_classification_metrics")],
)
def test_evaluate_writes_the_metrics_object_of_the_problem_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem_type: str, key: str
) -> None:
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "ml"))
    pipeline, model_dir = write_model(tmp_path, problem_type)
    test = make_split(120, seed=3, problem_type=problem_type)
    assert run_step("evaluate", main, arguments(tmp_path, model_dir, write_test_split(tmp_path, test))) == 0
    report = evaluation(tmp_path)
    assert list(report) == ["version", "dataset", key]
    metrics = report[key]
    assert isinstance(metrics, dict)
    predicted = pipeline.predict(model_input_frame(test, FEATURES))
    if problem_type == "Regression":
        assert metrics["r2"]["value"] == pytest.approx(r2_score(test["target"], predicted))
    else:
        assert metrics["accuracy"]["value"] == pytest.approx(accuracy_score(test["target"], predicted))
        assert set(metrics["confusion_matrix"]) == {"0", "1", "2"}


def test_evaluate_fails_with_a_message_when_the_test_split_lacks_the_target(tmp_path: Path) -> None:
    _, model_dir = write_model(tmp_path, "BinaryClassification")
    test = make_split(50, seed=2, problem_type="BinaryClassification").drop(columns=["target"])
    result = run_evaluate(tmp_path, model_dir, write_test_split(tmp_path, test))
    assert result.returncode == 1
    message = (tmp_path / "ml" / "output" / "message").read_text()
    assert message.startswith("evaluate: test split has no target column 'target'")
    assert "Traceback" not in result.stderr


def test_evaluate_fails_with_a_message_when_a_feature_column_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "ml"))
    _, model_dir = write_model(tmp_path, "BinaryClassification")
    test = make_split(50, seed=2, problem_type="BinaryClassification").drop(columns=["colour"])
    assert run_step("evaluate", main, arguments(tmp_path, model_dir, write_test_split(tmp_path, test))) == 1
    assert "missing feature columns: ['colour']" in (tmp_path / "ml" / "output" / "message").read_text()


def test_evaluate_fails_with_a_message_without_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "ml"))
    empty = tmp_path / "processing" / "input" / "model"
    empty.mkdir(parents=True)
    test_dir = write_test_split(tmp_path, make_split(30, seed=2, problem_type="BinaryClassification"))
    assert run_step("evaluate", main, arguments(tmp_path, empty, test_dir)) == 1
    assert "no model.tar.gz or model.joblib found in" in (tmp_path / "ml" / "output" / "message").read_text()
