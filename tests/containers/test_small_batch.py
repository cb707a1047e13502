"""The compiled small-batch route (preprocessing and trees in one numba call) gives the plain pipeline's
predictions bit for bit: on rows whose scaled values sit exactly on split thresholds, with missing
numbers and categories, unknown categories, for binary, multiclass and regression models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from containers.inference.codec import RowBatch, parse_csv
from containers.inference.predictor import Predictor
from containers.inference.preprocess import NumericBlock
from containers.inference.small_batch import SMALL_ROWS
from tests.containers.conftest import make_tabular_frame
from tests.containers.test_inference_estimators import labelled
from tests.containers.test_inference_fastpath import as_csv, fitted, request_rows

HGB = "containers.training.estimators:hist_gradient_boosting"
REPO_ROOT = Path(__file__).resolve().parents[2]


def on_thresholds(predictor: Predictor, base: RowBatch) -> RowBatch:
    """Copies of `base`'s first row, each with one numeric value chosen so that the preprocessing maps it
    exactly onto a split threshold of the first tree (searched ULP by ULP around the inverse)."""
    assert predictor.preprocessor is not None
    numeric_source = {}  # output feature -> (RowBatch numeric column, mean, scale)
    start = 0
    for block in predictor.preprocessor.blocks:
        if isinstance(block, NumericBlock):
            for j, column in enumerate(block.columns):
                mean = 0.0 if block.mean is None else float(block.mean[j])
                scale = 1.0 if block.scale is None else float(block.scale[j])
                numeric_source[start + j] = (column, mean, scale)
        start += block.width
    nodes = predictor.estimator._predictors[0][0].nodes
    numeric, categorical = [], []
    for split in nodes[~nodes["is_leaf"].astype(bool)]:
        if int(split["feature_idx"]) not in numeric_source or not np.isfinite(split["num_threshold"]):
            continue
        column, mean, scale = numeric_source[int(split["feature_idx"])]
        threshold = float(split["num_threshold"])
        guess = np.float64(threshold * scale + mean)
        for _ in range(64):
            if (guess - mean) / scale == threshold:
                row = base.numeric[0].copy()
                row[column] = guess
                numeric.append(row)
                categorical.append(base.categorical[0])
                break
            guess = np.nextafter(guess, np.inf if (guess - mean) / scale < threshold else -np.inf)
    assert numeric, "no threshold could be hit exactly"
    return RowBatch(numeric=np.array(numeric), categorical=np.array(categorical, dtype=object))


def head(batch: RowBatch, rows: int) -> RowBatch:
    return RowBatch(numeric=batch.numeric[:rows], categorical=batch.categorical[:rows])


def assert_exact(predictor: Predictor, pipeline: Any, batch: RowBatch, problem_type: str) -> None:
    result = predictor.predict(batch)
    frame = predictor.frame(batch)
    assert result.values == pipeline.predict(frame).tolist()
    if problem_type != "Regression":
        assert np.array_equal(result.probabilities, pipeline.predict_proba(frame))  # type: ignore[arg-type]


@pytest.mark.parametrize("problem_type", ["BinaryClassification", "MulticlassClassification", "Regression"])
def test_small_batches_equal_the_plain_pipeline_bit_for_bit(problem_type: str) -> None:
    pipeline, metadata = fitted(labelled(problem_type), problem_type, HGB, max_iter="30")
    predictor = Predictor(pipeline, metadata)
    assert predictor.small is not None
    # Missing numbers and categories, an unseen category; %.17g text reads back to the same floats.
    batch = parse_csv(as_csv(request_rows(SMALL_ROWS, seed=41)), predictor.layout)
    boundary = on_thresholds(predictor, batch)
    for probe in (batch, head(batch, 1), head(boundary, SMALL_ROWS)):
        assert probe.rows <= SMALL_ROWS
        assert_exact(predictor, pipeline, probe, problem_type)


def test_the_compiled_route_agrees_with_the_numpy_route_at_every_batch_size() -> None:
    pipeline, metadata = fitted(make_tabular_frame(400, seed=42), "BinaryClassification", HGB, max_iter="20")
    compiled, numpy_only = Predictor(pipeline, metadata), Predictor(pipeline, metadata, small_batch=False)
    assert compiled.small is not None
    assert numpy_only.small is None
    rows = request_rows(40, seed=43)
    for count in (1, SMALL_ROWS, SMALL_ROWS + 1, 40):
        batch = parse_csv(as_csv(rows.iloc[:count]), compiled.layout)
        a, b = compiled.predict(batch), numpy_only.predict(batch)
        assert a.values == b.values
        assert np.array_equal(a.probabilities, b.probabilities)  # type: ignore[arg-type]


def test_the_image_builds_warm_up_is_what_a_served_model_loads(trained_model_dir: Path, tmp_path: Path) -> None:
    """`python -m containers.inference.small_batch` (a step of the image build) compiles the kernel for
    the argument types a served model passes: a worker then loads it from numba's cache, no compiling."""
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    subprocess.run([sys.executable, "-m", "containers.inference.small_batch"], cwd=REPO_ROOT, env=environment,
                   check=True, timeout=300)
    served = """
import json, sys
from pathlib import Path
from containers.contracts.model_artifact import load_model_artifact
from containers.inference.predictor import Predictor
from containers.inference.small_batch import kernel
predictor = Predictor(*load_model_artifact(Path(sys.argv[1])))
stats = kernel().stats
print(json.dumps({"small": predictor.small is not None, "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""
    result = subprocess.run([sys.executable, "-c", served, str(trained_model_dir)], cwd=REPO_ROOT, env=environment,
                            check=True, capture_output=True, text=True, timeout=300)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"small": True, "hits": 1, "misses": 0}


def test_the_compiled_route_can_be_turned_off_for_small_memory(trained_model_dir: Path) -> None:
    from containers.inference.app import InferenceApp
    from containers.inference.settings import ServingSettings, SettingsError

    for value, compiled in (("", True), ("false", False), ("true", True)):
        app = InferenceApp(ServingSettings.from_env({"SM_MODEL_DIR": str(trained_model_dir),
                                                     "MLOPS_COMPILED_SCORING": value}))
        app._load()
        assert app.predictor is not None
        assert (app.predictor.small is not None) is compiled, value
    with pytest.raises(SettingsError, match="MLOPS_COMPILED_SCORING='sometimes'"):
        ServingSettings.from_env({"MLOPS_COMPILED_SCORING": "sometimes"})
