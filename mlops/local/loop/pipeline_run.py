"""`mlops local run --definition FILE.json | --pipeline MODULE:FUNCTION`: someone else's pipeline, run locally.

Only the pipeline: no data seeding, approval, serving or monitoring (those are the project's own loop).
The definition is checked before anything runs (a step type, image or expression local mode cannot run
faithfully refuses the whole run by name); then it runs in the work folder with local AWS seeded from
the folder's state, so a RegisterModel or Model step lands in the same local registry the project's
commands read, and the state is committed when the run ends.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from config.images import source_tag
from config.naming import Names
from config.settings import CONFIG_FILE, load_environment
from mlops.errors import RunError
from mlops.local.aws.moto_server import local_aws
from mlops.local.aws.state import load_state, recover_state, save_state
from mlops.local.engine import jobs
from mlops.local.engine.checks import check_definition
from mlops.local.engine.executor import Executor, ExecutorSettings
from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.parameters import resolve_parameters
from mlops.local.engine.pipeline_sources import (
    PipelineSource,
    definition_from_file,
    definition_from_module,
    parse_kwargs,
)
from mlops.local.engine.record import RUN_RECORD, StepRecord
from mlops.local.errors import LocalModeError, PipelineFailedError, StepFailedError
from mlops.local.loop.progress import Progress
from mlops.local.workdir import DEFAULT_WORK_DIR, WorkDir, new_execution_id, write_atomic
from mlops.runs import parse_parameter_overrides

DEFINITION_FILE = "definition.json"


@dataclass(frozen=True)
class PipelineRunOptions:
    definition: Path | None = None
    pipeline: str | None = None
    kwargs: str | None = None
    params: tuple[str, ...] = ()
    env_name: str = "dev"  # where the local AWS is: the environment's region and account
    config: Path | None = None
    work_dir: Path = DEFAULT_WORK_DIR
    max_parallel: int | None = None


@dataclass
class PipelineRunResult:
    execution_id: str
    status: str
    seconds: float
    run_dir: Path
    steps: list[StepRecord] = field(default_factory=list)
    failure: str | None = None


def load_source(options: PipelineRunOptions, work: WorkDir, region: str, account: str) -> PipelineSource:
    if (options.definition is None) == (options.pipeline is None):
        raise LocalModeError("give one of --definition FILE.json or --pipeline MODULE:FUNCTION")
    if options.definition is not None:
        if options.kwargs:
            raise LocalModeError("--kwargs goes with --pipeline (the function's keyword arguments)")
        return definition_from_file(options.definition)
    assert options.pipeline is not None
    return definition_from_module(options.pipeline, parse_kwargs(options.kwargs), region=region, account=account,
                                  s3_root=work.s3_root, cwd=Path.cwd())


def run_other_pipeline(options: PipelineRunOptions, console: Console) -> PipelineRunResult:
    """Build or read the definition, check it, run it; LocalModeError before anything ran when refused."""
    env = load_environment(options.env_name, options.config or CONFIG_FILE)
    work = WorkDir(options.work_dir).ensure()
    clock = time.perf_counter()
    with work.locked():
        recover_state(work.state_root)
        jobs.stop_leftovers(work.children_root)
        source = load_source(options, work, env.region, env.account)
        definition = source.definition
        images = ImageCatalog.of(Names.of(env))
        check_definition(definition, images, work)  # refused by name before any step starts
        try:
            overrides = parse_parameter_overrides(list(options.params), definition)
        except RunError as error:
            raise LocalModeError(str(error)) from None
        resolve_parameters(definition.get("Parameters", []), overrides)
        execution_id = new_execution_id()
        run_dir = work.run_dir(execution_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(run_dir / DEFINITION_FILE, json.dumps(definition, indent=1))
        # Not the folder's latest run: `--resume` continues the project's own loop, not this pipeline.
        result = PipelineRunResult(execution_id=execution_id, status="Executing", seconds=0.0, run_dir=run_dir)
        progress = Progress(console)
        try:
            with local_aws(env.region, env.account) as aws, progress:
                load_state(aws, work.state_root)
                sm = aws.client("sagemaker")
                settings = ExecutorSettings(work=work, execution_id=execution_id, pipeline_name=source.name,
                                            region=aws.region, account=aws.account, code_tag=source_tag(),
                                            sagemaker=lambda: sm, images=images, ledger=work.children_root)
                if options.max_parallel:
                    settings.max_parallel = options.max_parallel
                executor = Executor(definition, settings, observer=progress.step)
                try:
                    record = executor.run(overrides)
                    result.status = record.status
                except (StepFailedError, PipelineFailedError) as error:
                    result.status, result.failure = "Failed", str(error)
                finally:
                    save_state(aws, work.state_root)
                    if executor.record is not None:
                        result.steps = list(executor.record.steps.values())
        finally:
            jobs.stop_leftovers(work.children_root)
            result.seconds = round(time.perf_counter() - clock, 3)
    return result


def print_result(console: Console, source: str, result: PipelineRunResult) -> None:
    style = "green" if result.status == "Succeeded" else "red"
    console.print(f"\n[bold]Pipeline {escape(source)}[/], execution {result.execution_id} "
                  f"([{style}]{result.status}[/]) in {result.seconds:.1f}s")
    if result.failure:
        console.print(f"[red]error: {escape(result.failure)}[/]")
    console.print(f"run record: {escape(str(result.run_dir / RUN_RECORD))}")
    produced: dict[str, Any] = {}
    for step in result.steps:
        for key in ("ModelArtifacts", "TransformOutput"):
            if step.properties and key in step.properties:
                produced[step.name] = step.properties[key]
    for name, value in produced.items():
        console.print(f"  {escape(name)}: {escape(json.dumps(value))}")
