"""The Preprocess step as SageMaker runs it: a process with its paths mapped into a temp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.steps.job import StepError, run_step
from pipelines.steps.preprocess import main, sanitize_features, sanitize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ("train", "validation", "test", "baseline", "report")


def make_raw(rows: int, seed: int = 0, target: str = "label") -> pd.DataFrame:
    """Raw data with awkward names, a categorical feature and missing values."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    frame = pd.DataFrame({
        "Mean Radius (mm)": x,
        "texture-1": rng.normal(size=rows),
        "colour": rng.choice(["red", "green", "blue"], size=rows),
        target: np.where(x + rng.normal(scale=0.5, size=rows) > 0, "yes", "no"),
    })
    frame.loc[::9, "texture-1"] = np.nan
    frame.loc[::13, "colour"] = None
    return frame


def job_arguments(tmp_path: Path, raw: pd.DataFrame | None, *extra: str, target: str = "label",
                  problem_type: str = "BinaryClassification") -> list[str]:
    """Write the raw data where the job's input lands and return the step's arguments."""
    raw_dir = tmp_path / "processing" / "input" / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        raw.to_csv(raw_dir / "data.csv", index=False)
    arguments = ["--input", str(raw_dir)]
    for name in OUTPUTS:
        arguments += [f"--{name}", str(tmp_path / "processing" / "output" / name)]
    return [*arguments, "--target", target, "--problem-type", problem_type, *extra]


def run_preprocess(tmp_path: Path, raw: pd.DataFrame | None, *extra: str, target: str = "label",
                   problem_type: str = "BinaryClassification") -> subprocess.CompletedProcess[str]:
    arguments = job_arguments(tmp_path, raw, *extra, target=target, problem_type=problem_type)
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(tmp_path / "ml")}
    return subprocess.run([sys.executable, "-m", "pipelines.steps.preprocess", *arguments], capture_output=True,
                          text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False)


def failure_message(tmp_path: Path) -> str:
    return (tmp_path / "ml" / "output" / "message").read_text(encoding="utf-8")


def test_preprocess_writes_stratified_splits_baseline_and_report(tmp_path: Path) -> None:
    raw = make_raw(400)
    result = run_preprocess(tmp_path, raw)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "processing" / "output"
    splits = {name: pd.read_csv(out / name / f"{name}.csv") for name in ("train", "validation", "test")}
    assert {name: len(frame) for name, frame in splits.items()} == {"train": 280, "validation": 60, "test": 60}
    expected_columns = ["label", "Mean_Radius_mm", "texture_1", "colour"]
    for frame in splits.values():
        assert list(frame.columns) == expected_columns
    overall = (raw["label"] == "yes").mean()
    for frame in splits.values():
        assert abs((frame["label"] == "yes").mean() - overall) < 0.03
    baseline = pd.read_csv(out / "baseline" / "baseline.csv")
    assert list(baseline.columns) == expected_columns[1:]
    assert len(baseline) == 280
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["rows"] == {"total": 400, "train": 280, "validation": 60, "test": 60}
    assert report["classes"] == raw["label"].value_counts().sort_index().to_dict()
    features = {f["name"]: f for f in report["features"]}
    assert features["texture_1"]["missing"] == int(raw["texture-1"].isna().sum())
    assert features["colour"]["type"] == "categorical"
    assert features["Mean_Radius_mm"] == {**features["Mean_Radius_mm"], "source": "Mean Radius (mm)", "type": "numeric"}
    assert not (tmp_path / "ml" / "output" / "message").exists()


def test_preprocess_split_is_reproducible_for_a_seed(tmp_path: Path) -> None:
    raw = make_raw(120, seed=3)
    first, second = tmp_path / "a", tmp_path / "b"
    assert run_preprocess(first, raw).returncode == 0
    assert run_preprocess(second, raw).returncode == 0
    test_csv = Path("processing") / "output" / "test" / "test.csv"
    assert (first / test_csv).read_bytes() == (second / test_csv).read_bytes()


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f.assign(empty=np.nan), "column 'empty' is empty in every row"),
        (lambda f: f.assign(label=f["label"].where(f.index != 7)), "target column 'label' is empty in 1 row(s)"),
        (lambda f: f.assign(label="yes"), "has a single class 'yes'"),
        (lambda f: f.head(10), "only 10 data row(s)"),
        (lambda f: f[["label"]], "no feature columns besides the target"),
        (lambda f: f.assign(**{"texture 1": 1.0}), "both become feature name 'texture_1'"),
        (lambda f: f.assign(label=np.arange(len(f)) % 3), "has 3 classes"),
    ],
    ids=["empty-column", "target-missing-values", "one-class",
         "too-few-rows", "no-features", "name-collision", "three-classes-for-binary"],
)
def test_preprocess_refuses_bad_data_naming_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mutate: object, expected: str
) -> None:
    # In-process (the same run_step the module's __main__ calls) to keep the suite quick; the
    # process-level protocol is covered by the subprocess tests around this one.
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "ml"))
    raw = mutate(make_raw(100))  # type: ignore[operator]
    assert run_step("preprocess", main, job_arguments(tmp_path, raw)) == 1
    message = failure_message(tmp_path)
    assert expected in message
    assert message.startswith("preprocess: ")
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "processing" / "output" / "train").exists()


def test_preprocess_process_exits_non_zero_without_the_target_column(tmp_path: Path) -> None:
    result = run_preprocess(tmp_path, make_raw(100).drop(columns=["label"]))
    assert result.returncode == 1
    expected = "target column 'label' not found; columns are: Mean Radius (mm), texture-1, colour"
    assert expected in failure_message(tmp_path)
    assert "target column 'label' not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "processing" / "output" / "train").exists()


def test_garbage_in_a_numeric_column_is_named_with_its_rows(tmp_path: Path) -> None:
    raw = make_raw(100)
    raw["texture-1"] = raw["texture-1"].astype(object)
    raw.loc[41, "texture-1"] = "oops"
    result = run_preprocess(tmp_path, raw)
    assert result.returncode == 1
    # Line 43 of data.csv: the header is line 1, row 0 is line 2.
    assert "column 'texture-1' is numeric except for 1 value(s) such as 'oops' (at data.csv:43)" in (
        failure_message(tmp_path)
    )


def test_preprocess_fails_clearly_without_input_files(tmp_path: Path) -> None:
    result = run_preprocess(tmp_path, None)
    assert result.returncode == 1
    assert "no .csv file found under" in failure_message(tmp_path)


def test_regression_target_is_split_on_quantiles(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    raw = pd.DataFrame({"x": rng.normal(size=200), "price": rng.gamma(2.0, 10.0, size=200)})
    result = run_preprocess(tmp_path, raw, target="price", problem_type="Regression")
    assert result.returncode == 0, result.stderr
    test = pd.read_csv(tmp_path / "processing" / "output" / "test" / "test.csv")
    assert list(test.columns) == ["price", "x"]
    assert test["price"].max() > raw["price"].quantile(0.8)
    assert test["price"].min() < raw["price"].quantile(0.2)


def test_sanitize_name_keeps_only_letters_digits_and_underscores() -> None:
    assert sanitize_name("mean radius") == "mean_radius"
    assert sanitize_name(" a--b__c ") == "a_b_c"
    assert sanitize_name("2nd value") == "f_2nd_value"
    with pytest.raises(StepError, match="no letters or digits"):
        sanitize_name("%%%")
    with pytest.raises(StepError, match="'target'"):
        sanitize_features(["target!"], "target")


@pytest.mark.parametrize("note", ["plain", "has, a comma", 'has "quotes"', "has\na line break"])
def test_train_csv_is_byte_for_byte_what_to_csv_writes(tmp_path: Path, note: str) -> None:
    from pipelines.steps.preprocess import _write_with_target_first

    frame = pd.DataFrame({"label": ["yes", "no, really", "yes", None],
                          "x": [0.1, float("nan"), 1e-300, 123456789.123456789],
                          "note": [note, "b", None, "d"], "n": [1, 2, 3, 4]})
    features = frame.drop(columns=["label"])
    features.to_csv(tmp_path / "baseline.csv", index=False, lineterminator="\n")
    _write_with_target_first(frame["label"], features, tmp_path / "baseline.csv", tmp_path / "train.csv")
    assert (tmp_path / "train.csv").read_bytes() == frame.to_csv(index=False, lineterminator="\n").encode()
