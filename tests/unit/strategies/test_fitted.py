"""The ``fitted`` strategy: picks and scores of a hand-built model, and every refusal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_core.calendar import get_calendar
from quant_core.data.panels import FIELDS, MarketData
from quant_core.data.sources.synthetic import generate_bars
from quant_core.errors import StrategyError
from quant_core.portfolio.ledger import Ledger
from quant_core.research.attach import attach_model, first_session
from quant_core.research.model import ACCEPTED, REJECTED, FittedModel, ModelNotReady, RefitRecord
from quant_core.research.spec import ModelSpec
from quant_core.strategies import build_strategy
from quant_core.strategies.base import DataView, PortfolioSnapshot, StrategyContext
from quant_core.strategies.builtin.fitted import Fitted
from quant_core.strategies.decide import strategy_weights
from tests.model_factories import refit, store_model

FACTORS = ["momentum_5", "volatility_10"]
MODEL_ID = "hand-20240105T143000Z-1a2b"
SPEC = ModelSpec(name="hand", factors=FACTORS)
EMPTY = PortfolioSnapshot(cash=1.0, shares=np.zeros(0), symbols=pd.Index([]), equity=1.0)


@pytest.fixture(scope="module")
def data() -> MarketData:
    bars = generate_bars(get_calendar("XNYS"), 40, 120, seed=11, missing_frac=0.0)
    frames = {f: bars.pivot(index="date", columns="symbol", values=f) for f in FIELDS}
    return MarketData.from_frames(frames)


def day(data: MarketData, row: int) -> dt.date:
    return pd.Timestamp(data.dates[row]).date()


def model(*refits: RefitRecord, status: str = ACCEPTED, model_id: str = MODEL_ID) -> FittedModel:
    return FittedModel(model_id, SPEC, status, tuple(refits))


def strategy(fitted: FittedModel | None = None, **params: object) -> Fitted:
    built = build_strategy("fitted", {"model": MODEL_ID, **params})
    assert isinstance(built, Fitted)
    if fitted is not None:
        built.attach(fitted)
    return built


def context(data: MarketData, t: int) -> StrategyContext:
    return StrategyContext(DataView(data, t), EMPTY, pd.Timestamp(data.dates[t]))


def expected_scores(data: MarketData, t: int, coef: tuple[float, ...], intercept: float):
    # By hand: each factor at T-1, z-scored over the symbols that have both (ddof=1, clip 3).
    view = DataView(data, t)
    raw = np.column_stack([view.factor(n).to_numpy() for n in FACTORS])
    complete = np.isfinite(raw).all(axis=1)
    z = (raw[complete] - raw[complete].mean(axis=0)) / raw[complete].std(axis=0, ddof=1)
    out = np.full(len(raw), np.nan)
    out[complete] = np.clip(z, -3, 3) @ np.array(coef) + intercept
    return pd.Series(out, index=view.symbols)


def test_picks_the_top_quantile_of_the_prediction_and_scores_it(data) -> None:
    t = 60
    coef = (0.7, -0.3)
    picks = strategy(model(refit(day(data, 20), coef, 0.01)), top_quantile=0.25).decide(
        context(data, t)
    )

    scores = expected_scores(data, t, coef, 0.01)
    assert picks.scores is not None
    np.testing.assert_allclose(picks.scores.to_numpy(), scores.to_numpy(), rtol=1e-12)
    top = scores.sort_values(ascending=False).index[:10]  # k = floor(0.25 x 40)
    assert sorted(picks.weights.index) == sorted(top)
    assert (picks.weights == 0.1).all()


def test_the_refit_valid_at_t_minus_1_predicts(data) -> None:
    # Two refits of opposite sign: the second takes over from its valid_from (a T-1 date) on.
    switch = 70
    fitted = model(refit(day(data, 20), (1.0, 0.0)), refit(day(data, switch), (-1.0, 0.0)))
    s = strategy(fitted, top_quantile=0.1)
    before = s.decide(context(data, switch))  # T-1 = switch - 1: the first refit
    on = s.decide(context(data, switch + 1))  # T-1 = switch: the second
    assert before.scores is not None
    assert on.scores is not None
    np.testing.assert_allclose(
        before.scores.to_numpy(), expected_scores(data, switch, (1.0, 0.0), 0.0).to_numpy()
    )
    np.testing.assert_allclose(
        on.scores.to_numpy(), expected_scores(data, switch + 1, (-1.0, 0.0), 0.0).to_numpy()
    )
    momentum = DataView(data, switch + 1).factor("momentum_5")
    assert set(on.weights.index) == set(momentum.sort_values().index[:4])  # the losers now


def test_long_short_holds_half_long_half_short_on_opposite_ends(data) -> None:
    t = 80
    picks = strategy(model(refit(day(data, 20), (0.7, -0.3))), long_short=True).decide(
        context(data, t)
    )
    scores = expected_scores(data, t, (0.7, -0.3), 0.0).sort_values()
    longs, shorts = picks.weights[picks.weights > 0], picks.weights[picks.weights < 0]
    assert longs.sum() == pytest.approx(0.5)
    assert shorts.sum() == pytest.approx(-0.5)
    assert sorted(longs.index) == sorted(scores.index[-8:])  # k = floor(0.2 x 40)
    assert sorted(shorts.index) == sorted(scores.index[:8])


def test_the_drivers_weights_and_scores_come_through(data) -> None:
    t = 90
    s = strategy(model(refit(day(data, 20), (0.7, -0.3))))
    ledger = Ledger(1e6, np.zeros(len(data.symbols)))
    weights, scores = strategy_weights(s, data, t, ledger, 1e6)
    assert scores is not None
    np.testing.assert_allclose(scores, expected_scores(data, t, (0.7, -0.3), 0.0).to_numpy())
    assert weights.sum() == pytest.approx(1.0)
    assert (weights > 0).sum() == 8


def test_warmup_is_the_longest_factor_window_and_one_without_a_model(data) -> None:
    assert strategy().warmup == 1  # nothing to warm up: decide refuses
    assert strategy(model(refit(day(data, 20), (1.0, 1.0)))).warmup == 11  # volatility_10


def test_refuses_without_a_model(data) -> None:
    s = strategy()
    with pytest.raises(ModelNotReady, match=f"no model attached \\(model {MODEL_ID}\\)"):
        s.decide(context(data, 60))
    s.refuse("strategy fitted: no stored model x; fit one")
    with pytest.raises(StrategyError, match="no stored model x; fit one"):
        s.decide(context(data, 60))


def test_refuses_before_the_first_refit(data) -> None:
    s = strategy(model(refit(day(data, 70), (1.0, 1.0))))
    with pytest.raises(ModelNotReady, match=f"has no refit for {day(data, 59)}"):
        s.decide(context(data, 60))
    assert s.first_decision == day(data, 70) + dt.timedelta(days=1)
    assert first_session(s, day(data, 10)) == day(data, 70) + dt.timedelta(days=1)
    assert first_session(s, day(data, 90)) == day(data, 90)  # later: kept
    assert first_session(strategy(), day(data, 10)) == day(data, 10)  # no model: kept


def test_refuses_a_factor_missing_at_t_minus_1(data) -> None:
    # The T-1 closes of all but 15 symbols gone: momentum_5 has 15 values, fewer than 20.
    panels = {k: v.copy() for k, v in data.panels.items()}
    panels["close"][59, 15:] = np.nan
    holed = MarketData(data.dates, data.symbols, panels, data.sectors)
    s = strategy(model(refit(day(data, 20), (1.0, 1.0))))
    with pytest.raises(
        ModelNotReady,
        match=f"factor momentum_5 of model {MODEL_ID} has 15 value\\(s\\) at the close of "
        f"{day(data, 59)} \\(T-1\\), fewer than 20",
    ):
        s.decide(context(holed, 60))
    s.decide(context(holed, 58))  # the session before: all there


def test_attach_refuses_another_id_or_a_rejected_model(data) -> None:
    s = strategy()
    with pytest.raises(ModelNotReady, match="given model other-20240105T143000Z-0000"):
        s.attach(model(refit(day(data, 20), (1.0, 1.0)), model_id="other-20240105T143000Z-0000"))
    with pytest.raises(ModelNotReady, match="is rejected, not accepted"):
        s.attach(model(refit(day(data, 20), (1.0, 1.0)), status=REJECTED))


def test_attach_model_loads_an_accepted_model_from_the_store(tmp_path: Path, data) -> None:
    model_id = store_model(tmp_path, FACTORS, [refit(day(data, 20), (0.7, -0.3))])
    s = build_strategy("fitted", {"model": model_id})
    assert attach_model(s, tmp_path) is None
    picks = s.decide(context(data, 60))
    assert picks.scores is not None
    np.testing.assert_allclose(
        picks.scores.to_numpy(), expected_scores(data, 60, (0.7, -0.3), 0.0).to_numpy()
    )
    assert attach_model(build_strategy("momentum", {}), tmp_path) is None  # needs none


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "strategy fitted: needs a model: --param model=<model_id>"),
        ("nope", "strategy fitted: invalid model id 'nope'"),
        (MODEL_ID, f"strategy fitted: no stored model {MODEL_ID}; fit one with "),
    ],
)
def test_attach_model_refuses_a_missing_model(tmp_path: Path, data, name, expected) -> None:
    s = build_strategy("fitted", {"model": name})
    reason = attach_model(s, tmp_path)
    assert reason is not None
    assert reason.startswith(expected), reason
    with pytest.raises(ModelNotReady) as caught:
        s.decide(context(data, 60))
    assert str(caught.value) == reason  # decide gives the reason found at attach time


def test_attach_model_refuses_a_rejected_model(tmp_path: Path, data) -> None:
    model_id = store_model(
        tmp_path, FACTORS, [refit(day(data, 20), (1.0, 1.0))], status=REJECTED, rank_ic=0.004
    )
    s = build_strategy("fitted", {"model": model_id})
    reason = attach_model(s, tmp_path)
    assert reason == (
        f"strategy fitted: model {model_id} was rejected: out-of-sample rank IC 0.004 <= floor 0.02"
    )
    with pytest.raises(ModelNotReady, match="was rejected"):
        s.decide(context(data, 60))
