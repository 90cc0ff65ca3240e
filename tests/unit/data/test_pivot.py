"""Wide panels from long parts: ``Scatter`` (a year file at a time) equals ``pivot`` of the whole.

The warehouse reads its panels a partition at a time (``StoreReader.pivots``), so that a read
holds the panels and one year's rows, not every row (8.3 GiB for 10,000 x 7,560 on DuckDB
1.5.5 read whole; ``benchmarks/scale.py``); what it gives must be what a read of the whole
long table gives, to the bit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from quant_core.data.panels import MarketData
from quant_core.data.pivot import Scatter, pivot
from quant_core.data.warehouse import Warehouse
from tests.factories import META, bars


def _long(rng: np.random.Generator, days: pd.DatetimeIndex, names: list[str]) -> pa.Table:
    # Every (day, name) pair but a few, shuffled; a few nulls in one field.
    pairs = [(d, n) for d in days for n in names if rng.random() > 0.15]
    rng.shuffle(pairs)
    close = rng.normal(100.0, 5.0, len(pairs))
    volume = pa.array(
        [None if rng.random() < 0.1 else float(v) for v in rng.integers(1, 1000, len(pairs))]
    )
    return pa.table(
        {
            "date": pa.array([d.date() for d, _ in pairs], type=pa.date32()),
            "symbol": pa.array([n for _, n in pairs]),
            "close": close,
            "volume": volume,
        }
    )


def test_scatter_of_parts_equals_the_pivot_of_the_whole() -> None:
    rng = np.random.default_rng(7)
    years = [
        (pd.bdate_range("2009-01-01", periods=40), ["AAA", "BBB", "ÉCU", "b2"]),
        (pd.bdate_range("2010-01-01", periods=30), ["BBB", "CCC", "AAA"]),
        (pd.bdate_range("2011-01-01", periods=20), ["ZZZ", "b2"]),
    ]
    parts = [_long(rng, days, names) for days, names in years]
    whole = pa.concat_tables(parts)
    dates = whole["date"].to_numpy()
    symbols = whole["symbol"].to_numpy(zero_copy_only=False)
    panels = Scatter(dates[::-1], symbols, ["close", "volume"])  # axes in any order
    for part in reversed(parts):  # parts in any order
        panels.add(part)
    frames = panels.frames()
    for field in ("close", "volume"):
        pd.testing.assert_frame_equal(frames[field], pivot(whole, field), check_exact=True)
    assert list(frames["close"].columns) == sorted(set(symbols))


def test_a_part_outside_the_axes_is_refused_not_put_in_a_neighbours_cell() -> None:
    panels = Scatter(
        np.array(["2010-01-04", "2010-01-06"], dtype="datetime64[D]"), np.array(["A", "C"]), ["x"]
    )
    table = pa.table(
        {"date": pa.array([dt.date(2010, 1, 4)]), "symbol": pa.array(["B"]), "x": [1.0]}
    )
    with pytest.raises(ValueError, match="symbol outside the panels' axes: B"):
        panels.add(table)
    between = pa.table(
        {"date": pa.array([dt.date(2010, 1, 5)]), "symbol": pa.array(["A"]), "x": [1.0]}
    )
    with pytest.raises(ValueError, match="date outside the panels' axes: 2010-01-05"):
        panels.add(between)
    assert np.isnan(panels.values["x"]).all()


def test_the_warehouse_reads_its_panels_a_partition_at_a_time(
    tmp_path: Any, calendar: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = Warehouse(tmp_path / "warehouse")
    # Three year partitions; BBB only in the last two, CCC only in the first, a gap in AAA.
    early = bars(calendar, symbols=("AAA", "CCC"), start="2009-12-01", sessions=40)
    late = bars(calendar, symbols=("BBB",), start="2010-06-01", sessions=200)
    frame = pd.concat([early, late], ignore_index=True)
    frame = frame[~((frame["symbol"] == "AAA") & (frame["date"].dt.month == 1))]
    warehouse.write_bars("t", frame, META)
    scans: list[tuple[int, str]] = []
    real = warehouse.store._scan

    def counted(files: list[str], select: str, *args: Any) -> pa.Table:
        scans.append((len(files), select))
        return real(files, select, *args)

    monkeypatch.setattr(warehouse.store, "_scan", counted)
    fields = ("open", "close", "volume")
    _, frames, _ = warehouse.panels("t", fields)
    wide = [n for n, select in scans if "open" in select]
    assert wide == [1, 1, 1], f"the fields were read as {scans}"
    monkeypatch.undo()
    for field in fields:
        pd.testing.assert_frame_equal(frames[field], warehouse.panel("t", field), check_exact=True)
    assert frames["close"].shape == (len(set(frame["date"])), 3)


def test_the_panels_layout_is_the_pivots(tmp_path: Any, calendar: Any) -> None:
    # A frame built from a pivoted array holds it column-major; the panels read a part at a
    # time keep that layout, so a reduction over them runs in the same order (the same bits).
    warehouse = Warehouse(tmp_path / "warehouse")
    warehouse.write_bars("t", bars(calendar, symbols=("AAA", "BBB"), sessions=20), META)
    _, frames, _ = warehouse.panels("t", ("close",))
    whole = pivot(warehouse.store.query("t", "date, symbol, close", None, None, None, ""), "close")
    assert frames["close"].to_numpy().flags.f_contiguous
    assert whole.to_numpy().flags.f_contiguous


def test_a_field_asked_twice_is_read_once_and_each_frame_has_axes_of_its_own(
    tmp_path: Any, calendar: Any
) -> None:
    warehouse = Warehouse(tmp_path / "warehouse")
    warehouse.write_bars("t", bars(calendar, symbols=("AAA", "BBB"), sessions=10), META)
    frames, _ = warehouse.store.pivots("t", ("close", "close", "open"))
    assert list(frames) == ["close", "open"]
    frames["open"].index.name = "renamed"
    assert frames["close"].index.name == "date"


def test_market_data_holds_its_symbols_ascending_and_unique() -> None:
    # The strategies break ties by position as by symbol (top_k_positions): panels whose symbols
    # are out of order, or twice, are refused naming them; frames are put in order.
    day = np.array(["2020-01-02"], dtype="datetime64[D]")
    for symbols, named in ((["B", "A"], "'B' comes before 'A'"), (["A", "A"], "'A' comes before")):
        with pytest.raises(ValueError, match=named):
            MarketData(day, np.array(symbols), {"close": np.zeros((1, 2))})
    frame = pd.DataFrame([[2.0, 1.0]], index=pd.DatetimeIndex(["2020-01-02"]), columns=["B", "A"])
    data = MarketData.from_frames({"close": frame})
    assert data.symbols.tolist() == ["A", "B"]
    assert data.panels["close"].tolist() == [[1.0, 2.0]]
