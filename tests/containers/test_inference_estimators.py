"""Every estimator the kit ships tests for is served with exactly the plain pipeline's results:
through its own direct tree scorer (GradientBoosting, HistGradientBoosting), through its public API
on the compiled features (any other estimator), or through the DataFrame fallback."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from containers.contracts.model_artifact import model_input_frame
from containers.inference.codec import parse_csv
from containers.inference.predictor import Predictor
from containers.inference.quickscorer import FEW_ROWS
from containers.inference.scorers import HistGradientBoostingScorer, PublicApiScorer, TreeEnsembleScorer
from containers.inference.small_batch import SMALL_ROWS
from tests.containers.conftest import make_tabular_frame
from tests.containers.test_inference_fastpath import as_csv, fitted, request_rows

pytest.importorskip("xgboost")
pytest.importorskip("lightgbm")

# (classifier, regressor, hyperparameters, scorer the fast path must use): few trees, quick fits.
ESTIMATORS = {
    "gradient-boosting": ("sklearn.ensemble.GradientBoostingClassifier", "sklearn.ensemble.GradientBoostingRegressor",
                          {"n_estimators": "10"}, TreeEnsembleScorer),
    "hist-gradient-boosting": ("containers.training.estimators:hist_gradient_boosting",
                               "containers.training.estimators:hist_gradient_boosting",
                               {"max_iter": "15"}, HistGradientBoostingScorer),
    "random-forest": ("sklearn.ensemble.RandomForestClassifier", "sklearn.ensemble.RandomForestRegressor",
                      {"n_estimators": "7", "max_depth": "4"}, PublicApiScorer),
    "xgboost": ("xgboost.XGBClassifier", "xgboost.XGBRegressor",
                {"n_estimators": "10", "max_depth": "3", "n_jobs": "1"}, PublicApiScorer),
    "lightgbm": ("lightgbm.LGBMClassifier", "lightgbm.LGBMRegressor",
                 {"n_estimators": "10", "num_leaves": "7", "n_jobs": "1"}, PublicApiScorer),
    "logistic/ridge": ("sklearn.linear_model.LogisticRegression", "sklearn.linear_model.Ridge", {},
                       PublicApiScorer),
}


def labelled(problem_type: str) -> pd.DataFrame:
    frame = make_tabular_frame(400, seed=31)
    if problem_type == "MulticlassClassification":
        frame["target"] = np.select([frame["b"] < -0.5, frame["b"] > 0.5], [0, 2], 1)
    elif problem_type == "Regression":
        frame["target"] = frame["b"].to_numpy() * 2.0 + np.where(frame["color"] == "red", 1.0, 0.0)
    return frame


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "dataframe-fallback"])
@pytest.mark.parametrize("problem_type", ["BinaryClassification", "MulticlassClassification", "Regression"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_served_predictions_equal_the_plain_pipeline_exactly(name: str, problem_type: str, fast_path: bool) -> None:
    classifier, regressor, params, scorer = ESTIMATORS[name]
    reference = regressor if problem_type == "Regression" else classifier
    pipeline, metadata = fitted(labelled(problem_type), problem_type, reference, **params)
    predictor = Predictor(pipeline, metadata, fast_path=fast_path)
    if fast_path:
        assert predictor.fast_path_reason == "compiled"
        assert isinstance(predictor.scorer, scorer)
    else:
        assert isinstance(predictor.scorer, PublicApiScorer)
    # The compiled small-batch route exactly where it applies: HistGradientBoosting behind the compiled
    # preprocessing.
    assert (predictor.small is not None) == (fast_path and scorer is HistGradientBoostingScorer)
    # HistGradientBoosting scores large batches (tables) and small ones (one compiled call) by different routes.
    for rows in (request_rows(150, seed=32), request_rows(SMALL_ROWS + 1, seed=34), request_rows(SMALL_ROWS, seed=36),
                 request_rows(1, seed=37)):
        result = predictor.predict(parse_csv(as_csv(rows), predictor.layout))
        data = model_input_frame(rows, metadata.features)
        assert result.values == pipeline.predict(data).tolist()
        if problem_type != "Regression":
            assert result.probabilities is not None
            assert np.array_equal(result.probabilities, pipeline.predict_proba(data))  # bit-for-bit


@pytest.mark.parametrize("problem_type", ["BinaryClassification", "MulticlassClassification", "Regression"])
def test_hist_gradient_boosting_scorer_equals_sklearn_on_missing_values_by_both_routes(problem_type: str) -> None:
    """Raw arrays with NaN (the trees' learned missing-value side), one row up to a large batch."""
    rng = np.random.default_rng(35)
    x = rng.normal(size=(600, 5))
    x[rng.random(x.shape) < 0.15] = np.nan
    signal = np.nan_to_num(x[:, 0]) + np.isnan(x[:, 1]) - np.nan_to_num(x[:, 2]) * 0.5
    if problem_type == "Regression":
        estimator: Any = HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(x, signal)
    else:
        classes = 3 if problem_type == "MulticlassClassification" else 2
        labels = np.digitize(signal, np.quantile(signal, np.linspace(0, 1, classes + 1)[1:-1]))
        estimator = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(x, labels)
    scorer = HistGradientBoostingScorer(estimator)
    assert scorer.route == "QuickScorer"
    for count in (1, FEW_ROWS, FEW_ROWS + 1, 500):
        batch = x[:count]
        assert scorer.uses_tables(count)
        if problem_type == "Regression":
            assert np.array_equal(scorer.predict(batch), estimator.predict(batch))
        else:
            probabilities, encoded = scorer.classify(batch)
            assert np.array_equal(probabilities, estimator.predict_proba(batch))
            assert np.array_equal(estimator.classes_[encoded], estimator.predict(batch))
        # sklearn's per-tree route, taken for batches the tables would cost more on, gives the same.
        assert np.array_equal(scorer._raw_per_tree(np.ascontiguousarray(batch)), scorer.raw(batch))


def test_hist_gradient_boosting_scorer_keeps_splits_on_missing_values_and_infinite_inputs_exact() -> None:
    """A split that sends every number left and NaN right has threshold +inf in sklearn; an infinite
    input meets it (+inf <= +inf goes left) and every other threshold: all still score as sklearn."""
    rng = np.random.default_rng(36)
    x = rng.normal(size=(800, 3))
    gone = rng.random(800) < 0.3
    x[gone, 0] = np.nan
    labels = (gone ^ (rng.random(800) < 0.1)).astype(int)  # missingness itself predicts the label
    estimator = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, labels)
    splits = [tree.nodes[~tree.nodes["is_leaf"].astype(bool)] for iteration in estimator._predictors
              for tree in iteration]
    assert any(np.isinf(nodes["num_threshold"]).any() for nodes in splits), "the data must produce a NaN split"
    scorer = HistGradientBoostingScorer(estimator)
    probe = x[:16].copy()
    probe[1, 1] = np.inf
    probe[2, 0] = -np.inf
    probe[3, 2] = np.inf
    for batch in (x[:1], x[gone][:3], x[:16], probe, probe[1:2], probe[1:4]):
        probabilities, encoded = scorer.classify(batch)
        assert np.array_equal(probabilities, estimator.predict_proba(batch))
        assert np.array_equal(estimator.classes_[encoded], estimator.predict(batch))


def test_binary_ties_follow_each_estimators_own_rule() -> None:
    """Two neighbours score many rows at exactly 0.5: KNeighbors' predict says class 0 there, while
    GradientBoosting says class 1 at a raw score of 0. The server follows each estimator's own rule."""
    pipeline, metadata = fitted(labelled("BinaryClassification"), "BinaryClassification",
                                "sklearn.neighbors.KNeighborsClassifier", n_neighbors="2")
    rows = request_rows(300, seed=33)
    data = model_input_frame(rows, metadata.features)
    ties = pipeline.predict_proba(data)[:, 1] == 0.5
    assert ties.any(), "the data must produce ties"
    assert set(pipeline.predict(data)[ties]) == {0}
    predictor = Predictor(pipeline, metadata)
    result = predictor.predict(parse_csv(as_csv(rows), predictor.layout))
    assert result.values == pipeline.predict(data).tolist()
