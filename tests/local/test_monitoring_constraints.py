"""The monitoring schedule checks drift against the environment's configured threshold."""

from __future__ import annotations

import json

from mlops.local.loop.monitoring import schedule_constraints

BASELINE = {
    "version": 0.0,
    "features": [{"name": "x", "inferred_type": "Fractional", "completeness": 1.0}],
    "monitoring_config": {
        "evaluate_constraints": "Enabled",
        "distribution_constraints": {"perform_comparison": "Enabled", "comparison_threshold": 0.1,
                                     "comparison_method": "Robust", "categorical_comparison_threshold": 0.1,
                                     "categorical_drift_method": "LInfinity"},
    },
}


def test_schedule_constraints_take_the_configured_drift_threshold() -> None:
    tuned = schedule_constraints(BASELINE, 0.25)
    distribution = tuned["monitoring_config"]["distribution_constraints"]
    assert distribution["comparison_threshold"] == 0.25
    assert distribution["categorical_comparison_threshold"] == 0.25
    assert distribution["comparison_method"] == "Robust"
    assert tuned["features"] == BASELINE["features"]


def test_schedule_constraints_leave_the_baseline_untouched() -> None:
    before = json.dumps(BASELINE, sort_keys=True)
    schedule_constraints(BASELINE, 0.3)
    assert json.dumps(BASELINE, sort_keys=True) == before
