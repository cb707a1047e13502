"""The serving ASGI application: /ping, /invocations, /execution-parameters (no framework, by design),
and the SageMaker runtime's own path, so boto3 and the SDK's Predictor reach it as an endpoint."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence, Sized
from typing import Any

from containers.contracts.data_schema import DataSchemaError, load_schema
from containers.contracts.model_artifact import METADATA_FILE, MODEL_FILE, ModelArtifactError, load_model_artifact
from containers.inference.batching import MicroBatcher
from containers.inference.capture_writer import CaptureWriter
from containers.inference.codec import (
    ENCODERS,
    PARSERS,
    RESPONSE_TYPES,
    BadRequestError,
    media_type,
    negotiate_accept,
)
from containers.inference.custom_flow import HandlerFlow
from containers.inference.deadlines import Deadlines
from containers.inference.handlers import HandlerError, UserHandlers, inference_script
from containers.inference.predictor import Predictor, ScoringError
from containers.inference.protocol import WORKER_REQUESTS
from containers.inference.runtime_api import CUSTOM_ATTRIBUTES, RuntimeRequest, runtime_request, runtime_response
from containers.inference.schema_guard import SchemaGuard
from containers.inference.settings import ServingSettings
from containers.inference.worker_tuning import freeze_heap, keep_freed_memory

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
# Exactly the Accept type, no charset: SageMaker's toolkit sets the response type to the accept it
# encoded for (sagemaker_inference/transformer.py), and the SDK's NumpyDeserializer compares it exactly.
RESPONSE_CONTENT_TYPES = {kind: kind.encode() for kind in RESPONSE_TYPES}
SUPPORTED_TEXT = ", ".join(RESPONSE_TYPES)
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
MODEL_POLL_S = 0.1


def _log(message: str) -> None:
    print(f"[inference] {message}", file=sys.stderr, flush=True)


class InferenceApp:
    """One instance per worker process. A worker loads the model before it accepts connections when
    the model is there at start (SageMaker's case); otherwise it serves /ping with 503 while a thread
    waits for metadata.json + model.joblib to appear (local mode may start the server first)."""

    def __init__(self, settings: ServingSettings):
        self.settings = settings
        self.predictor: Predictor | None = None
        # Set when the model artifact ships code/inference.py (SageMaker's framework convention).
        self.flow: HandlerFlow | None = None
        # Set when the model artifact ships data-schema.json: requests are checked against it.
        self.guard: SchemaGuard | None = None
        self.load_error: str | None = None
        self.batcher: MicroBatcher | None = None
        self.capture = (
            CaptureWriter(settings.capture_dir, settings.endpoint_name, settings.variant_name,
                          settings.capture_percent)
            if settings.capture_dir is not None else None
        )
        self._loader: threading.Thread | None = None
        self._in_flight = 0  # invocations of this worker between body read and response
        self.deadlines = Deadlines(settings.timeout_s)

    # -- model loading -------------------------------------------------------------------------
    def start_loading(self) -> None:
        if self._loader is None:
            self._loader = threading.Thread(target=self._load, name="model-loader", daemon=True)
            self._loader.start()

    def _model_present(self) -> bool:
        model_dir = self.settings.model_dir
        return ((model_dir / METADATA_FILE).is_file() and (model_dir / MODEL_FILE).is_file()) \
            or inference_script(model_dir).is_file()

    def _load(self) -> None:
        model_dir = self.settings.model_dir
        waited = False
        while not self._model_present():
            if not waited:
                _log(f"waiting for {METADATA_FILE} and {MODEL_FILE} in {model_dir}")
                waited = True
            time.sleep(MODEL_POLL_S)
        try:
            schema = load_schema(model_dir)
            handlers = UserHandlers.load(model_dir)
            if handlers is not None:
                self.flow = HandlerFlow(handlers, model_dir, self.settings.default_accept,
                                        guard_factory=lambda layout: SchemaGuard(schema, layout) if schema else None)
                freeze_heap()
                _log(f"model loaded through {handlers.source} ({', '.join(handlers.names) or 'no handler'}; "
                     "the server's defaults for the rest)")
                return
            pipeline, metadata = load_model_artifact(model_dir)
            predictor = Predictor(pipeline, metadata, small_batch=self.settings.compiled_scoring)
            self.guard = SchemaGuard(schema, predictor.layout) if schema is not None else None
        except (ModelArtifactError, DataSchemaError, HandlerError, ValueError) as error:
            self.load_error = str(error)
            _log(f"model not loaded: {error}")
            return
        self.set_predictor(predictor)
        freeze_heap()
        route = getattr(predictor.scorer, "route", None)  # HistGradientBoosting: tables or per-tree
        _log(f"model loaded from {model_dir} ({metadata.problem_type}, {len(metadata.features)} features, "
             f"fast path: {predictor.fast_path_reason}" + (f"; trees: {route}" if route else "")
             + ("; small batches: one compiled call" if predictor.small is not None else "") + ")")

    def set_predictor(self, predictor: Predictor) -> None:
        settings = self.settings
        if settings.batch_enabled:
            self.batcher = MicroBatcher(predictor.predict, max_rows=settings.batch_max_rows,
                                        max_wait_s=settings.batch_max_wait_s)
        self.predictor = predictor

    # -- ASGI ----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._model_present():
                    # Load before this worker accepts connections: no request meets a half-ready worker.
                    await asyncio.to_thread(self._load)
                else:
                    self.start_loading()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.capture is not None:
                    self.capture.close()
                if self.batcher is not None and self.batcher.requests:
                    _log(f"micro-batching: {self.batcher.requests} request(s) scored in "
                         f"{self.batcher.batches} batch(es)")
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        method = scope["method"]
        if path == "/invocations" or path.startswith("/endpoints/"):
            await self.invocations(scope, receive, send)
        elif path == "/ping":
            if self.predictor is not None or self.flow is not None:
                await _respond(send, 200, b"", [])
            else:
                state = f"model failed to load: {self.load_error}" if self.load_error else "model loading"
                await _respond(send, 503, json.dumps({"error": state}).encode(), JSON_HEADERS)
        elif path == "/execution-parameters" and method == "GET":
            # Batch transform asks this to size its requests.
            parameters = {"MaxConcurrentTransforms": self.settings.workers, "BatchStrategy": "MULTI_RECORD",
                          "MaxPayloadInMB": max(1, self.settings.max_payload_bytes // (1024 * 1024))}
            await _respond(send, 200, json.dumps(parameters).encode(), JSON_HEADERS)
        else:
            await _respond(send, 404, b'{"error": "not found"}', JSON_HEADERS)

    async def invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The container's /invocations, or the runtime's `/endpoints/{name}/invocations`: the runtime
        checks its request first, then wraps the container's answer (a model's 4xx/5xx -> ModelError)."""
        path = scope["path"]
        runtime: RuntimeRequest | None = None
        if path != "/invocations":
            runtime = runtime_request(path, scope["method"], scope["headers"], self.settings)
            if runtime.refusal is not None:
                await _respond(send, *runtime.refusal)
                return
        elif scope["method"] != "POST":
            await _respond(send, 405, b'{"error": "use POST /invocations"}', JSON_HEADERS)
            return
        content_type, accept, content_length, inference_id, custom_attributes = _request_headers(scope["headers"])
        # Each coroutine level costs its creation and its resumption per request: the model's path is
        # awaited from here directly, and the response sent here too.
        task = self.deadlines.begin()
        try:
            if self.flow is not None:
                status, body, headers = await self.invoke_handlers(
                    self.flow, receive, content_type, accept, inference_id=inference_id,
                    content_length=content_length)
            else:
                extension = (scope.get("extensions") or {}).get(WORKER_REQUESTS)
                status, body, headers = await self.invoke_model(
                    receive, content_type, accept, inference_id=inference_id, content_length=content_length,
                    worker_requests=extension["tasks"] if extension else None)
        except asyncio.CancelledError:
            if not self.deadlines.expired(task):
                raise
            task.uncancel()
            status, body, headers = 504, json.dumps(
                {"error": f"request took longer than {self.settings.timeout_s:g} s"}).encode(), JSON_HEADERS
        finally:
            self.deadlines.end(task)
        if custom_attributes is not None and status == 200:
            # The runtime returns what the container sets; this container echoes the request's
            # attributes (a request id the caller sent comes back), as the runtime's docs suggest.
            headers = [*headers, (CUSTOM_ATTRIBUTES, custom_attributes)]
        if runtime is not None:
            status, body, headers = runtime_response(runtime, status, body, headers, self.settings)
        await send(_response_start(status, body, headers))
        await send({"type": "http.response.body", "body": body})

    async def invoke_model(self, receive: Receive, content_type: str | None, accept: str | None, *,
                           inference_id: str | None, content_length: int,
                           worker_requests: Sized | None = None) -> Answer:
        try:
            predictor = self.predictor
            if predictor is None:
                raise BadRequestError(503, "model not loaded yet")
            request_type = media_type(content_type or "")
            parse = PARSERS.get(request_type)
            if parse is None:
                raise BadRequestError(
                    415, f"Content-Type {content_type!r} not supported; use one of {SUPPORTED_TEXT}")
            response_type = negotiate_accept(accept, self.settings.default_accept)
            if response_type is None:
                raise BadRequestError(406, f"Accept {accept!r} not supported; use one of {SUPPORTED_TEXT}")
            limit = self.settings.max_payload_bytes
            if content_length > limit:
                raise BadRequestError(413, f"body of {content_length} bytes exceeds the {limit} byte limit")
            message = await receive()
            body = message.get("body", b"")
            if message.get("more_body") is not False or message["type"] != "http.request" or len(body) > limit:
                body = await _read_body(receive, limit, message)  # more to come, a disconnect, or too large
            self._in_flight += 1
            try:
                batch = parse(body, predictor.layout)
                if self.guard is not None:
                    self.guard.check(batch)
                # Through the batcher when other requests of this worker are under way: those whose heads
                # arrived with this one have tasks queued behind it (the server's protocol shares their
                # set), and they submit their rows before the batcher flushes. Alone (e.g. one client at
                # a time): score now, no loop hop.
                others = len(worker_requests) > 1 if worker_requests is not None else self._in_flight > 1
                if self.batcher is not None and others:
                    predictions = await self.batcher.submit(batch)
                else:
                    predictions = predictor.predict(batch)
            finally:
                self._in_flight -= 1
            output = ENCODERS[response_type](predictions)
        except BadRequestError as error:
            return error.status, error.body(), JSON_HEADERS
        except ScoringError as error:
            return 400, json.dumps({"error": f"the model cannot score these rows: {error}"}).encode(), JSON_HEADERS
        except Exception as error:  # a bug, not the client's fault: log it, answer 500, keep the worker
            _log(f"invocation failed: {type(error).__name__}: {error}")
            return 500, json.dumps({"error": f"internal error: {type(error).__name__}"}).encode(), JSON_HEADERS
        output_type = RESPONSE_CONTENT_TYPES[response_type]
        self._capture(body, content_type, output, output_type.decode(), inference_id)
        return 200, output, [(b"content-type", output_type)]

    def _capture(self, body: bytes, content_type: str | None, output: bytes, output_type: str,
                 inference_id: str | None) -> None:
        if self.capture is not None and self.capture.sampled():
            self.capture.write(input_data=body, input_content_type=content_type or "",
                               output_data=output, output_content_type=output_type,
                               inference_id=inference_id)

    async def invoke_handlers(
        self, flow: HandlerFlow, receive: Receive, content_type: str | None, accept: str | None, *,
        inference_id: str | None, content_length: int,
    ) -> Answer:
        """The user's handlers run in a thread: their code may block; the event loop must not."""
        try:
            limit = self.settings.max_payload_bytes
            if content_length > limit:
                raise BadRequestError(413, f"body of {content_length} bytes exceeds the {limit} byte limit")
            body = await _read_body(receive, limit, await receive())
            output, output_type = await asyncio.to_thread(flow.invoke, body, content_type or "", accept)
        except (BadRequestError, HandlerError) as error:
            if isinstance(error, HandlerError):
                _log(error.message)
            return error.status, error.body(), JSON_HEADERS
        except ScoringError as error:
            return 400, json.dumps({"error": f"the model cannot score these rows: {error}"}).encode(), JSON_HEADERS
        except Exception as error:  # a bug of ours, not the client's nor the handler's: 500, keep the worker
            _log(f"invocation failed: {type(error).__name__}: {error}")
            return 500, json.dumps({"error": f"internal error: {type(error).__name__}"}).encode(), JSON_HEADERS
        self._capture(body, content_type, output, output_type, inference_id)
        return 200, output, [(b"content-type", output_type.encode("latin-1", errors="replace"))]


def _request_headers(raw: Sequence[tuple[bytes, bytes]]) -> tuple[str | None, str | None, int, str | None,
                                                                   bytes | None]:
    """(Content-Type, Accept, Content-Length or -1, inference id, custom attributes) of a request."""
    content_type = accept = inference_id = None
    custom_attributes = None
    content_length = -1
    for name, value in raw:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"accept":
            accept = value.decode("latin-1")
        elif name == b"content-length":
            content_length = int(value) if value.isdigit() else -1
        elif name == b"x-amzn-sagemaker-inference-id":
            inference_id = value.decode("latin-1")
        elif name == CUSTOM_ATTRIBUTES:
            custom_attributes = value
    return content_type, accept, content_length, inference_id, custom_attributes


async def _read_body(receive: Receive, limit: int, message: Message) -> bytes:
    """The whole body, from the request's first message on (`message`, already received)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise BadRequestError(400, "client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BadRequestError(413, f"body exceeds the {limit} byte limit")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
        message = await receive()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _response_start(status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> Message:
    return {"type": "http.response.start", "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())]}


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(_response_start(status, body, headers))
    await send({"type": "http.response.body", "body": body})


def create_app() -> InferenceApp:
    """uvicorn factory: each worker builds its app from the environment."""
    keep_freed_memory()
    return InferenceApp(ServingSettings.from_env())
