"""Runs the ASGI app under uvicorn (httptools parser with head bounds, uvloop event loop), one process per
worker, each worker listening on its own SO_REUSEPORT socket so that the kernel spreads connections."""

from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from containers.inference.protocol import BoundedHttpToolsProtocol
from containers.inference.settings import ServingSettings

APP = "containers.inference.app:create_app"


def _reuse_port_socket(family: int, address: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


class PerWorkerSocket(socket.socket):
    """The address, bound (not listening) in the supervisor; each worker unpickles it as a socket of its
    own bound to the same address with SO_REUSEPORT, and listens on that. The kernel then spreads new
    connections over the workers by hash. On uvicorn's one shared socket, the worker that wakes first
    accepts every pending connection: 7 of wrk's 8 landed on one of two workers, the other idled."""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return _reuse_port_socket, (self.family, self.getsockname())


def _supervisor_socket(host: str, port: int) -> PerWorkerSocket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # A plain bind first: a port that another server holds, even one of ours with SO_REUSEPORT (which a
    # second SO_REUSEPORT bind would silently share), is refused as uvicorn's shared socket refused it.
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]
    sock = PerWorkerSocket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))  # holds the port (and resolves port 0) for the workers' sockets
    return sock


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
    config = uvicorn.Config(
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
    try:
        if settings.workers > 1:
            # What uvicorn.run does for several workers, with a socket per worker instead of a shared one.
            try:
                sock = _supervisor_socket(settings.host, settings.port)
            except OSError as error:  # uvicorn's own bind failure: one line, exit status 3
                print(f"[inference] cannot listen on {settings.host}:{settings.port}: {error.strerror}",
                      file=sys.stderr, flush=True)
                sys.exit(STARTUP_FAILURE)
            with sock:
                Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass
