"""The Explorer's decisions table: what shaped a run's book, by kind (pure, without Streamlit).

A run's ``decisions.parquet`` (:data:`quant_core.backtest.records.DECISION_COLUMNS`) holds one
row per name left out by construction, binding constraint, solver fallback, stop and halt, dated
by the session it acted at. :func:`kind_counts` counts them by kind (every known kind present),
:func:`decisions_view` filters and labels them for the table.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from quant_core.backtest.records import DECISION_COLUMNS

# kind -> what a row of that kind says, in words (the page's legend)
KIND_NOTES: dict[str, str] = {
    "left_out": "a name construction left out of the book, and why",
    "constraint": "a constraint that bound at a rebalance, and what it did",
    "fallback": "a construction solver that failed, and what was used instead",
    "stop": "a position a stop closed at that open, and the figures that tripped it",
    "halt": "an account limit that tripped (or a halt that ran out)",
}
DECISION_LABELS = {"date": "Date", "kind": "Kind", "name": "Name", "detail": "Detail"}
NO_DECISIONS = (
    "No decisions recorded: this run was stored before runs kept them (decisions.parquet)."
)
NONE_TAKEN = (
    "Nothing shaped this run's book beyond its strategy: no name left out, no constraint bound, "
    "no solver fallback, no stop and no halt."
)


def kind_counts(decisions: pd.DataFrame) -> dict[str, int]:
    """Return how many decisions of each kind, every known kind present, unknown kinds after."""
    counts = decisions["kind"].value_counts() if len(decisions) else pd.Series(dtype=int)
    return {k: int(counts.get(k, 0)) for k in KIND_NOTES} | {
        str(k): int(c) for k, c in counts.items() if k not in KIND_NOTES
    }


def counts_line(decisions: pd.DataFrame) -> str:
    """Return one line counting the decisions by kind, e.g. ``12 decisions: 3 left out, ...``."""
    counts = kind_counts(decisions)
    parts = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in counts.items())
    return f"{len(decisions):,} decisions: {parts}."


def decisions_view(decisions: pd.DataFrame, kinds: Iterable[str] | None = None) -> pd.DataFrame:
    """Return the decisions for the table, in date order, only those of ``kinds`` (None: all).

    Parameters
    ----------
    decisions
        A run's decisions (``date``, ``kind``, ``name``, ``detail``).
    kinds
        The kinds to keep; None keeps every row.

    Returns
    -------
    pandas.DataFrame
        The rows kept, their columns in :data:`DECISION_COLUMNS` order, the index reset.
    """
    frame = decisions.loc[:, list(DECISION_COLUMNS)].copy()
    frame["date"] = pd.DatetimeIndex(frame["date"])
    if kinds is not None:
        frame = frame[frame["kind"].isin(list(kinds))]
    return frame.sort_values("date", kind="stable").reset_index(drop=True)
