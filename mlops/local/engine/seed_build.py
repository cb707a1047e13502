"""Child process of `--pipeline MODULE:FUNCTION`: build someone's pipeline offline, print its definition.

Arguments: MODULE:FUNCTION, the keyword arguments as JSON, the local S3 root. Imports nothing of the
project (the user's folder comes first on the path and may hold its own `pipelines` or `config`
package): the standard library, moto, and the user's module, which imports the SageMaker SDK.
Sockets and name lookups are refused, so the SDK's telemetry request (or anything else) cannot leave.
Prints {"name", "definition"} on stdout; whatever the user's code prints goes to stderr.
"""

from __future__ import annotations

import importlib
import json
import socket
import sys
from pathlib import Path
from typing import Any


def _refuse_network(*_args: Any, **_kwargs: Any) -> Any:
    raise OSError("local mode builds pipelines offline: no network")


def _copy_s3(s3_root: Path) -> int:
    """Every object of moto's in-memory S3 into `<s3_root>/<bucket>/<key>` (local S3)."""
    import boto3

    client = boto3.client("s3", region_name="us-east-1")
    count = 0
    for bucket in client.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                target = s3_root / name / item["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(client.get_object(Bucket=name, Key=item["Key"])["Body"].read())
                count += 1
    return count


def main(argv: list[str]) -> int:
    target, arguments, s3_root = argv[0], json.loads(argv[1]), Path(argv[2])
    socket.socket.connect = _refuse_network  # type: ignore[method-assign]
    socket.create_connection = _refuse_network
    socket.getaddrinfo = _refuse_network
    result = sys.stdout
    sys.stdout = sys.stderr  # what the user's code prints must not mix with the definition
    from moto import mock_aws

    with mock_aws():
        module_name, function_name = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            print(f"error: cannot import {module_name}: {error}", file=sys.stderr)
            return 1
        function = getattr(module, function_name, None)
        if not callable(function):
            print(f"error: {module_name} has no function {function_name}", file=sys.stderr)
            return 1
        pipeline = function(**arguments)
        definition = json.loads(pipeline.definition())
        copied = _copy_s3(s3_root)
    print(f"{copied} object(s) uploaded by the build copied to local S3", file=sys.stderr)
    result.write(json.dumps({"name": pipeline.name, "definition": definition}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
