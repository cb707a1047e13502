"""SageMaker's own images: known by exact account and repository, run in script mode or refused by name."""

from __future__ import annotations

import json

import pytest

from mlops.local.engine.sagemaker_images import DATA_FILE, refusal, registries_from_sdk, sagemaker_image, sdk_config_dir
from mlops.local.errors import UnsupportedDefinitionError
from tests.local.conftest import IMAGES

SKLEARN = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def test_the_kept_image_list_is_the_installed_sdks() -> None:
    kept = json.loads(DATA_FILE.read_text(encoding="utf-8"))["repositories"]
    # Regenerate with: python -m mlops.local.engine.sagemaker_images --write
    assert kept == registries_from_sdk(sdk_config_dir())


def test_scikit_learn_image_of_the_regions_account_runs_as_a_framework_image() -> None:
    image = sagemaker_image(SKLEARN)
    assert image is not None
    assert (image.family, image.library, image.installed) == ("sklearn", "sklearn", True)
    assert refusal(image, "step Train") is None
    assert IMAGES.image_for(SKLEARN).kind == "framework"


def test_same_repository_in_another_account_is_not_sagemakers() -> None:
    assert sagemaker_image(SKLEARN.replace("141502667606", "111111111111")) is None
    with pytest.raises(UnsupportedDefinitionError, match="not one of the project's images"):
        IMAGES.image_for(SKLEARN.replace("141502667606", "111111111111"))


def test_aws_pytorch_image_is_refused_naming_the_missing_library_and_not_taken_for_ours() -> None:
    uri = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.1-cpu-py310"
    with pytest.raises(UnsupportedDefinitionError, match="torch is not installed"):
        IMAGES.image_for(uri)


def test_built_in_algorithm_image_is_refused_with_what_to_do() -> None:
    image = sagemaker_image("438346466558.dkr.ecr.eu-west-1.amazonaws.com/linear-learner:1")
    assert image is not None
    reason = refusal(image, "step Train")
    assert reason is not None
    assert "built-in algorithm" in reason
    assert "SKLearn estimator" in reason
