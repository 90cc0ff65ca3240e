"""The book's steps at one session, shared by the backtest's book engine and the live worker.

:class:`BookDesk` holds the sleeves' sub-accounts (:class:`~quant_core.book.sleeves.
SubAccounts`) and their limits (:class:`~quant_core.book.sleeve_risk.SleeveGuard`), and takes
the same steps in both drivers:

- :meth:`BookDesk.allocate`: each sleeve's capital from the sleeves' returns through T-1
  (:func:`~quant_core.book.capital.capital_step`), cash moved between the sub-accounts;
- :meth:`BookDesk.requests`: each sleeve due at T (and not halted) decides on its own
  sub-account, universe and policy (:func:`~quant_core.strategies.decide.target_orders`, data
  through T-1); its requests are its targets less its shares; a sleeve's own stop or flat
  replaces its request in that name;
- :meth:`BookDesk.net`: one order per symbol (:func:`~quant_core.book.netting.net_orders`);
- :meth:`BookDesk.settle`: what the account filled, attributed back to the sleeves
  (:func:`~quant_core.book.netting.attribute`); an order no sleeve asked for (the account's
  own stop, breach or FLAT) goes to the sleeves holding the name, by their shares (beyond them:
  no sleeve's, its cash to the reserve). The account's cash is the truth: the rounding of sums
  taken in another order goes to the sleeve that moved most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.book.capital import CapitalStep, capital_step
from quant_core.book.netting import Attribution, attribute, net_orders
from quant_core.book.sleeve_risk import SleeveGuard
from quant_core.book.sleeves import Book, SubAccounts
from quant_core.data.panels import MarketData
from quant_core.errors import StrategyError
from quant_core.strategies.decide import Decision, target_orders

DUST = 1e-9  # shares: a net order smaller than this is rounding (fractional shares), not sent
CENT = 0.01


@dataclass(frozen=True, slots=True)
class Allocated:
    """One allocation: the step's weights, each sleeve's capital and the cash moved in."""

    step: CapitalStep
    capital: np.ndarray
    flows: np.ndarray


class BookDesk:
    """A book's sub-accounts and sleeve limits, and the steps of a session (module docstring)."""

    def __init__(self, book: Book, symbols: np.ndarray, initial_cash: float) -> None:
        self.book = book
        self.accounts = SubAccounts.start(len(book.sleeves), len(symbols), initial_cash)
        self.guard = SleeveGuard(book, symbols)

    def allocate(self, returns: np.ndarray, marks: np.ndarray, started: np.ndarray) -> Allocated:
        """Give each active sleeve its weight of the book's equity at ``marks`` (T-1 closes).

        Active: ``started`` (past its warm-up: it can trade at T) and not halted. The others
        keep their equity (no cash moves in or out: a halted sleeve holds what it has), and the
        active ones share the rest of the book's equity. Every sleeve whose capital moves
        rebalances at T (:meth:`moved`), so that no sleeve is left with negative cash.
        """
        active = np.asarray(started, dtype=bool) & ~self.guard.halted
        step = capital_step(self.book, returns, active)
        equity = self.accounts.equity(marks)
        pool = float(equity[active].sum() + self.accounts.reserve)
        capital = np.where(active, step.weights * pool, equity)
        return Allocated(step, capital, self.accounts.allocate(capital, marks))

    @staticmethod
    def moved(allocated: Allocated) -> np.ndarray:
        """Return the sleeves whose capital the allocation changed (more than half a cent)."""
        return np.asarray(np.abs(allocated.flows) > CENT / 2)

    def requests(
        self,
        data: MarketData,
        t: int,
        due: list[bool],
        marks: np.ndarray,
        *,
        cash_buffer: float,
        fractional: bool,
        gone: np.ndarray,
        universes: list[np.ndarray | None],
        exits: np.ndarray | None = None,
        session: pd.Timestamp | None = None,
    ) -> tuple[np.ndarray, list[tuple[int, Decision]]]:
        """Return the sleeves' requests at row ``t`` (``K x n``) and each sleeve's decision."""
        requests = np.zeros_like(self.accounts.positions)
        decisions = []
        for k, sleeve in enumerate(self.book.sleeves):
            if self.guard.halted[k]:  # holds what it has, but not a name that left the data
                requests[k, gone] = -self.accounts.positions[k, gone]
                continue
            if not due[k]:
                continue
            try:
                decision = target_orders(
                    sleeve.strategy,
                    data,
                    t,
                    self.accounts.ledger(k),
                    marks,
                    cash_buffer,
                    fractional,
                    session,
                    ended=gone,
                    policy=sleeve.policy,
                    universe=universes[k],
                )
            except StrategyError as exc:
                raise type(exc)(f"sleeve {sleeve.name}: {exc}") from exc
            requests[k] = decision.orders
            decisions.append((k, decision))
        if exits is not None:
            stopped = exits != 0
            requests[stopped] = exits[stopped]
        return requests, decisions

    @staticmethod
    def net(requests: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Return one order per symbol for the account holding ``positions``.

        Fractional shares: sleeves' orders that cancel but for rounding send nothing, and those
        that close a position close it exactly (an exit at a gone symbol's last close needs it).
        """
        orders = net_orders(requests)
        orders[np.abs(orders) < DUST] = 0.0
        closing = np.abs(positions + orders) < DUST
        orders[closing] = -positions[closing]
        return orders

    def settle(
        self,
        t: int,
        requests: np.ndarray,
        orders: np.ndarray,
        account_orders: np.ndarray,
        filled: np.ndarray,
        prices: np.ndarray,
        commissions: np.ndarray,
        cash_change: float,
        *,
        fractional: bool,
    ) -> Attribution:
        """Attribute the fills of row ``t`` to the sleeves and book them; return the attribution.

        ``orders`` the account sent; ``account_orders`` a bool per symbol: the order was the
        account's own (a stop, a breach, a FLAT), not the sleeves'. ``filled``, ``prices`` and
        ``commissions`` per symbol (``prices``: the fill's, else the session's, NaN for none);
        ``cash_change`` the account's cash change of the batch, to the last bit. What an order
        of the account's own moves beyond the sleeves' shares (a position held before the book
        began) is no sleeve's: its cash goes to the reserve.
        """
        ordered = orders != 0
        by_holdings = ordered & ((net_orders(requests) == 0) | account_orders)
        rows = self._by_holdings(requests, orders, by_holdings)
        whole = attribute(rows, filled, prices, commissions, fractional=fractional)
        share = Attribution(whole.shares[:-1], whole.commissions[:-1], whole.cash[:-1])
        outside = float(whole.cash[-1])
        self.accounts.apply(share)
        self.accounts.reserve += outside
        self.guard.fill(t, share.shares, prices)
        residual = cash_change - float(share.cash.sum()) - outside
        if share.cash.any():  # the rounding of sums taken in another order
            self.accounts.cash[int(np.argmax(np.abs(share.cash)))] += residual
        else:
            self.accounts.reserve += residual
        return share

    def _by_holdings(
        self, requests: np.ndarray, orders: np.ndarray, where: np.ndarray
    ) -> np.ndarray:
        # The requests with a last row: what is no sleeve's. An order no sleeve asked for that
        # closes the sleeves' position: each sleeve asks to close what it holds (a partial fill
        # is shared in proportion, in whole shares if so); beyond their shares, or an order
        # that does not close them, is no sleeve's.
        k, n = requests.shape
        out = np.vstack([requests, np.zeros(n)])
        if not where.any():
            return out
        held = self.accounts.positions[:, where]
        total = held.sum(axis=0)
        order = orders[where]
        closing = (total != 0) & (np.sign(order) == -np.sign(total))
        part = np.where(closing, -held, 0.0)
        beyond = closing & (np.abs(order) > np.abs(total))
        out[:k, where] = part
        out[k, where] = np.where(closing, np.where(beyond, order + total, 0.0), order)
        return out


__all__ = ["CENT", "DUST", "Allocated", "BookDesk"]
