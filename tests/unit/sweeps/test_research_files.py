"""Every sweep file shipped in ``research/`` reads and expands into configurations that validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.sweep import configurations, load_sweep

ROOT = Path(__file__).resolve().parents[3]
# The folder also holds model specs (run_factor_computation.py --fit): a sweep file has `sweep:`.
FILES = sorted(p for p in (ROOT / "research").glob("*.yaml") if "\nsweep:" in p.read_text())


def test_the_research_folder_has_the_examples_the_readme_names() -> None:
    names = {p.name for p in FILES}
    assert {"mom_grid.yaml", "mom_optuna.yaml", "mom_wf.yaml", "core_grid.yaml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_a_shipped_sweep_file_reads_and_expands(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # a book's path is from the directory the command runs in
    spec = load_sweep(path.relative_to(ROOT))
    every = configurations(spec, path)
    if spec.search is not None and spec.search.method == "optuna":
        assert every == []  # proposed as the study goes
    else:
        assert len(every) >= 2
    if spec.book is not None:
        assert all(c.book is not None for c in every)
