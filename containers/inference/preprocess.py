"""The fitted pipeline's preprocessing (ColumnTransformer of imputers, scalers, one-hot encoders) rebuilt
as array operations on a RowBatch: the fast path's first half, with the same float64 results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from containers.inference.codec import FeatureLayout, RowBatch


class FastPathUnsupportedError(Exception):
    """The fitted model holds a step or option the fast path does not reproduce."""


@dataclass(frozen=True)
class NumericBlock:
    columns: tuple[int, ...]  # positions in RowBatch.numeric
    fill: np.ndarray | None  # imputer statistics (NaN -> value), or None without an imputer
    mean: np.ndarray | None
    scale: np.ndarray | None
    width: int


@dataclass(frozen=True)
class CategoricalBlock:
    columns: tuple[int, ...]  # positions in RowBatch.categorical
    fill: tuple[Any, ...] | None  # imputer statistics per column (missing -> value)
    offsets: tuple[dict[Any, int], ...]  # per column: category (str) -> output column (absolute)
    width: int


def _steps(transformer: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    if isinstance(transformer, Pipeline):
        return [step for _, step in transformer.steps if step not in (None, "passthrough")]
    return [transformer]


def _is_nan_imputer(step: Any) -> bool:
    from sklearn.impute import SimpleImputer

    missing = getattr(step, "missing_values", None)
    return (
        type(step) is SimpleImputer
        and isinstance(missing, float)
        and np.isnan(missing)
        and not step.add_indicator
    )


def _numeric_block(steps: list[Any], columns: tuple[int, ...], start: int) -> NumericBlock:
    from sklearn.preprocessing import StandardScaler

    fill = mean = scale = None
    remaining = list(steps)
    if remaining and _is_nan_imputer(remaining[0]):
        statistics = np.asarray(remaining.pop(0).statistics_, dtype=np.float64)
        if statistics.shape != (len(columns),) or np.isnan(statistics).any():
            # An all-missing training column is dropped by the imputer: the output shape changes.
            raise FastPathUnsupportedError("numeric imputer with empty features")
        fill = statistics
    if remaining and type(remaining[0]) is StandardScaler:
        scaler = remaining.pop(0)
        mean = None if scaler.mean_ is None or not scaler.with_mean else np.asarray(scaler.mean_, np.float64)
        scale = None if scaler.scale_ is None or not scaler.with_std else np.asarray(scaler.scale_, np.float64)
    if remaining:
        raise FastPathUnsupportedError(f"numeric step {type(remaining[0]).__name__}")
    return NumericBlock(columns, fill, mean, scale, len(columns))


def _categorical_block(steps: list[Any], columns: tuple[int, ...], start: int) -> CategoricalBlock:
    from sklearn.preprocessing import OneHotEncoder

    fill = None
    remaining = list(steps)
    if remaining and _is_nan_imputer(remaining[0]):
        imputer = remaining.pop(0)
        if imputer.strategy not in ("most_frequent", "constant"):
            raise FastPathUnsupportedError(f"categorical imputer strategy {imputer.strategy}")
        fill = tuple(imputer.statistics_)
        if len(fill) != len(columns):
            raise FastPathUnsupportedError("categorical imputer with empty features")
    if len(remaining) != 1 or type(remaining[0]) is not OneHotEncoder:
        raise FastPathUnsupportedError("categorical block is not [SimpleImputer] + OneHotEncoder")
    encoder = remaining[0]
    if (
        encoder.handle_unknown != "ignore"
        or encoder.drop is not None
        or getattr(encoder, "_infrequent_enabled", False)
        or encoder.sparse_output
        or np.dtype(encoder.dtype) != np.float64
    ):
        raise FastPathUnsupportedError("one-hot options (drop, infrequent, sparse or dtype)")
    offsets = []
    position = start
    for categories in encoder.categories_:
        if not all(isinstance(value, str) for value in categories):
            raise FastPathUnsupportedError("non-string categories")
        offsets.append({value: position + i for i, value in enumerate(categories)})
        position += len(categories)
    return CategoricalBlock(columns, fill, tuple(offsets), position - start)


class CompiledPreprocessor:
    """The fitted ColumnTransformer as numpy operations on a RowBatch: same float64 results, no DataFrame."""

    def __init__(self, column_transformer: Any, layout: FeatureLayout):
        from sklearn.compose import ColumnTransformer

        if type(column_transformer) is not ColumnTransformer:
            raise FastPathUnsupportedError(f"preprocess step is a {type(column_transformer).__name__}")
        self.numeric_count, self.categorical_count = len(layout.numeric), len(layout.categorical)
        numeric_position = {name_index: i for i, name_index in enumerate(layout.numeric)}
        categorical_position = {name_index: i for i, name_index in enumerate(layout.categorical)}
        self.blocks: list[NumericBlock | CategoricalBlock] = []
        width = 0
        for name, transformer, columns in column_transformer.transformers_:
            if isinstance(transformer, str) and transformer == "drop":
                continue
            if isinstance(transformer, str) or name == "remainder":
                raise FastPathUnsupportedError(f"transformer {name!r} is {transformer!r}")
            if not all(isinstance(column, str) and column in layout.index for column in columns):
                raise FastPathUnsupportedError(f"transformer {name!r} selects columns not named in metadata")
            indices = [layout.index[column] for column in columns]
            steps = _steps(transformer)
            block: NumericBlock | CategoricalBlock
            if indices and all(i in numeric_position for i in indices):
                block = _numeric_block(steps, tuple(numeric_position[i] for i in indices), width)
            elif indices and all(i in categorical_position for i in indices):
                block = _categorical_block(steps, tuple(categorical_position[i] for i in indices), width)
            else:
                raise FastPathUnsupportedError(f"transformer {name!r} mixes or lacks feature types")
            self.blocks.append(block)
            width += block.width
        self.width = width

    def transform(self, batch: RowBatch) -> np.ndarray:
        rows = batch.rows
        out = np.zeros((rows, self.width), dtype=np.float64)
        start = 0
        for block in self.blocks:
            target = out[:, start:start + block.width]
            if isinstance(block, NumericBlock):
                values = batch.numeric if block.columns == tuple(range(batch.numeric.shape[1])) else \
                    batch.numeric[:, block.columns]
                if block.fill is not None:
                    missing = np.isnan(values)
                    if missing.any():
                        values = np.where(missing, block.fill, values)
                # Same operations, in the same order, as StandardScaler.transform: bit-identical floats.
                # Written into `out` in place: no temporary per step.
                if block.mean is not None:
                    values = np.subtract(values, block.mean, out=target)
                if block.scale is not None:
                    values = np.divide(values, block.scale, out=target)
                if values is not target:
                    target[:] = values
            else:
                for j, column in enumerate(block.columns):
                    lookup, fill = block.offsets[j], block.fill[j] if block.fill is not None else None
                    # Unknown category: no column set, all zeros (handle_unknown="ignore").
                    positions = [lookup.get(fill if value is None else value, -1)
                                 for value in batch.categorical[:, column].tolist()]
                    if rows == 1:
                        if positions[0] >= 0:
                            out[0, positions[0]] = 1.0
                        continue
                    found = np.fromiter(positions, dtype=np.intp, count=rows)
                    known = np.flatnonzero(found >= 0)
                    out[known, found[known]] = 1.0
            start += block.width
        return out
