"""The server's bounds with their defaults, against real server processes and raw loopback sockets:
payload size (413 just over 6 MB), header size (431), header read time (408 or close)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from containers.inference.settings import ServingSettings, SettingsError
from tests.containers.conftest import REPO_ROOT, ServerProcess

MB = 1024 * 1024
HEAD_LIMIT_KB = "2"
HEAD_TIMEOUT_S = "0.3"
WAIT_S = 20  # bounds every wait on a socket; a passing test waits far less


@pytest.fixture(scope="module")
def default_server(server_factory: Callable[..., ServerProcess], trained_model_dir: Path) -> ServerProcess:
    """Every bound at its default (no limit variable set)."""
    running = server_factory(trained_model_dir)
    running.wait_ready()
    return running


@pytest.fixture(scope="module")
def bounded_server(server_factory: Callable[..., ServerProcess], trained_model_dir: Path) -> ServerProcess:
    """A small header limit and a short header timeout, so the tests need no big heads and no long waits."""
    running = server_factory(trained_model_dir, SAGEMAKER_MODEL_SERVER_WORKERS="2",
                             SAGEMAKER_MAX_HEADER_SIZE_IN_KB=HEAD_LIMIT_KB,
                             SAGEMAKER_HEADER_READ_TIMEOUT=HEAD_TIMEOUT_S)
    running.wait_ready()
    return running


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as a close)."""
    sock.settimeout(WAIT_S)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def json_error(answer: bytes) -> str:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    return str(json.loads(body)["error"])


# -- defaults --------------------------------------------------------------------------------------


def test_defaults_are_sagemakers_6_mb_payload_and_bounded_heads() -> None:
    settings = ServingSettings.from_env({})
    assert settings.max_payload_bytes == 6 * MB
    assert settings.max_header_bytes == 16 * 1024
    assert 0 < settings.header_timeout_s <= 60
    assert settings.timeout_s == 60


@pytest.mark.parametrize(("name", "value"), [("SAGEMAKER_MAX_HEADER_SIZE_IN_KB", "big"),
                                           ("SAGEMAKER_MAX_HEADER_SIZE_IN_KB", "0"),
                                           ("SAGEMAKER_HEADER_READ_TIMEOUT", "-1"),
                                           ("SAGEMAKER_HEADER_READ_TIMEOUT", "soon")])
def test_a_bad_head_bound_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"{name}='{value}'"):
        ServingSettings.from_env({name: value})


def test_default_server_refuses_a_body_just_over_6_mb_and_advertises_6(default_server: ServerProcess) -> None:
    status, _, body = default_server.request("GET", "/execution-parameters")
    assert (status, json.loads(body)["MaxPayloadInMB"]) == (200, 6)
    row = b"0.1,0.2,3,red\n"
    just_over = row * (6 * MB // len(row) + 1)
    assert 6 * MB < len(just_over) < 6 * MB + len(row) + 1
    status, _, answer = default_server.request("POST", "/invocations", just_over, {"Content-Type": "text/csv"},
                                               timeout=WAIT_S)
    assert status == 413
    assert str(6 * MB) in json.loads(answer)["error"]


def test_default_server_scores_a_body_just_under_6_mb(default_server: ServerProcess) -> None:
    row = b"0.1,0.2,3,red\n"
    just_under = row * (6 * MB // len(row))
    status, _, answer = default_server.request("POST", "/invocations", just_under,
                                               {"Content-Type": "text/csv", "Accept": "text/csv"}, timeout=WAIT_S)
    assert status == 200
    assert answer.count(b"\n") == just_under.count(b"\n")


def test_default_server_takes_a_15_kb_header_and_refuses_a_17_kb_one(default_server: ServerProcess) -> None:
    for size, status in ((15 * 1024, 200), (17 * 1024, 431)):
        with socket.create_connection(("127.0.0.1", default_server.port), timeout=WAIT_S) as sock:
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * size + b"\r\n\r\n")
            answer = sock.recv(65536)
        assert answer.startswith(f"HTTP/1.1 {status} ".encode()), (size, answer[:80])


# -- header size -----------------------------------------------------------------------------------


def head_of(size: int) -> bytes:
    """A complete request head of exactly `size` bytes."""
    start, end = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Pad: ", b"\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


def test_a_head_at_the_limit_is_served_one_byte_more_gets_431(bounded_server: ServerProcess) -> None:
    limit = int(float(HEAD_LIMIT_KB) * 1024)
    with socket.create_connection(("127.0.0.1", bounded_server.port), timeout=WAIT_S) as sock:
        sock.sendall(head_of(limit))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        # The same keep-alive connection: the count starts again for the next request.
        sock.sendall(head_of(limit + 1))
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"connection: close" in answer.lower()
    assert f"exceed {limit} bytes" in json_error(answer)


def test_a_head_split_in_many_small_writes_is_counted_whole(bounded_server: ServerProcess) -> None:
    limit = int(float(HEAD_LIMIT_KB) * 1024)
    with socket.create_connection(("127.0.0.1", bounded_server.port), timeout=WAIT_S) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(limit // 100 + 2):
                sock.sendall(b"X-A: " + b"b" * 93 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed after the 431: what the test wants
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_64_mb_header_is_cut_off_and_the_workers_stay_up(bounded_server: ServerProcess) -> None:
    before = bounded_server.worker_pids()
    # The server stops reading at the limit and closes: the 64 MB can never all be sent.
    with (socket.create_connection(("127.0.0.1", bounded_server.port), timeout=WAIT_S) as sock,
          pytest.raises((BrokenPipeError, ConnectionResetError))):
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (64 * MB) + b"\r\n\r\n")
    assert bounded_server.worker_pids() == before
    assert bounded_server.request("GET", "/ping")[0] == 200


def test_a_body_larger_than_the_head_limit_is_not_counted_as_head(bounded_server: ServerProcess) -> None:
    body = b"0.1,0.2,3,red\n" * 2000  # 28 KB in the same write as the head
    head = (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nAccept: text/csv\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", bounded_server.port), timeout=WAIT_S) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ")


# -- header read time ------------------------------------------------------------------------------


def test_a_slowloris_head_gets_408_and_is_closed(bounded_server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", bounded_server.port), timeout=WAIT_S) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # ...and never the rest
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert "not received within 0.3 s" in json_error(answer)


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(bounded_server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", bounded_server.port), timeout=WAIT_S) as sock:
        assert read_until_closed(sock) == b""


def test_an_idle_keep_alive_connection_is_not_cut_by_the_head_timeout(bounded_server: ServerProcess) -> None:
    """After a response the connection waits under uvicorn's keep-alive timeout (75 s), not the head timeout:
    a probe that would have been cut still gets its answer. The wait is a poll on the socket, bounded."""
    with socket.create_connection(("127.0.0.1", bounded_server.port), timeout=WAIT_S) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        # Nothing may arrive (no close, no 408) for several head timeouts.
        sock.settimeout(float(HEAD_TIMEOUT_S) * 4)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(WAIT_S)
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("request_bytes", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"GET /ping HTTP/1.1\r\nBad Header\r\n\r\n",
], ids=["garbage", "huge content-length", "two content-lengths", "header without colon"])
def test_a_request_httptools_cannot_parse_gets_a_json_400(bounded_server: ServerProcess, request_bytes: bytes) -> None:
    with socket.create_connection(("127.0.0.1", bounded_server.port), timeout=WAIT_S) as sock:
        sock.sendall(request_bytes)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert json_error(answer).startswith("malformed HTTP request")


def _serve_on(port: int, model_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "containers.inference", "serve"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=60, check=False,
        env={**os.environ, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_HOST": "127.0.0.1",
             "SAGEMAKER_BIND_TO_PORT": str(port), "SAGEMAKER_MODEL_SERVER_WORKERS": "2"})


def test_a_taken_port_stops_the_server_with_one_line(trained_model_dir: Path, bounded_server: ServerProcess) -> None:
    """Several workers listen on their own SO_REUSEPORT sockets: a port another socket holds is refused,
    and so is the port of a running server of ours (whose sockets would otherwise share it silently)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _serve_on(port, trained_model_dir)
    for attempt in (result, _serve_on(bounded_server.port, trained_model_dir)):
        assert attempt.returncode == 3
        assert attempt.stderr.strip().endswith("Address already in use")
        assert attempt.stderr.startswith("[inference] cannot listen on 127.0.0.1:")
    assert bounded_server.process.poll() is None
