"""The stages of `mlops local run` after the registry: serve and replay, monitor, alarms, report."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from containers.contracts.data_schema import SCHEMA_FILE, SCHEMA_REFUSAL, SCHEMA_VIOLATIONS_FILE
from deployment.alarms import drift_alarms, model_quality_alarm, monitored_drift_alarms
from deployment.endpoint import VARIANT
from mlops import registry
from mlops.local.aws.moto_server import LocalAws
from mlops.local.aws.provision import Provisioned
from mlops.local.engine.images import ANALYZER_REPOSITORY
from mlops.local.engine.record import ExecutionRecord
from mlops.local.errors import LocalModeError
from mlops.local.faults import crash_point
from mlops.local.loop.alarm_evaluation import evaluate_alarms, put_alarms, received_alerts
from mlops.local.loop.approval import gate_metric
from mlops.local.loop.monitoring import (
    capture_prefix,
    monitoring_job,
    publish_metrics,
    report_prefix,
    run_monitoring,
    schedule_constraints,
)
from mlops.local.loop.quality_stage import (
    model_quality_alarm_row,
    monitor_model_quality,
    request_ids,
    write_ground_truth,
)
from mlops.local.loop.run_context import SUMMARY_FILE, RunContext
from mlops.local.loop.serving import ServedModel, served_model
from mlops.local.loop.traffic import Feature, csv_payloads, drifted, for_capture, read_labels, read_rows
from mlops.local.workdir import join_s3
from pipelines.contract import PREPROCESS, gate_metric_path

REPORT_FILE = "report.html"
DRIFT_METRIC_PREFIX = "feature_baseline_drift_"


def _test_split(record: ExecutionRecord) -> str | None:
    preprocess = record.steps.get(PREPROCESS)
    outputs = ((preprocess.properties or {}) if preprocess else {}).get("ProcessingOutputConfig", {})
    return next((str(item["S3Output"]["S3Uri"]) for item in outputs.get("Outputs", [])
                 if item["OutputName"] == "test"), None)


def _features(ctx: RunContext, statistics_uri: str) -> list[tuple[str, str]]:
    document = json.loads(ctx.work.s3_path(statistics_uri).read_text(encoding="utf-8"))
    ctx.summary.baseline_statistics = document
    return [(str(item["name"]), str(item.get("inferred_type", ""))) for item in document.get("features", [])]


def serve_and_monitor(ctx: RunContext, aws: LocalAws, record: ExecutionRecord, definition: dict[str, Any],
                      provisioned: Provisioned) -> None:
    """Serve the newest approved version, replay the test split (normal and drifted) through it,
    monitor the capture against its baseline and evaluate the drift alarms."""
    sm = aws.client("sagemaker")
    newest = registry.newest_approved_package(sm, provisioned.group)
    if newest is None:
        ctx.summary.serve_note = "no approved version to serve"
        for name in ("serve", "monitor", "alarms"):
            ctx.progress.stage(name, "skipped", "no approved version yet")
        return
    model = served_model(sm, newest.arn)
    described = sm.describe_model_package(ModelPackageName=newest.arn)
    quality = described.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    statistics_uri = quality.get("Statistics", {}).get("S3Uri")
    constraints_uri = quality.get("Constraints", {}).get("S3Uri")
    test_uri = _test_split(record)
    if not (statistics_uri and constraints_uri and test_uri):
        ctx.summary.serve_note = f"version {model.version} has no data-quality drift baselines to monitor with"
        ctx.progress.stage("serve", "skipped", ctx.summary.serve_note)
        return
    features = _features(ctx, str(statistics_uri))
    started = datetime.now(UTC).replace(microsecond=0)
    with ctx.stage("serve") as note:
        ground_truth, labelled = serve_and_replay(ctx, model, str(test_uri), features, note)
    # Capture records carry second-resolution times: the window ends after the last one.
    ended = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    analyzer = next((step["Arguments"]["AppSpecification"]["ImageUri"] for step in definition["Steps"]
                     if step["Type"] == "QualityCheck"), ANALYZER_REPOSITORY)
    with ctx.stage("monitor") as note:
        job = monitoring_job(
            ctx.names, analyzer_image=analyzer, capture_uri=capture_prefix(ctx.names, VARIANT),
            statistics_uri=str(statistics_uri), constraints_uri=_schedule_constraints(ctx, str(constraints_uri)),
            output_uri=report_prefix(ctx.names, ended), start=started, end=ended, metric_time=ended,
            schema_uri=_schedule_schema(ctx),
        )
        monitor(ctx, aws, job, note)
    evaluation_uri = described.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if evaluation_uri:
        with ctx.stage("model quality") as note:
            monitor_model_quality(ctx, aws, model, analyzer_image=analyzer, evaluation_uri=str(evaluation_uri),
                                  ground_truth=ground_truth, labelled_requests=labelled, start=started, end=ended,
                                  note=note)
    else:
        ctx.progress.stage("model quality", "skipped", f"version {model.version} registers no evaluation")
    with ctx.stage("alarms") as note:
        evaluate_drift_alarms(ctx, aws, provisioned, [name for name, _ in features], note)
        ctx.persist(aws)


def _schedule_constraints(ctx: RunContext, baseline_uri: str) -> str:
    """Write the schedule's constraints (baseline + configured drift threshold) next to its reports."""
    baseline = json.loads(ctx.work.s3_path(baseline_uri).read_text(encoding="utf-8"))
    uri = join_s3(f"s3://{ctx.names.bucket('reports')}", "monitoring", ctx.names.endpoint,
                  ctx.names.monitoring_schedule, "baseline", "constraints.json")
    target = ctx.work.s3_path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(schedule_constraints(baseline, ctx.env.monitoring.drift_threshold), indent=2),
                      encoding="utf-8")
    return uri


def _schedule_schema(ctx: RunContext) -> str | None:
    """The served model's data-schema.json beside the schedule's constraints, for the monitor's check."""
    if ctx.served_schema is None:
        return None
    uri = join_s3(f"s3://{ctx.names.bucket('reports')}", "monitoring", ctx.names.endpoint,
                  ctx.names.monitoring_schedule, "baseline", "schema", SCHEMA_FILE)
    target = ctx.work.s3_path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ctx.served_schema, target)
    return uri


def serve_and_replay(ctx: RunContext, model: ServedModel, test_uri: str, features: list[tuple[str, str]],
                     note: Callable[[str], None]) -> tuple[str, int]:
    """Replay the test split and its drifted copy; the test requests' ground-truth file and how many
    requests it labels."""
    endpoint = ctx.endpoint
    if endpoint is None or endpoint.model.arn != model.arn:
        endpoint = ctx.start_endpoint(model)
    endpoint.wait_ready()
    crash_point("serving")
    files = ctx.summary.files
    files["server log"] = str(endpoint.log)
    files["served model"] = str(ctx.work.s3_path(model.model_data))
    files["data capture"] = str(ctx.work.s3_path(capture_prefix(ctx.names, VARIANT)))
    metadata = json.loads((endpoint.sandbox.opt_ml / "model" / "metadata.json").read_text(encoding="utf-8"))
    schema_file = endpoint.sandbox.opt_ml / "model" / SCHEMA_FILE
    ctx.served_schema = schema_file if schema_file.is_file() else None
    specs = [Feature(item["name"], item["type"]) for item in metadata["features"]]
    if {spec.name for spec in specs} != {name for name, _ in features}:
        raise LocalModeError(f"version {model.version}: model features differ from its drift baseline")
    try:
        rows = read_rows(ctx.work.s3_path(test_uri), specs)
    except LocalModeError as error:
        raise LocalModeError(f"approved version {model.version} does not fit this run's data ({error}); "
                             "use a separate --work-dir per data set") from None
    shifted, changed = drifted(rows, specs)
    ctx.summary.drifted_features = [asdict(item) for item in changed]
    percent = float(ctx.env.endpoint.data_capture_percent)
    normal_rows, drifted_rows = for_capture(rows, percent), for_capture(shifted, percent)
    labels = [row[0] for row in for_capture([[label] for label in read_labels(ctx.work.s3_path(test_uri),
                                                                              ctx.env.data.target)], percent)]
    normal_payloads, drifted_payloads = csv_payloads(normal_rows), csv_payloads(drifted_rows)
    normal_ids = request_ids(ctx.execution_id, "test", len(normal_payloads))
    normal = endpoint.replay(normal_payloads, len(normal_rows), normal_ids)
    drift = endpoint.replay(drifted_payloads, len(drifted_rows),
                            request_ids(ctx.execution_id, "drifted", len(drifted_payloads)))
    # The simulated drift may leave the data contract: the server refusing those rows is the contract
    # working, not a failed request (the monitor reports what reaches the capture).
    refused = [item for item in drift.failures if SCHEMA_REFUSAL in item]
    failures = normal.failures + [item for item in drift.failures if SCHEMA_REFUSAL not in item]
    ctx.summary.served = {"version": model.version, "arn": model.arn, "port": endpoint.port,
                          "image": model.image, "model_data": model.model_data}
    ctx.summary.replay = {"test_rows": len(rows), "drifted_rows": len(shifted),
                          "sent_rows": normal.rows + drift.rows, "capture_percent": percent,
                          "requests": normal.requests + drift.requests, "failures": failures,
                          "seconds": round(normal.seconds + drift.seconds, 3),
                          "refused_by_data_schema": len(refused)}
    # Stopping the server closes its capture files before the monitoring job reads them.
    ctx.stop_endpoint()
    if failures:
        raise LocalModeError(f"{len(failures)} request(s) failed, first: {failures[0]} "
                             f"(server log: {endpoint.log})")
    # Labels arrive after the answers, as they would from people; the test split's requests only.
    ground_truth = write_ground_truth(ctx, labels, normal_ids, datetime.now(UTC))
    note(f"version {model.version}: {len(rows)} test + {len(shifted)} drifted rows in "
         f"{normal.requests + drift.requests} requests")
    return ground_truth, len(normal_ids)


def monitor(ctx: RunContext, aws: LocalAws, job: dict[str, Any], note: Callable[[str], None]) -> None:
    monitored = run_monitoring(ctx.work, ctx.names, job, ctx.run_dir / "monitor", ctx.execution_id, jobs=ctx.jobs)
    ctx.summary.metrics_published = publish_metrics(aws.client("cloudwatch"), monitored.metrics)
    ctx.summary.monitoring = {"output": monitored.output_uri, "statistics": monitored.statistics,
                              "violations": monitored.violations, "log": str(monitored.log)}
    schema_report = ctx.work.s3_path(monitored.output_uri) / SCHEMA_VIOLATIONS_FILE
    if schema_report.is_file():
        found = json.loads(schema_report.read_text(encoding="utf-8"))["violations"]
        ctx.summary.monitoring["data_schema_violations"] = found
    ctx.summary.drift = {str(item["MetricName"])[len(DRIFT_METRIC_PREFIX):]: float(item["Value"])
                         for item in monitored.metrics if str(item["MetricName"]).startswith(DRIFT_METRIC_PREFIX)}
    ctx.summary.files["monitoring output"] = str(ctx.work.s3_path(monitored.output_uri))
    note(f"{len(monitored.violations)} violation(s), {ctx.summary.metrics_published} metrics published")


def evaluate_drift_alarms(ctx: RunContext, aws: LocalAws, provisioned: Provisioned, features: list[str],
                          note: Callable[[str], None]) -> None:
    cloudwatch = aws.client("cloudwatch")
    # monitoring.features name the configured data set's columns; a run on the user's own CSV
    # (--data) watches every feature of that data's baseline instead.
    specs = (drift_alarms(ctx.env, features) if ctx.user_data is not None
             else monitored_drift_alarms(ctx.env, features))
    quality_alarm = model_quality_alarm(ctx.env)
    if ctx.summary.model_quality is not None:
        specs = [*specs, quality_alarm]
    put_alarms(cloudwatch, specs)
    evaluations = evaluate_alarms(cloudwatch, aws.client("sns"), specs, account=aws.account, region=aws.region,
                                  now=datetime.now(UTC))
    ctx.summary.alarms = [
        {"name": item.spec.name, "metric": item.spec.metric_name, "old": item.old_state, "state": item.new_state,
         "reason": item.reason, "latest": item.latest, "threshold": item.spec.threshold}
        for item in evaluations
    ]
    model_quality_alarm_row(ctx, ctx.summary.alarms, quality_alarm.name)
    ctx.summary.alerts = received_alerts(aws.client("sqs"), provisioned.queue_url)
    in_alarm = sum(1 for item in evaluations if item.new_state == "ALARM")
    note(f"{in_alarm} of {len(evaluations)} in ALARM, {len(ctx.summary.alerts)} alert(s) delivered")


def finish(ctx: RunContext, aws: LocalAws, provisioned: Provisioned) -> None:
    """The registry as it stands, the alerts file and the report (after any outcome of the stages)."""
    sm = aws.client("sagemaker")
    ctx.summary.versions = [
        {"version": version.version, "status": version.status,
         "created": version.created.isoformat(timespec="seconds") if version.created else None,
         "metric": gate_metric(ctx.work, sm, version.arn, gate_metric_path(ctx.env)), "arn": version.arn}
        for version in registry.list_versions(sm, provisioned.group)
    ]
    if ctx.summary.alerts:
        alerts = ctx.run_dir / "alerts.json"
        alerts.write_text(json.dumps(ctx.summary.alerts, indent=1), encoding="utf-8")
        ctx.summary.files["alerts"] = str(alerts)
    path = ctx.run_dir / REPORT_FILE
    ctx.summary.files["report"] = str(path)
    ctx.summary.files["summary"] = str(ctx.run_dir / SUMMARY_FILE)
    ctx.summary.seconds = round(time.perf_counter() - ctx.clock, 3)
    with ctx.stage("report") as note:
        from mlops.local.loop.report import render_report

        path.write_text(render_report(ctx.summary), encoding="utf-8")
        note(str(path))
