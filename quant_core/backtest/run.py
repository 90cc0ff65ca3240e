"""A whole backtest run: load the warehouse, run the engine, measure, store."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from config.schema import AppConfig
from quant_core.analytics.round_trips import backtest_fills, round_trips
from quant_core.analytics.trade_stats import exposure_adjusted_return, gain_loss, trade_stats
from quant_core.backtest import metrics as m
from quant_core.backtest.benchmark import buy_and_hold, check_benchmark
from quant_core.backtest.engine import EngineResult, EngineSettings, run_engine
from quant_core.backtest.live_only import warn_live_only
from quant_core.backtest.records import event_counts
from quant_core.backtest.results import store_run
from quant_core.backtest.risk import run_risk
from quant_core.backtest.setup_text import costs_text, schedule_text
from quant_core.data.market import load_market as load_market
from quant_core.data.market import read_market as read_market
from quant_core.data.panels import MarketData, forward_fill
from quant_core.data.warehouse import Warehouse
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.halts import HaltRules
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.schedule import session_range
from quant_core.portfolio.stops import StopRules
from quant_core.research.attach import attach_model, first_session
from quant_core.research.model import ModelNotReady
from quant_core.research.model_factors import load_model_factors
from quant_core.runs import config_digest, new_run_id
from quant_core.strategies import build_strategy, check_schedule
from quant_core.strategies.decide import check_policy, decision_warmup
from quant_core.types import ProgressFn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """A finished run: its id, where it is stored, its numbers, its round trips and their stats."""

    run_id: str
    path: Path
    result: EngineResult
    benchmark: pd.Series | None
    metrics: dict[str, Any]
    round_trips: pd.DataFrame = field(default_factory=pd.DataFrame)
    trade_stats: dict[str, Any] = field(default_factory=dict)


def engine_settings(cfg: AppConfig) -> EngineSettings:
    """Return the engine settings of the ``portfolio``, ``costs``, ``strategy`` and ``risk`` config.

    The ``risk`` section gives the stops and the account limits (none unless set) and the
    position cap at the opens (``max_position_weight``).
    """
    return EngineSettings(
        initial_cash=cfg.backtest.initial_cash,
        cash_buffer=cfg.portfolio.cash_buffer,
        fractional=cfg.portfolio.fractional_shares,
        shortfall=cfg.portfolio.shortfall,
        costs=CostModel.from_config(cfg.costs),
        rebalance=cfg.strategy.rebalance,
        exit_after_missing=cfg.portfolio.exit_after_missing,
        policy=PortfolioPolicy.from_config(cfg),
        stops=StopRules.from_config(cfg.risk),
        halts=HaltRules.from_config(cfg.risk),
        max_position_weight=cfg.risk.max_position_weight,
    )


def end_marks(data: MarketData, curve: pd.DataFrame, symbols: pd.Series) -> pd.Series:
    """Return the last close through the run's last session of each of ``symbols``.

    The price the engine marks a position at (the close, forward-filled): the open round trips'
    mark, so their pnl sums with the closed trips' to the run's equity change.
    """
    last = int(np.searchsorted(data.dates, np.datetime64(curve.index[-1], "D")))
    wanted = pd.Index(pd.unique(symbols.astype(str)))
    columns = data.symbol_index.get_indexer(wanted)
    known = columns >= 0
    closes = forward_fill(data.panels["close"][: last + 1, columns[known]])
    return pd.Series(closes[-1] if len(closes) else [], index=wanted[known], dtype=float)


def trade_analysis(
    result: EngineResult, data: MarketData, cfg: AppConfig, metrics: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return the run's round trips and their statistics (``quant_core.analytics``).

    Open trips are marked at the last close (:func:`end_marks`); ``sessions`` counts the
    curve's sessions; R-multiples use ``risk.stop_loss``. The statistics gain
    ``exposure_adjusted_return = total_return / exposure`` (None when never invested).
    """
    fills = backtest_fills(result.trades)
    trips = round_trips(
        fills,
        marks=end_marks(data, result.curve, fills["symbol"]),
        mark_date=result.curve.index[-1],
        sessions=pd.DatetimeIndex(result.curve.index),
        stop_loss=cfg.risk.stop_loss,
    )
    stats: dict[str, Any] = dict(trade_stats(trips))
    stats["exposure_adjusted_return"] = exposure_adjusted_return(
        metrics.get("total_return"), metrics.get("exposure")
    )
    return trips, stats


def run_backtest(
    cfg: AppConfig,
    data: MarketData | None = None,
    progress: ProgressFn | None = None,
    store: bool = True,
    trips: bool = True,
) -> BacktestRun:
    """Run the configured strategy over the configured dataset and store the results.

    Parameters
    ----------
    cfg
        The merged config: ``strategy``, ``portfolio``, ``costs``, ``backtest``, ``data``.
    data
        Panels to use instead of reading ``data.dataset`` from the warehouse.
    progress
        ``progress(task, done, total)``.
    store
        Write the run under ``<data_dir>/backtests/``.
    trips
        Build the round trips and their statistics (:func:`trade_analysis`); a sweep, which
        reads the metrics only, skips them (``round_trips`` and ``trade_stats`` are then empty).
        A stored run always has them.

    A strategy that trades a stored model (``fitted``) starts no earlier than the session after
    its model's first refit (``research.attach.first_session``).

    Raises
    ------
    ModelNotReady
        The strategy trades a stored model and it cannot be had (none named, none stored under
        that id, rejected): a ``StrategyError`` (exit 4), before any bar is read.
    """
    # Stored models named as factors (model_<id>), so the strategy can build; or exit 4 here.
    load_model_factors(cfg.strategy.params, cfg.paths.data_dir)
    strategy = build_strategy(cfg.strategy.name, cfg.strategy.params)
    check_schedule(strategy, cfg.strategy.rebalance)
    check_policy(strategy, PortfolioPolicy.from_config(cfg))
    # A strategy that trades a stored model (fitted) gets it now, or the run stops here.
    if (refusal := attach_model(strategy, cfg.paths.data_dir)) is not None:
        raise ModelNotReady(refusal)
    if data is None:
        data = load_market(Warehouse(cfg.paths.warehouse_location()), cfg.data.dataset)
    check_benchmark(data, cfg.backtest.benchmark)  # a missing symbol: now, not after the run
    start, end = first_session(strategy, cfg.backtest.start, cfg.backtest.end), cfg.backtest.end
    settings = engine_settings(cfg)
    result = run_engine(data, strategy, settings, start, end, progress)
    benchmark = None
    if cfg.backtest.benchmark:
        warmup = decision_warmup(strategy, settings.policy)
        first, last = session_range(data.dates, warmup, start, end)
        cash, name = cfg.backtest.initial_cash, cfg.backtest.benchmark
        held = data.derived(  # the same for every run on these panels and dates: built once
            ("buy_and_hold", first, last, float(cash), name),
            lambda: buy_and_hold(data, first, last, cash, name),
        )
        benchmark = held.copy()
    metrics = m.summary(result.curve, result.totals, benchmark)
    if cfg.risk.max_order_notional_usd is not None:  # read the trades only then
        warn_live_only(cfg.risk.max_order_notional_usd, result.trades)
    counts = event_counts(result.decisions)
    if settings.every_session or any(counts.values()):  # the default run's metrics: unchanged
        metrics |= counts
    round_trips, stats = pd.DataFrame(), dict[str, Any]()
    if trips or store:
        round_trips, stats = trade_analysis(result, data, cfg, metrics)
    config = cfg.sanitized()
    digest = config_digest(config)
    created = dt.datetime.now(dt.UTC)
    run_id = new_run_id(created, strategy.name, digest[:8], random_hex=4)
    path = cfg.paths.data_dir / "backtests" / run_id
    if store:
        curve = result.curve.assign(benchmark=benchmark) if benchmark is not None else result.curve
        summary = {
            "run_id": run_id,
            "created_at": created.isoformat(timespec="seconds"),
            "strategy": strategy.name,
            "params": json.dumps(strategy.params.model_dump(), sort_keys=True),
            "dataset": cfg.data.dataset,
            "start": str(result.curve.index[0].date()),
            "end": str(result.curve.index[-1].date()),
            "config_sha256": digest,
            "initial_cash": float(cfg.backtest.initial_cash),
            "schedule": schedule_text(cfg.strategy.rebalance),
            "costs": costs_text(cfg.costs.model_dump()),
            "benchmark": cfg.backtest.benchmark,
            **{k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None},
        }
        risk = run_risk(result, data, settings.policy)  # stored beside the run
        path = store_run(
            path.parent,
            run_id,
            {
                "equity": curve,
                "trades": result.trades,
                "positions": result.positions,
                "decisions": result.decisions,
                "round_trips": round_trips,
                "gain_loss": gain_loss(round_trips),
            }
            | risk.frames(),
            metrics,
            {**config, "effective_params": strategy.params.model_dump()},
            summary,
            documents={"risk": risk.report, "trade_stats": stats},
        )
    logger.info(
        "Backtest %s: final equity %.2f, %d trades (%d truncated, %d unfilled)",
        run_id,
        metrics["final_equity"],
        metrics["trades"],
        metrics["truncated"],
        metrics["unfilled"],
    )
    return BacktestRun(run_id, path, result, benchmark, metrics, round_trips, stats)
