"""The Live Dashboard's model: what the worker's files say, turned into what the page shows.

No Streamlit here, so every number, message and table is unit-tested directly. The worker
writes ``dashboard_state.json`` (``quant_core.live.files.write_state``); the cockpit only reads
it, and the command queue (``inbox/``, ``live.files.queued``) to tell a command still waiting
for a worker from one taken.

Liveness
    A worker heartbeats every ``live.heartbeat_s`` seconds. Its state is **stale** once the last
    heartbeat is older than ``3 x heartbeat_s + 2 s`` (5 s by default): three missed beats, plus
    slack for a slow disk or a long FLAT step. A STOPPED worker has **exited** (STOP ends the
    process), unless it is a worker started again under the STOP latch, which keeps beating. A
    replay run to its end says so (``worker.replay_finished``): its end is not a crash.

PnL
    Daily PnL is the worker's figure (the broker's own, or net liquidation against the
    session's opening equity). Total PnL is realized + unrealized, as the broker reports them.
    The headline figures are whole dollars (the cents are in their help), so a seven-figure
    account fits its box. A position's unrealised PnL is ``(market_price - avg_cost) x
    quantity``; its weight is its market value over net liquidation.

Times are shown in UTC; a bare date in the equity series (a replay's session close) is that
session, at midnight UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go

from quant_core.cockpit.theme import COLORS, Unit, money, style
from quant_core.live.files import STATE_SCHEMA_VERSION, queued

REFRESH_S = 1.0  # the page's own refresh period (st.fragment run_every)
STALE_HEARTBEATS = 3
STALE_SLACK_S = 2.0
SENT_KEPT = 20
SENT_SHOWN = 5

Level = Literal["error", "warning", "info", "success"]

MODES: dict[str, tuple[str, str]] = {  # worker mode -> (label, colour)
    "sim": ("SIM", "gray"),
    "ib-paper": ("IB PAPER", "blue"),
    "ib-live": ("IB LIVE", "red"),
}
STATE_COLORS = {
    "STARTING": "blue",
    "CONNECTING": "blue",
    "RUNNING": "green",
    "HALTED": "orange",
    "DISCONNECTED": "orange",
    "STOPPED": "red",
}
RESUMABLE = frozenset({"HALTED", "STOPPED"})
# The reason a worker started again under the STOP latch reports (live.worker.Worker.start):
# that worker is running, STOPPED only in name; any other STOPPED worker has exited.
LATCHED_PREFIX = "latched"
# "_" stays: inside a word (max_drawdown_frac) Markdown leaves it alone, and names read better.
MARKDOWN_SPECIAL = set("\\`*[]<>#$~|!")


class Liveness(StrEnum):
    """Whether a worker is behind the state file."""

    NO_STATE = "no state"  # no state file: no worker ever ran with this data dir
    LIVE = "live"  # heartbeats arrive
    STALE = "stale"  # heartbeats stopped: the worker is down or hung
    EXITED = "exited"  # the worker said STOPPED and its process has ended


@dataclass(frozen=True, slots=True)
class Status:
    """The worker's situation as the state file tells it, at a moment."""

    liveness: Liveness
    state: str | None
    reason: str
    mode: str | None
    account: str | None
    strategy: str | None
    run_id: str | None
    session: str | None
    heartbeat_at: dt.datetime | None
    age_s: float | None
    threshold_s: float
    schema_version: int | None = None
    latched: bool | None = None  # STOP's latch is set (None: an older state file)
    counts: tuple[int, int] = (0, 0)  # open orders, positions: the button captions quote them
    broker_as_of: dt.datetime | None = None  # when the broker's figures were read
    replay_finished: str | None = None  # the last session of a replay that ran to its end

    @property
    def mode_label(self) -> str:
        """Return SIM, IB PAPER, IB LIVE (or the raw mode, upper case)."""
        if self.mode in MODES:
            return MODES[self.mode][0]
        return (self.mode or "MODE UNKNOWN").upper()

    @property
    def mode_color(self) -> str:
        """Return the banner colour of the mode: red for a live account."""
        return MODES[self.mode][1] if self.mode in MODES else "gray"

    @property
    def running(self) -> bool:
        """Return whether a worker is taking commands now."""
        return self.liveness is Liveness.LIVE

    @property
    def signature(self) -> str:
        """Return what the buttons and their captions depend on (a change redraws them)."""
        return f"{self.liveness.value}|{self.state}|{self.mode}|{self.latched}|{self.counts}"


@dataclass(frozen=True, slots=True)
class Metric:
    """One headline figure."""

    label: str
    value: str
    delta: str | None
    help: str


@dataclass(frozen=True, slots=True)
class Message:
    """A line for the page, with how loud it is."""

    level: Level
    text: str


@dataclass(frozen=True, slots=True)
class CommandView:
    """A command sent from this page, and how far the worker has got with it."""

    id: str
    command: str
    stage: Literal["waiting", "taken", "acknowledged", "refused", "overdue"]
    level: Level
    text: str

    @property
    def pending(self) -> bool:
        """Return whether the worker has not acknowledged it yet."""
        return self.stage in {"waiting", "taken", "overdue"}


# ----------------------------------------------------------------------------- basics


def stale_after_s(heartbeat_s: float) -> float:
    """Return the heartbeat age past which the state is stale: 3 heartbeats + 2 s."""
    return STALE_HEARTBEATS * heartbeat_s + STALE_SLACK_S


def parse_time(value: object) -> dt.datetime | None:
    """Parse an ISO 8601 time from the state file; a bare date is midnight UTC; else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def number(value: object) -> float | None:
    """Return ``value`` as a finite float, or None (missing, null, NaN, text, bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def age_s(then: dt.datetime | None, now: dt.datetime) -> float | None:
    """Return seconds from ``then`` to ``now`` (0 if ``then`` is ahead: clock skew), or None."""
    if then is None:
        return None
    return max(0.0, (now - then).total_seconds())


def fmt_age(seconds: float | None) -> str:
    """Format an age: ``0.8 s``, ``12 s``, ``3 min 05 s``, ``2 h 04 min``, ``3 d 4 h``."""
    if seconds is None:
        return "unknown"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def fmt_time(when: dt.datetime | None) -> str:
    """Format a time in UTC: ``2026-03-02 14:30:05 UTC``; ``-`` when unknown."""
    if when is None:
        return "-"
    return f"{when.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def signed_money(value: float | None, decimals: int = 2) -> str:
    """Format a PnL in dollars with its sign: ``+$1,234.56``, ``-$12.00``; ``-`` if unknown."""
    if value is None:
        return "-"
    if round(value, decimals) == 0:
        return money(0.0, decimals)  # never "-$0"
    return ("+" if value > 0 else "") + money(value, decimals)


def md(text: object) -> str:
    """Escape text from a file for Markdown: it shows as written, and can load nothing."""
    return "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in str(text))


def _section(state: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    value = state.get(name) if state is not None else None
    return value if isinstance(value, Mapping) else {}


def _rows(state: Mapping[str, Any] | None, name: str) -> list[Mapping[str, Any]]:
    value = state.get(name) if state is not None else None
    if not isinstance(value, list):
        return []
    return [row for row in value if isinstance(row, Mapping)]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# ----------------------------------------------------------------------------- status


def status(state: Mapping[str, Any] | None, now: dt.datetime, heartbeat_s: float) -> Status:
    """Return the worker's liveness and identity from its state (None: no state file)."""
    threshold = stale_after_s(heartbeat_s)
    if state is None:
        return Status(
            Liveness.NO_STATE, None, "", None, None, None, None, None, None, None, threshold
        )
    worker = _section(state, "worker")
    beat = parse_time(worker.get("heartbeat_at"))
    age = age_s(beat, now)
    name = _text(worker.get("state"))
    reason = str(worker.get("reason") or "")
    stale = age is None or age > threshold
    exited = worker.get("exited")
    if not isinstance(exited, bool):  # an older state file: only the reason tells
        exited = not reason.startswith(LATCHED_PREFIX)
    if name == "STOPPED" and (stale or exited):
        liveness = Liveness.EXITED
    elif stale:
        liveness = Liveness.STALE
    else:
        liveness = Liveness.LIVE
    version = state.get("schema_version")
    return Status(
        liveness,
        name,
        reason,
        _text(worker.get("mode")),
        _text(worker.get("account")),
        _text(worker.get("strategy")),
        _text(worker.get("run_id")),
        _text(worker.get("session")),
        beat,
        age,
        threshold,
        version if isinstance(version, int) else None,
        latched if isinstance(latched := worker.get("latched"), bool) else None,
        (len(_rows(state, "open_orders")), len(_rows(state, "positions"))),
        parse_time(worker.get("broker_as_of")),
        _text(worker.get("replay_finished")) if name == "STOPPED" else None,
    )


def liveness_message(s: Status, heartbeat_s: float, live_dir: Path | None = None) -> Message | None:
    """Return the warning about the worker's liveness, or None while it runs normally."""
    rule = (
        f"threshold {s.threshold_s:g} s = {STALE_HEARTBEATS} heartbeats of {heartbeat_s:g} s "
        f"+ {STALE_SLACK_S:g} s"
    )
    if s.liveness is Liveness.NO_STATE:
        where = f" in {live_dir}" if live_dir is not None else ""
        return Message(
            "error",
            f"Worker offline: no state file{where}. No worker has run with this data dir; "
            "start run_live_strategy.py. Nothing below is live.",
        )
    if s.liveness is Liveness.STALE:
        return Message(
            "error",
            f"Worker offline or hung: heartbeat stale, the last one was {fmt_age(s.age_s)} ago "
            f"({rule}). The figures below are as of then, and nothing is watching the account.",
        )
    if s.liveness is Liveness.EXITED and s.replay_finished:
        return Message(
            "info",
            f"Replay finished on {s.replay_finished}: the worker ran the replay to its end and "
            f"its process has ended ({fmt_age(s.age_s)} ago). The figures below are the "
            "simulated account's at the end of the replay.",
        )
    if s.liveness is Liveness.EXITED:
        return Message(
            "warning",
            f"Worker STOPPED: its process has exited (last heartbeat {fmt_age(s.age_s)} ago). "
            "The figures below are as of then, and nothing is watching the account.",
        )
    if s.state == "DISCONNECTED":
        return Message(
            "warning",
            "The worker is DISCONNECTED from the broker and reconnecting: the account figures "
            f"are as of {fmt_time(s.broker_as_of) if s.broker_as_of else 'the last connection'}"
            ". It still answers commands, but CANCEL and FLAT cannot reach the broker "
            "until it is back (FLAT keeps it HALTED afterwards); STOP and RESUME work. To act on "
            "the account now, use TWS.",
        )
    if s.state == "STOPPED":
        return Message(
            "info",
            "The worker runs under the STOP latch: it reports and obeys CANCEL and FLAT, and "
            "places no strategy order until RESUME.",
        )
    return None


def schema_message(s: Status) -> Message | None:
    """Return a warning when the state file's schema is not the one this cockpit reads."""
    if s.liveness is Liveness.NO_STATE or s.schema_version == STATE_SCHEMA_VERSION:
        return None
    return Message(
        "warning",
        f"The state file has schema version {s.schema_version}; this cockpit reads version "
        f"{STATE_SCHEMA_VERSION}: some figures may be missing.",
    )


def banner_markdown(s: Status, snapshot: Mapping[str, Any] | None) -> list[str]:
    """Return the banner's Markdown lines: mode, state, risk (a heading); account; reason, age."""
    state = s.state or "NO WORKER"
    state_color = STATE_COLORS.get(state, "gray") if s.liveness is not Liveness.NO_STATE else "red"
    tripped = _section(snapshot, "risk").get("status") == "tripped"
    risk_badge = ":red-badge[RISK LIMIT TRIPPED]" if tripped else ":green-badge[risk OK]"
    if s.liveness is Liveness.NO_STATE:
        return [f":{state_color}-background[:{state_color}[OFFLINE]] :gray-badge[{state}]"]
    liveness = {
        Liveness.LIVE: ":green-badge[heartbeat OK]",
        Liveness.STALE: ":red-badge[HEARTBEAT STALE]",
        Liveness.EXITED: ":red-badge[PROCESS EXITED]",
    }[s.liveness]
    if s.liveness is Liveness.EXITED and s.replay_finished:
        liveness = f":blue-badge[REPLAY FINISHED {md(s.replay_finished)}]"
    label = md(state)
    if s.liveness is Liveness.STALE:  # a state nobody reports any more is not shown as live
        label, state_color = f"{label} (last known)", "gray"
    first = f"{_tag(s.mode_label, s.mode_color)} {_tag(label, state_color)} {liveness} {risk_badge}"
    second = " · ".join(
        part
        for part in (
            f"account **{md(s.account or '-')}**",
            f"strategy **{md(s.strategy)}**" if s.strategy else "",
            f"session {md(s.session)}" if s.session else "",
            f"run {md(s.run_id)}" if s.run_id else "",
        )
        if part
    )
    third = (
        f"{md(s.reason or 'no reason given')} · heartbeat **{fmt_age(s.age_s)}** ago "
        f"(stale after {s.threshold_s:g} s) · last beat {fmt_time(s.heartbeat_at)}"
    )
    return [first, second, third]


def _tag(text: str, color: str) -> str:
    return f":{color}-background[:{color}[{text}]]"


def live_money_message(s: Status) -> Message | None:
    """Return the red line shown over a live (real money) account."""
    if s.mode != "ib-live":
        return None
    return Message(
        "error",
        f"IB LIVE: account {s.account or '-'} trades real money. Every button below acts on it.",
    )


# ----------------------------------------------------------------------------- figures


def account_metrics(state: Mapping[str, Any] | None) -> list[Metric]:
    """Return Net liquidation, Cash, Daily PnL and Total PnL in whole dollars (cents in help)."""
    account = _section(state, "account")
    nav = number(account.get("net_liquidation"))
    cash = number(account.get("cash"))
    daily = number(account.get("daily_pnl"))
    total = total_pnl(account)
    realized = signed_money(number(account.get("realized_pnl")))
    unrealized = signed_money(number(account.get("unrealized_pnl")))
    return [
        Metric(
            "Net liquidation",
            money(nav, 0),
            None,
            f"{money(nav)}: the account's value at the latest marks",
        ),
        Metric(
            "Cash",
            money(cash, 0),
            None,
            f"{money(cash)}; buying power {money(number(account.get('buying_power')))}",
        ),
        Metric(
            "Daily PnL",
            signed_money(daily, 0),
            _return(daily, nav),
            f"{signed_money(daily)} today: the broker's own figure, or net liquidation against "
            "the session's opening equity. The delta: the same as a % of that opening equity.",
        ),
        Metric(
            "Total PnL",
            signed_money(total, 0),
            _return(total, nav),
            f"{signed_money(total)} = realized {realized} + unrealized {unrealized}, as the "
            "broker reports them. The delta: the same as a % of the equity before it.",
        ),
    ]


def total_pnl(account: Mapping[str, Any]) -> float | None:
    """Return realized + unrealized PnL (a missing part counts 0; None if both are missing)."""
    realized = number(account.get("realized_pnl"))
    unrealized = number(account.get("unrealized_pnl"))
    if realized is None and unrealized is None:
        return None
    return (realized or 0.0) + (unrealized or 0.0)


def _return(pnl: float | None, nav: float | None) -> str | None:
    # No delta for a zero PnL: "+0.00%" would show as a green arrow up.
    if pnl is None or nav is None or nav - pnl <= 0 or round(pnl, 2) == 0:
        return None
    return f"{pnl / (nav - pnl):+.2%}"


def unrealized_pnl(
    quantity: float | None, avg_cost: float | None, price: float | None
) -> float | None:
    """Return ``(price - avg_cost) x quantity`` in dollars (shorts gain as the price falls)."""
    if quantity is None or avg_cost is None or price is None:
        return None
    return (price - avg_cost) * quantity


def weight(market_value: float | None, nav: float | None) -> float | None:
    """Return a position's share of net liquidation (a fraction), or None without a NAV."""
    if market_value is None or nav is None or nav == 0:
        return None
    return market_value / nav


POSITION_FORMATS = {
    "Shares": "localized",
    "Avg cost": "dollar",
    "Price": "dollar",
    "Market value": "dollar",
    "Weight (%)": "%.2f%%",
    "Unrealised PnL": "dollar",
    "Unrealised (%)": "%.2f%%",
}


def positions_table(state: Mapping[str, Any] | None) -> pd.DataFrame:
    """Return the positions, largest first: shares, cost, price, value, weight, unrealised PnL."""
    nav = number(_section(state, "account").get("net_liquidation"))
    rows = []
    for p in _rows(state, "positions"):
        qty = number(p.get("quantity"))
        cost = number(p.get("avg_cost"))
        price = number(p.get("market_price"))
        value = qty * price if qty is not None and price is not None else None
        pnl = unrealized_pnl(qty, cost, price)
        basis = abs(qty * cost) if qty is not None and cost is not None else 0.0
        rows.append(
            {
                "Symbol": str(p.get("symbol", "?")),
                "Shares": qty,
                "Avg cost": cost,
                "Price": price,
                "Market value": value,
                "Weight (%)": _percent(weight(value, nav)),
                "Unrealised PnL": pnl,
                "Unrealised (%)": _percent(pnl / basis if pnl is not None and basis else None),
            }
        )
    frame = pd.DataFrame(rows, columns=["Symbol", *POSITION_FORMATS])
    if frame.empty:
        return frame
    order = frame["Market value"].abs().fillna(0.0).sort_values(ascending=False).index
    return frame.loc[order].reset_index(drop=True)


def net_liquidation(state: Mapping[str, Any] | None) -> float | None:
    """Return the account's net liquidation from the state, or None."""
    return number(_section(state, "account").get("net_liquidation"))


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def positions_summary(table: pd.DataFrame, nav: float | None) -> str:
    """Return one line: how many positions, gross exposure ($ and % of NAV), unrealised PnL."""
    if table.empty:
        return "No positions."
    gross = float(table["Market value"].abs().sum())
    net = float(table["Market value"].sum())
    share = weight(gross, nav)
    pnl = float(table["Unrealised PnL"].sum())
    share_text = f" ({share:.1%} of net liquidation)" if share is not None else ""
    return (
        f"{len(table)} position(s) · gross {money(gross)}{share_text} · net {money(net)} · "
        f"unrealised {signed_money(pnl)}"
    )


ORDER_FORMATS = {"Shares": "localized", "Filled": "localized", "Remaining": "localized"}


def orders_table(state: Mapping[str, Any] | None) -> pd.DataFrame:
    """Return the open orders: id, our reference, symbol, side, shares, filled, remaining."""
    rows = []
    for o in _rows(state, "open_orders"):
        qty = number(o.get("quantity"))
        filled = number(o.get("filled")) or 0.0
        rows.append(
            {
                "Order id": str(o.get("order_id", "")),
                "Ref": str(o.get("ref", "")),
                "Symbol": str(o.get("symbol", "?")),
                "Side": str(o.get("side", "")),
                "Shares": qty,
                "Filled": filled,
                "Remaining": qty - filled if qty is not None else None,
                "Status": str(o.get("status", "")),
            }
        )
    columns = ["Order id", "Ref", "Symbol", "Side", *ORDER_FORMATS, "Status"]
    return pd.DataFrame(rows, columns=columns)


FILL_FORMATS = {"Shares": "localized", "Price": "dollar", "Value": "dollar", "Commission": "dollar"}


def fills_table(state: Mapping[str, Any] | None) -> pd.DataFrame:
    """Return today's fills, newest first, with their value and commission in dollars."""
    rows = []
    for f in _rows(state, "fills_today"):
        qty = number(f.get("quantity"))
        price = number(f.get("price"))
        when = parse_time(f.get("time"))
        rows.append(
            {
                "Time (UTC)": fmt_time(when).removesuffix(" UTC"),
                "Symbol": str(f.get("symbol", "?")),
                "Side": str(f.get("side", "")),
                "Shares": qty,
                "Price": price,
                "Value": qty * price if qty is not None and price is not None else None,
                "Commission": number(f.get("commission")),
                "Order id": str(f.get("order_id", "")),
            }
        )
    columns = ["Time (UTC)", "Symbol", "Side", *FILL_FORMATS, "Order id"]
    return pd.DataFrame(rows[::-1], columns=columns)


def commands_table(state: Mapping[str, Any] | None) -> pd.DataFrame:
    """Return the worker's acknowledgements, newest first: when, what, id, accepted, result."""
    rows = [
        {
            "At (UTC)": fmt_time(parse_time(a.get("at"))).removesuffix(" UTC"),
            "Command": str(a.get("command") or "-"),
            "Id": str(a.get("id") or "-"),
            "Accepted": bool(a.get("accepted")),
            "Result": str(a.get("result", "")),
            "Detail": _detail(a.get("detail")),
        }
        for a in _rows(state, "commands")
    ]
    columns = ["At (UTC)", "Command", "Id", "Accepted", "Result", "Detail"]
    return pd.DataFrame(rows[::-1], columns=columns)


def errors_table(state: Mapping[str, Any] | None) -> pd.DataFrame:
    """Return the worker's recent errors, newest first."""
    rows = [
        {
            "At (UTC)": fmt_time(parse_time(e.get("at"))).removesuffix(" UTC"),
            "Message": str(e.get("message", "")),
        }
        for e in _rows(state, "errors")
    ]
    return pd.DataFrame(rows[::-1], columns=["At (UTC)", "Message"])


def _detail(value: object) -> str:
    if isinstance(value, Mapping):  # FLAT's {"left": {}}: an empty part says nothing
        value = {k: v for k, v in value.items() if v not in (None, {}, [], "")}
    if value is None or value == {}:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def risk_message(state: Mapping[str, Any] | None) -> Message:
    """Return the risk status: OK, which limit tripped and why, or a limit beyond its bound."""
    risk = _section(state, "risk")
    if risk.get("status") == "tripped":
        return Message(
            "error",
            f"Risk limit tripped: {risk.get('limit') or '?'}: {risk.get('reason') or '?'}. The "
            "worker is HALTED: no new strategy orders until RESUME.",
        )
    if state is None or not risk:
        return Message("info", "Risk status unknown: no state.")
    if over := [text for text, tripped in _limits(risk) if tripped]:
        return Message(
            "warning",
            f"Beyond a risk limit now: {'; '.join(over)}. The worker has not halted on it "
            "(it was not RUNNING): see its state and reason.",
        )
    return Message("success", "Risk: OK, no limit tripped.")


def limit_lines(state: Mapping[str, Any] | None) -> list[str]:
    """Return each account limit with its usage (``daily loss 4.56% of 1.00%``), then the action.

    The worker measures them at every heartbeat against the broker's net liquidation.
    """
    risk = _section(state, "risk")
    lines = [text + (": TRIPPED" if tripped else "") for text, tripped in _limits(risk)]
    if lines and isinstance(flat := risk.get("flat_on_breach"), bool):
        lines.append(
            "A breach halts new orders"
            + (" and closes every position (risk.flat_on_breach)" if flat else "")
        )
    return lines


def _limits(risk: Mapping[str, Any]) -> list[tuple[str, bool]]:
    # (text, tripped) per limit row of the state's risk section; rows that are not objects skip.
    out = []
    for row in _rows(risk, "limits"):
        limit, usage = number(row.get("limit")), number(row.get("usage"))
        used = "unknown" if usage is None else f"{usage:.2%}"
        bound = "?" if limit is None else f"{limit:.2%}"
        out.append(
            (
                f"{row.get('label') or row.get('name') or '?'} {used} of {bound}",
                row.get("tripped") is True,
            )
        )
    return out


def schedule_lines(state: Mapping[str, Any] | None) -> list[str]:
    """Return the rebalance schedule and the start-up reconciliation, as short lines."""
    rebalance = _section(state, "rebalance")
    lines = [
        f"Last rebalance: {rebalance.get('last') or 'none yet'}",
        f"Next rebalance: {rebalance.get('next') or 'none planned'}",
    ]
    reconciled = _section(state, "reconciled")
    if reconciled:
        when = parse_time(reconciled.get("at"))
        sessions = reconciled.get("open_order_sessions") or []
        lines.append(
            f"Reconciled with the broker"
            f"{f' at {when.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC' if when else ''}: "
            f"{reconciled.get('positions', '?')} position(s), "
            f"{reconciled.get('our_open_orders', '?')} open order(s) of ours"
            + (f" for session(s) {', '.join(map(str, sessions))}" if sessions else "")
        )
    return lines


def equity_figure(state: Mapping[str, Any] | None) -> go.Figure | None:
    """Return the net liquidation over time ($ against UTC time), or None without points."""
    points = []
    dates_only = True
    raw = state.get("equity") if state is not None else None
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            continue
        when, value = parse_time(item[0]), number(item[1])
        if when is None or value is None:
            continue
        dates_only = dates_only and len(str(item[0])) == 10
        points.append((when, value))
    if not points:
        return None
    points.sort()
    # Plotly shows a time as written, offsets ignored: hand it UTC wall times.
    x = [f"{when.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}" for when, _ in points]
    y = [value for _, value in points]
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=y,
            mode="lines+markers" if len(points) <= 60 else "lines",
            name="Net liquidation",
            line={"color": COLORS[0], "width": 2},
            hovertemplate="$%{y:,.2f}<extra></extra>",
        )
    )
    axis: tuple[str, Unit] = ("Session (date)", "date") if dates_only else ("Time (UTC)", "date")
    style(fig, "Equity: net liquidation", x=axis, y=("Net liquidation", "usd"), height=320)
    if not dates_only:
        fig.update_xaxes(tickformat="%H:%M<br>%Y-%m-%d")
    # No market at the weekend: the line does not run across Saturdays and Sundays.
    fig.update_xaxes(rangebreaks=[{"bounds": ["sat", "mon"]}])
    return fig


# ----------------------------------------------------------------------------- commands


def waiting_ids(live_dir: Path) -> set[str]:
    """Return the ids of the commands still in the queue (no worker has finished with them)."""
    return {str(c.get("id")) for c in queued(live_dir) if c.get("id")}


def not_sent_text(kind: str, error: Exception, now: dt.datetime) -> str:
    """Return why a command could not be queued (the inbox cannot be written)."""
    return f"{kind} NOT sent at {fmt_time(now)}: {error}. Use TWS to act on the account now."


def track(sent: Sequence[Mapping[str, Any]], command: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the list of commands sent from this page with ``command`` added (the last 20)."""
    return [dict(c) for c in [*sent, command]][-SENT_KEPT:]


def command_views(
    sent: Sequence[Mapping[str, Any]],
    state: Mapping[str, Any] | None,
    waiting: Collection[str],
    now: dt.datetime,
    overdue_s: float = 120.0,
) -> list[CommandView]:
    """Return the commands sent from this page (newest first), each matched to its ack by id.

    Pending until the state file's ``commands`` holds an acknowledgement with the command's
    id: first waiting in the queue (its id in ``waiting``: no worker has finished with it),
    then taken; once acknowledged, the worker's result.
    """
    acks = {str(a.get("id")): a for a in _rows(state, "commands") if a.get("id")}
    views = []
    for c in list(sent)[-SENT_SHOWN:][::-1]:
        ident, kind = str(c.get("id", "")), str(c.get("command", "?"))
        head = f"Sent {kind} id={ident}"
        ack = acks.get(ident)
        if ack is not None:
            result = str(ack.get("result", ""))
            detail = _detail(ack.get("detail"))
            result += f" ({detail})" if detail else ""
            at = fmt_time(parse_time(ack.get("at")))
            if ack.get("accepted"):
                text = f"{head}: acknowledged at {at}: {result}"
                views.append(CommandView(ident, kind, "acknowledged", "success", text))
            else:
                text = f"{head}: refused by the worker at {at}: {result}"
                views.append(CommandView(ident, kind, "refused", "error", text))
            continue
        age = age_s(parse_time(c.get("issued_at")), now)
        if ident in waiting:
            text = (
                f"{head}: pending, waiting in the queue (inbox) for a worker to take it "
                f"(sent {fmt_age(age)} ago)"
            )
            views.append(CommandView(ident, kind, "waiting", "warning", text))
        elif age is not None and age > overdue_s:
            text = (
                f"{head}: taken {fmt_age(age)} ago, but no acknowledgement in the state file (a "
                "restarted worker shows only its own): see data/live/commands.log.jsonl"
            )
            views.append(CommandView(ident, kind, "overdue", "warning", text))
        else:
            text = f"{head}: pending, taken by the worker, waiting for its acknowledgement"
            views.append(CommandView(ident, kind, "taken", "info", text))
    return views


# ----------------------------------------------------------------------------- buttons


def show_resume(s: Status) -> bool:
    """Return whether RESUME is offered: the worker is HALTED, or STOPPED with its latch set."""
    if s.state == "STOPPED" and s.latched is False:  # a plain exit: there is nothing to lift
        return False
    return s.state in RESUMABLE


def button_notes(s: Status, state: Mapping[str, Any] | None, max_age_s: float) -> dict[str, str]:
    """Return, per command, what its button does now, and what it will not do."""
    orders = len(_rows(state, "open_orders"))
    positions = len(_rows(state, "positions"))
    if s.running and s.state == "DISCONNECTED":
        return {
            "CANCEL": "Disconnected from the broker: nothing can be cancelled now. The worker "
            "answers 'not executed'; send it again once reconnected, or use TWS.",
            "FLAT": "Disconnected from the broker: no position can be closed now. The worker "
            "stays HALTED once reconnected (no buying back); send FLAT again then, or use TWS.",
            "STOP": "Ends the worker process now, touching no order or position. Latches. "
            "Asks first.",
            "RESUME": "Lets the strategy trade again once the worker is reconnected.",
        }
    if s.running:
        resume = (
            "Lifts the STOP latch: the strategy trades again from its next rebalance."
            if s.state == "STOPPED"
            else "Lifts the halt (FLAT or a risk limit): the strategy trades again from its next "
            "rebalance."
        )
        return {
            "CANCEL": f"Cancels every open order ({orders} now). Positions stay.",
            "FLAT": f"Cancels every open order, closes every position at market ({positions} "
            "now), then holds the worker HALTED: no new strategy orders until RESUME. Asks first.",
            "STOP": "Ends the worker process: orders and positions stay as they are. Latches: "
            "started again, the worker comes up STOPPED until RESUME. Asks first.",
            "RESUME": resume,
        }
    within = f"a worker started within {max_age_s:g} s (live.command_max_age_s)"
    late = "a later one refuses it as expired"
    stop = (
        "The worker is already STOPPED and its process has exited: nothing to stop. "
        if s.liveness is Liveness.EXITED
        else "No worker answers: a hung process is not stopped by this; end it on its host. "
    )
    return {
        "CANCEL": "No worker is running: nothing is cancelled now. The command waits in the "
        f"queue: {within} cancels every open order; {late}.",
        "FLAT": "No worker is running: nothing is sold now. The command waits in the queue: "
        f"{within} goes flat and stays HALTED; {late}.",
        "STOP": stop + f"Sent anyway, it waits in the queue: {within} stops at once; {late}.",
        "RESUME": f"No worker is running: RESUME waits in the queue: {within} trades again; "
        f"{late}. Or start run_live_strategy.py with --resume.",
    }


def controls_message(s: Status) -> Message | None:
    """Return the note over the buttons when no worker takes commands now."""
    if s.running:
        return None
    why = {
        Liveness.NO_STATE: "No worker has run here",
        Liveness.STALE: "The worker is not answering (heartbeat stale)",
        Liveness.EXITED: "The worker is STOPPED: its process has exited",
    }[s.liveness]
    if s.liveness is Liveness.EXITED and s.replay_finished:
        why = f"The replay finished on {s.replay_finished}: its process has ended"
    return Message(
        "warning",
        f"{why}: a button queues its command (a file of its own in inbox/), where it waits for a "
        "worker to start; nothing happens at the broker until then. A worker takes the queue in "
        "order, each command once. To act on the account now, use the broker's own platform "
        "(TWS).",
    )
