"""A backtest run's risk: sector exposure and ex-ante volatility over time, and the last book.

Computed after the run from the engine's positions (the book after each session that traded:
every rebalance, and with stops or account limits every session a stop or halt closed a
position) and the bars, by :mod:`quant_core.portfolio.risk_report` (its docstring pins every
definition):

* the book after the rebalance of session T (row ``t``) is ``w_i = value_i / equity``, its
  positions' values and the equity both at the close of T; its ex-ante volatility and sector
  exposure read the closes through T-1 (rows before ``t``), as the decision did;
* **realised volatility** is the sample standard deviation (``ddof=1``) of the last 63 daily
  returns of the equity curve (``equity[s] / equity[s-1] - 1``), times ``sqrt(252)``; NaN until
  63 returns exist; the **target** is ``portfolio.vol_target`` (NaN when there is none);
* the **last book's full report** (contributions, VaR and ES, stress table) is that of the book
  at the end of the run: the one after the last session that traded (``as_of``; later than the
  last rebalance, ``last_rebalance``, when a stop or halt closed a position after it), by the same
  definition as above; no report (null) when that session left the book flat.

Stored beside the run as ``risk_exposure.parquet`` (date, sector, long, short, gross, net: every
sector ever held, at every rebalance, 0 where nothing is held), ``risk_vol.parquet`` (date index:
realised, ex_ante at the rebalances and NaN between them, target) and ``risk.json`` (as_of,
last_rebalance, equity, settings, target, report). A run stored before the risk report has none
of them: :func:`load_risk` returns None.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_core.backtest.engine import EngineResult
from quant_core.data.panels import MarketData
from quant_core.portfolio.policy import ANNUALISATION, PortfolioPolicy
from quant_core.portfolio.risk_report import (
    RiskSettings,
    ex_ante,
    risk_report,
    sector_exposure,
    sector_names,
)

REALISED_WINDOW = 63  # sessions of daily equity returns behind the realised volatility
EXPOSURE_FILE, VOL_FILE, REPORT_FILE = "risk_exposure", "risk_vol", "risk"
EXPOSURE_COLUMNS = ("date", "sector", "long", "short", "gross", "net")
VOL_COLUMNS = ("realised", "ex_ante", "target")


@dataclass(frozen=True, slots=True)
class RunRisk:
    """A run's risk: sector exposure and volatility over time, and the last book's report."""

    exposure: pd.DataFrame  # EXPOSURE_COLUMNS, fractions of equity
    vol: pd.DataFrame  # date index: VOL_COLUMNS, annualised fractions
    report: dict[str, Any]  # risk.json: as_of, equity, settings, target, report

    def frames(self) -> dict[str, pd.DataFrame]:
        """Return the frames to store beside the run, by file name (without ``.parquet``)."""
        return {EXPOSURE_FILE: self.exposure, VOL_FILE: self.vol}


def realised_vol(equity: pd.Series, window: int = REALISED_WINDOW) -> pd.Series:
    """Return the rolling annualised volatility of daily equity returns (module docstring)."""
    returns = equity.astype(float).pct_change(fill_method=None)
    rolling = returns.rolling(window, min_periods=window).std(ddof=1)
    return (rolling * math.sqrt(ANNUALISATION)).rename("realised")


def _weights(result: EngineResult, data: MarketData, date: pd.Timestamp) -> np.ndarray:
    # The book after the trades of ``date``, as fractions of the equity at its close.
    positions = result.positions
    held = positions[pd.DatetimeIndex(positions["date"]) == date]
    weights = np.zeros(len(data.symbols))
    value = float(result.curve["equity"].loc[date])
    if len(held) and value > 0:
        index = data.symbol_index.get_indexer(pd.Index(held["symbol"], dtype=object))
        weights[index] = held["value"].to_numpy(dtype=float) / value
    return weights


def _books(result: EngineResult, data: MarketData) -> list[tuple[pd.Timestamp, int, np.ndarray]]:
    # (date, row, weights) per rebalance: the book after it, at the close of its session.
    rows = data.date_index.get_indexer(result.rebalances)
    return [
        (pd.Timestamp(date), int(t), _weights(result, data, pd.Timestamp(date)))
        for date, t in zip(result.rebalances, rows, strict=True)
    ]


def run_risk(result: EngineResult, data: MarketData, policy: PortfolioPolicy) -> RunRisk:
    """Return the risk of a finished run (module docstring)."""
    settings = RiskSettings.from_policy(policy)
    sectors = sector_names(data)
    closes = data.panels["close"]
    books = _books(result, data)
    held_sectors = sorted({str(sectors[i]) for _, _, w in books for i in np.flatnonzero(w)})
    frames = [
        sector_exposure(weights, sectors).reindex(held_sectors, fill_value=0.0)
        for _, _, weights in books
    ]
    dates = pd.DatetimeIndex(result.curve.index, name="date")
    ex_ante_vol = np.full(len(dates), np.nan)  # at the rebalances only
    for date, t, weights in books:
        ex_ante_vol[dates.get_loc(date)] = ex_ante(weights, closes[:t], settings).vol
    exposure = pd.DataFrame({c: pd.Series(dtype=float) for c in EXPOSURE_COLUMNS})
    if frames and held_sectors:
        values = np.concatenate([f.to_numpy() for f in frames])  # long, short, gross, net
        exposure = pd.DataFrame(
            {
                "date": pd.DatetimeIndex([d for d, _, _ in books]).repeat(len(held_sectors)),
                "sector": np.tile(np.array(held_sectors, dtype=object), len(books)),
                **dict(zip(EXPOSURE_COLUMNS[2:], values.T, strict=True)),
            }
        )
    target = policy.constraints.vol_target
    vol = pd.DataFrame(
        {
            "realised": realised_vol(result.curve["equity"]).to_numpy(),
            "ex_ante": ex_ante_vol,
            "target": np.nan if target is None else float(target),
        },
        index=dates,
    )
    return RunRisk(exposure, vol, _last_report(result, data, settings, target))


def _last_report(
    result: EngineResult,
    data: MarketData,
    settings: RiskSettings,
    target: float | None,
) -> dict[str, Any]:
    # The book at the end of the run: after the last session that traded (or rebalanced).
    document: dict[str, Any] = {
        "as_of": None,
        "last_rebalance": None,
        "equity": None,
        "settings": {**asdict(settings), "realised_window": REALISED_WINDOW},
        "target": target,
        "report": None,
    }
    sessions = pd.DatetimeIndex([*pd.DatetimeIndex(result.trades["date"]), *result.rebalances])
    if len(result.rebalances) and len(sessions):
        date = pd.Timestamp(sessions.max())
        weights = _weights(result, data, date)
        document["as_of"] = str(date.date())
        document["last_rebalance"] = str(pd.Timestamp(max(result.rebalances)).date())
        document["equity"] = float(result.curve["equity"].loc[date])
        if weights.any():
            t = int(data.date_index.get_indexer(pd.DatetimeIndex([date]))[0])
            document["report"] = risk_report(weights, data, t, settings).to_json()
    return document


def load_risk(folder: Path) -> RunRisk | None:
    """Return the risk stored in a run's ``folder``; None for a run stored without it."""
    paths = [folder / f"{EXPOSURE_FILE}.parquet", folder / f"{VOL_FILE}.parquet"]
    report = folder / f"{REPORT_FILE}.json"
    if not report.is_file() or not all(p.is_file() for p in paths):
        return None
    return RunRisk(
        exposure=pd.read_parquet(paths[0]),
        vol=pd.read_parquet(paths[1]),
        report=json.loads(report.read_text()),
    )
