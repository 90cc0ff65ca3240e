"""A fraction of a share held at the broker makes no fractional order (whole shares configured).

The account holds 100.5 AAPL (dividends reinvested, a trade by hand): the target is whole shares,
and the order, target - held, was 1888.5 shares, which an account without fractional trading
refuses. The order is now whole shares, toward zero; the fraction stays held.
"""

from __future__ import annotations

from pathlib import Path

from tests.fake_tws.server import FakeTWS
from tests.integration.test_worker_ib import close_worker, fake, make_worker

__all__ = ["fake"]  # fixture


def test_a_fractional_holding_gets_whole_share_orders(tmp_path: Path, fake: FakeTWS) -> None:
    fake.set_position("AAPL", 100.5, 150.0)
    w = make_worker(tmp_path, fake)
    try:
        assert not w.cfg.portfolio.fractional_shares
        placed = w.rebalance_next()
        sizes = {o.symbol: o.quantity for o in placed}
        assert sizes["AAPL"] > 0
        assert all(float(q).is_integer() for q in sizes.values()), sizes
        assert {o.quantity for o in fake.orders.values()} == set(sizes.values())
    finally:
        close_worker(w)
