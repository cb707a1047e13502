"""A user's CSV for the local loop: checked up front, its problem type inferred, the environment adapted."""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

from config.settings import EnvironmentConfig, ProblemType, QualityGate
from containers.contracts.model_artifact import MAX_INFERRED_CLASSES
from mlops.local.errors import LocalModeError

_NOT_IN_KEY = re.compile(r"[^a-z0-9\-]+")


@dataclass(frozen=True)
class UserData:
    path: Path
    target: str
    problem_type: ProblemType
    columns: tuple[str, ...]
    rows: int
    classes: int
    digest: str

    @property
    def key_prefix(self) -> str:
        """`datasets/<name>-<content hash>/`: a changed file is a new prefix, the old run keeps its input."""
        stem = _NOT_IN_KEY.sub("-", self.path.stem.lower()).strip("-") or "data"
        return f"datasets/{stem[:40]}-{self.digest[:12]}/"


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def infer_problem_type(values: list[str]) -> tuple[ProblemType, int]:
    """(problem type, number of distinct values) of a target column's non-empty values."""
    distinct = set(values)
    if all(_is_number(value) for value in distinct):
        whole = all(float(value).is_integer() for value in distinct)
        if not (whole and len(distinct) <= MAX_INFERRED_CLASSES):
            return ProblemType.REGRESSION, len(distinct)
    if len(distinct) <= 2:
        return ProblemType.BINARY, len(distinct)
    return ProblemType.MULTICLASS, len(distinct)


def inspect_csv(path: Path, target: str, problem_type: str | None) -> UserData:
    """Read the header and the target column; LocalModeError naming the file, column or value at fault."""
    if not path.is_file():
        raise LocalModeError(f"--data {path}: no such file")
    digest = hashlib.sha256()
    values: list[str] = []
    rows = 0
    try:
        with path.open("rb") as raw:
            for block in iter(lambda: raw.read(1 << 20), b""):
                digest.update(block)
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [column.strip() for column in next(reader, [])]
            if not header or not any(header):
                raise LocalModeError(f"--data {path}: the file is empty or has no header row")
            repeated = next((name for i, name in enumerate(header) if name in header[:i]), None)
            if repeated is not None:
                raise LocalModeError(f"--data {path}: column {repeated!r} appears twice in the header; "
                                     "rename or drop one")
            if target not in header:
                raise LocalModeError(
                    f"--target {target!r} is not a column of {path.name}; columns: {', '.join(header)}"
                )
            if len(header) < 2:
                raise LocalModeError(f"--data {path}: no feature columns besides the target {target!r}")
            position = header.index(target)
            for line in reader:
                if not any(cell.strip() for cell in line):
                    continue
                rows += 1
                value = line[position].strip() if position < len(line) else ""
                if value:
                    values.append(value)
    except UnicodeDecodeError as error:
        raise LocalModeError(f"--data {path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    except csv.Error as error:
        raise LocalModeError(f"--data {path}: not a readable CSV file ({error})") from error
    if not values:
        raise LocalModeError(f"--data {path}: the target column {target!r} has no values")
    inferred, classes = infer_problem_type(values)
    if problem_type is not None:
        try:
            inferred = ProblemType(problem_type)
        except ValueError:
            known = ", ".join(kind.value for kind in ProblemType)
            raise LocalModeError(f"--problem-type {problem_type!r} is not one of {known}") from None
    return UserData(path=path, target=target, problem_type=inferred, columns=tuple(header), rows=rows,
                    classes=classes, digest=digest.hexdigest())


def quality_gate_for(env: EnvironmentConfig, data: UserData) -> QualityGate:
    """The environment's gate when it fits the data's problem type, else a modest default for it
    (better than chance for classes, better than the mean for a regression)."""
    if data.problem_type == env.data.problem_type:
        return env.quality_gate
    if data.problem_type == ProblemType.BINARY:
        return QualityGate(metric="auc", threshold=0.5)
    if data.problem_type == ProblemType.MULTICLASS:
        return QualityGate(metric="accuracy", threshold=round(1.0 / max(2, data.classes), 4))
    return QualityGate(metric="r2", threshold=0.0)


def environment_for(env: EnvironmentConfig, data: UserData) -> EnvironmentConfig:
    """The environment with the user's target column, problem type and a gate that fits them."""
    return env.model_copy(update={
        "data": env.data.model_copy(update={"target": data.target, "problem_type": data.problem_type}),
        "quality_gate": quality_gate_for(env, data),
    })
