"""What every entry point shares: logging, config loading, exit codes, SIGTERM as a graceful stop.

Each ``run_*.py`` parses its arguments, then hands its body to :func:`main`, and the body's
first step is :func:`prepare` (the configuration and the logging it asks for).

Exit codes
----------
0 ok · 1 a domain error (bad data under ``--strict``, a failed run) · 2 a usage or
configuration error · 3 an unexpected error (a bug: logged with its traceback) · 4 a strategy
error (its weights break the strategy contract, or it read data at or after T: fix the strategy,
not the config) · 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from config import load_config
from config.redact import redact
from config.schema import AppConfig
from quant_core import interrupt
from quant_core.errors import ConfigError, QuantError, StrategyError
from quant_core.types import ProgressFn

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class ExitCode(IntEnum):
    """Process exit codes of every entry point."""

    OK = 0
    DOMAIN_ERROR = 1
    USAGE_ERROR = 2
    INTERNAL_ERROR = 3
    STRATEGY_ERROR = 4
    INTERRUPTED = 130


class RedactingFormatter(logging.Formatter):
    """A formatter that blanks every secret the config loader has seen (message, traceback).

    Whatever module logs a secret by mistake (an error quoting a value, a DEBUG line), the
    entry points' stderr and log files show ``***`` in its place.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record``, then replace each remembered secret with ``***``."""
        return redact(super().format(record))


class GracefulExit(BaseException):
    """Raised inside the main thread when SIGTERM arrives, like ``KeyboardInterrupt``."""


def setup_logging(level: str = "INFO") -> None:
    """Send ``quant_core`` logs to stderr at ``level``; call once, from an entry point only.

    Call it before loading the configuration, so that the config loader's own messages are
    shown, then :func:`set_level` with the configured level.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("quant_core").setLevel(level.upper())


def parser(doc: str) -> argparse.ArgumentParser:
    """Return an entry point's argument parser, described by the first paragraph of ``doc``.

    Parameters
    ----------
    doc
        The entry point's module docstring (``__doc__``); the rest of it (examples, exit codes)
        stays out of ``--help``.
    """
    return argparse.ArgumentParser(description=doc.split("\n\n")[0])


def console(piped_width: int = 120) -> Console:
    """Return a console for an entry point's tables on stdout.

    A terminal keeps its own width; piped output (logs, CI) gets ``piped_width`` columns, so
    that wide tables are not wrapped to rich's default of 80.
    """
    return Console(width=None if sys.stdout.isatty() else piped_width)


def add_set_option(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--set section.key=value`` config override every entry point takes."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value (repeatable)",
    )


def add_file_log(path: Path, max_bytes: int = 10_000_000, backups: int = 5) -> None:
    """Also write ``quant_core`` logs to a rotating file (``max_bytes`` each, ``backups`` kept).

    When a record would take the file past ``max_bytes``, ``path`` becomes ``path.1`` (and
    ``path.1`` becomes ``path.2``, ...), the oldest beyond ``backups`` is deleted, and a new
    ``path`` is started. One process writes the file: a child process (the worker's data
    refresh runs in one) logs through its own handlers, never into this file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups)
    handler.setFormatter(RedactingFormatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)


def set_level(level: str) -> None:
    """Change the ``quant_core`` log level after the configuration is known."""
    logging.getLogger("quant_core").setLevel(level.upper())


def prepare(
    env: str | None,
    overrides: Iterable[str] = (),
    log_file: Callable[[AppConfig], Path] | None = None,
) -> AppConfig:
    """Load the configuration, then apply its log level and, if asked, a log file.

    Call it inside the body given to :func:`main`, so that a configuration error becomes
    exit code 2.

    Parameters
    ----------
    env
        The config environment (``"backtest"``, ``"live"``, or None for base and secrets only).
    overrides
        The ``--set section.key=value`` strings.
    log_file
        Returns the rotating log file (:func:`add_file_log`) from the loaded configuration; it
        rotates at ``live.log_max_mb`` MB (10**6 bytes) and keeps ``live.log_backups`` old files
        (the worker's ``worker.log`` is the one such file).

    Raises
    ------
    ConfigError
        A config file is missing or malformed, or a value fails validation.
    """
    cfg = load_config(env, overrides=overrides)
    set_level(cfg.logging.level)
    if log_file is not None:
        max_bytes = max(1, round(cfg.live.log_max_mb * 1_000_000))
        add_file_log(log_file(cfg), max_bytes=max_bytes, backups=cfg.live.log_backups)
    return cfg


@contextmanager
def progress_bar() -> Iterator[ProgressFn]:
    """Yield a ``progress(task, done, total)`` callback drawing bars on stderr."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(task, total=total)
            bar.update(tasks[task], completed=done, total=total)

        yield update


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    interrupt.note()
    raise GracefulExit(signum)


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    interrupt.note()  # noted first: a library may swallow the exception or turn it into its own
    raise KeyboardInterrupt


def run(main: Callable[[], int]) -> int:
    """Run ``main`` and turn what it raises into an exit code; cleanup runs in its ``finally``.

    Returns
    -------
    int
        The code of ``main``, or the code for the exception family it raised.
    """
    interrupt.clear()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int is not signal.SIG_IGN:  # a job started with Ctrl-C ignored keeps it so
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        return main()
    except ConfigError as exc:
        logger.error("Configuration error: %s", exc)
        return ExitCode.USAGE_ERROR
    except StrategyError as exc:
        logger.error("%s: %s", exc.kind, exc)
        return ExitCode.STRATEGY_ERROR
    except QuantError as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        return ExitCode.DOMAIN_ERROR
    except (KeyboardInterrupt, GracefulExit):
        logger.warning("Interrupted; stopped cleanly")
        return ExitCode.INTERRUPTED
    except Exception:
        if interrupt.asked():  # the signal's exception turned into a library's (DuckDB's)
            logger.debug("Interrupted during a library call", exc_info=True)
            logger.warning("Interrupted; stopped cleanly")
            return ExitCode.INTERRUPTED
        logger.exception("Unexpected error")
        return ExitCode.INTERNAL_ERROR
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def main(work: Callable[[], int]) -> int:
    """Set up logging, then :func:`run` ``work``: the ``main`` of every entry point.

    Returns
    -------
    int
        The exit code, as :func:`run` gives it.
    """
    setup_logging()
    return run(work)
