"""A backtest on the bundled data (sp500-2010) stores its risk report beside the run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from config import load_config
from quant_core.backtest.results import load_run
from quant_core.backtest.risk import EXPOSURE_COLUMNS, VOL_COLUMNS, load_risk
from quant_core.backtest.run import run_backtest
from quant_core.calendar import TradingCalendar
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: TradingCalendar) -> Path:
    root = tmp_path_factory.mktemp("risk")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


def test_the_stored_run_has_its_risk_files(data_dir: Path) -> None:
    cfg = load_config(
        "backtest", [f"paths.data_dir={data_dir}", "portfolio.vol_target=0.5"], environ={}
    )

    run = run_backtest(cfg)

    files = {p.name for p in run.path.iterdir()}
    assert {"risk_exposure.parquet", "risk_vol.parquet", "risk.json"} <= files
    risk = load_risk(run.path)
    assert risk is not None
    assert tuple(risk.exposure.columns) == EXPOSURE_COLUMNS
    assert tuple(risk.vol.columns) == VOL_COLUMNS
    stored = load_run(run.path.parent, run.run_id)
    rebalances = pd.DatetimeIndex(stored.positions["date"]).unique()
    assert set(pd.DatetimeIndex(risk.exposure["date"])) == set(rebalances)
    # The gross over sectors is the book's gross at each rebalance: positions over equity.
    gross = risk.exposure.groupby("date")["gross"].sum()
    book = stored.positions.groupby("date")["value"].apply(lambda v: v.abs().sum())
    equity = stored.curve["equity"].reindex(book.index)
    pd.testing.assert_series_equal(
        gross.rename(None), (book / equity).rename(None), check_index_type=False, rtol=1e-12
    )
    assert len(set(risk.exposure["sector"]) - {"Unknown"}) >= 5  # the sample's sector file
    assert risk.vol["ex_ante"].notna().sum() == len(rebalances)
    assert risk.vol["realised"].notna().sum() == len(stored.curve) - 63
    assert (risk.vol["target"] == 0.5).all()
    document = json.loads((run.path / "risk.json").read_text())  # strict JSON: no NaN
    assert document["as_of"] == str(rebalances[-1].date())
    report = document["report"]
    assert report["var"] > 0
    assert report["es"] >= report["var"]
    assert math.isclose(sum(n["contribution"] for n in report["names"]), 1.0, abs_tol=1e-9)
    assert len(report["stress"]) == 5
