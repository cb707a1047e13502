"""QualityCheck steps (DATA_QUALITY, MODEL_QUALITY): the analyzer's baselining job, then the drift check."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Mapping
from typing import Any

from mlops import registry
from mlops.local.engine.expressions import evaluate
from mlops.local.engine.jobs import JobFailed, Sandbox
from mlops.local.engine.registry import CheckContext, StepRunner, register
from mlops.local.engine.runners.context import StepContext, StepResult
from mlops.local.engine.runners.processing import (
    check_processing_job,
    input_uris,
    output_uris,
    run_processing_job,
)
from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import join_s3

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
VIOLATIONS_FILE = "constraint_violations.json"
BASELINE_DIR = "/opt/ml/processing/baseline"
CHECK_TYPES = ("DATA_QUALITY", "MODEL_QUALITY")
# Where a model package keeps each check type's baselines (DriftCheckBaselines).
DRIFT_CHECK_BASELINE = {"DATA_QUALITY": "ModelDataQuality", "MODEL_QUALITY": "ModelQuality"}


def registered_baseline(sm: Any, group: str, check_type: str = "DATA_QUALITY") -> tuple[str | None, str | None]:
    """(statistics, constraints) URIs of the newest approved version's drift baselines of `check_type`."""
    newest = registry.newest_approved_package(sm, group)
    if newest is None:
        return None, None
    described = sm.describe_model_package(ModelPackageName=newest.arn)
    quality = described.get("DriftCheckBaselines", {}).get(DRIFT_CHECK_BASELINE[check_type], {})
    return (quality.get("Statistics", {}).get("S3Uri"), quality.get("Constraints", {}).get("S3Uri"))


def _check_job(job: Mapping[str, Any], statistics: str | None, constraints: str | None) -> dict[str, Any]:
    """The same job in monitoring mode: the baseline files as inputs, their paths in the environment."""
    check = copy.deepcopy(dict(job))
    environment = dict(check.get("Environment") or {})
    inputs = list(check.get("ProcessingInputs", []))
    for kind, uri, file_name in (("statistics", statistics, STATISTICS_FILE),
                                 ("constraints", constraints, CONSTRAINTS_FILE)):
        if not uri:
            continue
        folder = f"{BASELINE_DIR}/{kind}"
        inputs.append({"InputName": kind, "S3Input": {"S3Uri": uri, "LocalPath": folder, "S3DataType": "S3Prefix",
                                                      "S3InputMode": "File"}})
        environment[f"baseline_{kind}"] = f"{folder}/{uri.rstrip('/').rsplit('/', 1)[-1] or file_name}"
    check["ProcessingInputs"] = inputs
    check["Environment"] = environment
    return check


# QualityCheckStepMetadata's members: the step's properties (SageMaker's step metadata of a check).
PROPERTIES = frozenset({
    "BaselineUsedForDriftCheckConstraints", "BaselineUsedForDriftCheckStatistics", "CalculatedBaselineConstraints",
    "CalculatedBaselineStatistics", "CheckJobArn", "CheckType", "ModelPackageGroupName", "RegisterNewBaseline",
    "SkipCheck", "ViolationReport",
})
# SageMaker's defaults for the step's flags when absent or null; the SDK renders FailOnViolation
# (default True) and a ParameterBoolean may stand for any of them.
FLAG_DEFAULTS = {"SkipCheck": False, "RegisterNewBaseline": False, "FailOnViolation": True}


def _keep_baselines(ctx: StepContext, uris: tuple[str | None, str | None]) -> tuple[str | None, str | None]:
    """Copies of the baseline files in the step's folder, as file:// URIs (None stays None)."""
    kept: list[str | None] = []
    for kind, uri in zip(("statistics", "constraints"), uris, strict=True):
        if not uri:
            kept.append(None)
            continue
        source = ctx.work.s3_path(uri)
        target = ctx.sandbox.root / "baseline" / kind / (source.name or f"{kind}.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(source, target)
        except OSError as error:
            raise JobFailed(f"baseline {kind} {uri}: {error.strerror}", "client") from None
        kept.append(f"file://{target}")
    return kept[0], kept[1]


def check_quality_check_step(step: Mapping[str, Any], check: CheckContext) -> None:
    """Before the run: a check type the analyzer computes, the analyzer image, the input and output kinds."""
    name = step.get("Name")
    check_type = step.get("CheckType")
    if check_type not in CHECK_TYPES:
        raise UnsupportedDefinitionError(
            f"step {name!r}: QualityCheck CheckType {check_type!r} is not run locally "
            f"(supported: {', '.join(CHECK_TYPES)}); run this pipeline in SageMaker")
    image = step.get("Arguments", {}).get("AppSpecification", {}).get("ImageUri")
    if isinstance(image, str) and check.images.image_for(image).kind != "monitor":
        raise UnsupportedDefinitionError(f"step {name!r}: a quality check runs the Model Monitor analyzer image")
    check_processing_job(step.get("Arguments", {}), str(name))


def flag(step: Mapping[str, Any], key: str, ctx: StepContext) -> bool:
    """A step flag evaluated (it may be a parameter); absent or null is SageMaker's default."""
    value = evaluate(step.get(key), ctx.scope)
    if value is None:
        return FLAG_DEFAULTS[key]
    if not isinstance(value, bool):
        raise UnsupportedDefinitionError(f"step {step['Name']}: {key} is {value!r}, not a Boolean")
    return value


def run_quality_check_step(step: Mapping[str, Any], job: Mapping[str, Any], ctx: StepContext) -> StepResult:
    name = str(step["Name"])
    check_type = str(step.get("CheckType"))
    if ctx.images.image_for(job["AppSpecification"]["ImageUri"]).kind != "monitor":
        raise UnsupportedDefinitionError(f"step {name}: a quality check runs the Model Monitor analyzer image")
    skip_check, register_new = flag(step, "SkipCheck", ctx), flag(step, "RegisterNewBaseline", ctx)
    supplied = (evaluate(step.get("SuppliedBaselineStatistics"), ctx.scope),
                evaluate(step.get("SuppliedBaselineConstraints"), ctx.scope))
    group = evaluate(step.get("ModelPackageGroupName"), ctx.scope)
    registered: tuple[str | None, str | None] = (None, None)
    if not register_new and not any(supplied) and group:
        registered = registered_baseline(ctx.sagemaker(), str(group), check_type)
    previous = supplied if any(supplied) else registered
    # SageMaker reads the baseline to check against when the job starts; the calculated baseline is
    # uploaded when it ends and may replace the same keys. Kept aside first, so the check sees the old one.
    kept = _keep_baselines(ctx, previous)
    properties = run_processing_job(job, ctx, ctx.sandbox, name)
    produced = output_uris(properties)
    if not produced:
        raise UnsupportedDefinitionError(f"step {name}: the quality check job has no output")
    output = produced[0]
    calculated = (join_s3(output, STATISTICS_FILE), join_s3(output, CONSTRAINTS_FILE))
    result: dict[str, Any] = {
        **properties,
        "CheckType": check_type,
        "SkipCheck": skip_check,
        "RegisterNewBaseline": register_new,
        "CalculatedBaselineStatistics": calculated[0],
        "CalculatedBaselineConstraints": calculated[1],
        "CheckJobArn": properties["ProcessingJobArn"],
    }
    if group:
        result["ModelPackageGroupName"] = group
    used = calculated if register_new else previous
    if used[0]:
        result["BaselineUsedForDriftCheckStatistics"] = used[0]
    if used[1]:
        result["BaselineUsedForDriftCheckConstraints"] = used[1]
    detail = "new baseline"
    if not skip_check:
        if not any(previous):
            raise JobFailed(
                f"no baseline to check against: supply one or register a model in {group!r} first", "client"
            )
        check_sandbox = Sandbox(ctx.sandbox.root / "check")
        check_sandbox.reset()
        check = _check_job(job, kept[0], kept[1])
        local_output = check["ProcessingOutputConfig"]["Outputs"][0]
        check["ProcessingOutputConfig"] = {"Outputs": [{**local_output, "S3Output": {
            **local_output["S3Output"], "S3Uri": join_s3(output, "check")}}]}
        run_processing_job(check, ctx, check_sandbox, name)
        report_uri = join_s3(output, "check", VIOLATIONS_FILE)
        violations = json.loads(ctx.work.s3_path(report_uri).read_text(encoding="utf-8")).get("violations", [])
        result["ViolationReport"] = report_uri
        detail = f"{len(violations)} violation(s) against the previous baseline"
        if violations and flag(step, "FailOnViolation", ctx):
            # Data-quality violations name a feature, model-quality ones a metric.
            listed = "; ".join(f"{v.get('feature_name') or v.get('metric_name')}: {v.get('constraint_check_type')}"
                               for v in violations[:5])
            raise JobFailed(f"ClientError: quality check found {len(violations)} violation(s): {listed}", "client")
    return StepResult(properties=result, detail=detail, produced=list(calculated))


register(StepRunner(type="QualityCheck", run=run_quality_check_step, check=check_quality_check_step,
                    properties=PROPERTIES, job=True, cacheable=True, inputs=input_uris))
