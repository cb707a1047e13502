"""`mlops endpoint check`: the deployed endpoint serves the intended version and answers a sample correctly.

The route's smoke test after each deploy. It fails when the endpoint is not InService, when any variant
serves another model package version than the intended one (an update that rolled back by itself), or
when a sample of the test split gets an answer of the wrong shape.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from config.naming import Names
from config.settings import EnvironmentConfig, ProblemType
from mlops import registry
from mlops.errors import MlopsError

SAMPLE_ROWS = 5


class EndpointCheckError(MlopsError):
    """The endpoint is missing, not in service, serves another version or answers with the wrong shape."""


@dataclass(frozen=True)
class ServedVariant:
    variant: str
    model: str
    package_arn: str
    version: int


@dataclass(frozen=True)
class Sample:
    """Feature rows as the endpoint takes them (CSV, no header) and the labels the answer may contain."""

    body: bytes
    rows: int
    labels: frozenset[str]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def served_variants(sm: Any, endpoint: str) -> list[ServedVariant]:
    """Endpoint -> endpoint config -> model -> ModelPackageName, per production variant."""
    try:
        described = sm.describe_endpoint(EndpointName=endpoint)
    except ClientError as error:
        if _code(error) in ("ValidationException", "ResourceNotFound"):
            raise EndpointCheckError(f"endpoint {endpoint} does not exist (was it deployed with -c model_version=N?)"
                                     ) from None
        raise
    status = described.get("EndpointStatus", "Unknown")
    if status != "InService":
        reason = described.get("FailureReason") or "no reason given"
        raise EndpointCheckError(f"endpoint {endpoint} is {status}, not InService: {reason}")
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    variants = []
    for variant in config.get("ProductionVariants", []):
        model = sm.describe_model(ModelName=variant["ModelName"])
        containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
        package = str(containers[0].get("ModelPackageName") or "")
        if ":model-package/" not in package:
            raise EndpointCheckError(f"endpoint {endpoint}, variant {variant['VariantName']}: model "
                                     f"{variant['ModelName']} is not built from a model package version")
        variants.append(ServedVariant(variant["VariantName"], variant["ModelName"], package,
                                      int(package.rsplit("/", 1)[1])))
    if not variants:
        raise EndpointCheckError(f"endpoint {endpoint}: its config {described['EndpointConfigName']} has no variants")
    return variants


def intended_version(sm: Any, env: EnvironmentConfig, requested: int | None) -> int:
    """The version the route deployed: `--version N`, else the newest Approved one (what its synth read)."""
    if requested is not None:
        return requested
    group = Names.of(env).model_package_group
    approved = registry.list_versions(sm, group, status=registry.APPROVED)
    if not approved:
        raise EndpointCheckError(f"model package group {group} has no Approved version: nothing should be served")
    return max(version.version for version in approved)


def check_version(variants: Sequence[ServedVariant], endpoint: str, intended: int) -> None:
    wrong = [variant for variant in variants if variant.version != intended]
    if wrong:
        served = ", ".join(f"{v.variant} serves version {v.version}" for v in wrong)
        raise EndpointCheckError(f"endpoint {endpoint} does not serve the intended version {intended}: {served} "
                                 "(an update that rolled back, or a deploy that did not happen)")


def default_sample(env: EnvironmentConfig, rows: int = SAMPLE_ROWS) -> Sample:
    """The first rows of the bundled data set's test split, as the pipeline's preprocess step cuts it."""
    if env.data.input_uri:
        raise EndpointCheckError(f"environment {env.name!r} trains on {env.data.input_uri}: pass a sample with "
                                 "--payload FILE (CSV feature rows without header)")
    from pipelines.datasets import default_dataset  # pandas + sklearn: on demand
    from pipelines.steps.preprocess import split

    target = env.data.target
    test = split(default_dataset(target), target, env.data.problem_type.value)["test"].head(rows)
    labels = frozenset(str(value) for value in default_dataset(target)[target].unique())
    body = test.drop(columns=[target]).to_csv(index=False, header=False).encode()
    return Sample(body=body, rows=len(test), labels=labels)


def invoke(runtime: Any, endpoint: str, sample: Sample) -> str:
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv",
                                     Body=sample.body)
    return str(answer["Body"].read().decode("utf-8"))


def check_answer(answer: str, sample: Sample, problem_type: ProblemType, endpoint: str) -> None:
    """One line per row: `label,p0,p1,...` (probabilities summing to 1) or a number for regression."""
    lines = list(csv.reader(io.StringIO(answer)))
    if len(lines) != sample.rows:
        raise EndpointCheckError(f"endpoint {endpoint} answered {len(lines)} line(s) for {sample.rows} row(s)")
    for number, fields in enumerate(lines, start=1):
        where = f"endpoint {endpoint}, answer line {number}"
        if problem_type is ProblemType.REGRESSION:
            if len(fields) != 1 or not _is_number(fields[0]):
                raise EndpointCheckError(f"{where}: expected one number, got {','.join(fields)!r}")
            continue
        label, *probabilities = fields
        if sample.labels and label not in sample.labels:
            raise EndpointCheckError(f"{where}: label {label!r} is not one of {sorted(sample.labels)}")
        if len(probabilities) < 2 or not all(_is_number(p) for p in probabilities):
            raise EndpointCheckError(f"{where}: expected label,probability,probability..., got {','.join(fields)!r}")
        total = sum(float(p) for p in probabilities)
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise EndpointCheckError(f"{where}: probabilities sum to {total}, not 1")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


@dataclass(frozen=True)
class CheckResult:
    endpoint: str
    version: int
    rows: int


def check_endpoint(sm: Any, runtime: Any, env: EnvironmentConfig, *, version: int | None = None,
                   sample: Sample | None = None) -> CheckResult:
    """The smoke test: intended version served by every variant, then a sample answered in shape."""
    endpoint = Names.of(env).endpoint
    intended = intended_version(sm, env, version)
    check_version(served_variants(sm, endpoint), endpoint, intended)
    chosen = sample or default_sample(env)
    check_answer(invoke(runtime, endpoint, chosen), chosen, env.data.problem_type, endpoint)
    return CheckResult(endpoint=endpoint, version=intended, rows=chosen.rows)
