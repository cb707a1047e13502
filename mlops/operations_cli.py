"""`mlops images ...` and `mlops teardown`: parsing and presentation of the operations commands.

Kept beside cli.py (which lists these groups in COMMAND_GROUPS); the work is in mlops/images.py and
mlops/teardown.py.
"""

from __future__ import annotations

import argparse
from typing import Any

from config.settings import load_environment
from mlops.aws import client

Commands = Any  # argparse's _SubParsersAction, as in cli.py


def _images_build(args: argparse.Namespace) -> int:
    from mlops import images
    from mlops.cli import aws_target, console

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
    from mlops.cli import add_command

    group = commands.add_parser("images", help="the environment's container images")
    sub = group.add_subparsers(dest="images_command", required=True, metavar="COMMAND")
    build = add_command(sub, "build", "start the environment's image build (its CodeBuild project) in its account",
                        _images_build)
    build.add_argument("--wait", action="store_true", help="follow the build; fail with its reason")
    build.add_argument("--poll-seconds", type=float, default=15.0, help=argparse.SUPPRESS)
    build.add_argument("--timeout-minutes", type=float, default=0, help="give up waiting after this long")
