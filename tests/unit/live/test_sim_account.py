"""A replay starts a fresh simulated account unless asked to continue; the earlier one is kept."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from quant_core.errors import ConfigError
from quant_core.live.sim_account import check_continuation, check_request, start_account
from quant_core.live.sim_broker import SimBroker
from quant_core.portfolio.costs import CostModel

FILES = ("sim_account.json", "risk_state.json")
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def earlier_run(folder: Path) -> None:
    (folder / FILES[0]).write_text(json.dumps({"cash": 123.0}))
    (folder / FILES[1]).write_text(json.dumps({"peak_equity": 2e6}))


def test_a_new_replay_sets_the_earlier_account_and_its_risk_state_aside(tmp_path: Path) -> None:
    earlier_run(tmp_path)

    note = start_account(tmp_path, FILES, replay=True, keep=False, now=NOW)

    assert note.startswith("fresh simulated account for this replay")
    assert not (tmp_path / FILES[0]).exists()
    assert not (tmp_path / FILES[1]).exists()
    [kept] = (tmp_path / "archive").iterdir()
    assert str(kept) in note
    assert json.loads((kept / FILES[0]).read_text()) == {"cash": 123.0}
    assert json.loads((kept / FILES[1]).read_text()) == {"peak_equity": 2e6}


@pytest.mark.parametrize(("replay", "keep"), [(True, True), (False, False)])
def test_continue_and_the_other_modes_keep_the_account(
    tmp_path: Path, replay: bool, keep: bool
) -> None:
    earlier_run(tmp_path)
    note = start_account(tmp_path, FILES, replay=replay, keep=keep, now=NOW)
    assert note.startswith("simulated account continued from")
    assert json.loads((tmp_path / FILES[0]).read_text()) == {"cash": 123.0}
    assert not (tmp_path / "archive").exists()


def test_nothing_to_continue_says_so(tmp_path: Path) -> None:
    note = start_account(tmp_path, FILES, replay=True, keep=True, now=NOW)
    assert note == "fresh simulated account (--continue found no sim_account.json to continue)"


def test_continue_needs_a_replay() -> None:
    with pytest.raises(ConfigError, match="--continue applies to --replay only"):
        check_request(replay=False, keep=True)


def test_a_continued_replay_cannot_go_back_in_time(tmp_path: Path) -> None:
    store = tmp_path / FILES[0]
    last = dt.datetime(2010, 6, 30, 16, 0, tzinfo=dt.UTC)
    broker = SimBroker(
        pd.Index(["A"], dtype=object), 1e6, CostModel(), "pro_rata", False, lambda: last, store
    )
    broker.mark(pd.Series([10.0]).to_numpy())  # the account's last change: 2010-06-30

    refused = r"last changed on 2010-06-30.*first session is 2010-06-30"
    with pytest.raises(ConfigError, match=refused):
        check_continuation(broker.as_of, dt.date(2010, 6, 30), store)
    check_continuation(broker.as_of, dt.date(2010, 7, 1), store)  # the session after: fine
