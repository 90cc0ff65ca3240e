"""The Broker protocol over TWS / IB Gateway: a thin facade.

The connection (``ib/connection.py``) holds the socket, IB's messages and TWS's link to IB;
``ib/errors.py`` sorts IB's codes into our error families; ``ib/mapping.py`` maps IB's objects
to our frozen types (``quant_core.broker``). Every order carries our order reference
(``orderRef``), so the worker recognises its own orders after a restart.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from config.schema import IBConfig
from quant_core.broker import Account, Fill, Order, OrderRef, Position
from quant_core.errors import TemporaryBrokerError
from quant_core.ib import errors, mapping
from quant_core.ib.client import ibapi
from quant_core.ib.connection import IBConnection

logger = logging.getLogger(__name__)

COMMISSION_GRACE_S = 5.0  # how long a fill waits for its commission report
QUOTE_BATCH = 50  # snapshot quotes asked at once (each holds one of ~100 market data lines)
FLUSH_POLL_S, FLUSH_TIMEOUT_S = 0.05, 30.0  # place(): waiting for the client's paced queue
DELAYED_DATA = 3  # IB's market data type: delayed (15-20 minutes late), free
HISTORY_BATCH = 40  # daily bars asked at once (IB allows 50 historical requests open)
HISTORY_PACING = 162  # a history request's own error (pacing, or no data): not the link's


class IBBroker:
    """A connection to TWS / IB Gateway, seen through our Broker protocol.

    Parameters
    ----------
    cfg
        The ``ib`` config section: host, port, client id, account, trading mode.
    timeout_s
        Connect timeout, seconds.
    """

    def __init__(self, cfg: IBConfig, timeout_s: float = 10.0) -> None:
        self.cfg = cfg
        self.timeout_s = timeout_s
        self.connection = IBConnection(cfg, timeout_s)
        self.connection.on_order_message = self._on_order_message
        self.ib = self.connection.ib
        self._reported: set[str] = set()  # execution ids already handed out by settle()
        self._account = cfg.account or ""
        self._rejected: list[Order] = []
        self._pnl: Any = None
        self._unpriced: dict[str, float] = {}  # exec id -> when first seen without commission
        self._owed: set[str] = set()  # exec ids handed out without their commission, yet
        self.quote_batch = QUOTE_BATCH
        self._contracts: dict[str, Any] = {}  # symbol -> IB's contract, for this connection
        self._untraded: set[int] = set()  # contract ids of positions said not to be traded

    # ----------------------------------------------------------------------- connection

    def connect(self) -> None:
        """Connect and select the account; a client id in use is a ConfigError.

        Always afresh: positions, open orders and executions are all read again. While TWS
        reports its link to IB lost (1100), a reconnect would only read stale data: this waits
        for TWS to restore it (1101 or 1102) and raises BrokerLinkDown until then. The account
        reached must be the configured one, paper or live as configured, kept in dollars.
        """
        accounts = self.connection.connect()
        self._contracts.clear()
        self._untraded.clear()
        self._account = self.cfg.account or (accounts[0] if accounts else "")
        self.connection.check_consent(self._account, accounts)
        with self._sending():  # a socket dropping already: TemporaryBrokerError, try again
            # Every open order of the login, not only this client id's (see open_orders).
            self.ib.reqAllOpenOrders()
            # Today's P&L as IB computes it (reqPnL), kept live; one subscription per connection.
            self._pnl = self.connection.subscribe_pnl(self._account)
        logger.info(
            "Connected to IB (server version %s), accounts %s",
            self.ib.client.serverVersion(),
            accounts,
        )

    def disconnect(self) -> None:
        """Close the connection."""
        self.connection.disconnect()

    def is_connected(self) -> bool:
        """Return whether the socket is up."""
        return self.connection.is_connected()

    def wait(self, seconds: float) -> None:
        """Let the client library process messages for ``seconds``."""
        self.connection.wait(seconds)

    @property
    def account_id(self) -> str:
        """Return the account traded: the configured one, or the login's (kept from connect)."""
        return self._account

    def _on_order_message(self, req_id: int, code: int, message: str) -> None:
        # A notice on a live order that the client library took for its end is undone; an
        # order IB refused is handed back as rejected (``rejected``), with IB's reason.
        trades = self.ib.trades()
        errors.revive(trades, req_id, code)
        self._rejected += errors.refused_orders(trades, req_id, code, message, self.cfg.client_id)

    # -------------------------------------------------------------------- the protocol

    def account(self) -> Account:
        """Return NetLiquidation, TotalCashValue, BuyingPower and the PnL, in USD."""
        return mapping.account(
            self.ib.accountValues(self.account_id), self.ib.portfolio(self.account_id), self._pnl
        )

    def positions(self) -> list[Position]:
        """Return every non-zero position in a US stock, with its market price.

        The account's other positions (options, futures, other currencies) are not the
        strategy's shares: left out, and named in a warning once per connection.
        """
        held = self.ib.positions(self.account_id)
        for con_id, what in mapping.untraded(held).items():
            if con_id not in self._untraded:
                self._untraded.add(con_id)
                logger.warning(
                    "Position %s is not a US stock: the worker neither counts nor trades it "
                    "(FLAT leaves it); manage it in TWS",
                    what,
                )
        return mapping.positions(held, self.ib.portfolio(self.account_id))

    def _order(self, trade: Any) -> Order:
        return mapping.order(trade, self.cfg.client_id)

    def _is_mine(self, trade: Any) -> bool:
        return mapping.placed_by(trade, self.cfg.client_id)

    def open_orders(self) -> list[Order]:
        """Return every order of the login not yet done, whichever API client placed it.

        IB shows a client only its own orders unless asked for all (connect() asks): a worker
        restarted under another ``ib.client_id`` must still see what it sent before, or it would
        send it again. Another client's order has the id ``<client id>/<order id>``; this
        client can see it, not cancel it.
        """
        trades = self.ib.openTrades()
        if any(not self._is_mine(t) for t in trades):
            # IB keeps a client posted on its own orders only: the others' are a snapshot, so
            # ask again, and drop those no longer open (filled or cancelled meanwhile).
            with self._sending():
                still_open = {t.order.permId for t in self.ib.reqAllOpenOrders()}
            trades = [
                t for t in self.ib.openTrades() if self._is_mine(t) or t.order.permId in still_open
            ]
        return [self._order(t) for t in trades]

    @contextmanager
    def _sending(self) -> Iterator[None]:
        # ib_async notices a closed socket only when its loop runs: run it, and refuse to send
        # into a dead connection (the orders would be lost, yet look sent).
        self.wait(0)
        self.connection.raise_pending()
        try:
            yield
        except (ConnectionError, OSError) as exc:
            raise TemporaryBrokerError(f"the connection to TWS dropped: {exc}") from None

    def place(self, orders: list[Order]) -> list[Order]:
        """Send orders to IB, each tagged with its reference; return them as accepted.

        Returns once the client has written them all: it paces requests (about 45 a second)
        and queues the rest, which a worker stopped just after would otherwise never send.
        """
        with self._sending():
            placed = [self._place_one(order) for order in orders]
            deadline = time.monotonic() + FLUSH_TIMEOUT_S
            while getattr(self.ib.client, "_msgQ", None) and time.monotonic() < deadline:
                self.wait(FLUSH_POLL_S)
        return placed

    def _place_one(self, order: Order) -> Order:
        contract = mapping.stock(order.symbol)
        ib_order = mapping.ib_order(order, self.account_id)
        return self._order(self.ib.placeOrder(contract, ib_order))

    def cancel(self, order_id: str) -> None:
        """Cancel one open order by its IB order id."""
        client = mapping.client_of(order_id)
        if client is not None:
            logger.error(
                "Cannot cancel order %s: another API client placed it; cancel it in TWS, or "
                "connect with ib.client_id %s",
                order_id,
                client,
            )
            return
        with self._sending():
            for trade in self.ib.openTrades():
                if str(trade.order.orderId) == order_id and self._is_mine(trade):
                    self.ib.cancelOrder(trade.order)
                    return

    def cancel_all(self) -> None:
        """Cancel our open orders; every order of the login with ``ib.cancel_scope: all``."""
        with self._sending():
            if self.cfg.cancel_scope == "all":
                self.ib.reqGlobalCancel()  # type: ignore[no-untyped-call]
                return
            for trade in self.ib.openTrades():
                if not OrderRef.is_ours(trade.order.orderRef):
                    continue
                if self._is_mine(trade):
                    self.ib.cancelOrder(trade.order)
                else:
                    self.cancel(self._order(trade).order_id)  # says why it cannot

    def settle(self, seconds: float) -> list[Fill]:
        """Process IB's messages for ``seconds``; return executions not reported before.

        An execution handed out without its commission (none came within
        ``COMMISSION_GRACE_S``) is handed out again when it comes: the journal records an
        execution once, and takes the commission it was missing.
        """
        self.wait(seconds)
        self.connection.raise_pending()
        now = time.monotonic()
        new = []
        for fill, priced in self._fills():
            if fill.exec_id in self._reported:
                if priced and fill.exec_id in self._owed:
                    self._owed.discard(fill.exec_id)
                    new.append(fill)
                continue
            if not priced:  # IB sends the commission in a message of its own, a moment later
                first_seen = self._unpriced.setdefault(fill.exec_id, now)
                if now - first_seen < COMMISSION_GRACE_S:
                    continue
                logger.warning(
                    "No commission report for execution %s after %.0f s: recorded without one",
                    fill.exec_id,
                    COMMISSION_GRACE_S,
                )
                self._owed.add(fill.exec_id)
            new.append(fill)
            self._reported.add(fill.exec_id)
        return new

    def quotes(
        self, symbols: list[str], on_batch: Callable[[], None] | None = None
    ) -> dict[str, float]:
        """Return a current price per symbol (a snapshot); delayed data without a subscription.

        Without live market data IB answers 354; from then on this connection asks for delayed
        data (15-20 minutes late) and says so in the log, once. Symbols IB does not know, or
        has no price for, are left out. Contracts are looked up once per connection. A large
        universe takes a while (IB answers a batch of snapshots at a time): ``on_batch`` is
        called after each, so the caller can keep its heartbeat.
        """
        # _sending: a lost link is reported first, and a socket dropping meanwhile (the library
        # raises ConnectionError) becomes TemporaryBrokerError: the worker reconnects.
        with self._sending():
            contracts = self._contracts_of(symbols)
            self.connection.raise_pending()  # a link lost meanwhile stops here, before any order
            self.connection.forget(errors.NO_SUBSCRIPTION)
            tickers = self._snapshot(contracts, on_batch)
            if any(code == errors.NO_SUBSCRIPTION for _, code, _ in self.connection.errors):
                logger.warning("No live market data subscription (IB 354): using delayed data")
                self.ib.reqMarketDataType(DELAYED_DATA)
                self.connection.forget(errors.NO_SUBSCRIPTION)
                tickers = self._snapshot(contracts, on_batch)
            self.connection.raise_pending()
        prices = {}
        for ticker in tickers:
            price = mapping.number_or_none(ticker.marketPrice())
            if price is not None and price > 0:
                prices[ticker.contract.symbol] = price
        return prices

    def _contracts_of(self, symbols: list[str]) -> list[Any]:
        # US stocks routed SMART; IB's answer (its conId) is kept for the connection's life.
        unknown = [s for s in symbols if s not in self._contracts]
        stocks = [mapping.stock(s) for s in unknown]
        for contract in self.ib.qualifyContracts(*stocks):
            if contract is not None and contract.conId:
                self._contracts[contract.symbol] = contract
        # Fresh copies: the library keeps one ticker per contract object, and a ticker reused
        # across snapshots could show an older snapshot's price where a newer one has none.
        return [copy.copy(self._contracts[s]) for s in symbols if s in self._contracts]

    def _snapshot(
        self, contracts: list[Any], on_batch: Callable[[], None] | None = None
    ) -> list[Any]:
        # A snapshot holds a market data line until it is answered, and an account has about
        # 100 lines: ask in batches, not 500 at once (error 101, max tickers reached). A batch
        # that times out is left out (its symbols keep their fallback price); the rest stay.
        tickers: list[Any] = []
        for start in range(0, len(contracts), self.quote_batch):
            batch = contracts[start : start + self.quote_batch]
            try:
                tickers += ibapi.util.run(self.ib.reqTickersAsync(*batch), timeout=self.timeout_s)
            except TimeoutError:
                names = ", ".join(c.symbol for c in batch[:5])
                message = "No quotes within %.0f s for %d symbol(s) (%s...)"
                logger.warning(message, self.timeout_s, len(batch), names)
            if on_batch is not None:
                on_batch()
        return tickers

    def session_opens(self, symbols: list[str], session: dt.date) -> dict[str, float]:
        """Return the open of ``session`` per symbol: the arrival price of its fills.

        From IB's daily bars (trades, regular hours) of the last few sessions up to now, asked
        once the session has opened (the worker asks at its close), the session's bar picked by
        its date. A symbol IB has no bar for, or that does not answer within ``timeout_s``, is
        left out: its fills' arrival price stays unknown. The requests' own errors (162: no
        data, pacing) are forgotten, so they never make the worker back off or reconnect.
        """
        opens: dict[str, float] = {}
        with self._sending():
            for start in range(0, len(symbols), HISTORY_BATCH):
                batch = symbols[start : start + HISTORY_BATCH]
                requests = [
                    self.ib.reqHistoricalDataAsync(
                        mapping.stock(symbol), "", "5 D", "1 day", "TRADES", True,
                        timeout=self.timeout_s,
                    )
                    for symbol in batch
                ]  # fmt: skip
                answers = ibapi.util.run(*requests)  # one request: its answer, not a list
                answered = answers if len(requests) > 1 else [answers]
                for symbol, bars in zip(batch, answered, strict=True):
                    price = mapping.session_open(bars, session)
                    if price is not None:
                        opens[symbol] = price
            self.connection.forget(HISTORY_PACING)
        return opens

    def rejections(self) -> list[Order]:
        """Return the orders IB refused since the last call (201 and kin), with IB's reason."""
        out, self._rejected = self._rejected, []
        return out

    def fills(self) -> list[Fill]:
        """Return this session's executions with their commissions."""
        return [fill for fill, _ in self._fills()]

    def _fills(self) -> list[tuple[Fill, bool]]:
        # Each execution, and whether its commission report has arrived.
        return [mapping.fill(f) for f in self.ib.fills()]
