"""The typed context one `mlops local run` hands from stage to stage, built once the options check out."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from config.naming import Names
from config.settings import CONFIG_FILE, EnvironmentConfig, load_environment
from deployment.endpoint import VARIANT, capture_destination
from mlops.local.aws.moto_server import LocalAws
from mlops.local.aws.state import save_state
from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.jobs import JobTable
from mlops.local.engine.parameters import resolve_parameters
from mlops.local.engine.record import RUN_RECORD, ExecutionRecord
from mlops.local.errors import LocalModeError
from mlops.local.faults import crash_point
from mlops.local.loop.progress import Progress
from mlops.local.loop.serving import Endpoint, ServedModel, start_endpoint
from mlops.local.loop.summary import RunSummary
from mlops.local.loop.user_data import UserData, environment_for, inspect_csv
from mlops.local.workdir import DEFAULT_WORK_DIR, WorkDir, new_execution_id
from pipelines.contract import parameter_defaults, run_parameter_refusal
from pipelines.parameter_rules import parameter_problem

SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class LocalRunOptions:
    env_name: str = "dev"
    work_dir: Path = DEFAULT_WORK_DIR
    data: Path | None = None
    target: str | None = None
    problem_type: str | None = None
    params: tuple[str, ...] = ()
    resume: bool = False
    config: Path | None = None  # another environments.yaml (default: config/environments.yaml)
    max_parallel: int | None = None


@dataclass
class RunContext:
    """What every stage reads (options, environment, names, folders) and the two things they share:
    the summary they fill and the one endpoint process (stopped by the run's ExitStack)."""

    options: LocalRunOptions
    env: EnvironmentConfig
    names: Names
    work: WorkDir
    execution_id: str
    run_dir: Path
    summary: RunSummary
    progress: Progress
    resumed: ExecutionRecord | None = None
    user_data: UserData | None = None
    endpoint: Endpoint | None = None
    served_schema: Path | None = None  # data-schema.json of the served model, if it ships one
    clock: float = field(default_factory=time.perf_counter)
    # The loop's own jobs (monitoring); the pipeline's jobs belong to its executor.
    jobs: JobTable = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = JobTable(ledger=self.work.children_root)

    @contextmanager
    def stage(self, name: str) -> Iterator[Callable[[str], None]]:
        """Time one stage and show it; the callable records a note shown when it is done."""
        crash_point(f"stage:{name}")
        started = time.perf_counter()
        notes: list[str] = []
        self.progress.stage(name, "running")
        try:
            yield notes.append
        except BaseException as error:
            self.progress.stage(name, "failed", str(error).splitlines()[0][:200] if str(error) else "interrupted")
            raise
        finally:
            self.summary.stages[name] = round(time.perf_counter() - started, 3)
        self.progress.stage(name, "done", notes[-1] if notes else "")

    def persist(self, aws: LocalAws) -> None:
        """Commit the control plane now (after a change a crash must not lose)."""
        written = save_state(aws, self.work.state_root)
        self.summary.files.update({f"state: {path.name}": str(path) for path in written})

    def start_endpoint(self, model: ServedModel) -> Endpoint:
        self.stop_endpoint()
        capture_dir = self.work.s3_path(capture_destination(self.names))
        self.endpoint = start_endpoint(
            self.work, model, self.run_dir / "serve", endpoint_name=self.names.endpoint, variant=VARIANT,
            capture_dir=capture_dir, capture_percent=float(self.env.endpoint.data_capture_percent),
            images=ImageCatalog.of(self.names), ledger=self.work.children_root,
        )
        return self.endpoint

    def stop_endpoint(self) -> None:
        if self.endpoint is not None:
            self.endpoint.stop()
            self.endpoint = None


def approve_command(env_name: str, version: int, work: Path) -> str:
    work_option = "" if work == DEFAULT_WORK_DIR else f" --work-dir {work}"
    return f"mlops local registry approve --env {env_name} --version {version}{work_option}"


def _succeeded(run_dir: Path) -> bool:
    """The run got to its end and succeeded; a killed run's summary still says Running (or is absent)."""
    try:
        return bool(json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8")).get("status") == "Succeeded")
    except (OSError, ValueError, AttributeError):
        return False


def latest_unfinished_run(work: WorkDir) -> ExecutionRecord:
    """The run --resume continues: the latest one, when it failed, was interrupted or was killed."""
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


def _check_params(options: LocalRunOptions, env: EnvironmentConfig) -> None:
    """--param names and values against the parameters the definition declares for `env` (checked
    again against the built definition before anything runs)."""
    for pair in options.params:
        name, separator, _ = pair.partition("=")
        if not separator or not name.strip():
            raise LocalModeError(f"--param {pair!r}: expected NAME=VALUE")
    defaults = parameter_defaults(env)
    declared = [
        {"Name": name, "Type": "Integer" if isinstance(value, int) else "Float" if isinstance(value, float)
         else "String", "DefaultValue": value}
        for name, value in defaults.items()
    ]
    overrides: dict[str, str] = {}
    for pair in options.params:
        name, _, value = pair.partition("=")
        if (refusal := run_parameter_refusal(env, name.strip())) is not None:
            raise LocalModeError(refusal)  # the approval gate is not a run's choice (issue 12)
        if name.strip() in overrides:
            raise LocalModeError(f"--param {name.strip()!r} given twice")
        if (problem := parameter_problem(name.strip(), value)) is not None:
            raise LocalModeError(problem)
        overrides[name.strip()] = value
    resolve_parameters(declared, overrides)


def new_run_context(options: LocalRunOptions, console: Console) -> RunContext:
    """Check the options (nothing is written before they pass) and set up the run they describe."""
    base_env = load_environment(options.env_name, options.config or CONFIG_FILE)
    work = WorkDir(options.work_dir)
    _check_params(options, base_env)
    env, user_data, resumed = base_env, None, None
    if options.resume:
        if options.data or options.params or options.target or options.problem_type:
            raise LocalModeError("--resume continues the failed run as it was: no --data, --target, "
                                 "--problem-type or --param with it")
        resumed = latest_unfinished_run(work)
    elif options.target and not options.data:
        raise LocalModeError("--target names a column of --data CSV; give --data too")
    elif options.data:
        user_data = inspect_csv(options.data, options.target or base_env.data.target, options.problem_type)
        env = environment_for(base_env, user_data)
    elif options.problem_type and options.problem_type != base_env.data.problem_type.value:
        raise LocalModeError("--problem-type applies to a --data CSV; the default data set is "
                             f"{base_env.data.problem_type.value}")
    execution_id = resumed.execution_id if resumed else new_execution_id()
    run_dir = work.run_dir(execution_id)
    summary = RunSummary(execution_id=execution_id, environment=env.name, work_dir=str(work.root),
                         run_dir=str(run_dir), started=datetime.now(UTC).isoformat(timespec="seconds"))
    return RunContext(options=options, env=env, names=Names.of(env), work=work, execution_id=execution_id,
                      run_dir=run_dir, summary=summary, progress=Progress(console), resumed=resumed,
                      user_data=user_data)
