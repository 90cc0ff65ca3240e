"""The Explorer's run form, issue 12: construction, constraints, vol target, stops and halts.

The defaults come from config/base.yaml (read here with yaml, not through the cockpit's code),
the help texts from the schema's field descriptions; a bad value or a combination that cannot
run is named, and nothing runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import numpy as np
import yaml
from streamlit.testing.v1 import AppTest

from config.schema import AppConfig, ConstructionMethod
from quant_core.backtest.results import catalog, load_run
from quant_core.portfolio.construction import METHODS
from tests.cockpit.conftest import ROOT

Opener = Callable[[str], AppTest]
BASE = yaml.safe_load((ROOT / "config" / "base.yaml").read_text())
METHOD_KEY = "bt_set__portfolio.construction.method"
NEEDS_SCORES = "Needs a strategy that gives scores (momentum, multi_factor, fitted)."
SHOWN_FOR_AS_IS = [  # as_is uses no setting; the vol target reads lookback and covariance
    "portfolio.constraints.max_weight",
    "portfolio.constraints.sector_cap",
    "portfolio.constraints.max_gross",
    "portfolio.constraints.max_net",
    "portfolio.constraints.max_turnover",
    "portfolio.constraints.no_trade_band",
    "portfolio.vol_target",
    "portfolio.construction.lookback",
    "portfolio.construction.covariance",
    "risk.stop_loss",
    "risk.take_profit",
    "risk.trailing_stop",
    "risk.max_drawdown_frac",
    "risk.max_daily_loss_frac",
    "risk.on_breach",
    "risk.halt_sessions",
]


def _base_value(path: str) -> Any:
    node: Any = BASE
    for part in path.split("."):
        node = node[part]
    return node


def _description(path: str) -> str:
    *parents, name = path.split(".")
    model: Any = AppConfig
    for part in parents:
        model = model.model_fields[part].annotation
    return str(model.model_fields[name].description)


def _widget(at: AppTest, path: str) -> Any:
    key = f"bt_set__{path}"
    found = [w for kind in ("number_input", "selectbox") for w in at.get(kind) if w.key == key]
    assert len(found) == 1, (path, len(found))
    return found[0]


def _run_ids(data_dir: Path) -> set[str]:
    runs = catalog(data_dir / "backtests")
    return set(runs["run_id"]) if len(runs) else set()


def _refused(at: AppTest, data_dir: Path, before: set[str]) -> list[str]:
    assert not at.exception, at.exception
    assert _run_ids(data_dir) == before
    assert not at.success
    assert not at.get("progress")
    errors = [e.value for e in at.error]
    assert errors, "nothing was named"
    assert all(e.startswith("Not run: ") for e in errors), errors
    return errors


def test_the_new_inputs_show_the_config_defaults_and_the_schema_help(open_page: Opener) -> None:
    at = open_page("explorer")

    method = at.selectbox(key=METHOD_KEY)
    assert method.value == BASE["portfolio"]["construction"]["method"] == "as_is"
    assert method.options == list(get_args(ConstructionMethod))
    assert len(method.options) == 9
    assert method.proto.help == _description("portfolio.construction.method")
    for path in SHOWN_FOR_AS_IS:
        widget = _widget(at, path)
        assert widget.value == _base_value(path), path
        assert widget.proto.help == _description(path), path
    # ic feeds only the methods of expected returns: as_is does not show it.
    assert not [w for w in at.number_input if w.key == "bt_set__portfolio.construction.ic"]
    blank = _widget(at, "portfolio.constraints.max_weight")
    assert blank.value is None
    assert blank.proto.placeholder == "0.25 (risk.max_position_weight)"


def test_a_method_of_expected_returns_shows_its_ic(open_page: Opener) -> None:
    at = open_page("explorer")
    at.selectbox(key=METHOD_KEY).set_value("mean_variance").run()

    ic = _widget(at, "portfolio.construction.ic")
    assert ic.value == BASE["portfolio"]["construction"]["ic"] == 0.05
    notes = [c.value for c in at.caption if "gives scores" in c.value]
    assert notes == [f"{METHODS.get('mean_variance').summary} {NEEDS_SCORES}"]


def test_risk_parity_with_a_max_weight_reaches_the_stored_config(
    open_page: Opener, data_dir: Path
) -> None:
    at = open_page("explorer")
    before = _run_ids(data_dir)
    at.selectbox(key=METHOD_KEY).set_value("risk_parity").run()
    # Momentum holds about 100 names at about 1% each: a 0.5% cap binds on every one.
    _widget(at, "portfolio.constraints.max_weight").set_value(0.005)
    _widget(at, "portfolio.construction.lookback").set_value(40)
    _widget(at, "risk.stop_loss").set_value(0.1)
    at.button(key="run_backtest").click().run()

    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    (run_id,) = _run_ids(data_dir) - before
    assert at.selectbox(key="explorer_run").value == run_id
    stored = load_run(data_dir / "backtests", run_id)
    config = stored.config
    assert config["portfolio"]["construction"]["method"] == "risk_parity"
    assert config["portfolio"]["construction"]["lookback"] == 40
    assert config["portfolio"]["constraints"]["max_weight"] == 0.005
    assert config["risk"]["stop_loss"] == 0.1
    assert config["risk"]["take_profit"] is None  # left blank: off
    # The cap reached the run: at the close of its first rebalance every name is near 0.5%
    # (one session's open-to-close move aside), and the book is about half invested.
    first = stored.trades["date"].min()
    held = stored.positions[stored.positions["date"] == first]
    weights = held["value"].to_numpy() / stored.curve.loc[first, "equity"]
    assert len(weights) > 50
    assert 0.004 < np.median(weights) <= 0.005
    assert weights.max() < 0.005 * 1.1
    assert weights.sum() < 0.6


def test_mean_variance_on_a_strategy_without_scores_runs_nothing(
    open_page: Opener, data_dir: Path
) -> None:
    at = open_page("explorer")
    before = _run_ids(data_dir)
    at.selectbox(key="bt_strategy").set_value("sma_cross").run()
    at.selectbox(key=METHOD_KEY).set_value("mean_variance").run()
    at.button(key="run_backtest").click().run()

    (error,) = _refused(at, data_dir, before)
    assert "portfolio.construction.method=mean_variance" in error
    assert "scores" in error
    assert "sma_cross" in error


def test_bad_values_name_each_key_and_run_nothing(open_page: Opener, data_dir: Path) -> None:
    at = open_page("explorer")
    before = _run_ids(data_dir)
    _widget(at, "risk.stop_loss").set_value(1.5)
    _widget(at, "portfolio.constraints.max_gross").set_value(3.0)
    at.button(key="run_backtest").click().run()

    errors = _refused(at, data_dir, before)
    assert len(errors) == 2, errors
    (stop,) = [e for e in errors if "risk.stop_loss" in e]
    assert "1.5" in stop
    assert "less than 1" in stop
    (gross,) = [e for e in errors if "portfolio.constraints.max_gross" in e]
    assert "less than or equal to 2" in gross


def test_a_lookback_longer_than_the_period_allows_runs_nothing(
    open_page: Opener, data_dir: Path
) -> None:
    at = open_page("explorer")
    before = _run_ids(data_dir)
    at.selectbox(key=METHOD_KEY).set_value("inverse_vol").run()
    _widget(at, "portfolio.construction.lookback").set_value(400)
    at.button(key="run_backtest").click().run()

    (error,) = _refused(at, data_dir, before)
    assert "no session to trade" in error
    assert "portfolio.construction.lookback=400" in error


def test_a_setting_without_effect_is_noted_and_the_run_goes_ahead(
    open_page: Opener, data_dir: Path
) -> None:
    at = open_page("explorer")
    before = _run_ids(data_dir)
    _widget(at, "risk.on_breach").set_value("flat")
    at.date_input(key="bt_start__sp500-2010").set_value(dt.date(2010, 5, 3))
    at.button(key="run_backtest").click().run()

    assert not at.exception, at.exception
    assert not at.error
    assert [w.value for w in at.warning] == [
        "risk.on_breach=flat has no effect: neither risk.max_drawdown_frac nor "
        "risk.max_daily_loss_frac is set"
    ]
    (run_id,) = _run_ids(data_dir) - before
    assert load_run(data_dir / "backtests", run_id).config["risk"]["on_breach"] == "flat"
    assert np.isfinite(load_run(data_dir / "backtests", run_id).metrics["final_equity"])


def test_a_stored_model_named_as_a_factor_runs_and_a_rejected_one_is_refused(
    open_page: Opener, data_dir: Path
) -> None:
    import datetime as dt
    import json

    from tests.model_factories import refit, store_model

    good = store_model(
        data_dir, ["momentum_20", "reversal_5"], [refit(dt.date(2009, 9, 1), [0.5, -0.2])]
    )
    bad = store_model(
        data_dir, ["momentum_20"], [refit(dt.date(2009, 9, 1), [0.5])], status="rejected"
    )
    at = open_page("explorer")
    before = _run_ids(data_dir)
    at.selectbox(key="bt_strategy").set_value("multi_factor").run()
    factors = at.text_input(key="bt_param__multi_factor__factors")

    factors.set_value(json.dumps({f"model_{bad}": 1.0}))
    at.button(key="run_backtest").click().run()
    (error,) = _refused(at, data_dir, before)
    assert f"model {bad} was rejected" in error

    at.text_input(key="bt_param__multi_factor__factors").set_value(
        json.dumps({f"model_{good}": 1.0, "momentum_20": 0.5})
    )
    at.button(key="run_backtest").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    (run_id,) = _run_ids(data_dir) - before
    stored = load_run(data_dir / "backtests", run_id)
    assert stored.config["strategy"]["params"]["factors"] == {
        f"model_{good}": 1.0,
        "momentum_20": 0.5,
    }
    assert len(stored.trades) > 0
