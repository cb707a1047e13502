"""`mlops local run`: data -> definition -> local AWS -> pipeline -> approve -> serve -> monitor -> alarms -> report.

The stages are functions over one RunContext (mlops/local/loop/run_context.py): those up to the registry
in pipeline_stages.py, the rest in serving_stages.py. What they find fills a RunSummary, written to
the run folder as summary.json and rendered into report.html. The run's resources (local AWS, the
endpoint process, a helper thread) are held by one ExitStack on the main thread. Control-plane state
is committed when it changes (a version registered or approved, alarms evaluated) and once more at
the end, so a killed run loses nothing; `--resume` finishes any run that did not reach its end.
"""

from __future__ import annotations

import importlib
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from typing import Any

from mlops.local.aws.moto_server import LocalAws, local_aws
from mlops.local.aws.provision import Provisioned
from mlops.local.aws.state import recover_state
from mlops.local.engine import jobs
from mlops.local.engine.definitions import start_definition_build
from mlops.local.engine.record import RUN_RECORD
from mlops.local.errors import LocalModeError, PipelineFailedError, StepFailedError
from mlops.local.faults import crash_point
from mlops.local.loop.card_stage import write_run_model_card
from mlops.local.loop.pipeline_stages import (
    prepare_data,
    prepare_definition,
    read_evaluation,
    register_and_approve,
    run_pipeline,
    seed_aws,
    start_approved_endpoint,
)
from mlops.local.loop.run_context import SUMMARY_FILE, LocalRunOptions, RunContext, new_run_context
from mlops.local.loop.serving_stages import finish, serve_and_monitor
from mlops.local.loop.summary import RUNNING
from mlops.local.loop.tracking_stage import tracking_beside

__all__ = ["LocalRunOptions", "RunContext", "new_run_context", "run_local"]
INTERRUPTED = "Interrupted"
SUCCEEDED = "Succeeded"


def run_local(ctx: RunContext) -> int:
    """Run every stage with the work folder locked; the exit code. summary.json is written whatever
    happens (a KeyboardInterrupt propagates after it)."""
    ctx.work.ensure()
    with ctx.work.locked():
        # What a killed run left: a half-done state commit, and children that outlived it.
        recover_state(ctx.work.state_root)
        jobs.stop_leftovers(ctx.work.children_root)
        try:
            with ctx.progress:
                return _stages(ctx)
        except KeyboardInterrupt:
            # "Succeeded" is set before the report is written: a run stopped there did not finish either.
            if ctx.summary.status in (RUNNING, SUCCEEDED):
                _interrupted(ctx)
            raise
        except Exception as error:
            if ctx.summary.status in (RUNNING, SUCCEEDED):
                ctx.summary.status = "Failed"
                ctx.summary.failure = str(error)
            raise
        finally:
            ctx.jobs.terminate_all()
            ctx.stop_endpoint()
            jobs.stop_leftovers(ctx.work.children_root)
            ctx.summary.seconds = round(time.perf_counter() - ctx.clock, 3)
            if ctx.run_dir.is_dir():
                ctx.summary.files["summary"] = str(ctx.run_dir / SUMMARY_FILE)
                ctx.summary.save(ctx.run_dir / SUMMARY_FILE)


def _interrupted(ctx: RunContext) -> None:
    ctx.summary.status = INTERRUPTED
    ctx.summary.failure = "interrupted; continue with --resume" if (ctx.run_dir / RUN_RECORD).is_file() \
        else "interrupted before the pipeline started; start a new run"


def _warm_local_aws() -> None:
    """Import moto (about a second) while the main thread seeds the data."""
    importlib.import_module("mlops.local.aws.moto_extensions")


def _finished(future: Future[Any]) -> None:
    """Wait for a helper-thread task before what it uses goes away (its error is reported elsewhere)."""
    wait([future])


def _stages(ctx: RunContext) -> int:
    # Overlapped: the definition builds in a child process; a helper thread loads moto while the data
    # is seeded, then fills local AWS from the state files while the definition is checked and the
    # approved model's server starts.
    build = start_definition_build(ctx.env, ctx.work) if ctx.resumed is None else None
    with ExitStack() as stack:
        stack.callback(ctx.stop_endpoint)
        helper = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        warming = helper.submit(_warm_local_aws)
        seeded = prepare_data(ctx, build)
        warming.result()
        aws = stack.enter_context(local_aws(ctx.env.region, ctx.env.account))
        seeding = helper.submit(seed_aws, ctx, aws)
        stack.callback(_finished, seeding)  # before local AWS stops
        definition, overrides = prepare_definition(ctx, build, seeded)
        start_approved_endpoint(ctx)
        provisioned = seeding.result()
        # The last commit, also after a failure or Ctrl-C (runs before local AWS stops).
        stack.callback(ctx.persist, aws)
        return _with_aws(ctx, aws, definition, overrides, provisioned)


def _with_aws(ctx: RunContext, aws: LocalAws, definition: dict[str, Any], overrides: dict[str, str],
              provisioned: Provisioned) -> int:
    summary = ctx.summary
    summary.gate = {"metric": ctx.env.quality_gate.metric, "threshold": ctx.env.quality_gate.threshold,
                    "direction": ctx.env.quality_gate.direction}
    summary.files["run record"] = str(ctx.run_dir / RUN_RECORD)
    pipeline_started = time.perf_counter()
    ctx.progress.stage("pipeline", "running")
    try:
        crash_point("stage:pipeline")
        record = run_pipeline(ctx, aws, definition, overrides)
    except KeyboardInterrupt:
        _interrupted(ctx)
        summary.failed_step = next((step["name"] for step in summary.steps if step["status"] == "Failed"), None)
        ctx.progress.stage("pipeline", "failed", "interrupted")
        raise
    except (StepFailedError, PipelineFailedError) as error:
        summary.stages["pipeline"] = round(time.perf_counter() - pipeline_started, 3)
        ctx.progress.stage("pipeline", "failed", error.reason.splitlines()[0][:160])
        summary.status = "Failed"
        summary.failure = str(error)
        summary.failed_step = error.step
        if isinstance(error, StepFailedError) and error.log is not None:
            summary.failure_log = str(error.log)
            summary.failure_log_tail = error.log_tail
        finish(ctx, aws, provisioned)
        return 1
    summary.stages["pipeline"] = round(time.perf_counter() - pipeline_started, 3)
    ctx.progress.stage("pipeline", "done")
    read_evaluation(ctx, record)
    try:
        with ctx.stage("approve") as note:
            register_and_approve(ctx, aws, record, provisioned, note)
            write_run_model_card(ctx, aws)
        with tracking_beside(ctx, aws):
            serve_and_monitor(ctx, aws, record, definition, provisioned)
    except Exception as error:  # any stage failure ends the run with a report, not a traceback
        summary.status = "Failed"
        summary.failure = str(error) if isinstance(error, LocalModeError) else f"{type(error).__name__}: {error}"
        if not isinstance(error, LocalModeError):
            trace = ctx.run_dir / "error.log"
            trace.write_text(traceback.format_exc(), encoding="utf-8")
            summary.files["error trace"] = str(trace)
        finish(ctx, aws, provisioned)
        return 1
    summary.status = SUCCEEDED
    finish(ctx, aws, provisioned)
    return 0
