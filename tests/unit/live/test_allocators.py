"""The worker's allocators: Arrow on the system allocator, glibc's free pages given back."""

from __future__ import annotations

import ctypes
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from quant_core.live import allocators
from quant_core.live.journal import Journal


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def arrow_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def test_settle_puts_arrow_on_the_system_allocator_once(arrow_pool: None) -> None:
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    done = allocators.settle_allocators()
    assert pa.default_memory_pool().backend_name == "system"
    assert "Arrow: system allocator" in done
    if allocators._libc() is not None:
        assert any(d.startswith("glibc: mmap and trim thresholds fixed") for d in done)
    again = allocators.settle_allocators()
    assert "Arrow: system allocator" not in again  # already the system pool: nothing to change
    table = pa.table({"symbol": ["AAA", "BBB"], "qty": [1.0, 2.0]})  # still allocates
    assert table.num_rows == 2


@pytest.mark.skipif(allocators._libc() is None, reason="malloc_trim is glibc's")
def test_give_back_returns_the_heaps_free_pages_to_the_system() -> None:
    libc = allocators._libc()
    assert libc is not None
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size, count = 16 * 1024, 8_000  # 125 MiB of blocks under the mmap threshold: the heap's
    blocks = []
    for _ in range(count):
        block = libc.malloc(size)
        assert block
        ctypes.memset(block, 1, size)  # touched: resident
        blocks.append(block)
    pin = blocks.pop()  # the last block stays: the heap's top cannot shrink by itself
    for block in blocks:
        libc.free(block)
    held = rss_bytes()
    allocators.give_back()
    released = held - rss_bytes()
    libc.free(pin)
    assert released > 80 * 1024 * 1024, f"only {released / 2**20:.1f} MiB given back"


def test_the_journal_bounds_duckdbs_buffer_pool(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.duckdb")
    try:
        (limit,) = journal.con.execute("SELECT current_setting('memory_limit')").fetchone() or ("",)
    finally:
        journal.close()
    match = re.fullmatch(r"([\d.]+)\s*(KiB|MiB|GiB|KB|MB|GB)", str(limit))
    assert match, limit
    scale = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "KB": 1e3, "MB": 1e6, "GB": 1e9}
    assert float(match.group(1)) * scale[match.group(2)] <= 64e6  # not 80% of the machine
