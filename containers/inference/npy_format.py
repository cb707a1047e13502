"""numpy's .npy format for request and response bodies (application/x-npy), safe for untrusted bytes.

`np.load` allocates what a header claims before it reads the data, and unpickles object arrays
unless told not to: the header is read and checked against the body's size first, object dtypes are
refused, and the array is loaded with allow_pickle=False.
"""

from __future__ import annotations

import io
import math
import tokenize

import numpy as np


class NpyFormatError(ValueError):
    """A body that is not one safely loadable .npy array; the message says why."""


def read_npy(body: bytes) -> np.ndarray:
    stream = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise NpyFormatError(f"format version {version} (1.0 and 2.0 are read)")
    # The header is a Python literal that numpy tokenizes and evaluates: its errors are the tokenizer's too.
    except (ValueError, TypeError, EOFError, SyntaxError, tokenize.TokenError) as error:
        raise NpyFormatError(str(error)) from None
    if dtype.hasobject:
        raise NpyFormatError("object arrays (pickled) are not accepted")
    expected = math.prod(shape) * dtype.itemsize
    available = len(body) - stream.tell()
    if available != expected:
        raise NpyFormatError(f"the header's shape {shape} and dtype {dtype} take {expected} bytes, "
                             f"the body has {available}")
    array = np.load(io.BytesIO(body), allow_pickle=False)
    if not isinstance(array, np.ndarray):
        raise NpyFormatError("not a single array")
    return array


def write_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
