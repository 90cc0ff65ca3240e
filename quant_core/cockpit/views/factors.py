"""The Factors page: coverage, IC and rank IC, quantile returns, turnover and correlation.

A switch under the dataset picks the view: the factor analysis (this module) or the Models view
(:mod:`quant_core.cockpit.views.models_view`: fit, validate and inspect models).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.elements.lib.column_types import ColumnConfig

from quant_core.cockpit import context
from quant_core.cockpit.charts import factor_figures as figures
from quant_core.cockpit.format import number, quantile_name
from quant_core.cockpit.models.dataset_snapshot import empty_message
from quant_core.cockpit.tables.factor_summary import summary_in_percent, summary_table
from quant_core.cockpit.views import factor_research, models_view
from quant_core.data.reference import load_sectors
from quant_core.data.warehouse import Warehouse
from quant_core.factors.analysis import FactorAnalysis, analyze_factor
from quant_core.factors.cross_section import MIN_PAIRS
from quant_core.factors.ic import DEFAULT_HORIZON, factor_correlation
from quant_core.factors.profile import FactorProfile, profile_factor
from quant_core.factors.quantiles import DEFAULT_QUANTILES

QUANTILE_CHOICES = (3, 4, 5, 10)
VIEWS = ("Factor analysis", "Models")
NO_FACTORS = (
    "No factors are stored for {dataset}. Compute them with "
    "`python run_factor_computation.py --dataset {dataset}`."
)


# Cached on the dataset's version: any write to the dataset (a sync, new factor values)
# bumps it, so a stale analysis is never shown. Changing the horizon recomputes only what
# depends on it (IC and quantile returns).
@st.cache_data(max_entries=8, show_spinner=False)
def _close(root: str, dataset: str, version: int) -> pd.DataFrame:
    return Warehouse(root).panel(dataset, "close")


@st.cache_data(max_entries=4, show_spinner=False)
def _bars(root: str, dataset: str, version: int) -> dict[str, pd.DataFrame]:
    warehouse = Warehouse(root)
    return {field: warehouse.panel(dataset, field) for field in ("open", "high", "low", "close")}


@st.cache_data(max_entries=4, show_spinner=False)
def _sectors(root: str, dataset: str, version: int) -> pd.Series:
    symbols = _close(root, dataset, version).columns.to_numpy()
    sectors = load_sectors(Warehouse(root), dataset, symbols)
    return pd.Series(sectors, index=symbols, name="sector")


@st.cache_data(max_entries=64, show_spinner=False)
def _panel(root: str, dataset: str, version: int, name: str) -> pd.DataFrame:
    return Warehouse(root).factor_store.panel(dataset, name)


@st.cache_data(max_entries=128, show_spinner=False)
def _profile(
    root: str, dataset: str, version: int, name: str, quantiles: int, pairs: int
) -> FactorProfile:
    close = _close(root, dataset, version)
    return profile_factor(_panel(root, dataset, version, name), close, quantiles, pairs)


@st.cache_data(max_entries=128, show_spinner="Analysing factors...")
def _analysis(
    root: str, dataset: str, version: int, name: str, horizon: int, quantiles: int, pairs: int
) -> FactorAnalysis:
    close = _close(root, dataset, version)
    panel = _panel(root, dataset, version, name)
    known = _profile(root, dataset, version, name, quantiles, pairs)
    return analyze_factor(name, panel, close, horizon, quantiles, pairs, profile=known)


@st.cache_data(max_entries=32, show_spinner=False)
def _correlation(
    root: str, dataset: str, version: int, names: tuple[str, ...], pairs: int
) -> pd.DataFrame:
    panels = {name: _panel(root, dataset, version, name) for name in names}
    return factor_correlation(panels, pairs)


def _pct(label: str, help_text: str, digits: int = 1) -> ColumnConfig:
    return st.column_config.NumberColumn(label, help=help_text, format=f"%.{digits}f%%")


def _ratio(label: str, help_text: str, digits: int) -> ColumnConfig:
    return st.column_config.NumberColumn(label, help=help_text, format=f"%.{digits}f")


st.title("Factors")
cfg = context.config()
warehouse = context.warehouse(cfg)
datasets = warehouse.datasets()
if not datasets:
    st.info(empty_message(warehouse))
    st.stop()

top = st.columns(4)
configured = cfg.data.dataset
dataset = top[0].selectbox(
    "Dataset",
    datasets,
    index=datasets.index(configured) if configured in datasets else 0,
    key="fa_dataset",
)
meta = warehouse.meta(dataset)
if meta.synthetic:
    st.warning(f"SYNTHETIC DATA: {meta.label}")
view = st.segmented_control("View", VIEWS, default=VIEWS[0], required=True, key="fa_view")
if view == "Models":  # fits from the bars: no stored factor needed
    models_view.render(cfg, warehouse, dataset)
    st.stop()
stored = warehouse.factor_store.names(dataset)
if not stored:
    st.info(NO_FACTORS.format(dataset=dataset))
    st.stop()
horizon = int(
    top[1].number_input(
        "Forward horizon (sessions)",
        min_value=1,
        max_value=252,
        value=DEFAULT_HORIZON,
        step=1,
        key="fa_horizon",
    )
)
quantiles = int(
    top[2].selectbox(
        "Quantiles",
        QUANTILE_CHOICES,
        index=QUANTILE_CHOICES.index(DEFAULT_QUANTILES),
        format_func=lambda q: f"{q} ({quantile_name(q)}s)",
        key="fa_quantiles",
    )
)
pairs = int(
    top[3].number_input(
        "Min symbols per session",
        min_value=2,
        max_value=1000,
        value=MIN_PAIRS,
        step=1,
        key="fa_min_pairs",
        help="A session with fewer symbols having both a factor value and a forward return "
        "gets no IC and no quantile returns.",
    )
)
chosen = st.multiselect("Factors", stored, default=stored, key="fa_factors")
if not chosen:
    st.info("Pick at least one factor.")
    st.stop()

version = warehouse.version(dataset)
root = warehouse.location
results = [_analysis(root, dataset, version, n, horizon, quantiles, pairs) for n in chosen]
st.caption(
    f"Forward return on session T: close(T+{horizon}) / close(T) - 1, {horizon} sessions of "
    f"{dataset} later; the factor is its value at the close of T, so nothing looks ahead (the "
    f"last {horizon} sessions have no forward return yet). IC: Pearson correlation across "
    "symbols on one session; rank IC: Spearman. t-stat: the mean IC over its Newey-West "
    f"standard error with {horizon - 1} lags, because {horizon}-session forward returns of "
    "neighbouring sessions overlap (the naive t on the IC series would be about "
    f"{horizon**0.5:.1f} times too large). Hit rate: share of sessions with IC > 0."
)

st.subheader("Summary")
summary = summary_in_percent(summary_table(results))  # fractions shown as percentages
st.dataframe(
    summary,
    key="fa_summary",
    hide_index=True,
    column_config={
        "coverage": _pct("coverage", "mean share of listed symbols with a value"),
        "sessions with IC": st.column_config.NumberColumn("IC days", help="sessions with an IC"),
        "mean IC": _ratio("IC", "mean Pearson IC", 3),
        "IC t-stat": _ratio("IC t", "Newey-West t-statistic of the mean IC", 2),
        "IC hit rate": _pct("IC > 0", "share of sessions with IC > 0"),
        "mean rank IC": _ratio("rank IC", "mean Spearman IC", 3),
        "rank IC t-stat": _ratio("rank IC t", "Newey-West t-statistic of the mean rank IC", 2),
        "rank IC hit rate": _pct("rank IC > 0", "share of sessions with rank IC > 0"),
        "top - bottom": _pct(
            f"Q{quantiles} - Q1", f"top minus bottom {quantile_name(quantiles)}, {horizon}d", 2
        ),
        "turnover": _pct("turnover", "mean of 1 - rank autocorrelation with the previous session"),
        "top quantile turnover": _pct(
            f"Q{quantiles} churn",
            f"share of the top {quantile_name(quantiles)} new each session",
        ),
    },
)

st.subheader("One factor in detail")
focus = st.selectbox("Factor", chosen, key="fa_focus")
result = results[chosen.index(focus)]
ic, rank_ic = result.ic_summary, result.rank_ic_summary
cells = st.columns(6)
cells[0].metric("Mean IC", number(ic.mean, ".3f"), help=f"over {ic.sessions} sessions")
cells[1].metric("IC t-stat", number(ic.t_stat, ".2f"), help=f"Newey-West, {ic.t_lags} lags")
cells[2].metric("IC hit rate", number(ic.hit_rate, ".1%"), help="share of sessions with IC > 0")
cells[3].metric(
    "Mean rank IC", number(rank_ic.mean, ".3f"), help=f"over {rank_ic.sessions} sessions"
)
cells[4].metric(
    "Rank IC t-stat", number(rank_ic.t_stat, ".2f"), help=f"Newey-West, {rank_ic.t_lags} lags"
)
cells[5].metric(
    f"Q{quantiles} - Q1", number(result.quantiles.spread, ".2%"), help=f"{horizon}-session return"
)
left, right = st.columns(2)
left.plotly_chart(figures.ic_figure(result), key="fa_ic_chart", theme=None)
right.plotly_chart(figures.quantile_figure(result), key="fa_quantile_chart", theme=None)
right.caption(
    f"Each session, the symbols with both a value and a forward return are split into "
    f"{quantiles} equal groups by factor value; bars are the mean over "
    f"{result.quantiles.sessions} sessions of each group's equal-weighted {horizon}-session "
    "forward return."
)

# IC decay, IC by sector and the quantiles against every label (views/factor_research.py).
factor_research.render(
    focus,
    _panel(root, dataset, version, focus),
    _close(root, dataset, version),
    _bars(root, dataset, version),
    _sectors(root, dataset, version),
    horizon=horizon,
    quantiles=quantiles,
    min_pairs=pairs,
)

st.subheader("All chosen factors")
left, right = st.columns(2)
left.plotly_chart(figures.coverage_figure(results), key="fa_coverage_chart", theme=None)
left.caption("Coverage: of the symbols with a bar on the session, the share with a factor value.")
right.plotly_chart(figures.turnover_figure(results), key="fa_turnover_chart", theme=None)
right.caption(
    "Turnover: 1 - Spearman correlation of the factor with its previous session's values "
    "(0: the ranking did not change). The summary also gives the share of the top quantile's "
    "symbols that were not in it the session before."
)
if len(chosen) >= 2:
    matrix = _correlation(root, dataset, version, tuple(chosen), pairs)
    st.plotly_chart(figures.correlation_figure(matrix), key="fa_correlation_chart", theme=None)
    st.caption("Per session, Spearman correlation across the symbols valid in both; then the mean.")
