"""Model-quality metrics files (SageMaker's `*_metrics` shapes): typed models and numpy-only builders."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, model_validator

# The analyzer only reports a spread with enough rows: 5 random 80% subsamples from 200 rows up
# (tests/fixtures/sagemaker/README.md, "Model quality files").
MIN_ROWS_FOR_STANDARD_DEVIATION = 200
SUBSAMPLES = 5
SUBSAMPLE_FRACTION = 0.8
# Curves of large test sets are thinned to this many points so the file stays small.
MAX_CURVE_POINTS = 1001

ProblemTypeName = Literal["BinaryClassification", "MulticlassClassification", "Regression"]

# The top-level key of each problem type's metrics object, as in the reference files.
METRICS_KEYS: dict[str, str] = {
    "BinaryClassification": "binary_classification_metrics",
    "MulticlassClassification": "multiclass_classification_metrics",
    "Regression": "regression_metrics",
}

NaN = Literal["NaN"]


class ModelQualityError(ValueError):
    """Metrics that cannot be computed from the given labels/predictions, or a malformed metrics file."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MetricValue(_Model):
    """One scalar metric; JSON has no NaN, so SageMaker writes the string "NaN" instead."""

    value: float | NaN
    standard_deviation: float | NaN = "NaN"


ConfusionMatrix = dict[str, dict[str, int]]


class RocCurve(_Model):
    false_positive_rates: list[float]
    true_positive_rates: list[float]


class PrecisionRecallCurve(_Model):
    precisions: list[float]
    recalls: list[float]


class BinaryClassificationMetrics(_Model):
    # Field order is the reference file's key order, so dumps compare key for key.
    confusion_matrix: ConfusionMatrix
    recall: MetricValue
    precision: MetricValue
    accuracy: MetricValue
    recall_best_constant_classifier: MetricValue
    precision_best_constant_classifier: MetricValue
    accuracy_best_constant_classifier: MetricValue
    true_positive_rate: MetricValue
    true_negative_rate: MetricValue
    false_positive_rate: MetricValue
    false_negative_rate: MetricValue
    receiver_operating_characteristic_curve: RocCurve
    precision_recall_curve: PrecisionRecallCurve
    auc: MetricValue
    f0_5: MetricValue
    f1: MetricValue
    f2: MetricValue
    f0_5_best_constant_classifier: MetricValue
    f1_best_constant_classifier: MetricValue
    f2_best_constant_classifier: MetricValue


class MulticlassClassificationMetrics(_Model):
    confusion_matrix: ConfusionMatrix
    accuracy: MetricValue
    weighted_recall: MetricValue
    weighted_precision: MetricValue
    weighted_f0_5: MetricValue
    weighted_f1: MetricValue
    weighted_f2: MetricValue
    accuracy_best_constant_classifier: MetricValue
    weighted_recall_best_constant_classifier: MetricValue
    weighted_precision_best_constant_classifier: MetricValue
    weighted_f0_5_best_constant_classifier: MetricValue
    weighted_f1_best_constant_classifier: MetricValue
    weighted_f2_best_constant_classifier: MetricValue


class RegressionMetrics(_Model):
    mae: MetricValue
    mse: MetricValue
    rmse: MetricValue
    r2: MetricValue


class DatasetInfo(_Model):
    item_count: int


class ModelQualityStatistics(_Model):
    """A whole metrics file: `version`, `dataset` and exactly one `*_metrics` object."""

    version: float = 0.0
    dataset: DatasetInfo | None = None
    binary_classification_metrics: BinaryClassificationMetrics | None = None
    multiclass_classification_metrics: MulticlassClassificationMetrics | None = None
    regression_metrics: RegressionMetrics | None = None

    @model_validator(mode="after")
    def _exactly_one_metrics_object(self) -> ModelQualityStatistics:
        present = [key for key in METRICS_KEYS.values() if getattr(self, key) is not None]
        if len(present) != 1:
            raise ValueError(f"expected exactly one of {sorted(METRICS_KEYS.values())}, found {present}")
        return self

    @property
    def metrics_key(self) -> str:
        return next(key for key in METRICS_KEYS.values() if getattr(self, key) is not None)

    def scalar(self, metric: str) -> float | NaN:
        """The `value` of one scalar metric, e.g. `auc`; ModelQualityError when there is none."""
        metrics = getattr(self, self.metrics_key)
        found = getattr(metrics, metric, None)
        if not isinstance(found, MetricValue):
            raise ModelQualityError(f"{self.metrics_key} has no scalar metric {metric!r}")
        return found.value

    def to_json(self) -> str:
        """The file as SageMaker writes it: absent sections omitted, two-space indentation."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=2) + "\n"


def parse_model_quality(text: str, source: str = "metrics file") -> ModelQualityStatistics:
    try:
        return ModelQualityStatistics.model_validate_json(text)
    except ValueError as exc:
        raise ModelQualityError(f"{source}: not a model-quality metrics file: {exc}") from exc


# --- builders ---------------------------------------------------------------------------------------

FloatArray = npt.NDArray[np.float64]
Scalars = dict[str, float]


def _ratio(numerator: float, denominator: float) -> float:
    # Like scikit-learn's zero_division=0: an undefined rate reads as 0, never NaN.
    return float(numerator / denominator) if denominator else 0.0


def _fbeta(precision: float, recall: float, beta: float) -> float:
    weight = beta * beta
    return _ratio((1 + weight) * precision * recall, weight * precision + recall)


def _finite(value: float) -> float | NaN:
    return value if math.isfinite(value) else "NaN"


def _with_spread(
    scalars: Callable[[npt.NDArray[np.intp]], Scalars], n_rows: int, seed: int
) -> dict[str, MetricValue]:
    """Each scalar on all rows, with the spread over 5 seeded 80% subsamples from 200 rows up."""
    every_row = np.arange(n_rows)
    full = scalars(every_row)
    spreads: dict[str, float | NaN] = dict.fromkeys(full, "NaN")
    if n_rows >= MIN_ROWS_FOR_STANDARD_DEVIATION:
        rng = np.random.default_rng(seed)
        size = int(n_rows * SUBSAMPLE_FRACTION)
        samples = [scalars(rng.choice(n_rows, size=size, replace=False)) for _ in range(SUBSAMPLES)]
        for key in full:
            spreads[key] = _finite(float(np.std([sample[key] for sample in samples])))
    return {key: MetricValue(value=_finite(value), standard_deviation=spreads[key]) for key, value in full.items()}


def _labels_as_text(values: Sequence[Any] | npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    return np.asarray([str(value) for value in values], dtype=str)


def _confusion_matrix(
    actual: npt.NDArray[np.str_], predicted: npt.NDArray[np.str_], labels: list[str]
) -> ConfusionMatrix:
    matrix: ConfusionMatrix = {label: dict.fromkeys(labels, 0) for label in labels}
    for truth, guess in zip(actual.tolist(), predicted.tolist(), strict=True):
        matrix[truth][guess] += 1
    return matrix


def _all_labels(labels: Sequence[Any] | None, *observed: npt.NDArray[np.str_]) -> list[str]:
    ordered = [str(label) for label in labels] if labels is not None else []
    for values in observed:
        for value in sorted(set(values.tolist())):
            if value not in ordered:
                ordered.append(value)
    return ordered


def _thin(points: FloatArray) -> FloatArray:
    if len(points) <= MAX_CURVE_POINTS:
        return points
    keep = np.unique(np.linspace(0, len(points) - 1, MAX_CURVE_POINTS).round().astype(int))
    return np.asarray(points[keep], dtype=np.float64)


def _curves(is_positive: npt.NDArray[np.bool_], score: FloatArray) -> tuple[RocCurve, PrecisionRecallCurve, float]:
    """ROC and precision-recall points at every distinct score, plus the ROC AUC (trapezoids)."""
    order = np.argsort(-score, kind="mergesort")
    sorted_score, sorted_positive = score[order], is_positive[order]
    # The last index of each run of equal scores is where a threshold takes effect.
    cut = np.r_[np.flatnonzero(np.diff(sorted_score)), len(sorted_score) - 1]
    true_pos = np.cumsum(sorted_positive)[cut].astype(float)
    false_pos = (cut + 1 - true_pos).astype(float)
    positives, negatives = float(is_positive.sum()), float((~is_positive).sum())
    tpr = np.r_[0.0, true_pos / positives] if positives else np.zeros(len(cut) + 1)
    fpr = np.r_[0.0, false_pos / negatives] if negatives else np.zeros(len(cut) + 1)
    auc = float(np.trapezoid(tpr, fpr)) if positives and negatives else math.nan
    precisions = np.r_[1.0, true_pos / (true_pos + false_pos)]
    recalls = np.r_[0.0, true_pos / positives] if positives else np.zeros(len(cut) + 1)
    roc_points = _thin(np.column_stack([fpr, tpr]))
    pr_points = _thin(np.column_stack([precisions, recalls]))
    roc = RocCurve(false_positive_rates=roc_points[:, 0].tolist(), true_positive_rates=roc_points[:, 1].tolist())
    pr = PrecisionRecallCurve(precisions=pr_points[:, 0].tolist(), recalls=pr_points[:, 1].tolist())
    return roc, pr, auc


def _check_lengths(*arrays: Sequence[Any] | npt.NDArray[Any]) -> int:
    sizes = {len(array) for array in arrays}
    if len(sizes) != 1:
        raise ModelQualityError(f"labels, predictions and scores differ in length: {sorted(sizes)}")
    (size,) = sizes
    if size == 0:
        raise ModelQualityError("no rows to compute metrics on")
    return size


def binary_classification_metrics(
    y_true: Sequence[Any] | npt.NDArray[Any],
    y_pred: Sequence[Any] | npt.NDArray[Any],
    y_score: Sequence[float] | npt.NDArray[Any],
    positive_label: Any,
    *,
    labels: Sequence[Any] | None = None,
    seed: int = 0,
) -> ModelQualityStatistics:
    """Binary metrics; `y_score` is the probability of `positive_label`. The best constant classifier
    always predicts the positive label (that is what the reference example's figures imply)."""
    n_rows = _check_lengths(y_true, y_pred, y_score)
    actual, predicted = _labels_as_text(y_true), _labels_as_text(y_pred)
    score = np.asarray(y_score, dtype=float)
    positive = str(positive_label)
    is_positive, says_positive = actual == positive, predicted == positive

    def scalars(rows: npt.NDArray[np.intp]) -> Scalars:
        truth, guess = is_positive[rows], says_positive[rows]
        tp = float(np.sum(truth & guess))
        fp = float(np.sum(~truth & guess))
        fn = float(np.sum(truth & ~guess))
        tn = float(np.sum(~truth & ~guess))
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        base_rate = _ratio(tp + fn, len(rows))
        constant_recall = 1.0 if tp + fn else 0.0
        return {
            "recall": recall,
            "precision": precision,
            "accuracy": _ratio(tp + tn, len(rows)),
            "recall_best_constant_classifier": constant_recall,
            "precision_best_constant_classifier": base_rate,
            "accuracy_best_constant_classifier": base_rate,
            "true_positive_rate": recall,
            "true_negative_rate": _ratio(tn, tn + fp),
            "false_positive_rate": _ratio(fp, fp + tn),
            "false_negative_rate": _ratio(fn, fn + tp),
            "auc": _curves(truth, score[rows])[2],
            "f0_5": _fbeta(precision, recall, 0.5),
            "f1": _fbeta(precision, recall, 1.0),
            "f2": _fbeta(precision, recall, 2.0),
            "f0_5_best_constant_classifier": _fbeta(base_rate, constant_recall, 0.5),
            "f1_best_constant_classifier": _fbeta(base_rate, constant_recall, 1.0),
            "f2_best_constant_classifier": _fbeta(base_rate, constant_recall, 2.0),
        }

    values = _with_spread(scalars, n_rows, seed)
    roc, pr, _ = _curves(is_positive, score)
    metrics = BinaryClassificationMetrics(
        confusion_matrix=_confusion_matrix(actual, predicted, _all_labels(labels, actual, predicted)),
        receiver_operating_characteristic_curve=roc,
        precision_recall_curve=pr,
        **values,
    )
    return ModelQualityStatistics(dataset=DatasetInfo(item_count=n_rows), binary_classification_metrics=metrics)


def _weighted_scores(actual: npt.NDArray[np.str_], predicted: npt.NDArray[np.str_], labels: list[str]) -> Scalars:
    """Support-weighted precision, recall and F-beta over the labels present in `actual`."""
    keys = ("weighted_recall", "weighted_precision", "weighted_f0_5", "weighted_f1", "weighted_f2")
    totals = dict.fromkeys(keys, 0.0)
    n_rows = len(actual)
    for label in labels:
        truth, guess = actual == label, predicted == label
        support = float(truth.sum())
        if not support:
            continue
        tp = float(np.sum(truth & guess))
        precision, recall = _ratio(tp, float(guess.sum())), _ratio(tp, support)
        weight = support / n_rows
        totals["weighted_recall"] += weight * recall
        totals["weighted_precision"] += weight * precision
        totals["weighted_f0_5"] += weight * _fbeta(precision, recall, 0.5)
        totals["weighted_f1"] += weight * _fbeta(precision, recall, 1.0)
        totals["weighted_f2"] += weight * _fbeta(precision, recall, 2.0)
    return totals


def multiclass_classification_metrics(
    y_true: Sequence[Any] | npt.NDArray[Any],
    y_pred: Sequence[Any] | npt.NDArray[Any],
    *,
    labels: Sequence[Any] | None = None,
    seed: int = 0,
) -> ModelQualityStatistics:
    """Multiclass metrics, weighted by class support; the best constant classifier predicts the
    most frequent actual label."""
    n_rows = _check_lengths(y_true, y_pred)
    actual, predicted = _labels_as_text(y_true), _labels_as_text(y_pred)
    all_labels = _all_labels(labels, actual, predicted)

    def scalars(rows: npt.NDArray[np.intp]) -> Scalars:
        truth, guess = actual[rows], predicted[rows]
        values, counts = np.unique(truth, return_counts=True)
        majority = np.full(len(truth), values[int(np.argmax(counts))])
        model = _weighted_scores(truth, guess, all_labels)
        constant = _weighted_scores(truth, majority, all_labels)
        return {
            "accuracy": float(np.mean(truth == guess)),
            **model,
            "accuracy_best_constant_classifier": float(np.mean(truth == majority)),
            **{f"{key}_best_constant_classifier": value for key, value in constant.items()},
        }

    values = _with_spread(scalars, n_rows, seed)
    metrics = MulticlassClassificationMetrics(
        confusion_matrix=_confusion_matrix(actual, predicted, all_labels), **values
    )
    return ModelQualityStatistics(dataset=DatasetInfo(item_count=n_rows), multiclass_classification_metrics=metrics)


def regression_metrics(
    y_true: Sequence[float] | npt.NDArray[Any], y_pred: Sequence[float] | npt.NDArray[Any], *, seed: int = 0
) -> ModelQualityStatistics:
    """mae, mse, rmse and r2 (r2 is NaN, written "NaN", when the actual values are all equal)."""
    n_rows = _check_lengths(y_true, y_pred)
    actual, predicted = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)

    def scalars(rows: npt.NDArray[np.intp]) -> Scalars:
        truth, error = actual[rows], actual[rows] - predicted[rows]
        mse = float(np.mean(error**2))
        spread = float(np.sum((truth - truth.mean()) ** 2))
        r2 = 1.0 - float(np.sum(error**2)) / spread if spread else math.nan
        return {"mae": float(np.mean(np.abs(error))), "mse": mse, "rmse": math.sqrt(mse), "r2": r2}

    metrics = RegressionMetrics(**_with_spread(scalars, n_rows, seed))
    return ModelQualityStatistics(dataset=DatasetInfo(item_count=n_rows), regression_metrics=metrics)
