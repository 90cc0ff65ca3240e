"""Read and write the rows of the state document by their types (a leaf, for ``live/state.py``).

:class:`Row` gives a frozen dataclass ``to_json`` and ``from_json`` from its own annotations, so
each key of the document is spelled once, as a field name in ``live/state.py``. Reading is
strict and names the field of any error (``positions[2].quantity``): a field with a default may
be missing (a worker added it within the schema version); every other one must be there, of its
type. ``None`` is allowed only where the type says ``| None``; a number that is not finite reads
as None there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import types
import typing
from collections.abc import Hashable, Mapping
from dataclasses import MISSING, fields
from enum import Enum
from typing import Any, ClassVar, Self

from quant_core.errors import DataError


class StateSchemaError(DataError):
    """The state document is of another schema version, or a field is missing or malformed."""

    def __init__(self, message: str, field: str, found: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.found = found


def parse_time(value: object) -> dt.datetime | None:
    """Parse an ISO 8601 time; a bare date is midnight UTC, a time without offset is UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def finite(value: object) -> float | None:
    """Return ``value`` as a finite float, or None (missing, null, NaN, text, bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def encode(value: Any) -> Any:
    """Return ``value`` as JSON: rows as objects, enums as values, times in ISO 8601."""
    if isinstance(value, Row):
        return value.to_json()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.date):  # a datetime too
        return value.isoformat()
    if isinstance(value, tuple):
        return [encode(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def _missing(where: str) -> StateSchemaError:
    return StateSchemaError(f"the state document has no field {where}", where)


def _bad(where: str, value: object, wanted: str) -> StateSchemaError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return StateSchemaError(f"the state document's {where} is {shown}, not {wanted}", where, value)


def _decode(kind: Any, value: object, where: str) -> Any:  # noqa: C901 - one per type
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:  # X | None
        inner = next(a for a in args if a is not type(None))
        if value is None:
            return None
        if isinstance(inner, type) and issubclass(inner, Row) and value == {}:
            return None  # a section not filled yet ("reconciled" before the broker is read)
        if inner is float and isinstance(value, float) and not math.isfinite(value):
            return None
        return _decode(inner, value, where)
    origin = typing.get_origin(kind)
    if origin is tuple:
        if not isinstance(value, list):
            raise _bad(where, value, "a list")
        return tuple(_decode(args[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, dict):
            raise _bad(where, value, "an object")
        return {str(k): _decode(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if kind is Any:
        return value
    if isinstance(kind, type) and issubclass(kind, Row):
        return kind.from_json(value, where)
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(value)
        except ValueError:
            valid = ", ".join(str(m.value) for m in kind)
            raise _bad(where, value, f"one of {valid}") from None
    if kind is dt.datetime:
        if (stamp := parse_time(value)) is None:
            raise _bad(where, value, "an ISO 8601 time")
        return stamp
    if kind is dt.date:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return dt.date.fromisoformat(value)
        raise _bad(where, value, "an ISO 8601 date")
    if kind is bool:
        if not isinstance(value, bool):
            raise _bad(where, value, "true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(where, value, "a whole number")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(where, value, "a number")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise _bad(where, value, "text")
        return value
    raise TypeError(f"no reader for {kind!r} at {where}")  # a new field type: add its reader


@functools.cache
def _fields(cls: Any) -> tuple[tuple[str, Any, bool], ...]:
    # (name, type, optional) per field, in order; the annotations resolved once per class.
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, hints[f.name], f.default is not MISSING or f.default_factory is not MISSING)
        for f in fields(cls)
    )


class Row:
    """Base of the document's frozen dataclasses: JSON out and in, by the fields' types."""

    __slots__ = ()
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()  # fields written only when not None

    def to_json(self) -> Any:
        """Return the JSON object: the fields in order, encoded by :func:`encode`."""
        out = {}
        for name, _, _ in _fields(typing.cast(Hashable, type(self))):
            value = getattr(self, name)
            if value is not None or name not in self.OMIT_NONE:
                out[name] = encode(value)
        return out

    @classmethod
    def from_json(cls, data: object, where: str = "") -> Self:
        """Read the JSON object ``data`` (found at ``where`` in the document).

        Raises
        ------
        StateSchemaError
            A field is missing or of the wrong type; the message and ``field`` name it.
        """
        if not isinstance(data, dict):
            raise _bad(where or "document", data, "an object")
        values = {}
        for name, kind, optional in _fields(typing.cast(Hashable, cls)):
            at = f"{where}.{name}" if where else name
            if name not in data:
                if optional:
                    continue
                raise _missing(at)
            values[name] = _decode(kind, data[name], at)
        return cls(**values)
