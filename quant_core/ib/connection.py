"""One connection to TWS / IB Gateway: connect, reconnect, IB's messages and TWS's link to IB.

The client library's ``IB`` object (ib_async, or ib_insync: see ``ib/client.py``) lives here.
IB's messages are kept (the latest :data:`MAX_KEPT_ERRORS`) and sorted by ``ib/errors.py``;
TWS's own link to IB is followed through 1100 (lost), 1101 (restored, data lost) and 1102
(restored, data kept). The checks that consent to trading (the account reached is the one
configured, paper or live as ``ib.trading_mode`` says, kept in dollars) and the P&L
subscription are here for the broker to call; reading history needs neither.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from config.schema import IBConfig
from quant_core.errors import ConfigError, TemporaryBrokerError
from quant_core.ib import errors
from quant_core.ib.client import ibapi

logger = logging.getLogger(__name__)

MAX_KEPT_ERRORS = 200
ACCOUNT_CURRENCY = "USD"  # the worker's money unit: US stocks, priced in dollars
LINK_WAIT_S = 1.0  # how long a reconnect attempt listens for TWS restoring its link


class IBConnection:
    """A socket to TWS / IB Gateway through the client library, and what IB says on it.

    Parameters
    ----------
    cfg
        The ``ib`` config section: host, port, client id, account, trading mode.
    timeout_s
        Connect timeout, seconds.

    Attributes
    ----------
    ib
        The client library's ``IB`` object.
    errors
        The latest IB messages that are not informational, as ``(request id, code, text)``.
    link_down
        Whether TWS has lost its link to IB (1100) and not yet restored it (1101 or 1102).
    on_order_message
        Called with ``(request id, code, text)`` for every IB message, before it is sorted:
        the broker finds the orders it concerns (``errors.refused_orders``,
        ``errors.revive``).
    """

    def __init__(self, cfg: IBConfig, timeout_s: float = 10.0) -> None:
        self.cfg = cfg
        self.timeout_s = timeout_s
        self.ib = ibapi.IB()
        if cfg.tws_timezone:  # for execution times TWS sends without naming its zone
            self.ib.TimezoneTWS = cfg.tws_timezone
        self.ib.errorEvent += self._on_error
        # The latest errors (request id, code, text); older ones only matter in the log.
        self.errors: deque[tuple[int, int, str]] = deque(maxlen=MAX_KEPT_ERRORS)
        self._fatal: ConfigError | None = None
        self._was_connected = False  # a 326 on a reconnect is TWS not yet freeing our id
        # 1100: TWS is up but has lost its link to IB, until 1101 (data lost) or 1102 (kept).
        self.link_down = False
        self._link_message = ""
        self.on_order_message: Callable[[int, int, str], None] | None = None

    def connect(self) -> list[str]:
        """Connect afresh; return the login's accounts.

        While TWS reports its link to IB lost (1100), a reconnect would only read stale data:
        this waits for TWS to restore it (1101 or 1102) and raises BrokerLinkDown until then.

        Raises
        ------
        ConfigError
            The client id is in use (IB 326) on a first connection.
        TemporaryBrokerError
            TWS is unreachable, still holds our last session, or has lost its link to IB.
        """
        if self.link_down and self.ib.isConnected():
            self.wait(LINK_WAIT_S)  # the messages that restore it arrive here
            if self.link_down:
                raise errors.temporary(
                    errors.LINK_LOST,
                    "TWS has lost its connection to IB; waiting for it to restore it",
                )
        self._fatal = None
        self.errors.clear()
        if self.ib.isConnected():  # after 1100/1101 the socket is up but the data is stale
            self.ib.disconnect()
        try:
            self.ib.connect(
                self.cfg.host,
                self.cfg.port,
                clientId=self.cfg.client_id,
                timeout=self.timeout_s,
                account=self.cfg.account or "",
            )
        except (ConnectionError, TimeoutError, OSError) as exc:
            if self._fatal is not None and not self._was_connected:
                raise self._fatal from None
            if self._fatal is not None:  # TWS still holds our last session: it frees it soon
                raise TemporaryBrokerError(str(self._fatal)) from None
            raise TemporaryBrokerError(
                f"cannot reach TWS / IB Gateway at {self.cfg.host}:{self.cfg.port}: {exc!r}"
            ) from None
        self._was_connected = True
        self.link_down = False  # a new session: TWS says 1100 again if its link is still down
        return list(self.ib.managedAccounts())

    def check_consent(self, account: str, accounts: list[str]) -> None:
        """Check that trading ``account`` is what the settings consent to; else disconnect.

        The account must be among the login's ``accounts`` when ``ib.account`` names it, paper
        or live as ``ib.trading_mode`` says, and kept in dollars.

        Raises
        ------
        ConfigError
            The account is not the login's, not of the trading mode, or not a dollar account.
        """
        if self.cfg.account and self.cfg.account not in accounts:
            self.ib.disconnect()
            raise ConfigError(
                f"ib.account {self.cfg.account!r} is not among this login's accounts: {accounts}"
            )
        # The consent is checked against the account really reached, not only the settings:
        # IB's paper accounts are DU... (DF... for advisors); anything else trades real money.
        paper = account.startswith("D")
        if paper != (self.cfg.trading_mode == "paper"):
            self.ib.disconnect()
            kind = "a paper" if paper else "a LIVE"
            raise ConfigError(
                f"{self.cfg.host}:{self.cfg.port} is {kind} account ({account}) but "
                f"ib.trading_mode is {self.cfg.trading_mode}; check ib.port and ib.trading_mode"
            )
        # Money has one unit here, the dollar: an account kept in another currency would mix
        # its cash with dollar prices.
        values = self.ib.accountValues(account)
        base = {v.currency for v in values if v.tag == "NetLiquidation"}
        if base - {ACCOUNT_CURRENCY}:
            self.ib.disconnect()
            raise ConfigError(
                f"account {account} is kept in {', '.join(sorted(base))}; the worker "
                f"accounts in {ACCOUNT_CURRENCY} (US stocks) and needs a {ACCOUNT_CURRENCY} account"
            )

    def subscribe_pnl(self, account: str) -> Any:
        """Return IB's P&L of ``account`` (reqPnL), kept live; one subscription per connection."""
        live_pnl = self.ib.pnl(account)
        return live_pnl[0] if live_pnl else self.ib.reqPnL(account)

    def disconnect(self) -> None:
        """Close the connection."""
        self.ib.disconnect()

    def is_connected(self) -> bool:
        """Return whether the socket is up."""
        return bool(self.ib.isConnected())

    def wait(self, seconds: float) -> None:
        """Let the client library process messages for ``seconds``."""
        try:
            self.ib.sleep(seconds)
        except ConnectionError as exc:  # ib_async raises it when the socket closes meanwhile
            raise TemporaryBrokerError(f"the connection to TWS dropped: {exc}") from None

    def raise_pending(self) -> None:
        """Raise what the last calls reported: connectivity loss or pacing, to back off on.

        Raises
        ------
        BrokerLinkDown
            TWS has lost its link to IB (1100), until it says 1101 or 1102.
        TemporaryBrokerError
            The socket is down, or IB reported a lost link or pacing since the last call.
        """
        if not self.ib.isConnected():
            raise TemporaryBrokerError(f"the connection to {self.cfg.host}:{self.cfg.port} is lost")
        if self.link_down:  # until TWS says 1101 / 1102, whatever else was cleared meanwhile
            self.errors.clear()
            raise errors.temporary(errors.LINK_LOST, self._link_message)
        pending = errors.first_back_off(self.errors)
        if pending is not None:
            self.errors.clear()
            raise pending

    def forget(self, code: int) -> None:
        """Drop the kept messages with IB ``code``."""
        kept = [e for e in self.errors if e[1] != code]
        self.errors.clear()
        self.errors.extend(kept)

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        if code in errors.LINK_STATUS:
            self.link_down = code == errors.LINK_LOST
            self._link_message = message
        if self.on_order_message is not None and req_id >= 0:
            self.on_order_message(req_id, code, message)
        if errors.family_of(code) == "info":
            errors.log(req_id, code, message)
            return
        self.errors.append((req_id, code, message))
        if code == errors.CLIENT_ID_IN_USE:
            self._fatal = errors.client_id_in_use(self.cfg.client_id, self.cfg.host, self.cfg.port)
        errors.log(req_id, code, message)
