"""Scoring: the fitted pipeline's preprocessing rebuilt as array operations and the estimator scored
directly (the fast path), with `pipeline.predict` on a DataFrame as the fallback for anything the fast
path does not know."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from containers.contracts.model_artifact import ModelMetadata
from containers.inference.codec import FeatureLayout, Predictions, RowBatch
from containers.inference.preprocess import CompiledPreprocessor, FastPathUnsupportedError
from containers.inference.scorers import PublicApiScorer, fast_scorer
from containers.inference.small_batch import SMALL_ROWS, SmallBatchScorer


class ScoringError(ValueError):
    """The estimator refused the rows (e.g. a value beyond float32 range); a client error."""


class Predictor:
    """Loaded model: scores RowBatches through the fast path when it compiles, else the DataFrame path."""

    def __init__(self, pipeline: Any, metadata: ModelMetadata, *, fast_path: bool = True, small_batch: bool = True):
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
        # Small batches of a HistGradientBoosting pipeline: preprocessing and trees in one compiled call.
        self.small = SmallBatchScorer.build(self.preprocessor, self.scorer) if small_batch else None

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
            scorer: Any
            features: Any
            if self.small is not None and batch.rows <= SMALL_ROWS:
                scorer, features = self.small, batch  # preprocessing and trees in one compiled call
            else:
                scorer = self.scorer
                features = self.preprocessor.transform(batch) if self.preprocessor is not None else self.frame(batch)
            if self.has_proba:
                probabilities, encoded = scorer.classify(features)
                return Predictions(list(self._class_array[encoded]), probabilities, self.classes)
            values = scorer.predict(features)
        except ValueError as error:
            # sklearn raises ValueError for inputs it cannot score (e.g. values beyond float32).
            raise ScoringError(str(error).splitlines()[0]) from error
        return Predictions(np.asarray(values).tolist(), None, self.classes)
