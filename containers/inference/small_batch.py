"""Small batches (single-row traffic, a few rows per micro-batch) of a HistGradientBoosting model scored
by one compiled call: the fitted preprocessing and every tree, row by row, compiled with numba.

Inside the server a numpy call costs ~2.5x what it costs in a warm loop (its code shares the caches
with the HTTP stack), and a 4-row batch made ~40 of them: 48-53 us per batch, the largest part of a
single-row request. One compiled call replaces them. The arithmetic is the same IEEE float64 as numpy's
and sklearn's, in the same order (numba compiles without fastmath): imputation, `(x - mean) / scale`,
one-hot columns, then per tree `x <= threshold` (NaN to the node's learned side) and the leaf values
added to the baseline in boosting order. The raw scores are bit-for-bit sklearn's (tested); the
probabilities come from the estimator's own loss, as on the other routes.

The kernel is compiled once per machine and cached on disk beside this file (numba's cache; the image
compiles it at build). Without numba, or when the preprocessing holds a step this does not reproduce,
`SmallBatchScorer.build` gives None and the numpy route serves every batch.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from containers.inference.codec import RowBatch
from containers.inference.preprocess import CategoricalBlock, CompiledPreprocessor, NumericBlock
from containers.inference.scorers import HistGradientBoostingScorer

# Batches up to this many rows take the compiled call; larger ones QuickScorer's tables, cheaper per row
# from here on. In a warm loop the two cross at ~28 rows (24 rows: 37 vs 39 us; 32 rows: 48 vs 45 us);
# in the server, where numpy's many calls cost ~2.5x, the compiled call wins further.
SMALL_ROWS = 32

def _score(numeric: Any, onehot: Any, columns: Any, affine: Any, width: int, class_start: Any,  # noqa: PLR0917
           links: Any, splits: Any, sides: Any, baseline: Any, out: Any) -> None:
    """The kernel numba compiles. Its arguments are few stacked arrays (each argument costs the call a type
    check): `columns` (2, m) source and target column of each numeric feature; `affine` (3, m) its fill,
    mean and scale; per node `links` (3, nodes) feature, left and right child; `splits` (2, nodes)
    threshold and leaf value; `sides` (2, nodes) NaN-goes-left and is-leaf; `class_start` each class's
    first tree and the trees' roots after them."""
    source, target = columns[0], columns[1]
    fill, mean, scale = affine[0], affine[1], affine[2]
    feature, left, right = links[0], links[1], links[2]
    threshold, value = splits[0], splits[1]
    nan_left, is_leaf = sides[0], sides[1]
    classes = baseline.shape[0]
    row = np.zeros(width)
    for i in range(numeric.shape[0]):
        row[:] = 0.0
        for j in range(source.shape[0]):
            x = numeric[i, source[j]]
            if np.isnan(x):  # the imputer's value (NaN again without an imputer)
                x = fill[j]
            # StandardScaler.transform's two operations, in its order (0 and 1 without a scaler:
            # x - 0.0 and x / 1.0 are x exactly).
            x = x - mean[j]
            x = x / scale[j]
            row[target[j]] = x
        for c in range(onehot.shape[1]):
            if onehot[i, c] >= 0:  # unknown category: no column set (handle_unknown="ignore")
                row[onehot[i, c]] = 1.0
        for k in range(baseline.shape[0]):
            total = baseline[k]
            for t in range(class_start[k], class_start[k + 1]):
                node = class_start[classes + 1 + t]
                while not is_leaf[node]:
                    x = row[feature[node]]
                    if np.isnan(x):
                        node = left[node] if nan_left[node] else right[node]
                    elif x <= threshold[node]:
                        node = left[node]
                    else:
                        node = right[node]
                total += value[node]
            out[i, k] = total


@functools.cache
def kernel() -> Any:
    """The compiled scoring function: compiled, or loaded from numba's on-disk cache, on first use."""
    import numba

    return numba.njit(cache=True, nogil=True)(_score)


class SmallBatchScorer:
    """A fitted [ColumnTransformer, HistGradientBoosting] pipeline scored from a RowBatch in one call; the
    raw scores become probabilities, labels or values through the estimator's scorer, as on its routes."""

    def __init__(self, preprocessor: CompiledPreprocessor, trees: HistGradientBoostingScorer):
        self._scorer = trees
        source, target, fill, mean, scale = [], [], [], [], []
        self._categorical: list[tuple[int, dict[Any, int], Any]] = []  # (column, category -> position, fill)
        start = 0
        for block in preprocessor.blocks:
            if isinstance(block, NumericBlock):
                for j, column in enumerate(block.columns):
                    source.append(column)
                    target.append(start + j)
                    fill.append(np.nan if block.fill is None else float(block.fill[j]))
                    mean.append(0.0 if block.mean is None else float(block.mean[j]))
                    scale.append(1.0 if block.scale is None else float(block.scale[j]))
            elif isinstance(block, CategoricalBlock):
                for j, column in enumerate(block.columns):
                    self._categorical.append((column, block.offsets[j], None if block.fill is None else block.fill[j]))
            start += block.width
        # Stacked lists of equal lengths: (2, m) and (3, m) arrays, m = 0 included.
        self._preprocessing = (np.array([source, target], dtype=np.intp),
                               np.array([fill, mean, scale], dtype=np.float64), int(preprocessor.width))
        per_class = trees.per_class
        nodes_of = [nodes for class_trees in per_class for nodes in class_trees]
        sizes = np.array([len(nodes) for nodes in nodes_of], dtype=np.intp)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        table = np.concatenate(nodes_of)
        shift = np.repeat(offsets, sizes)
        self._trees = (
            # Each class's first tree, then every tree's root.
            np.concatenate([np.cumsum([0, *map(len, per_class)]), offsets]).astype(np.intp),
            np.stack([table["feature_idx"].astype(np.intp), table["left"].astype(np.intp) + shift,
                      table["right"].astype(np.intp) + shift]),
            np.stack([table["num_threshold"].astype(np.float64), table["value"].astype(np.float64)]),
            np.stack([table["missing_go_to_left"].astype(np.bool_), table["is_leaf"].astype(np.bool_)]),
            trees.baseline,
        )
        self._classes = len(per_class)

    @classmethod
    def build(cls, preprocessor: CompiledPreprocessor | None, scorer: Any) -> SmallBatchScorer | None:
        """The compiled route when it applies (and compiles here); None otherwise."""
        if preprocessor is None or not isinstance(scorer, HistGradientBoostingScorer):
            return None
        try:
            kernel()
        except ImportError:
            return None
        small = cls(preprocessor, scorer)
        small.raw(RowBatch(numeric=np.zeros((1, preprocessor.numeric_count)),
                           categorical=np.full((1, preprocessor.categorical_count), None, dtype=object)))
        return small

    def raw(self, batch: RowBatch) -> np.ndarray:
        """(rows, classes) raw scores, as the estimator's _raw_predict gives them."""
        rows = batch.rows
        onehot = np.empty((rows, len(self._categorical)), dtype=np.intp)
        if self._categorical:
            values = batch.categorical.tolist()
            for c, (column, positions, fill) in enumerate(self._categorical):
                for i in range(rows):
                    value = values[i][column]
                    onehot[i, c] = positions.get(fill if value is None else value, -1)
        out = np.empty((rows, self._classes), dtype=np.float64)
        kernel()(np.ascontiguousarray(batch.numeric, dtype=np.float64), onehot, *self._preprocessing,
                 *self._trees, out)
        return out

    def classify(self, batch: RowBatch) -> tuple[np.ndarray, np.ndarray]:
        return self._scorer.classify_raw(self.raw(batch))

    def predict(self, batch: RowBatch) -> np.ndarray:
        return self._scorer.predict_raw(self.raw(batch))


def warm() -> None:
    """Compile the kernel for the argument types SmallBatchScorer.raw passes, so numba caches it: a
    one-leaf tree over one numeric and one one-hot column."""
    kernel()(np.zeros((1, 1)), np.full((1, 1), -1, dtype=np.intp), np.zeros((2, 1), dtype=np.intp),
             np.ones((3, 1)), 2, np.array([0, 1, 0], dtype=np.intp), np.zeros((3, 1), dtype=np.intp),
             np.zeros((2, 1)), np.ones((2, 1), dtype=np.bool_), np.zeros(1), np.empty((1, 1)))


if __name__ == "__main__":
    warm()
