"""Read and write the rows of the state document by their types (a leaf, for ``live/state.py``).

:class:`Row` gives a frozen dataclass ``to_json`` and ``from_json`` from its own annotations, so
each key of the document is spelled once, as a field name in ``live/state.py``. Reading is
strict and names the field of any error (``positions[2].quantity``): a field with a default may
be missing (a worker added it within the schema version); every other one must be there, of its
type. ``None`` is allowed only where the type says ``| None``; a number that is not finite reads
as None there. A plain frozen dataclass (not a :class:`Row`, such as
``live/book_status.py``'s) is written and read by its fields the same way, except that a null
``float`` field reads as NaN: the writer held NaN there (the document writes it as null).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import types
import typing
from collections.abc import Callable, Hashable, Mapping
from dataclasses import MISSING, fields, is_dataclass
from enum import Enum
from typing import Any, ClassVar, Self

from quant_core.errors import DataError


class StateSchemaError(DataError):
    """The state document is of another schema version, or a field is missing or malformed.

    ``field`` names the field, ``found`` holds what was there; ``other_version`` says the whole
    document is of another schema version (``found`` is then that version).
    """

    def __init__(
        self, message: str, field: str, found: object = None, *, other_version: bool = False
    ) -> None:
        super().__init__(message)
        self.field = field
        self.found = found
        self.other_version = other_version


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


PLAIN = frozenset({str, float, int, bool, type(None)})


def encode(value: Any) -> Any:
    """Return ``value`` as JSON: rows as objects, enums as values, times in ISO 8601.

    A number that is not finite (NaN, infinity) is written as None, so strict JSON parsers
    accept the document (IB reports NaN for a figure it has not yet sent).
    """
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind in PLAIN:  # most values: numbers, text, None (exact types: not an enum)
        return value
    if isinstance(value, Row):
        return value.to_json()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):  # a float's subclass (numpy's)
        return value if math.isfinite(value) else None
    if isinstance(value, dt.date):  # a datetime too
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):  # one not written for the document
        return {f.name: encode(getattr(value, f.name)) for f in fields(value)}
    return value


class BadValue(Exception):
    """A bad value found while reading; each enclosing reader adds its part of the path.

    The path is built only on the error's way out, so reading a good document formats no field
    name at all (the cockpit reads the whole document every second).
    """

    def __init__(self, value: object, wanted: str | None) -> None:
        super().__init__(wanted)
        self.value, self.wanted = value, wanted  # wanted None: the field is missing
        self.path: list[str] = []

    def at(self, part: str) -> BadValue:
        """Prefix the path with ``part`` (``.name`` or ``[i]``); return self, to raise again."""
        self.path.insert(0, part)
        return self

    def error(self, where: str) -> StateSchemaError:
        """Return the error to raise: the field's whole path (from ``where``) named."""
        field = (where + "".join(self.path)).lstrip(".") or "document"
        if self.wanted is None:
            return StateSchemaError(f"the state document has no field {field}", field)
        shown = repr(self.value) if len(repr(self.value)) <= 60 else repr(self.value)[:57] + "..."
        message = f"the state document's {field} is {shown}, not {self.wanted}"
        return StateSchemaError(message, field, self.value)


Reader = Callable[[object], Any]


def _checked(accepts: Callable[[object], bool], wanted: str) -> Reader:
    def read(value: object) -> Any:
        if not accepts(value):
            raise BadValue(value, wanted)
        return value

    return read


def is_number(value: object) -> bool:
    """Return whether ``value`` is a JSON number (an int or a float, not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_time(value: object) -> dt.datetime:
    if (stamp := parse_time(value)) is None:
        raise BadValue(value, "an ISO 8601 time")
    return stamp


def parse_date(value: object) -> dt.date | None:
    """Parse an ISO 8601 date (``2026-03-02``, ``20260302``); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _read_date(value: object) -> dt.date:
    if (day := parse_date(value)) is None:
        raise BadValue(value, "an ISO 8601 date")
    return day


SIMPLE: dict[Any, Reader] = {
    dt.datetime: _read_time,
    dt.date: _read_date,
    bool: _checked(lambda v: isinstance(v, bool), "true or false"),
    int: _checked(lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    float: _checked(is_number, "a number"),
    str: _checked(lambda v: isinstance(v, str), "text"),
}


def _optional(inner: Any) -> Reader:
    read = reader(inner)
    is_row = isinstance(inner, type) and issubclass(inner, Row)

    def read_optional(value: object) -> Any:
        if value is None:
            return None
        if is_row and value == {}:
            return None  # a section not filled yet ("reconciled" before the broker is read)
        if inner is float and isinstance(value, float) and not math.isfinite(value):
            return None
        return read(value)

    return read_optional


def _sequence(item: Any) -> Reader:
    read = reader(item)

    def read_tuple(value: object) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise BadValue(value, "a list")
        out = []
        for i, element in enumerate(value):
            try:
                out.append(read(element))
            except BadValue as bad:
                raise bad.at(f"[{i}]") from None
        return tuple(out)

    return read_tuple


def _mapping(item: Any) -> Reader:
    read = reader(item)

    def read_mapping(value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise BadValue(value, "an object")
        out = {}
        for key, element in value.items():
            try:
                out[str(key)] = read(element)
            except BadValue as bad:
                raise bad.at(f".{key}") from None
        return out

    return read_mapping


def _enum(kind: type[Enum]) -> Reader:
    valid = ", ".join(str(m.value) for m in kind)

    def read_enum(value: object) -> Enum:
        try:
            return kind(value)
        except ValueError:
            raise BadValue(value, f"one of {valid}") from None

    return read_enum


@functools.cache
def reader(kind: Any) -> Reader:
    """Return the function that reads a JSON value as ``kind`` (built once per type)."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:  # X | None
        return _optional(next(a for a in typing.get_args(kind) if a is not type(None)))
    origin = typing.get_origin(kind)
    if origin is tuple:
        return _sequence(typing.get_args(kind)[0])
    if origin is Mapping:
        return _mapping(typing.get_args(kind)[1])
    if kind is Any:
        return lambda value: value
    if isinstance(kind, type) and issubclass(kind, Row):
        return kind.read
    if isinstance(kind, type) and is_dataclass(kind):
        return functools.partial(_read_object, kind, _plain_readers(kind))
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _enum(kind)
    if kind in SIMPLE:
        return SIMPLE[kind]
    raise TypeError(f"no reader for {kind!r}")  # a new field type: add its reader


@functools.cache
def _fields(cls: Any) -> tuple[tuple[str, Any, bool], ...]:
    # (name, type, optional) per field, in order; the annotations resolved once per class.
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, hints[f.name], f.default is not MISSING or f.default_factory is not MISSING)
        for f in fields(cls)
    )


@functools.cache
def _readers(cls: Any) -> tuple[tuple[str, Reader, bool], ...]:
    # (name, reader, optional) per field: the readers built once per class.
    return tuple((name, reader(kind), optional) for name, kind, optional in _fields(cls))


def _float_or_nan(value: object) -> float:
    if value is None:
        return math.nan
    return float(SIMPLE[float](value))


@functools.cache
def _plain_readers(cls: Any) -> tuple[tuple[str, Reader, bool], ...]:
    # A dataclass the document holds but does not define (live/book_status.py's): its floats
    # cannot say "| None", so a null one (written from NaN by encode) reads back as NaN.
    return tuple(
        (name, _float_or_nan if kind is float else reader(kind), optional)
        for name, kind, optional in _fields(cls)
    )


def _read_object(cls: Any, readers: tuple[tuple[str, Reader, bool], ...], data: object) -> Any:
    # The JSON object ``data`` as ``cls``, field by field; a bad field raises with its path.
    if not isinstance(data, dict):
        raise BadValue(data, "an object")
    values = {}
    for name, read, optional in readers:
        if name not in data:
            if optional:
                continue
            raise BadValue(None, None).at(f".{name}")
        try:
            values[name] = read(data[name])
        except BadValue as bad:
            raise bad.at(f".{name}") from None
    return cls(**values)


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
        try:
            return cls.read(data)
        except BadValue as bad:
            raise bad.error(where) from None

    @classmethod
    def read(cls, data: object) -> Self:
        """Read the JSON object ``data``; a bad field raises :class:`BadValue` with its path."""
        row: Self = _read_object(cls, _readers(typing.cast(Hashable, cls)), data)
        return row
