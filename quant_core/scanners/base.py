"""The scanner contract: data through T-1 in, a universe (which symbols are in) out.

A scanner decides, for each session T it is asked about, which symbols a sleeve may trade at T,
from the bars of the sessions before T only. One call covers every session of a run:
:meth:`Scanner.scan` takes the rows to decide and returns one boolean row per session,
vectorised over rows and symbols (no Python loop per symbol and date). Scanners do no I/O and
never read the clock; they are registered by name (:func:`register_scanner`) and built from a
configuration's name and parameters (:func:`build_scanner`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from quant_core.data.panels import MarketData
from quant_core.errors import ConfigError
from quant_core.registry import Registry


class ScannerParams(BaseModel):
    """Base of every scanner's parameters: frozen, unknown names rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


P = TypeVar("P", bound=ScannerParams)


class Scanner(ABC, Generic[P]):
    """Turn the bars before each session T into the universe of T.

    Subclasses set ``Params`` (a :class:`ScannerParams` model) and implement ``warmup`` and
    ``scan``; a scanner that cannot run on some data (a symbol it lists is missing, the data
    has no sectors) overrides :meth:`check`, which ``scan`` calls first.
    """

    Params: ClassVar[type[ScannerParams]]
    name: ClassVar[str]

    def __init__(self, params: P) -> None:
        self.params = params

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Return the first row at which a symbol can be in: sessions of history a scan needs.

        A scan of an earlier row is not an error: a symbol without enough history is simply
        out, so such rows come back empty.
        """

    def check(self, data: MarketData) -> None:
        """Raise ``ConfigError`` if this scanner cannot run on ``data`` (by default it can).

        Drivers may call it once before a run to fail early; :meth:`scan` calls it too.
        """

    @abstractmethod
    def scan(self, data: MarketData, rows: np.ndarray) -> np.ndarray:
        """Return the universe at each row of ``rows``: a ``len(rows) x len(data.symbols)`` bool.

        Row ``i`` of the result is session ``t = rows[i]``, computed from rows ``< t`` of the
        panels only (through the close of T-1). ``t`` may be ``len(data.dates)``: the session
        after the last bar (a live decision). Rows may repeat and come in any order.
        """


def check_rows(data: MarketData, rows: np.ndarray) -> np.ndarray:
    """Return ``rows`` as a 1-D integer array, each in ``0 .. len(data.dates)``.

    Raises
    ------
    ValueError
        ``rows`` is not a 1-D array of integers, or one lies outside that range: the caller's
        bug, not the configuration's.
    """
    out = np.asarray(rows)
    if out.ndim != 1 or not (out.size == 0 or np.issubdtype(out.dtype, np.integer)):
        raise ValueError(f"scan rows must be a 1-D integer array, got {out.dtype} {out.shape}")
    n = len(data.dates)
    if out.size and (out.min() < 0 or out.max() > n):
        raise ValueError(f"scan rows must lie in 0..{n}, got {out.min()}..{out.max()}")
    return out.astype(np.intp)


SCANNERS: Registry[type[Scanner[Any]]] = Registry("scanner")


def register_scanner(name: str) -> Any:
    """Register a scanner class under ``name`` (a class decorator that also sets its ``name``)."""

    def decorator(cls: type[Scanner[Any]]) -> type[Scanner[Any]]:
        cls.name = name
        SCANNERS.add(name, cls)
        return cls

    return decorator


def scanner_names() -> list[str]:
    """Return the registered scanners' names, sorted."""
    return SCANNERS.names()


def build_scanner(name: str, params: dict[str, Any] | None = None) -> Scanner[Any]:
    """Build the registered scanner ``name`` from ``params`` (None: every default).

    Raises
    ------
    ConfigError
        ``name`` is not registered (the message lists the valid names), or a parameter is
        unknown or invalid (the message names it, its value, and lists the valid parameters
        with their defaults).
    """
    cls = SCANNERS.get(name)
    try:
        return cls(cls.Params.model_validate(params or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(params)'}: missing"
            if e["type"] == "missing"
            else f"{'.'.join(map(str, e['loc'])) or '(params)'} = {e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        )
        valid = ", ".join(
            f"{k} (default {'required' if f.is_required() else repr(f.get_default())})"
            for k, f in cls.Params.model_fields.items()
        )
        raise ConfigError(
            f"scanner {name}: invalid parameter(s): {problems}. Parameters: {valid}"
        ) from None
