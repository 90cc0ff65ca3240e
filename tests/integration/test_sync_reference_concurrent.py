"""Two syncs into one dataset at once keep both their reference rows (real files, a real
warehouse, two threads contending for the writers' lock).

A sync merges its reference rows with the table stored: that table must be read under the
writers' lock. Read before it, a sync that commits while another is between its read and its
commit writes back the table it read, and the other's names and sectors are gone.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from quant_core.atomic import file_lock
from quant_core.calendar import get_calendar
from quant_core.data import reference, store
from quant_core.data.sources.csvfiles import CsvSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse

pytestmark = pytest.mark.integration

CALENDAR = get_calendar("XNYS")
HEADER = "date,symbol,open,high,low,close,volume\n"
DAYS = ["2010-01-04", "2010-01-05", "2010-01-06"]


def _now() -> dt.datetime:
    return dt.datetime(2026, 1, 5, 22, 0, tzinfo=dt.UTC)


def _files(folder: Path, symbol: str, sector: str) -> tuple[Path, Path]:
    folder.mkdir()
    bars = folder / f"{symbol}.csv"
    bars.write_text(HEADER + "".join(f"{d},{symbol},10,11,9,10.5,100\n" for d in DAYS))
    ref = folder / "symbols.csv"
    ref.write_text(f"symbol,name,sector,industry\n{symbol},{symbol} Inc,{sector},Any\n")
    return bars, ref


def test_a_sync_committing_while_another_merges_keeps_both_reference_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "warehouse"
    first_bars, first_ref = _files(tmp_path / "a", "AAA", "Energy")
    second_bars, second_ref = _files(tmp_path / "b", "BBB", "Utilities")
    sync(CsvSource(first_bars, first_ref), Warehouse(root), CALENDAR, "csv", clock=_now)

    # The second sync runs while the first (a re-sync of AAA) merges its reference rows. With
    # the merge under the lock, the second blocks on the lock until the first commits, then
    # merges with it. The first waits until the second has finished or is blocked on the lock
    # (a probe of the lock just before it takes it): no timing is relied on.
    second: list[BaseException | None] = []
    finished, blocked = threading.Event(), threading.Event()
    taking = file_lock

    @contextmanager
    def probed_lock(path: Path) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            with path.open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(handle, fcntl.LOCK_UN)
                except BlockingIOError:
                    blocked.set()
        with taking(path):
            yield

    def run_second() -> None:
        try:
            sync(CsvSource(second_bars, second_ref), Warehouse(root), CALENDAR, "csv", clock=_now)
            second.append(None)
        except BaseException as error:  # handed to the test's thread
            second.append(error)
        finished.set()

    merge = reference.for_sync
    started: list[threading.Thread] = []

    def for_sync_beside_another(*args: object, **kwargs: object) -> object:
        if not started and threading.current_thread() is threading.main_thread():
            started.append(threading.Thread(target=run_second))
            started[0].start()
            deadline = time.monotonic() + 60.0
            while not (finished.wait(0.01) or blocked.is_set()):
                assert time.monotonic() < deadline, "the second sync neither ended nor waited"
        return merge(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "file_lock", probed_lock)
    monkeypatch.setattr(reference, "for_sync", for_sync_beside_another)
    sync(CsvSource(first_bars, first_ref), Warehouse(root), CALENDAR, "csv", clock=_now)
    started[0].join(30)
    assert second == [None]

    warehouse = Warehouse(root)
    table = warehouse.symbols("csv").set_index("symbol")
    assert sorted(table.index) == ["AAA", "BBB"]
    assert table.loc["AAA", "sector"] == "Energy"
    assert table.loc["BBB", "sector"] == "Utilities"
    assert table.loc["BBB", "name"] == "BBB Inc"
    bars = warehouse.read_bars("csv")
    assert sorted(bars["symbol"].unique()) == ["AAA", "BBB"]
    assert len(bars) == 2 * len(DAYS)
    assert pd.Series(bars.groupby("symbol").size()).eq(len(DAYS)).all()
