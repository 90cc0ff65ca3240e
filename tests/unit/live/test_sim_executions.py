"""The simulated broker keeps the day's executions with its account, as IB reports them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_core.broker import Fill, Order, Side
from quant_core.errors import OperationalError
from quant_core.live.sim_broker import SimBroker
from quant_core.portfolio.costs import CostModel

NOW = dt.datetime(2010, 1, 5, 9, 30, tzinfo=dt.UTC)


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def sim(store: Path, clock: Clock) -> SimBroker:
    symbols = pd.Index(["A", "B"], dtype=object)
    return SimBroker(symbols, 10_000.0, CostModel(), "pro_rata", False, clock, store)


def buy(broker: SimBroker, symbol: str, quantity: float, price: float) -> list[Fill]:
    broker.place([Order("", f"qc:2010-01-05:{symbol}", symbol, Side.BUY, quantity)])
    prices = np.array([price if symbol == "A" else np.nan, price if symbol == "B" else np.nan])
    return broker.open_session(prices)


def test_a_restarted_broker_reports_the_days_executions(tmp_path: Path) -> None:
    clock = Clock()
    [fill] = buy(sim(tmp_path / "sim.json", clock), "A", 10, 10.0)

    again = sim(tmp_path / "sim.json", clock)  # a new process, the same account

    assert again.fills() == [fill]
    [later] = buy(again, "B", 5, 20.0)
    assert again.fills() == [fill, later]
    assert len({fill.exec_id, later.exec_id}) == 2  # ids go on after a restart, never reused
    assert fill.exec_id.startswith("sim-")


def test_a_new_day_forgets_the_executions_of_the_last(tmp_path: Path) -> None:
    clock = Clock()
    broker = sim(tmp_path / "sim.json", clock)
    buy(broker, "A", 10, 10.0)

    clock.now = NOW + dt.timedelta(days=1)
    broker.mark(np.array([11.0, np.nan]))  # the next change writes the account

    assert broker.fills() == []
    assert json.loads((tmp_path / "sim.json").read_text())["executions"] == []
    assert sim(tmp_path / "sim.json", clock).positions()[0].quantity == 10


def test_the_day_is_the_exchanges_not_utcs(tmp_path: Path) -> None:
    # 19:30 and 20:30 in New York are one exchange day but two UTC dates: a second forced run
    # at 20:30 must still see the 19:30 fills, or it sends the session's orders again.
    from zoneinfo import ZoneInfo

    york = ZoneInfo("America/New_York")
    clock = Clock()
    clock.now = dt.datetime(2010, 8, 23, 19, 30, tzinfo=york).astimezone(dt.UTC)
    symbols = pd.Index(["A", "B"], dtype=object)
    store = tmp_path / "sim.json"
    broker = SimBroker(symbols, 10_000.0, CostModel(), "pro_rata", False, clock, store, zone=york)
    [fill] = buy(broker, "A", 10, 10.0)

    clock.now = dt.datetime(2010, 8, 23, 20, 30, tzinfo=york).astimezone(dt.UTC)
    again = SimBroker(symbols, 10_000.0, CostModel(), "pro_rata", False, clock, store, zone=york)
    assert again.fills() == [fill]
    clock.now = dt.datetime(2010, 8, 24, 0, 30, tzinfo=york).astimezone(dt.UTC)
    assert again.fills() == []  # the exchange's next day


def test_two_accounts_never_share_an_execution_id(tmp_path: Path) -> None:
    clock = Clock()
    [one] = buy(sim(tmp_path / "one.json", clock), "A", 10, 10.0)
    [two] = buy(sim(tmp_path / "two.json", clock), "A", 10, 10.0)
    assert one.exec_id != two.exec_id  # a fresh replay's fills are not taken for the last's


def test_an_unreadable_execution_names_the_file(tmp_path: Path) -> None:
    store = tmp_path / "sim.json"
    buy(sim(store, Clock()), "A", 10, 10.0)
    data = json.loads(store.read_text())
    data["executions"][0]["time"] = "2010-01-05T09:30:00"  # no timezone
    store.write_text(json.dumps(data))

    with pytest.raises(OperationalError, match=r"sim\.json: unreadable execution .*no timezone"):
        sim(store, Clock())
