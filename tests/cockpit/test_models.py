"""The Factors page's Models view: stored models, one in detail, and a fit from the page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from quant_core.calendar import TradingCalendar
from quant_core.cockpit.models import model_fit
from quant_core.cockpit.views.models_view import OTHER
from quant_core.data.sources.synthetic import SyntheticSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.research.model import ACCEPTED, REJECTED
from quant_core.research.store import ModelStore, composite_factor
from tests.cockpit import fit_results
from tests.cockpit.test_factors import chart, charts, plotly_array

EARLY = dt.datetime(2024, 1, 5, 14, 30, tzinfo=dt.UTC)
LATE = dt.datetime(2024, 2, 9, 9, 0, tzinfo=dt.UTC)
# A short fit: two quick factors, a one-session label, 40-session train windows, few draws.
TINY_SPEC = """\
model:
  name: tiny
  factors: [reversal_5, volatility_20]
  target: fwd_open_1
  estimator: ridge
  validation: {scheme: walk_forward, train: 40, test: 20, embargo: 2}
  bootstrap: 20
  min_oos_rank_ic: -1.0
"""


@pytest.fixture
def store(data_dir: Path) -> ModelStore:
    return ModelStore(data_dir / "models")


@pytest.fixture
def two_models(store: ModelStore) -> tuple[str, str]:
    """Store an accepted model (earlier) and a rejected one (later); return their ids."""
    accepted = store.save(fit_results.result("value_mom", ACCEPTED, 0.031), "sp500-2010", EARLY)
    rejected = store.save(fit_results.result("noise", REJECTED, 0.004), "sp500-2010", LATE)
    return accepted, rejected


@pytest.fixture
def synth(data_dir: Path, calendar: TradingCalendar, monkeypatch: pytest.MonkeyPatch) -> str:
    """Sync a small synthetic dataset (30 names, 160 sessions) and make it the page's default."""
    warehouse = Warehouse(data_dir / "warehouse")
    sync(SyntheticSource(calendar, symbols=30, days=160), warehouse, calendar, "synth")
    monkeypatch.setenv("QC__DATA__DATASET", "synth")
    return "synth"


def open_models(open_page: Callable[[str], AppTest]) -> AppTest:
    at = open_page("factors")
    at.segmented_control(key="fa_view").set_value("Models").run()
    assert not at.exception, at.exception
    return at


def table(at: AppTest, column: str) -> pd.DataFrame:
    """Return the one table on the page with ``column`` (AppTest keeps no key of a table)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [d.value.columns.tolist() for d in at.dataframe]
    return found[0]


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def type_spec(at: AppTest, path: Path) -> None:
    at.selectbox(key="md_spec").set_value(OTHER).run()
    at.text_input(key="md_spec_path").input(str(path)).run()
    assert not at.exception, at.exception


# --------------------------------------------------------------------------- stored models


def test_an_empty_store_says_how_to_fit_one(open_page: Callable[[str], AppTest]) -> None:
    at = open_models(open_page)

    assert [t.value for t in at.title] == ["Factors"]
    assert "run_factor_computation.py --fit research/value_mom.yaml" in at.info[-1].value
    assert at.expander[0].label == "Fit a model"
    assert not at.get("plotly_chart")
    # The factor analysis is not drawn under the Models view.
    assert not at.dataframe


def test_the_table_lists_every_stored_model_newest_first(
    open_page: Callable[[str], AppTest], two_models: tuple[str, str]
) -> None:
    accepted, rejected = two_models

    at = open_models(open_page)

    listed = table(at, "model_id")
    assert listed["model_id"].tolist() == [rejected, accepted]
    assert listed["status"].tolist() == ["REJECTED", "ACCEPTED"]
    np.testing.assert_allclose(listed["oos_rank_ic"], [0.004, 0.031])
    assert at.selectbox(key="md_model").value == rejected  # the newest is open
    assert at.error[0].value.startswith("REJECTED: out-of-sample rank IC 0.0040 <= floor 0.02")


def test_an_opened_model_shows_its_folds_ic_intervals_and_baselines(
    open_page: Callable[[str], AppTest], two_models: tuple[str, str]
) -> None:
    accepted, _ = two_models
    at = open_models(open_page)

    at.selectbox(key="md_model").set_value(accepted).run()

    assert not at.exception, at.exception
    expected = fit_results.result("value_mom", ACCEPTED, 0.031)
    assert at.success[0].value.startswith("ACCEPTED: out-of-sample rank IC 0.0310 > floor 0.02")
    assert f"--param model={accepted}" in at.success[0].value
    # The fold table: every pinned column, then one coefficient column per factor.
    folds = table(at, "coef_cosine")
    assert folds.columns.tolist()[-2:] == ["coef_momentum_126", "coef_reversal_5"]
    np.testing.assert_allclose(folds["oos_rank_ic"], [0.028, 0.041, 0.0123])
    np.testing.assert_allclose(folds["coef_reversal_5"], [-0.0011, -0.0009, -0.0014])
    assert folds["test_start"].tolist()[0] == dt.date(2020, 3, 30)
    # The charts, by title.
    assert set(charts(at)) == {
        f"Out-of-sample rank IC: {accepted}",
        "Coefficients with 95% bootstrap intervals",
        "Mean fwd_open_5 by quintile of the composite",
    }
    ic = chart(at, "Out-of-sample rank IC")
    np.testing.assert_allclose(
        plotly_array(ic["data"][0]["y"]), expected.oos_daily["rank_ic"], rtol=1e-12
    )
    assert "overall 0.031, Newey-West t 2.37" in ic["layout"]["title"]["subtitle"]["text"]
    ic_caption = [c.value for c in at.caption if c.value.startswith("Overall out-of-sample")]
    assert ic_caption
    assert "0.0310, Newey-West t 2.37 (4 lags" in ic_caption[0]
    # The intervals: in the table and as the chart's error bars.
    coefs = table(at, "ci_low")
    np.testing.assert_allclose(coefs["ci_low"], [0.0012, -0.0013])
    np.testing.assert_allclose(coefs["ci_high"], [0.0030, 0.0006])
    assert coefs["excludes_zero"].tolist() == [True, False]
    bars = chart(at, "Coefficients")["data"][0]
    high = plotly_array(bars["y"]) + plotly_array(bars["error_y"]["array"])
    np.testing.assert_allclose(high, [0.0030, 0.0006])
    quantiles = chart(at, "Mean fwd_open_5 by quintile")["data"][0]
    np.testing.assert_allclose(plotly_array(quantiles["y"]), expected.quantiles["mean_label"])
    # The baselines and the improvement over each.
    baselines = table(at, "improvement")
    np.testing.assert_allclose(baselines["improvement"][1:], [0.031 - 0.012, 0.031 - 0.019])
    shown = {m.label: m.value for m in at.metric}
    assert shown["vs equal-weight blend"] == "+0.0190"
    assert shown["vs IC-weight blend"] == "+0.0120"
    assert shown["OOS rank IC"] == "0.0310"
    assert shown["Folds"] == "3"


def test_the_factor_analysis_still_opens_by_default(
    open_page: Callable[[str], AppTest], two_models: tuple[str, str]
) -> None:
    at = open_page("factors")

    assert at.segmented_control(key="fa_view").value == "Factor analysis"
    assert table(at, "mean IC")["factor"].tolist()
    assert not [d for d in at.dataframe if "model_id" in d.value.columns]


# ------------------------------------------------------------------------------ fitting


def test_the_spec_files_of_research_are_offered_with_their_content(
    open_page: Callable[[str], AppTest],
) -> None:
    at = open_models(open_page)

    offered = at.selectbox(key="md_spec").options
    assert "research/value_mom.yaml" in offered
    assert "research/mom_grid.yaml" not in offered  # a sweep file beside them: no model spec
    at.selectbox(key="md_spec").set_value("research/value_mom.yaml").run()
    text = (model_fit.resolve("research/value_mom.yaml")).read_text(encoding="utf-8")
    assert at.code[0].value == text.rstrip("\n")  # st.code drops the final newline
    assert not at.button(key="md_fit").disabled


def test_a_bad_spec_names_the_field_and_fits_nothing(
    open_page: Callable[[str], AppTest], store: ModelStore, tmp_path: Path
) -> None:
    bad = spec_file(tmp_path, TINY_SPEC.replace("embargo: 2", "embargo: 0"))
    at = open_models(open_page)

    type_spec(at, bad)

    assert "embargo: 0" in at.code[0].value  # a spec, though invalid: shown
    error = at.error[0].value
    assert error.startswith(f"Not fitted: {bad}")
    assert "validation.embargo 0" in error
    assert at.button(key="md_fit").disabled
    assert store.list_models().empty


def test_a_spec_spoilt_after_it_was_shown_fits_nothing(
    open_page: Callable[[str], AppTest], store: ModelStore, tmp_path: Path
) -> None:
    path = spec_file(tmp_path, TINY_SPEC)
    at = open_models(open_page)
    type_spec(at, path)
    assert not at.button(key="md_fit").disabled
    path.write_text(TINY_SPEC.replace("ridge", "lasso"), encoding="utf-8")

    at.button(key="md_fit").click().run()

    assert any(e.value.startswith("Not fitted:") and "model.estimator" in e.value for e in at.error)
    assert not at.get("progress")
    assert store.list_models().empty


def test_a_file_that_is_not_a_spec_is_not_shown(
    open_page: Callable[[str], AppTest], tmp_path: Path
) -> None:
    other = spec_file(tmp_path, "password: hunter2\n")
    at = open_models(open_page)

    type_spec(at, other)

    assert not at.code
    assert "not" in at.error[0].value
    assert "model:" in at.error[0].value
    assert "hunter2" not in " ".join(e.value for e in at.error)


def test_fitting_from_the_page_stores_and_opens_a_new_model(
    open_page: Callable[[str], AppTest],
    synth: str,
    store: ModelStore,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    at = open_models(open_page)
    assert at.selectbox(key="fa_dataset").value == synth
    type_spec(at, spec_file(tmp_path, TINY_SPEC))

    at.button(key="md_fit").click().run()

    assert not at.exception, at.exception
    listing = store.list_models()
    assert len(listing) == 1
    model_id = str(listing["model_id"][0])
    assert model_id.startswith("tiny-")
    assert listing["dataset"][0] == synth
    assert at.success[0].value.startswith(f"Stored model {model_id} (")
    assert at.selectbox(key="md_model").value == model_id
    bar = at.get("progress")[0]
    assert bar.proto.value == 100
    assert bar.proto.text.startswith("Fitted tiny in ")
    # The model opened from the store: its folds on the page are the stored folds.
    stored = store.load(model_id)
    shown = table(at, "coef_cosine")
    np.testing.assert_allclose(shown["oos_rank_ic"], stored.folds["oos_rank_ic"])
    assert len(shown) >= 2
    # The composite is a factor of the dataset now.
    warehouse = Warehouse(data_dir / "warehouse")
    assert composite_factor(model_id) in warehouse.factor_store.names(synth)


def test_the_fit_action_reports_progress_and_stores_the_model(
    data_dir: Path, synth: str, store: ModelStore, tmp_path: Path
) -> None:
    loaded = model_fit.read_spec(spec_file(tmp_path, TINY_SPEC))
    assert loaded.spec is not None, loaded.error
    calls: list[tuple[str, int, int]] = []

    fitted = model_fit.fit(
        loaded.spec,
        Warehouse(data_dir / "warehouse"),
        synth,
        store,
        lambda stage, done, total: calls.append((stage, done, total)),
    )

    assert calls, "fit_model never reported progress"
    assert all(0 <= done <= total for _, done, total in calls)
    assert store.list_models()["model_id"].tolist() == [fitted.model_id]
    assert model_fit.fitted_line(fitted).startswith(f"Stored model {fitted.model_id} (")


def test_a_damaged_model_is_named_and_the_page_goes_on(
    open_page: Callable[[str], AppTest], two_models: tuple[str, str], store: ModelStore
) -> None:
    _, rejected = two_models
    # Its model.json is intact, so it is listed (and opened: the newest); reading fails.
    (store.folder(rejected) / "folds.parquet").write_bytes(b"not parquet")

    at = open_models(open_page)

    assert not at.exception, at.exception
    assert at.error[0].value.startswith(f"Cannot open model {rejected}: ")
    at.selectbox(key="md_model").set_value(two_models[0]).run()
    assert not at.error
    assert at.success[0].value.startswith("ACCEPTED")
