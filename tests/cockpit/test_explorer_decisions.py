"""The Explorer's decisions section: a new run with stops shows them; an old run has none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from config import load_config
from quant_core.backtest.results import catalog, load_run
from quant_core.backtest.run import run_backtest
from quant_core.cockpit.tables.decisions import NO_DECISIONS

Opener = Callable[[str], AppTest]


def _table(at: AppTest) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if "detail" in d.value.columns]
    assert len(found) == 1
    frame: pd.DataFrame = found[0]
    return frame


def test_a_new_run_shows_its_decisions_filtered_by_kind(open_page: Opener, data_dir: Path) -> None:
    cfg = load_config("backtest", [f"paths.data_dir={data_dir}", "risk.stop_loss=0.03"], environ={})
    run = run_backtest(cfg)  # the newest run: the one the page opens
    stored = pd.read_parquet(run.path / "decisions.parquet")
    stops = int((stored["kind"] == "stop").sum())
    assert stops > 0  # the case: a 3% stop trips on a year of S&P 500 names

    at = open_page("explorer")

    assert not at.exception, at.exception
    assert "Decisions" in [h.value for h in at.subheader]
    assert any(c.value.startswith(f"{len(stored):,} decisions:") for c in at.caption)
    assert any(f"{stops:,} stop" in c.value for c in at.caption)
    table = _table(at)
    assert len(table) == len(stored)
    assert list(table.columns) == ["date", "kind", "name", "detail"]
    kinds = at.multiselect(key="decision_kinds")
    assert "stop" in kinds.value
    kinds.set_value(["stop"]).run()
    assert not at.exception, at.exception
    shown = _table(at)
    assert set(shown["kind"]) == {"stop"}
    assert sorted(shown["name"]) == sorted(stored.loc[stored["kind"] == "stop", "name"])
    # The trades line counts the stop-loss exits (a stop whose exit found no open stays unfilled).
    exits = int((run.result.trades["status"] == "stop_loss").sum())
    assert 0 < exits <= stops
    assert any(f"stop exits: {exits:,} stop loss, 0 take profit" in c.value for c in at.caption)


def test_a_run_stored_before_decisions_says_it_has_none(open_page: Opener, data_dir: Path) -> None:
    root = data_dir / "backtests"
    (run_id,) = catalog(root)["run_id"]
    (root / str(run_id) / "decisions.parquet").unlink()
    assert load_run(root, str(run_id)).decisions.empty  # read back as an empty frame

    at = open_page("explorer")

    assert not at.exception, at.exception
    assert "Decisions" in [h.value for h in at.subheader]
    assert any(i.value == NO_DECISIONS for i in at.info)
    assert not [d for d in at.dataframe if "detail" in d.value.columns]
    assert [d for d in at.dataframe if "flag" in d.value.columns]  # the trades still shown
