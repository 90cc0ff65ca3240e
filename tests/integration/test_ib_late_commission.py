"""A commission report later than the grace period still reaches the journal.

IB sends an execution's commission in a message of its own. ``settle`` waits
``COMMISSION_GRACE_S`` for it, then hands the execution out without one; the journal was left
with a commission of 0 until the next restart's reconciliation (daily reports and sleeve cash
built meanwhile used 0). The execution is now handed out again when its report comes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from quant_core.ib import broker as ib_broker
from tests.fake_tws.server import FakeTWS
from tests.integration.test_worker_ib import close_worker, fake, make_worker

__all__ = ["fake"]  # fixture


def test_a_late_commission_is_journaled(
    tmp_path: Path, fake: FakeTWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ib_broker, "COMMISSION_GRACE_S", 0.5)
    fake.commission_later = True
    w = make_worker(tmp_path, fake)
    try:
        assert w.rebalance_next()
        end = time.monotonic() + 1.5
        while time.monotonic() < end:  # the live loop settles at every heartbeat
            w.journal.fills(w.run_id, w.broker.settle(0.2))
        journal = w.journal.table("fills")
        assert len(journal) == 2
        assert (journal["commission"] == 0).all()

        fake.send_commissions()
        for _ in range(3):
            w.journal.fills(w.run_id, w.broker.settle(0.2))

        broker = {f.symbol: f.commission for f in w.broker.fills()}
        journal = w.journal.table("fills")
        assert len(journal) == 2  # recorded once
        assert dict(zip(journal["symbol"], journal["commission"], strict=True)) == broker
        assert all(c > 0 for c in broker.values())
    finally:
        close_worker(w)
