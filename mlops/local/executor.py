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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.arns import arn
from mlops.local.cache import CacheEntry, StepCache, cache_key, expire_after, input_digests, input_uris
from mlops.local.errors import LocalModeError, PipelineFailedError, StepFailedError, UnsupportedDefinitionError
from mlops.local.expressions import (
    CONDITION_TYPES,
    EXECUTION_VARIABLES,
    EXPRESSIONS,
    GET,
    ExpressionError,
    Scope,
    condition_types_in,
    evaluate,
    expressions_in,
    parse_path,
    resolve_parameters,
)
from mlops.local.images import image_for
from mlops.local.jobs import JobFailed, Sandbox, accept_new_jobs, log_tail, terminate_all
from mlops.local.steps.condition import run_condition_step
from mlops.local.steps.context import StepContext, StepResult
from mlops.local.steps.fail import run_fail_step
from mlops.local.steps.processing import run_processing_step
from mlops.local.steps.quality_check import run_quality_check_step
from mlops.local.steps.register_model import run_register_model_step
from mlops.local.steps.training import run_training_step
from mlops.local.workdir import WorkDir, write_atomic
from pipelines.definition import iter_steps, step_dependencies

STEP_TYPES = ("Processing", "Training", "QualityCheck", "RegisterModel", "Condition", "Fail")
CACHEABLE = ("Processing", "Training", "QualityCheck")
JOB_STEPS = ("Processing", "Training", "QualityCheck")
# Which retry-policy exception types a local failure stands for. Like SageMaker, a script that
# exits non-zero (an algorithm error) or bad input is not retried; a job whose process died from
# a signal or could not start is the local face of an internal error.
RETRY_TYPES: dict[str, frozenset[str]] = {
    "internal": frozenset({"SageMaker.JOB_INTERNAL_ERROR", "Step.SERVICE_FAULT"}),
}
# Retry intervals are written for the cloud (tens of seconds); locally they are scaled down.
LOCAL_BACKOFF_SCALE = 0.01
DEFAULT_MAX_ATTEMPTS = 5
RUN_RECORD = "run.json"
DONE = ("Succeeded", "NotExecuted")

Observer = Callable[["StepRecord"], None]


@dataclass
class StepRecord:
    """One step of an execution, as `run.json` keeps it."""

    name: str
    type: str
    status: str = "Pending"
    attempts: int = 0
    started: str | None = None
    ended: str | None = None
    seconds: float | None = None
    detail: str = ""
    failure_reason: str | None = None
    log: str | None = None
    properties: dict[str, Any] | None = None
    cache_key: str | None = None
    cached_from: str | None = None
    reused: bool = False
    outcome: bool | None = None


@dataclass
class ExecutionRecord:
    execution_id: str
    pipeline_name: str
    status: str
    started: str
    parameters: dict[str, Any]
    steps: dict[str, StepRecord] = field(default_factory=dict)
    ended: str | None = None
    seconds: float | None = None
    failed_step: str | None = None
    failure_reason: str | None = None

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self), indent=1, default=str))

    @classmethod
    def load(cls, path: Path) -> ExecutionRecord:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            steps = {name: StepRecord(**item) for name, item in raw.pop("steps").items()}
            return cls(**raw, steps=steps)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise LocalModeError(f"{path}: cannot read the run record ({error})") from error


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------- checking a definition


def _image_uris(step: Mapping[str, Any]) -> list[Any]:
    arguments = step.get("Arguments", {})
    if step["Type"] in ("Processing", "QualityCheck"):
        return [arguments.get("AppSpecification", {}).get("ImageUri")]
    if step["Type"] == "Training":
        return [arguments.get("AlgorithmSpecification", {}).get("TrainingImage")]
    return []


def check_definition(definition: Mapping[str, Any]) -> dict[str, set[str]]:
    """Refuse, before anything runs, what the executor cannot do; returns each step's dependencies."""
    steps = iter_steps(dict(definition))
    names = [str(step.get("Name")) for step in steps]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UnsupportedDefinitionError(f"step name(s) used twice: {', '.join(duplicates)}")
    parameters = {str(item["Name"]) for item in definition.get("Parameters", [])}
    for step in steps:
        name, kind = step.get("Name"), step.get("Type")
        if kind not in STEP_TYPES:
            raise UnsupportedDefinitionError(
                f"step {name!r} has type {kind!r}, which local mode does not run "
                f"(supported: {', '.join(STEP_TYPES)})"
            )
        for uri in _image_uris(step):
            if isinstance(uri, str):
                image_for(uri)
        if kind == "Condition":
            for condition in step["Arguments"].get("Conditions", []):
                for condition_type in condition_types_in(condition):
                    if condition_type not in CONDITION_TYPES:
                        raise UnsupportedDefinitionError(
                            f"step {name!r}: condition type {condition_type!r} is not supported "
                            f"(supported: {', '.join(CONDITION_TYPES)})"
                        )
    own_parts = [{k: v for k, v in step.items() if k not in ("IfSteps", "ElseSteps")} for step in steps]
    for key, value in expressions_in(own_parts):
        if key not in EXPRESSIONS:
            raise UnsupportedDefinitionError(
                f"expression {key!r} is not supported (supported: {', '.join(EXPRESSIONS)})"
            )
        if key == GET:
            _check_reference(str(value), parameters, set(names))
    dependencies = step_dependencies(dict(definition))
    for name, needs in dependencies.items():
        unknown = sorted(needs - set(names))
        if unknown:
            raise UnsupportedDefinitionError(f"step {name!r} depends on unknown step(s) {', '.join(unknown)}")
    _check_acyclic(dependencies)
    return dependencies


def _check_reference(path: str, parameters: set[str], steps: set[str]) -> None:
    tokens = parse_path(path)
    root = tokens[0]
    if root == "Parameters" and len(tokens) == 2 and tokens[1] in parameters:
        return
    if root == "Execution" and len(tokens) == 2 and tokens[1] in EXECUTION_VARIABLES:
        return
    if root == "Steps" and len(tokens) >= 3 and tokens[1] in steps:
        return
    raise UnsupportedDefinitionError(
        f"Get {path!r}: not a declared parameter, a supported execution variable "
        f"({', '.join(EXECUTION_VARIABLES)}) or a property of a step of this pipeline"
    )


def _check_acyclic(dependencies: Mapping[str, set[str]]) -> None:
    remaining = {name: set(needs) for name, needs in dependencies.items()}
    while remaining:
        ready = [name for name, needs in remaining.items() if not needs]
        if not ready:
            raise UnsupportedDefinitionError(f"steps depend on each other in a cycle: {', '.join(sorted(remaining))}")
        for name in ready:
            del remaining[name]
        for needs in remaining.values():
            needs.difference_update(ready)


def branches(definition: Mapping[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Condition step -> (names directly in IfSteps, names directly in ElseSteps)."""
    return {
        str(step["Name"]): (
            [str(item["Name"]) for item in step["Arguments"].get("IfSteps", [])],
            [str(item["Name"]) for item in step["Arguments"].get("ElseSteps", [])],
        )
        for step in iter_steps(dict(definition))
        if step["Type"] == "Condition"
    }


# --------------------------------------------------------------------------- running


@dataclass
class ExecutorSettings:
    work: WorkDir
    execution_id: str
    pipeline_name: str
    region: str
    account: str
    code_tag: str
    sagemaker: Callable[[], Any]
    max_parallel: int = max(1, os.cpu_count() or 1)
    backoff_scale: float = LOCAL_BACKOFF_SCALE
    use_cache: bool = True


class Executor:
    """Runs one execution of a definition; see the module docstring."""

    def __init__(self, definition: Mapping[str, Any], settings: ExecutorSettings,
                 observer: Observer | None = None) -> None:
        self.definition = definition
        self.settings = settings
        self.observer = observer or (lambda record: None)
        self.dependencies = check_definition(definition)
        self.steps = {str(step["Name"]): step for step in iter_steps(dict(definition))}
        self.order = list(self.steps)
        self.branches = branches(definition)
        self.cache = StepCache(settings.work)
        self.lock = threading.Lock()
        self.run_dir = settings.work.run_dir(settings.execution_id)
        self.record: ExecutionRecord | None = None
        self.properties: dict[str, dict[str, Any]] = {}
        self.aborted = threading.Event()

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
        accept_new_jobs()
        started = _now()
        clock = time.perf_counter()
        parameters = dict(resume.parameters) if resume else self.parameters(overrides or {})
        self.record = ExecutionRecord(
            execution_id=self.settings.execution_id, pipeline_name=self.settings.pipeline_name,
            status="Executing", started=resume.started if resume else started, parameters=parameters,
            steps={name: StepRecord(name=name, type=str(step["Type"])) for name, step in self.steps.items()},
        )
        scope = self._scope(parameters, self.record.started)
        skipped: set[str] = set()
        if resume:
            for name, previous in resume.steps.items():
                if name in self.record.steps and previous.status == "Succeeded":
                    previous.reused = True
                    self.record.steps[name] = previous
                    self.properties[name] = previous.properties or {}
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
                        self._submit_ready(pool, running, scope, skipped)
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
            except KeyboardInterrupt as interrupt:
                # Stop the running jobs (no retries), record them as failed, so --resume can continue.
                self.aborted.set()
                terminate_all()
                wait(running)
                failure = interrupt
        record = self.record
        record.ended = _now()
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
                      scope: Scope, skipped: set[str]) -> None:
        assert self.record is not None
        changed = True
        while changed:
            changed = False
            for name in self.order:
                step = self.record.steps[name]
                if step.status != "Pending" or name in running.values():
                    continue
                needs = [self.record.steps[dependency] for dependency in self.dependencies.get(name, set())]
                if not all(need.status in DONE for need in needs):
                    continue
                if name in skipped or any(need.status == "NotExecuted" for need in needs):
                    self._update(step, status="NotExecuted", detail="branch not taken")
                    changed = True
                    continue
                running[pool.submit(self._execute, name, scope)] = name

    def _execute(self, name: str, scope: Scope) -> StepResult | None:
        assert self.record is not None
        record = self.record.steps[name]
        step = self.steps[name]
        kind = str(step["Type"])
        sandbox = Sandbox(self.run_dir / "steps" / name)
        self._update(record, status="Executing", started=_now(), log=str(sandbox.log) if kind in JOB_STEPS else None)
        clock = time.perf_counter()
        context = StepContext(
            work=self.settings.work, execution_id=self.settings.execution_id,
            pipeline_name=self.settings.pipeline_name, region=self.settings.region, account=self.settings.account,
            sandbox=sandbox, scope=scope, sagemaker=self.settings.sagemaker,
        )
        try:
            result = self._run_with_cache(step, record, context)
        except PipelineFailedError as error:
            self._update(record, status="Failed", ended=_now(), seconds=round(time.perf_counter() - clock, 3),
                         failure_reason=error.reason, detail="Fail step")
            raise
        except StepFailedError as error:
            self._update(record, status="Failed", ended=_now(), seconds=round(time.perf_counter() - clock, 3),
                         failure_reason=error.reason)
            raise
        except LocalModeError as error:
            self._update(record, status="Failed", ended=_now(), seconds=round(time.perf_counter() - clock, 3),
                         failure_reason=str(error))
            raise StepFailedError(name, str(error)) from error
        except Exception as error:  # a bug or an OS error still fails this step by name, not the walk
            reason = f"{type(error).__name__}: {error}"
            self._update(record, status="Failed", ended=_now(), seconds=round(time.perf_counter() - clock, 3),
                         failure_reason=reason)
            raise StepFailedError(name, reason) from error
        with self.lock:
            self.properties[name] = result.properties
        self._update(record, status="Succeeded", ended=_now(), seconds=round(time.perf_counter() - clock, 3),
                     properties=result.properties, outcome=result.outcome,
                     detail=result.detail or record.detail)
        return result

    def _run_with_cache(self, step: Mapping[str, Any], record: StepRecord, context: StepContext) -> StepResult:
        kind = str(step["Type"])
        if kind == "Condition":
            return run_condition_step(step, context)
        if kind == "Fail":
            run_fail_step(step, context)
            raise AssertionError("a Fail step always raises")  # pragma: no cover
        arguments = evaluate(step.get("Arguments", {}), context.scope)
        enabled, expiry = expire_after(step.get("CacheConfig"))
        key = None
        if enabled and kind in CACHEABLE and self.settings.use_cache:
            digests = input_digests(self.settings.work, input_uris(kind, arguments))
            key = cache_key(step, arguments, self.settings.execution_id, self.settings.code_tag, digests)
            entry = self.cache.lookup(key, datetime.now(UTC), expiry)
            if entry is not None:
                self._update(record, cache_key=key, cached_from=entry.execution_id)
                return StepResult(properties=entry.properties, detail=f"cached from run {entry.execution_id}",
                                  produced=entry.produced)
        result = self._attempts(step, record, arguments, context)
        if key is not None:
            self.cache.store(CacheEntry(key=key, step=str(step["Name"]), execution_id=self.settings.execution_id,
                                        created=datetime.now(UTC).isoformat(), properties=result.properties,
                                        produced=result.produced))
            record.cache_key = key
        return result

    def _attempts(self, step: Mapping[str, Any], record: StepRecord, arguments: Any,
                  context: StepContext) -> StepResult:
        kind, name = str(step["Type"]), str(step["Name"])
        policies = list(step.get("RetryPolicies", []))
        retries = [0] * len(policies)
        first = time.monotonic()
        while True:
            self._update(record, attempts=record.attempts + 1)
            if kind in JOB_STEPS:
                context.sandbox.reset()
            try:
                return self._run_step(kind, step, arguments, context)
            except JobFailed as failure:
                if self.aborted.is_set():
                    log = context.sandbox.log if kind in JOB_STEPS else None
                    raise StepFailedError(name, "interrupted", log, log_tail(log) if log else "") from None
                index = _matching_policy(policies, failure.kind)
                delay = None
                if index is not None:
                    policy = policies[index]
                    limit = int(policy.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS))
                    expire = policy.get("ExpireAfterMin")
                    expired = expire is not None and time.monotonic() - first > float(expire) * 60
                    if retries[index] < limit and not expired:
                        delay = (float(policy.get("IntervalSeconds", 1)) * float(policy.get("BackoffRate", 2.0))
                                 ** retries[index] * self.settings.backoff_scale)
                        retries[index] += 1
                if delay is None:
                    log = context.sandbox.log if kind in JOB_STEPS else None
                    raise StepFailedError(name, failure.reason, log, log_tail(log) if log else "") from None
                self._update(record, detail=f"retry {sum(retries)} after: {failure.reason}")
                if kind in JOB_STEPS:
                    with context.sandbox.log.open("a", encoding="utf-8") as log_file:
                        log_file.write(f"--- attempt failed ({failure.reason}); retrying in {delay:.2f}s\n")
                time.sleep(delay)

    @staticmethod
    def _run_step(kind: str, step: Mapping[str, Any], arguments: Any, context: StepContext) -> StepResult:
        if kind == "Processing":
            return run_processing_step(step, arguments, context)
        if kind == "Training":
            return run_training_step(step, arguments, context)
        if kind == "QualityCheck":
            return run_quality_check_step(step, arguments, context)
        if kind == "RegisterModel":
            return run_register_model_step(step, arguments, context)
        raise UnsupportedDefinitionError(f"step {step['Name']!r} has type {kind!r}, which local mode does not run")


def _matching_policy(policies: list[Mapping[str, Any]], kind: str) -> int | None:
    types = RETRY_TYPES.get(kind, frozenset())
    for index, policy in enumerate(policies):
        if types & set(policy.get("ExceptionType", [])):
            return index
    return None
