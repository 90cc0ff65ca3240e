"""The Explorer's run form, issue 14: no stale result left under an error.

After a run is stored, a submit that is refused (a bad value) or fails while it runs (a strategy
error, a data error, a bug) shows its error and nothing of the run before: not its "Stored run"
line, not its metrics or charts as if they were this run's. The next click brings the stored
runs back, the error gone with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from quant_core.cockpit.views import backtest_form_view
from quant_core.errors import DataError
from tests.cockpit.explorer_form_helpers import Opener, run_ids, stored_run, submit, widget

NOTHING_STORED = "Nothing was stored: the stored runs are hidden until the next click."


def _first_run(open_page: Opener, data_dir: Path) -> tuple[AppTest, str]:
    at = open_page("explorer")
    before = run_ids(data_dir)
    submit(at)
    run_id = stored_run(at, data_dir, before).run_id
    (line,) = [s.value for s in at.success]
    assert line.startswith(f"Stored run `{run_id}`: final equity $")
    assert at.metric  # the new run's headline
    return at, run_id


def _nothing_of_the_run_before(at: AppTest, run_before: str) -> None:
    assert not at.success
    assert not at.metric
    assert not at.get("plotly_chart")
    assert not [s for s in at.selectbox if s.key == "explorer_run"]
    assert not [m for m in at.markdown if run_before in m.value]
    assert [i.value for i in at.info] == [NOTHING_STORED]


def _back_on_the_next_click(at: AppTest, run_before: str) -> None:
    at.button(key="bt_show_runs").click().run()
    assert not at.exception, at.exception
    assert not at.error
    assert not at.success  # the success line was shown once, with its run
    assert at.selectbox(key="explorer_run").value == run_before
    assert at.metric


def test_a_refused_submit_clears_the_previous_success(open_page: Opener, data_dir: Path) -> None:
    at, run_id = _first_run(open_page, data_dir)
    before = run_ids(data_dir)
    widget(at, "bt_set__risk.stop_loss").set_value(1.5)
    submit(at)

    (error,) = [e.value for e in at.error]
    assert error.startswith("Not run: risk.stop_loss = 1.5")
    _nothing_of_the_run_before(at, run_id)
    assert run_ids(data_dir) == before  # nothing stored, nothing removed
    _back_on_the_next_click(at, run_id)


def test_a_strategy_error_while_running_clears_the_previous_success(
    open_page: Opener, data_dir: Path
) -> None:
    at, run_id = _first_run(open_page, data_dir)
    before = run_ids(data_dir)
    # fitted passes the form's checks but needs a stored model, asked for when the run starts.
    at.selectbox(key="bt_strategy").set_value("fitted").run()
    submit(at)

    (error,) = [e.value for e in at.error]
    assert error.startswith("Backtest failed: strategy fitted: needs a model")
    assert not at.get("progress")
    assert run_ids(data_dir) == before
    _nothing_of_the_run_before(at, run_id)
    _back_on_the_next_click(at, run_id)


@pytest.mark.parametrize(
    ("raised", "shown"),
    [
        (DataError("no bars for sp500-2010 in 2010"), "Backtest failed: no bars for sp500-2010"),
        (ZeroDivisionError("division by zero"), "Backtest failed: ZeroDivisionError: division"),
    ],
)
def test_a_data_error_or_a_bug_while_running_clears_the_previous_success(
    open_page: Opener,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception,
    shown: str,
) -> None:
    at, run_id = _first_run(open_page, data_dir)
    before = run_ids(data_dir)

    def fail(*args: object, **kwargs: object) -> None:
        raise raised

    # AppTest runs the page in this process: the form's module is the one imported here.
    with monkeypatch.context() as patch:  # its own undo: data_dir's variable stays set
        patch.setattr(backtest_form_view, "run_backtest", fail)
        at.button(key="run_backtest").click().run()

    (error,) = [e.value for e in at.error]
    assert error.startswith(shown)
    assert run_ids(data_dir) == before
    # A bug's traceback is kept, folded, under the message; a known error needs none.
    expected = 0 if isinstance(raised, DataError) else 1
    assert len(at.exception) == expected
    assert [e.label for e in at.expander if e.label == "Traceback"] == ["Traceback"] * expected
    _nothing_of_the_run_before(at, run_id)
    _back_on_the_next_click(at, run_id)


def test_a_refusal_is_shown_once_not_kept_under_later_pages(
    open_page: Opener, data_dir: Path
) -> None:
    at = open_page("explorer")
    widget(at, "bt_set__risk.stop_loss").set_value(1.5)
    submit(at)
    assert at.error

    at.run()  # any later interaction: a toggle, another run picked

    assert not at.error
    assert not at.info or NOTHING_STORED not in [i.value for i in at.info]
    assert at.selectbox(key="explorer_run").value in run_ids(data_dir)
