"""The local pipeline executor: walks the definition JSON and runs each step as SageMaker would.

Order comes from data references, DependsOn and Condition branches (`pipelines.definition.
step_dependencies`); ready steps run side by side up to `max_parallel`. Cacheable steps are looked
up in the step cache, failing jobs are retried per their RetryPolicies (backoff scaled down), the
first failure stops the execution, and `run.json` records every step so `--resume` can continue.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.arns import arn
from mlops.local.engine.cache import CacheEntry, StepCache, cache_key, expire_after, input_digests
from mlops.local.engine.checks import branches, check_definition
from mlops.local.engine.expressions import ExpressionError, Scope, evaluate
from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.jobs import JobFailed, JobTable, Sandbox, log_tail
from mlops.local.engine.parameters import resolve_parameters
from mlops.local.engine.record import RUN_RECORD, ExecutionRecord, StepRecord, now
from mlops.local.engine.registry import StepRunner, runner_of
from mlops.local.engine.retry import LOCAL_BACKOFF_SCALE, RetryState
from mlops.local.engine.runners.context import StepContext, StepResult
from mlops.local.errors import LocalModeError, PipelineFailedError, StepFailedError
from mlops.local.workdir import WorkDir
from pipelines.definition_json import iter_steps

DONE = ("Succeeded", "NotExecuted")

Observer = Callable[[StepRecord], None]


@dataclass
class ExecutorSettings:
    work: WorkDir
    execution_id: str
    pipeline_name: str
    region: str
    account: str
    code_tag: str
    sagemaker: Callable[[], Any]
    images: ImageCatalog
    max_parallel: int = max(1, os.cpu_count() or 1)
    backoff_scale: float = LOCAL_BACKOFF_SCALE
    use_cache: bool = True
    # Where the running job processes are listed (`<work>/children/`), for the next run to stop.
    ledger: Path | None = None


class Executor:
    """Runs one execution of a definition; see the module docstring."""

    def __init__(self, definition: Mapping[str, Any], settings: ExecutorSettings,
                 observer: Observer | None = None) -> None:
        self.definition = definition
        self.settings = settings
        self.observer = observer or (lambda record: None)
        self.dependencies = check_definition(definition, settings.images, settings.work)
        self.steps = {str(step["Name"]): step for step in iter_steps(dict(definition))}
        self.order = list(self.steps)
        self.branches = branches(definition)
        self.cache = StepCache(settings.work)
        self.lock = threading.Lock()
        self.run_dir = settings.work.run_dir(settings.execution_id)
        self.record: ExecutionRecord | None = None
        self.properties: dict[str, dict[str, Any]] = {}
        self.aborted = threading.Event()
        self.jobs = JobTable(settings.ledger)

    # -- the record --------------------------------------------------------------------------
    def _update(self, step: StepRecord, **changes: Any) -> None:
        with self.lock:
            for key, value in changes.items():
                setattr(step, key, value)
            assert self.record is not None
            self.record.save(self.run_dir / RUN_RECORD)
        self.observer(step)

    def _scope(self, parameters: Mapping[str, Any], started: str) -> Scope:
        s = self.settings
        pipeline_arn = arn("sagemaker", f"pipeline/{s.pipeline_name.lower()}", region=s.region, account=s.account)
        return Scope(
            parameters=parameters,
            execution={
                "PipelineExecutionId": s.execution_id,
                "PipelineExecutionArn": f"{pipeline_arn}/execution/{s.execution_id}",
                "PipelineName": s.pipeline_name,
                "PipelineArn": pipeline_arn,
                "CurrentDateTime": started,
            },
            properties=self.properties,
            read_json=self._read_json,
        )

    def _read_json(self, uri: str) -> Any:
        path = self.settings.work.s3_path(uri)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ExpressionError(f"cannot read {uri} ({path}): {error.strerror}") from error
        except ValueError as error:
            raise ExpressionError(f"{uri} ({path}) is not JSON: {error}") from error

    def parameters(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        return resolve_parameters(self.definition.get("Parameters", []), overrides)

    # -- the walk ----------------------------------------------------------------------------
    def run(self, overrides: Mapping[str, str] | None = None, resume: ExecutionRecord | None = None) -> ExecutionRecord:
        """Run to the end; StepFailedError / PipelineFailedError after recording the failure."""
        started = now()
        clock = time.perf_counter()
        parameters = dict(resume.parameters) if resume else self.parameters(overrides or {})
        self.record = ExecutionRecord(
            execution_id=self.settings.execution_id, pipeline_name=self.settings.pipeline_name,
            status="Executing", started=resume.started if resume else started, parameters=parameters,
            steps={name: StepRecord(name=name, type=str(step["Type"])) for name, step in self.steps.items()},
        )
        scope = self._scope(parameters, self.record.started)
        skipped: set[str] = set()
        # What the main loop has collected: the schedule reads only this, never the records the worker
        # threads write, since a worker records Succeeded before the loop has applied its outcome
        # (a Condition step's branch not taken).
        ended: dict[str, str] = {}
        if resume:
            for name, previous in resume.steps.items():
                if name in self.record.steps and previous.status == "Succeeded":
                    previous.reused = True
                    self.record.steps[name] = previous
                    self.properties[name] = previous.properties or {}
                    ended[name] = previous.status
                    if previous.outcome is not None:
                        skipped |= self._not_taken(name, previous.outcome)
        self.record.save(self.run_dir / RUN_RECORD)
        for step_record in self.record.steps.values():
            self.observer(step_record)
        failure: BaseException | None = None
        running: dict[Future[StepResult | None], str] = {}
        declared = self.definition.get("ParallelismConfiguration", {}).get("MaxParallelExecutionSteps")
        workers = min(self.settings.max_parallel, int(declared)) if declared else self.settings.max_parallel
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            try:
                while True:
                    if failure is None:
                        self._submit_ready(pool, running, scope, skipped, ended)
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        name = running.pop(future)
                        try:
                            result = future.result()
                        except BaseException as error:  # recorded, then re-raised once running steps end
                            if failure is None:
                                failure = error
                            continue
                        if result is not None and result.outcome is not None:
                            skipped |= self._not_taken(name, result.outcome)
                        ended[name] = "Succeeded"
            except KeyboardInterrupt as interrupt:
                # Stop the running jobs (no retries), record them as failed, so --resume can continue.
                self.aborted.set()
                self.jobs.terminate_all()
                wait(running)
                failure = interrupt
        record = self.record
        record.ended = now()
        record.seconds = round(time.perf_counter() - clock, 3)
        if failure is not None:
            record.status = "Failed"
            failed = next((step for step in record.steps.values() if step.status == "Failed"), None)
            record.failed_step = failed.name if failed else None
            record.failure_reason = failed.failure_reason if failed else (str(failure) or type(failure).__name__)
            record.save(self.run_dir / RUN_RECORD)
            raise failure
        pending = [step.name for step in record.steps.values() if step.status == "Pending"]
        if pending:
            record.status = "Failed"
            record.failure_reason = f"steps never became ready: {', '.join(pending)}"
            record.save(self.run_dir / RUN_RECORD)
            raise LocalModeError(record.failure_reason)
        record.status = "Succeeded"
        record.save(self.run_dir / RUN_RECORD)
        return record

    def _not_taken(self, condition: str, outcome: bool) -> set[str]:
        if_steps, else_steps = self.branches.get(condition, ([], []))
        return set(else_steps if outcome else if_steps)

    def _submit_ready(self, pool: ThreadPoolExecutor, running: dict[Future[StepResult | None], str],
                      scope: Scope, skipped: set[str], ended: dict[str, str]) -> None:
        assert self.record is not None
        changed = True
        while changed:
            changed = False
            for name in self.order:
                if name in ended or name in running.values():
                    continue
                needs = [ended.get(dependency) for dependency in self.dependencies.get(name, set())]
                if not all(need in DONE for need in needs):
                    continue
                if name in skipped or "NotExecuted" in needs:
                    ended[name] = "NotExecuted"
                    self._update(self.record.steps[name], status="NotExecuted", detail="branch not taken")
                    changed = True
                    continue
                running[pool.submit(self._execute, name, scope)] = name

    def _execute(self, name: str, scope: Scope) -> StepResult | None:
        assert self.record is not None
        record = self.record.steps[name]
        step = self.steps[name]
        runner = runner_of(step)
        sandbox = Sandbox(self.run_dir / "steps" / name)
        self._update(record, status="Executing", started=now(), log=str(sandbox.log) if runner.job else None)
        clock = time.perf_counter()
        context = StepContext(
            work=self.settings.work, execution_id=self.settings.execution_id,
            pipeline_name=self.settings.pipeline_name, region=self.settings.region, account=self.settings.account,
            sandbox=sandbox, scope=scope, sagemaker=self.settings.sagemaker, jobs=self.jobs,
            images=self.settings.images,
        )
        try:
            result = self._run_with_cache(step, runner, record, context)
        except PipelineFailedError as error:
            self._update(record, status="Failed", ended=now(), seconds=round(time.perf_counter() - clock, 3),
                         failure_reason=error.reason, detail="Fail step")
            raise
        except StepFailedError as error:
            self._update(record, status="Failed", ended=now(), seconds=round(time.perf_counter() - clock, 3),
                         failure_reason=error.reason)
            raise
        except LocalModeError as error:
            self._update(record, status="Failed", ended=now(), seconds=round(time.perf_counter() - clock, 3),
                         failure_reason=str(error))
            raise StepFailedError(name, str(error)) from error
        except Exception as error:  # a bug or an OS error still fails this step by name, not the walk
            reason = f"{type(error).__name__}: {error}"
            self._update(record, status="Failed", ended=now(), seconds=round(time.perf_counter() - clock, 3),
                         failure_reason=reason)
            raise StepFailedError(name, reason) from error
        with self.lock:
            self.properties[name] = result.properties
        self._update(record, status="Succeeded", ended=now(), seconds=round(time.perf_counter() - clock, 3),
                     properties=result.properties, outcome=result.outcome,
                     detail=result.detail or record.detail)
        return result

    def _run_with_cache(self, step: Mapping[str, Any], runner: StepRunner, record: StepRecord,
                        context: StepContext) -> StepResult:
        if not runner.evaluate_arguments:  # Condition, Fail: no job, nothing to cache or retry
            return runner.run(step, step.get("Arguments", {}), context)
        arguments = evaluate(step.get("Arguments", {}), context.scope)
        enabled, expiry = expire_after(step.get("CacheConfig"))
        key = None
        if enabled and runner.cacheable and self.settings.use_cache:
            digests = input_digests(self.settings.work, runner.inputs(arguments))
            # The step's own settings may hold parameters too (a QualityCheck's SkipCheck): keyed by value.
            settings = evaluate({k: v for k, v in step.items() if k != "Arguments"}, context.scope)
            key = cache_key(settings, arguments, self.settings.execution_id, self.settings.code_tag, digests)
            entry = self.cache.lookup(key, datetime.now(UTC), expiry)
            if entry is not None:
                self._update(record, cache_key=key, cached_from=entry.execution_id)
                return StepResult(properties=entry.properties, detail=f"cached from run {entry.execution_id}",
                                  produced=entry.produced)
        result = self._attempts(step, runner, record, arguments, context)
        if key is not None:
            self.cache.store(CacheEntry(key=key, step=str(step["Name"]), execution_id=self.settings.execution_id,
                                        created=datetime.now(UTC).isoformat(), properties=result.properties,
                                        produced=result.produced))
            record.cache_key = key
        return result

    def _attempts(self, step: Mapping[str, Any], runner: StepRunner, record: StepRecord, arguments: Any,
                  context: StepContext) -> StepResult:
        name = str(step["Name"])
        retry = RetryState(step.get("RetryPolicies", []), self.settings.backoff_scale)
        first = time.monotonic()
        log = context.sandbox.log if runner.job else None
        while True:
            self._update(record, attempts=record.attempts + 1)
            if runner.job:
                context.sandbox.reset()
            try:
                return runner.run(step, arguments, context)
            except JobFailed as failure:
                if self.aborted.is_set():
                    raise StepFailedError(name, "interrupted", log, log_tail(log) if log else "") from None
                delay = retry.delay(failure.kind, time.monotonic() - first)
                if delay is None:
                    raise StepFailedError(name, failure.reason, log, log_tail(log) if log else "") from None
                self._update(record, detail=f"retry {retry.used} after: {failure.reason}")
                if log is not None:
                    with log.open("a", encoding="utf-8") as log_file:
                        log_file.write(f"--- attempt failed ({failure.reason}); retrying in {delay:.2f}s\n")
                time.sleep(delay)
