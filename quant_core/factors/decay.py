"""How a factor's IC decays with the horizon, and its IC within each sector.

Pure: wide panels in (a ``DatetimeIndex`` of sessions x one column per symbol), numbers out; no
I/O, no clock. Forward returns, their timing and the Newey-West t are those of
:mod:`quant_core.factors.ic` (``R(T, h) = close(T+h) / close(T) - 1`` on row T, the factor the
value at the close of T); NaN rules those of :mod:`quant_core.factors.cross_section`: a symbol
counts on a session where both its factor value and its forward return are finite, a session
with fewer than ``min_pairs`` such symbols has no IC (NaN, never 0), and the rank IC ranks the
factor among those symbols only. Every number here is therefore equal to what
:func:`quant_core.factors.analysis.analyze_factor` gives at the same horizon (on a sector's
sub-panel, for :func:`ic_by_sector`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from quant_core.errors import ConfigError, DataError
from quant_core.factors.cross_section import (
    MIN_PAIRS,
    Method,
    align,
    check_positive,
    pearson_rows,
    rank_rows,
)
from quant_core.factors.ic import DEFAULT_HORIZON, forward_returns, summarize_ic

DECAY_HORIZONS = range(1, 22)  # 1..21 sessions: a day to about a month
DECAY_COLUMNS = ["horizon", "ic_mean", "rank_ic_mean", "sessions", "t"]
SECTOR_COLUMNS = ["sector", "names", "sessions", "ic_mean", "rank_ic_mean", "t"]
UNKNOWN_SECTOR = "Unknown"


def _daily_ics(
    fx: np.ndarray,
    fy: np.ndarray,
    min_pairs: int,
    factor_ranks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the per-session Pearson and Spearman IC of ``fx`` and ``fy`` (rows = sessions).

    ``factor_ranks``: ``rank_rows`` of ``fx`` over its finite cells, if already computed. It is
    reused on every row where each finite factor value also has a forward return (then the
    ranking among the valid pairs is the same); the other rows are ranked again among their
    valid pairs. Rows with fewer than ``max(min_pairs, 2)`` pairs get NaN without ranking.
    """
    finite_x = np.isfinite(fx)
    valid = finite_x & np.isfinite(fy)
    enough = valid.sum(axis=1) >= max(min_pairs, 2)
    if factor_ranks is None:
        rx = rank_rows(np.where(valid, fx, np.nan))
    else:
        rx = factor_ranks.copy()
        redo = (valid != finite_x).any(axis=1) & enough
        if redo.any():
            rx[redo] = rank_rows(np.where(valid[redo], fx[redo], np.nan))
    ry = np.full(fy.shape, np.nan)
    if enough.any():
        ry[enough] = rank_rows(np.where(valid[enough], fy[enough], np.nan))
    ic = pearson_rows(fx, fy, valid, min_pairs)
    rank_ic = pearson_rows(rx, ry, valid & enough[:, None], min_pairs)
    return ic, rank_ic


def _summary(ic: np.ndarray, rank_ic: np.ndarray, horizon: int, method: Method) -> list[float]:
    # mean IC, mean rank IC, sessions and Newey-West t (horizon - 1 lags) of ``method``'s series.
    pearson = summarize_ic(pd.Series(ic), horizon)
    spearman = summarize_ic(pd.Series(rank_ic), horizon)
    chosen = spearman if method == "spearman" else pearson
    return [pearson.mean, spearman.mean, chosen.sessions, chosen.t_stat]


def _check_method(method: str) -> Method:
    if method not in ("pearson", "spearman"):
        raise ConfigError(f"factor analysis: method must be pearson or spearman, got {method!r}")
    return "spearman" if method == "spearman" else "pearson"


def ic_decay(
    factor: pd.DataFrame,
    close: pd.DataFrame,
    horizons: Iterable[int] = DECAY_HORIZONS,
    method: str = "spearman",
    min_pairs: int = MIN_PAIRS,
) -> pd.DataFrame:
    """Return the mean IC and rank IC of ``factor`` against the forward return at each horizon.

    For each ``h`` in ``horizons``: the daily IC ``corr_symbols(F(T), R(T, h))``, Pearson and
    Spearman, over the sessions that have one; ``R(T, h) = close(T+h) / close(T) - 1``. The
    factor is ranked once and that ranking reused at every horizon on the sessions where the
    valid pairs are the factor's own valid cells (ranked again elsewhere), so each row equals
    :func:`~quant_core.factors.analysis.analyze_factor` at that horizon.

    Parameters
    ----------
    factor, close
        Sessions x symbols; aligned on their common sessions and symbols.
    horizons
        The horizons ``h`` in sessions, each >= 1, in the order wanted (default 1..21).
    method
        ``spearman`` (default) or ``pearson``: whose series gives ``sessions`` and ``t``.
    min_pairs
        Sessions with fewer valid (factor, forward return) pairs have no IC.

    Returns
    -------
    DataFrame
        One row per horizon: ``horizon``; ``ic_mean`` and ``rank_ic_mean`` (mean daily Pearson
        and Spearman IC, dimensionless); ``sessions`` (sessions with an IC); ``t`` (the mean IC
        of ``method`` over its Newey-West standard error with ``h - 1`` lags,
        :func:`~quant_core.factors.ic.summarize_ic`: neighbouring ``h``-session returns
        overlap by ``h - 1`` sessions).

    Raises
    ------
    ConfigError
        No horizon, a horizon < 1, or an unknown ``method``.
    """
    chosen = _check_method(method)
    wanted = [int(h) for h in horizons]
    if not wanted:
        raise ConfigError("factor analysis: ic_decay needs at least one horizon")
    for h in wanted:
        check_positive("horizon", h)
    x, _ = align(factor, close)
    fx = x.to_numpy(dtype=float)
    factor_ranks = rank_rows(np.where(np.isfinite(fx), fx, np.nan))
    rows = []
    for h in wanted:
        # Forward returns of the whole close panel, then aligned, as analyze_factor's: a factor
        # that ends early (or skips a session) keeps the returns of the closes after it.
        fy = align(factor, forward_returns(close, h))[1].to_numpy(dtype=float)
        ic, rank_ic = _daily_ics(fx, fy, min_pairs, factor_ranks)
        rows.append([h, *_summary(ic, rank_ic, h, chosen)])
    out = pd.DataFrame(rows, columns=DECAY_COLUMNS)
    return out.astype({"horizon": int, "sessions": int})


def ic_by_sector(
    factor: pd.DataFrame,
    close: pd.DataFrame,
    sectors: pd.Series,
    horizon: int = DEFAULT_HORIZON,
    method: str = "spearman",
    min_pairs: int = MIN_PAIRS,
) -> pd.DataFrame:
    """Return the mean IC and rank IC of ``factor`` computed within each sector.

    On each session, a sector's IC is the cross-sectional correlation of the factor and the
    ``horizon``-session forward return over that sector's own names only (the rank IC ranks
    them among themselves): it says whether the factor orders names within a sector, which a
    pooled IC driven by sector bets does not. A sector with fewer than ``min_pairs`` valid
    names on a session has no IC that session (NaN, left out of its mean); a sector that never
    has that many gets NaN means, 0 sessions and a NaN t. With the default ``min_pairs`` (20)
    small sectors therefore show nothing: lower it to see them, knowing that an IC over few
    names is noisy.

    Parameters
    ----------
    factor, close
        Sessions x symbols; aligned on their common sessions and symbols.
    sectors
        Symbol -> sector name. Symbols of the panel not in it, or with no sector (NaN or
        empty), are grouped as ``"Unknown"``.
    horizon
        ``h`` in sessions, >= 1.
    method
        ``spearman`` (default) or ``pearson``: whose series gives ``sessions`` and ``t``.
    min_pairs
        Fewest valid names a sector needs on a session for an IC.

    Returns
    -------
    DataFrame
        One row per sector with at least one symbol in the panel, sorted by sector name:
        ``sector``; ``names`` (its symbols in the panel); ``sessions``, ``ic_mean``,
        ``rank_ic_mean`` and ``t`` as in :func:`ic_decay`.

    Raises
    ------
    ConfigError
        ``horizon`` < 1 or an unknown ``method``.
    DataError
        ``sectors`` names a symbol twice.
    """
    chosen = _check_method(method)
    check_positive("horizon", horizon)
    x, y = align(factor, forward_returns(close, horizon))
    group = _sector_of(x.columns, sectors)
    fx, fy = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    rows = []
    for sector in sorted(set(group)):
        members = group == sector
        ic, rank_ic = _daily_ics(fx[:, members], fy[:, members], min_pairs)
        mean_ic, mean_rank, sessions, t = _summary(ic, rank_ic, horizon, chosen)
        rows.append([sector, int(members.sum()), sessions, mean_ic, mean_rank, t])
    out = pd.DataFrame(rows, columns=SECTOR_COLUMNS)
    return out.astype({"names": int, "sessions": int})


def _sector_of(symbols: pd.Index, sectors: pd.Series) -> np.ndarray:
    # Each symbol's sector as a string, "Unknown" where it has none.
    repeated = sectors.index[sectors.index.duplicated()]
    if len(repeated):
        raise DataError(
            f"ic_by_sector: sectors lists symbol(s) {sorted(map(str, set(repeated)))[:5]} "
            "more than once"
        )
    named = sectors.reindex(symbols)
    text = named.astype(object).where(named.notna(), UNKNOWN_SECTOR).astype(str).str.strip()
    return np.where(text == "", UNKNOWN_SECTOR, text).astype(str)
