"""`mlops registry ...` (the account) and `mlops local registry ...` (a work folder's state): model
versions listed, approved, rejected, rolled back, compared, described, carded and tracked. Argument
parsing and presentation only; the work is in mlops/registry.py, lineage.py, compare.py, ..."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from config.naming import Names
from config.settings import load_environment
from mlops import registry
from mlops.aws import client
from mlops.cli_common import Commands, Handler, add_command, aws_target, console
from mlops.local.commands import add_local_commands, local_registry, work_dir_option
from mlops.registry import RegistryAccess, S3Objects

# The same handlers serve `mlops registry ...` (the account) and `mlops local registry ...` (a work
# folder's state): only where the registry and its artifacts are read from differs.


def _registry_access(args: argparse.Namespace, *, changes: bool) -> contextlib.AbstractContextManager[RegistryAccess]:
    if getattr(args, "work_dir", None) is not None:
        return local_registry(args.env, Path(args.work_dir), changes=changes)
    target = aws_target(load_environment(args.env), args)
    return contextlib.nullcontext(RegistryAccess(client("sagemaker", target), S3Objects(client("s3", target))))


def _group(args: argparse.Namespace) -> str:
    return Names.of(load_environment(args.env)).model_package_group


def _registry_list(args: argparse.Namespace) -> int:
    env = load_environment(args.env)
    group = Names.of(env).model_package_group
    with _registry_access(args, changes=False) as access:
        details = registry.list_with_metrics(access.sagemaker, access.objects, group)
    gate = env.quality_gate.metric
    where = f" (local state in {Path(args.work_dir).resolve()})" if getattr(args, "work_dir", None) else ""
    table = Table(title=f"{group}{where}")
    for column in ("version", "status", "created", gate):
        table.add_column(column, no_wrap=True)
    table.add_column("other metrics", overflow="fold")
    for item in details:
        model = item.model
        metric = f"{item.metrics[gate]:.4f}" if gate in item.metrics else "-"
        others = ", ".join(
            f"{name}={value:.3f}" for name, value in item.metrics.items()
            if name != gate and not name.endswith("_best_constant_classifier")
        )
        created = model.created.strftime("%Y-%m-%d %H:%M") if model.created else "-"
        table.add_row(str(model.version), model.status, created, metric, others or (item.metrics_problem or "-"))
    console.print(table)
    return 0


def _registry_decide(args: argparse.Namespace) -> int:
    """`approve` and `reject`: the same call with the decision the subcommand names."""
    decide = registry.approve if args.decision == "approve" else registry.reject
    reason = args.reason or f"{args.decision}d with mlops"
    with _registry_access(args, changes=True) as access:
        model = decide(access.sagemaker, _group(args), args.version, reason)
    console.print(f"version {model.version} of {model.group}: {model.status}")
    return 0


def _registry_rollback(args: argparse.Namespace) -> int:
    with _registry_access(args, changes=True) as access:
        result = registry.rollback(access.sagemaker, _group(args), args.version)
    console.print(
        f"rolled back {result.rejected.group}: version {result.rejected.version} {result.rejected.status}, "
        f"version {result.restored.version} {result.restored.status}"
    )
    return 0


def _registry_compare(args: argparse.Namespace) -> int:
    """Two versions side by side: a table per section (changed rows marked), or the whole comparison as JSON."""

    from mlops.compare import compare_versions

    with _registry_access(args, changes=False) as access:
        comparison = compare_versions(access.sagemaker, access.objects, _group(args), args.a, args.b)
    if args.json:
        print(json.dumps(comparison.as_json(), indent=1, default=str))
        return 0

    def shown(value: object) -> str:
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    for section, all_rows in comparison.sections.items():
        # The constant-classifier baselines of the metrics are in --json only.
        rows = [row for row in all_rows if not row.name.endswith("_best_constant_classifier")]
        table = Table(title=f"{comparison.group}: {section}", title_justify="left")
        for column in ("", section.rstrip("s") if section != "lineage" else "key",
                       f"version {args.a}", f"version {args.b}"):
            table.add_column(column, overflow="fold")
        if section == "metrics":
            table.add_column(f"delta ({args.b} - {args.a})", justify="right")
        for row in rows:
            cells = ["*" if row.changed else "", row.name, shown(row.a), shown(row.b)]
            if section == "metrics":
                cells.append("-" if row.delta is None else f"{row.delta:+.4f}")
            table.add_row(*cells)
        if not rows:
            table.add_row("", "(none recorded)", "-", "-", *(["-"] if section == "metrics" else []))
        console.print(table)
    for facts in (comparison.a, comparison.b):
        for problem in facts.problems:
            console.print(f"[yellow]version {facts.version}: {problem}[/]")
    return 0


def _registry_track(args: argparse.Namespace) -> int:
    """Add a version's evaluation metrics, package, approval status and lineage to its training job's MLflow run."""
    from mlops.experiments import TrackingError, record_version, version_record

    env = load_environment(args.env)
    names = Names.of(env)
    uri = args.tracking_uri or (names.mlflow_tracking_server_arn if env.tracking_server_deployed else None)
    if uri is None:
        raise TrackingError(f"environment {env.name!r} has no MLflow tracking server (experimentation stack); "
                            "give --tracking-uri")
    with _registry_access(args, changes=False) as access:
        model = registry.find_version(registry.existing_versions(access.sagemaker, names.model_package_group),
                                      args.version)
        record = version_record(access.sagemaker, access.objects, model)
    run_id = record_version(uri, names.pipeline, record)
    console.print(f"version {model.version} ({model.status}) recorded in MLflow run {run_id} of training job "
                  f"{record.job_name}: {len(record.metrics)} evaluation metrics, {len(record.tags)} tags")
    return 0


def _registry_newest_approved(args: argparse.Namespace) -> int:
    """Prints only the cdk arguments on stdout, so `npx cdk deploy $(mlops registry newest-approved ...)` works."""
    from mlops.deploy import newest_approved_version

    env = load_environment(args.env)
    newest = newest_approved_version(client("sagemaker", aws_target(env, args)), env)
    print(f"-c env={env.name} -c model_version={newest.version}")
    return 0


def _registry_prepare_deploy(args: argparse.Namespace) -> int:
    from mlops.deploy import prepare_deploy

    env = load_environment(args.env)
    target = aws_target(env, args)
    prepared = prepare_deploy(client("sagemaker", target), client("s3", target), env, args.version)
    print(f"version {prepared.version} is Approved; drift baseline staged at "
          f"{prepared.baseline.constraints_uri.rsplit('/', 1)[0]}/", file=sys.stderr)
    print(prepared.context_arguments(env))
    return 0


def _registry_describe(args: argparse.Namespace) -> int:
    """One version for audit: lineage, approval record and metrics (`--json` for machines)."""

    from mlops.lineage import describe_version, missing_lineage

    with _registry_access(args, changes=False) as access:
        record = describe_version(access.sagemaker, access.objects, _group(args), args.version)
    if args.json:
        print(json.dumps(record.to_json(), indent=2, sort_keys=True))
        return 0
    console.print(f"[bold]{record.group} version {record.version}[/]: {record.status}"
                  + (f" (registered {record.created})" if record.created else ""))
    console.print(f"  {escape(record.description)}")
    if record.approval_description:
        console.print(f"  approval: {escape(record.approval_description)}")
    for name, value in record.approval.items():
        console.print(f"    {name:<22} {escape(value)}")
    console.print("lineage:")
    width = max((len(name) for name in record.lineage), default=0)
    for name, value in record.lineage.items():
        console.print(f"  {name:<{width}}  {escape(value)}")
    for image, digest in record.image_digests.items():
        console.print(f"  image digest  {escape(image)} {digest}")
    console.print(f"model card: {record.model_card_status or 'none on the package'} "
                  f"(`registry card --version {record.version}` prints it)")
    missing = missing_lineage(record)
    if missing:
        console.print(f"  [yellow]not recorded: {', '.join(missing)}[/] (registered before lineage, or by hand)")
    if record.metrics:
        console.print("metrics: " + ", ".join(f"{name}={value:.4f}" for name, value in record.metrics.items()))
    elif record.metrics_problem:
        console.print(f"metrics: none ({escape(record.metrics_problem)})")
    return 0


def _registry_card(args: argparse.Namespace) -> int:
    """The version's model card (AWS's model package model card schema) on stdout; locally also
    written beside the registry state, in the cloud written onto the package with --attach."""

    from mlops.lineage import describe_version
    from mlops.model_card import attach_model_card, build_model_card, write_local_card

    env = load_environment(args.env)
    local = getattr(args, "work_dir", None) is not None
    # The local registry is ours: its package always gets the fresh card (the cloud's only with --attach).
    attach = local or getattr(args, "attach", False)
    with _registry_access(args, changes=attach) as access:
        record = describe_version(access.sagemaker, access.objects, _group(args), args.version)
        card = build_model_card(env, record)
        if attach:
            attach_model_card(access.sagemaker, record, card)
            print(f"model card attached to {record.arn}", file=sys.stderr)
    if local:
        print(f"model card written to {write_local_card(Path(args.work_dir).resolve(), record, card)}", file=sys.stderr)
    print(json.dumps(card, indent=2, sort_keys=True))
    return 0


def _local_options() -> argparse.ArgumentParser:
    local = argparse.ArgumentParser(add_help=False)
    local.add_argument("--env", default="dev", metavar="NAME", help="environment (default: dev)")
    work_dir_option(local)
    return local


def add_registry_subcommands(commands: Commands, *, local: bool) -> None:
    """list, approve, reject, rollback and compare; against the account, or (`local`) a work folder's state."""
    where = "of the local state" if local else "in the environment's model package group"
    group = commands.add_parser("registry", help=f"model versions {where} (list, approve, ...)")
    sub = group.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        if not local:
            return add_command(sub, name, help_text, handler)
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text,
                                                         parents=[_local_options()])
        parser.set_defaults(handler=handler)
        return parser

    add("list", "versions with approval status and metrics", _registry_list)
    serves = "the next local run serves the newest approved one" if local else \
        "the deploy route serves the newest approved one"
    for name, help_text in (("approve", f"approve a version ({serves})"), ("reject", "reject a version")):
        parser = add(name, help_text, _registry_decide)
        parser.set_defaults(decision=name)
        parser.add_argument("--version", type=int, required=True, metavar="N")
        parser.add_argument("--reason", default=None, help="approval description")
    rollback = add("rollback", "reject the approved version and re-approve the previous one", _registry_rollback)
    rollback.add_argument("--version", type=int, default=None, metavar="N", help="version to restore")
    compare = add("compare", "two versions side by side: parameters, metrics with deltas, lineage, images",
                  _registry_compare)
    compare.add_argument("a", type=int, metavar="A", help="a version number")
    compare.add_argument("b", type=int, metavar="B", help="the version to compare it with (deltas are B - A)")
    compare.add_argument("--json", action="store_true", help="the comparison as JSON")
    describe = add("describe", "one version's lineage (code, data, images, run), approval record and metrics",
                   _registry_describe)
    describe.add_argument("--version", type=int, required=True, metavar="N")
    describe.add_argument("--json", action="store_true", help="print the record as JSON")
    card = add("card", "the version's model card (intended use, training, evaluation and gate, lineage, approval)",
               _registry_card)
    card.add_argument("--version", type=int, required=True, metavar="N")
    if not local:
        card.add_argument("--attach", action="store_true",
                          help="also write it onto the model package (UpdateModelPackage ModelCard)")
    if local:
        return
    # Local runs record each version themselves; in the cloud a registered version is recorded with this.
    track = add_command(sub, "track", "add a version's evaluation metrics, package, approval status and lineage to "
                        "its training job's MLflow run", _registry_track)
    track.add_argument("--version", type=int, required=True, metavar="N")
    track.add_argument("--tracking-uri", default=None, metavar="URI",
                       help="MLflow tracking URI (default: the environment's tracking server ARN)")
    # Deploying is the cloud's: these two have no local form.
    add_command(sub, "newest-approved", "print the cdk arguments that deploy the newest Approved version",
                _registry_newest_approved)
    prepare = add_command(sub, "prepare-deploy", "refuse a version that is not Approved, stage its drift baseline "
                          "for monitoring, print the cdk arguments", _registry_prepare_deploy)
    prepare.add_argument("--version", type=int, default=None, metavar="N", help="default: newest Approved")


def add_registry_commands(commands: Commands) -> None:
    add_registry_subcommands(commands, local=False)


def add_local_group(commands: Commands) -> None:
    add_registry_subcommands(add_local_commands(commands), local=True)
