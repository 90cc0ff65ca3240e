"""A stored book run's own frames, read back and shaped for the Explorer's Sleeves section.

A book run (:mod:`quant_core.backtest.book_run`) is stored as a plain run plus
``sleeves.parquet`` (each sleeve's equity at every close, USD, and ``reserve``: the cash no
sleeve holds), ``sleeve_trades.parquet`` (each sleeve's part of each fill), ``allocations.parquet``
(one row per sleeve and allocation: ``weight`` the fraction of the book's equity it got),
``universe_<sleeve>.parquet`` (a scanner sleeve's universe size and turnover at each scan) and
``sleeves.json`` (each sleeve's figures, :func:`quant_core.backtest.book_run.sleeve_summary`).

No Streamlit here. Every sleeve return is the run's own: ``r_t = E_t / (E_{t-1} + F_t) - 1``
(:func:`quant_core.book.capital.sleeve_returns`) with ``F_t`` the cash an allocation moved into
the sleeve at the open of t (:func:`quant_core.backtest.book_run.sleeve_flows`), so a transfer
between sleeves is neither a gain nor a loss.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from quant_core.backtest import metrics
from quant_core.backtest.book_engine import BookResult
from quant_core.backtest.book_run import SLEEVE_SUMMARY_COLUMNS, sleeve_flows
from quant_core.backtest.engine import EngineResult
from quant_core.backtest.frames import Frames
from quant_core.backtest.results import StoredRun
from quant_core.book.build import RESERVE
from quant_core.book.capital import sleeve_returns
from quant_core.cockpit.models.backtests import rebalance_dates

UNIVERSE_PREFIX = "universe_"
# Above this the reserve (unallocated cash, USD) is drawn as a band of its own.
RESERVE_SHOWN_USD = 0.005
# Above this (a fraction of equity) the unallocated share is drawn in the allocation chart.
RESERVE_SHOWN_WEIGHT = 1e-9
SLEEVE_INDEX = re.compile(r"\bsleeve (\d+)\b")


@dataclass(frozen=True, slots=True)
class StoredBook:
    """A book run's own files, read back.

    Attributes
    ----------
    sleeves
        Date index, one column per sleeve (in the book's order): its equity at each close, USD.
    reserve
        Date index: the cash no sleeve holds, USD (the columns of ``sleeves`` plus it sum to the
        account's equity).
    trades
        Each sleeve's part of each fill (sleeve, date, symbol, shares, price, commission, cash).
    allocations
        One row per sleeve and allocation (date, sleeve, allocated, weight, capital, fallback).
    universes
        Scanner sleeve -> its universe's ``size`` (names) and ``turnover`` (fraction) by date.
    figures
        One row per sleeve (index: its name): ``final_equity``, ``pnl``, ``total_return``,
        ``max_drawdown``, ``trades``, ``weight``.
    """

    sleeves: pd.DataFrame
    reserve: pd.Series
    trades: pd.DataFrame
    allocations: pd.DataFrame
    universes: dict[str, pd.DataFrame]
    figures: pd.DataFrame
    trips: pd.DataFrame = field(default_factory=pd.DataFrame)  # sleeve_round_trips.parquet

    @property
    def names(self) -> list[str]:
        """Return the sleeves' names, in the book's order."""
        return [str(name) for name in self.sleeves.columns]


def read_book(folder: Path) -> StoredBook:
    """Read the book frames of the run stored in ``folder`` (module docstring)."""
    frame = pd.read_parquet(folder / "sleeves.parquet")
    frame.index = pd.DatetimeIndex(frame.index)
    reserve = frame[RESERVE].astype(float) if RESERVE in frame else pd.Series(0.0, frame.index)
    sleeves = frame.drop(columns=[RESERVE], errors="ignore").astype(float)
    names = [str(name) for name in sleeves.columns]
    universes = {}
    for name in names:
        path = folder / f"{UNIVERSE_PREFIX}{name}.parquet"
        if path.is_file():
            universe = pd.read_parquet(path)
            universe.index = pd.DatetimeIndex(universe.index)
            universes[name] = universe
    document = json.loads((folder / "sleeves.json").read_text())
    # A figure stored as null (a weight before any allocation) reads back as NaN.
    figures = (
        pd.DataFrame.from_dict(document, orient="index")
        .reindex(index=names, columns=list(SLEEVE_SUMMARY_COLUMNS))
        .astype(float)
    )
    return StoredBook(
        sleeves=sleeves,
        reserve=reserve.rename(RESERVE),
        trades=pd.read_parquet(folder / "sleeve_trades.parquet"),
        allocations=pd.read_parquet(folder / "allocations.parquet"),
        universes=universes,
        figures=figures,
        trips=_trips(folder / "sleeve_round_trips.parquet"),
    )


def _trips(path: Path) -> pd.DataFrame:
    # A book run stored before sleeves had round trips has none.
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=["sleeve", "pnl"])


def sleeve_trips(trips: pd.DataFrame, name: str) -> pd.DataFrame:
    """Return one sleeve's round trips (without the sleeve column), by entry date."""
    mine = trips[trips["sleeve"] == name]
    return mine.drop(columns=["sleeve"]).reset_index(drop=True)


def book_result(run: StoredRun, book: StoredBook) -> BookResult:
    """Return the stored run as the engine's :class:`BookResult` (its rebalances: trade dates)."""
    account = EngineResult(
        curve=run.curve,
        frames=Frames.of(run.trades, run.positions),
        rebalances=rebalance_dates(run.trades),
        decisions=run.decisions,
    )
    return BookResult(
        account, book.sleeves, book.reserve, book.trades, book.allocations, book.universes
    )


def daily_returns(run: StoredRun, book: StoredBook) -> pd.DataFrame:
    """Return each sleeve's daily returns net of allocation flows (fractions), dates x sleeves.

    ``r_t = E_t / (E_{t-1} + F_t) - 1`` from the second close on; NaN where the sleeve had no
    capital yet (its base is not positive).
    """
    flows = sleeve_flows(book_result(run, book))
    values = sleeve_returns(book.sleeves.to_numpy(dtype=float), flows.to_numpy(dtype=float))
    return pd.DataFrame(values, index=book.sleeves.index[1:], columns=book.sleeves.columns)


def correlation(returns: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return the Pearson correlation of the sleeves' daily returns and the sessions it used.

    Only sessions where every sleeve has a return count (no pairwise deletion, so the matrix is
    a valid correlation matrix); a sleeve whose returns do not vary has NaN off its diagonal and
    on it.
    """
    complete = returns.dropna(how="any")
    return complete.corr(method="pearson"), len(complete)


def stacked_equity(book: StoredBook) -> pd.DataFrame:
    """Return the sleeves' equity (USD) and, when it ever holds cash, the reserve's, by date.

    The columns sum to the account's equity at every close.
    """
    if (book.reserve.abs() > RESERVE_SHOWN_USD).any():
        return book.sleeves.assign(**{RESERVE: book.reserve})
    return book.sleeves.copy()


def allocation_weights(allocations: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Return each allocation's weights: allocation dates x sleeves (fractions of equity).

    A sleeve absent from an allocation weighs 0 there. When the weights ever sum to less than 1
    (a scaling left cash unallocated) a ``reserve`` column holds ``1 - sum``.
    """
    if allocations.empty:
        return pd.DataFrame(columns=list(names), dtype=float)
    frame = allocations.assign(date=pd.DatetimeIndex(allocations["date"]))
    wide = frame.pivot_table(index="date", columns="sleeve", values="weight", aggfunc="last")
    wide = wide.reindex(columns=list(names)).fillna(0.0)
    wide.columns.name = None
    rest = 1.0 - wide.sum(axis=1)
    if (rest > RESERVE_SHOWN_WEIGHT).any():
        wide[RESERVE] = rest.clip(lower=0.0)
    return wide


def fallbacks(allocations: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Return the allocations that fell back to equal weights: ``date`` and ``reason``.

    One row per allocation date (the reason is the same for every sleeve of it); the reason's
    ``sleeve <k>`` (the allocator's index) is written ``sleeve <name>``.
    """
    if allocations.empty:
        return pd.DataFrame({"date": pd.DatetimeIndex([]), "reason": pd.Series(dtype=object)})
    fell = allocations.loc[allocations["fallback"].notna(), ["date", "fallback"]]
    fell = fell.drop_duplicates(subset=["date"]).sort_values("date", kind="stable")

    def named(match: re.Match[str]) -> str:
        k = int(match.group(1))
        return f"sleeve {names[k]}" if k < len(names) else match.group(0)

    reasons = [SLEEVE_INDEX.sub(named, str(text)) for text in fell["fallback"]]
    return pd.DataFrame(
        {"date": pd.DatetimeIndex(fell["date"]), "reason": pd.Series(reasons, dtype=object)}
    )


def figures_table(figures: pd.DataFrame) -> pd.DataFrame:
    """Return the sleeves' figures as a table: a ``sleeve`` column, then the figures."""
    table = figures.reset_index(names="sleeve")
    table["trades"] = table["trades"].astype("Int64")
    return table


def sleeve_figures(book: StoredBook, name: str) -> dict[str, float]:
    """Return sleeve ``name``'s stored figures (``final_equity``, ``total_return``, ...)."""
    row = book.figures.to_dict(orient="index")[name]
    return {str(k): float(v) for k, v in row.items()}


def sleeve_trades(trades: pd.DataFrame, name: str) -> pd.DataFrame:
    """Return sleeve ``name``'s part of each fill, by date then symbol (no ``sleeve`` column)."""
    mine = trades.loc[trades["sleeve"] == name].drop(columns=["sleeve"])
    mine = mine.assign(date=pd.DatetimeIndex(mine["date"]))
    return mine.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)


def sleeve_growth(book: StoredBook, returns: pd.DataFrame, name: str) -> pd.Series:
    """Return sleeve ``name``'s growth of $1 (``prod(1 + r)``, 1 at the first close), by date.

    ``returns`` is :func:`daily_returns`; sessions without a return (no capital yet) count 0,
    as in the stored figures.
    """
    daily = np.nan_to_num(returns[name].to_numpy(dtype=float))
    growth = np.concatenate([[1.0], np.cumprod(1.0 + daily)])
    return pd.Series(growth, index=book.sleeves.index, name=name)


def sleeve_drawdown(growth: pd.Series) -> pd.Series:
    """Return the fall of ``growth`` below its running peak (a fraction <= 0), by date."""
    return metrics.drawdown(growth)
