"""The run form's costs and benchmark: the cost model, its settings, and the benchmark select.

The choices and overrides come from :mod:`quant_core.cockpit.models.costs_form`; this module
reads the dataset's symbols (cached per dataset version) and renders the widgets. The cost
model's select sits outside the form (choosing one reruns the script and shows its settings);
its settings and the benchmark sit inside.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from config.schema import AppConfig
from quant_core.cockpit.models import costs_form, policy_form
from quant_core.cockpit.views.form_widgets import config_widget
from quant_core.data.warehouse import Warehouse

BENCHMARK_HELP = (
    "What the run is measured against, bought at the open of its first rebalance and held, "
    "without costs: every symbol in equal dollars, none, or one symbol of the dataset (type to "
    "search). backtest.benchmark"
)


def benchmark_key(dataset: str) -> str:
    """Return the session-state key of the benchmark select for ``dataset``."""
    return f"bt_benchmark__{dataset}"


@st.cache_data(max_entries=16, show_spinner=False)
def _symbols(root: str, dataset: str, version: int) -> tuple[list[str], dict[str, str]]:
    # The symbols with bars (sorted) and their names from the reference data, where known.
    warehouse = Warehouse(root)
    table = warehouse.store.query(dataset, "symbol", None, None, None, "GROUP BY symbol")
    symbols = sorted(str(s) for s in table.column("symbol").to_pylist())
    reference = warehouse.symbols(dataset)
    names: dict[str, str] = {}
    if "name" in reference:
        known = reference.dropna(subset=["name"])
        names = dict(zip(known["symbol"].astype(str), known["name"].astype(str), strict=True))
    return symbols, names


@st.cache_data(max_entries=32, show_spinner=False)
def _opens(root: str, dataset: str, version: int, symbol: str) -> pd.Series:
    # One symbol's opens by session date (empty when the dataset has no such symbol).
    wide = Warehouse(root).panel(dataset, "open", [symbol])
    return wide[symbol] if symbol in wide else pd.Series(dtype=float)


def dataset_symbols(warehouse: Warehouse, dataset: str) -> tuple[list[str], dict[str, str]]:
    """Return the dataset's symbols (sorted) and their names."""
    return _symbols(warehouse.location, dataset, warehouse.version(dataset))


def cost_model(cfg: AppConfig) -> None:
    """Render the cost model's select (outside the form) and where its settings are."""
    config_widget(costs_form.model_field(cfg))
    st.caption("Its settings are in the form below, under Costs and benchmark.")


def _fields(cfg: AppConfig) -> tuple[policy_form.ConfigField, ...]:
    model = st.session_state.get(costs_form.MODEL_KEY, cfg.costs.model)
    return costs_form.cost_fields(cfg, model)


def costs_and_benchmark(cfg: AppConfig, warehouse: Warehouse, dataset: str) -> None:
    """Render the cost model's settings and the benchmark select (inside the form)."""
    st.markdown("**Costs and benchmark**")
    for field in _fields(cfg):
        config_widget(field)
    symbols, names = dataset_symbols(warehouse, dataset)
    options = costs_form.benchmark_options(symbols)
    default = costs_form.benchmark_default(cfg, symbols)
    st.selectbox(
        "Benchmark",
        options,
        index=options.index(default),
        key=benchmark_key(dataset),
        format_func=lambda choice: costs_form.benchmark_label(choice, names),
        help=BENCHMARK_HELP,
    )
    if note := costs_form.benchmark_note(cfg, dataset, symbols):
        st.caption(note)


def overrides(cfg: AppConfig, dataset: str) -> list[str]:
    """Return the ``--set`` overrides of the costs and the benchmark the form holds."""
    state = st.session_state
    model = state.get(costs_form.MODEL_KEY, cfg.costs.model)
    fields = costs_form.cost_fields(cfg, model)
    values = {f.key: state[f.key] for f in fields if f.key in state}
    choice = state.get(benchmark_key(dataset), costs_form.EQUAL_WEIGHT)
    return [
        *costs_form.cost_overrides(model, fields, values),
        costs_form.benchmark_override(choice),
    ]


def benchmark_problems(warehouse: Warehouse, dataset: str, first: pd.Timestamp | None) -> list[str]:
    """Return why the chosen benchmark symbol cannot serve a run starting at ``first``."""
    symbol = costs_form.benchmark_symbol(
        st.session_state.get(benchmark_key(dataset), costs_form.EQUAL_WEIGHT)
    )
    if symbol is None or first is None:
        return []
    opens = _opens(warehouse.location, dataset, warehouse.version(dataset), symbol)
    problem = costs_form.benchmark_problem(symbol, dataset, opens, first)
    return [problem] if problem else []
