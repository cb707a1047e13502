"""Model cards: a version's SageMaker model package model card, built from the registry and the config.

The content follows AWS's model package model card schema (mlops/schemas/, with its provenance) and
is validated against it before it is printed, written or attached. Everything on the card comes from
what the registry holds about the version (lineage, metrics, approval record) plus what people wrote
in config (`model_card:` of the environment: intended use, risk, owner).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from config.settings import EnvironmentConfig
from mlops import registry
from mlops.errors import MlopsError
from mlops.lineage import VersionRecord, hyperparameters
from pipelines.registration_card import card_from_config

SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "model-package-model-card.schema.json"
# ModelPackageModelCard.ModelCardContent: at most 100,000 characters (SageMaker API reference).
MAX_CONTENT_LENGTH = 100_000
CUSTOM_VALUE_LENGTH = 1024
CARD_FILE_SUFFIX = ".model-card.json"
# Local mode: `<work>/model-cards/<group>/<N>.model-card.json`, one per version.
LOCAL_CARDS_DIR = "model-cards"


class ModelCardError(MlopsError):
    """A model card that AWS's schema (or the API's length limit) would refuse; the message names where."""


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # imported on use: only the card commands and local registration need it

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def card_problems(card: dict[str, Any]) -> list[str]:
    """Every place the card breaks the schema, as `path: message` lines (empty when it is valid)."""
    problems = [f"{'/'.join(map(str, error.absolute_path)) or '(card)'}: {error.message[:200]}"
                for error in sorted(_validator().iter_errors(card), key=lambda item: list(map(str, item.path)))]
    length = len(card_content(card))
    if length > MAX_CONTENT_LENGTH:
        problems.append(f"(card): {length} characters; ModelCardContent allows {MAX_CONTENT_LENGTH}")
    return problems


def validate_model_card(card: dict[str, Any]) -> dict[str, Any]:
    problems = card_problems(card)
    if problems:
        raise ModelCardError("model card does not match AWS's model package model card schema: " + "; ".join(problems))
    return card


def card_content(card: dict[str, Any]) -> str:
    """The card as the ModelCardContent string (stable: sorted keys)."""
    return json.dumps(card, sort_keys=True, ensure_ascii=False)


def _clip(text: str, limit: int = CUSTOM_VALUE_LENGTH) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _images(record: VersionRecord) -> dict[str, str]:
    """`training=<uri> inference=<uri>` from the lineage, as a mapping."""
    pairs = (item.partition("=") for item in record.lineage.get("images", "").split())
    return {name: uri for name, _, uri in pairs if uri}


def _custom_details(record: VersionRecord) -> dict[str, str]:
    details = {f"lineage_{name}": _clip(value) for name, value in record.lineage.items()}
    details["approval_status"] = record.status
    if record.approval_description:
        details["approval_description"] = _clip(record.approval_description)
    details.update({f"approval_{name}": _clip(value) for name, value in record.approval.items()})
    for image, digest in record.image_digests.items():
        details[f"image_digest {image}"[:255]] = digest
    return details


def _evaluation(env: EnvironmentConfig, record: VersionRecord) -> dict[str, Any]:
    gate = env.quality_gate
    sign = ">=" if gate.direction == "higher" else "<="
    value = record.metrics.get(gate.metric)
    if value is None:
        verdict = f"no {gate.metric} registered ({record.metrics_problem or 'no metrics file'})"
    else:
        passed = value >= gate.threshold if gate.direction == "higher" else value <= gate.threshold
        verdict = f"{gate.metric} {value:.4f} {'passes' if passed else 'does not pass'} {sign} {gate.threshold}"
    evaluation: dict[str, Any] = {
        "name": "test split",
        "evaluation_observation": _clip(
            f"Quality gate (config quality_gate, approval_mode {env.approval_mode}): {gate.metric} {sign} "
            f"{gate.threshold}; {verdict}. Only versions that pass the gate of their run are registered.", 2096),
        "metadata": {"quality_gate_metric": gate.metric, "quality_gate_threshold": str(gate.threshold),
                     "quality_gate_direction": gate.direction},
        "metric_groups": [{
            "name": "test split metrics",
            "metric_data": [{"name": name, "type": "number", "value": value}
                            for name, value in record.metrics.items()],
        }] if record.metrics else [],
    }
    if record.metrics_uri:
        evaluation["datasets"] = [record.metrics_uri]
    return evaluation


def build_model_card(env: EnvironmentConfig, record: VersionRecord) -> dict[str, Any]:
    """The version's model package model card, validated against AWS's schema."""
    card = card_from_config(env)
    if record.model_data_url:
        card["model_overview"]["model_artifact"] = [record.model_data_url]
    images = _images(record)
    job: dict[str, Any] = {
        "hyper_parameters": [{"name": name, "value": value} for name, value in hyperparameters(record).items()],
    }
    if record.lineage.get("data_uri"):
        job["training_datasets"] = [record.lineage["data_uri"]]
    if images.get("training"):
        job["training_environment"] = {"container_image": [images["training"]]}
    observations = [f"Trained by pipeline execution {record.lineage.get('execution_arn', 'unknown')}",
                    f"data sha256 {record.lineage.get('data_sha256', 'not recorded')}",
                    f"code {record.lineage.get('code_commit', 'not recorded')}"
                    + (" with uncommitted changes" if record.lineage.get("code_dirty") == "true" else "")]
    card["training_details"].update({"training_observations": _clip("; ".join(observations)),
                                     "training_job_details": job})
    card["evaluation_details"] = [_evaluation(env, record)]
    card["additional_information"]["custom_details"] = _custom_details(record)
    return validate_model_card(card)


def card_status(record: VersionRecord) -> str:
    """ModelCardStatus: Approved with the version, else Draft (Archived would freeze the card)."""
    return "Approved" if record.status == registry.APPROVED else "Draft"


def attach_model_card(sm: Any, record: VersionRecord, card: dict[str, Any]) -> None:
    """Write the card onto the model package (UpdateModelPackage ModelCard), as SageMaker stores it."""
    sm.update_model_package(ModelPackageArn=record.arn,
                            ModelCard={"ModelCardContent": card_content(card), "ModelCardStatus": card_status(record)})


def local_card_path(work_root: Path, record: VersionRecord) -> Path:
    """Where local mode keeps a version's card: `<work>/model-cards/<group>/<N>.model-card.json`."""
    return work_root / LOCAL_CARDS_DIR / record.group / f"{record.version}{CARD_FILE_SUFFIX}"


def write_local_card(work_root: Path, record: VersionRecord, card: dict[str, Any]) -> Path:
    """The card as pretty JSON beside the local registry (written whole, then renamed into place)."""
    path = local_card_path(work_root, record)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)
    return path
