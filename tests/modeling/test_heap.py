"""The retained heap: inside the block a large allocation comes from the heap and its
memory stays mapped after free; outside, glibc's defaults hold again."""

from __future__ import annotations

import ctypes

import pytest

from modeling import heap

pytestmark = pytest.mark.skipif(not heap.supported(), reason="the C library is not glibc")

BLOCK = 64 * 1024 * 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallinfo2.restype = _MallInfo2
    return libc


def _mapped_separately(libc: ctypes.CDLL) -> bool:
    """Whether a fresh 64 MiB block is a mapping of its own (glibc's mmapped chunks)."""
    before = libc.mallinfo2().hblkhd
    pointer = libc.malloc(BLOCK)
    assert pointer
    try:
        return bool(libc.mallinfo2().hblkhd >= before + BLOCK)
    finally:
        libc.free(pointer)


def test_large_blocks_come_from_the_heap_and_stay_mapped_inside_the_block() -> None:
    libc = _libc()
    assert _mapped_separately(libc)
    with heap.retained_heap() as kept:
        assert kept
        assert not _mapped_separately(libc)
        # Freed, it is still part of the heap: the arena did not shrink below it.
        assert libc.mallinfo2().arena >= BLOCK
    assert _mapped_separately(libc)


def test_nested_blocks_restore_the_defaults_only_at_the_outermost() -> None:
    libc = _libc()
    with heap.retained_heap():
        with heap.retained_heap():
            assert not _mapped_separately(libc)
        assert not _mapped_separately(libc)
    assert _mapped_separately(libc)


def test_leaving_gives_the_kept_memory_back() -> None:
    libc = _libc()
    before = libc.mallinfo2().arena
    with heap.retained_heap():
        _mapped_separately(libc)
        assert libc.mallinfo2().arena >= before + BLOCK
    assert libc.mallinfo2().arena < before + BLOCK // 2
