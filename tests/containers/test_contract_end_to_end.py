"""The real step processes in a row: Preprocess with data.schema -> Train with the example inference code
as its `code` channel -> the server on the model folder, which applies both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from containers.contracts.data_schema import SCHEMA_FILE, ColumnSchema, DataSchema
from containers.contracts.model_artifact import load_model_artifact, model_input_frame
from tests.containers.conftest import REPO_ROOT, ServerProcess, make_tabular_frame, run_entry_point

EXAMPLE_CODE = REPO_ROOT / "examples" / "inference_code"
SCHEMA = DataSchema(columns={
    "a": ColumnSchema(type="numeric", min=-6, max=6),
    "b": ColumnSchema(type="numeric", min=-6, max=6),
    "c": ColumnSchema(type="integer", min=0, max=49, required=True),
    "color": ColumnSchema(type="categorical", categories=("red", "green", "blue")),
})


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("contract")
    (base / "raw").mkdir()
    make_tabular_frame(600, seed=8).to_csv(base / "raw" / "data.csv", index=False)
    outputs = {name: base / "out" / name for name in ("train", "validation", "test", "baseline", "report")}
    arguments = ["--input", str(base / "raw"), "--target", "target", "--data-schema", SCHEMA.compact_json()]
    for name, folder in outputs.items():
        arguments += [f"--{name}", str(folder)]
    preprocess = subprocess.run([sys.executable, "-m", "pipelines.steps.preprocess", *arguments], cwd=REPO_ROOT,
                                env={**os.environ, "SAGEMAKER_BASE_DIR": str(base / "ml-pre")},
                                capture_output=True, text=True, timeout=120, check=False)
    assert preprocess.returncode == 0, preprocess.stderr
    job = base / "ml"
    (job / "input" / "config").mkdir(parents=True)
    (job / "input" / "config" / "hyperparameters.json").write_text(json.dumps(
        {"n_estimators": "20", "target": "target", "problem_type": "BinaryClassification"}))
    shutil.copytree(EXAMPLE_CODE, job / "input" / "data" / "inference_code")
    training = run_entry_point("containers.training", "train", {
        "SAGEMAKER_BASE_DIR": str(job), "SM_CHANNEL_TRAIN": str(outputs["train"]),
        "SM_CHANNEL_VALIDATION": str(outputs["validation"]),
    })
    assert training.returncode == 0, training.stderr
    return job / "model"


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., ServerProcess], model_dir: Path) -> ServerProcess:
    running = server_factory(model_dir)
    running.wait_ready()
    return running


def test_model_folder_carries_schema_and_code(model_dir: Path) -> None:
    assert (model_dir / SCHEMA_FILE).is_file()
    assert (model_dir / "code" / "inference.py").read_bytes() == (EXAMPLE_CODE / "inference.py").read_bytes()


def test_custom_input_fn_reads_csv_with_a_header_in_any_column_order(server: ServerProcess, model_dir: Path) -> None:
    rows = make_tabular_frame(10, seed=21).drop(columns="target")
    shuffled = rows[["color", "c", "b", "a"]]
    payload = shuffled.to_csv(index=False, float_format="%.17g").encode()
    status, _, body = server.request("POST", "/invocations", payload,
                                     {"Content-Type": "text/csv; header=present", "Accept": "application/json"})
    assert status == 200, body
    pipeline, metadata = load_model_artifact(model_dir)
    expected = pipeline.predict_proba(model_input_frame(rows, metadata.features))[:, 1]
    got = [item["score"] for item in json.loads(body)["predictions"]]
    np.testing.assert_allclose(got, expected, atol=1e-12)
    status, _, body = server.request("POST", "/invocations", b"0.1,0.2,3,red\n",
                                     {"Content-Type": "text/csv", "Accept": "text/csv"})
    assert status == 200, body


def test_schema_is_enforced_behind_the_custom_input_fn(server: ServerProcess) -> None:
    status, _, body = server.request("POST", "/invocations", b"a,b,c,color\n0.1,0.2,3,red\n0.3,0.1,4,purple\n",
                                     {"Content-Type": "text/csv; header=present"})
    assert status == 400
    answer = json.loads(body)
    assert (answer["column"], answer["row"]) == ("color", 1)
    assert "'purple' not among the allowed categories" in answer["error"]


def test_input_fn_status_code_reaches_the_client(server: ServerProcess) -> None:
    status, _, body = server.request("POST", "/invocations", b'[[0.1, 0.2, 3, "red"]]',
                                     {"Content-Type": "application/json"})
    assert status == 415
    assert "send text/csv, not 'application/json'" in json.loads(body)["error"]
