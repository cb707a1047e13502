"""Lineage end to end: `mlops local run` twice on the same data and code, once on a changed file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from config.naming import Names
from config.settings import load_environment
from mlops.local.workdir import WorkDir
from mlops.model_card import card_problems
from pipelines.datasets import write_default_dataset
from pipelines.steps.preprocess import data_sha256
from tests.local.conftest import shared_once
from tests.local.test_loop import QUICK, mlops_local

pytestmark = [pytest.mark.local, pytest.mark.slow]

GROUP = Names.of(load_environment("dev")).model_package_group
# Recorded once per build of the definition, so equal for runs of the same code and configuration.
FROM_CODE = ("code_commit", "code_dirty", "definition_sha256", "images", "image_sources_sha256", "hyperparameters")


def _three_runs(folder: Path) -> dict[str, Any]:
    original = write_default_dataset(folder / "original")
    changed = folder / "changed" / original.name
    frame = pd.read_csv(original)
    frame.loc[0, "mean_radius"] = float(frame["mean_radius"].iloc[0]) + 0.5  # one value of one row
    changed.parent.mkdir()
    frame.to_csv(changed, index=False)
    work = folder / ".mlops"
    outputs = []
    for data in (original, original, changed):
        run = mlops_local(work, "run", "--data", str(data), "--target", "target", *QUICK)
        assert run.code == 0, run.stdout + run.stderr
        outputs.append(run.summary)
    registry = json.loads((work / "state" / "registry.json").read_text())
    describe = mlops_local(work, "registry", "describe", "--version", "1", "--json")
    card = mlops_local(work, "registry", "card", "--version", "3")
    return {"summaries": outputs, "registry": registry, "describe": [describe.code, describe.stdout],
            "card": [card.code, card.stdout, card.stderr]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return shared_once(tmp_path_factory, "lineage-loop", _three_runs)


def _lineage(result: dict[str, Any], version: int) -> dict[str, str]:
    package = next(item for item in result["registry"]["packages"] if item["ModelPackageVersion"] == version)
    return {key.removeprefix("lineage:"): value for key, value in package["CustomerMetadataProperties"].items()
            if key.startswith("lineage:")}


def test_two_runs_on_the_same_data_and_code_record_the_same_hashes(runs: tuple[Path, dict[str, Any]]) -> None:
    _, result = runs
    first, second = _lineage(result, 1), _lineage(result, 2)
    for key in (*FROM_CODE, "data_uri", "data_sha256"):
        assert first[key] == second[key], key
    assert len(first["data_sha256"]) == 64
    assert first["execution_arn"] != second["execution_arn"]
    assert first["execution_arn"].endswith(f"/execution/{result['summaries'][0]['execution_id']}")


def test_a_changed_data_file_changes_the_data_hash_and_nothing_from_the_code(
    runs: tuple[Path, dict[str, Any]],
) -> None:
    _, result = runs
    first, changed = _lineage(result, 1), _lineage(result, 3)
    assert changed["data_sha256"] != first["data_sha256"]
    for key in FROM_CODE:
        assert changed[key] == first[key], key


def test_the_registered_data_hash_is_the_hash_of_the_input_preprocess_read(runs: tuple[Path, dict[str, Any]]) -> None:
    folder, result = runs
    recorded = _lineage(result, 1)
    data = WorkDir(folder / ".mlops").s3_path(recorded["data_uri"])
    assert recorded["data_sha256"] == data_sha256(sorted(data.rglob("*.csv")), data)


def test_describe_shows_the_lineage_and_the_card_validates_and_is_in_the_report(
    runs: tuple[Path, dict[str, Any]],
) -> None:
    folder, result = runs
    code, stdout = result["describe"]
    assert code == 0
    assert json.loads(stdout)["lineage"] == _lineage(result, 1)
    code, stdout, stderr = result["card"]
    assert code == 0, stderr
    card = json.loads(stdout)
    assert card_problems(card) == []
    assert card["additional_information"]["custom_details"]["lineage_data_sha256"] == _lineage(result, 3)["data_sha256"]
    written = folder / ".mlops" / "model-cards" / GROUP / "3.model-card.json"
    assert json.loads(written.read_text()) == card
    last = result["summaries"][-1]
    assert last["model_card"]["intended_uses"] == card["intended_uses"]
    report = Path(last["files"]["report"]).read_text(encoding="utf-8")
    assert "Model card of version 3" in report
    assert _lineage(result, 3)["data_sha256"] in report


def test_each_version_holds_a_valid_model_card_naming_its_data(runs: tuple[Path, dict[str, Any]]) -> None:
    """Created with the version (a Draft), then replaced by the card of the approve stage's decision."""
    _, result = runs
    for package in result["registry"]["packages"]:
        model_card = package["ModelCard"]
        expected = "Approved" if package["ModelApprovalStatus"] == "Approved" else "Draft"
        assert model_card["ModelCardStatus"] == expected
        card = json.loads(model_card["ModelCardContent"])
        assert card_problems(card) == []
        version = package["ModelPackageVersion"]
        assert card["additional_information"]["custom_details"]["lineage_data_sha256"] == \
            _lineage(result, version)["data_sha256"]
        artifact = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        assert card["model_overview"]["model_artifact"] == [artifact]
        assert card["additional_information"]["custom_details"]["approval_status"] == package["ModelApprovalStatus"]


def test_the_report_compares_the_registered_version_with_the_one_before(runs: tuple[Path, dict[str, Any]]) -> None:
    """`make run` twice: the second report shows both versions side by side, lineage and model cards."""
    folder, result = runs
    first, _, last = result["summaries"]
    assert first["comparison"] is None  # nothing registered before version 1
    comparison = last["comparison"]
    assert [facts["version"] for facts in comparison["versions"]] == [2, 3]
    lineage = {row["name"]: row for row in comparison["sections"]["lineage"]}
    assert lineage["data_sha256"]["changed"]
    assert (lineage["data_sha256"]["a"], lineage["data_sha256"]["b"]) == (
        _lineage(result, 2)["data_sha256"], _lineage(result, 3)["data_sha256"])
    assert not any(lineage[key]["changed"] for key in FROM_CODE)
    deltas = [row for row in comparison["sections"]["metrics"] if row["delta"] is not None]
    assert deltas
    assert all(row["delta"] == pytest.approx(row["b"] - row["a"]) for row in deltas)
    report = Path(last["files"]["report"]).read_text(encoding="utf-8")
    assert "Version 3 compared with version 2" in report
    for version in (2, 3):
        assert str(folder / ".mlops" / "model-cards" / GROUP / f"{version}.model-card.json") in report
