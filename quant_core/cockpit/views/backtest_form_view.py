"""The Strategy Explorer's run form: the sidebar's fields, the checks on submit, the run.

The form's fields come from :mod:`quant_core.cockpit.models.backtest_form` (the strategy's
params model, the period), :mod:`quant_core.cockpit.models.policy_form` (construction,
constraints, vol target, stops and halts, described by the config schema),
:mod:`~quant_core.cockpit.views.form_costs` (the cost model, the benchmark) and
:mod:`~quant_core.cockpit.views.factor_picker_view` (a strategy's factors, picked with weights).
The Run button only validates and queues the run (an ``on_click`` callback): a bad value or a
combination that cannot run is named and nothing runs; otherwise :func:`backtest_form` runs it
once, with a progress bar, stores it and opens it.

What a submit ends with (the refusal, the failure, the stored run) is shown once, in the script
run that follows the click. A refusal or a failure stops the page under its message: no run
stored before is left below it as if it were this one's result.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re

import numpy as np
import pandas as pd
import streamlit as st

from config import load_config
from config.schema import AppConfig
from quant_core.backtest.run import run_backtest
from quant_core.cockpit.models import backtest_form as form
from quant_core.cockpit.models import factor_picker, policy_form, run_catalog
from quant_core.cockpit.views import factor_picker_view, form_costs
from quant_core.cockpit.views.form_run import nothing_stored, run_with_progress
from quant_core.cockpit.views.form_widgets import config_widget
from quant_core.data.warehouse import Warehouse
from quant_core.errors import QuantError
from quant_core.factors.base import MODEL_PREFIX
from quant_core.research.model_factors import load_model_factors
from quant_core.research.store import MODEL_ID
from quant_core.strategies import STRATEGIES


@st.cache_data(max_entries=16, show_spinner=False)
def _sessions(root: str, dataset: str, version: int) -> np.ndarray:
    # The dates of the bars: the sessions a backtest of the dataset walks.
    return Warehouse(root).bars_per_session(dataset).index.to_numpy()


def _dataset_sessions(warehouse: Warehouse, dataset: str) -> np.ndarray:
    return _sessions(warehouse.location, dataset, warehouse.version(dataset))


def _span(warehouse: Warehouse, dataset: str) -> tuple[dt.date, dt.date, int]:
    sessions = _dataset_sessions(warehouse, dataset)
    first, last = pd.Timestamp(sessions[0]).date(), pd.Timestamp(sessions[-1]).date()
    return first, last, len(sessions)


def _range_keys(dataset: str) -> tuple[str, str]:
    return f"bt_start__{dataset}", f"bt_end__{dataset}"


MODEL_IDS = re.compile(MODEL_PREFIX + r"(" + MODEL_ID.pattern.strip("^$") + r")")


def _submit(cfg: AppConfig, warehouse: Warehouse) -> None:
    """Validate the form and queue the run; an invalid form or combination queues nothing."""
    state = st.session_state
    strategy, dataset = state["bt_strategy"], state["bt_dataset"]
    model = STRATEGIES.get(strategy).Params
    specs = form.param_specs(model)
    raw = {s.name: state.get(form.param_key(strategy, s.name), s.default) for s in specs}
    state.pop("bt_pending", None)
    state.pop("bt_notes", None)
    if (factors := factor_picker.factor_spec(specs)) is not None:
        raw[factors.name], problems = factor_picker_view.factors_value(strategy, dataset, factors)
        if problems:
            state["bt_errors"] = [f"{strategy} parameter {p}" for p in problems]
            return
    start_key, end_key = _range_keys(dataset)
    start, end = state.get(start_key), state.get(end_key)
    # A stored model named as a factor (model_<id>, inside the raw JSON of a field too) is
    # loaded first, so the parameters' own check knows it; a refusal is the form's error.
    named = [
        f"{MODEL_PREFIX}{found}"
        for value in raw.values()
        for found in MODEL_IDS.findall(str(value))
    ]
    try:
        load_model_factors({"factors": named}, cfg.paths.data_dir)
    except QuantError as exc:
        state["bt_errors"] = [str(exc)]
        return
    params, errors = form.check_form(strategy, model, specs, raw, start, end)
    state["bt_errors"] = errors
    if params is None:
        return
    overrides = form.backtest_overrides(
        strategy,
        params,
        dataset=dataset,
        start=start,
        end=end,
        rebalance=form.rebalance_rule(state["bt_rebalance_mode"], state["bt_rebalance_n"]),
        cash_buffer=float(state["bt_cash_buffer"]) / 100,
        initial_cash=float(state["bt_initial_cash"]),
    )
    fields = policy_form.sections(cfg, state[policy_form.METHOD_KEY]).fields
    overrides += policy_form.overrides(
        fields, {f.key: state[f.key] for f in fields if f.key in state}
    )
    overrides += form_costs.overrides(cfg, dataset)
    check = policy_form.check_run(overrides, _dataset_sessions(warehouse, dataset))
    problems = list(check.problems)
    if not problems:
        problems = form_costs.benchmark_problems(warehouse, dataset, check.first)
    state["bt_errors"] = problems
    if not problems:
        state["bt_pending"] = overrides
        state["bt_notes"] = list(check.notes)


def _param_widget(strategy: str, spec: form.ParamSpec) -> None:
    key = form.param_key(strategy, spec.name)
    label, text = spec.label, spec.help or None
    if spec.kind in ("int", "float"):
        number = int if spec.kind == "int" else float
        st.number_input(
            label,
            min_value=None if spec.minimum is None else number(spec.minimum),
            max_value=None if spec.maximum is None else number(spec.maximum),
            value=spec.default,
            step=spec.step,
            format=spec.number_format,
            key=key,
            help=text,
        )
    elif spec.kind == "bool":
        st.checkbox(label, value=spec.default, key=key, help=text)
    elif spec.kind == "choice":
        options = list(spec.options)
        index = options.index(spec.default) if spec.default in options else 0
        st.selectbox(label, options, index=index, key=key, help=text)
    else:
        st.text_input(label, value=spec.default, key=key, help=text)


def _policy_fields(cfg: AppConfig) -> None:
    # The method sits outside the form: choosing one reruns the script and shows its settings.
    method = policy_form.config_field(cfg, policy_form.METHOD)
    config_widget(method)
    st.caption(policy_form.method_note(st.session_state[policy_form.METHOD_KEY]))


def _policy_sections(cfg: AppConfig) -> None:
    fields = policy_form.sections(cfg, st.session_state[policy_form.METHOD_KEY])
    if fields.construction:
        st.markdown("**Construction**")
        for field in fields.construction:
            config_widget(field)
    st.markdown("**Constraints and vol target**")
    st.caption("Fractions: 0.08 is 8%. A blank field is off, or what its hint says.")
    for field in (*fields.constraints, *fields.vol_target):
        config_widget(field)
        if field.path == "portfolio.vol_target" and len(fields.vol_target) > 1:
            st.caption("The vol target measures volatility with the lookback and estimator below.")
    st.markdown("**Stops and halts**")
    for field in fields.stops:
        config_widget(field)


def _run_form(cfg: AppConfig, warehouse: Warehouse, datasets: list[str]) -> None:
    st.header("New backtest")
    default = cfg.data.dataset if cfg.data.dataset in datasets else datasets[0]
    dataset = st.selectbox(
        "Dataset",
        datasets,
        index=datasets.index(default),
        key="bt_dataset",
        help="A dataset of the warehouse (python run_data_sync.py --list)",
    )
    names = STRATEGIES.names()
    chosen = cfg.strategy.name if cfg.strategy.name in names else names[0]
    strategy = st.selectbox("Strategy", names, index=names.index(chosen), key="bt_strategy")
    cls = STRATEGIES.get(strategy)
    st.caption(inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0])
    specs = form.param_specs(cls.Params)
    factors = factor_picker.factor_spec(specs)
    span = _span(warehouse, dataset)
    if factors is not None:  # outside the form: a pick reruns the script and shows its weight
        factor_picker_view.factor_picker(cfg, warehouse, strategy, dataset, span[2], factors)
    _policy_fields(cfg)
    form_costs.cost_model(cfg)  # outside the form too: a model shows its own settings
    if warehouse.meta(dataset).synthetic:
        st.warning(f"{dataset} holds synthetic data")
    with st.form("bt_form", border=False):
        st.markdown("**Parameters**")
        for spec in specs:
            if spec is factors:
                factor_picker_view.factor_weights(strategy, dataset, spec)
            else:
                _param_widget(strategy, spec)
        _period(cfg, dataset, span)
        _portfolio(cfg)
        _policy_sections(cfg)
        form_costs.costs_and_benchmark(cfg, warehouse, dataset)
        st.form_submit_button(
            "Run backtest",
            key="run_backtest",
            type="primary",
            on_click=_submit,
            args=(cfg, warehouse),
            width="stretch",
        )


def _period(cfg: AppConfig, dataset: str, span: tuple[dt.date, dt.date, int]) -> None:
    first, last, count = span
    st.markdown("**Period and rebalancing**")
    start_key, end_key = _range_keys(dataset)
    st.date_input("Start", value=first, min_value=first, max_value=last, key=start_key)
    st.date_input("End", value=last, min_value=first, max_value=last, key=end_key)
    st.caption(
        f"{dataset}: {count:,} sessions, {first} to {last}. The first rebalance waits for "
        "the strategy's warm-up history."
    )
    rule = cfg.strategy.rebalance
    st.selectbox(
        "Rebalance",
        form.REBALANCE_MODES,
        index=0 if isinstance(rule, int) else form.REBALANCE_MODES.index(rule),
        key="bt_rebalance_mode",
        help="Every N trading sessions, or the first session of each week / month",
    )
    st.number_input(
        "N, sessions between rebalances",
        min_value=1,
        value=rule if isinstance(rule, int) else 21,
        step=1,
        key="bt_rebalance_n",
        help="Used with 'every N sessions' only",
    )


def _portfolio(cfg: AppConfig) -> None:
    st.markdown("**Portfolio**")
    st.number_input(
        "Initial cash ($)",
        min_value=1_000.0,
        value=float(cfg.backtest.initial_cash),
        step=10_000.0,
        format="%.2f",
        key="bt_initial_cash",
    )
    st.number_input(
        "Cash buffer (% of equity)",
        min_value=0.0,
        max_value=99.0,
        value=round(cfg.portfolio.cash_buffer * 100, 4),
        step=0.5,
        format="%.2f",
        key="bt_cash_buffer",
        help="Share of equity kept in cash at each rebalance; at 0, a gap up at the open "
        "makes buys cost more than the cash and they are truncated",
    )


def _execute(overrides: list[str]) -> bool:
    """Run the queued backtest once, with a progress bar, and open it; False if it failed.

    The bar and the outcome line take their places at once, so nothing a run before left there
    stays on screen while this one runs (a browser keeps the last run's elements until then).
    """
    bar_slot, line = st.empty(), st.empty()
    try:
        cfg = load_config("backtest", overrides)
    except QuantError as exc:
        line.error(f"Not run: the configuration is invalid.\n\n```\n{exc}\n```")
        return False
    run = run_with_progress(
        lambda progress: run_backtest(cfg, progress=progress),
        line,
        bar_slot,
        "Backtest",
        "rebalance",
    )
    if run is None:
        return False
    st.session_state["explorer_run"] = run.run_id
    line.success(run_catalog.stored_line(run.run_id, run.metrics))
    return True


def backtest_form(cfg: AppConfig, warehouse: Warehouse, datasets: list[str]) -> None:
    """Render the run form in the sidebar; show why a submitted run was refused, or run it.

    Call it before the stored runs are listed: a finished run becomes the opened one. What a
    submit ended with is shown once; after a refusal or a failure the page stops there.
    """
    with st.sidebar:
        _run_form(cfg, warehouse, datasets)
    state = st.session_state
    errors, notes = state.pop("bt_errors", []), state.pop("bt_notes", [])
    pending = state.pop("bt_pending", None)
    for error in errors:
        st.error(f"Not run: {error}")
    if errors:
        nothing_stored("bt_show_runs")
    for note in notes:
        st.warning(note)
    if pending is not None and not _execute(pending):
        nothing_stored("bt_show_runs")
