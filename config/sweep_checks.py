"""What a sweep file is checked for once its shape validates (:func:`config.sweep.load_sweep`).

- the strategy and every swept parameter exist (an unknown one is named with the valid ones);
  a book's are ``<sleeve>.<param>`` (:mod:`config.sweep_book`: an unknown sleeve is named with
  the book's sleeves);
- ``set`` cannot decide what the sweep decides: the strategy (``sweep.strategy``) and the period
  (``sweep.period``). Its keys are read as the config loader reads them (each part stripped and
  lower-cased, a mapping merged key by key: :mod:`config.keys`), so ``Strategy.Name`` or
  ``{backtest: {end: ...}}`` are what they are; a ``strategy.params`` key names a parameter of
  the strategy. A sweep of a book sets no ``strategy`` key at all: each sleeve's is the book's;
- a boolean is no value of a parameter that is not one (YAML's ``true`` would pass as 1);
- a period's ``start`` and ``end`` are dates, not numbers (``start: 0`` would validate as
  1970-01-01, ``end: 1282262400`` as 2010-08-20: seconds since 1970), checked on the file as read;
- the objective measures the configuration's strategy: ``start_equity`` (the initial cash, the
  same for every one: the choice would be the first by key) and the benchmark's figures (buy and
  hold, whatever the parameters) do not;
- an objective measured against the benchmark (``excess_return``, ``excess_cagr``) needs one:
  with no ``backtest.benchmark`` no configuration's run has it (:func:`check_objective_made`);
- a search's ranges fit their parameters: a whole-number parameter needs ``int: [lo, hi]``, and
  a range is for numbers only. The strategy is built at the corners of the space later, over the
  run config's own params (:func:`quant_core.sweeps.checks.check_study`): ``set``, ``base.yaml``
  or a ``QC__`` variable may give a parameter the space's values need (``sma_cross``'s ``slow``).

:func:`same_values` names two values of a parameter that are one (``20`` and ``20.0``):
:func:`config.sweep.configurations` refuses them rather than run the same backtest twice and
count it as two trials.
"""

from __future__ import annotations

import json
import math
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from pydantic.fields import FieldInfo

from config.keys import KeyPath, override_paths, touches
from config.sweep_book import BOOK_DECIDED, param_fields, unknown_param
from quant_core.errors import ConfigError
from quant_core.strategies import STRATEGIES

if TYPE_CHECKING:
    from config.sweep_schema import SweepConfig

__all__ = [
    "DECIDED",
    "NOT_OBJECTIVES",
    "WITH_BENCHMARK",
    "check_objective_made",
    "check_spec",
    "check_top",
    "decided",
    "same_values",
]

# What the sweep decides itself, and the field of the sweep file that decides it.
DECIDED: dict[KeyPath, str] = {
    ("strategy", "name"): "sweep.strategy",
    ("backtest", "start"): "sweep.period",
    ("backtest", "end"): "sweep.period",
}


# Metrics that do not measure the strategy: an objective of them chooses nothing of its own.
NOT_OBJECTIVES = {
    "start_equity": "the initial cash, the same for every configuration",
    "benchmark_total_return": "the benchmark's buy and hold, not the strategy",
    "benchmark_cagr": "the benchmark's buy and hold, not the strategy",
}


# Metrics a run has only beside a benchmark (backtest.metrics.summary); every other metric is
# in each run's (an event count left out is 0: sweeps.catalogue.objective_of).
WITH_BENCHMARK = ("excess_return", "excess_cagr")


def check_objective_made(path: Path | str, spec: SweepConfig, benchmark: str | None) -> None:
    """Refuse an objective no configuration's run would have: an excess with no benchmark."""
    if spec.objective in WITH_BENCHMARK and not benchmark:
        raise ConfigError(
            f"{path}: sweep.objective: {spec.objective} is measured against the benchmark, and "
            "the run config sets none (backtest.benchmark), so no configuration would have it; "
            "set one (sweep.set or --set backtest.benchmark=<symbol>) or choose another objective"
        )


def _fixed(spec: SweepConfig) -> dict[KeyPath, str]:
    # A book's sweep decides the whole strategy section (its sleeves name theirs), not its name.
    if spec.book is None:
        return DECIDED
    return {k: v for k, v in DECIDED.items() if k[0] != "strategy"} | BOOK_DECIDED


def decided(spec: SweepConfig) -> dict[KeyPath, str]:
    """Return what the sweep decides itself (key path -> the field of the file that does)."""
    if spec.book is not None:  # its params are the book's, no key of the run config
        return _fixed(spec)
    where = "sweep.grid" if spec.grid is not None else "sweep.search.space"
    names = spec.grid or (spec.search.space if spec.search else {})
    return DECIDED | {("strategy", "params", name): f"{where}.{name}" for name in names}


def _fields(path: Path | str, spec: SweepConfig) -> dict[str, FieldInfo]:
    # Every parameter the sweep may vary, by its name in the file, and its field.
    if spec.book is not None:
        return param_fields(spec.book.config)
    if spec.strategy not in STRATEGIES.items:
        known = ", ".join(sorted(STRATEGIES.items))
        raise ConfigError(f"{path}: sweep.strategy: unknown strategy {spec.strategy!r} ({known})")
    return dict(STRATEGIES.items[str(spec.strategy)].Params.model_fields)


def _owner(spec: SweepConfig, name: str) -> str:
    # Whose parameter ``name`` is: "momentum's lookback", "mom.lookback of book core".
    if spec.book is None:
        return f"{spec.strategy}'s {name}"
    return f"{name} of book {spec.book.config.name}"


def check_top(path: Path | str, raw: dict[Any, Any]) -> None:
    """Refuse a top-level key other than ``sweep``, and a period's bound given as a number.

    A ``period:`` beside ``sweep:`` would be ignored; a number for ``sweep.period.start`` or
    ``end`` (or text of one) would validate as seconds since 1970, an unrelated date.
    """
    unknown = [str(key) for key in raw if key != "sweep"]
    if unknown:
        raise ConfigError(
            f"{path}: unknown top-level key(s) {', '.join(unknown)}: a sweep file has `sweep:` "
            "only (a field of the sweep goes under it)"
        )
    period = raw["sweep"].get("period") if isinstance(raw.get("sweep"), dict) else None
    for name, value in period.items() if isinstance(period, dict) else ():
        if name in ("start", "end") and _number(value):
            raise ConfigError(
                f"{path}: sweep.period.{name}: {_text(value)} is a number, not a date (it would "
                "be read as seconds since 1970): give it as YYYY-MM-DD"
            )


def _number(value: Any) -> bool:
    # A bool is refused as no date by the model itself; text of a number is read as one.
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def check_spec(path: Path | str, spec: SweepConfig) -> None:
    """Refuse a sweep file whose names, ``set`` or values are wrong (module docstring)."""
    fields = _fields(path, spec)
    where = "grid" if spec.grid is not None else "search.space"
    swept = spec.grid or (spec.search.space if spec.search else {})
    for name in swept:
        _known(path, spec, fields, f"sweep.{where}.{name}", name)
    _check_set(path, spec, fields)
    if spec.objective in NOT_OBJECTIVES:
        raise ConfigError(
            f"{path}: sweep.objective: {spec.objective} is {NOT_OBJECTIVES[spec.objective]}: it "
            "cannot choose a configuration; choose a metric of the strategy's own (sharpe, "
            "total_return, cagr, ...)"
        )
    for name, dim in swept.items():
        if isinstance(dim, list) and not dim:  # a grid's: refused as the file was read
            raise ConfigError(f"{path}: sweep.{where}.{name}: an empty list: give its values")
        if isinstance(dim, list):
            _no_bool(path, spec, fields[name], f"sweep.{where}.{name}", name, dim)
        if spec.grid is not None:
            _once(path, f"sweep.grid.{name}", name, dim)
    _check_ranges(path, spec, fields)


def same_values(
    path: Path | str, spec: SweepConfig, first: dict[str, Any], second: dict[str, Any]
) -> ConfigError:
    """Return the error for two configurations whose parameters validate alike."""
    where = "grid" if spec.grid is not None else "search.space"
    names = [n for n in first if _text(first[n]) != _text(second.get(n))] or list(first)
    name = names[0]
    return ConfigError(
        f"{path}: sweep.{where}.{name}: {first[name]!r} and {second[name]!r} are the same "
        f"{_owner(spec, name)} (the same backtest twice, counted as two trials): "
        "give each value once"
    )


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _known(
    path: Path | str, spec: SweepConfig, fields: dict[str, FieldInfo], where: str, name: str
) -> None:
    if name in fields:
        return
    if spec.book is not None:
        raise ConfigError(f"{path}: {where}: {unknown_param(spec.book.config, name)}")
    raise ConfigError(
        f"{path}: {where}: {spec.strategy} has no parameter {name!r}; "
        f"its parameters: {', '.join(fields)}"
    )


def _check_set(path: Path | str, spec: SweepConfig, fields: dict[str, FieldInfo]) -> None:
    owners = decided(spec)
    for key, value in spec.set.items():
        where = f"sweep.set.{key}"
        for keys in override_paths(str(key), value, f"{path}: {where}"):
            dotted = ".".join(keys)
            for fixed, owner in _fixed(spec).items():
                if touches(keys, fixed):
                    raise ConfigError(
                        f"{path}: {where}: it sets {dotted}, which the sweep decides itself "
                        f"({owner}); it cannot be set"
                    )
            if keys[:2] == ("strategy", "params") and len(keys) > 2:
                _known(path, spec, fields, where, keys[2])
                if (varied := owners.get(keys[:3])) is not None:  # a mapping would merge in
                    raise ConfigError(
                        f"{path}: {where}: it sets {dotted}, which the sweep varies "
                        f"({varied}); it cannot be set"
                    )


def _kinds(field: FieldInfo) -> set[Any]:
    annotation = field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        return {a for a in get_args(annotation) if a is not type(None)}
    return {get_origin(annotation) or annotation}


def _no_bool(
    path: Path | str,
    spec: SweepConfig,
    field: FieldInfo,
    where: str,
    name: str,
    values: list[Any],
) -> None:
    kinds = _kinds(field)
    for value in values:
        if isinstance(value, bool) and bool not in kinds:
            raise ConfigError(
                f"{path}: {where}: {_text(value)} is a boolean, and {_owner(spec, name)} "
                f"is not one ({_shown(field)}); give its values as numbers or text"
            )
        # "20" would run as 20 but be keyed, stored and shown as text (sorted "126" < "20").
        if isinstance(value, str) and kinds <= {int, float}:
            raise ConfigError(
                f"{path}: {where}: {_text(value)} is text, and {_owner(spec, name)} is a "
                f"number ({_shown(field)}); {_as_number(value)}"
            )


def _as_number(text: str) -> str:
    # How to write a value YAML read as text: quoted ("20"), or an exponent YAML 1.1 takes for
    # text unquoted (1e-1: its floats need a dot and a signed exponent, 1.0e-1).
    mantissa, e, exponent = text.strip().lower().partition("e")
    try:
        number, power = float(text), int(exponent)
        float(mantissa)
    except ValueError:
        return "give its values unquoted"
    if not e or not math.isfinite(number):
        return "give its values unquoted"
    dotted = mantissa if "." in mantissa else f"{mantissa}.0"
    return (
        f"YAML reads {text.strip()} as text, not a number (its exponent form needs a dot and a "
        f"signed exponent): write {number!r} or {dotted}e{power:+d}"
    )


def _once(path: Path | str, where: str, name: str, values: Any) -> None:
    # A grid value given twice is a slip (a grid runs each combination once): said, not dropped.
    seen: set[str] = set()
    for value in values:
        if (text := _text(value)) in seen:
            raise ConfigError(f"{path}: {where}: {text} is given twice: give each {name} once")
        seen.add(text)


def _shown(field: FieldInfo) -> str:
    return " | ".join(getattr(k, "__name__", str(k)) for k in _kinds(field))


def _check_ranges(path: Path | str, spec: SweepConfig, fields: dict[str, FieldInfo]) -> None:
    if spec.search is None:
        return
    for name, dim in spec.search.space.items():
        if isinstance(dim, list):
            continue
        where = f"sweep.search.space.{name}"
        kinds = _kinds(fields[name])
        if bool in kinds or not kinds & {int, float}:
            raise ConfigError(
                f"{path}: {where}: {_owner(spec, name)} is no number ({_shown(fields[name])})"
                "; a range is for numbers: give a list of its values"
            )
        if dim.real is not None and float not in kinds:
            lo, hi = dim.real
            raise ConfigError(
                f"{path}: {where}: float: [{lo}, {hi}] draws fractions, and "
                f"{_owner(spec, name)} takes whole numbers: give int: [lo, hi]"
            )
