from __future__ import annotations

from quant_core.portfolio import risk

VIEW = risk.RiskView(
    equity=100_000, start_of_day_equity=100_000, peak_equity=100_000, position_value={"A": 10_000}
)


def test_max_position_weight_counts_the_position_after_the_order() -> None:
    controls = [risk.MaxPositionWeight(0.25)]
    assert risk.check(controls, {"A": 10_000}, VIEW) is None  # 20%
    breach = risk.check(controls, {"A": 20_000}, VIEW)  # 30%
    assert breach is not None
    assert breach.limit == "max_position_weight"
    assert "A would be 30.00% of equity" in breach.reason
    # A breach by a hair reads as one: 25.01% of a 25.00% limit, not 25.0% of 25.0%.
    hair = risk.check(controls, {"A": 15_010}, VIEW)
    assert hair is not None
    assert "A would be 25.01% of equity (limit 25.00%)" in hair.reason


def test_orders_in_one_batch_add_up() -> None:
    breach = risk.check([risk.MaxPositionWeight(0.25)], {"B": 15_000, "C": 5_000}, VIEW)
    assert breach is None
    assert risk.check([risk.MaxOrderNotional(12_000)], {"B": 15_000}, VIEW) is not None


def test_daily_loss_and_drawdown() -> None:
    down = risk.RiskView(
        equity=94_000, start_of_day_equity=100_000, peak_equity=130_000, position_value={}
    )
    daily = risk.check([risk.MaxDailyLoss(0.05)], {"A": 1.0}, down)
    assert daily is not None
    assert "down 6.0% today" in daily.reason
    drawdown = risk.check([risk.MaxDrawdown(0.25)], {"A": 1.0}, down)
    assert drawdown is not None
    assert "27.7% below the peak" in drawdown.reason
    assert risk.check([risk.MaxDrawdown(0.30), risk.MaxDailyLoss(0.10)], {"A": 1.0}, down) is None


def test_the_account_check_runs_the_account_limits_only() -> None:
    # A book's halt found before its plan (live/halted_book.py) checks the account with no
    # order. An order's controls have nothing to say then: at an equity of 0 a position
    # control fed a dummy order named itself ("would be inf% of equity") instead of the loss.
    gone = risk.RiskView(
        equity=0.0, start_of_day_equity=100_000, peak_equity=100_000, position_value={"A": 10_000}
    )
    controls = [risk.MaxPositionWeight(0.25), risk.MaxOrderNotional(1.0), risk.MaxDailyLoss(0.05)]
    breach = risk.check_account(controls, gone)
    assert breach is not None
    assert breach.limit == "max_daily_loss"
    assert "down 100.0% today" in breach.reason
    assert risk.check_account(controls[:2], gone) is None
    assert risk.check_account([risk.MaxDrawdown(0.30)], VIEW) is None
    assert [c.name for c in [*controls, risk.MaxDrawdown(0.3)] if c.account] == [
        "max_daily_loss",
        "max_drawdown",
    ]
