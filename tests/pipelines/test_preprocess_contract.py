"""Preprocess names bad data instead of absorbing it: the data contract (data.schema), duplicate columns,
label leakage, infinite targets, text in a numeric column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from containers.contracts.data_schema import SCHEMA_FILE, ColumnSchema, DataSchema, parse_schema
from pipelines.steps.job import run_step
from pipelines.steps.leakage import leaking_features
from pipelines.steps.preprocess import main
from tests.pipelines.test_preprocess import failure_message, job_arguments, make_raw, run_preprocess

SCHEMA = DataSchema(columns={
    "Mean Radius (mm)": ColumnSchema(type="numeric", required=True, min=-10, max=10),
    "texture-1": ColumnSchema(type="numeric"),
    "colour": ColumnSchema(type="categorical", categories=("red", "green", "blue")),
})


def schema_arguments(schema: DataSchema, piece: int = 40) -> list[str]:
    """The schema split as the pipeline definition splits it (here in small pieces, to test the join)."""
    text = schema.compact_json()
    arguments: list[str] = []
    for start in range(0, len(text), piece):
        arguments += ["--data-schema", text[start:start + piece]]
    return arguments


def run_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: pd.DataFrame, *extra: str,
                   target: str = "label", problem_type: str = "BinaryClassification") -> int:
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "ml"))
    return run_step("preprocess", main, job_arguments(tmp_path, raw, *extra, target=target,
                                                      problem_type=problem_type))


def test_schema_travels_beside_train_csv_in_feature_names(tmp_path: Path) -> None:
    result = run_preprocess(tmp_path, make_raw(200), *schema_arguments(SCHEMA))
    assert result.returncode == 0, result.stderr
    shipped = parse_schema((tmp_path / "processing" / "output" / "train" / SCHEMA_FILE).read_text())
    assert set(shipped.columns) == {"Mean_Radius_mm", "texture_1", "colour"}
    assert shipped.columns["colour"].categories == ("red", "green", "blue")
    assert shipped.columns["Mean_Radius_mm"].max == 10


def test_without_a_schema_nothing_extra_is_written(tmp_path: Path) -> None:
    assert run_preprocess(tmp_path, make_raw(200)).returncode == 0
    assert not (tmp_path / "processing" / "output" / "train" / SCHEMA_FILE).exists()


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f.assign(colour=f["colour"].where(f.index != 4, "purple")),
         "column 'colour' at data.csv:6: 'purple' not among the allowed categories ['red', 'green', 'blue']"),
        (lambda f: f.assign(**{"Mean Radius (mm)": f["Mean Radius (mm)"].where(f.index != 10, 42.0)}),
         "column 'Mean Radius (mm)' at data.csv:12: 42.0 is above the maximum 10"),
        (lambda f: f.assign(**{"Mean Radius (mm)": f["Mean Radius (mm)"].where(f.index % 50 != 3)}),
         "column 'Mean Radius (mm)' at data.csv:5, data.csv:55, data.csv:105 and 1 more row(s): value is "
         "required but missing"),
        (lambda f: f.drop(columns="colour"), "column 'colour': column required by the data schema is absent"),
        (lambda f: f.assign(extra=1.0), "column 'extra' is not in data.schema"),
    ],
    ids=["category", "range", "required", "missing-column", "unlisted-column"],
)
def test_schema_violations_name_the_column_and_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mutate: object, expected: str,
) -> None:
    raw = mutate(make_raw(200))  # type: ignore[operator]
    assert run_in_process(tmp_path, monkeypatch, raw, *schema_arguments(SCHEMA)) == 1
    assert expected in failure_message(tmp_path)
    assert not (tmp_path / "processing" / "output" / "train").exists()


def test_a_schema_that_is_not_valid_json_schema_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = json.dumps({"columns": {"colour": {"type": "categorical", "min": 1}}})
    assert run_in_process(tmp_path, monkeypatch, make_raw(100), "--data-schema", bad) == 1
    assert "--data-schema: columns.colour: Value error, min/max are for numeric or integer columns" in (
        failure_message(tmp_path))


def test_duplicate_column_names_are_refused_not_renamed(tmp_path: Path) -> None:
    raw_dir = tmp_path / "processing" / "input" / "raw"
    raw_dir.mkdir(parents=True)
    frame = make_raw(100)
    lines = frame.to_csv(index=False).splitlines()
    lines[0] = lines[0].replace("colour", "texture-1")
    (raw_dir / "data.csv").write_text("\n".join(lines) + "\n")
    result = run_preprocess(tmp_path, None)
    assert result.returncode == 1
    assert "data.csv: column 'texture-1' appears twice in the header (again at position 3)" in (
        failure_message(tmp_path))
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("add", "expected"),
    [
        (lambda f: f.assign(label_copy=f["label"]),
         "feature 'label_copy' predicts target 'label' perfectly: it is a copy of the target"),
        (lambda f: f.assign(outcome_code=(f["label"] == "yes") * 7.5 + 1),
         "feature 'outcome_code' predicts target 'label' perfectly: it separates the target's classes"),
        (lambda f: f.assign(status=f["label"].map({"yes": "closed-won", "no": "closed-lost"})),
         "feature 'status' predicts target 'label' perfectly: it has values that each belong to a single class"),
    ],
    ids=["second-target-column", "recoded-target", "categorical-recoding"],
)
def test_a_feature_that_gives_the_target_away_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, add: object, expected: str,
) -> None:
    raw = add(make_raw(200))  # type: ignore[operator]
    assert run_in_process(tmp_path, monkeypatch, raw) == 1
    message = failure_message(tmp_path)
    assert "label leakage, the quality gate must not pass on it" in message
    assert expected in message


def test_regression_target_rescaled_into_a_feature_is_leakage() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "price": rng.gamma(2.0, 10.0, size=300)})
    frame["price_in_cents"] = frame["price"] * 100
    assert leaking_features(frame, ["x", "price_in_cents"], "price", "Regression") == [
        "feature 'price_in_cents' predicts target 'price' perfectly: it is a linear function of the target "
        "(correlation 1.00000); drop the column (it will not be known when the model is used)"
    ]


def test_real_data_and_identifier_columns_are_not_called_leakage() -> None:
    data = load_breast_cancer(as_frame=True).frame
    data["patient_id"] = [f"p{i}" for i in range(len(data))]  # unique per row: not a leak, an identifier
    features = [column for column in data.columns if column != "target"]
    assert leaking_features(data, features, "target", "BinaryClassification") == []


def test_infinite_target_is_named_with_its_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    raw = pd.DataFrame({"x": rng.normal(size=100), "price": rng.gamma(2.0, 10.0, size=100)})
    raw.loc[17, "price"] = np.inf
    assert run_in_process(tmp_path, monkeypatch, raw, target="price", problem_type="Regression") == 1
    assert "target column 'price' holds infinity in 1 row(s) (at data.csv:19)" in failure_message(tmp_path)


def test_a_few_strings_in_a_numeric_column_do_not_make_it_categorical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = make_raw(500)
    raw["texture-1"] = raw["texture-1"].astype(object)
    raw.loc[[3, 250, 499], "texture-1"] = ["unknown", "?", "unknown"]
    assert run_in_process(tmp_path, monkeypatch, raw) == 1
    assert ("column 'texture-1' is numeric except for 3 value(s) such as 'unknown', '?' "
            "(at data.csv:5, data.csv:252, data.csv:501)") in failure_message(tmp_path)


def test_a_bound_is_printed_exactly_so_the_value_visibly_exceeds_it() -> None:
    from containers.contracts.data_schema import check_column

    rule = ColumnSchema(type="numeric", max=0.029839999999999995)
    (violation,) = check_column("x", rule, np.array([0.01, 0.02984]))
    assert violation.message() == "column 'x' row 1: 0.02984 is above the maximum 0.029839999999999995"
