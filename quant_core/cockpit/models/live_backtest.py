"""The backtest of the live config over the worker's life, to draw under the live equity.

No Streamlit. The worker's first recorded session close is its starting point (a worker started
before the open records the close before its first trading session; a replay records the
session before its first): the backtest of the same config (strategy, portfolio, costs, risk,
dataset) starts trading the session after it (``backtest.start`` = the day after that close),
with the live equity there as its initial cash, and ends at the last recorded close
(``backtest.end``); ``backtest.benchmark`` is not computed. It runs through
:func:`quant_core.backtest.run.run_backtest` (``store=False``: nothing is written). Its curve
starts at the session before its first rebalance, so both lines meet at that first close.

Both are then rebased to the live equity at the first session they share (:func:`rebase`):
``backtest x live[s0] / backtest[s0]``. A worker started after the open trades its first session
before its first close: the backtest then starts one session later than it did.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

import pandas as pd

from config.schema import AppConfig
from quant_core.errors import QuantError
from quant_core.live.state import DashboardState
from quant_core.runs import config_digest

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Window:
    """The period of the backtest: from the worker's first recorded close to its last."""

    first_close: dt.date  # the worker's starting point: the backtest's initial cash is here
    start: dt.date  # backtest.start: the day after the first close
    end: dt.date  # backtest.end: the last recorded close
    equity: float  # the live equity at the first close, dollars


@dataclass(frozen=True, slots=True)
class Outcome:
    """The backtest's equity at each session (dollars), or why there is none."""

    equity: pd.Series | None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Tracking:
    """How the live account fared against the backtest over their common sessions."""

    since: dt.date  # the first common session: both lines are equal there
    sessions: int  # common sessions after it
    live_return: float  # live equity at the last common session / at ``since`` - 1
    backtest_return: float  # the same for the rebased backtest
    max_gap: float  # largest |live / backtest - 1| over the common sessions


def window(live: pd.Series) -> Window | None:
    """Return the backtest's period from the live closes, or None with fewer than two.

    ``live``: equity at each session close (a session index, oldest first), dollars.
    """
    equity = live.dropna()
    equity = equity[equity > 0]
    if len(equity) < 2:
        return None
    first, last = equity.index[0].date(), equity.index[-1].date()
    return Window(first, first + dt.timedelta(days=1), last, float(equity.iloc[0]))


def backtest_config(cfg: AppConfig, span: Window) -> AppConfig:
    """Return ``cfg`` with its backtest section set to ``span`` (no benchmark)."""
    backtest = cfg.backtest.model_copy(
        update={
            "start": span.start,
            "end": span.end,
            "initial_cash": span.equity,
            "benchmark": None,
        }
    )
    return cfg.model_copy(update={"backtest": backtest})


def config_key(cfg: AppConfig) -> str:
    """Return the digest of ``cfg`` (sanitised), as a stored run's ``config_sha256``."""
    return config_digest(cfg.sanitized())


def run(cfg: AppConfig) -> Outcome:
    """Run the backtest of ``cfg`` in memory; an error is the outcome's note, never raised.

    A config, data or strategy error (``QuantError``: no data for the period, a model not
    ready) says what it is; anything else is logged with its traceback and named.
    """
    # Imported here: the engine and its models take seconds to import, and the Live page's
    # first paint (its red buttons) must not wait for them.
    from quant_core.backtest.run import run_backtest

    try:
        result = run_backtest(cfg, store=False)
    except QuantError as exc:
        return Outcome(None, f"The backtest of the live config cannot run: {exc}")
    except Exception as exc:  # a bug or an odd dataset: the page goes on
        logger.exception("The backtest of the live config failed")
        return Outcome(None, f"The backtest of the live config failed: {type(exc).__name__}: {exc}")
    equity = result.result.curve["equity"].astype(float)
    if equity.dropna().empty:
        return Outcome(None, "The backtest of the live config has no equity in that period.")
    equity.index = pd.DatetimeIndex(equity.index, name="session")
    return Outcome(equity.rename("backtest"))


def rebase(live: pd.Series, backtest: pd.Series) -> tuple[pd.Series, pd.Timestamp] | None:
    """Return the backtest scaled to the live equity at their first common session, and it.

    ``backtest x live[s0] / backtest[s0]``, from ``s0`` on; None when they share no session
    with a positive equity on both sides.
    """
    live, backtest = live.dropna(), backtest.dropna()
    common = live.index.intersection(backtest.index)
    common = common[(live[common] > 0).to_numpy() & (backtest[common] > 0).to_numpy()]
    if common.empty:
        return None
    at = common[0]
    shown = backtest[backtest.index >= at]
    return shown * (float(live[at]) / float(backtest[at])), at


def tracking(live: pd.Series, rebased: pd.Series) -> Tracking | None:
    """Return the live and backtest returns over their common sessions, and the largest gap."""
    common = live.dropna().index.intersection(rebased.dropna().index)
    if common.empty:
        return None
    ours, theirs = live[common].astype(float), rebased[common].astype(float)
    ratio = ours / theirs - 1.0
    return Tracking(
        common[0].date(),
        len(common) - 1,
        float(ours.iloc[-1] / ours.iloc[0] - 1.0),
        float(theirs.iloc[-1] / theirs.iloc[0] - 1.0),
        float(ratio.abs().max()),
    )


def tracking_line(t: Tracking) -> str:
    """Return one line: both returns since the common start, their difference, the widest gap."""
    diff = t.live_return - t.backtest_return
    diff = 0.0 if abs(diff) < 5e-5 else diff  # never "-0.00%"
    gap = "-" if math.isnan(t.max_gap) else f"{t.max_gap:.2%}"
    return (
        f"Since {t.since} ({t.sessions} session(s)): live {t.live_return:+.2%}, backtest "
        f"{t.backtest_return:+.2%} (live minus backtest {diff:+.2%}); widest gap between the "
        f"lines {gap} of the backtest"
    )


def strategy_note(state: DashboardState | None, cfg: AppConfig) -> str | None:
    """Return a warning when the worker runs another strategy than the cockpit's live config."""
    running = state.worker.strategy if state is not None else None
    if not running or running == cfg.strategy.name:
        return None
    return (
        f"The worker runs strategy {running}; the cockpit's live config names "
        f"{cfg.strategy.name}. The backtest below is of the config, not of the worker."
    )
