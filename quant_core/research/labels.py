"""Prediction targets (labels): what a signal at the close of a session earns afterwards.

Pure: wide bar panels in (sessions x symbols), one wide label panel out; no I/O, no clock.
Row ``d`` of a label is aligned with row ``d`` of the factors: features known at the close of
``d`` (T-1), the label what trading on them from the next open (T = ``d + 1``) earns. A label
reads rows after ``d`` only, through ``d + span`` (its ``span``); the last ``span`` rows of a
panel have none (NaN). The names, with ``h`` the horizon in sessions (1..252) and returns as
fractions (0.01 = 1 %):

``fwd_open_<h>`` (span ``h + 1``)
    ``open[d+1+h] / open[d+1] - 1``: enter at the next open, exit ``h`` sessions later at the
    open; what a signal at the close of ``d`` actually earns.
``fwd_close_<h>`` (span ``h``)
    ``close[d+h] / close[d] - 1``: close of T-1 to close of T-1+h (the textbook label; it
    assumes a fill at the very close the signal is computed from).
``fwd_open_<h>_demeaned`` (span ``h + 1``)
    ``fwd_open_<h>`` minus its row's cross-sectional mean over the symbols that have one.
``fwd_open_<h>_rank`` (span ``h + 1``)
    the row's percentile rank of ``fwd_open_<h>`` among the symbols that have one, in (0, 1]
    (``rank(axis=1, pct=True, method="average")``: ties share their mean rank).
``fwd_open_<h>_volnorm`` (span ``h + 1``)
    ``fwd_open_<h> / (sigma[d] * sqrt(h))``, the forward return in units of its expected spread.
``sign_fwd_open_<h>`` (span ``h + 1``)
    ``sign(fwd_open_<h>)``: -1, 0 or +1.
``triple_barrier_<h>`` (span ``h``)
    Enter at ``P0 = open[d+1]``; profit-take ``upper = P0 * (1 + BARRIER_MULT * sigma[d])``,
    stop ``lower = P0 * (1 - BARRIER_MULT * sigma[d])``, time limit ``h`` bars. Scan the bars
    ``d+1 .. d+h`` in order: +1 if a bar's high reaches ``upper`` (``high >= upper``) first,
    -1 if a bar's low reaches ``lower`` (``low <= lower``) first, 0 if neither by bar ``d+h``.
    **Tie rule** (daily bars cannot say which barrier came first inside one bar): if the bar's
    open is already at or beyond a barrier (a gap through it; bar ``d+1`` opens at ``P0``, so
    never), that barrier decides; otherwise a bar touching both gives -1, the stop (the
    conservative reading: assume the loss came first).

``sigma[d]`` (``trailing_vol``) is the sample standard deviation (ddof=1) of the ``VOL_WINDOW``
(20) close-to-close simple returns ``close[t] / close[t-1] - 1``, ``t = d-19 .. d``, with at
least ``VOL_MIN_OBS`` (16) of them known (rows before the panel's first count as unknown), and
NaN otherwise or where it is not positive (a flat price has no volatility to scale by). It reads
rows ``d - 20 .. d`` only.

Missing data gives NaN, never a guess: a label is NaN where any price it reads is missing
(``fwd_open``: both opens; ``fwd_close``: both closes; ``_volnorm`` and ``triple_barrier`` also
``sigma[d]``; ``triple_barrier`` the entry open and the high and low of every bar ``d+1 .. d+h``,
and the open of a bar touching both barriers, which the tie rule needs). The cross-sectional
labels use only the symbols with a value on that row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.errors import ConfigError, DataError

KINDS = (
    "fwd_open",
    "fwd_close",
    "fwd_open_demeaned",
    "fwd_open_rank",
    "fwd_open_volnorm",
    "sign_fwd_open",
    "triple_barrier",
)
_PATTERN = re.compile(
    r"^(?:(?P<sign>sign_)fwd_open_(?P<h1>\d+)"
    r"|fwd_open_(?P<h2>\d+)(?:_(?P<suffix>demeaned|rank|volnorm))?"
    r"|fwd_close_(?P<h3>\d+)"
    r"|triple_barrier_(?P<h4>\d+))$"
)
MAX_HORIZON = 252
BARRIER_MULT = 2.0  # the triple barrier's half-width, in multiples of sigma[d]
VOL_WINDOW = 20  # sigma[d]: the close-to-close returns it reads
VOL_MIN_OBS = 16  # ... and how many of them must be known


@dataclass(frozen=True, slots=True)
class Label:
    """A parsed label name: its kind, horizon ``h`` and span (the last row after ``d`` it reads).

    ``span``: ``fwd_open*`` and ``sign_fwd_open`` read the open of ``d + 1 + h`` (span
    ``h + 1``); ``fwd_close`` the close of ``d + h`` (span ``h``); ``triple_barrier`` the bars
    ``d + 1 .. d + h`` (span ``h``).
    """

    name: str
    kind: str
    horizon: int

    @property
    def span(self) -> int:
        """Return how many rows after its own the label reads."""
        return self.horizon if self.kind in {"fwd_close", "triple_barrier"} else self.horizon + 1


def parse_label(name: str) -> Label:
    """Return the label ``name`` names.

    Raises
    ------
    ConfigError
        ``name`` is not a label name, or its horizon is not 1..252 (the message lists them).
    """
    match = _PATTERN.match(name)
    if match is None:
        raise ConfigError(
            f"unknown label {name!r}; labels: fwd_open_<h>, fwd_close_<h>, "
            "fwd_open_<h>_demeaned, fwd_open_<h>_rank, fwd_open_<h>_volnorm, "
            "sign_fwd_open_<h>, triple_barrier_<h> (h in sessions)"
        )
    groups = match.groupdict()
    if groups["h1"] is not None:
        kind, h = "sign_fwd_open", groups["h1"]
    elif groups["h2"] is not None:
        suffix = groups["suffix"]
        kind, h = ("fwd_open" if suffix is None else f"fwd_open_{suffix}"), groups["h2"]
    elif groups["h3"] is not None:
        kind, h = "fwd_close", groups["h3"]
    else:
        kind, h = "triple_barrier", groups["h4"]
    horizon = int(h)
    if not 1 <= horizon <= MAX_HORIZON:
        raise ConfigError(f"label {name!r}: the horizon must be 1..{MAX_HORIZON}, got {horizon}")
    return Label(name, kind, horizon)


_NEEDS: dict[str, tuple[str, ...]] = {
    "fwd_open": ("open",),
    "fwd_close": ("close",),
    "fwd_open_demeaned": ("open",),
    "fwd_open_rank": ("open",),
    "fwd_open_volnorm": ("open", "close"),
    "sign_fwd_open": ("open",),
    "triple_barrier": ("open", "high", "low", "close"),
}


def trailing_vol(
    close: pd.DataFrame, window: int = VOL_WINDOW, min_obs: int = VOL_MIN_OBS
) -> pd.DataFrame:
    """Return ``sigma[d]``: the sample std (ddof=1) of the ``window`` returns ending at ``d``.

    Returns are simple close-to-close, ``close[t] / close[t-1] - 1`` (a fraction per session),
    for ``t = d - window + 1 .. d``; NaN where fewer than ``min_obs`` of them are known or the
    deviation is not positive. Each window is summed on its own (two passes: mean, then squared
    deviations), so ``sigma[d]`` depends on rows ``d - window .. d`` only, bit for bit.

    Raises
    ------
    ConfigError
        ``min_obs`` is not in ``2 .. window``.
    """
    if not 2 <= min_obs <= window:
        raise ConfigError(f"trailing_vol: min_obs must be 2..window ({window}), got {min_obs}")
    returns = (close / close.shift(1) - 1).to_numpy(dtype=float)
    n = len(returns)
    padded = np.vstack([np.full((window - 1, returns.shape[1]), np.nan), returns])
    blocks = [padded[k : k + n] for k in range(window)]
    valid = [np.isfinite(block) for block in blocks]
    count = np.sum(valid, axis=0)
    total = np.zeros(returns.shape)
    for block, ok in zip(blocks, valid, strict=True):
        total += np.where(ok, block, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        squares = np.zeros(returns.shape)
        for block, ok in zip(blocks, valid, strict=True):
            squares += np.where(ok, (block - mean) ** 2, 0.0)
        sigma = np.sqrt(squares / (count - 1))
    sigma[(count < min_obs) | ~(sigma > 0)] = np.nan
    return pd.DataFrame(sigma, index=close.index, columns=close.columns)


def forward_open_return(open_: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Return ``open[d+1+h] / open[d+1] - 1`` on row ``d`` (``fwd_open_<h>``)."""
    value: pd.DataFrame = open_.shift(-(1 + horizon)) / open_.shift(-1) - 1
    return value


def forward_close_return(close: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Return ``close[d+h] / close[d] - 1`` on row ``d`` (``fwd_close_<h>``)."""
    value: pd.DataFrame = close.shift(-horizon) / close - 1
    return value


def _ahead(values: np.ndarray, k: int) -> np.ndarray:
    # Row d holds row d + k of `values` (NaN past the end).
    out = np.full(values.shape, np.nan)
    if k < len(values):
        out[: len(values) - k] = values[k:]
    return out


def triple_barrier(
    bars: Mapping[str, pd.DataFrame],
    sigma: pd.DataFrame,
    horizon: int,
    mult: float = BARRIER_MULT,
) -> pd.DataFrame:
    """Return the triple-barrier label (module docstring) from ``open``, ``high``, ``low``.

    ``sigma`` is ``sigma[d]`` (``trailing_vol``), aligned with the bars; ``mult`` the barriers'
    half-width in multiples of it. Values are -1.0, 0.0, +1.0 or NaN. Loops over the ``h``
    bars ahead only; each step is vectorised over every (session, symbol).
    """
    op, hi, lo = (bars[key].to_numpy(dtype=float) for key in ("open", "high", "low"))
    sg = sigma.to_numpy(dtype=float)
    entry = _ahead(op, 1)
    upper, lower = entry * (1 + mult * sg), entry * (1 - mult * sg)
    known = np.isfinite(entry) & (sg > 0)
    out = np.zeros(op.shape)
    decided = np.zeros(op.shape, dtype=bool)
    for k in range(1, horizon + 1):
        bar_high, bar_low = _ahead(hi, k), _ahead(lo, k)
        known &= np.isfinite(bar_high) & np.isfinite(bar_low)
        up, down = bar_high >= upper, bar_low <= lower
        if k == 1:  # bar d+1 opens at the entry price: no gap
            gap_up = gap_down = np.zeros(op.shape, dtype=bool)
            open_known = np.ones(op.shape, dtype=bool)
        else:
            bar_open = _ahead(op, k)
            gap_up, gap_down = bar_open >= upper, bar_open <= lower
            open_known = np.isfinite(bar_open)
        hit = (up | down | gap_up | gap_down) & ~decided
        # A bar touching both barriers needs its open (the tie rule): unknown open, no label.
        known &= ~(hit & up & down & ~open_known)
        out[hit] = np.where(gap_up | (up & ~down & ~gap_down), 1.0, -1.0)[hit]
        decided |= hit
    out[~known] = np.nan
    return pd.DataFrame(out, index=bars["open"].index, columns=bars["open"].columns)


def _demeaned(fwd: pd.DataFrame) -> pd.DataFrame:
    return fwd.sub(fwd.mean(axis=1), axis=0)


def _rank(fwd: pd.DataFrame) -> pd.DataFrame:
    return fwd.rank(axis=1, pct=True, method="average")


def _sign(fwd: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(np.sign(fwd.to_numpy(dtype=float)), index=fwd.index, columns=fwd.columns)


_TRANSFORMS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "fwd_open": lambda fwd: fwd,
    "fwd_open_demeaned": _demeaned,
    "fwd_open_rank": _rank,
    "sign_fwd_open": _sign,
}


def _checked(name: str, bars: Mapping[str, pd.DataFrame], keys: tuple[str, ...]) -> None:
    missing = [key for key in keys if key not in bars]
    if missing:
        raise DataError(f"label {name!r} needs the {missing} bar panels; got {sorted(bars)}")
    first = bars[keys[0]]
    for key in keys:
        panel = bars[key]
        if not (panel.index.equals(first.index) and panel.columns.equals(first.columns)):
            raise DataError(
                f"label {name!r}: the {key!r} panel is not aligned with {keys[0]!r} "
                "(same sessions and symbols, in the same order)"
            )
        values = panel.to_numpy(dtype=float)
        bad = ~np.isnan(values) & ~(np.isfinite(values) & (values > 0))
        if bad.any():
            row, col = (int(i[0]) for i in np.nonzero(bad))
            raise DataError(
                f"label {name!r}: {key} of {panel.columns[col]} on {panel.index[row]} is "
                f"{values[row, col]!r}; prices must be positive and finite (or missing)"
            )


def label_panel(name: str, bars: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Return the label ``name`` (module docstring) on every (session, symbol) of ``bars``.

    Parameters
    ----------
    name
        A label name, e.g. ``fwd_open_5`` or ``triple_barrier_21``.
    bars
        Wide price panels (sessions x symbols) keyed ``open``, ``high``, ``low``, ``close``,
        aligned with one another; only those the label reads are needed.

    Returns
    -------
    pandas.DataFrame
        The label on the bars' sessions and symbols (float; NaN where unknown, always on the
        last ``parse_label(name).span`` rows).

    Raises
    ------
    ConfigError
        ``name`` is not a label name.
    DataError
        A panel the label reads is missing, misaligned, or holds a non-positive price.
    """
    label = parse_label(name)
    _checked(name, bars, _NEEDS[label.kind])
    h = label.horizon
    if label.kind == "fwd_close":
        return forward_close_return(bars["close"].astype(float), h)
    if label.kind == "triple_barrier":
        return triple_barrier(bars, trailing_vol(bars["close"]), h)
    fwd = forward_open_return(bars["open"].astype(float), h)
    if label.kind == "fwd_open_volnorm":
        value: pd.DataFrame = fwd / (trailing_vol(bars["close"]) * math.sqrt(h))
        return value
    return _TRANSFORMS[label.kind](fwd)
