"""The default data set, with no download: scikit-learn's bundled breast cancer data as one CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

from pipelines.steps.preprocess import sanitize_features

DEFAULT_TARGET = "target"
DEFAULT_FILE_NAME = "breast_cancer.csv"


def default_dataset(target: str = DEFAULT_TARGET) -> pd.DataFrame:
    """569 rows, 30 numeric features (names sanitized, e.g. `mean_radius`), binary `target` first."""
    bundle = load_breast_cancer(as_frame=True)
    features: pd.DataFrame = bundle.data
    mapping = sanitize_features([str(column) for column in features.columns], target)
    frame = features.rename(columns=mapping)
    frame.insert(0, target, bundle.target.astype(int).to_numpy())
    return frame


def default_dataset_csv(target: str = DEFAULT_TARGET) -> bytes:
    """The default data set as CSV bytes (header row, no index), as uploaded to the data bucket."""
    return str(default_dataset(target).to_csv(index=False)).encode("utf-8")


def write_default_dataset(folder: Path, target: str = DEFAULT_TARGET) -> Path:
    """Write the default data set as `<folder>/breast_cancer.csv` and return the file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEFAULT_FILE_NAME
    path.write_bytes(default_dataset_csv(target))
    return path
