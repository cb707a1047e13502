"""Lineage: Preprocess's data hash, the lineage the definition registers, and SageMaker's metadata limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config.settings import EnvironmentConfig
from pipelines import lineage
from pipelines.contract import DATASET_PROPERTY_FILE, PREPROCESS
from pipelines.definition import build_pipeline_definition
from pipelines.definition_json import iter_steps
from pipelines.steps.preprocess import REPORT_FILE, data_sha256
from tests.pipelines.test_preprocess import make_raw, run_preprocess


def _register(definition: dict[str, Any]) -> dict[str, Any]:
    return next(step for step in iter_steps(definition) if step["Type"] == "RegisterModel")


def _report(tmp_path: Path) -> dict[str, Any]:
    return dict(json.loads((tmp_path / "processing" / "output" / "report" / REPORT_FILE).read_text()))


def test_preprocess_records_the_same_data_hash_for_the_same_data_and_another_for_changed_data(
    tmp_path: Path,
) -> None:
    raw = make_raw(120)
    runs = {name: tmp_path / name for name in ("first", "again", "changed")}
    assert run_preprocess(runs["first"], raw).returncode == 0
    assert run_preprocess(runs["again"], raw).returncode == 0
    changed = raw.copy()
    radius = changed["Mean Radius (mm)"].to_numpy(copy=True)
    radius[7] += 0.001  # one value of one row
    changed["Mean Radius (mm)"] = radius
    assert run_preprocess(runs["changed"], changed).returncode == 0
    first, again, other = (_report(folder)[lineage.DATA_SHA256_FIELD] for folder in runs.values())
    assert len(first) == 64
    assert first == again
    assert other != first
    # The hash is of the input files as they are (not of the parsed frame): recomputable from the bytes.
    raw_dir = runs["first"] / "processing" / "input" / "raw"
    assert first == data_sha256(sorted(raw_dir.glob("*.csv")), raw_dir)


def test_a_renamed_or_added_input_file_changes_the_data_hash(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "a.csv").write_text("x,y\n1,2\n")
    before = data_sha256([folder / "a.csv"], folder)
    (folder / "a.csv").rename(folder / "b.csv")
    renamed = data_sha256([folder / "b.csv"], folder)
    (folder / "c.csv").write_text("x,y\n3,4\n")
    added = data_sha256([folder / "b.csv", folder / "c.csv"], folder)
    assert len({before, renamed, added}) == 3


def test_registration_reads_the_data_hash_from_the_preprocess_report_it_writes(
    definitions: dict[str, dict[str, Any]],
) -> None:
    definition = definitions["dev"]
    preprocess = next(step for step in iter_steps(definition) if step["Name"] == PREPROCESS)
    (report_file,) = preprocess["PropertyFiles"]
    assert report_file == {"PropertyFileName": DATASET_PROPERTY_FILE, "OutputName": "report", "FilePath": REPORT_FILE}
    outputs = preprocess["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert "report" in {output["OutputName"] for output in outputs}
    properties = _register(definition)["Arguments"]["CustomerMetadataProperties"]
    assert properties[lineage.DATA_SHA256] == {"Std:JsonGet": {
        "PropertyFile": {"Get": f"Steps.{PREPROCESS}.PropertyFiles.{DATASET_PROPERTY_FILE}"},
        "Path": lineage.DATA_SHA256_FIELD,
    }}
    assert properties[lineage.DATA_URI] == {"Get": "Parameters.InputDataUrl"}
    assert properties[lineage.EXECUTION_ARN] == {"Get": "Execution.PipelineExecutionArn"}


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_every_lineage_key_is_registered_within_sagemakers_limits(
    definitions: dict[str, dict[str, Any]], env_name: str,
) -> None:
    properties = _register(definitions[env_name])["Arguments"]["CustomerMetadataProperties"]
    assert set(properties) == set(lineage.KEYS)
    literals = {key: value for key, value in properties.items() if isinstance(value, str)}
    assert lineage.metadata_problems(literals) == []
    # Room left for the approval audit record written on the same version (mlops:approval:*).
    assert len(properties) <= lineage.MAX_ENTRIES - 10


def test_the_definition_hash_is_recomputable_and_follows_the_code(environments: dict[str, EnvironmentConfig],
                                                                  definitions: dict[str, dict[str, Any]]) -> None:
    definition = definitions["dev"]
    recorded = _register(definition)["Arguments"]["CustomerMetadataProperties"][lineage.DEFINITION_SHA256]
    assert recorded == lineage.definition_sha256(definition)
    code = lineage.code_version()
    properties = _register(definition)["Arguments"]["CustomerMetadataProperties"]
    assert (properties[lineage.CODE_COMMIT], properties[lineage.CODE_DIRTY]) == (code.commit, str(code.dirty).lower())
    other = build_pipeline_definition(environments["dev"], code=lineage.CodeVersion("0" * 40, dirty=False))
    other_properties = _register(other)["Arguments"]["CustomerMetadataProperties"]
    assert other_properties[lineage.CODE_COMMIT] == "0" * 40
    assert other_properties[lineage.DEFINITION_SHA256] not in (recorded, "pending")


def test_code_version_names_head_and_sees_an_uncommitted_change(tmp_path: Path) -> None:
    import subprocess

    def git(*arguments: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *arguments], capture_output=True, text=True,
                              check=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one")
    clean = lineage.code_version.__wrapped__(tmp_path)
    assert clean == lineage.CodeVersion(git("rev-parse", "HEAD"), dirty=False)
    (tmp_path / "code.py").write_text("x = 2\n")
    assert lineage.code_version.__wrapped__(tmp_path).dirty
    assert lineage.code_version.__wrapped__(tmp_path / "no-repo-here") == lineage.CodeVersion("unknown", dirty=True)


def test_metadata_that_sagemaker_would_refuse_is_named() -> None:
    assert lineage.metadata_problems({"lineage:ok": "s3://bucket/key.csv sha256:ab=cd @x+y"}) == []
    problems = lineage.metadata_problems({
        "lineage:long": "x" * 257, "lineage:json": '{"a": 1}', "k" * 129: "v", "lineage:empty": "",
    })
    assert len(problems) == 4
    assert any("'lineage:long'" in problem for problem in problems)
    assert any("'lineage:json'" in problem for problem in problems)
    too_many = {f"k{index}": "v" for index in range(lineage.MAX_ENTRIES + 1)}
    assert any("51 entries" in problem for problem in lineage.metadata_problems(too_many))


def _sample(value: Any, parameters: dict[str, Any]) -> str:
    """A run-time value as SageMaker would splice it in: parameter defaults, a metric, URIs and hashes."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return str(value)
    if "Std:JsonGet" in value:
        path = value["Std:JsonGet"]["Path"]
        return "0" * 64 if path == lineage.DATA_SHA256_FIELD else "0.97"
    reference = value["Get"]
    if reference.startswith("Parameters."):
        return str(parameters[reference.split(".", 1)[1]])
    if reference.startswith("Execution."):
        return "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/p/execution/abc"
    return f"s3://bucket/{reference.split('.')[1]}/output"


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_the_version_is_created_with_a_model_card_that_validates_once_the_run_fills_it_in(
    definitions: dict[str, dict[str, Any]], env_name: str,
) -> None:
    from mlops.model_card import card_problems

    definition = definitions[env_name]
    parameters = {item["Name"]: item["DefaultValue"] for item in definition["Parameters"]}
    model_card = _register(definition)["Arguments"]["ModelCard"]
    assert model_card["ModelCardStatus"] == "Draft"
    join = model_card["ModelCardContent"]["Std:Join"]
    assert join["On"] == ""
    card = json.loads("".join(_sample(value, parameters) for value in join["Values"]))
    assert card_problems(card) == []
    details = card["additional_information"]["custom_details"]
    assert details["lineage_data_sha256"] == "0" * 64
    assert details["approval_status"] == "PendingManualApproval"
    assert card["evaluation_details"][0]["metric_groups"][0]["metric_data"][0]["value"] == 0.97
    assert card["training_details"]["training_job_details"]["training_arn"] == "s3://bucket/Train/output"


def test_local_registration_refuses_a_model_card_sagemaker_would_refuse() -> None:
    from mlops.local.engine.runners.register_model import model_card_problems

    assert model_card_problems(None) == []
    assert model_card_problems({"ModelCardContent": json.dumps({"intended_uses": {"risk_rating": "Low"}})}) == []
    assert "not JSON" in model_card_problems({"ModelCardContent": "{half"})[0]
    (problem,) = model_card_problems({"ModelCardContent": json.dumps({"intended_uses": {"risk_rating": "Extreme"}})})
    assert "intended_uses/risk_rating" in problem
