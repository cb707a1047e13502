"""The definition against the published pipeline-definition JSON schema, minus named, known deviations.

The schema (tests/fixtures/sagemaker/pipeline-definition.schema.json) is older than the SDK. Each deviation
below says where the SDK's output goes beyond it and why that is accepted; a test checks that each
one still occurs, so the list cannot go stale, and everything else must validate.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from pipelines.definition_json import iter_steps
from tests.fixtures import SAGEMAKER_REFERENCE

SCHEMA_FILE = SAGEMAKER_REFERENCE / "pipeline-definition.schema.json"
DROP = object()


@dataclass(frozen=True)
class Deviation:
    """Where the SDK's output differs from the schema: a path per step type, and what to do there."""

    name: str
    reason: str
    step_types: tuple[str, ...]  # empty: the path starts at the top of the definition
    paths: tuple[tuple[str, ...], ...]  # "*" matches every key of a dict / item of a list
    applies: Callable[[Any], bool]  # whether the value found is the deviation
    replace: Callable[[Any], Any]  # the schema-conforming stand-in, or DROP to delete the key


def _always(_: Any) -> bool:
    return True


def _drop(_: Any) -> Any:
    return DROP


def _is_function(name: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, dict) and set(value) == {name}


def _stand_in(name: str) -> Callable[[Any], Any]:
    return lambda _value: f"<{name} resolved at run time>"


def _first_exception_type(value: Any) -> Any:
    # The schema knows one exception type per policy; each listed one must still be a known type.
    return value[0]


PROCESSING_LIKE = ("Processing", "QualityCheck")
JOIN = "Std:Join"

DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "PipelineExperimentConfig",
        "the SDK adds the default experiment config (pipeline name / execution id); SageMaker accepts it",
        (), (("PipelineExperimentConfig",),), _always, _drop,
    ),
    Deviation(
        "AppManaged",
        "ProcessingInput/ProcessingOutput.AppManaged is part of the CreateProcessingJob API, newer than the schema",
        PROCESSING_LIKE,
        (("Arguments", "ProcessingInputs", "*", "AppManaged"),
         ("Arguments", "ProcessingOutputConfig", "Outputs", "*", "AppManaged")),
        _always, _drop,
    ),
    Deviation(
        "RetryPolicies ExceptionType list",
        "the SDK and the service take a list of exception types per policy; the schema allows one string",
        ("Processing", "Training"), (("RetryPolicies", "*", "ExceptionType"),),
        lambda value: isinstance(value, list), _first_exception_type,
    ),
    Deviation(
        "Std:Join S3 URIs",
        "output locations are joined from the bucket, the execution id and the step name at run time; "
        "the schema's StringArgumentValue only knows literals and Get (its JoinFunction lacks On)",
        ("Processing", "QualityCheck", "Training", "RegisterModel"),
        (("Arguments", "ProcessingOutputConfig", "Outputs", "*", "S3Output", "S3Uri"),
         ("Arguments", "OutputDataConfig", "S3OutputPath"),
         ("Arguments", "ModelMetrics", "*", "*", "S3Uri")),
        _is_function(JOIN), _stand_in(JOIN),
    ),
    Deviation(
        "QualityCheck FailOnViolation",
        "QualityCheckStep always renders FailOnViolation (SDK >= 2.x); the schema predates it",
        ("QualityCheck",), (("FailOnViolation",),), _always, _drop,
    ),
    Deviation(
        "QualityCheck null supplied baselines",
        "no supplied baseline (the first run registers a new one): the SDK writes null instead of omitting",
        ("QualityCheck",), (("SuppliedBaselineStatistics",), ("SuppliedBaselineConstraints",)),
        lambda value: value is None, _drop,
    ),
    Deviation(
        "Training ProfilerConfig",
        "disable_profiler=True renders ProfilerConfig.DisableProfiler, a CreateTrainingJob field the schema lacks",
        ("Training",), (("Arguments", "ProfilerConfig"),), _always, _drop,
    ),
    Deviation(
        "Training Environment",
        "the Train step passes the MLflow tracking URI, experiment and execution ARN (issue 16) in "
        "CreateTrainingJob's Environment, a field the schema's Training step lacks",
        ("Training",), (("Arguments", "Environment"),), _always, _drop,
    ),
    Deviation(
        "PropertyFiles",
        "the evaluation report is declared as a PropertyFile so the condition can read it (Std:JsonGet)",
        ("Processing",), (("PropertyFiles",),), _always, _drop,
    ),
    Deviation(
        "Std:JsonGet LeftValue",
        "the quality gate reads the metric from the evaluation PropertyFile; the schema has no Std:JsonGet",
        ("Condition",), (("Arguments", "Conditions", "*", "LeftValue"),),
        _is_function("Std:JsonGet"), _stand_in("Std:JsonGet"),
    ),
    Deviation(
        "RegisterModel container Environment",
        "Model.register renders an (empty) Environment per container; CreateModelPackage accepts it",
        ("RegisterModel",), (("Arguments", "InferenceSpecification", "Containers", "*", "Environment"),),
        _always, _drop,
    ),
    Deviation(
        "RegisterModel ModelApprovalStatus",
        "versions are registered as PendingManualApproval (a literal, issue 12); the schema's RegisterModel step "
        "has no such field",
        ("RegisterModel",), (("Arguments", "ModelApprovalStatus"),), _always, _drop,
    ),
    Deviation(
        "RegisterModel DriftCheckBaselines",
        "registered versions carry the data-quality baseline that monitoring compares against",
        ("RegisterModel",), (("Arguments", "DriftCheckBaselines"),), _always, _drop,
    ),
    Deviation(
        "RegisterModel SkipModelValidation",
        "newer CreateModelPackage field the SDK always renders ('None')",
        ("RegisterModel",), (("Arguments", "SkipModelValidation"),), _always, _drop,
    ),
    Deviation(
        "RegisterModel CustomerMetadataProperties",
        "the version's lineage (issue 16): a CreateModelPackage field the schema's RegisterModel step lacks",
        ("RegisterModel",), (("Arguments", "CustomerMetadataProperties"),), _always, _drop,
    ),
    Deviation(
        "RegisterModel ModelCard",
        "the version is created with its model card (issue 16): a CreateModelPackage field the schema lacks, "
        "its content joined at run time",
        ("RegisterModel",), (("Arguments", "ModelCard"),), _always, _drop,
    ),
    Deviation(
        "Std:Join ModelPackageDescription",
        "the description names the data hash and input URI of the run (lineage), joined at run time",
        ("RegisterModel",), (("Arguments", "ModelPackageDescription"),), _is_function(JOIN), _stand_in(JOIN),
    ),
    Deviation(
        "Std:Join ErrorMessage",
        "the Fail step's message names the metric, its value and the threshold, joined at run time",
        ("Fail",), (("Arguments", "ErrorMessage"),), _is_function(JOIN), _stand_in(JOIN),
    ),
)


def _matches(node: Any, path: tuple[str, ...]) -> Iterator[tuple[Any, Any]]:
    """(container, key) pairs where `path` ends inside `node`."""
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list) and head == "*":
        keys = list(range(len(node)))
    else:
        keys = []
    for key in keys:
        if rest:
            yield from _matches(node[key], rest)
        else:
            yield node, key


def apply_deviation(definition: dict[str, Any], deviation: Deviation) -> int:
    """Replace (in place) each occurrence of the deviation; return how many there were."""
    roots = [definition] if not deviation.step_types else [
        step for step in iter_steps(definition) if step["Type"] in deviation.step_types
    ]
    count = 0
    for root in roots:
        for path in deviation.paths:
            for container, key in list(_matches(root, path)):
                if not deviation.applies(container[key]):
                    continue
                replacement = deviation.replace(container[key])
                if replacement is DROP:
                    del container[key]
                else:
                    container[key] = replacement
                count += 1
    return count


def without_deviations(definition: dict[str, Any]) -> dict[str, Any]:
    cleaned = copy.deepcopy(definition)
    for deviation in DEVIATIONS:
        apply_deviation(cleaned, deviation)
    return cleaned


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> list[str]:
    problems = []
    for error in validator.iter_errors(document):
        best = jsonschema.exceptions.best_match(error.context) if error.context else error
        problems.append(f"{'/'.join(map(str, best.absolute_path))}: {best.message[:300]}")
    return problems


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_definition_validates_against_schema_after_named_deviations(
    definitions: dict[str, dict[str, Any]], validator: jsonschema.Draft7Validator, env_name: str
) -> None:
    assert _errors(validator, without_deviations(definitions[env_name])) == []


@pytest.mark.parametrize("deviation", DEVIATIONS, ids=[deviation.name for deviation in DEVIATIONS])
def test_each_listed_deviation_really_occurs(definitions: dict[str, dict[str, Any]], deviation: Deviation) -> None:
    assert apply_deviation(copy.deepcopy(definitions["dev"]), deviation) > 0, f"{deviation.name} no longer occurs"


@pytest.mark.parametrize("deviation", DEVIATIONS, ids=[deviation.name for deviation in DEVIATIONS])
def test_each_deviation_is_needed_for_validation(
    definitions: dict[str, dict[str, Any]], validator: jsonschema.Draft7Validator, deviation: Deviation
) -> None:
    # Everything but this one deviation removed: the schema must still object, so the entry is real.
    cleaned = copy.deepcopy(definitions["dev"])
    for other in DEVIATIONS:
        if other is not deviation:
            apply_deviation(cleaned, other)
    assert _errors(validator, cleaned), f"{deviation.name} is accepted by the schema; drop it from the list"


def test_retry_exception_types_are_all_known_to_the_schema(
    definitions: dict[str, dict[str, Any]], validator: jsonschema.Draft7Validator
) -> None:
    known = set(validator.schema["definitions"]["RetryPolicy"]["properties"]["ExceptionType"]["enum"])
    listed = {
        exception
        for step in iter_steps(definitions["dev"])
        for policy in step.get("RetryPolicies", [])
        for exception in policy["ExceptionType"]
    }
    assert listed
    assert listed <= known
