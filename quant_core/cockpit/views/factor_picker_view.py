"""The run form's factor picker: the factors of the chosen dataset, picked, each with a weight.

The logic is :mod:`quant_core.cockpit.models.factor_picker`; this module reads what the
warehouse stores for the dataset and the stored models, and renders the widgets. The multiselect
sits outside the form (a pick reruns the script and shows its weight); the weights and an
optional JSON mapping (for a factor the list does not offer) sit inside, with the parameters.
"""

from __future__ import annotations

import json

import streamlit as st

from config.schema import AppConfig
from quant_core.cockpit.models import backtest_form as form
from quant_core.cockpit.models import factor_picker as picker
from quant_core.data.warehouse import Warehouse
from quant_core.research.attach import MODELS_DIR
from quant_core.research.store import ModelStore

PICKS_HELP = (
    "The factors stored for this dataset (run_factor_computation.py), the stored models fitted "
    "on it and accepted (model_<id>), and the default factors, marked when not computed for it. "
    "The composite is the weighted sum of each factor's cross-sectional z-score at T-1."
)
JSON_HELP = (
    "Blank: the picks above. A mapping of factor name to weight here replaces them, for a "
    "factor the list does not offer: any kind with its parameters (momentum_20), or a stored "
    "model fitted on another dataset (model_<id>)."
)


def picks_key(strategy: str, dataset: str) -> str:
    """Return the session-state key of the multiselect (one per strategy and dataset)."""
    return f"bt_factors__{strategy}__{dataset}"


def weight_key(strategy: str, dataset: str, name: str) -> str:
    """Return the session-state key of one picked factor's weight."""
    return f"bt_factor_weight__{strategy}__{dataset}__{name}"


def options(
    cfg: AppConfig, warehouse: Warehouse, dataset: str, sessions: int, spec: form.ParamSpec
) -> tuple[picker.FactorOption, ...]:
    """Return the factors offered for ``dataset`` (what is stored, the accepted models)."""
    stored = warehouse.factor_store.names(dataset)
    listing = ModelStore(cfg.paths.data_dir / MODELS_DIR).list_models()
    models = [{str(k): v for k, v in row.items()} for row in listing.to_dict("records")]
    defaults = picker.strategy_defaults(spec)
    return picker.factor_options(dataset, stored, models, sessions, defaults)


def factor_picker(
    cfg: AppConfig,
    warehouse: Warehouse,
    strategy: str,
    dataset: str,
    sessions: int,
    spec: form.ParamSpec,
) -> None:
    """Render the multiselect of factors (outside the form) and the notes on marked picks."""
    offered = options(cfg, warehouse, dataset, sessions, spec)
    by_name = {o.name: o for o in offered}
    start = picker.default_weights(picker.strategy_defaults(spec), offered)
    key = picks_key(strategy, dataset)
    st.multiselect(
        "Factors",
        list(by_name),
        default=list(start),
        key=key,
        format_func=lambda name: picker.option_label(by_name[name]),
        help=PICKS_HELP,
        placeholder="Pick one or more factors",
    )
    for note in picker.picks_notes(st.session_state.get(key, []), offered):
        st.warning(note)
    missing = [o.name for o in offered if o.note and o.usable]
    if missing:
        st.caption(
            f"Not computed for {dataset}: {', '.join(missing)}. "
            f"`python run_factor_computation.py --dataset {dataset}` computes the defaults."
        )


def factor_weights(strategy: str, dataset: str, spec: form.ParamSpec) -> None:
    """Render one weight per picked factor and the optional JSON mapping (inside the form)."""
    picks = st.session_state.get(picks_key(strategy, dataset), [])
    defaults = picker.strategy_defaults(spec)
    if picks:
        st.caption("Weights of the picked factors (negative: a lower value scores higher)")
    for name in picks:
        st.number_input(
            f"Weight: {name}",
            value=picker.weight_default(name, defaults),
            step=0.1,
            format="%.3f",
            key=weight_key(strategy, dataset, name),
            help=spec.help or None,
        )
    with st.expander("Factors as JSON (optional)"):
        st.text_input(
            "Factors as JSON",
            value="",
            key=form.param_key(strategy, spec.name),
            placeholder='{"momentum_20": 1.0, "reversal_5": -0.5}',
            help=JSON_HELP,
        )


def factors_value(strategy: str, dataset: str, spec: form.ParamSpec) -> tuple[str, list[str]]:
    """Return the factors field as the form's JSON text, and the picker's errors.

    A mapping typed as JSON wins; otherwise the picks with their weights (a pick whose weight
    widget is not drawn yet takes its default weight).
    """
    state = st.session_state
    text = str(state.get(form.param_key(strategy, spec.name)) or "")
    if text.strip():
        return text, []
    picks = list(state.get(picks_key(strategy, dataset), []))
    defaults = picker.strategy_defaults(spec)
    weights = {}
    for name in picks:
        key = weight_key(strategy, dataset, name)
        weights[name] = state[key] if key in state else picker.weight_default(name, defaults)
    mapping, errors = picker.picked_factors(picks, weights)
    return json.dumps(mapping), errors
