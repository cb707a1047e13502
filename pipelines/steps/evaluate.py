"""Evaluate step: score the trained model on the test split and write evaluation.json (model-quality shape)."""

from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from containers.contracts.model_artifact import (
    MODEL_FILE,
    ModelArtifactError,
    ModelMetadata,
    load_model_artifact,
    model_input_frame,
)
from containers.contracts.model_quality import (
    ModelQualityError,
    ModelQualityStatistics,
    binary_classification_metrics,
    multiclass_classification_metrics,
    regression_metrics,
)
from pipelines.steps.job import StepError, run_step

EVALUATION_FILE = "evaluation.json"
MODEL_ARCHIVE = "model.tar.gz"
SEED = 42


def unpack_model(model_input: Path, workspace: Path) -> Path:
    """The folder holding model.joblib: the input itself, or model.tar.gz unpacked into `workspace`."""
    if (model_input / MODEL_FILE).is_file():
        return model_input
    archives = sorted(model_input.glob("*.tar.gz")) if model_input.is_dir() else [model_input]
    if not archives or not archives[0].is_file():
        raise StepError(f"no {MODEL_ARCHIVE} or {MODEL_FILE} found in {model_input}")
    try:
        with tarfile.open(archives[0], "r:gz") as archive:
            # The "data" filter refuses absolute paths, links out of the folder and device files.
            archive.extractall(workspace, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise StepError(f"{archives[0].name}: cannot unpack model archive: {exc}") from exc
    return workspace


def read_test_split(test_input: Path) -> pd.DataFrame:
    files = [test_input] if test_input.is_file() else sorted(test_input.rglob("*.csv"))
    if not files:
        raise StepError(f"no .csv file found under {test_input}")
    frames = [pd.read_csv(path) for path in files]
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if data.empty:
        raise StepError(f"test split {test_input} has no rows")
    return data


def model_quality(
    pipeline: Any, metadata: ModelMetadata, test: pd.DataFrame, seed: int = SEED
) -> ModelQualityStatistics:
    """Metrics of `pipeline` on `test` in the shape of the problem type's model-quality file."""
    if metadata.target not in test.columns:
        raise StepError(f"test split has no target column {metadata.target!r}; columns: {list(test.columns)}")
    actual = test[metadata.target]
    if actual.isna().any():
        raise StepError(f"test split: target column {metadata.target!r} has {int(actual.isna().sum())} empty value(s)")
    features = model_input_frame(test, metadata.features)
    predicted = pipeline.predict(features)
    if metadata.problem_type == "Regression":
        return regression_metrics(actual.to_numpy(dtype=float), np.asarray(predicted, dtype=float), seed=seed)
    classes = list(getattr(pipeline, "classes_", metadata.classes or ()))
    if metadata.problem_type == "MulticlassClassification":
        return multiclass_classification_metrics(actual.to_numpy(), predicted, labels=classes, seed=seed)
    # Binary: the positive class is the last of the sorted classes, as in training's own metrics.
    positive = classes[-1]
    scores = pipeline.predict_proba(features)[:, classes.index(positive)]
    return binary_classification_metrics(actual.to_numpy(), predicted, scores, positive, labels=classes, seed=seed)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="evaluate", description=__doc__)
    parser.add_argument("--model", type=Path, default=Path("/opt/ml/processing/input/model"))
    parser.add_argument("--test", type=Path, default=Path("/opt/ml/processing/input/test"))
    parser.add_argument("--output", type=Path, default=Path("/opt/ml/processing/output/evaluation"))
    parser.add_argument("--seed", type=int, default=SEED)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="model-") as workspace:
            pipeline, metadata = load_model_artifact(unpack_model(args.model, Path(workspace)))
            statistics = model_quality(pipeline, metadata, read_test_split(args.test), args.seed)
    except (ModelArtifactError, ModelQualityError) as exc:
        raise StepError(str(exc)) from exc
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / EVALUATION_FILE).write_text(statistics.to_json(), encoding="utf-8")
    metrics = getattr(statistics, statistics.metrics_key)
    headline = ", ".join(
        f"{name}={getattr(metrics, name).value:.4f}" for name in ("auc", "accuracy", "weighted_f1", "r2", "rmse")
        if hasattr(metrics, name) and isinstance(getattr(metrics, name).value, float)
    )
    rows = statistics.dataset.item_count if statistics.dataset else 0
    print(f"evaluate: {statistics.metrics_key} on {rows} rows: {headline}")


if __name__ == "__main__":
    sys.exit(run_step("evaluate", main))
