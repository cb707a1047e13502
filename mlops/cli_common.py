"""What every `mlops` command group shares: the console, `add_command` (with --env and the hidden
--endpoint-url) and the AWS target the options name. The groups live in cli.py, registry_cli.py and
operations_cli.py."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from rich.console import Console

from config.settings import EnvironmentConfig
from mlops.aws import AwsTarget

ENDPOINT_URL_VARIABLE = "MLOPS_AWS_ENDPOINT_URL"
Handler = Callable[[argparse.Namespace], int]
Commands = Any  # argparse's _SubParsersAction is private; this is what add_subparsers returns

console = Console(highlight=False, soft_wrap=True)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", required=True, metavar="NAME", help="environment from config/environments.yaml")
    # Hidden: local mode and tests point the cloud commands at a moto server on loopback.
    common.add_argument("--endpoint-url", default=None, help=argparse.SUPPRESS)
    return common


def add_command(
    commands: Commands, name: str, help_text: str, handler: Handler, *, needs_env: bool = True
) -> argparse.ArgumentParser:
    """Register one subcommand; `needs_env` adds --env NAME and the hidden --endpoint-url."""
    parents = [_common_options()] if needs_env else []
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text, parents=parents)
    parser.set_defaults(handler=handler)
    return parser


def aws_target(env: EnvironmentConfig, args: argparse.Namespace) -> AwsTarget:
    """The env's region and the default credential chain, or a local endpoint (option or variable)."""
    endpoint = getattr(args, "endpoint_url", None) or os.environ.get(ENDPOINT_URL_VARIABLE) or None
    return AwsTarget(region=env.region, endpoint_url=endpoint)
