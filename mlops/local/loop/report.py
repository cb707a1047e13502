"""The run report: one self-contained HTML file (inline CSS and SVG, no external assets)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.local.loop.report_charts import distribution_svg, pipeline_svg
from mlops.local.loop.report_charts import escape_html as _e
from mlops.local.loop.version_charts import comparison_section, versions_section
from mlops.model_card import CARD_FILE_SUFFIX, LOCAL_CARDS_DIR

if TYPE_CHECKING:
    from mlops.local.loop.summary import RunSummary

STATE_COLORS = {"ALARM": "#c62828", "OK": "#2e7d32", "INSUFFICIENT_DATA": "#9e9e9e"}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
padding:0 1rem}h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f5f5f5}.muted{color:#777}.bad{color:#c62828;font-weight:600}
.good{color:#2e7d32;font-weight:600}pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.8rem}
.pill{display:inline-block;padding:0 .5rem;border-radius:.6rem;color:#fff;font-size:.8rem}
.features{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:.6rem}
.feature{border:1px solid #e0e0e0;border-radius:4px;padding:.4rem}.feature h3{font-size:.9rem;margin:.1rem 0}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:middle}
tr.changed td{background:#fff8e1}
"""


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], raw: bool = False) -> str:
    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell if raw else _e(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _pill(text: str, color: str) -> str:
    return f'<span class="pill" style="background:{color}">{_e(text)}</span>'


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _e(value if value is not None else "-")
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- the page


def _metrics_rows(evaluation: Mapping[str, Any]) -> list[tuple[str, str]]:
    for key, block in evaluation.items():
        if key.endswith("_metrics") and isinstance(block, Mapping):
            return [(name, _number(value.get("value"))) for name, value in block.items()
                    if isinstance(value, Mapping) and isinstance(value.get("value"), (int, float))]
    return []


def _alert_text(message: Any) -> str:
    if isinstance(message, Mapping):
        return str(message.get("NewStateReason", ""))
    return str(message)


def render_report(summary: RunSummary) -> str:
    s = summary
    color = "good" if s.status == "Succeeded" else "bad"
    sections = [
        f"<h1>Local MLOps run {_e(s.execution_id)}</h1>",
        f'<p>Environment <b>{_e(s.environment)}</b> · status <span class="{color}">{_e(s.status)}</span> · '
        f"started {_e(s.started)} · {s.seconds:.1f}s · work folder <code>{_e(s.work_dir)}</code></p>",
        f"<p>Data: {_e(s.data.get('source'))} (<code>{_e(s.data.get('uri'))}</code>), target "
        f"<code>{_e(s.data.get('target'))}</code>, {_e(s.data.get('problem_type'))}</p>",
    ]
    if s.failure:
        tail = f"<pre>{_e(s.failure_log_tail)}</pre>" if s.failure_log_tail else ""
        log = f"<p>Log: <code>{_e(s.failure_log)}</code></p>" if s.failure_log else ""
        sections.append(f'<h2>Failure</h2><p class="bad">{_e(s.failure)}</p>{log}{tail}')
    sections.append("<h2>Pipeline</h2>" + pipeline_svg(s.steps, s.dependencies))
    sections.append(_table(
        ("step", "type", "status", "seconds", "attempts", "detail"),
        [(step["name"], step["type"], "cached" if step.get("cached_from") else step["status"],
          _number(step.get("seconds"), 2), step.get("attempts"), step.get("failure_reason") or step.get("detail"))
         for step in s.steps],
    ))
    if s.parameters:
        sections.append("<h3>Parameters</h3>" + _table(("parameter", "value"), sorted(s.parameters.items())))
    metrics = _metrics_rows(s.evaluation)
    if metrics:
        gate = s.gate
        sections.append(f"<h2>Model quality (test split)</h2><p>Quality gate: {_e(gate.get('metric'))} "
                        f"{'&ge;' if gate.get('direction') == 'higher' else '&le;'} {_e(gate.get('threshold'))}</p>"
                        + _table(("metric", "value"), metrics))
    registry_rows = [
        (v["version"], _pill(v["status"], {"Approved": "#2e7d32", "Rejected": "#c62828"}.get(v["status"], "#f9a825")),
         _e(v.get("created")), _number(v.get("metric")), _e(v.get("arn")))
        for v in s.versions
    ]
    approval = ""
    if s.approval:
        approval = (f"<p>Version {_e(s.approval['version'])}: {_e(s.approval['status'])}: "
                    f"{_e(s.approval['reason'])}</p>")
    if s.approve_command:
        approval += f"<p>Approve it with <code>{_e(s.approve_command)}</code></p>"
    sections.append("<h2>Model registry</h2>" + approval + _table(
        ("version", "status", "created", s.gate.get("metric", "metric"), "ARN"), registry_rows, raw=True))
    sections.append(versions_section(s))
    sections.append(comparison_section(s.comparison, _card_files(s)))
    if s.model_card:
        sections.append(model_card_section(s.model_card, s.registered["version"] if s.registered else "?"))
    if s.served:
        drifted = ", ".join(f"{item['name']} ({item['how']})" for item in s.drifted_features) or "none"
        sections.append(
            f"<h2>Serving</h2><p>Version {_e(s.served['version'])} served on 127.0.0.1:{_e(s.served['port'])}; "
            f"replayed {_e(s.replay.get('test_rows'))} test rows and {_e(s.replay.get('drifted_rows'))} drifted rows "
            f"({_e(s.replay.get('sent_rows'))} rows in {_e(s.replay.get('requests'))} requests, "
            f"{_e(s.replay.get('capture_percent'))}% captured). Drifted on purpose: <b>{_e(drifted)}</b>.</p>"
        )
    elif s.serve_note:
        sections.append(f"<h2>Serving</h2><p class='muted'>{_e(s.serve_note)}</p>")
    if s.monitoring:
        sections.append(_drift_section(s))
    if s.model_quality:
        sections.append(_model_quality_section(s))
    if s.alarms:
        rows = [(_e(a["name"]), _pill(a["state"], STATE_COLORS.get(a["state"], "#777")), _e(a["old"]),
                 _number(a.get("latest")), _e(a["threshold"]), _e(a["reason"]))
                for a in sorted(s.alarms, key=lambda a: (a["state"] != "ALARM", a["name"]))]
        sections.append("<h2>Alarms</h2>" + _table(("alarm", "state", "was", "latest", "threshold", "reason"),
                                                   rows, raw=True))
        if s.alerts:
            items = "".join(
                f"<li><b>{_e(alert['Subject'])}</b><br><span class='muted'>{_e(_alert_text(alert['Message']))}"
                "</span></li>" for alert in s.alerts
            )
            sections.append(f"<h3>Alerts delivered to the alerts topic</h3><ul>{items}</ul>")
        else:
            sections.append("<p class='muted'>No alarm changed state, so no alert was sent.</p>")
    if s.stages:
        sections.append("<h2>Timings</h2>" + _table(("stage", "seconds"),
                                                    [(name, f"{seconds:.2f}") for name, seconds in s.stages.items()]))
    if s.files:
        sections.append("<h2>Files</h2>" + _table(("what", "path"), sorted(s.files.items())))
    body = "\n".join(sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Local run {_e(s.execution_id)}'
            f"</title><style>{CSS}</style></head><body>{body}</body></html>\n")


def _drift_section(s: RunSummary) -> str:
    assert s.monitoring is not None
    baseline = {str(f["name"]): f for f in (s.baseline_statistics or {}).get("features", [])}
    live = {str(f["name"]): f for f in s.monitoring.get("statistics", {}).get("features", [])}
    drift_alarms = [a for a in s.alarms if a["metric"].startswith("feature_baseline_drift_")]
    states = {a["metric"][len("feature_baseline_drift_"):]: a["state"] for a in drift_alarms}
    threshold = drift_alarms[0]["threshold"] if drift_alarms else None
    drifted = {item["name"] for item in s.drifted_features}
    order = sorted(baseline, key=lambda name: -s.drift.get(name, -1.0))
    cards = []
    for name in order:
        distance = s.drift.get(name)
        state = states.get(name, "")
        flag = " (drifted on purpose)" if name in drifted else ""
        cards.append(
            f'<div class="feature"><h3>{_e(name)}{_e(flag)}</h3><div>drift {_number(distance, 3)} '
            f"{_pill(state, STATE_COLORS.get(state, '#777')) if state else ''}</div>"
            f"{distribution_svg(baseline[name], live.get(name))}</div>"
        )
    violations = s.monitoring.get("violations", [])
    table = _table(("feature", "check", "description"),
                   [(v.get("feature_name"), v.get("constraint_check_type"), v.get("description")) for v in violations])
    legend = ('<p class="legend">Distributions:<span style="background:#9e9e9e"></span>baseline (training data)'
              '<span style="background:#ef6c00"></span>live (captured requests)</p>')
    return (f"<h2>Data quality and drift</h2><p>Monitoring output <code>{_e(s.monitoring.get('output'))}</code>; "
            f"{s.metrics_published} CloudWatch metrics published; alarm threshold {_e(threshold)}.</p>"
            f"<h3>Violations ({len(violations)})</h3>{table if violations else '<p class=muted>none</p>'}"
            f"<h3>Features by drift distance</h3>{legend}<div class='features'>{''.join(cards)}</div>")


def _model_quality_section(s: RunSummary) -> str:
    """Live model quality (captured test requests joined with their ground truth) beside the Evaluate
    step's figures on the same split, and the model-quality alarm on the gate metric."""
    quality = s.model_quality
    assert quality is not None
    evaluated = dict(_metrics_rows(s.evaluation))
    gate = quality["gate_metric"]
    rows = [(f"<b>{_e(name)}</b>" if name == gate else _e(name), _e(evaluated.get(name, "")), _number(value))
            for name, value in quality["metrics"].items()]
    alarm = quality.get("alarm")
    state = (f"alarm <code>{_e(alarm['name'])}</code> "
             f"{_pill(alarm['state'], STATE_COLORS.get(alarm['state'], '#777'))} (threshold {_e(alarm['threshold'])})"
             if alarm else "alarm not evaluated")
    violations = quality["violations"]
    listed = "".join(f"<li>{_e(v.get('description'))}</li>" for v in violations)
    return (f"<h2>Model quality (live, against ground truth)</h2><p>{quality['labelled_requests']} replayed test "
            f"requests labelled in <code>{_e(quality['ground_truth'])}</code>; output "
            f"<code>{_e(quality['output'])}</code>; {quality['metrics_published']} CloudWatch metrics published; "
            f"{state}.</p>"
            + _table(("metric", "test split (Evaluate)", "live"), rows, raw=True)
            + (f"<h3>Violations ({len(violations)})</h3><ul>{listed}</ul>" if violations
               else "<p class='muted'>No model-quality violation of the quality gate.</p>"))


def model_card_section(card: Mapping[str, Any], version: Any) -> str:
    """The registered version's model card: intended use, evaluation and gate, lineage and approval,
    and the whole card as SageMaker stores it (ModelCardContent)."""
    uses = card.get("intended_uses", {})
    evaluation = (card.get("evaluation_details") or [{}])[0]
    details = card.get("additional_information", {}).get("custom_details", {})
    rows = [("purpose", uses.get("purpose_of_model")), ("intended uses", uses.get("intended_uses")),
            ("risk", f"{uses.get('risk_rating')}: {uses.get('explanations_for_risk_rating', '')}"),
            ("caveats", card.get("additional_information", {}).get("caveats_and_recommendations")),
            ("evaluation", evaluation.get("evaluation_observation")),
            ("training", card.get("training_details", {}).get("training_observations"))]
    whole = json.dumps(card, indent=2, sort_keys=True)
    return (f"<h2>Model card of version {_e(version)}</h2>" + _table(("", ""), rows)
            + "<h3>Lineage and approval</h3>" + _table(("entry", "value"), sorted(details.items()))
            + f"<details><summary>ModelCardContent (JSON)</summary><pre>{_e(whole)}</pre></details>")


def _card_files(s: RunSummary) -> dict[int, str]:
    """The compared versions' model card files that exist in the work folder."""
    if not s.comparison or "versions" not in s.comparison:
        return {}
    group = s.comparison.get("group", "")
    found = {}
    for facts in s.comparison["versions"]:
        path = Path(s.work_dir) / LOCAL_CARDS_DIR / group / f"{facts['version']}{CARD_FILE_SUFFIX}"
        if path.is_file():
            found[int(facts["version"])] = str(path)
    return found
