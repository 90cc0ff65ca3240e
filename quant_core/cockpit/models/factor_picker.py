"""The run form's factor picker: a strategy's ``factors`` mapping as picks and weights, not JSON.

Pure, without Streamlit, like :mod:`~quant_core.cockpit.models.backtest_form`. The view
(``views/factor_picker_view.py``) offers :func:`factor_options` in a multiselect and one weight
per pick; :func:`picked_factors` turns them back into the ``{name: weight}`` mapping the
strategy takes (``multi_factor``: the composite is ``sum(weight x cross-sectional z-score)``).

What is offered for a dataset:

* the factors stored for it in the warehouse (``run_factor_computation.py`` wrote them);
* the stored models fitted on it and accepted, as ``model_<model_id>`` (the composite);
* the default factors of ``run_factor_computation.py`` and the strategy's default ones, marked
  when they are not stored for the dataset, with the command that computes them, or with the
  history they lack (a factor whose window is as long as the dataset leaves no session to
  trade).

The defaults are fitted to the dataset (:func:`default_weights`): the strategy's default
factors that are stored for it, else those whose window its history allows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quant_core.cockpit.models.backtest_form import ParamSpec
from quant_core.errors import QuantError
from quant_core.factors.base import DEFAULT_FACTORS, MODEL_PREFIX, make_factor
from quant_core.research.model import ACCEPTED

FIELD = "factors"  # the params field the picker stands for
COMPUTE = "python run_factor_computation.py --dataset {dataset} --factors {name}"
DEFAULT_WEIGHT = 1.0  # a pick the strategy's defaults do not weigh


@dataclass(frozen=True, slots=True)
class FactorOption:
    """One factor the picker offers for a dataset.

    Attributes
    ----------
    name
        The factor's name as the strategy takes it (``volatility_20``, ``model_<id>``).
    stored
        Whether its values are stored for the dataset in the warehouse.
    window
        Sessions of history one value needs (the row itself included); None for a stored
        model's composite (its factors' windows are known once it is loaded).
    model
        Whether it is a stored model's composite.
    note
        Empty for a factor ready to use; else why it is marked, in words.
    """

    name: str
    stored: bool
    window: int | None
    model: bool = False
    note: str = ""

    @property
    def usable(self) -> bool:
        """Return whether the dataset has the history it needs (no note on its history)."""
        return not self.note.startswith("needs ")


def is_factor_field(spec: ParamSpec) -> bool:
    """Return whether a params field is a factor mapping the picker stands for.

    The field is named ``factors`` and its default is a mapping of names to numbers (the
    form shows it as JSON otherwise).
    """
    if spec.name != FIELD or spec.kind != "json":
        return False
    default = json.loads(str(spec.default))
    return isinstance(default, dict) and all(
        isinstance(w, int | float) and not isinstance(w, bool) for w in default.values()
    )


def factor_spec(specs: Sequence[ParamSpec]) -> ParamSpec | None:
    """Return the field of ``specs`` the picker stands for, or None."""
    return next((s for s in specs if is_factor_field(s)), None)


def strategy_defaults(spec: ParamSpec) -> dict[str, float]:
    """Return the params model's default mapping of a factor field (name -> weight)."""
    return {str(k): float(v) for k, v in json.loads(str(spec.default)).items()}


def _window(name: str) -> int | None:
    try:
        return make_factor(name).window
    except QuantError:  # not a computed kind (a model not loaded in this process)
        return None


def factor_options(
    dataset: str,
    stored: Iterable[str],
    models: Sequence[Mapping[str, Any]],
    sessions: int,
    defaults: Iterable[str] = (),
) -> tuple[FactorOption, ...]:
    """Return the factors offered for ``dataset``: stored ones first, then models, then marked.

    Parameters
    ----------
    dataset
        The dataset chosen in the form.
    stored
        The names of the factors stored for it (``FactorStore.names``).
    models
        The stored models' listing rows (``ModelStore.list_models``: ``model_id``, ``status``,
        ``dataset``): those fitted on ``dataset`` and accepted are offered.
    sessions
        How many sessions the dataset holds: a factor needing at least as many rows of
        history leaves no session to trade.
    defaults
        The strategy's default factors, offered (marked if need be) even when not stored.

    Returns
    -------
    tuple of FactorOption
        Each name once: the stored computed factors (sorted), the accepted models of the
        dataset (newest first, as listed), then the default factors not stored (in the order
        of ``run_factor_computation.py``'s defaults, then the strategy's).
    """
    accepted = [
        f"{MODEL_PREFIX}{row['model_id']}"
        for row in models
        if row.get("status") == ACCEPTED and row.get("dataset") == dataset
    ]
    on_file = set(stored)
    known_models = {f"{MODEL_PREFIX}{row['model_id']}" for row in models}
    out: dict[str, FactorOption] = {}
    for name in sorted(on_file):
        if name.startswith(MODEL_PREFIX):
            continue  # a model's composite: offered below only when its model is accepted
        out[name] = _computed(name, dataset, True, sessions)
    for name in accepted:
        out[name] = FactorOption(name, name in on_file, None, model=True)
    for name in (*DEFAULT_FACTORS, *defaults):
        if name in out or (name.startswith(MODEL_PREFIX) and name not in known_models):
            continue
        out[name] = _computed(name, dataset, False, sessions)
    return tuple(out.values())


def _computed(name: str, dataset: str, stored: bool, sessions: int) -> FactorOption:
    window = _window(name)
    if window is not None and window >= sessions:
        note = f"needs {window} sessions of history; {dataset} has {sessions}"
        return FactorOption(name, stored, window, note=note)
    if stored:
        return FactorOption(name, stored, window)
    note = f"not computed for {dataset}: {COMPUTE.format(dataset=dataset, name=name)}"
    return FactorOption(name, stored, window, note=note)


def option_label(option: FactorOption) -> str:
    """Return how the picker shows an option: its name, and a mark when it has a note."""
    if option.model:
        return f"{option.name} (stored model)"
    if not option.usable:
        return f"{option.name} (too long for the data)"
    return option.name if option.stored else f"{option.name} (not computed)"


def default_weights(
    defaults: Mapping[str, float], options: Sequence[FactorOption]
) -> dict[str, float]:
    """Return the picks the form starts with for a dataset: the defaults fitted to it.

    The strategy's default factors that are stored for the dataset, with their weights; when
    none is, those whose window the dataset's history allows; when none does either, nothing
    (the form then asks for a pick).
    """
    by_name = {o.name: o for o in options}
    offered = [(n, w) for n, w in defaults.items() if n in by_name]
    stored = {n: w for n, w in offered if by_name[n].stored and by_name[n].usable}
    if stored:
        return stored
    return {n: w for n, w in offered if by_name[n].usable}


def weight_default(name: str, defaults: Mapping[str, float]) -> float:
    """Return the weight a new pick starts with: the strategy's default, else 1."""
    return float(defaults.get(name, DEFAULT_WEIGHT))


def picked_factors(
    picks: Sequence[str], weights: Mapping[str, float | None]
) -> tuple[dict[str, float], list[str]]:
    """Return the strategy's mapping from the picks and their weights, and what is wrong.

    Parameters
    ----------
    picks
        The picked factor names, in the order picked.
    weights
        Name -> weight as the number inputs gave it (None: left blank).

    Returns
    -------
    tuple
        ``({name: weight}, [])``, or the mapping so far and one error per problem: no pick,
        a weight left blank or not finite. A weight of 0 is allowed (the factor then counts
        only in which symbols have every factor).
    """
    if not picks:
        return {}, [f"{FIELD}: pick at least one factor (or type a mapping as JSON)"]
    mapping: dict[str, float] = {}
    errors = []
    for name in picks:
        weight = weights.get(name)
        if weight is None or not math.isfinite(float(weight)):
            errors.append(f"{FIELD}: the weight of {name} is {weight!r}; enter a number")
            continue
        mapping[name] = float(weight)
    return mapping, errors


def picks_notes(picks: Sequence[str], options: Sequence[FactorOption]) -> list[str]:
    """Return one line per picked factor that is marked: why, and how to compute it."""
    by_name = {o.name: o for o in options}
    return [f"{n}: {by_name[n].note}" for n in picks if n in by_name and by_name[n].note]
