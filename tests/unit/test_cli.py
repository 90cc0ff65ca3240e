"""The entry points' shared preamble: config loading, log level and log file, exit codes."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from quant_core import cli


@pytest.fixture
def restore_logging() -> Iterator[None]:
    # cli.main and cli.prepare change process-wide logging; give pytest's set-up back.
    root, ours = logging.getLogger(), logging.getLogger("quant_core")
    handlers, root_level, our_level = root.handlers[:], root.level, ours.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(root_level)
    ours.setLevel(our_level)


@pytest.fixture(autouse=True)
def no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("QC__"):
            monkeypatch.delenv(key)


@pytest.mark.usefixtures("restore_logging")
def test_prepare_loads_the_overrides_and_applies_level_and_log_file(tmp_path: Path) -> None:
    cfg = cli.prepare(
        None,
        [f"paths.data_dir={tmp_path}", "logging.level=DEBUG"],
        log_file=lambda c: c.paths.data_dir / "logs" / "run.log",
    )
    assert cfg.paths.data_dir == tmp_path
    assert logging.getLogger("quant_core").level == logging.DEBUG
    logging.getLogger("quant_core.test").debug("written to the file")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "written to the file" in (tmp_path / "logs" / "run.log").read_text()


@pytest.mark.usefixtures("restore_logging")
def test_prepare_without_log_file_adds_no_handler() -> None:
    before = list(logging.getLogger().handlers)
    cli.prepare(None, ["logging.level=WARNING"])
    assert logging.getLogger().handlers == before
    assert logging.getLogger("quant_core").level == logging.WARNING


@pytest.mark.usefixtures("restore_logging")
def test_main_turns_a_config_error_in_prepare_into_exit_2() -> None:
    def work() -> int:
        cli.prepare(None, ["nosuchsection.key=1"])
        return cli.ExitCode.OK

    assert cli.main(work) == cli.ExitCode.USAGE_ERROR


@pytest.mark.usefixtures("restore_logging")
def test_main_sets_up_logging_and_returns_the_work_code() -> None:
    assert cli.main(lambda: 7) == 7
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler.formatter, cli.RedactingFormatter)


@pytest.mark.usefixtures("restore_logging")
def test_a_look_ahead_is_the_strategys_fault_exit_4() -> None:
    from quant_core.strategies.base import LookAheadError

    def work() -> int:
        raise LookAheadError("asked for close on 2010-01-05, but the view ends at 2010-01-04")

    assert cli.main(work) == cli.ExitCode.STRATEGY_ERROR


def test_parser_is_described_by_the_docstrings_first_paragraph() -> None:
    parser = cli.parser("Do one thing.\n\nExamples\n--------\n    python run_x.py\n")
    assert parser.description == "Do one thing."


def test_a_piped_console_gets_the_width_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # piped: not a terminal
    assert cli.console(piped_width=160).width == 160
    assert cli.console().width == 120
