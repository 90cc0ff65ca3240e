"""The Explorer's trades line with stop and halt exits, and its decisions table (pure parts)."""

from __future__ import annotations

import pandas as pd

from quant_core.cockpit.tables import decisions as decision_table
from quant_core.cockpit.tables import risk_tables
from quant_core.cockpit.tables import trades as trade_table

STATUSES = (
    ["filled"] * 5
    + ["truncated_cash", "rejected_no_price", "exit_at_last_close"]
    + ["stop_loss"] * 3
    + ["take_profit"] * 2
    + ["trailing_stop", "halt_flat", "halt_flat", "halt_flat"]
)


def _trades() -> pd.DataFrame:
    n = len(STATUSES)
    return pd.DataFrame(
        {
            "date": pd.date_range("2020-01-02", periods=n, freq="B"),
            "symbol": [f"S{i}" for i in range(n)],
            "side": ["sell"] * n,
            "requested": [-10.0] * n,
            "filled": [-10.0] * n,
            "signal_price": [10.0] * n,
            "open_price": [10.0] * n,
            "exec_price": [10.0] * n,
            "notional": [100.0] * n,
            "commission": [1.0] * n,
            "slippage": [0.0] * n,
            "status": STATUSES,
        }
    )


def test_the_status_line_counts_every_stop_and_halt_exit() -> None:
    line = trade_table.status_line(_trades())

    assert line.startswith("17 orders: 5 filled, **1 truncated**")
    assert "**1 unfilled**" in line
    assert "1 exits at a last close" in line
    assert "3 stop loss, 2 take profit, 1 trailing stop" in line
    assert "**3 halt exits**" in line
    # Every order in exactly one count: the counts add up to the total.
    counts = trade_table.status_counts(_trades())
    assert sum(counts.values()) == len(STATUSES)


def test_an_unknown_status_is_named_in_the_line_not_dropped() -> None:
    trades = _trades().assign(status=["filled"] * 16 + ["something_new"])

    line = trade_table.status_line(trades)

    assert line.startswith("17 orders: 16 filled")
    assert ", 1 something_new." in line


def test_stop_and_halt_exits_are_flagged_noted_and_coloured() -> None:
    view = trade_table.trades_view(_trades())
    by_status = view.drop_duplicates("status").set_index("status")

    assert by_status.loc["stop_loss", "flag"] == "STOP LOSS"
    assert by_status.loc["take_profit", "flag"] == "TAKE PROFIT"
    assert by_status.loc["trailing_stop", "flag"] == "TRAILING STOP"
    assert by_status.loc["halt_flat", "flag"] == "HALT FLAT"
    notes = by_status["note"].astype(str).to_dict()
    assert "risk.stop_loss" in notes["stop_loss"]
    assert "risk.on_breach: flat" in notes["halt_flat"]
    for status in ("stop_loss", "take_profit", "trailing_stop", "halt_flat"):
        assert notes[status].endswith("closed at this open")
        assert status in trade_table.ROW_COLORS
    flagged = trade_table.trades_view(_trades(), only_flagged=True)
    assert len(flagged) == len(STATUSES) - 5  # every order not plainly filled
    css = trade_table.trade_row_styles(view)
    assert set(css.iloc[8]) == {trade_table.ROW_COLORS["stop_loss"]}  # the first stop exit


def _decisions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.DatetimeIndex(
                ["2020-03-02", "2020-01-02", "2020-01-02", "2020-02-03", "2020-03-02"]
            ),
            "kind": ["stop", "left_out", "constraint", "fallback", "halt"],
            "name": ["AAA", "BBB", "max_weight", "hrp", "max_drawdown"],
            "detail": ["AAA stop_loss: ...", "no history", "capped 2 names", "singular", "-20%"],
        }
    )


def test_decisions_are_counted_by_kind_every_kind_present() -> None:
    frame = pd.concat([_decisions(), _decisions().iloc[[0]]], ignore_index=True)

    counts = decision_table.kind_counts(frame)

    assert counts == {"left_out": 1, "constraint": 1, "fallback": 1, "stop": 2, "halt": 1}
    assert decision_table.kind_counts(frame.iloc[:0])["stop"] == 0
    assert decision_table.counts_line(frame) == (
        "6 decisions: 1 left out, 1 constraint, 1 fallback, 2 stop, 1 halt."
    )


def test_the_decisions_view_filters_by_kind_in_date_order() -> None:
    view = decision_table.decisions_view(_decisions(), ["stop", "halt", "left_out"])

    assert list(view.columns) == ["date", "kind", "name", "detail"]
    assert list(view["kind"]) == ["left_out", "stop", "halt"]  # by date, then as recorded
    assert list(decision_table.decisions_view(_decisions())["name"]) == [
        "BBB",
        "max_weight",
        "hrp",
        "AAA",
        "max_drawdown",
    ]
    assert decision_table.decisions_view(_decisions(), []).empty


def test_the_risk_caption_names_the_book_at_the_end_of_the_run() -> None:
    late = {"as_of": "2020-06-05", "last_rebalance": "2020-06-01"}
    assert risk_tables.last_book(late) == (
        "The last book is the one held at the end of the run, after the trades of 2020-06-05; "
        "the last rebalance was 2020-06-01"
    )
    same = {"as_of": "2020-06-01", "last_rebalance": "2020-06-01"}
    assert risk_tables.last_book(same).endswith("after the trades of 2020-06-01")
    old = {"as_of": "2020-06-01"}  # risk.json of a run stored before the change
    assert (
        risk_tables.last_book(old) == "The last book is the one after the rebalance of 2020-06-01"
    )
