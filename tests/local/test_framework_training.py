"""A framework image whose library is installed here (XGBoost) trains in script mode; without a script
(the built-in algorithm) the same image is refused before the run."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest

from mlops.local.engine.checks import check_definition
from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import WorkDir
from tests.local.conftest import BUCKET, IMAGES, REGION, definition, executor

XGBOOST_IMAGE = f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:1.7-1"
SCRIPT = b"""
import os, numpy as np, xgboost
X = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "x.csv"), delimiter=",")
booster = xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(X[:, 1:], label=X[:, 0]),
                        num_boost_round=int(os.environ["SM_HP_NUM_ROUND"]))
booster.save_model(os.path.join(os.environ["SM_MODEL_DIR"], "xgboost-model.json"))
"""


def _training(hyperparameters: dict[str, str]) -> dict[str, Any]:
    return {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": hyperparameters,
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"}}}


def test_xgboost_script_mode_trains_with_the_installed_library(work: WorkDir) -> None:
    source = work.s3_path(f"s3://{BUCKET}/code/sourcedir.tar.gz")
    source.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(source, "w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(SCRIPT)
        tar.addfile(info, io.BytesIO(SCRIPT))
    data = work.s3_path(f"s3://{BUCKET}/data/x.csv")
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(f"{index % 2},{index % 2 + 0.1},{index}\n" for index in range(40)))
    step = _training({"num_round": "3", "sagemaker_program": '"train.py"',
                      "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/code/sourcedir.tar.gz")})
    record = executor(definition(step), work).run()
    properties = record.steps["Train"].properties
    assert properties is not None
    with tarfile.open(work.s3_path(properties["ModelArtifacts"]["S3ModelArtifacts"])) as tar:
        assert tar.getnames() == ["xgboost-model.json"]


def test_xgboost_without_a_script_is_the_built_in_algorithm_and_is_refused(work: WorkDir) -> None:
    with pytest.raises(UnsupportedDefinitionError, match="built-in xgboost algorithm"):
        check_definition(definition(_training({"num_round": "3", "objective": "binary:logistic"})), IMAGES, work)
