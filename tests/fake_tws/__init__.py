"""A fake TWS on 127.0.0.1 speaking the real wire protocol, and the client library's log guard.

The client libraries swallow decode errors (they only log them), so every test that runs the
real client checks :func:`client_problems` on the records it captured.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from quant_core.ib.client import ibapi

LIB = ibapi.__name__  # "ib_async", or "ib_insync" in the ib_insync environment


def client_problems(records: Iterable[logging.LogRecord]) -> list[str]:
    """Return decode errors and unmatched order messages the client library logged."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in records
        if r.name.startswith(LIB)
        and (
            (r.name == f"{LIB}.Decoder" and r.levelno >= logging.ERROR)
            or "No order found" in r.getMessage()
        )
    ]


# The versions both sides speak: the fake offers up to 178; ib_insync stops at 176.
CLIENT_MAX_VERSION: int = ibapi.Client.MaxClientVersion
VERSIONS = [v for v in (176, 178) if v <= CLIENT_MAX_VERSION]
