"""QuickScorer's tables score HistGradientBoosting models bit-for-bit as sklearn does, whatever the
tree shapes: 32-bit and 64-bit leaf words, several table blocks, one-leaf trees; trees it cannot hold
go through sklearn's per-tree predictor, and so do batches the tables would cost more on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from containers.inference import quickscorer
from containers.inference.scorers import HistGradientBoostingScorer


def data(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    x[rng.random(x.shape) < 0.1] = np.nan
    signal = np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2 % features]) + np.isnan(x[:, 0])
    return x, signal


def probes(x: np.ndarray) -> list[np.ndarray]:
    """Batches of every size class, with NaN, +-inf and values exactly on thresholds."""
    edge = x[:40].copy()
    edge[0, 0], edge[1, 1], edge[2, 0] = np.inf, -np.inf, np.nan
    return [x[:1], x[:quickscorer.FEW_ROWS], x[:quickscorer.FEW_ROWS + 1], edge, edge[:3], x]


def assert_same(scorer: HistGradientBoostingScorer, estimator: Any, batch: np.ndarray) -> None:
    if isinstance(estimator, HistGradientBoostingRegressor):
        assert np.array_equal(scorer.predict(batch), estimator.predict(batch))
    else:
        probabilities, encoded = scorer.classify(batch)
        assert np.array_equal(probabilities, estimator.predict_proba(batch))
        assert np.array_equal(estimator.classes_[encoded], estimator.predict(batch))


def on_thresholds(estimator: Any, x: np.ndarray) -> np.ndarray:
    """Rows whose values sit exactly on split thresholds (x <= threshold goes left: the boundary case)."""
    nodes = estimator._predictors[0][0].nodes
    splits = nodes[~nodes["is_leaf"].astype(bool)]
    rows = np.repeat(x[:1], len(splits), axis=0)
    rows[np.arange(len(splits)), splits["feature_idx"].astype(np.intp)] = splits["num_threshold"]
    return rows


@pytest.mark.parametrize("leaves", [31, 60], ids=["32-bit-words", "64-bit-words"])
def test_tables_equal_sklearn_for_both_word_sizes(leaves: int) -> None:
    x, signal = data(3000, 6, seed=41)
    estimator = HistGradientBoostingClassifier(max_iter=25, max_leaf_nodes=leaves, min_samples_leaf=5,
                                               random_state=0).fit(x, signal > 0)
    scorer = HistGradientBoostingScorer(estimator)
    assert scorer.route == "QuickScorer"
    most = max(int(predictor.nodes["is_leaf"].sum()) for (predictor,) in estimator._predictors)
    assert (most > 32) == (leaves > 32), "the trees must need the word size under test"
    for batch in [*probes(x), on_thresholds(estimator, x)]:
        assert scorer.uses_tables(len(batch))
        assert_same(scorer, estimator, batch)


def test_several_blocks_multiclass_keep_boosting_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trees split over several tables (here 7 per table) still add up in sklearn's order, per class."""
    monkeypatch.setattr(quickscorer, "BLOCK_TREES", 7)
    x, signal = data(1500, 4, seed=42)
    labels = np.digitize(signal, [-0.5, 0.5])
    estimator = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, labels)
    scorer = HistGradientBoostingScorer(estimator)
    assert scorer._forests is not None
    assert len(scorer._forests[0].blocks) == 5
    for batch in probes(x):
        assert_same(scorer, estimator, batch)


def test_one_leaf_trees_and_stumps() -> None:
    x, signal = data(400, 3, seed=43)
    constant = HistGradientBoostingRegressor(max_iter=5).fit(x, np.full(len(x), 2.5))  # trees of one leaf
    stumps = HistGradientBoostingRegressor(max_iter=10, max_depth=1, random_state=0).fit(x, signal)
    for estimator in (constant, stumps):
        scorer = HistGradientBoostingScorer(estimator)
        assert scorer.route == "QuickScorer"
        for batch in probes(x):
            assert_same(scorer, estimator, batch)


def test_trees_over_64_leaves_go_through_sklearns_predictor() -> None:
    x, signal = data(4000, 5, seed=44)
    estimator = HistGradientBoostingRegressor(max_iter=3, max_leaf_nodes=90, min_samples_leaf=2,
                                              random_state=0).fit(x, signal)
    scorer = HistGradientBoostingScorer(estimator)
    assert scorer.route.startswith("per-tree predictor (a tree with")
    assert not scorer.uses_tables(1)
    for batch in probes(x):
        assert_same(scorer, estimator, batch)


def test_large_batches_of_wide_models_take_the_cheaper_per_tree_route() -> None:
    """A row reads a table word per feature and tree: with many features a large batch is cheaper
    walked; a single row is still cheaper from the tables (one call instead of one per tree)."""
    x, signal = data(2000, 80, seed=45)
    estimator = HistGradientBoostingRegressor(max_iter=40, max_depth=3, random_state=0).fit(x, signal)
    scorer = HistGradientBoostingScorer(estimator)
    assert scorer.route == "QuickScorer"
    assert scorer.uses_tables(1)
    assert not scorer.uses_tables(len(x))
    for batch in probes(x):
        assert_same(scorer, estimator, batch)
