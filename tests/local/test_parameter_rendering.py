"""Parameters reach a job as SageMaker renders them: a Boolean is `true`/`false` whether it is a
plain Get or joined with Std:Join (SageMaker's spelling), in the environment and in the arguments."""

from __future__ import annotations

import pytest

from mlops.local.workdir import WorkDir
from tests.local.conftest import definition, executor, processing_step, read_json

WRITE_WHAT_IT_GOT = """import json, os, pathlib, sys
out = pathlib.Path("/opt/ml/processing/output/seen")
out.mkdir(parents=True, exist_ok=True)
(out / "seen.json").write_text(json.dumps({"plain": os.environ["PLAIN"], "joined": os.environ["JOINED"],
                                           "arguments": sys.argv[1:]}))
"""
FLAG = {"Get": "Parameters.Flag"}
JOINED = {"Std:Join": {"On": "", "Values": [FLAG]}}


@pytest.mark.parametrize(("overrides", "spelled"), [({}, "true"), ({"Flag": "false"}, "false")])
def test_a_boolean_parameter_renders_alike_alone_and_in_a_join(
    work: WorkDir, overrides: dict[str, str], spelled: str
) -> None:
    step = processing_step("Show", WRITE_WHAT_IT_GOT, outputs=("seen",), arguments=[FLAG, JOINED])
    step["Arguments"]["Environment"] = {"PLAIN": FLAG, "JOINED": JOINED}
    pipeline = definition(step, parameters=[{"Name": "Flag", "Type": "Boolean", "DefaultValue": True}])
    properties = executor(pipeline, work).run(overrides).steps["Show"].properties or {}
    seen = read_json(work, properties["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] + "/seen.json")
    assert seen == {"plain": spelled, "joined": spelled, "arguments": [spelled, spelled]}
    # DescribeProcessingJob types Environment and ContainerArguments as text, and so do the properties.
    assert properties["Environment"] == {"PLAIN": spelled, "JOINED": spelled}
    assert properties["AppSpecification"]["ContainerArguments"] == [spelled, spelled]
