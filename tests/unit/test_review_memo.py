"""Review of the factor memo and the config-file cache: each test a bug found, then fixed.

* A kept factor value was a row of the frame its factor computed: under pandas' copy-on-write
  the row is a view, so the memo kept every computed frame (window x symbols), a factor of
  window 274 holding 274 times the bytes the bound counts.
* The bound counted 8 bytes a symbol and nothing else: a kept value costs about 1.5 KB besides
  (the Series, its key, its slot), so a small universe's memo could grow to many times its
  ``KEPT_BYTES``.
* (Fixed without a test here, speed being measured in benchmarks, never in tests: dropping the
  oldest value of a plain dict scans its deleted slots, so a full memo's every new value cost
  time growing with its size, under the lock; measured 7.2 s against 0.5 s for 200,000 values.
  The memo is an ``OrderedDict`` now.)
* A YAML value that does not fit its tag (a date that does not exist, ``!!int abc``) raised a
  bare ``ValueError``: no file named, and the file's text in the message.
"""

from __future__ import annotations

import datetime as dt
import gc
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from config.yaml_file import parse_yaml_file
from quant_core.data.panels import MarketData
from quant_core.errors import ConfigError
from quant_core.strategies.base import DataView
from quant_core.strategies.factor_memo import KEPT_BYTES, factor_memo

SLACK = 1.1  # how far over KEPT_BYTES a full memo may measure


def _panels(symbols: int, sessions: int = 400) -> MarketData:
    rng = np.random.default_rng(3)
    dates = np.datetime64("2015-01-02") + np.arange(sessions)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (sessions, symbols)), axis=0))
    panels = {f: close.copy() for f in ("open", "high", "low", "close")}
    panels["volume"] = rng.uniform(1e5, 1e6, (sessions, symbols))
    return MarketData(dates, np.array([f"S{i:04d}" for i in range(symbols)]), panels)


def _bytes_per_value(data: MarketData, name: str, ends: range) -> float:
    """Return the memory the memo keeps per value, its values computed at ``ends``."""
    DataView(data, ends.start - 1).factor(name)  # the memo and the factor made before measuring
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for end in ends:
            DataView(data, end).factor(name)  # the caller's copy dropped: only the memo keeps
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert factor_memo(data).computed == len(ends) + 1
    return kept / len(ends)


def test_a_kept_value_does_not_hold_the_frame_it_was_computed_from() -> None:
    data = _panels(50)
    per_value = _bytes_per_value(data, "momentum_252_21", range(300, 400))  # window 274
    assert per_value * factor_memo(data).limit <= SLACK * KEPT_BYTES
    assert per_value < 274 * 50 * 8 / 10  # far from the window's bytes


@pytest.mark.parametrize("symbols", [10, 500])
def test_a_full_memo_keeps_about_its_bound(symbols: int) -> None:
    data = _panels(symbols, sessions=300)
    per_value = _bytes_per_value(data, "momentum_20", range(100, 300))
    assert per_value * factor_memo(data).limit <= SLACK * KEPT_BYTES


@pytest.mark.parametrize(
    "text",
    ["backtest:\n  start: 2020-02-30\n", "alerts:\n  token: !!int hunter2\n"],
    ids=["no-such-date", "not-an-int"],
)
def test_a_value_that_does_not_fit_its_tag_is_a_config_error_naming_the_file(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text("backtest: {start: 2020-02-28}\n")
    assert parse_yaml_file(path) == {"backtest": {"start": dt.date(2020, 2, 28)}}
    path.write_text(text)  # an error after a success: nothing of the first text answers
    with pytest.raises(ConfigError, match=r"secrets\.yaml: not valid YAML: line 2") as caught:
        parse_yaml_file(path)
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
