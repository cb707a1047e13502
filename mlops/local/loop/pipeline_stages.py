"""The stages of `mlops local run` up to the registry: data, definition, local AWS, pipeline, approve."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from config.images import REPO_ROOT, source_tag
from mlops import registry
from mlops.errors import RunError
from mlops.experiments import local_tracking_uri
from mlops.local.aws.moto_server import LocalAws
from mlops.local.aws.provision import Provisioned, provision
from mlops.local.aws.state import load_state, newest_approved_in_state
from mlops.local.engine.definitions import DefinitionBuild
from mlops.local.engine.executor import Executor, ExecutorSettings
from mlops.local.engine.expressions import PropertyFileRef, Scope, property_file_uri
from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.parameters import resolve_parameters
from mlops.local.engine.record import ExecutionRecord, StepRecord
from mlops.local.errors import LocalModeError
from mlops.local.faults import crash_point
from mlops.local.loop.approval import apply_approval
from mlops.local.loop.run_context import SUMMARY_FILE, RunContext, approve_command
from mlops.local.loop.serving import model_of
from mlops.local.loop.summary import DataSource
from mlops.local.workdir import write_atomic
from mlops.runs import parse_parameter_overrides
from pipelines.contract import (
    DEFAULT_DATASET_PREFIX,
    INPUT_DATA_URL,
    MLFLOW_TRACKING_URI,
    default_input_uri,
    gate_metric_path,
    training_code,
)
from pipelines.inference_code import InferenceCodeError, inference_code_files, inference_code_uri

DEFINITION_FILE = "definition.json"


def seed_input(ctx: RunContext) -> dict[str, str]:
    """The data the pipeline reads, in local S3; returns the parameter overrides it needs."""
    code = training_code(ctx.env)
    if code is not None:  # training.entry_point: where `mlops pipeline run` uploads it in the cloud
        script = ctx.work.s3_path(code.uri) / code.program
        script.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(code.source, script)
    if ctx.user_data is not None:
        data = ctx.user_data
        uri = f"s3://{ctx.names.bucket('data')}/{data.key_prefix}"
        target = ctx.work.s3_path(uri) / data.path.name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(data.path, target)
        ctx.summary.data = DataSource(source=str(data.path), uri=uri, target=data.target,
                                      problem_type=data.problem_type.value, rows=data.rows)
        return {INPUT_DATA_URL: uri}
    uri = default_input_uri(ctx.env)
    folder = ctx.work.s3_path(uri)
    if uri.rstrip("/").endswith(DEFAULT_DATASET_PREFIX.rstrip("/")) and not any(folder.glob("*.csv")):
        # pandas and scikit-learn load in a child process: this process never needs them.
        subprocess.run(
            [sys.executable, "-c", "import sys; from pathlib import Path; "
             "from pipelines.datasets import write_default_dataset; "
             "write_default_dataset(Path(sys.argv[1]), sys.argv[2])", str(folder), ctx.env.data.target],
            check=True, cwd=REPO_ROOT, capture_output=True,
        )
    ctx.summary.data = DataSource(source="default data set (scikit-learn breast cancer)", uri=uri,
                                  target=ctx.env.data.target, problem_type=ctx.env.data.problem_type.value)
    return {}


def seed_inference_code(ctx: RunContext) -> None:
    """`inference.code_dir` into local S3 where the Train step's `code` channel reads it."""
    try:
        uri = inference_code_uri(ctx.env)
        files = inference_code_files(ctx.env)
    except InferenceCodeError as error:
        raise LocalModeError(str(error)) from None
    if uri is None:
        return
    folder = ctx.work.s3_path(uri)
    for name, path in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / name)


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


def prepare_data(ctx: RunContext, build: DefinitionBuild | None) -> dict[str, str]:
    """The data in local S3; the parameter overrides it needs."""
    with ctx.stage("data") as note:
        if build is None:
            note("as in the failed run")
            return {}
        seeded = seed_input(ctx)
        seeded[MLFLOW_TRACKING_URI] = local_tracking_uri(ctx.work.root)  # the embedded store, no server
        ctx.summary.tracking_uri = seeded[MLFLOW_TRACKING_URI]
        seed_inference_code(ctx)
        note(str(ctx.summary.data.get("uri", "")))
    return seeded


def prepare_definition(ctx: RunContext, build: DefinitionBuild | None,
                       seeded: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The checked definition (built, cached, or the resumed run's) with its parameter overrides."""
    with ctx.stage("definition") as note:
        definition_file = ctx.run_dir / DEFINITION_FILE
        overrides: dict[str, str] = {}
        if build is None:
            definition = _read_definition(definition_file)
            note("the failed run's definition")
        else:
            definition = build.result()
            try:
                given = parse_parameter_overrides(list(ctx.options.params), definition)
            except RunError as error:
                raise LocalModeError(str(error)) from None
            # The definition registers versions as pending; the approve stage decides after it.
            overrides = {**seeded, **given}
            # Bad --param values fail here, before this run leaves anything behind.
            resolve_parameters(definition.get("Parameters", []), overrides)
            ctx.run_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(definition_file, json.dumps(definition, indent=1))
            note("cached" if build.cached else "built with the SageMaker SDK")
        ctx.summary.files["definition"] = str(definition_file)
        # Until the run ends, its summary says it is running: --resume tells a killed run by that.
        ctx.summary.save(ctx.run_dir / SUMMARY_FILE)
    return definition, overrides


def start_approved_endpoint(ctx: RunContext) -> None:
    """Start serving the version approved before this run, as the deployed endpoint would be;
    the serve stage keeps it when no newer version gets approved meanwhile."""
    described = newest_approved_in_state(ctx.work.state_root, ctx.names.model_package_group)
    if described is None:
        return
    try:
        ctx.start_endpoint(model_of(described))
    except LocalModeError:
        ctx.endpoint = None  # the serve stage starts (and reports on) the right one


def seed_aws(ctx: RunContext, aws: LocalAws) -> Provisioned:
    """The work folder's state in the fresh local AWS, and the resources the loop needs."""
    with ctx.stage("local AWS") as note:
        load_state(aws, ctx.work.state_root)
        provisioned = provision(aws, ctx.env)
        note(f"moto on {aws.target.endpoint_url}, state from {ctx.work.state_root}")
    return provisioned


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


def run_pipeline(ctx: RunContext, aws: LocalAws, definition: dict[str, Any],
                 overrides: dict[str, str]) -> ExecutionRecord:
    """The executor over the definition; each registration is committed to the state when it happens."""
    sm = aws.client("sagemaker")
    settings = ExecutorSettings(
        work=ctx.work, execution_id=ctx.execution_id, pipeline_name=ctx.names.pipeline,
        region=aws.region, account=aws.account, code_tag=source_tag(), sagemaker=lambda: sm,
        images=ImageCatalog.of(ctx.names), ledger=ctx.work.children_root,
    )
    if ctx.options.max_parallel:
        settings.max_parallel = ctx.options.max_parallel

    def observe(step: StepRecord) -> None:
        ctx.progress.step(step)
        if step.type == "RegisterModel" and step.status == "Succeeded" and not step.reused:
            # run.json says Succeeded already: a crash before this commit is caught on --resume.
            crash_point("registered")
            ctx.persist(aws)

    executor = Executor(definition, settings, observer=observe)
    ctx.summary.dependencies = {name: sorted(needs) for name, needs in executor.dependencies.items()}
    if ctx.resumed is None:
        ctx.summary.parameters = executor.parameters(overrides)
    else:
        ctx.summary.parameters = dict(ctx.resumed.parameters)
        _forget_lost_registrations(sm, ctx.resumed)
    ctx.work.set_latest_run(ctx.execution_id)
    try:
        return executor.run(overrides, resume=ctx.resumed)
    finally:
        if executor.record is not None:
            ctx.summary.steps = [asdict(step) for step in executor.record.steps.values()]


def read_evaluation(ctx: RunContext, record: ExecutionRecord) -> None:
    """The evaluation report: the property file the pipeline's condition reads."""
    scope = Scope(parameters={}, execution={},
                  properties={name: step.properties or {} for name, step in record.steps.items()})
    for step in record.steps.values():
        for spec in (step.properties or {}).get("PropertyFiles", []):
            uri = property_file_uri(PropertyFileRef(step.name, spec["PropertyFileName"]), scope)
            try:
                ctx.summary.evaluation = json.loads(ctx.work.s3_path(uri).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue


def register_and_approve(ctx: RunContext, aws: LocalAws, record: ExecutionRecord, provisioned: Provisioned,
                         note: Callable[[str], None]) -> None:
    sm = aws.client("sagemaker")
    registered = next((step for step in record.steps.values()
                       if step.type == "RegisterModel" and step.status == "Succeeded"), None)
    if registered is None or not registered.properties:
        note("nothing registered in this run")
        return
    arn = str(registered.properties["ModelPackageArn"])
    version = int(registered.properties["ModelPackageVersion"])
    status = registered.properties.get("ModelApprovalStatus")
    ctx.summary.registered = {"version": version, "arn": arn, "status": status}
    if status != registry.PENDING:
        note(f"version {version} registered as {status}")
        return
    current = next((item.status for item in registry.list_versions(sm, provisioned.group) if item.arn == arn),
                   registry.PENDING)
    if current != registry.PENDING:
        # Decided before a crash (and committed): a resumed run does not decide twice.
        ctx.summary.registered["status"] = current
        note(f"version {version}: {current} (decided before the run was resumed)")
        return
    gate = ctx.env.quality_gate
    outcome = apply_approval(ctx.work, sm, provisioned.group, arn, mode=ctx.env.approval_mode,
                             metric=gate.metric, direction=gate.direction, json_path=gate_metric_path(ctx.env),
                             command=f"mlops local run --env {ctx.env.name} execution {ctx.execution_id}")
    ctx.summary.approval = {"version": outcome.version, "status": outcome.status,
                            "reason": outcome.decision.reason, "metric": outcome.metric, "audit": outcome.audit}
    ctx.summary.registered["status"] = outcome.status
    crash_point("approved")
    ctx.persist(aws)
    if outcome.status == registry.PENDING:
        ctx.summary.approve_command = approve_command(ctx.env.name, version, ctx.work.root)
    note(f"version {version}: {outcome.status} ({outcome.decision.reason})")
