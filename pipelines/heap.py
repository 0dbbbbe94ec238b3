"""The C heap of this process (glibc's malloc): a freed large block goes back to the system, not to a heap."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
# A block this large or larger gets its own mapping, unmapped when it is freed. Not glibc's starting 128 KB: below
# 4 MB lie the simulator's numpy temporaries (it runs inside `pinterest-etl run` without credentials), and mapping
# and faulting in each afresh doubled its CPU per ads answer.
LARGE_BLOCK_BYTES = 4 * 2**20


def user_set_threshold(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the user chose glibc's mmap threshold (MALLOC_MMAP_THRESHOLD_, or glibc.malloc.mmap_threshold in
    GLIBC_TUNABLES): their setting is kept."""
    return "MALLOC_MMAP_THRESHOLD_" in env or "glibc.malloc.mmap_threshold" in env.get("GLIBC_TUNABLES", "")


def return_large_blocks() -> bool:
    """Fix glibc's threshold for mapping a block on its own at LARGE_BLOCK_BYTES instead of letting it grow.

    glibc raises the threshold to the size of each mapped block freed (up to 32 MB), and its heap-trimming
    threshold to twice that (a fixed one stays at 128 KB): once the first ads answer (6 MB of JSON for 250 ads x
    89 days) was freed, every later answer and its gzip buffers came from the heaps of the client's threads,
    where small objects allocated among them kept the freed space from ever being returned. At 5x200x5x5 ads,
    ads_raw left 124 MB free but held in the heaps for the rest of the run; with the threshold fixed, 26 MB.
    Returns whether the C library took the setting (not a libc without mallopt, such as macOS's, nor when the user
    set the threshold themselves: `user_set_threshold`)."""
    if user_set_threshold():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES) == 1
