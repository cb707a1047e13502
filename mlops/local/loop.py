"""`mlops local run`: pipeline -> register -> approve -> serve -> replay -> monitor -> alarms -> report.

Each stage is one method of LocalRun; what they find is collected in a RunSummary, written to the
run folder as summary.json and rendered into report.html. Control-plane state is committed to the
work folder when it changes (a version registered or approved, alarms evaluated) and once more at
the end, so a killed run loses nothing; `--resume` finishes any run that did not reach its end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console

from config.alarms import drift_alarms
from config.images import REPO_ROOT, source_tag
from config.naming import Names
from config.settings import EnvironmentConfig, load_environment
from mlops import registry
from mlops.errors import RunError
from mlops.local import jobs
from mlops.local.alarm_evaluation import evaluate_alarms, put_alarms, received_alerts
from mlops.local.approval import apply_approval, gate_metric
from mlops.local.definitions import DefinitionBuild, start_definition_build
from mlops.local.errors import LocalModeError, PipelineFailedError, StepFailedError
from mlops.local.executor import RUN_RECORD, ExecutionRecord, Executor, ExecutorSettings, StepRecord
from mlops.local.expressions import PropertyFileRef, Scope, property_file_uri, resolve_parameters
from mlops.local.faults import crash_point
from mlops.local.images import ANALYZER_REPOSITORY
from mlops.local.local_aws import LocalAws, local_aws
from mlops.local.monitoring import (
    capture_prefix,
    monitoring_job,
    publish_metrics,
    report_prefix,
    run_monitoring,
    schedule_constraints,
)
from mlops.local.progress import Progress
from mlops.local.provision import Provisioned, provision
from mlops.local.serving import Endpoint, ServedModel, model_of, served_model, start_endpoint
from mlops.local.state import load_state, newest_approved_in_state, recover_state, save_state
from mlops.local.summary import RUNNING, RunSummary
from mlops.local.traffic import Feature, csv_payloads, drifted, for_capture, read_rows
from mlops.local.user_data import UserData, environment_for, inspect_csv
from mlops.local.workdir import DEFAULT_WORK_DIR, WorkDir, join_s3, new_execution_id, write_atomic
from mlops.runs import parse_parameter_overrides
from pipelines.definition import (
    DEFAULT_DATASET_PREFIX,
    INPUT_DATA_URL,
    PREPROCESS,
    default_input_uri,
    gate_metric_path,
    parameter_defaults,
)

DEFINITION_FILE = "definition.json"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
VARIANT = "AllTraffic"


@dataclass(frozen=True)
class LocalRunOptions:
    env_name: str = "dev"
    work_dir: Path = DEFAULT_WORK_DIR
    data: Path | None = None
    target: str | None = None
    problem_type: str | None = None
    params: tuple[str, ...] = ()
    resume: bool = False
    max_parallel: int | None = None


def _approve_command(env_name: str, version: int, work: Path) -> str:
    work_option = "" if work == DEFAULT_WORK_DIR else f" --work-dir {work}"
    return f"mlops local registry approve --env {env_name} --version {version}{work_option}"


def _succeeded(run_dir: Path) -> bool:
    """The run got to its end and succeeded; a killed run's summary still says Running (or is absent)."""
    try:
        return bool(json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8")).get("status") == "Succeeded")
    except (OSError, ValueError, AttributeError):
        return False


def _latest_failed_run(work: WorkDir) -> ExecutionRecord:
    latest = work.latest_run()
    if latest is None:
        raise LocalModeError(f"--resume: no run in {work.root} to resume")
    if not (work.run_dir(latest) / RUN_RECORD).is_file():
        raise LocalModeError(f"--resume: the latest run {latest} stopped before its pipeline started; "
                             "start a new run")
    record = ExecutionRecord.load(work.run_dir(latest) / RUN_RECORD)
    # "Executing" is a run whose process died (the work folder lock rules out a live one); a
    # "Succeeded" pipeline in a run that did not succeed was killed or failed in a later stage.
    ended = record.status == "Succeeded" and _succeeded(work.run_dir(latest))
    if record.status not in ("Failed", "Executing", "Succeeded") or ended:
        raise LocalModeError(f"--resume: the latest run {latest} did not fail ({record.status}); nothing to resume")
    failed = record.steps.get(record.failed_step or "")
    if failed is not None and failed.type == "Fail":
        raise LocalModeError(f"--resume: the latest run {latest} stopped at its Fail step {failed.name} "
                             f"({failed.failure_reason}); resuming would stop there again, start a new run")
    return record


def _read_definition(path: Path) -> dict[str, Any]:
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LocalModeError(f"--resume: {path} is missing; the run cannot be resumed, start a new run") from None
    except (OSError, ValueError) as error:
        raise LocalModeError(f"--resume: {path} is unreadable ({error}); start a new run") from None
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise LocalModeError(f"--resume: {path} is not a pipeline definition (no Steps list); start a new run")
    return definition


class LocalRun:
    """One `mlops local run`; `execute()` returns the exit code."""

    def __init__(self, options: LocalRunOptions, console: Console) -> None:
        self.options = options
        self.console = console
        self.base_env = load_environment(options.env_name)
        self.work = WorkDir(options.work_dir)
        self.user_data: UserData | None = None
        self.env = self.base_env
        self.resumed: ExecutionRecord | None = None
        self._check_options()
        self.execution_id = self.resumed.execution_id if self.resumed else new_execution_id()
        self.names = Names.of(self.env)
        self.run_dir = self.work.run_dir(self.execution_id)
        self.summary = RunSummary(
            execution_id=self.execution_id, environment=self.env.name, work_dir=str(self.work.root),
            run_dir=str(self.run_dir), started=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.progress = Progress(console)
        self.endpoint: Endpoint | None = None
        self.clock = time.perf_counter()

    # -- input checks (nothing is written before they pass) ----------------------------------
    def _check_options(self) -> None:
        options = self.options
        for pair in options.params:
            name, separator, _ = pair.partition("=")
            if not separator or not name.strip():
                raise LocalModeError(f"--param {pair!r}: expected NAME=VALUE")
        self._check_params(self.base_env)
        if options.resume:
            if options.data or options.params or options.target or options.problem_type:
                raise LocalModeError("--resume continues the failed run as it was: no --data, --target, "
                                     "--problem-type or --param with it")
            self.resumed = _latest_failed_run(self.work)
            return
        if options.target and not options.data:
            raise LocalModeError("--target names a column of --data CSV; give --data too")
        if options.data:
            self.user_data = inspect_csv(options.data, options.target or self.base_env.data.target,
                                         options.problem_type)
            self.env = environment_for(self.base_env, self.user_data)
        elif options.problem_type and options.problem_type != self.base_env.data.problem_type.value:
            raise LocalModeError("--problem-type applies to a --data CSV; the default data set is "
                                 f"{self.base_env.data.problem_type.value}")

    def _check_params(self, env: EnvironmentConfig) -> None:
        """--param names and values against the parameters the definition declares for `env`
        (checked again against the built definition before anything runs)."""
        defaults = parameter_defaults(env)
        declared = [
            {"Name": name, "Type": "Integer" if isinstance(value, int) else "Float" if isinstance(value, float)
             else "String"}
            for name, value in defaults.items()
        ]
        overrides = {}
        for pair in self.options.params:
            name, _, value = pair.partition("=")
            if name.strip() in overrides:
                raise LocalModeError(f"--param {name.strip()!r} given twice")
            overrides[name.strip()] = value
        resolve_parameters([{**item, "DefaultValue": defaults[item["Name"]]} for item in declared], overrides)

    # -- stages ------------------------------------------------------------------------------
    @contextmanager
    def stage(self, name: str) -> Iterator[Callable[[str], None]]:
        crash_point(f"stage:{name}")
        started = time.perf_counter()
        notes: list[str] = []
        self.progress.stage(name, "running")
        try:
            yield notes.append
        except BaseException as error:
            self.progress.stage(name, "failed", str(error).splitlines()[0][:200])
            raise
        finally:
            self.summary.stages[name] = round(time.perf_counter() - started, 3)
        self.progress.stage(name, "done", notes[-1] if notes else "")

    def _seed_input(self) -> dict[str, str]:
        """The data the pipeline reads, in local S3; returns the parameter overrides it needs."""
        overrides: dict[str, str] = {}
        if self.user_data is not None:
            uri = f"s3://{self.names.bucket('data')}/{self.user_data.key_prefix}"
            target = self.work.s3_path(uri) / self.user_data.path.name
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.user_data.path, target)
            overrides[INPUT_DATA_URL] = uri
            self.summary.data = {"source": str(self.user_data.path), "uri": uri, "target": self.user_data.target,
                                 "problem_type": self.user_data.problem_type.value, "rows": self.user_data.rows}
            return overrides
        uri = default_input_uri(self.env)
        folder = self.work.s3_path(uri)
        if uri.rstrip("/").endswith(DEFAULT_DATASET_PREFIX.rstrip("/")) and not any(folder.glob("*.csv")):
            # pandas and scikit-learn load in a child process: this process never needs them.
            subprocess.run(
                [sys.executable, "-c", "import sys; from pathlib import Path; "
                 "from pipelines.datasets import write_default_dataset; "
                 "write_default_dataset(Path(sys.argv[1]), sys.argv[2])", str(folder), self.env.data.target],
                check=True, cwd=REPO_ROOT, capture_output=True,
            )
        self.summary.data = {"source": "default data set (scikit-learn breast cancer)", "uri": uri,
                             "target": self.env.data.target, "problem_type": self.env.data.problem_type.value}
        return overrides

    def _overrides(self, definition: dict[str, Any], seeded: dict[str, str]) -> dict[str, str]:
        try:
            given = parse_parameter_overrides(list(self.options.params), definition)
        except RunError as error:
            raise LocalModeError(str(error)) from None
        # The definition registers versions as pending; the approve stage decides after it.
        return {**seeded, **given}

    def _pipeline(self, aws: LocalAws, definition: dict[str, Any], overrides: dict[str, str]) -> ExecutionRecord:
        sm = aws.client("sagemaker")
        settings = ExecutorSettings(
            work=self.work, execution_id=self.execution_id, pipeline_name=self.names.pipeline,
            region=aws.region, account=aws.account, code_tag=source_tag(), sagemaker=lambda: sm,
        )
        if self.options.max_parallel:
            settings.max_parallel = self.options.max_parallel
        def observe(step: StepRecord) -> None:
            self.progress.step(step)
            if step.type == "RegisterModel" and step.status == "Succeeded" and not step.reused:
                # run.json says Succeeded already: a crash before this commit is caught on --resume.
                crash_point("registered")
                self._persist(aws)

        executor = Executor(definition, settings, observer=observe)
        self.summary.dependencies = {name: sorted(needs) for name, needs in executor.dependencies.items()}
        if self.resumed is None:
            self.summary.parameters = executor.parameters(overrides)
        else:
            self.summary.parameters = dict(self.resumed.parameters)
            self._forget_lost_registrations(sm, self.resumed)
        self.work.set_latest_run(self.execution_id)
        try:
            return executor.run(overrides, resume=self.resumed)
        finally:
            if executor.record is not None:
                self.summary.steps = [asdict(step) for step in executor.record.steps.values()]

    @staticmethod
    def _forget_lost_registrations(sm: Any, record: ExecutionRecord) -> None:
        """A RegisterModel step recorded as done whose version the registry does not hold (the run
        died before committing it) runs again on resume."""
        for name, step in list(record.steps.items()):
            arn = (step.properties or {}).get("ModelPackageArn")
            if step.type != "RegisterModel" or step.status != "Succeeded" or not arn:
                continue
            try:
                sm.describe_model_package(ModelPackageName=str(arn))
            except ClientError:
                record.steps[name] = StepRecord(name=name, type=step.type)

    def _persist(self, aws: LocalAws) -> None:
        """Commit the control plane now (after a change a crash must not lose)."""
        written = save_state(aws, self.work.state_root)
        self.summary.files.update({f"state: {path.name}": str(path) for path in written})

    def _evaluation(self, record: ExecutionRecord) -> None:
        """The evaluation report: the property file the pipeline's condition reads."""
        scope = Scope(parameters={}, execution={},
                      properties={name: step.properties or {} for name, step in record.steps.items()})
        for step in record.steps.values():
            for spec in (step.properties or {}).get("PropertyFiles", []):
                uri = property_file_uri(PropertyFileRef(step.name, spec["PropertyFileName"]), scope)
                try:
                    self.summary.evaluation = json.loads(self.work.s3_path(uri).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue

    def _register_and_approve(self, aws: LocalAws, record: ExecutionRecord, provisioned: Provisioned,
                              note: Callable[[str], None]) -> None:
        sm = aws.client("sagemaker")
        registered = next((step for step in record.steps.values()
                           if step.type == "RegisterModel" and step.status == "Succeeded"), None)
        if registered is None or not registered.properties:
            note("nothing registered in this run")
            return
        arn = str(registered.properties["ModelPackageArn"])
        version = int(registered.properties["ModelPackageVersion"])
        self.summary.registered = {"version": version, "arn": arn, "status": registered.properties.get(
            "ModelApprovalStatus")}
        gate = self.env.quality_gate
        if registered.properties.get("ModelApprovalStatus") != registry.PENDING:
            note(f"version {version} registered as {registered.properties.get('ModelApprovalStatus')}")
            return
        current = next((item.status for item in registry.list_versions(sm, provisioned.group) if item.arn == arn),
                       registry.PENDING)
        if current != registry.PENDING:
            # Decided before a crash (and committed): a resumed run does not decide twice.
            self.summary.registered["status"] = current
            note(f"version {version}: {current} (decided before the run was resumed)")
            return
        outcome = apply_approval(self.work, sm, provisioned.group, arn, mode=self.env.approval_mode,
                                 metric=gate.metric, direction=gate.direction, json_path=gate_metric_path(self.env))
        self.summary.approval = {"version": outcome.version, "status": outcome.status,
                                 "reason": outcome.decision.reason, "metric": outcome.metric}
        self.summary.registered["status"] = outcome.status
        crash_point("approved")
        self._persist(aws)
        if outcome.status == registry.PENDING:
            self.summary.approve_command = _approve_command(self.env.name, version, self.work.root)
        note(f"version {version}: {outcome.status} ({outcome.decision.reason})")

    def _versions(self, aws: LocalAws, group: str) -> None:
        sm = aws.client("sagemaker")

        self.summary.versions = [
            {"version": version.version, "status": version.status,
             "created": version.created.isoformat(timespec="seconds") if version.created else None,
             "metric": gate_metric(self.work, sm, version.arn, gate_metric_path(self.env)), "arn": version.arn}
            for version in registry.list_versions(sm, group)
        ]

    def _serve_and_monitor(self, aws: LocalAws, record: ExecutionRecord, definition: dict[str, Any],
                           provisioned: Provisioned) -> None:
        sm = aws.client("sagemaker")
        newest = registry.newest_approved_package(sm, provisioned.group)
        if newest is None:
            self.summary.serve_note = "no approved version to serve"
            for name in ("serve", "monitor", "alarms"):
                self.progress.stage(name, "skipped", "no approved version yet")
            return
        model = served_model(sm, newest.arn)
        described = sm.describe_model_package(ModelPackageName=newest.arn)
        quality = described.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
        baseline = (quality.get("Statistics", {}).get("S3Uri"), quality.get("Constraints", {}).get("S3Uri"))
        test_uri = self._test_split(record)
        if not (baseline[0] and baseline[1] and test_uri):
            self.summary.serve_note = f"version {model.version} has no data-quality drift baselines to monitor with"
            self.progress.stage("serve", "skipped", self.summary.serve_note)
            return
        features = self._features(str(baseline[0]))
        started = datetime.now(UTC).replace(microsecond=0)
        with self.stage("serve") as note:
            self._serve_and_replay(model, str(test_uri), features, note)
        # Capture records carry second-resolution times: the window ends after the last one.
        ended = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        analyzer = next((step["Arguments"]["AppSpecification"]["ImageUri"] for step in definition["Steps"]
                         if step["Type"] == "QualityCheck"), ANALYZER_REPOSITORY)
        with self.stage("monitor") as note:
            constraints_uri = self._schedule_constraints(str(baseline[1]))
            job = monitoring_job(
                self.names, analyzer_image=analyzer, capture_uri=capture_prefix(self.names, VARIANT),
                statistics_uri=str(baseline[0]), constraints_uri=constraints_uri,
                output_uri=report_prefix(self.names, ended), start=started, end=ended, metric_time=ended,
            )
            self._monitor(aws, job, note)
        with self.stage("alarms") as note:
            self._alarms(aws, provisioned, [name for name, _ in features], note)
            self._persist(aws)

    def _schedule_constraints(self, baseline_uri: str) -> str:
        """Write the schedule's constraints (baseline + configured drift threshold) next to its reports."""
        baseline = json.loads(self.work.s3_path(baseline_uri).read_text(encoding="utf-8"))
        uri = join_s3(f"s3://{self.names.bucket('reports')}", "monitoring", self.names.endpoint,
                      self.names.monitoring_schedule, "baseline", "constraints.json")
        target = self.work.s3_path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        tuned = schedule_constraints(baseline, self.env.monitoring.drift_threshold)
        target.write_text(json.dumps(tuned, indent=2), encoding="utf-8")
        return uri

    @staticmethod
    def _test_split(record: ExecutionRecord) -> str | None:
        preprocess = record.steps.get(PREPROCESS)
        outputs = ((preprocess.properties or {}) if preprocess else {}).get("ProcessingOutputConfig", {})
        return next((str(item["S3Output"]["S3Uri"]) for item in outputs.get("Outputs", [])
                     if item["OutputName"] == "test"), None)

    def _serve_and_replay(self, model: ServedModel, test_uri: str, features: list[tuple[str, str]],
                          note: Callable[[str], None]) -> None:
        if self.endpoint is None or self.endpoint.model.arn != model.arn:
            self._stop_endpoint()
            self.endpoint = self._start_endpoint(model)
        endpoint = self.endpoint
        endpoint.wait_ready()
        crash_point("serving")
        self.summary.files["server log"] = str(endpoint.log)
        self.summary.files["served model"] = str(self.work.s3_path(model.model_data))
        self.summary.files["data capture"] = str(self.work.s3_path(capture_prefix(self.names, VARIANT)))
        metadata = json.loads((endpoint.sandbox.opt_ml / "model" / "metadata.json").read_text(encoding="utf-8"))
        specs = [Feature(item["name"], item["type"]) for item in metadata["features"]]
        if {spec.name for spec in specs} != {name for name, _ in features}:
            raise LocalModeError(f"version {model.version}: model features differ from its drift baseline")
        try:
            rows = read_rows(self.work.s3_path(test_uri), specs)
        except LocalModeError as error:
            raise LocalModeError(f"approved version {model.version} does not fit this run's data ({error}); "
                                 "use a separate --work-dir per data set") from None
        shifted, changed = drifted(rows, specs)
        self.summary.drifted_features = [asdict(item) for item in changed]
        percent = float(self.env.endpoint.data_capture_percent)
        normal_rows, drifted_rows = for_capture(rows, percent), for_capture(shifted, percent)
        normal = endpoint.replay(csv_payloads(normal_rows), len(normal_rows))
        drift = endpoint.replay(csv_payloads(drifted_rows), len(drifted_rows))
        failures = normal.failures + drift.failures
        self.summary.served = {"version": model.version, "arn": model.arn, "port": endpoint.port,
                               "image": model.image, "model_data": model.model_data}
        self.summary.replay = {"test_rows": len(rows), "drifted_rows": len(shifted),
                               "sent_rows": normal.rows + drift.rows, "capture_percent": percent,
                               "requests": normal.requests + drift.requests, "failures": failures,
                               "seconds": round(normal.seconds + drift.seconds, 3)}
        # Stopping the server closes its capture files before the monitoring job reads them.
        self._stop_endpoint()
        if failures:
            raise LocalModeError(f"{len(failures)} request(s) failed, first: {failures[0]} "
                                 f"(server log: {endpoint.log})")
        note(f"version {model.version}: {len(rows)} test + {len(shifted)} drifted rows in "
             f"{normal.requests + drift.requests} requests")

    def _monitor(self, aws: LocalAws, job: dict[str, Any], note: Callable[[str], None]) -> None:
        monitored = run_monitoring(self.work, self.names, job, self.run_dir / "monitor", self.execution_id)
        self.summary.metrics_published = publish_metrics(aws.client("cloudwatch"), monitored.metrics)
        self.summary.monitoring = {"output": monitored.output_uri, "statistics": monitored.statistics,
                                   "violations": monitored.violations, "log": str(monitored.log)}
        prefix = "feature_baseline_drift_"
        self.summary.drift = {str(item["MetricName"])[len(prefix):]: float(item["Value"])
                              for item in monitored.metrics if str(item["MetricName"]).startswith(prefix)}
        self.summary.files["monitoring output"] = str(self.work.s3_path(monitored.output_uri))
        note(f"{len(monitored.violations)} violation(s), {self.summary.metrics_published} metrics published")

    def _alarms(self, aws: LocalAws, provisioned: Provisioned, features: list[str],
                note: Callable[[str], None]) -> None:
        cloudwatch = aws.client("cloudwatch")
        specs = drift_alarms(self.env, features)
        put_alarms(cloudwatch, specs)
        evaluations = evaluate_alarms(cloudwatch, aws.client("sns"), specs, account=aws.account, region=aws.region,
                                      now=datetime.now(UTC))
        self.summary.alarms = [
            {"name": item.spec.name, "metric": item.spec.metric_name, "old": item.old_state, "state": item.new_state,
             "reason": item.reason, "latest": item.latest, "threshold": item.spec.threshold}
            for item in evaluations
        ]
        self.summary.alerts = received_alerts(aws.client("sqs"), provisioned.queue_url)
        in_alarm = sum(1 for item in evaluations if item.new_state == "ALARM")
        note(f"{in_alarm} of {len(evaluations)} in ALARM, {len(self.summary.alerts)} alert(s) delivered")

    def _features(self, statistics_uri: str) -> list[tuple[str, str]]:
        document = json.loads(self.work.s3_path(statistics_uri).read_text(encoding="utf-8"))
        self.summary.baseline_statistics = document
        return [(str(item["name"]), str(item.get("inferred_type", ""))) for item in document.get("features", [])]

    # -- the whole run -------------------------------------------------------------------------
    def execute(self) -> int:
        self.work.ensure()
        with self.work.locked():
            # What a killed run left: a half-done state commit, and children that outlived it.
            recover_state(self.work.state_root)
            jobs.stop_leftovers(self.work.children_root)
            jobs.accept_new_jobs(ledger=self.work.children_root)
            try:
                with self.progress:
                    code = self._execute()
            except Exception as error:
                if self.summary.status == RUNNING:
                    self.summary.status = "Failed"
                    self.summary.failure = str(error)
                raise
            finally:
                jobs.terminate_all()
                self._stop_endpoint()
                jobs.stop_leftovers(self.work.children_root)
                self.summary.seconds = round(time.perf_counter() - self.clock, 3)
                if self.run_dir.is_dir():
                    self.summary.files["summary"] = str(self.run_dir / SUMMARY_FILE)
                    self.summary.save(self.run_dir / SUMMARY_FILE)
        return code

    def _execute(self) -> int:
        # Overlapped: the definition builds in a child process, local AWS starts in a thread, the
        # data is seeded and the approved model's server starts meanwhile.
        build = start_definition_build(self.env, self.work) if self.resumed is None else None
        aws_context = local_aws(self.env.region, self.env.account)
        with ExitStack() as stack, ThreadPoolExecutor(max_workers=1) as pool:
            stack.callback(self._stop_endpoint)
            starting = pool.submit(self._start_aws, aws_context)
            try:
                definition, overrides = self._prepare(build)
                self._start_approved_endpoint()
                aws, provisioned = starting.result()
            except BaseException:
                if not starting.cancel() and starting.exception() is None:
                    aws_context.__exit__(None, None, None)
                raise
            stack.callback(aws_context.__exit__, None, None, None)
            try:
                return self._with_aws(aws, definition, overrides, provisioned)
            finally:
                written = save_state(aws, self.work.state_root)
                self.summary.files.update({f"state: {path.name}": str(path) for path in written})

    def _start_aws(self, context: Any) -> tuple[LocalAws, Provisioned]:
        with self.stage("local AWS") as note:
            aws: LocalAws = context.__enter__()
            try:
                load_state(aws, self.work.state_root)
                provisioned = provision(aws, self.env)
            except BaseException:
                context.__exit__(*sys.exc_info())
                raise
            note(f"moto on {aws.target.endpoint_url}, state from {self.work.state_root}")
        return aws, provisioned

    def _prepare(self, build: DefinitionBuild | None) -> tuple[dict[str, Any], dict[str, str]]:
        """The data in local S3 and the checked definition with its parameter overrides."""
        seeded: dict[str, str] = {}
        with self.stage("data") as note:
            if build is None:
                note("as in the failed run")
            else:
                seeded = self._seed_input()
                note(str(self.summary.data.get("uri", "")))
        with self.stage("definition") as note:
            definition_file = self.run_dir / DEFINITION_FILE
            overrides: dict[str, str] = {}
            if build is None:
                definition = _read_definition(definition_file)
                note("the failed run's definition")
            else:
                definition = build.result()
                overrides = self._overrides(definition, seeded)
                # Bad --param values fail here, before this run leaves anything behind.
                resolve_parameters(definition.get("Parameters", []), overrides)
                self.run_dir.mkdir(parents=True, exist_ok=True)
                write_atomic(definition_file, json.dumps(definition, indent=1))
                note("cached" if build.cached else "built with the SageMaker SDK")
            self.summary.files["definition"] = str(definition_file)
            # Until the run ends, its summary says it is running: --resume tells a killed run by that.
            self.summary.save(self.run_dir / SUMMARY_FILE)
        return definition, overrides

    def _start_approved_endpoint(self) -> None:
        """Start serving the version approved before this run, as the deployed endpoint would be;
        the serve stage keeps it when no newer version gets approved meanwhile."""
        described = newest_approved_in_state(self.work.state_root, self.names.model_package_group)
        if described is None:
            return
        try:
            model = model_of(described)
            self.endpoint = self._start_endpoint(model)
        except LocalModeError:
            self.endpoint = None  # the serve stage starts (and reports on) the right one

    def _start_endpoint(self, model: ServedModel) -> Endpoint:
        capture_dir = self.work.s3_path(f"s3://{self.names.bucket('capture')}/datacapture")
        return start_endpoint(self.work, model, self.run_dir / "serve", endpoint_name=self.names.endpoint,
                              variant=VARIANT, capture_dir=capture_dir,
                              capture_percent=float(self.env.endpoint.data_capture_percent))

    def _stop_endpoint(self) -> None:
        if self.endpoint is not None:
            self.endpoint.stop()
            self.endpoint = None

    def _with_aws(self, aws: LocalAws, definition: dict[str, Any], overrides: dict[str, str],
                  provisioned: Provisioned) -> int:
        self.summary.gate = {"metric": self.env.quality_gate.metric, "threshold": self.env.quality_gate.threshold,
                             "direction": self.env.quality_gate.direction}
        self.summary.files["run record"] = str(self.run_dir / RUN_RECORD)
        pipeline_started = time.perf_counter()
        self.progress.stage("pipeline", "running")
        try:
            crash_point("stage:pipeline")
            record = self._pipeline(aws, definition, overrides)
        except KeyboardInterrupt:
            self.summary.status = "Interrupted"
            self.summary.failure = "interrupted; continue with --resume"
            self.summary.failed_step = next(
                (step["name"] for step in self.summary.steps if step["status"] == "Failed"), None)
            self.progress.stage("pipeline", "failed", "interrupted")
            raise
        except (StepFailedError, PipelineFailedError) as error:
            self.summary.stages["pipeline"] = round(time.perf_counter() - pipeline_started, 3)
            self.progress.stage("pipeline", "failed", error.reason.splitlines()[0][:160])
            self.summary.status = "Failed"
            self.summary.failure = str(error)
            self.summary.failed_step = error.step
            if isinstance(error, StepFailedError) and error.log is not None:
                self.summary.failure_log = str(error.log)
                self.summary.failure_log_tail = error.log_tail
            self._finish(aws, provisioned)
            return 1
        self.summary.stages["pipeline"] = round(time.perf_counter() - pipeline_started, 3)
        self.progress.stage("pipeline", "done")
        self._evaluation(record)
        try:
            with self.stage("approve") as note:
                self._register_and_approve(aws, record, provisioned, note)
            self._serve_and_monitor(aws, record, definition, provisioned)
        except Exception as error:  # any stage failure ends the run with a report, not a traceback
            self.summary.status = "Failed"
            self.summary.failure = str(error) if isinstance(error, LocalModeError) else \
                f"{type(error).__name__}: {error}"
            if not isinstance(error, LocalModeError):
                trace = self.run_dir / "error.log"
                trace.write_text(traceback.format_exc(), encoding="utf-8")
                self.summary.files["error trace"] = str(trace)
            self._finish(aws, provisioned)
            return 1
        self.summary.status = "Succeeded"
        self._finish(aws, provisioned)
        return 0

    def _finish(self, aws: LocalAws, provisioned: Provisioned) -> None:
        self._versions(aws, provisioned.group)
        if self.summary.alerts:
            alerts = self.run_dir / "alerts.json"
            alerts.write_text(json.dumps(self.summary.alerts, indent=1), encoding="utf-8")
            self.summary.files["alerts"] = str(alerts)
        path = self.run_dir / REPORT_FILE
        self.summary.files["report"] = str(path)
        self.summary.files["summary"] = str(self.run_dir / SUMMARY_FILE)
        self.summary.seconds = round(time.perf_counter() - self.clock, 3)
        with self.stage("report") as note:
            from mlops.local.report import render_report

            path.write_text(render_report(self.summary), encoding="utf-8")
            note(str(path))
