"""The limit for bench/serving.py: an ASGI app that reads each request's body and answers a constant, served
by the inference server's own stack (containers/inference/server.py: uvicorn, httptools with our head bounds,
uvloop, the same workers). The gap between it and the real server is what the app itself costs.

Started as `python -c "...serve(settings, app='bench.serving_bare:create_app')"` from the repository root.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
ANSWER = b"0,0.5,0.5\n"
HEADERS = [(b"content-type", b"text/csv"), (b"content-length", str(len(ANSWER)).encode())]


async def bare_app(scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Message]],
                   send: Callable[[Message], Awaitable[None]]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


def create_app() -> Callable[..., Awaitable[None]]:
    """uvicorn factory, as the inference server's app is built."""
    return bare_app
