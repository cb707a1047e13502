"""Real SageMaker clients against the real server on loopback: boto3's sagemaker-runtime
`invoke_endpoint` (the runtime's path, headers and error shapes), the SDK's Predictor with its
serializers, and the x-npy / JSON Lines formats."""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError

from containers.contracts.capture import parse_capture_line
from containers.contracts.model_artifact import load_model_artifact, model_input_frame
from pipelines import sdk  # noqa: F401  (imported before the SDK: sets SAGEMAKER_SUPPRESS_V2_WARNING, quiets its loggers)
from tests.containers.conftest import ServerProcess, make_tabular_frame

ENDPOINT = "runtime-test-endpoint"
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("capture")


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., ServerProcess], trained_model_dir: Path, capture_dir: Path) -> ServerProcess:
    running = server_factory(trained_model_dir, MLOPS_CAPTURE_DIR=str(capture_dir), MLOPS_ENDPOINT_NAME=ENDPOINT)
    running.wait_ready()
    return running


@pytest.fixture(scope="module")
def runtime(server: ServerProcess) -> Any:
    return boto3.client("sagemaker-runtime", endpoint_url=f"http://127.0.0.1:{server.port}", region_name=REGION,
                        aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return make_tabular_frame(12, seed=5).drop(columns="target")


def expected(model_dir: Path, frame: pd.DataFrame) -> tuple[list[Any], np.ndarray]:
    pipeline, metadata = load_model_artifact(model_dir)
    data = model_input_frame(frame, metadata.features)
    return list(pipeline.predict(data)), pipeline.predict_proba(data)


def csv_body(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(header=False, index=False, float_format="%.17g").encode()


def text_array(frame: pd.DataFrame) -> np.ndarray:
    """Rows as a text array (the model has a categorical feature); a missing value is an empty field."""
    return np.array(frame.astype(object).where(frame.notna(), "").astype(str).to_numpy(), dtype=str)


def npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def test_invoke_endpoint_csv(runtime: Any, rows: pd.DataFrame, trained_model_dir: Path) -> None:
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=csv_body(rows), ContentType="text/csv",
                                     Accept="text/csv")
    assert answer["ContentType"] == "text/csv"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    labels, probabilities = expected(trained_model_dir, rows)
    lines = answer["Body"].read().decode().splitlines()
    assert [int(line.split(",")[0]) for line in lines] == labels
    assert [float(line.split(",")[2]) for line in lines] == pytest.approx(probabilities[:, 1].tolist())


def test_invoke_endpoint_json(runtime: Any, rows: pd.DataFrame, trained_model_dir: Path) -> None:
    records = json.loads(rows.to_json(orient="records"))
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=json.dumps({"instances": records}),
                                     ContentType="application/json", Accept="application/json")
    assert answer["ContentType"] == "application/json"
    labels, _ = expected(trained_model_dir, rows)
    assert [p["predicted_label"] for p in json.loads(answer["Body"].read())["predictions"]] == labels


def test_invoke_endpoint_npy_in_and_out(runtime: Any, rows: pd.DataFrame, trained_model_dir: Path) -> None:
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=npy(text_array(rows)),
                                     ContentType="application/x-npy", Accept="application/x-npy")
    assert answer["ContentType"] == "application/x-npy"
    table = np.load(io.BytesIO(answer["Body"].read()), allow_pickle=False)
    labels, probabilities = expected(trained_model_dir, rows)
    assert table.dtype == np.float64
    assert table.shape == (len(rows), 3)
    assert table[:, 0].astype(int).tolist() == labels
    np.testing.assert_allclose(table[:, 1:], probabilities)


def test_custom_attributes_and_inference_id_round_trip(runtime: Any, rows: pd.DataFrame, capture_dir: Path) -> None:
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=csv_body(rows.head(1)), ContentType="text/csv",
                                     CustomAttributes="trace=abc-123", InferenceId="req-42",
                                     TargetVariant="AllTraffic")
    assert answer["CustomAttributes"] == "trace=abc-123"
    records = [parse_capture_line(line) for path in capture_dir.rglob("*.jsonl")
               for line in path.read_text().splitlines()]
    assert "req-42" in [record.event_metadata.inference_id for record in records]


def test_model_error_has_the_runtime_shape(runtime: Any) -> None:
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=b"1,2\n", ContentType="text/csv")
    error = raised.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert "row 0" in json.loads(error["OriginalMessage"])["error"]
    assert error["Error"]["Message"].startswith("Received client error (400) from primary")
    assert isinstance(raised.value, runtime.exceptions.ModelError)


def test_pickled_npy_is_refused(runtime: Any, rows: pd.DataFrame) -> None:
    body = npy(rows.to_numpy(dtype=object), allow_pickle=True)
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=body, ContentType="application/x-npy")
    assert raised.value.response["OriginalStatusCode"] == 400
    assert "pickled" in raised.value.response["OriginalMessage"]


@pytest.mark.parametrize(
    ("arguments", "needle"),
    [({"EndpointName": "other-endpoint"}, "Endpoint other-endpoint not found"),
     ({"EndpointName": ENDPOINT, "TargetVariant": "Canary"}, "'Canary' is not part of endpoint"),
     ({"EndpointName": ENDPOINT, "CustomAttributes": "x" * 1025}, "customAttributes")],
)
def test_runtime_refusals_are_validation_errors(runtime: Any, arguments: dict[str, str], needle: str) -> None:
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(Body=b"1,2,3,red\n", ContentType="text/csv", **arguments)
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert needle in raised.value.response["Error"]["Message"]


def huge_header() -> bytes:
    """A .npy header claiming 32 TB: numpy would allocate it before reading the (absent) data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 4)})
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "needle"),
    [(b"1,2,3,red", "magic"),
     (npy(np.zeros((2, 4)))[:-8], "the body has"),
     (npy(np.zeros((2, 4))).replace(b"(2, 4)", b"(9, 4)"), "take 288 bytes"),
     (huge_header() + bytes(64), "take 32000000000000 bytes"),
     (npy(np.array([[1, 2, 3, {"a": 1}]], dtype=object), allow_pickle=True), "pickled"),
     (npy(np.zeros((2, 3))), "shape (2, 3)"),
     (npy(np.zeros((2, 2, 4))), "shape (2, 2, 4)"),
     (npy(np.zeros((0, 4))), "no rows"),
     (npy(np.zeros((1, 4), dtype=complex)), "complex128")],
)
def test_bad_npy_is_a_400_with_a_reason(server: ServerProcess, body: bytes, needle: str) -> None:
    status, headers, answer = server.request("POST", "/invocations", body, {"Content-Type": "application/x-npy"})
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert needle in json.loads(answer)["error"]


def test_jsonlines_in_and_out(server: ServerProcess, rows: pd.DataFrame, trained_model_dir: Path) -> None:
    body = "".join(json.dumps(record) + "\n" for record in json.loads(rows.to_json(orient="records"))).encode()
    status, headers, answer = server.request("POST", "/invocations", body, {
        "Content-Type": "application/jsonlines", "Accept": "application/jsonlines"})
    assert status == 200
    assert headers["content-type"] == "application/jsonlines"
    labels, _ = expected(trained_model_dir, rows)
    assert [json.loads(line)["predicted_label"] for line in answer.decode().splitlines()] == labels


def test_bad_jsonlines_names_the_line(server: ServerProcess) -> None:
    status, headers, answer = server.request("POST", "/invocations", b'[1, 2, 3, "red"]\n{oops\n',
                                             {"Content-Type": "application/jsonlines"})
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(answer)["error"].startswith("line 1: malformed JSON")


def sdk_object(module: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """An object of a SageMaker SDK class (the SDK is untyped: reached as Any)."""
    return getattr(importlib.import_module(f"sagemaker.{module}"), name)(*args, **kwargs)


def test_sdk_predictor_with_its_serializers(runtime: Any, rows: pd.DataFrame, trained_model_dir: Path) -> None:
    boto_session = boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    session = sdk_object("session", "Session", boto_session=boto_session, sagemaker_runtime_client=runtime)

    def predictor(kind: str) -> Any:
        return sdk_object("predictor", "Predictor", ENDPOINT, session,
                          serializer=sdk_object("serializers", f"{kind}Serializer"),
                          deserializer=sdk_object("deserializers", f"{kind}Deserializer"))

    labels, probabilities = expected(trained_model_dir, rows)
    table = predictor("CSV").predict(rows.astype(object).where(rows.notna(), "").to_numpy().tolist())
    assert [int(line[0]) for line in table] == labels

    answer = predictor("JSON").predict({"instances": json.loads(rows.to_json(orient="records"))})
    assert [p["predicted_label"] for p in answer["predictions"]] == labels

    array = predictor("Numpy").predict(text_array(rows))
    assert array[:, 0].astype(int).tolist() == labels
    np.testing.assert_allclose(array[:, 1:], probabilities)
