"""QuickScorer (Lucchese et al., SIGIR 2015) for HistGradientBoosting's trees, vectorized over rows
with numpy: a batch's exit leaves are table look-ups and ANDs instead of a walk down each tree.

A tree's leaves are numbered left to right. A node whose test sends a row right is "false" for that
row, and rules out every leaf of its left subtree; the row's exit leaf is the leftmost leaf no false
node rules out (Lucchese et al., theorem 1). sklearn sends x left when x <= threshold, so among the
nodes testing feature f, sorted by threshold, the false ones for a number x are the first
`searchsorted(thresholds, x)` (those with threshold < x), and the AND of their masks, per tree, is a
prefix table read at that count. NaN goes to each node's learned side: the table's last row for f
holds the AND over f's nodes that send NaN right. +-inf need nothing of their own. A row's leaf bits
per tree are the AND over features of one table row each; the exit leaf is the lowest set bit. The
leaf values are added to the baseline tree by tree in boosting order, as sklearn's `_raw_predict`
adds them: the raw scores are bit-for-bit sklearn's (tested).

Per row it costs one table word per (feature used, tree), however deep the trees; a walk costs a
branch per level that the CPU cannot predict. On the benchmark's model (100 trees of 31 leaves,
8 features) 1,000 rows take 0.47 ms (with the worker's allocator settings, worker_tuning.py) against
3.5 ms through sklearn's per-tree predictor, and one row ~9 us.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Trees per table: a table holds (its nodes + 2 per feature) x its trees words, so memory grows with
# the square of this; per row the work is the same whatever the split.
BLOCK_TREES = 128
# Batches up to this many rows look every feature up in one searchsorted call over (feature, threshold)
# keys, and gather their table rows in one call; larger ones take a call per feature, cheaper per row.
FEW_ROWS = 32
# From this many rows a batch's leaf values are added one tree at a time across rows (a call per tree)
# rather than along each row with add.accumulate (whose cost per row is higher).
SEQUENTIAL_SUM_MIN_ROWS = 128
MAX_TABLE_BYTES = 64 * 1024 * 1024


class QuickScorerUnsupportedError(Exception):
    """The trees do not fit the tables (more than 64 leaves, a non-numeric split, tables too large)."""


@dataclass(frozen=True)
class _Block:
    """Up to BLOCK_TREES consecutive trees of one class."""

    features: np.ndarray  # (Fb,) the columns the block's nodes test
    thresholds: tuple[np.ndarray, ...]  # per used feature: its nodes' thresholds, ascending
    row_base: np.ndarray  # (Fb,) where each feature's prefix rows start in `table`
    nan_row: np.ndarray  # (Fb,) each feature's NaN row in `table`
    table: np.ndarray  # (rows, trees) leaf masks, uint32 or uint64
    # Few rows: every feature's thresholds in one sorted array of complex keys `position + 1j * threshold`
    # (numpy orders complex numbers by real part, then imaginary): searchsorted of `position + 1j * x`
    # counts the feature's thresholds below x, plus all earlier features' thresholds.
    keys: np.ndarray
    positions: np.ndarray  # (Fb,) 0, 1, ... as float64, the real parts of a row's queries
    key_to_row: np.ndarray  # (Fb,) add to a key count to get the table row: the two extra rows per feature
    all_features: bool  # the block tests every column, in order: the row is its own query
    leaf_values: np.ndarray  # (trees * bits,) leaf values, tree t's leaves from t * bits on
    leaf_offset: np.ndarray  # (trees,) t * bits - 1: see _exit_leaves


def _leaves_in_order(nodes: np.ndarray) -> tuple[list[int], dict[int, tuple[int, int]]]:
    """The leaves left to right, and per split node the leaf numbers its left subtree spans."""
    leaves: list[int] = []
    left_span: dict[int, tuple[int, int]] = {}
    # Iterative in-order walk: a tree may be deeper than Python's recursion is comfortable with.
    stack: list[tuple[int, bool]] = [(0, False)]
    first_leaf: dict[int, int] = {}
    while stack:
        node, expanded = stack.pop()
        if nodes["is_leaf"][node]:
            leaves.append(node)
            continue
        if not expanded:
            first_leaf[node] = len(leaves)
            # Left subtree first; the marker comes back after it to close the node's left span.
            stack.append((node, True))
            stack.append((int(nodes["left"][node]), False))
        else:
            left_span[node] = (first_leaf[node], len(leaves) - 1)
            stack.append((int(nodes["right"][node]), False))
    return leaves, left_span


def _block(trees: list[np.ndarray], word: type[np.unsignedinteger[Any]], n_features: int) -> _Block:
    bits = np.dtype(word).itemsize * 8
    full = (1 << bits) - 1
    feature, threshold, tree_of, mask, nan_right = [], [], [], [], []
    leaf_values = np.zeros((len(trees), bits), dtype=np.float64)
    for t, nodes in enumerate(trees):
        leaves, left_span = _leaves_in_order(nodes)
        leaf_values[t, :len(leaves)] = nodes["value"][leaves]
        for node, (low, high) in left_span.items():
            feature.append(int(nodes["feature_idx"][node]))
            threshold.append(float(nodes["num_threshold"][node]))
            tree_of.append(t)
            mask.append(full & ~(((1 << (high + 1)) - 1) ^ ((1 << low) - 1)))
            nan_right.append(not nodes["missing_go_to_left"][node])
    features = np.array(sorted(set(feature)), dtype=np.intp)
    feature_array, threshold_array = np.array(feature, dtype=np.intp), np.array(threshold, dtype=np.float64)
    if np.isnan(threshold_array).any():
        raise QuickScorerUnsupportedError("a split without a numeric threshold")
    tree_array, mask_array = np.array(tree_of, dtype=np.intp), np.array(mask, dtype=word)
    nan_array = np.array(nan_right, dtype=bool)
    tables, sorted_thresholds, row_base, nan_row = [], [], [], []
    base = 0
    for f in features:
        mine = np.flatnonzero(feature_array == f)
        mine = mine[np.argsort(threshold_array[mine], kind="stable")]
        table = np.full((len(mine) + 2, len(trees)), full, dtype=word)
        for k, split in enumerate(mine):  # row k + 1: the first k + 1 nodes are false
            table[k + 1] = table[k]
            table[k + 1, tree_array[split]] &= mask_array[split]
        for split in mine[nan_array[mine]]:
            table[-1, tree_array[split]] &= mask_array[split]
        tables.append(table)
        sorted_thresholds.append(threshold_array[mine])
        row_base.append(base)
        nan_row.append(base + len(mine) + 1)
        base += len(table)
    # Trees of one leaf test nothing: no feature, an empty table, every word all ones (leaf 0).
    sizes = [len(t) for t in sorted_thresholds]
    keys = np.empty(sum(sizes), dtype=np.complex128)
    keys.real = np.repeat(np.arange(len(sizes), dtype=np.float64), sizes)
    keys.imag = np.concatenate(sorted_thresholds) if sizes else keys.real
    return _Block(
        features=features, thresholds=tuple(sorted_thresholds), row_base=np.array(row_base, dtype=np.intp),
        nan_row=np.array(nan_row, dtype=np.intp),
        table=np.concatenate(tables) if tables else np.empty((0, len(trees)), dtype=word),
        keys=keys, positions=np.arange(len(sizes), dtype=np.float64),
        key_to_row=np.arange(len(sizes), dtype=np.intp) * 2,
        all_features=bool(np.array_equal(features, np.arange(n_features))),
        leaf_values=leaf_values.ravel(), leaf_offset=np.arange(len(trees), dtype=np.intp) * bits - 1,
    )


def _exit_leaves(words: np.ndarray, leaf_offset: np.ndarray) -> np.ndarray:
    """Index into leaf_values of each word's lowest set bit (a word is never zero: the rightmost leaf
    is never ruled out). `w ^ (w - 1)` sets the bits up to and including it; leaf_offset is t * bits - 1."""
    below = words - words.dtype.type(1)
    below ^= words
    leaves: np.ndarray = np.bitwise_count(below) + leaf_offset  # uint8 + intp: intp
    return leaves


class QuickScorerForest:
    """One class's trees (boosting order) as QuickScorer tables; `leaf_values(rows)` per block."""

    def __init__(self, trees: list[np.ndarray], n_features: int):
        leaves = max(int(nodes["is_leaf"].sum()) for nodes in trees)
        if leaves > 64:
            raise QuickScorerUnsupportedError(f"a tree with {leaves} leaves (at most 64)")
        word: type[np.unsignedinteger[Any]] = np.uint32 if leaves <= 32 else np.uint64
        self.blocks = [_block(trees[start:start + BLOCK_TREES], word, n_features)
                       for start in range(0, len(trees), BLOCK_TREES)]
        self.table_bytes = sum(block.table.nbytes for block in self.blocks)
        if self.table_bytes > MAX_TABLE_BYTES:
            raise QuickScorerUnsupportedError(f"tables of {self.table_bytes // 2**20} MiB")
        # Table words a row reads: what one row costs, to compare with a walk's cost.
        self.words_per_row = sum(len(block.features) * block.table.shape[1] for block in self.blocks)

    @staticmethod
    def _rows_of_table(block: _Block, x: np.ndarray) -> np.ndarray:
        """(rows, Fb) the table row each (row, feature) reads."""
        used = x if block.all_features else x[:, block.features]
        if not len(block.features):
            return np.empty(used.shape, dtype=np.intp)
        if len(x) <= FEW_ROWS:
            queries = np.empty(used.shape, dtype=np.complex128)
            queries.real = block.positions
            queries.imag = used
            rows: np.ndarray = block.keys.searchsorted(queries)  # a NaN query sorts last: fixed below
            rows += block.key_to_row
        else:
            rows = np.empty(used.shape, dtype=np.intp)
            for j, thresholds in enumerate(block.thresholds):
                rows[:, j] = thresholds.searchsorted(used[:, j])  # NaN sorts last: fixed below
            rows += block.row_base
        missing = np.isnan(used)
        if missing.any():
            rows = np.where(missing, block.nan_row, rows)
        return rows

    @staticmethod
    def _words(block: _Block, rows: np.ndarray) -> np.ndarray:
        """(rows, trees) each tree's leaf bits: the AND of the table rows the row's features read."""
        if len(rows) <= FEW_ROWS or not rows.shape[1]:
            few: np.ndarray = np.bitwise_and.reduce(block.table[rows], axis=1)  # one gather, one AND
            return few
        # Large batches: a whole-row take and an in-place AND per feature, no (rows, Fb, trees) gather.
        words = block.table.take(rows[:, 0], axis=0)
        for j in range(1, rows.shape[1]):
            np.bitwise_and(words, block.table.take(rows[:, j], axis=0), out=words)
        return words

    def raw_add(self, x: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """`raw` (rows,) plus every tree's leaf value, added one tree at a time in boosting order."""
        for block in self.blocks:
            leaves = _exit_leaves(self._words(block, self._rows_of_table(block, x)), block.leaf_offset)
            values = block.leaf_values.take(leaves)
            if len(x) < SEQUENTIAL_SUM_MIN_ROWS:
                # add.accumulate adds left to right: raw + tree 1 + tree 2 ..., sklearn's order.
                raw = np.add.accumulate(np.concatenate([raw[:, None], values], axis=1), axis=1)[:, -1]
            else:
                # The same additions, one tree's column at a time over all rows (add.accumulate's
                # generic loop costs 0.3 ms on 1,000 rows x 100 trees, these 0.04 ms). Not np.sum:
                # it may add pairwise, which rounds differently.
                raw = raw.copy()
                for column in np.ascontiguousarray(values.T):
                    raw += column
        return raw
