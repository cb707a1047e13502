"""The serving contract against the real server process: ping, invocations, errors, capture, drain."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from containers.contracts.capture import parse_capture_line
from containers.contracts.model_artifact import load_model_artifact, model_input_frame
from tests.containers.conftest import ServerProcess, make_tabular_frame
from tests.fixtures import SAGEMAKER_REFERENCE as REFERENCE

MAX_PAYLOAD_MB = "0.05"  # small, so the 413 checks need no big bodies
CSV_HEADERS = {"Content-Type": "text/csv", "Accept": "text/csv"}
CLIENTS, REQUESTS_PER_CLIENT = 6, 40


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("capture")


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., ServerProcess], trained_model_dir: Path, capture_dir: Path) -> ServerProcess:
    """Two workers (the supervisor path), batching on, capture on."""
    running = server_factory(trained_model_dir, SAGEMAKER_MODEL_SERVER_WORKERS="2",
                             SAGEMAKER_MAX_PAYLOAD_IN_MB=MAX_PAYLOAD_MB, MLOPS_CAPTURE_DIR=str(capture_dir),
                             MLOPS_ENDPOINT_NAME="test-endpoint")
    running.wait_ready()
    return running


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame = make_tabular_frame(40, seed=99).drop(columns="target")
    frame.loc[5, "color"] = "purple"
    return frame


def csv_body(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(header=False, index=False, float_format="%.17g").encode()


def expected(model_dir: Path, frame: pd.DataFrame) -> tuple[list[object], np.ndarray]:
    pipeline, metadata = load_model_artifact(model_dir)
    data = model_input_frame(frame, metadata.features)
    return list(pipeline.predict(data)), pipeline.predict_proba(data)


def test_csv_in_csv_out_matches_the_pipeline(server: ServerProcess, trained_model_dir: Path,
                                             rows: pd.DataFrame) -> None:
    status, headers, body = server.request("POST", "/invocations", csv_body(rows), CSV_HEADERS)
    assert status == 200
    assert headers["content-type"].startswith("text/csv")
    labels, probabilities = expected(trained_model_dir, rows)
    lines = body.decode().splitlines()
    assert [int(line.split(",")[0]) for line in lines] == labels
    assert np.array_equal(np.array([[float(v) for v in line.split(",")[1:]] for line in lines]), probabilities)


def test_json_instances_and_records_give_the_same_json_predictions(server: ServerProcess, trained_model_dir: Path,
                                                                   rows: pd.DataFrame) -> None:
    subset = rows.iloc[:6]
    records = json.loads(subset.to_json(orient="records"))
    instances = {"instances": [list(record.values()) for record in records]}
    answers = []
    for document in (records, instances):
        status, headers, body = server.request("POST", "/invocations", json.dumps(document).encode(),
                                               {"Content-Type": "application/json", "Accept": "application/json"})
        assert status == 200
        assert headers["content-type"] == "application/json"
        answers.append(json.loads(body))
    assert answers[0] == answers[1]
    labels, probabilities = expected(trained_model_dir, subset)
    predictions = answers[0]["predictions"]
    assert [p["predicted_label"] for p in predictions] == labels
    assert [p["score"] for p in predictions] == pytest.approx(probabilities[:, 1].tolist())
    assert set(predictions[0]["probabilities"]) == {"0", "1"}


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [(None, "application/json"), ("*/*", "application/json"), ("text/csv", "text/csv"),
     ("application/json;q=0.5, text/csv", "text/csv"), ("text/html, application/*", "application/json")],
)
def test_accept_header_picks_the_response_type(server: ServerProcess, accept: str | None, content_type: str) -> None:
    headers = {"Content-Type": "text/csv"} | ({"Accept": accept} if accept else {})
    status, response_headers, _ = server.request("POST", "/invocations", b"0.1,0.2,3,red\n", headers)
    assert (status, response_headers["content-type"]) == (200, content_type)


@pytest.mark.parametrize(
    ("body", "headers", "status", "needle", "row", "column"),
    [
        (b"1,2,3,red", {"Content-Type": "text/plain"}, 415, "Content-Type", None, None),
        (b"1,2,3,red", {"Content-Type": "text/csv", "Accept": "image/png"}, 406, "Accept", None, None),
        (b"1,2,3,red\n" * 6000, {"Content-Type": "text/csv"}, 413, "limit", None, None),
        (b"", {"Content-Type": "text/csv"}, 400, "empty", None, None),
        (b"1,2,3,red\n1,2,red\n", {"Content-Type": "text/csv"}, 400, "3 column(s)", 1, None),
        (b"1,2,3,red\n1,two,3,red\n", {"Content-Type": "text/csv"}, 400, "'two'", 1, "b"),
        (b"1,2,inf,red\n", {"Content-Type": "text/csv"}, 400, "finite", 0, "c"),
        (b'1,"2,3,red\n', {"Content-Type": "text/csv"}, 400, "2 column(s)", 0, None),
        (b'{"instances": [[1, 2, 3]', {"Content-Type": "application/json"}, 400, "malformed JSON", None, None),
        (b'{"rows": []}', {"Content-Type": "application/json"}, 400, "instances", None, None),
        (b'[{"a": 1, "size": 2}]', {"Content-Type": "application/json"}, 400, "unknown feature", 0, "size"),
        (b'[[1, 2, 3, {"x": 1}]]', {"Content-Type": "application/json"}, 400, "color", 0, "color"),
        (b"\xff\xfe,1,2,3", {"Content-Type": "text/csv"}, 400, "UTF-8", None, None),
        (b"[[" + b"7" * 5000 + b', 2, 3, "red"]]', {"Content-Type": "application/json"}, 400, "4300 digits", None,
         None),
        (b"1e308,1.7976931348623157E308,1e400,red\n", {"Content-Type": "text/csv"}, 400, "finite", 0, "c"),
    ],
)
def test_bad_requests_get_their_status_and_a_json_error(server: ServerProcess, body: bytes, headers: dict[str, str],
                                                        status: int, needle: str, row: int | None,
                                                        column: str | None) -> None:
    answer_status, answer_headers, answer = server.request("POST", "/invocations", body, headers)
    assert answer_status == status
    assert answer_headers["content-type"] == "application/json"
    error = json.loads(answer)
    assert needle in error["error"]
    assert error.get("row") == row
    assert error.get("column") == column


def test_oversized_chunked_body_gets_413(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"1,2,3,red\n" * 1000
        for _ in range(8):
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")


def test_wrong_method_and_path_are_refused_without_5xx(server: ServerProcess) -> None:
    assert server.request("GET", "/invocations")[0] == 405
    assert server.request("GET", "/nope")[0] == 404
    status, _, body = server.request("GET", "/execution-parameters")
    assert status == 200
    assert json.loads(body)["MaxPayloadInMB"] >= 0


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.lists(st.lists(st.one_of(st.floats(allow_nan=True), st.text(max_size=5), st.none(), st.integers()),
                          max_size=6), max_size=4).map(lambda v: json.dumps(v).encode()),
        st.lists(st.lists(st.sampled_from(["", "1", "-2.5", "red", "1e400", "nan", '"', "x,y", "1.0E10", "-0",
                                           "1.7976931348623157E308", "\r", "日本", "9" * 5000]), min_size=3,
                          max_size=5), min_size=1, max_size=4).map(
            lambda rows: "\n".join(",".join(r) for r in rows).encode()),
        st.integers(4000, 6000).map(lambda digits: b'{"instances": [[' + b"9" * digits + b', 1, 2, "red"]]}'),
    ),
    content_type=st.one_of(st.sampled_from(["text/csv", "application/json", "text/csv; charset=utf-8"]), header_text),
    accept=st.one_of(st.none(), st.sampled_from(["*/*", "text/csv", "application/json"]), header_text),
)
def test_fuzzed_bodies_and_headers_never_get_5xx(server: ServerProcess, body: bytes, content_type: str,
                                                 accept: str | None) -> None:
    headers = {"Content-Type": content_type} | ({"Accept": accept} if accept is not None else {})
    status, _, _ = server.request("POST", "/invocations", body, headers)
    assert status < 500


def test_workers_survive_fuzzing_and_bad_requests(server: ServerProcess) -> None:
    before = server.worker_pids()
    assert len(before) == 2
    for body in (b"\x00" * 100, b"[" * 5000, b'{"instances": [[1e999, 1, 1, "x"]]}'):
        assert server.request("POST", "/invocations", body, {"Content-Type": "application/json"})[0] == 400
    assert server.worker_pids() == before
    assert server.request("GET", "/ping")[0] == 200


def test_short_loopback_load_has_no_errors_and_stable_answers(server: ServerProcess) -> None:
    body = b"0.3,-1.2,17,green\n"
    reference = server.request("POST", "/invocations", body, CSV_HEADERS)[2]
    errors: list[str] = []
    counts: list[int] = []

    # A fixed number of requests, all released at once: the overlap batches them, whatever the machine's speed.
    start = threading.Barrier(CLIENTS)

    def client() -> None:
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        start.wait(timeout=30)
        done = 0
        for _ in range(REQUESTS_PER_CLIENT):
            connection.request("POST", "/invocations", body=body, headers=CSV_HEADERS)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200 or payload != reference:
                errors.append(f"{response.status}: {payload[:80]!r}")
            done += 1
        connection.close()
        counts.append(done)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert counts == [REQUESTS_PER_CLIENT] * CLIENTS


def _key_shape(value: object) -> object:
    """Nested key order of a capture line, ignoring the optional inferenceId."""
    if isinstance(value, dict):
        return [(key, _key_shape(item)) for key, item in value.items() if key != "inferenceId"]
    return type(value).__name__


def test_capture_lines_parse_and_have_sagemakers_shape_and_layout(server: ServerProcess, capture_dir: Path) -> None:
    server.request("POST", "/invocations", b"1,2,3,red\n", {"Content-Type": "text/csv", "Accept": "text/csv",
                                                           "X-Amzn-SageMaker-Inference-Id": "abc-1"})
    server.request("POST", "/invocations", b'{"instances": [[1, 2, 3, "red"]]}',
                   {"Content-Type": "application/json"})
    files = sorted(capture_dir.rglob("*.jsonl"))
    assert files
    layout = re.compile(r"test-endpoint/AllTraffic/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl")
    assert all(layout.fullmatch(path.relative_to(capture_dir).as_posix()) for path in files)
    lines = [line for path in files for line in path.read_text().splitlines()]
    records = [parse_capture_line(line) for line in lines]
    csv_reference = json.loads((REFERENCE / "capture_csv.jsonl").read_text().splitlines()[0])
    json_reference = json.loads((REFERENCE / "capture_json.jsonl").read_text().splitlines()[0])
    by_id = {r.event_metadata.inference_id: r for r in records}
    tagged = by_id["abc-1"]
    assert tagged.capture_data.endpoint_input.data == "1,2,3,red\n"  # type: ignore[union-attr]
    assert tagged.capture_data.endpoint_output.encoding == "CSV"  # type: ignore[union-attr]
    for line in lines:
        document = json.loads(line)
        reference = csv_reference if document["captureData"]["endpointInput"]["encoding"] == "CSV" else json_reference
        assert _key_shape(document) == _key_shape(reference)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", document["eventMetadata"]["inferenceTime"])


@pytest.mark.slow
def test_ping_is_503_until_the_model_appears_then_200_and_timeouts_give_504(
        server_factory: Callable[..., ServerProcess], trained_model_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    slow = server_factory(model_dir, SAGEMAKER_MODEL_SERVER_TIMEOUT="1")
    slow.wait_ready(expect=503)
    assert slow.request("POST", "/invocations", b"1,2,3,red", {"Content-Type": "text/csv"})[0] == 503
    for name in ("model.joblib", "metadata.json"):  # metadata last, as training writes them
        shutil.copy(trained_model_dir / name, model_dir / f".{name}.tmp")
        (model_dir / f".{name}.tmp").rename(model_dir / name)
    slow.wait_ready(expect=200)
    with socket.create_connection(("127.0.0.1", slow.port), timeout=10) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: 20\r\n\r\n1,2,")
        assert sock.recv(65536).startswith(b"HTTP/1.1 504")


@pytest.mark.slow
def test_sigterm_drains_an_in_flight_request_then_exits(server_factory: Callable[..., ServerProcess],
                                                       trained_model_dir: Path) -> None:
    draining = server_factory(trained_model_dir, SAGEMAKER_MODEL_SERVER_WORKERS="2")
    draining.wait_ready()
    workers = draining.worker_pids()
    # Every worker listens on a socket of its own (SO_REUSEPORT): wait until both do, so that the
    # connection below may land on either, and the shutdown check below covers both.
    deadline = time.monotonic() + 60
    while len(listeners := _listening_inodes(draining.port)) < len(workers):
        assert time.monotonic() < deadline, f"{len(listeners)} of {len(workers)} workers listen after 60 s"
        time.sleep(0.01)
    links = {f"socket:[{inode}]" for inode in listeners}
    body = b"0.5,0.5,10,blue\n"
    with socket.create_connection(("127.0.0.1", draining.port), timeout=20) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nAccept: text/csv\r\n"
                     + f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        # uvicorn says 100 Continue when the app first asks for the body: the request is in flight.
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        draining.process.terminate()
        # Every worker has closed its listening socket: shutdown is under way while the request waits.
        deadline = time.monotonic() + 20
        while any(_holds(pid, link) for pid in workers for link in links):
            assert time.monotonic() < deadline, "workers still accept connections 20 s after SIGTERM"
            time.sleep(0.01)
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b"connection: close" in answer.lower(), "answered during shutdown, so the connection then closes"
    assert answer.endswith(b"\n")
    assert draining.process.wait(timeout=20) == 0


def _listening_inodes(port: int) -> set[str]:
    """The inodes of the sockets listening on 127.0.0.1:port, from /proc/net/tcp."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # 0A: LISTEN
            inodes.add(fields[9])
    return inodes


def _holds(pid: int, socket_link: str) -> bool:
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # the process has exited
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(descriptor) == socket_link:
                return True
        except OSError:
            continue
    return False
