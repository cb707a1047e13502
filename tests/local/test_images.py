"""Images are recognised by exact repository: the project's own (of the environment in use) and the
Model Monitor analyzer; any other image is refused by name before anything runs."""

from __future__ import annotations

import pytest

from mlops.local.engine.checks import check_definition
from mlops.local.errors import UnsupportedDefinitionError
from tests.local.conftest import ACCOUNT, ANALYZER_IMAGE, IMAGES, REGION, TRAINING_IMAGE, definition, processing_step

ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def _training(image: str, **specification: object) -> dict[str, object]:
    return {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File", **specification},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"}}}


@pytest.mark.parametrize("image", [
    "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.1-cpu-py310",
    "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
    f"{ECR}/other-dev-training:tag",
    f"{ECR}/demo-prod-training:tag",  # the same project's other environment is not this run's image
    f"{ECR}/training:tag",
])
def test_an_image_that_only_looks_like_ours_is_refused_by_name(image: str) -> None:
    step = processing_step("Prep", "print(1)")
    step["Arguments"]["AppSpecification"]["ImageUri"] = image
    for pipeline in (definition(step), definition(_training(image))):
        # AWS's own framework images are named as such (tests/local/test_sagemaker_images.py).
        with pytest.raises(UnsupportedDefinitionError,
                           match=r"not one of the project's images|torch is not installed") as refused:
            check_definition(pipeline, IMAGES)
        assert image in str(refused.value)


def test_the_projects_repositories_and_the_analyzer_are_recognised() -> None:
    assert IMAGES.image_for(TRAINING_IMAGE).kind == "training"
    assert IMAGES.image_for(f"{ECR}/demo-dev-inference@sha256:{'0' * 64}").kind == "inference"
    assert IMAGES.image_for(ANALYZER_IMAGE).kind == "monitor"
    check_definition(definition(_training(TRAINING_IMAGE)), IMAGES)
