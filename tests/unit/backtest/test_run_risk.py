"""A run's risk: the book after each rebalance, sector exposure and volatility over time, stored."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_core.backtest.engine import EngineSettings, run_engine
from quant_core.backtest.results import store_run
from quant_core.backtest.risk import (
    EXPOSURE_COLUMNS,
    VOL_COLUMNS,
    load_risk,
    realised_vol,
    run_risk,
)
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.policy import ConstraintSettings, PortfolioPolicy
from quant_core.portfolio.stops import StopRules
from tests.factories import Fixed, market

SESSIONS = 120
RNG = np.random.default_rng(21)
CLOSES = {
    name: list(100 * np.cumprod(1 + RNG.normal(0, 0.01 * (k + 1), SESSIONS)))
    for k, name in enumerate(("A", "B", "C", "D"))
}
SECTORS = np.array(["Tech", "Energy", "Tech", "Health"], dtype=object)
POLICY = PortfolioPolicy(
    ConstructionSettings("as_is", lookback=20, covariance="sample"),
    ConstraintSettings(vol_target=0.12),
)


def _run():
    data = dataclasses.replace(market(CLOSES), sectors=SECTORS)
    settings = EngineSettings(
        100_000.0, cash_buffer=0.0, fractional=True, rebalance=21, policy=POLICY
    )
    result = run_engine(data, Fixed({"A": 0.4, "B": 0.3, "C": -0.2}), settings)
    return data, result, run_risk(result, data, POLICY)


def test_sector_exposure_is_each_rebalances_book_over_equity() -> None:
    data, result, risk = _run()

    assert tuple(risk.exposure.columns) == EXPOSURE_COLUMNS
    assert set(risk.exposure["date"]) == set(result.rebalances)
    # Independently: the positions' values over the equity at that close, summed by sector.
    positions = result.positions.assign(
        sector=result.positions["symbol"].map(dict(zip(data.symbols, SECTORS, strict=True)))
    )
    equity = result.curve["equity"]
    for date, book in positions.groupby("date"):
        weights = book["value"] / equity.loc[date]
        frame = risk.exposure[risk.exposure["date"] == date].set_index("sector")
        for sector in ("Tech", "Energy"):
            mine = weights[book["sector"] == sector]
            assert frame.loc[sector, "long"] == pytest.approx(mine.clip(lower=0).sum())
            assert frame.loc[sector, "short"] == pytest.approx(mine.clip(upper=0).sum())
            assert frame.loc[sector, "gross"] == pytest.approx(mine.abs().sum())
            assert frame.loc[sector, "net"] == pytest.approx(mine.sum())
    assert "Health" not in set(risk.exposure["sector"])  # D is never held


def test_ex_ante_volatility_at_each_rebalance_reads_closes_through_t_minus_1() -> None:
    data, result, risk = _run()

    assert tuple(risk.vol.columns) == VOL_COLUMNS
    ex_ante = risk.vol["ex_ante"].dropna()
    assert list(ex_ante.index) == list(result.rebalances)
    date = result.rebalances[-1]
    t = int(data.date_index.get_loc(date))
    book = result.positions[result.positions["date"] == date].set_index("symbol")
    weights = book["value"] / result.curve["equity"].loc[date]
    closes = pd.DataFrame(data.panels["close"][:t], columns=data.symbols)
    returns = closes.pct_change().iloc[-20:][weights.index]
    variance = weights.to_numpy() @ returns.cov().to_numpy() @ weights.to_numpy()
    assert ex_ante.loc[date] == pytest.approx(math.sqrt(252 * variance), rel=1e-10)
    assert (risk.vol["target"] == 0.12).all()


def test_realised_volatility_is_a_63_session_window_of_daily_returns() -> None:
    equity = pd.Series(100 * np.cumprod(1 + RNG.normal(0, 0.01, 100)))

    vol = realised_vol(equity)

    returns = np.diff(equity.to_numpy()) / equity.to_numpy()[:-1]
    assert vol.iloc[:63].isna().all()  # 63 returns need 64 equity points
    assert vol.iloc[63] == pytest.approx(returns[:63].std(ddof=1) * math.sqrt(252), rel=1e-12)
    assert vol.iloc[-1] == pytest.approx(returns[-63:].std(ddof=1) * math.sqrt(252), rel=1e-12)


def test_the_last_books_report_is_stored_and_read_back(tmp_path: Path) -> None:
    _, result, risk = _run()
    store_run(
        tmp_path,
        "run1",
        {"equity": result.curve} | risk.frames(),
        {},
        {},
        {"run_id": "run1"},
        documents={"risk": risk.report},
    )

    back = load_risk(tmp_path / "run1")

    assert back is not None
    pd.testing.assert_frame_equal(back.exposure, risk.exposure, check_dtype=False)  # s vs ms
    pd.testing.assert_frame_equal(back.vol, risk.vol, check_freq=False, check_index_type=False)
    # Without stops the last session that traded is the last rebalance.
    assert back.report["as_of"] == back.report["last_rebalance"]
    assert back.report["as_of"] == str(result.rebalances[-1].date())
    report = back.report["report"]
    assert {n["symbol"] for n in report["names"]} == {"A", "B", "C"}
    assert sum(n["contribution"] for n in report["names"]) == pytest.approx(1.0)
    assert len(report["stress"]) == 5
    assert back.report["settings"]["covariance"] == "sample"
    assert back.report["target"] == 0.12


def test_a_run_stored_without_risk_files_has_none(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    assert load_risk(tmp_path / "old") is None


# B and C wobble within 2% (no stop trips); A falls 30% at row 110, after the last rebalance.
WOBBLE = np.arange(SESSIONS)
DROPPING = {
    "A": [100.0] * 110 + [70.0] * 10,
    "B": list(50 * (1 + 0.01 * np.sin(WOBBLE))),
    "C": list(80 * (1 + 0.02 * np.cos(0.7 * WOBBLE))),
}


def test_the_report_is_of_the_book_at_the_end_of_the_run_after_a_late_stop() -> None:
    data = dataclasses.replace(market(DROPPING), sectors=SECTORS[:3])
    settings = EngineSettings(
        100_000.0, fractional=True, rebalance=21, policy=POLICY, stops=StopRules(stop_loss=0.1)
    )
    result = run_engine(data, Fixed({"A": 0.3, "B": 0.3, "C": 0.3}), settings)
    stopped = result.trades[result.trades["status"] == "stop_loss"]
    assert list(stopped["symbol"]) == ["A"]  # the case: a stop after the last rebalance
    exit_date = stopped["date"].iloc[0]
    assert exit_date > result.rebalances[-1]

    document = run_risk(result, data, POLICY).report

    assert document["as_of"] == str(exit_date.date()) == str(result.positions["date"].max().date())
    assert document["last_rebalance"] == str(result.rebalances[-1].date())
    assert document["equity"] == pytest.approx(result.curve["equity"].loc[exit_date])
    report = document["report"]
    assert {n["symbol"] for n in report["names"]} == {"B", "C"}  # A is gone from the book
    # Independently: the book after the exit, over the equity at that close, its ex-ante
    # volatility from the 20 daily returns through the session before.
    book = result.positions[result.positions["date"] == exit_date].set_index("symbol")
    weights = book["value"] / result.curve["equity"].loc[exit_date]
    assert {n["symbol"]: n["weight"] for n in report["names"]} == pytest.approx(weights.to_dict())
    t = int(data.date_index.get_loc(exit_date))
    closes = pd.DataFrame(data.panels["close"][:t], columns=data.symbols)
    returns = closes.pct_change().iloc[-20:][weights.index]
    variance = weights.to_numpy() @ returns.cov().to_numpy() @ weights.to_numpy()
    assert report["ex_ante_vol"] == pytest.approx(math.sqrt(252 * variance), rel=1e-10)


def test_a_book_a_stop_left_flat_has_no_report_but_says_when() -> None:
    data = market({"A": [10.0, 10.0, 10.0, 9.0, 9.5, 9.5, 9.5, 9.5, 9.5]})
    settings = EngineSettings(10_000.0, rebalance=21, stops=StopRules(stop_loss=0.08))
    result = run_engine(data, Fixed({"A": 0.5}), settings)

    document = run_risk(result, data, PortfolioPolicy()).report

    assert document["as_of"] == str(data.date_index[4].date())  # the stop's exit
    assert document["last_rebalance"] == str(data.date_index[1].date())
    assert document["report"] is None
