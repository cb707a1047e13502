"""The replay's self-contained HTML report: drift per feature against its threshold, violations,
and the threshold backtest over the previous windows."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from containers.contracts.capture import format_capture_time

if TYPE_CHECKING:
    from mlops.monitor_replay import Replay, WindowOutcome

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24;max-width:72rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.num{text-align:right;font-variant-numeric:tabular-nums}
.drift{background:#ffebe9;color:#82071e;font-weight:600}.ok{color:#1a7f37}.muted{color:#57606a}
.bar{display:inline-block;height:.6rem;background:#0969da;vertical-align:middle}
.bar.over{background:#cf222e}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dt{font-weight:600}
"""


def _number(value: float) -> str:
    return f"{value:.4f}"


def _hour(outcome: WindowOutcome) -> str:
    return escape(format_capture_time(outcome.window.start))


def _summary(replay: Replay) -> str:
    served = replay.served
    facts = {
        "Endpoint": served.endpoint,
        "Model version": f"{served.version} ({served.model_package_arn})",
        "Window": replay.window.label,
        "Capture": f"{replay.capture_files} files under {served.capture_uri}",
        "Rows analysed": str(replay.outcome.rows),
        "Drift threshold": f"{replay.drift_threshold:g} (the environment's monitoring.drift_threshold)",
        "Baseline statistics": served.statistics_uri,
        "Baseline constraints": served.constraints_uri,
        "Output files": str(replay.output / "result"),
    }
    rows = "".join(f"<dt>{escape(key)}</dt><dd>{escape(value)}</dd>" for key, value in facts.items())
    return f"<dl>{rows}</dl>"


def _distances(replay: Replay) -> str:
    drift = replay.outcome.drift
    if not drift:
        return "<p class='muted'>No feature could be compared with the baseline.</p>"
    rows = []
    for name in sorted(drift, key=lambda feature: -drift[feature]):
        distance, threshold = drift[name], replay.baseline.threshold(name)
        over = distance > threshold
        kind = "numeric" if name in replay.baseline.numeric_features else "categorical"
        width = min(distance, 1.0) * 12
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{kind}</td>"
            f"<td class='num{' drift' if over else ''}'>{_number(distance)}</td>"
            f"<td class='num'>{_number(threshold)}</td>"
            f"<td><span class='bar{' over' if over else ''}' style='width:{width:.2f}rem'></span></td>"
            f"<td class='{'drift' if over else 'ok'}'>{'drift' if over else 'ok'}</td></tr>"
        )
    return (
        "<table><tr><th>Feature</th><th>Type</th><th>Distance</th><th>Threshold</th><th></th><th>Status</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _violations(replay: Replay) -> str:
    found = replay.outcome.violations
    if not found:
        return "<p class='ok'>No violations: the schedule would have completed without violations.</p>"
    rows = "".join(
        f"<tr><td>{escape(v['feature_name'])}</td><td>{escape(v['constraint_check_type'])}</td>"
        f"<td>{escape(v['description'])}</td></tr>"
        for v in found
    )
    return (
        f"<p class='drift'>{len(found)} violations: the schedule would have completed with violations.</p>"
        f"<table><tr><th>Feature</th><th>Check</th><th>Description</th></tr>{rows}</table>"
    )


def _history(replay: Replay) -> str:
    features = sorted({name for outcome in replay.history for name in outcome.drift})
    head = "".join(f"<th>{escape(name)}</th>" for name in features)
    rows = []
    for outcome in replay.history:
        if outcome.skipped is not None:
            rows.append(
                f"<tr><td>{_hour(outcome)}</td><td class='num'>-</td>"
                f"<td colspan='{max(len(features), 1)}' class='muted'>{escape(outcome.skipped)}</td></tr>"
            )
            continue
        cells = []
        for name in features:
            distance = outcome.drift.get(name)
            if distance is None:
                cells.append("<td class='num muted'>-</td>")
                continue
            over = distance > replay.baseline.threshold(name)
            cells.append(f"<td class='num{' drift' if over else ''}'>{_number(distance)}</td>")
        rows.append(f"<tr><td>{_hour(outcome)}</td><td class='num'>{outcome.rows}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th>Window start</th><th>Rows</th>{head}</tr>{''.join(rows)}</table>"


def _backtest(replay: Replay) -> str:
    analysed = sum(1 for outcome in replay.history if outcome.skipped is None)
    rows = []
    for result in replay.backtest:
        current = " (current)" if result.threshold == replay.drift_threshold else ""
        when = ", ".join(
            f"{escape(format_capture_time(window.start))}: {escape(', '.join(features))}"
            for window, features in result.fired
        )
        when = when or "<span class='muted'>never</span>"
        rows.append(
            f"<tr><td class='num'>{result.threshold:g}{current}</td>"
            f"<td class='num'>{len(result.fired)} of {analysed}</td><td>{when}</td></tr>"
        )
    return (
        "<p>Which thresholds would have fired when: a window fires when any feature's distance exceeds "
        "the threshold (categorical features use the constraints' drift method).</p>"
        f"<table><tr><th>Threshold</th><th>Windows fired</th><th>When (features)</th></tr>{''.join(rows)}</table>"
    )


def render_replay_report(replay: Replay) -> str:
    title = f"Monitoring replay: {replay.served.endpoint} {replay.window.label}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{_summary(replay)}"
        f"<h2>Drift per feature</h2>{_distances(replay)}"
        f"<h2>Violations</h2>{_violations(replay)}"
        f"<h2>Threshold backtest ({len(replay.history)} windows)</h2>{_backtest(replay)}"
        f"<h2>Distance per window</h2>{_history(replay)}"
        "</body></html>\n"
    )
