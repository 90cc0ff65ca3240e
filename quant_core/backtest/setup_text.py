"""A run's setup in a few words, for its summary, the run catalogue and the report.

One wording for a new run's ``summary.parquet`` (``backtest.run``), a run stored before it was
kept (read back from ``config.json`` by the cockpit's catalogue) and the tearsheet's header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def schedule_text(rebalance: Any) -> str:
    """Return a rebalance rule in words: ``every 21 sessions``, ``every session``, ``monthly``."""
    if isinstance(rebalance, int) and not isinstance(rebalance, bool):
        return "every session" if rebalance == 1 else f"every {rebalance} sessions"
    return str(rebalance)


def costs_text(costs: Mapping[str, Any]) -> str:
    """Return a ``costs`` config section (as dumped or stored) in a few words.

    ``per_share 0.005 USD/share, min 1 USD, max 1.00% of value; slippage 5 bps`` or
    ``bps 1 bps; slippage 5 bps``.
    """
    model = costs.get("model")
    if model == "per_share":
        fee = (
            f"per_share {costs.get('per_share_usd'):g} USD/share, "
            f"min {costs.get('min_per_order_usd'):g} USD, "
            f"max {costs.get('max_frac_of_value'):.2%} of value"
        )
    elif model == "bps":
        fee = f"bps {costs.get('commission_bps'):g} bps"
    else:
        fee = str(model)
    slippage = costs.get("slippage_bps")
    return fee if slippage is None else f"{fee}; slippage {slippage:g} bps"
