"""The one import of the IB client library, so a switch is a one-line change.

ib_async (the maintained fork) is the dependency; the same API runs on ib_insync when only that
is installed. Never install both: they ship the same top-level ``eventkit`` package
(shared/reference/ib_protocol.md).
"""

from __future__ import annotations

try:
    import ib_async as ibapi
except ImportError:  # pragma: no cover - exercised only in an ib_insync environment
    import ib_insync as ibapi  # type: ignore[no-redef, import-not-found, unused-ignore]

__all__ = ["ibapi"]
