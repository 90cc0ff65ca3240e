"""Read a book file: ``load_book(path) -> BookConfig`` (the models: :mod:`config.book_schema`).

Every error is a :class:`~quant_core.errors.ConfigError` naming the file and the dotted field
(``config/books/core.yaml: book.sleeves.1.scanner.params: ...``). Values under credential-like
keys and the values of unknown keys are not shown (:mod:`config.redact`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, TypeGuard, get_args

from pydantic import BaseModel, ValidationError

from config.book_schema import BookConfig, ScannerConfig, SleeveConfig
from config.redact import is_secret_path
from config.yaml_file import parse_yaml_file
from quant_core.errors import ConfigError
from quant_core.factors.base import named_factor
from quant_core.research.model_factors import model_factor_names
from quant_core.strategies import STRATEGIES, build_strategy

__all__ = ["load_book"]


def load_book(path: Path) -> BookConfig:
    """Read, validate and check the book file ``path`` (YAML with a top-level ``book:`` key).

    The book's ``name`` is the file stem unless the file sets one. Beyond the models'
    validation, each sleeve's strategy is built (an unknown name or bad params is an error), an
    explicit ``strategy.rebalance`` must agree with the schedule the strategy declares, and
    each scanner is built with its params. A sleeve whose params name a stored model as a
    factor (``model_<id>``) not loaded here is built by the drivers once they load it.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, not YAML, has no ``book:`` mapping, or a value is
        wrong: the message names the file and the dotted field (``book.sleeves.1.weight``).
    """
    path = Path(path)
    raw = _read(path)
    if "name" not in raw:
        raw = {"name": path.stem, **raw}
    try:
        book = BookConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(path, exc, raw)) from None
    for i, sleeve in enumerate(book.sleeves):
        _check_strategy(path, f"book.sleeves.{i}.strategy", sleeve)
        if sleeve.scanner is not None:
            _check_scanner(path, f"book.sleeves.{i}.scanner", sleeve.scanner)
    return book


def _read(path: Path) -> dict[str, Any]:
    try:
        data = parse_yaml_file(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such book file") from None
    if not isinstance(data, dict) or "book" not in data:
        raise ConfigError(f"{path}: a book file needs a top-level `book:` key holding the book")
    extra = sorted(str(key) for key in data if key != "book")
    if extra:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(extra)}; only `book:`")
    if not isinstance(data["book"], dict):
        kind = type(data["book"]).__name__
        raise ConfigError(f"{path}: book: expected a mapping of name, sleeves, ...; got a {kind}")
    return data["book"]


def _check_strategy(path: Path, where: str, sleeve: SleeveConfig) -> None:
    name, params = sleeve.strategy.name, sleeve.strategy.params
    try:
        STRATEGIES.get(name)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {where}.name: {exc}") from None
    if any(named_factor(n) is None for n in model_factor_names(params)):
        # A stored model named as a factor is loaded by the drivers, which read the models
        # (quant_core.book_setup.prepare_book): its sleeve's params are checked then.
        return
    try:
        declared = build_strategy(name, params).schedule()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {where}.params: {exc}") from None
    wanted = sleeve.strategy.rebalance
    if declared is not None and wanted is not None and wanted != declared[0]:
        raise ConfigError(
            f"{path}: {where}.rebalance: strategy {name} {declared[1]}, so it must rebalance "
            f"every {declared[0]!r}, not {wanted!r}: set rebalance: {declared[0]} or leave it "
            "out (the strategy's own schedule is then used)"
        )


def _check_scanner(path: Path, where: str, scanner: ScannerConfig) -> None:
    # TODO(issue 16): import build_scanner and scanner_names from quant_core.scanners and drop
    # this guard once that package is merged (it is written alongside this loader).
    try:
        scanners = importlib.import_module("quant_core.scanners")
    except ModuleNotFoundError as exc:
        if exc.name != "quant_core.scanners":
            raise  # the package exists but is broken: say so
        return
    names = list(scanners.scanner_names())
    if scanner.name not in names:
        valid = ", ".join(sorted(names)) or "(none)"
        raise ConfigError(f"{path}: {where}.name: unknown scanner {scanner.name!r}; valid: {valid}")
    try:
        scanners.build_scanner(scanner.name, dict(scanner.params))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {where}.params: {exc}") from None


def _explain(path: Path, exc: ValidationError, raw: dict[str, Any]) -> str:
    # One line per field, naming the file and the dotted key; a union's members are merged.
    found: dict[tuple[str, ...], list[str]] = {}
    values: dict[tuple[str, ...], str] = {}
    for err in exc.errors():
        keys = _key_path(err["loc"], raw, missing=err["type"] == "missing")
        unknown = err["type"] == "extra_forbidden"
        if unknown:
            model = _model_at(keys[:-1])
            valid = ", ".join(model.model_fields) if model is not None else "?"
            message = f"unknown key; valid keys here: {valid}"
        else:
            message = err["msg"].removeprefix("Value error, ")
        hidden = unknown or is_secret_path(keys)
        values[keys] = "" if err["type"] == "missing" else _shown(err.get("input"), hidden)
        found.setdefault(keys, []).append(message)
    lines = [
        f"{path}: {'.'.join(('book', *keys))}: {'; or '.join(messages)}{values[keys]}"
        for keys, messages in found.items()
    ]
    return "\n".join(lines)


def _key_path(loc: tuple[int | str, ...], raw: Any, *, missing: bool) -> tuple[str, ...]:
    # Union members name themselves in the location ("constrained-int"): keep only the parts
    # present in the data, plus the name of a missing key.
    keys: list[str] = []
    node = raw
    for i, part in enumerate(loc):
        is_key = isinstance(node, dict) and part in node
        is_index = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if is_key or is_index:
            node = node[part]
            keys.append(str(part))
        elif missing and i == len(loc) - 1:
            keys.append(str(part))
    return tuple(keys)


def _model_at(keys: tuple[str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = BookConfig
    for key in keys:
        if key.isdigit():
            continue  # an index into a list of models (sleeves)
        field = model.model_fields.get(key)
        inner = _inner_model(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if _is_model(annotation):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _shown(value: Any, hidden: bool) -> str:
    # Scalars only: a mapping or list is named by the field already (and may hold secrets).
    if hidden:
        return " (value not shown)"
    if isinstance(value, dict | list):
        return ""
    return f" (got {value!r})"
