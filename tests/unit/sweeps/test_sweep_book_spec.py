"""A sweep of a book: ``<sleeve>.<param>`` names, each configuration a book, the errors, the id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.book_loader import load_book
from config.sweep import configurations, load_sweep, subject, sweep_digest
from quant_core.errors import ConfigError
from quant_core.sweeps.checks import check_extra

ROOT = Path(__file__).resolve().parents[3]
CORE = ROOT / "config" / "books" / "core.yaml"


def _file(tmp_path: Path, body: str, book: Path = CORE) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(body.replace("BOOK", str(book)))
    return path


GRID = """
sweep:
  book: BOOK
  grid: {mom.lookback: [63, 126], revert.hold_sessions: [3, 5, 8]}
  set: {costs.per_share_usd: 0.01}
  period: {start: 2009-10-01, end: 2010-08-20}
"""


def test_each_configuration_is_the_book_with_its_sleeves_params(tmp_path: Path) -> None:
    spec = load_sweep(_file(tmp_path, GRID))
    book = load_book(CORE)
    assert spec.strategy is None
    assert spec.book is not None
    assert spec.book.config == book
    assert subject(spec) == "book:core"
    every = configurations(spec)
    assert len(every) == 6
    assert {c.key for c in every} == {
        json.dumps({"mom.lookback": lb, "revert.hold_sessions": h})
        for lb in (63, 126)
        for h in (3, 5, 8)
    }
    one = next(c for c in every if c.params == {"mom.lookback": 63, "revert.hold_sessions": 8})
    assert one.book is not None
    mom, revert = one.book.sleeves
    assert mom.strategy.params == {"lookback": 63}
    assert revert.strategy.params == {"hold_sessions": 8}
    # Everything else is the book file's, and the book read is not changed.
    assert mom.scanner == book.sleeves[0].scanner
    assert mom.strategy.rebalance == 21
    assert one.book.allocation == book.allocation
    assert one.book.name == "core"
    assert book.sleeves[0].strategy.params == {"lookback": 126}
    # The run config is the sweep's: no strategy of its own, the set and the period.
    assert one.overrides == (
        "costs.per_share_usd=0.01",
        "backtest.start=2009-10-01",
        "backtest.end=2010-08-20",
    )


@pytest.mark.parametrize(
    ("grid", "said"),
    [
        (
            "{lookback: [20]}",
            "a book's parameter is named <sleeve>.<param> or <section>.<key> ('lookback' names "
            "neither); its sleeves: mom, revert; its sections: allocation, scaling",
        ),
        (
            "{momo.lookback: [20]}",
            "book core has no sleeve 'momo'; its sleeves: mom, revert; its sections: "
            "allocation, scaling",
        ),
        (
            "{mom.: [20]}",
            "name one of sleeve mom's parameters after the dot: lookback, top_quantile",
        ),
        (
            "{allocation.window: [20]}",
            "the book's allocation has no setting 'window'; its settings: method, lookback, "
            "rebalance, budget, min_sessions",
        ),
        (
            "{mom.hold_sessions: [3]}",
            "sleeve mom's strategy momentum has no parameter "
            "'hold_sessions'; its parameters: lookback, top_quantile",
        ),
    ],
)
def test_an_unknown_sleeve_or_parameter_is_named_with_the_valid_ones(
    tmp_path: Path, grid: str, said: str
) -> None:
    body = f"sweep:\n  book: BOOK\n  grid: {grid}\n"
    with pytest.raises(ConfigError) as err:
        load_sweep(_file(tmp_path, body))
    assert str(err.value) == f"{tmp_path / 's.yaml'}: sweep.grid.{grid[1:].split(':')[0]}: {said}"


def test_a_search_space_names_are_checked_the_same_way(tmp_path: Path) -> None:
    body = "sweep:\n  book: BOOK\n  search: {trials: 3, space: {revert.nope: {int: [1, 5]}}}\n"
    with pytest.raises(
        ConfigError,
        match=r"sweep.search.space.revert.nope: sleeve revert's "
        r"strategy mean_reversion has no parameter 'nope'; its parameters: "
        r"lookback, bottom_quantile, hold_sessions",
    ):
        load_sweep(_file(tmp_path, body))


def test_a_value_the_sleeve_refuses_names_the_configuration_and_sleeve(tmp_path: Path) -> None:
    body = "sweep:\n  book: BOOK\n  grid: {mom.lookback: [63, 0]}\n"
    path = _file(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        configurations(load_sweep(path), path)
    assert str(err.value).startswith(f'{path}: configuration {{"mom.lookback": 0}}: sleeve mom: ')
    assert "lookback" in str(err.value)


def test_two_values_of_one_parameter_that_validate_alike_are_refused(tmp_path: Path) -> None:
    body = "sweep:\n  book: BOOK\n  grid: {mom.lookback: [63, 63.0]}\n"
    path = _file(tmp_path, body)
    with pytest.raises(
        ConfigError,
        match=r"sweep.grid.mom.lookback: 63 and 63.0 are the same "
        r"mom.lookback of book core \(the same backtest twice",
    ):
        configurations(load_sweep(path), path)


def test_a_text_value_of_a_number_is_refused_naming_the_sleeve_param(tmp_path: Path) -> None:
    body = "sweep:\n  book: BOOK\n  grid: {mom.lookback: ['63']}\n"
    with pytest.raises(ConfigError, match=r"is text, and mom.lookback of book core is a number"):
        load_sweep(_file(tmp_path, body))


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            "sweep:\n  strategy: momentum\n  book: BOOK\n  grid: {lookback: [20]}\n",
            "give one of strategy (a strategy's name) or book (a book file's path)",
        ),
        (
            "sweep:\n  grid: {lookback: [20]}\n",
            "give one of strategy (a strategy's name) or book (a book file's path)",
        ),
        (
            "sweep:\n  book: 5\n  grid: {mom.lookback: [20]}\n",
            "sweep.book: give the book file's path (config/books/<name>.yaml, from the "
            "directory the command runs in), not a int",
        ),
        (
            "sweep:\n  book: {sleeves: []}\n  grid: {mom.lookback: [20]}\n",
            "sweep.book: give the book file's path (config/books/<name>.yaml, from the "
            "directory the command runs in), not a dict",
        ),
        (
            "sweep:\n  book: ''\n  grid: {mom.lookback: [20]}\n",
            "directory the command runs in), not an empty path",
        ),
        (
            "sweep:\n  book: nowhere/none.yaml\n  grid: {mom.lookback: [20]}\n",
            "sweep.book: nowhere/none.yaml: no such book file",
        ),
    ],
)
def test_a_sweep_names_one_strategy_or_one_readable_book(
    tmp_path: Path, body: str, said: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_sweep(_file(tmp_path, body))
    assert said in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "s.yaml"))


def test_a_broken_book_file_is_named_under_sweep_book(tmp_path: Path) -> None:
    book = tmp_path / "bad.yaml"
    book.write_text("book:\n  sleeves:\n    - name: a\n      strategy: {name: nope}\n")
    with pytest.raises(ConfigError) as err:
        load_sweep(_file(tmp_path, "sweep:\n  book: BOOK\n  grid: {a.x: [1]}\n", book))
    assert str(err.value).startswith(f"{tmp_path / 's.yaml'}: sweep.book: {book}: ")
    assert "book.sleeves.0.strategy.name" in str(err.value)


@pytest.mark.parametrize(
    "key", ["strategy.rebalance", "strategy.params.lookback", "Strategy .Name", "strategy"]
)
def test_a_set_of_the_strategy_section_is_refused_for_a_book(tmp_path: Path, key: str) -> None:
    value = "{params: {lookback: 5}}" if key == "strategy" else "5"
    body = f"sweep:\n  book: BOOK\n  grid: {{mom.lookback: [63]}}\n  set: {{{key}: {value}}}\n"
    with pytest.raises(
        ConfigError,
        match=r"which the sweep decides itself \(sweep.book: each "
        r"sleeve's strategy and params are the book file's\)",
    ):
        load_sweep(_file(tmp_path, body))


def test_a_command_line_set_of_the_strategy_section_is_refused_for_a_book(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, GRID)
    spec = load_sweep(path)
    with pytest.raises(
        ConfigError,
        match=r"--set strategy.params.lookback: it sets "
        r"strategy.params.lookback, which the sweep file decides \(sweep.book",
    ):
        check_extra(spec, ("strategy.params.lookback=5",), path)
    check_extra(spec, ("costs.per_share_usd=0.02",), path)  # the run config's: fine


def test_the_id_follows_the_book_not_where_its_file_is(tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "core.yaml"
    moved.parent.mkdir()
    moved.write_text(CORE.read_text())
    here = sweep_digest(load_sweep(_file(tmp_path, GRID)))
    assert sweep_digest(load_sweep(_file(tmp_path, GRID, moved))) == here
    moved.write_text(CORE.read_text().replace("top: 200", "top: 150"))
    assert sweep_digest(load_sweep(_file(tmp_path, GRID, moved))) != here


def test_the_stored_spec_validates_again_with_its_book(tmp_path: Path) -> None:
    # The catalogue keeps the spec as JSON; the cockpit's rerun validates it back.
    from config.sweep import SweepConfig

    spec = load_sweep(_file(tmp_path, GRID))
    again = SweepConfig.model_validate(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again == spec
    assert [c.book for c in configurations(again)] == [c.book for c in configurations(spec)]


def test_the_run_configs_strategy_section_is_no_part_of_a_book_sweeps_identity(
    tmp_path: Path,
) -> None:
    # A book reads no strategy section: another one in base.yaml (or QC__) is the same sweep;
    # other costs are another sweep.
    from config import load_config
    from quant_core.sweeps.checks import sweep_context

    spec = load_sweep(_file(tmp_path, GRID))
    where = f"paths.data_dir={tmp_path / 'data'}"

    def context(*overrides: str) -> str:
        return sweep_context(load_config("backtest", [where, *overrides], environ={}), spec)

    plain = context()
    assert context("strategy.name=sma_cross", "strategy.rebalance=5") == plain
    assert context("costs.per_share_usd=0.02") != plain


def test_the_books_allocation_and_scaling_are_swept_as_the_book_file_gives_them(
    tmp_path: Path,
) -> None:
    body = (
        "sweep:\n  book: BOOK\n  grid: {allocation.method: [equal, hrp], "
        "allocation.lookback: [60, 126], scaling.method: [none, sharpe]}\n"
    )
    every = configurations(load_sweep(_file(tmp_path, body)))
    assert len(every) == 8
    one = next(
        c
        for c in every
        if c.params
        == {"allocation.method": "hrp", "allocation.lookback": 60, "scaling.method": "sharpe"}
    )
    assert one.book is not None
    assert one.book.allocation.method == "hrp"
    assert one.book.allocation.lookback == 60
    assert one.book.allocation.rebalance == "monthly"  # the book file's own
    assert one.book.scaling.method == "sharpe"
    assert one.book.sleeves == load_book(CORE).sleeves


@pytest.mark.parametrize(
    ("grid", "said"),
    [
        (
            "{allocation.method: [fixed]}",
            "book.allocation: method fixed needs a weight on every sleeve; missing on: mom",
        ),
        ("{allocation.lookback: [10]}", "book.allocation.lookback: "),
        ("{allocation.method: [equal, nope]}", "book.allocation.method: "),
    ],
)
def test_a_book_setting_the_book_refuses_names_the_configuration(
    tmp_path: Path, grid: str, said: str
) -> None:
    path = _file(tmp_path, f"sweep:\n  book: BOOK\n  grid: {grid}\n")
    with pytest.raises(ConfigError) as err:
        configurations(load_sweep(path), path)
    assert str(err.value).startswith(f"{path}: configuration {{")
    assert said in str(err.value)


def test_a_sleeve_named_as_a_section_cannot_be_swept_by_that_name(tmp_path: Path) -> None:
    book = tmp_path / "odd.yaml"
    book.write_text("book:\n  sleeves:\n    - name: allocation\n      strategy: {name: momentum}\n")
    body = "sweep:\n  book: BOOK\n  grid: {allocation.lookback: [20, 60]}\n"
    with pytest.raises(
        ConfigError,
        match=r"'allocation.lookback' could be sleeve allocation's "
        r"parameter or the book's allocation setting: rename the sleeve",
    ):
        load_sweep(_file(tmp_path, body, book))


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ("{costs.slippage_bps: -1}", "costs.slippage_bps"),  # no period: was a zip() crash
        ("{costs.slippage_bps: -1, costs.per_share_usd: 0.001}", "costs.slippage_bps"),
        ("{costs.slippage_bps: 1, costs.per_share_usd: -0.001}", "costs.per_share_usd"),
    ],
)
def test_a_bad_set_value_of_a_book_sweep_names_its_key_in_the_sweep_file(
    tmp_path: Path, values: str, named: str
) -> None:
    from config import load_config
    from quant_core.sweeps.checks import load_base

    period = "" if values.count(":") == 1 else "  period: {start: 2010-01-04}\n"
    path = _file(
        tmp_path, f"sweep:\n  book: BOOK\n  grid: {{mom.lookback: [63]}}\n  set: {values}\n{period}"
    )
    where = f"paths.data_dir={tmp_path / 'data'}"
    with pytest.raises(ConfigError) as err:
        load_base(
            load_sweep(path),
            lambda overrides: load_config("backtest", [*overrides, where], environ={}),
            (),
            path,
        )
    assert str(err.value).startswith(f"{path}: sweep.set.{named}: ")
    assert f"(from {path})" in str(err.value)


def test_a_sleeve_that_cannot_trade_is_named_with_its_warm_up() -> None:
    import numpy as np

    from quant_core.errors import DataError
    from quant_core.sweeps.checks import check_sleeves

    dates = np.arange("2010-01-04", "2010-06-01", dtype="datetime64[D]")[:100]
    assert check_sleeves(dates, {"mom": 20, "revert": 63}, (None, None), "f.yaml", "x") == 20
    with pytest.raises(DataError) as err:
        check_sleeves(dates, {"mom": 126, "revert": 63}, (None, None), "f.yaml", "x")
    assert str(err.value).startswith(
        "f.yaml: x: sleeve mom (its warm-up, 126 sessions: its strategy's or scanner's): "
    )
