"""The run form's costs and benchmark: the cost model's settings and what the run is measured by.

Pure, without Streamlit, like :mod:`~quant_core.cockpit.models.policy_form`, whose
:class:`~quant_core.cockpit.models.policy_form.ConfigField` each setting is: its widget kind and
help come from ``config/schema.py`` (``PerShareCosts``, ``BpsCosts``), its default from the
loaded config when its model is the config's, else from the schema. The form's values become
``--set`` overrides (``costs.model`` first: choosing another model drops the config's other
settings, never these), and the config loader judges them, naming the key.

The benchmark is ``equal_weight`` (buy and hold of the universe), none, or one symbol of the
chosen dataset (``backtest.benchmark``): bought at the open of the run's first session and held,
so :func:`benchmark_problem` checks the symbol has that open before anything runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, get_args

import pandas as pd

from config.schema import AppConfig, CostsConfig
from config.section import Section
from quant_core.cockpit.models.backtest_form import ParamSpec, field_spec
from quant_core.cockpit.models.policy_form import ConfigField, overrides, widget_key

MODEL = "costs.model"
MODEL_KEY = widget_key(MODEL)
# costs.model -> its schema class (per_share: PerShareCosts, bps: BpsCosts)
COST_MODELS: dict[str, type[Section]] = {
    cls.model_fields["model"].default: cls for cls in get_args(get_args(CostsConfig)[0])
}
COST_LABELS = {  # the form's labels; the help text is the schema's description
    "per_share_usd": "Commission per share ($)",
    "min_per_order_usd": "Minimum commission per order ($)",
    "max_frac_of_value": "Commission cap (fraction of the order's value)",
    "commission_bps": "Commission (bps of the traded value)",
    "slippage_bps": "Slippage (bps against each fill)",
}
EQUAL_WEIGHT = "equal_weight"
NO_BENCHMARK = "none"
BENCHMARK = "backtest.benchmark"


def model_field(cfg: AppConfig) -> ConfigField:
    """Return the cost model's select: the models of the schema, the config's chosen."""
    kinds = tuple(COST_MODELS)
    text = " ".join(f"{k}: {(COST_MODELS[k].__doc__ or '').strip()}" for k in kinds)
    spec = ParamSpec("model", "choice", cfg.costs.model, help=text, options=kinds)
    return ConfigField(MODEL, "Cost model", spec)


def cost_fields(cfg: AppConfig, model: str) -> tuple[ConfigField, ...]:
    """Return the settings of cost model ``model``, in the schema's order.

    Defaults: the config's values when ``model`` is the config's model, else the schema's.
    """
    cls = COST_MODELS[model]
    current = cfg.costs if cfg.costs.model == model else cls()
    fields = []
    for name, info in cls.model_fields.items():
        if name == "model":
            continue
        spec = replace(field_spec(name, info), default=getattr(current, name))
        fields.append(ConfigField(f"costs.{name}", COST_LABELS.get(name, spec.label), spec))
    return tuple(fields)


def cost_overrides(
    model: str, fields: Sequence[ConfigField], values: Mapping[str, Any]
) -> list[str]:
    """Return the ``--set`` overrides of the costs: the model first, then its settings."""
    return [f"{MODEL}={model}", *overrides(fields, values)]


def benchmark_options(symbols: Sequence[str]) -> list[str]:
    """Return the benchmark choices: equal weight, none, then the dataset's symbols, sorted."""
    return [EQUAL_WEIGHT, NO_BENCHMARK, *sorted(set(symbols))]


def benchmark_default(cfg: AppConfig, symbols: Sequence[str]) -> str:
    """Return the choice the form starts with: the config's benchmark when the dataset has it.

    A symbol the dataset lacks falls back to ``equal_weight`` (:func:`benchmark_note` says so).
    """
    chosen = cfg.backtest.benchmark
    if chosen is None:
        return NO_BENCHMARK
    return chosen if chosen == EQUAL_WEIGHT or chosen in set(symbols) else EQUAL_WEIGHT


def benchmark_note(cfg: AppConfig, dataset: str, symbols: Sequence[str]) -> str:
    """Return a line when the config's benchmark symbol is not in ``dataset``, else ''."""
    chosen = cfg.backtest.benchmark
    if chosen in (None, EQUAL_WEIGHT) or chosen in set(symbols):
        return ""
    return f"The config's benchmark {chosen} is not in {dataset}: equal_weight instead."


def benchmark_label(choice: str, names: Mapping[str, str]) -> str:
    """Return how a choice reads in the select: ``AAPL · Apple Inc.``, or what a word means."""
    if choice == EQUAL_WEIGHT:
        return "equal_weight (buy and hold of every symbol)"
    if choice == NO_BENCHMARK:
        return "none"
    name = names.get(choice)
    return f"{choice} · {name}" if name else choice


def benchmark_symbol(choice: str) -> str | None:
    """Return the symbol a choice names, or None for ``equal_weight`` and none."""
    return None if choice in (EQUAL_WEIGHT, NO_BENCHMARK) else choice


def benchmark_override(choice: str) -> str:
    """Return the ``--set`` override of a choice (none is ``null``: no benchmark)."""
    return f"{BENCHMARK}=null" if choice == NO_BENCHMARK else f"{BENCHMARK}={choice}"


def benchmark_problem(
    symbol: str, dataset: str, opens: pd.Series | None, first: pd.Timestamp
) -> str:
    """Return why ``symbol`` cannot be the run's benchmark, or '' when it can.

    Parameters
    ----------
    symbol
        The chosen symbol.
    dataset
        The run's dataset.
    opens
        The symbol's opens by session date (None or empty: the dataset has no such symbol).
    first
        The run's first session: the benchmark buys at its open.
    """
    if opens is None or opens.dropna().empty:
        return f"{BENCHMARK}: no symbol {symbol!r} in {dataset}"
    value = opens.get(first)
    if value is not None and math.isfinite(float(value)) and float(value) > 0:
        return ""
    listed = opens.dropna()
    since = f" (its first bar: {listed.index[0]:%Y-%m-%d})" if len(listed) else ""
    return (
        f"{BENCHMARK}={symbol}: no open on {first:%Y-%m-%d}, the run's first session{since}; "
        f"pick a symbol traded then, {EQUAL_WEIGHT} or {NO_BENCHMARK}"
    )
