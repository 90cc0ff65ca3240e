"""A seeded synthetic generator for scale tests, benchmarks and edge cases. Not real data.

Every dataset it makes is labelled SYNTHETIC (``DatasetMeta.synthetic``), and its symbols are
``SYN0000``, ``SYN0001``, ... so it cannot be mistaken for a real ticker.

The model, per session t and asset i (log returns)::

    r[t, i] = beta[i] * m[t] + s[t, sector(i)] + e[t, i]

with a market factor ``m``, ten sector factors ``s`` and idiosyncratic noise ``e``; each asset's
annual volatility is drawn from 15% to 60%. Each part is split into an overnight and an
intraday shock with ``OVERNIGHT_VARIANCE_SHARE`` of the variance overnight (measured 0.29-0.36 in
the real panels), so ``open[t] = close[t-1] * exp(overnight)`` and
``close[t] = open[t] * exp(intraday)``. High and low are the extremes of a Brownian bridge from
open to close, so high >= max(open, close) and low <= min(open, close) by construction. Volume is
lognormal and rises with the size of the move. A few bars (``missing_frac``) are removed, like
halts. The same seed always gives the same data.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd

from quant_core.calendar import TRADING_DAYS_PER_YEAR, TradingCalendar
from quant_core.data.sources.base import SOURCES, ProgressFn, SourceBatch, SourceRequest
from quant_core.data.warehouse import DatasetMeta
from quant_core.errors import ConfigError

logger = logging.getLogger(__name__)

OVERNIGHT_VARIANCE_SHARE = 0.3
SECTORS = 10
SECTOR_PREFIX = "Synthetic "  # sector k of the model is named "Synthetic k"
MARKET_VOL_ANNUAL = 0.16
SECTOR_VOL_ANNUAL = 0.10
DRIFT_ANNUAL = 0.06
DEFAULT_END = dt.date(2024, 12, 31)


def generate_bars(
    calendar: TradingCalendar,
    symbols: int,
    days: int,
    seed: int,
    end: dt.date = DEFAULT_END,
    missing_frac: float = 0.0005,
) -> pd.DataFrame:
    """Return ``symbols`` x ``days`` sessions of bars ending at ``end``, as a long frame."""
    if symbols < 1 or days < 2:
        raise ConfigError(f"synthetic data needs symbols >= 1 and days >= 2, got {symbols}, {days}")
    rng = np.random.default_rng(seed)
    sessions = calendar.last_sessions(days, end)
    vol, beta, sector = _draw_assets(rng, symbols)
    mkt_vol = MARKET_VOL_ANNUAL / np.sqrt(TRADING_DAYS_PER_YEAR)
    sec_vol = SECTOR_VOL_ANNUAL / np.sqrt(TRADING_DAYS_PER_YEAR)
    idio_vol = np.sqrt(np.maximum(vol**2 - (beta * mkt_vol) ** 2 - sec_vol**2, (0.3 * vol) ** 2))
    total_var = (beta * mkt_vol) ** 2 + sec_vol**2 + idio_vol**2
    drift = DRIFT_ANNUAL / TRADING_DAYS_PER_YEAR - total_var / 2

    def shocks(share: float) -> np.ndarray:
        scale = np.sqrt(share)
        market = rng.standard_normal((days, 1)) * mkt_vol * scale
        sectors = rng.standard_normal((days, SECTORS)) * sec_vol * scale
        idio = rng.standard_normal((days, symbols)) * idio_vol * scale
        return np.asarray(beta * market + sectors[:, sector] + idio + drift * share)

    overnight = shocks(OVERNIGHT_VARIANCE_SHARE)
    intraday = shocks(1 - OVERNIGHT_VARIANCE_SHARE)
    start = np.exp(rng.normal(np.log(40.0), 0.8, symbols))
    log_close = np.log(start) + np.cumsum(overnight + intraday, axis=0)
    log_open = log_close - intraday
    sigma = np.sqrt(total_var * (1 - OVERNIGHT_VARIANCE_SHARE))
    up = (
        intraday + np.sqrt(intraday**2 - 2 * sigma**2 * np.log(rng.uniform(size=intraday.shape)))
    ) / 2
    down = (
        intraday - np.sqrt(intraday**2 - 2 * sigma**2 * np.log(rng.uniform(size=intraday.shape)))
    ) / 2
    size = np.abs(overnight + intraday) / np.sqrt(total_var)
    base_volume = np.exp(rng.normal(np.log(1e6), 1.0, symbols))
    volume = np.round(base_volume * np.exp(0.4 * size + rng.normal(0, 0.3, (days, symbols))))
    keep = rng.uniform(size=(days, symbols)) >= missing_frac
    names = symbol_names(symbols)
    dates = np.repeat(sessions, symbols).reshape(days, symbols)
    frame = pd.DataFrame(
        {
            "date": dates.T[keep.T].astype("datetime64[s]"),
            "symbol": np.broadcast_to(names, (days, symbols)).T[keep.T],
            "open": np.exp(log_open).T[keep.T],
            "high": np.exp(log_open + up).T[keep.T],
            "low": np.exp(log_open + down).T[keep.T],
            "close": np.exp(log_close).T[keep.T],
            "volume": volume.T[keep.T],
        }
    )
    frame.attrs["synthetic"] = True
    return frame


def symbol_names(symbols: int) -> np.ndarray:
    """Return the generator's symbols: ``SYN0000``, ``SYN0001``, ..."""
    return np.array([f"SYN{i:04d}" for i in range(symbols)])


def generate_sectors(symbols: int, seed: int) -> pd.DataFrame:
    """Return the reference data of :func:`generate_bars` with the same ``symbols`` and ``seed``.

    The sector of each symbol is the sector factor its returns load on (``Synthetic 0`` to
    ``Synthetic 9``), drawn from the same random stream as the bars; the generator has no
    names and no industries.
    """
    _, _, sector = _draw_assets(np.random.default_rng(seed), symbols)
    return pd.DataFrame(
        {
            "symbol": symbol_names(symbols),
            "sector": [f"{SECTOR_PREFIX}{k}" for k in sector],
        }
    )


def _draw_assets(
    rng: np.random.Generator, symbols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # The first draws of the stream, in this order: the bars and the sectors share them.
    vol = rng.uniform(0.15, 0.60, symbols) / np.sqrt(TRADING_DAYS_PER_YEAR)
    beta = rng.uniform(0.5, 1.5, symbols)
    sector = rng.integers(0, SECTORS, symbols)
    return vol, beta, sector


class SyntheticSource:
    """The generator as a bar source (see the module docstring)."""

    def __init__(
        self, calendar: TradingCalendar, symbols: int = 500, days: int = 2520, seed: int = 7
    ) -> None:
        self.calendar = calendar
        self.symbols, self.days, self.seed = symbols, days, seed
        self.name = "synthetic"

    def load(self, progress: ProgressFn | None = None) -> SourceBatch:
        """Generate the bars."""
        logger.info(
            "Generating SYNTHETIC bars: %d symbols x %d sessions, seed %d",
            self.symbols,
            self.days,
            self.seed,
        )
        bars = generate_bars(self.calendar, self.symbols, self.days, self.seed)
        bars["_source"] = f"synthetic(seed={self.seed})"
        if progress is not None:
            progress("generate", 1, 1)
        meta = DatasetMeta(
            label=f"SYNTHETIC (seed {self.seed}): {self.symbols} symbols x {self.days} sessions, "
            "factor model, not real data",
            source=f"synthetic:seed={self.seed},symbols={self.symbols},days={self.days}",
            synthetic=True,
        )
        return SourceBatch(
            bars,
            meta,
            ohlc="reject",
            notes=("generated data, not real",),
            symbols=generate_sectors(self.symbols, self.seed),
        )


@SOURCES.register("synthetic")
def _from_request(request: SourceRequest) -> tuple[SyntheticSource, str]:
    try:
        count = int(request.symbols or 500)
    except ValueError:
        # --symbols is a list of tickers for other sources, so it arrives as text.
        raise ConfigError(
            f"--symbols must be a number for synthetic data, got {request.symbols!r}"
        ) from None
    source = SyntheticSource(request.calendar, count, request.days, request.seed)
    return source, request.dataset or "synthetic"
