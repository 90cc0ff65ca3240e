"""A catalogue a sweep killed at its start left without tables, or a damaged one: said, no crash.

Found by an adversarial review: a sweep SIGKILLed as soon as its catalogue file appeared left a
valid DuckDB file with no tables (4 of 4 tries); the Sweeps page showed DuckDB's "Table with name
sweeps does not exist!", and a 0-byte or garbage file crashed both of its views.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from quant_core.cockpit.models import sweep_data as sd
from tests.cockpit.sweep_helpers import open_sweeps
from tests.cockpit.test_sweeps_page import empty_dir

__all__ = ["empty_dir"]  # fixture


def test_a_catalogue_without_tables_holds_no_sweep(empty_dir: Path) -> None:
    path = sd.catalogue_path(empty_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(path)).close()  # what the killed sweep left: a database, no table

    at = open_sweeps()

    assert not at.exception, at.exception
    assert any("holds no sweep yet" in i.value for i in at.info)
    at.radio(key="sweeps_mode").set_value("Walk-forwards").run()
    assert not at.exception, at.exception


@pytest.mark.parametrize("content", [b"", b"garbage, not a database\n"])
def test_a_damaged_catalogue_is_named_on_both_views(empty_dir: Path, content: bytes) -> None:
    path = sd.catalogue_path(empty_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)

    at = open_sweeps()

    assert not at.exception, at.exception
    assert any("catalogue cannot be opened" in e.value for e in at.error)
    at.radio(key="sweeps_mode").set_value("Walk-forwards").run()
    assert not at.exception, at.exception
    assert any("catalogue cannot be opened" in e.value for e in at.error)
    assert path.read_bytes() == content  # left as it is
