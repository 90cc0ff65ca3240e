"""Exception families, grouped by what the caller does about them.

``ConfigError``
    Fix the configuration or the command line and run again (exit code 2).
``DataError``
    Bad input data: skip and record it, or stop the run when nothing usable is left (exit 1).
``TemporaryBrokerError``
    The broker is unreachable or pacing us: back off and retry.
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


class TemporaryBrokerError(QuantError):
    """The broker failed in a way that a retry may fix."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message if code is None else f"[IB {code}] {message}")
        self.code = code


class OperationalError(QuantError):
    """A condition that must halt trading and alert the operator."""
