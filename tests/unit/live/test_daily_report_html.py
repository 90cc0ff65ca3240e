"""The daily report's page: self-contained (inline CSS, no script, nothing fetched), every figure
shown, every text escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from quant_core.live.report_html import render


def _document(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "session": "2024-03-05",
        "mode": "ib-paper",
        "equity": 1_234_567.89,
        "cash": 234_567.0,
        "previous_equity": 1_230_000.0,
        "pnl": 4_567.89,
        "pnl_pct": 4_567.89 / 1_230_000.0,
        "realized_pnl": -12.5,
        "unrealized_pnl": 4_580.39,
        "fills_count": 1,
        "commission": 1.25,
        "shortfall": {"decision": 30.0, "decision_bps": 12.0, "arrival": None, "arrival_bps": None},
        "positions": [
            {
                "symbol": "AAPL",
                "start_quantity": 0.0,
                "start_price": None,
                "start_value": 0.0,
                "end_quantity": 100.0,
                "bought": 100.0,
                "sold": 0.0,
                "avg_cost": 150.0125,
                "market_price": 151.0,
                "market_value": 15_100.0,
                "unrealized_pnl": 98.75,
                "realized_pnl": 0.0,
                "session_realized": 0.0,
                "pnl": 98.75,
                "explained": True,
            },
        ],
        "fills": [
            {
                "ts": "2024-03-05T14:31:02+00:00",
                "symbol": "AAPL",
                "side": "BUY",
                "quantity": 100.0,
                "price": 150.0,
                "commission": 1.25,
                "ref": "qc:2024-03-05:AAPL",
                "reason": "",
                "decision_price": 149.7,
                "arrival_price": None,
                "slippage_decision": 30.0,
                "slippage_arrival": None,
                "bps_decision": 20.04,
                "bps_arrival": None,
            },
        ],
        "exposure": {
            "long": 0.5,
            "short": -0.1,
            "gross": 0.6,
            "net": 0.4,
            "long_usd": 600_000.0,
            "short_usd": -120_000.0,
            "gross_usd": 720_000.0,
            "net_usd": 480_000.0,
            "sectors": [
                {"sector": "Technology", "long": 0.5, "short": -0.1, "gross": 0.6, "net": 0.4}
            ],
        },
        "limits": [
            {
                "name": "max_drawdown",
                "label": "drawdown",
                "limit": 0.25,
                "usage": 0.3,
                "used": 1.2,
                "tripped": True,
            },
        ],
        "commands": [
            {
                "at": "2024-03-05T15:00:00+00:00",
                "id": "c-1",
                "command": "FLAT",
                "source": "cockpit",
                "accepted": True,
                "result": "flat: 1 position(s) closed",
            },
        ],
        "errors": [{"at": "2024-03-05T15:01:00+00:00", "message": "IB said <b>no</b> & left"}],
        "notes": [],
    }
    return {**base, **changes}


class _Fetches(HTMLParser):
    """Every attribute that makes a browser fetch something, and every element met."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in {"src", "href", "srcset", "action", "poster", "data"} and value:
                self.fetches.append(value)


def test_the_page_is_self_contained() -> None:
    page = render(_document())
    parser = _Fetches()
    parser.feed(page)
    assert parser.fetches == []
    assert not re.search(r"https?:|//[a-z]|url\(|@import", page, re.IGNORECASE)
    assert "script" not in parser.tags
    assert "link" not in parser.tags
    assert "style" in parser.tags  # the CSS is inline
    assert page.startswith("<!DOCTYPE html>")


def test_the_page_shows_the_figures() -> None:
    page = render(_document())
    assert "$1,234,567.89" in page  # the equity
    assert "+$4,567.89" in page
    assert "(0.37%)" in page
    assert "Daily report 2024-03-05" in page
    assert "+$30.00" in page
    assert "+20.0 bps" in page
    assert "FLAT" in page
    assert "flat: 1 position(s) closed" in page
    assert "OVER" in page
    assert "30.00%" in page
    assert "Technology" in page
    assert "60.00%" in page
    assert "150.0125" in page  # the average cost


def test_text_is_escaped() -> None:
    page = render(_document())
    assert "IB said &lt;b&gt;no&lt;/b&gt; &amp; left" in page
    assert "<b>no</b>" not in page


def test_an_empty_session_says_so() -> None:
    page = render(
        _document(positions=[], fills=[], commands=[], errors=[], limits=[], equity=None, pnl=None,
                  pnl_pct=None)
    )  # fmt: skip
    for text in ("No fill this session.", "No command received.", "No error.", "No limit set."):
        assert text in page
    assert "No position held or traded." in page
