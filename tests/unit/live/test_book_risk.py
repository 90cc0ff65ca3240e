"""The worker's book risk: its weights from the broker's positions, and when it is recomputed."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from quant_core.broker import Position
from quant_core.calendar import get_calendar
from quant_core.live.book_risk import BookRiskWatch, book_risk, completed_rows
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.risk_report import RiskSettings
from tests.factories import market

RNG = np.random.default_rng(2)
CLOSES = {n: list(20 * np.cumprod(1 + RNG.normal(0, 0.02, 40))) for n in ("A", "B")}
NOW = dt.datetime(2010, 3, 5, 22, 0, tzinfo=dt.UTC)  # after the close of 2010-03-05
SETTINGS = RiskSettings(lookback=10, covariance="sample")


def test_weights_are_market_value_over_nav_and_unknown_symbols_are_named() -> None:
    data = market(CLOSES)
    t = 30
    positions = [
        Position("A", 100.0, 18.0, math.nan),  # no price from the broker yet: the last close
        Position("B", -50.0, 22.0, 21.0),
        Position("ZZZ", 10.0, 5.0, 6.0),  # not in the data
    ]

    report = book_risk(positions, 10_000.0, data, t, SETTINGS, NOW)

    weights = {n.symbol: n.weight for n in report.names}
    assert weights["A"] == pytest.approx(100.0 * CLOSES["A"][t - 1] / 10_000.0)
    assert weights["B"] == pytest.approx(-50.0 * 21.0 / 10_000.0)
    assert report.left_out == ("ZZZ",)
    assert report.names_held == 3
    assert report.data_through == dt.date.fromisoformat(str(data.dates[t - 1]))
    assert report.net_liquidation == 10_000.0


def test_a_book_needs_a_positive_nav() -> None:
    with pytest.raises(ValueError, match="positive net liquidation"):
        book_risk([Position("A", 1.0, 1.0, 1.0)], 0.0, market(CLOSES), 30, SETTINGS, NOW)


def test_completed_rows_follow_the_market_clock() -> None:
    data = market(CLOSES)
    calendar = get_calendar("XNYS")
    day = dt.date.fromisoformat(str(data.dates[10]))
    before_close = dt.datetime.combine(day, dt.time(15, 0), tzinfo=dt.UTC)  # 10:00 in New York
    after_close = dt.datetime.combine(day, dt.time(22, 0), tzinfo=dt.UTC)

    assert completed_rows(data, calendar, before_close) == 10
    assert completed_rows(data, calendar, after_close) == 11


def test_the_watch_recomputes_only_when_the_book_changes() -> None:
    errors: list[str] = []
    watch = BookRiskWatch(PortfolioPolicy(), get_calendar("XNYS"), errors.append)
    data = market(CLOSES)
    book = [Position("A", 100.0, 18.0, 20.0)]

    watch.update(book, 10_000.0, data, NOW, NOW)
    first = watch.current
    watch.update(book, 10_500.0, data, NOW, NOW + dt.timedelta(seconds=1))  # a heartbeat
    assert watch.current is first
    watch.update([Position("A", 120.0, 18.0, 20.0)], 10_500.0, data, NOW, NOW)  # a fill
    assert watch.current is not first
    assert errors == []

    watch.update([Position("A", 130.0, 18.0, 20.0)], math.nan, data, NOW, NOW)

    assert watch.current is None
    assert errors == [
        "risk report of the book not computed: ValueError: the book's weights need a positive "
        "net liquidation, not nan"
    ]
