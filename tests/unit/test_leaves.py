"""The leaf modules: registry, calendar, cli exit codes, atomic writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from quant_core import cli
from quant_core.atomic import atomic_write_json
from quant_core.calendar import TradingCalendar
from quant_core.errors import ConfigError, DataError, OperationalError
from quant_core.registry import Registry


class TestRegistry:
    def test_register_and_get(self) -> None:
        registry: Registry[object] = Registry("thing")

        @registry.register("b")
        def b() -> int:
            return 2

        registry.add("a", 1)
        assert registry.get("b") is b
        assert registry.names() == ["a", "b"]

    def test_duplicate_name_raises(self) -> None:
        registry: Registry[int] = Registry("thing")
        registry.add("a", 1)
        with pytest.raises(ValueError, match="already registered"):
            registry.add("a", 2)

    def test_unknown_name_lists_sorted_options(self) -> None:
        registry: Registry[int] = Registry("strategy")
        registry.add("zeta", 1)
        registry.add("alpha", 2)
        with pytest.raises(ConfigError, match="unknown strategy 'x'; valid: alpha, zeta"):
            registry.get("x")

    def test_view_is_read_only(self) -> None:
        registry: Registry[int] = Registry("thing")
        registry.add("a", 1)
        with pytest.raises(TypeError):
            registry.items["b"] = 2  # type: ignore[index]


class TestCalendar:
    def test_sessions_exclude_weekends_and_holidays(self, calendar: TradingCalendar) -> None:
        days = np.array(
            ["2010-01-15", "2010-01-16", "2010-01-18", "2010-01-19"], dtype="datetime64[D]"
        )
        assert calendar.is_session(days).tolist() == [True, False, False, True]

    def test_covers_2000_onwards(self, calendar: TradingCalendar) -> None:
        assert calendar.is_session(np.array(["2000-03-01"], dtype="datetime64[D]")).all()
        assert calendar.first <= dt.date(2000, 1, 3)

    def test_session_ranges_and_counts(self, calendar: TradingCalendar) -> None:
        week = calendar.sessions_in_range(dt.date(2010, 1, 11), dt.date(2010, 1, 19))
        assert len(week) == 6  # Monday 18th is a holiday
        counts = calendar.count_sessions(
            np.array(["2010-01-11"], dtype="datetime64[D]"),
            np.array(["2010-01-19"], dtype="datetime64[D]"),
        )
        assert counts.tolist() == [6]
        assert calendar.last_sessions(3, dt.date(2010, 1, 19)).astype(str).tolist() == [
            "2010-01-14",
            "2010-01-15",
            "2010-01-19",
        ]

    def test_calendar_with_narrower_bounds(self) -> None:
        shanghai = TradingCalendar("XSHG")
        assert shanghai.first >= dt.date(1990, 12, 3)
        assert shanghai.is_session(np.array(["2010-01-04"], dtype="datetime64[D]")).all()

    def test_unknown_exchange(self) -> None:
        with pytest.raises(ConfigError, match="unknown exchange 'NOPE'"):
            TradingCalendar("NOPE")


class TestCli:
    def test_ok(self) -> None:
        assert cli.run(lambda: 0) == cli.ExitCode.OK

    @pytest.mark.parametrize(
        ("exc", "code"),
        [
            (ConfigError("bad key"), cli.ExitCode.USAGE_ERROR),
            (DataError("bad rows"), cli.ExitCode.DOMAIN_ERROR),
            (OperationalError("halt"), cli.ExitCode.DOMAIN_ERROR),
            (RuntimeError("bug"), cli.ExitCode.INTERNAL_ERROR),
            (KeyboardInterrupt(), cli.ExitCode.INTERRUPTED),
        ],
    )
    def test_exceptions_map_to_exit_codes(self, exc: BaseException, code: int) -> None:
        def main() -> int:
            raise exc

        assert cli.run(main) == code

    def test_sigterm_is_a_graceful_stop_and_cleanup_runs(self) -> None:
        cleaned: list[bool] = []

        def main() -> int:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                return 0
            finally:
                cleaned.append(True)

        assert cli.run(main) == cli.ExitCode.INTERRUPTED
        assert cleaned == [True]
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def test_a_ctrl_c_a_library_turned_into_its_own_error_exits_as_interrupted(self) -> None:
        # DuckDB turns the KeyboardInterrupt a Ctrl-C raises inside a query into "Query
        # interrupted": still an interruption (130), not an unexpected error (3).
        before = signal.getsignal(signal.SIGINT)

        def main() -> int:
            try:
                os.kill(os.getpid(), signal.SIGINT)
            except KeyboardInterrupt:
                raise RuntimeError("Query interrupted") from None
            return 0

        assert cli.run(main) == cli.ExitCode.INTERRUPTED
        assert signal.getsignal(signal.SIGINT) is before
        assert cli.run(lambda: (_ for _ in ()).throw(RuntimeError("bug"))) == (
            cli.ExitCode.INTERNAL_ERROR
        ), "a later run without a signal is an unexpected error again"

    def test_unexpected_errors_are_logged_with_traceback(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        def main() -> int:
            raise RuntimeError("boom")

        cli.run(main)
        assert any(r.exc_info for r in caplog.records if "Unexpected error" in r.getMessage())


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
