"""The worker's state carries its book's risk report, made when the book changes (sim replay)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from config import load_config
from quant_core.live import book_risk
from quant_core.live.files import load_state, read_state
from quant_core.live.journal import Journal
from quant_core.live.replay import ReplayClock
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerState
from quant_core.live.worker import Worker
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.risk_report import risk_report
from tests.factories import Fixed, market

pytestmark = pytest.mark.integration

SESSIONS = 50
RNG = np.random.default_rng(17)
CLOSES: dict[str, list[Any]] = {
    name: list(np.round(50 * np.cumprod(1 + RNG.normal(0, 0.015 * (k + 1), SESSIONS)), 2))
    for k, name in enumerate(("A", "B", "C", "D"))
}
SECTORS = np.array(["Tech", "Energy", "Tech", "Health"], dtype=object)


def make(tmp: Path) -> Worker:
    cfg = load_config(
        "live",
        [
            f"paths.data_dir={tmp}",
            "risk.max_position_weight=null",
            "strategy.rebalance=21",
            "portfolio.construction.lookback=10",
            "portfolio.construction.covariance=sample",
        ],
        environ={},
    )
    data = dataclasses.replace(market(CLOSES), sectors=SECTORS)
    clock = ReplayClock("America/New_York")
    clock.at(dt.date(2010, 1, 4), ReplayClock.CLOSE)
    live = tmp / "live"
    broker = SimBroker(
        data.symbol_index, 100_000.0, CostModel(), "pro_rata", False, clock, live / "sim.json"
    )
    weights = {"A": 0.4, "B": 0.3, "C": -0.2}
    worker = Worker(
        cfg, data, Fixed(weights), broker, live, Journal(live / "journal.duckdb"), clock=clock
    )
    worker.start()
    return worker


def test_the_report_follows_the_book_not_the_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[2])  # the row t the report reads up to
        return risk_report(*args, **kwargs)

    monkeypatch.setattr(book_risk, "risk_report", counted)
    worker = make(tmp_path)

    worker.replay(1, SESSIONS - 1)  # rebalances of rows 1, 22 and 43, filled at their opens

    state = load_state(worker.live_dir)
    assert state is not None
    report = state.book_risk
    assert report is not None
    # At start (the close of row 0, an empty book), then after the fills at the opens of rows
    # 1, 22 and 43, each on the closes before that session: four reports, a hundred heartbeats.
    assert calls == [1, 1, 22, 43]
    assert report.data_through == pd.Timestamp(worker.data.dates[42]).date()
    assert {n.symbol for n in report.names} == {"A", "B", "C"}
    assert sum(n.contribution or 0.0 for n in report.names) == pytest.approx(1.0)
    # Independently: the sample covariance of the 10 returns through row 42, on the stated
    # weights (market value over net liquidation when the book changed).
    weights = pd.Series({n.symbol: n.weight for n in report.names})
    closes = pd.DataFrame(CLOSES).iloc[:43][weights.index]
    cov = closes.pct_change().iloc[-10:].cov().to_numpy()
    w = weights.to_numpy()
    assert report.ex_ante_vol == pytest.approx(math.sqrt(252 * w @ cov @ w), rel=1e-10)
    sectors = {s.sector: s for s in report.sectors}
    assert set(sectors) == {"Tech", "Energy"}
    assert sectors["Tech"].net == pytest.approx(weights["A"] + weights["C"])
    assert report.var_sessions == 42
    assert report.var is not None
    assert len(report.stress) == 5
    assert report.names_held == 3


def test_a_failed_report_is_an_error_line_and_the_worker_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(book_risk, "risk_report", broken)
    worker = make(tmp_path)

    worker.replay(1, 30)

    state = read_state(worker.live_dir)
    assert state is not None
    assert state["book_risk"] is None
    messages = [e["message"] for e in state["errors"]]
    assert any("risk report of the book not computed: LinAlgError" in m for m in messages)
    assert state["positions"]  # it traded on
    assert worker.state is WorkerState.STOPPED  # the replay's normal end
    assert state["worker"]["replay_finished"] is not None
