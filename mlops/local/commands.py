"""`mlops local ...`: the offline loop (`run`) and the local registry the registry commands work on."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from mlops.local.engine.record import RUN_RECORD
from mlops.local.errors import LocalModeError
from mlops.local.loop.summary import RunSummary
from mlops.local.workdir import DEFAULT_WORK_DIR
from mlops.registry import RegistryAccess

console = Console(highlight=False, soft_wrap=True)


def _run_other_pipeline(args: argparse.Namespace) -> int:
    from mlops.local.loop.pipeline_run import PipelineRunOptions, print_result, run_other_pipeline

    given = [name for name, value in (("--data", args.data), ("--target", args.target),
                                      ("--problem-type", args.problem_type), ("--resume", args.resume)) if value]
    if given:
        raise LocalModeError(f"{', '.join(given)}: not with --definition/--pipeline (they run the pipeline as "
                             "it is defined; set its parameters with --param)")
    options = PipelineRunOptions(
        definition=Path(args.definition) if args.definition else None, pipeline=args.pipeline, kwargs=args.kwargs,
        params=tuple(args.param), env_name=args.env, config=Path(args.config) if args.config else None,
        work_dir=Path(args.work_dir), max_parallel=args.max_parallel,
    )
    result = run_other_pipeline(options, console)
    print_result(console, args.definition or args.pipeline, result)
    return 0 if result.status == "Succeeded" else 1


def _run(args: argparse.Namespace) -> int:
    from mlops.local.loop.run import LocalRunOptions, new_run_context, run_local

    if args.definition or args.pipeline:
        return _run_other_pipeline(args)

    options = LocalRunOptions(
        env_name=args.env, work_dir=Path(args.work_dir), data=Path(args.data) if args.data else None,
        target=args.target, problem_type=args.problem_type, params=tuple(args.param), resume=args.resume,
        max_parallel=args.max_parallel, config=Path(args.config) if args.config else None,
    )
    run = new_run_context(options, console)
    try:
        code = run_local(run)
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
        resumable = (Path(s.run_dir) / RUN_RECORD).is_file()  # stopped before the pipeline: a new run
        if resumable and ((s.failed_step and s.failed_step != "Fail") or s.status == "Interrupted"):
            work = "" if Path(s.work_dir) == DEFAULT_WORK_DIR else f" --work-dir {s.work_dir}"
            advice = "continue" if s.status == "Interrupted" else "fix the cause, then continue"
            console.print(f"{advice} from {s.failed_step or 'where it stopped'} with: "
                          f"[bold]mlops local run --env {s.environment}{work} --resume[/]")
    if s.registered:
        console.print(f"registered: version {s.registered['version']} ({s.registered['status']})"
                      + (f": {escape(s.approval['reason'])}" if s.approval else ""))
    if s.approve_command:
        console.print(f"approve it with: [bold]{escape(s.approve_command)}[/]")
    if s.tracking_uri:
        problem = f" [yellow]({escape(s.tracking_problem)})[/]" if s.tracking_problem else ""
        console.print(f"tracked: MLflow run {s.tracking_run or '-'} in {escape(s.tracking_uri)}{problem}")
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


@contextlib.contextmanager
def local_registry(env_name: str, work_dir: Path, *, changes: bool) -> Iterator[RegistryAccess]:
    """The registry of a work folder's state, served by a fresh local AWS while the folder is locked;
    with `changes`, what the command changed is committed to the state files when it succeeds."""
    from config.settings import load_environment
    from mlops.local.aws.moto_server import local_aws
    from mlops.local.aws.state import load_state, recover_state, save_state
    from mlops.local.workdir import WorkDir, WorkDirObjects

    env = load_environment(env_name)
    work = WorkDir(work_dir)
    if not work.state_root.is_dir():
        raise LocalModeError(f"no local state in {work.root}; run `mlops local run` first")
    with work.locked(), local_aws(env.region, env.account) as aws:
        recover_state(work.state_root)
        load_state(aws, work.state_root)
        yield RegistryAccess(sagemaker=aws.client("sagemaker"), objects=WorkDirObjects(work))
        if changes:
            save_state(aws, work.state_root)


def work_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work-dir", default=str(DEFAULT_WORK_DIR), metavar="DIR",
                        help=f"local state, artifacts and runs (default: {DEFAULT_WORK_DIR})")


def add_local_commands(commands: Any) -> Any:
    """Register `mlops local` and its `run` command; returns the group's subcommands (the CLI adds
    `registry` there, with the same handlers as the cloud registry commands)."""
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
    work_dir_option(run)
    run.add_argument("--data", default=None, metavar="CSV", help="your CSV file instead of the default data set")
    run.add_argument("--target", default=None, metavar="COLUMN", help="the label column of --data")
    run.add_argument("--problem-type", default=None, metavar="TYPE",
                     help="BinaryClassification, MulticlassClassification or Regression (default: inferred)")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a pipeline parameter (repeatable)")
    run.add_argument("--resume", action="store_true", help="continue the last failed run from its failed step")
    other = run.add_mutually_exclusive_group()
    other.add_argument("--definition", default=None, metavar="FILE.json",
                       help="run this pipeline definition instead of the project's (only the pipeline)")
    other.add_argument("--pipeline", default=None, metavar="MODULE:FUNCTION",
                       help="build a seed-code get_pipeline(region, role, default_bucket, ...) offline and run it")
    run.add_argument("--kwargs", default=None, metavar="JSON",
                     help="keyword arguments for --pipeline's function (a JSON object)")
    run.add_argument("--max-parallel", type=int, default=None, help=argparse.SUPPRESS)
    run.set_defaults(handler=_run)
    from mlops.local.loop.serve_command import add_serve_command

    add_serve_command(sub)
    return sub
