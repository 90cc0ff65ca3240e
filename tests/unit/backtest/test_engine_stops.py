"""Stops and account halts in the engine: checked at every close, acting at the next open."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config import load_config
from quant_core.backtest.engine import EngineResult, EngineSettings, run_engine
from quant_core.backtest.records import event_counts, event_line
from quant_core.backtest.results import load_run
from quant_core.backtest.run import run_backtest
from quant_core.data.panels import MarketData
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.halts import HaltRules
from quant_core.portfolio.policy import ConstraintSettings, PortfolioPolicy
from quant_core.portfolio.stops import StopRules
from quant_core.strategies.base import build_strategy
from tests.factories import Fixed, market

# A buys at the open of row 1 at 10.00, closes at 9.00 on row 3 (-10%), opens at 9.20 on row 4.
DROP = {"A": [10.0, 10.0, 10.0, 9.0, 9.5, 9.5, 9.5, 9.5, 9.5]}
DROP_OPENS = {"A": [10.0, 10.0, 10.0, 10.0, 9.2, 9.5, 9.5, 9.5, 9.5]}


def stops(rebalance: int = 21, **rules: float) -> EngineSettings:
    return EngineSettings(10_000.0, rebalance=rebalance, stops=StopRules(**rules))


def on(result, row: int, data) -> pd.DataFrame:
    return result.trades[result.trades["date"] == data.date_index[row]]


def test_a_stop_tripped_at_a_close_fills_at_the_next_open_not_at_that_close() -> None:
    data = market(DROP, DROP_OPENS)

    result = run_engine(data, Fixed({"A": 0.5}), stops(stop_loss=0.08))

    # Row 1: 490 shares (0.5 x 10,000 x 0.98 / 10) at the open, 10.00: the average cost.
    # Close of row 3: 9.00, 10% below it: the 8% stop trips; the exit is at row 4's open.
    (exit_,) = on(result, 4, data).itertuples()
    assert (exit_.symbol, exit_.filled, exit_.status) == ("A", -490.0, "stop_loss")
    assert exit_.signal_price == 9.0  # the close that tripped it
    assert exit_.exec_price == 9.2  # the next open, not that close
    assert len(result.trades) == 2  # the buy and the exit: nothing on row 3, nothing after
    equity = result.curve["equity"]
    assert equity.iloc[3] == pytest.approx(5_100 + 490 * 9.0)  # still held at row 3's close
    assert equity.iloc[4] == pytest.approx(5_100 + 490 * 9.2)  # cash from row 4 on
    assert equity.iloc[-1] == equity.iloc[4]
    decisions = result.decisions
    assert decisions[["kind", "name"]].values.tolist() == [["stop", "A"]]
    assert decisions["date"].iloc[0] == data.date_index[4]
    assert (
        decisions["detail"]
        .iloc[0]
        .startswith("A stop_loss: close 9.00 is 10.00% below the average cost 10.00 (limit 8.00%)")
    )


def test_an_8_percent_stop_holds_through_a_7_percent_fall() -> None:
    data = market({"A": [10.0, 10.0, 9.3, 9.3]})

    result = run_engine(data, Fixed({"A": 0.5}), stops(stop_loss=0.08))

    assert result.trades["status"].tolist() == ["filled"]
    assert result.decisions.empty


def test_on_a_rebalance_session_the_stop_wins_and_the_name_comes_back_at_the_next_one() -> None:
    data = market(DROP, DROP_OPENS)

    # Rebalances at rows 1, 4 and 7; the stop trips at the close of row 3.
    result = run_engine(data, Fixed({"A": 0.5}), stops(rebalance=3, stop_loss=0.08))

    assert list(result.rebalances) == [data.date_index[r] for r in (1, 4, 7)]
    # Row 4's rebalance wanted 517 shares (0.5 x 9,510 x 0.98 / 9): the stop sells all 490.
    assert on(result, 4, data)[["filled", "status"]].values.tolist() == [[-490.0, "stop_loss"]]
    assert on(result, 5, data).empty
    assert on(result, 6, data).empty
    # Row 7 buys it back: 0.5 x 9,608 x 0.98 / 9.5 = 495.6 -> 495 shares.
    assert on(result, 7, data)[["filled", "status"]].values.tolist() == [[495.0, "filled"]]


def test_take_profit_and_trailing_stop_in_the_same_session() -> None:
    closes = {
        "A": [10.0, 10.0, 11.0, 12.5, 12.5],  # +25% on its cost of 10: take profit (20%)
        "B": [10.0, 10.0, 11.9, 10.8, 10.8],  # 9.24% below its best close, 11.9: trailing (9%)
        "C": [10.0, 10.0, 10.5, 10.4, 10.4],  # neither
    }
    opens = {s: [*v[:4], v[4] + 0.1] for s, v in closes.items()}
    data = market(closes, opens)

    result = run_engine(
        data, Fixed({"A": 0.3, "B": 0.3, "C": 0.3}), stops(take_profit=0.2, trailing_stop=0.09)
    )

    exits = on(result, 4, data).set_index("symbol")
    assert exits["status"].to_dict() == {"A": "take_profit", "B": "trailing_stop"}
    assert exits["exec_price"].to_dict() == pytest.approx({"A": 12.6, "B": 10.9})  # row 4's opens
    assert result.decisions["name"].tolist() == ["A", "B"]


def test_a_short_is_stopped_when_its_close_rises() -> None:
    data = market({"A": [10.0, 10.0, 10.0, 11.0, 11.0]}, {"A": [10.0, 10.0, 10.0, 10.0, 11.2]})

    result = run_engine(data, Fixed({"A": -0.5}), stops(stop_loss=0.08))

    (exit_,) = on(result, 4, data).itertuples()
    assert (exit_.side, exit_.filled, exit_.status, exit_.exec_price) == (
        "buy",
        490.0,
        "stop_loss",
        11.2,
    )


def random_market(seed: int = 7, n: int = 80):
    rng = np.random.default_rng(seed)
    closes = {
        s: list(20 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))) for s in ("A", "B", "C", "D", "E")
    }
    opens = {s: list(np.array(v) * np.exp(rng.normal(0, 0.005, n))) for s, v in closes.items()}
    return market(closes, opens)


def test_checking_every_session_changes_nothing_when_nothing_trips() -> None:
    data = random_market()
    strategy = build_strategy("momentum", {"lookback": 5, "top_quantile": 0.4})
    fast = EngineSettings(1_000_000.0, rebalance=5)
    never = EngineSettings(
        1_000_000.0,
        rebalance=5,
        stops=StopRules(take_profit=100.0),
        halts=HaltRules(max_drawdown_frac=0.99),
    )

    a, b = run_engine(data, strategy, fast), run_engine(data, strategy, never)

    assert len(a.trades) > 10
    pd.testing.assert_frame_equal(a.curve, b.curve, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(a.trades, b.trades)
    pd.testing.assert_frame_equal(a.positions, b.positions)
    assert b.decisions.empty


# Falls 4% at every close and opens 1% below the previous close: a book 90% invested loses more
# than 2% a session. Rebalancing every session, the strategy would buy at every open.
FALL = {"A": [10 * 0.96**k for k in range(12)]}
FALL_OPENS = {"A": [10.0] + [10 * 0.96 ** (k - 1) * 0.99 for k in range(1, 12)]}


def falling(flat: bool | None) -> tuple[MarketData, EngineResult]:
    data = market(FALL, FALL_OPENS)
    halts = HaltRules(max_daily_loss_frac=0.02, flattens=bool(flat), halt_sessions=3)
    settings = EngineSettings(
        10_000.0, rebalance=1, halts=halts if flat is not None else HaltRules()
    )
    return data, run_engine(data, Fixed({"A": 0.9}), settings)


def test_without_a_limit_the_falling_book_buys_at_every_open() -> None:
    data, result = falling(None)

    assert (result.trades["side"] == "buy").sum() == len(data.dates) - 1


def test_a_breach_halts_new_buys_for_halt_sessions_and_again_while_still_tripped() -> None:
    data, result = falling(False)

    # Row 1 buys 882 shares at 9.90; row 1 closes at 9.60: 1,268.20 + 8,467.20 = 9,735.40,
    # a 2.65% loss on the day (limit 2%): no buys from row 2. Nothing sells: the book is held,
    # and at the close of each halt's last session (rows 4, 7, 10) the loss is still beyond the
    # limit, so the halt starts again.
    assert result.trades[["side", "filled"]].values.tolist() == [["buy", 882.0]]
    assert result.curve["equity"].iloc[1] == pytest.approx(1_268.2 + 882 * 9.6)
    decisions = result.decisions
    halts = decisions[decisions["kind"] == "halt"]
    assert halts["name"].unique().tolist() == ["max_daily_loss"]
    skipped = halts["detail"].str.startswith("rebalance not traded: halted by max_daily_loss")
    # Every session from row 2 on is a halted rebalance (rebalance=1), recorded as not traded.
    assert [data.date_index.get_loc(d) for d in halts["date"][skipped]] == list(range(2, 12))
    events = halts[~skipped]
    assert list(events["date"]) == [data.date_index[r] for r in (2, 5, 8, 11)]
    assert events["detail"].iloc[0].startswith("daily loss 2.65% of 2.00% at the close of")
    assert events["detail"].iloc[1].startswith("still tripped when the halt ran out")
    assert (
        halts["detail"][skipped]
        .iloc[0]
        .endswith(f"(daily loss 2.65% of 2.00%) at the close of {data.date_index[1].date()}")
    )


def test_on_breach_flat_sells_everything_at_the_next_open_and_buys_again_after_the_halt() -> None:
    data, result = falling(True)

    trades = result.trades
    rows = [data.date_index.get_loc(d) for d in trades["date"]]
    # Row 2: all 882 shares sold at row 2's open (9.504), not at row 1's close (9.60).
    assert rows[:2] == [1, 2]
    sale = trades.iloc[1]
    assert (sale["filled"], sale["status"]) == (-882.0, "halt_flat")
    assert sale["exec_price"] == pytest.approx(9.504)
    # Flat through rows 2-4; the close of row 4 is within the limit (no loss): buying again at
    # row 5, which loses more than 2% by its close: flat again at row 6.
    assert rows[2:4] == [5, 6]
    assert trades["status"].tolist()[:4] == ["filled", "halt_flat", "filled", "halt_flat"]
    halts = result.decisions[result.decisions["kind"] == "halt"]
    events = halts[~halts["detail"].str.startswith("rebalance not traded")]
    assert events["name"].tolist()[:3] == ["max_daily_loss", "resume", "max_daily_loss"]
    assert "every position closed at this open (on_breach: flat)" in events["detail"].iloc[0]
    assert [data.date_index.get_loc(d) for d in events["date"][:3]] == [2, 5, 6]
    assert trades["status"].iloc[-1] == "halt_flat"


def test_a_flat_book_that_stays_halted_is_not_closed_again_and_again() -> None:
    # A drawdown beyond its limit never recovers in a flat book: the halt renews every
    # halt_sessions; only the first event closed something, and only it says so.
    data = market(FALL, FALL_OPENS)
    halts = HaltRules(max_drawdown_frac=0.02, flattens=True, halt_sessions=2)
    result = run_engine(data, Fixed({"A": 0.9}), EngineSettings(10_000.0, halts=halts))

    assert result.trades["status"].tolist() == ["filled", "halt_flat"]
    events = result.decisions[result.decisions["kind"] == "halt"]
    assert len(events) == 5  # the breach at row 1's close, renewed at rows 3, 5, 7, 9
    closed = events["detail"].str.contains("every position closed at this open")
    assert closed.tolist() == [True, False, False, False, False]


# A falls 10% on row 2, B gains 5%: 441 shares of each (0.45 x 10,000 x 0.98 / 10) lose
# 441 x (1.0 - 0.5) = 220.50, 2.2% of 10,000, at row 2's close (limit 2%).
SPLIT = {
    "A": [10.0, 10.0, 9.0, 9.0, 9.0, 9.0, 9.0],
    "B": [10.0, 10.0, 10.5, 10.5, 10.5, 10.5, 10.5],
}


def test_a_halted_rebalance_sends_no_orders_not_even_sales_like_the_halted_worker() -> None:
    data = market(SPLIT)
    halts = HaltRules(max_daily_loss_frac=0.02, halt_sessions=3)
    settings = EngineSettings(10_000.0, rebalance=1, halts=halts)

    result = run_engine(data, Fixed({"A": 0.45, "B": 0.45}), settings)

    # Unhalted, row 3 would sell 31 B (410 = 0.45 x 9,779.50 x 0.98 / 10.5) and buy 38 A.
    rows = [data.date_index.get_loc(d) for d in result.trades["date"]]
    assert rows[:2] == [1, 1]
    assert not set(rows) & {3, 4, 5}  # halted: nothing at all, B's sale included
    assert result.trades[["symbol", "filled"]].values.tolist()[2:] == [["A", 38.0], ["B", -31.0]]
    assert rows[2:] == [6, 6]  # the halt ran out at row 5's close (no loss): trading again
    halts_ = result.decisions[result.decisions["kind"] == "halt"]
    skipped = halts_[halts_["detail"].str.startswith("rebalance not traded")]
    assert [data.date_index.get_loc(d) for d in skipped["date"]] == [3, 4, 5]
    assert set(skipped["name"]) == {"max_daily_loss"}


def test_rebalances_record_names_left_out_and_binding_constraints() -> None:
    closes = {"A": [10.0 + (i % 2) * 0.1 for i in range(8)], "B": [20.0 + i % 3 for i in range(8)]}
    closes["C"] = [np.nan] * 5 + [5.0, 5.1, 5.2]  # too short a history for inverse_vol
    policy = PortfolioPolicy(
        ConstructionSettings("inverse_vol", 3), ConstraintSettings(max_weight=0.2)
    )
    settings = EngineSettings(10_000.0, rebalance=100, policy=policy)

    result = run_engine(market(closes), Fixed({"A": 0.3, "B": 0.3, "C": 0.3}), settings)

    rows = result.decisions.values.tolist()
    first = result.rebalances[0]
    assert [first, "left_out", "C", "short_history"] in rows
    assert any(r[1:3] == ["constraint", "max_weight"] and r[0] == first for r in rows)


def test_the_stored_run_keeps_its_decisions(tmp_path: Path) -> None:
    cfg = load_config(
        "backtest",
        [
            f"paths.data_dir={tmp_path}",
            "strategy.params.lookback=5",
            "strategy.rebalance=5",
            "risk.stop_loss=0.03",
            "backtest.benchmark=null",
        ],
        environ={},
    )

    run = run_backtest(cfg, data=random_market())

    stored = pd.read_parquet(run.path / "decisions.parquet")
    assert (stored["kind"] == "stop").sum() > 0
    pd.testing.assert_frame_equal(stored, run.result.decisions, check_dtype=False)  # [ms] there
    statuses = load_run(run.path.parent, run.run_id).trades["status"]
    assert (statuses == "stop_loss").sum() == (stored["kind"] == "stop").sum()


def test_the_run_counts_its_stops_halts_constraints_and_fallbacks() -> None:
    decisions = pd.DataFrame(
        {
            "date": pd.to_datetime(
                [
                    "2010-01-05",
                    "2010-01-05",
                    "2010-01-06",
                    "2010-01-06",
                    "2010-01-07",
                    "2010-01-08",
                    "2010-01-08",
                    "2010-01-11",
                    "2010-01-12",
                ]
            ),
            "kind": [
                "stop",
                "stop",
                "stop",
                "constraint",
                "constraint",
                "constraint",
                "halt",
                "halt",
                "halt",
            ],
            "name": [
                "A",
                "B",
                "A",
                "max_weight",
                "max_gross",
                "sector_cap",
                "max_drawdown",
                "max_drawdown",
                "resume",
            ],
            "detail": [
                "A stop_loss: close 9.00 is 10.00% below",
                "B trailing_stop: close 9.00 is 5.00% below",
                "A stop_loss: close 8.00 is 12.00% below",
                "2 name(s) clipped to 25.00%",
                "gross scaled 1.00 -> 0.64",
                "1 sector(s) capped",
                "drawdown 3.00% of 2.00% at the close of 2010-01-07: no strategy orders",
                "rebalance not traded: halted by max_drawdown",
                "halt over",
            ],
        }
    )

    counts = event_counts(decisions)

    assert counts == {
        "stops": 3,
        "stop_loss": 2,
        "take_profit": 0,
        "trailing_stop": 1,
        "halts": 1,
        "constraint_rebalances": 3,  # 01-06, 01-07, 01-08
        "fallbacks": 0,
    }
    assert event_line(counts) == (
        "stops: 3 (stop_loss 2, take_profit 0, trailing_stop 1); halts: 1; "
        "constraints bound at 3 rebalances; fallbacks: 0"
    )


def test_a_construction_fallback_is_recorded_as_a_fallback(monkeypatch) -> None:
    from quant_core.portfolio.construction import Construction
    from quant_core.strategies import decide

    def failing(inputs):
        return Construction(inputs.weights, (), "hrp failed (LinAlgError: singular); inverse_vol")

    monkeypatch.setattr(decide, "construct", failing)
    data = market(DROP)

    result = run_engine(data, Fixed({"A": 0.5}), EngineSettings(10_000.0))

    row = result.decisions[result.decisions["kind"] == "fallback"]
    assert row[["name", "detail"]].values.tolist() == [
        ["fallback", "hrp failed (LinAlgError: singular); inverse_vol"]
    ]
    assert event_counts(result.decisions)["fallbacks"] == 1


def test_a_books_sleeve_stops_are_counted_by_kind_and_its_halts_are_not_the_accounts() -> None:
    # A book logs its sleeves' own events as "sleeve <name>: ...": the kind was read from the
    # sleeve's name (0 of every kind), and a sleeve's own drawdown halt counted as the account's.
    decisions = pd.DataFrame(
        {
            "date": pd.to_datetime(["2010-01-05", "2010-01-06", "2010-01-07", "2010-01-08"]),
            "kind": ["stop", "stop", "halt", "stop"],
            "name": ["AAA", "BBB", "max_drawdown", "CCC"],
            "detail": [
                "sleeve mom: AAA stop_loss: close 9.00 is 10.00% below",
                "sleeve mom: BBB take_profit: close 12.00 is 20.00% above",
                "sleeve mom: drawdown 26.00% of 25.00%: halted for the rest of the run",
                "CCC trailing_stop: close 9.00 is 5.00% below",
            ],
        }
    )

    counts = event_counts(decisions)

    assert (counts["stops"], counts["stop_loss"], counts["take_profit"]) == (3, 1, 1)
    assert (counts["trailing_stop"], counts["halts"]) == (1, 0)
