"""The cockpit's optional password gate: a salted scrypt hash in ``config/secrets.yaml``.

For a cockpit that must be reachable beyond loopback; on one machine, or through an SSH tunnel,
it is not needed. With ``cockpit.password_hash`` unset there is no gate. With it set, every
page (every rerun, whatever page a browser asks for) shows a password form first, until this
browser session signs in.

Make a hash (prompts twice, prints the line to paste)::

    python -m quant_core.cockpit.auth

The hash is ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (salt and key in base64): the standard
library's ``hashlib.scrypt`` with its cost parameters written next to the salt, so they can be
raised later without breaking older hashes. The password is compared by its derived key, in
constant time (``hmac.compare_digest``). It is never logged, and never kept in session state:
the form's field is emptied in the submit callback, and only a flag (a fingerprint of the
hash that admitted the session, so a changed password signs everyone out) is kept.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import logging
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import streamlit as st

from config.schema import AppConfig
from quant_core.cockpit import context

logger = logging.getLogger(__name__)

SCHEME = "scrypt"
COST_N = 2**15  # about 0.1 s and 32 MiB per check: cheap for a person, dear for a guesser
BLOCK_R = 8
PARALLEL_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = 8
LIMITS = {"n": (2**14, 2**20), "r": (1, 32), "p": (1, 16)}
# Guessing is throttled for the whole server (sessions are free to open): after FREE_FAILURES
# wrong passwords within WINDOW_S, each further attempt waits for a pause that doubles, up to
# MAX_PAUSE_S, and attempts inside a pause are refused without checking (no scrypt is spent).
FREE_FAILURES = 5
WINDOW_S = 600.0
MAX_PAUSE_S = 300.0
clock = time.monotonic  # the throttle's clock (tests set their own)
FLAG = "cockpit_signed_in"  # holds the fingerprint of the hash, never the password
FIELD = "auth_password"
ERROR = "auth_error"


def hash_password(
    password: str, n: int = COST_N, r: int = BLOCK_R, p: int = PARALLEL_P, salt: bytes | None = None
) -> str:
    """Return ``scrypt$n$r$p$salt$key`` for ``password``, with a fresh random salt by default."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = _derive(password, salt, n, r, p, KEY_BYTES)
    return "$".join([SCHEME, str(n), str(r), str(p), _b64(salt), _b64(key)])


def parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """Return ``(n, r, p, salt, key)`` from a hash line.

    Raises
    ------
    ValueError
        The line is not a hash this module makes (with a reason, never the hash itself).
    """
    parts = encoded.strip().split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError(f"expected {SCHEME}$n$r$p$salt$key (6 fields separated by $)")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, key = (base64.b64decode(x, validate=True) for x in parts[4:6])
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"unreadable field: {type(exc).__name__}") from exc
    for name, value in (("n", n), ("r", r), ("p", p)):
        low, high = LIMITS[name]
        if not low <= value <= high:
            raise ValueError(f"{name}={value} is outside {low}..{high}")
    if n & (n - 1):
        raise ValueError(f"n={n} is not a power of 2")
    if len(salt) < SALT_BYTES or len(key) < 16:
        raise ValueError("salt or key too short")
    return n, r, p, salt, key


def verify_password(password: str, encoded: str) -> bool:
    """Return whether ``password`` matches the hash line (constant-time comparison).

    Raises
    ------
    ValueError
        The hash line is malformed.
    """
    n, r, p, salt, key = parse_hash(encoded)
    return hmac.compare_digest(_derive(password, salt, n, r, p, len(key)), key)


def fingerprint(encoded: str) -> str:
    """Return a short fingerprint of a hash line: what a signed-in session keeps."""
    return hashlib.sha256(encoded.strip().encode()).hexdigest()[:16]


def _derive(password: str, salt: bytes, n: int, r: int, p: int, size: int) -> bytes:
    memory = 128 * n * r * p + 2**20  # scrypt's own need, plus headroom for OpenSSL
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=memory, dklen=size)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ----------------------------------------------------------------------------- the gate


def admitted(cfg: AppConfig) -> bool:
    """Return whether this session may see the pages: no gate, or signed in with this hash."""
    secret = cfg.cockpit.password_hash
    encoded = secret.get_secret_value().strip() if secret is not None else ""
    if not encoded:
        return True
    try:
        parse_hash(encoded)
    except ValueError:
        return False
    return bool(st.session_state.get(FLAG) == fingerprint(encoded))


def require_password(cfg: AppConfig | None = None) -> None:
    """Show the sign-in form and stop the script, unless no hash is set or this session is in.

    Call it before ``st.navigation``: no page renders, and no page's widget exists, until then.
    """
    cfg = cfg or context.config()
    secret = cfg.cockpit.password_hash
    encoded = secret.get_secret_value().strip() if secret is not None else ""
    if not encoded:
        return
    try:
        parse_hash(encoded)
    except ValueError as exc:
        logger.error("cockpit.password_hash is malformed (%s): the cockpit stays locked", exc)
        st.error(
            f"cockpit.password_hash (config/secrets.yaml) is not a valid hash ({exc}): the "
            "cockpit stays locked. Make one with: python -m quant_core.cockpit.auth"
        )
        st.stop()
    admitted = fingerprint(encoded)
    if st.session_state.get(FLAG) == admitted:
        st.sidebar.button("Sign out", key="auth_sign_out", on_click=_sign_out)
        return
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("Sign in")
        st.caption("This cockpit is password-protected (cockpit.password_hash).")
        with st.form("auth_form"):
            st.text_input("Password", type="password", key=FIELD, autocomplete="current-password")
            st.form_submit_button(
                "Sign in", key="auth_submit", type="primary", on_click=_check, args=(encoded,)
            )
        if st.session_state.get(ERROR):
            st.error(str(st.session_state[ERROR]))
    st.stop()


@dataclass
class Throttle:
    """Wrong-password attempts of the whole server, and the pause they impose."""

    failures: deque[float] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_s(self, now: float) -> float:
        """Return how long attempts are refused from ``now`` (0: one may be checked)."""
        with self.lock:
            return self._wait_s(now)

    def _wait_s(self, now: float) -> float:
        while self.failures and now - self.failures[0] > WINDOW_S:
            self.failures.popleft()
        extra = len(self.failures) - FREE_FAILURES
        if extra < 0:
            return 0.0
        pause = min(MAX_PAUSE_S, 2.0**extra)
        return max(0.0, self.failures[-1] + pause - now)

    def reserve(self, now: float) -> float:
        """Take the right to one check at ``now``, counted as a failure until it succeeds.

        Returns 0 when granted, else the seconds to wait. Checking and counting are one step,
        so sessions guessing in parallel threads cannot all pass before any failure counts.
        """
        with self.lock:
            wait = self._wait_s(now)
            if wait == 0.0:
                self.failures.append(now)
            return wait

    def succeeded(self, now: float) -> None:
        """Take back the failure :meth:`reserve` counted at ``now``: the password was right."""
        with self.lock:
            if now in self.failures:
                self.failures.remove(now)

    def failed(self, now: float) -> None:
        """Record a wrong password at ``now`` (one not reserved first)."""
        with self.lock:
            self.failures.append(now)


@st.cache_resource
def throttle() -> Throttle:
    """Return the server's one throttle (shared by every session)."""
    return Throttle()


def _check(encoded: str) -> None:
    password = str(st.session_state.get(FIELD) or "")
    st.session_state[FIELD] = ""  # the password leaves session state at once
    now = clock()
    if (wait := throttle().reserve(now)) > 0:
        st.session_state[ERROR] = f"Too many wrong passwords: try again in {wait:.0f} s."
        logger.warning("Cockpit sign-in refused unchecked: throttled for %.0f s", wait)
        return
    if verify_password(password, encoded):
        throttle().succeeded(now)
        st.session_state[FLAG] = fingerprint(encoded)
        st.session_state.pop(ERROR, None)
        logger.info("Cockpit sign-in accepted")
    else:  # the failure was counted by reserve()
        st.session_state[ERROR] = "Wrong password."
        logger.warning("Cockpit sign-in refused: wrong password")


def _sign_out() -> None:
    st.session_state.pop(FLAG, None)
    logger.info("Cockpit signed out")


# ----------------------------------------------------------------------------- making a hash


USAGE = (
    "usage: python -m quant_core.cockpit.auth\n\n"
    f"Asks twice for a cockpit password (at least {MIN_LENGTH} characters) and prints the\n"
    "cockpit.password_hash line for config/secrets.yaml. Exit codes: 0 made, 1 refused\n"
    "(too short, or the entries differ), 2 usage, 130 interrupted.\n"
)


def main(argv: list[str] | None = None) -> int:
    """Prompt for a password twice and print the ``secrets.yaml`` lines; return an exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        (sys.stdout if args[0] in {"-h", "--help"} else sys.stderr).write(USAGE)
        return 0 if args[0] in {"-h", "--help"} else 2
    try:
        password = getpass.getpass("Cockpit password: ")
        if len(password) < MIN_LENGTH:
            sys.stderr.write(f"Too short: use at least {MIN_LENGTH} characters. Nothing made.\n")
            return 1
        if getpass.getpass("Again: ") != password:
            sys.stderr.write("The two entries differ. Nothing made.\n")
            return 1
    except (EOFError, KeyboardInterrupt):
        sys.stderr.write("\nInterrupted. Nothing made.\n")
        return 130
    line = hash_password(password)
    sys.stdout.write(
        "Paste into config/secrets.yaml (git-ignored), or set QC__COCKPIT__PASSWORD_HASH:\n\n"
        f'cockpit:\n  password_hash: "{line}"\n'
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
