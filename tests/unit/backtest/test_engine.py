from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typing_extensions import override

from quant_core.backtest.engine import EngineSettings, run_engine
from quant_core.errors import ConfigError, DataError, StrategyError
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.schedule import rebalance_rows, session_range
from quant_core.strategies.base import (
    DataView,
    LookAheadError,
    Strategy,
    StrategyContext,
    StrategyParams,
)
from tests.factories import market


class Fixed(Strategy[StrategyParams]):
    """Constant weights; warmup 1."""

    name = "fixed"

    def __init__(self, weights: dict[str, float], warmup: int = 1) -> None:
        super().__init__(StrategyParams())
        self.weights = pd.Series(weights, dtype=float)
        self._warmup = warmup

    @property
    @override
    def warmup(self) -> int:
        return self._warmup

    @override
    def target_weights(self, context: StrategyContext) -> pd.Series:
        return self.weights


CLOSES: dict[str, list[Any]] = {
    "A": [10, 10.5, 11, 10, 10.2, 10.4],
    "B": [20, 20, 21, 22, 21, 20],
    "C": [5, 5.1, 5.2, 5.0, 5.1, 5.3],
}
OPENS: dict[str, list[Any]] = {
    "A": [10, 10.2, 10.8, 10.1, 10.1, 10.3],
    "B": [20, 20.5, 20.5, 21.5, 21.8, 20.8],
    "C": [5, 5.05, 5.1, 5.1, 5.0, 5.2],
}
TEN_BPS = CostModel(commission_bps=10)


def test_hand_computed_run_to_the_cent() -> None:
    data = market(CLOSES, OPENS)
    settings = EngineSettings(10_000.0, cash_buffer=0.02, costs=TEN_BPS, rebalance=2)

    result = run_engine(data, Fixed({"A": 0.5, "B": 0.3, "C": 0.2}), settings)

    # Session 1: equity 10,000 -> targets 490 A (4,900/10), 147 B (2,940/20), 392 C (1,960/5).
    # At the opens (10.2, 20.5, 5.05) they cost 9,991.10 + 9.99 commission > 10,000: a gap-up.
    # pro_rata: any common factor below 1 floors to 489, 146, 391 shares.
    cost1 = (489 * 10.2 + 146 * 20.5 + 391 * 5.05) * 1.001
    cash = 10_000 - cost1
    # Session 3: equity at the session-2 close; targets 468, 147, 396: sell 21 A, buy 1 B, 5 C.
    eq2 = cash + 489 * 11 + 146 * 21 + 391 * 5.2
    assert np.trunc(0.5 * eq2 * 0.98 / 11) == 468
    cash += 21 * 10.1 * (1 - 0.001)
    cash -= (1 * 21.5 + 5 * 5.1) * 1.001
    # Session 5: equity at the session-4 close; targets 484, 141, 387: buy 16 A, sell 6 B, 9 C.
    eq4 = cash + 468 * 10.2 + 147 * 21 + 396 * 5.1
    assert (np.trunc(0.3 * eq4 * 0.98 / 21), np.trunc(0.2 * eq4 * 0.98 / 5.1)) == (141, 387)
    cash += (6 * 20.8 + 9 * 5.2) * (1 - 0.001)
    cash -= 16 * 10.3 * 1.001
    final = cash + 484 * 10.4 + 141 * 20 + 387 * 5.3

    assert result.curve["equity"].iloc[-1] == pytest.approx(final, abs=0.005)
    assert result.curve["cash"].iloc[-1] == pytest.approx(cash, abs=0.005)
    assert round(final, 2) == 10110.70
    trades = result.trades
    first = trades[trades["date"] == result.rebalances[0]]
    assert first["requested"].tolist() == [490, 147, 392]
    assert first["filled"].tolist() == [489, 146, 391]
    assert first["status"].tolist() == ["truncated_cash"] * 3
    assert first["signal_price"].tolist() == [10, 20, 5]
    assert first["exec_price"].tolist() == [10.2, 20.5, 5.05]
    assert trades["commission"].sum() == pytest.approx(
        cost1 / 1.001 * 0.001 + (21 * 10.1 + 21.5 + 25.5 + 6 * 20.8 + 9 * 5.2 + 16 * 10.3) * 0.001
    )
    assert list(result.rebalances.strftime("%Y-%m-%d")) == [
        "2010-01-05",
        "2010-01-07",
        "2010-01-11",
    ]
    assert result.curve.index[0] == pd.Timestamp("2010-01-04")  # starts the session before T0
    assert result.curve["equity"].iloc[0] == 10_000


@pytest.mark.parametrize("rule", ["pro_rata", "sequential"])
def test_gap_up_truncates_and_cash_ends_non_negative(rule) -> None:
    # Both symbols gap up 10% overnight: 2 x 0.49 x 10,000 at close 10 is 980 shares, unaffordable.
    data = market({"A": [10, 11], "B": [10, 11]}, {"A": [10, 11], "B": [10, 11]})
    settings = EngineSettings(10_000.0, cash_buffer=0.02, shortfall=rule)

    result = run_engine(data, Fixed({"A": 0.5, "B": 0.5}), settings)

    trades = result.trades.set_index("symbol")
    assert trades["requested"].tolist() == [490, 490]
    if rule == "pro_rata":
        # One common factor: floor(490 f) x 11 x 2 <= 10,000 -> 454 each.
        assert trades["filled"].tolist() == [454, 454]
        assert trades["status"].tolist() == ["truncated_cash", "truncated_cash"]
    else:
        # Equal values: A first (symbol order) fills 490 (5,390); B gets the rest: 419 (4,609).
        assert trades["filled"].tolist() == [490, 419]
        assert trades["status"].tolist() == ["filled", "truncated_cash"]
    assert result.curve["cash"].min() >= 0


def test_missing_open_leaves_the_order_unfilled() -> None:
    data = market(
        {"A": [10, 10, 10], "B": [10, 10, 10]}, {"A": [10, np.nan, 10], "B": [10, 10, 10]}
    )
    result = run_engine(data, Fixed({"A": 0.5, "B": 0.5}), EngineSettings(10_000.0, rebalance=1))
    first = result.trades[result.trades["date"] == result.rebalances[0]].set_index("symbol")
    assert first.loc["A", "status"] == "rejected_no_price"
    assert first.loc["A", "filled"] == 0
    assert first.loc["B", "filled"] == 490
    second = result.trades[result.trades["date"] == result.rebalances[1]].set_index("symbol")
    assert second.loc["A", "filled"] == 490  # ordered again on the next rebalance


class Peeking(Fixed):
    @override
    def target_weights(self, context: StrategyContext) -> pd.Series:
        context.view.at(context.session)  # T's own close: look-ahead
        return self.weights


def test_look_ahead_fails_loudly() -> None:
    data = market(CLOSES, OPENS)
    with pytest.raises(LookAheadError, match="view ends at 2010-01-04"):
        run_engine(data, Peeking({"A": 1.0}), EngineSettings(10_000.0))


def test_views_are_copies_and_panels_read_only() -> None:
    data = market(CLOSES, OPENS)
    view = DataView(data, 2)
    window = view.array("close")
    assert window.base is None  # not a window onto the full panel
    assert window.shape == (2, 3)
    with pytest.raises(ValueError, match="read-only"):
        data.panels["open"][3, 0] = 0.0


def test_the_view_holds_nothing_dated_t_or_later() -> None:
    seen: list[pd.Timestamp] = []

    class Recorder(Fixed):
        @override
        def target_weights(self, context: StrategyContext) -> pd.Series:
            seen.append(context.view.close().index.max())
            assert context.view.close().index.max() < context.session
            return self.weights

    data = market(CLOSES, OPENS)
    result = run_engine(data, Recorder({"A": 1.0}), EngineSettings(10_000.0, rebalance=1))
    assert [d + pd.offsets.BDay() for d in seen][:3] == list(result.rebalances[:3])


def test_weights_are_checked() -> None:
    data = market(CLOSES, OPENS)
    with pytest.raises(StrategyError, match="may not exceed 1"):
        run_engine(data, Fixed({"A": 0.7, "B": 0.7}), EngineSettings(10_000.0))
    with pytest.raises(StrategyError, match="unknown symbols"):
        run_engine(data, Fixed({"ZZZ": 0.5}), EngineSettings(10_000.0))


def test_schedules() -> None:
    dates = pd.bdate_range("2010-01-04", "2010-03-31").to_numpy(dtype="datetime64[D]")
    assert rebalance_rows(dates, 3, 20, 5).tolist() == [3, 8, 13, 18]
    weekly = rebalance_rows(dates, 3, 20, "weekly")
    assert weekly[0] == 3
    assert all(pd.Timestamp(dates[r]).day_of_week == 0 for r in weekly[1:])
    monthly = rebalance_rows(dates, 3, len(dates) - 1, "monthly")
    assert [str(pd.Timestamp(dates[r]).date()) for r in monthly] == [
        "2010-01-07",
        "2010-02-01",
        "2010-03-01",
    ]


def test_start_and_end_may_be_holidays_and_weekends(calendar) -> None:
    dates = calendar.sessions_in_range(dt.date(2009, 12, 28), dt.date(2010, 1, 29))
    first, last = session_range(dates, 1, dt.date(2010, 1, 1), dt.date(2010, 1, 17))
    assert str(dates[first]) == "2010-01-04"
    assert str(dates[last]) == "2010-01-15"
    # Each refusal names its cause: a range outside the data, the warm-up, start after end.
    with pytest.raises(DataError, match=r"no session from 2011-01-01 to the end: the data spans"):
        session_range(dates, 1, dt.date(2011, 1, 1), None)
    with pytest.raises(DataError, match="the strategy needs 30 sessions of history first"):
        session_range(dates, 30, None, None)
    with pytest.raises(ConfigError, match="the start 2010-01-15 is after the end 2010-01-04"):
        session_range(dates, 1, dt.date(2010, 1, 15), dt.date(2010, 1, 4))


def test_fractional_shares() -> None:
    data = market({"A": [3.0, 3.0, 3.0]})
    result = run_engine(
        data, Fixed({"A": 1.0}), EngineSettings(1_000.0, cash_buffer=0.0, fractional=True)
    )
    assert result.trades["filled"].iloc[0] == pytest.approx(1000 / 3)
    assert result.curve["equity"].iloc[-1] == pytest.approx(1000)


def test_forward_fill_matches_pandas() -> None:
    from quant_core.data.panels import forward_fill

    panel = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [4.0, 5.0]])
    expected = pd.DataFrame(panel).ffill().to_numpy()
    np.testing.assert_array_equal(forward_fill(panel), expected)


def test_a_position_whose_data_ends_is_exited_at_its_last_close() -> None:
    nan = np.nan
    data = market({"A": [10, 10, 11, nan, nan, nan], "B": [10, 10, 10, 10, 10, 10]})
    settings = EngineSettings(10_000.0, rebalance=2, exit_after_missing=2)
    result = run_engine(data, Fixed({"A": 0.5, "B": 0.5}), settings)
    sells = result.trades[(result.trades["symbol"] == "A") & (result.trades["side"] == "sell")]
    # Bought at row 1; A's last bar is row 2. At row 3 only row 2 is known, and it has a bar:
    # A is not gone yet and has no open, so its sell does not fill. At row 5 rows 3 and 4 had
    # no bar (2 sessions): A is gone and its sale fills at 11, its last close.
    assert sells["status"].tolist() == ["rejected_no_price", "exit_at_last_close"]
    assert sells["date"].tolist() == [data.date_index[3], data.date_index[5]]
    assert sells["exec_price"].tolist()[1] == 11.0
    assert sells["filled"].tolist() == [0.0, -490.0]


def test_a_symbol_is_gone_only_by_what_was_known_at_t_minus_1() -> None:
    nan = np.nan
    # A pauses for rows 3 and 4 and trades again from row 5 on: at row 5 (after two missing
    # sessions) it is gone by the rule, and sells at the open of row 5, the price it has then.
    opens: dict[str, list[Any]] = {"A": [10, 10, 11, nan, nan, 12, 12], "B": [10] * 7}
    closes: dict[str, list[Any]] = {"A": [10, 10, 11, nan, nan, 12.5, 12], "B": [10] * 7}
    settings = EngineSettings(10_000.0, rebalance=2, exit_after_missing=2)
    full = run_engine(market(closes, opens), Fixed({"A": 0.5, "B": 0.5}), settings)
    sells = full.trades[(full.trades["symbol"] == "A") & (full.trades["side"] == "sell")]
    assert sells["status"].tolist() == ["rejected_no_price", "filled"]
    assert sells["exec_price"].tolist()[1] == 12.0
    # The same data cut after row 5: the same decisions through row 5.
    cut = {k: v[:6] for k, v in opens.items()}, {k: v[:6] for k, v in closes.items()}
    short = run_engine(market(cut[1], cut[0]), Fixed({"A": 0.5, "B": 0.5}), settings)
    pd.testing.assert_frame_equal(
        short.trades, full.trades[full.trades["date"] <= short.curve.index[-1]]
    )


def test_exit_after_missing_must_be_positive() -> None:
    from quant_core.data.panels import first_rows, gone_at

    data = market(CLOSES, OPENS)
    with pytest.raises(ValueError, match="at least 1"):
        gone_at(data, 2, 0, first_rows(data))


def test_a_blown_account_is_closed_out_not_sized_negative() -> None:
    # Short A with everything, long B; A quadruples: equity -2,000 at the next rebalance.
    data = market({"A": [10, 10, 40, 40, 40], "B": [10, 10, 10, 10, 10]})
    from quant_core.portfolio.policy import ConstraintSettings, PortfolioPolicy

    gross_2 = PortfolioPolicy(constraints=ConstraintSettings(max_gross=2.0))  # 1 long, 1 short
    settings = EngineSettings(1_000.0, cash_buffer=0.0, rebalance=2, policy=gross_2)

    result = run_engine(data, Fixed({"A": -1.0, "B": 1.0}), settings)

    last = result.trades[result.trades["date"] == result.rebalances[-1]].set_index("symbol")
    # Close-out: sell all of B (+1,000), cover A with what cash there is: 2,000 / 40 = 50.
    assert last.loc["B", "filled"] == -100
    assert last.loc["A", "requested"] == 100
    assert last.loc["A", "filled"] == 50
    assert last.loc["A", "status"] == "truncated_cash"
    assert result.curve["cash"].min() >= 0


def test_short_side_is_capped() -> None:
    with pytest.raises(StrategyError, match="short side may not exceed -1"):
        run_engine(market(CLOSES, OPENS), Fixed({"A": -0.8, "B": -0.8}), EngineSettings(10_000.0))


def test_weekly_and_monthly_schedules_across_the_real_gaps(calendar) -> None:
    import tempfile
    from pathlib import Path

    from quant_core.backtest.run import load_market
    from quant_core.data.sources.sample import SampleSource
    from quant_core.data.sync import sync
    from quant_core.data.warehouse import Warehouse

    store = Warehouse(Path(tempfile.mkdtemp()) / "w")
    sync(SampleSource("sp500-2010"), store, calendar, "sp")
    dates = load_market(store, "sp").dates
    weekly = pd.DatetimeIndex(dates[rebalance_rows(dates, 20, len(dates) - 1, "weekly")])
    # The data has no 2009-10-29..11-04 sessions: the week of 11-02 rebalances on 11-05.
    assert pd.Timestamp("2009-11-05") in weekly
    assert pd.Timestamp("2009-11-02") not in weekly
    iso = weekly.isocalendar()
    assert not iso.duplicated(["year", "week"]).any()
    monthly = pd.DatetimeIndex(dates[rebalance_rows(dates, 20, len(dates) - 1, "monthly")])
    assert pd.Timestamp("2009-11-05") in monthly  # the first November session in the data
    assert len(set(zip(monthly.year, monthly.month, strict=True))) == len(monthly)


def test_an_exit_at_the_last_close_reports_its_slippage() -> None:
    nan = np.nan
    data = market({"A": [10, 10, 11, nan, nan, nan], "B": [10, 10, 10, 10, 10, 10]})
    costs = CostModel(slippage_bps=10.0)
    settings = EngineSettings(10_000.0, rebalance=2, exit_after_missing=2, costs=costs)
    result = run_engine(data, Fixed({"A": 0.5, "B": 0.5}), settings)
    exit_ = result.trades[result.trades["status"] == "exit_at_last_close"].iloc[0]
    # Sold 490 at 11 x (1 - 0.001) = 10.989: 490 x 0.011 = 5.39 paid beyond the last close.
    assert exit_["exec_price"] == pytest.approx(10.989)
    assert exit_["slippage"] == pytest.approx(5.39)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"rebalance": 0}, "rebalance"),
        ({"rebalance": -3}, "rebalance"),
        ({"exit_after_missing": 0}, "exit_after_missing"),
    ],
)
def test_settings_the_config_would_refuse_are_refused_in_code(
    changes: dict[str, Any], named: str
) -> None:
    # rebalance -3 gave no rebalance row and a curve of whatever memory held (np.empty).
    with pytest.raises(ValueError, match=named):
        EngineSettings(initial_cash=1e5, **changes)
