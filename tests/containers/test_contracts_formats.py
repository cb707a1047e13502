"""statistics/constraints/violations contracts: the real reference files parse and round-trip."""

from __future__ import annotations

import json

import pytest

from containers.contracts.constraints import parse_constraints
from containers.contracts.statistics import parse_statistics
from containers.contracts.violations import parse_violations
from tests.fixtures import SAGEMAKER_REFERENCE as REFERENCE


def test_reference_statistics_parse_and_round_trip_to_the_same_document() -> None:
    text = (REFERENCE / "statistics.json").read_text()
    statistics = parse_statistics(text)
    assert statistics.dataset.item_count == 23432
    kinds = {feature.inferred_type for feature in statistics.features}
    assert kinds == {"String", "Fractional", "Integral"}
    price = statistics.feature("price")
    assert price is not None
    assert price.numerical_statistics is not None
    sketch = price.numerical_statistics.distribution.kll.sketch  # type: ignore[union-attr]
    # KLL levels: items of level i weigh 2**i, and the weights add up to the row count.
    assert sum(len(level) << i for i, level in enumerate(sketch.data)) == 23432
    assert json.loads(statistics.to_json()) == json.loads(text)


def test_reference_constraints_parse_and_round_trip_to_the_same_document() -> None:
    text = (REFERENCE / "constraints.json").read_text()
    constraints = parse_constraints(text)
    assert constraints.monitoring_config.distribution_constraints.categorical_drift_method == "LInfinity"
    assert json.loads(constraints.to_json()) == json.loads(text)


@pytest.mark.parametrize(
    "name", ["constraint_violations.json", "constraint_violations.data_type_check_newer.transcribed.json"]
)
def test_reference_violations_parse_and_round_trip(name: str) -> None:
    text = (REFERENCE / name).read_text()
    violations = parse_violations(text)
    assert violations.violations
    assert json.loads(violations.to_json()) == json.loads(text)


def test_statistics_with_wrong_type_is_rejected_naming_the_key() -> None:
    document = json.loads((REFERENCE / "statistics.json").read_text())
    document["dataset"]["item_count"] = "many"
    with pytest.raises(ValueError, match="item_count"):
        parse_statistics(json.dumps(document))
