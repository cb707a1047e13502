"""The model artifact contract: model.joblib + metadata.json, written by training, read by serving.

What every consumer (evaluation, registry metrics, serving, monitoring) needs in the model folder,
whether the kit's trainer or your own `training.entry_point` script wrote it:
- `model.joblib`: a fitted object with `predict(frame)` (a scikit-learn Pipeline is the usual one),
  taking a DataFrame with the metadata's feature columns in the form `model_input_frame` gives
  (numbers as float64, categories as str with NaN for missing). Classifiers also need
  `predict_proba(frame)` and `classes_` equal to the metadata's classes.
- `metadata.json`: `ModelMetadata` below (problem type, target, features in inference order,
  classes, hyperparameters, metrics, scikit-learn version).
`save_model_artifact` writes both; `check_model_artifact` is what the training image runs after a
user script ends, and its error names what is missing.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"

ProblemType = Literal["BinaryClassification", "MulticlassClassification", "Regression"]
# How a target without a declared problem type is read: whole numbers with at most this many distinct
# values are classes, other numbers a regression. Training and local mode's CSV check share it.
MAX_INFERRED_CLASSES = 20
FeatureType = Literal["numeric", "categorical"]
# Labels keep their JSON type (0/1 stays a number, "yes"/"no" a string) so responses echo them as trained.
Label = bool | int | float | str


class ModelArtifactError(ValueError):
    """A model folder that is missing a file or whose metadata.json breaks the contract."""


class FeatureSpec(BaseModel):
    """One input column, in inference order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: FeatureType


class ModelMetadata(BaseModel):
    """metadata.json: what a consumer needs to feed the pipeline and read its output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    problem_type: ProblemType
    target: str = Field(min_length=1)
    features: tuple[FeatureSpec, ...] = Field(min_length=1)
    classes: tuple[Label, ...] | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    sklearn_version: str

    @field_validator("features")
    @classmethod
    def _unique_feature_names(cls, features: tuple[FeatureSpec, ...]) -> tuple[FeatureSpec, ...]:
        names = [feature.name for feature in features]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate feature names: {duplicates}")
        return features

    @field_validator("metrics")
    @classmethod
    def _finite_metrics(cls, metrics: dict[str, float]) -> dict[str, float]:
        bad = sorted(name for name, value in metrics.items() if not math.isfinite(value))
        if bad:
            raise ValueError(f"metrics must be finite numbers (JSON has no NaN): {bad}")
        return metrics

    @model_validator(mode="after")
    def _classes_match_problem_type(self) -> ModelMetadata:
        is_classification = self.problem_type != "Regression"
        if is_classification and not self.classes:
            raise ValueError(f"{self.problem_type} needs the list of classes")
        if not is_classification and self.classes is not None:
            raise ValueError("Regression has no classes (use null)")
        if self.problem_type == "BinaryClassification" and self.classes and len(self.classes) != 2:
            raise ValueError(f"BinaryClassification needs exactly 2 classes, got {len(self.classes)}")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def is_classification(self) -> bool:
        return self.problem_type != "Regression"


def parse_metadata(text: str, source: str = METADATA_FILE) -> ModelMetadata:
    """Validate metadata.json text; the error names the file and the first bad field."""
    try:
        return ModelMetadata.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise ModelArtifactError(f"{source}: {where}: {first['msg']}") from error


def load_metadata(model_dir: Path) -> ModelMetadata:
    path = Path(model_dir) / METADATA_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ModelArtifactError(f"{path}: cannot read ({error.strerror})") from error
    return parse_metadata(text, str(path))


def load_model_artifact(model_dir: Path) -> tuple[Any, ModelMetadata]:
    """Load (fitted sklearn Pipeline, metadata) from a model folder."""
    import joblib  # imported here so metadata-only readers do not pay for joblib/sklearn

    metadata = load_metadata(model_dir)
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise ModelArtifactError(f"{path}: missing")
    try:
        pipeline = joblib.load(path)
    except Exception as error:  # unpickling can raise almost anything; the message names the file
        raise ModelArtifactError(f"{path}: cannot load ({type(error).__name__}: {error})") from error
    if not hasattr(pipeline, "predict"):
        raise ModelArtifactError(f"{path}: holds a {type(pipeline).__name__}, not a fitted pipeline")
    return pipeline, metadata


def check_model_artifact(model_dir: Path) -> ModelMetadata:
    """The contract above, checked: raises ModelArtifactError naming the missing file or broken promise."""
    model_dir = Path(model_dir)
    missing = [name for name in (MODEL_FILE, METADATA_FILE) if not (model_dir / name).is_file()]
    if missing:
        raise ModelArtifactError(
            f"{model_dir}: missing {' and '.join(missing)} (the model artifact contract needs {MODEL_FILE}, a "
            f"fitted pipeline, and {METADATA_FILE}; containers.contracts.model_artifact.save_model_artifact "
            "writes both)"
        )
    pipeline, metadata = load_model_artifact(model_dir)
    if metadata.is_classification:
        if not callable(getattr(pipeline, "predict_proba", None)):
            raise ModelArtifactError(f"{model_dir / MODEL_FILE}: a {metadata.problem_type} model needs predict_proba")
        fitted = [value.item() if hasattr(value, "item") else value for value in getattr(pipeline, "classes_", [])]
        if fitted != list(metadata.classes or ()):
            raise ModelArtifactError(
                f"{model_dir / METADATA_FILE}: classes {list(metadata.classes or ())} differ from the model's {fitted}"
            )
    return metadata


def _write_atomically(path: Path, write: Any) -> None:
    # A reader (a server polling for the model, a crash mid-write) never sees a half-written file.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def save_model_artifact(model_dir: Path, pipeline: Any, metadata: ModelMetadata) -> None:
    """Write model.joblib, then metadata.json (both atomically; metadata last marks completeness)."""
    import joblib

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(model_dir / MODEL_FILE, lambda tmp: joblib.dump(pipeline, tmp))
    text = json.dumps(metadata.model_dump(mode="json"), indent=2) + "\n"
    _write_atomically(model_dir / METADATA_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def model_input_frame(frame: Any, features: tuple[FeatureSpec, ...]) -> Any:
    """The DataFrame the pipeline was fitted on: metadata column order, numeric columns as float64,
    categorical columns as object holding `str` values with NaN for missing.

    Training, the serving fallback and evaluation all go through this one function, so a value
    reaches the fitted ColumnTransformer in the same form whichever door it came in by.
    Raises ModelArtifactError naming a missing column or the first non-numeric value.
    """
    import numpy as np
    import pandas as pd

    missing = [feature.name for feature in features if feature.name not in frame.columns]
    if missing:
        raise ModelArtifactError(f"missing feature columns: {missing}")
    columns: dict[str, Any] = {}
    for feature in features:
        column = frame[feature.name]
        if feature.type == "numeric":
            numbers = pd.to_numeric(column, errors="coerce").astype("float64")
            bad = (numbers.isna() & column.notna()) | np.isinf(numbers)
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise ModelArtifactError(
                    f"column {feature.name!r} row {row}: {column.iloc[row]!r} is not a finite number"
                )
            columns[feature.name] = numbers.to_numpy()
        else:
            values = column.to_numpy(dtype=object, na_value=np.nan)
            present = pd.notna(values)
            values[present] = [str(value) for value in values[present]]
            columns[feature.name] = values
    return pd.DataFrame(columns, index=frame.index)


# -- Optional files that travel with the model: the data contract and the user's inference code --------
# data-schema.json (containers/contracts/data_schema.py) checks requests at the server and captured
# data in the monitor; code/inference.py (SageMaker's framework convention) overrides the server's
# model_fn/input_fn/predict_fn/output_fn. Written before metadata.json, which marks completeness.
DATA_SCHEMA_FILE = "data-schema.json"
INFERENCE_CODE_DIR = "code"
# The training channel that carries the user's inference code folder into the job (script mode's
# `code` channel carries the training script; the two may be set together).
INFERENCE_CODE_CHANNEL = "inference_code"


def inference_code_channel(env: Any) -> Path:
    """SM_CHANNEL_INFERENCE_CODE, or where SageMaker mounts the `inference_code` channel."""
    base = Path(env.get("SAGEMAKER_BASE_DIR", "/opt/ml"))
    return Path(env.get(f"SM_CHANNEL_{INFERENCE_CODE_CHANNEL.upper()}",
                        str(base / "input" / "data" / INFERENCE_CODE_CHANNEL)))


def add_model_extras(model_dir: Path, *, train_channel: Path, code_channel: Path) -> list[str]:
    """Copy the schema Preprocess left beside train.csv and the inference code channel into the model
    folder; returns what was added (relative names) for the job's log."""
    import shutil

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    added: list[str] = []
    schema = Path(train_channel) / DATA_SCHEMA_FILE
    if schema.is_file():
        shutil.copyfile(schema, model_dir / DATA_SCHEMA_FILE)
        added.append(DATA_SCHEMA_FILE)
    code_channel = Path(code_channel)
    if code_channel.is_dir() and any(code_channel.iterdir()):
        if not (code_channel / "inference.py").is_file():
            raise ModelArtifactError(f"channel {INFERENCE_CODE_CHANNEL!r} ({code_channel}) has no inference.py")
        shutil.copytree(code_channel, model_dir / INFERENCE_CODE_DIR, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        added.append(f"{INFERENCE_CODE_DIR}/")
    return added
