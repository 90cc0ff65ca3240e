"""What the worker alerts on, and the words it uses (sent through ``worker.alerts``).

The worker calls :class:`WorkerAlerts` where something worth a page happens; the sink
(``quant_core.alerts``: apprise off the loop, or nothing) filters by ``alerts.on``, keeps the
same alert to once per ``alerts.min_interval_s`` and sends it without delaying the worker.

* HALT: a risk limit halts a worker that was not halted (pre-trade or at a heartbeat);
* FLAT: a FLAT command ran (a person's or a breach's): what was closed, what is left;
* STOP: a STOP command ended the worker's logic;
* DISCONNECT: the broker connection down for ``alerts.disconnect_after_s`` (once per outage,
  when the threshold passes, not at the drop; a note follows when it is back);
* REJECT: the broker rejected an order (symbol, side, quantity, reason);
* STALE_DATA: a rebalance refused because its data (bars, or a model's factors) do not reach
  the previous session;
* ERROR: any other error the worker reports (``Worker.report_error``), except those another
  alert already says (the halt's own report, the drop, a rejection).

Messages name states, symbols, quantities and reasons; never an account id, URL or secret
(the sender blanks any remembered secret as well).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from quant_core.alerts.events import AlertEvent
from quant_core.broker import Order
from quant_core.live.files import Command
from quant_core.live.state import WorkerState

if TYPE_CHECKING:
    from quant_core.live.worker import Worker

logger = logging.getLogger(__name__)

TITLE_CHARS = 80  # an error's title: its message, cut here
NAMED = 10  # positions named in a FLAT alert


def rejected(order: Order) -> str:
    """Return the worker's words for a rejected order."""
    return (
        f"order {order.ref} ({order.side.value} {order.quantity:g} {order.symbol}) "
        f"was rejected: {order.reason}"
    )


class WorkerAlerts:
    """One worker's alerts, and its outage timer (see the module docstring).

    Parameters
    ----------
    worker
        The worker; its ``alerts`` sink is read at each alert (the entry point sets it).
    clock
        Seconds, for the outage timer; default ``time.monotonic``.
    """

    def __init__(self, worker: Worker, clock: Callable[[], float] = time.monotonic) -> None:
        self.worker = worker
        self.clock = clock
        self.down_since: float | None = None  # when the broker connection dropped
        self.paged = False  # this outage has been alerted
        self.drop = ""  # why it dropped
        self.halt_reason: str | None = None  # the halt alerted; its own error report is not

    # ------------------------------------------------------------------------- states

    def transition(self, old: WorkerState, new: WorkerState, reason: str) -> None:
        """See a state change: a risk halt pages; an outage starts or ends its timer."""
        if new is WorkerState.HALTED and old is not WorkerState.HALTED:
            breach = self.worker.breach
            if breach is not None:  # a risk limit; FLAT's and a refusal's halts say their own
                self.halt_reason = reason
                body = f"{reason}.\nNo new strategy orders until RESUME (or --resume)."
                self._send(AlertEvent.HALT, f"HALTED: risk limit {breach.limit}", body, new)
        elif new is not WorkerState.HALTED:
            self.halt_reason = None
        if new is WorkerState.DISCONNECTED and old is not WorkerState.DISCONNECTED:
            self.down_since, self.paged = self.clock(), False
            self.drop = reason.removesuffix("; reconnecting")
        elif old is WorkerState.DISCONNECTED and new is not WorkerState.DISCONNECTED:
            if self.paged and self.down_since is not None:
                down = self.clock() - self.down_since
                body = f"The broker connection is back after {down:.0f} s; {reason}."
                self._send(AlertEvent.DISCONNECT, "Broker connection back", body, new)
            self.down_since, self.paged = None, False
        self.tick()

    def tick(self) -> None:
        """Page once when the connection has been down ``alerts.disconnect_after_s``."""
        if self.down_since is None or self.paged:
            return
        down = self.clock() - self.down_since
        if down >= self.worker.cfg.alerts.disconnect_after_s:
            self.paged = True
            body = (
                f"The broker connection has been down for {down:.0f} s ({self.drop}); the "
                "worker keeps reconnecting, answers commands, and places nothing until it "
                "has reconciled."
            )
            self._send(AlertEvent.DISCONNECT, "Broker connection down", body)

    # ------------------------------------------------------------------------- events

    def error(self, message: str) -> None:
        """Alert an error the worker reported: stale data, or ERROR (unless said already)."""
        planner = getattr(self.worker, "planner", None)  # None while the worker is built
        if planner is not None and message == planner.stale_refusal:
            self.stale(message)
        elif self.halt_reason is None or not message.startswith(self.halt_reason):
            title = f"Error: {message[:TITLE_CHARS]}"
            self._send(AlertEvent.ERROR, title, message)

    def stale(self, reason: str) -> None:
        """Alert STALE_DATA: a rebalance refused, its data (or model factors) short of T-1."""
        body = f"{reason}.\nNo order was sent for it."
        self._send(AlertEvent.STALE_DATA, f"Stale data: {reason[:TITLE_CHARS]}", body)

    def refresh(self, title: str, body: str) -> None:
        """Alert REFRESH: the data refresh failed (once per run of failures), or recovered."""
        self._send(AlertEvent.REFRESH, title, body)

    def rejections(self, orders: Iterable[Order]) -> None:
        """Report each rejected order in the state's errors and alert REJECT."""
        for order in orders:
            message = rejected(order)
            self.worker.report_error(message, alert=False)
            title = f"Order rejected: {order.side.value} {order.quantity:g} {order.symbol}"
            self._send(AlertEvent.REJECT, title, message)

    def flat(self, command: Command, closed: dict[str, float], result: str) -> None:
        """FLAT ran: what it closed (symbol: shares held before) and what came of it."""
        named = [f"{symbol} {quantity:+g}" for symbol, quantity in list(closed.items())[:NAMED]]
        more = f" and {len(closed) - NAMED} more" if len(closed) > NAMED else ""
        held = f"Held before: {', '.join(named)}{more}." if closed else "Nothing was held."
        body = f"FLAT {command.id} from {command.source}: {result}.\n{held}"
        self._send(AlertEvent.FLAT, f"FLAT {command.id} ({command.source})", body)

    def stop(self, command: Command) -> None:
        """STOP ended the worker's logic: nothing touched, latched."""
        body = (
            f"STOP {command.id} from {command.source}: the worker stopped; orders and positions "
            "are left as they are. It comes up STOPPED until started with --resume or RESUME."
        )
        self._send(AlertEvent.STOP, f"STOP {command.id} ({command.source})", body)

    def _send(
        self, event: AlertEvent, title: str, body: str, state: WorkerState | None = None
    ) -> None:
        # Never raises: a message that cannot be made must not stop the worker.
        try:
            worker = self.worker
            state = state or worker.state
            footer = f"\n\nWorker: {worker.options.mode} account, {state}."
            worker.alerts.notify(event, title, body + footer)
        except Exception:
            logger.exception("Alert %s could not be made", event)
