"""One rebalance decision, shared by the backtest engine and the live worker.

Both drivers call the same functions, so a backtest and a replay through the worker make the
same orders by construction: the strategy call on a view through T-1, its weights checked
(what breaks the contract raises :class:`~quant_core.errors.StrategyError`), re-weighted by the
configured construction method (:mod:`quant_core.portfolio.construction`, from the closes
through T-1), held to the constraints of the policy (:mod:`quant_core.portfolio.policy`), and
the sizing of target shares. The schedule, which sessions decide, is
:mod:`quant_core.portfolio.schedule`; the first session able to decide, :func:`decision_warmup`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quant_core.data.panels import MarketData
from quant_core.errors import StrategyError
from quant_core.portfolio.constraints import apply_constraints
from quant_core.portfolio.construction import (
    Construction,
    Inputs,
    LeftOut,
    check_method,
    construct,
)
from quant_core.portfolio.ledger import Ledger, nan_to_zero
from quant_core.portfolio.policy import Binding, PortfolioPolicy
from quant_core.portfolio.sizing import target_shares
from quant_core.strategies.base import (
    STRATEGIES,
    DataView,
    PortfolioSnapshot,
    Strategy,
    StrategyContext,
)

WEIGHT_TOLERANCE = 1e-9
LEFT_OUT_NAMED = 5  # names left out by construction named in the warning line
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    """One rebalance decision: the orders, the target weights, and what shaped them.

    Attributes
    ----------
    orders
        Signed share orders per symbol position (target shares minus those held).
    weights
        Target weights per symbol position after construction and constraints.
    left_out
        Names the strategy weighted that construction left out, with the reason.
    binding
        Constraints that changed the weights, with what they did, in the order applied; first,
        ``Binding("fallback", reason)`` when the construction method failed and
        ``inverse_vol`` gave the weights instead.
    """

    orders: np.ndarray
    weights: np.ndarray
    left_out: tuple[LeftOut, ...] = ()
    binding: tuple[Binding, ...] = ()


def decision_warmup(strategy: Strategy[Any], policy: PortfolioPolicy) -> int:
    """Return how many sessions of history a decision needs before T: strategy and policy.

    The backtest's first rebalance and the worker replay's first session both come from this, so
    that the two start on the same session.
    """
    return max(strategy.warmup, policy.history)


def check_policy(strategy: Strategy[Any], policy: PortfolioPolicy) -> None:
    """Raise ``ConfigError`` naming the problem if ``policy`` cannot run on ``strategy``.

    Both drivers call this before anything runs (e.g. ``mean_variance`` with a strategy that
    gives no scores).
    """
    scored = [n for n in STRATEGIES.names() if STRATEGIES.get(n).gives_scores]
    check_method(policy.construction, strategy.name, strategy.gives_scores, scored)


def strategy_weights(
    strategy: Strategy[Any],
    data: MarketData,
    t: int,
    ledger: Ledger,
    equity: float,
    session: pd.Timestamp | None = None,
    universe: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Ask ``strategy`` for its picks at row ``t``; return weights and scores per position.

    The weights are checked; the scores (NaN where the strategy gave none) are None when the
    strategy gives no scores. ``universe`` (a sleeve's scanner at T, a bool per symbol): the
    strategy sees no bar of the symbols outside it, and a weight it still gives one is a
    :class:`StrategyError`.

    Raises
    ------
    StrategyError
        The strategy weighted an unknown symbol or one symbol twice, returned a non-finite
        weight, or asked for more than all of equity long or short.
    """
    snapshot = PortfolioSnapshot(ledger.cash, ledger.positions, data.symbol_index, equity)
    # Row t may be one past the data: a live decision for the session after the last close.
    session = pd.Timestamp(data.dates[t]) if session is None else session
    picks = strategy.decide(StrategyContext(DataView(data, t, universe), snapshot, session))
    given = picks.positional
    raw = picks.weights if given is None else given[0]
    weights = _by_position(raw, data, strategy.name)
    if not np.isfinite(weights).all():
        raise StrategyError(
            f"strategy {strategy.name} returned non-finite weights on {session.date()}"
        )
    if weights[weights < 0].sum() < -1 - WEIGHT_TOLERANCE:
        raise StrategyError(
            f"strategy {strategy.name} asked for {weights[weights < 0].sum():.4f} of equity short "
            f"on {session.date()}; the short side may not exceed -1"
        )
    if universe is not None and (outside := (weights != 0) & ~universe).any():
        names = [str(x) for x in data.symbols[outside][:5]]
        raise StrategyError(
            f"strategy {strategy.name} weighted {names} on {session.date()}, outside its "
            "sleeve's universe (it saw no bar of them)"
        )
    if isinstance(raw, pd.Series) and not raw.index.is_unique:
        raise StrategyError(f"strategy {strategy.name} weighted a symbol twice on {session.date()}")
    if weights[weights > 0].sum() > 1 + WEIGHT_TOLERANCE:
        raise StrategyError(
            f"strategy {strategy.name} asked for {weights[weights > 0].sum():.4f} of equity long "
            f"on {session.date()}; the long side may not exceed 1"
        )
    if given is not None:
        if given[1] is None:
            return weights, None
        scores = _positional(given[1], data, strategy.name, "scores")
    elif picks.scores is None:
        return weights, None
    else:
        scores = picks.scores.reindex(data.symbol_index).to_numpy(dtype=float)
    return weights, np.where(np.isfinite(scores), scores, np.nan)


def _by_position(raw: pd.Series | np.ndarray, data: MarketData, name: str) -> np.ndarray:
    """Return the weights per symbol position (a new array): by symbol, or given so."""
    if not isinstance(raw, pd.Series):
        return _positional(raw, data, name, "weights").copy()
    where = data.symbol_index.get_indexer(raw.index)
    if (where < 0).any():
        unknown = list(raw.index[where < 0][:5])
        raise StrategyError(f"strategy {name} weighted unknown symbols {unknown}")
    weights = np.zeros(len(data.symbols))
    weights[where] = raw.to_numpy(dtype=float)
    return weights


def _positional(values: np.ndarray, data: MarketData, name: str, what: str) -> np.ndarray:
    """Return ``values`` given per symbol position as floats; a wrong length is an error."""
    out = np.asarray(values, dtype=float)
    if out.shape != (len(data.symbols),):
        raise StrategyError(
            f"strategy {name} gave {what} of shape {out.shape} by position; the view has "
            f"{len(data.symbols)} symbols"
        )
    return out


def target_orders(
    strategy: Strategy[Any],
    data: MarketData,
    t: int,
    ledger: Ledger,
    marks: np.ndarray,
    cash_buffer: float,
    fractional: bool,
    session: pd.Timestamp | None = None,
    ended: np.ndarray | None = None,
    *,
    policy: PortfolioPolicy,
    universe: np.ndarray | None = None,
) -> Decision:
    """Decide session ``t``: strategy, checks, construction, constraints, sizing.

    The strategy's checked weights are re-weighted by ``policy.construction`` from the closes of
    rows before ``t`` only; the names it leaves out are logged (a warning naming the session,
    the method and the first few names), and so is a solver's fallback to ``inverse_vol``.

    The constructed weights are then held to ``policy.constraints``
    (:func:`quant_core.portfolio.constraints.apply_constraints`) against the current weights:
    held shares x ``marks`` / (equity x (1 - ``cash_buffer``)), the unit sizing reads, so that a
    name held at its target weighs exactly that. Each constraint that binds is logged once (an
    info line naming the session). A name whose constrained weight is its current weight
    (kept by the drift band, or by a turnover cap of zero) keeps its shares exactly.

    A symbol in ``ended`` (gone by :func:`quant_core.data.panels.gone_at`) cannot be held on:
    its target is zero, whatever the strategy says, sold in full whatever the drift band and the
    turnover cap, and its sale fills at its last close
    (:func:`quant_core.portfolio.ledger.fill_prices`).

    ``marks`` are the T-1 closes, a symbol without a T-1 bar keeping its last close.
    Without ``fractional``, orders are whole shares, toward zero: a fraction a broker account
    holds (dividends reinvested, a trade by hand) stays held, never ordered.
    ``universe``: a sleeve's scanner at T (:func:`strategy_weights`); a held name outside it
    has a target of zero, like any name the strategy does not weight.
    """
    equity = ledger.equity(marks)
    if equity <= 0:
        logger.warning("Equity is %.2f: no new positions; closing what is held", equity)
        zero = np.zeros(len(data.symbols))
        return Decision(np.asarray(-ledger.positions), zero)
    when = pd.Timestamp(data.dates[t]) if session is None else session
    weights, scores = strategy_weights(strategy, data, t, ledger, equity, when, universe)
    closes = data.panels["close"][:t]
    built = construct(Inputs(weights, scores, closes, policy.construction))
    if built.left_out:
        _report_left_out(built, data, policy.construction.method, when)
    binding: tuple[Binding, ...] = ()
    if built.fallback is not None:
        logger.warning(
            "Construction %s for %s failed and fell back to inverse_vol: %s",
            policy.construction.method,
            when.date(),
            built.fallback,
        )
        binding = (Binding("fallback", built.fallback),)  # it names the method
    current = current_weights(ledger.positions, marks, equity * (1.0 - cash_buffer))
    held = apply_constraints(built.weights, current, data.sectors, closes, policy, ended)
    for bound in held.binding:
        logger.info("Constraint %s bound for %s: %s", bound.constraint, when.date(), bound.detail)
    final = held.weights
    target = target_shares(final, equity, marks, cash_buffer, fractional)
    # Sizing a kept weight back to shares could round a share away: keep the shares instead.
    kept = (final == current) & (ledger.positions != 0)
    target[kept] = ledger.positions[kept]
    if ended is not None:
        target[ended] = 0.0
    orders = np.asarray(target - ledger.positions)
    if not fractional:  # whole shares even when the broker holds a fraction (a DRIP, by hand)
        orders = np.trunc(orders)
    return Decision(orders, final, built.left_out, binding + held.binding)


def current_weights(positions: np.ndarray, marks: np.ndarray, investable: float) -> np.ndarray:
    """Return held shares x ``marks`` / ``investable`` per symbol position (0 where none held).

    ``investable`` is equity x (1 - cash_buffer): the unit of the target weights.
    """
    out = np.zeros(positions.shape, dtype=float)
    held = np.flatnonzero(positions)
    out[held] = positions[held] * nan_to_zero(marks[held]) / investable
    return out


def _report_left_out(
    built: Construction, data: MarketData, method: str, session: pd.Timestamp
) -> None:
    named = ", ".join(
        f"{data.symbols[x.index]} ({x.reason})" for x in built.left_out[:LEFT_OUT_NAMED]
    )
    more = len(built.left_out) - LEFT_OUT_NAMED
    logger.warning(
        "Construction %s for %s left out %d name(s) the strategy weighted: %s%s",
        method,
        session.date(),
        len(built.left_out),
        named,
        f" and {more} more" if more > 0 else "",
    )
