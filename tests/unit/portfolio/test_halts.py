"""Account halts at the closes of a backtest: measured by the worker's function, by hand."""

from __future__ import annotations

import pytest

from config.schema import RiskConfig
from quant_core.portfolio.halts import AccountHalt, HaltRules
from quant_core.portfolio.risk import account_usage


def closes(rules: HaltRules, equity: list[float], start: float = 100.0):
    """Step the halt through closes at rows 1, 2, ...; return (state, event) after each."""
    halt, out = AccountHalt.start(start), []
    for t, value in enumerate(equity, start=1):
        halt, event = halt.close(rules, t, value)
        out.append((halt, event))
    return out


def test_a_drawdown_beyond_the_limit_halts_the_next_sessions() -> None:
    rules = HaltRules(max_drawdown_frac=0.1, halt_sessions=3)
    # Peak 110 at row 2; row 3 closes at 98: 10.9% below it (> 10%).
    steps = closes(rules, [105.0, 110.0, 98.0, 97.0, 100.0, 104.0, 105.0])

    assert [e is None for _, e in steps[:2]] == [True, True]
    halt, event = steps[2]
    assert event is not None
    assert event.name == "max_drawdown"
    assert event.tripped[0].usage == pytest.approx(1 - 98 / 110)
    assert not event.flatten
    assert not event.renewed
    assert [halt.halted(t) for t in range(4, 8)] == [True, True, True, False]
    # A breach while halted (row 4 at 97: 11.8% below the peak) does not lengthen the halt.
    assert steps[3][1] is None
    assert steps[4][1] is None
    # Row 6, the halt's last session, closes at 104 (5.5% below): trading again from row 7.
    resumed = steps[5][1]
    assert resumed is not None
    assert resumed.name == "resume"
    assert not resumed.tripped
    assert steps[6][1] is None


def test_a_limit_still_tripped_when_the_halt_runs_out_halts_again() -> None:
    rules = HaltRules(max_drawdown_frac=0.1, flattens=True, halt_sessions=2)
    steps = closes(rules, [80.0, 80.0, 80.0, 80.0, 80.0])  # a flat book 20% below its peak

    first, renewed = steps[0][1], steps[2][1]
    assert first is not None
    assert first.flatten
    assert not first.renewed
    assert renewed is not None
    assert renewed.renewed
    assert renewed.flatten
    assert steps[1][1] is None
    assert steps[3][1] is None
    assert steps[2][0].until == 3 + 2
    assert steps[4][1] is not None
    assert steps[4][1].renewed


def test_daily_loss_is_measured_against_the_previous_close() -> None:
    rules = HaltRules(max_daily_loss_frac=0.05, halt_sessions=1)
    # 100 -> 96 (-4%) -> 91 (-5.2% on 96; -9% on the start, which does not count).
    steps = closes(rules, [96.0, 91.0])

    assert steps[0][1] is None
    event = steps[1][1]
    assert event is not None
    assert event.name == "max_daily_loss"
    assert event.tripped[0].usage == pytest.approx(1 - 91 / 96)


def test_the_usage_is_the_workers_own_measure() -> None:
    # The heartbeat's call (live.risk_watch): the config, equity, the day's opening, the peak.
    cfg = RiskConfig(max_daily_loss_frac=0.05, max_drawdown_frac=0.1)
    rules = HaltRules.from_config(cfg)
    halt = AccountHalt(peak=120.0, previous=100.0)

    _, event = halt.close(rules, 1, 90.0)

    assert event is not None
    assert list(event.tripped) == account_usage(cfg, 90.0, 100.0, 120.0)
    assert [u.name for u in event.tripped] == ["max_daily_loss", "max_drawdown"]


def test_rules_from_the_risk_config() -> None:
    cfg = RiskConfig(max_drawdown_frac=0.25, on_breach="flat", halt_sessions=7)

    rules = HaltRules.from_config(cfg)

    assert (rules.max_daily_loss_frac, rules.max_drawdown_frac) == (None, 0.25)
    assert rules.flattens
    assert rules.halt_sessions == 7
    assert rules.active
    assert not HaltRules.from_config(RiskConfig()).active
