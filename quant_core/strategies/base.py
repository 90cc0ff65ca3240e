"""The strategy contract: what was known at the close of T-1 in, target weights out.

One code path, two drivers: the backtest engine and the live worker both build a
:class:`StrategyContext` and call :meth:`Strategy.target_weights`. A strategy does no I/O and
never reads the clock; its only view of the market is a :class:`DataView` that ends at T-1, so
look-ahead is impossible by construction: the view holds no row dated T or later, and asking
for one raises :class:`LookAheadError`.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from config.redact import is_secret_key
from quant_core.data.panels import MarketData
from quant_core.errors import ConfigError, StrategyError
from quant_core.factors import make_factor, named_factor
from quant_core.portfolio.schedule import Rule
from quant_core.registry import Registry
from quant_core.strategies.factor_memo import factor_memo


class LookAheadError(StrategyError):
    """A strategy asked for data dated T or later: the strategy's fault (exit code 4)."""


class DataView:
    """The market as known at the close of T-1: rows ``0 .. t-1`` of the panels, nothing else.

    Parameters
    ----------
    data
        The full panels.
    t
        Row index of the session T being decided; rows ``>= t`` are out of reach.
    universe
        A sleeve's universe at T (its scanner's, :mod:`quant_core.scanners`): a bool per symbol
        position; the symbols outside it read as NaN in every field (no bar), so the strategy
        never picks them. None: every symbol.
    """

    def __init__(self, data: MarketData, t: int, universe: np.ndarray | None = None) -> None:
        if not 0 < t <= len(data.dates):
            raise ValueError(f"view end {t} outside 1..{len(data.dates)}")
        if universe is not None and np.shape(universe) != (len(data.symbols),):
            raise ValueError(f"universe has shape {np.shape(universe)}, expected one per symbol")
        self._data = data
        self._end = t
        given = None if universe is None else np.asarray(universe, dtype=bool)
        self._universe_given = given
        outside = None if given is None else ~given
        self._outside = outside if outside is not None and outside.any() else None
        self.symbols = data.symbol_index

    @property
    def session(self) -> pd.Timestamp | None:
        """Return the date of T, or None when T is past the data (a live decision)."""
        dates = self._data.dates
        return pd.Timestamp(dates[self._end]) if self._end < len(dates) else None

    @property
    def universe_size(self) -> int | None:
        """Return how many symbols the sleeve's universe holds (None: no universe, every one)."""
        if self._universe_given is None:
            return None
        return int(self._universe_given.sum())

    @property
    def last_date(self) -> pd.Timestamp:
        """Return the date of T-1, the last row in view."""
        return pd.Timestamp(self._data.dates[self._end - 1])

    def __len__(self) -> int:
        return self._end

    def array(self, name: str, window: int | None = None) -> np.ndarray:
        """Return the last ``window`` rows (all if None) through T-1 of one field, as numpy.

        Columns follow :attr:`symbols`. A copy: not even its ``.base`` reaches row T.

        Raises
        ------
        StrategyError
            The panels hold no field ``name``: the strategy's code (or a factor's ``inputs``)
            asks for it, no configuration names it.
        """
        if name not in self._data.panels:
            raise StrategyError(f"no bar field {name!r}; available: {sorted(self._data.panels)}")
        start = 0 if window is None else max(0, self._end - window)
        values = self._data.panels[name][start : self._end].copy()
        if self._outside is not None:
            values[:, self._outside] = np.nan
        return values

    def row(self, name: str, back: int = 1) -> np.ndarray:
        """Return one field on the session ``back`` sessions before T (1: T-1), as numpy.

        A copy, columns following :attr:`symbols`, the symbols outside the universe NaN: the
        row ``array(name, back)[0]`` would give, without copying the rows after it.

        Raises
        ------
        StrategyError
            No bar field ``name``, or ``back`` outside ``1 .. len(self)`` (T itself and after are
            out of reach, and so is before the data).
        """
        if name not in self._data.panels:
            raise StrategyError(f"no bar field {name!r}; available: {sorted(self._data.panels)}")
        if not 1 <= back <= self._end:
            raise StrategyError(f"row {back} sessions back is outside the view (1..{self._end})")
        values: np.ndarray = self._data.panels[name][self._end - back].copy()
        if self._outside is not None:
            values[self._outside] = np.nan
        return values

    def field(self, name: str, window: int | None = None) -> pd.DataFrame:
        """Return the last ``window`` rows (all if None) through T-1 of one bar field."""
        values = self.array(name, window)
        return pd.DataFrame(
            values,
            index=self._data.date_index[self._end - len(values) : self._end],
            columns=self.symbols,
        )

    def close(self, window: int | None = None) -> pd.DataFrame:
        """Return the last ``window`` closes through T-1."""
        return self.field("close", window)

    def at(self, date: dt.date | pd.Timestamp, name: str = "close") -> pd.Series:
        """Return one field on ``date``; a date at or after T raises ``LookAheadError``."""
        day = np.datetime64(pd.Timestamp(date).date(), "D")
        if day > self._data.dates[self._end - 1]:
            raise LookAheadError(
                f"asked for {name} on {pd.Timestamp(date).date()}, but the view ends at "
                f"{self.last_date.date()} (T-1)"
            )
        row = int(np.searchsorted(self._data.dates[: self._end], day))
        if row >= self._end or self._data.dates[row] != day:
            raise KeyError(f"no session {pd.Timestamp(date).date()} in the data")
        values = self._data.panels[name][row].copy()
        if self._outside is not None:
            values[self._outside] = np.nan
        return pd.Series(values, index=self.symbols, name=name)

    def factor(self, name: str) -> pd.Series:
        """Return factor ``name`` at T-1, computed from the window of data it needs, only.

        Computed once per panel set and session (:mod:`quant_core.strategies.factor_memo`) when
        the view has no universe; a sleeve's universe masks names, so its view computes its own.
        """
        if self._outside is not None:
            return self._factor(name)
        # A named factor (a stored model's) is keyed by the object registered: one registered
        # anew under the name (a test's, a reloaded model) is never answered from the old one.
        key = (name, self._end, named_factor(name))
        return factor_memo(self._data).get(key, lambda: self._factor(name))

    def _factor(self, name: str) -> pd.Series:
        factor = make_factor(name)
        inputs = {f: self.field(f, factor.window) for f in factor.inputs}
        return factor.latest(inputs).rename(factor.name)


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """The portfolio before T's orders: cash, shares per symbol, equity at the T-1 close."""

    cash: float
    shares: np.ndarray
    symbols: pd.Index
    equity: float

    @property
    def positions(self) -> pd.Series:
        """Return the shares held, by symbol (built on demand: most strategies never ask)."""
        return pd.Series(self.shares, index=self.symbols, name="shares")


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """Everything a strategy may use to decide session T."""

    view: DataView
    portfolio: PortfolioSnapshot
    session: pd.Timestamp
    extra: dict[str, Any] = field(default_factory=dict)


class Picks:
    """A strategy's decision for T: target weights, and its scores where it gives them.

    ``weights`` by symbol: fractions of equity, positive long, negative short. ``scores`` by
    symbol (any subset of the universe, NaN or missing where none): how strongly the strategy
    rates each name, higher is better for a long; construction methods of expected returns
    (mean_variance, black_litterman, half_kelly) read them.

    :meth:`by_position` gives the same decision as float arrays, one value per position of the
    view's :attr:`DataView.symbols` (zero weight, NaN score: none): the drivers read the arrays
    as they are, without a pandas index, which a strategy deciding thousands of times in a sweep
    can afford; ``weights`` and ``scores`` are then built on demand.
    """

    __slots__ = ("_given", "_scores", "_weights")

    def __init__(self, weights: pd.Series, scores: pd.Series | None = None) -> None:
        self._weights: pd.Series | None = weights
        self._scores: pd.Series | None = scores
        self._given: tuple[pd.Index, np.ndarray, np.ndarray | None] | None = None

    @classmethod
    def by_position(
        cls, symbols: pd.Index, weights: np.ndarray, scores: np.ndarray | None = None
    ) -> Picks:
        """Return the picks of ``weights`` and ``scores`` given per position of ``symbols``."""
        picks = cls.__new__(cls)  # no Series built: the drivers read the arrays
        picks._weights, picks._scores, picks._given = None, None, (symbols, weights, scores)
        return picks

    @property
    def positional(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Return the weights and scores as given by position, or None if given by symbol."""
        return None if self._given is None else (self._given[1], self._given[2])

    @property
    def weights(self) -> pd.Series:
        """Return the weights by symbol (the non-zero ones when given by position)."""
        if self._weights is None and self._given is not None:
            symbols, given, _ = self._given
            values = np.asarray(given, dtype=float)
            chosen = np.flatnonzero(values)
            self._weights = pd.Series(values[chosen], index=symbols[chosen], dtype=float)
        return pd.Series(dtype=float) if self._weights is None else self._weights

    @property
    def scores(self) -> pd.Series | None:
        """Return the scores by symbol, or None when the strategy gives none."""
        if self._scores is None and self._given is not None and self._given[2] is not None:
            symbols, _, given = self._given
            self._scores = pd.Series(given, index=symbols, dtype=float)
        return self._scores


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: frozen, unknown names rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


P = TypeVar("P", bound=StrategyParams)


class Strategy(ABC, Generic[P]):
    """Turn what was known at the close of T-1 into target weights for T.

    Subclasses set ``Params`` (a :class:`StrategyParams` model) and implement ``warmup`` and
    ``target_weights``. Weights are fractions of equity per symbol: positive long, negative
    short, missing symbols zero; the long side sums to at most 1.
    """

    Params: ClassVar[type[StrategyParams]]
    name: ClassVar[str]
    gives_scores: ClassVar[bool] = False  # True: decide() returns Picks with scores

    def __init__(self, params: P) -> None:
        self.params = params

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Return how many sessions of history T needs before it: T's index is at least this."""

    @abstractmethod
    def target_weights(self, context: StrategyContext) -> pd.Series:
        """Return target weights by symbol for session T."""

    def decide(self, context: StrategyContext) -> Picks:
        """Return the weights for session T and the scores behind them, where there are any.

        The drivers call this. By default, :meth:`target_weights` and no scores; a strategy that
        gives scores sets ``gives_scores = True`` and overrides this (computing both once).
        """
        return Picks(self.target_weights(context))

    def weights_at(self, data: MarketData, rows: np.ndarray) -> np.ndarray | None:
        """Return the weights :meth:`decide` gives at each of ``rows``, or None (the default).

        One row of weights per symbol position for each row of ``rows``, each exactly what
        ``decide`` gives there on the whole data (a :class:`DataView` ending at T-1, no
        universe), whatever the portfolio: the compiled backtest loop
        (:mod:`quant_core.backtest.compiled_loop`) takes them all at once. None: the strategy
        is asked row by row, with the portfolio (the engine's loop).
        """
        return None

    def schedule(self) -> tuple[Rule, str] | None:
        """Return the rebalance rule this strategy's logic needs and why, or None for any.

        A strategy that holds each pick a number of sessions declares it here; a config whose
        ``strategy.rebalance`` contradicts it is refused (:func:`check_schedule`).
        """
        return None


def check_schedule(strategy: Strategy[Any], rule: Rule) -> None:
    """Raise ``ConfigError`` if ``rule`` is not the schedule ``strategy`` declares it needs."""
    needed = strategy.schedule()
    if needed is not None and needed[0] != rule:
        raise ConfigError(
            f"strategy {strategy.name} {needed[1]}, so it must rebalance with "
            f"strategy.rebalance={needed[0]}, not {rule!r}: set it in the config or pass "
            f"--set strategy.rebalance={needed[0]}"
        )


STRATEGIES: Registry[type[Strategy[Any]]] = Registry("strategy")


def register_strategy(name: str) -> Any:
    """Register a strategy class under ``name`` (a class decorator)."""

    def decorator(cls: type[Strategy[Any]]) -> type[Strategy[Any]]:
        cls.name = name
        STRATEGIES.add(name, cls)
        return cls

    return decorator


def _shown(error: Any) -> str:
    # A parameter whose name looks like a credential (api_key, token) is never echoed.
    secret = any(is_secret_key(str(part)) for part in error["loc"])
    return "'***'" if secret else repr(error.get("input"))


def build_strategy(name: str, params: dict[str, Any]) -> Strategy[Any]:
    """Build the registered strategy ``name``; bad parameters raise ``ConfigError``."""
    cls = STRATEGIES.get(name)
    try:
        return cls(cls.Params.model_validate(params))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(params)'} = {_shown(e)}: {e['msg']}"
            for e in exc.errors()
        )
        valid = ", ".join(
            f"{k} (default {f.default!r})" for k, f in cls.Params.model_fields.items()
        )
        raise ConfigError(
            f"strategy {name}: invalid parameter(s): {problems}. Parameters: {valid}"
        ) from None
