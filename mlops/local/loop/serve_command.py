"""`mlops local serve`: an approved version of the local registry as a SageMaker endpoint on loopback,
with data capture on, until Ctrl-C. Clients reach it as they reach SageMaker's runtime:
`boto3.client("sagemaker-runtime", endpoint_url=URL).invoke_endpoint(EndpointName=NAME, ...)`."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from config.naming import Names
from config.settings import load_environment
from deployment.endpoint import VARIANT, capture_destination
from mlops.local.aws.state import registry_packages
from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.jobs import log_tail
from mlops.local.errors import LocalModeError
from mlops.local.loop.serving import Endpoint, free_port, model_of, start_endpoint
from mlops.local.workdir import DEFAULT_WORK_DIR, WorkDir

APPROVED = "Approved"
# Under the work folder, one sandbox per port: a port has one server at a time, so two `mlops local
# serve` never share a model folder (`mlops local run` keeps its endpoint in its run folder).
SERVE_FOLDER = "serve"


def registered_versions(work: WorkDir, group: str) -> list[dict[str, Any]]:
    """The group's model packages as the local state file keeps them (read only: no lock, no server)."""
    packages = registry_packages(work.state_root, group)
    if packages is None:
        raise LocalModeError(f"no local registry in {work.root}; run `mlops local run` first")
    return packages


def choose_version(packages: list[dict[str, Any]], group: str, version: int | None) -> dict[str, Any]:
    """The asked version if it is approved, else the newest approved one; refused by name otherwise."""
    if version is not None:
        for package in packages:
            if int(package.get("ModelPackageVersion", 0)) == version:
                status = package.get("ModelApprovalStatus")
                if status != APPROVED:
                    raise LocalModeError(
                        f"version {version} of {group} is {status}, not {APPROVED}: approve it first with "
                        f"`mlops local registry approve --version {version}`")
                return package
        known = sorted(int(package.get("ModelPackageVersion", 0)) for package in packages)
        raise LocalModeError(f"{group} has no version {version} (versions: {known or 'none'})")
    approved = [package for package in packages if package.get("ModelApprovalStatus") == APPROVED]
    if not approved:
        raise LocalModeError(f"{group} has no {APPROVED} version to serve; approve one with "
                             "`mlops local registry approve --version N`")
    return max(approved, key=lambda package: int(package["ModelPackageVersion"]))


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # `kill` stops the server as Ctrl-C does: the same clean path


def serve(args: argparse.Namespace) -> int:
    env = load_environment(args.env)
    names = Names.of(env)
    work = WorkDir(Path(args.work_dir))
    package = choose_version(registered_versions(work, names.model_package_group), names.model_package_group,
                             args.version)
    model = model_of(package)
    capture_dir = work.s3_path(capture_destination(names))
    port = free_port() if args.port is None else args.port
    endpoint = start_endpoint(work, model, work.root / SERVE_FOLDER / f"port-{port}", endpoint_name=names.endpoint,
                              variant=VARIANT, capture_dir=capture_dir,
                              capture_percent=float(env.endpoint.data_capture_percent),
                              images=ImageCatalog.of(names), port=port)
    # SIGINT stays as the command was started: ignored in a shell's background job, as `mlops local run`.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        endpoint.wait_ready()
        _announce(endpoint, names.endpoint, env.region, capture_dir / names.endpoint / VARIANT)
        code = endpoint.process.wait()
        print(f"error: the inference server exited with code {code}:\n{log_tail(endpoint.log)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        endpoint.stop()
        print(f"stopped; data capture kept in {capture_dir / names.endpoint / VARIANT}", flush=True)
        return 0
    finally:
        endpoint.stop()
        signal.signal(signal.SIGTERM, previous)


def _announce(endpoint: Endpoint, name: str, region: str, capture: Path) -> None:
    url = f"http://127.0.0.1:{endpoint.port}"
    print(f"serving version {endpoint.model.version} as endpoint {name} (variant {VARIANT}) at {url}\n"
          f"  InvokeEndpoint: POST {url}/endpoints/{name}/invocations\n"
          f"  data capture:   {capture}\n"
          f"  server log:     {endpoint.log}\n"
          f"  from Python:    boto3.client('sagemaker-runtime', endpoint_url='{url}', region_name='{region}')"
          f".invoke_endpoint(EndpointName='{name}', ContentType='text/csv', Body=...)\n"
          "Ctrl-C stops it.", flush=True)


def add_serve_command(sub: Any) -> None:
    """Register `mlops local serve` on the `mlops local` subparsers."""
    parser = sub.add_parser(
        "serve", help="serve an approved version as a SageMaker endpoint on loopback until Ctrl-C",
        description="Serve an Approved version of the local registry (the newest by default) with data capture "
                    "on; boto3's sagemaker-runtime client and the SDK's Predictor reach it with endpoint_url.",
    )
    parser.add_argument("--env", default="dev", metavar="NAME", help="environment (default: dev)")
    parser.add_argument("--version", type=int, default=None, metavar="N",
                        help="an Approved version (default: the newest Approved)")
    parser.add_argument("--port", type=int, default=None, metavar="PORT", help="loopback port (default: a free one)")
    parser.add_argument("--work-dir", default=str(DEFAULT_WORK_DIR), metavar="DIR",
                        help=f"local state, artifacts and runs (default: {DEFAULT_WORK_DIR})")
    parser.set_defaults(handler=serve)
