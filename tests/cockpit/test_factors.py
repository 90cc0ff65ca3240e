"""The Factors page: what it shows equals what the analysis computes from the warehouse."""

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

from quant_core.calendar import TradingCalendar
from quant_core.cockpit.charts import factor_figures
from quant_core.cockpit.tables.factor_summary import summary_table
from quant_core.cockpit.theme import DOWN, UP
from quant_core.data.sources.synthetic import SyntheticSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.factors.analysis import FactorAnalysis, analyze_factor
from quant_core.factors.cross_section import MIN_PAIRS
from quant_core.factors.ic import factor_correlation
from tests.cockpit.conftest import APP, VIEWS

DATASET = "sp500-2010"


def plotly_array(value: Any) -> np.ndarray:
    """Return a plotly JSON array: a list, or plotly's base64 typed array."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(value)


def charts(at: AppTest) -> dict[str, dict[str, Any]]:
    """Return the page's plotly specs by title."""
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def chart(at: AppTest, title_start: str) -> dict[str, Any]:
    found = [spec for title, spec in charts(at).items() if title.startswith(title_start)]
    assert len(found) == 1, list(charts(at))
    return found[0]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def open_view(view: str) -> AppTest:
    """Open the app and switch to ``view`` (only that page must render without error)."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(f"{VIEWS}/{view}.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def warehouse(data_dir: Path) -> Warehouse:
    return Warehouse(data_dir / "warehouse")


def analyze(warehouse: Warehouse, name: str, horizon: int, quantiles: int) -> FactorAnalysis:
    """Return what the page should show for ``name``, computed straight from the warehouse."""
    close = warehouse.panel(DATASET, "close")
    panel = warehouse.factor_store.panel(DATASET, name)
    return analyze_factor(name, panel, close, horizon, quantiles, MIN_PAIRS)


def expected_metrics(result: FactorAnalysis, quantiles: int) -> dict[str, str]:
    return {
        "Mean IC": f"{result.ic_summary.mean:.3f}",
        "IC t-stat": f"{result.ic_summary.t_stat:.2f}",
        "IC hit rate": f"{result.ic_summary.hit_rate:.1%}",
        "Mean rank IC": f"{result.rank_ic_summary.mean:.3f}",
        "Rank IC t-stat": f"{result.rank_ic_summary.t_stat:.2f}",
        f"Q{quantiles} - Q1": f"{result.quantiles.spread:.2%}",
    }


# --------------------------------------------------------------------------------- AppTest


def test_defaults_show_every_stored_factor_and_the_first_in_detail(
    open_page: Callable[[str], AppTest], warehouse: Warehouse
) -> None:
    at = open_page("factors")

    names = warehouse.factor_store.names(DATASET)
    first = analyze(warehouse, names[0], 21, 5)
    assert at.number_input(key="fa_horizon").value == 21
    assert at.selectbox(key="fa_quantiles").value == 5
    assert at.multiselect(key="fa_factors").value == names
    assert metrics(at) == expected_metrics(first, 5)
    assert np.isfinite(first.ic_summary.mean)
    # Quintile bars, in %, equal to the analysis.
    bars = chart(at, "Forward return by quintile")
    assert len(bars["data"][0]["x"]) == 5
    np.testing.assert_allclose(plotly_array(bars["data"][0]["y"]), first.quantiles.mean)
    assert bars["layout"]["yaxis"]["tickformat"] == ".2%"
    # The IC chart draws both series of the factor in detail.
    ic = chart(at, f"IC of {names[0]} vs the 21-session")
    np.testing.assert_allclose(plotly_array(ic["data"][0]["y"]), first.ic.to_numpy())
    np.testing.assert_allclose(plotly_array(ic["data"][1]["y"]), first.rank_ic.to_numpy())


def test_summary_table_holds_every_chosen_factor(
    open_page: Callable[[str], AppTest], warehouse: Warehouse
) -> None:
    at = open_page("factors")

    shown = at.dataframe[0].value
    names = warehouse.factor_store.names(DATASET)
    expected = summary_table([analyze(warehouse, n, 21, 5) for n in names])
    assert shown["factor"].tolist() == names
    np.testing.assert_allclose(shown["mean IC"], expected["mean IC"])
    np.testing.assert_allclose(shown["rank IC t-stat"], expected["rank IC t-stat"])
    # Percent columns are shown in percent.
    np.testing.assert_allclose(shown["IC hit rate"], 100 * expected["IC hit rate"])
    np.testing.assert_allclose(shown["turnover"], 100 * expected["turnover"])


def test_horizon_and_quantiles_recompute_the_page(
    open_page: Callable[[str], AppTest], warehouse: Warehouse
) -> None:
    at = open_page("factors")

    at.number_input(key="fa_horizon").set_value(5)
    at.selectbox(key="fa_quantiles").set_value(10)
    at.selectbox(key="fa_focus").set_value("momentum_126")
    at.run()

    assert not at.exception
    result = analyze(warehouse, "momentum_126", 5, 10)
    assert metrics(at) == expected_metrics(result, 10)
    bars = chart(at, "Forward return by decile: momentum_126")
    assert len(bars["data"][0]["x"]) == 10
    np.testing.assert_allclose(plotly_array(bars["data"][0]["y"]), result.quantiles.mean)
    assert "IC of momentum_126 vs the 5-session forward return" in charts(at)


def test_correlation_heatmap_and_per_factor_charts_follow_the_choice(
    open_page: Callable[[str], AppTest], warehouse: Warehouse
) -> None:
    at = open_page("factors")
    chosen = ["momentum_126", "rsi_14", "volatility_20"]

    at.multiselect(key="fa_factors").set_value(chosen)
    at.run()

    heat = chart(at, "Mean cross-sectional rank correlation")
    panels = {name: warehouse.factor_store.panel(DATASET, name) for name in chosen}
    matrix = factor_correlation(panels, MIN_PAIRS)
    assert heat["data"][0]["x"] == chosen
    np.testing.assert_allclose(plotly_array(heat["data"][0]["z"]), matrix.to_numpy())
    assert abs(matrix.to_numpy()[0, 1]) > 0.05  # momentum_126 vs rsi_14: a real number
    coverage = chart(at, "Coverage")
    assert [trace["name"] for trace in coverage["data"]] == chosen
    turnover = chart(at, "Turnover")
    result = analyze(warehouse, "rsi_14", 21, 5)
    np.testing.assert_allclose(plotly_array(turnover["data"][1]["y"]), result.turnover)
    # The focus falls back to a chosen factor.
    assert at.selectbox(key="fa_focus").value == "momentum_126"

    at.multiselect(key="fa_factors").set_value(["rsi_14"])
    at.run()
    assert not any(t.startswith("Mean cross-sectional") for t in charts(at))


def test_empty_warehouse_names_the_sync_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QC__PATHS__DATA_DIR", str(tmp_path / "empty"))

    at = open_view("factors")

    assert [t.value for t in at.title] == ["Factors"]
    assert "python run_data_sync.py --source sample --dataset sp500-2010" in at.info[0].value
    assert not at.get("plotly_chart")


def test_synthetic_dataset_without_factors_says_so(
    data_dir: Path, calendar: TradingCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = Warehouse(data_dir / "warehouse")
    sync(SyntheticSource(calendar, symbols=5, days=30), warehouse, calendar, "synth")
    monkeypatch.setenv("QC__DATA__DATASET", "synth")

    at = open_view("factors")

    assert at.selectbox(key="fa_dataset").value == "synth"
    assert at.warning[0].value.startswith("SYNTHETIC DATA")
    assert "python run_factor_computation.py --dataset synth" in at.info[0].value


# ------------------------------------------------------------------------- pure builders


def small_result() -> FactorAnalysis:
    rng = np.random.default_rng(2)
    dates = pd.bdate_range("2010-01-04", periods=40)
    close = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.02, (40, 30)), 0)), dates)
    return analyze_factor("mom", close.pct_change(3), close, 5, 5, 10)


def test_every_chart_labels_its_axes_with_units() -> None:
    result = small_result()
    matrix = pd.DataFrame([[1.0, 0.3], [0.3, 1.0]], index=["a", "b"], columns=["a", "b"])

    figures = {
        "coverage": factor_figures.coverage_figure([result]),
        "ic": factor_figures.ic_figure(result),
        "quantiles": factor_figures.quantile_figure(result),
        "turnover": factor_figures.turnover_figure([result]),
        "correlation": factor_figures.correlation_figure(matrix),
    }

    for name, fig in figures.items():
        layout = fig.to_plotly_json()["layout"]
        assert layout["xaxis"]["title"]["text"], name
        assert layout["yaxis"]["title"]["text"], name
    assert figures["coverage"].layout.yaxis.tickformat == ".1%"
    assert figures["coverage"].layout.yaxis.title.text == "Coverage (%)"
    assert figures["turnover"].layout.yaxis.title.text == "Turnover (%)"
    assert figures["quantiles"].layout.yaxis.title.text == "Mean 5-session forward return (%)"
    assert figures["ic"].layout.xaxis.tickformat == "%Y-%m-%d"
    # Factor names are categories, not numbers.
    assert figures["correlation"].layout.yaxis.type == "category"


def test_quantile_figure_colours_losses_and_titles_the_spread() -> None:
    result = small_result()

    fig = factor_figures.quantile_figure(result)

    bars = fig.data[0]
    assert list(bars.x) == ["Q1 (low)", "Q2", "Q3", "Q4", "Q5 (high)"]
    for value, colour in zip(bars.y, bars.marker.color, strict=True):
        assert colour == (UP if value >= 0 else DOWN)
    assert f"{result.quantiles.spread:+.2%}" in fig.layout.title.subtitle.text


def test_summary_table_reports_each_statistic() -> None:
    result = small_result()

    row = summary_table([result]).iloc[0]

    assert row["factor"] == "mom"
    assert row["mean IC"] == result.ic_summary.mean
    assert row["rank IC hit rate"] == result.rank_ic_summary.hit_rate
    assert row["top - bottom"] == result.quantiles.spread
    assert row["turnover"] == pytest.approx(np.nanmean(result.turnover))
    assert row["coverage"] == pytest.approx(1.0)  # every listed symbol has a value once started


def test_the_factor_in_detail_has_its_research_section(
    open_page: Callable[[str], AppTest], warehouse: Warehouse
) -> None:
    from quant_core.factors.decay import ic_decay

    at = open_page("factors")

    names = warehouse.factor_store.names(DATASET)
    assert f"Research: {names[0]}" in [h.value for h in at.subheader]
    decay = chart(at, f"IC decay of {names[0]}")
    expected = ic_decay(
        warehouse.factor_store.panel(DATASET, names[0]), warehouse.panel(DATASET, "close")
    )
    assert len(plotly_array(decay["data"][0]["x"])) == 21
    np.testing.assert_allclose(
        plotly_array(decay["data"][0]["y"]).astype(float),
        expected["ic_mean"].to_numpy(dtype=float),
    )
    assert chart(at, f"Rank IC of {names[0]} within each sector")
