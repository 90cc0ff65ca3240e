"""The worker's commands: take each from the inbox once, execute it, acknowledge and audit it.

CANCEL cancels our open orders (or all of the account's with ``ib.cancel_scope: all``); FLAT
cancels them and closes every position at market, retrying until ``live.flat_timeout_s``, then
holds the worker HALTED; STOP latches and ends the worker's logic, touching nothing; RESUME lifts
the latches. A DISCONNECTED worker answers too, saying what it could not do. Every command,
accepted or refused, is acknowledged in the state, appended to ``commands.log.jsonl`` and
journaled; nothing a command file holds can stop the worker. While the broker is away, commands
keep being answered through the back-off (:func:`answer_while_away`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quant_core.broker import Order, OrderRef, OrderType, Side
from quant_core.errors import TemporaryBrokerError
from quant_core.live.files import Command, CommandKind, append_audit, latch_stop, save_halt
from quant_core.live.state import WorkerState

if TYPE_CHECKING:
    from quant_core.live.worker import Worker

logger = logging.getLogger(__name__)

FLAT_RETRY_S = 0.5
FLAT_SETTLE_S = 1.0  # how long a broker gets to fill FLAT's market orders per attempt
SHARE_EPSILON = 1e-9
DISCONNECTED_POLL_S = 0.25  # how often a disconnected worker looks for commands
ORDERS_NAMED = 5  # orders named in an answer that lists what stayed open


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
            moved = worker.inbox.set_aside(path)
            worker.report_error(
                f"command file set aside as {moved.name}: {type(exc).__name__}: {exc}"
            )
            refusal = {
                "id": None,
                "at": worker.wall().isoformat(),
                "command": None,
                "accepted": False,
                "result": f"refused: {type(exc).__name__}",
            }
            acknowledge(worker, refusal)


def _take_one(worker: Worker, path: Path) -> None:
    received = worker.inbox.read(path, worker.wall(), worker.cfg.live.command_max_age_s)
    ack: dict[str, Any] = {"id": received.id, "at": worker.wall().isoformat()}
    if worker.inbox.seen(received.id):
        ack.update(command=None, accepted=False, result="duplicate id, ignored")
    elif received.command is None:
        ack.update(command=None, accepted=False, result=f"refused: {received.refusal}")
        logger.warning("Refused a command: %s", received.refusal)
    else:
        worker.inbox.taken(received.id)  # at most once, even if executing it crashes
        ack.update(command=received.command.command.value, accepted=True)
        try:
            ack.update(execute(worker, received.command))
        except TemporaryBrokerError as exc:
            ack["result"] = f"interrupted: {exc}; send it again once reconnected"
            acknowledge(worker, ack)
            worker.inbox.done(path, received.id)
            raise
    acknowledge(worker, ack)
    worker.inbox.done(path, received.id)


def execute(worker: Worker, command: Command) -> dict[str, Any]:
    """Carry out one accepted command; return its acknowledgement's result and detail."""
    logger.info("Executing %s (id %s from %s)", command.command, command.id, command.source)
    if worker.state is WorkerState.DISCONNECTED and command.command is not CommandKind.STOP:
        return _while_disconnected(worker, command)
    if command.command is CommandKind.CANCEL:
        cancelled, stuck = cancel_all(worker)
        result = f"cancelled {cancelled} open order(s)"
        if stuck:
            result += f"; {_not_cancelled(stuck)}"
        return {"result": result, "detail": {"not_cancelled": [o.ref for o in stuck]}}
    if command.command is CommandKind.FLAT:
        return flat(worker, command)
    if command.command is CommandKind.STOP:
        latch_stop(worker.live_dir, command)
        worker.transition(WorkerState.STOPPED, f"STOP {command.id}: no order or position touched")
        worker.stop_requested = True
        return {"result": "stopped; orders and positions left as they are"}
    worker.lift_latches()
    worker.transition(WorkerState.RUNNING, f"RESUME {command.id}")
    return {"result": "resumed: the strategy trades again"}


def _while_disconnected(worker: Worker, command: Command) -> dict[str, Any]:
    # No broker to act on: say exactly what was and was not done. FLAT still makes sure
    # nothing is bought back once the connection returns; RESUME takes effect then.
    if command.command is CommandKind.FLAT:
        reason = f"FLAT {command.id} while disconnected: no new strategy orders until RESUME"
        worker.before_disconnect = (WorkerState.HALTED, reason)
        save_halt(worker.live_dir, reason, worker.wall())
        return {
            "result": "not executed: disconnected from the broker, no position was closed; "
            "the worker stays HALTED once reconnected. Send FLAT again then, or use TWS"
        }
    if command.command is CommandKind.CANCEL:
        return {
            "result": "not executed: disconnected from the broker, no order was cancelled. "
            "Send CANCEL again once reconnected, or use TWS"
        }
    worker.lift_latches()
    worker.before_disconnect = (WorkerState.RUNNING, f"RESUME {command.id}")
    return {"result": "resumed: the strategy trades again once reconnected"}


def flat(worker: Worker, command: Command) -> dict[str, Any]:
    """Cancel our orders, close every position at market, then hold the worker HALTED."""
    # HALTED first: if the connection drops half-way, the worker must not trade back in.
    worker.transition(WorkerState.HALTED, f"FLAT {command.id}: no new strategy orders until RESUME")
    cancelled, stuck = cancel_all(worker)
    held = len([p for p in worker.broker.positions() if abs(p.quantity) > SHARE_EPSILON])
    deadline = time.monotonic() + worker.cfg.live.flat_timeout_s
    while True:
        positions = [p for p in worker.broker.positions() if abs(p.quantity) > SHARE_EPSILON]
        if not positions or time.monotonic() > deadline:
            break
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
            worker.reason = f"FLAT {command.id}: re-checking until flat or the timeout"
            worker.write_state()
            worker.sleep(FLAT_RETRY_S)
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
    return {
        "result": result,
        "detail": {"left": left, "not_cancelled": [o.ref for o in stuck]},
    }


def cancel_all(worker: Worker) -> tuple[int, list[Order]]:
    """Cancel what the broker lets this worker cancel; return how many, and the others."""
    # The ones it cannot: placed under another IB client id (broker.Order.other_client).
    everything = worker.cfg.ib.cancel_scope == "all" and worker.options.mode != "sim"
    mine = [o for o in worker.broker.open_orders() if everything or OrderRef.is_ours(o.ref)]
    stuck = [o for o in mine if o.other_client and not everything]
    worker.broker.cancel_all()
    return len(mine) - len(stuck), stuck


def acknowledge(worker: Worker, ack: dict[str, Any]) -> None:
    """Record ``ack``: the state's last answers and the one audit log (``commands.log.jsonl``).

    The audit log is a file of lines, not a journal table, so an operator can read it (``tail``,
    ``grep``) while the worker holds the journal's DuckDB file open.
    """
    worker.acks.append(ack)
    worker.answered += 1
    append_audit(worker.live_dir, {**ack, "run_id": worker.run_id})


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
        due = time.monotonic() - written >= worker.cfg.live.heartbeat_s
        if worker.answered != answered or due:
            worker.write_state()  # a heartbeat, and the answers, while disconnected
            written = time.monotonic()
