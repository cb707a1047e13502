"""The default data set: bundled with scikit-learn, sanitized names, target first, no download."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pipelines.datasets import default_dataset, write_default_dataset


def test_default_dataset_has_sanitized_features_and_a_binary_target_first() -> None:
    frame = default_dataset()
    assert frame.shape == (569, 31)
    assert frame.columns[0] == "target"
    assert set(frame["target"].unique()) == {0, 1}
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", column) for column in frame.columns)
    assert "mean_radius" in frame.columns


def test_written_csv_reads_back_identically(tmp_path: Path) -> None:
    path = write_default_dataset(tmp_path / "raw", target="label")
    assert path == tmp_path / "raw" / "breast_cancer.csv"
    back = pd.read_csv(path)
    assert list(back.columns) == ["label", *default_dataset().columns[1:]]
    pd.testing.assert_frame_equal(back, default_dataset(target="label"), check_dtype=False)
