"""Counter-based pseudo-random numbers: the same (seed, entity, day, stream) always gives the same value.

The simulator must answer byte-identically from any process and for any request window, so daily
values cannot come from a stateful generator; they are a pure hash of their coordinates (splitmix64,
vectorized with numpy).
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_DAY_STRIDE = np.uint64(0xD1B54A32D192ED03)


def splitmix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer applied element-wise to a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.asarray(values, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def entity_keys(seed: int, kind: str, count: int) -> np.ndarray:
    """One uint64 key per entity of a kind ("pin", "ad", ...), the root of all its random draws."""
    kind_salt = np.uint64(int.from_bytes(kind.encode()[:8].ljust(8, b"\0"), "little"))
    with np.errstate(over="ignore"):
        base = np.arange(count, dtype=np.uint64) + splitmix64(np.array([seed], dtype=np.uint64) ^ kind_salt)
    return splitmix64(base)


def uniform(keys: np.ndarray, days: np.ndarray, stream: int) -> np.ndarray:
    """Uniform [0, 1) floats of shape (len(keys), len(days)) for one named stream of draws."""
    with np.errstate(over="ignore"):
        day_part = splitmix64(np.asarray(days, dtype=np.int64).astype(np.uint64) * _DAY_STRIDE + np.uint64(stream))
        mixed = splitmix64(np.asarray(keys, dtype=np.uint64)[:, None] ^ day_part[None, :])
    return (mixed >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def entity_uniform(keys: np.ndarray, stream: int) -> np.ndarray:
    """One uniform [0, 1) float per entity for a stream (a per-entity, time-invariant attribute)."""
    return uniform(keys, np.zeros(1, dtype=np.int64), stream)[:, 0]
