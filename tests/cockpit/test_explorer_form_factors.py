"""The Explorer's run form, issue 14: multi_factor's factors as a picker with weights, not JSON.

The picker offers what the warehouse stores for the chosen dataset and the stored models fitted
on it; the defaults are the strategy's default factors that exist for the dataset; the picks and
their weights reach the stored run's params and run as the same mapping would from the config.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from config import load_config
from quant_core.backtest.run import run_backtest
from quant_core.calendar import TradingCalendar
from quant_core.cockpit.models import factor_picker as picker
from quant_core.data.sources.synthetic import SyntheticSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.factors.base import make_factor
from quant_core.factors.compute import compute_factors
from quant_core.research.model import ACCEPTED, REJECTED
from quant_core.strategies.builtin.cross_sectional import MultiFactorParams
from tests.cockpit.explorer_form_helpers import (
    DATASET,
    Opener,
    refused,
    run_ids,
    store_model_of,
    stored_run,
    submit,
    widget,
)

JSON_KEY = "bt_param__multi_factor__factors"
TOO_LONG = "(too long for the data)"


def _picks_key(dataset: str = DATASET) -> str:
    return f"bt_factors__multi_factor__{dataset}"


def _weight_key(name: str, dataset: str = DATASET) -> str:
    return f"bt_factor_weight__multi_factor__{dataset}__{name}"


def _multi_factor(open_page: Opener, dataset: str = DATASET) -> AppTest:
    at = open_page("explorer")
    if dataset != DATASET:
        at.selectbox(key="bt_dataset").set_value(dataset).run()
    at.selectbox(key="bt_strategy").set_value("multi_factor").run()
    assert not at.exception, at.exception
    return at


def test_the_picker_offers_the_stored_factors_with_defaults_fitted_to_the_dataset(
    open_page: Opener, data_dir: Path
) -> None:
    stored = Warehouse(data_dir / "warehouse").factor_store.names(DATASET)
    # The strategy's defaults: momentum_252_21 needs 274 sessions, sp500-2010 holds 245.
    assert make_factor("momentum_252_21").window == 274
    assert MultiFactorParams().factors == {"momentum_252_21": 1.0, "volatility_20": -0.5}
    assert "momentum_252_21" not in stored
    assert "volatility_20" in stored
    at = _multi_factor(open_page)

    picker = at.multiselect(key=_picks_key())
    assert picker.options == [
        *stored,
        f"momentum_252_21 {TOO_LONG}",
        f"dist_high_252 {TOO_LONG}",
    ]
    assert picker.value == ["volatility_20"]
    assert widget(at, _weight_key("volatility_20")).value == -0.5
    # The JSON field is an optional override now, blank: no raw mapping to edit by default.
    assert widget(at, JSON_KEY).value == ""
    assert not [w for w in at.text_input if str(w.value).startswith("{")]


def test_a_pick_gets_a_weight_and_one_too_long_for_the_data_is_named(
    open_page: Opener, data_dir: Path
) -> None:
    at = _multi_factor(open_page)
    before = run_ids(data_dir)
    at.multiselect(key=_picks_key()).select("momentum_252_21").run()

    assert widget(at, _weight_key("momentum_252_21")).value == 1.0  # its default weight
    assert [w.value for w in at.warning] == [
        "momentum_252_21: needs 274 sessions of history; sp500-2010 has 245"
    ]
    submit(at)
    (error,) = refused(at, data_dir, before)
    assert "no session to trade" in error
    assert "needs 274 sessions of history" in error


def test_picks_and_weights_reach_the_runs_params_and_run_as_the_config_would(
    open_page: Opener, data_dir: Path
) -> None:
    at = _multi_factor(open_page)
    before = run_ids(data_dir)
    at.multiselect(key=_picks_key()).set_value(["volatility_20", "rsi_14", "reversal_5"]).run()
    widget(at, _weight_key("volatility_20")).set_value(-1.0)
    widget(at, _weight_key("rsi_14")).set_value(0.7)
    widget(at, _weight_key("reversal_5")).set_value(-0.3)
    submit(at)

    run = stored_run(at, data_dir, before)
    wanted = {"volatility_20": -1.0, "rsi_14": 0.7, "reversal_5": -0.3}
    assert run.config["strategy"]["name"] == "multi_factor"
    assert run.config["strategy"]["params"]["factors"] == wanted
    assert run.config["effective_params"]["factors"] == wanted
    assert len(run.trades) > 50
    # The same mapping given as the config would give it: the same run, to the cent.
    cli = load_config(
        "backtest",
        [
            f"paths.data_dir={data_dir}",
            "strategy.name=multi_factor",
            f"strategy.params.factors={json.dumps(wanted)}",
        ],
        environ={},
    )
    same = run_backtest(cli, store=False)
    assert same.metrics["final_equity"] == pytest.approx(run.metrics["final_equity"], abs=0.005)
    assert same.metrics["trades"] == run.metrics["trades"]


def test_the_accepted_models_of_the_dataset_are_offered_and_run(
    open_page: Opener, data_dir: Path
) -> None:
    good = store_model_of(data_dir, DATASET, ["momentum_20", "reversal_5"], ACCEPTED)
    rejected = store_model_of(data_dir, DATASET, ["momentum_20"], REJECTED)
    elsewhere = store_model_of(data_dir, "wiki5", ["momentum_20"], ACCEPTED)
    at = _multi_factor(open_page)
    before = run_ids(data_dir)

    options = at.multiselect(key=_picks_key()).options
    assert f"model_{good} (stored model)" in options
    assert not [o for o in options if rejected in o or elsewhere in o]
    at.multiselect(key=_picks_key()).select(f"model_{good}").run()
    widget(at, _weight_key(f"model_{good}")).set_value(2.0)
    submit(at)

    run = stored_run(at, data_dir, before)
    assert run.config["strategy"]["params"]["factors"] == {
        "volatility_20": -0.5,
        f"model_{good}": 2.0,
    }
    assert len(run.trades) > 0


def test_no_pick_runs_nothing_and_says_so(open_page: Opener, data_dir: Path) -> None:
    at = _multi_factor(open_page)
    before = run_ids(data_dir)
    at.multiselect(key=_picks_key()).set_value([]).run()
    assert not [w for w in at.number_input if str(w.key).startswith("bt_factor_weight__")]
    submit(at)

    assert refused(at, data_dir, before) == [
        "Not run: multi_factor parameter factors: pick at least one factor (or type a mapping "
        "as JSON)"
    ]


def test_a_dataset_without_stored_factors_marks_them_with_the_command_that_computes_them(
    open_page: Opener, data_dir: Path, calendar: TradingCalendar
) -> None:
    warehouse = Warehouse(data_dir / "warehouse")
    sync(SyntheticSource(calendar, symbols=30, days=400, seed=5), warehouse, calendar, "synth")
    assert warehouse.factor_store.names("synth") == []
    at = _multi_factor(open_page, "synth")

    picker = at.multiselect(key=_picks_key("synth"))
    assert picker.options
    assert all(o.endswith(" (not computed)") for o in picker.options), picker.options
    # Nothing stored: the strategy's defaults whose window 400 sessions allow, both here.
    assert picker.value == ["momentum_252_21", "volatility_20"]
    assert widget(at, _weight_key("momentum_252_21", "synth")).value == 1.0
    assert widget(at, _weight_key("volatility_20", "synth")).value == -0.5
    command = "python run_factor_computation.py --dataset synth"
    assert [w.value for w in at.warning if "not computed" in w.value] == [
        f"{name}: not computed for synth: {command} --factors {name}"
        for name in ("momentum_252_21", "volatility_20")
    ]
    assert any(f"`{command}` computes the defaults" in c.value for c in at.caption)

    compute_factors(warehouse, "synth", ["volatility_20", "rsi_14"])
    again = _multi_factor(open_page, "synth")

    picker = again.multiselect(key=_picks_key("synth"))
    assert picker.options[:2] == ["rsi_14", "volatility_20"]  # stored: first, unmarked
    assert picker.value == ["volatility_20"]  # the one default stored for it


def test_the_picks_become_the_mapping_and_a_blank_weight_is_named() -> None:
    mapping, errors = picker.picked_factors(["rsi_14", "reversal_5"], {"rsi_14": 0.7})
    assert mapping == {"rsi_14": 0.7}
    assert errors == ["factors: the weight of reversal_5 is None; enter a number"]
    mapping, errors = picker.picked_factors(["rsi_14"], {"rsi_14": float("nan")})
    assert errors == ["factors: the weight of rsi_14 is nan; enter a number"]
    assert picker.picked_factors(["rsi_14", "x"], {"rsi_14": 0.0, "x": -2}) == (
        {"rsi_14": 0.0, "x": -2.0},
        [],
    )


def test_only_accepted_models_of_the_dataset_and_no_orphan_composite_are_offered() -> None:
    models = [
        {"model_id": "a-20240105T143000Z-1a2b", "status": ACCEPTED, "dataset": "d"},
        {"model_id": "b-20240105T143000Z-1a2b", "status": REJECTED, "dataset": "d"},
        {"model_id": "c-20240105T143000Z-1a2b", "status": ACCEPTED, "dataset": "e"},
    ]
    stored = [
        "rsi_14",
        "model_a-20240105T143000Z-1a2b",
        "model_b-20240105T143000Z-1a2b",  # its model was rejected
        "model_gone-20240105T143000Z-1a2b",  # its model is no longer stored
    ]
    options = picker.factor_options("d", stored, models, sessions=300)
    names = [o.name for o in options]
    assert names[:2] == ["rsi_14", "model_a-20240105T143000Z-1a2b"]
    assert not [n for n in names if "b-2024" in n or "c-2024" in n or "gone" in n]
    model = options[1]
    assert model.model
    assert model.stored
    assert picker.option_label(model) == "model_a-20240105T143000Z-1a2b (stored model)"
    # The defaults of run_factor_computation.py follow, marked: nothing else is stored for d.
    rest = {o.name: o for o in options[2:]}
    assert rest["momentum_252_21"].note == (
        "not computed for d: python run_factor_computation.py --dataset d --factors momentum_252_21"
    )
    assert rest["dist_high_252"].usable
