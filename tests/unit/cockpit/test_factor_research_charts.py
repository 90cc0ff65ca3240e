"""The factor research figures and the targets table, without Streamlit running."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.cockpit.charts.research_figures import (
    ic_decay_figure,
    sector_ic_figure,
    target_quantile_figure,
)
from quant_core.cockpit.theme import DOWN, UP
from quant_core.cockpit.views.factor_research import target_table


def _decay() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "horizon": [1, 2, 3],
            "ic_mean": [0.05, 0.03, 0.01],
            "rank_ic_mean": [0.04, 0.02, np.nan],
            "sessions": [250, 249, 0],
            "t": [3.1, 1.5, np.nan],
        }
    )


def _targets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "target": ["fwd_open_5"] * 3 + ["fwd_open_5_rank"] * 3,
            "quantile": [1, 2, 3, 1, 2, 3],
            "mean": [-0.01, 0.002, 0.012, 0.45, 0.5, 0.56],
            "sessions": [200] * 3 + [198] * 3,
            "spread": [0.022] * 3 + [0.11] * 3,
        }
    )


def test_decay_figure_has_both_ics_by_horizon() -> None:
    fig = ic_decay_figure(_decay(), "momentum_126")
    assert fig.layout.title.text == "IC decay of momentum_126: mean IC by forward horizon"
    assert [trace.name for trace in fig.data] == ["IC (Pearson)", "rank IC (Spearman)"]
    assert list(fig.data[0].x) == [1, 2, 3]
    assert list(fig.data[0].y) == pytest.approx([0.05, 0.03, 0.01])
    assert np.isnan(fig.data[1].y[2])
    assert fig.data[1].customdata[0].tolist() == [3.1, 250.0]
    assert fig.layout.xaxis.title.text == "Forward horizon h (sessions) (count)"
    assert "Newey-West" in fig.layout.title.subtitle.text


def test_sector_figure_sorts_colours_and_counts_missing_sectors() -> None:
    by_sector = pd.DataFrame(
        {
            "sector": ["Energy", "Tech", "Telecom", "Utilities"],
            "names": [30, 60, 4, 25],
            "sessions": [240, 240, 0, 240],
            "ic_mean": [-0.01, 0.03, np.nan, 0.01],
            "rank_ic_mean": [-0.02, 0.04, np.nan, 0.01],
            "t": [-1.0, 2.5, np.nan, 0.4],
        }
    )
    fig = sector_ic_figure(by_sector, "value", 21)
    assert fig.layout.title.text == "Rank IC of value within each sector, 21-session horizon"
    (bars,) = fig.data
    assert list(bars.y) == ["Energy", "Utilities", "Tech"]  # ascending, Telecom left out
    assert list(bars.x) == pytest.approx([-0.02, 0.01, 0.04])
    assert list(bars.marker.color) == [DOWN, UP, UP]
    assert "1 sector(s) never had enough names" in fig.layout.title.subtitle.text


def test_target_figure_in_return_units() -> None:
    fig = target_quantile_figure(_targets(), "fwd_open_5", "return", "value")
    assert fig.layout.title.text == "fwd_open_5 by tercile of value"
    (bars,) = fig.data
    assert list(bars.x) == ["Q1 (low)", "Q2", "Q3 (high)"]
    assert list(bars.y) == pytest.approx([-0.01, 0.002, 0.012])
    assert list(bars.text) == ["-1.00%", "0.20%", "1.20%"]
    assert fig.layout.yaxis.tickformat == ".2%"
    assert "Q3 - Q1: +2.20%" in fig.layout.title.subtitle.text
    assert "200 sessions" in fig.layout.title.subtitle.text


def test_target_figure_draws_ranks_from_the_middle() -> None:
    fig = target_quantile_figure(_targets(), "fwd_open_5_rank", "percentile", "value")
    (bars,) = fig.data
    assert bars.base == 0.5
    assert list(bars.y) == pytest.approx([-0.05, 0.0, 0.06])
    assert list(bars.customdata) == pytest.approx([0.45, 0.5, 0.56])
    assert list(bars.marker.color) == [DOWN, UP, UP]
    assert "percentile rank" in fig.layout.title.subtitle.text


def test_target_table_one_row_per_target_in_its_unit() -> None:
    table = target_table(_targets())
    assert table["target"].tolist() == ["fwd_open_5", "fwd_open_5_rank"]
    assert table.columns.tolist() == ["target", "unit", "Q1", "Q2", "Q3", "Q3 - Q1", "sessions"]
    first, second = table.to_dict("records")
    assert (first["unit"], first["Q1"], first["Q3 - Q1"]) == ("return", "-1.00%", "+2.20%")
    assert (second["unit"], second["Q3"], second["Q3 - Q1"]) == ("percentile", "0.560", "+0.110")
    assert second["sessions"] == 198
