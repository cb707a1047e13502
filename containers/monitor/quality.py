"""Model quality (`analysis_type=MODEL_QUALITY`): metrics from predictions and labels, checked
against model-quality constraints, in the shapes the Evaluate step and Model Monitor write."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from containers.contracts.ground_truth import MergedRecord
from containers.contracts.model_quality import (
    MetricValue,
    ModelQualityStatistics,
    binary_classification_metrics,
    multiclass_classification_metrics,
    regression_metrics,
)
from containers.contracts.model_quality_constraints import (
    CONSTRAINTS_KEYS,
    ComparisonOperator,
    MetricConstraint,
    ModelQualityConstraints,
    ModelQualityViolation,
    camel_case,
    violation_description,
)
from containers.monitor.attributes import label_text, number, payload_values
from containers.monitor.errors import MonitorError
from containers.monitor.settings import ModelQualitySettings

# The metrics a suggested baseline constrains, and which way is worse (SDK test data and the
# rjEks notebook's binary constraints table): error rates must not rise, the rest must not fall.
SUGGESTED_METRICS: dict[str, tuple[str, ...]] = {
    "BinaryClassification": (
        "recall",
        "precision",
        "accuracy",
        "true_positive_rate",
        "true_negative_rate",
        "false_positive_rate",
        "false_negative_rate",
        "auc",
        "f0_5",
        "f1",
        "f2",
    ),
    "MulticlassClassification": (
        "accuracy",
        "weighted_recall",
        "weighted_precision",
        "weighted_f0_5",
        "weighted_f1",
        "weighted_f2",
    ),
    "Regression": ("mae", "mse", "rmse", "r2"),
}
ROUNDING = 1e-12
HIGHER_IS_WORSE = frozenset({"false_positive_rate", "false_negative_rate", "mae", "mse", "rmse"})


@dataclass(frozen=True)
class Predictions:
    """One row per prediction: the label, the model's answer and (binary) its score."""

    actual: list[Any]
    predicted: list[Any]
    scores: list[float] | None = None


def predictions_from_merged(records: list[MergedRecord], settings: ModelQualitySettings) -> Predictions:
    """Labels from `groundTruthData`, predictions (and probabilities) from `endpointOutput`."""
    actual: list[Any] = []
    predicted: list[Any] = []
    scores: list[float] = []
    for record in records:
        where = f"merged event {record.event_metadata.event_id}"
        output = record.capture_data.endpoint_output
        if output is None:
            raise MonitorError(f"{where}: the capture has no endpointOutput to read predictions from")
        truth = record.ground_truth_data
        truth_type = "text/csv" if truth.encoding == "CSV" else "application/json"
        labels = payload_values(
            truth.data,
            truth.encoding,
            truth_type,
            settings.ground_truth_attribute,
            key="ground_truth_attribute",
            where=where,
        )
        text, content_type = output.text(), output.observed_content_type
        probabilities: list[Any] = []
        if settings.probability_attribute is not None:
            probabilities = payload_values(
                text,
                output.encoding,
                content_type,
                settings.probability_attribute,
                key="probability_attribute",
                where=where,
            )
        answers: list[Any] = []
        if settings.inference_attribute is not None or not probabilities:
            answers = payload_values(
                text,
                output.encoding,
                content_type,
                settings.inference_attribute,
                key="inference_attribute",
                where=where,
            )
        for name, values in (("predictions", answers), ("probabilities", probabilities)):
            if values and len(values) != len(labels):
                raise MonitorError(f"{where}: {len(labels)} ground-truth labels but {len(values)} {name}")
        actual += labels
        predicted += answers
        scores += [number(value, "probability_attribute", where) for value in probabilities]
    return _complete(actual, predicted, scores or None, settings)


def _column(frame: pd.DataFrame, attribute: str | None, key: str) -> list[Any] | None:
    if attribute is None:
        return None
    if attribute in frame.columns:
        series = frame[attribute]
    elif attribute.isdigit() and int(attribute) < frame.shape[1]:
        series = frame.iloc[:, int(attribute)]
    else:
        raise MonitorError(f"{key} {attribute!r} is not a column of the dataset (columns: {list(frame.columns)})")
    missing = int(series.isna().sum())
    if missing:
        raise MonitorError(f"{key} column {attribute!r} has {missing} missing values")
    return list(series.tolist())


def predictions_from_frame(frame: pd.DataFrame, settings: ModelQualitySettings) -> Predictions:
    """A baselining dataset (CSV/JSON) whose columns hold labels, predictions and probabilities."""
    actual = _column(frame, settings.ground_truth_attribute, "ground_truth_attribute")
    if actual is None:
        raise MonitorError("ground_truth_attribute must name the label column of the baselining dataset")
    predicted = _column(frame, settings.inference_attribute, "inference_attribute") or []
    probabilities = _column(frame, settings.probability_attribute, "probability_attribute")
    if not predicted and probabilities is None:
        raise MonitorError("inference_attribute or probability_attribute must name a column of the dataset")
    scores = [number(value, "probability_attribute", "dataset") for value in probabilities] if probabilities else None
    return _complete(actual, predicted, scores, settings)


def _complete(
    actual: list[Any], predicted: list[Any], scores: list[float] | None, settings: ModelQualitySettings
) -> Predictions:
    """Labels as text for classification; a binary answer derived from the score when only
    probabilities are given (`probability_threshold_attribute`, default 0.5)."""
    if not actual:
        raise MonitorError("no rows with ground truth to compute model quality on")
    if settings.problem_type == "Regression":
        return Predictions(
            actual=[number(v, "ground_truth_attribute", "data") for v in actual],
            predicted=[number(v, "inference_attribute", "data") for v in predicted],
        )
    labels = [label_text(value) for value in actual]
    answers = [label_text(value) for value in predicted]
    if settings.problem_type == "MulticlassClassification":
        if not answers:
            raise MonitorError("inference_attribute must locate the predicted labels for MulticlassClassification")
        return Predictions(actual=labels, predicted=answers)
    positive = label_text(settings.positive_label or "1")
    if not answers and scores is not None:
        negative = next((label for label in sorted(set(labels)) if label != positive), "0")
        answers = [positive if score >= settings.probability_threshold else negative for score in scores]
    if scores is None:
        scores = [1.0 if answer == positive else 0.0 for answer in answers]
    return Predictions(actual=labels, predicted=answers, scores=scores)


def compute_model_quality(predictions: Predictions, settings: ModelQualitySettings) -> ModelQualityStatistics:
    try:
        if settings.problem_type == "Regression":
            return regression_metrics(predictions.actual, predictions.predicted)
        if settings.problem_type == "MulticlassClassification":
            return multiclass_classification_metrics(predictions.actual, predictions.predicted)
        positive = label_text(settings.positive_label or "1")
        return binary_classification_metrics(
            predictions.actual, predictions.predicted, predictions.scores or [], positive
        )
    except ValueError as error:
        raise MonitorError(f"cannot compute model-quality metrics: {error}") from error


def _scalar(statistics: ModelQualityStatistics, metric: str) -> tuple[float, float | str] | None:
    block = getattr(statistics, statistics.metrics_key)
    found = getattr(block, metric, None)
    if not isinstance(found, MetricValue) or not isinstance(found.value, float | int) or not math.isfinite(found.value):
        return None
    return float(found.value), found.standard_deviation


def suggest_model_quality_constraints(statistics: ModelQualityStatistics, problem_type: str) -> ModelQualityConstraints:
    """Each metric of the baseline as its own threshold, failing when it gets worse."""
    constraints: dict[str, MetricConstraint] = {}
    for metric in SUGGESTED_METRICS[problem_type]:
        value = _scalar(statistics, metric)
        if value is None:
            continue
        operator: ComparisonOperator = "GreaterThanThreshold" if metric in HIGHER_IS_WORSE else "LessThanThreshold"
        constraints[metric] = MetricConstraint(threshold=value[0], comparison_operator=operator)
    return ModelQualityConstraints.model_validate({CONSTRAINTS_KEYS[problem_type]: constraints})


def check_model_quality(
    statistics: ModelQualityStatistics, constraints: ModelQualityConstraints
) -> list[ModelQualityViolation]:
    """A violation per constrained metric that is past its threshold (a metric the run could not
    compute, e.g. AUC with one class, is not a violation)."""
    expected = statistics.metrics_key.replace("_metrics", "_constraints")
    if constraints.constraints_key != expected:
        raise MonitorError(
            f"baseline_constraints hold {constraints.constraints_key} but the job computes {statistics.metrics_key}"
        )
    violations = []
    for metric, constraint in constraints.metrics.items():
        value = _scalar(statistics, metric)
        if value is None:
            continue
        observed, spread = value
        operator = constraint.comparison_operator
        # A value within rounding of its threshold is not past it: the analyzer's sums run in
        # another order, so its own baseline can differ from ours in the last bit.
        margin = ROUNDING * max(1.0, abs(constraint.threshold))
        if operator == "LessThanThreshold":
            broken = observed < constraint.threshold - margin
        else:
            broken = observed > constraint.threshold + margin
        if broken:
            violations.append(
                ModelQualityViolation(
                    constraint_check_type=operator,
                    description=violation_description(metric, observed, spread, operator, constraint.threshold),
                    metric_name=camel_case(metric),
                )
            )
    return violations


def model_quality_metric_records(
    statistics: ModelQualityStatistics, dimensions: list[dict[str, str]], timestamp: str
) -> list[dict[str, Any]]:
    """One datum per finite scalar metric, named by its snake_case key (as Model Monitor lists them)."""
    block = getattr(statistics, statistics.metrics_key)
    records = []
    for metric in type(block).model_fields:
        value = _scalar(statistics, metric)
        if value is not None:
            records.append({"MetricName": metric, "Timestamp": timestamp, "Dimensions": dimensions, "Value": value[0]})
    return records
