"""Model Monitor analyzer (BYOC): data-quality baselines, checks, drift and metrics like SageMaker's,
and model quality (`analysis_type=MODEL_QUALITY`) from capture merged with ground truth.

Library entry points for local mode and `mlops monitor replay`: `run_job(environ)` (the whole
container job in-process), `analyze(settings)` + `write_result`, or the steps
`settings_from_environ`, `read_dataset`, `compute_statistics`, `suggest_constraints`, `evaluate`,
`cloudwatch_metric_records`.
"""

from containers.monitor.checks import MonitoringOutcome, evaluate
from containers.monitor.errors import MonitorError
from containers.monitor.job import AnalysisResult, analyze, run_job, write_result
from containers.monitor.metrics import cloudwatch_metric_records
from containers.monitor.profile import compute_statistics
from containers.monitor.reader import read_dataset
from containers.monitor.settings import AnalyzerSettings, settings_from_environ
from containers.monitor.suggest import suggest_constraints

__all__ = [
    "AnalysisResult",
    "AnalyzerSettings",
    "MonitorError",
    "MonitoringOutcome",
    "analyze",
    "cloudwatch_metric_records",
    "compute_statistics",
    "evaluate",
    "read_dataset",
    "run_job",
    "settings_from_environ",
    "suggest_constraints",
    "write_result",
]
