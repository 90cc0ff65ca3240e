"""The run form's portfolio sections: fields from the schema, overrides, checks before a run."""

from __future__ import annotations

import pandas as pd
import pytest

from config import load_config
from config.schema import ConstraintsConfig, RiskConfig
from quant_core.cockpit.models import policy_form
from quant_core.portfolio.construction import METHODS
from quant_core.portfolio.policy import PortfolioPolicy

SESSIONS = pd.bdate_range("2009-01-02", periods=300).to_numpy()  # 300 sessions of dates


def _cfg(*overrides: str):
    return load_config("backtest", list(overrides), environ={})


def test_a_field_takes_its_help_from_the_schema_and_its_default_from_the_config() -> None:
    cfg = _cfg("risk.stop_loss=0.07")
    stop = policy_form.config_field(cfg, "risk.stop_loss")
    assert stop.spec.help == RiskConfig.model_fields["stop_loss"].description
    assert (stop.spec.kind, stop.spec.optional, stop.spec.default) == ("float", True, 0.07)
    assert stop.key == "bt_set__risk.stop_loss"
    assert stop.placeholder == "off"
    weight = policy_form.config_field(cfg, "portfolio.constraints.max_weight")
    assert weight.spec.default is None
    assert weight.spec.help == ConstraintsConfig.model_fields["max_weight"].description
    assert weight.placeholder == "0.25 (risk.max_position_weight)"
    breach = policy_form.config_field(cfg, "risk.on_breach")
    assert (breach.spec.kind, breach.spec.options, breach.spec.default) == (
        "choice",
        ("halt", "flat"),
        "halt",
    )
    halts = policy_form.config_field(cfg, "risk.halt_sessions")
    assert (halts.spec.kind, halts.spec.default, halts.step) == ("int", 5, 1)


def test_each_construction_setting_appears_once_where_it_is_used() -> None:
    cfg = _cfg()
    for method in policy_form.config_field(cfg, policy_form.METHOD).spec.options:
        sections = policy_form.sections(cfg, method)
        paths = [f.path for f in sections.fields]
        assert len(paths) == len(set(paths)), method
        shown = {f.path.rsplit(".", 1)[1] for f in sections.construction}
        entry = METHODS.items.get(method)
        if entry is not None:
            assert shown == set(entry.settings) & {"lookback", "covariance", "ic"}, method
        # The vol target reads lookback and covariance: they are always somewhere.
        assert {"portfolio.construction.lookback", "portfolio.construction.covariance"} <= set(
            paths
        )
    as_is = policy_form.sections(cfg, "as_is")
    assert as_is.construction == ()
    assert [f.path for f in as_is.vol_target] == [
        "portfolio.vol_target",
        "portfolio.construction.lookback",
        "portfolio.construction.covariance",
    ]


def test_the_overrides_load_into_the_config_the_form_shows() -> None:
    cfg = _cfg()
    fields = policy_form.sections(cfg, "inverse_vol").fields
    values = {
        policy_form.METHOD_KEY: "inverse_vol",
        "bt_set__portfolio.construction.lookback": 30,
        "bt_set__portfolio.constraints.max_weight": None,
        "bt_set__portfolio.constraints.sector_cap": 0.3,
        "bt_set__portfolio.vol_target": 0.12,
        "bt_set__risk.trailing_stop": 0.15,
        "bt_set__risk.on_breach": "flat",
    }
    overrides = policy_form.overrides(fields, values)
    assert "portfolio.construction.method=inverse_vol" in overrides
    assert "portfolio.constraints.max_weight=null" in overrides
    loaded = load_config("backtest", overrides, environ={})
    assert loaded.portfolio.construction.method == "inverse_vol"
    assert loaded.portfolio.construction.lookback == 30
    assert loaded.portfolio.constraints.sector_cap == 0.3
    assert loaded.portfolio.vol_target == 0.12
    assert loaded.risk.trailing_stop == 0.15
    assert loaded.risk.on_breach == "flat"
    assert loaded.risk.halt_sessions == 5  # not entered: the field's default, base.yaml's 5
    # A blank max weight is the worker's guard, risk.max_position_weight.
    assert PortfolioPolicy.from_config(loaded).constraints.max_weight == 0.25


def test_every_invalid_value_is_one_problem_naming_its_key() -> None:
    check = policy_form.check_run(
        ["risk.stop_loss=1.5", "portfolio.construction.lookback=1", "risk.take_profit=0.2"],
        SESSIONS,
    )
    assert len(check.problems) == 2, check.problems
    stop, lookback = sorted(check.problems)[::-1]
    assert stop.startswith("risk.stop_loss = 1.5")
    assert "less than 1" in stop
    assert lookback.startswith("portfolio.construction.lookback = 1")
    assert "greater than or equal to 2" in lookback


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (  # mean_reversion rolls its cohorts every session
            ["strategy.name=mean_reversion", "strategy.rebalance=21"],
            "strategy.rebalance=1",
        ),
        (  # 300 sessions cannot feed a 400-session lookback
            ["portfolio.construction.method=inverse_vol", "portfolio.construction.lookback=400"],
            "portfolio.construction.lookback=400",
        ),
        (  # nor a vol target over it, whatever the method
            ["portfolio.vol_target=0.1", "portfolio.construction.lookback=400"],
            "construction and vol target 401",
        ),
    ],
)
def test_a_combination_that_cannot_run_is_named(overrides: list[str], named: str) -> None:
    check = policy_form.check_run(overrides, SESSIONS)
    assert len(check.problems) == 1, check.problems
    assert named in check.problems[0]


def test_a_method_of_expected_returns_needs_a_strategy_that_gives_scores() -> None:
    needs = [name for name, m in METHODS.items.items() if m.needs_scores]
    assert needs, "no registered method needs scores"
    for method in needs:
        refused = policy_form.check_run(
            ["strategy.name=sma_cross", f"portfolio.construction.method={method}"], SESSIONS
        )
        assert len(refused.problems) == 1
        assert f"portfolio.construction.method={method}" in refused.problems[0]
        assert "sma_cross gives none" in refused.problems[0]
        fed = policy_form.check_run(
            ["strategy.name=momentum", f"portfolio.construction.method={method}"], SESSIONS
        )
        assert fed.problems == ()


def test_harmless_combinations_run() -> None:
    check = policy_form.check_run(
        [
            "portfolio.construction.method=as_is",
            "portfolio.vol_target=0.1",
            "portfolio.constraints.max_net=1.0",
            "portfolio.constraints.max_gross=0.5",
            "portfolio.constraints.sector_cap=0.05",
            "portfolio.constraints.max_weight=0.1",
        ],
        SESSIONS,
    )
    assert check == policy_form.RunCheck()


def test_settings_without_effect_are_noted() -> None:
    check = policy_form.check_run(
        ["risk.on_breach=flat", "portfolio.constraints.max_weight=0.3"], SESSIONS
    )
    assert check.problems == ()
    assert check.notes == (
        "risk.on_breach=flat has no effect: neither risk.max_drawdown_frac nor "
        "risk.max_daily_loss_frac is set",
        "portfolio.constraints.max_weight=0.3 is above risk.max_position_weight=0.25: "
        "orders are trimmed to the position limit at the execution prices, in the backtest and "
        "the worker alike",
    )
    limited = policy_form.check_run(["risk.on_breach=flat", "risk.max_drawdown_frac=0.2"], SESSIONS)
    assert limited == policy_form.RunCheck()
