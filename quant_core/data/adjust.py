"""Corporate-action adjustment: scale prices before an action so that returns are real returns.

An action on ``ex_date`` with price ``factor`` multiplies open, high, low and close of every bar
*before* ``ex_date`` by ``factor`` (a 2:1 split has factor 0.5; a 1:10 reverse split 10). A split
also changes the share count, so volume before it is divided by the factor; a spin-off or a
special distribution does not, so volume stays. ``adj_factor`` accumulates the price factor, so
the source's raw price is ``price / adj_factor``. Actions whose factor is an estimate (spin-offs,
special distributions) also flag the ex-date bar ``CORPORATE_ACTION``: the return into that bar
is approximate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from quant_core.types import BarFlag


class ActionKind(StrEnum):
    """Kinds of corporate action."""

    SPLIT = "split"
    REVERSE_SPLIT = "reverse_split"
    SPIN_OFF = "spin_off"
    SPECIAL_DISTRIBUTION = "special_distribution"


ESTIMATED = frozenset({ActionKind.SPIN_OFF, ActionKind.SPECIAL_DISTRIBUTION})
SHARE_COUNT_CHANGES = frozenset({ActionKind.SPLIT, ActionKind.REVERSE_SPLIT})


@dataclass(frozen=True, slots=True)
class CorporateAction:
    """One action: bars of ``symbol`` before ``ex_date`` are scaled by ``factor``."""

    symbol: str
    ex_date: dt.date
    kind: ActionKind
    factor: float
    note: str

    def describe(self) -> str:
        """Return one line for the sync report."""
        return (
            f"{self.symbol} {self.kind.value} on {self.ex_date}: prices before it x{self.factor:g}"
            f" ({self.note})"
        )


def apply_actions(bars: pd.DataFrame, actions: Iterable[CorporateAction]) -> pd.DataFrame:
    """Return ``bars`` (numeric OHLCV, ``datetime64`` dates) with the actions applied."""
    out = bars.copy()
    if "adj_factor" not in out.columns:
        out["adj_factor"] = 1.0
    if "flags" not in out.columns:
        out["flags"] = 0
    for action in actions:
        ex = pd.Timestamp(action.ex_date)
        mine = out["symbol"] == action.symbol
        before = mine & (out["date"] < ex)
        for name in ("open", "high", "low", "close"):
            out.loc[before, name] = out.loc[before, name] * action.factor
        if action.kind in SHARE_COUNT_CHANGES:
            out.loc[before, "volume"] = out.loc[before, "volume"] / action.factor
        out.loc[before, "adj_factor"] = out.loc[before, "adj_factor"] * action.factor
        if action.kind in ESTIMATED:
            on_ex = mine & (out["date"] == ex)
            out.loc[on_ex, "flags"] = out.loc[on_ex, "flags"] | int(BarFlag.CORPORATE_ACTION)
    return out
