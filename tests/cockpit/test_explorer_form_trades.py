"""The Explorer's trades table, issue 14: an unfilled order shows as unfilled, never "None".

The grid draws an empty number as "None", whatever the table's formatting says, so the cells of
an order that traded nothing hold a word: ``unfilled`` as its fill price and notional, ``no
open`` as the open of a session that had none. Read here as the browser gets them: the styler's
display values sent with the table.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
from streamlit.testing.v1 import AppTest

from quant_core.backtest.results import StoredRun
from quant_core.cockpit.tables import downloads
from tests.cockpit.explorer_form_helpers import Opener, run_ids, stored_run, submit


def _shown(at: AppTest) -> tuple[pd.DataFrame, pd.DataFrame]:
    # The trades grid: its data (what sorts) and its display values (what is drawn).
    (grid,) = [d for d in at.dataframe if "flag" in d.value.columns]
    text = pa.ipc.open_stream(grid.proto.arrow_data.styler.display_values).read_all()
    return grid.value, text.to_pandas()


def _truncating_run(open_page: Opener, data_dir: Path) -> tuple[AppTest, StoredRun]:
    # No cash buffer: a gap up at the open makes some buys cost more than the cash.
    at = open_page("explorer")
    before = run_ids(data_dir)
    at.number_input(key="bt_cash_buffer").set_value(0.0)
    submit(at)
    return at, stored_run(at, data_dir, before)


def test_unfilled_orders_show_unfilled_and_truncated_ones_their_fill(
    open_page: Opener, data_dir: Path
) -> None:
    at, run = _truncating_run(open_page, data_dir)
    statuses = run.trades["status"]
    assert (statuses == "rejected_no_price").sum() > 0
    assert (statuses == "truncated_cash").sum() > 0
    at.toggle(key="trades_flagged").set_value(True).run()

    data, text = _shown(at)
    assert len(text) == (statuses != "filled").sum()
    unfilled = text["status"] == "rejected_no_price"
    assert set(text.loc[unfilled, "flag"]) == {"UNFILLED"}
    assert set(text.loc[unfilled, "exec_price"]) == {"unfilled"}
    assert set(text.loc[unfilled, "notional"]) == {"unfilled"}
    assert set(text.loc[unfilled, "open_price"]) == {"no open"}
    assert set(text.loc[unfilled, "note"]) == {"no open price: nothing traded"}
    # A truncated order that filled part: its prices are dollars, its note says how much; one
    # the cash cut to 0 shares traded nothing, and shows so.
    truncated = text["status"] == "truncated_cash"
    part = truncated & (data["filled"] != 0)
    assert part.sum() > 50
    assert text.loc[part, "exec_price"].str.fullmatch(r"\$[\d,]+\.\d\d").all()
    assert text.loc[part, "notional"].str.fullmatch(r"\$[\d,]+\.\d\d").all()
    assert text.loc[truncated, "note"].str.startswith("cash short at the open: filled ").all()
    none = truncated & (data["filled"] == 0)
    assert none.sum() > 0
    assert set(text.loc[none, "exec_price"]) == set(text.loc[none, "notional"]) == {"unfilled"}
    assert text.loc[none, "note"].str.startswith("cash short at the open: filled 0 of ").all()
    # No cell is left for the grid to draw as "None": every price and amount holds a value.
    money = ["signal_price", "open_price", "exec_price", "notional", "commission", "slippage"]
    assert data[money].notna().all().all()
    assert not text[money].isin(["None", "nan", "", "-"]).any().any()
    # The data under the words still sorts as numbers.
    assert all(pd.api.types.is_float_dtype(data[c]) for c in money)


def test_the_exits_at_a_last_close_show_no_open_but_their_fill(open_page: Opener) -> None:
    at = open_page("explorer")  # the stored default run: 3 exits at a last close, 5 unfilled
    at.toggle(key="trades_flagged").set_value(True).run()

    _, text = _shown(at)
    exits = text[text["status"] == "exit_at_last_close"]
    assert len(exits) == 3
    assert set(exits["open_price"]) == {"no open"}
    assert exits["exec_price"].str.fullmatch(r"\$[\d,]+\.\d\d").all()
    assert (text["status"] == "rejected_no_price").sum() == 5


def test_the_csv_keeps_the_unfilled_prices_empty(open_page: Opener, data_dir: Path) -> None:
    # The words are the table's only: the download keeps the ledger's empty prices.
    _, run = _truncating_run(open_page, data_dir)
    csv = pd.read_csv(io.BytesIO(downloads.trades_csv(run.trades)))
    unfilled = csv[csv["status"] == "rejected_no_price"]
    assert len(unfilled) > 0
    assert unfilled["exec_price"].isna().all()
    assert (unfilled["notional"] == 0).all()


def test_a_table_too_large_to_style_still_says_unfilled() -> None:
    from quant_core.cockpit.tables.trades import trades_plain

    view = pd.DataFrame(
        {
            "date": pd.to_datetime(["2010-01-04", "2010-01-05"]),
            "symbol": ["AAA", "BBB"],
            "requested": [10.0, 5.0],
            "filled": [10.0, 0.0],
            "open_price": [12.5, float("nan")],
            "exec_price": [12.5125, float("nan")],
            "notional": [125.125, float("nan")],
        }
    )
    shown = trades_plain(view)
    assert shown["exec_price"].tolist() == ["$12.51", "unfilled"]
    assert shown["notional"].tolist() == ["$125.12", "unfilled"]
    assert shown["open_price"].tolist() == ["$12.50", "no open"]
    assert shown["filled"].tolist() == [10.0, 0.0]  # numbers stay numbers
