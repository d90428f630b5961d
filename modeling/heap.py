"""Keeping freed memory in the process while a model trains on the CPU.

glibc serves every allocation above its mmap threshold (32 MiB at most) with a mapping of
its own and gives it back to the kernel on free. A training step of the mel baselines
allocates and frees a few dozen activations and gradients of 20 to 450 MB, so every step
faults in, and has the kernel zero, the same gigabytes again: a fresh 180 MB tensor took
about six times as long to fill as one written in place.

Inside `retained_heap()` large blocks come from the heap instead and freed memory stays
mapped (up to `RETAINED_BYTES` at the heap's top), so a step reuses the pages of the step
before. The price is memory while it lasts: the heap holds the largest step's blocks, and
fragmentation adds to them (a NISQA step's peak resident memory rose by about half). On
leaving, glibc's default limits return and the heap is trimmed, so a worker does not keep
a training run's peak after it. Nothing changes where the C library is not
glibc (no `mallopt`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading
from collections.abc import Iterator

# mallopt(3) parameters and glibc's defaults for them.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536
#: The largest value mallopt takes (an int): freed memory at the heap's top is kept up to
#: this size.
RETAINED_BYTES = 2**31 - 1

_lock = threading.Lock()
_depth = 0


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - only glibc (and a few others) has it
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def supported() -> bool:
    """Whether this process's C library lets the heap be kept (glibc)."""
    return _LIBC is not None


@contextlib.contextmanager
def retained_heap() -> Iterator[bool]:
    """Keep freed memory mapped for the block's duration; yields whether it could.

    Re-entrant and process-wide: the limits are the C library's, so the outermost block
    sets and restores them."""
    global _depth
    libc = _LIBC
    if libc is None:
        yield False
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, RETAINED_BYTES)
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
