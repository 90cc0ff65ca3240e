"""A refused command does not use its id: sent again, corrected, it runs, and only once.

Found by review: an expired FLAT was refused, and the same id with a fresh ``issued_at`` was
then ignored as a duplicate, though nothing had run; the positions stayed open.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from quant_core.live.files import AUDIT_FILE, audited
from tests.integration.test_command_adversarial import _audit, _command, _drop
from tests.integration.test_worker import holding, make

pytestmark = pytest.mark.integration


def _old() -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()


@pytest.mark.parametrize(
    "refused",
    [{"issued_at": "old"}, {"command": "flat"}, {"sleeve": "mom"}],
    ids=["expired", "unknown_command", "sleeve_without_a_book"],
)
def test_a_refused_command_sent_again_corrected_runs_once(
    tmp_path: Path, refused: dict[str, str]
) -> None:
    worker, broker, data = make(tmp_path)
    holding(worker, broker, data)
    assert broker.positions()
    wrong = {k: _old() if v == "old" else v for k, v in refused.items()}
    _drop(worker, json.dumps(_command(**{"id": "op-flat-1", "command": "FLAT", **wrong})))
    worker.heartbeat()
    assert broker.positions()  # refused: nothing closed
    assert not audited(worker.live_dir, "op-flat-1")  # its answer is a refusal

    flat = json.dumps(_command(id="op-flat-1", command="FLAT"))
    _drop(worker, flat)
    worker.heartbeat()
    _drop(worker, flat)  # the corrected one again: now a duplicate
    worker.heartbeat()

    audit = _audit(worker)
    assert [(a["id"], a["accepted"]) for a in audit] == [
        ("op-flat-1", False),
        ("op-flat-1", True),
        ("op-flat-1", False),
    ]
    assert audit[2]["result"] == "duplicate id, ignored"
    assert audited(worker.live_dir, "op-flat-1")
    assert not broker.positions(), "the corrected FLAT closed nothing"
    worker.journal.close()


def test_the_audit_log_counts_an_accepted_answer_not_a_refusal(tmp_path: Path) -> None:
    # audited() decides whether a taken command's answer was written before a kill; a refusal of
    # the same id before it is not that answer.
    refusal = {"id": "x1", "accepted": False, "result": "refused: expired"}
    (tmp_path / AUDIT_FILE).write_text(json.dumps(refusal) + "\n")
    assert not audited(tmp_path, "x1")
    with (tmp_path / AUDIT_FILE).open("a") as out:
        out.write(json.dumps({**refusal, "accepted": True, "result": "flat"}) + "\n")
    assert audited(tmp_path, "x1")
