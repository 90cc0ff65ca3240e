"""The Strategy Explorer's pure part: form fields, numbers, tables, CSV and figures."""

from __future__ import annotations

import datetime as dt
import enum
import io
import itertools
import json
import math
import statistics
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

from config import load_config
from quant_core.backtest import metrics as bt_metrics
from quant_core.cockpit.charts import performance as charts
from quant_core.cockpit.models import backtest_form as form
from quant_core.cockpit.models import backtests, run_catalog
from quant_core.cockpit.tables import downloads, run_metrics
from quant_core.cockpit.tables import trades as trade_table
from quant_core.strategies import STRATEGIES, StrategyParams
from quant_core.strategies.builtin.cross_sectional import MomentumParams, MultiFactorParams
from quant_core.strategies.builtin.trend import SmaCrossParams

# A hand-checked curve: Jan +10%, Feb -10%, Mar +10%, and Jan of the next year +10%.
DATES = pd.DatetimeIndex(
    ["2020-01-02", "2020-01-31", "2020-02-14", "2020-02-28", "2020-03-31", "2021-01-29"],
    name="date",
)
EQUITY = [100.0, 110.0, 104.5, 99.0, 108.9, 119.79]


@pytest.fixture
def curve() -> pd.DataFrame:
    equity = np.array(EQUITY)
    return pd.DataFrame(
        {
            "equity": equity,
            "cash": equity * 0.1,
            "long_value": equity * 1.2,
            "short_value": equity * -0.3,
            "benchmark": np.linspace(100.0, 105.0, len(equity)),
        },
        index=DATES.as_unit("ms"),
    )


def _trades() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.DatetimeIndex(["2020-01-31"] * 3 + ["2020-02-28"]).as_unit("ms"),
            "symbol": ["A", "B", "C", "D"],
            "side": ["buy", "buy", "buy", "sell"],
            "requested": [100.0, 50.0, 10.0, -20.0],
            "filled": [100.0, 40.0, 0.0, -20.0],
            "signal_price": [10.0, 20.0, 30.0, 40.0],
            "open_price": [10.1, 20.2, np.nan, np.nan],
            "exec_price": [10.11, 20.21, np.nan, 39.5],
            "notional": [1011.0, 808.4, 0.0, 790.0],
            "commission": [1.0, 1.0, 0.0, 1.0],
            "slippage": [1.0, 0.4, 0.0, 0.0],
            "status": ["filled", "truncated_cash", "rejected_no_price", "exit_at_last_close"],
        }
    )


# ----------------------------------------------------------------------------- numbers


def test_monthly_returns_match_the_hand_computed_curve() -> None:
    table = backtests.monthly_returns(pd.Series(EQUITY, index=DATES))
    assert list(table.index) == [2020, 2021]
    assert list(table.columns) == [*range(1, 13), "Year"]
    assert table.loc[2020, 1] == pytest.approx(0.10)
    assert table.loc[2020, 2] == pytest.approx(-0.10)  # 99 / 110, not 99 / 104.5
    assert table.loc[2020, 3] == pytest.approx(0.10)
    assert table.loc[2021, 1] == pytest.approx(119.79 / 108.9 - 1)
    assert table.loc[2020, "Year"] == pytest.approx(0.089)
    assert table.loc[2021, "Year"] == pytest.approx(0.10)
    assert table.loc[2020, 4:12].isna().all()
    assert table.loc[2021, 2:12].isna().all()


def test_monthly_pnl_is_in_dollars() -> None:
    table = backtests.monthly_pnl(pd.Series(EQUITY, index=DATES))
    assert table.loc[2020, 1] == pytest.approx(10.0)
    assert table.loc[2020, 2] == pytest.approx(-11.0)
    assert table.loc[2020, 3] == pytest.approx(9.9)
    assert table.loc[2021, 1] == pytest.approx(10.89)
    assert table.loc[2020, "Year"] == pytest.approx(8.9)


def test_drawdown_is_the_fall_from_the_running_peak() -> None:
    fall = bt_metrics.drawdown(pd.Series(EQUITY, index=DATES))
    np.testing.assert_allclose(fall.to_numpy(), [0.0, 0.0, -0.05, -0.10, -0.01, 0.0], atol=1e-12)


def test_rolling_sharpe_matches_the_formula_by_hand() -> None:
    ratio = bt_metrics.rolling_sharpe(pd.Series(EQUITY, index=DATES), window=3)
    returns = [b / a - 1 for a, b in itertools.pairwise(EQUITY)]
    assert ratio.iloc[:3].isna().all()  # three returns exist from the fourth date on
    for end in range(3, len(EQUITY)):
        window = returns[end - 3 : end]
        expected = statistics.mean(window) / statistics.stdev(window) * math.sqrt(252)
        assert ratio.iloc[end] == pytest.approx(expected)


def test_rolling_sharpe_of_a_flat_curve_is_undefined() -> None:
    ratio = bt_metrics.rolling_sharpe(pd.Series(100.0, index=DATES), window=2)
    assert ratio.isna().all()


def test_exposure_gross_and_net(curve: pd.DataFrame) -> None:
    frame = backtests.exposure(curve)
    np.testing.assert_allclose(frame["gross"], 1.5)  # (1.2 + 0.3) x equity
    np.testing.assert_allclose(frame["net"], 0.9)  # (1.2 - 0.3) x equity
    np.testing.assert_allclose(frame["long_usd"], curve["long_value"])


def test_holdings_count_is_zero_after_a_rebalance_that_sold_everything() -> None:
    positions = pd.DataFrame(
        {
            "date": pd.DatetimeIndex(["2020-01-31", "2020-01-31", "2020-03-31"]),
            "symbol": ["A", "B", "A"],
            "shares": [10.0, 5.0, 3.0],
            "close": [6.0, 6.0, 10.0],
            "value": [60.0, 30.0, 30.0],
        }
    )
    rebalances = pd.DatetimeIndex(["2020-01-31", "2020-02-28", "2020-03-31"])
    counts = backtests.holdings_count(positions, rebalances)
    assert counts.to_dict() == {
        pd.Timestamp("2020-01-31"): 2,
        pd.Timestamp("2020-02-28"): 0,
        pd.Timestamp("2020-03-31"): 1,
    }


def test_top_weights_are_fractions_of_equity_most_held_first() -> None:
    positions = pd.DataFrame(
        {
            "date": pd.DatetimeIndex(["2020-01-31", "2020-01-31", "2020-03-31"]),
            "symbol": ["B", "A", "A"],
            "shares": [5.0, 10.0, 5.0],
            "close": [6.0, 6.0, 10.0],
            "value": [30.0, 60.0, 50.0],
        }
    )
    equity = pd.Series([100.0, 125.0], index=pd.DatetimeIndex(["2020-01-31", "2020-03-31"]))
    weights = backtests.top_weights(positions, equity, n=1)
    assert list(weights.columns) == ["A"]
    np.testing.assert_allclose(weights["A"], [0.6, 0.4])
    both = backtests.top_weights(positions, equity)
    np.testing.assert_allclose(both["B"], [0.3, 0.0])


def test_weights_heatmap_shows_shorts_on_a_diverging_scale() -> None:
    dates = pd.DatetimeIndex(["2020-01-31", "2020-02-28"])
    equity = pd.Series([100.0, 100.0], index=dates)
    long_only = charts.weights_figure(pd.DataFrame({"A": [0.5, 0.4]}, index=dates), equity)
    assert long_only.data[0].zmin == 0.0
    book = pd.DataFrame({"A": [0.5, 0.4], "B": [-0.2, 0.0]}, index=dates)
    mixed = charts.weights_figure(book, equity)
    heat = mixed.data[0]
    assert (heat.zmid, heat.zmin, heat.zmax) == (0.0, -0.5, 0.5)  # a 20% short reads as a short


# ----------------------------------------------------------------------------- the form


def test_param_specs_carry_types_defaults_bounds_and_help() -> None:
    lookback, top = form.param_specs(MomentumParams)
    assert (lookback.name, lookback.kind, lookback.default) == ("lookback", "int", 126)
    assert (lookback.minimum, lookback.maximum, lookback.step) == (1.0, None, 1)
    assert "Sessions" in lookback.help
    assert (top.kind, top.default, top.minimum, top.maximum) == ("float", 0.2, 0.0, 1.0)
    assert top.label == "Top quantile"
    assert top.step == 0.01


def test_param_specs_of_dicts_choices_and_flags() -> None:
    class Colour(enum.Enum):
        RED = "red"
        BLUE = "blue"

    class Params(StrategyParams):
        mode: Literal["fast", "slow"] = "slow"
        colour: Colour = Colour.BLUE
        tag: str = Field(default="x", description="A label")

    factors, _, long_short = form.param_specs(MultiFactorParams)
    assert factors.kind == "json"
    assert json.loads(factors.default) == {"momentum_252_21": 1.0, "volatility_20": -0.5}
    assert (long_short.kind, long_short.default) == ("bool", False)
    mode, colour, tag = form.param_specs(Params)
    assert (mode.kind, mode.options, mode.default) == ("choice", ("fast", "slow"), "slow")
    assert (colour.kind, colour.options, colour.default) == ("choice", ("red", "blue"), "blue")
    assert (tag.kind, tag.help) == ("text", "A label")


def test_every_registered_strategy_gets_a_form_that_validates_its_defaults() -> None:
    for name, cls in STRATEGIES.items.items():
        specs = form.param_specs(cls.Params)
        params, errors = form.validate_params(cls.Params, specs, {})
        assert errors == [], name
        assert params == cls.Params().model_dump(mode="json")


def test_validate_params_returns_plain_data() -> None:
    specs = form.param_specs(MultiFactorParams)
    raw = {"factors": '{"reversal_5": 2}', "top_quantile": 0.3, "long_short": True}
    params, errors = form.validate_params(MultiFactorParams, specs, raw)
    assert errors == []
    assert params == {"factors": {"reversal_5": 2.0}, "top_quantile": 0.3, "long_short": True}


@pytest.mark.parametrize(
    ("model", "raw", "expected"),
    [
        (MomentumParams, {"top_quantile": 0.0}, "top_quantile: Input should be greater than 0"),
        (MomentumParams, {"lookback": 0}, "lookback: Input should be greater than or equal to 1"),
        (SmaCrossParams, {"fast": 200}, "fast (200) must be shorter than slow (200)"),
        (MultiFactorParams, {"factors": "{bad"}, "factors: not valid JSON"),
        (MultiFactorParams, {"factors": "{}"}, "factors: Value error, name at least one factor"),
        (MultiFactorParams, {"factors": '{"nope": 1}'}, "factors: unknown factor 'nope'"),
    ],
)
def test_validate_params_names_the_bad_field(
    model: type[StrategyParams], raw: dict[str, object], expected: str
) -> None:
    params, errors = form.validate_params(model, form.param_specs(model), raw)
    assert params is None
    assert len(errors) == 1
    assert expected in errors[0]


def test_overrides_load_into_the_config_the_form_describes() -> None:
    overrides = form.backtest_overrides(
        "multi_factor",
        {"factors": {"reversal_5": 1.0}, "top_quantile": 0.25, "long_short": True},
        dataset="wiki5",
        start=dt.date(2010, 1, 4),
        end=dt.date(2010, 6, 30),
        rebalance="weekly",
        cash_buffer=0.0,
        initial_cash=250_000.0,
    )
    assert overrides[0] == "strategy.name=multi_factor"
    cfg = load_config("backtest", overrides, environ={})
    assert cfg.strategy.name == "multi_factor"
    assert cfg.strategy.params == {
        "factors": {"reversal_5": 1.0},
        "top_quantile": 0.25,
        "long_short": True,
    }
    assert cfg.strategy.rebalance == "weekly"
    assert cfg.data.dataset == "wiki5"
    assert (cfg.backtest.start, cfg.backtest.end) == (dt.date(2010, 1, 4), dt.date(2010, 6, 30))
    assert cfg.portfolio.cash_buffer == 0.0
    assert cfg.backtest.initial_cash == 250_000.0
    every_21 = form.backtest_overrides(
        "momentum",
        {},
        dataset="d",
        start=None,
        end=None,
        rebalance=21,
        cash_buffer=0.02,
        initial_cash=1e6,
    )
    cfg = load_config("backtest", every_21, environ={})
    assert cfg.strategy.rebalance == 21
    assert cfg.backtest.start is None


# ----------------------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("final_equity", 955589.345, "$955,589"),
        ("commissions", 12.345, "$12.35"),
        ("cagr", -0.0929895, "-9.30%"),
        ("sharpe", -0.21723, "-0.22"),
        ("turnover", 4.7842, "4.78x / yr"),
        ("max_drawdown_sessions", 82, "82 sessions"),
        ("trades", 1731, "1,731"),
        ("calmar", float("nan"), "n/a"),
        ("benchmark_cagr", None, "n/a"),
        ("something_new", 0.5, "0.5"),
    ],
)
def test_metrics_carry_their_units(name: str, value: object, text: str) -> None:
    assert run_metrics.format_metric(name, value) == text


def test_metrics_table_and_comparison() -> None:
    a = {"final_equity": 1.1e6, "cagr": 0.1, "extra": 3}
    b = {"final_equity": 0.9e6, "cagr": -0.1}
    table = run_metrics.metrics_table(a)
    assert list(table["Metric"]) == ["Final equity", "CAGR", "Extra"]
    assert list(table["Value"]) == ["$1,100,000", "10.00%", "3"]
    side = run_metrics.compare_metrics(
        {"a": a, "b": b}, {"a": {"Dataset": "x"}, "b": {"Dataset": "y"}}
    )
    assert list(side.index) == ["Dataset", "Final equity", "CAGR"]
    assert [side.at["CAGR", "a"], side.at["CAGR", "b"]] == ["10.00%", "-10.00%"]
    assert [side.at["Dataset", "a"], side.at["Dataset", "b"]] == ["x", "y"]


def test_run_labels() -> None:
    row = {
        "run_id": "20261122T091207Z-momentum-8ab6db35-643e",
        "created_at": "2026-11-22T09:12:07+00:00",
        "strategy": "momentum",
        "params": '{"lookback": 126, "top_quantile": 0.2}',
        "dataset": "sp500-2010",
        "start": "2010-03-03",
        "end": "2010-08-20",
        "final_equity": 955589.3,
    }
    assert run_catalog.run_label(row) == (
        "2026-11-22 09:12 · momentum (lookback=126, top_quantile=0.2) · sp500-2010 "
        "2010-03-03..2010-08-20 · final $955,589 · 643e"
    )
    assert run_catalog.short_label(row) == "momentum #643e"
    assert run_catalog.run_details(row)["Period"] == "2010-03-03 to 2010-08-20"


# ----------------------------------------------------------------------------- trades, CSV


def test_trades_view_flags_truncated_unfilled_and_exit_orders() -> None:
    view = trade_table.trades_view(_trades())
    assert list(view["flag"]) == ["", "TRUNCATED", "UNFILLED", "EXIT"]
    assert view.loc[1, "note"] == "cash short at the open: filled 40 of 50"
    assert list(view.columns[:4]) == ["date", "symbol", "side", "flag"]
    flagged = trade_table.trades_view(_trades(), only_flagged=True)
    assert list(flagged["symbol"]) == ["B", "C", "D"]


def test_trade_rows_are_coloured_by_status() -> None:
    view = trade_table.trades_view(_trades())
    css = trade_table.trade_row_styles(view)
    assert css.shape == view.shape
    assert set(css.iloc[0]) == {""}
    assert set(css.iloc[1]) == {trade_table.ROW_COLORS["truncated_cash"]}
    assert set(css.iloc[2]) == {trade_table.ROW_COLORS["rejected_no_price"]}
    html = trade_table.trades_styler(view).to_html()
    assert "$1,011.00" in html
    assert trade_table.ROW_COLORS["truncated_cash"].split(": ")[1] in html


def test_status_counts_lists_every_status() -> None:
    counts = trade_table.status_counts(_trades())
    assert counts == {
        "filled": 1,
        "truncated_cash": 1,
        "rejected_no_price": 1,
        "exit_at_last_close": 1,
        "stop_loss": 0,
        "take_profit": 0,
        "trailing_stop": 0,
        "halt_flat": 0,
    }
    assert trade_table.status_counts(_trades().iloc[:0])["truncated_cash"] == 0


def test_csv_round_trips(curve: pd.DataFrame) -> None:
    back = pd.read_csv(io.BytesIO(downloads.curve_csv(curve)), index_col="date")
    assert list(back.index) == [d.strftime("%Y-%m-%d") for d in DATES]
    np.testing.assert_array_equal(back["equity"], curve["equity"])
    trades = pd.read_csv(io.BytesIO(downloads.trades_csv(_trades())), keep_default_na=False)
    assert list(trades["flag"]) == ["", "TRUNCATED", "UNFILLED", "EXIT"]
    assert list(trades["date"]) == ["2020-01-31"] * 3 + ["2020-02-28"]
    metrics = pd.read_csv(io.BytesIO(downloads.metrics_csv({"cagr": 0.123456789, "trades": 7})))
    assert metrics.to_dict("list") == {
        "metric": ["cagr", "trades"],
        "value": [0.123456789, 7.0],
        "display": ["12.35%", "7"],
    }


# ----------------------------------------------------------------------------- figures


def _axis_titles(fig: object) -> tuple[str, str]:
    layout = fig.layout  # type: ignore[attr-defined]
    return layout.xaxis.title.text, layout.yaxis.title.text


def test_equity_figure(curve: pd.DataFrame) -> None:
    fig = charts.equity_figure(curve)
    assert fig.layout.title.text == "Equity vs benchmark"
    assert [t.name for t in fig.data] == ["Strategy", "Benchmark"]
    assert fig.data[0].y[-1] == 119.79
    assert fig.data[0].customdata[-1] == pytest.approx(0.1979)  # % since start in the hover
    assert "$%{y:,.0f}" in fig.data[0].hovertemplate
    assert "%{customdata:+.2%}" in fig.data[0].hovertemplate
    assert _axis_titles(fig) == ("Date", "Equity ($)")
    assert fig.layout.yaxis.type == "linear"
    log = charts.equity_figure(curve.drop(columns="benchmark"), log_y=True)
    assert log.layout.yaxis.type == "log"
    assert log.layout.title.text == "Equity (log scale)"
    assert len(log.data) == 1


def test_drawdown_figure(curve: pd.DataFrame) -> None:
    fig = charts.drawdown_figure(curve)
    np.testing.assert_allclose(fig.data[0].y, [0.0, 0.0, -0.05, -0.10, -0.01, 0.0], atol=1e-12)
    np.testing.assert_allclose(fig.data[0].customdata, [0.0, 0.0, -5.5, -11.0, -1.1, 0.0])
    assert _axis_titles(fig) == ("Date", "Drawdown (%)")
    assert fig.layout.yaxis.tickformat == ".1%"


def test_monthly_heatmap(curve: pd.DataFrame) -> None:
    fig = charts.monthly_heatmap(curve)
    heat = fig.data[0]
    assert list(heat.x) == [*charts.MONTHS, "Year"]
    assert list(heat.y) == ["2020", "2021"]
    assert heat.z[0][1] == pytest.approx(-0.10)
    assert heat.text[0][1] == "-10.0%"
    assert heat.text[0][5] == ""
    assert heat.customdata[0][1] == pytest.approx(-11.0)
    assert fig.layout.title.text == "Monthly returns (%)"
    assert _axis_titles(fig) == ("Month", "Year")


def test_rolling_sharpe_and_exposure_figures(curve: pd.DataFrame) -> None:
    fig = charts.rolling_sharpe_figure(curve, 3)
    assert fig.layout.title.text == "Rolling Sharpe (3 sessions)"
    np.testing.assert_allclose(
        fig.data[0].y, bt_metrics.rolling_sharpe(curve["equity"], 3).to_numpy(), equal_nan=True
    )
    assert _axis_titles(fig) == ("Date", "Sharpe ratio, annualised")
    fig = charts.exposure_figure(curve)
    assert [t.name for t in fig.data] == ["Gross", "Net"]
    np.testing.assert_allclose(fig.data[0].y, 1.5)
    assert _axis_titles(fig) == ("Date", "Exposure (%)")


def test_positions_figures(curve: pd.DataFrame) -> None:
    counts = pd.Series([2, 0], index=pd.DatetimeIndex(["2020-01-31", "2020-02-28"]))
    fig = charts.holdings_figure(counts, curve)
    assert list(fig.data[0].y) == [2, 0, 0]  # held to the end of the curve
    assert fig.data[0].line.shape == "hv"
    assert _axis_titles(fig) == ("Date", "Holdings (count)")
    weights = pd.DataFrame({"A": [0.6, 0.0]}, index=pd.DatetimeIndex(["2020-01-31", "2020-03-31"]))
    equity = pd.Series([100.0, 125.0], index=weights.index)
    fig = charts.weights_figure(weights, equity)
    assert fig.data[0].z[0][0] == 0.6
    assert math.isnan(fig.data[0].z[0][1])  # not held: blank, not a zero-coloured cell
    assert fig.data[0].customdata[0][0] == 60.0
    assert _axis_titles(fig) == ("Rebalance date", "Symbol")


def test_compare_figure(curve: pd.DataFrame) -> None:
    other = curve.assign(equity=curve["equity"] * 2)
    fig = charts.compare_figure({"a": curve, "b": other})
    assert [t.name for t in fig.data] == ["a", "b"]
    np.testing.assert_allclose(fig.data[0].y, fig.data[1].y)
    assert fig.data[1].y[0] == 1.0
    assert _axis_titles(fig) == ("Date", "Growth of $1")
    fig = charts.compare_figure({"a": curve, "b": other}, normalise=False)
    assert fig.data[1].y[-1] == pytest.approx(239.58)
    assert _axis_titles(fig) == ("Date", "Equity ($)")


def test_validate_params_never_echoes_a_credential_like_field() -> None:
    class WithKey(StrategyParams):
        api_key: int = 0  # a strategy parameter named like a credential
        lookback: int = 5

    specs = form.param_specs(WithKey)
    _, errors = form.validate_params(WithKey, specs, {"api_key": "S3cr3t-77", "lookback": "x"})
    assert len(errors) == 2
    assert not any("S3cr3t-77" in e for e in errors), errors
    assert any("(got 'x')" in e for e in errors)  # an ordinary field still shows its value
