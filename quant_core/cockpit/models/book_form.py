"""The Explorer's book form: which book files there are, the run's overrides, the checks.

Pure of Streamlit: the view (``views/book_form_view.py``) lists :func:`book_files`, queues the
overrides :func:`book_overrides` builds (the run config's dataset, period, capital, cash buffer;
the costs and the benchmark come from :mod:`~quant_core.cockpit.models.costs_form`) and runs
the book only when :func:`check_book` finds nothing that would stop it, the way
``run_backtest.py --book`` would refuse it: an invalid config value, a book file that does not
load (:func:`config.book_loader.load_book`, the message names the file and the field), a sleeve
that cannot be built, a period too short for the book's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import config as config_package
from config import load_config
from config.book_loader import load_book
from config.book_schema import BookConfig
from quant_core.book.build import build_book
from quant_core.cockpit.models.policy_form import config_problems
from quant_core.errors import ConfigError, DataError, QuantError
from quant_core.portfolio.schedule import session_range
from quant_core.research.model_factors import load_model_factors

BOOKS_DIR = Path(config_package.__file__).resolve().parent / "books"  # config/books/
DATA_BOOKS = "books"  # the data dir's own folder of book files


def book_files(data_dir: Path, config_books: Path = BOOKS_DIR) -> list[Path]:
    """Return the book files to offer: ``config/books/*.yaml``, then ``<data_dir>/books/*.yaml``.

    Each folder's files sorted by name; a folder that does not exist adds none.
    """
    found: list[Path] = []
    for folder in (config_books, data_dir / DATA_BOOKS):
        if folder.is_dir():
            found += sorted(p for p in folder.glob("*.yaml") if p.is_file())
    return found


def book_label(path: Path, data_dir: Path, config_books: Path = BOOKS_DIR) -> str:
    """Return how the picker names a book file: ``core · config/books/core.yaml``."""
    if path.parent == config_books:
        where = f"config/books/{path.name}"
    elif path.parent == data_dir / DATA_BOOKS:
        where = f"data dir books/{path.name}"
    else:
        where = str(path)
    return f"{path.stem} · {where}"


def book_summary(book: BookConfig) -> list[str]:
    """Return one line per sleeve (strategy, params, scanner) and one for the allocation."""
    lines = []
    for sleeve in book.sleeves:
        params = ", ".join(f"{k}={v}" for k, v in sleeve.strategy.params.items())
        strategy = f"{sleeve.strategy.name}" + (f" ({params})" if params else "")
        scanner = (
            "every symbol"
            if sleeve.scanner is None
            else f"scanner {sleeve.scanner.name}"
            + "".join(f" {k}={v}" for k, v in sleeve.scanner.params.items())
        )
        lines.append(f"{sleeve.name}: {strategy}; {scanner}")
    allocation = book.allocation
    lines.append(
        f"allocation {allocation.method}, lookback {allocation.lookback}, "
        f"rebalance {allocation.rebalance}; scaling {book.scaling.method}"
    )
    return lines


def book_overrides(
    *,
    dataset: str,
    start: Any,
    end: Any,
    initial_cash: float,
    cash_buffer: float,
) -> list[str]:
    """Return the ``--set`` overrides of a book run (each sleeve names its own strategy)."""
    out = [
        f"data.dataset={dataset}",
        f"portfolio.cash_buffer={cash_buffer!r}",
        f"backtest.initial_cash={initial_cash!r}",
    ]
    if start is not None:
        out.append(f"backtest.start={start}")
    if end is not None:
        out.append(f"backtest.end={end}")
    return out


@dataclass(frozen=True, slots=True)
class BookCheck:
    """What :func:`check_book` found: problems stop the run.

    ``first`` is the run's first session when the period has one (not compared).
    """

    problems: tuple[str, ...] = ()
    first: pd.Timestamp | None = field(default=None, compare=False)


def check_book(
    path: Path,
    overrides: Sequence[str],
    sessions: np.ndarray,
) -> BookCheck:
    """Load the run's config and the book file; check, before anything runs, what would stop it.

    Parameters
    ----------
    path
        The book file.
    overrides
        The form's ``--set`` overrides (:func:`book_overrides` plus costs and benchmark).
    sessions
        The dataset's session dates (``datetime64``), for the history the period leaves.

    Returns
    -------
    BookCheck
        Problems, each naming its key or its file and field: invalid config values (one line
        per key), the book file's error, a sleeve that cannot be built (``<file>: book <name>:
        book.sleeves.<i> (<sleeve>): ...``), a stored model a sleeve names that cannot be had,
        a period too short for the first sleeve able to decide.
    """
    try:
        cfg = load_config("backtest", overrides)
    except ConfigError as exc:
        return BookCheck(tuple(config_problems(exc)))
    try:
        book_cfg = load_book(path)
    except ConfigError as exc:
        return BookCheck((str(exc),))
    try:
        for sleeve in book_cfg.sleeves:
            load_model_factors(sleeve.strategy.params, cfg.paths.data_dir)
        book = build_book(book_cfg, cfg)
    except QuantError as exc:
        return BookCheck((f"{path}: {exc}",))
    try:
        first, _ = session_range(sessions, book.warmup, cfg.backtest.start, cfg.backtest.end)
    except DataError as exc:
        return BookCheck((f"{exc} (the book's first sleeve needs {book.warmup} sessions)",))
    return BookCheck(first=pd.Timestamp(sessions[first]))
