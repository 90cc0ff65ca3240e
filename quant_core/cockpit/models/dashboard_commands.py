"""The Live Dashboard's commands: what each button does now, and how far each sent one got.

The cockpit queues a command as a file of its own (``live.files.send_command``); it reads the
queue (``inbox/``, ``live.files.queued``) to tell a command still waiting for a worker from one
taken, and the state's acknowledgements (matched by id) for the worker's answer.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from quant_core.cockpit.format import fmt_age, fmt_time
from quant_core.cockpit.models.dashboard import Level, Liveness, Message, Status, age_s
from quant_core.live.files import CommandKind, queued
from quant_core.live.state import DashboardState, WorkerState
from quant_core.live.state_fields import parse_time

SENT_KEPT = 20
SENT_SHOWN = 5
# One click, one command: the same command (kind and sleeve) from this cockpit again within this
# many seconds is the same click. A double click, and Streamlit running a button's callback
# twice when the click's rerun races a fragment's auto-rerun on a busy machine (seen in CI: 156
# ms and 10 ms apart; 1 in 25 clicks under a CPU stress), would otherwise queue two. The second
# run did not see the first's session state, so what was sent is kept by the process
# (:data:`RECENT`), not the session.
REPEAT_S = 2.0


@dataclass(frozen=True, slots=True)
class CommandView:
    """A command sent from this page, and how far the worker has got with it."""

    id: str
    command: str
    stage: Literal["waiting", "taken", "acknowledged", "refused", "overdue", "expired"]
    level: Level
    text: str

    @property
    def pending(self) -> bool:
        """Return whether the worker has not acknowledged it yet."""
        return self.stage in {"waiting", "taken", "overdue"}


def detail_text(value: object) -> str:
    """Return an acknowledgement's detail as one line ("" when it says nothing)."""
    if isinstance(value, Mapping):  # FLAT's {"left": {}}: an empty part says nothing
        value = {k: v for k, v in value.items() if v not in (None, {}, [], "")}
    if value is None or value == {}:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def waiting_ids(live_dir: Path) -> set[str]:
    """Return the ids of the commands still in the queue (no worker has finished with them)."""
    return {str(c.get("id")) for c in queued(live_dir) if c.get("id")}


def not_sent_text(kind: str, error: Exception, now: dt.datetime) -> str:
    """Return why a command could not be queued (the inbox cannot be written)."""
    return f"{kind} NOT sent at {fmt_time(now)}: {error}. Use TWS to act on the account now."


def repeat_of(
    sent: Sequence[Mapping[str, Any]],
    kind: str,
    sleeve: str | None,
    now: dt.datetime,
    within_s: float | None = None,
) -> Mapping[str, Any] | None:
    """Return the command in ``sent`` less than ``within_s`` old that ``kind`` repeats.

    Only the page's latest command of the same kind and sleeve counts; ``None`` when there is
    none, or when it is older (or stamped later than ``now``: a clock step never blocks a send).
    """
    for command in reversed(sent):
        if str(command.get("command")) != str(kind) or command.get("sleeve") != sleeve:
            continue
        issued = parse_time(command.get("issued_at"))
        if issued is None:  # not stamped: never taken for the same click
            return None
        age = (now - issued).total_seconds()
        window = REPEAT_S if within_s is None else within_s  # read now: a test may widen it
        return command if 0.0 <= age < window else None
    return None


def repeat_text(previous: Mapping[str, Any], now: dt.datetime) -> str:
    """Return why a repeat of ``previous`` (``repeat_of``) was not queued again."""
    sleeve = f" (sleeve {previous['sleeve']})" if previous.get("sleeve") else ""
    issued = parse_time(previous.get("issued_at"))
    age = (now - issued).total_seconds() if issued is not None else 0.0
    return (
        f"{previous['command']}{sleeve} id={previous['id']} was queued {age:.1f} s ago: "
        f"not queued again (the same command within {REPEAT_S:g} s is one click)."
    )


class RecentCommands:
    """What this cockpit process queued in the last :data:`REPEAT_S`, whatever the session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[dict[str, Any]] = []

    def once(
        self,
        live_dir: Path,
        kind: str,
        sleeve: str | None,
        send: Callable[[], dict[str, Any]],
        now: Callable[[], dt.datetime],
    ) -> tuple[dict[str, Any] | None, Mapping[str, Any] | None]:
        """Queue through ``send`` unless it repeats; return (what was sent, or what it repeats).

        ``send`` queues the command and returns it as the page tracks it (id, command, sleeve,
        issued_at); it runs under the lock, so two dispatches of one click never both send. An
        error ``send`` raises is the caller's, and nothing is remembered.
        """
        where = str(live_dir)
        with self._lock:
            at = now()
            self._sent = [
                c for c in self._sent if repeat_of([c], c["command"], c.get("sleeve"), at)
            ]
            mine = [c for c in self._sent if c["live_dir"] == where]
            # Only the newest command can be repeated: HALT, RESUME, HALT is three commands.
            previous = repeat_of(mine[-1:], kind, sleeve, at)
            if previous is not None:
                return None, {k: v for k, v in previous.items() if k != "live_dir"}
            sent = send()
            self._sent.append({**sent, "live_dir": where})
            return sent, None


RECENT = RecentCommands()  # the process's: one Streamlit server serves every session


def track(sent: Sequence[Mapping[str, Any]], command: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the list of commands sent from this page with ``command`` added (the last 20)."""
    return [dict(c) for c in [*sent, command]][-SENT_KEPT:]


def command_views(
    sent: Sequence[Mapping[str, Any]],
    state: DashboardState | None,
    waiting: Collection[str],
    now: dt.datetime,
    overdue_s: float = 120.0,
    max_age_s: float | None = None,
) -> list[CommandView]:
    """Return the commands sent from this page (newest first), each matched to its ack by id.

    Pending until the state file's ``commands`` holds an acknowledgement with the command's
    id: first waiting in the queue (its id in ``waiting``: no worker has finished with it),
    then taken; once acknowledged, the worker's result. One waiting longer than ``max_age_s``
    (``live.command_max_age_s``) is expired: a worker started now refuses it, and trades on.
    """
    acks = {a.id: a for a in (state.commands if state is not None else ()) if a.id}
    views = []
    for c in list(sent)[-SENT_SHOWN:][::-1]:
        ident, kind = str(c.get("id", "")), str(c.get("command", "?"))
        sleeve = f" (sleeve {c['sleeve']})" if c.get("sleeve") else ""
        head = f"Sent {kind}{sleeve} id={ident}"
        ack = acks.get(ident)
        if ack is not None:
            detail = detail_text(ack.detail)
            result = ack.result + (f" ({detail})" if detail else "")
            at = fmt_time(ack.at)
            if ack.accepted:
                text = f"{head}: acknowledged at {at}: {result}"
                views.append(CommandView(ident, kind, "acknowledged", "success", text))
            else:
                text = f"{head}: refused by the worker at {at}: {result}"
                views.append(CommandView(ident, kind, "refused", "error", text))
            continue
        age = age_s(parse_time(c.get("issued_at")), now)
        if ident in waiting and max_age_s is not None and age is not None and age > max_age_s:
            text = (
                f"{head}: EXPIRED, sent {fmt_age(age)} ago and taken by no worker: one started now "
                f"refuses it (older than live.command_max_age_s, {max_age_s:g} s) and trades on; "
                "send it again once a worker runs"
            )
            views.append(CommandView(ident, kind, "expired", "error", text))
        elif ident in waiting:
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


def show_resume(s: Status) -> bool:
    """Return whether RESUME is offered: the worker is HALTED, or STOPPED with its latch set."""
    if s.state is WorkerState.STOPPED and s.latched is False:  # a plain exit: nothing to lift
        return False
    return s.state in WorkerState.RESUMABLE


def button_notes(s: Status, max_age_s: float) -> dict[CommandKind, str]:
    """Return, per command, what its button does now, and what it will not do."""
    orders, positions = s.counts
    cancel, flat, stop, resume, halt = (
        CommandKind.CANCEL,
        CommandKind.FLAT,
        CommandKind.STOP,
        CommandKind.RESUME,
        CommandKind.HALT,
    )
    if s.running and s.state is WorkerState.DISCONNECTED:
        return {
            cancel: "Disconnected from the broker: nothing can be cancelled now. The worker "
            "answers 'not executed'; send it again once reconnected, or use TWS.",
            flat: "Disconnected from the broker: no position can be closed now. The worker "
            "stays HALTED once reconnected (no buying back); send FLAT again then, or use TWS.",
            stop: "Ends the worker process now, touching no order or position. Latches. "
            "Asks first.",
            resume: "Lets the strategy trade again once the worker is reconnected.",
            halt: "Stops one sleeve deciding, at once (no broker needed); the other sleeves "
            "trade on once reconnected.",
        }
    if s.running:
        lift = (
            "Lifts the STOP latch: the strategy trades again from its next rebalance."
            if s.state is WorkerState.STOPPED
            else "Lifts the halt (FLAT or a risk limit): the strategy trades again from its next "
            "rebalance."
        )
        return {
            cancel: f"Cancels every open order ({orders} now). Positions stay.",
            flat: f"Cancels every open order, closes every position at market ({positions} "
            "now), then holds the worker HALTED: no new strategy orders until RESUME. Asks first.",
            stop: "Ends the worker process: orders and positions stay as they are. Latches: "
            "started again, the worker comes up STOPPED until RESUME. Asks first.",
            resume: lift,
            halt: "Stops one sleeve deciding: it holds its positions and places no order; the "
            "other sleeves trade on. FLAT and STOP stay account-wide.",
        }
    within = f"a worker started within {max_age_s:g} s (live.command_max_age_s)"
    late = "a later one refuses it as expired"
    if s.liveness is Liveness.UNREADABLE:
        # A worker may be running and heartbeating (one of another version, say): this cockpit
        # cannot tell, so it says what happens either way.
        unknown = (
            "The state file cannot be read, so whether a worker runs is unknown. The command "
            f"goes to the queue: a running worker {{now}} at once; otherwise {within} does; {late}."
        )
        return {
            cancel: unknown.format(now="cancels every open order"),
            flat: unknown.format(now="goes flat and stays HALTED"),
            stop: unknown.format(now="stops"),
            resume: unknown.format(now="trades again"),
            halt: unknown.format(now="halts the sleeve"),
        }
    ended = (
        "The worker is already STOPPED and its process has exited: nothing to stop. "
        if s.liveness is Liveness.EXITED
        else "No worker answers: a hung process is not stopped by this; end it on its host. "
    )
    return {
        cancel: "No worker is running: nothing is cancelled now. The command waits in the "
        f"queue: {within} cancels every open order; {late}.",
        flat: "No worker is running: nothing is sold now. The command waits in the queue: "
        f"{within} goes flat and stays HALTED; {late}.",
        stop: ended + f"Sent anyway, it waits in the queue: {within} stops at once; {late}.",
        resume: f"No worker is running: RESUME waits in the queue: {within} trades again; "
        f"{late}. Or start run_live_strategy.py with --resume.",
        halt: f"No worker is running: HALT waits in the queue: {within} halts the sleeve; {late}.",
    }


def controls_message(s: Status) -> Message | None:
    """Return the note over the buttons when no worker takes commands now."""
    if s.running:
        return None
    why = {
        Liveness.NO_STATE: "No worker has run here",
        Liveness.UNREADABLE: "The worker's state file cannot be read",
        Liveness.STALE: "The worker is not answering (heartbeat stale)",
        Liveness.EXITED: "The worker is STOPPED: its process has exited",
    }[s.liveness]
    if s.replay_ended:
        why = f"The replay finished on {s.replay_finished}: its process has ended"
    if s.liveness is Liveness.UNREADABLE:
        return Message(
            "warning",
            f"{why}, so whether a worker is running is unknown: a button queues its command (a "
            "file of its own in inbox/); a running worker executes it at once, else it waits "
            "for a worker to start. To be sure of the account now, use the broker's own "
            "platform (TWS).",
        )
    return Message(
        "warning",
        f"{why}: a button queues its command (a file of its own in inbox/), where it waits for a "
        "worker to start; nothing happens at the broker until then. A worker takes the queue in "
        "order, each command once. To act on the account now, use the broker's own platform "
        "(TWS).",
    )
