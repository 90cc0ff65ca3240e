"""Text for people: the formatters the cockpit pages share (money, percent, numbers, times).

Every formatter takes a value that may be unknown (None, NaN, a missing summary field) and says
so with a placeholder instead of raising: a page never breaks on one odd number.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def money(value: float | None, decimals: int = 2) -> str:
    """Format dollars: ``$1,234.56``, ``-$12.00``; ``-`` when unknown."""
    if value is None or value != value:  # None or NaN
        return "-"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{decimals}f}"


def pct(value: float | None, decimals: int = 2) -> str:
    """Format a fraction as a percentage: 0.0123 -> ``1.23%``; ``-`` when unknown."""
    if value is None or value != value:
        return "-"
    return f"{value:.{decimals}%}"


def number(value: float, spec: str) -> str:
    """Format a number with a format ``spec`` (``".3f"``, ``".1%"``); ``-`` for NaN."""
    return "-" if value != value else format(value, spec)


def count(value: Any) -> str:
    """Format a count with thousands separators: ``12,345``; ``?`` when it is not a number."""
    return f"{int(value):,}" if isinstance(value, int | float) else "?"


QUANTILE_NAMES = {3: "tercile", 4: "quartile", 5: "quintile", 10: "decile"}


def quantile_name(quantiles: int) -> str:
    """Return the word for ``quantiles`` buckets: 5 -> ``quintile``."""
    return QUANTILE_NAMES.get(quantiles, f"{quantiles}-quantile")


# "_" stays: inside a word (max_drawdown_frac) Markdown leaves it alone, and names read better.
MARKDOWN_SPECIAL = set("\\`*[]<>#$~|!")


def md(text: object) -> str:
    """Escape text from a file for Markdown: it shows as written, and can load nothing."""
    return "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in str(text))


def signed_money(value: float | None, decimals: int = 2) -> str:
    """Format a PnL in dollars with its sign: ``+$1,234.56``, ``-$12.00``; ``-`` if unknown."""
    if value is None:
        return "-"
    if round(value, decimals) == 0:
        return money(0.0, decimals)  # never "-$0"
    return ("+" if value > 0 else "") + money(value, decimals)


def fmt_age(seconds: float | None, *, coarse: bool = False) -> str:
    """Format an age in seconds.

    Parameters
    ----------
    seconds : float or None
        The age; ``unknown`` when None.
    coarse : bool
        False (the Live page): finely, ``0.8 s``, ``12 s``, ``3 min 05 s``, ``2 h 04 min``,
        ``3 d 4 h``. True (the Data page): whole units only, ``45 s``, ``12 min``, ``5 h``,
        ``3 days``, a negative age as ``0 s``.
    """
    if seconds is None:
        return "unknown"
    if coarse:
        whole = max(0, int(seconds))
        if whole < 120:
            return f"{whole} s"
        if whole < 2 * 3600:
            return f"{whole // 60} min"
        if whole < 2 * 86400:
            return f"{whole // 3600} h"
        return f"{whole // 86400} days"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def fmt_time(when: dt.datetime | None, *, suffix: bool = True) -> str:
    """Format a time in UTC to the second: ``2026-03-02 14:30:05 UTC``; ``-`` when unknown.

    ``suffix=False`` leaves out `` UTC``, for a column whose header already says it.
    """
    if when is None:
        return "-"
    text = f"{when.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}"
    return f"{text} UTC" if suffix else text
