"""The Factors page's research section for one factor: IC decay, IC by sector, every target.

:func:`render` draws it into the current page; the Factors page calls it with the factor it
shows in detail. The numbers come from :mod:`quant_core.factors.decay` and
:mod:`quant_core.research.targets` (cached here on their inputs), the figures from
:mod:`quant_core.cockpit.charts.research_figures`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import streamlit as st

from quant_core.cockpit.charts import research_figures as figures
from quant_core.cockpit.format import number, quantile_name
from quant_core.errors import ConfigError, DataError
from quant_core.factors.cross_section import MIN_PAIRS
from quant_core.factors.decay import DECAY_HORIZONS, SECTOR_COLUMNS, ic_by_sector, ic_decay
from quant_core.factors.ic import DEFAULT_HORIZON
from quant_core.factors.quantiles import DEFAULT_QUANTILES
from quant_core.research.labels import parse_label
from quant_core.research.targets import DEFAULT_TARGETS, target_quantiles, target_unit

LABEL_HELP = (
    "Labels: fwd_open_<h>, fwd_close_<h>, fwd_open_<h>_demeaned, fwd_open_<h>_rank, "
    "fwd_open_<h>_volnorm, sign_fwd_open_<h>, triple_barrier_<h> (h = 1..252 sessions)."
)


@st.cache_data(max_entries=32, show_spinner="Computing the IC decay...")
def _decay(factor: pd.DataFrame, close: pd.DataFrame, pairs: int) -> pd.DataFrame:
    return ic_decay(factor, close, DECAY_HORIZONS, "spearman", pairs)


@st.cache_data(max_entries=32, show_spinner=False)
def _sectors(
    factor: pd.DataFrame, close: pd.DataFrame, sectors: pd.Series, horizon: int, pairs: int
) -> pd.DataFrame:
    return ic_by_sector(factor, close, sectors, horizon, "spearman", pairs)


@st.cache_data(max_entries=32, show_spinner="Computing the labels...")
def _targets(
    factor: pd.DataFrame,
    bars: Mapping[str, pd.DataFrame],
    targets: tuple[str, ...],
    quantiles: int,
    pairs: int,
) -> pd.DataFrame:
    return target_quantiles(factor, bars, targets, quantiles, pairs)


def _is_label(name: str) -> bool:
    try:
        parse_label(name)
    except ConfigError:
        return False
    return True


def target_table(table: pd.DataFrame) -> pd.DataFrame:
    """Return one row per target: its unit, each quantile's mean, the spread and the sessions.

    ``table``: :func:`~quant_core.research.targets.target_quantiles`'s frame. Means are text
    in the target's unit (a return as a percentage, anything else to three decimals), since
    the rows' units differ; NaN reads ``-``.
    """
    rows = []
    for target, group in table.groupby("target", sort=False):
        unit = target_unit(str(target))
        spec = ".2%" if unit == "return" else ".3f"
        row: dict[str, object] = {"target": str(target), "unit": unit}
        for q, mean in zip(group["quantile"], group["mean"], strict=True):
            row[f"Q{int(q)}"] = number(float(mean), spec)
        q_top = int(group["quantile"].max())
        row[f"Q{q_top} - Q1"] = number(float(group["spread"].iloc[0]), "+" + spec)
        row["sessions"] = int(group["sessions"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


def render(
    name: str,
    factor_panel: pd.DataFrame,
    close: pd.DataFrame,
    bars: Mapping[str, pd.DataFrame],
    sectors: pd.Series,
    *,
    horizon: int = DEFAULT_HORIZON,
    quantiles: int = DEFAULT_QUANTILES,
    min_pairs: int = MIN_PAIRS,
    key: str = "fr",
) -> None:
    """Draw the research section of factor ``name`` into the current page.

    Parameters
    ----------
    name
        The factor's name (titles only).
    factor_panel, close
        The factor and the close panel, sessions x symbols.
    bars
        The ``open``, ``high``, ``low``, ``close`` panels the labels are computed from.
    sectors
        Symbol -> sector (the warehouse's reference data); symbols without one are
        ``Unknown``.
    horizon, quantiles, min_pairs
        The page's forward horizon (for the sector IC), number of quantiles and fewest
        symbols per session.
    key
        Prefix of this section's widget keys.
    """
    st.subheader(f"Research: {name}")
    decay = _decay(factor_panel, close, min_pairs)
    st.plotly_chart(figures.ic_decay_figure(decay, name), key=f"{key}_decay", theme=None)
    peak = ""
    if decay["rank_ic_mean"].notna().any():
        best = decay.iloc[int(np.nanargmax(np.abs(decay["rank_ic_mean"].to_numpy(float))))]
        peak = (
            f" The rank IC is largest in size at h = {int(best['horizon'])} "
            f"({number(float(best['rank_ic_mean']), '.4f')}, t {number(float(best['t']), '.2f')})."
        )
    st.caption(
        "Each point is the mean over sessions of the daily cross-sectional IC between the "
        "factor at the close of T and the h-session close-to-close return after it, for "
        f"h = 1..{DECAY_HORIZONS[-1]}. A factor whose IC fades fast needs frequent rebalancing; "
        "the t (hover) is the rank IC's Newey-West t with h - 1 lags." + peak
    )

    left, right = st.columns(2)
    pairs = int(
        left.number_input(
            "Min names per sector and session",
            min_value=2,
            max_value=1000,
            value=min_pairs,
            step=1,
            key=f"{key}_sector_pairs",
            help="A sector with fewer names having both a factor value and a forward return "
            "on a session gets no IC that session.",
        )
    )
    try:
        by_sector = _sectors(factor_panel, close, sectors, horizon, pairs)
    except DataError as exc:  # the reference data names a symbol twice
        left.error(str(exc))
        by_sector = pd.DataFrame(columns=SECTOR_COLUMNS)
    left.plotly_chart(
        figures.sector_ic_figure(by_sector, name, horizon), key=f"{key}_sector_chart", theme=None
    )
    right.dataframe(
        by_sector,
        key=f"{key}_sector_table",
        hide_index=True,
        column_config={
            "names": st.column_config.NumberColumn("names", help="symbols of the sector"),
            "sessions": st.column_config.NumberColumn("IC days", help="sessions with an IC"),
            "ic_mean": st.column_config.NumberColumn("IC", format="%.4f"),
            "rank_ic_mean": st.column_config.NumberColumn("rank IC", format="%.4f"),
            "t": st.column_config.NumberColumn(
                "rank IC t", format="%.2f", help=f"Newey-West, {horizon - 1} lags"
            ),
        },
    )
    right.caption(
        f"IC within each sector at the {horizon}-session horizon: the names of one sector "
        "correlated among themselves, so sector bets do not count. Few names make it noisy."
    )

    st.markdown(f"**Every target, by {quantile_name(quantiles)}**")
    chosen = st.multiselect(
        "Targets (labels)",
        list(DEFAULT_TARGETS),
        default=list(DEFAULT_TARGETS),
        accept_new_options=True,
        key=f"{key}_targets",
        help="Type other label names in. " + LABEL_HELP,
    )
    unknown = [target for target in chosen if not _is_label(target)]
    if unknown:
        st.error(f"Not label names: {', '.join(unknown)}. {LABEL_HELP}")
        chosen = [target for target in chosen if target not in unknown]
    if not chosen:
        st.info("Pick at least one target.")
        return
    try:
        table = _targets(factor_panel, bars, tuple(chosen), quantiles, min_pairs)
    except DataError as exc:  # a bar panel a label reads is missing or holds a bad price
        st.error(str(exc))
        return
    st.dataframe(target_table(table), key=f"{key}_target_table", hide_index=True)
    focus = st.selectbox("Target in detail", chosen, key=f"{key}_target_focus")
    unit = target_unit(focus)
    st.plotly_chart(
        figures.target_quantile_figure(table, focus, unit, name),
        key=f"{key}_target_chart",
        theme=None,
    )
    sessions = table.loc[table["target"] == focus, "sessions"]
    shown = int(sessions.iloc[0]) if len(sessions) else 0
    st.caption(
        f"Each session, the symbols with both a factor value and a {focus} label are split "
        f"into {quantiles} equal groups by factor value; a bar is the mean over {shown} "
        "sessions of each group's equal-weighted label. A label on row T is what a signal at "
        "the close of T earns from the next open (fwd_close: from that close)."
        + ("" if np.isfinite(table["spread"]).all() else " A target with no full session shows -.")
    )
