"""Comparing stored runs fairly: on the sessions they share, rebased, with what differs said.

Pure, without Streamlit. Two runs over different periods cannot be read off one chart from
their own starts: :func:`align` cuts every curve to the common period (the first to the last
session all of them have) so each is rebased to 1 at the first common session, and
:func:`period_metrics` measures each run over that period with the run's own formulas
(:func:`quant_core.backtest.metrics.summary`). :func:`differences` says, naming the runs, when
their capital or their periods differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from quant_core.backtest import metrics
from quant_core.cockpit.format import money


@dataclass(frozen=True, slots=True)
class Alignment:
    """Curves cut to their common period (empty ``curves`` when they share no session)."""

    start: pd.Timestamp | None  # the first common session: where every curve is rebased to 1
    end: pd.Timestamp | None  # the last common session
    curves: dict[str, pd.DataFrame]  # label -> the run's curve from start to end
    cut: bool  # True when some run's curve reaches beyond the common period

    @property
    def sessions(self) -> int:
        """Return the number of sessions of returns in the common period (0 when none)."""
        return min((len(c) - 1 for c in self.curves.values()), default=0)


def _dates(curve: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(curve.index)


def period(curve: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return a curve's first and last session."""
    dates = _dates(curve)
    return pd.Timestamp(dates[0]), pd.Timestamp(dates[-1])


def align(curves: Mapping[str, pd.DataFrame]) -> Alignment:
    """Return the curves cut to the sessions from the first to the last that all of them have.

    ``start`` is the first session every curve holds, ``end`` the last one; each curve keeps its
    own rows between the two. Growth over the result (:func:`quant_core.backtest.metrics.
    growth`) is then each run rebased to 1 at ``start``.
    """
    common: pd.DatetimeIndex | None = None
    for curve in curves.values():
        dates = _dates(curve)
        common = dates if common is None else common.intersection(dates)
    if common is None or common.empty:
        return Alignment(None, None, {}, cut=bool(curves))
    start, end = pd.Timestamp(common.min()), pd.Timestamp(common.max())
    cut_curves = {}
    for label, curve in curves.items():
        dates = _dates(curve)
        cut_curves[label] = curve.loc[(dates >= start) & (dates <= end)]
    cut = any(len(cut_curves[k]) != len(curves[k]) for k in curves)
    return Alignment(start, end, cut_curves, cut)


def period_metrics(
    curve: pd.DataFrame, trades: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> dict[str, Any]:
    """Return a run's metrics over ``start``..``end`` only, by the run's own formulas.

    The curve from ``start`` to ``end`` (its equity at the close of ``start`` is the period's
    start equity), the trades of the sessions after ``start`` through ``end`` (a trade at
    ``start`` is already in that close), and the benchmark column over the same sessions.
    """
    dates = _dates(curve)
    window = curve.loc[(dates >= start) & (dates <= end)]
    traded = pd.DatetimeIndex(trades["date"])
    inside = trades.loc[(traded > start) & (traded <= end)]
    benchmark = None
    if "benchmark" in window and window["benchmark"].notna().all():
        benchmark = window["benchmark"].astype(float)
    return dict(metrics.summary(window, inside, benchmark))


def differences(
    periods: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]],
    capitals: Mapping[str, float | None],
    alignment: Alignment,
) -> list[str]:
    """Return what differs between the runs compared, naming them (empty when nothing does).

    ``periods``: label -> first and last session; ``capitals``: label -> starting capital (USD).
    One line for capital, one for the period (with the common period the comparison uses, or
    that there is none: no common session, or a single one, which holds no return).
    """
    lines = []
    if len({round(c, 2) if c is not None else None for c in capitals.values()}) > 1:
        each = "; ".join(f"{label} {money(c, 0)}" for label, c in capitals.items())
        lines.append(
            f"Capital differs: {each}. Growth (rebased to 1) compares them; dollars do not."
        )
    # One common session holds no return: nothing to chart or measure over it.
    single = alignment.start is not None and alignment.sessions == 0
    if len(set(periods.values())) > 1:
        each = "; ".join(f"{label} {_day(a)} to {_day(b)}" for label, (a, b) in periods.items())
        if alignment.start is None or alignment.end is None:
            lines.append(f"Period differs: {each}. The runs share no session: nothing to align.")
        elif single:
            lines.append(
                f"Period differs: {each}. The runs share one session only, "
                f"{_day(alignment.start)}: no return to compare over it."
            )
        else:
            lines.append(
                f"Period differs: {each}. Compared over their common period "
                f"{_day(alignment.start)} to {_day(alignment.end)}, each curve rebased to 1 on "
                f"{_day(alignment.start)}; the metrics are over that period too."
            )
    elif single and alignment.start is not None:
        lines.append(
            f"The runs share one session only, {_day(alignment.start)}: no return to compare."
        )
    return lines


def _day(moment: pd.Timestamp) -> str:
    return str(pd.Timestamp(moment).date())
