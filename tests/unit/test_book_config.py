"""Book config: the models of config/book_schema.py and the loader of config/book_loader.py."""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from config import PROJECT_ROOT
from config.book_loader import load_book
from config.book_schema import (
    DEFAULT_REBALANCE,
    AllocationConfig,
    BookConfig,
    ScalingConfig,
    ScannerConfig,
    SleeveConfig,
    SleeveRiskConfig,
    SleeveStrategyConfig,
    book_of_one,
    scanner_rebalance,
    sleeve_rebalance,
    sleeve_strategy_config,
)
from config.schema import StrategyConfig
from quant_core.errors import ConfigError
from quant_core.strategies import build_strategy

CORE = PROJECT_ROOT / "config" / "books" / "core.yaml"
HAS_SCANNERS = importlib.util.find_spec("quant_core.scanners") is not None
needs_scanners = pytest.mark.skipif(not HAS_SCANNERS, reason="quant_core.scanners not merged yet")

MOM = {"name": "mom", "strategy": {"name": "momentum"}}
REV = {"name": "rev", "strategy": {"name": "mean_reversion"}}


def write(folder: Path, book: object, name: str = "b.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"book": book}))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_book(path)
    return str(info.value)


def assert_names(message: str, path: Path, field: str) -> None:
    # Every line of the message names the file; one of them the dotted field.
    assert all(line.startswith(f"{path}: ") for line in message.splitlines()), message
    assert f"{path}: {field}: " in message, message


# The sample ---------------------------------------------------------------------------------


def test_the_sample_book_loads_as_the_issue_describes_it() -> None:
    book = load_book(CORE)
    assert book.name == "core"  # the file stem
    mom, revert = book.sleeves
    assert (mom.name, revert.name) == ("mom", "revert")
    assert mom.strategy.name == "momentum"
    assert mom.strategy.params == {"lookback": 126}
    assert mom.strategy.rebalance == 21
    assert mom.scanner is not None
    # min_history: the bundled dataset holds one year, shorter than liquid's default of 252.
    assert (mom.scanner.name, mom.scanner.params) == (
        "liquid",
        {"top": 200, "min_price": 5, "min_history": 126},
    )
    assert mom.construction is not None
    assert mom.construction.method == "inverse_vol"
    assert revert.strategy.name == "mean_reversion"
    assert revert.strategy.rebalance is None
    assert revert.scanner is not None
    assert revert.scanner.params == {"top": 100, "min_history": 63}
    assert revert.construction is None  # the run's portfolio.construction
    assert book.allocation == AllocationConfig(
        method="risk_budget", lookback=126, rebalance="monthly"
    )
    assert book.scaling.method == "none"
    assert [sleeve_rebalance(s) for s in book.sleeves] == [21, 1]
    assert [scanner_rebalance(s) for s in book.sleeves] == [21, 1]


def test_the_readme_documents_every_key() -> None:
    readme = (CORE.parent / "README.md").read_text(encoding="utf-8")
    models: list[type[BaseModel]] = [BookConfig, SleeveConfig, SleeveStrategyConfig]
    models += [ScannerConfig, SleeveRiskConfig, AllocationConfig, ScalingConfig]
    for model in models:
        for key in model.model_fields:
            assert re.search(rf"\| `([a-z_]+\.)?{key}` \|", readme), (model.__name__, key)


# Defaults, resolution and book_of_one -------------------------------------------------------


def test_defaults_of_a_minimal_book(tmp_path: Path) -> None:
    book = load_book(write(tmp_path, {"sleeves": [MOM]}, "minimal.yaml"))
    assert book.name == "minimal"
    assert book.allocation == AllocationConfig()
    assert book.allocation.method == "equal"
    assert book.allocation.rebalance == "monthly"
    assert book.scaling == ScalingConfig(method="none", lookback=126, lower=0.5, upper=1.5)
    sleeve = book.sleeves[0]
    assert sleeve.scanner is None
    assert sleeve.weight is None
    assert sleeve.risk == SleeveRiskConfig(on_breach="halt")
    assert scanner_rebalance(sleeve) is None


def test_a_name_in_the_file_wins_over_the_stem(tmp_path: Path) -> None:
    assert load_book(write(tmp_path, {"name": "mine", "sleeves": [MOM]})).name == "mine"


def test_mean_reversion_without_rebalance_resolves_to_its_declared_rule() -> None:
    sleeve = SleeveConfig.model_validate(REV)
    declared = build_strategy("mean_reversion", {}).schedule()
    assert declared is not None
    assert sleeve_rebalance(sleeve) == declared[0] == 1
    assert sleeve_strategy_config(sleeve).rebalance == 1


def test_rebalance_without_a_declared_schedule_is_21_and_an_explicit_one_wins() -> None:
    assert build_strategy("momentum", {}).schedule() is None
    assert sleeve_rebalance(SleeveConfig.model_validate(MOM)) == DEFAULT_REBALANCE == 21
    weekly = {**MOM, "strategy": {"name": "momentum", "rebalance": "weekly"}}
    assert sleeve_rebalance(SleeveConfig.model_validate(weekly)) == "weekly"


def test_the_scanner_has_its_own_schedule_or_the_sleeves() -> None:
    own = {**REV, "scanner": {"name": "liquid", "rebalance": "weekly"}}
    assert scanner_rebalance(SleeveConfig.model_validate(own)) == "weekly"
    inherited = {**REV, "scanner": {"name": "liquid"}}
    assert scanner_rebalance(SleeveConfig.model_validate(inherited)) == 1


def test_sleeve_strategy_config_is_a_run_strategy_section() -> None:
    sleeve = SleeveConfig.model_validate(
        {"name": "m", "strategy": {"name": "momentum", "params": {"lookback": 60}}}
    )
    assert sleeve_strategy_config(sleeve) == StrategyConfig(
        name="momentum", params={"lookback": 60}, rebalance=21
    )


@pytest.mark.parametrize("rebalance", [5, "weekly", "monthly"])
def test_book_of_one_is_one_main_sleeve_at_weight_one(rebalance: int | str) -> None:
    strategy = StrategyConfig(name="momentum", params={"lookback": 60}, rebalance=rebalance)
    book = book_of_one(strategy)
    assert book.name == "momentum"
    (sleeve,) = book.sleeves
    assert sleeve.name == "main"
    assert sleeve.weight == 1.0
    assert sleeve.scanner is None
    assert sleeve.construction is None
    assert sleeve.risk == SleeveRiskConfig()
    assert book.allocation.method == "fixed"
    assert book.scaling.method == "none"
    assert sleeve_strategy_config(sleeve) == strategy  # the same strategy section back


# The fixed-weights rule ---------------------------------------------------------------------


def test_fixed_weights_up_to_one_are_accepted_and_others_ignore_them(tmp_path: Path) -> None:
    picks = zip([MOM, REV, MOM], "abc", [0.3] * 3, strict=True)
    thirds = [{**s, "name": n, "weight": w} for s, n, w in picks]
    book = load_book(write(tmp_path, {"sleeves": thirds, "allocation": {"method": "fixed"}}))
    assert [s.weight for s in book.sleeves] == [0.3, 0.3, 0.3]  # 0.1 stays cash
    exact = [{**MOM, "weight": 0.1 + 0.2}, {**REV, "weight": 0.7}]  # 1.0000000000000002
    load_book(write(tmp_path, {"sleeves": exact, "allocation": {"method": "fixed"}}))
    # Without fixed a weight is ignored, and none is needed.
    load_book(write(tmp_path, {"sleeves": [{**MOM, "weight": 0.9}, REV]}))


def test_fixed_needs_a_weight_on_every_sleeve(tmp_path: Path) -> None:
    path = write(
        tmp_path, {"sleeves": [MOM, {**REV, "weight": 0.5}], "allocation": {"method": "fixed"}}
    )
    message = error_of(path)
    assert_names(message, path, "book.allocation")
    assert "missing on: mom (sleeves.0.weight)" in message
    assert "rev" not in message.split("missing on:")[1]


def test_fixed_weights_summing_above_one_are_refused(tmp_path: Path) -> None:
    sleeves = [{**MOM, "weight": 0.7}, {**REV, "weight": 0.6}]
    path = write(tmp_path, {"sleeves": sleeves, "allocation": {"method": "fixed"}})
    message = error_of(path)
    assert_names(message, path, "book.allocation")
    assert "sum to 1.3 (mom 0.7 + rev 0.6)" in message


# Error paths: each names the file and the field ---------------------------------------------


def test_duplicate_sleeve_names_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, {"sleeves": [MOM, REV, {**REV, "name": "mom"}]})
    message = error_of(path)
    assert_names(message, path, "book.sleeves")
    assert "duplicate sleeve name 'mom' (sleeves 0 and 2)" in message


@pytest.mark.parametrize("name", ["Mom", "1mom", "mom-x", "m" * 33, ""])
def test_a_bad_sleeve_name_says_the_rule(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, {"sleeves": [MOM, {**REV, "name": name}]})
    message = error_of(path)
    assert_names(message, path, "book.sleeves.1.name")
    assert "lower-case letter" in message
    assert "^[a-z][a-z0-9_]{0,31}$" in message


@pytest.mark.parametrize(
    ("book", "field", "words"),
    [
        ({"sleeves": []}, "book.sleeves", "at least 1"),
        ({}, "book.sleeves", "Field required"),
        ({"sleeves": [{"name": "a"}]}, "book.sleeves.0.strategy", "Field required"),
        ({"sleeves": [{**MOM, "colour": 1}]}, "book.sleeves.0.colour", "valid keys here: name"),
        (
            {"sleeves": [{**MOM, "risk": {"stop": 0.1}}]},
            "book.sleeves.0.risk.stop",
            "valid keys here: stop_loss, take_profit",
        ),
        ({"sleeves": [{**MOM, "weight": 0}]}, "book.sleeves.0.weight", "greater than 0"),
        ({"sleeves": [{**MOM, "weight": 60}]}, "book.sleeves.0.weight", "not a percent"),
        (
            {"sleeves": [{"name": "a", "strategy": {"name": "momentum", "rebalance": True}}]},
            "book.sleeves.0.strategy.rebalance",
            "'weekly' or 'monthly'",
        ),
        (
            {"sleeves": [{**MOM, "scanner": {"name": "liquid", "rebalance": 0}}]},
            "book.sleeves.0.scanner.rebalance",
            "greater than 0",
        ),
        (
            {"sleeves": [{**MOM, "construction": {"method": "magic"}}]},
            "book.sleeves.0.construction.method",
            "'inverse_vol'",
        ),
        (
            {"sleeves": [{**MOM, "risk": {"stop_loss": 1.0}}]},
            "book.sleeves.0.risk.stop_loss",
            "less than 1",
        ),
        (
            {"sleeves": [{**MOM, "risk": {"take_profit": 25}}]},
            "book.sleeves.0.risk.take_profit",
            "not a percent",
        ),
        (
            {"sleeves": [{**MOM, "risk": {"max_drawdown_frac": 0}}]},
            "book.sleeves.0.risk.max_drawdown_frac",
            "greater than 0",
        ),
        (
            {"sleeves": [{**MOM, "risk": {"on_breach": "x"}}]},
            "book.sleeves.0.risk.on_breach",
            "'halt' or 'flat'",
        ),
        ({"sleeves": [MOM], "allocation": {"method": "kelly"}}, "book.allocation.method", "'hrp'"),
        ({"sleeves": [MOM], "allocation": {"lookback": 19}}, "book.allocation.lookback", "20"),
        ({"sleeves": [MOM], "allocation": {"budget": "x"}}, "book.allocation.budget", "'erc'"),
        (
            {"sleeves": [MOM], "allocation": {"min_sessions": 200}},
            "book.allocation",
            "min_sessions=200 exceeds lookback=126",
        ),
        (
            {"sleeves": [MOM], "allocation": {"rebalance": "daily"}},
            "book.allocation.rebalance",
            "'monthly'",
        ),
        ({"sleeves": [MOM], "scaling": {"method": "kelly"}}, "book.scaling.method", "'sharpe'"),
        ({"sleeves": [MOM], "scaling": {"lookback": 10}}, "book.scaling.lookback", "20"),
        (  # was accepted, and scaled nothing: no window ever held min_sessions returns
            {
                "sleeves": [MOM],
                "allocation": {"min_sessions": 30},
                "scaling": {"method": "sharpe", "lookback": 20},
            },
            "book.scaling",
            "lookback=20 is shorter than allocation.min_sessions=30",
        ),
        ({"sleeves": [MOM], "scaling": {"lower": 0}}, "book.scaling.lower", "greater than 0"),
        (
            {"sleeves": [MOM], "scaling": {"lower": 1.1}},
            "book.scaling.lower",
            "less than or equal to 1",
        ),
        (
            {"sleeves": [MOM], "scaling": {"upper": 0.9}},
            "book.scaling.upper",
            "greater than or equal to 1",
        ),
        (
            {"sleeves": [MOM], "scaling": {"upper": 3.5}},
            "book.scaling.upper",
            "less than or equal to 3",
        ),
        ({"sleeves": [MOM], "name": ""}, "book.name", "at least 1"),
    ],
)
def test_each_bad_value_names_the_file_and_the_field(
    tmp_path: Path, book: dict[str, object], field: str, words: str
) -> None:
    path = write(tmp_path, book)
    message = error_of(path)
    assert_names(message, path, field)
    assert words in message


def test_several_errors_are_one_line_each(tmp_path: Path) -> None:
    path = write(tmp_path, {"sleeves": [{**MOM, "weight": 2}, {**REV, "risk": {"stop_loss": 2}}]})
    lines = error_of(path).splitlines()
    assert len(lines) == 2
    assert_names(lines[0], path, "book.sleeves.0.weight")
    assert_names(lines[1], path, "book.sleeves.1.risk.stop_loss")


def test_the_value_of_an_unknown_or_secret_key_is_not_shown(tmp_path: Path) -> None:
    path = write(tmp_path, {"sleeves": [{**MOM, "api_token": "hunter2hunter2"}]})
    message = error_of(path)
    assert_names(message, path, "book.sleeves.0.api_token")
    assert "hunter2" not in message


def test_an_unknown_strategy_names_the_field_and_the_valid_ones(tmp_path: Path) -> None:
    path = write(tmp_path, {"sleeves": [MOM, {"name": "x", "strategy": {"name": "nope"}}]})
    message = error_of(path)
    assert_names(message, path, "book.sleeves.1.strategy.name")
    assert "unknown strategy 'nope'" in message
    assert "momentum" in message


def test_bad_strategy_params_name_the_field(tmp_path: Path) -> None:
    sleeve = {"name": "x", "strategy": {"name": "momentum", "params": {"lookback": -1}}}
    path = write(tmp_path, {"sleeves": [sleeve]})
    message = error_of(path)
    assert_names(message, path, "book.sleeves.0.strategy.params")
    assert "lookback" in message
    unknown = {"name": "x", "strategy": {"name": "momentum", "params": {"lookbak": 5}}}
    assert_names(
        error_of(write(tmp_path, {"sleeves": [unknown]})), path, "book.sleeves.0.strategy.params"
    )


def test_a_rebalance_against_the_declared_schedule_is_refused(tmp_path: Path) -> None:
    sleeve = {"name": "x", "strategy": {"name": "mean_reversion", "rebalance": "weekly"}}
    path = write(tmp_path, {"sleeves": [MOM, sleeve]})
    message = error_of(path)
    assert_names(message, path, "book.sleeves.1.strategy.rebalance")
    assert "must rebalance every 1" in message
    agreeing = {"name": "x", "strategy": {"name": "mean_reversion", "rebalance": 1}}
    assert sleeve_rebalance(load_book(write(tmp_path, {"sleeves": [agreeing]})).sleeves[0]) == 1


@needs_scanners
def test_an_unknown_scanner_names_the_field_and_the_valid_ones(tmp_path: Path) -> None:
    path = write(tmp_path, {"sleeves": [MOM, {**REV, "scanner": {"name": "nope"}}]})
    message = error_of(path)
    assert_names(message, path, "book.sleeves.1.scanner.name")
    assert "unknown scanner 'nope'" in message
    assert "liquid" in message


@needs_scanners
def test_bad_scanner_params_name_the_field(tmp_path: Path) -> None:
    scanner = {"name": "liquid", "params": {"top": 0}}
    path = write(tmp_path, {"sleeves": [MOM, {**REV, "scanner": scanner}]})
    message = error_of(path)
    assert_names(message, path, "book.sleeves.1.scanner.params")
    assert "top" in message


def fake_scanners(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, object]]]:
    # A stand-in for quant_core.scanners: the loader's own checks, whatever H1's scanners do.
    built: list[tuple[str, dict[str, object]]] = []

    def build_scanner(name: str, params: dict[str, object]) -> object:
        built.append((name, params))
        if params.get("top") == 0:
            raise ConfigError(f"scanner {name}: invalid parameter(s): top = 0")
        return object()

    module = types.ModuleType("quant_core.scanners")
    module.__dict__.update(build_scanner=build_scanner, scanner_names=lambda: ["liquid", "static"])
    monkeypatch.setitem(sys.modules, "quant_core.scanners", module)
    return built


def test_the_loader_checks_scanner_names_and_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = fake_scanners(monkeypatch)
    book = load_book(CORE)
    assert built == [
        ("liquid", {"top": 200, "min_price": 5, "min_history": 126}),
        ("liquid", {"top": 100, "min_history": 63}),
    ]
    assert book.sleeves[1].scanner is not None
    path = write(tmp_path, {"sleeves": [MOM, {**REV, "scanner": {"name": "nope"}}]})
    message = error_of(path)
    assert_names(message, path, "book.sleeves.1.scanner.name")
    assert "unknown scanner 'nope'; valid: liquid, static" in message
    bad = {"name": "liquid", "params": {"top": 0}}
    path = write(tmp_path, {"sleeves": [{**MOM, "scanner": bad}]})
    assert_names(error_of(path), path, "book.sleeves.0.scanner.params")


def test_without_the_scanners_package_the_scanner_check_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "quant_core.scanners", None)  # import fails as missing
    path = write(tmp_path, {"sleeves": [{**MOM, "scanner": {"name": "nope"}}]})
    assert load_book(path).sleeves[0].scanner is not None


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    assert "no such book file" in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("book: [1, 2", "not valid YAML: line 1"),
        ("sleeves: []\n", "top-level `book:` key"),
        ("", "top-level `book:` key"),
        ("- book\n", "top-level `book:` key"),
        ("book: [1]\n", "book: expected a mapping"),
        ("book: {sleeves: []}\nstrategy: {name: momentum}\n", "unknown top-level key(s) strategy"),
    ],
)
def test_a_malformed_file_is_named(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    assert words in message


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"book: {name: caf\xe9}\n")
    assert "not UTF-8" in error_of(path)


def test_models_are_frozen_and_refuse_unknown_keys() -> None:
    book = book_of_one(StrategyConfig())
    with pytest.raises(ValidationError):
        book.sleeves[0].weight = 0.5  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        AllocationConfig.model_validate({"methd": "equal"})
