"""The engine's loop without stops, compiled: every rebalance of a run in one call.

:func:`run_loop` takes the steps :func:`quant_core.backtest.engine.drive` takes through
:class:`quant_core.backtest.engine.Replay` (gone symbols, orders, the cap at the opens, fills,
records, marks), each a kernel that gives the numpy code's numbers to the last bit
(:mod:`quant_core.portfolio.kernels_sizing`, :mod:`quant_core.portfolio.kernels`). The
strategy's weights for every rebalance come in as one matrix: a strategy that can give them
so (:meth:`quant_core.strategies.base.Strategy.weights_at`). What the Python loop records as
it goes (trades, positions, the constraints that bound) comes out as arrays;
:mod:`quant_core.backtest.compiled_run` turns them into the engine's result.
"""

from __future__ import annotations

import numpy as np

from quant_core.compiled import compiled
from quant_core.portfolio import kernels_sizing as ks
from quant_core.portfolio.kernels import execute, pairwise_sum

EXIT_AT_LAST_CLOSE = 3  # a trade's status code after kernels.FILLED .. REJECTED_NO_PRICE
RECORDS_AT_ONCE = 1 << 22  # record rows made room for at the start (4M: 288 MiB of trades)
TRADE_FLOATS = ("requested", "filled", "signal_price", "open_price", "exec_price", "commission")


@compiled
def _grow(a: np.ndarray, need: int) -> np.ndarray:
    # A 2-D record array with room for ``need`` rows: doubled when full.
    if need <= a.shape[0]:
        return a
    out = np.empty((max(need, 2 * a.shape[0]), a.shape[1]), dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@compiled
def _gather(panel: np.ndarray, rows: np.ndarray) -> np.ndarray:
    # panel[rows], row-major: read a column at a time (the panel's memory order, the pages of
    # one column together) instead of a row at a time (a page per symbol).
    out = np.empty((rows.size, panel.shape[1]))
    for j in range(panel.shape[1]):
        for i in range(rows.size):
            out[i, j] = panel[rows[i], j]
    return out


@compiled
def _side_sums(
    marks: np.ndarray, start: int, stop: int, side: np.ndarray, product: np.ndarray
) -> np.ndarray:
    # row_sums(marks[start:stop], side): each row's products (into ``product``, reused)
    # summed as numpy sums them. ``marks`` row-major.
    rows = stop - start
    out = np.empty(rows)
    for r in range(rows):
        for c in range(side.size):
            product[c] = marks[start + r, c] * side[c]
        out[r] = pairwise_sum(product)
    return out


@compiled
def _mark(
    marks: np.ndarray,
    start: int,
    stop: int,
    positions: np.ndarray,
    cash: float,
    curve: np.ndarray,
    at: int,
    product: np.ndarray,
) -> None:
    # Replay.revalue: equity, cash, long and short values at the closes start .. stop - 1.
    rows = stop - start
    longs = np.maximum(positions, 0.0)
    shorts = np.minimum(positions, 0.0)
    long_value = _side_sums(marks, start, stop, longs, product) if np.any(longs) else np.zeros(rows)
    short_value = (
        _side_sums(marks, start, stop, shorts, product) if np.any(shorts) else np.zeros(rows)
    )
    for r in range(rows):
        curve[at + r, 1] = cash
        curve[at + r, 2] = long_value[r]
        curve[at + r, 3] = short_value[r]
        curve[at + r, 0] = cash + long_value[r] + short_value[r]


@compiled
def run_loop(
    weights: np.ndarray,
    rows: np.ndarray,
    last: int,
    first: int,
    close: np.ndarray,
    raw_close: np.ndarray,
    opens: np.ndarray,
    marks: np.ndarray,
    first_bar: np.ndarray,
    gappy: np.ndarray,
    cash: float,
    settings: tuple[float, bool, int, float, bool, float, float, float],
    costs: tuple[float, float, float, float, float],
) -> tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]:
    """Trade the rebalance ``rows`` (``weights``: one row each) and mark to row ``last``.

    ``close`` forward-filled, ``raw_close`` as stored (gone symbols), ``marks`` forward-filled
    with NaN as 0 and row-major (a stretch's rows read whole: the panels are column-major).
    ``settings``: cash buffer, fractional, exit_after_missing, max_weight (NaN: none),
    sequential shortfall, max_gross, max_net, max_position_weight (NaN: none).
    ``costs``: slippage bps, then :attr:`quant_core.portfolio.costs.CostModel.rates`.

    Returns the curve (sessions x equity, cash, long, short, from the session before
    ``first``); the trades (rows x row, column, status) and (rows x the :data:`TRADE_FLOATS`);
    the positions after each rebalance (row, column) and (shares, close); per rebalance the
    equity at T-1, the names clipped, the gross and net scaled (NaN: not) and its side's scale;
    the trimmed orders (rebalance, column) and (before, after, price) with the equity at the
    opens per rebalance.
    """
    cash_buffer, fractional, missing, max_weight = (
        settings[0],
        settings[1],
        settings[2],
        settings[3],
    )
    sequential, max_gross, max_net, position_cap = (
        settings[4],
        settings[5],
        settings[6],
        settings[7],
    )
    slippage = costs[0]
    rates = (costs[1], costs[2], costs[3], costs[4])
    n = close.shape[1]
    count = rows.size
    curve = np.empty((last - first + 2, 4))
    curve[0, 0], curve[0, 1], curve[0, 2], curve[0, 3] = cash, cash, 0.0, 0.0
    # Room for every symbol at every rebalance (at most RECORDS_AT_ONCE rows, doubled when
    # full): pages the loop never writes are never touched, so never in memory.
    room = min(count * n, RECORDS_AT_ONCE)
    trade_ints = np.empty((room, 3), dtype=np.int64)
    trade_floats = np.empty((room, 6))
    held_ints = np.empty((room, 2), dtype=np.int64)
    held_floats = np.empty((room, 2))
    bound = np.full((count, 5), np.nan)  # equity, clipped, gross, net, scale
    trim_ints = np.empty((64, 2), dtype=np.int64)
    trim_floats = np.empty((64, 3))
    trim_equity = np.full(count, np.nan)
    trades = held = trims = 0
    positions = np.zeros(n)
    product = np.empty(n)  # a row's products of marks and shares (_side_sums)
    # The rows each rebalance reads, taken out of the column-major panels once.
    last_closes, open_rows, mark_rows = (
        _gather(close, rows - 1),
        _gather(opens, rows),
        _gather(marks, rows),
    )
    for i in range(count):
        t = rows[i]
        last_close, open_t = last_closes[i], open_rows[i]
        ended = ks.gone(raw_close, t, missing, first_bar, gappy)
        orders, equity, clipped, gross, net, scale = ks.target_orders(
            weights[i],
            positions,
            cash,
            last_close,
            cash_buffer,
            fractional,
            ended,
            (max_weight, max_gross, max_net),
        )
        bound[i, 0], bound[i, 1], bound[i, 2], bound[i, 3], bound[i, 4] = (
            equity,
            clipped,
            gross,
            net,
            scale,
        )
        if np.isfinite(position_cap):
            capped, at_opens, trimmed = ks.cap_orders(
                orders, positions, cash, open_t, last_close, position_cap, fractional
            )
            trim_equity[i] = at_opens
            trim_ints = _grow(trim_ints, trims + trimmed.size)
            trim_floats = _grow(trim_floats, trims + trimmed.size)
            for j in trimmed:
                trim_ints[trims, 0], trim_ints[trims, 1] = i, j
                trim_floats[trims, 0], trim_floats[trims, 1] = orders[j], capped[j]
                trim_floats[trims, 2] = open_t[j]
                trims += 1
            orders = capped
        prices, at_last_close = ks.fill_prices(open_t, last_close, ended, orders, positions)
        cash, positions, index, requested, filled, price, fees, status = execute(
            cash, positions, orders, prices, slippage, rates, sequential, fractional
        )
        trade_ints = _grow(trade_ints, trades + index.size)
        trade_floats = _grow(trade_floats, trades + index.size)
        for k in range(index.size):
            j = index[k]
            code = status[k]
            if at_last_close[j] and filled[k] != 0:
                code = EXIT_AT_LAST_CLOSE
            trade_ints[trades, 0], trade_ints[trades, 1], trade_ints[trades, 2] = t, j, code
            trade_floats[trades, 0], trade_floats[trades, 1] = requested[k], filled[k]
            trade_floats[trades, 2], trade_floats[trades, 3] = last_close[j], open_t[j]
            trade_floats[trades, 4], trade_floats[trades, 5] = price[k], fees[k]
            trades += 1
        holding = np.flatnonzero(positions)
        held_ints = _grow(held_ints, held + holding.size)
        held_floats = _grow(held_floats, held + holding.size)
        for j in holding:
            held_ints[held, 0], held_ints[held, 1] = t, j
            held_floats[held, 0], held_floats[held, 1] = positions[j], mark_rows[i, j]
            held += 1
        stop = rows[i + 1] if i + 1 < count else last + 1
        _mark(marks, t, stop, positions, cash, curve, t - first + 1, product)
    return (
        curve,
        trade_ints[:trades],
        trade_floats[:trades],
        held_ints[:held],
        held_floats[:held],
        bound,
        trim_ints[:trims],
        trim_floats[:trims],
        trim_equity,
        positions,
    )
