"""A user's code/inference.py in the model artifact, against the real server process: each handler alone,
transform_fn, and handlers that raise (an answer with the handler's message, never a dead worker)."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from containers.contracts.model_artifact import load_model_artifact, model_input_frame
from tests.containers.conftest import ServerProcess, make_tabular_frame

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return make_tabular_frame(12, seed=5).drop(columns="target")


def model_with_code(source: Path, folder: Path, code: str) -> Path:
    """A copy of the trained model folder with `code` as code/inference.py (as model.tar.gz unpacks)."""
    model_dir = folder / "model"
    shutil.copytree(source, model_dir)
    (model_dir / "code").mkdir()
    (model_dir / "code" / "inference.py").write_text(textwrap.dedent(code), encoding="utf-8")
    return model_dir


def start(server_factory: Callable[..., ServerProcess], model_dir: Path, expect: int = 200) -> ServerProcess:
    server = server_factory(model_dir)
    server.wait_ready(expect=expect)
    return server


def pipeline_probabilities(model_dir: Path, frame: pd.DataFrame) -> np.ndarray:
    pipeline, metadata = load_model_artifact(model_dir)
    return np.asarray(pipeline.predict_proba(model_input_frame(frame, metadata.features)))


def records_body(frame: pd.DataFrame) -> bytes:
    return json.dumps(frame.astype(object).where(frame.notna(), None).to_dict(orient="records")).encode()


def test_custom_input_fn_feeds_the_servers_own_predict_and_output(
    server_factory: Callable[..., ServerProcess], trained_model_dir: Path, tmp_path: Path, rows: pd.DataFrame,
) -> None:
    # A pipe-separated format of the user's own; the server's fast path scores what input_fn returns.
    model_dir = model_with_code(trained_model_dir, tmp_path, '''
        import io
        import pandas as pd

        def input_fn(input_data, content_type):
            if content_type != "application/x-pipe":
                raise ValueError(f"unsupported content type {content_type}")
            return pd.read csv(io.BytesIO(input_data), sep="|", header=None, names=["a", "b", "c", "color"])
    '''.replace("read csv", "read_csv"))
    server = start(server_factory, model_dir)
    body = rows.to_csv(sep="|", header=False, index=False, float_format="%.17g").encode()
    status, headers, answer = server.request("POST", "/invocations", body,
                                             {"Content-Type": "application/x-pipe", "Accept": "application/json"})
    assert status == 200, answer
    assert headers["content-type"] == "application/json"
    got = [item["probabilities"]["1"] for item in json.loads(answer)["predictions"]]
    np.testing.assert_allclose(got, pipeline_probabilities(model_dir, rows)[:, 1], rtol=0, atol=1e-12)
    # input_fn's own error: 400 with its message, and the worker keeps serving.
    status, _, answer = server.request("POST", "/invocations", b"1,2,3,red", JSON_HEADERS)
    assert status == 400
    assert "input_fn failed: ValueError: unsupported content type application/json" in json.loads(answer)["error"]
    assert server.request("GET", "/ping")[0] == 200


def test_custom_predict_fn_gets_the_fitted_pipeline_and_a_dataframe(
    server_factory: Callable[..., ServerProcess], trained_model_dir: Path, tmp_path: Path, rows: pd.DataFrame,
) -> None:
    model_dir = model_with_code(trained_model_dir, tmp_path, '''
        def predict_fn(data, model):
            # The default model_fn gives the pipeline, the default input_fn a DataFrame of the features.
            return model.predict_proba(data)[:, 1] * 100
    ''')
    server = start(server_factory, model_dir)
    status, _, answer = server.request("POST", "/invocations", records_body(rows), JSON_HEADERS)
    assert status == 200, answer
    np.testing.assert_allclose(json.loads(answer), pipeline_probabilities(model_dir, rows)[:, 1] * 100, atol=1e-9)
    status, headers, answer = server.request("POST", "/invocations", records_body(rows),
                                             {"Content-Type": "application/json", "Accept": "text/csv"})
    assert status == 200
    assert headers["content-type"] == "text/csv"
    assert len(answer.decode().splitlines()) == len(rows)


def test_custom_output_fn_sets_body_and_content_type(
    server_factory: Callable[..., ServerProcess], trained_model_dir: Path, tmp_path: Path, rows: pd.DataFrame,
) -> None:
    model_dir = model_with_code(trained_model_dir, tmp_path, '''
        def output_fn(prediction, accept):
            # `prediction` is the server's own Predictions: labels and class probabilities.
            return " ".join(str(label) for label in prediction.values), "text/plain"
    ''')
    server = start(server_factory, model_dir)
    status, headers, answer = server.request("POST", "/invocations", records_body(rows), JSON_HEADERS)
    assert status == 200, answer
    assert headers["content-type"] == "text/plain"
    pipeline, metadata = load_model_artifact(model_dir)
    expected = pipeline.predict(model_input_frame(rows, metadata.features))
    assert answer.decode() == " ".join(str(label) for label in expected)


def test_custom_model_fn_is_called_once_with_the_model_dir_and_predicted_through(
    server_factory: Callable[..., ServerProcess], trained_model_dir: Path, tmp_path: Path, rows: pd.DataFrame,
) -> None:
    model_dir = model_with_code(trained_model_dir, tmp_path, '''
        import os
        import joblib

        class Shifted:
            def __init__(self, pipeline):
                self.pipeline = pipeline
            def predict(self, data):
                return self.pipeline.predict(data) + 10

        def model_fn(model_dir):
            return Shifted(joblib.load(os.path.join(model_dir, "model.joblib")))
    ''')
    server = start(server_factory, model_dir)
    status, _, answer = server.request("POST", "/invocations", records_body(rows), JSON_HEADERS)
    assert status == 200, answer
    pipeline, metadata = load_model_artifact(model_dir)
    assert json.loads(answer) == (pipeline.predict(model_input_frame(rows, metadata.features)) + 10).tolist()


def test_transform_fn_replaces_the_whole_request_path(
    server_factory: Callable[..., ServerProcess], trained_model_dir: Path, tmp_path: Path,
) -> None:
    model_dir = model_with_code(trained_model_dir, tmp_path, '''
        def transform_fn(model, input_data, content_type, accept):
            return f"{type(model).__name__} {len(input_data)} {content_type} {accept}"
    ''')
    server = start(server_factory, model_dir)
    status, headers, answer = server.request("POST", "/invocations", b"anything",
                                             {"Content-Type": "application/octet-stream"})
    assert status == 200, answer
    assert answer == b"Pipeline 8 application/octet-stream application/json"
    assert headers["content-type"] == "application/json"


def test_raising_handlers_answer_with_their_status_and_message_and_the_worker_lives(
    server_factory: Callable[..., ServerProcess], trained_model_dir: Path, tmp_path: Path, rows: pd.DataFrame,
) -> None:
    model_dir = model_with_code(trained_model_dir, tmp_path, '''
        import json

        class Unprocessable(Exception):
            status_code = 422  # as sagemaker_inference.errors.GenericInferenceToolkitError carries it

        def predict_fn(data, model):
            if data["a"].isna().all():
                raise Unprocessable("column a is empty in every row")
            if (data["b"] > 100).any():
                raise RuntimeError("model backend is down")
            return model.predict(data)

        def output_fn(prediction, accept):
            if accept == "text/csv":
                raise KeyError("no CSV today")
            return json.dumps(prediction.tolist())
    ''')
    server = start(server_factory, model_dir)
    pids = server.worker_pids()
    empty_a = rows.assign(a=np.nan)
    cases = [
        (records_body(empty_a), JSON_HEADERS, 422, "predict_fn failed: Unprocessable: column a is empty in every row"),
        (records_body(rows.assign(b=1000.0)), JSON_HEADERS, 500, "predict_fn failed: RuntimeError: model backend"),
        (records_body(rows), {"Content-Type": "application/json", "Accept": "text/csv"}, 500,
         "output_fn failed: KeyError: 'no CSV today'"),
        (b"[[1, 2]]", JSON_HEADERS, 400, "row 0: 2 value(s), the model takes 4"),
    ]
    for body, headers, status, message in cases:
        got, response_headers, answer = server.request("POST", "/invocations", body, headers)
        assert got == status, answer
        assert response_headers["content-type"] == "application/json"
        assert message in json.loads(answer)["error"]
    status, _, answer = server.request("POST", "/invocations", records_body(rows), JSON_HEADERS)
    assert status == 200, answer
    assert server.worker_pids() == pids


def test_inference_py_that_fails_to_import_keeps_ping_503_with_the_reason(
    server_factory: Callable[..., ServerProcess], trained_model_dir: Path, tmp_path: Path,
) -> None:
    model_dir = model_with_code(trained_model_dir, tmp_path, '''
        import a_module_that_is_not_installed
    ''')
    server = start(server_factory, model_dir, expect=503)
    status, _, answer = server.request("GET", "/ping")
    assert status == 503
    error = json.loads(answer)["error"]
    assert "code/inference.py: import failed: ModuleNotFoundError" in error
    assert "a_module_that_is_not_installed" in error


def test_a_custom_predict_fn_result_is_encoded_as_the_accept_asks() -> None:
    # Not our Predictions: the toolkit's default output, for every type the server negotiates.
    import io

    from containers.inference.handlers import default_output

    values = np.array([[0.25, 0.75], [1.0, 0.0]])
    body, kind = default_output(values, "application/jsonlines", "application/json")
    assert kind == "application/jsonlines"
    assert [json.loads(line) for line in body.decode().splitlines()] == [[0.25, 0.75], [1.0, 0.0]]
    body, kind = default_output(values, "application/x-npy", "application/json")
    assert kind == "application/x-npy"
    assert np.array_equal(np.load(io.BytesIO(body), allow_pickle=False), values)
    body, _ = default_output(["yes", "no"], "application/x-npy", "application/json")
    assert np.load(io.BytesIO(body), allow_pickle=False).tolist() == ["yes", "no"]
    body, kind = default_output(values, "text/csv", "application/json")
    assert (body, kind) == (b"0.25,0.75\n1.0,0.0\n", "text/csv")
