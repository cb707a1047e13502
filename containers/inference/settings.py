"""Serving settings, read once from the environment SageMaker (or local mode) gives the container."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

JSON = "application/json"
CSV = "text/csv"
SUPPORTED_ACCEPT = (JSON, CSV)


class SettingsError(ValueError):
    """An environment variable with a value the server cannot use."""


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be >= {minimum:g}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (true/false)")


@dataclass(frozen=True)
class ServingSettings:
    host: str
    port: int
    workers: int
    timeout_s: float
    max_payload_bytes: int
    max_header_bytes: int
    header_timeout_s: float
    default_accept: str
    model_dir: Path
    batch_enabled: bool
    compiled_scoring: bool
    batch_max_rows: int
    batch_max_wait_s: float
    capture_dir: Path | None
    capture_percent: float
    endpoint_name: str
    variant_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServingSettings:
        env = os.environ if env is None else env
        base = Path(env.get("SAGEMAKER_BASE_DIR", "/opt/ml"))
        default_accept = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", JSON).strip().lower() or JSON
        if default_accept not in SUPPORTED_ACCEPT:
            raise SettingsError(
                f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={default_accept!r}: use one of {SUPPORTED_ACCEPT}"
            )
        capture_dir = env.get("MLOPS_CAPTURE_DIR", "").strip()
        return cls(
            host=env.get("SAGEMAKER_BIND_TO_HOST", "0.0.0.0").strip() or "0.0.0.0",
            port=int(_number(env, "SAGEMAKER_BIND_TO_PORT", 8080, minimum=0)),
            workers=int(_number(env, "SAGEMAKER_MODEL_SERVER_WORKERS", os.cpu_count() or 1, minimum=1)),
            timeout_s=_number(env, "SAGEMAKER_MODEL_SERVER_TIMEOUT", 60.0, minimum=0.001),
            max_payload_bytes=int(_number(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", 6.0, minimum=0.000001) * 1024 * 1024),
            # Request line + headers; SageMaker's own front end allows far less (e.g. CustomAttributes <= 1 KB).
            max_header_bytes=int(_number(env, "SAGEMAKER_MAX_HEADER_SIZE_IN_KB", 16.0, minimum=0.01) * 1024),
            header_timeout_s=_number(env, "SAGEMAKER_HEADER_READ_TIMEOUT", 20.0, minimum=0.001),
            default_accept=default_accept,
            model_dir=Path(env.get("SM_MODEL_DIR", str(base / "model"))),
            batch_enabled=_flag(env, "MLOPS_BATCHING", True),
            # numba for small batches (small_batch.py): ~5x faster single rows, ~115 MB more per worker.
            compiled_scoring=_flag(env, "MLOPS_COMPILED_SCORING", True),
            batch_max_rows=int(_number(env, "MLOPS_BATCH_MAX_ROWS", 256, minimum=1)),
            batch_max_wait_s=_number(env, "MLOPS_BATCH_MAX_WAIT_MS", 0.0, minimum=0.0) / 1000.0,
            capture_dir=Path(capture_dir) if capture_dir else None,
            capture_percent=min(100.0, _number(env, "MLOPS_CAPTURE_SAMPLING_PERCENT", 100.0, minimum=0.0)),
            endpoint_name=env.get("MLOPS_ENDPOINT_NAME", "local-endpoint").strip() or "local-endpoint",
            variant_name=env.get("MLOPS_VARIANT_NAME", "AllTraffic").strip() or "AllTraffic",
        )
