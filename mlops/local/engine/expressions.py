"""The definition's expressions, evaluated: `Get`, `Std:Join`, `Std:JsonGet` (conditions.py and
parameters.py beside it hold the condition types and the parameter types).

Mirrors sagemaker/workflow (`properties.py`, `functions.py`): one function per expression type over the
same JSON the SDK renders. Anything else is refused by name, never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops.local.errors import LocalModeError, UnsupportedDefinitionError

GET = "Get"
JOIN = "Std:Join"
JSON_GET = "Std:JsonGet"
EXPRESSIONS = (GET, JOIN, JSON_GET)
EXECUTION_VARIABLES = (
    "PipelineExecutionId", "PipelineExecutionArn", "PipelineName", "PipelineArn", "CurrentDateTime",
)

_TOKEN = re.compile(r"""\.?([A-Za-z0-9_\-]+)|\[(\d+)\]|\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\]""")


class ExpressionError(LocalModeError):
    """An expression whose value cannot be computed (missing property, bad JSON path, type mismatch)."""


@dataclass(frozen=True)
class PropertyFileRef:
    """What `Get: Steps.<step>.PropertyFiles.<name>` stands for: only `Std:JsonGet` can read it."""

    step: str
    name: str


@dataclass
class Scope:
    """Everything an expression can read while a pipeline runs."""

    parameters: Mapping[str, Any]
    execution: Mapping[str, str]
    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Reads the JSON document at an s3:// URI (local mode: a file under the work folder).
    read_json: Callable[[str], Any] = field(default=lambda uri: _cannot_read(uri))  # noqa: PLW0108


def _cannot_read(uri: str) -> Any:
    raise ExpressionError(f"no way to read {uri} in this scope")


# --------------------------------------------------------------------------- paths


def parse_path(path: str) -> list[str | int]:
    """`a.b['x'][0].c` -> ["a", "b", "x", 0, "c"]; ExpressionError for anything else."""
    tokens: list[str | int] = []
    position = 0
    text = path[2:] if path.startswith("$.") else path
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"cannot parse path {path!r} at character {position + 1}")
        name, index, single, double = match.groups()
        if index is not None:
            tokens.append(int(index))
        else:
            tokens.append(next(value for value in (name, single, double) if value is not None))
        position = match.end()
    if not tokens:
        raise ExpressionError(f"empty path {path!r}")
    return tokens


def _select(value: Any, token: str | int, where: str) -> Any:
    if isinstance(token, int):
        if isinstance(value, list) and -len(value) <= token < len(value):
            return value[token]
        raise ExpressionError(f"{where}: no item [{token}]")
    if isinstance(value, Mapping):
        if token in value:
            return value[token]
        raise ExpressionError(f"{where}: no key {token!r} (keys: {', '.join(map(str, value)) or 'none'})")
    if isinstance(value, list):
        # Named lists (Outputs['train'], Channels): the item whose *Name field is the selector.
        for item in value:
            if isinstance(item, Mapping) and any(
                key.endswith("Name") and item[key] == token for key in item
            ):
                return item
        raise ExpressionError(f"{where}: no item named {token!r}")
    raise ExpressionError(f"{where}: cannot select {token!r} from a {type(value).__name__}")


def walk(document: Any, tokens: Sequence[str | int], where: str) -> Any:
    value = document
    for token in tokens:
        value = _select(value, token, where)
    return value


# --------------------------------------------------------------------------- expressions


def get(path: str, scope: Scope) -> Any:
    """`{"Get": "Parameters.X" | "Execution.X" | "Steps.S.<property path>"}`."""
    tokens = parse_path(path)
    root = tokens[0]
    if root == "Parameters" and len(tokens) == 2:
        name = str(tokens[1])
        if name not in scope.parameters:
            raise ExpressionError(f"Get {path!r}: no pipeline parameter {name!r}")
        return scope.parameters[name]
    if root == "Execution" and len(tokens) == 2:
        name = str(tokens[1])
        if name not in scope.execution:
            raise UnsupportedDefinitionError(
                f"Get {path!r}: execution variable {name!r} is not supported locally "
                f"(supported: {', '.join(EXECUTION_VARIABLES)})"
            )
        return scope.execution[name]
    if root == "Steps" and len(tokens) >= 3:
        step = str(tokens[1])
        if step not in scope.properties:
            raise ExpressionError(f"Get {path!r}: step {step!r} has not run (or did not succeed) in this execution")
        if tokens[2] == "PropertyFiles":
            if len(tokens) != 4:
                raise ExpressionError(f"Get {path!r}: expected Steps.<step>.PropertyFiles.<name>")
            return PropertyFileRef(step=step, name=str(tokens[3]))
        return walk(scope.properties[step], tokens[2:], f"Get {path!r}")
    raise UnsupportedDefinitionError(f"Get {path!r}: unsupported reference (Parameters.*, Execution.*, Steps.*)")


def text_of(value: Any) -> str:
    """How Std:Join renders a primitive: JSON spelling for booleans and null, str() otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ExpressionError(f"Std:Join cannot join a {type(value).__name__} ({value!r})")


def join(arguments: Any, scope: Scope) -> str:
    if not isinstance(arguments, Mapping) or "Values" not in arguments:
        raise ExpressionError(f"Std:Join expects {{On, Values}}, got {arguments!r}")
    separator = text_of(evaluate(arguments.get("On", ""), scope))
    values = evaluate(arguments["Values"], scope)
    if not isinstance(values, list):
        raise ExpressionError("Std:Join Values must be a list")
    return separator.join(text_of(value) for value in values)


def property_file_uri(reference: PropertyFileRef, scope: Scope) -> str:
    """The S3 URI of a property file: the step's output of that name plus the file's path."""
    properties = scope.properties[reference.step]
    declared = {item["PropertyFileName"]: item for item in properties.get("PropertyFiles", [])}
    if reference.name not in declared:
        raise ExpressionError(f"step {reference.step!r} declares no property file {reference.name!r}")
    spec = declared[reference.name]
    outputs = properties.get("ProcessingOutputConfig", {}).get("Outputs", [])
    output = next((item for item in outputs if item.get("OutputName") == spec["OutputName"]), None)
    if output is None:
        raise ExpressionError(
            f"property file {reference.name!r} of step {reference.step!r} names output {spec['OutputName']!r}, "
            "which the step does not have"
        )
    return str(output["S3Output"]["S3Uri"]).rstrip("/") + "/" + str(spec["FilePath"]).lstrip("/")


def json_get(arguments: Any, scope: Scope) -> Any:
    """`Std:JsonGet` on a property file (`PropertyFile`) or a JSON file by URI (`S3Uri`)."""
    if not isinstance(arguments, Mapping) or "Path" not in arguments:
        raise ExpressionError(f"Std:JsonGet expects {{PropertyFile|S3Uri, Path}}, got {arguments!r}")
    if "PropertyFile" in arguments:
        reference = evaluate(arguments["PropertyFile"], scope)
        if not isinstance(reference, PropertyFileRef):
            raise ExpressionError(
                f"Std:JsonGet PropertyFile must be Get Steps.<step>.PropertyFiles.<name>: {reference!r}"
            )
        uri = property_file_uri(reference, scope)
    elif "S3Uri" in arguments:
        uri = text_of(evaluate(arguments["S3Uri"], scope))
    else:
        raise ExpressionError("Std:JsonGet needs PropertyFile or S3Uri")
    path = text_of(evaluate(arguments["Path"], scope))
    document = scope.read_json(uri)
    return walk(document, parse_path(path), f"Std:JsonGet {path!r} in {uri}")


def evaluate(node: Any, scope: Scope) -> Any:
    """The value of a definition fragment with every expression in it computed."""
    if isinstance(node, list):
        return [evaluate(item, scope) for item in node]
    if not isinstance(node, Mapping):
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == GET:
            if not isinstance(value, str):
                raise ExpressionError(f"Get expects a string path, got {value!r}")
            return get(value, scope)
        if key == JOIN:
            return join(value, scope)
        if key == JSON_GET:
            return json_get(value, scope)
        if key.startswith("Std:"):
            raise UnsupportedDefinitionError(
                f"expression {key!r} is not supported (supported: {', '.join(EXPRESSIONS)})"
            )
    return {key: evaluate(value, scope) for key, value in node.items()}


def expressions_in(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (expression key, argument) pair in a fragment, for checking a definition before it runs."""
    if isinstance(node, list):
        for item in node:
            yield from expressions_in(item)
    elif isinstance(node, Mapping):
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == GET or key.startswith("Std:"):
                yield key, value
                yield from expressions_in(value)
                return
        for value in node.values():
            yield from expressions_in(value)
