"""A sweep file: a strategy or a book, a parameter grid or a random search, an objective, a period.

::

    sweep:
      strategy: momentum                   # or book: config/books/core.yaml (config.sweep_book)
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
decides itself, however its key is spelt (:mod:`config.sweep_checks`). The models are in
:mod:`config.sweep_schema`; a sweep of a book names its parameters ``<sleeve>.<param>``
(:mod:`config.sweep_book`), and each of its configurations carries its book.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from config.keys import split_key
from config.sweep_book import read_book, validated, with_params
from config.sweep_checks import NOT_OBJECTIVES, check_spec, check_top, same_values
from config.sweep_schema import (
    MAX_CONFIGURATIONS,
    METRIC_NAMES,
    Range,
    Search,
    SweepConfig,
    WalkForward,
    subject,
)
from config.sweep_space import trial_params
from config.yaml_file import parse_yaml_file
from quant_core.errors import ConfigError
from quant_core.strategies import build_strategy

if TYPE_CHECKING:
    from config.book_schema import BookConfig

__all__ = [
    "METRIC_NAMES",
    "Configuration",
    "Range",
    "Search",
    "SweepConfig",
    "WalkForward",
    "base_overrides",
    "check_choices",
    "configurations",
    "load_sweep",
    "set_params",
    "subject",
    "sweep_digest",
]


@dataclass(frozen=True, slots=True)
class Configuration:
    """One configuration: its key (canonical JSON of its params), params and overrides.

    ``book``: a sweep of a book's configuration, the book with its params; None otherwise.
    """

    key: str
    params: dict[str, Any]
    overrides: tuple[str, ...]
    book: BookConfig | None = None


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
    if "book" in body:  # read now: the spec keeps the book it runs (config.sweep_schema)
        body["book"] = read_book(path, body["book"])
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
    combos = _combos(spec, path, only)
    out: dict[str, Configuration] = {}  # by the params as the strategy validates them
    base = base_overrides(spec)
    fixed = dict(set_params(spec) if params is None else params)
    for swept in combos:
        key = json.dumps(swept, sort_keys=True, default=str)
        if only is not None and key != only:
            continue
        try:  # a book's configuration is the book with its params (validated once)
            book, valid = _validated_params(spec, fixed, swept)
        except ConfigError as exc:
            raise ConfigError(f"{path}: configuration {key}: {exc}") from None
        same = json.dumps({k: valid.get(k) for k in swept}, sort_keys=True, default=str)
        if same in out and out[same].key != key:  # 20 and 20.0: one backtest, not two trials
            raise same_values(path, spec, out[same].params, swept)
        if book is not None:  # the run config is the sweep's; the book carries the params
            out.setdefault(same, Configuration(key, swept, base, book))
            continue
        extra = tuple(f"strategy.params.{k}={_json(v)}" for k, v in swept.items())
        out.setdefault(same, Configuration(key, swept, (*base, *extra)))
    return list(out.values())


def check_choices(spec: SweepConfig, path: Path | str, params: Mapping[str, Any]) -> None:
    """Refuse an Optuna search whose list gives two values that validate alike (20 and 20.0).

    A grid's and a random search's are refused as :func:`configurations` expands them; an Optuna
    search's are proposed as the study goes, so each list's values are validated here, each over
    the other dimensions' low ends, built over ``params`` (the run config's strategy params).

    Raises
    ------
    ConfigError
        Two values of one list are one backtest (counted as two trials), or a value does not
        validate; the file and the dimension are named.
    """
    if spec.search is None or spec.search.method != "optuna":
        return
    space = spec.search.space
    low = {
        name: dim[0] if isinstance(dim, list) else (dim.whole or dim.real or (0, 0))[0]
        for name, dim in space.items()
    }
    fixed = dict(params)
    for name, dim in space.items():
        if not isinstance(dim, list):
            continue
        seen: dict[str, dict[str, Any]] = {}
        for value in dim:
            swept = {**low, name: value}
            try:
                valid = _validated_params(spec, fixed, swept)[1]
            except ConfigError as exc:
                raise ConfigError(f"{path}: sweep.search.space.{name}: {value!r}: {exc}") from None
            same = _json(valid.get(name))
            if same in seen:
                raise same_values(path, spec, seen[same], swept)
            seen[same] = swept


def _combos(spec: SweepConfig, path: Path | str, only: str | None) -> list[dict[str, Any]]:
    # The swept params of every configuration (of an Optuna search: the trial ``only`` names).
    if spec.grid is not None:
        names = list(spec.grid)
        count = int(np.prod([len(v) for v in spec.grid.values()], dtype=float))
        if count > MAX_CONFIGURATIONS:
            raise ConfigError(f"{path}: sweep.grid: {count:,} configurations (at most 1,000,000)")
        return [
            dict(zip(names, values, strict=True))
            for values in itertools.product(*spec.grid.values())
        ]
    if spec.search is not None and spec.search.method == "random":
        return _draws(spec.search)
    if spec.search is not None:  # optuna: proposed as the study goes (sweeps/optuna_search)
        trial = None if only is None else trial_params(spec.search, only)
        return [] if trial is None else [trial]  # one trial, rebuilt from its key (a rerun)
    raise ConfigError(f"{path}: sweep: give one of grid or search")  # the model's rule


def _validated_params(
    spec: SweepConfig, fixed: dict[str, Any], swept: dict[str, Any]
) -> tuple[BookConfig | None, dict[str, Any]]:
    # A book's configuration (the book with ``swept``; None for a strategy's) and the params as
    # the strategy or the book validates them, by swept name.
    if spec.book is not None:
        book = with_params(spec.book.config, swept)
        return book, validated(book, swept)
    strategy = build_strategy(subject(spec), {**fixed, **swept})
    valid: dict[str, Any] = strategy.params.model_dump(mode="json")
    return None, valid


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
    """Return the overrides every configuration shares: strategy (not a book's), ``set``, period."""
    out = [] if spec.strategy is None else [f"strategy.name={spec.strategy}"]
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
    if body.get("book"):  # the book itself decides; its file may move
        body["book"].pop("file", None)
    if body.get("search"):  # more trials of the same search: the same sweep, resumed
        body["search"].pop("trials", None)
        if list(body["search"]["space"]) != sorted(body["search"]["space"]):  # draws follow it
            body["search"]["order"] = list(body["search"]["space"])
    if spec.grid is not None:
        body["grid"] = {k: sorted(map(json.dumps, v)) for k, v in sorted(spec.grid.items())}
    text = json.dumps({"spec": body, "set": sorted(extra), "context": context}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
