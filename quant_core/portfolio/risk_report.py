"""The risk report of one book: ex-ante volatility, risk contributions, sectors, tail, stress.

The same report serves a backtest run (each rebalance's book, the last one in full) and the
live worker (the book it holds). Pinned definitions (issue 12, Must have 5), so that anyone can
check them. The book is ``w``, signed fractions of equity per symbol position
(:func:`book_weights`: ``shares x mark / equity``); the history is the close panel rows through
T-1 only (rows before ``t``).

* **Covariance** ``Sigma``: the daily covariance (``portfolio.construction.covariance``,
  :func:`~quant_core.portfolio.construction.covariance.estimate`) of the last ``lookback``
  simple returns through T-1 of the names held
  (:func:`~quant_core.portfolio.construction.base.trailing_returns`, ``portfolio.construction.
  lookback``). A held name without all of them is **left out** of ``Sigma``, of the volatility
  and of the contributions (named in ``left_out``); it still counts in the sector exposure, the
  VaR, the ES and the stress table.
* **Ex-ante volatility** ``sqrt(252 x w' Sigma w)`` (annualised by
  :data:`~quant_core.portfolio.policy.ANNUALISATION`), a fraction; 0 for an empty book.
* **Risk contribution** of name ``i``: ``w_i (Sigma w)_i / (w' Sigma w)``; they sum to 1 (all 0
  when ``w' Sigma w`` is 0). A **sector's** contribution is the sum over its names.
* **Sector exposure**, fractions of equity per sector: ``long`` the sum of the positive weights,
  ``short`` the sum of the negative ones (a negative number), ``gross = long - short``, ``net =
  long + short``. Sectors are ``MarketData.sectors``; a symbol without one (or data without
  them) is ``Unknown``.
* **VaR, ES and the stress table**: :mod:`quant_core.portfolio.risk_tail`.

Names are listed by absolute contribution, largest first (ties by symbol); sectors by gross
exposure, largest first (ties by name). Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quant_core.data.panels import MarketData
from quant_core.portfolio.construction import DEFAULT_LOOKBACK, trailing_returns
from quant_core.portfolio.construction.covariance import estimate
from quant_core.portfolio.policy import ANNUALISATION
from quant_core.portfolio.risk_tail import (
    STRESS_SESSIONS,
    VAR_LEVEL,
    VAR_SESSIONS,
    historical_tail,
    stress_sessions,
)

if TYPE_CHECKING:
    from quant_core.portfolio.policy import PortfolioPolicy

UNKNOWN_SECTOR = "Unknown"


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """How a book's risk is measured: the construction's covariance, and the tail's windows.

    Attributes
    ----------
    lookback
        Returns through T-1 the covariance reads (``portfolio.construction.lookback``).
    covariance
        ``sample`` or ``ledoit_wolf`` (``portfolio.construction.covariance``).
    var_sessions
        Session returns through T-1 that VaR and ES read. Default: 252.
    var_level
        Confidence of VaR and ES. Default: 0.95.
    stress_sessions
        Worst sessions of the data in the stress table. Default: 5.
    """

    lookback: int = DEFAULT_LOOKBACK
    covariance: str = "ledoit_wolf"
    var_sessions: int = VAR_SESSIONS
    var_level: float = VAR_LEVEL
    stress_sessions: int = STRESS_SESSIONS

    @classmethod
    def from_policy(cls, policy: PortfolioPolicy) -> RiskSettings:
        """Return the settings of the portfolio policy's construction (lookback, covariance)."""
        construction = policy.construction
        return cls(lookback=construction.lookback, covariance=construction.covariance)


@dataclass(frozen=True, slots=True)
class ExAnte:
    """Ex-ante volatility and each covered name's risk contribution, by symbol position."""

    vol: float  # annualised, a fraction
    names: np.ndarray  # symbol positions in the covariance
    contributions: np.ndarray  # per name of ``names``; they sum to 1 (or are all 0)
    left_out: np.ndarray  # held symbol positions without a full lookback of returns


@dataclass(frozen=True, slots=True)
class NameRisk:
    """One held name's weight (fraction of equity) and share of the book's variance."""

    symbol: str
    sector: str
    weight: float
    contribution: float


@dataclass(frozen=True, slots=True)
class SectorRisk:
    """One sector's exposure (fractions of equity) and share of the book's variance."""

    sector: str
    long: float
    short: float
    gross: float
    net: float
    contribution: float


@dataclass(frozen=True, slots=True)
class StressRow:
    """One of the worst sessions of the data: its universe return and the book's, fractions."""

    session: str  # ISO date
    universe_return: float
    book_return: float


@dataclass(frozen=True, slots=True)
class RiskReport:
    """The risk of one book (definitions in the module docstring); fractions of equity.

    ``var`` and ``es`` are None when the data hold too few sessions; ``var_sessions`` is how
    many they read. ``left_out`` names the held symbols outside the covariance.
    """

    ex_ante_vol: float
    var: float | None
    es: float | None
    var_sessions: int
    names: tuple[NameRisk, ...]
    sectors: tuple[SectorRisk, ...]
    stress: tuple[StressRow, ...]
    left_out: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready values (the keys are the field names)."""
        body: dict[str, Any] = asdict(self)
        body["left_out"] = list(self.left_out)
        return body


def book_weights(shares: np.ndarray, marks: np.ndarray, equity: float) -> np.ndarray:
    """Return ``shares x mark / equity`` per symbol position (0 where nothing is held).

    Raises
    ------
    ValueError
        ``equity`` is not a positive finite number, or a held name has no finite mark.
    """
    if not math.isfinite(equity) or equity <= 0:
        raise ValueError(f"weights need a positive equity, not {equity}")
    held = shares != 0
    if not np.isfinite(marks[held]).all():
        raise ValueError("a held name has no mark")
    return np.where(held, shares * np.where(held, marks, 0.0), 0.0) / equity


def sector_names(data: MarketData) -> np.ndarray:
    """Return each symbol's sector, ``Unknown`` where there is none (or no reference data)."""
    if data.sectors is None:
        return np.full(len(data.symbols), UNKNOWN_SECTOR, dtype=object)
    return np.array(
        [str(s) if isinstance(s, str) and s.strip() else UNKNOWN_SECTOR for s in data.sectors],
        dtype=object,
    )


def ex_ante(weights: np.ndarray, closes: np.ndarray, settings: RiskSettings) -> ExAnte:
    """Return the ex-ante volatility and risk contributions of ``weights`` (module docstring)."""
    held = np.flatnonzero(weights)
    returns, valid = trailing_returns(closes, settings.lookback, held)
    names, left_out = held[valid], held[~valid]
    if names.size == 0:
        return ExAnte(0.0, names, np.zeros(0), left_out)
    sigma = estimate(returns[:, valid], settings.covariance)
    w = weights[names]
    marginal = sigma @ w
    variance = float(w @ marginal)
    if variance <= 0.0:
        return ExAnte(0.0, names, np.zeros(names.size), left_out)
    vol = math.sqrt(ANNUALISATION * variance)
    return ExAnte(vol, names, w * marginal / variance, left_out)


def sector_exposure(weights: np.ndarray, sectors: np.ndarray) -> pd.DataFrame:
    """Return long, short, gross and net exposure per sector held (index ``sector``).

    ``sectors`` gives each symbol position's sector (:func:`sector_names`). Rows are the sectors
    of the names held, sorted by name; fractions of equity, ``short`` negative.
    """
    held = np.flatnonzero(weights)
    names, codes = np.unique(sectors[held].astype(str), return_inverse=True)
    w = weights[held]
    long = np.bincount(codes, np.maximum(w, 0.0), minlength=names.size)
    short = np.bincount(codes, np.minimum(w, 0.0), minlength=names.size)
    return pd.DataFrame(
        {"long": long, "short": short, "gross": long - short, "net": long + short},
        index=pd.Index(names, name="sector", dtype=object),
    )


def risk_report(
    weights: np.ndarray, data: MarketData, t: int, settings: RiskSettings
) -> RiskReport:
    """Return the risk report of ``weights`` held after the close of row ``t - 1``.

    Parameters
    ----------
    weights
        Signed fractions of equity per symbol position of ``data``.
    data
        The bars; only the close rows before ``t`` are read (through T-1).
    t
        The session the book faces (may be one past the data: a live book).
    settings
        Covariance, lookback and the tail's windows.
    """
    closes = data.panels["close"][:t]
    sectors = sector_names(data)
    risk = ex_ante(weights, closes, settings)
    contribution = np.zeros(len(weights))
    contribution[risk.names] = risk.contributions
    names = sorted(
        (
            NameRisk(str(data.symbols[i]), str(sectors[i]), float(weights[i]), float(c))
            for i, c in zip(risk.names, risk.contributions, strict=True)
        ),
        key=lambda n: (-abs(n.contribution), n.symbol),
    )
    exposure = sector_exposure(weights, sectors)
    held = np.flatnonzero(weights)
    by_sector = pd.Series(contribution[held], index=sectors[held].astype(str)).groupby(level=0)
    shares = by_sector.sum()
    rows = [
        SectorRisk(
            str(s),
            float(r["long"]),
            float(r["short"]),
            float(r["gross"]),
            float(r["net"]),
            float(shares.get(s, 0.0)),
        )
        for s, r in exposure.iterrows()
    ]
    rows.sort(key=lambda r: (-r.gross, r.sector))
    tail = historical_tail(weights, closes, settings.var_sessions, settings.var_level)
    stress = tuple(
        StressRow(str(pd.Timestamp(data.dates[s.row]).date()), s.universe_return, s.book_return)
        for s in stress_sessions(weights, closes, settings.stress_sessions)
    )
    return RiskReport(
        ex_ante_vol=risk.vol,
        var=tail.var,
        es=tail.es,
        var_sessions=tail.sessions,
        names=tuple(names),
        sectors=tuple(rows),
        stress=stress,
        left_out=tuple(str(data.symbols[i]) for i in risk.left_out),
    )
