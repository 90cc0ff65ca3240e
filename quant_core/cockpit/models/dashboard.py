"""The Live Dashboard's status: whether a worker is behind the state file, and what to say.

No Streamlit here, so every message is unit-tested directly. The worker writes
``dashboard_state.json`` (``quant_core.live.files.write_state``); the cockpit reads it only
through the typed contract (:func:`read`: ``DashboardState.from_json``).

Liveness
    A worker heartbeats every ``live.heartbeat_s`` seconds. Its state is **stale** once the last
    heartbeat is older than ``3 x heartbeat_s + 2 s`` (5 s by default): three missed beats, plus
    slack for a slow disk or a long FLAT step. A STOPPED worker has **exited** (STOP ends the
    process), unless it is a worker started again under the STOP latch, which keeps beating. A
    replay run to its end says so (``worker.replay_finished``): its end is not a crash. A file
    of another schema version, or with a field missing or malformed, is **unreadable**: nothing
    in it is shown, and the message names the field.

Times are shown in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from quant_core.cockpit.format import fmt_age, fmt_time, md
from quant_core.live.files import STATE_FILE, load_state
from quant_core.live.state import SCHEMA_VERSION, DashboardState, WorkerMode, WorkerState
from quant_core.live.state_fields import StateSchemaError

REFRESH_S = 1.0  # the page's own refresh period (st.fragment run_every)
STALE_HEARTBEATS = 3
STALE_SLACK_S = 2.0

Level = Literal["error", "warning", "info", "success"]

MODES: dict[WorkerMode, tuple[str, str]] = {  # worker mode -> (label, colour)
    WorkerMode.SIM: ("SIM", "gray"),
    WorkerMode.IB_PAPER: ("IB PAPER", "blue"),
    WorkerMode.IB_LIVE: ("IB LIVE", "red"),
}
STATE_COLORS = {
    WorkerState.STARTING: "blue",
    WorkerState.CONNECTING: "blue",
    WorkerState.RUNNING: "green",
    WorkerState.HALTED: "orange",
    WorkerState.DISCONNECTED: "orange",
    WorkerState.STOPPED: "red",
}
# The reason a worker started again under the STOP latch reports (live.worker.Worker.start):
# that worker is running, STOPPED only in name; any other STOPPED worker has exited.
LATCHED_PREFIX = "latched"


class Liveness(StrEnum):
    """Whether a worker is behind the state file."""

    NO_STATE = "no state"  # no state file: no worker ever ran with this data dir
    UNREADABLE = "unreadable"  # another schema version, or a field missing or malformed
    LIVE = "live"  # heartbeats arrive
    STALE = "stale"  # heartbeats stopped: the worker is down or hung
    EXITED = "exited"  # the worker said STOPPED and its process has ended


@dataclass(frozen=True, slots=True)
class Status:
    """The worker's situation as the state file tells it, at a moment."""

    liveness: Liveness
    state: WorkerState | None
    reason: str
    mode: WorkerMode | None
    account: str | None
    strategy: str | None
    run_id: str | None
    session: str | None
    heartbeat_at: dt.datetime | None
    age_s: float | None
    threshold_s: float
    schema_version: object = None  # the file's; SCHEMA_VERSION once it has been read
    latched: bool | None = None  # STOP's latch is set (None: an older state file)
    counts: tuple[int, int] = (0, 0)  # open orders, positions: the button captions quote them
    broker_as_of: dt.datetime | None = None  # when the broker's figures were read
    replay_finished: str | None = None  # the last session of a replay that ran to its end
    problem: str | None = None  # why the file cannot be read (UNREADABLE)

    @property
    def mode_label(self) -> str:
        """Return SIM, IB PAPER, IB LIVE (or MODE UNKNOWN)."""
        return MODES[self.mode][0] if self.mode is not None else "MODE UNKNOWN"

    @property
    def mode_color(self) -> str:
        """Return the banner colour of the mode: red for a live account."""
        return MODES[self.mode][1] if self.mode is not None else "gray"

    @property
    def running(self) -> bool:
        """Return whether a worker is taking commands now."""
        return self.liveness is Liveness.LIVE

    @property
    def replay_ended(self) -> bool:
        """Return whether the process has exited after running a replay to its end."""
        return self.liveness is Liveness.EXITED and bool(self.replay_finished)

    @property
    def signature(self) -> str:
        """Return what the buttons and their captions depend on (a change redraws them)."""
        return f"{self.liveness.value}|{self.state}|{self.mode}|{self.latched}|{self.counts}"


@dataclass(frozen=True, slots=True)
class Message:
    """A line for the page, with how loud it is."""

    level: Level
    text: str


_Read = tuple[DashboardState | None, StateSchemaError | None]
_READ_CACHE: dict[Path, tuple[tuple[int, int, int], _Read]] = {}  # file -> (its version, read)


def read(live_dir: Path) -> tuple[DashboardState | None, StateSchemaError | None]:
    """Return the worker's typed state (None: no file), or why the file cannot be read.

    The last result is kept per file version, keyed on (inode, mtime, size): each atomic
    write is a new inode, and ``DashboardState`` is frozen. A missing file is never kept.
    """
    path = live_dir / STATE_FILE
    try:
        info = path.stat()
    except OSError:
        _READ_CACHE.pop(path, None)
        return _read(live_dir)
    key = (info.st_ino, info.st_mtime_ns, info.st_size)
    if (kept := _READ_CACHE.get(path)) is not None and kept[0] == key:
        return kept[1]
    result = _read(live_dir)  # stat first: a file replaced meanwhile is read again next time
    _READ_CACHE[path] = (key, result)
    return result


def _read(live_dir: Path) -> _Read:
    try:
        return load_state(live_dir), None
    except StateSchemaError as exc:
        return None, exc


def stale_after_s(heartbeat_s: float) -> float:
    """Return the heartbeat age past which the state is stale: 3 heartbeats + 2 s."""
    return STALE_HEARTBEATS * heartbeat_s + STALE_SLACK_S


def age_s(then: dt.datetime | None, now: dt.datetime) -> float | None:
    """Return seconds from ``then`` to ``now`` (0 if ``then`` is ahead: clock skew), or None."""
    if then is None:
        return None
    return max(0.0, (now - then).total_seconds())


def status(
    state: DashboardState | None,
    now: dt.datetime,
    heartbeat_s: float,
    problem: StateSchemaError | None = None,
) -> Status:
    """Return the worker's liveness and identity from its state (None: no readable file)."""
    threshold = stale_after_s(heartbeat_s)
    if state is None:
        liveness = Liveness.NO_STATE if problem is None else Liveness.UNREADABLE
        version = problem.found if problem is not None and problem.other_version else None
        return Status(
            liveness, None, "", None, None, None, None, None, None, None, threshold,
            version, problem=None if problem is None else str(problem),
        )  # fmt: skip
    worker = state.worker
    age = age_s(worker.heartbeat_at, now)
    # A heartbeat far ahead (a clock stepped back) would read fresh until the clock caught up.
    ahead = worker.heartbeat_at is not None and (worker.heartbeat_at - now).total_seconds()
    stale = age is None or age > threshold or ahead > threshold
    exited = worker.exited
    if exited is None:  # an older state file: only the reason tells
        exited = not worker.reason.startswith(LATCHED_PREFIX)
    if worker.state is WorkerState.STOPPED and (stale or exited):
        liveness = Liveness.EXITED
    elif stale:
        liveness = Liveness.STALE
    else:
        liveness = Liveness.LIVE
    finished = worker.replay_finished if worker.state is WorkerState.STOPPED else None
    return Status(
        liveness,
        worker.state,
        worker.reason,
        worker.mode,
        worker.account,
        worker.strategy,
        worker.run_id,
        None if worker.session is None else str(worker.session),
        worker.heartbeat_at,
        age,
        threshold,
        SCHEMA_VERSION,
        worker.latched,
        (len(state.open_orders), len(state.positions)),
        worker.broker_as_of,
        None if finished is None else str(finished),
    )


def liveness_message(s: Status, heartbeat_s: float, live_dir: Path | None = None) -> Message | None:
    """Return the warning about the worker's liveness, or None while it runs normally."""
    rule = (
        f"threshold {s.threshold_s:g} s = {STALE_HEARTBEATS} heartbeats of {heartbeat_s:g} s "
        f"+ {STALE_SLACK_S:g} s"
    )
    where = f" in {live_dir}" if live_dir is not None else ""
    if s.liveness is Liveness.NO_STATE:
        return Message(
            "error",
            f"Worker offline: no state file{where}. No worker has run with this data dir; "
            "start run_live_strategy.py. Nothing below is live.",
        )
    if s.liveness is Liveness.UNREADABLE:
        return Message(
            "error",
            f"The worker's state file{where} cannot be read: {s.problem}. Nothing below is live; "
            "to act on the account now, use TWS.",
        )
    if s.liveness is Liveness.STALE:
        return Message(
            "error",
            f"Worker offline or hung: heartbeat stale, the last one was {fmt_age(s.age_s)} ago "
            f"({rule}). The figures below are as of then, and nothing is watching the account.",
        )
    if s.replay_ended:
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
    if s.state is WorkerState.DISCONNECTED:
        return Message(
            "warning",
            "The worker is DISCONNECTED from the broker and reconnecting: the account figures "
            f"are as of {fmt_time(s.broker_as_of) if s.broker_as_of else 'the last connection'}"
            ". It still answers commands, but CANCEL and FLAT cannot reach the broker "
            "until it is back (FLAT keeps it HALTED afterwards); STOP and RESUME work. To act on "
            "the account now, use TWS.",
        )
    if s.state is WorkerState.STOPPED:
        return Message(
            "info",
            "The worker runs under the STOP latch: it reports and obeys CANCEL and FLAT, and "
            "places no strategy order until RESUME.",
        )
    return None


def schema_message(s: Status) -> Message | None:
    """Return a warning when the state file's schema is not the one this cockpit reads."""
    if s.liveness is Liveness.NO_STATE or s.schema_version == SCHEMA_VERSION:
        return None
    if s.liveness is Liveness.UNREADABLE and s.schema_version is None:
        return None  # a malformed field: the liveness message names it
    return Message(
        "warning",
        f"The state file has schema version {s.schema_version}; this cockpit reads version "
        f"{SCHEMA_VERSION}: its figures are not shown.",
    )


def banner_markdown(s: Status, state: DashboardState | None) -> list[str]:
    """Return the banner's Markdown lines: mode, state, risk (a heading); account; reason, age."""
    if s.liveness is Liveness.NO_STATE:
        return [f"{_tag('OFFLINE', 'red')} :gray-badge[NO WORKER]"]
    if s.liveness is Liveness.UNREADABLE:
        return [f"{_tag('UNREADABLE STATE FILE', 'red')} :gray-badge[NO WORKER]"]
    name = s.state.value if s.state is not None else "NO WORKER"
    state_color = STATE_COLORS.get(s.state, "gray") if s.state is not None else "gray"
    tripped = state is not None and state.risk.tripped
    risk_badge = ":red-badge[RISK LIMIT TRIPPED]" if tripped else ":green-badge[risk OK]"
    liveness = {
        Liveness.LIVE: ":green-badge[heartbeat OK]",
        Liveness.STALE: ":red-badge[HEARTBEAT STALE]",
        Liveness.EXITED: ":red-badge[PROCESS EXITED]",
    }[s.liveness]
    if s.replay_ended:
        liveness = f":blue-badge[REPLAY FINISHED {md(s.replay_finished)}]"
    label = md(name)
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
    if s.mode is not WorkerMode.IB_LIVE:
        return None
    return Message(
        "error",
        f"IB LIVE: account {s.account or '-'} trades real money. Every button below acts on it.",
    )


def risk_message(state: DashboardState | None) -> Message:
    """Return the risk status: OK, which limit tripped and why, or a limit beyond its bound."""
    if state is None:
        return Message("info", "Risk status unknown: no state.")
    risk = state.risk
    if risk.tripped:
        return Message(
            "error",
            f"Risk limit tripped: {risk.limit or '?'}: {risk.reason or '?'}. The "
            "worker is HALTED: no new strategy orders until RESUME.",
        )
    if over := [text for text, tripped in _limits(state) if tripped]:
        return Message(
            "warning",
            f"Beyond a risk limit now: {'; '.join(over)}. The worker has not halted on it "
            "(it was not RUNNING): see its state and reason.",
        )
    return Message("success", "Risk: OK, no limit tripped.")


def limit_lines(state: DashboardState | None) -> list[str]:
    """Return each account limit with its usage (``daily loss 4.56% of 1.00%``), then the action.

    The worker measures them at every heartbeat against the broker's net liquidation.
    """
    lines = [text + (": TRIPPED" if tripped else "") for text, tripped in _limits(state)]
    flat = state.risk.flat_on_breach if state is not None else None
    if lines and flat is not None:
        lines.append(
            "A breach halts new orders"
            + (" and closes every position (risk.on_breach: flat)" if flat else "")
        )
    return lines


def _limits(state: DashboardState | None) -> list[tuple[str, bool]]:
    # (text, tripped) per limit row of the state's risk section.
    out = []
    for row in state.risk.limits if state is not None else ():
        used = "unknown" if row.usage is None else f"{row.usage:.2%}"
        bound = "?" if row.limit is None else f"{row.limit:.2%}"
        out.append((f"{row.label or row.name or '?'} {used} of {bound}", row.tripped))
    return out


def schedule_lines(state: DashboardState | None) -> list[str]:
    """Return the rebalance schedule and the start-up reconciliation, as short lines."""
    last = state.rebalance.last if state is not None else None
    upcoming = state.rebalance.next if state is not None else None
    lines = [
        f"Last rebalance: {last or 'none yet'}",
        f"Next rebalance: {upcoming or 'none planned'}",
    ]
    reconciled = state.reconciled if state is not None else None
    if reconciled is not None:
        when = reconciled.at
        sessions = reconciled.open_order_sessions
        lines.append(
            f"Reconciled with the broker"
            f"{f' at {when.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC' if when else ''}: "
            f"{reconciled.positions} position(s), "
            f"{reconciled.our_open_orders} open order(s) of ours"
            + (f" for session(s) {', '.join(sessions)}" if sessions else "")
        )
    return lines
