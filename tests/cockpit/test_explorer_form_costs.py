"""The Explorer's run form, issue 14: the cost model's settings and the benchmark.

The defaults come from config/base.yaml (read here with yaml), the help texts from the schema;
what the form holds reaches the stored run's config.json, the fills and the benchmark curve, and
a bad value or a benchmark that cannot be bought is named before anything runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import yaml

from config.schema import BpsCosts, PerShareCosts
from quant_core.data.warehouse import Warehouse
from tests.cockpit.conftest import ROOT
from tests.cockpit.explorer_form_helpers import (
    DATASET,
    Opener,
    has_widget,
    refused,
    run_ids,
    stored_run,
    submit,
    widget,
)

BASE = yaml.safe_load((ROOT / "config" / "base.yaml").read_text())
BACKTEST = yaml.safe_load((ROOT / "config" / "backtest.yaml").read_text())
MODEL_KEY = "bt_set__costs.model"
BENCHMARK_KEY = f"bt_benchmark__{DATASET}"
PER_SHARE = ("per_share_usd", "min_per_order_usd", "max_frac_of_value", "slippage_bps")


def _cost(name: str) -> str:
    return f"bt_set__costs.{name}"


def test_the_cost_fields_show_the_config_defaults_and_the_schema_help(open_page: Opener) -> None:
    at = open_page("explorer")

    model = at.selectbox(key=MODEL_KEY)
    assert model.value == BASE["costs"]["model"] == "per_share"
    assert model.options == ["per_share", "bps"]
    for name in PER_SHARE:
        field = widget(at, _cost(name))
        assert field.value == BASE["costs"][name], name
        assert field.proto.help == PerShareCosts.model_fields[name].description, name
    assert not has_widget(at, _cost("commission_bps"))

    at.selectbox(key=MODEL_KEY).set_value("bps").run()

    # The bps model's settings, at the schema's defaults (the config's model is per_share).
    assert widget(at, _cost("commission_bps")).value == BpsCosts().commission_bps == 1.0
    assert widget(at, _cost("slippage_bps")).value == BpsCosts().slippage_bps
    assert not has_widget(at, _cost("per_share_usd"))
    assert not has_widget(at, _cost("min_per_order_usd"))


def test_the_benchmark_offers_equal_weight_none_and_every_symbol_of_the_dataset(
    open_page: Opener, data_dir: Path
) -> None:
    at = open_page("explorer")
    bench = at.selectbox(key=BENCHMARK_KEY)
    assert bench.value == BACKTEST["backtest"]["benchmark"] == "equal_weight"
    symbols = sorted(Warehouse(data_dir / "warehouse").panel(DATASET, "open").columns)
    assert len(symbols) > 500
    assert len(bench.options) == 2 + len(symbols)
    assert bench.options[:2] == ["equal_weight (buy and hold of every symbol)", "none"]
    # The symbols follow, sorted, with their names from the reference data to search by.
    assert [o.split(" · ")[0] for o in bench.options[2:]] == symbols
    assert "AAPL · Apple Inc." in bench.options


def test_bps_costs_reach_the_stored_config_and_every_fill(
    open_page: Opener, data_dir: Path
) -> None:
    at = open_page("explorer")
    before = run_ids(data_dir)
    at.selectbox(key=MODEL_KEY).set_value("bps").run()
    widget(at, _cost("commission_bps")).set_value(2.5)
    widget(at, _cost("slippage_bps")).set_value(7.0)
    submit(at)

    run = stored_run(at, data_dir, before)
    assert run.config["costs"] == {"model": "bps", "commission_bps": 2.5, "slippage_bps": 7.0}
    filled = run.trades[run.trades["status"] == "filled"]
    assert len(filled) > 100
    side = np.sign(filled["filled"].to_numpy())
    # 7 bps against each fill, and 2.5 bps of the traded value as the whole commission.
    np.testing.assert_allclose(
        filled["exec_price"], filled["open_price"] * (1 + side * 7e-4), rtol=1e-12
    )
    np.testing.assert_allclose(filled["commission"], filled["notional"] * 2.5e-4, rtol=1e-9)


def test_per_share_settings_reach_the_fills(open_page: Opener, data_dir: Path) -> None:
    at = open_page("explorer")
    before = run_ids(data_dir)
    widget(at, _cost("per_share_usd")).set_value(0.02)
    widget(at, _cost("min_per_order_usd")).set_value(3.0)
    widget(at, _cost("slippage_bps")).set_value(0.0)
    submit(at)

    run = stored_run(at, data_dir, before)
    assert run.config["costs"] == {
        "model": "per_share",
        "per_share_usd": 0.02,
        "min_per_order_usd": 3.0,
        "max_frac_of_value": BASE["costs"]["max_frac_of_value"],
        "slippage_bps": 0.0,
    }
    filled = run.trades[run.trades["status"] == "filled"]
    shares = filled["filled"].abs().to_numpy()
    fee = np.minimum(np.maximum(shares * 0.02, 3.0), 0.01 * filled["notional"].to_numpy())
    np.testing.assert_allclose(filled["commission"], fee, rtol=1e-9)
    np.testing.assert_array_equal(filled["exec_price"], filled["open_price"])  # no slippage


def test_bad_cost_values_are_named_by_the_schema_and_run_nothing(
    open_page: Opener, data_dir: Path
) -> None:
    at = open_page("explorer")
    before = run_ids(data_dir)
    widget(at, _cost("slippage_bps")).set_value(-1.0)
    widget(at, _cost("max_frac_of_value")).set_value(0.0)
    submit(at)

    errors = refused(at, data_dir, before)
    assert len(errors) == 2, errors
    (slippage,) = [e for e in errors if "costs.slippage_bps" in e]
    assert "-1" in slippage
    assert "greater than or equal to 0" in slippage
    (cap,) = [e for e in errors if "costs.max_frac_of_value" in e]
    assert "greater than 0" in cap


def test_a_symbol_benchmark_on_the_bundled_sample(open_page: Opener, data_dir: Path) -> None:
    at = open_page("explorer")
    before = run_ids(data_dir)
    at.selectbox(key=BENCHMARK_KEY).set_value("AAPL")
    submit(at)

    run = stored_run(at, data_dir, before)
    assert run.config["backtest"]["benchmark"] == "AAPL"
    # Bought at the open of the first session with the whole capital and held, no costs.
    cash = run.config["backtest"]["initial_cash"]
    curve = run.curve
    warehouse = Warehouse(data_dir / "warehouse")
    first = curve.index[1]
    opening = warehouse.panel(DATASET, "open", ["AAPL"])["AAPL"].loc[first]
    # A session without an AAPL bar (sp500-2010 has some) marks at the close before.
    closes = warehouse.panel(DATASET, "close")["AAPL"].ffill().reindex(curve.index[1:])
    assert closes.notna().all()
    assert curve["benchmark"].iloc[0] == cash
    np.testing.assert_allclose(curve["benchmark"].iloc[1:], cash / opening * closes, rtol=1e-12)
    growth = closes.iloc[-1] / opening - 1
    assert run.metrics["benchmark_total_return"] == pytest.approx(growth, rel=1e-12)
    # Not the equal-weight default: AAPL alone returned something else.
    assert abs(growth - _equal_weight_return(open_page, data_dir)) > 0.01


def _equal_weight_return(open_page: Opener, data_dir: Path) -> float:
    at = open_page("explorer")
    before = run_ids(data_dir)
    submit(at)
    return float(stored_run(at, data_dir, before).metrics["benchmark_total_return"])


def test_no_benchmark_stores_none_and_measures_against_nothing(
    open_page: Opener, data_dir: Path
) -> None:
    at = open_page("explorer")
    before = run_ids(data_dir)
    at.selectbox(key=BENCHMARK_KEY).set_value("none")
    submit(at)

    run = stored_run(at, data_dir, before)
    assert run.config["backtest"]["benchmark"] is None
    assert "benchmark" not in run.curve.columns
    assert "benchmark_total_return" not in run.metrics


def test_a_symbol_without_an_open_on_the_first_session_is_refused_before_the_run(
    open_page: Opener, data_dir: Path
) -> None:
    # KMX's first bar in sp500-2010 is 2010-06-01, after momentum's first rebalance.
    listed = Warehouse(data_dir / "warehouse").panel(DATASET, "open", ["KMX"])["KMX"].dropna()
    assert listed.index[0].date() == dt.date(2010, 6, 1)
    at = open_page("explorer")
    before = run_ids(data_dir)
    at.selectbox(key=BENCHMARK_KEY).set_value("KMX")
    submit(at)

    (error,) = refused(at, data_dir, before)
    assert error.startswith("Not run: backtest.benchmark=KMX: no open on 2010-03-")
    assert "the run's first session (its first bar: 2010-06-01)" in error

    # From June on, KMX can be bought: the same choice runs.
    at.date_input(key=f"bt_start__{DATASET}").set_value(dt.date(2010, 6, 1))
    submit(at)
    assert stored_run(at, data_dir, before).config["backtest"]["benchmark"] == "KMX"
