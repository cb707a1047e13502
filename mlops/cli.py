"""The `mlops` command: argument parsing and presentation only; the work is in mlops/*.py.

Adding a command group is one function `add_<group>_commands(commands)` appended to
COMMAND_GROUPS; each command is registered with `add_command(...)` and a handler
`(args) -> exit code` that raises a domain error (MlopsError, ConfigError, DefinitionError) to fail.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from config.settings import ConfigError, load_environment
from mlops import runs
from mlops.aws import client
from mlops.cli_common import Commands, add_command, aws_target, console
from mlops.errors import MlopsError
from mlops.operations_cli import add_images_commands, add_teardown_commands
from mlops.registry_cli import add_local_group, add_registry_commands
from pipelines.contract import DefinitionError

# --- pipeline -----------------------------------------------------------------------------------


def _pipeline_definition(args: argparse.Namespace) -> int:
    from pipelines.definition import definition_json

    sys.stdout.write(definition_json(load_environment(args.env), image_tag=args.image_tag))
    return 0


def _show_progress() -> Callable[[runs.ExecutionState], None]:
    seen: dict[str, str] = {}

    def show(state: runs.ExecutionState) -> None:
        for step in state.steps or ():
            if seen.get(step.name) != step.status:
                seen[step.name] = step.status
                style = {"Succeeded": "green", "Failed": "red", "Executing": "yellow"}.get(step.status, "")
                status = f"[{style}]{step.status}[/]" if style else step.status
                console.print(f"  {step.name:<28} {status}")
        if seen.get("") != state.status:
            seen[""] = state.status
            console.print(f"execution: {state.status}")

    return show


def _pipeline_run(args: argparse.Namespace) -> int:
    from pipelines.definition import build_pipeline_definition

    env = load_environment(args.env)
    definition = build_pipeline_definition(env, image_tag=args.image_tag)
    overrides = runs.parse_parameter_overrides(args.param, definition, env)
    target = aws_target(env, args)
    sm = client("sagemaker", target)
    started = runs.run_pipeline(sm, client("s3", target), env, definition, overrides)
    if started.uploaded_dataset:
        console.print(f"uploaded the default data set to {started.uploaded_dataset}")
    console.print(f"pipeline {started.pipeline} {started.action}")
    console.print(f"started execution {started.execution_arn}")
    if not args.wait:
        return 0
    state = runs.wait_for_execution(
        sm, started.execution_arn, poll_seconds=args.poll_seconds,
        timeout_seconds=args.timeout_minutes * 60 if args.timeout_minutes else None,
        on_update=_show_progress(),
    )
    if state.steps is None:
        console.print("(step progress is not available from this endpoint)")
    console.print(f"[green]pipeline execution {state.status}[/]")
    return 0


def add_pipeline_commands(commands: Commands) -> None:
    group = commands.add_parser("pipeline", help="the SageMaker training pipeline")
    sub = group.add_subparsers(dest="pipeline_command", required=True, metavar="COMMAND")
    definition = add_command(sub, "definition", "print the pipeline definition JSON", _pipeline_definition)
    definition.add_argument("--image-tag", default=None, help="image tag (default: hash of the image sources)")
    run = add_command(sub, "run", "create or update the pipeline, then start it", _pipeline_run)
    run.add_argument("--wait", action="store_true", help="follow the execution until it ends")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    run.add_argument("--image-tag", default=None, help=argparse.SUPPRESS)
    run.add_argument("--poll-seconds", type=float, default=30.0, help=argparse.SUPPRESS)
    run.add_argument("--timeout-minutes", type=float, default=0, help="give up waiting after this long")


# --- monitor ------------------------------------------------------------------------------------


def _monitor_replay(args: argparse.Namespace) -> int:

    from mlops import monitor_replay

    env = load_environment(args.env)
    window = monitor_replay.parse_window(args.window)
    target = aws_target(env, args)
    out = Path(args.out) if args.out else Path(".mlops") / "replay" / env.name / f"{window.start:%Y%m%dT%H%M}"
    result = monitor_replay.replay(
        client("sagemaker", target), client("s3", target), env, window, out,
        backtest_count=args.backtest, version=args.version, capture_uri=args.capture_uri,
    )
    served = result.served
    console.print(f"replayed {result.window.label} of {served.endpoint} (model version {served.version}): "
                  f"{result.capture_files} capture files, {result.outcome.rows} rows")
    for name, distance in sorted(result.outcome.drift.items()):
        threshold = result.baseline.threshold(name)
        status = "[red]drift[/]" if distance > threshold else "ok"
        console.print(f"  {name:<28} {distance:.4f} (threshold {threshold:.4f}) {status}")
    console.print(f"{len(result.outcome.violations)} violations; report: {result.report}")
    return 0


def add_monitor_commands(commands: Commands) -> None:
    group = commands.add_parser("monitor", help="data-quality monitoring of the environment's endpoint")
    sub = group.add_subparsers(dest="monitor_command", required=True, metavar="COMMAND")
    replay = add_command(sub, "replay", "re-run a monitoring window offline from the account's capture and "
                         "baselines, with a threshold backtest", _monitor_replay)
    replay.add_argument("--window", required=True, metavar="START[/END]",
                        help="UTC, e.g. 2024-05-06T07 or 2024-05-06T07:00Z/2024-05-06T09:00Z (default: one hour)")
    replay.add_argument("--backtest", type=int, default=24, metavar="N", help="windows to backtest (default 24)")
    replay.add_argument("--out", default=None, metavar="DIR", help="output folder (default .mlops/replay/ENV/START)")
    replay.add_argument("--version", type=int, default=None, metavar="N",
                        help="baselines of this model version instead of the served one")
    replay.add_argument("--capture-uri", default=None, metavar="S3URI",
                        help="capture destination instead of the endpoint's (e.g. after it was deleted)")


# --- endpoint -----------------------------------------------------------------------------------


def _endpoint_check(args: argparse.Namespace) -> int:
    from mlops import endpoint_check

    env = load_environment(args.env)
    target = aws_target(env, args)
    sample = None
    if args.payload is not None:
        try:
            body = args.payload.read_bytes()
        except OSError as error:
            raise MlopsError(f"--payload {args.payload}: {error.strerror}") from None
        sample = endpoint_check.Sample(body=body, rows=len(body.decode().splitlines()), labels=frozenset())
    result = endpoint_check.check_endpoint(client("sagemaker", target), client("sagemaker-runtime", target), env,
                                           version=args.version, sample=sample)
    console.print(f"endpoint {result.endpoint} serves version {result.version} and answered {result.rows} row(s)")
    return 0


def add_endpoint_commands(commands: Commands) -> None:

    group = commands.add_parser("endpoint", help="the environment's deployed endpoint")
    sub = group.add_subparsers(dest="endpoint_command", required=True, metavar="COMMAND")
    check = add_command(sub, "check", "smoke test: the intended version is served and a sample is answered",
                        _endpoint_check)
    check.add_argument("--version", type=int, default=None, metavar="N", help="default: the newest Approved")
    check.add_argument("--payload", type=Path, default=None, metavar="FILE",
                       help="CSV feature rows without header (default: the bundled data set's test split)")


# --- registry (mlops/registry_cli.py), operations: images, teardown (mlops/operations_cli.py) ----------

OPERATIONS_GROUPS: list[Callable[[Commands], None]] = [add_images_commands, add_teardown_commands]

# --- entry point --------------------------------------------------------------------------------

COMMAND_GROUPS: list[Callable[[Commands], None]] = [add_pipeline_commands, add_registry_commands, add_local_group,
                                                    add_endpoint_commands, add_monitor_commands, *OPERATIONS_GROUPS]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description="MLOps kit for Amazon SageMaker")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_group in COMMAND_GROUPS:
        add_group(commands)
    return parser


def _aws_problem(error: BotoCoreError | ClientError) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "request")
        return f"AWS {operation}: {details.get('Code', 'error')}: {details.get('Message', '')}".rstrip(": ")
    return f"AWS: {error}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except (MlopsError, ConfigError, DefinitionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"error: {_aws_problem(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # a file or folder the command could not use: named, not a traceback
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
