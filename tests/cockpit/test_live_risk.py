"""The Live Dashboard's risk panel: the worker's book_risk shown, and its absence said."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from quant_core.cockpit.tables.risk_tables import NO_LIVE_REPORT
from quant_core.live.files import write_state
from tests.cockpit.test_live import _state

Opener = Callable[[str], AppTest]

BOOK_RISK: dict[str, Any] = {
    "computed_at": "2026-03-02T14:35:02+00:00",
    "data_through": "2026-02-27",
    "net_liquidation": 1_000_000.0,
    "ex_ante_vol": 0.18,
    "var": 0.021,
    "es": 0.03,
    "var_sessions": 252,
    "names_held": 2,
    "names": [
        {"symbol": "AAPL", "sector": "Technology", "weight": 0.16, "contribution": 1.05},
        {"symbol": "XOM", "sector": "Energy", "weight": -0.015, "contribution": -0.05},
    ],
    "sectors": [
        {
            "sector": "Technology",
            "long": 0.16,
            "short": 0.0,
            "gross": 0.16,
            "net": 0.16,
            "contribution": 1.05,
        },
        {
            "sector": "Energy",
            "long": 0.0,
            "short": -0.015,
            "gross": 0.015,
            "net": -0.015,
            "contribution": -0.05,
        },
    ],
    "stress": [
        {"session": "2020-03-16", "universe_return": -0.12, "book_return": -0.02},
        {"session": "2008-10-15", "universe_return": -0.09, "book_return": None},
    ],
    "left_out": ["NEWCO"],
}


def _table(at: AppTest, *columns: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert len(found) == 1
    frame: pd.DataFrame = found[0]
    return frame


def _captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_the_books_risk_report_shows(data_dir: Path, open_page: Opener) -> None:
    write_state(data_dir / "live", {**_state(), "book_risk": BOOK_RISK})

    at = open_page("live")

    assert not at.exception, at.exception
    assert "Risk report of the book" in [h.value for h in at.subheader]
    summary = _table(at, "Measure").set_index("Measure")
    assert list(summary["% of equity"]) == pytest.approx([18.0, 2.1, 3.0])
    assert list(summary["USD"]) == pytest.approx([180_000.0, 21_000.0, 30_000.0])
    assert "252 sessions" in summary.index[1]
    names = _table(at, "Weight (%)", "Risk contribution (%)")
    assert list(names["Symbol"]) == ["AAPL", "XOM"]
    assert list(names["Risk contribution (%)"]) == pytest.approx([105.0, -5.0])
    sectors = _table(at, "Gross (%)", "Risk contribution (%)")
    assert list(sectors["Short (%)"]) == pytest.approx([0.0, -1.5])
    stress = _table(at, "Universe return (%)")
    assert list(stress["Session"]) == ["2020-03-16", "2008-10-15"]
    assert stress["Book P&L"].iloc[0] == pytest.approx(-20_000.0)
    assert pd.isna(stress["Book P&L"].iloc[1])  # an unknown figure stays unknown
    assert "closes through 2026-02-27" in _captions(at)
    assert "NEWCO" in _captions(at)
    assert NO_LIVE_REPORT not in _captions(at)


def test_a_state_without_a_report_says_so(data_dir: Path, open_page: Opener) -> None:
    write_state(data_dir / "live", _state())  # an older worker writes no book_risk

    at = open_page("live")

    assert not at.exception, at.exception
    assert NO_LIVE_REPORT in _captions(at)
    assert not [d for d in at.dataframe if "Universe return (%)" in d.value.columns]


def _titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def _daily(sessions: int) -> list[dict[str, Any]]:
    days = pd.bdate_range("2026-01-02", periods=sessions)
    tech = {"sector": "Technology", "long": 0.5, "short": -0.1, "gross": 0.6, "net": 0.4}
    return [
        {
            "session": d.date().isoformat(),
            "equity": 1e6 + 1e3 * (i % 5),
            "gross": 0.6,
            "sectors": [tech] if i else [],
        }
        for i, d in enumerate(days)
    ]


def test_sector_exposure_and_volatility_are_drawn_from_the_recorded_closes(
    data_dir: Path, open_page: Opener
) -> None:
    write_state(data_dir / "live", {**_state(), "book_risk": BOOK_RISK, "daily": _daily(70)})

    at = open_page("live")

    assert not at.exception, at.exception
    titles = _titles(at)
    assert "Sector exposure at each session's close (gross, % of equity)" in titles
    assert "Realised vs target volatility (annualised)" in titles or any(
        t.startswith("Realised and ex-ante volatility") for t in titles
    )
    sector = next(
        json.loads(c.proto.spec)
        for c in at.get("plotly_chart")
        if "Sector exposure at each" in json.loads(c.proto.spec)["layout"]["title"]["text"]
    )
    [trace] = sector["data"]
    assert trace["name"] == "Technology"
    assert len(trace["x"]) == 69  # the first close held nothing
    assert "Realised volatility (63 sessions, annualised): not enough" not in _captions(at)


def test_a_state_without_recorded_closes_says_so(data_dir: Path, open_page: Opener) -> None:
    write_state(data_dir / "live", {**_state(), "book_risk": BOOK_RISK})

    at = open_page("live")

    assert not at.exception, at.exception
    assert "No session close recorded yet" in _captions(at)
    assert not any("Sector exposure" in t for t in _titles(at))
