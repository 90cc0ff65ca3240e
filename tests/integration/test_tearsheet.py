"""The HTML tearsheet: ``run_backtest.py --report`` as a user runs it, and the report's content.

The report must be self-contained: every ``src``/``href`` a ``data:`` URI or an anchor in the
page, no CSS ``url()`` to another host, QuantStats' outside favicon gone. Checked with regexes of
this file, not with the module's own :func:`outside_references`.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from quant_core.backtest import metrics as m
from quant_core.backtest.tearsheet import offline, outside_references, write_tearsheet
from quant_core.backtest.tearsheet_tables import drawdown_periods, monthly_returns

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SHORT = ("--start", "2010-04-01", "--end", "2010-07-30")
ATTRIBUTE = re.compile(r"""\b(?:src|href|srcset|poster|action)\s*=\s*["']([^"']*)["']""", re.I)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tearsheet")
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(root)}
    subprocess.run(
        [sys.executable, str(ROOT / "run_data_sync.py")], env=env, check=True, capture_output=True
    )
    return root


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, str(ROOT / "run_backtest.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


@pytest.fixture(scope="module")
def reported(data_dir: Path) -> dict[str, Any]:
    """The --json summary of a short run with --report (momentum, equal_weight benchmark)."""
    result = run(data_dir, *SHORT, "--report", "--json")
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _assert_offline(document: str) -> None:
    for value in ATTRIBUTE.findall(document):
        assert value.startswith(("data:", "#")), value
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", document, re.I)
    assert "@import" not in document
    assert "qtpylib" not in document
    assert "<script" not in document.lower()


def test_report_is_written_beside_the_run_and_named_in_the_json(reported: dict[str, Any]) -> None:
    path = Path(reported["report"])
    assert path == Path(reported["path"]) / "report.html"
    assert path.is_file()
    assert not list(path.parent.glob(".report.html.*"))  # no temporary file left behind


def test_report_shows_final_equity_drawdowns_returns_and_config(reported: dict[str, Any]) -> None:
    folder = Path(reported["path"])
    document = (folder / "report.html").read_text(encoding="utf-8")
    final = reported["final_equity"]
    assert f"Final equity: <strong>${final:,.2f}</strong>" in document

    # The worst drawdown of the table is the run's max drawdown, in depth and in sessions.
    curve = pd.read_parquet(folder / "equity.parquet")
    periods = drawdown_periods(curve["equity"])
    deepest, sessions = m.max_drawdown(curve["equity"])
    assert periods["depth"].iloc[0] == pytest.approx(deepest)
    assert periods["sessions"].iloc[0] == sessions == reported["metrics"]["max_drawdown_sessions"]
    worst = document.split('id="worst-drawdowns"')[1].split("</table>")[0]
    assert f"{deepest:.2%}" in worst
    assert worst.count("<tr>") == 1 + min(5, len(drawdown_periods(curve["equity"], worst=99)))

    # Monthly returns: each month's return of the curve, in the monthly table.
    monthly = document.split('id="monthly-returns"')[1].split("</table>")[0]
    for month in ("Apr", "May", "Jun", "Jul"):
        value: float = monthly_returns(curve["equity"]).to_dict()[month][2010]
        assert f"{value:.2%}" in monthly, month
    assert 'id="yearly-returns"' in document

    # The exact config, as stored (secrets already masked), pretty-printed.
    config = json.loads((folder / "config.json").read_text())
    assert html.escape(json.dumps(config, indent=2)) in document
    for section in ("Rolling Sharpe ratio", "Exposure, turnover and costs", "Trade analytics"):
        assert section in document
    assert "Construction and risk" in document
    assert "Expected shortfall" in document
    assert "Key Performance Metrics" in document  # QuantStats' part
    assert "equal_weight" in document  # the stored benchmark, by its name


def test_report_fetches_nothing_from_outside(reported: dict[str, Any]) -> None:
    document = Path(reported["report"]).read_text(encoding="utf-8")
    _assert_offline(document)
    assert document.count('src="data:image/png;base64,') >= 8  # our figures, inline
    assert document.count("<svg") >= 10  # QuantStats' figures, inline


def test_report_prints_its_path(data_dir: Path) -> None:
    result = run(data_dir, *SHORT, "--report")
    assert result.returncode == 0, result.stderr
    found = re.search(r"^Report: (.+report\.html)$", result.stdout, re.M)
    assert found is not None, result.stdout
    assert Path(found.group(1)).is_file()


def test_a_run_without_benchmark_says_so(data_dir: Path) -> None:
    result = run(data_dir, *SHORT, "--set", "backtest.benchmark=null", "--report", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    document = Path(summary["report"]).read_text(encoding="utf-8")
    assert "No benchmark: this run was made with backtest.benchmark null" in document
    assert f"${summary['final_equity']:,.2f}" in document
    assert "Benchmark: " not in document  # QuantStats drew no benchmark either
    _assert_offline(document)


def test_report_only_rewrites_a_stored_run_and_names_a_missing_one(
    data_dir: Path, reported: dict[str, Any]
) -> None:
    path = Path(reported["report"])
    path.unlink()
    result = run(data_dir, "--report-only", reported["run_id"], "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"run_id": reported["run_id"], "report": str(path)}
    assert path.is_file()

    missing = run(data_dir, "--report-only", "20100101T000000Z-nothing-00000000-0000")
    assert missing.returncode == 1
    assert "20100101T000000Z-nothing-00000000-0000" in missing.stderr


def test_an_older_run_without_analytics_or_risk_and_no_network(
    reported: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "old-run"
    shutil.copytree(reported["path"], folder)
    for name in ("round_trips.parquet", "gain_loss.parquet", "trade_stats.json", "report.html"):
        (folder / name).unlink(missing_ok=True)
    for name in ("risk.json", "risk_vol.parquet", "risk_exposure.parquet", "decisions.parquet"):
        (folder / name).unlink()
    connect = socket.socket.connect

    def loopback_only(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in (
            "127.0.0.1",
            "::1",
        ):
            raise AssertionError(f"the report tried to reach {address}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)

    path = write_tearsheet(folder)

    document = path.read_text(encoding="utf-8")
    assert "No trade analytics stored" in document
    assert "No construction and risk report stored" in document
    assert "No decisions stored" in document
    assert "Key Performance Metrics" in document  # QuantStats ran here, in-process, offline
    assert f"${reported['final_equity']:,.2f}" in document
    _assert_offline(document)


def test_offline_removes_what_would_fetch_and_keeps_link_text() -> None:
    dirty = (
        '<link rel="shortcut icon" href="https://qtpylib.io/favicon.ico" type="image/x-icon">'
        '<script src="//cdn.example.com/x.js"></script><img src="http://example.com/a.png">'
        '<p>by <a href="http://quantstats.io" target="q">QuantStats</a></p>'
        '<div style="background:url(https://example.com/b.png)"></div>'
        '<img src="data:image/png;base64,AAAA"><a href="#config">config</a>'
    )
    assert len(outside_references(dirty)) == 5

    clean = offline(dirty)

    assert outside_references(clean) == []
    assert "<p>by QuantStats</p>" in clean
    assert '<img src="data:image/png;base64,AAAA">' in clean
    assert 'href="#config"' in clean
    _assert_offline(clean)


@pytest.mark.parametrize(
    "flags", [("--start", "2010-01-04"), ("--strategy", "momentum"), ("--report",)]
)
def test_report_only_refuses_flags_it_would_ignore(tmp_path: Path, flags: tuple[str, ...]) -> None:
    result = run(tmp_path, "--report-only", "some-run", *flags)
    assert result.returncode == 2
    assert f"{flags[0]} would be ignored" in result.stderr
