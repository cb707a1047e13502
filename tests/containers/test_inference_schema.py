"""The data contract at serving: a model that ships data-schema.json refuses requests that break it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from containers.contracts.data_schema import SCHEMA_FILE, ColumnSchema, DataSchema
from tests.containers.conftest import ServerProcess

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
SCHEMA = DataSchema(columns={
    "a": ColumnSchema(type="numeric", min=-5, max=5),
    "b": ColumnSchema(type="numeric", required=True),
    "c": ColumnSchema(type="integer", min=0, max=49),
    "color": ColumnSchema(type="categorical", categories=("red", "green", "blue")),
})
GOOD: list[list[object]] = [[0.1, 0.2, 3, "red"], [None, -1.0, 0, None]]


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., ServerProcess], trained_model_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    model_dir = tmp_path_factory.mktemp("schema-model") / "model"
    shutil.copytree(trained_model_dir, model_dir)
    (model_dir / SCHEMA_FILE).write_text(SCHEMA.to_json())
    running = server_factory(model_dir)
    running.wait_ready()
    return running


def invoke(server: ServerProcess, rows: list[list[object]]) -> tuple[int, dict[str, object]]:
    status, _, body = server.request("POST", "/invocations", json.dumps({"instances": rows}).encode(), JSON_HEADERS)
    return status, json.loads(body)


def test_rows_within_the_schema_are_scored(server: ServerProcess) -> None:
    status, body = invoke(server, GOOD)
    assert status == 200, body
    assert len(body["predictions"]) == 2  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ([0.1, 0.2, 3, "purple"], "color", "column 'color' row 1: 'purple' not among the allowed categories"),
        ([9.0, 0.2, 3, "red"], "a", "column 'a' row 1: 9.0 is above the maximum 5"),
        ([0.1, None, 3, "red"], "b", "column 'b' row 1: value is required but missing"),
        ([0.1, 0.2, 2.5, "red"], "c", "column 'c' row 1: 2.5 is not a whole number (integer)"),
    ],
    ids=["category", "range", "required", "integer"],
)
def test_a_row_breaking_the_schema_gets_400_naming_column_and_row(
    server: ServerProcess, row: list[object], column: str, message: str,
) -> None:
    status, body = invoke(server, [GOOD[0], row])
    assert status == 400
    assert body["column"] == column
    assert body["row"] == 1
    assert message in str(body["error"])


def test_csv_requests_are_checked_too(server: ServerProcess) -> None:
    status, _, body = server.request("POST", "/invocations", b"0.1,0.2,3,red\n0.1,0.2,77,red\n",
                                     {"Content-Type": "text/csv"})
    assert status == 400
    assert json.loads(body)["column"] == "c"
