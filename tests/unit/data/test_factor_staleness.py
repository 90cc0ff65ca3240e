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
