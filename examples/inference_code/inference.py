"""Example inference code (README, "Your inference code"): a custom input_fn, the server's own
model_fn, predict_fn and output_fn for the rest.

It accepts CSV with a header row, columns in any order (`Content-Type: text/csv; header=present`,
RFC 4180's parameter), besides the server's header-less CSV in metadata.json order.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd


class UnsupportedContentTypeError(ValueError):
    status_code = 415  # the server answers with this status and the message, as the toolkit does


def input_fn(input_data: bytes, content_type: str) -> Any:
    media_type, _, parameters = content_type.partition(";")
    if media_type.strip().lower() != "text/csv":
        raise UnsupportedContentTypeError(f"send text/csv, not {content_type!r}")
    has_header = "header=present" in parameters.replace(" ", "").lower()
    frame = pd.read_csv(io.BytesIO(input_data), header=0 if has_header else None, skipinitialspace=True)
    # A DataFrame is matched to the model's features by column name; plain rows by position.
    return frame if has_header else frame.to_numpy(dtype=object).tolist()
