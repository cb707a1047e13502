"""The training job: read the channels, fit the preprocessing + estimator pipeline, write the model."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from containers.contracts.model_artifact import (
    MAX_INFERRED_CLASSES,
    FeatureSpec,
    ModelArtifactError,
    ModelMetadata,
    ProblemType,
    add_model_extras,
    inference_code_channel,
    model_input_frame,
    save_model_artifact,
)
from containers.training.estimators import EstimatorError, build_estimator, parse_literal
from containers.training.hyperparameters import (
    HyperparameterError,
    Hyperparameters,
    parse_hyperparameters_json,
)


class TrainingError(ValueError):
    """Training cannot proceed: a missing channel, empty data, a missing target, ..."""


@dataclass(frozen=True)
class TrainingPaths:
    """Where SageMaker puts inputs and expects outputs, from env with the toolkit's overrides."""

    train: Path
    validation: Path
    hyperparameters: Path
    model: Path
    output: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrainingPaths:
        base = Path(env.get("SAGEMAKER_BASE_DIR", "/opt/ml"))
        config = Path(env.get("SM_INPUT_CONFIG_DIR", str(base / "input" / "config")))
        return cls(
            train=Path(env.get("SM_CHANNEL_TRAIN", str(base / "input" / "data" / "train"))),
            validation=Path(env.get("SM_CHANNEL_VALIDATION", str(base / "input" / "data" / "validation"))),
            hyperparameters=config / "hyperparameters.json",
            model=Path(env.get("SM_MODEL_DIR", str(base / "model"))),
            output=Path(env.get("SM_OUTPUT_DIR", str(base / "output"))),
        )


def read_channel(folder: Path, name: str, *, required: bool) -> pd.DataFrame | None:
    """All CSV files of a channel folder (header row each), concatenated in file-name order."""
    if not folder.is_dir():
        if required:
            raise TrainingError(f"channel {name!r}: folder {folder} does not exist")
        return None
    files = sorted(path for path in folder.rglob("*.csv") if path.is_file())
    if not files:
        if required:
            raise TrainingError(f"channel {name!r}: no .csv file in {folder}")
        return None
    frames = []
    for path in files:
        try:
            frames.append(pd.read_csv(path))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise TrainingError(f"channel {name!r}: {path}: not a readable CSV ({error})") from error
    header = list(frames[0].columns)
    for path, frame in zip(files, frames, strict=True):
        if list(frame.columns) != header:
            raise TrainingError(f"channel {name!r}: {path} has columns {list(frame.columns)}, expected {header}")
    data = pd.concat(frames, ignore_index=True)
    if data.empty:
        raise TrainingError(f"channel {name!r}: no data rows in {', '.join(str(p) for p in files)}")
    return data


def feature_specs(frame: pd.DataFrame, target: str) -> tuple[FeatureSpec, ...]:
    """Numbers are numeric features; everything else (strings, booleans, mixed) is categorical."""
    specs = []
    for name in frame.columns:
        if name == target:
            continue
        column = frame[name]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        specs.append(FeatureSpec(name=str(name), type="numeric" if numeric else "categorical"))
    if not specs:
        raise TrainingError(f"no feature columns besides the target {target!r}")
    return tuple(specs)


def infer_problem_type(target: pd.Series) -> ProblemType:
    """Strings/booleans, or few distinct whole numbers, are classes; other numbers are a regression."""
    values = target.dropna()
    distinct = values.nunique()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        whole = bool(np.all(np.mod(values.to_numpy(dtype=float), 1.0) == 0.0))
        if not (whole and distinct <= MAX_INFERRED_CLASSES):
            return "Regression"
    return "BinaryClassification" if distinct <= 2 else "MulticlassClassification"


def build_pipeline(features: tuple[FeatureSpec, ...], estimator: Any) -> Pipeline:
    """The model artifact contract's pipeline: ColumnTransformer then the configured estimator.

    One preprocessing for every estimator (median-imputed, scaled numbers; one-hot categories), so
    evaluation, monitoring and the serving fast path read any model the same way.
    """
    numeric = [f.name for f in features if f.type == "numeric"]
    categorical = [f.name for f in features if f.type == "categorical"]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        steps = [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        transformers.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        # Dense output: the estimator gets a plain float array, which the serving fast path rebuilds.
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        steps = [("impute", SimpleImputer(strategy="most_frequent")), ("onehot", onehot)]
        transformers.append(("categorical", Pipeline(steps), categorical))
    preprocess = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def split_target(
    frame: pd.DataFrame, target: str, features: tuple[FeatureSpec, ...], channel: str
) -> tuple[pd.DataFrame, pd.Series]:
    if target not in frame.columns:
        raise TrainingError(
            f"channel {channel!r}: target column {target!r} not found (columns: {list(frame.columns)})"
        )
    missing_target = int(frame[target].isna().sum())
    if missing_target:
        raise TrainingError(f"channel {channel!r}: target column {target!r} has {missing_target} empty value(s)")
    try:
        features_frame = model_input_frame(frame, features)
    except ModelArtifactError as error:
        raise TrainingError(f"channel {channel!r}: {error}") from error
    return features_frame, frame[target]


def evaluate(pipeline: Pipeline, x: pd.DataFrame, y: pd.Series, problem_type: ProblemType) -> dict[str, float]:
    """Validation metrics by problem type (names as the evaluation report uses them)."""
    predictions = pipeline.predict(x)
    if problem_type == "Regression":
        return {
            "rmse": float(np.sqrt(mean_squared_error(y, predictions))),
            "mae": float(mean_absolute_error(y, predictions)),
            "r2": float(r2_score(y, predictions)) if len(y) > 1 else 0.0,
        }
    metrics = {
        "accuracy": float(accuracy_score(y, predictions)),
        "f1": float(f1_score(y, predictions, average="binary" if problem_type == "BinaryClassification" else "macro",
                             pos_label=pipeline.classes_[-1] if problem_type == "BinaryClassification" else 1)),
    }
    if problem_type == "BinaryClassification" and y.nunique() == 2:
        scores = pipeline.predict_proba(x)[:, 1]
        metrics["auc"] = float(roc_auc_score(y == pipeline.classes_[1], scores))
    return metrics


def python_labels(classes: np.ndarray) -> tuple[Any, ...]:
    """numpy class labels as JSON-ready Python values (np.int64 -> int, np.str_ -> str)."""
    return tuple(value.item() if hasattr(value, "item") else value for value in classes)


def train(paths: TrainingPaths, log: Any = print) -> ModelMetadata:
    """Run the whole job; raises TrainingError or HyperparameterError with a message naming the cause."""
    started = time.perf_counter()
    if paths.hyperparameters.is_file():
        params = parse_hyperparameters_json(paths.hyperparameters.read_text(encoding="utf-8"),
                                            str(paths.hyperparameters))
    else:
        params = Hyperparameters()
    log(f"hyperparameters: {params.model_dump_json()}")

    train_frame = read_channel(paths.train, "train", required=True)
    assert train_frame is not None  # required=True raises instead of returning None
    log(f"channel 'train': {len(train_frame)} rows x {train_frame.shape[1]} columns from {paths.train}")
    validation_frame = read_channel(paths.validation, "validation", required=False)
    if validation_frame is not None:
        log(f"channel 'validation': {len(validation_frame)} rows from {paths.validation}")
    if params.target not in train_frame.columns:
        raise TrainingError(
            f"channel 'train': target column {params.target!r} not found (columns: {list(train_frame.columns)})"
        )

    features = feature_specs(train_frame, params.target)
    x_train, y_train = split_target(train_frame, params.target, features, "train")
    problem_type = params.problem_type or infer_problem_type(y_train)
    if problem_type != "Regression":
        distinct = y_train.nunique()
        if distinct < 2:
            raise TrainingError(f"{problem_type}: target {params.target!r} has a single class")
        if problem_type == "BinaryClassification" and distinct != 2:
            raise TrainingError(f"BinaryClassification: target {params.target!r} has {distinct} classes")
    elif not pd.api.types.is_numeric_dtype(y_train):
        raise TrainingError(f"Regression: target {params.target!r} is not numeric")
    log(f"problem type: {problem_type}; features: "
        + ", ".join(f"{f.name}({f.type})" for f in features))

    estimator = build_estimator(params.estimator, params.estimator_hyperparameters, problem_type)
    log(f"estimator: {params.estimator} -> {type(estimator).__module__}.{type(estimator).__name__}")
    pipeline = build_pipeline(features, estimator)
    pipeline.fit(x_train, y_train)
    log(f"fitted {type(pipeline.named_steps['model']).__name__} in {time.perf_counter() - started:.2f}s")

    metrics = {f"train_{k}": v for k, v in evaluate(pipeline, x_train, y_train, problem_type).items()}
    if validation_frame is not None:
        x_val, y_val = split_target(validation_frame, params.target, features, "validation")
        metrics.update({f"validation_{k}": v for k, v in evaluate(pipeline, x_val, y_val, problem_type).items()})
    # One line per metric in the `name=value;` form SageMaker metric definitions match with a regex.
    for name, value in metrics.items():
        log(f"{name}={value:.6f};")

    metadata = ModelMetadata(
        problem_type=problem_type,
        target=params.target,
        features=features,
        classes=python_labels(pipeline.classes_) if problem_type != "Regression" else None,
        hyperparameters={"estimator": params.estimator,
                         **{key: parse_literal(value) for key, value in params.estimator_hyperparameters.items()}},
        metrics=metrics,
        sklearn_version=sklearn.__version__,
    )
    extras = add_model_extras(paths.model, train_channel=paths.train, code_channel=inference_code_channel(os.environ))
    if extras:
        log(f"shipped with the model: {', '.join(extras)}")
    save_model_artifact(paths.model, pipeline, metadata)
    log(f"model written to {paths.model} in {time.perf_counter() - started:.2f}s total")
    return metadata


def write_failure(output_dir: Path, message: str) -> None:
    """SageMaker shows the content of <output>/failure as the job's FailureReason."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "failure").write_text(message + "\n", encoding="utf-8")
    except OSError as error:
        print(f"could not write the failure file in {output_dir}: {error}", file=sys.stderr)


def main(env: Mapping[str, str] | None = None) -> int:
    """The `train` command: exit 0 with a model, or 1 with the reason in <output>/failure."""
    paths = TrainingPaths.from_env(os.environ if env is None else env)
    try:
        train(paths)
    except (TrainingError, HyperparameterError, EstimatorError, ModelArtifactError) as error:
        message = f"training failed: {error}"
    except Exception as error:  # anything else still becomes a FailureReason, not a bare traceback
        message = f"training failed: {type(error).__name__}: {error}"
    else:
        return 0
    print(message, file=sys.stderr)
    write_failure(paths.output, message)
    return 1

