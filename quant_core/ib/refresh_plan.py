"""What an incremental IB refresh asks for, decided from what the warehouse holds (pure).

A refresh through session ``T`` (``ib/refresh.py``) asks IB once for each symbol whose last
stored bar is before ``T``, for the days from that last bar on, so that the last stored bar
comes back too (the overlap that tells whether IB's adjusted history changed). Everything here
is decided from plain values (the dataset's coverage, its reference data, the calendar's
sessions, the day it is): no I/O, no clock.

Durations. IB's ``durationStr`` counts back from the request's end: ``"N D"`` is N calendar
days, accepted up to 365 (longer spans must be asked in years, ``"N Y"``). With
``ADJUSTED_LAST`` IB refuses an end date, so the request ends *now*: its end day is the
exchange-local date of the refresh (``today``), never before ``T``. With ``TRADES`` the request
ends on ``T`` (``"YYYYMMDD 23:59:59 UTC"``). So::

    N = (end_day - last_stored).days + 1        e.g. last Friday, T = Monday: N = 3 + 1 = 4

and the +1 day puts ``last_stored`` itself inside the span (IB's span is ``(end - N, end]``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.errors import ConfigError
from quant_core.factors.base import make_factor

KINDS = ("ADJUSTED_LAST", "TRADES")
MAX_DAYS = 365  # IB refuses "N D" longer than this; longer spans are asked in years
CLOSE_TOLERANCE = 1e-6  # relative: an overlap close further off means IB's history changed
SHOWN_SYMBOLS = 10  # symbols named in one note; the rest are counted
NEVER = np.datetime64("9999-12-31", "D")  # no delisting; no session after the calendar's last


@dataclass(frozen=True, slots=True)
class SymbolRequest:
    """One symbol's history request.

    Attributes
    ----------
    symbol
        The symbol.
    first, last
        Its first and last stored bar (``last`` is asked again: the overlap).
    end
        ``endDateTime``: ``""`` (now) for ``ADJUSTED_LAST``, ``T`` for ``TRADES``.
    duration
        ``durationStr``: ``"N D"`` covering ``last`` through the end day, or ``"N Y"``.
    """

    symbol: str
    first: dt.date
    last: dt.date
    end: str
    duration: str


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    """The requests of one refresh, and the symbols it leaves alone.

    Attributes
    ----------
    through
        ``T``: the last session the data must reach.
    what
        ``whatToShow``: ``ADJUSTED_LAST`` or ``TRADES`` (the dataset's kind).
    end_day
        The calendar day the requests end on (the durations count back from it).
    requests
        One per symbol missing sessions, sorted by symbol.
    fresh
        How many symbols already reach ``T``.
    delisted
        Symbols missing sessions but delisted before the session after their last bar.
    """

    through: dt.date
    what: str
    end_day: dt.date
    requests: tuple[SymbolRequest, ...]
    fresh: int
    delisted: tuple[str, ...]


def ib_kind(dataset: str, source: str) -> str:
    """Return ``whatToShow`` of a dataset synced from IB (its source ``ib:<KIND>``).

    Raises
    ------
    ConfigError
        The dataset holds another source's data: a refresh from IB would mix two sources.
    """
    kind = source.removeprefix("ib:")
    if source.startswith("ib:") and kind in KINDS:
        return kind
    raise ConfigError(
        f"live.refresh: broker refreshes data.dataset {dataset!r} from IB, but it holds "
        f"{source or 'unlabelled'} data, not IB's (ib:ADJUSTED_LAST or ib:TRADES); point "
        "data.dataset at a dataset synced with run_data_sync.py --source ib, or set "
        "live.refresh: none"
    )


def duration(first_day: dt.date, end_day: dt.date) -> str:
    """Return the ``durationStr`` whose span reaches back from ``end_day`` to ``first_day``.

    ``N = (end_day - first_day).days + 1`` days (``first_day`` included), as ``"N D"`` up to
    365 days and as ``ceil(N / 365)`` years beyond.
    """
    days = (end_day - first_day).days + 1
    if days < 1:
        raise ValueError(f"a request ending {end_day} cannot reach forward to {first_day}")
    return f"{days} D" if days <= MAX_DAYS else f"{math.ceil(days / MAX_DAYS)} Y"


def request_end(what: str, through: dt.date, today: dt.date) -> tuple[str, dt.date]:
    """Return ``(endDateTime, end day)`` of the requests of a refresh through ``through``."""
    if what == "ADJUSTED_LAST":  # IB refuses an end date with it: the request ends now
        return "", max(today, through)
    return f"{through:%Y%m%d} 23:59:59 UTC", through


def plan_refresh(
    coverage: pd.DataFrame,
    reference: pd.DataFrame,
    sessions: np.ndarray,
    through: dt.date,
    today: dt.date,
    what: str,
) -> RefreshPlan:
    """Return the requests that bring every listed symbol of a dataset to ``through``.

    Parameters
    ----------
    coverage
        One row per stored symbol: ``symbol``, ``first_date``, ``last_date``
        (``Warehouse.coverage``).
    reference
        The dataset's reference data; its ``delisted`` column (if any) gives delisting dates.
    sessions
        The calendar's sessions (``datetime64[D]``, sorted).
    through
        The last session the data must reach.
    today
        The exchange-local date of the refresh (an ``ADJUSTED_LAST`` request ends now).
    what
        ``ADJUSTED_LAST`` or ``TRADES``.

    A symbol is asked for when its last bar is before ``through`` and it was not delisted
    before the session after its last bar (a delisting on that session or later may still
    have bars to fetch).
    """
    end, end_day = request_end(what, through, today)
    last = coverage["last_date"].to_numpy(dtype="datetime64[D]")
    first = coverage["first_date"].to_numpy(dtype="datetime64[D]")
    stale = last < np.datetime64(through, "D")
    padded = np.append(np.asarray(sessions, dtype="datetime64[D]"), NEVER)
    next_session = padded[np.searchsorted(padded[:-1], last, side="right")]
    gone = stale & (_delisted(coverage["symbol"], reference) < next_session)
    asked = stale & ~gone
    symbols = coverage["symbol"].astype(str).to_numpy()
    requests = tuple(
        SymbolRequest(s, _date(f), _date(la), end, duration(_date(la), end_day))
        for s, f, la in sorted(zip(symbols[asked], first[asked], last[asked], strict=True))
    )
    return RefreshPlan(
        through=through,
        what=what,
        end_day=end_day,
        requests=requests,
        fresh=int((~stale).sum()),
        delisted=tuple(sorted(symbols[gone])),
    )


def refetch_duration(request: SymbolRequest, end_day: dt.date) -> str:
    """Return the ``durationStr`` of one ``ADJUSTED_LAST`` request for a symbol's whole history.

    Years back from ``end_day`` to the first stored bar, that bar included:
    ``ceil(((end_day - first).days + 1) / 365)`` years.
    """
    days = (end_day - request.first).days + 1
    return f"{max(1, math.ceil(days / MAX_DAYS))} Y"


def new_rows(bars: pd.DataFrame, lasts: pd.Series, through: dt.date) -> pd.DataFrame:
    """Return the rows of ``bars`` after their symbol's last stored bar, through ``through``.

    ``bars`` has ``symbol`` and ``date`` (``datetime64``) columns; ``lasts`` maps a symbol to
    its last stored bar (``datetime64``). The overlap bar itself is not stored again: it was
    only asked for to check it.
    """
    last = bars["symbol"].map(lasts).to_numpy(dtype="datetime64[ns]")
    dates = bars["date"].to_numpy(dtype="datetime64[ns]")
    keep = (dates > last) & (dates <= np.datetime64(through, "ns"))
    kept: pd.DataFrame = bars[keep]
    return kept


def changed_history(bars: pd.DataFrame, stored: pd.DataFrame) -> dict[str, str]:
    """Return the symbols whose overlap bar differs from the stored one, with the reason.

    Parameters
    ----------
    bars
        IB's answer: ``symbol``, ``date`` (``datetime64``), ``close``; symbols IB gave no bar
        at all for are not in it (they have nothing to compare).
    stored
        One row per symbol asked for: ``symbol``, ``date`` (its last stored bar) and
        ``close`` (the stored close on it).

    A symbol's history changed when IB's close on its last stored session differs from the
    stored close by more than ``CLOSE_TOLERANCE`` relative (``|new - old| > 1e-6 * |old|``;
    a split or a dividend re-adjusts ``ADJUSTED_LAST``), or when IB's answer holds bars but
    none on that session (the stored bar cannot be confirmed).
    """
    answered = stored[stored["symbol"].isin(bars["symbol"].unique())]
    both = answered.merge(
        bars[["symbol", "date", "close"]], on=["symbol", "date"], how="left", suffixes=("", "_ib")
    )
    old, new = both["close"].to_numpy(float), both["close_ib"].to_numpy(float)
    missing = np.isnan(new)
    moved = ~missing & (np.abs(new - old) > CLOSE_TOLERANCE * np.abs(old))
    reasons: dict[str, str] = {}
    for symbol, day in zip(both["symbol"][missing], both["date"][missing], strict=True):
        reasons[str(symbol)] = (
            f"IB's answer has no bar on its last stored session {pd.Timestamp(day).date()}"
        )
    for symbol, day, o, n in zip(
        both["symbol"][moved], both["date"][moved], old[moved], new[moved], strict=True
    ):
        reasons[str(symbol)] = (
            f"close of {pd.Timestamp(day).date()}: stored {o:g}, IB now {n:g} "
            "(a split or dividend re-adjusted it)"
        )
    return dict(sorted(reasons.items()))


def dated(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Return IB's raw chunks as one frame, ``date`` as ``datetime64`` (``YYYYMMDD`` read)."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(
            {
                "date": pd.Series([], dtype="datetime64[ns]"),
                "symbol": pd.Series([], dtype=object),
                "close": pd.Series([], dtype=float),
            }
        )
    bars = pd.concat(frames, ignore_index=True)
    bars["date"] = pd.to_datetime(bars["date"], format="%Y%m%d")
    return bars


def still_behind(coverage: pd.DataFrame, symbols: list[str], through: dt.date) -> tuple[str, ...]:
    """Return which of ``symbols`` have no bar on ``through`` after the refresh, sorted.

    ``coverage``: ``Warehouse.coverage``'s frame (``symbol``, ``last_date``), read afterwards.
    """
    last = coverage.set_index("symbol")["last_date"].reindex(symbols)
    late = last.isna() | (pd.to_datetime(last) < pd.Timestamp(through))
    return tuple(sorted(str(s) for s in last.index[late.to_numpy()]))


def reaches(frame: pd.DataFrame, through: dt.date) -> bool:
    """Return whether IB's raw answer has a bar on ``through`` or later (``date`` YYYYMMDD)."""
    if frame.empty:
        return False
    return bool((frame["date"].astype(str) >= f"{through:%Y%m%d}").any())


def strategy_factors(params: Mapping[str, object]) -> list[str]:
    """Return the factor names in a strategy's parameters, in the order first met, once each.

    Every string in ``params`` (:func:`strings`) that
    :func:`~quant_core.factors.base.make_factor` builds is a factor, named canonically
    (``momentum_126_0`` is ``momentum_126``); a bare kind (``"rsi"``) is not taken for one.
    Model factors (``model_<id>``) count only once loaded.
    """
    names = (_factor_name(text) for text in strings(params))
    return list(dict.fromkeys(name for name in names if name is not None))


def strings(params: object) -> Iterator[str]:
    """Yield every string in ``params``: mapping keys and values, lists, at any depth, in order."""
    pending: list[object] = [params]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            for key, value in reversed(list(item.items())):
                pending.extend([value, key])
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(reversed(list(item)))


def known_factors(names: list[str]) -> tuple[list[str], list[str]]:
    """Split ``names`` into those ``make_factor`` builds (canonical names) and the others."""
    known: dict[str, None] = {}
    unknown = []
    for name in names:
        canonical = _factor_name(name)
        if canonical is None:
            unknown.append(name)
        else:
            known[canonical] = None
    return list(known), unknown


def factor_starts(
    last_stored: Mapping[str, dt.date | None],
    first_new: dt.date | None,
    data_end: dt.date | None,
) -> dict[str, dt.date | None]:
    """Return, for each factor that has work, the first date to (re)compute (None: all).

    Parameters
    ----------
    last_stored
        Each factor's last stored date (None: nothing stored, e.g. dropped because bars
        changed, or a factor the strategy names for the first time).
    first_new
        The earliest date of the bars this refresh wrote (None: it wrote none). Values from
        it on are recomputed, for every symbol: a symbol may have caught up on sessions
        already stored for the others.
    data_end
        The dataset's last date.

    A factor stored through ``L`` has work from the day after ``L`` when ``L < data_end``,
    and from ``first_new`` when that is earlier; a factor with nothing stored is computed
    whole; a factor stored through ``data_end`` with no new bars before has none.
    """
    starts: dict[str, dt.date | None] = {}
    for name, last in last_stored.items():
        if last is None:
            starts[name] = None
            continue
        candidates = [] if first_new is None else [first_new]
        if data_end is not None and last < data_end:
            candidates.append(last + dt.timedelta(days=1))
        if candidates:
            starts[name] = min(candidates)
    return starts


def listed(symbols: list[str] | tuple[str, ...]) -> str:
    """Return ``symbols`` for a note: the first ten, then how many more."""
    shown = ", ".join(symbols[:SHOWN_SYMBOLS])
    more = len(symbols) - SHOWN_SYMBOLS
    return shown + (f" and {more} more" if more > 0 else "")


def _factor_name(text: str) -> str | None:
    try:
        factor = make_factor(text)
    except ConfigError:
        return None
    return None if text == getattr(factor, "kind", None) else factor.name


def _delisted(symbols: pd.Series, reference: pd.DataFrame) -> np.ndarray:
    if "delisted" not in reference.columns or reference.empty:
        return np.full(len(symbols), NEVER)
    dates = pd.to_datetime(
        pd.Series(reference["delisted"].to_numpy(), index=reference["symbol"].astype(str))
    )
    found = dates.reindex(symbols.astype(str).to_numpy()).to_numpy(dtype="datetime64[D]")
    return np.where(np.isnat(found), NEVER, found)


def _date(value: np.datetime64) -> dt.date:
    return pd.Timestamp(value).date()
