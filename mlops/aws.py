"""The only place boto3 clients are made: the same clients in the cloud and against local moto."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"})


@dataclass(frozen=True)
class AwsTarget:
    """Where AWS calls go: the real cloud (endpoint_url None) or a local moto server."""

    region: str
    endpoint_url: str | None = None

    @classmethod
    def local(cls, region: str, endpoint_url: str) -> AwsTarget:
        return cls(region=region, endpoint_url=endpoint_url)

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None


def client(service: str, target: AwsTarget) -> Any:
    """A boto3 client for `service`; locally with dummy credentials so nothing real is ever used."""
    if target.endpoint_url is None:
        return boto3.session.Session(region_name=target.region).client(service, config=_RETRIES)
    session = boto3.session.Session(
        region_name=target.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )
    return session.client(service, endpoint_url=target.endpoint_url, config=_RETRIES)
