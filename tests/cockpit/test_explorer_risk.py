"""The Explorer's risk section: a run stored with its risk report, and one stored before it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from quant_core.backtest.results import catalog

Opener = Callable[[str], AppTest]
RISK_FILES = ("risk_exposure.parquet", "risk_vol.parquet", "risk.json")


def _titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def _chart(at: AppTest, prefix: str) -> dict[str, Any]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    found = [s for s in specs if s["layout"]["title"]["text"].startswith(prefix)]
    assert len(found) == 1, _titles(at)
    return found[0]


def _values(trace: dict[str, Any], key: str) -> np.ndarray:
    raw = trace[key]
    if isinstance(raw, dict) and "bdata" in raw:
        return np.frombuffer(base64.b64decode(raw["bdata"]), dtype=np.dtype(raw["dtype"]))
    return np.asarray(raw)


def _table(at: AppTest, column: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1
    frame: pd.DataFrame = found[0]
    return frame


def _run_folder(data_dir: Path) -> Path:
    (run_id,) = catalog(data_dir / "backtests")["run_id"]
    return data_dir / "backtests" / str(run_id)


def test_a_new_run_shows_its_risk(open_page: Opener, data_dir: Path) -> None:
    folder = _run_folder(data_dir)
    document = json.loads((folder / "risk.json").read_text())
    exposure = pd.read_parquet(folder / "risk_exposure.parquet")

    at = open_page("explorer")

    assert not at.exception, at.exception
    assert "Risk" in [h.value for h in at.subheader]
    sectors = _chart(at, "Sector exposure after each rebalance")
    assert {t["name"] for t in sectors["data"]} == set(exposure["sector"])
    assert sectors["layout"]["yaxis"]["tickformat"] == ".1%"
    vol = _chart(at, "Realised and ex-ante volatility")  # the config sets no target
    traces = [t["name"] for t in vol["data"]]
    assert traces == ["Realised (63 sessions)", "Ex-ante at each rebalance"]
    names = _chart(at, "Risk contribution of the")
    report = document["report"]
    top = report["names"][:15]
    assert list(_values(names["data"][0], "y")) == [n["symbol"] for n in top]
    np.testing.assert_allclose(_values(names["data"][0], "x"), [n["contribution"] for n in top])
    _chart(at, "Risk and exposure by sector")
    stress = _table(at, "Universe return (%)")
    assert list(stress["Session"]) == [s["session"] for s in report["stress"]]
    np.testing.assert_allclose(
        stress["Book P&L"], [s["book_return"] * document["equity"] for s in report["stress"]]
    )
    summary = _table(at, "Measure").set_index("Measure")["% of equity"]
    assert summary.iloc[0] == pytest.approx(100 * report["ex_ante_vol"])
    assert summary.iloc[1] == pytest.approx(100 * report["var"])
    assert summary.iloc[2] == pytest.approx(100 * report["es"])


def test_a_run_stored_before_the_risk_report_says_so(open_page: Opener, data_dir: Path) -> None:
    folder = _run_folder(data_dir)
    for name in RISK_FILES:
        (folder / name).unlink()

    at = open_page("explorer")

    assert not at.exception, at.exception
    assert any("No risk report" in i.value for i in at.info)
    assert not [t for t in _titles(at) if t.startswith(("Sector exposure", "Risk contribution"))]
    assert _titles(at)[0].startswith("Equity")  # the rest of the run is shown
    assert [d for d in at.dataframe if "flag" in d.value.columns]  # the trades too
