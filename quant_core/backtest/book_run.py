"""A whole book backtest: load the warehouse, run the book engine, measure, store.

The book's account is measured and stored exactly as a plain run (:mod:`quant_core.backtest.run`:
the same metrics, round trips, risk frames and files), plus the book's own frames:

* ``sleeves.parquet``: each sleeve's equity at every close (one column per sleeve) and
  ``reserve``, the cash no sleeve holds; the columns sum to the account's equity;
* ``sleeve_trades.parquet``: each sleeve's part of each fill
  (:data:`~quant_core.backtest.book_engine.SLEEVE_TRADE_COLUMNS`);
* ``allocations.parquet``: one row per sleeve and allocation
  (:data:`~quant_core.backtest.book_engine.ALLOCATION_COLUMNS`);
* ``universe_<sleeve>.parquet`` for each sleeve with a scanner: the universe's size and
  turnover at each of its sessions;
* ``sleeves.json``: :func:`sleeve_summary` of each sleeve.

The run's summary row has ``strategy`` = ``book:<name>``, ``sleeves`` (the names, comma-joined)
and ``kind`` = ``book``; ``config.json`` holds the run config and the book (``book``).

A sleeve's return is time-weighted: its daily returns net of the cash the allocation moved in
or out (:func:`quant_core.book.capital.sleeve_returns`), compounded; its drawdown is that of the
compounded curve, so a transfer is neither a gain nor a loss.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from config.book_schema import BookConfig
from config.schema import AppConfig
from quant_core.analytics.trade_stats import gain_loss
from quant_core.backtest import metrics as m
from quant_core.backtest.benchmark import buy_and_hold, check_benchmark
from quant_core.backtest.book_engine import BookResult, run_book
from quant_core.backtest.book_trips import sleeve_round_trips
from quant_core.backtest.live_only import warn_live_only
from quant_core.backtest.records import event_counts
from quant_core.backtest.results import store_run
from quant_core.backtest.risk import run_risk
from quant_core.backtest.run import BacktestRun, engine_settings, load_market, trade_analysis
from quant_core.backtest.setup_text import costs_text, schedule_text
from quant_core.book.build import RESERVE
from quant_core.book.capital import sleeve_returns
from quant_core.book.sleeves import Book
from quant_core.book_setup import book_start, prepare_book
from quant_core.data.panels import MarketData
from quant_core.data.warehouse import Warehouse
from quant_core.portfolio.schedule import session_range
from quant_core.runs import config_digest, new_run_id
from quant_core.types import ProgressFn

logger = logging.getLogger(__name__)

SLEEVE_SUMMARY_COLUMNS = ("final_equity", "pnl", "total_return", "max_drawdown", "trades", "weight")

__all__ = [
    "SLEEVE_SUMMARY_COLUMNS",
    "BookRun",
    "last_weights",
    "run_book_backtest",
    "sleeve_flows",
    "sleeve_summary",
]


@dataclass(frozen=True, slots=True)
class BookRun:
    """A finished book run: the account as a plain run, the book's frames, each sleeve's figures.

    ``account`` has the run's id, folder, account metrics, round trips and trade statistics
    (the plain run's tables print it); ``sleeves`` is :func:`sleeve_summary`.
    """

    account: BacktestRun
    book: BookResult
    sleeves: pd.DataFrame


def sleeve_flows(result: BookResult) -> pd.DataFrame:
    """Return the cash each allocation moved into each sleeve (negative: out), by date.

    The flow at an allocation session T is the sleeve's new capital less its equity at the
    close of T-1 (the ``sleeves`` frame's row before T); zero on every other date.
    """
    equity = result.sleeves
    flows = pd.DataFrame(0.0, index=equity.index, columns=equity.columns)
    allocations = result.allocations
    if allocations.empty:
        return flows
    rows = equity.index.get_indexer(pd.DatetimeIndex(allocations["date"]))
    columns = equity.columns.get_indexer(pd.Index(allocations["sleeve"]))
    known = (rows > 0) & (columns >= 0)
    rows, columns = rows[known], columns[known]
    before = equity.to_numpy()[rows - 1, columns]
    values = flows.to_numpy(copy=True)
    values[rows, columns] = allocations["capital"].to_numpy(dtype=float)[known] - before
    return pd.DataFrame(values, index=equity.index, columns=equity.columns)


def last_weights(result: BookResult) -> pd.Series:
    """Return the weight of each sleeve at the last allocation (NaN before any), by sleeve name."""
    names = list(result.sleeves.columns)
    allocations = result.allocations
    if allocations.empty:
        return pd.Series(np.nan, index=names, dtype=float, name="weight")
    last = allocations[allocations["date"] == allocations["date"].max()]
    weights = pd.Series(
        last["weight"].to_numpy(dtype=float), index=pd.Index(last["sleeve"]), name="weight"
    )
    return weights.reindex(names)


def sleeve_summary(result: BookResult) -> pd.DataFrame:
    """Return one row per sleeve (index: its name) of :data:`SLEEVE_SUMMARY_COLUMNS`.

    ``final_equity``: its equity at the last close; ``pnl``: that less the net cash the
    allocations moved in; ``total_return``: ``prod(1 + r_t) - 1`` over its flow-adjusted daily
    returns ``r_t = E_t / (E_{t-1} + F_t) - 1`` (0 while it has no capital); ``max_drawdown``:
    the deepest fall (a negative fraction) of ``prod(1 + r)`` below its running peak;
    ``trades``: its attributed fills; ``weight``: its weight at the last allocation.
    """
    equity = result.sleeves
    flows = sleeve_flows(result)
    daily = np.nan_to_num(sleeve_returns(equity.to_numpy(), flows.to_numpy()))
    # A sleeve whose equity goes to zero or below is ruined: its growth stops at 0.
    ruin = np.maximum(1.0 + daily, 0.0)
    growth = np.vstack([np.ones((1, equity.shape[1])), np.cumprod(ruin, axis=0)])
    counts = result.sleeve_trades["sleeve"].value_counts()
    weights = last_weights(result)
    rows = {}
    for k, name in enumerate(equity.columns):
        curve = pd.Series(growth[:, k], index=equity.index)
        rows[name] = {
            "final_equity": float(equity[name].iloc[-1]),
            "pnl": float(equity[name].iloc[-1] - flows[name].sum()),
            "total_return": float(growth[-1, k] - 1.0),
            "max_drawdown": m.max_drawdown(curve)[0],
            "trades": int(counts.get(name, 0)),
            "weight": float(weights[name]),
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(SLEEVE_SUMMARY_COLUMNS))


def run_book_backtest(
    cfg: AppConfig,
    book_cfg: BookConfig,
    data: MarketData | None = None,
    progress: ProgressFn | None = None,
    store: bool = True,
    trips: bool = True,
) -> BookRun:
    """Run the book ``book_cfg`` over the configured dataset and store the results.

    Parameters
    ----------
    cfg
        The merged run config: ``portfolio``, ``costs``, ``risk``, ``backtest``, ``data`` (its
        ``strategy`` section is not used: each sleeve has its own).
    book_cfg
        The book (:func:`config.book_loader.load_book`).
    data
        Panels to use instead of reading ``data.dataset`` from the warehouse.
    progress
        ``progress(task, done, total)``.
    store
        Write the run under ``<data_dir>/backtests/`` (module docstring).
    trips
        Build the account's round trips and their statistics; a sweep, which reads the metrics
        only, skips them (as :func:`quant_core.backtest.run.run_backtest` does).

    Raises
    ------
    ConfigError
        A sleeve cannot be built (:func:`quant_core.book.build.build_book`).
    ModelNotReady
        A sleeve trades a stored model that cannot be had (exit 4), before any bar is read.
    """
    book = prepare_book(cfg, book_cfg)
    if data is None:
        data = load_market(Warehouse(cfg.paths.warehouse_location()), cfg.data.dataset)
    check_benchmark(data, cfg.backtest.benchmark)
    start, end = book_start(book, cfg.backtest.start, cfg.backtest.end), cfg.backtest.end
    settings = engine_settings(cfg)
    result = run_book(data, book, settings, start, end, progress)
    account = result.account
    benchmark = None
    if cfg.backtest.benchmark:
        first, last = session_range(data.dates, book.warmup, start, end)
        benchmark = buy_and_hold(
            data, first, last, cfg.backtest.initial_cash, cfg.backtest.benchmark
        )
    metrics = m.summary(account.curve, account.totals, benchmark)
    if cfg.risk.max_order_notional_usd is not None:  # read the trades only then
        warn_live_only(cfg.risk.max_order_notional_usd, account.trades)
    counts = event_counts(account.decisions)
    if settings.every_session or any(counts.values()):
        metrics |= counts
    round_trips, stats = pd.DataFrame(), dict[str, Any]()
    if trips or store:
        round_trips, stats = trade_analysis(account, data, cfg, metrics)
    sleeves = sleeve_summary(result)
    config = {**cfg.sanitized(), "book": book_cfg.model_dump(mode="json")}
    digest = config_digest(config)
    created = dt.datetime.now(dt.UTC)
    run_id = new_run_id(created, "book", book.name, digest[:8], random_hex=4)
    path = cfg.paths.data_dir / "backtests" / run_id
    if store:
        risk = run_risk(account, data, settings.policy)  # the account's, as a plain run's
        path = store_run(
            path.parent,
            run_id,
            _frames(result, benchmark)
            | {"round_trips": round_trips, "gain_loss": gain_loss(round_trips)}
            | {"sleeve_round_trips": sleeve_round_trips(result, data, cfg.risk.stop_loss)}
            | risk.frames(),
            metrics,
            {
                **config,
                "effective_params": {s.name: s.strategy.params.model_dump() for s in book.sleeves},
            },
            _summary(run_id, created, cfg, book, result, metrics, digest),
            documents={
                "risk": risk.report,
                "trade_stats": stats,
                "sleeves": sleeves.to_dict(orient="index"),
            },
        )
    logger.info(
        "Book %s backtest %s: final equity %.2f, %d trades, sleeves %s",
        book.name,
        run_id,
        metrics["final_equity"],
        metrics["trades"],
        ", ".join(f"{k} {v:,.2f}" for k, v in sleeves["final_equity"].items()),
    )
    run = BacktestRun(run_id, path, account, benchmark, metrics, round_trips, stats)
    return BookRun(run, result, sleeves)


def _frames(result: BookResult, benchmark: pd.Series | None) -> dict[str, pd.DataFrame]:
    account = result.account
    curve = account.curve.assign(benchmark=benchmark) if benchmark is not None else account.curve
    frames = {
        "equity": curve,
        "trades": account.trades,
        "positions": account.positions,
        "decisions": account.decisions,
        "sleeves": result.sleeves.assign(**{RESERVE: result.reserve}),
        "sleeve_trades": result.sleeve_trades,
        "allocations": result.allocations,
    }
    return frames | {f"universe_{name}": frame for name, frame in result.universes.items()}


def _summary(
    run_id: str,
    created: dt.datetime,
    cfg: AppConfig,
    book: Book,
    result: BookResult,
    metrics: dict[str, Any],
    digest: str,
) -> dict[str, Any]:
    curve = result.account.curve
    params = {s.name: {s.strategy.name: s.strategy.params.model_dump()} for s in book.sleeves}
    return {
        "run_id": run_id,
        "created_at": created.isoformat(timespec="seconds"),
        "strategy": f"book:{book.name}",
        "params": json.dumps(params, sort_keys=True, default=str),
        "dataset": cfg.data.dataset,
        "start": str(curve.index[0].date()),
        "end": str(curve.index[-1].date()),
        "config_sha256": digest,
        "initial_cash": float(cfg.backtest.initial_cash),
        "schedule": "; ".join(f"{s.name} {schedule_text(s.rebalance)}" for s in book.sleeves),
        "costs": costs_text(cfg.costs.model_dump()),
        "benchmark": cfg.backtest.benchmark,
        "sleeves": ",".join(book.names),
        "kind": "book",
        **{k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None},
    }
