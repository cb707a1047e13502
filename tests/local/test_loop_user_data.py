"""`mlops local run` on a user's CSV: a categorical column, missing values, a messy column name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.local.test_loop import QUICK, mlops_local

pytestmark = [pytest.mark.local, pytest.mark.slow]


def _customer_data(rows: int = 300, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows).astype(float)
    spend = rng.normal(50, 15, rows)
    plan = rng.choice(["basic", "plus", "premium"], rows).astype(object)
    churn = (tenure < 20) | ((plan == "basic") & (spend > 55))
    frame = pd.DataFrame({"Monthly Spend ($)": spend, "tenure": tenure, "plan": plan,
                          "churned": np.where(churn, "yes", "no")})
    frame.loc[::9, "Monthly Spend ($)"] = np.nan
    frame.loc[::13, "plan"] = None
    return frame


def test_user_csv_with_a_categorical_column_and_missing_values_runs_the_whole_loop(tmp_path: Path) -> None:
    data = tmp_path / "customers.csv"
    _customer_data().to_csv(data, index=False)
    run = mlops_local(tmp_path / "work", "run", "--data", str(data), "--target", "churned", *QUICK,
                      "--param", "MetricThreshold=0.6")
    assert run.code == 0, run.stdout + run.stderr
    summary = run.summary
    assert summary["data"]["problem_type"] == "BinaryClassification"
    assert summary["registered"]["status"] == "Approved"
    assert summary["replay"]["failures"] == []
    features = {feature["name"] for feature in summary["baseline_statistics"]["features"]}
    assert features == {"Monthly_Spend", "tenure", "plan"}
    assert summary["drifted_features"]
    assert summary["drifted_features"][0]["name"] in Path(summary["files"]["report"]).read_text()
