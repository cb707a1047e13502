"""A user's CSV: checked before anything runs, problem type inferred, the environment adapted."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ProblemType, load_environment
from mlops.local.errors import LocalModeError
from mlops.local.loop.user_data import environment_for, infer_problem_type, inspect_csv


@pytest.mark.parametrize(
    ("values", "expected"),
    [(["0", "1", "1"], ProblemType.BINARY), (["yes", "no"], ProblemType.BINARY),
     (["a", "b", "c"], ProblemType.MULTICLASS), (["1", "2", "3"], ProblemType.MULTICLASS),
     ([str(i / 3) for i in range(50)], ProblemType.REGRESSION)],
)
def test_problem_type_inference(values: list[str], expected: ProblemType) -> None:
    assert infer_problem_type(values)[0] == expected


def test_unknown_target_names_the_columns(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("label,a\n1,2\n")
    with pytest.raises(LocalModeError, match=r"--target 'y' is not a column of d\.csv; columns: label, a"):
        inspect_csv(data, "y", None)


def test_regression_data_gets_a_regression_gate(tmp_path: Path) -> None:
    data = tmp_path / "houses.csv"
    data.write_text("price,rooms\n" + "".join(f"{100 + i * 3.5},{i}\n" for i in range(40)))
    inspected = inspect_csv(data, "price", None)
    env = environment_for(load_environment("dev"), inspected)
    assert env.data.problem_type == ProblemType.REGRESSION
    assert env.data.target == "price"
    assert env.quality_gate.metric == "r2"
    assert inspected.key_prefix.startswith("datasets/houses-")
