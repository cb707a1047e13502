"""The run report's inline SVG: the pipeline graph and each feature's baseline-vs-live distribution."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

STATUS_COLORS = {"Succeeded": "#2e7d32", "cached": "#00838f", "reused": "#00838f", "Failed": "#c62828",
                 "NotExecuted": "#9e9e9e", "Pending": "#bdbdbd", "Executing": "#f9a825"}
SHORT_STATUS = {"Succeeded": "done", "NotExecuted": "not run", "Executing": "running"}


def escape_html(value: Any) -> str:
    return html.escape("" if value is None else str(value))


_e = escape_html


# --------------------------------------------------------------------------- pipeline graph


def _levels(names: Sequence[str], dependencies: Mapping[str, Sequence[str]]) -> dict[str, int]:
    level: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name in level:
            return level[name]
        needs = [need for need in dependencies.get(name, []) if need in names and need not in seen]
        level[name] = 1 + max((depth(need, seen | {name}) for need in needs), default=-1)
        return level[name]

    for name in names:
        depth(name, frozenset())
    return level


def pipeline_svg(steps: Sequence[Mapping[str, Any]], dependencies: Mapping[str, Sequence[str]]) -> str:
    """Steps as boxes in dependency columns, arrows from what a step needs, colored by status."""
    names = [str(step["name"]) for step in steps]
    if not names:
        return '<p class="muted">no steps</p>'
    levels = _levels(names, dependencies)
    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(levels[name], []).append(name)
    width, height, gap_x, gap_y = 200, 40, 50, 18
    position = {name: (column * (width + gap_x) + 10, row * (height + gap_y) + 10)
                for column, members in columns.items() for row, name in enumerate(members)}
    total_w = (max(columns) + 1) * (width + gap_x)
    total_h = max(len(members) for members in columns.values()) * (height + gap_y) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
             f'font-family="sans-serif" font-size="12"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" '
             'refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/>'
             '</marker></defs>']
    for name in names:
        for need in dependencies.get(name, []):
            if need in position:
                (x1, y1), (x2, y2) = position[need], position[name]
                start_x, start_y, end_y = x1 + width, y1 + height / 2, y2 + height / 2
                bend = (x2 - start_x) / 2
                parts.append(f'<path d="M{start_x},{start_y} C{start_x + bend},{start_y} {x2 - bend},{end_y} '
                             f'{x2},{end_y}" fill="none" stroke="#777" marker-end="url(#arrow)"/>')
    for step in steps:
        name = str(step["name"])
        x, y = position[name]
        status = str(step.get("status"))
        key = "reused" if step.get("reused") else "cached" if step.get("cached_from") else status
        color = STATUS_COLORS.get(key, "#bdbdbd")
        label = SHORT_STATUS.get(key, key)
        seconds = step.get("seconds")
        timing = f" {seconds:.1f}s" if isinstance(seconds, (int, float)) and key == "Succeeded" else ""
        parts.append(f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="6" fill="{color}"/>'
                     f'<text x="{x + 8}" y="{y + 16}" fill="#fff" font-weight="bold">{_e(name[:28])}</text>'
                     f'<text x="{x + 8}" y="{y + 31}" fill="#fff">{_e(step.get("type"))} · {_e(label)}{timing}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- distributions


def _numeric_buckets(feature: Mapping[str, Any]) -> list[tuple[float, float, float]]:
    block = feature.get("numerical_statistics") or {}
    buckets = (block.get("distribution") or {}).get("kll", {}).get("buckets", [])
    return [(float(b["lower_bound"]), float(b["upper_bound"]), float(b["count"])) for b in buckets]


def _categorical_buckets(feature: Mapping[str, Any]) -> dict[str, float]:
    block = feature.get("string_statistics") or {}
    buckets = (block.get("distribution") or {}).get("categorical", {}).get("buckets", [])
    return {str(b["value"]): float(b["count"]) for b in buckets}


def distribution_svg(baseline: Mapping[str, Any], live: Mapping[str, Any] | None) -> str:
    """Baseline (grey) and live (orange) histograms of one feature on one axis, as densities."""
    width, height = 300, 80
    series = [("#9e9e9e", baseline), ("#ef6c00", live)] if live else [("#9e9e9e", baseline)]
    numeric = [(color, _numeric_buckets(feature)) for color, feature in series if feature]
    if any(buckets for _, buckets in numeric):
        edges = [edge for _, buckets in numeric for low, high, _ in buckets for edge in (low, high)]
        low, high = min(edges), max(edges)
        span = (high - low) or 1.0
        densities = []
        for color, buckets in numeric:
            total = sum(count for _, _, count in buckets) or 1.0
            densities.append([(color, a, b, count / total / max(b - a, span / 1000)) for a, b, count in buckets])
        top = max((d for group in densities for *_, d in group), default=1.0) or 1.0
        bars = []
        for group in densities:
            for color, a, b, density in group:
                x = (a - low) / span * width
                w = max(1.0, (b - a) / span * width)
                h = density / top * (height - 14)
                bars.append(f'<rect x="{x:.1f}" y="{height - 12 - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                            f'fill="{color}" fill-opacity="0.55"/>')
        axis = (f'<text x="0" y="{height}" font-size="9">{low:.4g}</text>'
                f'<text x="{width}" y="{height}" font-size="9" text-anchor="end">{high:.4g}</text>')
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                f'font-family="sans-serif">{"".join(bars)}{axis}</svg>')
    categorical = [(color, _categorical_buckets(feature)) for color, feature in series if feature]
    values = sorted({value for _, counts in categorical for value in counts},
                    key=lambda value: -categorical[0][1].get(value, 0))[:8]
    if not values:
        return '<p class="muted">no distribution recorded</p>'
    slot = width / len(values)
    bars = []
    for index, (color, counts) in enumerate(categorical):
        total = sum(counts.values()) or 1.0
        for position, value in enumerate(values):
            share = counts.get(value, 0.0) / total
            h = share * (height - 14)
            x = position * slot + index * slot / 2 + 2
            bars.append(f'<rect x="{x:.1f}" y="{height - 12 - h:.1f}" width="{slot / 2 - 4:.1f}" height="{h:.1f}" '
                        f'fill="{color}" fill-opacity="0.8"/>')
    labels = "".join(f'<text x="{(i + 0.5) * slot:.1f}" y="{height}" font-size="9" text-anchor="middle">'
                     f"{_e(value[:10])}</text>" for i, value in enumerate(values))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif">{"".join(bars)}{labels}</svg>')
