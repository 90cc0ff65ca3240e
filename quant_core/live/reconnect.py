"""A lost broker connection: DISCONNECTED, back off (answering commands), reconnect, reconcile.

The back-off doubles per failed attempt from :data:`RECONNECT_BASE_S` to :data:`RECONNECT_MAX_S`,
with jitter; a broker whose own link to IB is down (TWS up, IB 1100) is asked again every
:data:`LINK_POLL_S`. IB Gateway's nightly restart is ridden out this way: DISCONNECTED for the
minutes it takes, then reconnected and reconciled before anything is sent.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

from quant_core.errors import BrokerLinkDown, TemporaryBrokerError
from quant_core.live import commands
from quant_core.live.state import WorkerState

if TYPE_CHECKING:
    from quant_core.live.worker import Worker

logger = logging.getLogger(__name__)

RECONNECT_BASE_S = 1.0  # first back-off, doubled per failed attempt, with jitter
RECONNECT_MAX_S = 60.0
LINK_POLL_S = 2.0  # how often a worker whose broker lost its own link (IB 1100) asks again


def recover(worker: Worker, error: Exception, attempt: int) -> bool:
    """Handle a lost connection: DISCONNECTED, back off, reconnect, reconcile; True if back.

    The state the worker was in (RUNNING, HALTED, STOPPED) is restored after reconciling, so
    nothing is sent before the broker's positions and our open orders are read back.
    """
    if worker.state is not WorkerState.DISCONNECTED:
        worker.before_disconnect = (worker.state, worker.reason)
        worker.transition(WorkerState.DISCONNECTED, f"{error}; reconnecting")
        worker.report_error(str(error), alert=False)  # paged past disconnect_after_s
    delay = min(RECONNECT_MAX_S, RECONNECT_BASE_S * 2**attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security
    if isinstance(error, BrokerLinkDown):  # TWS is up, its link to IB is not
        delay = min(delay, LINK_POLL_S)
    worker.write_state()
    commands.answer_while_away(worker, delay)  # the back-off, answering commands meanwhile
    if worker.stop_requested:
        return False
    try:  # the connection may drop again while it is read back (TWS restarting twice)
        worker.broker.connect()
        worker.reconcile()
    except TemporaryBrokerError as again:
        logger.warning("Reconnect attempt %d failed: %s", attempt + 1, again)
        return False
    state, reason = worker.before_disconnect
    worker.transition(state, f"reconnected; {reason}")
    return True
