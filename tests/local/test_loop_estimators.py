"""`mlops local run` end to end with each estimator the kit ships tests for, on classification and
regression data: training, evaluation, registry metrics, serving and monitoring work for any of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from config.settings import CONFIG_FILE
from tests.local.test_loop import mlops_local

pytestmark = [pytest.mark.local, pytest.mark.slow]

# estimator (classification, regression) and few trees: the loop is under test, not the model.
ESTIMATORS = {
    "random-forest": (("sklearn.ensemble.RandomForestClassifier", "sklearn.ensemble.RandomForestRegressor"),
                      {"n_estimators": "10", "max_depth": "5"}),
    "hist-gradient-boosting": ((None, None), {"n_estimators": "20"}),
    "xgboost": (("xgboost.XGBClassifier", "xgboost.XGBRegressor"), {"n_estimators": "10", "max_depth": "3"}),
    "lightgbm": (("lightgbm.LGBMClassifier", "lightgbm.LGBMRegressor"), {"n_estimators": "10", "num_leaves": "7"}),
}
# The default estimator on classification data runs in tests/local/test_loop*.py already.
CASES = [(name, problem) for name in ESTIMATORS for problem in ("classification", "regression")
         if (name, problem) != ("hist-gradient-boosting", "classification")]


def config_with(folder: Path, estimator: str | None, hyperparameters: dict[str, str]) -> Path:
    """The repository's environments.yaml with dev's training estimator and hyperparameters replaced."""
    config = yaml.safe_load(CONFIG_FILE.read_text())
    training = config["environments"]["dev"]["training"]
    training["hyperparameters"] = hyperparameters
    if estimator is not None:
        training["estimator"] = estimator
    path = folder / "environments.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def user_data(folder: Path, problem: str, rows: int = 300, seed: int = 5) -> Path:
    rng = np.random.default_rng(seed)
    size = rng.normal(50, 15, rows)
    age = rng.integers(1, 40, rows).astype(float)
    kind = rng.choice(["flat", "house", "loft"], rows).astype(object)
    score = size / 10 - age / 8 + np.where(kind == "house", 2.0, 0.0) + rng.normal(0, 0.3, rows)
    label = (score > np.median(score)).astype(int) if problem == "classification" else score * 1000.0
    frame = pd.DataFrame({"size": size, "age": age, "kind": kind, "y": label})
    frame.loc[::9, "size"] = np.nan
    frame.loc[::13, "kind"] = None
    path = folder / f"{problem}.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("name", "problem"), CASES, ids=[f"{name}-{problem}" for name, problem in CASES])
def test_local_loop_trains_serves_and_monitors_with_the_estimator(tmp_path: Path, name: str, problem: str) -> None:
    if name in ("xgboost", "lightgbm"):
        pytest.importorskip(name)  # `make test` installs both extras: these run there
    (classifier, regressor), hyperparameters = ESTIMATORS[name]
    config = config_with(tmp_path, classifier if problem == "classification" else regressor, hyperparameters)
    run = mlops_local(tmp_path / "work", "run", "--config", str(config), "--data", str(user_data(tmp_path, problem)),
                      "--target", "y", "--param", f"MetricThreshold={0.6 if problem == 'classification' else 0.5}")
    assert run.code == 0, run.stdout + run.stderr
    summary = run.summary
    expected = "BinaryClassification" if problem == "classification" else "Regression"
    assert summary["data"]["problem_type"] == expected
    assert summary["registered"]["status"] == "Approved"
    assert summary["replay"]["failures"] == []
    assert summary["drifted_features"]
    train_log = (Path(summary["run_dir"]) / "steps" / "Train" / "step.log").read_text()
    fitted = {"random-forest": "RandomForest", "hist-gradient-boosting": "HistGradientBoosting",
              "xgboost": "XGB", "lightgbm": "LGBM"}[name]
    assert f"{fitted}{'Classifier' if problem == 'classification' else 'Regressor'}" in train_log
