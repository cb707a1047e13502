"""Scoring: the fitted pipeline's preprocessing rebuilt as array operations (the fast path), with
`pipeline.predict` on a DataFrame as the fallback for anything the fast path does not know."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from containers.contracts.model_artifact import ModelMetadata
from containers.inference.codec import FeatureLayout, Predictions, RowBatch


class FastPathUnsupportedError(Exception):
    """The fitted preprocessing holds a step or option the array fast path does not reproduce."""


class ScoringError(ValueError):
    """The estimator refused the rows (e.g. a value beyond float32 range); a client error."""


@dataclass(frozen=True)
class _NumericBlock:
    columns: tuple[int, ...]  # positions in RowBatch.numeric
    fill: np.ndarray | None  # imputer statistics (NaN -> value), or None without an imputer
    mean: np.ndarray | None
    scale: np.ndarray | None
    width: int


@dataclass(frozen=True)
class _CategoricalBlock:
    columns: tuple[int, ...]  # positions in RowBatch.categorical
    fill: tuple[Any, ...] | None  # imputer statistics per column (missing -> value)
    offsets: tuple[dict[str, int], ...]  # per column: category -> output column (absolute)
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


def _numeric_block(steps: list[Any], columns: tuple[int, ...], start: int) -> _NumericBlock:
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
    return _NumericBlock(columns, fill, mean, scale, len(columns))


def _categorical_block(steps: list[Any], columns: tuple[int, ...], start: int) -> _CategoricalBlock:
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
    return _CategoricalBlock(columns, fill, tuple(offsets), position - start)


class CompiledPreprocessor:
    """The fitted ColumnTransformer as numpy operations on a RowBatch: same float64 results, no DataFrame."""

    def __init__(self, column_transformer: Any, layout: FeatureLayout):
        from sklearn.compose import ColumnTransformer

        if type(column_transformer) is not ColumnTransformer:
            raise FastPathUnsupportedError(f"preprocess step is a {type(column_transformer).__name__}")
        numeric_position = {name_index: i for i, name_index in enumerate(layout.numeric)}
        categorical_position = {name_index: i for i, name_index in enumerate(layout.categorical)}
        self.blocks: list[_NumericBlock | _CategoricalBlock] = []
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
            block: _NumericBlock | _CategoricalBlock
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
            if isinstance(block, _NumericBlock):
                values = batch.numeric[:, list(block.columns)]
                if block.fill is not None:
                    missing = np.isnan(values)
                    if missing.any():
                        values = np.where(missing, block.fill, values)
                # Same operations, in the same order, as StandardScaler.transform: bit-identical floats.
                if block.mean is not None:
                    values = values - block.mean
                if block.scale is not None:
                    values = values / block.scale
                out[:, start:start + block.width] = values
            else:
                categorical = batch.categorical
                for j, column in enumerate(block.columns):
                    lookup = block.offsets[j]
                    fill = block.fill[j] if block.fill is not None else None
                    for i in range(rows):
                        value = categorical[i, column]
                        if value is None:
                            value = fill
                        position = lookup.get(value)
                        if position is not None:  # unknown category: all zeros (handle_unknown=ignore)
                            out[i, position] = 1.0
            start += block.width
        return out


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


# Up to this many rows all trees are walked at once in numpy (no per-tree call overhead); larger
# batches call sklearn's per-tree Cython predictor, which is faster per row. Measured on the bench's
# model (100 trees, depth 22): 1 row 0.025 ms (sklearn's route 0.36), 16 rows 0.29 (0.37), 32 rows 0.60 (0.41).
VECTOR_WALK_MAX_ROWS = 16
_LARGEST = np.finfo(np.float64).max


@dataclass(frozen=True)
class _Forest:
    """One class's trees of a HistGradientBoosting model as flat node arrays (node ids made global),
    laid out for a walk of one numpy call per level.

    Each node's test is decided for all nodes at once first, `step = where(x[feature] > threshold,
    right, left)`; a level of every tree is then one gather, `node = step[node]`. Missing values need no
    test of their own: a row is widened to [x with NaN -> +inf, x with NaN -> -inf], and a node whose
    learned side for NaN is the left one reads the second half, so NaN goes where sklearn's predictor
    sends it. A leaf is its own two children, so `depth` levels leave every tree on its leaf."""

    roots: np.ndarray  # (trees,) in boosting order
    feature: np.ndarray  # (nodes,) column of the widened row
    threshold: np.ndarray  # (nodes,) go right when the value is greater
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray  # (nodes,) leaf values
    depth: int


def _flatten(predictors: list[Any], n_features: int) -> _Forest:
    nodes = [predictor.nodes for predictor in predictors]
    sizes = np.array([len(tree) for tree in nodes], dtype=np.intp)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    table = np.concatenate(nodes)
    shift = np.repeat(offsets, sizes)
    leaf = table["is_leaf"].astype(bool)
    own = np.arange(len(table), dtype=np.intp)
    left = np.where(leaf, own, table["left"].astype(np.intp) + shift)
    right = np.where(leaf, own, table["right"].astype(np.intp) + shift)
    threshold = table["num_threshold"].astype(np.float64)
    if np.isnan(threshold[~leaf]).any():
        raise FastPathUnsupportedError("HistGradientBoosting split without a numeric threshold")
    # x <= +inf holds for every number, x > largest float for none: the same side for all values;
    # only NaN, widened to +inf, goes right past it, as it does past +inf in sklearn when learned so.
    threshold = np.where(threshold == np.inf, _LARGEST, threshold)
    feature = table["feature_idx"].astype(np.intp) + np.where(table["missing_go_to_left"].astype(bool), n_features, 0)
    feature = np.where(leaf, 0, feature)
    depth = 0
    level = offsets
    while True:
        inner = level[~leaf[level]]
        if not len(inner):
            break
        depth += 1
        level = np.concatenate([left[inner], right[inner]])
    return _Forest(roots=offsets, feature=feature, threshold=threshold, left=left, right=right,
                   value=table["value"].astype(np.float64), depth=depth)


class HistGradientBoostingScorer:
    """HistGradientBoosting scoring without scikit-learn's per-call validation. Small batches walk
    all trees at once as numpy gathers (no call per tree), each step the same test as sklearn's predictor
    (NaN -> the learned side, else `x <= threshold`), leaf values added to the baseline tree by tree in
    boosting order as `_raw_predict` adds them: bit-for-bit identical to predict_proba/predict (tested).
    Models fitted with native categorical features go through the public API."""

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
        per_class = int(estimator.n_trees_per_iteration_)
        self._forests = [_flatten([iteration[k] for iteration in estimator._predictors], self._n_features)
                         for k in range(per_class)]
        self._baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)

    @staticmethod
    def _leaf_values(forest: _Forest, widened: np.ndarray) -> np.ndarray:
        """(rows, trees) leaf values; `widened` is (rows, 2 * features), see _Forest."""
        count = widened.shape[0]
        nodes = len(forest.feature)
        # ndarray methods: np.take's Python wrapper would cost more than a small gather.
        step = np.where(widened.take(forest.feature, axis=1) > forest.threshold, forest.right, forest.left)
        node = np.empty((count, len(forest.roots)), dtype=np.intp)
        node[:] = forest.roots
        if count > 1:  # row r's nodes live at r * nodes in the flattened table
            base = np.arange(0, count * nodes, nodes, dtype=np.intp)[:, None]
            step += base
            node += base
        flat = step.ravel()
        for _ in range(forest.depth):
            flat.take(node, out=node)
        if count > 1:
            node -= base
        return forest.value.take(node)

    def raw(self, features: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(features, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self._n_features:
            raise ValueError(f"X has {rows.shape[-1]} features, but the model expects {self._n_features}")
        if rows.shape[0] > VECTOR_WALK_MAX_ROWS or np.isinf(rows).any():
            # An infinite value would meet the walk's stand-ins for NaN: sklearn's own route scores it.
            return self._raw_per_tree(rows)
        missing = np.isnan(rows)
        widened = np.concatenate([np.where(missing, np.inf, rows), np.where(missing, -np.inf, rows)], axis=1)
        raw = np.empty((rows.shape[0], len(self._forests)), dtype=np.float64)
        for k, forest in enumerate(self._forests):
            leaves = self._leaf_values(forest, widened)
            # add.accumulate sums left to right: baseline + tree 1 + tree 2 ..., sklearn's order.
            terms = np.concatenate([np.full((rows.shape[0], 1), self._baseline[k]), leaves], axis=1)
            raw[:, k] = np.add.accumulate(terms, axis=1)[:, -1]
        return raw

    def _raw_per_tree(self, rows: np.ndarray) -> np.ndarray:
        """Larger batches: sklearn's own Cython predictor per tree (what `_raw_predict` runs)."""
        estimator = self._estimator
        raw = np.zeros((rows.shape[0], len(self._forests)), dtype=np.float64, order="F")
        raw += self._baseline
        for iteration in estimator._predictors:
            for k, predictor in enumerate(iteration):
                # One thread: the server runs one worker process per core already.
                raw[:, k] += predictor.predict(rows, self._known_cat_bitsets, self._f_idx_map, 1)
        return raw

    def classify(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw = self.raw(features)
        # HistGradientBoostingClassifier.predict: class 1 when the raw score is > 0 (ties go to class 0).
        encoded = (raw.ravel() > 0).astype(np.intp) if raw.shape[1] == 1 else np.argmax(raw, axis=1)
        return np.asarray(self._estimator._loss.predict_proba(raw)), encoded

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self._estimator._loss.link.inverse(self.raw(features).ravel()))


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


class Predictor:
    """Loaded model: scores RowBatches through the fast path when it compiles, else the DataFrame path."""

    def __init__(self, pipeline: Any, metadata: ModelMetadata, *, fast_path: bool = True):
        self.pipeline = pipeline
        self.metadata = metadata
        self.layout = FeatureLayout.from_metadata(metadata)
        self.estimator = pipeline.steps[-1][1]
        self.classes: tuple[Any, ...] | None = tuple(metadata.classes) if metadata.classes else None
        self.has_proba = self.classes is not None and hasattr(self.estimator, "predict_proba")
        self.fast_path_reason = "disabled"
        self.preprocessor: CompiledPreprocessor | None = None
        if fast_path:
            try:
                if len(pipeline.steps) != 2:
                    raise FastPathUnsupportedError("pipeline is not [preprocess, model]")
                self.preprocessor = CompiledPreprocessor(pipeline.steps[0][1], self.layout)
                self.fast_path_reason = "compiled"
            except FastPathUnsupportedError as reason:
                self.fast_path_reason = str(reason)
        # Without a compiled preprocessor the whole pipeline scores DataFrames through its public API.
        self.scorer = fast_scorer(self.estimator) if self.preprocessor is not None else PublicApiScorer(pipeline)
        if self.classes is not None:
            fitted = [value.item() if hasattr(value, "item") else value for value in self.estimator.classes_]
            if fitted != list(self.classes):
                raise ValueError(f"metadata classes {list(self.classes)} differ from the model's {fitted}")
        self._class_array = np.array(self.classes if self.classes is not None else [], dtype=object)

    def frame(self, batch: RowBatch) -> pd.DataFrame:
        """The DataFrame pipeline.predict expects (same column forms as training's model_input_frame)."""
        columns: dict[str, Any] = {}
        for j, position in enumerate(self.layout.numeric):
            columns[self.layout.names[position]] = batch.numeric[:, j]
        for j, position in enumerate(self.layout.categorical):
            values = batch.categorical[:, j].copy()
            values[pd.isna(values)] = np.nan
            columns[self.layout.names[position]] = values
        return pd.DataFrame({name: columns[name] for name in self.layout.names})

    def predict(self, batch: RowBatch) -> Predictions:
        try:
            features: Any = self.preprocessor.transform(batch) if self.preprocessor is not None else self.frame(batch)
            if self.has_proba:
                probabilities, encoded = self.scorer.classify(features)
                return Predictions(list(self._class_array[encoded]), probabilities, self.classes)
            values = self.scorer.predict(features)
        except ValueError as error:
            # sklearn raises ValueError for inputs it cannot score (e.g. values beyond float32).
            raise ScoringError(str(error).splitlines()[0]) from error
        return Predictions(np.asarray(values).tolist(), None, self.classes)
