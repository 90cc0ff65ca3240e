"""The Sweeps page's walk-forward part: one walk-forward's out-of-sample curve, choices and folds.

``run_backtest.py --walk-forward FILE`` records into the sweeps' catalogue; the Sweeps page
(:mod:`sweeps.py <quant_core.cockpit.views.sweeps>`), switched to "Walk-forwards", calls
:func:`section`: it picks one walk-forward (the latest first) and draws (1) the stitched
out-of-sample equity curve with each fold's test window shaded, (2) its metrics (total return,
Sharpe ratio, max drawdown, CAGR), (3) the parameter path: one step chart per parameter of the
value chosen on each fold's train window, over its test window, and (4) the fold table: train and
test windows, the parameters chosen, their train objective, the test run's return and Sharpe.

Not a page of its own (the Sweeps page runs it): no module-level Streamlit calls. The catalogue
reads are cached until the file changes; a busy catalogue raises
:class:`~quant_core.sweeps.catalogue.CatalogueBusy` to the page, which says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts import sweep_figures as sf
from quant_core.cockpit.charts import walk_forward_figures as wfig
from quant_core.cockpit.models import sweep_data as sd
from quant_core.cockpit.models import walk_forward_data as wd
from quant_core.cockpit.picker import pick_row

PICK_KEY = "sweeps_wf_pick"
KEPT_KEY = "_sweeps_wf_pick_kept"  # the walk-forward picked, kept while the sweeps part shows
HINT = "python run_backtest.py --walk-forward research/mom_wf.yaml"


@st.cache_data(max_entries=16, show_spinner=False)
def _walk_forwards(path: str, stamp: tuple[int, ...]) -> pd.DataFrame:
    # ``stamp``: the file's signature, so a written catalogue is read again.
    return wd.list_walk_forwards(Path(path))


@st.cache_data(max_entries=8, show_spinner=False)
def _walk_forward(path: str, wf_id: str, stamp: tuple[int, ...]) -> wd.WalkForwardView:
    return wd.load_walk_forward(Path(path), wf_id)


def _pick(frame: pd.DataFrame) -> dict[str, Any]:
    return pick_row(
        frame,
        "wf_id",
        "Walk-forward",
        key=PICK_KEY,
        kept_key=KEPT_KEY,
        describe=wd.wf_label,
        help_text="Every walk-forward in the catalogue, the latest first: name, strategy, "
        "objective, fold rule, out-of-sample return, created",
    )


def _metrics(row: dict[str, Any], view: wd.WalkForwardView) -> None:
    found = wd.headline(view.metrics)
    columns = st.columns(4)
    columns[0].metric("Total return", fmt.pct(found["total_return"], 2))
    sharpe = found["sharpe"]
    columns[1].metric("Sharpe ratio", "-" if sharpe is None else f"{sharpe:.3f}")
    columns[2].metric("Max drawdown", fmt.pct(found["max_drawdown"], 2))
    columns[3].metric("CAGR", fmt.pct(found["cagr"], 2))
    curve = view.curve
    # The curve starts at its anchor (the first fold's last training close): the out-of-sample
    # sessions are those after it.
    tested = curve.index[1:] if len(curve) > 1 else curve.index
    span = f"{tested[0]:%Y-%m-%d} to {tested[-1]:%Y-%m-%d}"
    final = fmt.money(float(curve.iloc[-1]), 0)
    st.caption(
        f"Walk-forward `{fmt.md(row['wf_id'])}` · {len(view.folds):,} folds "
        f"({fmt.md(wd.windows_text(row.get('spec')))}) · {len(curve) - 1:,} sessions "
        f"out of sample, {span} · final equity {final}"
    )


def _curve(view: wd.WalkForwardView, params: list[str]) -> None:
    st.subheader("Out-of-sample equity")
    fold = wd.fold_of(pd.DatetimeIndex(view.curve.index), view.folds)
    figure = wfig.oos_curve_figure(view.curve, view.folds, fold, params)
    st.plotly_chart(figure, key="sweeps_wf_curve", theme=None)
    st.caption(
        "Each fold's test run starts from cash; their daily returns are chained from the run's "
        "initial cash into one curve (a fresh entry at every fold, as a periodic re-fit would "
        "pay). Each fold's choice saw only sessions before its test window."
    )


def _path(view: wd.WalkForwardView, names: list[str]) -> None:
    st.subheader("Parameter path")
    if not names:
        st.info("This walk-forward has no parameters to draw.")
        return
    figure = wfig.parameter_path_figure(wd.parameter_path(view.folds, names))
    st.plotly_chart(figure, key="sweeps_wf_path", theme=None)
    st.caption(
        "Each parameter's value chosen on a fold's train window, held over its test window "
        "(x: the test window's start). A path that jumps from fold to fold is a choice the "
        "data does not pin down."
    )


def _columns(objective: str) -> dict[str, Any]:
    unit = sf.objective_unit(objective)
    number, date = st.column_config.NumberColumn, st.column_config.DateColumn
    out: dict[str, Any] = {
        name: date(name.replace("_", " "), format="YYYY-MM-DD")
        for name in ("train_start", "train_end", "test_start", "test_end")
    }
    return {
        **out,
        "fold": number("fold", format="%d", width="small"),
        "train_objective": number(
            f"train {objective}", format="percent" if unit == "pct" else "%.4f"
        ),
        "test_return": number("test return", format="percent"),
        "test_sharpe": number("test sharpe", format="%.3f"),
    }


def _table(row: dict[str, Any], view: wd.WalkForwardView, names: list[str]) -> None:
    st.subheader("Folds")
    objective = str(row["objective"])
    table = wd.fold_table(view.folds, names)
    st.dataframe(
        table,
        key=f"sweeps_wf_folds__{row['wf_id']}",
        hide_index=True,
        column_config=_columns(objective),
    )
    st.caption(
        f"On each fold every configuration ran over the train window; the best by {objective} "
        "(its train figure here) then ran over the test window (its return and Sharpe ratio "
        "here)."
    )


def section(path: Path) -> None:
    """Draw the walk-forward part of the Sweeps page over the catalogue at ``path``.

    Raises
    ------
    CatalogueBusy
        Another process holds the catalogue (the page says so).
    """
    frame = _walk_forwards(str(path), sd.signature(path))
    if frame.empty:
        st.info(f"The catalogue holds no walk-forward yet. Run one:\n\n```\n{HINT}\n```")
        return
    row = _pick(frame)
    view = _walk_forward(str(path), str(row["wf_id"]), sd.signature(path))
    if view.folds.empty or view.curve.empty:
        st.info("This walk-forward has no fold recorded.")
        return
    names = wd.param_names(view.folds, row.get("spec"))
    _metrics(row, view)
    _curve(view, wd.fold_params_text(view.folds))
    _path(view, names)
    _table(row, view, names)


__all__ = ["HINT", "section"]
