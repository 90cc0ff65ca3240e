"""The cockpit's shell: every page renders on a real warehouse."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest


@pytest.mark.parametrize(
    ("view", "title"),
    [
        ("explorer", "Strategy Explorer"),
        ("factors", "Factors"),
        ("data", "Data"),
        ("live", "Live Dashboard"),
    ],
)
def test_every_page_renders(open_page: Callable[[str], AppTest], view: str, title: str) -> None:
    at = open_page(view)
    assert [t.value for t in at.title] == [title]
    assert not at.exception
