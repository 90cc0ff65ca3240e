"""A model that predicts only after a span's end refuses the run (exit 4), naming the dates."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from quant_core.research.attach import first_session
from quant_core.research.model import ModelNotReady


def test_a_span_that_ends_before_the_models_first_refit_is_refused() -> None:
    strategy = SimpleNamespace(name="fitted", first_decision=dt.date(2017, 3, 2))
    with pytest.raises(ModelNotReady, match=r"from the close of 2017-03-01 on, after the end"):
        first_session(strategy, dt.date(2015, 1, 2), dt.date(2016, 12, 30))


def test_an_earlier_start_moves_to_the_first_prediction_and_a_later_one_stays() -> None:
    strategy = SimpleNamespace(name="fitted", first_decision=dt.date(2017, 3, 2))
    assert first_session(strategy, dt.date(2015, 1, 2), dt.date(2018, 1, 2)) == dt.date(2017, 3, 2)
    assert first_session(strategy, dt.date(2017, 6, 1), None) == dt.date(2017, 6, 1)
    assert first_session(SimpleNamespace(name="momentum"), None, None) is None
