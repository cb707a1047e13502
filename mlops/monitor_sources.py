"""Finding and downloading what a monitoring window needs from the account: the endpoint's capture
destination and served model package, its drift baselines, and the window's capture files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from config.naming import Names
from mlops.errors import MlopsError

# Capture files land in the hour they are written, which can be just after the request's hour.
CAPTURE_SLACK = timedelta(hours=1)


class ReplayError(MlopsError):
    """A replay that cannot run: bad window, no endpoint or version, missing capture or baselines."""



@dataclass(frozen=True)
class ServedVersion:
    endpoint: str
    variants: tuple[str, ...]
    capture_uri: str
    model_package_arn: str
    version: int | None
    statistics_uri: str
    constraints_uri: str


def s3_parts(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ReplayError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _endpoint_facts(sm: Any, endpoint: str) -> tuple[dict[str, Any], str | None]:
    """(endpoint config, served model package ARN) of a live endpoint."""
    try:
        described = sm.describe_endpoint(EndpointName=endpoint)
        config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    except ClientError as error:
        if _code(error) in ("ValidationException", "ResourceNotFound"):
            raise ReplayError(
                f"endpoint {endpoint} does not exist; give --capture-uri and --version to replay its old capture"
            ) from error
        raise
    variants = config.get("ProductionVariants", [])
    model_name = variants[0].get("ModelName") if variants else None
    package = None
    if model_name:
        model = sm.describe_model(ModelName=model_name)
        containers = [model.get("PrimaryContainer") or {}, *model.get("Containers", [])]
        package = next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), None)
    return config, package


def _package_arn(sm: Any, names: Names, version: int) -> str:
    from mlops import registry

    return registry.find_version(registry.existing_versions(sm, names.model_package_group), version).arn


def served_version(
    sm: Any, names: Names, *, version: int | None = None, capture_uri: str | None = None
) -> ServedVersion:
    """What the schedule would check: the endpoint's capture and its model's drift baselines."""
    config: dict[str, Any] = {}
    package = None
    if capture_uri is None or version is None:
        config, package = _endpoint_facts(sm, names.endpoint)
    if capture_uri is None:
        capture = config.get("DataCaptureConfig") or {}
        if not capture.get("EnableCapture", False) or not capture.get("DestinationS3Uri"):
            raise ReplayError(f"endpoint {names.endpoint} does not capture data (its DataCaptureConfig is off)")
        capture_uri = str(capture["DestinationS3Uri"])
    variants = tuple(v["VariantName"] for v in config.get("ProductionVariants", [])) or ("AllTraffic",)
    if version is not None:
        package = _package_arn(sm, names, version)
    if package is None:
        raise ReplayError(f"endpoint {names.endpoint} does not serve a model package; give --version N")
    described = sm.describe_model_package(ModelPackageName=package)
    baselines = described.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    statistics = baselines.get("Statistics", {}).get("S3Uri")
    constraints = baselines.get("Constraints", {}).get("S3Uri")
    if not statistics or not constraints:
        raise ReplayError(
            f"model package {package} has no DriftCheckBaselines.ModelDataQuality statistics and constraints"
        )
    return ServedVersion(
        endpoint=names.endpoint,
        variants=variants,
        capture_uri=capture_uri,
        model_package_arn=package,
        version=described.get("ModelPackageVersion"),
        statistics_uri=statistics,
        constraints_uri=constraints,
    )


def _hours(start: datetime, end: datetime) -> list[datetime]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def download_capture(s3: Any, served: ServedVersion, start: datetime, end: datetime, folder: Path) -> list[Path]:
    """The capture files of the hours covering [start, end), in the S3 layout under `folder`."""
    bucket, prefix = s3_parts(served.capture_uri.rstrip("/") + "/")
    files = []
    for variant in served.variants:
        for hour in _hours(start, end + CAPTURE_SLACK):
            hour_prefix = f"{prefix}{served.endpoint}/{variant}/{hour:%Y/%m/%d/%H}/"
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=hour_prefix):
                for item in page.get("Contents", []):
                    target = folder / served.endpoint / variant / f"{hour:%Y/%m/%d/%H}" / item["Key"].rsplit("/", 1)[-1]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, item["Key"], str(target))
                    files.append(target)
    return files


def download_object(s3: Any, uri: str, target: Path) -> Path:
    bucket, key = s3_parts(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        s3.download_file(bucket, key, str(target))
    except ClientError as error:
        raise ReplayError(f"cannot download {uri}: {_code(error) or error}") from error
    return target
