"""IB's historical-data pacing rules, on a fake clock."""

from __future__ import annotations

import pytest

from quant_core.ib.history import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_sixty_requests_fit_in_the_window_and_the_sixty_first_waits() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    for k in range(60):
        pacer.wait(f"req{k}")
        clock.now += 1.0
    assert clock.slept == []

    pacer.wait("req60")

    # The first request went out at t=0, so the 61st may go at t=600, not before.
    assert clock.slept == [pytest.approx(600.0 - 60.0)]
    assert clock.now == pytest.approx(600.0)


def test_identical_requests_are_fifteen_seconds_apart() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    pacer.wait("AAPL|1 Y")
    clock.now += 4.0
    pacer.wait("MSFT|1 Y")  # a different request is not held back
    pacer.wait("AAPL|1 Y")

    assert clock.slept == [pytest.approx(11.0)]


def test_old_requests_leave_the_window() -> None:
    clock = FakeClock()
    pacer = Pacer(max_requests=2, window_s=10.0, clock=clock, sleep=clock.sleep)
    pacer.wait("a")
    clock.now = 6.0
    pacer.wait("b")
    clock.now = 10.0
    pacer.wait("c")  # "a" (t=0) has left the window
    assert clock.slept == []
    pacer.wait("d")
    assert clock.slept == [pytest.approx(6.0)]  # "b" (t=6) and "c" (t=10) fill it until t=16
