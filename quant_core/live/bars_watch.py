"""The worker's look at the warehouse at each beat: the bars' version, and the bars when it moved.

A warehouse out of reach (a published one, ``paths.warehouse=s3://...``, behind a network that
dropped; a manifest a hand damaged) must not end the worker: the beat keeps the data it has,
looks again at the next beat, and says so once per distinct error, not once a second. Trading on
the data it kept is guarded as always: a rebalance is refused while the data ends before the
previous session (:mod:`quant_core.live.planner`).
"""

from __future__ import annotations

import logging

from config.schema import AppConfig
from quant_core.data.market import load_market
from quant_core.data.panels import MarketData
from quant_core.data.warehouse import Warehouse
from quant_core.errors import DataError

logger = logging.getLogger(__name__)


def market(warehouse: Warehouse, cfg: AppConfig) -> MarketData:
    """Return every bar field of the configured dataset, with the sectors, of one version."""
    return load_market(warehouse, cfg.data.dataset)


class BarsWatch:
    """What one worker's beats read of the warehouse, and what they said about it."""

    def __init__(self, warehouse: Warehouse, cfg: AppConfig) -> None:
        self.warehouse, self.cfg = warehouse, cfg
        self._said: str | None = None

    def version(self) -> int | None:
        """Return the bars' version now; None when the warehouse cannot be read (said once)."""
        try:
            found = self.warehouse.bars_version(self.cfg.data.dataset)
        except DataError as exc:
            self._say(exc)
            return None
        self._back()
        return found

    def market(self) -> MarketData | None:
        """Return the bars now; None when they cannot be read (said once)."""
        try:
            data = market(self.warehouse, self.cfg)
        except DataError as exc:
            self._say(exc)
            return None
        self._back()
        return data

    def _say(self, exc: DataError) -> None:
        if str(exc) != self._said:
            self._said = str(exc)
            logger.warning(
                "The warehouse cannot be read (%s); keeping the data read before and trying "
                "again at every beat",
                exc,
            )

    def _back(self) -> None:
        if self._said is not None:
            logger.warning("The warehouse %s can be read again", self.warehouse.location)
            self._said = None


__all__ = ["BarsWatch", "market"]
