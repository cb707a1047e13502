"""The serving fast path and micro-batching score exactly like `pipeline.predict` on a DataFrame."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

from containers.contracts.model_artifact import FeatureSpec, ModelMetadata, model_input_frame
from containers.inference.batching import MicroBatcher
from containers.inference.codec import BadRequestError, FeatureLayout, RowBatch, parse_csv, parse_json
from containers.inference.predictor import Predictor, ScoringError
from containers.inference.scorers import TreeEnsembleScorer
from containers.training.estimators import build_estimator
from containers.training.train import build_pipeline, feature_specs, python_labels
from tests.containers.conftest import make_tabular_frame

GRADIENT_BOOSTING = {"BinaryClassification": "sklearn.ensemble.GradientBoostingClassifier",
                     "MulticlassClassification": "sklearn.ensemble.GradientBoostingClassifier",
                     "Regression": "sklearn.ensemble.GradientBoostingRegressor"}


def fitted(frame: pd.DataFrame, problem_type: str, estimator: str | None = None,
           **params: str) -> tuple[Pipeline, ModelMetadata]:
    """The training pipeline around `estimator` (default: GradientBoosting, 15 trees) fitted on `frame`."""
    features = feature_specs(frame, "target")
    reference = estimator or GRADIENT_BOOSTING[problem_type]
    options = params if estimator else {"n_estimators": "15", **params}
    pipeline = build_pipeline(features, build_estimator(reference, options, problem_type))  # type: ignore[arg-type]
    pipeline.fit(model_input_frame(frame, features), frame["target"])
    classes = python_labels(pipeline.classes_) if problem_type != "Regression" else None
    metadata = ModelMetadata.model_validate({"problem_type": problem_type, "target": "target", "features": features,
                                             "classes": classes, "sklearn_version": "test"})
    return pipeline, metadata


def request_rows(rows: int, seed: int) -> pd.DataFrame:
    """Feature rows with missing numbers, missing categories and a category unseen in training."""
    frame = make_tabular_frame(rows, seed=seed).drop(columns="target")
    frame.loc[3::5, "color"] = "purple"
    frame.loc[::4, "c"] = np.nan
    return frame


def as_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(header=False, index=False, float_format="%.17g").encode()


def reference(pipeline: Pipeline, metadata: ModelMetadata, frame: pd.DataFrame) -> tuple[list[object], np.ndarray]:
    data = model_input_frame(frame, metadata.features)
    return list(pipeline.predict(data)), pipeline.predict_proba(data)


@pytest.mark.parametrize("problem_type", ["BinaryClassification", "MulticlassClassification"])
def test_fast_path_equals_pipeline_predict_and_proba_exactly(problem_type: str) -> None:
    frame = make_tabular_frame(600, seed=5)
    if problem_type == "MulticlassClassification":
        frame["target"] = np.select([frame["b"] < -0.5, frame["b"] > 0.5], ["low", "high"], "mid")
    pipeline, metadata = fitted(frame, problem_type)
    predictor = Predictor(pipeline, metadata)
    assert predictor.fast_path_reason == "compiled"
    assert isinstance(predictor.scorer, TreeEnsembleScorer), "the equality below must cover direct tree scoring"
    rows = request_rows(300, seed=6)
    batch = parse_csv(as_csv(rows), predictor.layout)
    result = predictor.predict(batch)
    labels, probabilities = reference(pipeline, metadata, rows)
    assert result.values == labels
    assert result.probabilities is not None
    assert np.array_equal(result.probabilities, probabilities)  # bit-for-bit, not approximately


def test_fast_path_regression_equals_pipeline_predict_exactly() -> None:
    frame = make_tabular_frame(400, seed=7)
    frame["target"] = frame["b"].to_numpy() * 2.0 + np.where(frame["color"] == "red", 1.0, 0.0)
    pipeline, metadata = fitted(frame, "Regression")
    predictor = Predictor(pipeline, metadata)
    rows = request_rows(120, seed=8)
    result = predictor.predict(parse_csv(as_csv(rows), predictor.layout))
    assert predictor.fast_path_reason == "compiled"
    assert isinstance(predictor.scorer, TreeEnsembleScorer)
    assert result.values == list(pipeline.predict(model_input_frame(rows, metadata.features)))


def test_unknown_preprocessing_falls_back_to_the_dataframe_path_with_same_results() -> None:
    frame = make_tabular_frame(300, seed=9)
    features = feature_specs(frame, "target")
    preprocess = ColumnTransformer([("numeric", MinMaxScaler(), ["a", "b", "c"]),
                                    ("categorical", OneHotEncoder(handle_unknown="ignore"), ["color"])])
    pipeline = Pipeline([("preprocess", preprocess), ("model", GradientBoostingClassifier(n_estimators=5))])
    data = model_input_frame(frame, features).fillna({"a": 0.0, "color": "red"})
    pipeline.fit(data, frame["target"])
    metadata = ModelMetadata(problem_type="BinaryClassification", target="target", features=features,
                             classes=(0, 1), sklearn_version="test")
    predictor = Predictor(pipeline, metadata)
    assert predictor.fast_path_reason != "compiled"
    rows = request_rows(50, seed=10).fillna({"a": 0.0, "c": 1.0, "color": "red"})
    result = predictor.predict(parse_csv(as_csv(rows), predictor.layout))
    labels, probabilities = reference(pipeline, metadata, rows)
    assert result.values == labels
    assert np.array_equal(result.probabilities, probabilities)  # type: ignore[arg-type]


def test_micro_batching_scores_concurrent_requests_together_with_identical_results() -> None:
    frame = make_tabular_frame(500, seed=11)
    pipeline, metadata = fitted(frame, "BinaryClassification")
    predictor = Predictor(pipeline, metadata)
    requests = [request_rows(n, seed=20 + n) for n in (1, 3, 1, 7, 2, 1)]
    batcher = MicroBatcher(predictor.predict, max_rows=64, max_wait_s=0.0)

    async def submit_all() -> list[object]:
        batches = [parse_csv(as_csv(rows), predictor.layout) for rows in requests]
        return list(await asyncio.gather(*(batcher.submit(batch) for batch in batches)))

    results = asyncio.run(submit_all())
    assert batcher.batches == 1
    assert batcher.requests == len(requests)
    for rows, result in zip(requests, results, strict=True):
        labels, probabilities = reference(pipeline, metadata, rows)
        assert result.values == labels  # type: ignore[attr-defined]
        assert np.array_equal(result.probabilities, probabilities)  # type: ignore[attr-defined]


def test_micro_batching_respects_max_rows() -> None:
    frame = make_tabular_frame(300, seed=12)
    pipeline, metadata = fitted(frame, "BinaryClassification")
    predictor = Predictor(pipeline, metadata)
    batcher = MicroBatcher(predictor.predict, max_rows=4, max_wait_s=0.0)
    one_row = parse_csv(as_csv(request_rows(1, seed=13)), predictor.layout)

    async def submit_all() -> None:
        await asyncio.gather(*(batcher.submit(one_row) for _ in range(10)))

    asyncio.run(submit_all())
    assert batcher.requests == 10
    assert batcher.batches == 3  # 4 + 4 + 2


def test_json_records_and_instances_decode_like_csv() -> None:
    metadata = ModelMetadata(problem_type="Regression", target="t", sklearn_version="x",
                             features=(FeatureSpec(name="a", type="numeric"),
                                       FeatureSpec(name="k", type="categorical")))
    layout = FeatureLayout.from_metadata(metadata)
    from_csv = parse_csv(b"1.5,x\n,\n", layout)
    from_lists = parse_json(b'{"instances": [[1.5, "x"], [null, null]]}', layout)
    from_records = parse_json(b'[{"a": "1.5", "k": "x"}, {}]', layout)
    for batch in (from_lists, from_records):
        assert np.array_equal(batch.numeric, from_csv.numeric, equal_nan=True)
        assert batch.categorical.tolist() == from_csv.categorical.tolist() == [["x"], [None]]


def test_vectorized_numeric_csv_parse_matches_python_floats() -> None:
    metadata = ModelMetadata(problem_type="Regression", target="t", sklearn_version="x",
                             features=tuple(FeatureSpec(name=f"f{i}", type="numeric") for i in range(4)))
    layout = FeatureLayout.from_metadata(metadata)
    values = np.random.default_rng(0).normal(size=(1000, 4)) * 1e3
    body = "\n".join(",".join(repr(v) for v in row) for row in values.tolist()).encode()
    batch = parse_csv(body, layout)
    assert np.array_equal(batch.numeric, values)
    with pytest.raises(BadRequestError) as error:
        parse_csv(body + b"\n1,2,oops,4", layout)
    assert (error.value.row, error.value.column) == (1000, "f2")


def test_rowbatch_concatenate_keeps_row_order() -> None:
    first = RowBatch(np.array([[1.0]]), np.empty((1, 0), dtype=object))
    second = RowBatch(np.array([[2.0], [3.0]]), np.empty((2, 0), dtype=object))
    assert RowBatch.concatenate([first, second]).numeric.ravel().tolist() == [1.0, 2.0, 3.0]


def test_direct_tree_scoring_refuses_values_beyond_float32_like_sklearn() -> None:
    pipeline, metadata = fitted(make_tabular_frame(300, seed=11), "BinaryClassification")
    predictor = Predictor(pipeline, metadata)
    assert isinstance(predictor.scorer, TreeEnsembleScorer)
    rows = request_rows(2, seed=12)
    numeric = next(spec.name for spec in metadata.features if spec.type == "numeric")
    rows[numeric] = rows[numeric].astype(float)
    rows.loc[rows.index[1], numeric] = 1e39
    batch = parse_csv(as_csv(rows), predictor.layout)
    with pytest.raises(ScoringError, match="too large"):
        predictor.predict(batch)
    # The plain pipeline refuses the same row: the fast path does not score what sklearn would not.
    with pytest.raises(ValueError, match="too large"):
        pipeline.predict_proba(model_input_frame(rows, metadata.features))

