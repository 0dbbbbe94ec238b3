"""The process's C heap gives a freed large block back to the system (pipelines/heap.py)."""

import os
import platform
import subprocess
import sys

import pytest

# Run in a process of its own: another test's threads (a simulator, a pool) would move the counts in between.
MAPPED_GROWTH = """
import ctypes, sys
from pipelines import heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = MallInfo2
if sys.argv[1] == "set":
    assert heap.return_large_blocks() is True
if sys.argv[1] == "user-set":
    assert heap.return_large_blocks() is False
larger = bytearray(16 * 2**20)
del larger  # glibc's own rule would now carve blocks under 16 MB from its heap
before = mallinfo2().hblkhd  # bytes of the blocks given their own mapping
block = bytearray(6 * 2**20)
grown = mallinfo2().hblkhd - before
del block
print(grown, mallinfo2().hblkhd - before)
"""


def mapped_growth(setting: str, env: dict | None = None) -> list[int]:
    """How much the bytes in blocks of their own mapping grow with a 6 MB block allocated after a 16 MB one was
    freed, and then after the 6 MB block is freed."""
    done = subprocess.run([sys.executable, "-c", MAPPED_GROWTH, setting], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})})
    return [int(n) for n in done.stdout.split()]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's")
def test_a_large_block_allocated_after_a_larger_one_was_freed_gets_its_own_mapping_and_returns_it():
    growth, left = mapped_growth("set")
    assert growth >= 6 * 2**20
    assert left == 0


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's")
def test_without_the_setting_glibc_carves_that_block_from_its_heap():
    assert mapped_growth("unset") == [0, 0]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's")
def test_a_threshold_the_user_set_in_glibc_tunables_is_kept():
    """glibc.malloc.mmap_threshold=20 MB: the 6 MB block is carved from the heap, as the user asked, not mapped."""
    assert mapped_growth("user-set", {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=20971520"}) == [0, 0]
