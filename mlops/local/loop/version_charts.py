"""The report's history across model versions: the gate metric per version and the drift of the top
features per served version, as inline SVG line charts (no script, no network), and where the run's
experiment was tracked, and the registered version compared with the one before it."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops.local.loop.summary import RunSummary

TOP_FEATURES = 5
PALETTE = ("#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037")
WIDTH, HEIGHT = 520, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 34

Series = dict[str, list[tuple[int, float]]]


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def gate_metric_by_version(summary: RunSummary) -> list[tuple[int, float]]:
    """(version, gate metric) of every version of the group with a registered metric, oldest first."""
    found = [(int(row["version"]), row["metric"]) for row in summary.versions]
    return sorted((version, float(metric)) for version, metric in found if metric is not None)


def drift_by_version(runs_root: Path, current: RunSummary) -> dict[int, dict[str, float]]:
    """Feature drift measured while each version was served: the latest run that served it wins."""
    found: dict[int, dict[str, float]] = {}
    summaries: list[Mapping[str, Any]] = []
    for path in sorted(runs_root.glob("*/summary.json")):
        if path.parent.name == current.execution_id:
            continue  # this run's own summary is written after the report
        try:
            summaries.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    for summary in [*summaries, {"served": current.served, "drift": current.drift}]:
        served, drift = summary.get("served"), summary.get("drift")
        if isinstance(served, Mapping) and isinstance(drift, Mapping) and drift:
            found[int(served["version"])] = {str(name): float(value) for name, value in drift.items()}
    return found


def top_features(current: Mapping[str, float], history: Mapping[int, Mapping[str, float]]) -> list[str]:
    """This run's most drifted features; the history's highest when this run measured none."""
    ranked = dict(current)
    if not ranked:
        for drift in history.values():
            for name, value in drift.items():
                ranked[name] = max(value, ranked.get(name, 0.0))
    return [name for name, _ in sorted(ranked.items(), key=lambda item: (-item[1], item[0]))[:TOP_FEATURES]]


def line_chart_svg(series: Series, *, y_label: str, reference: float | None = None) -> str:
    """Lines over version numbers (evenly spaced), one color per series, an optional dashed reference."""
    versions = sorted({version for points in series.values() for version, _ in points})
    values = [value for points in series.values() for _, value in points]
    if not versions or not values:
        return ""
    low = min([*values, *([reference] if reference is not None else [])])
    high = max([*values, *([reference] if reference is not None else [])])
    if high == low:
        low, high = low - 0.5, high + 0.5
    span = high - low
    low, high = low - span * 0.08, high + span * 0.08
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(version: int) -> float:
        index, inset = versions.index(version), 18  # the end points clear the axis
        if len(versions) == 1:
            return LEFT + plot_w / 2
        return LEFT + inset + (plot_w - 2 * inset) * index / (len(versions) - 1)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / (high - low))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="{_e(y_label)} by model version" font-size="11" font-family="sans-serif">',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#999"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#999"/>']
    for tick in (low + span * 0.08, (low + high) / 2, high - span * 0.08):
        parts.append(f'<text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#555">{tick:.3g}</text>')
    for version in versions:
        parts.append(f'<text x="{x(version):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                     f'fill="#555">v{version}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 4}" text-anchor="middle" fill="#555">'
                 f"model version · {_e(y_label)}</text>")
    if reference is not None:
        parts.append(f'<line x1="{LEFT}" y1="{y(reference):.1f}" x2="{WIDTH - RIGHT}" y2="{y(reference):.1f}" '
                     f'stroke="#777" stroke-dasharray="4 3"><title>threshold {reference:g}</title></line>')
    for index, (name, points) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        ordered = sorted(points)
        path = " ".join(f"{x(version):.1f},{y(value):.1f}" for version, value in ordered)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{x(version):.1f}" cy="{y(value):.1f}" r="3" fill="{color}">'
                  f"<title>{_e(name)} v{version}: {value:.4f}</title></circle>" for version, value in ordered]
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: Sequence[str]) -> str:
    items = "".join(f'<span style="background:{PALETTE[index % len(PALETTE)]}"></span>{_e(name)}'
                    for index, name in enumerate(names))
    return f'<p class="legend">{items}</p>'


def versions_section(summary: RunSummary) -> str:
    """The report's "Across versions" section ("" when there is nothing to chart or say)."""
    parts: list[str] = []
    gate = summary.gate.get("metric", "metric")
    metric = gate_metric_by_version(summary)
    if metric:
        threshold = summary.gate.get("threshold")
        chart = line_chart_svg({str(gate): metric}, y_label=str(gate),
                               reference=float(threshold) if isinstance(threshold, (int, float)) else None)
        parts.append(f"<h3>Quality gate metric ({_e(gate)}, test split) by version</h3>{chart}")
    history = drift_by_version(Path(summary.work_dir) / "runs", summary)
    features = top_features(summary.drift, history)
    if history and features:
        series: Series = {name: [(version, drift[name]) for version, drift in sorted(history.items()) if name in drift]
                          for name in features}
        parts.append(f"<h3>Drift of the top {len(features)} features by served version</h3>"
                     + line_chart_svg(series, y_label="drift distance") + _legend(features))
    if summary.tracking_uri:
        run = f", run <code>{_e(summary.tracking_run)}</code>" if summary.tracking_run else ""
        problem = f' <span class="bad">{_e(summary.tracking_problem)}</span>' if summary.tracking_problem else ""
        parts.append(f"<p>Experiment tracking: MLflow store <code>{_e(summary.tracking_uri)}</code>{run}.{problem} "
                     "Compare two versions with <code>mlops local registry compare A B</code>.</p>")
    return "<h2>Across versions</h2>" + "".join(parts) if parts else ""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _e(value)


def comparison_section(comparison: Mapping[str, Any] | None, cards: Mapping[int, str]) -> str:
    """`mlops local registry compare` of the previous and the registered version, changed rows marked;
    the lineage section and each version's model card file show where both came from."""
    if not comparison:
        return ""
    if "problem" in comparison:
        return f'<h2>Compared with the previous version</h2><p class="bad">{_e(comparison["problem"])}</p>'
    a, b = (int(facts["version"]) for facts in comparison["versions"])
    body = []
    for section, rows in comparison["sections"].items():
        if not rows:
            continue
        body.append(f'<tr><th colspan="4">{_e(section)}</th></tr>')
        for row in rows:
            mark = ' class="changed"' if row["changed"] else ""
            delta = "" if row.get("delta") is None else f"{row['delta']:+.4g}"
            body.append(f"<tr{mark}><td>{_e(row['name'])}</td><td>{_cell(row['a'])}</td><td>{_cell(row['b'])}</td>"
                        f"<td>{delta}</td></tr>")
    card_files = "".join(f"<li>version {version}: <code>{_e(path)}</code></li>"
                         for version, path in sorted(cards.items()))
    return (f"<h2>Version {b} compared with version {a}</h2><p>Changed rows are marked; the same table as "
            f"<code>mlops local registry compare {a} {b}</code>.</p><table><tr><th></th><th>version {a}</th>"
            f"<th>version {b}</th><th>B - A</th></tr>{''.join(body)}</table>"
            + (f"<p>Model cards:</p><ul>{card_files}</ul>" if card_files else ""))
