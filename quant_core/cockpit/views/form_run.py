"""Running a backtest from a form: its progress bar, its failure shown, nothing stored under it.

Shared by the strategy form (``backtest_form_view``) and the book form (``book_form_view``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from quant_core.errors import QuantError
from quant_core.types import ProgressFn

T = TypeVar("T")
logger = logging.getLogger(__name__)


def run_with_progress(
    job: Callable[[ProgressFn], T], line: Any, bar_slot: Any, what: str, step: str
) -> T | None:
    """Run ``job(progress)`` under a progress bar; return its result, or None if it failed.

    ``what`` names the run ("Backtest", "Book backtest"), ``step`` its unit of progress
    ("rebalance", "session"). A refusal (``QuantError``) is shown in ``line``; any other error is
    a bug of the strategy's: shown with its traceback in an expander, never bare.
    """
    bar = bar_slot.progress(0.0, text=f"{what}: loading the data...")
    seen = [0, 0]

    def progress(task: str, done: int, total: int) -> None:
        seen[:] = [done, total]
        bar.progress(done / total if total else 1.0, text=f"{task}: {step} {done} of {total}")

    try:
        result = job(progress)
    except QuantError as exc:
        bar_slot.empty()
        line.error(f"{what} failed: {exc}")
        return None
    except Exception as exc:  # a strategy's own bug: said here, never a bare traceback
        logger.exception("%s from the Explorer's form failed", what)
        bar_slot.empty()
        line.error(f"{what} failed: {type(exc).__name__}: {exc}")
        with st.expander("Traceback"):
            st.exception(exc)
        return None
    bar.progress(1.0, text=f"{what} done: {seen[0]} of {seen[1]} {step}s")
    return result


def nothing_stored(key: str) -> None:
    """Stop the page under a refusal or a failure: no run stored before shown as this one's.

    The next click anywhere (``key``: the button's) brings the stored runs back.
    """
    st.info("Nothing was stored: the stored runs are hidden until the next click.")
    st.button("Show the stored runs", key=key)
    st.stop()


__all__ = ["nothing_stored", "run_with_progress"]
