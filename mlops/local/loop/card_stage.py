"""The model card of the version a local run registered (built from the local registry, written beside it),
and that version compared with the one registered before it."""

from __future__ import annotations

from typing import Any

from config.naming import Names
from mlops import registry
from mlops.compare import compare_versions
from mlops.errors import RegistryError
from mlops.lineage import describe_version
from mlops.local.aws.moto_server import LocalAws
from mlops.local.loop.run_context import RunContext
from mlops.local.workdir import WorkDirObjects
from mlops.model_card import attach_model_card, build_model_card, write_local_card


def write_run_model_card(ctx: RunContext, aws: LocalAws) -> None:
    """After approval, so the card carries the decision; the report shows it (summary.model_card)."""
    registered = ctx.summary.registered
    if not registered:
        return
    record = describe_version(aws.client("sagemaker"), WorkDirObjects(ctx.work), Names.of(ctx.env).model_package_group,
                              int(registered["version"]))
    card = build_model_card(ctx.env, record)
    # On the package too, as `mlops registry approve` does: the card follows the approve stage's decision.
    attach_model_card(aws.client("sagemaker"), record, card)
    ctx.persist(aws)
    ctx.summary.model_card = card
    ctx.summary.files["model card"] = str(write_local_card(ctx.work.root, record, card))
    ctx.summary.comparison = _compared_with_previous(ctx, aws, int(registered["version"]))


def _compared_with_previous(ctx: RunContext, aws: LocalAws, version: int) -> dict[str, Any] | None:
    """`mlops local registry compare <previous> <this>` as the report shows it; None for a first version."""
    sm = aws.client("sagemaker")
    group = Names.of(ctx.env).model_package_group
    earlier = [model.version for model in registry.list_versions(sm, group) if model.version < version]
    if not earlier:
        return None
    try:
        return compare_versions(sm, WorkDirObjects(ctx.work), group, max(earlier), version).as_json()
    except RegistryError as error:  # the comparison is a view: a missing artifact must not fail the run
        return {"problem": f"no comparison with version {max(earlier)}: {error}"}
