"""Trade statistics over round trips, by trades not by sessions (pure: no I/O, no clock).

:func:`trade_stats` summarises the closed trips of
:func:`quant_core.analytics.round_trips.round_trips` (a trip still open has no result yet: it is
counted apart, with its marked pnl); :func:`gain_loss` gives the gain and loss per symbol over
every trip. Money in account currency; ratios as fractions.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

GAIN_LOSS_COLUMNS = (
    "symbol",
    "trades",
    "winners",
    "win_rate",
    "pnl",
    "gross_pnl",
    "costs",
    "best",
    "worst",
)


def _mean(values: pd.Series) -> float | None:
    finite = values[np.isfinite(values.to_numpy(float))]
    return float(finite.mean()) if len(finite) else None


def trade_stats(trips: pd.DataFrame) -> dict[str, float | int | None]:
    """Return the statistics of the closed trips of ``trips`` (``ROUND_TRIP_COLUMNS``).

    ``trades`` closed trips, ``winners`` (pnl > 0) and ``losers`` (pnl < 0);
    ``win_rate = winners / trades``; ``profit_factor = sum(pnl of winners) / -sum(pnl of
    losers)`` (None without a loser); ``avg_win``, ``avg_loss`` (mean pnl of the winners, of the
    losers); ``best``, ``worst`` (pnl); ``expectancy`` (mean pnl per trade); ``avg_pnl_pct``;
    ``avg_sessions`` (mean holding period); ``avg_r`` (mean ``r_multiple``, None without a
    stop); ``total_pnl``, ``total_costs`` (closed trips); ``open_trips`` and ``open_pnl`` (the
    trips still held, at their marks; NaN marks count for nothing). A figure with no trade to
    take it from is None.
    """
    is_open = trips["is_open"].to_numpy(bool)
    closed = trips.loc[~is_open]
    pnl = closed["pnl"].astype(float)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    n = len(closed)
    open_pnl = trips.loc[is_open, "pnl"].astype(float)
    return {
        "trades": n,
        "winners": len(wins),
        "losers": len(losses),
        "win_rate": len(wins) / n if n else None,
        "profit_factor": float(wins.sum() / -losses.sum()) if len(losses) else None,
        "avg_win": _mean(wins),
        "avg_loss": _mean(losses),
        "best": float(pnl.max()) if n else None,
        "worst": float(pnl.min()) if n else None,
        "expectancy": _mean(pnl),
        "avg_pnl_pct": _mean(closed["pnl_pct"].astype(float)),
        "avg_sessions": _mean(closed["sessions"].astype(float)),
        "avg_r": _mean(closed["r_multiple"].astype(float)),
        "total_pnl": float(pnl.sum()),
        "total_costs": float(closed["costs"].astype(float).sum()),
        "open_trips": int(is_open.sum()),
        "open_pnl": float(np.nansum(open_pnl.to_numpy(float))),
    }


def exposure_adjusted_return(total_return: float | None, exposure: float | None) -> float | None:
    """Return ``total_return / exposure`` (the return per unit of time invested; None at 0)."""
    if total_return is None or exposure is None or exposure == 0 or math.isnan(exposure):
        return None
    return float(total_return / exposure)


def gain_loss(trips: pd.DataFrame) -> pd.DataFrame:
    """Return the gain and loss per symbol over every trip, closed and open (by pnl, best first).

    Columns :data:`GAIN_LOSS_COLUMNS`: ``trades``, ``winners`` (pnl > 0), ``win_rate``, ``pnl``,
    ``gross_pnl`` and ``costs`` summed, ``best`` and ``worst`` trip pnl.
    """
    if trips.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype=object if c == "symbol" else float) for c in GAIN_LOSS_COLUMNS}
        )
    frame = trips.assign(
        pnl=trips["pnl"].astype(float), winner=(trips["pnl"].astype(float) > 0).astype(int)
    )
    grouped = frame.groupby("symbol", sort=True)
    out = pd.DataFrame(
        {
            "trades": grouped.size(),
            "winners": grouped["winner"].sum(),
            "pnl": grouped["pnl"].sum(min_count=1),
            "gross_pnl": grouped["gross_pnl"].sum(min_count=1),
            "costs": grouped["costs"].sum(),
            "best": grouped["pnl"].max(),
            "worst": grouped["pnl"].min(),
        }
    )
    out["win_rate"] = out["winners"] / out["trades"]
    out = out.rename_axis("symbol").reset_index()
    out = out.sort_values("pnl", ascending=False, kind="stable", na_position="last")
    return out.loc[:, list(GAIN_LOSS_COLUMNS)].reset_index(drop=True)
