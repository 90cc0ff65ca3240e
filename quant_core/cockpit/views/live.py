"""The Live Dashboard page: the worker's state, refreshed every second, and the red buttons.

Thin: every figure, message and table comes from ``cockpit.models.dashboard`` (status),
``models.dashboard_commands``, ``tables.live_tables`` and ``charts.equity``. Two fragments
refresh themselves (``run_every``): the status (banner, headline figures, the commands sent
from here) and the details (equity, positions, orders, fills, risk, command log); under the
status ``views/live_data.py`` draws the worker's data refresh and the market's hours in a
fragment of its own; below them ``views/live_history.py`` draws the history since the worker's
start (every fill, realised P&L per position, the live equity over the backtest) in a slower
fragment of its own. The buttons sit above the details, outside any fragment,
and act through ``on_click`` callbacks (a book's per-sleeve HALT and RESUME under them, with its
sleeves' tables: ``views/live_sleeves.py``); FLAT and STOP open a confirmation dialog driven by a
session-state flag. When the worker's liveness or state changes, a fragment asks for one full
rerun so the buttons' captions follow; widget state and an open dialog survive it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

from quant_core.cockpit import context
from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts.equity import live_equity_figure
from quant_core.cockpit.models import dashboard as board
from quant_core.cockpit.models import dashboard_commands as cmds
from quant_core.cockpit.tables import live_tables as tables
from quant_core.cockpit.views import live_data, live_history, live_risk, live_sleeves
from quant_core.errors import OperationalError
from quant_core.live.files import CommandKind, send_command

SIGNATURE = "_live_signature"
SENT = "live_sent"
SEND_ERROR = "live_send_error"
REPEAT = "live_repeat"

st.title("Live Dashboard")

cfg = context.config("live")
live_dir = context.live_dir(cfg)
heartbeat_s = cfg.live.heartbeat_s
max_age_s = cfg.live.command_max_age_s


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _show(message: board.Message | None) -> None:
    if message is None:
        return
    show = {"error": st.error, "warning": st.warning, "info": st.info, "success": st.success}
    show[message.level](fmt.md(message.text))


def _follow(current: board.Status) -> None:
    # A fragment run redraws only itself: when what the buttons depend on changed, rerun all.
    if current.signature != st.session_state.get(SIGNATURE):
        st.session_state[SIGNATURE] = current.signature
        st.rerun()


# ----------------------------------------------------------------------------- commands


def _queue(kind: str, sleeve: str | None) -> dict[str, Any]:
    command = send_command(live_dir, kind, source="cockpit", sleeve=sleeve)
    sent = {"id": command.id, "command": str(command.command)}
    sent["issued_at"] = command.issued_at.isoformat()
    if sleeve is not None:
        sent["sleeve"] = sleeve
    return sent


def _send(kind: str, sleeve: str | None = None) -> None:
    # Queued as a file of its own: it never waits for, nor replaces, an earlier command. The
    # same command again within cmds.REPEAT_S is the same click: it is said, never queued twice.
    try:
        sent, previous = cmds.RECENT.once(
            live_dir, str(kind), sleeve, lambda: _queue(kind, sleeve), _now
        )
    except OperationalError as exc:
        st.session_state.pop(REPEAT, None)
        st.session_state[SEND_ERROR] = cmds.not_sent_text(kind, exc, _now())
        return
    st.session_state.pop(SEND_ERROR, None)
    tracked = st.session_state.get(SENT, [])
    if previous is not None:  # shown as sent here too: this session's run may not have seen it
        st.session_state[REPEAT] = cmds.repeat_text(previous, _now())
        if all(c.get("id") != previous["id"] for c in tracked):
            st.session_state[SENT] = cmds.track(tracked, previous)
        return
    st.session_state.pop(REPEAT, None)
    if sent is not None:
        st.session_state[SENT] = cmds.track(tracked, sent)


def _open(name: str) -> None:
    st.session_state[f"{name}_open"] = True


def _close(name: str) -> None:
    st.session_state[f"{name}_open"] = False


def _confirm(name: str) -> None:
    _close(name)
    _send(name.upper())


# ----------------------------------------------------------------------------- page

head, toggle = st.columns([5, 1], vertical_alignment="center")
auto = toggle.toggle(
    "Auto-refresh",
    value=True,
    key="auto_refresh",
    help=f"Re-read the worker's state file every {board.REFRESH_S:g} s",
)
every = board.REFRESH_S if auto else None
head.caption(
    fmt.md(f"Worker files: {live_dir} · ")
    + (f"refreshes every {board.REFRESH_S:g} s" if auto else "auto-refresh is OFF: figures frozen")
)

outer_state, outer_problem = board.read(live_dir)
outer = board.status(outer_state, _now(), heartbeat_s, outer_problem)
st.session_state[SIGNATURE] = outer.signature


@st.fragment(run_every=every)
def status_panel() -> None:
    """Draw the banner, the headline figures and the commands sent from this page."""
    now = _now()
    state, problem = board.read(live_dir)
    current = board.status(state, now, heartbeat_s, problem)
    _follow(current)
    _show(board.live_money_message(current))
    with st.container(border=True):
        first, *rest = board.banner_markdown(current, state)
        st.subheader(first, anchor=False)
        for line in rest:
            st.markdown(line)
    _show(board.liveness_message(current, heartbeat_s, live_dir))
    _show(board.schema_message(current))
    for column, metric in zip(st.columns(4), tables.account_metrics(state), strict=True):
        column.metric(
            metric.label,
            metric.value,
            metric.delta,
            help=fmt.md(metric.help),
            border=True,
            height="stretch",
        )
    waiting = cmds.waiting_ids(live_dir)
    sent = st.session_state.get(SENT, [])
    for view in cmds.command_views(sent, state, waiting, now, max_age_s=max_age_s):
        _show(board.Message(view.level, view.text))
    st.caption(f"As of {fmt.fmt_time(now)}")


status_panel()
live_data.render(live_dir, cfg, every)

st.subheader("Commands")
_show(cmds.controls_message(outer))
notes = cmds.button_notes(outer, max_age_s)
cancel, flat, stop, resume = st.columns(4)
with cancel:
    st.button(
        "CANCEL all orders",
        key="btn_cancel",
        on_click=_send,
        args=(CommandKind.CANCEL,),
        width="stretch",
    )
    st.caption(fmt.md(notes[CommandKind.CANCEL]))
with flat:
    st.button(
        "FLAT", key="btn_flat", type="primary", on_click=_open, args=("flat",), width="stretch"
    )
    st.caption(fmt.md(notes[CommandKind.FLAT]))
with stop:
    st.button(
        "STOP worker",
        key="btn_stop",
        type="primary",
        on_click=_open,
        args=("stop",),
        width="stretch",
    )
    st.caption(fmt.md(notes[CommandKind.STOP]))
if cmds.show_resume(outer):
    with resume:
        st.button(
            "RESUME", key="btn_resume", on_click=_send, args=(CommandKind.RESUME,), width="stretch"
        )
        st.caption(fmt.md(notes[CommandKind.RESUME]))
if st.session_state.get(SEND_ERROR):
    _show(board.Message("error", st.session_state[SEND_ERROR]))
if st.session_state.get(REPEAT):
    _show(board.Message("info", st.session_state[REPEAT]))
live_sleeves.render(live_dir, every, _send, notes[CommandKind.HALT])  # a book's sleeves only


def _formats(formats: dict[str, str]) -> dict[str, Any]:
    return {name: st.column_config.NumberColumn(format=fmt) for name, fmt in formats.items()}


@st.fragment(run_every=every)
def detail_panel() -> None:
    """Draw the equity chart, risk, positions, orders, fills, the book's risk, log, errors."""
    state, problem = board.read(live_dir)
    _follow(board.status(state, _now(), heartbeat_s, problem))
    chart, side = st.columns([3, 1])
    with chart:
        figure = live_equity_figure(state)
        if figure is None:
            st.info("No equity points yet.")
        else:
            st.plotly_chart(figure, key="equity_chart", width="stretch", theme=None)
    with side:
        st.markdown("**Risk**")
        _show(board.risk_message(state))
        for line in board.limit_lines(state):
            st.caption(fmt.md(line))
        for line in board.schedule_lines(state):
            st.caption(fmt.md(line))
        st.markdown("**Last rebalance**")
        lines, fallback = tables.last_rebalance_lines(state)
        for line in lines:
            st.caption(fmt.md(line))
        if fallback is not None:
            st.warning(fmt.md(fallback))

    positions = tables.positions_table(state)
    st.subheader("Positions")
    st.caption(fmt.md(tables.positions_summary(positions, tables.net_liquidation(state))))
    st.dataframe(
        positions,
        key="positions",
        hide_index=True,
        width="stretch",
        column_config=_formats(tables.POSITION_FORMATS),
    )
    for title, caption, table, key, formats in (
        (
            "Open orders",
            "{} open order(s)",
            tables.orders_table(state),
            "open_orders",
            tables.ORDER_FORMATS,
        ),
        (
            "Today's fills",
            "{} fill(s) today, newest first",
            tables.fills_table(state),
            "fills_today",
            tables.FILL_FORMATS,
        ),
    ):
        st.subheader(title)
        st.caption(caption.format(len(table)))
        st.dataframe(
            table, key=key, hide_index=True, width="stretch", column_config=_formats(formats)
        )
    live_risk.render(state, cfg.portfolio.vol_target)
    st.subheader("Command log")
    st.caption("The worker's acknowledgements, newest first (its last 50)")
    st.dataframe(tables.commands_table(state), key="command_log", hide_index=True, width="stretch")
    errors = tables.errors_table(state)
    if not errors.empty:
        st.subheader("Worker errors")
        st.dataframe(errors, key="worker_errors", hide_index=True, width="stretch")


detail_panel()
live_history.render(live_dir, cfg, every)


def _ask(kind: str, question: str, confirm_label: str) -> None:
    # The body of both confirmations: what, on which account, what it does; yes or abort.
    state, problem = board.read(live_dir)
    current = board.status(state, _now(), heartbeat_s, problem)
    st.markdown(
        f"**{question}** on {fmt.md(current.mode_label)} account "
        f"**{fmt.md(current.account or '-')}**?"
    )
    st.markdown(fmt.md(cmds.button_notes(current, max_age_s)[CommandKind(kind.upper())]))
    yes, no = st.columns(2)
    yes.button(
        confirm_label, key=f"{kind}_confirm", type="primary", on_click=_confirm, args=(kind,)
    )
    no.button("Abort", key=f"{kind}_abort", on_click=_close, args=(kind,))
    if not st.session_state.get(f"{kind}_open"):
        st.rerun()


@st.dialog("Confirm FLAT", on_dismiss=lambda: _close("flat"))
def confirm_flat() -> None:
    """Ask before closing every position."""
    _ask("flat", "Close ALL positions at market", "Yes, go FLAT")


@st.dialog("Confirm STOP", on_dismiss=lambda: _close("stop"))
def confirm_stop() -> None:
    """Ask before ending the worker."""
    _ask("stop", "Stop the worker", "Yes, STOP the worker")


if st.session_state.get("flat_open"):
    confirm_flat()
elif st.session_state.get("stop_open"):
    confirm_stop()
