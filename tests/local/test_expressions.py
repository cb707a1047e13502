"""The expression evaluator: Get, Std:Join, Std:JsonGet, conditions and parameter types."""

from __future__ import annotations

from typing import Any

import pytest

from mlops.local.engine.conditions import condition_holds
from mlops.local.engine.expressions import ExpressionError, Scope, evaluate, parse_path
from mlops.local.engine.parameters import convert_parameter, resolve_parameters
from mlops.local.errors import UnsupportedDefinitionError

PROPERTIES: dict[str, dict[str, Any]] = {
    "Prep": {
        "ProcessingOutputConfig": {"Outputs": [
            {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/run/Prep/train"}},
            {"OutputName": "test", "S3Output": {"S3Uri": "s3://b/run/Prep/test"}},
        ]},
        "PropertyFiles": [{"PropertyFileName": "Report", "OutputName": "test", "FilePath": "report.json"}],
    },
    "Train": {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/run/Train/model.tar.gz"}},
}
FILES = {"s3://b/run/Prep/test/report.json": {"metrics": {"auc": {"value": 0.91}}, "items": [{"v": 3}]}}


def scope(**parameters: Any) -> Scope:
    def read_json(uri: str) -> Any:
        return FILES[uri]

    return Scope(parameters={"Threshold": 0.9, "Name": "x", **parameters},
                 execution={"PipelineExecutionId": "exec1", "PipelineName": "demo"},
                 properties=PROPERTIES, read_json=read_json)


def test_get_reads_parameters_execution_variables_and_step_properties() -> None:
    node = {
        "a": {"Get": "Parameters.Threshold"},
        "b": {"Get": "Execution.PipelineExecutionId"},
        "c": {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"},
        "d": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
        "e": [{"Get": "Steps.Prep.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri"}],
    }
    assert evaluate(node, scope()) == {
        "a": 0.9, "b": "exec1", "c": "s3://b/run/Prep/test", "d": "s3://b/run/Train/model.tar.gz",
        "e": ["s3://b/run/Prep/train"],
    }


def test_get_of_a_missing_property_names_it() -> None:
    with pytest.raises(ExpressionError, match="Nope"):
        evaluate({"Get": "Steps.Train.ModelArtifacts.Nope"}, scope())
    with pytest.raises(ExpressionError, match="has not run"):
        evaluate({"Get": "Steps.Later.Anything"}, scope())


def test_join_renders_numbers_booleans_and_nested_expressions() -> None:
    node = {"Std:Join": {"On": "/", "Values": ["s3://b", {"Get": "Execution.PipelineExecutionId"}, 3, True,
                                                  {"Get": "Parameters.Threshold"}]}}
    assert evaluate(node, scope()) == "s3://b/exec1/3/true/0.9"


def test_json_get_reads_a_property_file_by_json_path() -> None:
    def json_get(path: str) -> Any:
        return evaluate({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Report"},
                                         "Path": path}}, scope())

    assert json_get("metrics.auc.value") == 0.91
    assert json_get("$.items[0].v") == 3
    with pytest.raises(ExpressionError, match="missing"):
        json_get("metrics.missing.value")


def test_json_get_by_s3_uri() -> None:
    node = {"Std:JsonGet": {"S3Uri": "s3://b/run/Prep/test/report.json", "Path": "metrics['auc'].value"}}
    assert evaluate(node, scope()) == 0.91


def test_unknown_expression_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedDefinitionError, match="Std:Split"):
        evaluate({"Std:Split": {"On": ","}}, scope())
    with pytest.raises(UnsupportedDefinitionError, match="TrainingJobName"):
        evaluate({"Get": "Execution.TrainingJobName"}, scope())


@pytest.mark.parametrize(
    ("kind", "left", "right", "expected"),
    [
        ("Equals", "a", "a", True), ("Equals", 1, 1.0, True), ("Equals", "a", "b", False),
        ("GreaterThan", 0.95, 0.9, True), ("GreaterThan", 0.9, 0.9, False),
        ("GreaterThanOrEqualTo", 0.9, 0.9, True), ("LessThan", 1, 2, True), ("LessThan", 2, 2, False),
        ("LessThanOrEqualTo", 2, 2, True), ("LessThanOrEqualTo", 3, 2, False),
    ],
)
def test_comparison_conditions(kind: str, left: Any, right: Any, expected: bool) -> None:
    assert condition_holds({"Type": kind, "LeftValue": left, "RightValue": right}, scope()) is expected


def test_in_not_and_or_conditions() -> None:
    in_list = {"Type": "In", "QueryValue": {"Get": "Parameters.Name"}, "Values": ["y", "x"]}
    below = {"Type": "LessThan", "LeftValue": {"Get": "Parameters.Threshold"}, "RightValue": 0.5}
    assert condition_holds(in_list, scope())
    assert not condition_holds(in_list, scope(Name="z"))
    assert condition_holds({"Type": "Not", "Condition": below}, scope())
    assert condition_holds({"Type": "Or", "Conditions": [below, in_list]}, scope())
    assert not condition_holds({"Type": "Or", "Conditions": [below]}, scope())


def test_comparing_a_number_with_text_is_an_error_not_false() -> None:
    with pytest.raises(ExpressionError, match="cannot compare"):
        condition_holds({"Type": "GreaterThan", "LeftValue": "high", "RightValue": 0.5}, scope())


def test_unknown_condition_type_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedDefinitionError, match="Between"):
        condition_holds({"Type": "Between", "LeftValue": 1, "RightValue": 2}, scope())


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [("String", "abc", "abc"), ("Integer", "42", 42), ("Float", "0.25", 0.25), ("Boolean", "TRUE", True),
     ("Boolean", "false", False)],
)
def test_parameter_overrides_are_converted_to_their_type(kind: str, text: str, value: Any) -> None:
    assert convert_parameter("P", kind, text) == value


@pytest.mark.parametrize(("kind", "text"), [("Integer", "4.5"), ("Float", "nan"), ("Boolean", "yes")])
def test_bad_parameter_values_name_the_parameter(kind: str, text: str) -> None:
    with pytest.raises(ExpressionError, match=f"'P' is a{'n' if kind == 'Integer' else ''} {kind}"):
        convert_parameter("P", kind, text)


def test_resolve_parameters_uses_defaults_and_refuses_unknown_names() -> None:
    declared: list[dict[str, Any]] = [{"Name": "Count", "Type": "Integer", "DefaultValue": 1},
                {"Name": "Mode", "Type": "String", "DefaultValue": "a", "EnumValues": ["a", "b"]}]
    assert resolve_parameters(declared, {"Count": "3"}) == {"Count": 3, "Mode": "a"}
    with pytest.raises(ExpressionError, match="'Other' is not a pipeline parameter"):
        resolve_parameters(declared, {"Other": "1"})
    with pytest.raises(ExpressionError, match="one of a, b"):
        resolve_parameters(declared, {"Mode": "c"})


def test_parse_path_reads_names_indexes_and_quoted_keys() -> None:
    assert parse_path("Outputs['train'].S3Output[0].x") == ["Outputs", "train", "S3Output", 0, "x"]
    with pytest.raises(ExpressionError):
        parse_path("a..b[")
