"""Stored factors dropped when bars arrive on sessions they cover: a gap filled, a symbol added.

An incremental factor run computes the sessions after a factor's last date only; a bar added on
or before it would never be counted (found by review: the factor run said "up to date" while a
symbol added later had no value, and a filled gap left wrong rolling values).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from quant_core.data.warehouse import Warehouse
from tests.factories import META, bars


def _factor(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[:, ["date", "symbol"]].assign(value=frame["close"] / 10)


def _stored(warehouse: Warehouse, frame: pd.DataFrame) -> None:
    warehouse.write_bars("t", frame, META)
    warehouse.factor_store.write("t", "f_2", _factor(frame))
    assert warehouse.factor_store.names("t") == ["f_2"]


def test_a_symbol_added_over_the_factors_sessions_drops_them(
    warehouse: Warehouse, calendar
) -> None:
    _stored(warehouse, bars(calendar, symbols=("AAA",), sessions=5))
    warehouse.write_bars("t", bars(calendar, symbols=("BBB",), sessions=5))
    assert warehouse.factor_store.names("t") == []


def test_a_gap_filled_before_the_factors_last_date_drops_them(
    warehouse: Warehouse, calendar
) -> None:
    frame = bars(calendar, symbols=("AAA", "BBB"), sessions=5)
    missing = (frame["symbol"] == "BBB") & (frame["date"] == frame["date"].iloc[2])
    _stored(warehouse, frame[~missing])
    warehouse.write_bars("t", frame[missing])
    assert warehouse.factor_store.names("t") == []


def test_bars_after_the_factors_last_date_keep_them(warehouse: Warehouse, calendar) -> None:
    _stored(warehouse, bars(calendar, symbols=("AAA",), sessions=5))
    assert warehouse.factor_store.last_date("t", "f_2") == dt.date(2010, 1, 8)
    later = bars(calendar, symbols=("AAA", "BBB"), start="2010-01-11", sessions=2)
    warehouse.write_bars("t", later)  # a new day, and a symbol that starts on it
    assert warehouse.factor_store.names("t") == ["f_2"]


def test_a_sync_during_a_factor_run_leaves_no_stale_factor(
    warehouse: Warehouse, calendar, monkeypatch
) -> None:
    # The run read the bars, a sync corrected prices (dropping the stored factors), and the
    # run then wrote factors of the old prices, kept for good: incremental runs never fix them.
    import pytest

    from quant_core.errors import DataError
    from quant_core.factors.compute import compute_factors

    frame = bars(calendar, symbols=("AAA", "BBB"), sessions=30)
    warehouse.write_bars("t", frame, META)
    store = warehouse.factor_store
    write = store.write

    def sync_first(*args, **kwargs):
        warehouse.write_bars("t", frame.assign(close=frame["close"] * 1.01))  # a correction
        monkeypatch.setattr(store, "write", write)
        return write(*args, **kwargs)

    monkeypatch.setattr(store, "write", sync_first)
    with pytest.raises(DataError, match=r"bars of t changed while factor momentum_5 was computed"):
        compute_factors(warehouse, "t", ["momentum_5"])
    assert store.names("t") == []

    compute_factors(warehouse, "t", ["momentum_5"])  # run again: of the corrected bars
    assert store.names("t") == ["momentum_5"]
