"""The auto-approval rule: only a strictly better model replaces the approved one."""

from __future__ import annotations

from mlops.local.approval import decide_approval


def test_first_version_is_approved_in_auto_mode() -> None:
    decision = decide_approval("auto", metric="auc", direction="higher", new_value=0.9, approved_value=None,
                               approved_version=None)
    assert decision.approve


def test_a_better_model_is_approved_and_an_equal_one_is_not() -> None:
    better = decide_approval("auto", metric="auc", direction="higher", new_value=0.95, approved_value=0.9,
                             approved_version=1)
    equal = decide_approval("auto", metric="auc", direction="higher", new_value=0.9, approved_value=0.9,
                            approved_version=1)
    assert better.approve
    assert not equal.approve
    assert "approved version 1" in equal.reason


def test_lower_is_better_metrics_compare_the_other_way() -> None:
    assert decide_approval("auto", metric="rmse", direction="lower", new_value=1.0, approved_value=2.0,
                           approved_version=3).approve
    assert not decide_approval("auto", metric="rmse", direction="lower", new_value=3.0, approved_value=2.0,
                               approved_version=3).approve


def test_manual_mode_never_approves() -> None:
    assert not decide_approval("manual", metric="auc", direction="higher", new_value=1.0, approved_value=None,
                               approved_version=None).approve
