"""The worker's states and the names of the files it keeps in ``data/live`` (a leaf module).

Shared by the worker and the modules beside it (commands, replay, the state document), so none
of them imports the worker for a name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

LATCH_FILE = "stopped.latch"
HALT_FILE = "halted.latch"
RISK_FILE = "risk_state.json"
AUDIT_FILE = "commands.log.jsonl"


class WorkerState(StrEnum):
    """The worker's states."""

    STARTING = "STARTING"
    CONNECTING = "CONNECTING"
    RUNNING = "RUNNING"
    HALTED = "HALTED"
    DISCONNECTED = "DISCONNECTED"
    STOPPED = "STOPPED"

    TRADING: ClassVar[frozenset[WorkerState]]


WorkerState.TRADING = frozenset({WorkerState.RUNNING})
