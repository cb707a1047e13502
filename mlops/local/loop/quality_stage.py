"""Model quality in `mlops local run`: ground truth for the replayed test split, the spec's
model-quality job over the capture, and its metrics where the model-quality alarm reads them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime

from containers.contracts.model_quality import METRICS_KEYS
from deployment.endpoint import VARIANT, ServedVersion
from deployment.monitoring import Baseline, ground_truth_uri
from mlops.local.aws.moto_server import LocalAws
from mlops.local.loop.monitoring import (
    MODEL_QUALITY_JOB_NAME,
    capture_prefix,
    gate_constraints,
    model_quality_monitoring_job,
    publish_model_quality_metrics,
    run_monitoring,
)
from mlops.local.loop.run_context import RunContext
from mlops.local.loop.serving import ServedModel
from mlops.local.loop.summary import AlarmRow, ModelQuality
from mlops.local.loop.traffic import ground_truth_lines
from mlops.local.workdir import join_s3, write_atomic


def request_ids(execution_id: str, kind: str, count: int) -> list[str]:
    """One InferenceId per replayed request, unique across runs (ground truth joins on it)."""
    return [f"{execution_id}-{kind}-{index:05d}" for index in range(count)]


def write_ground_truth(ctx: RunContext, labels: Sequence[str], inference_ids: Sequence[str],
                       collected: datetime) -> str:
    """The labels of the replayed test requests, uploaded as SageMaker expects them: JSON lines under
    `<ground truth prefix>/yyyy/mm/dd/hh/` of the hour they were collected; the file's URI."""
    uri = join_s3(ground_truth_uri(ctx.names), collected.strftime("%Y/%m/%d/%H"), f"{ctx.execution_id}.jsonl")
    target = ctx.work.s3_path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, ground_truth_lines(labels, inference_ids))
    ctx.summary.files["ground truth"] = str(target)
    return uri


def _write_constraints(ctx: RunContext) -> str:
    uri = join_s3(f"s3://{ctx.names.bucket('reports')}", "monitoring", ctx.names.endpoint,
                  ctx.names.model_quality_schedule, "baseline", "constraints.json")
    target = ctx.work.s3_path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(gate_constraints(ctx.env), indent=2), encoding="utf-8")
    return uri


def monitor_model_quality(ctx: RunContext, aws: LocalAws, model: ServedModel, *, analyzer_image: str,
                          evaluation_uri: str, ground_truth: str, labelled_requests: int,
                          start: datetime, end: datetime, note: Callable[[str], None]) -> None:
    """Run the model-quality job over the capture window (labels join on the inference id), publish its
    metrics to the model-quality namespace; the baseline is the version's evaluation and the gate."""
    output_uri = join_s3(f"s3://{ctx.names.bucket('reports')}", "monitoring", ctx.names.endpoint,
                         ctx.names.model_quality_schedule, end.strftime("%Y/%m/%d/%H%M%S"))
    job = model_quality_monitoring_job(
        ctx.env, ServedVersion(version=model.version, package_arn=model.arn), analyzer_image=analyzer_image,
        capture_uri=capture_prefix(ctx.names, VARIANT),
        baseline=Baseline(statistics_uri=evaluation_uri, constraints_uri=_write_constraints(ctx)),
        output_uri=output_uri, start=start, end=end, metric_time=end,
    )
    monitored = run_monitoring(ctx.work, ctx.names, job, ctx.run_dir / "model-quality", ctx.execution_id, jobs=ctx.jobs,
                               job_label=MODEL_QUALITY_JOB_NAME)
    published = publish_model_quality_metrics(aws.client("cloudwatch"), monitored.metrics)
    block = monitored.statistics.get(METRICS_KEYS[ctx.env.data.problem_type.value], {})
    metrics = {name: float(value["value"]) for name, value in block.items()
               if isinstance(value, dict) and isinstance(value.get("value"), int | float)}
    record: ModelQuality = {
        "output": monitored.output_uri, "ground_truth": ground_truth, "labelled_requests": labelled_requests,
        "metrics": metrics, "gate_metric": ctx.env.quality_gate.metric, "violations": monitored.violations,
        "metrics_published": published, "log": str(monitored.log),
    }
    ctx.summary.model_quality = record
    ctx.summary.files["model-quality output"] = str(ctx.work.s3_path(monitored.output_uri))
    gate = ctx.env.quality_gate.metric
    note(f"{gate} {metrics.get(gate, float('nan')):.4f} on {labelled_requests} labelled requests, "
         f"{len(monitored.violations)} violation(s)")


def model_quality_alarm_row(ctx: RunContext, rows: Sequence[AlarmRow], alarm_name: str) -> None:
    if ctx.summary.model_quality is not None:
        found = next((row for row in rows if row["name"] == alarm_name), None)
        if found is not None:
            ctx.summary.model_quality["alarm"] = {"name": found["name"], "state": found["state"],
                                                  "reason": found["reason"], "threshold": found["threshold"]}
