"""The layer rules of shared/DESIGN.md, checked over the import graph (AST, no imports run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from quant_core.live.state import WorkerState

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "quant_core"
ENTRY_POINTS = {
    "run_backtest",
    "run_live_strategy",
    "run_data_sync",
    "run_factor_computation",
    "app",
}

# Floors, lowest first. A module may import its own floor's leaves and lower floors only.
FLOORS: list[set[str]] = [
    {
        "types",
        "errors",
        "atomic",
        "interrupt",
        "calendar",
        "registry",
        "broker",
        "cli",
        "runs",
        "compiled",
    },
    {"alerts", "analytics"},  # alert delivery; round trips and trade statistics (pure)
    {"data"},
    {"portfolio"},
    {"factors"},
    {"research"},
    {"strategies", "scanners"},  # a strategy's weights; a sleeve's universe (data through T-1)
    {"book"},  # sleeves, allocation, netting, attribution: both drivers drive it
    {"backtest", "live", "ib", "book_setup"},  # book_setup: a book made ready, for both
    {"sweeps"},  # many backtests on a Dask cluster, their catalogue
    {"cockpit"},
]
# External libraries only some parts may import: library -> components allowed.
EXCLUSIVE = {
    "streamlit": {"cockpit"},
    "ib_async": {"ib"},
    "ib_insync": {"ib"},
    "duckdb": {
        "data",
        "backtest.results",
        "live.journal",
        "live.journal_fills",
        "sweeps.catalogue",
    },
    "dask": {"sweeps"},
    "distributed": {"sweeps"},
    "optuna": {"sweeps"},
    "apprise": {"alerts"},
    "quantstats": {"backtest.tearsheet"},
}
# Pairs on one floor that never import each other. (That data imports neither ib nor live is
# the floors' doing: data sits lower.) The entry points wire the IB broker into the worker.
INDEPENDENT = [("backtest", "live"), ("backtest", "ib"), ("live", "ib")]
# No I/O, no clock. factors/compute.py is the one factors module that reads bars and stores
# values (DESIGN.md puts it there); the computation, factors.base and factors.library, is pure.
# portfolio/ takes weights and gives shares and fills (it may read config types, never files).
PURE_PREFIXES = (
    "quant_core.portfolio",
    "quant_core.analytics",
    "quant_core.strategies",
    "quant_core.scanners",
    "quant_core.book",
    "quant_core.factors.base",
    "quant_core.factors.library",
    "quant_core.data.panels",
    "quant_core.live.market_clock",  # the market's hours: a calendar and a moment in, words out
    # research/: every module but store.py (stored models, the composite in the warehouse).
    *(
        f"quant_core.research.{name}"
        for name in (
            "spec",
            "labels",
            "design",
            "splits",
            "estimators",
            "model",
            "model_factor",
            "validate",
            "ensemble",
            "pipeline",
            "targets",
        )
    ),
)
# The one data module that is not I/O: bar panels already in memory, checked pure above.
PURE_DATA = "quant_core.data.panels"
IO_MODULES = {
    "os",
    "io",
    "pathlib",
    "shutil",
    "socket",
    "sqlite3",
    "duckdb",
    "requests",
    "urllib",
    "subprocess",
    "pyarrow.parquet",
    "time",
    "quant_core.data",  # the warehouse: reading bars is I/O
}
CLOCK_CALLS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter"}


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _floor(component: str) -> int:
    for level, members in enumerate(FLOORS):
        if component in members:
            return level
    raise AssertionError(f"quant_core.{component} is in no floor: add it to FLOORS")


MODULES = _modules()


def test_every_component_has_a_floor() -> None:
    for module, _ in MODULES:
        if module != "quant_core":
            _floor(_component(module))


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_imports_respect_the_layers(module: str, path: Path) -> None:
    mine = _component(module)
    for name in _imports(module, path):
        top = name.split(".")[0]
        assert top not in ENTRY_POINTS, f"{module} imports the entry point {name}"
        if top == "quant_core" and mine and name.count(".") >= 1:
            other = _component(name)
            if other in {"", mine}:
                continue
            assert _floor(other) <= _floor(mine), f"{module} imports {name}, a higher floor"
            for a, b in INDEPENDENT:
                assert {mine, other} != {a, b}, (
                    f"{module} imports {name}: {a} and {b} are independent"
                )
        for library, allowed in EXCLUSIVE.items():
            if top == library:
                where = module.removeprefix("quant_core.")
                assert any(where == a or where.startswith(a + ".") for a in allowed), (
                    f"{module} imports {library}; only {sorted(allowed)} may"
                )


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_pure_modules_do_no_io_and_read_no_clock(module: str, path: Path) -> None:
    if not any(module == p or module.startswith(p + ".") for p in PURE_PREFIXES):
        return
    for name in _imports(module, path):
        if name == PURE_DATA or name.startswith(PURE_DATA + "."):
            continue
        assert name.split(".")[0] not in IO_MODULES, f"{module}: {name}"
        assert not any(name == m or name.startswith(m + ".") for m in IO_MODULES), (
            f"{module}: {name}"
        )
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id != "open", f"{module} calls open()"
            if isinstance(func, ast.Attribute):
                assert func.attr not in CLOCK_CALLS, f"{module} reads the clock ({func.attr})"


def test_config_never_imports_entry_points_or_upper_layers() -> None:
    for path in (ROOT / "config").glob("*.py"):
        for name in _imports("config." + path.stem, path):
            assert name.split(".")[0] not in ENTRY_POINTS
            assert not name.startswith(("quant_core.data", "quant_core.live", "quant_core.cockpit"))


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    # Guard against a checker that silently finds no imports.
    bad = tmp_path / "x.py"
    bad.write_text("from quant_core.data.warehouse import Warehouse\nimport streamlit\n")
    names = _imports("quant_core.calendar", bad)
    assert "quant_core.data.warehouse" in names
    assert "streamlit" in names
    assert _floor("data") > _floor("calendar")


def test_portfolio_never_imports_strategies() -> None:
    # Weights in, shares out: the portfolio layer knows no strategy (shared/DESIGN.md).
    for module, path in MODULES:
        if module.startswith("quant_core.portfolio"):
            for name in _imports(module, path):
                assert not name.startswith("quant_core.strategies"), f"{module} imports {name}"


# The rooms of issue 11: the jobs may not mix again.
MAX_LINES = 400
# Who may import the simulated broker: the replay (its price feed and clock) and the entry
# point's wiring (live/run.py builds the broker the worker is handed).
SIM_BROKER_IMPORTERS = {
    "quant_core.live.replay",
    "quant_core.live.run",
    "quant_core.live.sim_broker",
}
# What the cockpit may read of the worker: the typed state contract (state.py and its field
# codec, state_fields.py) and the two files' I/O.
COCKPIT_READS_OF_LIVE = {
    "quant_core.live.state",
    "quant_core.live.state_fields",
    "quant_core.live.files",
}


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_no_module_is_over_400_lines(module: str, path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by job"


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_only_the_replay_and_the_entry_point_import_the_simulated_broker(
    module: str, path: Path
) -> None:
    if module in SIM_BROKER_IMPORTERS:
        return
    for name in _imports(module, path):
        assert not name.startswith("quant_core.live.sim_broker"), (
            f"{module} imports {name}: only {sorted(SIM_BROKER_IMPORTERS)} may"
        )


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_only_the_replay_knows_the_simulated_brokers_price_feed(module: str, path: Path) -> None:
    # The simulated broker's mark is its price feed: live/replay.py hands it out (price_feed).
    if module in {"quant_core.live.replay", "quant_core.live.sim_broker"}:
        return
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute):
            assert node.attr != "mark", f"{module} uses .mark: ask live.replay.price_feed"


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_the_cockpit_reads_the_worker_through_the_state_contract(module: str, path: Path) -> None:
    if _component(module) != "cockpit":
        return
    for name in _imports(module, path):
        if name.startswith("quant_core.live"):
            assert any(name == m or name.startswith(m + ".") for m in COCKPIT_READS_OF_LIVE), (
                f"{module} imports {name}: the cockpit reads the worker only through "
                f"{sorted(COCKPIT_READS_OF_LIVE)}"
            )


def test_the_live_page_reads_the_state_through_its_typed_contract() -> None:
    importers = {
        module
        for module, path in MODULES
        if _component(module) == "cockpit"
        and any(n.startswith("quant_core.live.state") for n in _imports(module, path))
    }
    assert importers, "no cockpit module imports quant_core.live.state"


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_no_worker_state_is_spelled_outside_the_state_module(module: str, path: Path) -> None:
    if module == "quant_core.live.state" or _component(module) not in {"live", "cockpit"}:
        return
    names = {state.value for state in WorkerState}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert node.value not in names, (
                f"{module} spells the worker state {node.value!r}: use WorkerState"
            )


def test_no_two_cockpit_modules_share_a_name() -> None:
    seen: dict[str, str] = {}
    for module, path in MODULES:
        if _component(module) != "cockpit" or path.name == "__init__.py":
            continue
        assert path.name not in seen, f"{module} and {seen[path.name]} share the name {path.name}"
        seen[path.name] = module
