"""A strategy that refuses to trade holds the worker HALTED, with its reason; never a crash.

The ``fitted`` strategy refuses without a stored, accepted and readable model (found when the
worker starts: ``research.attach.attach_model``, given to the worker as ``WorkerOptions.refusal``;
a damaged model folder is refused there, checked whole, not at a rebalance) and when its
model's factors are missing for T-1 (found when it decides: ``ModelNotReady``). Either way the
worker goes HALTED with the refusal as its reason, listed in the state's errors too, and places
no strategy order; CANCEL, FLAT and STOP work as in any halt, and RESUME lets the strategy try
again (it halts again while the cause remains). The halt is not saved to ``halt.json``: the
cause is checked again at every start, so a worker restarted once a model is stored trades.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from quant_core.live.planner import Plan
from quant_core.live.state import WorkerState
from quant_core.research.model import ModelNotReady

if TYPE_CHECKING:
    from quant_core.live.worker import Worker


def halt(worker: Worker, reason: str, *, stale: bool = False) -> None:
    """Move ``worker`` to HALTED with ``reason`` (not saved) and report it in the errors.

    ``stale``: a rebalance refused on data that do not reach T-1 (the model's factors), alerted
    as STALE_DATA; otherwise the report is an ERROR alert (``live.alerting``).
    """
    worker.transition(WorkerState.HALTED, reason, save=False)
    worker.report_error(reason, alert=not stale)
    if stale:
        worker.alerting.stale(reason)


def at_start(worker: Worker) -> None:
    """Halt a RUNNING ``worker`` whose strategy refused at start (``options.refusal``).

    A worker that comes up STOPPED or HALTED already keeps that state and reason; the refusal
    is listed in the errors (RESUME would meet it at the next rebalance).
    """
    reason = worker.options.refusal
    if reason is None:
        return
    if worker.state is WorkerState.RUNNING:
        halt(worker, reason)
    else:
        worker.report_error(reason)


def plan_or_halt(worker: Worker, t: int, session: dt.date) -> Plan | None:
    """Return the planner's orders for row ``t``, or None: the strategy refused, worker halted."""
    try:
        return worker.planner.plan(t, session)
    except ModelNotReady as exc:
        halt(worker, f"rebalance for {session} refused: {exc}", stale=True)
        return None
