"""Where the simulated account starts: a replay starts a fresh one unless asked to continue.

The simulated account outlives the worker (``sim_account.json``, see ``live/sim_broker.py``):
the live loop and ``--once`` keep trading it, as they would a broker's. A replay is another
matter: started again on the same data dir it must not inherit the earlier run's cash and
positions (its Total PnL would be measured from the wrong base). So a replay starts a fresh
account, and the earlier one, with the risk state measured on it (peak, day's start), is set
aside in ``live/archive/<time>/``; ``--continue`` keeps trading it instead, from a session after
the last one it traded (an account cannot go back in time).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from quant_core.errors import ConfigError
from quant_core.live.files import set_aside

logger = logging.getLogger(__name__)


def start_account(
    folder: Path, files: tuple[str, ...], replay: bool, keep: bool, now: dt.datetime
) -> str:
    """Prepare the simulated account's files; return how the account starts, for log and state.

    ``files`` are the account file first, then the files measured on it (the risk state);
    ``replay`` and ``keep`` (``--continue``) as the command line asked.
    """
    store = folder / files[0]
    if not store.is_file():
        note = "fresh simulated account"
        if keep:
            note += f" (--continue found no {files[0]} to continue)"
    elif not replay or keep:
        note = f"simulated account continued from {store}" + (" (--continue)" if keep else "")
    else:
        archive = set_aside(folder, files, now)
        note = (
            f"fresh simulated account for this replay; the earlier one was set aside in "
            f"{archive} (--continue keeps trading it)"
        )
    logger.info("Account: %s", note)
    return note


def check_request(replay: bool, keep: bool) -> None:
    """Refuse ``--continue`` without ``--replay``: the other modes always continue."""
    if keep and not replay:
        raise ConfigError(
            "--continue applies to --replay only: the live loop and --once always keep trading "
            "the simulated account"
        )


def check_continuation(as_of: dt.datetime | None, first_session: dt.date, store: Path) -> None:
    """Refuse a continued replay that starts on or before the account's last trading day.

    ``as_of``: when the simulated account in ``store`` last changed (its broker's ``as_of``).
    """
    if as_of is None:  # written before the account kept its time: nothing to check
        return
    last = as_of.date()
    if first_session <= last:
        raise ConfigError(
            f"--continue: the simulated account in {store} was last changed on {last}; a "
            f"continued replay must start after it (its first session is {first_session}): "
            "replay from a later date, or leave out --continue to replay on a fresh account"
        )
