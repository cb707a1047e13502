"""The model-quality metrics contract (containers/contracts/model_quality.py) against SageMaker's files."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from containers.contracts.model_quality import (
    ModelQualityError,
    ModelQualityStatistics,
    binary_classification_metrics,
    multiclass_classification_metrics,
    parse_model_quality,
    regression_metrics,
)
from tests.fixtures import SAGEMAKER_REFERENCE as REFERENCE

REFERENCE_FILES = {
    "binary_classification_metrics": "model_quality_binary.json",
    "multiclass_classification_metrics": "model_quality_multiclass.json",
    "regression_metrics": "model_quality_regression.json",
}


def _reference(key: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REFERENCE / REFERENCE_FILES[key]).read_text())
    return loaded


def _binary(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, size=rows)
    score = np.clip(truth * 0.35 + rng.uniform(size=rows) * 0.65, 0, 1)
    return truth, (score >= 0.5).astype(int), score


def _same_shape(ours: Any, theirs: Any, where: str = "") -> None:
    """Same keys in the same order at every object level; scalars are {value, standard_deviation}."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        if where.endswith("confusion_matrix"):
            return  # keys are the labels of the data set at hand
        assert list(ours) == list(theirs), where
        for key in theirs:
            _same_shape(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), where
        assert all(isinstance(value, float) for value in ours), where


@pytest.mark.parametrize("key", list(REFERENCE_FILES))
def test_reference_files_parse_into_the_typed_model(key: str) -> None:
    text = (REFERENCE / REFERENCE_FILES[key]).read_text()
    statistics = parse_model_quality(text, REFERENCE_FILES[key])
    assert statistics.metrics_key == key
    again = json.loads(statistics.to_json())
    assert again[key] == _reference(key)[key]


def test_binary_metrics_have_the_reference_shape_key_for_key() -> None:
    truth, predicted, score = _binary(150)
    ours = json.loads(binary_classification_metrics(truth, predicted, score, 1, labels=[0, 1]).to_json())
    assert list(ours) == ["version", "dataset", "binary_classification_metrics"]
    reference = _reference("binary_classification_metrics")["binary_classification_metrics"]
    _same_shape(ours["binary_classification_metrics"], reference)
    assert ours["dataset"] == {"item_count": 150}


def test_multiclass_and_regression_metrics_have_the_reference_shape_key_for_key() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, size=90)
    predicted = np.where(rng.uniform(size=90) < 0.7, truth, rng.integers(0, 3, size=90))
    multiclass = json.loads(multiclass_classification_metrics(truth, predicted, labels=[0, 1, 2]).to_json())
    _same_shape(multiclass["multiclass_classification_metrics"],
                _reference("multiclass_classification_metrics")["multiclass_classification_metrics"])
    regression = json.loads(regression_metrics(rng.normal(size=50), rng.normal(size=50)).to_json())
    reference = _reference("regression_metrics")
    assert list(regression) == list(reference)
    _same_shape(regression["regression_metrics"], reference["regression_metrics"])


def test_binary_values_agree_with_scikit_learn() -> None:
    truth, predicted, score = _binary(180, seed=4)
    metrics = binary_classification_metrics(truth, predicted, score, 1, labels=[0, 1]).binary_classification_metrics
    assert metrics is not None
    assert metrics.accuracy.value == pytest.approx(skm.accuracy_score(truth, predicted))
    assert metrics.precision.value == pytest.approx(skm.precision_score(truth, predicted))
    assert metrics.recall.value == pytest.approx(skm.recall_score(truth, predicted))
    assert metrics.f1.value == pytest.approx(skm.f1_score(truth, predicted))
    assert metrics.f0_5.value == pytest.approx(skm.fbeta_score(truth, predicted, beta=0.5))
    assert metrics.f2.value == pytest.approx(skm.fbeta_score(truth, predicted, beta=2))
    assert metrics.auc.value == pytest.approx(skm.roc_auc_score(truth, score))
    matrix = skm.confusion_matrix(truth, predicted, labels=[0, 1])
    assert metrics.confusion_matrix == {"0": {"0": matrix[0, 0], "1": matrix[0, 1]},
                                        "1": {"0": matrix[1, 0], "1": matrix[1, 1]}}
    fpr, tpr, _ = skm.roc_curve(truth, score, drop_intermediate=False)
    roc = metrics.receiver_operating_characteristic_curve
    assert (roc.false_positive_rates[0], roc.true_positive_rates[0]) == (0.0, 0.0)
    assert (roc.false_positive_rates[-1], roc.true_positive_rates[-1]) == (1.0, 1.0)
    assert np.trapezoid(roc.true_positive_rates, roc.false_positive_rates) == pytest.approx(skm.auc(fpr, tpr))
    positive_rate = truth.mean()
    assert metrics.accuracy_best_constant_classifier.value == pytest.approx(positive_rate)
    assert metrics.recall_best_constant_classifier.value == 1.0


def test_binary_best_constant_classifier_matches_the_reference_example() -> None:
    # The developer guide's figures imply "always predict the positive label": 1 of 4 rows positive.
    reference = _reference("binary_classification_metrics")["binary_classification_metrics"]
    metrics = binary_classification_metrics([0, 0, 0, 1], [1, 1, 0, 1], [0.9, 0.8, 0.1, 0.95], 1)
    ours = metrics.binary_classification_metrics
    assert ours is not None
    for name in ("precision", "recall", "f0_5", "f1", "f2"):
        constant = f"{name}_best_constant_classifier"
        assert getattr(ours, constant).value == pytest.approx(reference[constant]["value"]), constant
    assert ours.precision.value == pytest.approx(reference["precision"]["value"])
    assert ours.recall.value == pytest.approx(reference["recall"]["value"])


def test_multiclass_weighted_values_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    truth = rng.choice(["a", "b", "c"], size=120, p=[0.5, 0.3, 0.2])
    predicted = np.where(rng.uniform(size=120) < 0.6, truth, rng.choice(["a", "b", "c"], size=120))
    metrics = multiclass_classification_metrics(truth, predicted).multiclass_classification_metrics
    assert metrics is not None
    assert metrics.accuracy.value == pytest.approx(skm.accuracy_score(truth, predicted))
    for ours, theirs in (
        (metrics.weighted_precision, skm.precision_score(truth, predicted, average="weighted", zero_division=0)),
        (metrics.weighted_recall, skm.recall_score(truth, predicted, average="weighted", zero_division=0)),
        (metrics.weighted_f1, skm.f1_score(truth, predicted, average="weighted", zero_division=0)),
        (metrics.weighted_f2, skm.fbeta_score(truth, predicted, beta=2, average="weighted", zero_division=0)),
    ):
        assert ours.value == pytest.approx(theirs)
    assert metrics.accuracy_best_constant_classifier.value == pytest.approx(np.mean(truth == "a"))


def test_regression_values_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(10, 3, size=80)
    predicted = truth + rng.normal(0, 1, size=80)
    metrics = regression_metrics(truth, predicted).regression_metrics
    assert metrics is not None
    assert metrics.mae.value == pytest.approx(skm.mean_absolute_error(truth, predicted))
    assert metrics.mse.value == pytest.approx(skm.mean_squared_error(truth, predicted))
    assert metrics.rmse.value == pytest.approx(math.sqrt(skm.mean_squared_error(truth, predicted)))
    assert metrics.r2.value == pytest.approx(skm.r2_score(truth, predicted))


def test_standard_deviation_only_from_200_rows() -> None:
    small = binary_classification_metrics(*_binary(199), 1).binary_classification_metrics
    large = binary_classification_metrics(*_binary(200), 1).binary_classification_metrics
    assert small is not None
    assert large is not None
    assert small.auc.standard_deviation == "NaN"
    assert isinstance(large.auc.standard_deviation, float)
    assert 0 < large.auc.standard_deviation < 0.1
    again = binary_classification_metrics(*_binary(200), 1).binary_classification_metrics
    assert again is not None
    assert again.auc.standard_deviation == large.auc.standard_deviation, "subsamples are seeded"


def test_undefined_values_are_written_as_the_string_nan() -> None:
    statistics = regression_metrics([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    text = statistics.to_json()
    assert json.loads(text)["regression_metrics"]["r2"] == {"value": "NaN", "standard_deviation": "NaN"}
    assert "NaN," not in text.replace('"NaN"', "")


def test_bad_input_and_files_are_refused_by_name() -> None:
    with pytest.raises(ModelQualityError, match="differ in length"):
        regression_metrics([1.0, 2.0], [1.0])
    with pytest.raises(ModelQualityError, match="no rows"):
        regression_metrics([], [])
    with pytest.raises(ModelQualityError, match=r"evaluation\.json"):
        parse_model_quality('{"version": 0.0}', "evaluation.json")
    with pytest.raises(ModelQualityError, match="no scalar metric 'auc'"):
        ModelQualityStatistics.model_validate(_reference("regression_metrics")).scalar("auc")
