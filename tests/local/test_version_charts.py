"""The report's charts across versions: the gate metric of every version and the drift of the top features
of every served version, from the work folder's run summaries, as inline SVG."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mlops.local.loop.report import render_report
from mlops.local.loop.summary import RunSummary
from mlops.local.loop.version_charts import drift_by_version, line_chart_svg, top_features, versions_section


def summary(work: Path, execution_id: str, *, served: int | None, drift: dict[str, float]) -> RunSummary:
    run = RunSummary(execution_id=execution_id, environment="dev", work_dir=str(work),
                     run_dir=str(work / "runs" / execution_id), started="2026-11-26T00:00:00")
    run.gate = {"metric": "auc", "threshold": 0.9, "direction": "higher"}
    if served is not None:
        run.served = {"version": served, "arn": "arn", "port": 1, "image": "i", "model_data": "m"}
    run.drift = drift
    return run


def earlier_run(work: Path, execution_id: str, *, served: int, drift: dict[str, float]) -> None:
    run = summary(work, execution_id, served=served, drift=drift)
    (work / "runs" / execution_id).mkdir(parents=True)
    run.save(work / "runs" / execution_id / "summary.json")


def test_drift_history_takes_each_served_versions_latest_run_and_this_runs_own_drift(tmp_path: Path) -> None:
    earlier_run(tmp_path, "20261126000000aaaa", served=1, drift={"x": 0.5, "y": 0.1})
    earlier_run(tmp_path, "20261126000100bbbb", served=1, drift={"x": 0.4, "y": 0.2})
    (tmp_path / "runs" / "20261126000200cccc").mkdir()
    (tmp_path / "runs" / "20261126000200cccc" / "summary.json").write_text("{broken")  # skipped, not fatal
    current = summary(tmp_path, "20261126000300dddd", served=2, drift={"x": 0.1, "y": 0.3, "z": 0.05})
    history = drift_by_version(tmp_path / "runs", current)
    assert history == {1: {"x": 0.4, "y": 0.2}, 2: {"x": 0.1, "y": 0.3, "z": 0.05}}
    assert top_features(current.drift, history)[:2] == ["y", "x"]
    assert top_features({}, history)[:2] == ["x", "y"]


def test_report_charts_the_gate_metric_and_top_feature_drift_across_versions_without_network(tmp_path: Path) -> None:
    earlier_run(tmp_path, "20261126000000aaaa", served=1, drift={"mean_radius": 0.5})
    current = summary(tmp_path, "20261126000300dddd", served=2, drift={"mean_radius": 0.2, "mean_texture": 0.3})
    current.versions = [{"version": 2, "status": "Approved", "created": None, "metric": 0.97, "arn": "b"},
                        {"version": 1, "status": "Approved", "created": None, "metric": 0.95, "arn": "a"}]
    current.tracking_uri = "sqlite:////w/tracking/mlflow.db"
    current.tracking_run = "abc123"
    section = versions_section(current)
    assert section.count("<svg") == 2
    assert "v1" in section
    assert "v2" in section
    assert "auc v2: 0.9700" in section
    assert "mean_radius v1: 0.5000" in section
    assert "stroke-dasharray" in section  # the gate threshold
    assert "sqlite:////w/tracking/mlflow.db" in section
    assert "abc123" in section
    page = render_report(current)
    assert "Across versions" in page
    assert not re.search(r"<script|\bsrc=|href=|url\(", page)


def test_nothing_to_chart_gives_no_section(tmp_path: Path) -> None:
    assert versions_section(summary(tmp_path, "20261126000300dddd", served=None, drift={})) == ""
    assert line_chart_svg({}, y_label="auc") == ""
    # One version, one value: still a chart (a point in the middle), not a division by zero.
    assert "<circle" in line_chart_svg({"auc": [(1, 0.9)]}, y_label="auc")


def test_summary_json_carries_the_tracking_fields(tmp_path: Path) -> None:
    run = summary(tmp_path, "20261126000300dddd", served=None, drift={})
    run.tracking_uri = "sqlite:///x.db"
    run.save(tmp_path / "summary.json")
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert (saved["tracking_uri"], saved["tracking_run"], saved["tracking_problem"]) == ("sqlite:///x.db", None, None)
