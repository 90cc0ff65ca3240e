"""The risk report's figures and tables, from a run's frames and a report's JSON form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.cockpit.charts.risk import (
    contributions_figure,
    sector_contributions_figure,
    sector_exposure_figure,
    volatility_figure,
)
from quant_core.cockpit.tables.risk_tables import (
    left_out_line,
    names_table,
    sectors_table,
    stress_table,
    summary_table,
)

DATES = pd.to_datetime(["2010-01-04", "2010-02-02", "2010-03-03"])
EQUITY = pd.Series([100_000.0, 110_000.0, 90_000.0], index=DATES)


def _exposure() -> pd.DataFrame:
    rows = []
    for date, tech, energy in zip(DATES, (0.5, 0.4, 0.0), (0.2, 0.3, 0.0), strict=True):
        rows.append({"date": date, "sector": "Tech", "long": tech, "short": 0.0})
        rows.append({"date": date, "sector": "Energy", "long": energy, "short": -0.1})
    frame = pd.DataFrame(rows)
    frame["gross"] = frame["long"] - frame["short"]
    frame["net"] = frame["long"] + frame["short"]
    return frame[["date", "sector", "long", "short", "gross", "net"]]


def test_sector_exposure_stacks_gross_per_sector_largest_first() -> None:
    fig = sector_exposure_figure(_exposure(), EQUITY)

    assert [t.name for t in fig.data] == ["Tech", "Energy"]  # mean gross 0.30 vs 0.27
    assert all(t.stackgroup == "gross" for t in fig.data)
    np.testing.assert_allclose(fig.data[0].y, [0.5, 0.4, 0.0])
    np.testing.assert_allclose(fig.data[1].y, [0.3, 0.4, 0.1])
    np.testing.assert_allclose(fig.data[1].customdata[:, 3], [30_000.0, 44_000.0, 9_000.0])


def test_volatility_shows_the_target_only_when_one_is_set() -> None:
    vol = pd.DataFrame(
        {"realised": [np.nan, 0.1, 0.12], "ex_ante": [0.11, np.nan, 0.13], "target": 0.12},
        index=DATES,
    )

    with_target = volatility_figure(vol, EQUITY)
    without = volatility_figure(vol.assign(target=np.nan), EQUITY)

    assert [t.name for t in with_target.data][-1] == "Target"
    np.testing.assert_allclose(with_target.data[2].y, [0.12] * 3)
    np.testing.assert_allclose(with_target.data[1].y, [0.11, 0.13])  # the rebalances only
    np.testing.assert_allclose(with_target.data[1].customdata, [11_000.0, 11_700.0])
    assert with_target.layout.title.text.startswith("Realised vs target volatility")
    assert "Target" not in [t.name for t in without.data]
    assert "no target set" in without.layout.title.text


def test_contributions_show_the_top_15_and_sectors_both_measures() -> None:
    names = [
        {"symbol": f"S{i:02d}", "sector": "Tech", "weight": 0.05, "contribution": 0.05}
        for i in range(20)
    ]
    sectors = [
        {"sector": "Tech", "gross": 0.6, "contribution": 0.8},
        {"sector": "Energy", "gross": 0.4, "contribution": 0.2},
    ]

    fig = contributions_figure(names, 200_000.0)
    bars = sector_contributions_figure(sectors, 200_000.0)

    assert list(fig.data[0].y) == [f"S{i:02d}" for i in range(15)]
    assert "15 largest names" in fig.layout.title.text
    np.testing.assert_allclose(bars.data[0].y, [0.8, 0.2])
    np.testing.assert_allclose(bars.data[1].y, [0.6, 0.4])
    np.testing.assert_allclose(bars.data[1].customdata, [120_000.0, 80_000.0])
    np.testing.assert_allclose(fig.data[0].customdata[0], [0.05, 10_000.0])  # 5% of $200,000
    assert fig.data[0].text[0] == "Tech"


REPORT = {
    "ex_ante_vol": 0.2,
    "var": None,  # too few sessions
    "es": None,
    "var_sessions": 12,
    "names": [
        {"symbol": f"S{i:02d}", "sector": "Tech", "weight": 0.01 * i, "contribution": 0.1}
        for i in range(20)
    ],
    "sectors": [
        {
            "sector": "Tech",
            "long": 0.3,
            "short": -0.1,
            "gross": 0.4,
            "net": 0.2,
            "contribution": 1.0,
        }
    ],
    "stress": [{"session": "2010-05-06", "universe_return": -0.03, "book_return": 0.01}],
    "left_out": [],
}


def test_tables_show_percentages_and_dollars() -> None:
    summary = summary_table(REPORT, 50_000.0)
    assert summary["% of equity"].iloc[0] == pytest.approx(20.0)
    assert summary["USD"].iloc[0] == pytest.approx(10_000.0)
    assert summary["% of equity"].iloc[1:].isna().all()  # no VaR: unknown, not 0
    assert "12 sessions" in summary["Measure"].iloc[1]
    assert len(names_table(REPORT)) == 15
    assert names_table(REPORT)["Weight (%)"].iloc[3] == pytest.approx(3.0)
    assert sectors_table(REPORT).iloc[0].to_dict() == {
        "Sector": "Tech",
        "Long (%)": pytest.approx(30.0),
        "Short (%)": pytest.approx(-10.0),
        "Gross (%)": pytest.approx(40.0),
        "Net (%)": pytest.approx(20.0),
        "Risk contribution (%)": pytest.approx(100.0),
    }
    stress = stress_table(REPORT, None)
    assert stress["Book return (%)"].iloc[0] == pytest.approx(1.0)
    assert stress["Book P&L"].isna().all()  # no equity: no dollars


def test_left_out_names_are_listed_up_to_ten() -> None:
    assert left_out_line([]) is None
    line = left_out_line([f"N{i}" for i in range(12)])
    assert line is not None
    assert "N9 and 2 more" in line
