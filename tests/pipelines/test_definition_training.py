"""The Train step for `training.estimator` and `training.entry_point`: what the definition renders,
and the configuration errors caught before any job runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import CONFIG_FILE, REPO_ROOT, ConfigError, EnvironmentConfig, load_project
from pipelines import contract
from pipelines import definition as pd_

SCRIPT = "tests/fixtures/script_mode/train.py"


def with_training(env: EnvironmentConfig, **update: Any) -> EnvironmentConfig:
    return env.model_copy(update={"training": env.training.model_copy(update=update)})


def config_file(tmp_path: Path, **training: Any) -> Path:
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    raw["environments"]["dev"]["training"].update(training)
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_entry_point_renders_sagemaker_program_and_a_content_addressed_code_channel(
    environments: dict[str, EnvironmentConfig],
) -> None:
    env = with_training(environments["dev"], entry_point=SCRIPT)
    definition = pd_.build_pipeline_definition(env, image_tag="test")
    train = next(step for step in definition["Steps"] if step["Name"] == contract.TRAIN)["Arguments"]
    assert train["HyperParameters"][contract.PROGRAM_HYPERPARAMETER] == "train.py"
    assert contract.ESTIMATOR_HYPERPARAMETER not in train["HyperParameters"]
    code = contract.training_code(env)
    assert code is not None
    assert code.source == REPO_ROOT / SCRIPT
    channels = {channel["ChannelName"]: channel for channel in train["InputDataConfig"]}
    assert channels[contract.CODE_CHANNEL]["DataSource"]["S3DataSource"]["S3Uri"] == code.uri
    assert code.uri.startswith("s3://mlops-kit-dev-artifacts-111111111111-eu-west-1/mlops-kit-dev-training/code/")


def test_a_changed_script_gets_a_new_code_prefix(environments: dict[str, EnvironmentConfig]) -> None:
    first = contract.training_code(with_training(environments["dev"], entry_point=SCRIPT))
    forgetful = with_training(environments["dev"], entry_point=SCRIPT.replace("train", "forgets_model"))
    other = contract.training_code(forgetful)
    assert first is not None
    assert other is not None
    assert first.uri != other.uri


def test_estimator_hyperparameter_typo_fails_the_definition_naming_estimator_and_accepted_names(
    environments: dict[str, EnvironmentConfig],
) -> None:
    env = with_training(environments["dev"], estimator="sklearn.ensemble.RandomForestClassifier",
                        hyperparameters={"n_estimator": "10"})
    with pytest.raises(contract.DefinitionError, match=r"environment 'dev': training.estimator: RandomForestClassifier "
                                                  r"has no hyperparameter 'n_estimator' \(did you mean 'n_estimators'"
                                                  r"\?\); accepted: .*max_depth"):
        contract.check_estimator(env)


def test_estimator_of_a_package_not_installed_here_is_left_to_the_training_image(
    environments: dict[str, EnvironmentConfig],
) -> None:
    contract.check_estimator(with_training(environments["dev"], estimator="not_installed_here.Model",
                                      hyperparameters={"anything": "1"}))


def test_regressor_for_a_classification_problem_fails_the_definition(
    environments: dict[str, EnvironmentConfig],
) -> None:
    env = with_training(environments["dev"], estimator="sklearn.ensemble.RandomForestRegressor", hyperparameters={})
    with pytest.raises(contract.DefinitionError, match="is a regressor; problem_type is BinaryClassification"):
        contract.check_estimator(env)


def test_estimator_key_in_hyperparameters_is_refused(environments: dict[str, EnvironmentConfig]) -> None:
    env = with_training(environments["dev"], hyperparameters={"estimator": "x.Y"})
    with pytest.raises(contract.DefinitionError, match="must not set 'estimator'"):
        contract.hyperparameter_parameters(env)


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"estimator": "random forest"}, "training.estimator"),
        ({"entry_point": "scripts/missing.py"}, "training.entry_point"),
        ({"entry_point": "/abs/train.py"}, "relative to the repository root"),
        ({"estimator": "sklearn.ensemble.RandomForestClassifier", "entry_point": SCRIPT}, "not both"),
    ],
)
def test_bad_training_settings_fail_at_load_naming_the_key(tmp_path: Path, training: dict[str, str],
                                                          message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_project(config_file(tmp_path, **training))
    assert "environment 'dev'" in str(caught.value)
