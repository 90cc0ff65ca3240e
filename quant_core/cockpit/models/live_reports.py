"""The live account's history: every fill since the worker started, and its equity at each close.

No Streamlit and no file access: the view reads the worker's session reports
(``<live_dir>/reports/*.parquet``, written at each session's close, issue 14 contract section 3)
and hands the frames in; this module checks their columns and shapes them.

Fills
    ``reports/fills.parquet`` holds every fill through the last close; the state document's
    ``fills_today`` holds today's. Between a close and the next session's first fill the same
    fills are in both, so they are merged by a key: the state's fill rows carry no execution id
    (``live.state.FillRow``), so the key is (order id, time to the second in UTC, symbol,
    shares). Identical fills under one key (two partial fills of 100 shares in one second) are
    told apart by their order of appearance: the n-th of a key in the state is the n-th in the
    file. A state fill whose key is not in the file is today's, not yet reported.

Equity
    ``reports/daily.parquet`` has one row per session close since the start (``session,
    equity, ...``); the state's ``daily`` keeps the last :data:`~quant_core.live.daily_close.
    DAILY_KEPT` of the same rows. The file's equity wins for a session in both; the state's
    fills the sessions after the file's last.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from quant_core.broker import Side
from quant_core.live.state import DashboardState

# reports/fills.parquet (contract section 3); slippage_* in dollars, positive = cost.
FILL_COLUMNS = (
    "session", "ts", "symbol", "side", "quantity", "price", "commission", "order_id", "ref",
    "reason", "decision_price", "arrival_price", "slippage_decision", "slippage_arrival",
)  # fmt: skip
REQUIRED_FILL_COLUMNS = ("session", "ts", "symbol", "quantity", "price", "order_id")
# reports/daily.parquet has session, equity, cash, pnl, realized_pnl, fills, commission,
# shortfall: the equity chart needs the first two, the realised total reads realized_pnl.
REQUIRED_DAILY_COLUMNS = ("session", "equity")
NUMBERS = (
    "quantity", "price", "commission", "decision_price", "arrival_price", "slippage_decision",
    "slippage_arrival",
)  # fmt: skip
TEXTS = ("symbol", "side", "order_id", "ref", "reason")
SLIPPAGE = ("slippage_decision", "slippage_arrival")
REPORT, TODAY = "report", "today"  # a merged fill's source: the session report, or the state


def missing_columns(frame: pd.DataFrame, required: Sequence[str], name: str) -> str | None:
    """Return why ``frame`` (the file ``name``) cannot be used: the columns it lacks; or None."""
    lacking = [c for c in required if c not in frame.columns]
    if not lacking:
        return None
    return f"{name} lacks the column(s) {', '.join(lacking)} (has: {', '.join(frame.columns)})"


def _sessions(values: pd.Series) -> pd.Series:
    # A session (a date, a datetime or text) as a naive midnight timestamp.
    stamps = pd.to_datetime(values)
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize(None)
    return stamps.dt.normalize().astype("datetime64[ns]")


def normalise_fills(frame: pd.DataFrame, source: str = REPORT) -> pd.DataFrame:
    """Return fills with every :data:`FILL_COLUMNS` column, typed, plus ``source``.

    ``session`` becomes a naive midnight timestamp, ``ts`` UTC; numbers are floats (a missing
    column is NaN), texts are strings (missing: empty). A ``side`` missing or empty is read from
    the sign of ``quantity`` (> 0 ``BUY``). Extra columns (an ``exec_id``) are kept.
    """
    out = frame.copy()
    n = len(out)
    out["session"] = _sessions(out["session"]) if "session" in out else pd.NaT
    ts = out["ts"] if "ts" in out else pd.Series(pd.NaT, index=out.index)
    out["ts"] = pd.to_datetime(ts, utc=True).astype("datetime64[ns, UTC]")
    for name in NUMBERS:
        values = out[name] if name in out else np.full(n, np.nan)
        out[name] = pd.to_numeric(pd.Series(values, index=out.index), errors="coerce").astype(float)
    for name in TEXTS:
        values = out[name] if name in out else pd.Series("", index=out.index)
        out[name] = values.fillna("").astype(str)
    implied = np.where(out["quantity"].to_numpy() > 0, Side.BUY.value, Side.SELL.value)
    out["side"] = out["side"].where(out["side"] != "", implied)
    out["source"] = source
    extra = [c for c in frame.columns if c not in (*FILL_COLUMNS, "source")]
    return out[[*FILL_COLUMNS, "source", *extra]]


def state_fills(state: DashboardState | None, zone: ZoneInfo | None = None) -> pd.DataFrame:
    """Return the state's fills of today as fill rows (signed shares; no reference prices).

    Their session is the date of the fill's time at the exchange (``zone``, its calendar's), as
    the worker's reports date them: a fill at 00:30 UTC is the evening before in New York.
    Without ``zone``: the worker's session (only a replay sets one), else the UTC date.
    """
    rows = state.fills_today if state is not None else ()
    session = state.worker.session if state is not None else None
    frame = pd.DataFrame(
        {
            "session": [
                f.time.astimezone(zone).date()
                if zone is not None
                else session or f.time.astimezone(dt.UTC).date()
                for f in rows
            ],
            "ts": [f.time for f in rows],
            "symbol": [f.symbol for f in rows],
            "side": [f.side.value for f in rows],
            "quantity": [f.quantity if f.side is Side.BUY else -f.quantity for f in rows],
            "price": [f.price for f in rows],
            "commission": [np.nan if f.commission is None else f.commission for f in rows],
            "order_id": [f.order_id for f in rows],
        }
    )
    return normalise_fills(frame, TODAY)


def fill_keys(fills: pd.DataFrame) -> pd.MultiIndex:
    """Return each fill's key: order id, time to the second (UTC), symbol, shares, occurrence."""
    keys = pd.DataFrame(
        {
            "order_id": fills["order_id"].to_numpy(),
            "ts": fills["ts"].dt.floor("s").to_numpy(),
            "symbol": fills["symbol"].to_numpy(),
            "shares": fills["quantity"].abs().round(6).to_numpy(),
        }
    )
    keys["n"] = keys.groupby(list(keys.columns), dropna=False).cumcount()
    return pd.MultiIndex.from_frame(keys)


def not_reported(reported: pd.DataFrame, today: pd.DataFrame) -> pd.DataFrame:
    """Return the fills of ``today`` (the state's) whose key is not among ``reported``'s."""
    if today.empty or reported.empty:
        return today
    return today[~fill_keys(today).isin(fill_keys(reported))]


def merge_fills(reported: pd.DataFrame | None, today: pd.DataFrame) -> pd.DataFrame:
    """Return the reported fills and today's not yet reported, oldest first (no fill twice)."""
    empty = pd.DataFrame(columns=list(FILL_COLUMNS))
    base = normalise_fills(empty if reported is None else reported)
    new = not_reported(base, today)
    parts = [frame for frame in (base, new) if not frame.empty]
    if not parts:
        return base
    merged = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return merged.sort_values(["ts", "session"], kind="stable").reset_index(drop=True)


def session_span(fills: pd.DataFrame) -> tuple[dt.date, dt.date] | None:
    """Return the first and last session with a fill, or None without fills."""
    sessions = fills["session"].dropna()
    if sessions.empty:
        return None
    return sessions.min().date(), sessions.max().date()


def symbols(fills: pd.DataFrame) -> list[str]:
    """Return the symbols traded, sorted."""
    return sorted(set(fills["symbol"]))


def filter_fills(
    fills: pd.DataFrame, first: dt.date, last: dt.date, chosen: Iterable[str] = ()
) -> pd.DataFrame:
    """Return the fills of the sessions ``first`` to ``last`` (both in), of ``chosen`` symbols.

    No symbol chosen: every symbol.
    """
    sessions = fills["session"]
    keep = (sessions >= pd.Timestamp(first)) & (sessions <= pd.Timestamp(last))
    wanted = list(chosen)
    if wanted:
        keep &= fills["symbol"].isin(wanted)
    return fills[keep].reset_index(drop=True)


def has_slippage(fills: pd.DataFrame) -> bool:
    """Return whether any fill has a slippage figure (a decision or arrival price was known)."""
    return bool(fills[list(SLIPPAGE)].notna().any().any())


def shortfall_bps(slippage: pd.Series, quantity: pd.Series, reference: pd.Series) -> pd.Series:
    """Return slippage in basis points of the fill's value at the reference price.

    ``1e4 x slippage / (|quantity| x reference)``; NaN where the reference is unknown or 0.
    """
    base = quantity.abs() * reference
    return (1e4 * slippage / base.where(base > 0)).astype(float)


def realised_since_start(daily: pd.DataFrame | None) -> float | None:
    """Return the P&L realised over every reported session, dollars (None: not reported).

    The sum of ``reports/daily.parquet``'s ``realized_pnl`` (each session's realised P&L over
    every symbol, those closed long ago too).
    """
    if daily is None or "realized_pnl" not in daily.columns:
        return None
    values = pd.to_numeric(daily["realized_pnl"], errors="coerce")
    return float(values.sum()) if values.notna().any() else None


def live_equity(daily: pd.DataFrame | None, state: DashboardState | None) -> pd.Series:
    """Return the account's equity at each session close (a naive session index), oldest first.

    ``daily``: ``reports/daily.parquet`` (None: no file); the state's ``daily`` rows fill the
    sessions the file lacks. Sessions with an unknown equity are left out.
    """
    rows = state.daily if state is not None else ()
    from_state = pd.Series(
        [np.nan if r.equity is None else r.equity for r in rows],
        index=pd.DatetimeIndex([pd.Timestamp(r.session) for r in rows]),
        dtype=float,
    )
    if daily is None or daily.empty:
        from_file = pd.Series(dtype=float, index=pd.DatetimeIndex([]))
    else:
        values = pd.to_numeric(daily["equity"], errors="coerce").astype(float)
        index = pd.DatetimeIndex(_sessions(daily["session"]))
        from_file = pd.Series(values.to_numpy(), index=index)
    from_file = from_file[~from_file.index.duplicated(keep="last")].dropna()
    from_state = from_state[~from_state.index.duplicated(keep="last")].dropna()
    equity = from_file.combine_first(from_state).sort_index()
    equity.index = pd.DatetimeIndex(equity.index.astype("datetime64[ns]"), name="session")
    return equity.rename("equity")
