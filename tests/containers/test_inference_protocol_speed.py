"""The server's speed paths keep its behaviour: one write per response (head held for its body), and
requests that arrive together are scored in one batch with each request's own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from containers.inference.app import InferenceApp
from containers.inference.codec import encode_csv, parse_csv
from containers.inference.predictor import Predictor
from containers.inference.protocol import HeadWithBodyTransport
from containers.inference.settings import ServingSettings
from tests.containers.conftest import make_tabular_frame
from tests.containers.test_inference_fastpath import as_csv, fitted, request_rows

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """asyncio's transport interface, recording each write (stands in for the socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_response_head_leaves_with_its_body_in_one_write() -> None:
    socket = RecordingTransport()
    transport = HeadWithBodyTransport(socket, hold=True)
    transport.write(HEAD)
    assert socket.writes == []
    transport.write(b"0,1")
    transport.write(b"more")  # a later body chunk goes out as it comes
    assert socket.writes == [HEAD + b"0,1", b"more"]


def test_continue_and_head_responses_are_not_held_and_close_sends_what_is_held() -> None:
    socket = RecordingTransport()
    transport = HeadWithBodyTransport(socket, hold=True)
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the client waits for it before sending the body
    assert socket.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    transport.write(HEAD)
    transport.close()  # e.g. the app failed after starting its response
    assert socket.writes[1:] == [HEAD]
    assert socket.closed
    assert transport.is_closing()

    socket = RecordingTransport()
    HeadWithBodyTransport(socket, hold=False).write(HEAD)  # a HEAD request: no body write follows
    assert socket.writes == [HEAD]


def _app(tmp_path: Path) -> tuple[InferenceApp, Predictor]:
    pipeline, metadata = fitted(make_tabular_frame(400, seed=41), "BinaryClassification")
    predictor = Predictor(pipeline, metadata)
    app = InferenceApp(ServingSettings.from_env({"SM_MODEL_DIR": str(tmp_path)}))
    app.set_predictor(predictor)
    return app, predictor


def _receiver(body: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


def test_requests_under_way_together_in_a_worker_are_scored_in_one_batch(tmp_path: Path) -> None:
    app, predictor = _app(tmp_path)
    bodies = [as_csv(request_rows(rows, seed=50 + rows)) for rows in (1, 2, 1, 3)]

    async def together() -> list[tuple[int, bytes, Any]]:
        worker_requests = {object() for _ in bodies}  # the protocol's set of this worker's request tasks
        return list(await asyncio.gather(*(
            app.invoke_model(_receiver(body), "text/csv", "text/csv", inference_id=None,
                             content_length=len(body), worker_requests=worker_requests) for body in bodies)))

    answers = asyncio.run(together())
    assert app.batcher is not None
    assert (app.batcher.batches, app.batcher.requests) == (1, len(bodies))
    for body, (status, output, _) in zip(bodies, answers, strict=True):
        assert status == 200
        assert output == encode_csv(predictor.predict(parse_csv(body, predictor.layout)))

    async def alone() -> tuple[int, bytes, Any]:
        return await app.invoke_model(_receiver(bodies[0]), "text/csv", "text/csv", inference_id=None,
                                      content_length=len(bodies[0]), worker_requests={object()})

    status, output, _ = asyncio.run(alone())
    assert status == 200
    assert output == answers[0][1]
    assert app.batcher.requests == len(bodies)  # scored directly: no loop hop through the batcher
