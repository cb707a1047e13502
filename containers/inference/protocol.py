"""uvicorn's httptools protocol with bounds on the request head: its size (431) and its read time (408).

uvicorn bounds neither for httptools (only its h11 protocol has a size option): httptools buffers a
header line however long it grows, and a connection that never finishes its head stays open
(slowloris). SageMaker's front end shields the cloud endpoint, but the image also runs where clients
reach it directly (local mode, a VPC, a laptop).

Size: the bytes from a request's first byte to the end of its head (request line + header fields)
are counted as they arrive; only what the head may still take is given to the parser, so a 64 MB
header costs at most the limit in memory. Past the limit: 431 + close. (A request pipelined behind
another in the same read starts its count after that read: at most twice the limit.)
Time: a new connection has the timeout to deliver a complete head, and so has each later request
from its first byte (an idle keep-alive connection stays under uvicorn's keep-alive timeout). Past
it: 408 + close when part of a head arrived, a plain close when nothing did (RFC 9112, 9.5).
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from containers.inference.settings import ServingSettings

# ASGI scope extension: {"tasks": the set of this worker's request tasks that have not finished}.
WORKER_REQUESTS = "mlops.worker_requests"


@functools.cache
def _settings() -> ServingSettings:
    # Read once per worker process, from the environment the app itself is built from.
    return ServingSettings.from_env()


class HeadWithBodyTransport(asyncio.Transport):
    """The transport as one request's cycle sees it: the response head waits for the first body write and
    leaves with it, in one write. uvicorn writes them apart, which costs a second send and, on loopback,
    a second wake-up of the client, which can do nothing with a head alone (13-19% of a busy worker's
    samples went to that first send).
    A HEAD response (no body write follows) and `100 Continue` (the client waits for it) are not held;
    a close sends what is held first."""

    def __init__(self, transport: asyncio.Transport, *, hold: bool) -> None:
        super().__init__()
        self._transport = transport
        self._hold = hold  # until the first write of a response head
        self._head = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head:
            data, self._head = self._head + data, b""
        elif self._hold and bytes(data[:13]) != b"HTTP/1.1 100 ":
            self._hold = False
            self._head = bytes(data)
            return
        self._transport.write(data)

    def close(self) -> None:
        if self._head:
            self._transport.write(self._head)
            self._head = b""
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = _settings()
        self.max_head_bytes = settings.max_header_bytes
        self.head_timeout_s = settings.header_timeout_s
        self.reading_head = True  # from a message's first byte (or the connection's start) to its head's end
        self.head_bytes = 0
        self.head_timer: asyncio.TimerHandle | None = None

    # -- connection ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        while data and self.reading_head:
            budget = self.max_head_bytes - self.head_bytes
            if budget <= 0:
                self._refuse(431, f"request line and headers exceed {self.max_head_bytes} bytes")
                return
            piece, data = (data, b"") if len(data) <= budget else (data[:budget], data[budget:])
            self.head_bytes += len(piece)
            super().data_received(piece)  # may end the head (reading_head False), or answer 400 and close
            if self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to what httptools cannot parse, in our JSON error shape.
        self._refuse(400, f"malformed HTTP request: {msg}")

    # -- parser callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self._cancel_head_timer()
        # The app scores a request's rows together with those of requests that arrived alongside it
        # (micro-batching): it tells them by this worker's live set of request tasks. A request whose
        # head arrived in the same read as another's already has its task here before either runs.
        extension: dict[object, object] = {"tasks": self.tasks}
        self.scope["extensions"] = {WORKER_REQUESTS: extension}
        previous = self.cycle
        super().on_headers_complete()
        # The new cycle's task has not run yet: nothing was written through the real transport.
        if self.cycle is not None and self.cycle is not previous:
            self.cycle.transport = HeadWithBodyTransport(self.transport, hold=self.scope["method"] != "HEAD")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading_head = True
        self.head_bytes = 0

    # -- the bounds ----------------------------------------------------------------------------
    def _arm_head_timer(self) -> None:
        self.head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or not self.reading_head:
            return
        answering = self.cycle is not None and not self.cycle.response_complete
        if self.head_bytes and not answering:
            self._refuse(408, f"request head not received within {self.head_timeout_s:g} s")
        else:
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\n", b"content-length: ", str(len(body)).encode(), b"\r\n",
                 b"connection: close\r\n\r\n", body]
        self.transport.write(b"".join(head))
        self.transport.close()
