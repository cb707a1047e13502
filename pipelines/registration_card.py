"""The model card a version is registered with: AWS's model package model card, filled in at run time.

The card is a JSON string (ModelPackageModelCard.ModelCardContent). What the definition knows is
written as JSON text; what only the run knows (model artifact, training job, data hash, gate metric,
parameter values) is spliced in as pipeline expressions, so the whole card is one `Std:Join` that
SageMaker (or local mode) resolves when it calls CreateModelPackage. `mlops registry card` later
rebuilds the card from the registry with every metric and the approval record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.settings import REGISTERED_APPROVAL_STATUS, EnvironmentConfig

# A version is registered only after it passed its run's gate, but approval comes later: a draft.
REGISTRATION_CARD_STATUS = "Draft"
_TOKEN = "@@mlops-runtime-{}@@"
_TOKEN_PATTERN = re.compile(r"@@mlops-runtime-(\d+)@@")


@dataclass(frozen=True)
class RuntimeValues:
    """The pipeline expressions the card reads (SDK objects: Get, JsonGet, parameters, variables)."""

    model_artifact: Any
    training_job_arn: Any
    execution_arn: Any
    data_uri: Any
    data_sha256: Any
    gate_value: Any
    gate_threshold: Any
    evaluation_uri: Any
    hyperparameters: Mapping[str, Any]


class _Splicer:
    """Stands in a token for each runtime value; `join_values` cuts the JSON text at the tokens."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.numbers: set[int] = set()

    def text(self, value: Any) -> str:
        self.values.append(value)
        return _TOKEN.format(len(self.values) - 1)

    def number(self, value: Any) -> str:
        token = self.text(value)
        self.numbers.add(len(self.values) - 1)
        return token

    def join_values(self, document: dict[str, Any]) -> list[Any]:
        text = json.dumps(document, sort_keys=True, ensure_ascii=False)
        for index in self.numbers:  # a number is spliced without the quotes of its stand-in
            text = text.replace(f'"{_TOKEN.format(index)}"', _TOKEN.format(index))
        pieces = _TOKEN_PATTERN.split(text)  # literal, index, literal, index, ..., literal
        parts = [piece if position % 2 == 0 else self.values[int(piece)] for position, piece in enumerate(pieces)]
        return [part for part in parts if part != ""]


def card_from_config(env: EnvironmentConfig) -> dict[str, Any]:
    """What every card of the environment says, from config: creator, intended use and risk, business
    context, the quality gate as the objective, caveats. Both card builders start from it."""
    text, gate = env.model_card, env.quality_gate
    intended: dict[str, Any] = {"purpose_of_model": text.purpose, "intended_uses": text.intended_uses,
                                "risk_rating": text.risk_rating}
    if text.risk_explanation:
        intended["explanations_for_risk_rating"] = text.risk_explanation
    caveats = " ".join(part for part in (f"Out of scope: {text.out_of_scope_uses}" if text.out_of_scope_uses else "",
                                         "A version serves only once Approved in the model registry.") if part)
    card: dict[str, Any] = {
        "model_overview": {"model_creator": text.owner or f"{env.project} {env.name} training pipeline"},
        "intended_uses": intended,
        "training_details": {"objective_function": {
            "function": {"function": "Maximize" if gate.direction == "higher" else "Minimize",
                         "facet": gate.metric[:63], "condition": f"quality gate {gate.threshold}"[:63]},
            "notes": f"{env.data.problem_type.value} on target {env.data.target!r}"[:1024],
        }},
        "additional_information": {"caveats_and_recommendations": caveats[:2048]},
    }
    business = {key: value for key, value in (("business_problem", text.business_problem),
                                              ("business_stakeholders", text.stakeholders)) if value}
    if business:
        card["business_details"] = business
    if text.ethical_considerations:
        card["additional_information"]["ethical_considerations"] = text.ethical_considerations
    return card


def registration_card(env: EnvironmentConfig, *, training_image: str, literal_lineage: Mapping[str, str],
                      runtime: RuntimeValues) -> list[Any]:
    """The `Std:Join` values (on "") of the card's JSON text; `literal_lineage` holds the lineage
    entries known at build time (code commit, definition hash, images)."""
    gate = env.quality_gate
    splice = _Splicer()
    sign = ">=" if gate.direction == "higher" else "<="
    custom = {f"lineage_{key.split(':', 1)[1]}": value for key, value in literal_lineage.items()}
    custom.update({"lineage_data_uri": splice.text(runtime.data_uri),
                   "lineage_data_sha256": splice.text(runtime.data_sha256),
                   "lineage_execution_arn": splice.text(runtime.execution_arn),
                   "approval_status": REGISTERED_APPROVAL_STATUS})
    card = card_from_config(env)
    card["model_overview"]["model_artifact"] = [splice.text(runtime.model_artifact)]
    card["training_details"].update({
        "training_observations": f"Registered by pipeline execution {splice.text(runtime.execution_arn)} "
                                 f"with data sha256 {splice.text(runtime.data_sha256)}",
        "training_job_details": {
            "training_arn": splice.text(runtime.training_job_arn),
            "training_datasets": [splice.text(runtime.data_uri)],
            "training_environment": {"container_image": [training_image]},
            "hyper_parameters": [{"name": key, "value": splice.text(value)}
                                 for key, value in runtime.hyperparameters.items()],
        },
    })
    card["evaluation_details"] = [{
        "name": "test split",
        "evaluation_observation": f"Quality gate {gate.metric} {sign} {splice.text(runtime.gate_threshold)} "
                                  "passed on the test split (a version is registered only when it does).",
        "datasets": [splice.text(runtime.evaluation_uri)],
        "metadata": {"quality_gate_metric": gate.metric, "quality_gate_direction": gate.direction},
        "metric_groups": [{"name": "test split metrics", "metric_data": [
            {"name": gate.metric, "type": "number", "value": splice.number(runtime.gate_value)},
        ]}],
    }]
    card["additional_information"]["custom_details"] = custom
    return splice.join_values(card)
