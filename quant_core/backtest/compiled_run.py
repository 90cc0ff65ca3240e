"""When and how a backtest runs through the compiled loop, and its result as the engine's.

:func:`run_compiled` runs :func:`quant_core.backtest.compiled_loop.run_loop` when the run needs
nothing it leaves out (:func:`unsupported`): no stops or account limits (checked every
session), the ``as_is`` construction, none of the sector cap, drift band, turnover cap or
volatility target, and a strategy that gives all its weights at once
(:meth:`quant_core.strategies.base.Strategy.weights_at`). Its result is the Python loop's to the
last bit: the same curve, trades, positions and decisions, the same log lines (the tests run
both on real and synthetic panels and compare them).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quant_core.backtest.compiled_loop import TRADE_FLOATS, run_loop
from quant_core.backtest.frames import Frames
from quant_core.backtest.records import DecisionLog, Records
from quant_core.compiled import compiled
from quant_core.data.panels import MarketData, gappy_columns
from quant_core.portfolio.bindings import clip_binding, gross_binding, net_binding
from quant_core.portfolio.kernels import pairwise_sum
from quant_core.portfolio.policy import Binding
from quant_core.portfolio.weight_cap import trim_binding
from quant_core.strategies.base import Strategy
from quant_core.strategies.decide import WEIGHT_TOLERANCE

if TYPE_CHECKING:  # the engine imports this module
    from quant_core.backtest.engine import EngineResult, EngineSettings

DECIDE_LOG = logging.getLogger("quant_core.strategies.decide")  # the Python loop's lines


def unsupported(settings: EngineSettings) -> str | None:
    """Return what keeps a run with ``settings`` off the compiled loop (None: nothing)."""
    limits, method = settings.policy.constraints, settings.policy.construction.method
    if settings.every_session:
        return "stops or account limits"
    cap, numbers = settings.max_position_weight, (limits.max_gross, limits.max_net)
    given = [x for x in (limits.max_weight, cap, *numbers) if x is not None]
    if not np.isfinite(given).all():  # the config refuses them; the API may be handed one
        return "a limit that is not a finite number"
    if method != "as_is":
        return f"construction {method}"
    if limits.sector_cap is not None or limits.vol_target is not None:
        return "a sector cap or a volatility target"
    if limits.no_trade_band > 0 or limits.max_turnover is not None:
        return "a drift band or a turnover cap"
    return None


@compiled
def _sides(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Per row: all finite, the short side's sum, the long side's (strategy_weights' sums).
    count = weights.shape[0]
    finite = np.ones(count, dtype=np.bool_)
    shorts, longs = np.zeros(count), np.zeros(count)
    for r in range(count):
        row = weights[r]
        finite[r] = np.isfinite(row).all()
        shorts[r] = pairwise_sum(row[row < 0])
        longs[r] = pairwise_sum(row[row > 0])
    return finite, shorts, longs


def in_bounds(weights: np.ndarray) -> bool:
    """Return whether every row passes :func:`quant_core.strategies.decide.strategy_weights`.

    Finite, the long side at most 1 and the short side at least -1 (its tolerance, its sums).
    A run with a row that does not is left to the Python loop, which trades the rebalances
    before it, logs them, and raises there, naming the session.
    """
    finite, shorts, longs = _sides(weights)
    wrong = ~finite | (shorts < -1 - WEIGHT_TOLERANCE) | (longs > 1 + WEIGHT_TOLERANCE)
    return not wrong.any()


def gives_weights_at_once(strategy: Strategy[Any]) -> bool:
    """Return whether ``strategy``'s ``weights_at`` is its own decisions' (module docstring).

    A subclass that changes ``decide`` or ``target_weights`` below the class that wrote
    ``weights_at`` (a contrarian momentum) decides otherwise than that ``weights_at`` says.
    """
    mro = type(strategy).__mro__

    def owner(name: str) -> type:
        return next(c for c in mro if name in c.__dict__)

    at_once = owner("weights_at")
    return issubclass(at_once, owner("decide")) and issubclass(at_once, owner("target_weights"))


def run_compiled(
    data: MarketData,
    strategy: Strategy[Any],
    settings: EngineSettings,
    first: int,
    last: int,
    rows: np.ndarray,
) -> EngineResult | None:
    """Return the run of ``rows`` through the compiled loop, or None when it cannot take it."""
    if unsupported(settings) is not None or not rows.size or not gives_weights_at_once(strategy):
        return None
    weights = strategy.weights_at(data, rows)
    if weights is None or not in_bounds(weights):
        return None
    limits, costs = settings.policy.constraints, settings.costs
    close, gappy = data.panels["close"], gappy_columns(data)
    cap = settings.max_position_weight
    out = run_loop(
        np.ascontiguousarray(weights, dtype=float),
        np.asarray(rows, dtype=np.int64),
        last,
        first,
        data.filled_close(),
        close,
        data.panels["open"],
        data.derived("marks_by_row", lambda: np.ascontiguousarray(data.marks())),
        data.first_bar().astype(np.int64),
        gappy.astype(np.int64),
        float(settings.initial_cash),
        (
            float(settings.cash_buffer),
            bool(settings.fractional),
            int(settings.exit_after_missing),
            np.nan if limits.max_weight is None else float(limits.max_weight),
            settings.shortfall == "sequential",
            float(limits.max_gross),
            float(limits.max_net),
            np.nan if cap is None else float(cap),
        ),
        (float(costs.slippage_bps), *costs.rates),
    )
    return _result(data, settings, first, last, rows, out)


def _result(
    data: MarketData,
    settings: EngineSettings,
    first: int,
    last: int,
    rows: np.ndarray,
    out: tuple[np.ndarray, ...],
) -> EngineResult:
    from quant_core.backtest.engine import EngineResult

    curve, trade_ints, trade_floats, held_ints, held_floats = out[:5]
    trades, held = Records(), Records()  # one batch each (the Python loop's, joined)
    trades.append(
        row=trade_ints[:, 0],
        col=trade_ints[:, 1],
        **{name: trade_floats[:, k] for k, name in enumerate(TRADE_FLOATS)},
        status_code=trade_ints[:, 2],
    )
    held.append(
        row=held_ints[:, 0], col=held_ints[:, 1], shares=held_floats[:, 0], close=held_floats[:, 1]
    )
    index = pd.DatetimeIndex(data.dates[first - 1 : last + 1], name="date")
    names = ("equity", "cash", "long_value", "short_value")
    frame = pd.DataFrame({name: curve[:, k].copy() for k, name in enumerate(names)}, index=index)
    return EngineResult(
        curve=frame,
        frames=Frames(data, trades, held),
        rebalances=pd.DatetimeIndex(data.dates[rows], name="date"),
        decisions=_decisions(data, settings, rows, out[5:9]).frame(data),
    )


def _decisions(
    data: MarketData, settings: EngineSettings, rows: np.ndarray, out: tuple[np.ndarray, ...]
) -> DecisionLog:
    # The Python loop's records and log lines, rebalance by rebalance, in its order.
    bound, trim_ints, trim_floats, trim_equity = out
    limits, log = settings.policy.constraints, DecisionLog()
    starts = np.searchsorted(trim_ints[:, 0], np.arange(rows.size + 1))
    for i, t in enumerate(rows):
        equity, clipped, gross, net, scale = bound[i]
        if equity <= 0:
            DECIDE_LOG.warning("Equity is %.2f: no new positions; closing what is held", equity)
            bindings: list[Binding] = []
        else:
            bindings = []
            if clipped > 0 and limits.max_weight is not None:
                bindings.append(clip_binding(int(clipped), limits.max_weight))
            if np.isfinite(gross):
                bindings.append(gross_binding(float(gross), limits.max_gross))
            if np.isfinite(scale):
                bindings.append(net_binding(float(net), limits.max_net, float(scale)))
        for found in bindings:
            when = pd.Timestamp(data.dates[t]).date()
            DECIDE_LOG.info("Constraint %s bound for %s: %s", found.constraint, when, found.detail)
            log.add(int(t), "constraint", found.constraint, found.detail)
        lo, hi = starts[i], starts[i + 1]
        if hi > lo and settings.max_position_weight is not None:
            cols = trim_ints[lo:hi, 1]
            before, after, prices = trim_floats[lo:hi].T
            found = trim_binding(
                data.symbols[cols],
                before,
                after,
                prices,
                settings.max_position_weight,
                float(trim_equity[i]),
            )
            log.add(int(t), "constraint", found.constraint, found.detail)
    return log
