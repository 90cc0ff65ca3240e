"""The typed contract of dashboard_state.json (live.state): what the worker writes reads back.

The document is the real one: a sim worker holding positions, with open orders, fills, an
acknowledged command and an equity point, written by ``Worker.write_state``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from quant_core.broker import OrderStatus, Side
from quant_core.live import commands
from quant_core.live.files import CommandKind, load_state, read_state, send_command, write_state
from quant_core.live.state import (
    SCHEMA_VERSION,
    DashboardState,
    EquityPoint,
    RiskStatus,
    StateSchemaError,
    WorkerMode,
    WorkerState,
)
from tests.integration.test_worker import holding, make


@pytest.fixture
def written(tmp_path: Path) -> tuple[str, dict[str, Any]]:
    worker, broker, data = make(tmp_path)
    holding(worker, broker, data)
    send_command(worker.live_dir, CommandKind.CANCEL, source="test")
    commands.take(worker)
    worker.equity_points.append(EquityPoint(dt.date(2010, 1, 5), 100_000.0))
    worker.write_state()
    worker.journal.close()
    text = (worker.live_dir / "dashboard_state.json").read_text()
    return text, json.loads(text)


def test_the_workers_document_round_trips_byte_for_byte(
    written: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    text, doc = written
    for part in ("positions", "fills_today", "commands", "equity"):  # CANCEL emptied orders
        assert doc[part], part  # a realistic document: every table has rows
    state = DashboardState.from_json(doc)

    assert state.to_json() == doc
    write_state(tmp_path, state)
    assert (tmp_path / "dashboard_state.json").read_text() == text
    assert load_state(tmp_path) == state


def test_the_document_reads_as_typed_values(written: tuple[str, dict[str, Any]]) -> None:
    state = DashboardState.from_json(written[1])

    assert state.worker.state is WorkerState.RUNNING
    assert state.worker.mode is WorkerMode.SIM
    assert state.risk.status is RiskStatus.OK
    assert {p.symbol for p in state.positions} == {"A", "B", "C"}
    assert all(isinstance(f.side, Side) for f in state.fills_today)
    assert all(isinstance(o.status, OrderStatus) for o in state.open_orders)
    assert state.commands[-1].command == CommandKind.CANCEL
    assert state.commands[-1].accepted is True
    assert state.equity[-1].session_only


@pytest.mark.parametrize("version", [2, 0, None, "1", True])
def test_another_schema_version_is_refused_naming_both(
    written: tuple[str, dict[str, Any]], version: object
) -> None:
    doc = copy.deepcopy(written[1])
    doc["schema_version"] = version
    with pytest.raises(StateSchemaError) as caught:
        DashboardState.from_json(doc)
    assert str(caught.value) == (
        f"the state document has schema_version {version}; this reader expects {SCHEMA_VERSION}"
    )
    assert caught.value.field == "schema_version"
    assert caught.value.found == version


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("worker", "state"), "the state document has no field worker.state"),
        (("account",), "the state document has no field account"),
        (("positions", 0, "quantity"), "the state document has no field positions[0].quantity"),
        (("risk", "status"), "the state document has no field risk.status"),
    ],
)
def test_a_missing_field_is_named(
    written: tuple[str, dict[str, Any]], path: tuple[Any, ...], message: str
) -> None:
    doc = copy.deepcopy(written[1])
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(StateSchemaError, match=message.replace("[", r"\[").replace("]", r"\]")):
        DashboardState.from_json(doc)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("worker", "state", "NAPPING", "worker.state is 'NAPPING', not one of STARTING, "),
        ("worker", "heartbeat_at", "soon", "worker.heartbeat_at is 'soon', not an ISO 8601 time"),
        ("account", "cash", "lots", "account.cash is 'lots', not a number"),
        ("worker", "exited", "no", "worker.exited is 'no', not true or false"),
    ],
)
def test_a_malformed_field_is_named(
    written: tuple[str, dict[str, Any]], section: str, key: str, value: object, message: str
) -> None:
    doc = copy.deepcopy(written[1])
    doc[section][key] = value
    with pytest.raises(StateSchemaError, match=message):
        DashboardState.from_json(doc)


def test_fields_added_within_the_version_may_be_missing(
    written: tuple[str, dict[str, Any]],
) -> None:
    doc = copy.deepcopy(written[1])
    for key in ("latched", "halted_latch", "exited", "replay_finished", "broker_as_of"):
        del doc["worker"][key]
    del doc["risk"]["limits"]

    state = DashboardState.from_json(doc)

    assert state.worker.latched is None
    assert state.risk.limits == ()


def test_read_state_stays_raw_json(written: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    write_state(tmp_path, written[1])
    assert read_state(tmp_path) == written[1]
    assert load_state(tmp_path / "missing") is None


def test_the_books_risk_report_is_typed_and_optional(
    written: tuple[str, dict[str, Any]],
) -> None:
    doc = copy.deepcopy(written[1])
    state = DashboardState.from_json(doc)
    assert state.book_risk is not None  # computed at start, and again when the book filled
    assert state.book_risk.names_held == 3  # A, B, C: too short a history for the covariance
    assert state.book_risk.left_out == ("A", "B", "C")
    assert [s.sector for s in state.book_risk.sectors] == ["Unknown"]

    bad = copy.deepcopy(doc)
    bad["book_risk"]["sectors"][0]["gross"] = "lots"
    with pytest.raises(StateSchemaError, match=r"book_risk\.sectors\[0\]\.gross is 'lots'"):
        DashboardState.from_json(bad)
    del doc["book_risk"]  # an older worker's document: no report
    assert DashboardState.from_json(doc).book_risk is None
