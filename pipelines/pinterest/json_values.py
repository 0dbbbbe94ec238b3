"""JSON bodies parsed fast, with exactly the standard library's result: the one parser of API answers, live or stored."""

from __future__ import annotations

import json
from typing import Any

import orjson

# orjson parses answers in about half the time of the standard library, but reads integers beyond 64 bits (ids
# sent as JSON numbers) as floats. A body with a run of 20 digits, or a minus and 19, anywhere goes to the standard
# parser, and so does whatever orjson refuses (NaN, Infinity, 1e400, a lone surrogate, a byte order mark, nesting
# deeper than 1024): the result is always exactly the standard parser's, its errors included.
_DIGITS_AS_NUL = bytes.maketrans(b"0123456789", bytes(10))
_BEYOND_64_BITS = (bytes(20), b"-" + bytes(19))


def loads(body: bytes) -> Any:
    """`json.loads(body)`: the same value, or the same error (ValueError, RecursionError), in about half the time."""
    digits = body.translate(_DIGITS_AS_NUL)
    if all(digits.find(run) < 0 for run in _BEYOND_64_BITS):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)
