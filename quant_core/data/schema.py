"""Bar validation: every source's rows pass here before the warehouse sees them.

Input: a frame with ``date, symbol, open, high, low, close, volume`` (strings or numbers),
optionally ``adj_close`` (the source's adjusted close: prices are then scaled by
``adj_close / close`` and volume divided by it), ``adj_factor`` and ``flags`` (set by a source
that adjusted prices itself), and the provenance columns ``_source`` (file or source name) and
``_line`` (line in that file, 1 = header; missing for generated data).

Rules, in the order they are checked; a row is rejected for the first rule it breaks:

=========================  ==============================================================
``missing_value``          a required field is empty
``bad_number``             a numeric field is not a finite number
``bad_date``               the date is not ``YYYY-MM-DD`` or ``YYYYMMDD``
``bad_symbol``             the symbol, trimmed and upper-cased, breaks the symbol rule
                           (:mod:`quant_core.data.symbol_rule`: 1-15 characters A-Z and
                           0-9 in runs joined by single ``.`` or ``-``, e.g. ``BRK.B``)
``nonpositive_price``      open, high, low or close <= 0
``negative_volume``        volume < 0
``high_below_low``         high < low (never repaired: no way to know which is right)
``high_below_open_close``  high < max(open, close): rejected, or repaired by raising high
``low_above_open_close``   low > min(open, close): rejected, or repaired by lowering low
``future_date``            the date is after the last completed session of the exchange
                           calendar at ``now`` (a session is completed once its close, early
                           closes included, has passed): today's bar before the close, or
                           any later date, is never stored
``not_a_session``          not a session of the exchange calendar (or before its first one)
``duplicate_row``          an identical (symbol, date) row came earlier: the later copy is
                           rejected, the first kept
``conflicting_duplicate``  (symbol, date) rows that disagree (any value, adj_close too): all
                           copies are rejected, each naming the others' file:line
=========================  ==============================================================

Nothing is dropped silently: each rejected or repaired row appears in ``issues`` with the rule
and a detail naming the offending values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from quant_core.calendar import TradingCalendar
from quant_core.data.symbol_rule import SYMBOL_RULE, invalid_symbols
from quant_core.data.warehouse import BAR_COLUMNS, PRICE_FIELDS
from quant_core.errors import DataError
from quant_core.types import BarFlag, IssueAction, Rule

REQUIRED = ("date", "symbol", *PRICE_FIELDS, "volume")
NUMERIC = (*PRICE_FIELDS, "volume")
ISSUE_COLUMNS = ("source", "line", "symbol", "date", "rule", "action", "detail")

OhlcPolicy: TypeAlias = Literal["reject", "repair"]


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Validated bars and every row that was rejected or repaired.

    Attributes
    ----------
    bars
        Clean rows with the warehouse columns, one per ``(symbol, date)``.
    issues
        One row per rejection, and per repaired bound of a kept row: ``source, line, symbol,
        date, rule, action, detail``.
    rejected, repaired
        How many input rows were rejected, and how many kept rows were repaired.
    """

    bars: pd.DataFrame
    issues: pd.DataFrame
    rejected: int
    repaired: int


Detail: TypeAlias = str | Callable[[pd.Series], pd.Series]


class _Issues:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.reason = pd.Series(pd.NA, index=frame.index, dtype="object")
        self.detail = pd.Series(pd.NA, index=frame.index, dtype="object")
        self.repairs: list[tuple[pd.Series, Rule, Detail]] = []

    @property
    def ok(self) -> pd.Series:
        return self.reason.isna()

    def reject(self, mask: pd.Series | np.ndarray, rule: Rule, detail: Detail) -> None:
        new = pd.Series(np.asarray(mask, dtype=bool), index=self.frame.index) & self.ok
        if new.any():
            self.reason[new] = rule.value
            self.detail[new] = detail if isinstance(detail, str) else detail(new).to_numpy()

    def repaired(self, mask: pd.Series, rule: Rule, detail: Detail) -> None:
        if mask.any():
            self.repairs.append((mask.copy(), rule, detail))

    def repaired_rows(self) -> pd.Series:
        # A repair counts only for a row that is finally kept: a row rejected by a later rule
        # is reported as rejected, once.
        hit = pd.Series(False, index=self.frame.index)
        for mask, _, _ in self.repairs:
            hit |= mask
        return hit & self.ok

    def table(self) -> pd.DataFrame:
        rejected = ~self.ok
        parts = []
        for mask, rule, detail in self.repairs:
            kept = mask & self.ok
            if kept.any():
                text = detail if isinstance(detail, str) else detail(kept)
                parts.append(_issue_rows(self.frame, kept, IssueAction.REPAIRED, rule.value, text))
        parts += [
            _issue_rows(
                self.frame,
                rejected,
                IssueAction.REJECTED,
                self.reason[rejected],
                self.detail[rejected],
            ),
        ]
        out = pd.concat([p for p in parts if len(p)] or parts[-1:], ignore_index=True)
        return out.sort_values(["source", "line", "symbol"], na_position="last", kind="stable")


def validate_bars(
    raw: pd.DataFrame,
    calendar: TradingCalendar,
    ohlc: OhlcPolicy = "reject",
    *,
    now: dt.datetime | None = None,
) -> ValidationResult:
    """Check every row; return the clean bars and the issues.

    Parameters
    ----------
    raw
        Rows from a source (see the module docstring for the columns).
    calendar
        Dates must be sessions of this calendar.
    ohlc
        What to do with high/low that contradict open/close: ``"reject"`` or ``"repair"``.
    now
        The moment of the sync (time-zone aware; default: the clock now): rows dated after the
        last session completed by then are rejected as ``future_date``.
    """
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise DataError(f"source rows lack required column(s): {', '.join(missing)}")
    frame = raw.reset_index(drop=True).copy()
    if "_source" not in frame.columns:
        frame["_source"] = "(unknown)"
    if "_line" not in frame.columns:
        frame["_line"] = pd.NA
    issues = _Issues(frame)

    trimmed = frame["symbol"].astype("string").str.strip()
    # Non-ASCII text is not upper-cased: "\u0131bm" (dotless i) would become "IBM".
    ascii_only = trimmed.str.fullmatch(r"[\x00-\x7f]*").fillna(True).astype(bool)
    symbol = trimmed.str.upper().where(ascii_only, trimmed)
    issues.reject(symbol.isna() | (symbol == ""), Rule.MISSING_VALUE, "symbol is empty")
    frame["symbol"] = symbol.fillna("")
    dates = _parse_dates(frame["date"], issues)
    values = {name: _parse_number(frame, name, issues) for name in _numeric_columns(frame)}
    # Checked once per distinct symbol: a panel has millions of rows but few symbols.
    distinct = pd.Series(frame["symbol"].unique())
    malformed = invalid_symbols(distinct[distinct != ""])
    issues.reject(
        frame["symbol"].isin(malformed),
        Rule.BAD_SYMBOL,
        lambda m: "symbol " + frame["symbol"][m].map(repr) + " is not " + SYMBOL_RULE,
    )
    for name in PRICE_FIELDS:
        issues.reject(values[name] <= 0, Rule.NONPOSITIVE_PRICE, _show(name, values[name], "<= 0"))
    for name in ("adj_close", "adj_factor"):
        if name in values:  # a factor <= 0 would turn valid prices into invalid ones
            issues.reject(
                values[name] <= 0, Rule.NONPOSITIVE_PRICE, _show(name, values[name], "<= 0")
            )
    volume = values["volume"]
    issues.reject(volume < 0, Rule.NEGATIVE_VOLUME, _show("volume", volume, "< 0"))

    flags = _check_ohlc(values, issues, ohlc, _initial_flags(frame))

    day = dates.to_numpy(dtype="datetime64[D]")
    _reject_future(day, calendar, now or dt.datetime.now(dt.UTC), issues)
    parsed = issues.ok.to_numpy()
    session = np.ones(len(frame), dtype=bool)
    session[parsed] = calendar.is_session(day[parsed])
    early = np.zeros(len(frame), dtype=bool)
    early[parsed] = day[parsed] < np.datetime64(calendar.first, "D")
    issues.reject(
        early,
        Rule.NOT_A_SESSION,
        f"date is before {calendar.first}, the first session the {calendar.exchange} calendar "
        "knows",
    )
    issues.reject(~session, Rule.NOT_A_SESSION, f"date is not a {calendar.exchange} session")
    _reject_duplicates(frame, dates, values, issues)

    factor = values.get("adj_close", values["close"]) / values["close"]
    base = values.get("adj_factor", pd.Series(1.0, index=frame.index))
    adjusted = {name: values[name] * factor for name in PRICE_FIELDS}
    adjusted |= {"volume": values["volume"] / factor, "adj_factor": base * factor}
    for name, value in adjusted.items():  # finite inputs whose adjustment overflows
        why = f"adjusted {name} is not a finite number (adj_close / close overflows it)"
        issues.reject(~np.isfinite(value.to_numpy(dtype=float)), Rule.BAD_NUMBER, why)
    keep = issues.ok.to_numpy()
    bars = pd.DataFrame({"date": dates[keep], "symbol": frame["symbol"][keep]})
    for name, value in adjusted.items():
        bars[name] = value[keep]
    bars["flags"] = flags[keep].astype("int16")
    bars = bars.loc[:, list(BAR_COLUMNS)].sort_values(["symbol", "date"], kind="stable")
    return ValidationResult(
        bars.reset_index(drop=True),
        issues.table(),
        rejected=int((~issues.ok).sum()),
        repaired=int(issues.repaired_rows().sum()),
    )


def _check_ohlc(
    values: dict[str, pd.Series], issues: _Issues, ohlc: OhlcPolicy, flags: pd.Series
) -> pd.Series:
    o, h, lo, c = (values[name] for name in PRICE_FIELDS)
    issues.reject(h < lo, Rule.HIGH_BELOW_LOW, lambda m: "high=" + _f(h, m) + " < low=" + _f(lo, m))
    high_bad = issues.ok & (h < np.maximum(o, c))
    low_bad = issues.ok & (lo > np.minimum(o, c))

    def h_detail(m: pd.Series) -> pd.Series:
        return "high=" + _f(h, m) + " < max(open=" + _f(o, m) + ", close=" + _f(c, m) + ")"

    def l_detail(m: pd.Series) -> pd.Series:
        return "low=" + _f(lo, m) + " > min(open=" + _f(o, m) + ", close=" + _f(c, m) + ")"

    if ohlc == "reject":
        issues.reject(high_bad, Rule.HIGH_BELOW_OPEN_CLOSE, h_detail)
        issues.reject(low_bad, Rule.LOW_ABOVE_OPEN_CLOSE, l_detail)
        return flags
    issues.repaired(high_bad, Rule.HIGH_BELOW_OPEN_CLOSE, lambda m: h_detail(m) + "; high raised")
    issues.repaired(low_bad, Rule.LOW_ABOVE_OPEN_CLOSE, lambda m: l_detail(m) + "; low lowered")
    values["high"] = h.where(~high_bad, np.maximum(o, c))
    values["low"] = lo.where(~low_bad, np.minimum(o, c))
    return flags.where(~(high_bad | low_bad), flags | int(BarFlag.OHLC_REPAIRED))


def _reject_future(
    day: np.ndarray, calendar: TradingCalendar, now: dt.datetime, issues: _Issues
) -> None:
    last = calendar.last_completed_session(now)
    limit = np.datetime64(last, "D") if last is not None else np.datetime64("NaT", "D")
    parsed = issues.ok.to_numpy()
    future = np.zeros(len(day), dtype=bool)
    future[parsed] = ~(day[parsed] <= limit)  # NaT limit: no session completed, all future
    local = pd.Timestamp(now).tz_convert(calendar.tz)
    issues.reject(
        future,
        Rule.FUTURE_DATE,
        f"date is after the last completed {calendar.exchange} session ({last}) "
        f"as of {local:%Y-%m-%d %H:%M %Z}",
    )


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [*NUMERIC] + [c for c in ("adj_close", "adj_factor") if c in frame.columns]


def _initial_flags(frame: pd.DataFrame) -> pd.Series:
    if "flags" in frame.columns:
        return pd.to_numeric(frame["flags"], errors="coerce").fillna(0).astype("int64")
    return pd.Series(0, index=frame.index, dtype="int64")


def _parse_dates(column: pd.Series, issues: _Issues) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        dates = pd.to_datetime(column).dt.normalize()
    else:
        text = column.astype("string").str.strip()
        dates = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        compact = text.str.fullmatch(r"[0-9]{8}", na=False)
        dates = dates.where(
            ~compact, pd.to_datetime(text.where(compact), format="%Y%m%d", errors="coerce")
        )
        dates = dates.where(text.str.fullmatch(r"[0-9-]+", na=False))  # ASCII digits only
        empty = text.isna() | (text == "")
        issues.reject(empty, Rule.MISSING_VALUE, "date is empty")
        issues.reject(
            dates.isna(),
            Rule.BAD_DATE,
            lambda m: "date " + text[m].map(repr) + " is not YYYY-MM-DD or YYYYMMDD",
        )
    return dates.astype("datetime64[s]")


def _parse_number(frame: pd.DataFrame, name: str, issues: _Issues) -> pd.Series:
    column = frame[name]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = column.astype("float64")
        shown = column
    else:
        shown = column.astype("string").str.strip()
        issues.reject(shown.isna() | (shown == ""), Rule.MISSING_VALUE, f"{name} is empty")
        numbers = pd.to_numeric(shown, errors="coerce").astype("float64")
    issues.reject(
        ~np.isfinite(numbers),
        Rule.BAD_NUMBER,
        lambda m: f"{name}=" + shown[m].astype("string").fillna("").map(repr) + " is not a number",
    )
    return numbers


def _reject_duplicates(
    frame: pd.DataFrame, dates: pd.Series, values: dict[str, pd.Series], issues: _Issues
) -> None:
    ok = issues.ok
    rows = pd.DataFrame({"symbol": frame["symbol"], "date": dates, **values})[ok]
    rows = rows[rows.duplicated(["symbol", "date"], keep=False)]
    if rows.empty:
        return
    groups = rows.groupby(["symbol", "date"], sort=False)
    # Every value counts: copies that differ only in adj_close give different adjusted prices.
    conflict = groups[list(values)].transform("nunique").max(axis=1) > 1
    where = frame["_source"].astype("string") + ":" + frame["_line"].astype("string").fillna("?")
    issues.reject(
        frame.index.isin(rows.index[conflict]),
        Rule.CONFLICTING_DUPLICATE,
        lambda m: _conflict_details(rows[conflict], where, frame.index[m]),
    )
    first_line = (
        where[rows.index].groupby([rows["symbol"], rows["date"]], sort=False).transform("first")
    )
    later = rows.index[~conflict & rows.duplicated(["symbol", "date"], keep="first")]
    issues.reject(
        frame.index.isin(later),
        Rule.DUPLICATE_ROW,
        lambda m: "identical to " + first_line.reindex(frame.index[m]),
    )


def _conflict_details(rows: pd.DataFrame, where: pd.Series, index: pd.Index) -> pd.Series:
    # Each copy names the others (file:line), so the user can find them all.
    keys = list(zip(rows["symbol"], rows["date"], strict=True))
    place = dict(zip(rows.index, where[rows.index], strict=True))
    copies: dict[tuple[object, object], list[str]] = {}
    for key, i in zip(keys, rows.index, strict=True):
        copies.setdefault(key, []).append(place[i])
    key_of = dict(zip(rows.index, keys, strict=True))
    details = []
    for i in index:
        others = [w for w in copies[key_of[i]] if w != place[i]]
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        also = ", ".join(others[:3]) + more
        details.append(
            f"(symbol, date) appears more than once with different values; also at {also}"
        )
    return pd.Series(details, index=index, dtype="object")


def _issue_rows(
    frame: pd.DataFrame,
    mask: pd.Series,
    action: IssueAction,
    rule: str | pd.Series,
    detail: str | pd.Series,
) -> pd.DataFrame:
    rows = frame[mask.to_numpy()]

    def column(value: str | pd.Series) -> Any:
        return value.to_numpy() if isinstance(value, pd.Series) else value

    return pd.DataFrame(
        {
            "source": rows["_source"].astype("string").to_numpy(),
            "line": rows["_line"].astype("Int64").array,
            "symbol": rows["symbol"].astype("string").to_numpy(),
            "date": rows["date"].astype("string").to_numpy(),
            "rule": column(rule),
            "action": action.value,
            "detail": column(detail),
        },
        columns=list(ISSUE_COLUMNS),
    )


def _f(values: pd.Series, mask: pd.Series) -> pd.Series:
    return values[mask].map(lambda v: f"{v:g}")


def _show(name: str, values: pd.Series, what: str) -> Callable[[pd.Series], pd.Series]:
    return lambda m: name + "=" + _f(values, m) + " " + what
