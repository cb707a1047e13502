"""data.schema reaches Preprocess inside the definition, in pieces a processing job accepts."""

from __future__ import annotations

import json
from typing import Any

from config.settings import EnvironmentConfig, load_environment
from containers.contracts.data_schema import ColumnSchema, DataSchema, parse_schema
from pipelines.contract import CONTAINER_ARGUMENT_LIMIT, PREPROCESS, data_schema_arguments
from pipelines.definition_json import iter_steps


def _with_schema(schema: DataSchema) -> EnvironmentConfig:
    env = load_environment("dev")
    return env.model_copy(update={"data": env.data.model_copy(update={"data_schema": schema})})


# Enough columns that the JSON is several times the 256-character argument limit.
BIG = DataSchema(columns={f"feature_{i:02d}": ColumnSchema(type="numeric", min=-1000, max=1000, required=True)
                          for i in range(30)})


def test_schema_arguments_are_pieces_under_the_limit_that_join_to_the_schema() -> None:
    arguments = data_schema_arguments(_with_schema(BIG))
    flags, pieces = arguments[0::2], arguments[1::2]
    assert set(flags) == {"--data-schema"}
    assert len(pieces) > 3
    assert all(len(piece) <= CONTAINER_ARGUMENT_LIMIT for piece in pieces)
    assert parse_schema("".join(pieces)) == BIG


def test_without_a_schema_preprocess_gets_no_schema_argument(definitions: dict[str, dict[str, Any]]) -> None:
    preprocess = next(step for step in iter_steps(definitions["dev"]) if step["Name"] == PREPROCESS)
    assert "--data-schema" not in preprocess["Arguments"]["AppSpecification"]["ContainerArguments"]


def test_the_built_definition_carries_the_schema_to_preprocess() -> None:
    from pipelines.definition import build_pipeline_definition

    definition = build_pipeline_definition(_with_schema(BIG), image_tag="test")
    preprocess = next(step for step in iter_steps(definition) if step["Name"] == PREPROCESS)
    arguments = preprocess["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert all(isinstance(item, str) and len(item) <= CONTAINER_ARGUMENT_LIMIT for item in arguments)
    start = arguments.index("--data-schema")
    pieces = arguments[start + 1::2]
    assert json.loads("".join(pieces)) == json.loads(BIG.compact_json())
