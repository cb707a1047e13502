"""`mlops monitor replay`: re-run a monitoring window offline, from the account's capture and baselines.

It answers "why did (or didn't) the schedule fire?" in seconds instead of an hour per try:
1. the served version: the endpoint's config gives the capture destination, the variants and the
   model, whose model package holds the DriftCheckBaselines (statistics + constraints);
2. the capture of the window: `<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`;
3. the monitor image's analysis, in-process, with the schedule's settings (the environment's drift
   threshold applied to the baseline constraints, as the schedule does);
4. a threshold backtest: the same analysis on the previous windows, and which thresholds would
   have fired when.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from config.naming import Names
from config.settings import EnvironmentConfig
from containers.contracts.capture import format_capture_time
from containers.contracts.constraints import Constraints, parse_constraints
from containers.contracts.statistics import Statistics, parse_statistics
from containers.contracts.violations import ConstraintViolations
from containers.monitor import MonitorError, analyze, settings_from_environ, write_result
from containers.monitor.drift import categorical_threshold
from containers.monitor.reader import list_capture_files
from mlops.monitor_sources import ReplayError, ServedVersion, download_capture, download_object, served_version

CAPTURE_FORMAT = json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}})
DEFAULT_BACKTEST_WINDOWS = 24
# The thresholds the backtest tries, besides the environment's own.
CANDIDATE_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
NO_TRAFFIC = "no captured traffic in this window"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{format_capture_time(self.start)}/{format_capture_time(self.end)}"


def _instant(text: str, what: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise ReplayError(
            f"--window {what} {text!r} is not an ISO time such as 2024-05-06T07 or 2024-05-06T07:00Z"
        ) from error
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_window(text: str, period: timedelta = timedelta(hours=1)) -> Window:
    """`START[/END]`; END defaults to one schedule period after START."""
    start_text, _, end_text = text.partition("/")
    start = _instant(start_text, "start")
    end = _instant(end_text, "end") if end_text else start + period
    if end <= start:
        raise ReplayError(f"--window {text!r}: the end is not after the start")
    return Window(start, end)


def backtest_windows(window: Window, count: int) -> list[Window]:
    """`count` windows of the replayed window's length, the last one being the replayed window."""
    length = window.end - window.start
    return [Window(window.end - length * (count - i), window.end - length * (count - i - 1)) for i in range(count)]


def schedule_constraints(constraints: Constraints, drift_threshold: float) -> Constraints:
    """The baseline constraints with the environment's drift threshold, as the schedule checks them."""
    config = constraints.monitoring_config
    distribution = config.distribution_constraints.model_copy(
        update={"comparison_threshold": drift_threshold, "categorical_comparison_threshold": drift_threshold}
    )
    return constraints.model_copy(
        update={"monitoring_config": config.model_copy(update={"distribution_constraints": distribution})}
    )


@dataclass(frozen=True)
class Baseline:
    statistics: Statistics
    constraints: Constraints
    statistics_path: Path
    constraints_path: Path

    @property
    def numeric_features(self) -> frozenset[str]:
        return frozenset(f.name for f in self.statistics.features if f.numerical_statistics is not None)

    def threshold(self, feature: str, comparison_threshold: float | None = None) -> float:
        """The distance above which `feature` drifts (optionally for another comparison threshold)."""
        distribution = self.constraints.monitoring_config.distribution_constraints
        if feature in self.numeric_features:
            return distribution.comparison_threshold if comparison_threshold is None else comparison_threshold
        chosen = distribution.categorical_comparison_threshold if comparison_threshold is None else comparison_threshold
        return categorical_threshold(distribution.categorical_drift_method, chosen)


def download_baseline(s3: Any, served: ServedVersion, folder: Path, drift_threshold: float) -> Baseline:
    statistics_path = download_object(s3, served.statistics_uri, folder / "registered" / "statistics.json")
    constraints_path = download_object(s3, served.constraints_uri, folder / "registered" / "constraints.json")
    try:
        statistics = parse_statistics(statistics_path.read_bytes())
        constraints = schedule_constraints(parse_constraints(constraints_path.read_bytes()), drift_threshold)
    except ValueError as error:
        raise ReplayError(f"the registered baselines of {served.model_package_arn} are not valid: {error}") from error
    scheduled = folder / "schedule" / "constraints.json"
    scheduled.parent.mkdir(parents=True, exist_ok=True)
    scheduled.write_text(constraints.to_json(), encoding="utf-8")
    return Baseline(statistics, constraints, statistics_path, scheduled)


@dataclass(frozen=True)
class WindowOutcome:
    window: Window
    rows: int = 0
    drift: dict[str, float] = field(default_factory=dict)
    violations: list[dict[str, str]] = field(default_factory=list)
    skipped: str | None = None  # why the window could not be analysed (e.g. no traffic)


def analyze_window(
    capture: Path, baseline: Baseline, window: Window, output: Path | None, endpoint: str
) -> WindowOutcome:
    """The monitor image's analysis of one window; with `output`, its files are written there."""
    environ = {
        "dataset_format": CAPTURE_FORMAT,
        "dataset_source": str(capture),
        "output_path": str(output or capture.parent / "unused"),
        "baseline_statistics": str(baseline.statistics_path),
        "baseline_constraints": str(baseline.constraints_path),
        "start_time": format_capture_time(window.start),
        "end_time": format_capture_time(window.end),
        "metric_time": format_capture_time(window.start),
        "publish_cloudwatch_metrics": "Disabled",
        "sagemaker_endpoint_name": endpoint,
        "SAGEMAKER_BASE_DIR": str((output or capture.parent / "unused") / "opt-ml"),
    }
    try:
        list_capture_files(capture, window.start, window.end)
    except MonitorError:
        return WindowOutcome(window=window, skipped=NO_TRAFFIC)
    try:
        settings = settings_from_environ(environ)
        result = analyze(settings)
    except MonitorError as error:
        return WindowOutcome(window=window, skipped=str(error))
    if output is not None:
        write_result(settings, result)
    violations = result.violations.violations if isinstance(result.violations, ConstraintViolations) else []
    return WindowOutcome(
        window=window,
        rows=result.statistics.dataset.item_count if isinstance(result.statistics, Statistics) else 0,
        drift=result.drift,
        violations=[v.model_dump() for v in violations],
    )


@dataclass(frozen=True)
class ThresholdBacktest:
    threshold: float
    fired: list[tuple[Window, list[str]]]  # windows where some feature's distance exceeds it


def threshold_backtest(
    outcomes: Sequence[WindowOutcome], baseline: Baseline, thresholds: Sequence[float]
) -> list[ThresholdBacktest]:
    results = []
    for threshold in sorted(set(thresholds)):
        fired = []
        for outcome in outcomes:
            features = [
                name for name, distance in outcome.drift.items() if distance > baseline.threshold(name, threshold)
            ]
            if features:
                fired.append((outcome.window, sorted(features)))
        results.append(ThresholdBacktest(threshold=threshold, fired=fired))
    return results


@dataclass(frozen=True)
class Replay:
    served: ServedVersion
    window: Window
    capture_files: int
    baseline: Baseline
    outcome: WindowOutcome
    history: list[WindowOutcome]
    backtest: list[ThresholdBacktest]
    drift_threshold: float
    output: Path
    report: Path


def replay(
    sm: Any,
    s3: Any,
    env: EnvironmentConfig,
    window: Window,
    out: Path,
    *,
    backtest_count: int = DEFAULT_BACKTEST_WINDOWS,
    version: int | None = None,
    capture_uri: str | None = None,
) -> Replay:
    """Download, analyse the window and its history, write the output files and the HTML report."""
    from mlops.monitor_replay_report import render_replay_report

    if backtest_count < 1:
        raise ReplayError("--backtest must be at least 1 (the replayed window itself)")
    names = Names.of(env)
    served = served_version(sm, names, version=version, capture_uri=capture_uri)
    windows = backtest_windows(window, backtest_count)
    capture = out / "capture"
    files = download_capture(s3, served, windows[0].start, window.end, capture)
    if not files:
        raise ReplayError(
            f"no capture files under {served.capture_uri.rstrip('/')}/{served.endpoint}/ for "
            f"{format_capture_time(windows[0].start)} .. {format_capture_time(window.end)}"
        )
    threshold = env.monitoring.drift_threshold
    baseline = download_baseline(s3, served, out / "baseline", threshold)
    outcome = analyze_window(capture, baseline, window, out / "result", served.endpoint)
    if outcome.skipped is not None:
        raise ReplayError(f"the monitor analysis of {window.label} failed: {outcome.skipped}")
    history = [analyze_window(capture, baseline, past, None, served.endpoint) for past in windows[:-1]] + [outcome]
    backtest = threshold_backtest(history, baseline, (*CANDIDATE_THRESHOLDS, threshold))
    report = out / "replay-report.html"
    result = Replay(served, window, len(files), baseline, outcome, history, backtest, threshold, out, report)
    report.write_text(render_replay_report(result), encoding="utf-8")
    return result
