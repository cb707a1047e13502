"""`mlops images ...` and `mlops teardown`: parsing and presentation of the operations commands.

Kept beside cli.py (which lists these groups in COMMAND_GROUPS); the work is in mlops/images.py and
mlops/teardown.py.
"""

from __future__ import annotations

import argparse
from typing import Any

from config.settings import load_environment
from mlops.aws import client
from mlops.cli_common import Commands, add_command, aws_target, console


def _images_build(args: argparse.Namespace) -> int:
    from mlops import images

    env = load_environment(args.env)
    target = aws_target(env, args)
    codebuild = client("codebuild", target)
    build_id = images.start_image_build(codebuild, env)
    console.print(f"started image build {build_id} (tag {images.expected_tag()})")
    if not args.wait:
        return 0
    seen: set[str] = set()

    def show(state: images.BuildState) -> None:
        if state.phase and state.phase not in seen:
            seen.add(state.phase)
            console.print(f"  {state.phase}")

    state = images.wait_for_build(
        codebuild, client("logs", target), build_id, poll_seconds=args.poll_seconds,
        timeout_seconds=args.timeout_minutes * 60 if args.timeout_minutes else None, on_update=show,
    )
    console.print(f"[green]image build {state.status}[/]")
    return 0


def add_images_commands(commands: Commands) -> None:

    group = commands.add_parser("images", help="the environment's container images")
    sub = group.add_subparsers(dest="images_command", required=True, metavar="COMMAND")
    build = add_command(sub, "build", "start the environment's image build (its CodeBuild project) in its account",
                        _images_build)
    build.add_argument("--wait", action="store_true", help="follow the build; fail with its reason")
    build.add_argument("--poll-seconds", type=float, default=15.0, help=argparse.SUPPRESS)
    build.add_argument("--timeout-minutes", type=float, default=0, help="give up waiting after this long")


# --- teardown -----------------------------------------------------------------------------------


def _kept_inventory(sm: Any, env_name: str) -> list[str]:
    """What a teardown never touches, counted so the user sees it is still there."""
    from botocore.exceptions import ClientError

    from config.naming import BUCKET_PURPOSES, Names

    names = Names.of(load_environment(env_name))
    models = [m["ModelName"] for m in sm.list_models(NameContains=names.prefix)["Models"]
              if m["ModelName"].startswith(f"{names.prefix}-")]
    kept = [f"{len(models)} model(s) ({names.prefix}-model-v*)"]
    try:
        versions = sm.list_model_packages(ModelPackageGroupName=names.model_package_group)["ModelPackageSummaryList"]
        kept.append(f"model package group {names.model_package_group} with {len(versions)} version(s)")
    except ClientError:
        kept.append(f"model package group {names.model_package_group} (not found)")
    kept.append("buckets " + ", ".join(names.bucket(purpose) for purpose in BUCKET_PURPOSES) + " and their objects")
    kept.append("stacks " + ", ".join(names.stack(part) for part in ("governance", "containers", "registry",
                                                                      "pipeline")) +
                f" and {names.stack('experimentation')} if deployed (not touched)")
    kept.append(f"alerts topic {names.alerts_topic} with its subscriptions, and where configured the cost budget and "
                f"the training schedule (stack {names.stack('alerts')}, not touched)")
    return kept


def _confirm(count: int, env_name: str) -> bool:
    import sys

    if not sys.stdin.isatty():
        return False
    answer = input(f"remove these {count} item(s) of {env_name}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _teardown(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from deployment.teardown import teardown_targets
    from mlops.teardown import TeardownError, TeardownReport, TeardownTargets, teardown

    env = load_environment(args.env)
    target = aws_target(env, args)
    cfn, sm = client("cloudformation", target), client("sagemaker", target)
    targets = TeardownTargets.from_dict(teardown_targets(env))
    plan = teardown(cfn, sm, targets, now=datetime.now(UTC), apply=False)
    if plan.removed and not args.yes:
        for what in plan.removed:
            console.print(f"  would remove {what}")
        if not _confirm(len(plan.removed), env.name):
            raise TeardownError(f"nothing removed from {env.name}: pass --yes to remove these "
                                f"{len(plan.removed)} item(s)")
    report = TeardownReport()
    try:
        if plan.removed:
            teardown(cfn, sm, targets, now=datetime.now(UTC), report=report)
    finally:  # on a DELETE_FAILED, what went before it is said too
        for what in report.removed:
            console.print(f"removed {what}")
    if not plan.removed:
        console.print(f"nothing to remove in {env.name}")
    for what in [*(report.kept if plan.removed else plan.kept), *_kept_inventory(sm, env.name)]:
        console.print(f"kept {what}")
    if any(what.startswith("stack ") for what in report.removed):
        console.print(f"note: the next `npx --no-install cdk deploy -c env={env.name} -c model_version=N --all` or run "
                      "of the CI/CD route creates the stacks again")
    return 0


def add_teardown_commands(commands: Commands) -> None:

    teardown = add_command(commands, "teardown", "delete the environment's monitoring and endpoint stacks and stop "
                           "its Studio apps (never data, models, model packages, the registry, the alerts topic or "
                           "the budget)",
                           _teardown)
    teardown.add_argument("--yes", action="store_true", help="do not ask before removing")
