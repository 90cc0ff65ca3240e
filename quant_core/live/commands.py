"""The worker's commands: take each from the inbox once, execute it, acknowledge and audit it.

CANCEL cancels our open orders (or all of the account's with ``ib.cancel_scope: all``); FLAT
cancels them and closes every position at market, retrying until ``live.flat_timeout_s``, then
holds the worker HALTED; STOP latches and ends the worker's logic, touching nothing; RESUME lifts
the latches. For a worker running a book, HALT with a ``sleeve`` stops that sleeve deciding (it
holds its positions; the other sleeves trade on) and RESUME with a ``sleeve`` lets it decide
again: in every state, leaving the worker's state and latches alone; a sleeve this worker does
not have is refused. A DISCONNECTED worker answers too, saying what it could not do. Every command,
accepted or refused, is acknowledged in the state (a typed
:class:`~quant_core.live.state.CommandAck`) and appended to the one audit log,
``commands.log.jsonl``; nothing a command file holds can stop the worker. While the broker is
away, commands keep being answered through the back-off (:func:`answer_while_away`). FLAT and
STOP are alerted (``live.alerting``), and so is a connection down past
``alerts.disconnect_after_s`` (timed through the back-off).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quant_core.broker import Order, OrderRef, OrderType, Side
from quant_core.errors import TemporaryBrokerError
from quant_core.live.crash_hook import crash_point_for_tests
from quant_core.live.files import (
    Command,
    CommandKind,
    append_audit,
    audited,
    latch_stop,
    save_halt,
)
from quant_core.live.reconcile import SHARE_EPSILON
from quant_core.live.state import CommandAck, WorkerState

if TYPE_CHECKING:
    from quant_core.live.worker import Worker

logger = logging.getLogger(__name__)

FLAT_RETRY_S = 0.5
FLAT_SETTLE_S = 1.0  # how long a broker gets to fill FLAT's market orders per attempt
DISCONNECTED_POLL_S = 0.25  # how often a disconnected worker looks for commands
ORDERS_NAMED = 5  # orders named in an answer that lists what stayed open


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an accepted command came to: its acknowledgement's result, and what it left."""

    result: str
    detail: Any = None  # JSON: what CANCEL and FLAT left


def _not_cancelled(stuck: list[Order]) -> str:
    named = ", ".join(f"{o.ref} ({o.order_id})" for o in stuck[:ORDERS_NAMED])
    return (
        f"{len(stuck)} order(s) of ours still open, placed under another IB client id ({named}): "
        "cancel them in TWS, or run with that ib.client_id"
    )


def take(worker: Worker) -> None:
    """Execute every waiting command once; acknowledge each, accepted or refused.

    Nothing a command file holds can stop the worker: an error while handling one is
    acknowledged as refused, logged, and the file set aside in ``inbox/rejected/``.
    """
    for path in worker.inbox.pending():
        try:
            _take_one(worker, path)
        except TemporaryBrokerError:
            raise  # acknowledged as interrupted; the loop reconnects and reconciles
        except Exception as exc:  # the worker loop's boundary: refuse, record, carry on
            logger.exception("Could not handle command file %s", path.name)
            why = f"{type(exc).__name__}: {exc}"
            try:
                moved = worker.inbox.set_aside(path)
                where = f"set aside as inbox/{moved.relative_to(worker.inbox.inbox)}"
            except OSError as cannot:  # left in the inbox; this worker reads it no more
                where = f"left in the inbox, not read again: it cannot be moved ({cannot})"
            worker.report_error(f"command file {path.name} {where}: {why}")
            # The audit log names the file, as set aside: with no id, nothing else would.
            result = f"refused: {why} (file {path.name}, {where})"
            acknowledge(worker, _refused(None, worker.wall(), result))


def _refused(
    ident: str | None, at: dt.datetime, result: str, kind: CommandKind | None = None
) -> CommandAck:
    # kind: a well-formed command refused (expired, a misplaced sleeve) is named by its kind.
    command = None if kind is None else kind.value
    return CommandAck(id=ident, at=at, command=command, accepted=False, result=result)


def _take_one(worker: Worker, path: Path) -> None:
    received = worker.inbox.read(path, worker.wall(), worker.cfg.live.command_max_age_s)
    ident, at, command = received.id, worker.wall(), received.command
    spent = ident  # the id this file uses up; a refusal's none: sent again, corrected, it runs
    if worker.inbox.seen(ident):
        ack = _duplicate(worker, ident, at)
    elif command is None:
        named = "" if ident is not None else f" (file {path.name})"  # no id: name the file
        ack = _refused(ident, at, f"refused: {received.refusal}{named}", received.kind)
        logger.warning("Refused a command: %s", received.refusal)
        spent = None
    elif (why := sleeve_refusal(worker, command)) is not None:
        ack = replace(accepted(command, at, Outcome(f"refused: {why}")), accepted=False)
        logger.warning("Refused %s (id %s): %s", command.command, ident, why)
        spent = None
    else:
        worker.inbox.executing(command, at)  # at most once, even if executing it crashes
        crash_point_for_tests("executing_command")  # taken; not executed, not acknowledged
        try:
            outcome = execute(worker, command)
        except TemporaryBrokerError as exc:
            outcome = Outcome(f"interrupted: {exc}; send it again once reconnected")
            acknowledge(worker, accepted(command, at, outcome))
            worker.inbox.done(path, ident)
            raise
        ack = accepted(command, at, outcome)
    acknowledge(worker, ack)
    worker.inbox.done(path, spent)


def _duplicate(worker: Worker, ident: str | None, at: dt.datetime) -> CommandAck:
    # An id run before: ignored. Unless the worker was killed while executing it, before its
    # answer reached the audit log: then that answer is this one, that it was interrupted.
    taken = worker.inbox.interrupted(ident)
    if ident is None or taken is None or audited(worker.live_dir, ident):
        return _refused(ident, at, "duplicate id, ignored")
    kind = str(taken.get("command"))
    result = (
        f"interrupted: the worker stopped while executing this {kind} (taken at "
        f"{taken.get('taken_at')}); not run again. What it did is in the broker's orders "
        "and positions, reconciled at this start"
    )
    logger.warning("%s (id %s) was interrupted by the worker's end; not run again", kind, ident)
    sleeve = taken.get("sleeve")
    return CommandAck(
        id=ident,
        at=at,
        command=kind,
        accepted=True,
        source=None,
        result=result,
        sleeve=sleeve if isinstance(sleeve, str) else None,
    )


def accepted(
    command: Command, at: dt.datetime, outcome: Outcome, source: str | None = None
) -> CommandAck:
    """Return the acknowledgement of ``command``, accepted at ``at``, with what came of it.

    ``source``: shown for a command the worker sent itself (``risk``, the FLAT of a breach).
    """
    return CommandAck(
        id=command.id,
        at=at,
        command=command.command,
        accepted=True,
        source=source,
        result=outcome.result,
        detail=outcome.detail,
        sleeve=command.sleeve,
    )


def execute(worker: Worker, command: Command) -> Outcome:
    """Carry out one accepted command; return its acknowledgement's result and detail."""
    logger.info("Executing %s (id %s from %s)", command.command, command.id, command.source)
    if command.sleeve is not None or command.command is CommandKind.HALT:
        return _sleeve(worker, command)  # in every state; the worker's own is left alone
    if worker.state is WorkerState.DISCONNECTED and command.command is not CommandKind.STOP:
        return _while_disconnected(worker, command)
    if command.command is CommandKind.CANCEL:
        cancelled, stuck = cancel_all(worker)
        result = f"cancelled {cancelled} open order(s)"
        if stuck:
            result += f"; {_not_cancelled(stuck)}"
        return Outcome(result, {"not_cancelled": [o.ref for o in stuck]})
    if command.command is CommandKind.FLAT:
        return flat(worker, command)
    if command.command is CommandKind.STOP:
        latch_stop(worker.live_dir, command)
        worker.transition(WorkerState.STOPPED, f"STOP {command.id}: no order or position touched")
        worker.stop_requested = True
        worker.alerting.stop(command)
        return Outcome("stopped; orders and positions left as they are")
    worker.lift_latches()
    worker.transition(WorkerState.RUNNING, f"RESUME {command.id}")
    return Outcome("resumed: the strategy trades again")


def sleeve_refusal(worker: Worker, command: Command) -> str | None:
    """Return why ``command``, to one sleeve of a book, is refused here; None if it is not.

    Refused: a HALT with no sleeve, a sleeve command to a worker that runs no book (a plain
    strategy), a sleeve the book does not have (its sleeves are listed).
    """
    if command.sleeve is None:
        return (
            "HALT needs a sleeve: field 'sleeve' is missing"
            if command.command is CommandKind.HALT
            else None
        )
    book = worker.book
    if book is None:
        return (
            f"sleeve {command.sleeve!r}: this worker runs no book (the strategy "
            f"{worker.strategy.name}); {command.command} to a sleeve needs a worker started "
            "with --book"
        )
    if command.sleeve not in book.names:
        return f"unknown sleeve {command.sleeve!r}; the book's sleeves: {', '.join(book.names)}"
    return None


def _sleeve(worker: Worker, command: Command) -> Outcome:
    # HALT: the sleeve stops deciding and holds its positions; RESUME: it decides again. The
    # book journals either; the worker's state, its latches and STOP's latch stay as they are.
    book, name = worker.book, command.sleeve
    if book is None or name is None:  # sleeve_refusal() has refused it before
        raise ValueError(f"{command.command} {command.id}: no book, or no sleeve named")
    was = book.halted(name)
    if command.command is CommandKind.HALT:
        if not was:
            book.halt(name, f"HALT {command.id}")
        logger.info("Sleeve %s halted by HALT %s", name, command.id)
        done = "already halted" if was else "halted"
        result = f"sleeve {name} {done}: it holds its positions; the other sleeves trade on"
    else:
        book.resume(name)
        logger.info("Sleeve %s resumed by RESUME %s", name, command.id)
        result = (
            f"sleeve {name} resumed: it decides again from its next rebalance"
            if was
            else f"sleeve {name} was not halted: nothing to resume"
        )
    if worker.state in WorkerState.RESUMABLE:
        result += f"; the worker itself stays {worker.state}: no sleeve trades until RESUME"
    return Outcome(result)


def _while_disconnected(worker: Worker, command: Command) -> Outcome:
    # No broker to act on: say exactly what was and was not done. FLAT still makes sure
    # nothing is bought back once the connection returns; RESUME takes effect then.
    if command.command is CommandKind.FLAT:
        reason = f"FLAT {command.id} while disconnected: no new strategy orders until RESUME"
        worker.before_disconnect = (WorkerState.HALTED, reason)
        save_halt(worker.live_dir, reason, worker.wall())
        outcome = Outcome(
            "not executed: disconnected from the broker, no position was closed; "
            "the worker stays HALTED once reconnected. Send FLAT again then, or use TWS"
        )
        worker.alerting.flat(command, {}, outcome.result)
        return outcome
    if command.command is CommandKind.CANCEL:
        return Outcome(
            "not executed: disconnected from the broker, no order was cancelled. "
            "Send CANCEL again once reconnected, or use TWS"
        )
    worker.lift_latches()
    worker.before_disconnect = (WorkerState.RUNNING, f"RESUME {command.id}")
    return Outcome("resumed: the strategy trades again once reconnected")


def flat(worker: Worker, command: Command) -> Outcome:
    """Cancel our orders, close every position at market, then hold the worker HALTED."""
    # HALTED first: if the connection drops half-way, the worker must not trade back in.
    worker.transition(WorkerState.HALTED, f"FLAT {command.id}: no new strategy orders until RESUME")
    cancelled, stuck = cancel_all(worker)
    positions = [p for p in worker.broker.positions() if abs(p.quantity) > SHARE_EPSILON]
    held = len(positions)
    before = {p.symbol: p.quantity for p in positions}  # what FLAT closes, for its alert
    deadline = time.monotonic() + worker.cfg.live.flat_timeout_s
    while positions and time.monotonic() <= deadline:
        orders = [
            Order(
                "",
                OrderRef.flat(command.id),
                p.symbol,
                Side.SELL if p.quantity > 0 else Side.BUY,
                abs(p.quantity),
                OrderType.MARKET,
            )
            for p in positions
        ]
        worker.journal.orders(
            worker.run_id, worker.local_today(), worker.broker.place(orders), worker.clock()
        )
        worker.journal.fills(worker.run_id, worker.broker.settle(FLAT_SETTLE_S))
        worker.broker.cancel_all()  # what did not fill (no price yet) is asked again
        if any(abs(p.quantity) > SHARE_EPSILON for p in worker.broker.positions()):
            # A passing note: the halt on file keeps FLAT's own reason.
            recheck = f"FLAT {command.id}: re-checking until flat or the timeout"
            worker.transition(WorkerState.HALTED, recheck, save=False)
            worker.write_state()
            worker.sleep(FLAT_RETRY_S)
        positions = [p for p in worker.broker.positions() if abs(p.quantity) > SHARE_EPSILON]
    worker.transition(WorkerState.HALTED, f"FLAT {command.id}: no new strategy orders until RESUME")
    left = {p.symbol: p.quantity for p in positions}
    if left:
        result = f"not flat at the timeout: {len(left)} of {held} position(s) still open"
    elif stuck:  # flat now, but an order still open can buy it back
        result = f"NOT flat: {held} position(s) closed, but {_not_cancelled(stuck)}"
    else:
        result = (
            f"flat: {held} position(s) closed at market, {cancelled} open order(s) "
            "cancelled; HALTED until RESUME"
        )
    worker.alerting.flat(command, before, result)
    return Outcome(result, {"left": left, "not_cancelled": [o.ref for o in stuck]})


def cancel_all(worker: Worker) -> tuple[int, list[Order]]:
    """Cancel what the broker lets this worker cancel; return how many, and the others."""
    # The ones it cannot: placed under another IB client id (broker.Order.other_client).
    # ib.cancel_scope: all counts every open order; the simulated broker holds ours only.
    everything = worker.cfg.ib.cancel_scope == "all"
    mine = [o for o in worker.broker.open_orders() if everything or OrderRef.is_ours(o.ref)]
    stuck = [o for o in mine if o.other_client and not everything]
    worker.broker.cancel_all()
    return len(mine) - len(stuck), stuck


def acknowledge(worker: Worker, ack: CommandAck) -> None:
    """Record ``ack``: the state's last answers and the one audit log (``commands.log.jsonl``).

    The audit log is a file of lines, not a journal table, so an operator can read it (``tail``,
    ``grep``) while the worker holds the journal's DuckDB file open.
    """
    worker.acks.append(ack)
    worker.answered += 1
    append_audit(worker.live_dir, {**ack.to_json(), "run_id": worker.run_id})


def answer_while_away(worker: Worker, seconds: float) -> None:
    """Answer commands for ``seconds`` while the broker is away, in slices of the back-off.

    STOP is carried out in full, the others as :func:`_while_disconnected` says; the state is
    written at each answer and every ``live.heartbeat_s``.
    """
    deadline = time.monotonic() + seconds
    written = time.monotonic()
    while (left := deadline - time.monotonic()) > 0 and not worker.stop_requested:
        answered = worker.answered
        try:
            worker.sleep(min(left, DISCONNECTED_POLL_S))
        except TemporaryBrokerError:  # the socket went too (TWS restarting): the reconnect
            time.sleep(min(left, DISCONNECTED_POLL_S))  # after this starts afresh
        take(worker)
        worker.alerting.tick()  # down past alerts.disconnect_after_s: page once
        due = time.monotonic() - written >= worker.cfg.live.heartbeat_s
        if worker.answered != answered or due:
            worker.write_state()  # a heartbeat, and the answers, while disconnected
            written = time.monotonic()
