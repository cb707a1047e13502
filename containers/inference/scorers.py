"""Estimator scorers of the fast path: tree ensembles scored directly (no per-call validation), bit-for-bit
their own predict_proba/predict; any other estimator through its public API."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from containers.inference.preprocess import FastPathUnsupportedError
from containers.inference.quickscorer import QuickScorerForest, QuickScorerUnsupportedError


class TreeEnsembleScorer:
    """GradientBoosting scoring without scikit-learn's per-call input validation.

    `predict_proba` on one row spends ~0.2 ms validating and ~0.04 ms in the trees; the server hands
    the estimator arrays it built itself, so it walks the fitted trees directly with the same Cython
    routine and loss that `predict_proba`/`predict` use: the results are bit-for-bit identical (tested).
    Only for the constant ("prior"/"zero") initial estimator, whose raw score does not depend on X.
    """

    def __init__(self, estimator: Any, n_features: int):
        from sklearn.dummy import DummyClassifier, DummyRegressor
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
        from sklearn.ensemble._gradient_boosting import predict_stages

        if not isinstance(estimator, GradientBoostingClassifier | GradientBoostingRegressor):
            raise FastPathUnsupportedError(f"{type(estimator).__name__} is scored through its public API")
        init = estimator.init_
        constant_init = init == "zero" or (
            isinstance(init, DummyClassifier | DummyRegressor) and init.strategy in ("prior", "mean")
        )
        if not constant_init:
            raise FastPathUnsupportedError("the initial estimator depends on the input")
        self._predict_stages = predict_stages
        self._estimator = estimator
        # The initial raw score is the same for every row: compute it once from a placeholder row.
        self._init = np.asarray(estimator._raw_predict_init(np.zeros((1, n_features))), dtype=np.float64)[0]

    def raw(self, features: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # an overflow becomes inf, refused just below
            rows = np.ascontiguousarray(features, dtype=np.float32)
        if not np.isfinite(rows).all():
            # What sklearn's validation would refuse (NaN, inf, beyond float32), with its wording.
            raise ValueError("Input X contains NaN, infinity or a value too large for dtype('float32').")
        raw = np.tile(self._init, (rows.shape[0], 1))
        self._predict_stages(self._estimator.estimators_, rows, self._estimator.learning_rate, raw)
        return raw

    def classify(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, encoded labels) as predict_proba and predict compute them."""
        raw = self.raw(features)
        # GradientBoostingClassifier.predict: class 1 when the raw score is >= 0.
        encoded = (raw[:, 0] >= 0).astype(np.intp) if raw.shape[1] == 1 else np.argmax(raw, axis=1)
        return np.asarray(self._estimator._loss.predict_proba(raw)), encoded

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.raw(features).ravel()


# Per-call and per-row costs, measured on the benchmark's model (100 trees, 31 leaves, mean leaf depth 7,
# 8 features), that choose between QuickScorer's tables and sklearn's per-tree predictor for a batch.
PER_TREE_CALL_S = 3.5e-6  # each tree's predictor call, whatever the rows
PER_NODE_S = 5e-9  # each level a row goes down a tree (branches the CPU cannot predict)
PER_WORD_S = 1e-9  # each table word a row reads


class HistGradientBoostingScorer:
    """HistGradientBoosting scoring without scikit-learn's per-call validation, bit-for-bit its
    predict_proba/predict (tested). A batch goes through QuickScorer's tables (quickscorer.py) unless
    sklearn's own per-tree Cython predictor is cheaper for it: for models with many features per tree
    and large batches (a row reads a table word per feature and tree, a walk only the levels it goes
    down). Models fitted with native categorical features go through the public API."""

    def __init__(self, estimator: Any):
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        if not isinstance(estimator, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
            raise FastPathUnsupportedError(f"{type(estimator).__name__} is scored through its public API")
        if getattr(estimator, "_preprocessor", None) is not None or any(
            predictor.nodes["is_categorical"].any() for iteration in estimator._predictors for predictor in iteration
        ):
            raise FastPathUnsupportedError("HistGradientBoosting with native categorical features")
        self._estimator = estimator
        self._n_features = int(estimator.n_features_in_)
        self._known_cat_bitsets, self._f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
        # Each class's trees (their node tables) in boosting order, and the class's baseline raw score.
        self.per_class = [[iteration[k].nodes for iteration in estimator._predictors]
                          for k in range(int(estimator.n_trees_per_iteration_))]
        self.baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)
        loss: Any = estimator._loss
        self._logistic = type(loss).__name__ == "HalfBinomialLoss" and type(loss.link).__name__ == "LogitLink"
        try:
            self._forests: list[QuickScorerForest] | None = [QuickScorerForest(trees, self._n_features)
                                                             for trees in self.per_class]
        except QuickScorerUnsupportedError as reason:
            self._forests, self.route = None, f"per-tree predictor ({reason})"
        else:
            self.route = "QuickScorer"
        trees = sum(len(trees) for trees in self.per_class)
        # A walk costs the depth of the leaf a row reaches; the trees' mean leaf depth stands for it.
        depth = sum(float(nodes["depth"][nodes["is_leaf"].astype(bool)].mean()) for trees in self.per_class
                    for nodes in trees)
        self._walk_row_s, self._walk_call_s = depth * PER_NODE_S, trees * PER_TREE_CALL_S
        self._table_row_s = sum(forest.words_per_row for forest in self._forests or ()) * PER_WORD_S

    def uses_tables(self, rows: int) -> bool:
        return self._forests is not None and rows * self._table_row_s <= self._walk_call_s + rows * self._walk_row_s

    def raw(self, features: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(features, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self._n_features:
            raise ValueError(f"X has {rows.shape[-1]} features, but the model expects {self._n_features}")
        if self._forests is None or not self.uses_tables(rows.shape[0]):
            return self._raw_per_tree(rows)
        raw = np.empty((rows.shape[0], len(self._forests)), dtype=np.float64)
        for k, forest in enumerate(self._forests):
            raw[:, k] = forest.raw_add(rows, np.full(rows.shape[0], self.baseline[k]))
        return raw

    def _raw_per_tree(self, rows: np.ndarray) -> np.ndarray:
        """sklearn's own Cython predictor per tree (what `_raw_predict` runs)."""
        estimator = self._estimator
        raw = np.zeros((rows.shape[0], len(self.baseline)), dtype=np.float64, order="F")
        raw += self.baseline
        for iteration in estimator._predictors:
            for k, predictor in enumerate(iteration):
                # One thread: the server runs one worker process per core already.
                raw[:, k] += predictor.predict(rows, self._known_cat_bitsets, self._f_idx_map, 1)
        return raw

    def classify(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.classify_raw(self.raw(features))

    def classify_raw(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, encoded labels) from raw scores, as predict_proba and predict make them."""
        if raw.shape[1] == 1:
            # HistGradientBoostingClassifier.predict: class 1 when the raw score is > 0 (ties: class 0).
            encoded = (raw[:, 0] > 0).astype(np.intp)
            if self._logistic:
                # HalfBinomialLoss.predict_proba's own steps, without its array-API dispatch per call.
                probabilities = np.empty((raw.shape[0], 2), dtype=raw.dtype)
                probabilities[:, 1] = expit(raw[:, 0])
                probabilities[:, 0] = 1 - probabilities[:, 1]
                return probabilities, encoded
            return np.asarray(self._estimator._loss.predict_proba(raw)), encoded
        return np.asarray(self._estimator._loss.predict_proba(raw)), np.argmax(raw, axis=1)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.predict_raw(self.raw(features))

    def predict_raw(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(self._estimator._loss.link.inverse(raw.ravel()))


class PublicApiScorer:
    """Any other estimator: its own predict_proba and predict, so labels follow its own rule
    (argmax, a threshold, ...) exactly as the plain pipeline's predict does."""

    def __init__(self, estimator: Any):
        self._estimator = estimator
        classes = getattr(estimator, "classes_", None)
        self._position = {label: i for i, label in enumerate(classes)} if classes is not None else {}

    def classify(self, features: Any) -> tuple[np.ndarray, np.ndarray]:
        probabilities = np.asarray(self._estimator.predict_proba(features), dtype=np.float64)
        labels = np.asarray(self._estimator.predict(features)).ravel()
        encoded = np.fromiter((self._position[label] for label in labels), dtype=np.intp, count=len(labels))
        return probabilities, encoded

    def predict(self, features: Any) -> np.ndarray:
        return np.asarray(self._estimator.predict(features))


def fast_scorer(estimator: Any) -> TreeEnsembleScorer | HistGradientBoostingScorer | PublicApiScorer:
    """The quickest scorer that reproduces the estimator's own results exactly."""
    try:
        return TreeEnsembleScorer(estimator, int(estimator.n_features_in_))
    except (FastPathUnsupportedError, AttributeError, ImportError):
        pass
    try:
        return HistGradientBoostingScorer(estimator)
    except (FastPathUnsupportedError, AttributeError, ImportError):
        return PublicApiScorer(estimator)
