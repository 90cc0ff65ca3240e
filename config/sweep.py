"""A sweep file: one strategy, a parameter grid or a random search, an objective, a period.

::

    sweep:
      strategy: momentum
      grid: {lookback: [20, 60, 126], top_quantile: [0.1, 0.2]}
      set: {strategy.rebalance: 21}        # config overrides shared by every configuration
      objective: sharpe                    # a metric of a single run's --json "metrics"
      period: {start: 2009-10-01, end: 2010-08-20}

or ``search: {method: random, trials: 200, seed: 7, space: {lookback: {int: [10, 250]},
top_quantile: {float: [0.05, 0.5]}}}`` instead of ``grid``. :func:`load_sweep` reads and checks
the file; :func:`configurations` expands it into the configurations to run, each with its
parameters and the ``section.key=value`` overrides that make its run config. Every parameter
must be one of the strategy's (an unknown one is named with the valid ones, and nothing runs)
and every configuration's parameters must validate (the message names the configuration); two
values that validate alike (``20`` and ``20.0``) are refused, as is a ``set`` of what the sweep
decides itself, however its key is spelt (:mod:`config.sweep_checks`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from config.keys import split_key
from config.sweep_checks import NOT_OBJECTIVES, check_spec, check_top, same_values
from config.sweep_space import trial_params
from config.yaml_file import parse_yaml_file
from quant_core.errors import ConfigError
from quant_core.strategies import build_strategy

__all__ = [
    "METRIC_NAMES",
    "Configuration",
    "SweepConfig",
    "WalkForward",
    "base_overrides",
    "configurations",
    "load_sweep",
    "set_params",
    "sweep_digest",
]

MAX_CONFIGURATIONS = 1_000_000
# A run's metrics (backtest.metrics.summary, backtest.records.event_counts): an objective.
METRIC_NAMES = frozenset(
    {
        "start_equity",
        "final_equity",
        "total_return",
        "cagr",
        "volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "max_drawdown_sessions",
        "calmar",
        "turnover",
        "exposure",
        "hit_rate",
        "commissions",
        "slippage",
        "total_costs",
        "trades",
        "truncated",
        "unfilled",
        "sessions",
        "benchmark_total_return",
        "benchmark_cagr",
        "excess_return",
        "excess_cagr",
        "stops",
        "stop_loss",
        "take_profit",
        "trailing_stop",
        "halts",
        "constraint_rebalances",
        "fallbacks",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Strict: YAML's `true` is no count (it would pass as 1); a range's ends are finite numbers.
Whole = Annotated[int, Field(strict=True)]
Real = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Range(_Strict):
    """A search dimension: integers or floats in ``[lo, hi]`` (``log`` for a log-uniform draw)."""

    whole: tuple[Whole, Whole] | None = Field(default=None, alias="int")
    real: tuple[Real, Real] | None = Field(default=None, alias="float")
    log: bool = False

    @model_validator(mode="after")
    def _one(self) -> Range:
        if (self.whole is None) == (self.real is None):
            raise ValueError("give one of int: [lo, hi] or float: [lo, hi]")
        lo, hi = self.whole or self.real or (0, 0)
        if lo > hi or (self.log and lo <= 0):
            raise ValueError(f"[{lo}, {hi}] is not a range (lo <= hi; log needs lo > 0)")
        return self


class Search(_Strict):
    """A search over ``space``: ``trials`` configurations.

    ``random``: drawn with ``seed``; ``optuna``: proposed by Optuna's TPE sampler from the trials
    so far (``quant_core/sweeps/optuna_search.py``).
    """

    method: Literal["random", "optuna"] = "random"
    trials: Whole = Field(gt=0, le=MAX_CONFIGURATIONS)
    seed: Whole = 0
    space: dict[str, Range | list[Any]] = Field(min_length=1)


class Period(_Strict):
    """The span every configuration runs over (any calendar dates)."""

    start: dt.date | None = None
    end: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}: no session to run")
        return self


class WalkForward(_Strict):
    """Walk-forward folds (``--walk-forward``): sessions to train on and to test.

    ``embargo`` sessions lie between them; ``rolling`` trains on the last ``train`` sessions,
    ``anchored`` on every session from the period's first.
    """

    train: Whole = Field(ge=2)
    test: Whole = Field(ge=1)
    embargo: Whole = Field(default=0, ge=0)
    scheme: Literal["rolling", "anchored"] = "rolling"


class SweepConfig(_Strict):
    """A sweep file's ``sweep:`` section (module docstring)."""

    name: str = Field(min_length=1)
    strategy: str = Field(min_length=1)
    grid: dict[str, list[Any]] | None = None
    search: Search | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    objective: str = "sharpe"
    maximize: StrictBool = True  # `maximize: 0` or "no" is refused, not taken for False
    period: Period = Field(default_factory=Period)
    keep: Whole = Field(default=10, ge=0, description="full equity curves kept: the best N")
    batch: Whole = Field(default=0, ge=0, description="configurations per task; 0: chosen")
    walk_forward: WalkForward | None = None

    @field_validator("grid")
    @classmethod
    def _values(cls, grid: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        if grid is not None and not grid:
            raise ValueError("give at least one parameter and its values (an empty grid)")
        if grid is not None and any(not v for v in grid.values()):
            raise ValueError("every grid parameter needs at least one value")
        return grid

    @model_validator(mode="after")
    def _space(self) -> SweepConfig:
        if (self.grid is None) == (self.search is None):
            raise ValueError("give one of grid (every combination) or search (random draws)")
        return self


@dataclass(frozen=True, slots=True)
class Configuration:
    """One configuration: its key (canonical JSON of its params), params and overrides."""

    key: str
    params: dict[str, Any]
    overrides: tuple[str, ...]


def load_sweep(path: Path) -> SweepConfig:
    """Read and check the sweep file ``path`` (a top-level ``sweep:`` mapping).

    Raises
    ------
    ConfigError
        Missing, unreadable or malformed file, or a wrong value: the message names the file
        and the dotted field; an unknown strategy or parameter is named with the valid ones.
    """
    path = Path(path)
    try:
        raw = parse_yaml_file(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such sweep file") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("sweep"), dict):
        raise ConfigError(f"{path}: a sweep file needs a top-level `sweep:` mapping")
    check_top(path, raw)
    body = {"name": path.stem, **raw["sweep"]}
    try:
        spec = SweepConfig.model_validate(body)
    except ValidationError as exc:
        lines = [
            f"{path}: {'.'.join(['sweep', *(str(p) for p in e['loc'])])}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None
    check_spec(path, spec)
    if spec.objective not in METRIC_NAMES:
        raise ConfigError(
            f"{path}: sweep.objective: {spec.objective!r} is no metric of a run; choose one "
            f"of {', '.join(sorted(METRIC_NAMES - set(NOT_OBJECTIVES)))}"
        )
    return spec


def configurations(
    spec: SweepConfig,
    path: Path | str = "sweep",
    params: Mapping[str, Any] | None = None,
    only: str | None = None,
) -> list[Configuration]:
    """Return every configuration of ``spec``, each validated by building its strategy.

    Each is built over ``params``, the run config's strategy parameters (the sweep's ``set``,
    ``base.yaml``, ``QC__`` variables, ``--set``), or over the ``set``'s alone when None
    (:func:`set_params`): a parameter the sweep does not vary comes from there, not from the
    strategy's default (``sma_cross``'s ``slow: 300`` in ``set`` lets ``fast`` reach 250).
    ``only``: the configuration with that key alone (the others are neither built nor checked);
    for an Optuna search, the trial with that key if it is a point of the space, else none.

    Raises
    ------
    ConfigError
        A configuration's parameters do not validate (it is named), or too many of them.
    """
    if spec.grid is not None:
        names = list(spec.grid)
        count = int(np.prod([len(v) for v in spec.grid.values()], dtype=float))
        if count > MAX_CONFIGURATIONS:
            raise ConfigError(f"{path}: sweep.grid: {count:,} configurations (at most 1,000,000)")
        combos = [
            dict(zip(names, values, strict=True))
            for values in itertools.product(*spec.grid.values())
        ]
    elif spec.search is not None and spec.search.method == "random":
        combos = _draws(spec.search)
    elif spec.search is not None:  # optuna: proposed as the study goes (sweeps/optuna_search)
        trial = None if only is None else trial_params(spec.search, only)
        if trial is None:
            return []
        combos = [trial]  # one trial, rebuilt from its key (the cockpit's rerun)
    else:  # the model's rule: one of the two
        raise ConfigError(f"{path}: sweep: give one of grid or search")
    out: dict[str, Configuration] = {}  # by the params as the strategy validates them
    base = base_overrides(spec)
    fixed = dict(set_params(spec) if params is None else params)
    for swept in combos:
        key = json.dumps(swept, sort_keys=True, default=str)
        if only is not None and key != only:
            continue
        try:
            strategy = build_strategy(spec.strategy, {**fixed, **swept})
        except ConfigError as exc:
            raise ConfigError(f"{path}: configuration {key}: {exc}") from None
        valid = strategy.params.model_dump(mode="json")
        same = json.dumps({k: valid.get(k) for k in swept}, sort_keys=True, default=str)
        if same in out and out[same].key != key:  # 20 and 20.0: one backtest, not two trials
            raise same_values(path, spec, out[same].params, swept)
        extra = tuple(f"strategy.params.{k}={_json(v)}" for k, v in swept.items())
        out.setdefault(same, Configuration(key, swept, (*base, *extra)))
    return list(out.values())


def set_params(spec: SweepConfig) -> dict[str, Any]:
    """Return the strategy parameters the sweep's ``set`` gives, merged as the loader merges.

    ``strategy.params.slow: 300``, ``strategy.params: {slow: 300}`` and
    ``strategy: {params: {slow: 300}}`` all give ``{"slow": 300}``; a key's parts are read as
    the loader reads them (stripped, lower-cased), mappings are merged key by key, later wins.
    """
    merged: dict[str, Any] = {}
    for dotted, value in spec.set.items():
        tree: Any = value
        for key in reversed(split_key(dotted, ".", f"sweep.set.{dotted}")):
            tree = {key: tree}
        _merge_into(merged, tree)
    strategy = merged.get("strategy")
    params = strategy.get("params") if isinstance(strategy, dict) else None
    return dict(params) if isinstance(params, dict) else {}


def _merge_into(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge_into(into[key], value)
        else:
            into[key] = _plain(value)


def _plain(value: Any) -> Any:
    # A mapping copied all the way down: a later merge never writes into the sweep's own set.
    return {k: _plain(v) for k, v in value.items()} if isinstance(value, Mapping) else value


def _draws(search: Search) -> list[dict[str, Any]]:
    rng = np.random.default_rng(search.seed)
    out = []
    for _ in range(search.trials):
        params: dict[str, Any] = {}
        for name, dim in search.space.items():
            if isinstance(dim, list):
                params[name] = dim[int(rng.integers(len(dim)))]
            elif dim.whole is not None:
                lo, hi = dim.whole
                value = np.exp(rng.uniform(np.log(lo), np.log(hi + 1))) if dim.log else None
                params[name] = (
                    int(min(hi, value)) if value is not None else int(rng.integers(lo, hi + 1))
                )
            else:
                lo_f, hi_f = dim.real or (0.0, 0.0)
                draw = (
                    np.exp(rng.uniform(np.log(lo_f), np.log(hi_f)))
                    if dim.log
                    else rng.uniform(lo_f, hi_f)
                )
                params[name] = round(float(draw), 10)
        out.append(params)
    return out


def base_overrides(spec: SweepConfig) -> tuple[str, ...]:
    """Return the overrides every configuration shares: strategy, ``set`` and period."""
    out = [f"strategy.name={spec.strategy}"]
    out += [f"{k}={_setting(v)}" for k, v in spec.set.items()]
    if spec.period.start is not None:
        out.append(f"backtest.start={spec.period.start}")
    if spec.period.end is not None:
        out.append(f"backtest.end={spec.period.end}")
    return tuple(out)


def _setting(value: Any) -> str:
    # A value as ``--set`` would take it: text and dates as they are, the rest as JSON.
    if isinstance(value, str):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    return _json(value)


def _json(value: Any) -> str:
    # JSON of a YAML value: dates (in a mapping or a list too) as ISO text, as --set takes them.
    return json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, dt.date) else str(v))


def sweep_digest(spec: SweepConfig, extra: tuple[str, ...] = (), context: str = "") -> str:
    """Return the sweep's identity: a hash of what decides its results.

    The strategy, the configurations (a grid's as a sorted set; a search's space, in the order
    its draws follow, and seed), ``set``, the period, the objective and its direction, the
    walk-forward's folds, the command line's ``--set`` values and ``context`` (the run config's
    digest and the dataset's version: ``runner.sweep_context``). The same command on the same
    config and data is the same sweep, and resumes; ``batch`` and ``keep`` change nothing of it.
    """
    body = spec.model_dump(mode="json", by_alias=True, exclude={"batch", "keep", "name"})
    if body.get("search"):  # more trials of the same search: the same sweep, resumed
        body["search"].pop("trials", None)
        if list(body["search"]["space"]) != sorted(body["search"]["space"]):  # draws follow it
            body["search"]["order"] = list(body["search"]["space"])
    if spec.grid is not None:
        body["grid"] = {k: sorted(map(json.dumps, v)) for k, v in sorted(spec.grid.items())}
    text = json.dumps({"spec": body, "set": sorted(extra), "context": context}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
