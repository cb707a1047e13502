"""The SageMaker runtime's InvokeEndpoint in front of the container: `POST /endpoints/{EndpointName}/invocations`.

What boto3's `sagemaker-runtime` client sends and parses (botocore's service-2.json, rest-json):
request headers Content-Type, Accept, X-Amzn-SageMaker-Custom-Attributes (<= 1024 characters),
X-Amzn-SageMaker-Inference-Id (<= 64), X-Amzn-SageMaker-Target-Variant; response headers
Content-Type, x-Amzn-Invoked-Production-Variant and the custom attributes the container set.
Errors carry `x-amzn-ErrorType` (botocore takes the code before its `:`) and a JSON body: the
runtime's own refusals are ValidationError (400, `{"message"}`); a container's 4xx/5xx becomes
ModelError (424) with OriginalStatusCode and OriginalMessage, as the runtime wraps it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from containers.inference.settings import ServingSettings

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, bytes, Headers]

CUSTOM_ATTRIBUTES = b"x-amzn-sagemaker-custom-attributes"
TARGET_VARIANT = b"x-amzn-sagemaker-target-variant"
INFERENCE_ID = b"x-amzn-sagemaker-inference-id"
INVOKED_VARIANT = b"x-Amzn-Invoked-Production-Variant"
MAX_CUSTOM_ATTRIBUTES = 1024
MAX_INFERENCE_ID = 64
_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")
_ERROR_NAMESPACE = ":http://internal.amazon.com/coral/com.amazon.sagemaker/"


@dataclass(frozen=True)
class RuntimeRequest:
    """A runtime call: the endpoint it names and its request id, or the runtime's refusal."""

    request_id: str
    refusal: Answer | None = None


def runtime_error(status: int, code: str, message: str, request_id: str, **fields: object) -> Answer:
    body = {"message": message} if not fields else {"Message": message, **fields}
    headers = [(b"content-type", b"application/json"), (b"x-amzn-ErrorType", (code + _ERROR_NAMESPACE).encode()),
               (b"x-amzn-RequestId", request_id.encode())]
    return status, json.dumps(body).encode(), headers


def runtime_request(path: str, method: str, headers: Iterable[tuple[bytes, bytes]],
                    settings: ServingSettings) -> RuntimeRequest:
    """Check a runtime call as the runtime does before it reaches the container."""
    request_id = str(uuid.uuid4())
    match = _PATH.match(path)
    if match is None or method != "POST":
        return RuntimeRequest(request_id, runtime_error(
            404, "UnknownOperationException", f"no operation {method} {path}; use POST /endpoints/NAME/invocations",
            request_id))
    name = match.group(1)
    if name != settings.endpoint_name:
        return RuntimeRequest(request_id, runtime_error(
            400, "ValidationError", f"Endpoint {name} not found (this server serves {settings.endpoint_name}).",
            request_id))
    for header, value in headers:
        problem = None
        if header == TARGET_VARIANT and value.decode("latin-1") != settings.variant_name:
            problem = (f"The variant {value.decode('latin-1')!r} is not part of endpoint {name} "
                       f"(its variant: {settings.variant_name}).")
        elif header == CUSTOM_ATTRIBUTES and len(value) > MAX_CUSTOM_ATTRIBUTES:
            problem = ("1 validation error detected: Value at 'customAttributes' failed to satisfy constraint: "
                       f"Member must have length less than or equal to {MAX_CUSTOM_ATTRIBUTES}")
        elif header == INFERENCE_ID and not 0 < len(value) <= MAX_INFERENCE_ID:
            problem = ("1 validation error detected: Value at 'inferenceId' failed to satisfy constraint: "
                       f"Member must have length between 1 and {MAX_INFERENCE_ID}")
        if problem is not None:
            return RuntimeRequest(request_id, runtime_error(400, "ValidationError", problem, request_id))
    return RuntimeRequest(request_id)


def runtime_response(request: RuntimeRequest, status: int, body: bytes, headers: Headers,
                     settings: ServingSettings) -> Answer:
    """The container's answer as the runtime returns it."""
    if status == 200:
        return status, body, [*headers, (INVOKED_VARIANT, settings.variant_name.encode()),
                              (b"x-amzn-RequestId", request.request_id.encode())]
    original = body.decode("utf-8", errors="replace")
    side = "client" if 400 <= status < 500 else "server"
    message = (f'Received {side} error ({status}) from primary with message "{original}". '
               "See the server's log for more information.")
    return runtime_error(424, "ModelError", message, request.request_id, OriginalStatusCode=status,
                         OriginalMessage=original)
