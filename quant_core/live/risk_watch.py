"""The account limits at every heartbeat: daily loss and drawdown, by the broker's figures.

The pre-trade controls (``portfolio.risk``) check each order before it is sent. Daily loss and
drawdown are watched between orders as well, so a bad day trips them when it happens, not at
the next rebalance. At each heartbeat :meth:`LimitWatch.check` rolls the risk day and raises the
peak (``live/risk_state.py``), then measures the broker's net liquidation against the
session's opening equity and against the peak (``portfolio.risk.account_usage``).

A breach acts as configured and says so (the log, the state's reason and an entry in its
errors):

* a RUNNING worker halts new strategy orders: HALTED, saved like every halt, until RESUME or
  ``--resume`` (a limit still tripped then halts it again at the next heartbeat);
* with ``risk.on_breach: flat`` the worker then closes every position as FLAT does, once per
  breach: not again while the limit stays tripped, across restarts too (the limits acted on are
  saved with the risk state once the FLAT has run; one cut short by a lost connection or a kill
  is sent again at the next heartbeat or start). A worker HALTED already (by FLAT, or by the
  pre-trade check of the same limit) goes flat too. That FLAT is a command like any other:
  acknowledged in the state and the audit log of commands, with source ``risk``;
* a STOPPED or DISCONNECTED worker only reports the breach: STOP touches no position, and a
  disconnected worker cannot reach the broker.

The state file carries every limit with its usage (``risk.limits``: name, label, limit, usage,
tripped), as fractions of equity.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from config.schema import RiskConfig
from quant_core.errors import TemporaryBrokerError
from quant_core.live import commands
from quant_core.live.files import Command, CommandKind
from quant_core.live.risk_state import RiskState
from quant_core.live.state import RiskLimitRow, WorkerState
from quant_core.portfolio import risk

if TYPE_CHECKING:
    from quant_core.live.worker import Worker

SOURCE = "risk"  # the source of the FLAT a breach sends; its orders are tagged flat:risk-...


class LimitWatch:
    """Watch daily loss and drawdown for one worker (see the module docstring)."""

    def __init__(self, cfg: RiskConfig, risk_state: RiskState) -> None:
        self.cfg = cfg
        # The peak, the day's opening, and the limits acted on (flattened) while tripped.
        self.risk_state = risk_state
        self.usage: list[risk.LimitUsage] = []
        self._reported: set[str] = set()  # limits whose breach is reported, while tripped

    def rows(self) -> tuple[RiskLimitRow, ...]:
        """Return the limits for the state file: name, label, limit, usage, tripped."""
        return tuple(RiskLimitRow(u.name, u.label, u.limit, u.usage, u.tripped) for u in self.usage)

    def check(self, worker: Worker) -> None:
        """Measure the limits against the broker's account now; act on a breach."""
        figures = self.risk_state
        equity = worker.broker.account().net_liquidation
        figures.track(worker.local_today(), equity)
        self.usage = risk.account_usage(
            self.cfg, equity, figures.day_start_equity, figures.peak_equity
        )
        tripped = [u for u in self.usage if u.tripped]
        names = {u.name for u in tripped}
        self._reported &= names  # a limit back within bounds: its next breach is a new one
        if (
            figures.flattened - names
            and self.usage
            and all(u.usage is not None for u in self.usage)
        ):
            figures.flattened &= names
            figures.save()
        if not tripped:
            return
        first = tripped[0]
        reason = f"risk limit {first.name}: {first.describe()}"
        if worker.state is WorkerState.RUNNING:
            worker.breach = risk.Breach(first.name, first.describe())
            worker.transition(WorkerState.HALTED, reason)
            worker.report_error(f"{reason} at the heartbeat: new strategy orders halted")
        elif first.name not in self._reported:
            halted = worker.state is WorkerState.HALTED
            if halted and worker.breach is None:
                worker.breach = risk.Breach(first.name, first.describe())
            note = "already halted" if halted else "reported only, no order or position touched"
            worker.report_error(f"{reason} at the heartbeat, while {worker.state}: {note}")
        self._reported.add(first.name)
        if (
            self.cfg.flattens
            and worker.state is WorkerState.HALTED
            and first.name not in figures.flattened
        ):
            flat = Command(f"risk-{uuid.uuid4().hex[:12]}", CommandKind.FLAT, worker.wall(), SOURCE)
            at = worker.wall()
            try:
                outcome = commands.flat(worker, flat)
            except TemporaryBrokerError as exc:
                # Not done: the limit stays un-flattened, so the heartbeat after the reconnect
                # (or the next start, after a kill) sends FLAT again; FLAT closes what is left.
                interrupted = commands.Outcome(f"interrupted: {exc}; retried")
                commands.acknowledge(worker, commands.accepted(flat, at, interrupted, SOURCE))
                raise
            # Saved once done: a restart while the limit stays tripped does not flatten again.
            figures.flattened.add(first.name)
            figures.save()
            result = outcome.result
            commands.acknowledge(worker, commands.accepted(flat, at, outcome, SOURCE))
            worker.transition(WorkerState.HALTED, f"{reason}; on_breach flat: {result}")
            worker.report_error(f"{reason}: risk.on_breach=flat sent FLAT {flat.id}: {result}")
