"""Runs the ASGI app under uvicorn (httptools parser with head bounds, uvloop event loop), one process per worker."""

from __future__ import annotations

import uvicorn

from containers.inference.protocol import BoundedHttpToolsProtocol
from containers.inference.settings import ServingSettings

APP = "containers.inference.app:create_app"


def serve(settings: ServingSettings, app: str = APP) -> None:
    """Blocks until SIGTERM/SIGINT; uvicorn then stops accepting, finishes in-flight requests, exits.
    `app` names the ASGI app factory; only bench/serving.py passes another (its bare-app limit)."""
    print(
        f"[inference] serving {settings.model_dir} on {settings.host}:{settings.port} with "
        f"{settings.workers} worker(s), timeout {settings.timeout_s:g}s, "
        f"head <= {settings.max_header_bytes} B in {settings.header_timeout_s:g}s, "
        f"batching {'on' if settings.batch_enabled else 'off'}"
        + (f", capture to {settings.capture_dir}" if settings.capture_dir else ""),
        flush=True,
    )
    uvicorn.run(
        app,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http=BoundedHttpToolsProtocol,  # httptools, with bounds on header size and header read time
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,  # nothing reads the client address: no X-Forwarded-* middleware per request
        date_header=False,
        # Above SageMaker's 60 s invocation limit, so the platform's pooled connections are not cut.
        timeout_keep_alive=75,
        backlog=2048,
    )
