"""The Sweeps page: a sweep's objective over its parameters, its best configurations, its progress.

``run_backtest.py --sweep FILE`` records every configuration in ``<data_dir>/sweeps/
catalogue.duckdb``; this page picks one sweep (the latest first) and draws (1) the objective over
two chosen parameters, the others folded by the best (the max when the sweep maximises), (2) the
objective's distribution, (3) the best configurations, each selected row with a button that runs
it as a stored backtest (the configuration's overrides, then the ``--set`` values the sweep ran
with, then the cockpit's data dir) and opens it in the Strategy Explorer, (4) the kept equity
curves, (5) a running sweep's progress from its progress file, in a fragment refreshed every 2 s
while it runs, and an "Overfitting" area for the figures the catalogue may add (deflated Sharpe,
PBO). A radio switches to the walk-forwards of the same catalogue
(:mod:`~quant_core.cockpit.views.sweeps_walk_forward`).

A running sweep's driver holds the catalogue (DuckDB's lock): the page then says the catalogue
is busy, shows the progress file's figures, and tries the catalogue again on a later rerun. The
catalogue is opened read-only for each read and closed at once; the reads are cached until the
file changes. The data and frames are :mod:`quant_core.cockpit.models.sweep_data` (a progress
file: :mod:`~quant_core.cockpit.models.sweep_progress`), the figures
:mod:`quant_core.cockpit.charts.sweep_figures`.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from config import load_config
from config.schema import AppConfig
from quant_core.backtest.book_run import run_book_backtest
from quant_core.backtest.run import run_backtest
from quant_core.backtest.run_admin import MAX_LABEL, rename_run
from quant_core.cockpit import context
from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts import sweep_figures as figs
from quant_core.cockpit.models import sweep_data as sd
from quant_core.cockpit.models import sweep_progress as sp
from quant_core.cockpit.picker import pick_row
from quant_core.cockpit.views import sweeps_walk_forward as wf
from quant_core.cockpit.views.explorer_manage import RUN_KEY
from quant_core.errors import ConfigError, QuantError

EXPLORER = Path(__file__).resolve().parent / "explorer.py"
PICK_KEY = "sweeps_pick"
KEPT_KEY = "_sweeps_pick_kept"  # the sweep picked, kept while the walk-forward part shows
MODE_KEY = "sweeps_mode"
SWEEPS, WALK_FORWARDS = "Sweeps", "Walk-forwards"
RAN_KEY = "sweeps_ran"  # "<sweep id>/<configuration key>" -> the stored run's id, this session
FULL_RUN_KEY = "_sweeps_full_run_at"  # when the page last ran whole (time.monotonic)
REFRESH_S = 2.0  # the progress fragment's period while a sweep runs
RETRY_S = 10.0  # while the catalogue is busy: a whole rerun (a new try) at least this often
BEST_ROWS = 100
SWEEP_HINT = "python run_backtest.py --sweep research/mom_grid.yaml"


@st.cache_data(max_entries=16, show_spinner=False)
def _sweeps(path: str, stamp: tuple[int, ...]) -> pd.DataFrame:
    # ``stamp``: the file's signature, so a written catalogue is read again.
    return sd.list_sweeps(Path(path))


@st.cache_data(max_entries=8, show_spinner=False)
def _sweep(path: str, sweep_id: str, stamp: tuple[int, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return sd.load_sweep(Path(path), sweep_id)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _running(progress: sp.SweepProgress | None, now: dt.datetime) -> bool:
    return progress is not None and not progress.finished and not progress.stale(now)


# ----------------------------------------------------------------------------- progress


def _figures(progress: sp.SweepProgress, objective: str | None, now: dt.datetime) -> None:
    st.progress(
        progress.fraction(),
        text=f"{progress.done:,} of {progress.total:,} configurations done "
        f"({fmt.pct(progress.fraction(), 0)})",
    )
    spec = figs.value_format(figs.objective_unit(objective or ""))
    best = "-" if progress.best is None else format(progress.best, spec.replace("$", ""))
    rate = "-" if progress.rate is None else f"{progress.rate:,.2f} cfg/s"
    columns = st.columns(5)
    columns[0].metric(f"Best {objective or 'objective'}", best)
    columns[1].metric("Rate", rate)
    columns[2].metric("Workers", "-" if progress.workers is None else str(progress.workers))
    left = progress.seconds_left()
    columns[3].metric("Time left", "-" if left is None else fmt.fmt_age(left))
    age = progress.age(now)
    columns[4].metric("Updated", "-" if age is None else f"{fmt.fmt_age(max(age, 0.0))} ago")
    if progress.dashboard is not None and _running(progress, now):  # gone with the cluster
        st.link_button("Open the Dask dashboard", progress.dashboard)
    if progress.stale(now):
        st.warning(
            f"No news from this sweep for {fmt.fmt_age(age)}: it is not running (stopped or "
            "interrupted). Run the same sweep file again to resume where it left off."
        )


def _panel(
    folder: Path, sweep_id: str | None, objective: str | None, busy: bool, was: bool
) -> None:
    now = _now()
    path = folder / f"{sweep_id}.json" if sweep_id else None
    progress = sp.read_progress(path) if path is not None else sp.latest_progress(folder)
    since = time.monotonic() - float(st.session_state.get(FULL_RUN_KEY, 0.0))
    if (was and not _running(progress, now)) or (busy and since > RETRY_S):
        st.rerun()  # finished (or stopped): the whole page again, the catalogue again
    if progress is None:
        st.info("A sweep is starting: no batch of it has finished yet.")
        return
    if sweep_id is None:
        st.caption(f"Sweep `{fmt.md(progress.sweep_id)}`")
    _figures(progress, objective, now)


def _progress(folder: Path, sweep_id: str | None, objective: str | None, busy: bool) -> None:
    now = _now()
    path = folder / f"{sweep_id}.json" if sweep_id else None
    progress = sp.read_progress(path) if path is not None else sp.latest_progress(folder)
    if path is not None and progress is None:
        return  # a sweep recorded before progress files, or its file is gone: nothing to say
    was = _running(progress, now)
    st.subheader("Progress")
    every = REFRESH_S if busy or was else None
    st.fragment(_panel, run_every=every)(folder, sweep_id, objective, busy, was)


def _busy() -> None:
    st.warning(
        "The sweep catalogue is busy: a running sweep's driver holds it, so its results show "
        "here once it finishes (the page tries again on its next rerun). Meanwhile, its "
        "progress file:"
    )
    _progress(sp.progress_folder(data_dir), None, None, busy=True)


# ----------------------------------------------------------------------------- sections


def _pick(sweeps: pd.DataFrame) -> dict[str, Any]:
    return pick_row(
        sweeps,
        "sweep_id",
        "Sweep",
        key=PICK_KEY,
        kept_key=KEPT_KEY,
        describe=sd.sweep_label,
        help_text="Every sweep in the catalogue, the latest first: name, strategy, objective, "
        "configurations done of all, created, finished",
    )


def _summary(row: dict[str, Any], results: pd.DataFrame) -> None:
    objective = str(row["objective"])
    best = pd.to_numeric(results["objective"], errors="coerce").dropna()
    spec = figs.value_format(figs.objective_unit(objective)).replace("$", "")
    top = f"best {objective} {format(float(best.iloc[0]), spec)}" if len(best) else "no objective"
    compute = float(results["seconds"].sum()) if len(results) else 0.0
    workers = results["worker"].nunique() if len(results) else 0
    try:
        sets = sd.extra_text(sd.stored_extra(str(row["name"]), row.get("extra")))
    except ConfigError:
        sets = "(unreadable: the run button says why)"
    sets = f" · run with --set {sets}" if sets else ""
    st.caption(
        f"Sweep `{fmt.md(row['sweep_id'])}` · {len(results):,} of {int(row['configurations']):,} "
        f"configurations recorded · {top} · {fmt.fmt_age(compute)} of backtests on "
        f"{workers} worker(s){fmt.md(sets)}"
    )


def _heatmap(row: dict[str, Any], results: pd.DataFrame, params: pd.DataFrame) -> None:
    st.subheader("Objective over two parameters")
    names = list(params.columns)
    if not names:
        st.info("This sweep has no parameters to draw.")
        return
    sweep_id, objective = str(row["sweep_id"]), str(row["objective"])
    x, y = names[0], None
    if len(names) > 1:
        left, right = st.columns(2)
        x = left.selectbox("Across (x axis)", names, index=0, key=f"sweeps_x__{sweep_id}")
        y = right.selectbox("Down (y axis)", names, index=1, key=f"sweeps_y__{sweep_id}")
        if x == y:
            st.warning("Pick two different parameters.")
            return
    cells = sd.heatmap(results, params, str(x), y, bool(row.get("maximize", True)))
    others = [n for n in names if n not in (x, y)]
    folded = (
        f" The other parameters ({', '.join(others)}) are aggregated by the {cells.how} of "
        f"{objective}: each cell shows the {cells.how} over their values."
        if others
        else ""
    )
    st.caption(
        f"Each cell: the {cells.how} of {objective} among the configurations with those "
        f"values (how many on hover); a blank cell has none with a finite {objective}.{folded}"
        f" A numeric parameter with more than {sd.MAX_LEVELS} values is cut into {sd.BINS} "
        "equal bins."
    )
    st.plotly_chart(figs.heatmap_figure(cells, objective), key="sweeps_heatmap", theme=None)


def _distribution(row: dict[str, Any], results: pd.DataFrame) -> None:
    st.subheader("Distribution of the objective")
    bins, missing = sd.objective_histogram(results)
    best = pd.to_numeric(results["objective"], errors="coerce").dropna()
    top = float(best.iloc[0]) if len(best) else None
    figure = figs.histogram_figure(bins, missing, str(row["objective"]), top)
    st.plotly_chart(figure, key="sweeps_histogram", theme=None)


def _columns(objective: str) -> dict[str, Any]:
    unit = figs.objective_unit(objective)
    number = st.column_config.NumberColumn
    return {
        "rank": number("#", format="%d", width="small"),
        "objective": number(
            f"objective ({objective})", format="percent" if unit == "pct" else "%.4f"
        ),
        "sharpe": number("sharpe", format="%.3f"),
        "cagr": number("cagr", format="percent"),
        "max_drawdown": number("max drawdown", format="percent"),
        "trades": number("trades", format="localized"),
        "seconds": number("seconds", format="%.2f"),
    }


def _label(row: dict[str, Any], params: dict[str, Any]) -> str:
    text = " ".join(f"sweep {row['name']}: {sd.params_text(params)}".split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _open(run_id: str) -> None:
    st.session_state[RUN_KEY] = run_id  # the Explorer's run picker opens on it
    st.switch_page(EXPLORER)


def _load_backtest(overrides: list[str]) -> AppConfig:
    return load_config("backtest", overrides)


def _run_and_open(row: dict[str, Any], key: str, params: dict[str, Any]) -> None:
    try:
        with st.spinner(f"Running {sd.params_text(params)} as a stored backtest..."):
            extra = sd.stored_extra(str(row["name"]), row.get("extra"))
            again = sd.rerun(
                str(row["name"]), str(row["spec"]), key, data_dir, extra, _load_backtest
            )
            cfg = load_config("backtest", again.overrides)
            if again.book is not None:  # a book's sweep: the book with this one's params
                run = run_book_backtest(cfg, again.book, store=True).account
            else:
                run = run_backtest(cfg, store=True)
            rename_run(run.path.parent, run.run_id, _label(row, params))
    except QuantError as exc:
        st.error(fmt.md(f"Not run: {exc}"))
        return
    st.session_state.setdefault(RAN_KEY, {})[f"{row['sweep_id']}/{key}"] = run.run_id
    _open(run.run_id)


def _best(row: dict[str, Any], results: pd.DataFrame, params: pd.DataFrame) -> None:
    st.subheader("Best configurations")
    sweep_id, objective = str(row["sweep_id"]), str(row["objective"])
    table = sd.best_table(results, params, BEST_ROWS)
    event = st.dataframe(
        table.drop(columns="key"),
        key=f"sweeps_best__{sweep_id}",
        on_select="rerun",
        selection_mode="multi-row",
        hide_index=True,
        column_config=_columns(objective),
    )
    st.caption(
        f"The best {len(table):,} of {len(results):,} configurations by {objective}. Select "
        "rows to run one as a stored backtest and open it in the Strategy Explorer."
    )
    ran: dict[str, str] = st.session_state.get(RAN_KEY, {})
    for i in event["selection"]["rows"]:
        key, params_i = str(table["key"].iloc[i]), dict(results["params"].iloc[i])
        value = table["objective"].iloc[i]
        text, run_col, open_col = st.columns([4, 1, 1], vertical_alignment="center")
        text.markdown(f"**#{i + 1}** {fmt.md(sd.params_text(params_i))} · {objective} {value:.4g}")
        if run_col.button("Run and open in Explorer", key=f"sweeps_run__{i}"):
            _run_and_open(row, key, params_i)
        if (done := ran.get(f"{sweep_id}/{key}")) is not None and open_col.button(
            f"Open run {done}", key=f"sweeps_open__{i}", help="The run stored from this row"
        ):
            _open(done)


def _curves(results: pd.DataFrame, curves: pd.DataFrame) -> None:
    st.subheader("Kept curves")
    if curves.empty:
        st.info("No equity curve kept for this sweep (its `keep` is 0, or none finished).")
        return
    labels = sd.curve_labels(curves, results)
    st.plotly_chart(figs.curves_figure(curves, labels), key="sweeps_curves", theme=None)


def _overfitting(row: dict[str, Any]) -> None:
    st.subheader("Overfitting")
    with st.container(border=True, key="sweeps_overfitting"):
        found = sd.overfitting(row)
        if all(v is None for v in found.values()):
            st.caption(
                "Not computed for this sweep: the deflated Sharpe ratio and the probability of "
                "backtest overfitting (PBO) show here once the catalogue records them (when a "
                "sweep completes, with two configurations that traded at least)."
            )
            return
        columns = st.columns(4)
        columns[0].metric(
            "Deflated Sharpe ratio",
            fmt.pct(found["deflated_sharpe"], 1),
            help="The probability that the best configuration's Sharpe ratio beats the best "
            "that the sweep's (effective) trials would reach by luck",
        )
        columns[1].metric(
            "PBO",
            fmt.pct(found["pbo"], 1),
            help="The probability of backtest overfitting (combinatorially symmetric "
            "cross-validation): how often the best in-sample ranks below the median out of it",
        )
        trials, effective = found["trials"], found["effective_trials"]
        columns[2].metric("Trials", "-" if trials is None else f"{trials:,.0f}")
        columns[3].metric("Effective trials", "-" if effective is None else f"{effective:,.1f}")


# ----------------------------------------------------------------------------- the page


def _sweeps_part(path: Path) -> None:
    try:
        sweeps = _sweeps(str(path), sd.signature(path))
        if sweeps.empty:
            st.info(f"The catalogue holds no sweep yet. Run one:\n\n```\n{SWEEP_HINT}\n```")
            return
        row = _pick(sweeps)
        results, curves = _sweep(str(path), str(row["sweep_id"]), sd.signature(path))
    except sd.CatalogueBusy:
        _busy()
        return
    except sd.CatalogueUnreadable as exc:  # damaged, or empty: said, the page goes on
        st.error(str(exc))
        return
    _summary(row, results)
    _progress(sp.progress_folder(data_dir), str(row["sweep_id"]), str(row["objective"]), False)
    if results.empty:
        st.info("No configuration of this sweep is recorded yet.")
    else:
        params = sd.params_frame(results, sd.param_names(results, row.get("spec")))
        _heatmap(row, results, params)
        _distribution(row, results)
        _best(row, results, params)
        _curves(results, curves)
    _overfitting(row)


def _page() -> None:
    mode = st.radio(
        "Show",
        [SWEEPS, WALK_FORWARDS],
        key=MODE_KEY,
        horizontal=True,
        help="Sweeps: every configuration over one period. Walk-forwards: a configuration "
        "chosen on each fold's train window, run on its test window, the tests stitched.",
    )
    path = sd.catalogue_path(data_dir)
    what, hint = ("walk-forwards", wf.HINT) if mode == WALK_FORWARDS else ("sweeps", SWEEP_HINT)
    if not path.exists():
        st.info(f"No {what} in `{fmt.md(path)}` yet. Run one:\n\n```\n{hint}\n```")
        return
    if mode == SWEEPS:
        _sweeps_part(path)
        return
    try:
        wf.section(path)
    except sd.CatalogueBusy:
        _busy()
    except sd.CatalogueUnreadable as exc:
        st.error(str(exc))


st.title("Sweeps")
st.session_state[FULL_RUN_KEY] = time.monotonic()
data_dir = context.config("backtest").paths.data_dir
_page()
