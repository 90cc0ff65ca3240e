"""The TWS socket protocol (text, server versions 157-178), as the fake server speaks it.

Framing: after the client's raw ``API\\0``, every message is a 4-byte big-endian length, then
UTF-8 fields each terminated by NUL. The first field is the message id; client and server ids
are separate namespaces. Field lists follow ``ib_async.decoder`` one by one (see
shared/reference/ib_protocol.md); ``tests/unit/test_fake_tws_protocol.py`` feeds every encoded
message through the library's own Decoder at server versions 176 and 178.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

MAX_SERVER_VERSION = 178
MIN_SERVER_VERSION = 157


class In:
    """Server -> client message ids."""

    HISTORICAL_DATA = 17
    TICK_PRICE = 1
    CONTRACT_DATA = 10
    CONTRACT_DATA_END = 52
    TICK_SNAPSHOT_END = 57
    PNL = 94
    ORDER_STATUS = 3
    ERROR = 4
    OPEN_ORDER = 5
    ACCOUNT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCOUNT_TIME = 8
    NEXT_VALID_ID = 9
    EXEC_DETAILS = 11
    MANAGED_ACCOUNTS = 15
    CURRENT_TIME = 49
    OPEN_ORDER_END = 53
    ACCOUNT_DOWNLOAD_END = 54
    EXEC_DETAILS_END = 55
    COMMISSION_REPORT = 59
    POSITION = 61
    POSITION_END = 62
    ACCOUNT_UPDATE_MULTI_END = 74
    COMPLETED_ORDERS_END = 102


class Out:
    """Client -> server message ids (those the fake answers)."""

    REQ_HISTORICAL_DATA = 20
    REQ_MKT_DATA = 1
    REQ_CONTRACT_DATA = 9
    REQ_MARKET_DATA_TYPE = 59
    REQ_PNL = 92
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ALL_OPEN_ORDERS = 16
    REQ_ACCOUNT_UPDATES = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CURRENT_TIME = 49
    REQ_GLOBAL_CANCEL = 58
    REQ_POSITIONS = 61
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    REQ_COMPLETED_ORDERS = 99


def frame(*fields: object) -> bytes:
    """Return one framed message."""
    payload = b"".join(_text(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


def split(payload: bytes) -> list[str]:
    """Return the fields of one message's payload."""
    return payload.decode().split("\0")[:-1]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Stock:
    """A US stock as the fake knows it."""

    con_id: int
    symbol: str
    exchange: str = "SMART"
    primary: str = "NASDAQ"
    currency: str = "USD"

    def c11(self) -> list[object]:
        """Return the 11 contract fields most server messages carry."""
        return [
            self.con_id,
            self.symbol,
            "STK",
            "",
            0.0,
            "",
            "",
            self.exchange,
            self.currency,
            self.symbol,
            "NMS",
        ]


@dataclass(slots=True)
class FakeOrder:
    """An order inside the fake broker."""

    order_id: int
    client_id: int
    perm_id: int
    stock: Stock
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    account: str
    order_ref: str
    status: str = "Submitted"
    filled: float = 0.0
    avg_price: float = 0.0
    tif: str = "DAY"  # OPG: market-on-open, filled by FakeTWS.open_auction()


def open_order(o: FakeOrder, server_version: int) -> bytes:
    """Return openOrder for ``o`` (no version field; about 130 fields at version 178)."""
    f: list[object] = [
        In.OPEN_ORDER,
        o.order_id,
        *o.stock.c11(),
        o.action,
        o.quantity,
        o.order_type,
        o.limit_price if o.limit_price is not None else "",
        "",
        o.tif,
        "",
        o.account,
        "O",
        0,
        o.order_ref,
        o.client_id,
        o.perm_id,
        0,
        0,
        0,
        "",
        "",
        "",
        "",
        "",
    ]
    if server_version < 177:
        f.append("")  # faProfile
    f += [""] * 29  # modelCode .. deltaNeutralAuxPrice (no delta-neutral order type)
    f += ["0", "", "", "", "", "", ""]  # continuousUpdate .. comboLegsDescrip
    f += [0, 0, 0]  # combo legs, order combo legs, smart combo routing params
    f += ["", "", ""]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement (unset)
    f += [""]  # hedgeType
    f += [0, "", "", 0, 0]  # optOutSmartRouting, clearing account/intent, notHeld, no DNC
    f += [""]  # algoStrategy
    f += [0, 0, o.status] + [""] * 14 + [0, 0]  # solicited, whatIf, state.., randomize x2
    f += [0]  # conditions
    f += [""] * 16  # adjustedOrderType .. usePriceMgmtAlgo
    if server_version >= 159:
        f.append("")  # duration
    if server_version >= 160:
        f.append("")  # postToAts
    if server_version >= 162:
        f.append(0)  # autoCancelParent
    if server_version >= 170:
        f += [""] * 5  # PEG mid/best offsets
    return frame(*f)


def order_status(o: FakeOrder, last_price: float = 0.0) -> bytes:
    """Return orderStatus (no version field)."""
    return frame(
        In.ORDER_STATUS,
        o.order_id,
        o.status,
        o.filled,
        o.quantity - o.filled,
        o.avg_price,
        o.perm_id,
        0,
        last_price,
        o.client_id,
        "",
        0.0,
    )


def exec_details(
    o: FakeOrder,
    exec_id: str,
    shares: float,
    price: float,
    time: str,
    server_version: int,
    req_id: int = -1,
) -> bytes:
    """Return execDetails: a live execution (request id -1), or an answer to reqExecutions."""
    side = "BOT" if o.action == "BUY" else "SLD"
    f: list[object] = [
        In.EXEC_DETAILS,
        req_id,
        o.order_id,
        *o.stock.c11(),
        exec_id,
        time,
        o.account,
        "ISLAND",
        side,
        shares,
        price,
        o.perm_id,
        o.client_id,
        0,
        o.filled,
        o.avg_price,
        o.order_ref,
        "",
        "",
        "",
        1,
    ]
    if server_version >= 178:
        f.append(0)  # pendingPriceRevision
    return frame(*f)


def commission_report(exec_id: str, commission: float) -> bytes:
    """Return commissionReport (exactly 8 fields)."""
    return frame(In.COMMISSION_REPORT, 1, exec_id, commission, "USD", "", "", "")


def position(account: str, stock: Stock, quantity: float, avg_cost: float) -> bytes:
    """Return position (exactly 16 fields)."""
    return frame(In.POSITION, 3, account, *stock.c11(), quantity, avg_cost)


def account_value(key: str, value: object, account: str, currency: str = "USD") -> bytes:
    """Return updateAccountValue."""
    return frame(In.ACCOUNT_VALUE, 2, key, value, currency, account)


def portfolio_value(
    account: str, stock: Stock, quantity: float, price: float, avg_cost: float
) -> bytes:
    """Return updatePortfolio (exactly 20 fields; primaryExchange in place of exchange)."""
    c = stock
    return frame(
        In.PORTFOLIO_VALUE,
        8,
        c.con_id,
        c.symbol,
        "STK",
        "",
        0.0,
        "",
        "",
        c.primary,
        c.currency,
        c.symbol,
        "NMS",
        quantity,
        price,
        quantity * price,
        avg_cost,
        (price - avg_cost) * quantity,
        0.0,
        account,
    )


def error(req_id: int, code: int, message: str, server_version: int) -> bytes:
    """Return an error message (with the advanced-reject JSON field from version 166)."""
    extra: Iterable[object] = [""] if server_version >= 166 else []
    return frame(In.ERROR, 2, req_id, code, message, *extra)


def contract_details(req_id: int, s: Stock, reference: tuple[str, str, str] | None = None) -> bytes:
    """Return contractDetails for a US stock (server version 164 and later).

    ``reference`` is its ``(longName, industry, category)``; the subcategory repeats the
    category. Default: ``<SYMBOL> INC``, Technology, Computers.
    """
    long_name, industry, category = reference or (f"{s.symbol} INC", "Technology", "Computers")
    return frame(
        In.CONTRACT_DATA,
        req_id,
        s.symbol,
        "STK",
        "",
        0.0,
        "",
        s.exchange,
        s.currency,
        s.symbol,
        "NMS",
        s.symbol,
        s.con_id,
        0.01,
        "",  # multiplier
        "ACTIVETIM,LMT,MKT,MOC,MOO",
        "SMART,NYSE,NASDAQ",
        1,  # priceMagnifier
        0,  # underConId
        long_name,
        s.primary,
        "",  # contractMonth
        industry,
        category,
        category,  # subcategory
        "US/Eastern",
        "",  # tradingHours
        "",  # liquidHours
        "",  # evRule
        "",  # evMultiplier
        0,  # secIdList
        1,  # aggGroup
        "",
        "",
        "26",  # marketRuleIds
        "",
        "COMMON",
        0.0001,  # minSize
        0.0001,  # sizeIncrement
        100,  # suggestedSizeIncrement
    )
