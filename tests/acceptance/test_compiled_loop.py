"""The compiled loop gives the Python loop's backtest to the last bit, or is not taken.

Each run goes through :func:`run_engine` twice, compiled and not, on the real sp500-2010 panel
(partial sessions, symbols that leave and are sold at their last close) and on a synthetic one
with bars missing at random; curve, trades, positions and decisions must be equal exactly, and
so must the log lines. The settings cover what the compiled loop takes: both shortfall rules,
whole and fractional shares, both cost models, the position cap at the opens, the name, gross
and net constraints binding, cash so short that buys are truncated, schedules by count, week
and month. What it does not take (stops, another construction, the other constraints) runs the
Python loop.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quant_core.backtest.compiled_run import run_compiled, unsupported
from quant_core.backtest.engine import EngineResult, EngineSettings, run_engine
from quant_core.backtest.frames import trade_totals
from quant_core.backtest.run import load_market
from quant_core.calendar import get_calendar
from quant_core.data.panels import MarketData
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sources.synthetic import generate_bars
from quant_core.data.sync import sync
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.errors import StrategyError
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.halts import HaltRules
from quant_core.portfolio.policy import ConstraintSettings, PortfolioPolicy
from quant_core.portfolio.schedule import rebalance_rows, session_range
from quant_core.portfolio.stops import StopRules
from quant_core.strategies.base import Picks, StrategyContext, build_strategy
from quant_core.strategies.builtin.cross_sectional import Momentum, MomentumParams
from quant_core.strategies.decide import decision_warmup

pytestmark = pytest.mark.acceptance

PER_SHARE = CostModel(per_share_usd=0.005, min_per_order_usd=1.0, max_frac_of_value=0.01)
BPS = CostModel(commission_bps=2.0, slippage_bps=7.0)
FRAMES = ("curve", "trades", "positions", "decisions")


@pytest.fixture(scope="module")
def panels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MarketData]:
    root = tmp_path_factory.mktemp("compiled")
    warehouse = Warehouse(root / "warehouse")
    sync(SampleSource("sp500-2010"), warehouse, get_calendar("XNYS"), "sp500-2010")
    bars = generate_bars(get_calendar("XNYS"), 60, 700, seed=5, missing_frac=0.03)
    bars["adj_factor"] = 1.0
    bars["flags"] = 0
    warehouse.write_bars("gappy", bars, DatasetMeta("SYNTHETIC gaps", "synthetic", True))
    return {name: load_market(warehouse, name) for name in ("sp500-2010", "gappy")}


def _settings(**changes: Any) -> EngineSettings:
    base = EngineSettings(
        initial_cash=1_000_000.0,
        costs=PER_SHARE,
        max_position_weight=0.25,
        policy=PortfolioPolicy(constraints=ConstraintSettings(max_weight=0.25, cash_buffer=0.02)),
    )
    return replace(base, **changes)


def _limits(**changes: Any) -> PortfolioPolicy:
    return PortfolioPolicy(constraints=ConstraintSettings(**{"cash_buffer": 0.02, **changes}))


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # dataset-independent: strategy params, engine settings
    ("default", {"lookback": 60, "top_quantile": 0.2}, {}),
    ("broad weekly", {"lookback": 20, "top_quantile": 0.9}, {"rebalance": "weekly"}),
    ("monthly bps", {"lookback": 5, "top_quantile": 0.5}, {"rebalance": "monthly", "costs": BPS}),
    (
        "fractional sequential",
        {"lookback": 10, "top_quantile": 0.3},
        {"fractional": True, "shortfall": "sequential", "rebalance": 5},
    ),
    (
        "short cash, truncated",
        {"lookback": 20, "top_quantile": 0.5},
        {"initial_cash": 20_000.0, "cash_buffer": 0.0, "rebalance": 3},
    ),
    (
        "sequential short cash",
        {"lookback": 20, "top_quantile": 0.5},
        {"initial_cash": 20_000.0, "cash_buffer": 0.0, "shortfall": "sequential", "rebalance": 7},
    ),
    (
        "position cap trims",
        {"lookback": 40, "top_quantile": 0.02},
        {"max_position_weight": 0.05, "policy": _limits(max_weight=None), "rebalance": 4},
    ),
    (
        "names clipped, gross and net",
        {"lookback": 30, "top_quantile": 0.05},
        {"policy": _limits(max_weight=0.02, max_gross=0.3, max_net=0.2), "rebalance": 10},
    ),
    ("no caps", {"lookback": 15, "top_quantile": 0.1}, {"max_position_weight": None}),
]


def _both(data: MarketData, params: dict[str, Any], settings: EngineSettings) -> tuple[Any, ...]:
    strategy = build_strategy("momentum", params)
    runs: list[tuple[EngineResult, list[tuple[int, str]]]] = []
    for compiled in (True, False):
        with _Lines() as handler:
            result = run_engine(data, strategy, settings, compiled=compiled)
        runs.append((result, handler.lines))
    return runs[0], runs[1], strategy


class _Lines(logging.Handler):
    """The strategies' log lines, INFO and above (the constraints that bound among them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str]] = []

    def __enter__(self) -> _Lines:
        logger = logging.getLogger("quant_core")
        self.level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("quant_core")
        logger.removeHandler(self)
        logger.setLevel(self.level)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("quant_core.strategies"):
            self.lines.append((record.levelno, record.getMessage()))


@pytest.mark.parametrize("dataset", ["sp500-2010", "gappy"])
@pytest.mark.parametrize(("case", "params", "changes"), CASES, ids=[c[0] for c in CASES])
def test_the_compiled_loop_is_the_python_loop(
    panels: dict[str, MarketData],
    dataset: str,
    case: str,
    params: dict[str, Any],
    changes: dict[str, Any],
) -> None:
    data, settings = panels[dataset], _settings(**changes)
    (fast, fast_lines), (slow, slow_lines), strategy = _both(data, params, settings)
    # The metrics' totals, summed from the records before any frame is built, are the frame's.
    totals = fast.totals, slow.totals
    assert totals[0] == totals[1] == trade_totals(slow.trades) == trade_totals(fast.trades)
    assert fast.totals == totals[0]  # read again from the frame now built
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name), check_exact=True)
    assert fast.rebalances.equals(slow.rebalances)
    assert fast_lines == slow_lines
    if case == "names clipped, gross and net" and dataset == "sp500-2010":  # lines to compare
        assert {"max_weight", "max_gross", "max_net"} <= {t.split()[1] for _, t in slow_lines}
    # The compiled loop ran (it would give None, and the engine its own loop, if not).
    first, last = session_range(data.dates, decision_warmup(strategy, settings.policy), None, None)
    rows = rebalance_rows(data.dates, first, last, settings.rebalance)
    assert run_compiled(data, strategy, settings, first, last, rows) is not None
    assert len(slow.trades) > 0


def test_the_cases_reach_what_they_are_for(panels: dict[str, MarketData]) -> None:
    # Truncations, exits at the last close, trims and each constraint's record all happen.
    data = panels["sp500-2010"]
    seen: dict[str, set[str]] = {"status": set(), "constraint": set()}
    for _, params, changes in CASES:
        strategy = build_strategy("momentum", params)
        run = run_engine(data, strategy, _settings(**changes))
        seen["status"] |= set(run.trades["status"])
        seen["constraint"] |= set(run.decisions["name"][run.decisions["kind"] == "constraint"])
    gappy = run_engine(panels["gappy"], build_strategy("momentum", CASES[1][1]), _settings())
    seen["status"] |= set(gappy.trades["status"])
    assert {"filled", "truncated_cash", "exit_at_last_close", "rejected_no_price"} <= seen["status"]
    assert {"max_weight", "max_gross", "max_net", "max_position_weight"} <= seen["constraint"]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"stops": StopRules(stop_loss=0.1)}, "stops or account limits"),
        ({"halts": HaltRules(max_drawdown_frac=0.2)}, "stops or account limits"),
        ({"policy": PortfolioPolicy(ConstructionSettings(method="equal"))}, "construction equal"),
        ({"policy": _limits(sector_cap=0.3)}, "a sector cap or a volatility target"),
        ({"policy": _limits(vol_target=0.1)}, "a sector cap or a volatility target"),
        ({"policy": _limits(no_trade_band=0.01)}, "a drift band or a turnover cap"),
        ({"policy": _limits(max_turnover=0.5)}, "a drift band or a turnover cap"),
    ],
)
def test_what_the_compiled_loop_does_not_take_runs_the_python_loop(
    panels: dict[str, MarketData], changes: dict[str, Any], why: str
) -> None:
    settings = _settings(**changes)
    assert unsupported(settings) == why
    data, strategy = panels["gappy"], build_strategy("momentum", {"lookback": 10})
    rows = np.arange(20, 40)
    assert run_compiled(data, strategy, settings, 20, 60, rows) is None
    assert unsupported(_settings()) is None
    assert (
        run_compiled(data, build_strategy("mean_reversion", {}), _settings(), 20, 60, rows) is None
    )


class _TooLong(Momentum):
    """Momentum asking for 150% of equity long on its 3rd rebalance, at once or row by row."""

    when: pd.Timestamp

    def decide(self, context: StrategyContext) -> Picks:
        picks = super().decide(context)
        if context.session == self.when:
            weights = picks.weights * 1.5
            return Picks(weights)
        return picks

    def weights_at(self, data: MarketData, rows: np.ndarray) -> np.ndarray | None:
        out = super().weights_at(data, rows)
        assert out is not None
        out[rows == data.date_index.get_loc(self.when)] *= 1.5
        return out


def test_weights_out_of_bounds_are_left_to_the_python_loop(panels: dict[str, MarketData]) -> None:
    # It trades and logs the rebalances before the wrong one, then raises naming its session.
    data = panels["gappy"]
    settings = _settings(rebalance=10, policy=_limits(max_weight=0.02))
    strategy = _TooLong(MomentumParams(lookback=10, top_quantile=0.5))
    strategy.when = pd.Timestamp(data.dates[11 + 20])  # the 3rd rebalance
    first, last = session_range(data.dates, decision_warmup(strategy, settings.policy), None, None)
    rows = rebalance_rows(data.dates, first, last, settings.rebalance)
    assert run_compiled(data, strategy, settings, first, last, rows) is None
    errors, lines = [], []
    for compiled in (True, False):
        with _Lines() as handler, pytest.raises(StrategyError) as caught:
            run_engine(data, strategy, settings, compiled=compiled)
        errors.append(str(caught.value))
        lines.append(handler.lines)
    assert errors[0] == errors[1]
    assert lines[0] == lines[1]
    assert any("Constraint max_weight bound" in text for _, text in lines[0])
    assert "asked for 1.5000 of equity long on" in errors[0]
    assert "the long side may not exceed 1" in errors[0]


class _Contrarian(Momentum):
    """Momentum's losers: ``decide`` changed, ``weights_at`` (Momentum's) not."""

    def decide(self, context: StrategyContext) -> Picks:
        picks = super().decide(context)
        weights = picks.weights
        if weights.empty:
            return picks
        losers = context.view.symbols.difference(weights.index)
        return Picks(pd.Series(1.0 / len(losers), index=losers)) if len(losers) else picks


def test_a_subclass_that_decides_otherwise_runs_the_python_loop(
    panels: dict[str, MarketData],
) -> None:
    data, settings = panels["gappy"], _settings(rebalance=10)
    strategy = _Contrarian(MomentumParams(lookback=10, top_quantile=0.5))
    first, last = session_range(data.dates, decision_warmup(strategy, settings.policy), None, None)
    rows = rebalance_rows(data.dates, first, last, settings.rebalance)
    assert run_compiled(data, strategy, settings, first, last, rows) is None
    fast = run_engine(data, strategy, settings, compiled=True)
    slow = run_engine(data, strategy, settings, compiled=False)
    pd.testing.assert_frame_equal(fast.trades, slow.trades, check_exact=True)
    plain = run_engine(
        data, build_strategy("momentum", {"lookback": 10, "top_quantile": 0.5}), settings
    )
    assert set(fast.trades["symbol"][:5]) != set(plain.trades["symbol"][:5])


@pytest.mark.parametrize("field", ["max_weight", "max_net", "max_gross"])
def test_a_limit_that_is_not_a_number_runs_the_python_loop(field: str) -> None:
    # The config refuses NaN; the API does not, and NaN is the compiled loop's "no limit".
    settings = _settings(policy=_limits(**{field: float("nan")}))
    assert unsupported(settings) == "a limit that is not a finite number"
    assert unsupported(_settings(max_position_weight=float("nan"))) is not None
