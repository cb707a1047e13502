"""`make inventory`: what each synthesized stack provisions, from a real cloud assembly."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from config.naming import Names
from config.settings import EnvironmentConfig
from mlops.inventory import AssemblyError, main, print_inventory, stack_inventory
from tests.conftest import SynthesizedApp

TEMPLATE = {
    "Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True}},
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "Logs": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "Policy": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Data"}, "PolicyDocument": {}}},
    },
    "Outputs": {"DataBucket": {"Value": {"Ref": "Data"}}},
}


def hand_built_assembly(folder: Path) -> Path:
    """A cdk.out as `cdk synth` lays it out: a manifest naming a stack, its asset manifest and the tree."""
    (folder / "data-dev.template.json").write_text(json.dumps(TEMPLATE))
    (folder / "empty-dev.template.json").write_text(json.dumps({"Resources": {}}))
    (folder / "manifest.json").write_text(json.dumps({
        "version": "48.0.0",
        "artifacts": {
            "data-dev.assets": {"type": "cdk:asset-manifest", "properties": {"file": "data-dev.assets.json"}},
            "data-dev": {"type": "aws:cloudformation:stack", "environment": "aws://111111111111/eu-west-1",
                         "properties": {"templateFile": "data-dev.template.json"}},
            "empty-dev": {"type": "aws:cloudformation:stack", "environment": "aws://111111111111/eu-west-1",
                          "properties": {"templateFile": "empty-dev.template.json"}},
            "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
        },
    }))
    return folder


def test_inventory_counts_resource_types_per_stack_and_skips_other_artifacts(tmp_path: Path) -> None:
    inventory = stack_inventory(hand_built_assembly(tmp_path))
    assert inventory == {
        "data-dev": Counter({"AWS::S3::Bucket": 2, "AWS::KMS::Key": 1, "AWS::S3::BucketPolicy": 1}),
        "empty-dev": Counter(),
    }


def test_inventory_table_lists_each_stack_with_its_total_and_kinds(tmp_path: Path) -> None:
    output = io.StringIO()
    print_inventory(hand_built_assembly(tmp_path), Console(file=output, width=200, color_system=None))
    lines = output.getvalue().splitlines()
    data = next(line for line in lines if "data-dev" in line)
    assert " 4 " in data
    assert "1 KMS::Key, 2 S3::Bucket, 1 S3::BucketPolicy" in data
    assert any("empty-dev" in line and " 0 " in line for line in lines)


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda folder: (folder / "manifest.json").unlink(), "manifest.json"),
        (lambda folder: (folder / "manifest.json").write_text("{"), "manifest.json"),
        (lambda folder: (folder / "data-dev.template.json").unlink(), "data-dev.template.json"),
        (lambda folder: (folder / "data-dev.template.json").write_text('{"Resources": '), "data-dev.template.json"),
    ],
    ids=["no manifest", "truncated manifest", "missing template", "truncated template"],
)
def test_a_missing_or_broken_assembly_is_one_error_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: object, named: str
) -> None:
    folder = hand_built_assembly(tmp_path)
    damage(folder)  # type: ignore[operator]
    with pytest.raises(AssemblyError, match=named):
        stack_inventory(folder)
    assert main([str(folder)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert named in error
    assert error.count("\n") == 1


def test_inventory_of_the_synthesized_app_names_every_stack_with_its_resources(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    inventory = stack_inventory(synthesized_app.outdir)
    assert set(inventory) == set(synthesized_app.templates)
    for stack, counts in inventory.items():
        assert sum(counts.values()) == len(synthesized_app.template(stack)["Resources"])
    for env in environments.values():
        names = Names.of(env)
        assert inventory[names.stack("pipeline")]["AWS::SageMaker::Pipeline"] == 1
        assert inventory[names.stack("registry")]["AWS::SageMaker::ModelPackageGroup"] == 1
        assert inventory[names.stack("governance")]["AWS::KMS::Key"] == 1
        assert inventory[names.stack("governance")]["AWS::IAM::Role"] >= 4  # execution role + personas
