"""A sweep of a book: its parameters named ``<sleeve>.<param>``, each configuration a book.

::

    sweep:
      book: config/books/core.yaml
      grid: {mom.lookback: [63, 126], allocation.method: [equal, risk_budget]}
      objective: sharpe

The book file is read with the sweep file (:func:`read_book`, errors naming ``sweep.book``) and
kept whole in the spec. A swept parameter ``mom.lookback`` is the parameter ``lookback`` of the
strategy of sleeve ``mom``; ``allocation.<key>`` and ``scaling.<key>`` are the book's own
settings of those sections (:func:`param_fields`: an unknown sleeve, parameter or setting is
named with the valid ones; a sleeve named ``allocation`` or ``scaling`` would make such a name
mean two things, and is refused). Each configuration is the book with those values over its
own (:func:`with_params`), validated as the book file is: each sleeve's strategy built, the
book's sections and their rules checked (:func:`validated`). The run config's ``strategy``
section is not read by a book (each sleeve names its own), so a sweep of a book cannot set it
(:data:`BOOK_DECIDED`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from config.book_loader import load_book
from config.book_schema import AllocationConfig, BookConfig, ScalingConfig
from config.keys import KeyPath
from quant_core.errors import ConfigError
from quant_core.strategies import STRATEGIES, build_strategy

__all__ = [
    "BOOK_DECIDED",
    "SECTIONS",
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
# The book's own sections a sweep may vary, key by key (``allocation.lookback``).
SECTIONS: dict[str, type[BaseModel]] = {"allocation": AllocationConfig, "scaling": ScalingConfig}


def read_book(path: Path | str, value: Any) -> dict[str, Any]:
    """Return ``sweep.book`` (a book file's path) as the spec keeps it: the file and its book.

    Raises
    ------
    ConfigError
        Not a path, or the book file is missing or wrong (the loader's message follows).
    """
    if not isinstance(value, str) or not value.strip():
        given = "an empty path" if isinstance(value, str) else f"a {type(value).__name__}"
        raise ConfigError(
            f"{path}: sweep.book: give the book file's path (config/books/<name>.yaml, from "
            f"the directory the command runs in), not {given}"
        )
    try:
        book = load_book(Path(value).expanduser())
    except ConfigError as exc:
        raise ConfigError(f"{path}: sweep.book: {exc}") from None
    return {"file": value, "config": book.model_dump(mode="json")}


def _split(name: str) -> tuple[str, str]:
    owner, _, key = name.partition(".")
    return owner, key


def param_fields(book: BookConfig) -> dict[str, FieldInfo]:
    """Return every parameter a sweep of ``book`` may vary and its field.

    ``<sleeve>.<param>`` for each sleeve's strategy, ``allocation.<key>`` and ``scaling.<key>``
    for the book's sections; a sleeve named as a section has neither (:func:`unknown_param`).
    """
    out: dict[str, FieldInfo] = {}
    names = {s.name for s in book.sleeves}
    for section, model in SECTIONS.items():
        if section not in names:
            out |= {f"{section}.{key}": field for key, field in model.model_fields.items()}
    for sleeve in book.sleeves:
        if sleeve.name in SECTIONS:
            continue
        fields = STRATEGIES.items[sleeve.strategy.name].Params.model_fields
        out |= {f"{sleeve.name}.{param}": field for param, field in fields.items()}
    return out


def unknown_param(book: BookConfig, name: str) -> str:
    """Return why ``name`` is no parameter of ``book``, naming the valid sleeves or params."""
    sleeves = {s.name: s for s in book.sleeves}
    owner, key = _split(name)
    listed = f"its sleeves: {', '.join(sleeves)}; its sections: {', '.join(SECTIONS)}"
    if owner in SECTIONS and owner in sleeves:
        return (
            f"{name!r} could be sleeve {owner}'s parameter or the book's {owner} setting: "
            f"rename the sleeve to sweep either"
        )
    if owner in SECTIONS:
        keys = ", ".join(SECTIONS[owner].model_fields)
        return f"the book's {owner} has no setting {key!r}; its settings: {keys}"
    if not key and owner in sleeves:
        fields = STRATEGIES.items[sleeves[owner].strategy.name].Params.model_fields
        return f"name one of sleeve {owner}'s parameters after the dot: {', '.join(fields)}"
    if not key or owner not in sleeves:
        what = (
            f"a book's parameter is named <sleeve>.<param> or <section>.<key> ({name!r} names "
            "neither)"
            if not key
            else f"book {book.name} has no sleeve {owner!r}"
        )
        return f"{what}; {listed}"
    strategy = sleeves[owner].strategy.name
    fields = STRATEGIES.items[strategy].Params.model_fields
    return (
        f"sleeve {owner}'s strategy {strategy} has no parameter {key!r}; "
        f"its parameters: {', '.join(fields)}"
    )


def with_params(book: BookConfig, params: dict[str, Any]) -> BookConfig:
    """Return ``book`` with ``params`` over its own: sleeves' strategy params, its sections.

    A section changed is validated with the whole book, as its file would be (the sleeves'
    strategies are not built here: :func:`validated` does).

    Raises
    ------
    ConfigError
        The book's sections refuse their values (``allocation.method: fixed`` without every
        sleeve's weight, ``allocation.lookback`` below its ``min_sessions``...).
    """
    by_owner: dict[str, dict[str, Any]] = {}
    for name, value in params.items():
        owner, key = _split(name)
        by_owner.setdefault(owner, {})[key] = value
    sleeves = []
    for own in book.sleeves:
        given = by_owner.get(own.name)
        if given:
            merged = {**own.strategy.params, **given}
            strategy = own.strategy.model_copy(update={"params": merged})
            own = own.model_copy(update={"strategy": strategy})
        sleeves.append(own)
    out = book.model_copy(update={"sleeves": sleeves})
    sections = {k: by_owner[k] for k in SECTIONS if by_owner.get(k)}
    if not sections:
        return out
    raw = out.model_dump(mode="json")
    for section, given in sections.items():
        raw[section] = {**raw[section], **given}
    try:  # the book as its file would give it: each section and the book's own rules
        return BookConfig.model_validate(raw)
    except ValidationError as exc:
        text = "; ".join(
            f"book.{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(text) from None


def validated(swept: BookConfig, params: dict[str, Any]) -> dict[str, Any]:
    """Return ``params`` as the book validates them (``20.0`` -> ``20``), by swept name.

    ``swept`` is the book with ``params`` (:func:`with_params`, which validates its sections).

    Raises
    ------
    ConfigError
        A sleeve's strategy refuses its params (the sleeve is named).
    """
    out: dict[str, Any] = {}
    for name in params:
        owner, key = _split(name)
        if owner in SECTIONS:
            out[name] = getattr(swept, owner).model_dump(mode="json")[key]
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
