"""The request timeout (SAGEMAKER_MODEL_SERVER_TIMEOUT) kept by the worker's deadline sweep: a request
past it answers 504 and only it; a request that finishes in time is untouched; a cancellation that is
not the timeout's (the server shutting down) still propagates. The app runs in process on a real
event loop; a request that never sends its body is the slow one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from containers.inference.app import InferenceApp
from containers.inference.settings import ServingSettings

Message = MutableMapping[str, Any]
BODY = b"0.5,0.5,10,blue\n"
SCOPE = {"type": "http", "method": "POST", "path": "/invocations",
         "headers": [(b"content-type", b"text/csv"), (b"accept", b"text/csv")]}


def app_for(model_dir: Path, timeout_s: str) -> InferenceApp:
    app = InferenceApp(ServingSettings.from_env({"SM_MODEL_DIR": str(model_dir),
                                                 "SAGEMAKER_MODEL_SERVER_TIMEOUT": timeout_s}))
    app._load()
    return app


async def request(app: InferenceApp, body_arrives: asyncio.Event | None) -> tuple[int, bytes]:
    """One request; its body arrives when `body_arrives` is set (None: at once)."""
    sent: list[Message] = []

    async def receive() -> Message:
        if body_arrives is not None:
            await body_arrives.wait()
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(SCOPE, receive, send)
    return int(sent[0]["status"]), bytes(sent[1]["body"])


def test_a_request_past_the_timeout_answers_504_and_only_it(trained_model_dir: Path) -> None:
    app = app_for(trained_model_dir, "0.2")

    async def scenario() -> tuple[tuple[int, bytes], tuple[int, bytes], float]:
        never = asyncio.Event()
        loop = asyncio.get_running_loop()
        started = loop.time()
        slow = asyncio.create_task(request(app, never))
        quick = await request(app, None)  # while the slow one waits: answered, not swept
        late = await asyncio.wait_for(slow, 10)  # bounded: a sweep that never cancels fails here
        return quick, late, loop.time() - started

    quick, late, elapsed = asyncio.run(scenario())
    assert quick[0] == 200
    assert late[0] == 504
    assert json.loads(late[1])["error"] == "request took longer than 0.2 s"
    assert 0.2 <= elapsed < 0.2 + app.deadlines.interval_s + 1.0  # within one sweep (+ slack for a busy machine)
    assert not app.deadlines._started, "every request's clock is stopped"


def test_a_cancellation_that_is_not_the_timeout_propagates(trained_model_dir: Path) -> None:
    app = app_for(trained_model_dir, "60")

    async def scenario() -> None:
        waiting = asyncio.Event()
        task = asyncio.create_task(request(app, waiting))
        while not app.deadlines._started:  # the request has started and waits for its body
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.wait_for(task, 10)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())
    assert not app.deadlines._started
