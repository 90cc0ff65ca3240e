"""The Strategy Explorer on a real warehouse (sp500-2010): run, open, chart, compare, download."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from config import load_config
from quant_core.backtest.results import catalog, load_run
from quant_core.backtest.run import run_backtest
from quant_core.calendar import TradingCalendar
from quant_core.data.sources.synthetic import SyntheticSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from tests.cockpit.conftest import APP

ORANGE = "rgba(230, 159, 0, 0.25)"  # truncated rows
RED = "rgba(213, 94, 0, 0.25)"  # unfilled rows

Opener = Callable[[str], AppTest]


def _specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _chart(at: AppTest, prefix: str) -> dict[str, Any]:
    found = [s for s in _specs(at) if s["layout"]["title"]["text"].startswith(prefix)]
    assert len(found) == 1, [s["layout"]["title"]["text"] for s in _specs(at)]
    return found[0]


def _values(trace: dict[str, Any], key: str) -> np.ndarray:
    # plotly writes numpy arrays as base64 typed arrays, lists as lists
    raw = trace[key]
    if isinstance(raw, dict) and "bdata" in raw:
        values = np.frombuffer(base64.b64decode(raw["bdata"]), dtype=np.dtype(raw["dtype"]))
        if "shape" in raw:
            values = values.reshape([int(n) for n in str(raw["shape"]).split(",")])
        return values
    return np.asarray(raw)


def _run_ids(data_dir: Path) -> set[str]:
    runs = catalog(data_dir / "backtests")
    return set(runs["run_id"]) if len(runs) else set()


def _store_run(data_dir: Path, *overrides: str) -> str:
    cfg = load_config("backtest", [f"paths.data_dir={data_dir}", *overrides], environ={})
    return run_backtest(cfg).run_id


def _trades_table(at: AppTest) -> pd.DataFrame:
    tables = [d for d in at.dataframe if "flag" in d.value.columns]
    assert len(tables) == 1
    frame: pd.DataFrame = tables[0].value
    return frame


def _coloured_rows(at: AppTest, color: str) -> set[int]:
    tables = [d for d in at.dataframe if "flag" in d.value.columns]
    css = tables[0].proto.arrow_data.styler.styles
    rows: set[int] = set()
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        if color in body:
            rows.update(int(r) for r in re.findall(r"_row(\d+)_col\d+", selectors))
    return rows


def test_running_from_the_form_stores_a_run_and_charts_its_equity(
    open_page: Opener, data_dir: Path
) -> None:
    at = open_page("explorer")
    before = _run_ids(data_dir)
    assert len(before) == 1

    at.button(key="run_backtest").click().run()

    assert not at.exception, at.exception
    created = _run_ids(data_dir) - before
    assert len(created) == 1
    (run_id,) = created
    stored = load_run(data_dir / "backtests", run_id)
    assert at.selectbox(key="explorer_run").value == run_id
    assert any(run_id in s.value and "final equity $" in s.value for s in at.success)
    bar = at.get("progress")[0].proto
    assert bar.value == 100
    done, total = map(int, re.findall(r"(\d+) of (\d+)", bar.text)[0])
    assert done == total > 0
    first = _specs(at)[0]
    assert first["layout"]["title"]["text"].startswith("Equity")
    strategy = first["data"][0]
    assert strategy["name"] == "Strategy"
    assert _values(strategy, "y")[-1] == pytest.approx(stored.curve["equity"].iloc[-1], rel=1e-12)
    assert len(_values(strategy, "y")) == len(stored.curve)
    benchmark = first["data"][1]
    assert _values(benchmark, "y")[-1] == pytest.approx(stored.curve["benchmark"].iloc[-1])


def test_form_choices_reach_the_stored_config(open_page: Opener, data_dir: Path) -> None:
    at = open_page("explorer")
    at.selectbox(key="bt_strategy").set_value("mean_reversion").run()
    at.number_input(key="bt_param__mean_reversion__lookback").set_value(10)
    at.number_input(key="bt_param__mean_reversion__hold_sessions").set_value(3)
    # mean_reversion rolls its cohorts every session: it needs strategy.rebalance=1.
    at.selectbox(key="bt_rebalance_mode").set_value("every N sessions")
    at.number_input(key="bt_rebalance_n").set_value(1)
    at.date_input(key="bt_start__sp500-2010").set_value(dt.date(2010, 1, 4))
    at.date_input(key="bt_end__sp500-2010").set_value(dt.date(2010, 6, 30))
    at.number_input(key="bt_initial_cash").set_value(250_000.0)
    at.button(key="run_backtest").click().run()

    assert not at.exception, at.exception
    run_id = str(at.selectbox(key="explorer_run").value)
    stored = load_run(data_dir / "backtests", run_id)
    assert stored.config["strategy"]["name"] == "mean_reversion"
    assert stored.config["effective_params"] == {
        "lookback": 10,
        "bottom_quantile": 0.1,
        "hold_sessions": 3,
    }
    assert stored.config["strategy"]["rebalance"] == 1
    assert stored.config["backtest"]["start"] == "2010-01-04"
    assert stored.config["backtest"]["end"] == "2010-06-30"
    assert stored.curve.index[-1] == pd.Timestamp("2010-06-30")
    assert stored.curve["equity"].iloc[0] == 250_000.0


@pytest.mark.parametrize(
    ("strategy", "values", "field"),
    [
        ("momentum", {"top_quantile": 0.0}, "top_quantile"),
        ("sma_cross", {"fast": 200, "slow": 200}, "fast"),
        ("multi_factor", {"factors": '{"momentum_252_21": 1.0'}, "factors"),
        ("multi_factor", {"factors": '{"no_such_factor": 1.0}'}, "factors"),
    ],
)
def test_an_invalid_parameter_names_the_field_and_runs_nothing(
    open_page: Opener, data_dir: Path, strategy: str, values: dict[str, Any], field: str
) -> None:
    at = open_page("explorer")
    before = _run_ids(data_dir)
    at.selectbox(key="bt_strategy").set_value(strategy).run()
    for name, value in values.items():
        key = f"bt_param__{strategy}__{name}"
        widget = at.text_input(key=key) if name == "factors" else at.number_input(key=key)
        widget.set_value(value)
    at.button(key="run_backtest").click().run()

    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert field in errors[0]
    assert errors[0].startswith(f"Not run: {strategy} parameter")
    assert _run_ids(data_dir) == before
    assert not at.success
    assert not at.get("progress")


def test_a_start_after_the_end_runs_nothing(open_page: Opener, data_dir: Path) -> None:
    at = open_page("explorer")
    before = _run_ids(data_dir)
    at.date_input(key="bt_start__sp500-2010").set_value(dt.date(2010, 6, 1))
    at.date_input(key="bt_end__sp500-2010").set_value(dt.date(2010, 5, 1))
    at.button(key="run_backtest").click().run()
    assert [e.value for e in at.error] == ["Not run: end: 2010-05-01 is before start 2010-06-01"]
    assert _run_ids(data_dir) == before


def test_opening_a_stored_run_shows_its_metrics(open_page: Opener, data_dir: Path) -> None:
    (first,) = _run_ids(data_dir)
    second = _store_run(data_dir, "strategy.params.lookback=63")
    at = open_page("explorer")
    assert at.selectbox(key="explorer_run").value == second  # newest first

    at.selectbox(key="explorer_run").set_value(first).run()

    m = load_run(data_dir / "backtests", first).metrics
    shown = {metric.label: metric.value for metric in at.metric}
    assert shown["Final equity"] == f"${m['final_equity']:,.0f}"
    assert shown["CAGR"] == f"{m['cagr']:.2%}"
    assert shown["Sharpe ratio"] == f"{m['sharpe']:.2f}"
    assert shown["Max drawdown"] == f"{m['max_drawdown']:.2%}"
    assert shown["Turnover (per year)"] == f"{m['turnover']:.2f}x / yr"
    assert shown["Trades (filled orders)"] == f"{m['trades']:,}"
    # Slippage is a cost too: the headline shows the total, its delta the two parts.
    assert m["slippage"] > 0
    assert m["total_costs"] == pytest.approx(m["commissions"] + m["slippage"])
    costs = next(x for x in at.metric if x.label.startswith("Total costs"))
    assert costs.value == f"${m['total_costs']:,.0f}"
    assert f"${m['slippage']:,.0f} slippage" in costs.delta
    table = at.dataframe[0].value.set_index("Metric")["Value"]
    assert table["Slippage"] == f"${m['slippage']:,.0f}"
    assert table["Orders unfilled (no price)"] == str(m["unfilled"])
    assert table["Max drawdown length"] == f"{m['max_drawdown_sessions']} sessions"
    equity = _chart(at, "Equity")["data"][0]
    stored = load_run(data_dir / "backtests", first).curve["equity"]
    assert _values(equity, "y")[-1] == pytest.approx(stored.iloc[-1])


def test_log_scale_toggle_changes_the_equity_axis(open_page: Opener) -> None:
    at = open_page("explorer")
    layout = _specs(at)[0]["layout"]
    assert layout["yaxis"]["type"] == "linear"
    assert layout["yaxis"]["title"]["text"] == "Equity ($)"

    at.toggle(key="equity_log").set_value(True).run()

    layout = _specs(at)[0]["layout"]
    assert layout["title"]["text"].startswith("Equity")
    assert layout["yaxis"]["type"] == "log"
    assert layout["yaxis"]["tickprefix"] == "$"


def test_comparing_two_runs_puts_one_trace_each(open_page: Opener, data_dir: Path) -> None:
    (first,) = _run_ids(data_dir)
    # One period (one lookback); different periods: test_explorer_runs.py
    second = _store_run(data_dir, "strategy.params.top_quantile=0.1", "backtest.initial_cash=5e5")
    at = open_page("explorer")
    assert not at.get("plotly_chart") or all(
        not s["layout"]["title"]["text"].startswith("Compare") for s in _specs(at)
    )

    at.multiselect(key="compare_runs").set_value([first, second]).run()

    spec = _chart(at, "Compare runs: growth of $1")
    assert len(spec["data"]) == 2
    assert [t["name"] for t in spec["data"]] == [
        f"momentum #{first[-4:]}",
        f"momentum #{second[-4:]}",
    ]
    curves = [load_run(data_dir / "backtests", r).curve["equity"] for r in (first, second)]
    for trace, equity in zip(spec["data"], curves, strict=True):
        assert _values(trace, "y")[0] == 1.0
        assert _values(trace, "y")[-1] == pytest.approx(equity.iloc[-1] / equity.iloc[0])
    table = at.dataframe[-1].value  # the compare table comes last
    assert list(table.columns) == [f"momentum #{first[-4:]}", f"momentum #{second[-4:]}"]
    assert table.loc["Parameters", f"momentum #{second[-4:]}"] == "lookback=126, top_quantile=0.1"
    assert table.loc["Start equity", f"momentum #{second[-4:]}"] == "$500,000"

    at.radio(key="compare_scale").set_value("Equity ($)").run()

    spec = _chart(at, "Compare runs: equity")
    assert spec["layout"]["yaxis"]["tickprefix"] == "$"
    assert [_values(t, "y")[-1] for t in spec["data"]] == pytest.approx(
        [c.iloc[-1] for c in curves]
    )


def test_the_trades_table_marks_truncated_and_unfilled_orders(
    open_page: Opener, data_dir: Path
) -> None:
    # The default run (2% cash buffer) truncates nothing; without a buffer, gap-ups at the
    # open make buys cost more than the cash, and the engine truncates them.
    (default_run,) = _run_ids(data_dir)
    assert load_run(data_dir / "backtests", default_run).metrics["truncated"] == 0
    at = open_page("explorer")
    at.number_input(key="bt_cash_buffer").set_value(0.0)
    at.button(key="run_backtest").click().run()

    run_id = str(at.selectbox(key="explorer_run").value)
    stored = load_run(data_dir / "backtests", run_id)
    truncated, unfilled = stored.metrics["truncated"], stored.metrics["unfilled"]
    assert truncated > 0
    assert unfilled > 0
    table = _trades_table(at)
    assert len(table) == len(stored.trades)
    assert (table["status"] == "truncated_cash").sum() == truncated
    assert set(table.loc[table["status"] == "truncated_cash", "flag"]) == {"TRUNCATED"}
    assert set(table.loc[table["status"] == "rejected_no_price", "flag"]) == {"UNFILLED"}
    assert set(table.loc[table["status"] == "filled", "flag"]) == {""}
    row = table[table["status"] == "truncated_cash"].iloc[0]
    assert abs(row["filled"]) < abs(row["requested"])
    assert f"filled {abs(row['filled']):,.0f} of {abs(row['requested']):,.0f}" in row["note"]
    assert _coloured_rows(at, ORANGE) == set(np.flatnonzero(table["status"] == "truncated_cash"))
    assert _coloured_rows(at, RED) == set(np.flatnonzero(table["status"] == "rejected_no_price"))

    at.toggle(key="trades_flagged").set_value(True).run()

    flagged = _trades_table(at)
    assert len(flagged) == (stored.trades["status"] != "filled").sum()
    assert (flagged["flag"] == "TRUNCATED").sum() == truncated
    assert (flagged["flag"] == "UNFILLED").sum() == unfilled


def test_csv_downloads_hold_the_stored_run(
    open_page: Opener, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def capture(self, data, mimetype, kind, filename=None):
        files[filename] = data
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", capture)
    at = open_page("explorer")
    run_id = str(at.selectbox(key="explorer_run").value)
    stored = load_run(data_dir / "backtests", run_id)

    curve = pd.read_csv(io.BytesIO(files[f"{run_id}-equity.csv"]), index_col="date")
    assert list(curve.columns) == list(stored.curve.columns)
    assert curve.index[0] == str(stored.curve.index[0].date())
    np.testing.assert_array_equal(curve["equity"].to_numpy(), stored.curve["equity"].to_numpy())
    np.testing.assert_array_equal(
        curve["benchmark"].to_numpy(), stored.curve["benchmark"].to_numpy()
    )

    trades = pd.read_csv(io.BytesIO(files[f"{run_id}-trades.csv"]), keep_default_na=False)
    assert len(trades) == len(stored.trades)
    assert list(trades["symbol"]) == list(stored.trades["symbol"])
    assert list(trades["status"]) == list(stored.trades["status"])
    np.testing.assert_array_equal(trades["filled"], stored.trades["filled"])
    assert (trades["flag"] == "UNFILLED").sum() == stored.metrics["unfilled"]

    metrics = pd.read_csv(io.BytesIO(files[f"{run_id}-metrics.csv"])).set_index("metric")
    assert list(metrics.index) == list(stored.metrics)
    for name, value in stored.metrics.items():
        assert float(str(metrics.loc[name, "value"])) == pytest.approx(value, nan_ok=True)
    assert metrics.loc["cagr", "display"] == f"{stored.metrics['cagr']:.2%}"
    labels = {b.proto.label for b in at.get("download_button")}
    assert labels == {"Equity curve (CSV)", "Trades (CSV)", "Metrics (CSV)"}


def test_every_chart_has_units_on_both_axes(open_page: Opener) -> None:
    at = open_page("explorer")
    at.multiselect(key="compare_runs").set_value(list(at.multiselect(key="compare_runs").options))
    at.run()
    specs = _specs(at)
    titles = [spec["layout"]["title"]["text"] for spec in specs]
    # 7 of one run, 4 of run_risk, 1 of run_holdings, compare; and run_trade_analysis's own
    assert len(specs) >= 13, titles
    assert sum(t.startswith(("Weights by sector", "Compare runs")) for t in titles) == 2, titles
    for spec in specs:
        layout = spec["layout"]
        assert layout["xaxis"]["title"]["text"], layout["title"]
        assert layout["yaxis"]["title"]["text"], layout["title"]
        for trace in spec["data"]:  # hover shows dollars and a percentage
            assert "$%{" in trace["hovertemplate"], layout["title"]
            assert re.search(r"\.\d%\}", trace["hovertemplate"]), layout["title"]


def test_a_run_on_synthetic_data_says_so(
    open_page: Opener, data_dir: Path, calendar: TradingCalendar
) -> None:
    warehouse = Warehouse(data_dir / "warehouse")
    sync(SyntheticSource(calendar, symbols=12, days=300, seed=3), warehouse, calendar, "synth")
    run_id = _store_run(data_dir, "data.dataset=synth", "strategy.params.lookback=20")
    at = open_page("explorer")
    assert at.selectbox(key="explorer_run").value == run_id
    assert [w.value for w in at.warning] == [
        "This run used synthetic data (synth): its numbers say nothing of markets."
    ]
    at.selectbox(key="bt_dataset").set_value("synth").run()
    assert "synth holds synthetic data" in [w.value for w in at.warning]


def test_no_stored_run_says_how_to_make_one(open_page: Opener, data_dir: Path) -> None:
    for run in (data_dir / "backtests").iterdir():
        for file in run.iterdir():
            file.unlink()
        run.rmdir()
    at = open_page("explorer")
    assert not at.get("plotly_chart")
    (info,) = at.info
    assert "No stored backtests" in info.value
    assert "Run backtest" in info.value
    assert "python run_backtest.py" in info.value

    at.button(key="run_backtest").click().run()

    assert len(_run_ids(data_dir)) == 1
    assert _specs(at)[0]["layout"]["title"]["text"].startswith("Equity")


def test_an_empty_warehouse_names_the_sync_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QC__PATHS__DATA_DIR", str(tmp_path / "empty"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Strategy Explorer"]
    assert any("python run_data_sync.py --source sample" in w.value for w in at.warning)
    assert "No stored backtests" in at.info[0].value
    assert not at.get("plotly_chart")
    assert not [b for b in at.button if b.key == "run_backtest"]
