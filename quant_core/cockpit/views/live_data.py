"""The Live Dashboard's data refresh and market hours (called by ``views/live.py``).

A fragment of its own, refreshed with the status (``run_every``): on the left the worker's data
refresh (status badge and summary line, a progress bar while an attempt runs, a warning with
the error, the failures in a row and the next attempt when it failed, "the data comes from
run_data_sync.py" when it is off, then the data's span and the last outcome); on the right the
exchange's hours today (early close flagged), what the worker waits for outside a session, and
the next session. Every word comes from :mod:`quant_core.cockpit.models.live_refresh`; times are
the exchange's (its calendar's zone). Nothing is drawn without a readable state (the status says
why); an older state file without these sections says "not reported".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import streamlit as st

from config.schema import AppConfig
from quant_core.calendar import get_calendar
from quant_core.cockpit import format as fmt
from quant_core.cockpit.models import dashboard as board
from quant_core.cockpit.models import live_refresh as words

SHOW = {"error": st.error, "warning": st.warning, "info": st.info, "success": st.success}


def render(live_dir: Path, cfg: AppConfig, every: float | None) -> None:
    """Draw the section; it refreshes itself every ``every`` seconds (None: frozen).

    Times are shown in the zone of ``calendar.exchange``'s calendar (XNYS: America/New_York).
    """
    zone = ZoneInfo(get_calendar(cfg.calendar.exchange).tz)
    st.fragment(_panel, run_every=every)(live_dir, zone)


def _show(message: board.Message | None) -> None:
    if message is not None:
        SHOW[message.level](fmt.md(message.text))


def _panel(live_dir: Path, zone: ZoneInfo) -> None:
    state, _ = board.read(live_dir)  # a missing or unreadable state is said by the status
    if state is None:
        return
    today = dt.datetime.now(dt.UTC).astimezone(zone).date()
    refresh, market = state.refresh, state.market
    with st.container(border=True, key="live_data"):
        data, hours = st.columns(2)
        with data:
            st.markdown(words.refresh_headline(refresh, zone, today))
            bar = words.progress(refresh)
            if bar is not None:
                st.progress(bar.fraction, text=fmt.md(bar.text))
            _show(words.refresh_message(refresh, zone, today))
            for line in words.refresh_lines(refresh, zone, today):
                st.caption(fmt.md(line))
        with hours:
            st.markdown(words.market_headline(market, zone))
            _show(words.waiting_message(market))
            for line in words.market_lines(market, zone):
                st.caption(fmt.md(line))
        if refresh is not None or market is not None:
            st.caption(fmt.md(words.zone_caption(zone)))
