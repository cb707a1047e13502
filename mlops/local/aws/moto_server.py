"""Local AWS: a moto server on a free loopback port in this process; clients come from mlops.aws."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mlops.aws import AwsTarget, client

# moto answers for the account in this variable, so local ARNs carry the environment's account.
ACCOUNT_VARIABLE = "MOTO_ACCOUNT_ID"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class LocalAws:
    """A running local AWS: the target clients are made for, and the account and region it answers as."""

    target: AwsTarget
    account: str
    region: str
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def client(self, service: str) -> Any:
        """One client per service for the server's life: making one loads the service model (~0.3 s
        for SageMaker), and boto3 clients are thread-safe."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = client(service, self.target)
            return self._clients[service]


def _reset(endpoint: str) -> None:
    # Every moto server in a process shares one state; a run starts from an empty one and seeds it.
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with _no_proxy().open(request, timeout=10) as response:
        response.read()


def _no_proxy() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


@contextlib.contextmanager
def local_aws(region: str, account: str) -> Iterator[LocalAws]:
    """Start moto on 127.0.0.1 (free port), empty; stop it and restore the environment on exit."""
    previous = {key: os.environ.get(key) for key in (ACCOUNT_VARIABLE, "NO_PROXY", "no_proxy")}
    os.environ[ACCOUNT_VARIABLE] = account
    # Requests to the loopback server must never go through a proxy from the environment.
    for key in ("NO_PROXY", "no_proxy"):
        hosts = [host for host in (previous[key] or "").split(",") if host]
        os.environ[key] = ",".join([*hosts, LOOPBACK, "localhost"])
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from mlops.local.aws import moto_extensions

    moto_extensions.install()
    server = moto_extensions.fast_stopping_server(LOOPBACK, 0)
    server.start()
    try:
        _, port = server.get_host_and_port()
        endpoint = f"http://{LOOPBACK}:{port}"
        _reset(endpoint)
        yield LocalAws(target=AwsTarget.local(region, endpoint), account=account, region=region)
    finally:
        server.stop()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
