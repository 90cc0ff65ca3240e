"""Edges of the live equity's backtest: a worker whose closes reach the data's last session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from config import load_config
from quant_core.cockpit import context
from quant_core.cockpit.models import live_backtest as bt


def _run(data_dir: Path, closes: list[dt.date]) -> tuple[bt.Window, bt.Outcome]:
    cfg = load_config("live", [f"paths.data_dir={data_dir}"], environ={})
    live = pd.Series([1e6, 1.001e6][: len(closes)], index=pd.DatetimeIndex(closes))
    span = bt.window(live)
    assert span is not None
    return span, bt.run(bt.backtest_config(cfg, span))


def _last_two(data_dir: Path) -> tuple[dt.date, dt.date]:
    cfg = load_config("live", [f"paths.data_dir={data_dir}"], environ={})
    dates = context.warehouse(cfg).bars_per_session(cfg.data.dataset).index
    return pd.Timestamp(dates[-2]).date(), pd.Timestamp(dates[-1]).date()


def test_a_worker_whose_last_close_is_the_datas_last_session(data_dir: Path) -> None:
    before, last = _last_two(data_dir)
    span, out = _run(data_dir, [before, last])
    assert (span.start, span.end) == (before + dt.timedelta(days=1), last)
    assert out.equity is not None
    assert out.note is None
    assert [t.date() for t in out.equity.index] == [before, last]  # one session traded
    assert out.equity.iloc[0] == pytest.approx(1e6)


def test_a_worker_whose_first_close_is_the_datas_last_session(data_dir: Path) -> None:
    _, last = _last_two(data_dir)
    _, out = _run(data_dir, [last, last + dt.timedelta(days=3)])
    assert out.equity is None
    assert out.note is not None
    assert "cannot run" in out.note
    assert "no session" in out.note
    assert bt.window(pd.Series([1e6], index=pd.DatetimeIndex([last]))) is None  # one point
