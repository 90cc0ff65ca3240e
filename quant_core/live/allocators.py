"""The worker's process memory: allocators set for a process that runs for months.

Measured by the soak (``benchmarks/soak_worker.py``, 200 symbols, 400-600 sessions at top
speed): with the libraries' defaults the worker's resident memory grew by 180-240 MB per 1,000
sessions beyond its bars and its journal, while the memory actually in use grew by a tenth of
that. Two allocators kept what they had once needed:

- **Arrow's default pool** (mimalloc in the pyarrow wheels; pandas 3 keeps its strings in Arrow
  arrays, so every report and every journal read allocates there) kept about 100 MB per 1,000
  sessions that ``release_unused()`` did not give back. The worker uses the system allocator
  for Arrow instead (:func:`settle_allocators`); its tables are small, the speed is the same.
- **glibc's dynamic mmap threshold**: once a large block (a day's fills, a report's frame) is
  freed, glibc raises the threshold, and the next, slightly larger blocks come from the heap,
  where they leave holes a day's later allocations do not fit. Fixed thresholds (128 KiB)
  keep large blocks in their own mappings, returned to the system when freed; and
  :func:`give_back` (``malloc_trim(0)``) after each session's close returns the free pages
  the heap still holds.

Both are process-wide, set once by the worker's entry point (``live.run.run_worker``) and by
the soak, which runs the worker as that process would. Without glibc (musl, macOS) the glibc
steps do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

import pyarrow as pa

logger = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc <malloc.h>)
THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, made fixed


@cache
def _libc() -> ctypes.CDLL | None:
    # glibc, or None where there is none (malloc_trim and mallopt are glibc's).
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim, libc.mallopt  # noqa: B018 - both must be there
    except (OSError, AttributeError):
        return None
    return libc


def settle_allocators() -> list[str]:
    """Set the process's allocators for a long run; return what was set (for the log).

    Arrow's default pool becomes the system allocator; glibc's mmap and trim thresholds are
    made fixed. Calling it again changes nothing.
    """
    done = []
    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())
        done.append("Arrow: system allocator")
    libc = _libc()
    if libc is not None:
        mmap_ok = libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES) == 1
        trim_ok = libc.mallopt(M_TRIM_THRESHOLD, THRESHOLD_BYTES) == 1
        if mmap_ok and trim_ok:
            done.append(f"glibc: mmap and trim thresholds fixed at {THRESHOLD_BYTES // 1024} KiB")
    if done:
        logger.debug("Allocators settled: %s", "; ".join(done))
    return done


def give_back() -> None:
    """Return the free memory the allocators hold to the system (after each session's close)."""
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


__all__ = ["give_back", "settle_allocators"]
