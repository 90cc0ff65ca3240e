"""A fake TWS / IB Gateway on 127.0.0.1: the real wire protocol over one stateful broker model.

What it models: the handshake (version negotiation, startApi, nextValidId, managedAccounts), the
sync a client runs on connect (positions, open and completed orders, account updates, executions),
market orders filled at the fake's price with commission reports, limit orders resting until
cancelled, cancel and global cancel, position and account pushes after a fill. The event order of
a fill follows TWS (shared/reference/ib_protocol.md): openOrder(Submitted), orderStatus(Submitted),
execDetails, orderStatus(Filled), openOrder(Filled), commissionReport, then the pushes.

One broker state is shared by every connection, so a client that reconnects finds its account,
positions and orders where it left them, as with real TWS.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from tests.fake_tws import protocol as p

logger = logging.getLogger(__name__)

COMMISSION_PER_SHARE = 0.005
COMMISSION_MIN = 1.0
TIF_PRESET = 10349  # "Order TIF was set to DAY based on order preset." (informational)


@dataclass(slots=True)
class _Connection:
    sock: socket.socket
    server_version: int = p.MAX_SERVER_VERSION
    client_id: int = -1
    positions: bool = False
    account_updates: str | None = None
    market_data_type: int = 1  # 1 live, 3 delayed (reqMarketDataType)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: bytes) -> None:
        with self.lock:
            self.sock.sendall(message)


class FakeTWS:
    """A fake TWS server; start it, point a client at ``port``, stop it.

    Parameters
    ----------
    accounts
        Account ids reported by managedAccounts.
    cash
        Starting cash of the account, USD.
    prices
        Symbol -> the price market orders fill at.
    max_server_version
        Highest server version offered (157..178).
    """

    def __init__(
        self,
        accounts: tuple[str, ...] = ("DU1234567",),
        cash: float = 1_000_000.0,
        prices: dict[str, float] | None = None,
        max_server_version: int = p.MAX_SERVER_VERSION,
    ) -> None:
        self.accounts = accounts
        self.cash = cash
        self.prices = dict(prices or {})
        self.max_server_version = max_server_version
        self.busy_client_ids: set[int] = set()  # ids another application holds (error 326)
        self.accepted = 0  # connections accepted so far
        self.cancel_requests: list[int] = []  # order ids asked to be cancelled
        self.contract_requests = 0  # contract details asked for
        # symbol -> (longName, industry, category) its contract details give (default: see
        # protocol.contract_details)
        self.reference: dict[str, tuple[str, str, str]] = {}
        self.market_data_lines = 100  # an account's simultaneous market data lines
        self.snapshot_delay_s = 0.05  # how long a snapshot takes to answer (up to 11 s at IB)
        self.lines_open = 0
        self.most_lines_open = 0
        self.base_currency = "USD"  # the account's currency: its totals are reported in it
        # Execution times: TWS writes them in its own zone, named (newer versions) or not.
        self.fill_time: dt.datetime | None = None  # None: now
        self.tws_zone = "UTC"
        self.name_the_zone = True
        # symbol -> [(YYYYMMDD, open, high, low, close, volume)], ascending
        self.history: dict[str, list[tuple[str, float, float, float, float, float]]] = {}
        self.reject: dict[str, str] = {}  # symbol -> the reason IB gives (error 201)
        # symbol -> (code, text) of another refusal, e.g. 383: over a precautionary size limit
        self.refuse: dict[str, tuple[int, str]] = {}
        self.partial: dict[str, float] = {}  # symbol -> the share of an order that fills
        self.subscribed = True  # has the account live market data? If not: 354, delayed only
        self.ticks_sent: list[tuple[str, int, float]] = []  # (symbol, tick type, price)
        # every execution of the day: (order, exec id, shares, price, time, commission)
        self.executions: list[tuple[p.FakeOrder, str, float, float, str, float]] = []
        self.withheld_account_tags: set[str] = set()  # account totals not reported (yet)
        self.commission_later = False  # hold commission reports until send_commissions()
        self._held_reports: list[tuple[_Connection, str, float]] = []
        self.daily_pnl = 0.0  # what reqPnL reports as today's P&L
        self._pnl_subscribers: list[tuple[_Connection, int]] = []
        self.pacing_violations = 0  # answer this many history requests with error 162
        # IB's pacing rules, enforced when set: (requests per window, window s, identical gap
        # s); a request that breaks one is answered 162 and counted in pacing_broken.
        self.pacing_rules: tuple[int, float, float] | None = None
        self.pacing_broken = 0
        # Newer TWS versions: an order sent without a time in force gets the preset's (DAY),
        # said by the informational 10349, which ib_async 2.1 takes for a refusal.
        self.tif_preset = True
        self.tif_blank: list[int] = []  # ids of the orders that came without one
        self.history_clock: Callable[[], float] = time.monotonic  # stamps history requests
        self.history_today: str | None = None  # YYYYMMDD an open-ended request ends on (IB:
        # now); None: the symbol's last bar
        self.history_requests: list[
            tuple[float, str, str, str, str]
        ] = []  # time, symbol, end, duration, what
        self.lock = threading.RLock()
        self.stocks: dict[str, p.Stock] = {}
        self.positions: dict[str, list[float]] = {}  # symbol -> [quantity, average cost]
        self.orders: dict[int, p.FakeOrder] = {}
        self.next_order_id = 1
        self._perm = itertools.count(1_000_000)
        self._exec = itertools.count(1)
        self._con_ids = itertools.count(265_598)
        self._connections: list[_Connection] = []
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="fake-tws", daemon=True)

    # ------------------------------------------------------------------------ lifecycle

    def start(self) -> FakeTWS:
        """Listen on 127.0.0.1:``port``."""
        self._server.listen()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every connection and stop listening."""
        self._stopping.set()
        self.drop_connections()
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(timeout=5)

    def send_commissions(self) -> None:
        """Send the commission reports held back by ``commission_later``."""
        with self.lock:
            held, self._held_reports = self._held_reports, []
            for conn, exec_id, commission in held:
                conn.send(p.commission_report(exec_id, commission))

    def send_error(self, code: int, message: str) -> None:
        """Send every client a system message (request id -1), e.g. 1100 or 1102."""
        with self.lock:
            for conn in self._connections:
                conn.send(p.error(-1, code, message, conn.server_version))

    def drop_connections(self) -> None:
        """Close every client connection, as TWS does at its daily restart."""
        with self.lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.sock.shutdown(socket.SHUT_RDWR)
            conn.sock.close()

    # --------------------------------------------------------------------- broker state

    def stock(self, symbol: str) -> p.Stock:
        """Return the fake's contract for ``symbol``, creating it on first use."""
        with self.lock:
            if symbol not in self.stocks:
                self.stocks[symbol] = p.Stock(next(self._con_ids), symbol)
            return self.stocks[symbol]

    def set_position(self, symbol: str, quantity: float, avg_cost: float) -> None:
        """Give the account a position (before a client connects)."""
        self.stock(symbol)
        self.positions[symbol] = [quantity, avg_cost]

    def net_liquidation(self) -> float:
        """Return cash plus positions at the fake's prices."""
        with self.lock:
            return self.cash + sum(
                q * self.prices.get(s, avg) for s, (q, avg) in self.positions.items()
            )

    # --------------------------------------------------------------------------- wire

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            conn = _Connection(sock)
            with self.lock:
                self._connections.append(conn)
                self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: _Connection) -> None:
        try:
            if self._handshake(conn):
                while (fields := self._read(conn.sock)) is not None:
                    self._handle(conn, fields)
        except OSError:
            pass
        finally:
            with self.lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            conn.sock.close()

    @staticmethod
    def _read_exact(sock: socket.socket, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _read(self, sock: socket.socket) -> list[str] | None:
        head = self._read_exact(sock, 4)
        if head is None:
            return None
        body = self._read_exact(sock, struct.unpack(">I", head)[0])
        return None if body is None else p.split(body)

    def _handshake(self, conn: _Connection) -> bool:
        if self._read_exact(conn.sock, 4) != b"API\0":
            return False
        head = self._read_exact(conn.sock, 4)
        body = None if head is None else self._read_exact(conn.sock, struct.unpack(">I", head)[0])
        if not body:
            return False
        # The one frame without NUL terminators: "v157..178", maybe followed by options.
        offered = body.decode().rstrip("\0").split(" ")[0].lstrip("v")
        client_max = int(offered.split("..")[-1])
        conn.server_version = min(client_max, self.max_server_version)
        now = dt.datetime.now(dt.UTC).strftime("%Y%m%d %H:%M:%S UTC")
        conn.send(p.frame(conn.server_version, now))
        return True

    def _handle(self, conn: _Connection, f: list[str]) -> None:
        kind = int(f[0])
        handlers = {
            p.Out.START_API: self._start_api,
            p.Out.REQ_POSITIONS: self._req_positions,
            p.Out.REQ_OPEN_ORDERS: self._req_open_orders,
            p.Out.REQ_ALL_OPEN_ORDERS: lambda c, m: self._req_open_orders(c, m, every=True),
            p.Out.REQ_COMPLETED_ORDERS: lambda c, _: c.send(p.frame(p.In.COMPLETED_ORDERS_END)),
            p.Out.REQ_ACCOUNT_UPDATES: self._req_account_updates,
            p.Out.REQ_ACCOUNT_UPDATES_MULTI: lambda c, m: c.send(
                p.frame(p.In.ACCOUNT_UPDATE_MULTI_END, 1, m[2])
            ),
            p.Out.REQ_EXECUTIONS: self._req_executions,
            p.Out.REQ_IDS: lambda c, _: c.send(p.frame(p.In.NEXT_VALID_ID, 1, self.next_order_id)),
            p.Out.REQ_CURRENT_TIME: lambda c, _: c.send(
                p.frame(p.In.CURRENT_TIME, 1, int(dt.datetime.now(dt.UTC).timestamp()))
            ),
            p.Out.PLACE_ORDER: self._place_order,
            p.Out.REQ_HISTORICAL_DATA: self._req_history,
            p.Out.REQ_PNL: self._req_pnl,
            p.Out.REQ_CONTRACT_DATA: self._req_contract,
            p.Out.REQ_MKT_DATA: self._req_mkt_data,
            p.Out.REQ_MARKET_DATA_TYPE: self._req_market_data_type,
            p.Out.CANCEL_ORDER: lambda c, m: self._cancel(int(m[2]), c),
            p.Out.REQ_GLOBAL_CANCEL: lambda c, _: self._cancel_all(),
        }
        handler = handlers.get(kind)
        if handler is None:
            logger.debug("Fake TWS ignores message %s", f[:3])
            return
        with self.lock:
            handler(conn, f)

    # ----------------------------------------------------------------------- requests

    def _start_api(self, conn: _Connection, f: list[str]) -> None:
        conn.client_id = int(f[2])
        if conn.client_id in self.busy_client_ids:
            message = (
                "Unable to connect as the client id is already in use. "
                "Retry with a unique client id."
            )
            conn.send(p.error(-1, 326, message, conn.server_version))
            conn.sock.shutdown(socket.SHUT_RDWR)
            return
        conn.send(p.frame(p.In.NEXT_VALID_ID, 1, self.next_order_id))
        conn.send(p.frame(p.In.MANAGED_ACCOUNTS, 1, ",".join(self.accounts)))

    def _req_positions(self, conn: _Connection, f: list[str]) -> None:
        conn.positions = True
        for symbol, (quantity, avg) in self.positions.items():
            conn.send(p.position(self.accounts[0], self.stock(symbol), quantity, avg))
        conn.send(p.frame(p.In.POSITION_END, 1))

    def _req_open_orders(self, conn: _Connection, f: list[str], every: bool = False) -> None:
        # As TWS: a client sees the orders it placed (reqOpenOrders); reqAllOpenOrders shows
        # those of every client of the login.
        for order in self.orders.values():
            mine = every or order.client_id == conn.client_id
            if mine and order.status in {"Submitted", "PreSubmitted"}:
                conn.send(p.open_order(order, conn.server_version))
                conn.send(p.order_status(order))
        conn.send(p.frame(p.In.OPEN_ORDER_END, 1))

    def _req_account_updates(self, conn: _Connection, f: list[str]) -> None:
        subscribe, account = f[2] == "1", f[3] or self.accounts[0]
        conn.account_updates = account if subscribe else None
        if subscribe:
            self._send_account(conn, account)
            conn.send(p.frame(p.In.ACCOUNT_DOWNLOAD_END, 1, account))

    def _send_account(self, conn: _Connection, account: str) -> None:
        value = self.net_liquidation()
        # As TWS does: the totals once, in the base currency; cash also per currency and BASE.
        for key, amount in (
            ("NetLiquidation", value),
            ("TotalCashValue", self.cash),
            ("BuyingPower", max(0.0, self.cash)),
            ("AvailableFunds", max(0.0, self.cash)),
        ):
            if key in self.withheld_account_tags:  # as before TWS's account download ends
                continue
            conn.send(p.account_value(key, round(amount, 2), account, self.base_currency))
        for currency, amount in ((self.base_currency, self.cash), ("BASE", self.cash)):
            conn.send(p.account_value("CashBalance", round(amount, 2), account, currency))
            conn.send(p.account_value("NetLiquidationByCurrency", value, account, currency))
        for symbol, (quantity, avg) in self.positions.items():
            price = self.prices.get(symbol, avg)
            conn.send(p.portfolio_value(account, self.stock(symbol), quantity, price, avg))
        conn.send(p.frame(p.In.ACCOUNT_TIME, 1, dt.datetime.now(dt.UTC).strftime("%H:%M")))

    # --------------------------------------------------------------------- market data

    def _req_contract(self, conn: _Connection, f: list[str]) -> None:
        # 9, version, reqId, 12 contract fields (conId, symbol, ...), ...
        req_id, symbol = int(f[2]), f[4]
        self.contract_requests += 1
        if symbol in self.prices or symbol in self.positions or symbol in self.history:
            reference = self.reference.get(symbol)
            conn.send(p.contract_details(req_id, self.stock(symbol), reference))
        conn.send(p.frame(p.In.CONTRACT_DATA_END, 1, req_id))

    def _req_market_data_type(self, conn: _Connection, f: list[str]) -> None:
        conn.market_data_type = int(f[2])

    def _req_mkt_data(self, conn: _Connection, f: list[str]) -> None:
        # 1, version, reqId, 12 contract fields, deltaNeutral, genericTicks, snapshot, ...
        req_id, symbol, snapshot = int(f[2]), f[4], f[17] in {"1", "True"}
        price = self.prices.get(symbol)
        if price is None:
            message = "No security definition has been found for the request"
            conn.send(p.error(req_id, 200, message, conn.server_version))
            return
        if not self.subscribed and conn.market_data_type == 1:
            message = "Requested market data is not subscribed."
            conn.send(p.error(req_id, 354, message, conn.server_version))
            return
        if not snapshot:
            self._ticks(conn, req_id, symbol, price)
            return
        # A snapshot holds one of the account's market data lines until it is answered, a
        # moment later; past the limit TWS refuses the request (error 101).
        with self.lock:
            if self.lines_open >= self.market_data_lines:
                message = f"Max number of tickers has been reached ({self.market_data_lines})"
                conn.send(p.error(req_id, 101, message, conn.server_version))
                return
            self.lines_open += 1
            self.most_lines_open = max(self.most_lines_open, self.lines_open)

        def answer() -> None:
            with contextlib.suppress(OSError):  # the client may have gone meanwhile
                self._ticks(conn, req_id, symbol, price)
                conn.send(p.frame(p.In.TICK_SNAPSHOT_END, 1, req_id))
            with self.lock:
                self.lines_open -= 1

        threading.Timer(self.snapshot_delay_s, answer).start()

    def _ticks(self, conn: _Connection, req_id: int, symbol: str, price: float) -> None:
        delayed = conn.market_data_type in {3, 4}
        # bid, ask, last: 1, 2, 4 live; 66, 67, 68 delayed. A cent of spread around the price.
        ticks = (66, 67, 68) if delayed else (1, 2, 4)
        for tick, value in zip(ticks, (price - 0.01, price + 0.01, price), strict=True):
            conn.send(p.frame(p.In.TICK_PRICE, 6, req_id, tick, round(value, 2), 100, 0))
            self.ticks_sent.append((symbol, tick, round(value, 2)))

    def _exec_time(self, when: dt.datetime) -> str:
        local = when.astimezone(ZoneInfo(self.tws_zone))
        if self.name_the_zone:
            return local.strftime(f"%Y%m%d %H:%M:%S {self.tws_zone}")
        return local.strftime("%Y%m%d  %H:%M:%S")  # TWS's older form: its local time, no zone

    def _req_executions(self, conn: _Connection, f: list[str]) -> None:
        # TWS answers with the day's executions of the account, each with its commission.
        req_id = int(f[2])
        for order, exec_id, shares, price, stamp, commission in self.executions:
            sv = conn.server_version
            conn.send(p.exec_details(order, exec_id, shares, price, stamp, sv, req_id))
            conn.send(p.commission_report(exec_id, commission))
        conn.send(p.frame(p.In.EXEC_DETAILS_END, 1, req_id))

    # ---------------------------------------------------------------------------- PnL

    def _req_pnl(self, conn: _Connection, f: list[str]) -> None:
        self._pnl_subscribers.append((conn, int(f[1])))
        self._send_pnl(conn, int(f[1]))

    def _send_pnl(self, conn: _Connection, req_id: int) -> None:
        unrealized = sum(
            q * (self.prices.get(s, avg) - avg) for s, (q, avg) in self.positions.items()
        )
        conn.send(p.frame(p.In.PNL, req_id, self.daily_pnl, round(unrealized, 2), 0.0))

    def set_daily_pnl(self, value: float) -> None:
        """Change today's P&L and push it to every subscriber, as TWS does."""
        with self.lock:
            self.daily_pnl = value
            for conn, req_id in self._pnl_subscribers:
                if conn in self._connections:
                    self._send_pnl(conn, req_id)

    # ------------------------------------------------------------------------ history

    def _req_history(self, conn: _Connection, f: list[str]) -> None:
        req_id, symbol, end, duration, what = int(f[1]), f[3], f[15], f[17], f[19]
        now = self.history_clock()
        broken = self._breaks_pacing(now, (symbol, end, duration, what))
        self.history_requests.append((now, symbol, end, duration, what))
        if broken or self.pacing_violations > 0:
            if broken:
                self.pacing_broken += 1
            else:
                self.pacing_violations -= 1
            message = (
                "Historical Market Data Service error message:"
                "API historical data query cancelled: pacing violation"
            )
            conn.send(p.error(req_id, 162, message, conn.server_version))
            return
        if symbol not in self.history:
            message = "No security definition has been found for the request"
            conn.send(p.error(req_id, 200, message, conn.server_version))
            return
        bars = self.history[symbol]
        last = end[:8] if end else (self.history_today or (bars[-1][0] if bars else "99991231"))
        count, unit = duration.split()
        days = int(count) * (365 if unit == "Y" else 1)
        last_day = dt.date(int(last[:4]), int(last[4:6]), int(last[6:8]))
        first = (last_day - dt.timedelta(days=days)).strftime("%Y%m%d")
        chosen = [b for b in bars if first < b[0] <= last]
        if not chosen:
            message = "Historical Market Data Service error message:HMDS query returned no data"
            conn.send(p.error(req_id, 162, message, conn.server_version))
            return
        fields: list[object] = [p.In.HISTORICAL_DATA, req_id, first, last, len(chosen)]
        for day, o, h, lo, c, v in chosen:
            fields += [day, o, h, lo, c, v, round((o + c) / 2, 4), 100]
        conn.send(p.frame(*fields))

    def _breaks_pacing(self, now: float, request: tuple[str, str, str, str]) -> bool:
        """Return whether a history request at ``now`` breaks ``pacing_rules``."""
        if self.pacing_rules is None:
            return False
        most, window, gap = self.pacing_rules
        recent = [r for r in self.history_requests if r[0] > now - window]
        identical = any(r[1:] == request and r[0] > now - gap for r in recent)
        return len(recent) >= most or identical

    # ------------------------------------------------------------------------- orders

    def _place_order(self, conn: _Connection, f: list[str]) -> None:
        # The fixed prefix is enough for MKT and LMT: 3, orderId, 12 contract fields,
        # secIdType, secId, action, totalQuantity, orderType, lmtPrice, auxPrice, tif,
        # ocaGroup, account, openClose, origin, orderRef, transmit, parentId, ...
        order_id, symbol = int(f[1]), f[3]
        action, quantity, order_type = f[16], float(f[17]), f[18]
        limit = float(f[19]) if f[19] else None
        order = p.FakeOrder(
            order_id,
            conn.client_id,
            next(self._perm),
            self.stock(symbol),
            action,
            quantity,
            order_type,
            limit,
            f[23] or self.accounts[0],
            f[26],
            tif=f[21] or "DAY",
        )
        self.orders[order_id] = order
        self.next_order_id = max(self.next_order_id, order_id + 1)
        if symbol in self.refuse:
            order.status = "Cancelled"
            conn.send(p.error(order_id, *self.refuse[symbol], conn.server_version))
            return
        if symbol in self.reject:
            order.status = "Inactive"
            message = f"Order rejected - reason:{self.reject[symbol]}"
            conn.send(p.error(order_id, 201, message, conn.server_version))
            return
        conn.send(p.open_order(order, conn.server_version))
        conn.send(p.order_status(order))
        if not f[21]:
            self.tif_blank.append(order_id)
            if self.tif_preset:
                message = "Order TIF was set to DAY based on order preset."
                conn.send(p.error(order_id, TIF_PRESET, message, conn.server_version))
        price = self.prices.get(symbol)
        marketable = order_type == "MKT" or (
            limit is not None
            and price is not None
            and (price <= limit if action == "BUY" else price >= limit)
        )
        if price is not None and marketable and order.tif != "OPG":
            self._fill(conn, order, price)

    def open_auction(self) -> None:
        """The opening auction: fill every resting market-on-open order at today's price."""
        for order in list(self.orders.values()):
            price = self.prices.get(order.stock.symbol)
            if order.tif == "OPG" and order.status == "Submitted" and price is not None:
                for conn in list(self._connections):
                    if conn.client_id == order.client_id:
                        self._fill(conn, order, price)

    def _fill(self, conn: _Connection, order: p.FakeOrder, price: float) -> None:
        shares = order.quantity - order.filled
        if order.stock.symbol in self.partial:
            shares = float(int(order.quantity * self.partial[order.stock.symbol]))
        signed = shares if order.action == "BUY" else -shares
        commission = max(COMMISSION_MIN, COMMISSION_PER_SHARE * shares)
        self.cash -= signed * price + commission
        quantity, avg = self.positions.get(order.stock.symbol, [0.0, 0.0])
        new = quantity + signed
        if new == 0:
            self.positions.pop(order.stock.symbol, None)
        else:
            cost = avg * quantity + signed * price if quantity * signed >= 0 else avg * new
            self.positions[order.stock.symbol] = [new, cost / new]
        order.filled += shares
        order.avg_price = price
        order.status = "Filled" if order.filled >= order.quantity else "Submitted"
        exec_id = f"0000e0d5.{next(self._exec):08d}.01.01"
        stamp = self._exec_time(self.fill_time or dt.datetime.now(dt.UTC))
        conn.send(p.exec_details(order, exec_id, shares, price, stamp, conn.server_version))
        self.executions.append((order, exec_id, shares, price, stamp, commission))
        conn.send(p.order_status(order, price))
        conn.send(p.open_order(order, conn.server_version))
        if self.commission_later:
            self._held_reports.append((conn, exec_id, commission))
        else:
            conn.send(p.commission_report(exec_id, commission))
        self._push_positions(order.stock.symbol)

    def _push_positions(self, symbol: str) -> None:
        quantity, avg = self.positions.get(symbol, [0.0, 0.0])
        for other in list(self._connections):
            if other.positions:
                other.send(p.position(self.accounts[0], self.stock(symbol), quantity, avg))
            if other.account_updates:
                self._send_account(other, other.account_updates)

    def _cancel(self, order_id: int, requester: _Connection | None = None) -> None:
        # An order id names an order of the client that asks: another client's order is "not
        # found" for it. A global cancel (no requester) cancels whoever placed the order.
        order = self.orders.get(order_id)
        if requester is not None and order is not None and order.client_id != requester.client_id:
            order = None
        self.cancel_requests.append(order_id)
        if order is None or order.status not in {"Submitted", "PreSubmitted"}:
            if requester is not None:
                message = f"OrderId {order_id} that needs to be cancelled is not found."
                requester.send(p.error(order_id, 10147, message, requester.server_version))
            return
        order.status = "Cancelled"
        for conn in list(self._connections):
            if conn.client_id == order.client_id:
                conn.send(p.order_status(order))
                conn.send(p.error(order_id, 202, "Order Canceled - reason:", conn.server_version))

    def _cancel_all(self) -> None:
        for order in list(self.orders.values()):
            if order.status in {"Submitted", "PreSubmitted"}:
                self._cancel(order.order_id)
