"""The Explorer's HTML report section (``views/run_report.render``) in AppTest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from quant_core.backtest.results import catalog


def _section(folder: str) -> None:
    from pathlib import Path

    from quant_core.cockpit.views.run_report import render

    render(Path(folder))


def _open(folder: Path) -> AppTest:
    at = AppTest.from_function(_section, args=(str(folder),), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def _downloads(at: AppTest) -> list[str]:
    return [element.proto.label for element in at.get("download_button")]


@pytest.fixture
def run_folder(built_data_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the stored run of the cockpit's data dir."""
    (run_id,) = catalog(built_data_dir / "backtests")["run_id"]
    folder = tmp_path / str(run_id)
    shutil.copytree(built_data_dir / "backtests" / str(run_id), folder)
    (folder / "report.html").unlink(missing_ok=True)
    return folder


def test_the_button_writes_the_report_and_offers_it(run_folder: Path) -> None:
    at = _open(run_folder)
    assert [b.label for b in at.button] == ["Write HTML report"]
    assert _downloads(at) == []  # nothing written yet
    assert any("No HTML report written" in c.value for c in at.caption)

    at.button[0].click().run()

    assert not at.exception, at.exception
    report = run_folder / "report.html"
    assert report.is_file()
    assert "Final equity" in report.read_text(encoding="utf-8")
    assert next(s.value for s in at.success).startswith("Report written in")
    assert _downloads(at) == ["Download HTML report"]
    assert any(str(report) in c.value for c in at.caption)


def test_an_existing_report_is_offered_at_once(run_folder: Path) -> None:
    (run_folder / "report.html").write_text("<html>kept</html>", encoding="utf-8")

    at = _open(run_folder)

    assert _downloads(at) == ["Download HTML report"]
    assert (run_folder / "report.html").read_text(encoding="utf-8") == "<html>kept</html>"


def test_a_failure_is_an_error_message_not_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    at = _open(folder)

    at.button[0].click().run()

    assert not at.exception, at.exception
    (error,) = at.error
    assert "Could not write the report of run not-a-run" in error.value
    assert "no stored backtest run" in error.value
    assert _downloads(at) == []
