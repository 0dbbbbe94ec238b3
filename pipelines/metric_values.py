"""Metric values of API answers, validated in bulk: finite JSON numbers (never booleans or numeric strings).

The official description types daily organic metrics as `number`, pin `lifetime_metrics` as `integer`, and ads
analytics columns not at all (`additionalProperties: true`), so a daily metric must be a finite number, and a
lifetime total also integer-valued. Anything else means the answer is malformed: normalization refuses it with
a `MetricValueError` naming the metric, the entity, the date, the value and (once known) the raw file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.pinterest.errors import ResponseShapeError

# The Python types a JSON number (or an absent value) parses to; bool is its own type, so `true` is not one.
_NUMBER_TYPES = frozenset({int, float, type(None)})
FINITE_NUMBER = "a finite number"
INTEGER = "a finite integer"


class MetricValueError(ResponseShapeError):
    """A metric value that is not what the API sends (a finite JSON number; integer where it says integer)."""

    def __init__(self, endpoint: str, metric: str, entity_type: str, entity_id: str, date: object, value: object,
                 expected: str = FINITE_NUMBER, raw_file: Path | None = None):
        self.endpoint, self.metric, self.entity_type, self.entity_id = endpoint, metric, entity_type, entity_id
        self.date, self.value, self.expected, self.raw_file = date, value, expected, raw_file
        source = f" (raw file {raw_file})" if raw_file else ""
        super().__init__(f"{endpoint}: metric {metric} of {entity_type} {entity_id} on {date} is {as_json(value)}, "
                         f"not {expected}{source}: the answer is malformed; move the raw file aside and re-run its "
                         "dates to fetch them again, or report it if the API keeps sending it")

    def in_raw_file(self, path: Path) -> MetricValueError:
        """The same error, naming the raw file the answer was read from."""
        return MetricValueError(self.endpoint, self.metric, self.entity_type, self.entity_id, self.date, self.value,
                                self.expected, path)


def as_json(value: object) -> str:
    """A value as the JSON text it was parsed from (`Infinity`, `NaN`, `true`, `"12"`), at most 80 characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_float64(values: list, expected: str = FINITE_NUMBER) -> tuple[pa.Array | None, int | None]:
    """The values as float64 (null where absent), or (None, the position of the first value that is neither null
    nor `expected`). Cheap when all are fine: one pass over the types in C, then Arrow checks finiteness (and
    integrality) of the whole array."""
    if not set(map(type, values)) <= _NUMBER_TYPES:
        return None, next(i for i, v in enumerate(values) if type(v) not in _NUMBER_TYPES)
    try:
        array = pa.array(values, type=pa.float64())
    except (pa.ArrowInvalid, OverflowError):  # an integer beyond 64 bits: Arrow takes it only as a float
        floats = list(map(_as_float, values))
        if float("inf") in floats:
            return None, floats.index(float("inf"))
        array = pa.array(floats, type=pa.float64())
    bad = _not_expected(array, expected)
    return (array, None) if bad is None else (None, bad)


def _not_expected(array: pa.Array, expected: str) -> int | None:
    fine = pc.is_finite(array)
    if expected == INTEGER:
        fine = pc.and_(fine, pc.equal(pc.floor(array), array))
    if pc.all(fine).as_py() is not False:  # nulls are absent values, not invalid ones
        return None
    return pc.index(pc.fill_null(fine, True), False).as_py()


def _as_float(value: int | float | None) -> float | None:
    """A JSON number as a float; infinity for an integer beyond a float's range (1e308)."""
    if value is None:
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf
