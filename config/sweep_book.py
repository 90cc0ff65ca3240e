"""A sweep of a book: its parameters named ``<sleeve>.<param>``, each configuration a book.

::

    sweep:
      book: config/books/core.yaml
      grid: {mom.lookback: [63, 126], revert.hold_sessions: [3, 5]}
      objective: sharpe

The book file is read with the sweep file (:func:`read_book`, errors naming ``sweep.book``) and
kept whole in the spec. A swept parameter ``mom.lookback`` is the parameter ``lookback`` of the
strategy of sleeve ``mom`` (:func:`param_fields`: an unknown sleeve or parameter is named with
the valid ones); each configuration is the book with those values over its sleeves' own
parameters (:func:`with_params`), validated as the book's strategies validate them
(:func:`validated`). The run config's ``strategy`` section is not read by a book (each sleeve
names its own), so a sweep of a book cannot set it (:data:`BOOK_DECIDED`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic.fields import FieldInfo

from config.book_loader import load_book
from config.keys import KeyPath
from quant_core.errors import ConfigError
from quant_core.strategies import STRATEGIES, build_strategy

if TYPE_CHECKING:
    from config.book_schema import BookConfig

__all__ = [
    "BOOK_DECIDED",
    "param_fields",
    "read_book",
    "unknown_param",
    "validated",
    "with_params",
]

# What a sweep of a book decides itself, beside its period: every sleeve's strategy.
BOOK_DECIDED: dict[KeyPath, str] = {
    ("strategy",): "sweep.book: each sleeve's strategy and params are the book file's",
}


def read_book(path: Path | str, value: Any) -> dict[str, Any]:
    """Return ``sweep.book`` (a book file's path) as the spec keeps it: the file and its book.

    Raises
    ------
    ConfigError
        Not a path, or the book file is missing or wrong (the loader's message follows).
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{path}: sweep.book: give the book file's path (config/books/<name>.yaml), "
            f"not a {type(value).__name__}"
        )
    try:
        book = load_book(Path(value))
    except ConfigError as exc:
        raise ConfigError(f"{path}: sweep.book: {exc}") from None
    return {"file": value, "config": book.model_dump(mode="json")}


def _split(name: str) -> tuple[str, str]:
    sleeve, _, param = name.partition(".")
    return sleeve, param


def param_fields(book: BookConfig) -> dict[str, FieldInfo]:
    """Return every parameter a sweep of ``book`` may vary (``<sleeve>.<param>``) and its field."""
    out: dict[str, FieldInfo] = {}
    for sleeve in book.sleeves:
        fields = STRATEGIES.items[sleeve.strategy.name].Params.model_fields
        out |= {f"{sleeve.name}.{param}": field for param, field in fields.items()}
    return out


def unknown_param(book: BookConfig, name: str) -> str:
    """Return why ``name`` is no parameter of ``book``, naming the valid sleeves or params."""
    sleeves = {s.name: s for s in book.sleeves}
    sleeve, param = _split(name)
    if not param or sleeve not in sleeves:
        what = (
            f"a book's parameter is named <sleeve>.<param> ({name!r} names no sleeve)"
            if not param
            else f"book {book.name} has no sleeve {sleeve!r}"
        )
        return f"{what}; its sleeves: {', '.join(sleeves)}"
    strategy = sleeves[sleeve].strategy.name
    fields = STRATEGIES.items[strategy].Params.model_fields
    return (
        f"sleeve {sleeve}'s strategy {strategy} has no parameter {param!r}; "
        f"its parameters: {', '.join(fields)}"
    )


def with_params(book: BookConfig, params: dict[str, Any]) -> BookConfig:
    """Return ``book`` with ``params`` (``<sleeve>.<param>``) over its sleeves' own params."""
    by_sleeve: dict[str, dict[str, Any]] = {}
    for name, value in params.items():
        sleeve, param = _split(name)
        by_sleeve.setdefault(sleeve, {})[param] = value
    sleeves = []
    for own in book.sleeves:
        given = by_sleeve.get(own.name)
        if given:
            merged = {**own.strategy.params, **given}
            strategy = own.strategy.model_copy(update={"params": merged})
            own = own.model_copy(update={"strategy": strategy})
        sleeves.append(own)
    return book.model_copy(update={"sleeves": sleeves})


def validated(book: BookConfig, params: dict[str, Any]) -> dict[str, Any]:
    """Return ``params`` as the sleeves' strategies validate them (``20.0`` -> ``20``).

    Raises
    ------
    ConfigError
        A sleeve's strategy refuses its params (the sleeve is named).
    """
    swept = with_params(book, params)
    out: dict[str, Any] = {}
    for sleeve in swept.sleeves:
        mine = [n for n in params if _split(n)[0] == sleeve.name]
        if not mine:
            continue
        try:
            strategy = build_strategy(sleeve.strategy.name, sleeve.strategy.params)
        except ConfigError as exc:
            raise ConfigError(f"sleeve {sleeve.name}: {exc}") from None
        values = strategy.params.model_dump(mode="json")
        out |= {n: values.get(_split(n)[1]) for n in mine}
    return out
