"""One invocation through the user's inference.py handlers, with the server's defaults for the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from containers.contracts.model_artifact import METADATA_FILE, MODEL_FILE, load_model_artifact
from containers.inference.codec import FeatureLayout
from containers.inference.handlers import (
    HandlerError,
    UserHandlers,
    as_row_batch,
    call_handler,
    default_input,
    default_output,
    encoded_response,
)
from containers.inference.predictor import Predictor
from containers.inference.schema_guard import SchemaGuard


class HandlerFlow:
    """model_fn at load; input_fn -> predict_fn -> output_fn (or transform_fn) per request."""

    def __init__(self, handlers: UserHandlers, model_dir: Path, default_accept: str,
                 guard_factory: Any = None):
        self.handlers = handlers
        self.default_accept = default_accept
        has_artifact = (model_dir / METADATA_FILE).is_file() and (model_dir / MODEL_FILE).is_file()
        # Our predictor (and its feature layout) serves whichever defaults the user did not replace.
        self.predictor: Predictor | None = None
        if has_artifact:
            pipeline, metadata = load_model_artifact(model_dir)
            self.predictor = Predictor(pipeline, metadata)
        self.guard: SchemaGuard | None = guard_factory(self.predictor.layout) if (
            guard_factory is not None and self.predictor is not None) else None
        needs_layout = [name for name in ("input_fn", "predict_fn") if getattr(handlers, name) is None]
        if handlers.transform_fn is None and needs_layout and self.predictor is None:
            raise HandlerError(500, f"{handlers.source}: the default {' and '.join(needs_layout)} need "
                                    f"{METADATA_FILE} and {MODEL_FILE} in the model folder; define them too")
        # The default model_fn is the scikit-learn container's: the fitted pipeline (model.joblib).
        self.model: Any = (call_handler("model_fn", handlers.model_fn, str(model_dir))
                           if handlers.model_fn is not None else
                           self.predictor.pipeline if self.predictor is not None else None)

    @property
    def layout(self) -> FeatureLayout:
        assert self.predictor is not None  # checked at load for every default that needs it
        return self.predictor.layout

    def _rows(self, data: Any) -> Any:
        """Rows our codec decoded (or a custom input_fn returned) checked against the data schema; a
        custom predict_fn gets them as the DataFrame the pipeline was fitted on."""
        batch = as_row_batch(data, self.layout) if self.predictor is not None else data
        if self.guard is not None:
            self.guard.check(batch)
        return batch

    def _predict(self, data: Any) -> Any:
        if self.handlers.predict_fn is not None:
            if self.handlers.input_fn is None:
                assert self.predictor is not None
                data = self.predictor.frame(self._rows(data))
            return call_handler("predict_fn", self.handlers.predict_fn, data, self.model)
        batch = self._rows(data)
        assert self.predictor is not None
        if self.handlers.model_fn is None:
            return self.predictor.predict(batch)  # the server's fast path
        # A custom model_fn with the default predict_fn: the toolkit's `model.predict(data)`.
        return call_handler("predict_fn", self.model.predict, self.predictor.frame(batch))

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        """(response body, response content type); raises HandlerError or BadRequestError."""
        handlers = self.handlers
        wanted = accept if accept and accept.strip() and accept.strip() != "*/*" else self.default_accept
        if handlers.transform_fn is not None:
            result = call_handler("transform_fn", handlers.transform_fn, self.model, body, content_type, wanted)
            return encoded_response(result, wanted)
        if handlers.input_fn is not None:
            data = call_handler("input_fn", handlers.input_fn, body, content_type)
        else:
            data = default_input(body, content_type, self.layout)
        prediction = self._predict(data)
        if handlers.output_fn is not None:
            return encoded_response(call_handler("output_fn", handlers.output_fn, prediction, wanted), wanted)
        return default_output(prediction, accept, self.default_accept)
