"""Exception families, grouped by what the caller does about them.

``ConfigError``
    Fix the configuration or the command line and run again (exit code 2).
``DataError``
    Bad input data: skip and record it, or stop the run when nothing usable is left (exit 1).
``StrategyError``
    A strategy returned what it may not (unknown symbols, non-finite or oversized weights): fix
    the strategy, not the configuration (exit 4).
``TemporaryBrokerError``
    The broker is unreachable or pacing us: back off and retry. Its subclass
    ``BrokerLinkDown`` says the broker itself is up but its own link to the market is down, and
    the broker restores that by itself: poll for it soon, do not back off.
``OperationalError``
    Something the operator must look at: halt and alert.

Nothing catches a bare ``Exception`` except the worker loop and the entry point.
"""

from __future__ import annotations


class QuantError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(QuantError):
    """A configuration value or a command-line argument is wrong."""


class DataError(QuantError):
    """Input data cannot be used as it is."""


class StrategyError(QuantError):
    """A strategy's output breaks its contract (weights, symbols): the strategy's fault.

    ``kind`` is how the entry points name it in their one error line (exit 4).
    """

    kind = "Strategy error (fix the strategy, not the config)"


class TemporaryBrokerError(QuantError):
    """The broker failed in a way that a retry may fix."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message if code is None else f"[IB {code}] {message}")
        self.code = code


class BrokerLinkDown(TemporaryBrokerError):
    """The broker is up but has lost its own link to the market (IB 1100); it restores it.

    A worker polls for the link every few seconds instead of backing off: a reconnect would
    only read stale data, and the link comes back by itself (IB 1101 / 1102).
    """


class OperationalError(QuantError):
    """A condition that must halt trading and alert the operator."""
