"""Run ids and config digests: how backtests, syncs and live runs are named and fingerprinted.

A run id starts with its UTC moment, so ids sort by time, and ends with random hex digits, so
two runs in the same second never collide::

    20240105T143000Z-momentum-1a2b3c4d-9f0e     a backtest: strategy, config digest, 4 hex
    20240105T143000Z-3f9a1c                     a sync or a live run: 6 hex

Stored files and the cockpit rely on these shapes; change them only with a migration.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

RUN_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def new_run_id(now: dt.datetime, *parts: str, random_hex: int = 6) -> str:
    """Return ``<now>-<part>-...-<random hex>``, ``now`` written as ``%Y%m%dT%H%M%SZ``.

    Parameters
    ----------
    now
        The run's start, in UTC (it is written as given, not converted).
    *parts
        Words between the time and the random digits, such as the strategy name.
    random_hex
        How many random hex digits end the id (at most 32).
    """
    return "-".join([now.strftime(RUN_TIME_FORMAT), *parts, uuid.uuid4().hex[:random_hex]])


def config_digest(config: Mapping[str, Any]) -> str:
    """Return the sha256 hex digest of ``config`` as sorted JSON (non-JSON values as ``str``).

    Two runs with the same digest ran with the same (sanitised) configuration.
    """
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
