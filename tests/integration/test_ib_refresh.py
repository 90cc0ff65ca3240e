"""The worker's incremental refresh from IB (live.refresh: broker): real client, fake TWS."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from config import load_config
from config.schema import AppConfig, IBConfig
from quant_core.calendar import TradingCalendar
from quant_core.data import refresh_status
from quant_core.data.refresh_status import read_progress
from quant_core.data.sources.base import SourceBatch
from quant_core.data.sync import sync
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.errors import ConfigError
from quant_core.factors.base import forget_named_factor, named_factors
from quant_core.factors.compute import compute_factors
from quant_core.ib import refresh as refresh_module
from quant_core.ib.history import VIOLATION_WAIT_S, IBHistorySource, Pacer
from quant_core.ib.refresh import refresh_through
from tests.fake_tws import LIB, client_problems
from tests.fake_tws.server import FakeTWS

pytestmark = pytest.mark.integration

START = dt.date(2024, 1, 2)
D = dt.date(2024, 6, 28)  # a Friday: the session the refresh must reach
STORED = dt.date(2024, 6, 25)  # D-3 sessions: what the dataset holds before the refresh
EVENING = dt.datetime(2024, 6, 28, 21, 0, tzinfo=dt.UTC)  # 17:00 New York, after the close
SYMBOLS = ("AAPL", "MSFT", "XOM")
STORED_FACTORS = ["momentum_20", "volatility_20"]
WEIGHTS = {"reversal_5": 1.0, "momentum_20": 0.5}  # the strategy's factors

Bar = tuple[str, float, float, float, float, float]
d = dt.date


def history(calendar: TradingCalendar, base: float, end: dt.date = D) -> list[Bar]:
    rows = []
    for k, day in enumerate(calendar.sessions_in_range(dt.date(2023, 6, 1), end)):
        close = round(base + 0.1 * k + (k % 7) * 0.3, 2)
        stamp = pd.Timestamp(day).strftime("%Y%m%d")
        rows.append((stamp, close - 0.5, close + 1.0, close - 1.0, close, 1000.0 + k))
    return rows


@pytest.fixture(autouse=True)
def _client_log_is_clean(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger=LIB)
    yield
    assert client_problems(caplog.records) == []


@pytest.fixture
def fake(calendar: TradingCalendar) -> Iterator[FakeTWS]:
    server = FakeTWS(prices={}).start()
    server.history = {s: history(calendar, 50.0 * (i + 1)) for i, s in enumerate(SYMBOLS)}
    yield server
    server.stop()


class NoWait:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture(autouse=True)
def _registry() -> Iterator[None]:
    before = set(named_factors())
    yield
    for name in set(named_factors()) - before:
        forget_named_factor(name)


def config(
    tmp_path: Path, fake: FakeTWS, dataset: str = "ib", weights: dict[str, float] = WEIGHTS
) -> AppConfig:
    overrides = [
        f"paths.data_dir={tmp_path}",
        f"data.dataset={dataset}",
        f"ib.port={fake.port}",
        "ib.client_id=5",
        "strategy.name=multi_factor",
        f"strategy.params.factors={json.dumps(weights)}",
    ]
    return load_config("live", overrides, environ={})


def first_sync(
    fake: FakeTWS,
    calendar: TradingCalendar,
    warehouse: Warehouse,
    dataset: str = "ib",
    end: dt.date = STORED,
    what: str = "ADJUSTED_LAST",
) -> None:
    """Sync the dataset through ``end`` the way run_data_sync.py --source ib does."""
    source = IBHistorySource(
        IBConfig(port=fake.port, client_id=7),
        sorted(fake.history),
        START,
        end,
        what=what,
        pacer=Pacer(sleep=NoWait()),
    )
    sync(source, warehouse, calendar, dataset)
    fake.history_requests.clear()


def refresh(cfg: AppConfig, tmp_path: Path, **kw: Any) -> refresh_status.RefreshOutcome:
    kw.setdefault("pacer", Pacer(sleep=NoWait()))
    kw.setdefault("clock", lambda: EVENING)
    return refresh_through(cfg, D, tmp_path / "live" / "refresh-progress.json", **kw)


@pytest.fixture
def stale(fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path) -> tuple[Warehouse, AppConfig]:
    warehouse = Warehouse(tmp_path / "warehouse")
    first_sync(fake, calendar, warehouse)
    compute_factors(warehouse, "ib", STORED_FACTORS)
    return warehouse, config(tmp_path, fake)


def full_sync(fake: FakeTWS, calendar: TradingCalendar, warehouse: Warehouse) -> pd.DataFrame:
    first_sync(fake, calendar, warehouse, "full", D)
    return warehouse.read_bars("full")


def test_a_stale_dataset_reaches_the_session_with_one_request_per_symbol(
    fake: FakeTWS,
    calendar: TradingCalendar,
    tmp_path: Path,
    stale: tuple[Warehouse, AppConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse, cfg = stale
    phases: list[tuple[str, int, int]] = []
    real = refresh_status.write_progress

    def spy(path: Path, phase: str, done: int, total: int) -> None:
        phases.append((phase, done, total))
        real(path, phase, done, total)

    monkeypatch.setattr(refresh_module, "write_progress", spy)
    fake.busy_client_ids = {5}  # the worker holds its own id: the refresh uses id 105
    reference = warehouse.symbols("ib")

    outcome = refresh(cfg, tmp_path)

    # Tuesday's bar is asked again (the overlap): Tue..Fri is 4 calendar days.
    assert [r[1:] for r in fake.history_requests] == [
        (s, "", "4 D", "ADJUSTED_LAST") for s in SYMBOLS
    ]
    assert outcome.data_through == D
    assert (outcome.symbols, outcome.requests, outcome.rejected) == (3, 3, 0)
    assert outcome.rows_written == 3 * 3  # Wed, Thu, Fri for each symbol
    assert outcome.notes == ()
    pd.testing.assert_frame_equal(
        warehouse.read_bars("ib"), full_sync(fake, calendar, Warehouse(tmp_path / "w2"))
    )
    pd.testing.assert_frame_equal(warehouse.symbols("ib"), reference)  # kept as it was
    # The phases, in order, the last one written last.
    order = list(dict.fromkeys(p for p, _, _ in phases))
    assert order == ["plan", "ib history", "validate", "store", "factors"]
    assert [d for p, d, _ in phases if p == "ib history"] == [1, 2, 3]
    assert read_progress(tmp_path / "live" / "refresh-progress.json") == phases[-1]
    assert phases[-1] == ("factors", 3, 3)


def test_factors_stored_incrementally_equal_a_full_recompute(
    fake: FakeTWS,
    calendar: TradingCalendar,
    tmp_path: Path,
    stale: tuple[Warehouse, AppConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse, cfg = stale
    calls: list[tuple[list[str], dt.date | None, bool]] = []

    def spy(wh: Warehouse, dataset: str, names: list[str], start: Any, full: Any, p: Any) -> Any:
        calls.append((list(names), start, full))
        return compute_factors(wh, dataset, names, start, full, p)

    monkeypatch.setattr(refresh_module, "compute_factors", spy)

    outcome = refresh(cfg, tmp_path)

    assert sorted(outcome.factors) == ["momentum_20", "reversal_5", "volatility_20"]
    # Stored factors from the first new bar on; the strategy's new factor whole.
    assert calls == [
        (STORED_FACTORS, dt.date(2024, 6, 26), True),
        (["reversal_5"], None, False),
    ]
    other = Warehouse(tmp_path / "w2")
    full_sync(fake, calendar, other)
    compute_factors(other, "full", [*STORED_FACTORS, "reversal_5"], full=True)
    for name in [*STORED_FACTORS, "reversal_5"]:
        pd.testing.assert_frame_equal(
            warehouse.factor_store.panel("ib", name), other.factor_store.panel("full", name)
        )


def test_a_stored_model_the_strategy_names_is_loaded_and_kept_current(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path
) -> None:
    # Imported here: the models need scikit-learn, the rest of the IB suite does not.
    from quant_core.research.design import MIN_NAMES
    from tests.model_factories import refit, store_model

    for i in range(MIN_NAMES):  # a model scores sessions with at least MIN_NAMES symbols
        fake.history[f"M{i:02d}"] = history(calendar, 20.0 + 3 * i)
    warehouse = Warehouse(tmp_path / "warehouse")
    first_sync(fake, calendar, warehouse)
    model = store_model(tmp_path, ("momentum_20", "reversal_5"), [refit(d(2024, 3, 1), (1, 2))])
    name = f"model_{model}"
    cfg = config(tmp_path, fake, weights={name: 1.0})

    outcome = refresh(cfg, tmp_path)

    assert name in outcome.factors
    other = Warehouse(tmp_path / "w2")
    full_sync(fake, calendar, other)
    compute_factors(other, "full", [name])
    stored = warehouse.factor_store.panel("ib", name)
    assert stored.index.max() == pd.Timestamp(D)
    pd.testing.assert_frame_equal(stored, other.factor_store.panel("full", name))


def test_a_split_on_the_overlap_fetches_the_symbol_again(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, stale: tuple[Warehouse, AppConfig]
) -> None:
    warehouse, cfg = stale
    # A 2:1 split after Tuesday: IB's adjusted history of AAPL is halved, every bar of it.
    fake.history["AAPL"] = [
        (d, o / 2, h / 2, lo / 2, c / 2, v * 2) for d, o, h, lo, c, v in fake.history["AAPL"]
    ]

    outcome = refresh(cfg, tmp_path)

    assert [r[1:4] for r in fake.history_requests] == [
        ("AAPL", "", "4 D"),
        ("MSFT", "", "4 D"),
        ("XOM", "", "4 D"),
        ("AAPL", "", "1 Y"),  # 2024-01-02 .. 2024-06-28: its whole stored history
    ]
    assert outcome.requests == 4
    assert len(outcome.notes) == 1
    assert "AAPL: IB's adjusted history changed" in outcome.notes[0]
    assert "stored" in outcome.notes[0]
    pd.testing.assert_frame_equal(
        warehouse.read_bars("ib"), full_sync(fake, calendar, Warehouse(tmp_path / "w2"))
    )
    # The bars changed, so the warehouse dropped the factors; they were computed whole again.
    other = Warehouse(tmp_path / "w2")
    compute_factors(other, "full", STORED_FACTORS)
    for name in STORED_FACTORS:
        pd.testing.assert_frame_equal(
            warehouse.factor_store.panel("ib", name), other.factor_store.panel("full", name)
        )


def test_a_fresh_dataset_sends_nothing(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path
) -> None:
    warehouse = Warehouse(tmp_path / "warehouse")
    first_sync(fake, calendar, warehouse, end=D)
    accepted = fake.accepted

    outcome = refresh(config(tmp_path, fake), tmp_path)

    assert fake.accepted == accepted  # no connection at all
    assert fake.history_requests == []
    assert (outcome.requests, outcome.symbols, outcome.rows_written) == (0, 0, 0)
    assert outcome.data_through == D
    assert sorted(outcome.factors) == ["momentum_20", "reversal_5"]  # the strategy's, first time


def test_rejected_rows_are_counted_and_listed(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, stale: tuple[Warehouse, AppConfig]
) -> None:
    _, cfg = stale
    bars = fake.history["MSFT"]
    row = [b[0] for b in bars].index("20240627")
    day, o, _, lo, c, v = bars[row]
    bars[row] = (day, o, lo - 5.0, lo, c, v)  # high below low

    outcome = refresh(cfg, tmp_path)

    assert outcome.rejected == 1
    assert outcome.rows_written == 8
    assert outcome.issues_file is not None
    issues = pd.read_csv(outcome.issues_file)
    assert issues[["symbol", "date", "rule"]].values.tolist() == [
        ["MSFT", "2024-06-27", "high_below_low"]
    ]
    assert outcome.data_through == D


def test_conflicting_bars_in_ibs_answer_are_rejected_not_one_kept(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, stale: tuple[Warehouse, AppConfig]
) -> None:
    # Two different bars for one session: neither is taken for the right one (the refresh kept
    # the last copy silently); an exact copy of a bar is only the overlap, and goes.
    warehouse, cfg = stale
    bars = fake.history["MSFT"]
    row = [b[0] for b in bars].index("20240627")
    day, o, hi, lo, c, v = bars[row]
    bars.insert(row + 1, (day, o, hi, lo, c, v * 2))  # another volume
    aapl = fake.history["AAPL"]
    aapl.insert(row + 1, aapl[row])  # the same bar twice

    outcome = refresh(cfg, tmp_path)

    assert outcome.rejected == 2
    assert outcome.issues_file is not None
    issues = pd.read_csv(outcome.issues_file)
    assert set(issues["rule"]) == {"conflicting_duplicate"}
    assert set(issues["symbol"]) == {"MSFT"}
    session = dt.date(2024, 6, 27)
    assert warehouse.read_bars("ib", ["MSFT"], session, session).empty
    assert len(warehouse.read_bars("ib", ["AAPL"], session, session)) == 1


def test_a_pacing_violation_is_waited_out(
    fake: FakeTWS, tmp_path: Path, stale: tuple[Warehouse, AppConfig]
) -> None:
    _, cfg = stale
    fake.pacing_violations = 1
    sleep = NoWait()

    outcome = refresh(cfg, tmp_path, pacer=Pacer(sleep=sleep))

    assert [r[1] for r in fake.history_requests] == ["AAPL", "AAPL", "MSFT", "XOM"]
    assert VIOLATION_WAIT_S in sleep.slept
    assert outcome.requests == 4  # the refused one was sent too
    assert outcome.data_through == D


def test_on_monday_morning_the_request_reaches_back_from_now(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, stale: tuple[Warehouse, AppConfig]
) -> None:
    warehouse, cfg = stale
    for i, symbol in enumerate(SYMBOLS):  # Monday's bar is still forming at 10:00
        fake.history[symbol] = history(calendar, 50.0 * (i + 1), dt.date(2024, 7, 1))
    fake.history_today = "20240701"
    monday = dt.datetime(2024, 7, 1, 14, 0, tzinfo=dt.UTC)

    outcome = refresh(cfg, tmp_path, clock=lambda: monday)

    # ADJUSTED_LAST ends now: Tuesday 2024-06-25 .. Monday 2024-07-01 is 7 days.
    assert {r[3] for r in fake.history_requests} == {"7 D"}
    assert outcome.data_through == D  # never Monday's unfinished bar
    assert warehouse.read_bars("ib")["date"].max() == pd.Timestamp(D)


def test_symbols_ib_has_nothing_for_are_noted_not_failed(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, stale: tuple[Warehouse, AppConfig]
) -> None:
    _, cfg = stale
    fake.history["XOM"] = history(calendar, 150.0, STORED)  # no bar after Tuesday yet
    del fake.history["MSFT"]  # IB no longer knows it (error 200)

    outcome = refresh(cfg, tmp_path)

    assert outcome.data_through == D
    assert outcome.rows_written == 3
    assert "IB has no bar after the last stored one yet for XOM" in outcome.notes
    assert any(n.startswith("IB knows no security MSFT (error 200)") for n in outcome.notes)
    assert outcome.behind == ("MSFT", "XOM")  # named for the dashboard: still before D


def test_a_session_ib_has_no_bar_for_yet_is_said(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, stale: tuple[Warehouse, AppConfig]
) -> None:
    _, cfg = stale
    for i, symbol in enumerate(SYMBOLS):
        fake.history[symbol] = history(calendar, 50.0 * (i + 1), dt.date(2024, 6, 27))

    outcome = refresh(cfg, tmp_path)

    assert outcome.data_through == dt.date(2024, 6, 27)
    assert outcome.notes[-1] == (
        "the dataset still ends 2024-06-27, before 2024-06-28: IB had no bars yet"
    )
    assert outcome.behind == tuple(sorted(SYMBOLS))


def test_delisted_symbols_are_not_asked_for(
    fake: FakeTWS, tmp_path: Path, stale: tuple[Warehouse, AppConfig]
) -> None:
    warehouse, cfg = stale
    table = warehouse.symbols("ib")
    table.loc[table["symbol"] == "XOM", "delisted"] = STORED  # gone after its last bar
    warehouse.write_symbols("ib", table)

    outcome = refresh(cfg, tmp_path)

    assert [r[1] for r in fake.history_requests] == ["AAPL", "MSFT"]
    assert outcome.notes == ("delisted, not asked for: XOM",)


def test_reference_data_changed_during_the_fetch_is_kept(
    fake: FakeTWS,
    tmp_path: Path,
    stale: tuple[Warehouse, AppConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A sync (or an edit) of the reference data while the refresh runs is not undone by the
    # refresh writing back a copy of the table it read earlier: here, made while it validates
    # the fetched bars (after it has read the table, before it takes the writers' lock).
    warehouse, cfg = stale
    real = refresh_status.write_progress

    def edit_meanwhile(path: Path, phase: str, done: int, total: int) -> None:
        if phase == "validate":
            table = warehouse.symbols("ib")
            table.loc[table["symbol"] == "XOM", "sector"] = "Utilities"
            warehouse.write_symbols("ib", table)
        real(path, phase, done, total)

    monkeypatch.setattr(refresh_module, "write_progress", edit_meanwhile)

    outcome = refresh(cfg, tmp_path)

    assert outcome.rows_written == 3 * 3
    table = warehouse.symbols("ib").set_index("symbol")
    assert table.loc["XOM", "sector"] == "Utilities"
    assert sorted(table.index) == sorted(SYMBOLS)


def test_a_trades_dataset_asks_up_to_the_session(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path
) -> None:
    warehouse = Warehouse(tmp_path / "warehouse")
    first_sync(fake, calendar, warehouse, what="TRADES")

    outcome = refresh(config(tmp_path, fake), tmp_path)

    assert [r[1:] for r in fake.history_requests] == [
        (s, "20240628 23:59:59 UTC", "4 D", "TRADES") for s in SYMBOLS
    ]
    assert outcome.data_through == D


def test_a_dataset_of_another_source_is_refused_before_any_request(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path
) -> None:
    warehouse = Warehouse(tmp_path / "warehouse")
    days = calendar.sessions_in_range(START, STORED)
    bars = pd.DataFrame(
        {"date": days, "symbol": "AAPL", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0}
    )
    bars["volume"] = 1.0
    meta = DatasetMeta("a sample", "sample:sp500-2010")

    class Fixed:
        name = "fixed"

        def load(self, progress: Any = None) -> SourceBatch:
            return SourceBatch(bars, meta)

    sync(Fixed(), warehouse, calendar, "sample")

    with pytest.raises(ConfigError, match=r"'sample'.*sample:sp500-2010 data"):
        refresh(config(tmp_path, fake, "sample"), tmp_path)
    with pytest.raises(ConfigError, match=r"'nothing', which is not in the warehouse"):
        refresh(config(tmp_path, fake, "nothing"), tmp_path)
    assert fake.accepted == 0


def test_a_retry_after_a_failure_asks_only_for_the_rest(
    fake: FakeTWS,
    tmp_path: Path,
    stale: tuple[Warehouse, AppConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse, cfg = stale

    def fail(*args: Any, **kw: Any) -> None:
        raise RuntimeError("the sync broke")

    monkeypatch.setattr(refresh_module, "sync", fail)
    with pytest.raises(RuntimeError):
        refresh(cfg, tmp_path)
    monkeypatch.undo()
    fake.history_requests.clear()

    outcome = refresh(cfg, tmp_path)

    assert fake.history_requests == []  # every answer came from the kept cache
    assert outcome.data_through == D
    assert not list((tmp_path / "cache" / "ib-refresh" / "ib").glob("*.parquet"))  # cleared
    assert np.isclose(warehouse.read_bars("ib")["close"].iloc[-1], fake.history["XOM"][-1][4])


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_ibs_pacing_rules_are_kept_on_a_virtual_clock(
    fake: FakeTWS, tmp_path: Path, stale: tuple[Warehouse, AppConfig]
) -> None:
    _, cfg = stale
    clock = VirtualClock()
    fake.history_clock = clock
    fake.pacing_rules = (2, 600.0, 15.0)  # the fake enforces 2 requests per 10 minutes

    outcome = refresh(cfg, tmp_path, pacer=Pacer(2, 600.0, 15.0, clock, clock.sleep))

    assert fake.pacing_broken == 0
    assert [r[0] for r in fake.history_requests] == [0.0, 0.0, 600.0]  # the third waited
    assert outcome.requests == 3
    assert outcome.data_through == D


def test_a_pacer_looser_than_ib_meets_violations_and_waits_them_out(
    fake: FakeTWS, tmp_path: Path, stale: tuple[Warehouse, AppConfig]
) -> None:
    _, cfg = stale
    clock = VirtualClock()
    fake.history_clock = clock
    fake.pacing_rules = (2, 120.0, 15.0)

    outcome = refresh(cfg, tmp_path, pacer=Pacer(5, 120.0, 15.0, clock, clock.sleep))

    # The third request is refused (162), waited out (60 s, then 60 s more), and asked again.
    assert fake.pacing_broken == 2
    assert [r[1] for r in fake.history_requests] == ["AAPL", "MSFT", "XOM", "XOM", "XOM"]
    assert clock.now == 2 * VIOLATION_WAIT_S
    assert outcome.requests == 5
    assert outcome.data_through == D
