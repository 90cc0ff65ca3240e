"""Compiled code is cached under a key of every module that compiles, so none is served stale.

numba keys a function's cache by its own file: ``run_loop`` calling an edited kernel of another
module kept the old kernel's machine code (a differential review measured it). The cache folder
is named by a digest of all of :data:`COMPILED_MODULES`; this checks the list is complete and
that a change to any one of them moves the folder.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import numba
import pytest

from quant_core import compiled as compiled_module
from quant_core.compiled import COMPILED_MODULES, PACKAGE, cache_dir


def _compiling_modules() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            decorators = getattr(node, "decorator_list", [])
            calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)] if decorators else []
            named = [d for d in decorators if isinstance(d, ast.Name) and d.id == "compiled"]
            wrapped = [c for c in calls if isinstance(c.func, ast.Name) and c.func.id == "compiled"]
            if named or (isinstance(node, ast.FunctionDef) and wrapped):
                found.add(path.relative_to(PACKAGE).as_posix())
    return found - {"compiled.py"}


def test_every_module_that_compiles_is_in_the_cache_key() -> None:
    assert _compiling_modules() == set(COMPILED_MODULES)


def test_the_cache_is_the_folder_of_this_code() -> None:
    assert str(cache_dir()) == numba.config.CACHE_DIR  # type: ignore[attr-defined]
    assert cache_dir().parent == PACKAGE / "__pycache__"


@pytest.mark.parametrize("module", COMPILED_MODULES)
def test_a_change_to_any_compiled_module_moves_the_cache(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "quant_core"
    for name in COMPILED_MODULES:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE / name, copy / name)
    monkeypatch.setattr(compiled_module, "PACKAGE", copy)
    before = compiled_module.cache_dir()
    assert before.name == cache_dir().name.replace(str(PACKAGE), str(copy))
    with (copy / module).open("a", encoding="utf-8") as edited:
        edited.write("\n# an edit\n")
    after = compiled_module.cache_dir()
    assert after != before
    assert after.parent == copy / "__pycache__"
