"""The live account's portfolio window, as TWS shows it: each position's cost, value and P&L.

No Streamlit and no file access. ``reports/positions.parquet`` (written at each session's close,
issue 14 contract section 3) has one row per symbol at the close: ``symbol, quantity, avg_cost,
market_price, market_value, unrealized_pnl, realized_pnl`` under the average-cost method with
commissions included, as TWS does. Today's live figures come on top:

* the fills of today not yet in a report (``models.live_reports.not_reported``) are rolled
  through the same method (:func:`roll`), which adds what they realised today;
* when the state document is newer than the file (its broker figures were read after the file
  was written), its positions give each symbol's shares and price; a symbol the state does not
  hold has been closed (0 shares, its realised P&L kept). The average cost stays the method's
  (the file's, rolled through today's fills) unless the state's shares differ from what the
  fills explain: then it is the broker's.

Then ``market_value = quantity x market_price`` and ``unrealized_pnl = (market_price -
avg_cost) x quantity`` (shorts gain as the price falls). A row unchanged by today keeps the
file's figures.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.analytics.average_cost import average_cost
from quant_core.live.state import DashboardState, PositionRow

POSITION_COLUMNS = (
    "symbol", "quantity", "avg_cost", "market_price", "market_value", "unrealized_pnl",
    "realized_pnl",
)  # fmt: skip
REQUIRED_POSITION_COLUMNS = ("symbol", "quantity", "avg_cost", "realized_pnl")
FLAT_EPS = 1e-9  # shares below this are no position (float residue of partial fills)


def normalise_positions(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the file's rows with every :data:`POSITION_COLUMNS` column as floats, by symbol."""
    out = pd.DataFrame({"symbol": frame["symbol"].astype(str).to_numpy()})
    for name in POSITION_COLUMNS[1:]:
        values = frame[name] if name in frame else pd.Series(np.nan, index=frame.index)
        out[name] = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    return out.drop_duplicates("symbol", keep="last").set_index("symbol")


def roll(
    quantity: float, avg_cost: float, fills: Iterable[tuple[float, float, float]]
) -> tuple[float, float, float]:
    """Apply fills in order to a position under the average-cost method (TWS's).

    Parameters
    ----------
    quantity, avg_cost
        The position before: signed shares, and dollars per share (any value when flat).
    fills
        ``(signed shares, price, commission)`` each, in time order; a NaN commission counts 0.

    Returns
    -------
    tuple
        ``(quantity, avg_cost, realised)`` after them. A fill that grows the position moves its
        cost basis ``quantity x avg_cost`` by ``shares x price + commission``; one that shrinks
        it realises ``closed x (price - avg_cost) x sign(position) - commission`` (dollars,
        the commission split by shares when the fill also opens the other side).
    """
    # The worker's own fold (analytics.average_cost), started from the position held:
    # an opening fill of ``quantity`` at ``avg_cost`` with no commission is that cost basis.
    steps = [(shares, price, 0.0 if math.isnan(fee) else fee) for shares, price, fee in fills]
    if abs(quantity) > FLAT_EPS:
        steps.insert(0, (quantity, avg_cost, 0.0))
    if not steps:
        return 0.0, 0.0, 0.0
    shares, prices, fees = (np.array(column, dtype=float) for column in zip(*steps, strict=True))
    folded = average_cost(np.full(len(steps), "x", dtype=object), shares, prices, fees)
    q, basis = float(folded.position[-1]), float(folded.basis[-1])
    realised = float(folded.realized[1 if abs(quantity) > FLAT_EPS else 0 :].sum())
    return q, (basis / q if abs(q) > FLAT_EPS else 0.0), realised


def state_as_of(state: DashboardState | None) -> dt.datetime | None:
    """Return when the state's broker figures were read (its heartbeat without that), or None."""
    if state is None:
        return None
    return state.worker.broker_as_of or state.worker.heartbeat_at


def state_is_newer(state: DashboardState | None, file_time: dt.datetime | None) -> bool:
    """Return whether the state's positions are newer than the file written at ``file_time``."""
    as_of = state_as_of(state)
    if as_of is None:
        return False
    return file_time is None or as_of > file_time


def portfolio(
    reported: pd.DataFrame | None,
    state: DashboardState | None,
    new_fills: pd.DataFrame,
    state_newer: bool,
) -> pd.DataFrame:
    """Return one row per symbol held or traded: :data:`POSITION_COLUMNS` plus ``today``.

    ``reported``: ``reports/positions.parquet`` (None: no file); ``new_fills``: today's fills
    not in a report (signed ``quantity``, ``price``, ``commission``); ``state_newer``: the state's
    positions override the file's (module docstring). ``today`` is the P&L those fills
    realised. Rows flat with nothing realised are left out; sorted by symbol.

    Without a file the realised P&L is unknown (NaN): the positions are the state's, and
    today's fills are not rolled (they would start from no position).
    """
    if reported is None:
        current = pd.DataFrame(
            [(p.symbol, p.quantity, p.avg_cost, p.market_price) for p in state.positions]
            if state is not None
            else [],
            columns=list(POSITION_COLUMNS[:4]),
        ).assign(realized_pnl=np.nan)
        empty = new_fills.iloc[:0]
        frame = portfolio(current, state, empty, state_newer).assign(realized_pnl=np.nan)
        return frame[frame["quantity"].abs() > FLAT_EPS].reset_index(drop=True)
    base = _records(reported)
    held = {p.symbol: p for p in state.positions} if state is not None and state_newer else {}
    by_symbol = {str(s): g for s, g in new_fills.groupby("symbol", sort=False)}
    rows = []
    for symbol in sorted(set(base) | set(held) | set(by_symbol)):
        line = _Line.of(symbol, base.get(symbol))
        if symbol in by_symbol:
            line.apply(by_symbol[symbol])
        if state_newer:
            line.override(held.get(symbol))
        if line.shown:
            rows.append(line.row())
    return pd.DataFrame(rows, columns=[*POSITION_COLUMNS, "today"])


@dataclass(slots=True)
class _Line:
    """One symbol's row while today's figures are laid over the file's."""

    symbol: str
    quantity: float
    avg_cost: float
    market_price: float
    market_value: float
    unrealized_pnl: float
    realized_pnl: float
    today: float = 0.0
    changed: bool = False

    @classmethod
    def of(cls, symbol: str, reported: Mapping[str, float] | None) -> _Line:
        """Return the file's row of ``symbol`` (None: first traded today)."""
        if reported is None:
            return cls(symbol, 0.0, math.nan, math.nan, 0.0, 0.0, 0.0, changed=True)
        return cls(
            symbol,
            _or0(reported["quantity"]),
            reported["avg_cost"],
            reported["market_price"],
            reported["market_value"],
            reported["unrealized_pnl"],
            _or0(reported["realized_pnl"]),
        )

    def apply(self, fills: pd.DataFrame) -> None:
        """Roll today's unreported fills of the symbol (time order) into the position."""
        cost = 0.0 if math.isnan(self.avg_cost) else self.avg_cost
        steps = zip(fills["quantity"], fills["price"], fills["commission"], strict=True)
        self.quantity, self.avg_cost, self.today = roll(self.quantity, cost, steps)
        self.market_price = float(fills["price"].iloc[-1])
        self.changed = True

    def override(self, live: PositionRow | None) -> None:
        """Take the state's shares and price (None: not held now, so flat).

        The average cost stays the file's, rolled through today's fills (one method for
        every row); only shares the fills do not explain take the broker's average cost.
        """
        if live is None:
            if abs(self.quantity) > FLAT_EPS:
                self.quantity, self.avg_cost, self.changed = 0.0, math.nan, True
            return
        explained = abs(live.quantity - self.quantity) <= FLAT_EPS * max(1.0, abs(live.quantity))
        if not explained or math.isnan(self.avg_cost):
            self.avg_cost = math.nan if live.avg_cost is None else live.avg_cost
        self.quantity = live.quantity
        self.market_price = math.nan if live.market_price is None else live.market_price
        self.changed = True

    @property
    def shown(self) -> bool:
        """Return whether the row says anything: shares held, or P&L realised."""
        return abs(self.quantity) > FLAT_EPS or round(self.realized_pnl + self.today, 2) != 0

    def row(self) -> dict[str, float | str]:
        """Return the row, its value and unrealised P&L recomputed if today changed it."""
        value, unrealised = self.market_value, self.unrealized_pnl
        if self.changed:
            held = abs(self.quantity) > FLAT_EPS
            value = self.quantity * self.market_price if held else 0.0
            unrealised = (self.market_price - self.avg_cost) * self.quantity if held else 0.0
        return {
            "symbol": self.symbol,
            "quantity": self.quantity,
            "avg_cost": self.avg_cost,
            "market_price": self.market_price,
            "market_value": value,
            "unrealized_pnl": unrealised,
            "realized_pnl": self.realized_pnl + self.today,
            "today": self.today,
        }


def _records(reported: pd.DataFrame) -> dict[str, dict[str, float]]:
    # The file's rows by symbol.
    frame = normalise_positions(reported)
    return {
        str(symbol): {str(k): float(v) for k, v in values.items()}
        for symbol, values in frame.to_dict("index").items()
    }


def _or0(value: float) -> float:
    return 0.0 if math.isnan(value) else value
