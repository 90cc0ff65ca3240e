"""A command file's contents: the kinds of command, the command, and why one is refused.

The format is ``live/files.py``'s (its module docstring): ``{"id", "command", "issued_at",
"source"}`` and, for one sleeve of a book, ``"sleeve"``. :func:`parse_command` never raises:
malformed JSON (a field given twice included), a missing field or one of the wrong type, an
unknown command, a ``sleeve`` where none belongs (or none where one must be), a naive
timestamp or an expired command each become a :class:`Received` with a refusal reason, so the
worker can acknowledge it and keep running. ``live/files.py`` re-exports every name here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

CLOCK_SKEW_S = 5.0  # a command dated this far ahead of the worker's clock is still accepted


class CommandKind(StrEnum):
    """What the cockpit or a script can ask of the worker."""

    CANCEL = "CANCEL"
    FLAT = "FLAT"
    STOP = "STOP"
    RESUME = "RESUME"
    HALT = "HALT"  # one sleeve of a book stops deciding (``sleeve`` names it)


ACCOUNT_WIDE = frozenset({CommandKind.CANCEL, CommandKind.FLAT, CommandKind.STOP})


@dataclass(frozen=True, slots=True)
class Command:
    """One command, as written to an inbox file; ``sleeve``: the sleeve it is for, or None."""

    id: str
    command: CommandKind
    issued_at: dt.datetime
    source: str
    sleeve: str | None = None

    def to_json(self) -> dict[str, str]:
        """Return the file's JSON object (``sleeve`` only when set: older readers see none)."""
        out = {
            "id": self.id,
            "command": self.command.value,
            "issued_at": self.issued_at.isoformat(),
            "source": self.source,
        }
        if self.sleeve is not None:
            out["sleeve"] = self.sleeve
        return out


@dataclass(frozen=True, slots=True)
class Received:
    """A command taken from the inbox: either valid, or refused with a reason."""

    command: Command | None
    raw: str
    refusal: str | None = None
    id: str | None = None
    kind: CommandKind | None = None  # a refused command's kind, once it was read


def parse_command(raw: str, now: dt.datetime, max_age_s: float) -> Received:
    """Parse one command file's text; refusals are data, never exceptions."""
    data = _object(raw)
    if isinstance(data, str):
        return Received(None, raw, data)
    ident = data.get("id")
    if ident is not None and not isinstance(ident, str):
        return Received(None, raw, f"field 'id' is {_shown(ident)}, not a non-empty string")
    ident = ident or None
    missing = [k for k in ("id", "command", "issued_at", "source") if k not in data]
    if missing or ident is None:
        return Received(
            None, raw, f"missing or empty field(s): {', '.join(missing) or 'id'}", ident
        )
    if not isinstance(data["source"], str):  # a label for people: null would read "None"
        return Received(
            None, raw, f"field 'source' is {_shown(data['source'])}, not a string", ident
        )
    try:
        kind = CommandKind(data["command"])
    except ValueError:
        valid = ", ".join(k.value for k in CommandKind)
        return Received(None, raw, f"unknown command {data['command']!r}; valid: {valid}", ident)
    if (wrong := sleeve_refusal(kind, data)) is not None:
        return Received(None, raw, wrong, ident, kind)
    issued = _issued(data["issued_at"], now, max_age_s)
    if isinstance(issued, str):
        return Received(None, raw, issued, ident, kind)
    command = Command(ident, kind, issued, data["source"], data.get("sleeve"))
    return Received(command, raw, None, ident)


def _object(raw: str) -> dict[str, Any] | str:
    # The file's JSON object, or why it is none.
    try:
        data = json.loads(raw, object_pairs_hook=_unique)
    except json.JSONDecodeError as exc:
        return f"malformed JSON: {exc.msg} at line {exc.lineno}"
    except DuplicateFieldError as exc:  # which of the two did the sender mean?
        return f"malformed JSON: {exc}"
    except (RecursionError, ValueError) as exc:  # absurd nesting, huge numbers
        return f"malformed JSON: {type(exc).__name__}"
    return data if isinstance(data, dict) else "a command must be a JSON object"


class DuplicateFieldError(ValueError):
    """A command file names one field twice (``{"command": "CANCEL", "command": "FLAT"}``)."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of a field given twice; a command must not be a guess.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateFieldError(
                f"field {key!r} appears twice ({_shown(out[key])}, {_shown(value)})"
            )
        out[key] = value
    return out


def _shown(value: object, limit: int = 60) -> str:
    # A value quoted in a refusal, cut short: the audit log keeps every refusal.
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _issued(value: object, now: dt.datetime, max_age_s: float) -> dt.datetime | str:
    # The command's time, or why it is refused (not ISO 8601, naive, expired, in the future).
    try:
        issued = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return f"issued_at {value!r} is not ISO 8601"
    if issued.tzinfo is None:
        return "issued_at has no UTC offset"
    age = (now - issued).total_seconds()
    if age > max_age_s:
        return f"expired: issued {age:.0f} s ago (limit {max_age_s:.0f} s)"
    if age < -CLOCK_SKEW_S:
        return f"issued {-age:.0f} s in the future: check the sender's clock"
    return issued


def sleeve_refusal(kind: CommandKind, data: Mapping[str, Any]) -> str | None:
    """Return why a command's ``sleeve`` field is refused, or None when it is acceptable.

    HALT needs one; RESUME takes one or none; CANCEL, FLAT and STOP act on the whole account.
    Present, it must be a non-empty string (null included: a RESUME meant for one sleeve must
    not lift the account's halt).
    """
    if "sleeve" not in data:
        return (
            "HALT needs a sleeve: field 'sleeve' is missing" if kind is CommandKind.HALT else None
        )
    sleeve = data["sleeve"]
    if not isinstance(sleeve, str) or not sleeve.strip():
        return f"field 'sleeve' is {sleeve!r}, not a non-empty string"
    if kind in ACCOUNT_WIDE:
        return (
            f"{kind} takes no sleeve (sleeve {sleeve!r}): CANCEL, FLAT and STOP act on the "
            "whole account; to stop one sleeve deciding, send HALT with its sleeve"
        )
    return None
