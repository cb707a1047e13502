"""Every estimator the kit ships tests for is served with exactly the plain pipeline's results:
through its own direct tree scorer (GradientBoosting, HistGradientBoosting), through its public API
on the compiled features (any other estimator), or through the DataFrame fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from containers.contracts.model_artifact import model_input_frame
from containers.inference.codec import parse_csv
from containers.inference.predictor import (
    HistGradientBoostingScorer,
    Predictor,
    PublicApiScorer,
    TreeEnsembleScorer,
)
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
    rows = request_rows(150, seed=32)
    result = predictor.predict(parse_csv(as_csv(rows), predictor.layout))
    data = model_input_frame(rows, metadata.features)
    assert result.values == pipeline.predict(data).tolist()
    if problem_type != "Regression":
        assert result.probabilities is not None
        assert np.array_equal(result.probabilities, pipeline.predict_proba(data))  # bit-for-bit


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
