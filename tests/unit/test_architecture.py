"""The layer rules of shared/DESIGN.md, checked over the import graph (AST, no imports run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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
    {"types", "errors", "atomic", "calendar", "registry", "clock", "broker", "cli"},
    {"data"},
    {"factors"},
    {"strategies"},
    {"portfolio"},
    {"backtest", "live", "ib"},
    {"cockpit"},
]
# External libraries only some parts may import: library -> components allowed.
EXCLUSIVE = {
    "streamlit": {"cockpit"},
    "ib_async": {"ib"},
    "ib_insync": {"ib"},
    "duckdb": {"data", "backtest.results", "live.journal"},
}
# Pairs on one floor that never import each other. (That data imports neither ib nor live is
# the floors' doing: data sits lower.) The entry points wire the IB broker into the worker.
INDEPENDENT = [("backtest", "live"), ("backtest", "ib"), ("live", "ib")]
# No I/O, no clock. factors/compute.py is the one factors module that reads bars and stores
# values (DESIGN.md puts it there); the computation, factors.base and factors.library, is pure.
PURE_PREFIXES = ("quant_core.strategies", "quant_core.factors.base", "quant_core.factors.library")
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
def test_strategies_and_factors_do_no_io_and_read_no_clock(module: str, path: Path) -> None:
    if not module.startswith(PURE_PREFIXES):
        return
    for name in _imports(module, path):
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
