"""The Factors page's Models view: fit a model from a spec, list the stored ones, open one.

Render only (called by ``views/factors.py``). The stored models come from
:class:`quant_core.research.store.ModelStore`, the fit from
:mod:`quant_core.cockpit.models.model_fit`, tables from
:mod:`quant_core.cockpit.tables.model_tables` and figures from
:mod:`quant_core.cockpit.charts.model_figures`. The Fit button only queues the fit (an
``on_click`` callback); the next run fits once, with a progress bar, stores the model and opens
it, before the stored models are listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from config.schema import AppConfig
from quant_core.cockpit.charts import model_figures as figures
from quant_core.cockpit.format import md, number
from quant_core.cockpit.models import model_fit
from quant_core.cockpit.tables import model_tables as tables
from quant_core.data.warehouse import Warehouse
from quant_core.errors import QuantError
from quant_core.research.labels import parse_label
from quant_core.research.model import ACCEPTED
from quant_core.research.spec import ModelSpec, WalkForward
from quant_core.research.store import ModelStore, StoredModel, composite_factor

PENDING = "md_fit_pending"  # the spec path queued by the Fit button
OTHER = "Another file..."
NO_MODELS = (
    "No stored models yet. Fit one above (Fit a model), or from a shell: "
    "`python run_factor_computation.py --fit research/value_mom.yaml`."
)


def _ratio(label: str, help_text: str, digits: int = 3) -> Any:
    return st.column_config.NumberColumn(label, help=help_text, format=f"%.{digits}f")


FOLD_FORMATS: dict[str, Any] = {
    "train_rows": st.column_config.NumberColumn("train samples", format="%d"),
    "test_rows": st.column_config.NumberColumn("test samples", format="%d"),
    "is_ic": _ratio("IS IC", "in-sample IC: mean daily Pearson IC on the train sessions"),
    "is_rank_ic": _ratio("IS rank IC", "in-sample mean daily Spearman IC"),
    "oos_ic": _ratio("OOS IC", "out-of-sample mean daily Pearson IC on the test sessions"),
    "oos_rank_ic": _ratio("OOS rank IC", "out-of-sample mean daily Spearman IC"),
    "spread": _ratio("top - bottom", "mean label of the top minus the bottom quantile", 4),
    "coef_cosine": _ratio("coef cosine", "cosine of the fold's coefficients with the full fit"),
}


@st.cache_data(max_entries=16, show_spinner=False)
def _load(root: str, model_id: str) -> StoredModel:
    # A stored model never changes once written (a folder renamed into place whole).
    return ModelStore(Path(root)).load(model_id)


# ------------------------------------------------------------------------------ fitting


def _queue(path: str) -> None:
    st.session_state[PENDING] = path


def _spec_path() -> Path | None:
    files = model_fit.spec_files()
    options = [*files, OTHER]
    choice = st.selectbox("Spec file", options, key="md_spec", help="research/*.yaml")
    if choice != OTHER:
        return model_fit.resolve(str(choice))
    typed = st.text_input(
        "Spec path",
        key="md_spec_path",
        placeholder="research/my_model.yaml",
        help="A YAML file with a top-level model: key; relative to the project folder",
    )
    return model_fit.resolve(typed) if typed.strip() else None


def _fit_form(dataset: str) -> None:
    path = _spec_path()
    if path is None:
        st.info("Type the path of a spec file (a YAML file with a top-level `model:` key).")
        return
    loaded = model_fit.read_spec(path)
    if loaded.text is not None:
        st.code(loaded.text, language="yaml")
    if loaded.error is not None:
        st.error(f"Not fitted: {loaded.error}")
    st.button(
        "Fit model",
        key="md_fit",
        type="primary",
        disabled=loaded.spec is None,
        on_click=_queue,
        args=(str(path),),
        help=f"Fit, validate and store the model on {dataset}'s bars",
    )
    st.caption(
        f"Fits on every bar of **{md(dataset)}** (the dataset chosen above): the factors, the "
        "label, the validation folds, the bootstrap and the walk-forward composite, which is "
        "stored in the warehouse as factor `model_<model id>`."
    )


def _fit(path: str, warehouse: Warehouse, dataset: str, store: ModelStore) -> str | None:
    """Fit the queued spec once, with a progress bar; return the stored model's summary."""
    loaded = model_fit.read_spec(Path(path))  # read again: the file may have changed
    spec = loaded.spec
    if spec is None:
        st.error(f"Not fitted: {loaded.error}")
        return None
    bar = st.progress(0.0, text=f"Fitting {spec.name} on {dataset}: reading the bars...")

    def progress(stage: str, done: int, total: int) -> None:
        share = min(done / total, 1.0) if total else 1.0
        bar.progress(share, text=f"Fitting {spec.name}: {stage} {done} of {total}")

    try:
        fitted = model_fit.fit(spec, warehouse, dataset, store, progress)
    except QuantError as exc:
        bar.empty()
        st.error(f"Not fitted: {exc}")
        return None
    bar.progress(1.0, text=f"Fitted {spec.name} in {fitted.seconds:.1f} s")
    st.session_state["md_model"] = fitted.model_id  # the stored models open on it
    return model_fit.fitted_line(fitted)


def _fit_section(warehouse: Warehouse, dataset: str, store: ModelStore, empty: bool) -> bool:
    """Draw the fit form; run a queued fit. Return whether a model was stored."""
    done = None
    with st.expander("Fit a model", expanded=empty or PENDING in st.session_state):
        _fit_form(dataset)
        pending = st.session_state.pop(PENDING, None)
        if pending is not None:
            done = _fit(pending, warehouse, dataset, store)
    if done is not None:
        st.success(done)
    return done is not None


# ---------------------------------------------------------------------------- one model


def _describe(spec: ModelSpec) -> str:
    v = spec.validation
    if isinstance(v, WalkForward):
        scheme = (
            f"walk-forward ({'expanding' if v.expanding else 'rolling'} train {v.train}, "
            f"test {v.test}, embargo {v.embargo} sessions)"
        )
    else:
        scheme = f"purged {v.folds}-fold (embargo {v.embargo} sessions)"
    penalty = f" (alpha {spec.alpha:g})" if spec.estimator == "ridge" else ""
    return (
        f"Factors {', '.join(spec.factors)}; target {spec.target}; {spec.estimator}{penalty}; "
        f"{scheme}; {spec.bootstrap} bootstrap draws; refit every {spec.schedule.every} "
        f"sessions on {spec.schedule.train}."
    )


def _status(row: pd.Series, spec: ModelSpec) -> None:
    rank_ic, floor = float(row["oos_rank_ic"]), spec.min_oos_rank_ic
    if row["status"] == ACCEPTED:
        st.success(
            f"ACCEPTED: out-of-sample rank IC {number(rank_ic, '.4f')} > floor {floor:g}. "
            f"Trade it with `--strategy fitted --param model={row['model_id']}`."
        )
    else:
        st.error(
            f"REJECTED: out-of-sample rank IC {number(rank_ic, '.4f')} <= floor {floor:g}. "
            "The fitted strategy refuses to trade it."
        )


def _headline(row: pd.Series, stored: StoredModel) -> None:
    cells = st.columns(5)
    cells[0].metric("OOS IC", number(float(row["oos_ic"]), ".4f"), help="mean daily Pearson IC")
    cells[1].metric("OOS rank IC", number(float(row["oos_rank_ic"]), ".4f"))
    cells[2].metric("Newey-West t", number(float(row["oos_t"]), ".2f"), help="of the rank IC")
    cells[3].metric("Folds", f"{len(stored.folds)}")
    cells[4].metric("OOS sessions", f"{int(stored.oos_daily['rank_ic'].notna().sum()):,}")


def _folds(stored: StoredModel) -> None:
    spec = stored.model.spec
    st.subheader("Validation folds")
    view = tables.fold_view(stored.folds, spec.factors)
    coefs = {
        f"coef_{f}": _ratio(f"coef_{f}", "the fold's coefficient, per 1 sd of the factor", 4)
        for f in spec.factors
    }
    st.dataframe(view, key="md_folds", hide_index=True, column_config=FOLD_FORMATS | coefs)
    st.caption(
        "One row per fold: its train and test sessions (purged, so that no training label "
        "overlaps a test session, then embargoed); the IC of the fold's predictions against "
        f"{spec.target} on the train (IS) and test (OOS) sessions; the test sessions' top "
        f"minus bottom {spec.quantiles}-quantile mean label; the cosine of the fold's "
        "coefficients with the full-sample fit's (1: the same direction)."
    )


def _ic_over_time(row: pd.Series, stored: StoredModel) -> None:
    spec = stored.model.spec
    lags = parse_label(spec.target).horizon - 1
    overall, t_stat = float(row["oos_rank_ic"]), float(row["oos_t"])
    st.plotly_chart(
        figures.oos_ic_figure(stored.oos_daily, str(row["model_id"]), overall, t_stat),
        key="md_ic_chart",
        theme=None,
    )
    st.caption(
        f"Overall out-of-sample rank IC {number(overall, '.4f')}, Newey-West t "
        f"{number(t_stat, '.2f')} ({lags} lags: {spec.target}'s windows of neighbouring "
        "sessions overlap). Each session's rank IC is the Spearman correlation across symbols "
        "of a prediction made by a fold that never trained on it with the label; the line is "
        f"its {tables.ROLLING_SESSIONS}-session rolling mean."
    )


def _coefficients(stored: StoredModel) -> None:
    spec = stored.model.spec
    coefs = stored.coefficients
    st.subheader("Coefficients")
    left, right = st.columns(2)
    left.plotly_chart(
        figures.coefficient_figure(coefs, spec.target), key="md_coef_chart", theme=None
    )
    right.dataframe(
        tables.coefficient_view(coefs),
        key="md_coefficients",
        hide_index=True,
        column_config={
            "coef": _ratio("coef", "full-sample fit, per 1 sd of the factor", 5),
            "ci_low": _ratio("2.5%", "bootstrap percentile", 5),
            "ci_high": _ratio("97.5%", "bootstrap percentile", 5),
            "std": _ratio("std", "bootstrap standard deviation", 5),
            "excludes_zero": st.column_config.CheckboxColumn("excl. 0"),
        },
    )
    if tables.has_intervals(coefs):
        right.caption(
            f"95% intervals from {spec.bootstrap} bootstrap draws of whole sessions, in blocks "
            "of the label's span (the rows of one session are correlated, and so are sessions "
            "whose labels overlap, so they are resampled together)."
        )
    else:
        right.caption(
            "No intervals: gradient boosting has no coefficients to resample, or the spec asked "
            "for no bootstrap draws."
        )


def _quantiles_and_baselines(row: pd.Series, stored: StoredModel) -> None:
    spec = stored.model.spec
    st.subheader("The composite")
    left, right = st.columns(2)
    left.plotly_chart(
        figures.quantile_label_figure(stored.quantiles, spec.target),
        key="md_quantile_chart",
        theme=None,
    )
    left.caption(
        f"Each out-of-sample session, the symbols are split into {spec.quantiles} equal groups "
        f"by the composite; bars are the mean {spec.target} of each group over those sessions."
    )
    model_rank_ic = float(row["oos_rank_ic"])
    right.dataframe(
        tables.baseline_view(stored.baselines, model_rank_ic),
        key="md_baselines",
        hide_index=True,
        column_config={
            "oos_ic": _ratio("OOS IC", "mean daily Pearson IC"),
            "oos_rank_ic": _ratio("OOS rank IC", "mean daily Spearman IC"),
            "spread": _ratio("top - bottom", "top minus bottom quantile mean label", 4),
            "improvement": _ratio("improvement", "the model's OOS rank IC minus this row's", 4),
        },
    )
    gains = tables.improvements(stored.baselines, model_rank_ic)
    for cell, (name, gain) in zip(right.columns(max(len(gains), 1)), gains.items(), strict=False):
        cell.metric(f"vs {name}", f"{gain:+.4f}", help="OOS rank IC improvement")
    right.caption(
        "Baselines on the same sessions: z-score blends of the factors, equal-weighted and "
        "IC-weighted (each factor's mean rank IC on the fold's training sessions before its test "
        "only)."
    )
    right.caption(f"Stored in the warehouse as factor `{composite_factor(str(row['model_id']))}`.")


def _model(row: pd.Series, store: ModelStore) -> None:
    try:
        stored = _load(str(store.root), str(row["model_id"]))
    # A folder damaged by hand: say which, keep the page (pyarrow's ArrowInvalid: a ValueError).
    except (QuantError, OSError, ValueError) as exc:
        st.error(f"Cannot open model {row['model_id']}: {exc}")
        return
    spec = stored.model.spec
    _status(row, spec)
    created = row["created_at"]
    when = f"{created:%Y-%m-%d %H:%M} UTC" if pd.notna(created) else "at an unknown time"
    st.caption(
        f"{_describe(spec)} Fitted on {md(row['dataset'])} through {row['data_through']}, "
        f"stored {when}."
    )
    _headline(row, stored)
    _folds(stored)
    _ic_over_time(row, stored)
    _coefficients(stored)
    _quantiles_and_baselines(row, stored)


# ------------------------------------------------------------------------------- the view


def render(cfg: AppConfig, warehouse: Warehouse, dataset: str) -> None:
    """Draw the Models view: the fit form, the stored models, the chosen one in detail."""
    store = ModelStore(model_fit.models_dir(cfg))
    listing = store.list_models()
    if _fit_section(warehouse, dataset, store, listing.empty):
        listing = store.list_models()  # with the model just stored
    st.subheader("Stored models")
    if listing.empty:
        st.info(NO_MODELS)
        return
    st.dataframe(
        tables.models_styler(tables.models_view(listing)),
        key="md_models",
        hide_index=True,
        column_config={  # the styler formats the numbers
            "model_id": st.column_config.Column("model id"),
            "oos_ic": st.column_config.Column("OOS IC", help="mean daily out-of-sample IC"),
            "oos_rank_ic": st.column_config.Column("OOS rank IC", help="mean daily Spearman IC"),
            "oos_t": st.column_config.Column("NW t", help="Newey-West t of the OOS rank IC"),
            "data_through": st.column_config.Column("data through"),
            "created_at": st.column_config.Column("stored (UTC)"),
        },
    )
    rows = {str(r["model_id"]): r for _, r in listing.iterrows()}
    if st.session_state.get("md_model") not in rows:
        st.session_state["md_model"] = next(iter(rows))  # the newest
    chosen = st.selectbox(
        "Model",
        list(rows),
        key="md_model",
        format_func=lambda m: tables.model_choice(rows[m]),
    )
    _model(rows[str(chosen)], store)
