"""The Strategy Explorer page: run a backtest from a form, or open, inspect and compare runs.

This module only lays the page out. The sidebar holds the run form
(:mod:`quant_core.cockpit.views.backtest_form_view`, or for a book file
:mod:`~quant_core.cockpit.views.book_form_view`); the run picker with rename and delete is
:mod:`~quant_core.cockpit.views.explorer_manage`, one run's view
:mod:`~quant_core.cockpit.views.explorer_run`, the comparison
:mod:`~quant_core.cockpit.views.explorer_compare`.
"""

from __future__ import annotations

import streamlit as st

from quant_core.cockpit import context
from quant_core.cockpit.views import backtest_form_view as form_view
from quant_core.cockpit.views import book_form_view, explorer_compare, explorer_manage, explorer_run

SYNC_HINT = "python run_data_sync.py --source sample"

st.title("Strategy Explorer")
cfg = context.config("backtest")
warehouse = context.warehouse(cfg)
root = context.backtests_dir(cfg)
datasets = warehouse.datasets()

with st.sidebar:
    if not datasets:
        st.warning(f"No data to backtest: load a dataset first with `{SYNC_HINT}`.")

if not datasets:
    st.warning(
        f"The warehouse at `{warehouse.location}` holds no dataset, so no backtest can run. "
        f"Load one first:\n\n```\n{SYNC_HINT}\n```"
    )
elif book_form_view.chosen_kind() == book_form_view.BOOK:  # a book file: several sleeves
    book_form_view.book_form(cfg, warehouse, datasets)
else:
    form_view.backtest_form(cfg, warehouse, datasets)

rows = explorer_manage.catalogue(root)
if not rows:
    how = "Set one up in the sidebar and press" if datasets else "Once data is loaded, press"
    st.info(
        f"No stored backtests in `{root}` yet. {how} **Run backtest**, or run "
        "`python run_backtest.py`."
    )
else:
    run_id = explorer_manage.pick(root, rows)
    if run_id is not None:
        explorer_run.render(root, rows[run_id], warehouse)
    explorer_compare.render(root, rows)
