"""A book's sleeves made ready to trade, the same way for the backtest and the worker.

:func:`prepare_book` builds the book from its config (:func:`quant_core.book.build.build_book`)
after naming the stored models its sleeves' params use as factors (``model_<id>``), and gives
each sleeve that trades a stored model (``fitted``) its model; :func:`book_start` is the first
day the whole book may trade: a sleeve on a stored model holds the book until its model predicts.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from quant_core.book.build import build_book
from quant_core.book.sleeves import Book
from quant_core.research.attach import attach_model, first_session
from quant_core.research.model import ModelNotReady
from quant_core.research.model_factors import load_model_factors

if TYPE_CHECKING:
    from pathlib import Path

    from config.book_schema import BookConfig
    from config.schema import AppConfig


def prepare_book(cfg: AppConfig, book_cfg: BookConfig) -> Book:
    """Return the book of ``book_cfg`` under ``cfg``, each stored model attached.

    Raises
    ------
    ConfigError
        A sleeve cannot be built.
    ModelNotReady
        A sleeve trades a stored model that cannot be had (its message names the sleeve).
    """
    load_sleeve_models(book_cfg, cfg.paths.data_dir)
    book = build_book(book_cfg, cfg)
    for sleeve in book.sleeves:
        if (refusal := attach_model(sleeve.strategy, cfg.paths.data_dir)) is not None:
            raise ModelNotReady(f"sleeve {sleeve.name}: {refusal}")
    return book


def load_sleeve_models(book_cfg: BookConfig, data_dir: Path) -> None:
    """Load the stored models each sleeve's params name as factors (``model_<id>``).

    Raises
    ------
    ModelNotReady
        A named model is not stored, or was rejected (its message names the sleeve).
    """
    for config in book_cfg.sleeves:
        try:
            load_model_factors(config.strategy.params, data_dir)
        except ModelNotReady as exc:
            raise ModelNotReady(f"sleeve {config.name}: {exc}") from None


def book_start(book: Book, start: dt.date | None, end: dt.date | None) -> dt.date | None:
    """Return the first day the book may trade from ``start``: its latest sleeve's model's."""
    starts = [first_session(s.strategy, start, end) for s in book.sleeves]
    known = [s for s in starts if s is not None]
    return max(known) if known else None


__all__ = ["book_start", "prepare_book"]
