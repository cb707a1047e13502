"""The `tracking` stage of `mlops local run`: the registered version's metrics and tags on its MLflow run.

It runs as a child process beside serving and monitoring (MLflow's import and the sqlite store cost
seconds) and is waited for before the report. A store problem is shown in the stage note and in
summary.json, never fails the run: the version is registered either way, and the training job's own
record is already in the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict

from config.images import REPO_ROOT
from mlops import registry
from mlops.experiments import TrackingError, version_record
from mlops.local.aws.moto_server import LocalAws
from mlops.local.engine import jobs
from mlops.local.loop.run_context import RunContext
from mlops.local.workdir import WorkDirObjects
from pipelines.contract import MLFLOW_TRACKING_URI

STAGE = "tracking"
LOG_FILE = "tracking.log"


@contextlib.contextmanager
def tracking_beside(ctx: RunContext, aws: LocalAws) -> Iterator[None]:
    """Record the registered version in its training run while the body runs; wait for it on exit."""
    uri = str(ctx.summary.parameters.get(MLFLOW_TRACKING_URI) or "")
    ctx.summary.tracking_uri = uri or None
    registered = ctx.summary.registered
    if not uri or registered is None:
        yield
        return
    started = time.perf_counter()
    try:
        sm = aws.client("sagemaker")
        model = registry.find_version(registry.list_versions(sm, ctx.names.model_package_group),
                                      registered["version"])
        record = version_record(sm, WorkDirObjects(ctx.work), model)
    except TrackingError as error:
        ctx.summary.tracking_problem = str(error)
        ctx.progress.stage(STAGE, "failed", f"not recorded: {error}")
        yield
        return
    log_path = ctx.run_dir / LOG_FILE
    command = [sys.executable, "-m", "mlops.experiments", uri, ctx.names.pipeline, json.dumps(asdict(record))]
    env = {key: os.environ[key] for key in jobs.PASSED_THROUGH if key in os.environ}
    env["PYTHONPATH"] = str(REPO_ROOT)
    with log_path.open("wb") as log:
        process = jobs.spawn(command, env=env, cwd=REPO_ROOT, log=log, ledger=ctx.work.children_root)
    interrupted = False
    try:
        yield
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if interrupted:
            process.kill()
        code = process.wait()
        jobs.forget(process, ctx.work.children_root)
        output = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        last = output[-1] if output else f"exited with code {code}"
        ctx.summary.stages[STAGE] = round(time.perf_counter() - started, 3)
        if code == 0:
            ctx.summary.tracking_run = last
            ctx.progress.stage(STAGE, "done", f"run {last}: version {model.version} ({model.status}), "
                               f"{len(record.metrics)} evaluation metrics ({ctx.summary.stages[STAGE]:.1f}s "
                               "beside serving)")
        else:
            ctx.summary.tracking_problem = last
            ctx.summary.files["tracking log"] = str(log_path)
            ctx.progress.stage(STAGE, "failed", f"not recorded: {last}")
