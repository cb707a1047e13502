"""Preprocess step: validate the raw CSV data, sanitize feature names, split train/validation/test."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from containers.contracts.data_schema import DataSchema
from pipelines.steps.data_contract import schema_argument, schema_problems, write_schema
from pipelines.steps.job import StepError, run_step
from pipelines.steps.leakage import leaking_features

PROBLEM_TYPES = ("BinaryClassification", "MulticlassClassification", "Regression")
MIN_ROWS = 20
# A text column whose non-empty values parse as numbers at least this often is a numeric column
# with garbage in it, not a categorical one.
MOSTLY_NUMERIC = 0.9
VALIDATION_FRACTION = 0.15
TEST_FRACTION = 0.15
SEED = 42
EXAMPLES = 3
SPLIT_FILES = {"train": "train.csv", "validation": "validation.csv", "test": "test.csv"}
BASELINE_FILE = "baseline.csv"
REPORT_FILE = "report.json"

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_]+")


def sanitize_name(name: str) -> str:
    """A column name reduced to [A-Za-z0-9_] (metric and alarm names are built from it)."""
    cleaned = _NOT_ALLOWED.sub("_", str(name).strip()).strip("_")
    cleaned = re.sub(r"_+", "_", cleaned)
    if not cleaned:
        raise StepError(f"column {name!r} has no letters or digits to build a feature name from")
    return f"f_{cleaned}" if cleaned[0].isdigit() else cleaned


def sanitize_features(columns: Sequence[str], target: str) -> dict[str, str]:
    """Original feature name -> sanitized name; two columns with the same result are an error."""
    mapping: dict[str, str] = {}
    taken: dict[str, str] = {target: target}
    for column in columns:
        name = sanitize_name(column)
        if name in taken:
            raise StepError(
                f"columns {taken[name]!r} and {column!r} both become feature name {name!r}; rename one"
            )
        taken[name] = column
        mapping[column] = name
    return mapping


@dataclass(frozen=True)
class FeatureReport:
    name: str
    source: str
    type: str
    missing: int
    distinct: int


@dataclass
class DatasetReport:
    """What preprocess found and did; written next to the splits as report.json."""

    target: str
    problem_type: str
    rows: dict[str, int]
    features: list[FeatureReport]
    classes: dict[str, int] | None
    seed: int
    files: list[str]
    # sha256 over the input files' relative paths and bytes (the lineage of every model trained on them).
    data_sha256: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def input_files(input_path: Path) -> list[Path]:
    """The CSV files Preprocess reads: `input_path` itself, or every .csv under it (sorted, no dot files)."""
    if input_path.is_file():
        return [input_path]
    if input_path.is_dir():
        return sorted(p for p in input_path.rglob("*.csv") if p.is_file() and not p.name.startswith("."))
    raise StepError(f"input {input_path} does not exist")


def data_sha256(files: Sequence[Path], root: Path) -> str:
    """One sha256 over the files' paths (relative to `root`) and contents, read in 1 MiB blocks: a renamed,
    added or changed file changes it, and a file of any size is hashed in constant memory."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda item: item.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def read_raw(input_path: Path) -> tuple[pd.DataFrame, list[str]]:
    """All CSV files under `input_path` (a file or a folder), which must share one header.

    Returns the rows and, per row, where it came from (`file:line`) for error messages.
    """
    files = input_files(input_path)
    if not files:
        raise StepError(f"no .csv file found under {input_path}")
    frames: list[pd.DataFrame] = []
    locations: list[str] = []
    header: list[str] | None = None
    for path in files:
        _refuse_duplicate_header(path)
        try:
            frame = pd.read_csv(path)
        except (ValueError, pd.errors.ParserError) as exc:
            raise StepError(f"{path.name}: not a readable CSV file: {exc}") from exc
        columns = [str(column) for column in frame.columns]
        if header is None:
            header = columns
        elif columns != header:
            raise StepError(f"{path.name}: header {columns} differs from {files[0].name}: {header}")
        frames.append(frame)
        # Line numbers as an editor shows them: the header is line 1.
        locations += [f"{path.name}:{line}" for line in range(2, len(frame) + 2)]
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return data, locations


def _refuse_duplicate_header(path: Path) -> None:
    """pandas renames a repeated column to `x.1` (and we would train on both): refuse it by name."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return  # pandas reports an unreadable file with its own words just below
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if name.strip() in seen:
            raise StepError(f"{path.name}: column {name.strip()!r} appears twice in the header "
                            f"(again at position {position}); rename or drop one")
        seen.add(name.strip())


def _where(mask: pd.Series, locations: list[str]) -> str:
    rows = np.flatnonzero(mask.to_numpy())[:EXAMPLES]
    return ", ".join(locations[row] for row in rows)


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(value) for value in values.drop_duplicates().head(EXAMPLES).tolist())


def feature_kind(column: pd.Series) -> str | None:
    """`numeric`, `categorical` or None for a dtype the model pipeline cannot take."""
    if ptypes.is_bool_dtype(column):
        return "categorical"
    if ptypes.is_numeric_dtype(column) and not ptypes.is_complex_dtype(column):
        return "numeric"
    if isinstance(column.dtype, pd.CategoricalDtype):
        return "categorical"
    if ptypes.is_object_dtype(column) or ptypes.is_string_dtype(column):
        return "categorical"
    return None


def _feature_problems(name: str, column: pd.Series, locations: list[str]) -> list[str]:
    problems: list[str] = []
    present = column.notna()
    if not present.any():
        return [f"column {name!r} is empty in every row"]
    kind = feature_kind(column)
    if kind is None:
        return [f"column {name!r} has unsupported type {column.dtype}; use numbers or text"]
    if kind == "categorical" and not ptypes.is_bool_dtype(column):
        values = column[present]
        numbers = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
        parsed = numbers.notna()
        if parsed.mean() >= MOSTLY_NUMERIC:
            bad = present.copy()
            bad[present] = ~parsed.to_numpy()
            problems.append(
                f"column {name!r} is numeric except for {int((~parsed).sum())} value(s) such as "
                f"{_examples(values[~parsed])} (at {_where(bad, locations)})"
            )
    return problems


def _target_problems(target: pd.Series, name: str, problem_type: str, locations: list[str]) -> list[str]:
    missing = target.isna()
    if missing.any():
        return [f"target column {name!r} is empty in {int(missing.sum())} row(s) (at {_where(missing, locations)})"]
    if ptypes.is_numeric_dtype(target) and not ptypes.is_bool_dtype(target):
        infinite = pd.Series(np.isinf(target.to_numpy(dtype=float)), index=target.index)
        if infinite.any():
            return [f"target column {name!r} holds infinity in {int(infinite.sum())} row(s) "
                    f"(at {_where(infinite, locations)})"]
    if problem_type == "Regression":
        numbers = pd.to_numeric(target, errors="coerce")
        if numbers.isna().any():
            bad = numbers.isna()
            return [
                f"target column {name!r} must be numeric for Regression; found {_examples(target[bad])} "
                f"(at {_where(bad, locations)})"
            ]
        return []
    counts = target.value_counts()
    if len(counts) < 2:
        return [f"target column {name!r} has a single class {counts.index[0]!r}; a classifier needs two or more"]
    if problem_type == "BinaryClassification" and len(counts) != 2:
        return [
            f"target column {name!r} has {len(counts)} classes ({_examples(pd.Series(counts.index))}, ...) "
            "but problem_type is BinaryClassification; use MulticlassClassification"
        ]
    rare = counts[counts < 3]
    if len(rare):
        return [
            f"target class {label!r} has only {count} row(s); a stratified train/validation/test split "
            "needs at least 3" for label, count in rare.items()
        ]
    return []


def validate(
    data: pd.DataFrame, target: str, problem_type: str, locations: list[str], min_rows: int = MIN_ROWS, *,
    schema: DataSchema | None = None,
) -> dict[str, str]:
    """Check the raw data against the expected schema; every problem found is named in one error.

    Returns the feature name mapping (original -> sanitized).
    """
    if problem_type not in PROBLEM_TYPES:
        raise StepError(f"unknown problem type {problem_type!r}; expected one of {', '.join(PROBLEM_TYPES)}")
    columns = [str(column) for column in data.columns]
    if target not in columns:
        raise StepError(f"target column {target!r} not found; columns are: {', '.join(columns)}")
    features = [column for column in columns if column != target]
    if not features:
        raise StepError(f"no feature columns besides the target {target!r}")
    if len(data) < min_rows:
        raise StepError(f"only {len(data)} data row(s); at least {min_rows} are needed to train and evaluate")
    problems = schema_problems(data, schema, target, locations) if schema is not None else []
    problems += _target_problems(data[target], target, problem_type, locations)
    for name in features:
        problems += _feature_problems(name, data[name], locations)
    if problems:
        raise StepError("; ".join(problems))
    mapping = sanitize_features(features, target)
    # A feature that gives the target away would pass any quality gate: stop before training on it.
    leaks = leaking_features(data, features, target, problem_type)
    if leaks:
        raise StepError("label leakage, the quality gate must not pass on it: " + "; ".join(leaks))
    return mapping


def _strata(target: pd.Series, problem_type: str) -> pd.Series | None:
    if problem_type != "Regression":
        return target.astype(str)
    # Regression: stratify on target quantiles so every split sees the whole range.
    bins = min(10, len(target) // 10)
    if bins < 2:
        return None
    return pd.qcut(pd.to_numeric(target), q=bins, labels=False, duplicates="drop")


def _split_counts(size: int, validation_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(validation, test) rows of one stratum: rounded shares, at least one each from 3 rows up."""
    n_test = round(size * test_fraction)
    n_validation = round(size * validation_fraction)
    if size >= 3:
        n_test, n_validation = max(n_test, 1), max(n_validation, 1)
    return n_validation, n_test


def split(
    data: pd.DataFrame, target: str, problem_type: str, *, seed: int = SEED,
    validation_fraction: float = VALIDATION_FRACTION, test_fraction: float = TEST_FRACTION,
) -> dict[str, pd.DataFrame]:
    """A seeded train/validation/test split, stratified per class (or target quantile for Regression).

    numpy only, so the step starts fast: every stratum is shuffled and cut in the same proportions.
    """
    rng = np.random.default_rng(seed)
    strata = _strata(data[target], problem_type)
    groups = [np.arange(len(data))] if strata is None else [
        np.flatnonzero((strata == value).to_numpy()) for value in sorted(strata.dropna().unique())
    ]
    picked: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for rows in groups:
        shuffled = rng.permutation(rows)
        n_validation, n_test = _split_counts(len(shuffled), validation_fraction, test_fraction)
        picked["test"] += shuffled[:n_test].tolist()
        picked["validation"] += shuffled[n_test:n_test + n_validation].tolist()
        picked["train"] += shuffled[n_test + n_validation:].tolist()
    if not all(picked.values()):
        raise StepError(f"cannot split {len(data)} rows into non-empty train, validation and test sets")
    # Sorted positions keep the original row order inside each split (stable files for a seed).
    return {name: data.iloc[sorted(rows)] for name, rows in picked.items()}


def build_report(
    data: pd.DataFrame, target: str, problem_type: str, mapping: dict[str, str], *,
    splits: dict[str, pd.DataFrame], seed: int, files: list[str],
) -> DatasetReport:
    features = [
        FeatureReport(
            name=name,
            source=source,
            type=feature_kind(data[source]) or "unsupported",
            missing=int(data[source].isna().sum()),
            distinct=int(data[source].nunique()),
        )
        for source, name in mapping.items()
    ]
    warnings = [f"feature {f.name!r} has {f.missing} missing value(s); the model pipeline imputes them"
                for f in features if f.missing]
    warnings += [f"feature {f.name!r} has a single value" for f in features if f.distinct == 1]
    classes = None
    if problem_type != "Regression":
        classes = {str(label): int(count) for label, count in data[target].value_counts().sort_index().items()}
    rows = {"total": len(data), **{name: len(frame) for name, frame in splits.items()}}
    return DatasetReport(
        target=target, problem_type=problem_type, rows=rows, features=features, classes=classes,
        seed=seed, files=files, warnings=warnings,
    )


def _write_with_target_first(target: pd.Series, features: pd.DataFrame, features_csv: Path, path: Path) -> None:
    """train.csv as the target's CSV column joined line by line to the baseline's, which is already written:
    byte for byte what `to_csv` of both would give, without formatting every float a second time (the
    slowest part of Preprocess on large data). Text with line breaks falls back to `to_csv`."""
    def has_line_break(column: pd.Series) -> bool:
        return not pd.api.types.is_numeric_dtype(column) and bool(
            column.astype(str).str.contains("[\r\n]", regex=True).any())

    if has_line_break(target) or any(has_line_break(features[column]) for column in features.columns):
        pd.concat([target, features], axis=1).to_csv(path, index=False, lineterminator="\n")
        return
    # A one-column CSV quotes an empty field ("") so that the line is not blank; beside other columns it is empty.
    target_lines = ["" if line == '""' else line
                    for line in target.to_csv(index=False, lineterminator="\n").split("\n")[:-1]]
    feature_lines = features_csv.read_text(encoding="utf-8").split("\n")[:-1]
    path.write_text("".join(f"{first},{rest}\n" for first, rest in zip(target_lines, feature_lines, strict=True)),
                    encoding="utf-8")


def write_outputs(
    splits: dict[str, pd.DataFrame], target: str, mapping: dict[str, str], folders: dict[str, Path],
    report: DatasetReport,
) -> None:
    """Split files (header, target first), the baseline (train features, header) and report.json."""
    for name, frame in splits.items():
        renamed = frame[[target, *mapping]].rename(columns=mapping)
        folders[name].mkdir(parents=True, exist_ok=True)
        if name != "train":
            renamed.to_csv(folders[name] / SPLIT_FILES[name], index=False)
            continue
        folders["baseline"].mkdir(parents=True, exist_ok=True)
        features = renamed.drop(columns=[target])
        features.to_csv(folders["baseline"] / BASELINE_FILE, index=False, lineterminator="\n")
        _write_with_target_first(renamed[target], features, folders["baseline"] / BASELINE_FILE,
                                 folders[name] / SPLIT_FILES[name])
    folders["report"].mkdir(parents=True, exist_ok=True)
    (folders["report"] / REPORT_FILE).write_text(report.to_json(), encoding="utf-8")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="preprocess", description=__doc__)
    parser.add_argument("--input", type=Path, default=Path("/opt/ml/processing/input/raw"))
    for name in (*SPLIT_FILES, "baseline", "report"):
        parser.add_argument(f"--{name}", type=Path, default=Path(f"/opt/ml/processing/output/{name}"))
    parser.add_argument("--target", default="target")
    parser.add_argument("--problem-type", default="BinaryClassification", choices=PROBLEM_TYPES)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--min-rows", type=int, default=MIN_ROWS)
    parser.add_argument("--data-schema", action="append", default=[], metavar="JSON",
                        help="data.schema as JSON; repeated arguments are concatenated")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    schema = schema_argument(args.data_schema)
    data, locations = read_raw(args.input)
    mapping = validate(data, args.target, args.problem_type, locations, args.min_rows, schema=schema)
    splits = split(data, args.target, args.problem_type, seed=args.seed)
    files = sorted({location.rsplit(":", 1)[0] for location in locations})
    report = build_report(data, args.target, args.problem_type, mapping, splits=splits, seed=args.seed, files=files)
    root = args.input if args.input.is_dir() else args.input.parent
    report.data_sha256 = data_sha256(input_files(args.input), root)
    folders = {name: getattr(args, name) for name in (*SPLIT_FILES, "baseline", "report")}
    write_outputs(splits, args.target, mapping, folders, report)
    if schema is not None:
        write_schema(schema, mapping, folders["train"])
    sizes = ", ".join(f"{name} {len(frame)}" for name, frame in splits.items())
    print(f"preprocess: {len(data)} rows, {len(mapping)} features -> {sizes}")
    for warning in report.warnings:
        print(f"warning: {warning}")


if __name__ == "__main__":
    sys.exit(run_step("preprocess", main))
