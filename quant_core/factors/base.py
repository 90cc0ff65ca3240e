"""The factor contract.

A factor turns wide input panels into one wide output panel of the same shape::

    inputs (close)                       output (momentum_2)
                 AAA    BBB                           AAA     BBB
    2010-01-04  10.0   20.0              2010-01-04    NaN     NaN
    2010-01-05  11.0    NaN      --->    2010-01-05    NaN     NaN
    2010-01-06  12.1   22.0              2010-01-06   0.21     NaN   (BBB: a gap in its window)
    2010-01-07  12.1   24.2              2010-01-07   0.10    0.21

Rules every factor keeps:

* **Inputs and window.** ``inputs`` names the bar fields it reads; ``window`` is how many rows
  of them one output row needs (the row itself included). The value on date d depends only on
  the ``window`` rows ending at d: never on later rows (no look-ahead) and never on earlier ones
  (so the value computed from a window equals the value computed from the whole history; the
  truncation tests check both).
* **NaN.** Nothing is filled in. A value needs the symbol's bar on its own date; a return
  (momentum, reversal) needs the bars at both ends of its span; a rolling statistic needs at
  least ``MIN_COVERAGE`` (80%) of its window present and skips the missing bars. Otherwise
  the value is NaN.
* **Parameters** are checked when the factor is built (``window >= 2`` and the like); a bad one
  raises ``ConfigError`` naming the factor and the parameter.

Factors are named ``<kind>_<param>_<param>``, e.g. ``momentum_126``, ``momentum_252_21``,
``ma_ratio_50_200``; an optional offset left at 0 (momentum's ``skip``) is omitted.

**Named factors.** A factor that is not computed from a kind and integers, such as a stored
model's composite ``model_<model_id>`` (``research/model_factor.py``), is registered by its
exact name for the life of the process (:func:`register_named_factor`; the drivers do it for
the models a strategy's parameters name). :func:`make_factor` looks the exact name up there
before it parses kinds, so every strategy, ``DataView.factor`` included, computes it like any
other factor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

import pandas as pd

from quant_core.errors import ConfigError
from quant_core.registry import Registry


class Factor(ABC):
    """Base of every factor; see the module docstring for the contract."""

    kind: ClassVar[str]
    inputs: tuple[str, ...] = ("close",)  # a class constant but for a named factor's
    params: ClassVar[tuple[tuple[str, int], ...]]  # (name, default), in name order

    def __init__(self, *args: int) -> None:
        names = [name for name, _ in self.params]
        if len(args) > len(names):
            raise ConfigError(f"factor {self.kind}: at most {len(names)} parameter(s) ({names})")
        values = [*args, *[default for _, default in self.params[len(args) :]]]
        self.values: dict[str, int] = dict(zip(names, values, strict=True))
        self._validate()

    @property
    def name(self) -> str:
        """Return the canonical name, e.g. ``momentum_252_21``."""
        # A parameter whose default is 0 is optional (an offset that is off); left at 0 it is
        # omitted from the name: momentum_126 is momentum_126_0.
        values = [
            str(self.values[name])
            for name, default in self.params
            if default != 0 or self.values[name] != 0
        ]
        return "_".join([self.kind, *values])

    @property
    @abstractmethod
    def window(self) -> int:
        """Return how many input rows one output row needs, itself included."""

    @abstractmethod
    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Return the factor for every row of the wide input panels in ``data``."""

    def latest(self, data: Mapping[str, pd.DataFrame]) -> pd.Series:
        """Return the factor on the last row of ``data``: ``compute(data).iloc[-1]``.

        A strategy reads one row at each decision (``DataView.factor``); a factor whose last
        row costs less alone overrides this, to the same bits (the factor tests hold it so).
        """
        last: pd.Series = self.compute(data).iloc[-1]
        return last

    def _validate(self) -> None:
        for name, value in self.values.items():
            if value < self._minimum(name):
                raise ConfigError(
                    f"factor {self.kind}: {name} must be >= {self._minimum(name)}, got {value}"
                )
            if value > MAX_PARAM:  # a window longer than any history (pandas overflowed)
                raise ConfigError(
                    f"factor {self.kind}: {name} must be <= {MAX_PARAM:,} sessions, got {value}"
                )

    def _minimum(self, name: str) -> int:
        return 2 if name not in {"skip"} else 0

    def __repr__(self) -> str:
        return f"Factor({self.name})"


FACTORS: Registry[type[Factor]] = Registry("factor")

MIN_COVERAGE = 0.8
MAX_PARAM = 100_000  # sessions: about 400 years, longer than any history

# What `run_factor_computation.py` computes when no --factors are given.
DEFAULT_FACTORS = (
    "momentum_126",
    "momentum_252_21",
    "reversal_5",
    "volatility_20",
    "rsi_14",
    "ma_ratio_50_200",
    "volume_z_20",
    "amihud_20",
    "dist_high_252",
)


# Named factors, by exact name (module docstring): filled by the drivers, read by make_factor.
_NAMED: dict[str, Factor] = {}
MODEL_PREFIX = "model_"  # a stored model's composite: model_<model_id>


def register_named_factor(name: str, factor: Factor) -> None:
    """Make ``make_factor(name)`` return ``factor`` for the rest of the process.

    Registering a name again replaces the factor (a driver run twice in one process loads its
    models again; an id names one stored model, so it is the same model).

    Raises
    ------
    ConfigError
        ``name`` is not ``factor.name``, or it would shadow a computed kind (``momentum_20``).
    """
    if name != factor.name:
        raise ConfigError(f"named factor {name!r}: the factor calls itself {factor.name!r}")
    if (kind := _kind_of(name)) is not None:
        raise ConfigError(f"named factor {name!r} would shadow the computed kind {kind!r}")
    _NAMED[name] = factor


def named_factors() -> Mapping[str, Factor]:
    """Return a read-only view of the registered named factors, by name."""
    return MappingProxyType(_NAMED)


def forget_named_factor(name: str) -> None:
    """Remove the named factor ``name`` if registered (tests; a cockpit that unloads a model)."""
    _NAMED.pop(name, None)


def _kind_of(name: str) -> str | None:
    kinds = sorted(FACTORS.names(), key=len, reverse=True)
    return next((k for k in kinds if name == k or name.startswith(k + "_")), None)


def named_factor(name: str) -> Factor | None:
    """Return the factor registered under ``name`` (:func:`register_named_factor`), or None."""
    return _NAMED.get(name)


def make_factor(name: str) -> Factor:
    """Build a factor from its name, e.g. ``"momentum_252_21"``, or return a named one.

    A registered named factor (:func:`register_named_factor`) is returned by its exact name
    first; ``model_...`` names that are not registered say how models get loaded.
    """
    if name in _NAMED:
        return _NAMED[name]
    kind = _kind_of(name)
    if kind is None and name.startswith(MODEL_PREFIX):
        raise ConfigError(
            f"model factor {name} is not loaded: the drivers load stored models named in "
            "strategy.params (run_factor_computation.py --models lists them), by an id of the "
            "stored form model_<name>-<YYYYmmddTHHMMSSZ>-<4 hex>"
        )
    if kind is None:
        raise ConfigError(f"unknown factor {name!r}; kinds: {', '.join(FACTORS.names())}")
    rest = name[len(kind) + 1 :]
    try:
        args = [int(part) for part in rest.split("_")] if rest else []
    except ValueError:
        raise ConfigError(f"factor {name!r}: parameters after {kind!r} must be integers") from None
    return FACTORS.get(kind)(*args)
