"""Value types and enums shared by every layer."""

from __future__ import annotations

from collections.abc import Callable
from enum import IntFlag, StrEnum
from typing import TypeAlias

# Progress of long work: progress(task, done, total); the entry point draws it.
ProgressFn: TypeAlias = Callable[[str, int, int], None]


class BarFlag(IntFlag):
    """Per-bar quality flags stored in the warehouse ``flags`` column (a bit mask).

    ``OHLC_REPAIRED``
        High or low contradicted open or close and was widened to cover them.
    ``CORPORATE_ACTION``
        A corporate action (spin-off, special distribution) takes effect on this session and
        its adjustment is an approximation: the return into this bar is not exact.
    """

    NONE = 0
    OHLC_REPAIRED = 1
    CORPORATE_ACTION = 2


class IssueAction(StrEnum):
    """What validation did with a bad input row."""

    REJECTED = "rejected"
    REPAIRED = "repaired"


class Rule(StrEnum):
    """Validation rules; each reported issue names one."""

    MISSING_VALUE = "missing_value"
    BAD_NUMBER = "bad_number"
    BAD_DATE = "bad_date"
    BAD_SYMBOL = "bad_symbol"
    MALFORMED_LINE = "malformed_line"
    NONPOSITIVE_PRICE = "nonpositive_price"
    NEGATIVE_VOLUME = "negative_volume"
    HIGH_BELOW_OPEN_CLOSE = "high_below_open_close"
    LOW_ABOVE_OPEN_CLOSE = "low_above_open_close"
    HIGH_BELOW_LOW = "high_below_low"
    FUTURE_DATE = "future_date"
    NOT_A_SESSION = "not_a_session"
    DUPLICATE_ROW = "duplicate_row"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
