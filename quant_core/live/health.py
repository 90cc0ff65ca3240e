"""Is the worker alive and at work? One answer from its state file, for monitoring and systemd.

``run_live_strategy.py --health`` prints :func:`check_health`'s line and exits 0 (healthy) or
1 (not). It reads ``dashboard_state.json`` only: it never connects to a broker, never writes a
file, and never asks the operating system about the worker's process (a health check run in
another PID namespace, a container or a host sharing the folder, would see no such process).

Healthy
    The state file is readable, its heartbeat is at most ``max_age_s`` seconds old
    (``live.health_max_age_s``), the worker has not exited, and its state is RUNNING, HALTED
    (a risk limit or FLAT: the worker is up and answering; a person decides) or DISCONNECTED
    (IB Gateway's nightly restart is ridden out: the worker reconnects with back-off). STARTING
    and CONNECTING count too while their heartbeat is fresh: a worker on its way up.
Unhealthy
    No state file, or one that cannot be read; a stale heartbeat (a hung or killed worker: the
    age is said); STOPPED (by a STOP command and its latch, or at its exit); a worker that
    has exited (``worker.exited``); a heartbeat further in the future than ``max_age_s`` (the
    clocks disagree, so the age says nothing).

The line: ``"unhealthy: heartbeat 312 s old (max 60 s), state RUNNING, pid 1234"``; a reason
comes first when there is one (``"unhealthy: the worker exited (...); heartbeat ..."``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from quant_core.live.files import STATE_FILE, read_state
from quant_core.live.state import SCHEMA_VERSION, StateSchemaError, WorkerInfo, WorkerState

REASON_MAX_CHARS = 160  # a state's reason is cut to this in the one-line answer


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= REASON_MAX_CHARS else flat[: REASON_MAX_CHARS - 3] + "..."


def _seconds(value: float, limit: float) -> str:
    """Return ``value`` in whole seconds, or to 0.1 s where whole seconds would blur the limit.

    60.4 s against a 60 s limit reads "60.4" (past it), never "60" (as if within it); 59.6
    reads "60" (within it, as the verdict says).
    """
    whole = f"{value:.0f}"
    if (value > limit) != (float(whole) > limit):
        return f"{value:.1f}"
    return whole


def _read_worker(live_dir: Path) -> WorkerInfo | str:
    """Return the state file's worker section, or why it cannot be had."""
    path = live_dir / STATE_FILE
    try:
        data = read_state(live_dir)
    except OSError as exc:  # not ours to read (another user's 0600 file), a directory, EIO
        return f"{path} cannot be read ({type(exc).__name__}: {exc.strerror or exc})"
    if data is None:
        if not path.exists():
            return f"no state file {path} (the worker has not run with this data_dir)"
        return f"{path} is unreadable (not a JSON object)"
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        return f"{path} has schema_version {version!r}; this check reads {SCHEMA_VERSION}"
    try:
        return WorkerInfo.from_json(data.get("worker"), "worker")
    except StateSchemaError as exc:
        return f"{path}: {exc}"


def check_health(live_dir: Path, now: dt.datetime, max_age_s: float) -> tuple[bool, str]:
    """Judge the worker whose state is in ``live_dir`` at time ``now`` (see the module doc).

    Parameters
    ----------
    live_dir
        The worker's folder (``<data_dir>/live``).
    now
        The time to measure the heartbeat's age against (timezone-aware).
    max_age_s
        The oldest heartbeat still healthy, seconds.

    Returns
    -------
    tuple[bool, str]
        Healthy or not, and one line saying so: ``"ok: ..."`` or ``"unhealthy: ..."``, with the
        heartbeat's age in whole seconds, the state and the worker's pid.
    """
    info = _read_worker(live_dir)
    if isinstance(info, str):
        return False, f"unhealthy: {info}"
    age = (now - info.heartbeat_at).total_seconds()
    limit = f"{max_age_s:.0f}" if float(max_age_s).is_integer() else f"{max_age_s:g}"
    if age >= 0:
        heartbeat = f"heartbeat {_seconds(age, max_age_s)} s old (max {limit} s)"
    else:
        heartbeat = f"heartbeat {_seconds(-age, max_age_s)} s in the future (max {limit} s old)"
    problems = []
    if info.exited:
        problems.append(f"the worker has exited ({_short(info.reason)})")
    elif info.state is WorkerState.STOPPED:
        latch = ", latched" if info.latched else ""
        problems.append(f"{info.state.value}{latch}: {_short(info.reason)}")
    if age < -max_age_s:
        problems.append("the heartbeat is in the future: check this machine's clock")
    ok = not problems and age <= max_age_s
    state = info.state.value
    if ok and info.state is not WorkerState.RUNNING:
        state = f"{state} ({_short(info.reason)})"  # e.g. why it is HALTED or DISCONNECTED
    facts = f"{heartbeat}, state {state}, pid {info.pid}"
    return ok, f"{'ok' if ok else 'unhealthy'}: " + "; ".join([*problems, facts])
