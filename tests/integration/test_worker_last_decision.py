"""What shaped a rebalance (its binding constraints, names left out, a solver fallback) is kept
with its decision in the journal and shown in the state file, across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from quant_core.live.files import read_state
from quant_core.live.state import DashboardState
from tests.integration.test_worker import make

pytestmark = pytest.mark.integration


def test_a_binding_max_weight_is_journaled_and_in_the_state_across_a_restart(
    tmp_path: Path,
) -> None:
    # Fixed weights of 30% each, max_weight 20%: all three names are clipped.
    worker, broker, data = make(tmp_path, "portfolio.constraints.max_weight=0.2")
    broker.mark(data.panels["close"][0])
    worker.rebalance(1)
    worker.write_state()

    # 20% of the investable 98,000 each, at the first closes 10, 20 and 5: the clip took effect.
    assert {o.symbol: o.quantity for o in broker.open_orders()} == {
        "A": 1960,
        "B": 980,
        "C": 3920,
    }
    decisions = worker.journal.table("decisions")
    [row] = decisions.itertuples()
    assert row.outcome == "traded"
    assert row.orders == 3
    assert json.loads(row.bindings) == [["max_weight", "3 name(s) clipped to 20.00%"]]
    assert row.left_out == ""
    assert pd.isna(row.fallback)  # NULL: no fallback
    expected = {
        "session": str(row.session),
        "bindings": [{"constraint": "max_weight", "detail": "3 name(s) clipped to 20.00%"}],
        "left_out": 0,
        "left_out_names": [],
        "fallback": None,
    }
    state = read_state(worker.live_dir)
    assert state is not None
    assert state["last_decision"] == expected
    assert DashboardState.from_json(state).last_decision is not None
    worker.journal.close()

    # A restarted worker, which has decided nothing yet, shows it from the journal.
    again, _, _ = make(tmp_path, "portfolio.constraints.max_weight=0.2")
    assert again.planner.shape is None
    again.write_state()
    state = read_state(again.live_dir)
    assert state is not None
    assert state["last_decision"] == expected
    again.journal.close()


def test_without_a_binding_constraint_the_state_says_none(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path)  # 30% each, under every limit
    broker.mark(data.panels["close"][0])
    worker.write_state()
    state = read_state(worker.live_dir)
    assert state is not None
    assert state["last_decision"] is None  # no rebalance yet

    worker.rebalance(1)
    worker.write_state()
    state = read_state(worker.live_dir)
    assert state is not None
    assert state["last_decision"]["bindings"] == []
    assert state["last_decision"]["fallback"] is None
    worker.journal.close()
