"""`mlops local ...`: the offline loop (`run`) and the registry commands against the local state."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from mlops.local.summary import RunSummary
from mlops.local.workdir import DEFAULT_WORK_DIR

console = Console(highlight=False, soft_wrap=True)


def _run(args: argparse.Namespace) -> int:
    from mlops.local.loop import LocalRun, LocalRunOptions

    options = LocalRunOptions(
        env_name=args.env, work_dir=Path(args.work_dir), data=Path(args.data) if args.data else None,
        target=args.target, problem_type=args.problem_type, params=tuple(args.param), resume=args.resume,
        max_parallel=args.max_parallel, config=Path(args.config) if args.config else None,
    )
    run = LocalRun(options, console)
    try:
        code = run.execute()
    except KeyboardInterrupt:
        print_summary(run.summary)
        return 130
    print_summary(run.summary)
    return code


def print_summary(summary: RunSummary) -> None:
    s = summary
    style = "green" if s.status == "Succeeded" else "red"
    console.print(f"\n[bold]Run {s.execution_id}[/] ([{style}]{s.status}[/]) in {s.seconds:.1f}s, "
                  f"environment {s.environment}")
    if s.failure:
        console.print(f"[red]error: {escape(s.failure)}[/]")
        if s.failure_log_tail:
            console.print(f"[dim]--- last lines of {escape(str(s.failure_log))}[/]")
            console.print(escape(s.failure_log_tail), style="dim")
        if (s.failed_step and s.failed_step != "Fail") or s.status == "Interrupted":
            work = "" if Path(s.work_dir) == DEFAULT_WORK_DIR else f" --work-dir {s.work_dir}"
            advice = "continue" if s.status == "Interrupted" else "fix the cause, then continue"
            console.print(f"{advice} from {s.failed_step or 'where it stopped'} with: "
                          f"[bold]mlops local run --env {s.environment}{work} --resume[/]")
    if s.registered:
        console.print(f"registered: version {s.registered['version']} ({s.registered['status']})"
                      + (f": {escape(s.approval['reason'])}" if s.approval else ""))
    if s.approve_command:
        console.print(f"approve it with: [bold]{escape(s.approve_command)}[/]")
    if s.served:
        repeated = s.replay["sent_rows"] // max(1, s.replay["test_rows"] + s.replay["drifted_rows"])
        sampling = f", each sent {repeated}x for {s.replay['capture_percent']:g}% capture" if repeated > 1 else ""
        console.print(f"served: version {s.served['version']} on 127.0.0.1:{s.served['port']}; replayed "
                      f"{s.replay['test_rows']} test rows + {s.replay['drifted_rows']} drifted rows "
                      f"({', '.join(item['name'] for item in s.drifted_features)} moved{sampling})")
    elif s.serve_note:
        console.print(f"served: nothing ({escape(s.serve_note)})")
    if s.monitoring:
        top = sorted(s.drift.items(), key=lambda item: -item[1])[:5]
        console.print(f"monitoring: {len(s.monitoring['violations'])} violation(s); highest drift: "
                      + ", ".join(f"{name} {value:.3f}" for name, value in top))
    in_alarm = [alarm["name"] for alarm in s.alarms if alarm["state"] == "ALARM"]
    if s.alarms:
        console.print(f"alarms: {len(in_alarm)} of {len(s.alarms)} in ALARM"
                      + (f" ({', '.join(in_alarm)})" if in_alarm else ""))
    for alert in s.alerts:
        console.print(f"alert delivered: [bold]{escape(alert['Subject'])}[/]")
    if s.alarms and not s.alerts:
        console.print("alerts: none (no alarm changed state)")
    if s.files:
        console.print("files:")
        width = max(len(name) for name in s.files)
        for name, path in sorted(s.files.items()):
            console.print(f"  {name:<{width}}  {escape(path)}")


def _registry(args: argparse.Namespace) -> int:
    """The cloud `mlops registry` command, run against a local AWS seeded from the work folder."""
    from config.settings import load_environment
    from mlops import cli
    from mlops.local.local_aws import local_aws
    from mlops.local.state import load_state, save_state
    from mlops.local.workdir import WorkDir

    env = load_environment(args.env)
    work = WorkDir(Path(args.work_dir))
    if not work.state_root.is_dir():
        console.print(f"error: no local state in {work.root}; run `mlops local run` first")
        return 1
    if args.registry_command == "list":
        return _registry_list(env, work)
    argv = ["registry", args.registry_command, "--env", args.env]
    if getattr(args, "version", None) is not None:
        argv += ["--version", str(args.version)]
    if getattr(args, "reason", None):
        argv += ["--reason", args.reason]
    with work.locked(), local_aws(env.region, env.account) as aws:
        load_state(aws, work.state_root)
        code = cli.main([*argv, "--endpoint-url", str(aws.target.endpoint_url)])
        if code == 0:
            save_state(aws, work.state_root)
    return code


def _registry_list(env: Any, work: Any) -> int:
    """Like `mlops registry list`, with the metrics read from local S3 (artifacts never enter moto)."""
    from rich.table import Table

    from config.naming import Names
    from mlops import registry
    from mlops.local.approval import gate_metric
    from mlops.local.local_aws import local_aws
    from mlops.local.state import load_state
    from pipelines.definition import gate_metric_path

    group = Names.of(env).model_package_group
    with work.locked(), local_aws(env.region, env.account) as aws:
        load_state(aws, work.state_root)
        sm = aws.client("sagemaker")
        versions = registry.existing_versions(sm, group)
        table = Table(title=f"{group} (local state in {work.root})")
        for column in ("version", "status", "created", env.quality_gate.metric):
            table.add_column(column)
        for version in versions:
            metric = gate_metric(work, sm, version.arn, gate_metric_path(env))
            table.add_row(str(version.version), version.status,
                          version.created.strftime("%Y-%m-%d %H:%M") if version.created else "-",
                          f"{metric:.4f}" if metric is not None else "-")
    console.print(table)
    return 0


def _work_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work-dir", default=str(DEFAULT_WORK_DIR), metavar="DIR",
                        help=f"local state, artifacts and runs (default: {DEFAULT_WORK_DIR})")


def add_local_commands(commands: Any) -> None:
    """Register `mlops local run` and `mlops local registry ...` on the top-level subparsers."""
    group = commands.add_parser("local", help="the whole MLOps loop offline (no AWS account, no Docker)")
    sub = group.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run", help="pipeline, registry, approval, serving, monitoring, alarms and a report, all local",
        description="Run the environment's SageMaker pipeline definition locally, register and approve the "
                    "model, serve it, replay normal and drifted traffic, monitor, evaluate the drift alarms "
                    "and write an HTML report.",
    )
    run.add_argument("--env", default="dev", metavar="NAME", help="environment (default: dev)")
    run.add_argument("--config", default=None, metavar="YAML",
                     help="environments file (default: config/environments.yaml)")
    _work_dir_option(run)
    run.add_argument("--data", default=None, metavar="CSV", help="your CSV file instead of the default data set")
    run.add_argument("--target", default=None, metavar="COLUMN", help="the label column of --data")
    run.add_argument("--problem-type", default=None, metavar="TYPE",
                     help="BinaryClassification, MulticlassClassification or Regression (default: inferred)")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a pipeline parameter (repeatable)")
    run.add_argument("--resume", action="store_true", help="continue the last failed run from its failed step")
    run.add_argument("--max-parallel", type=int, default=None, help=argparse.SUPPRESS)
    run.set_defaults(handler=_run)
    registry = sub.add_parser("registry", help="the model registry of the local state (list, approve, ...)")
    registry_sub = registry.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")
    for name, help_text, with_version in (
        ("list", "versions with approval status and metrics", False),
        ("approve", "approve a version (the next local run serves it)", True),
        ("reject", "reject a version", True),
        ("rollback", "reject the approved version and re-approve the previous one", False),
    ):
        parser = registry_sub.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--env", default="dev", metavar="NAME", help="environment (default: dev)")
        _work_dir_option(parser)
        if with_version:
            parser.add_argument("--version", type=int, required=True, metavar="N")
            parser.add_argument("--reason", default=None)
        elif name == "rollback":
            parser.add_argument("--version", type=int, default=None, metavar="N")
        parser.set_defaults(handler=_registry)
    from mlops.local.serve_command import add_serve_command

    add_serve_command(sub)
