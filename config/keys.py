"""How a config key given as text is read: one normaliser for the loader and the sweeps.

A ``--set section.key=value``, a ``QC__SECTION__KEY`` variable and a sweep file's ``set:`` key
are key paths: each part is stripped and lower-cased (:func:`split_key`), so ``Backtest .END``
is ``backtest.end``. A value that is a mapping (``--set backtest={"end": "2010-12-31"}``, read
as JSON; a nested mapping in a sweep file's ``set:``) is merged into the config key by key:
:func:`override_paths` gives every key path such an override reaches, which is what a check of
"who may set what" must look at (:func:`touches`), never the raw text of the key.

:func:`masked_override` is how a ``--set`` item is written down (a sweep's catalogue): a secret's
value (:func:`config.redact.is_secret_path`, :data:`SECRET_PATHS`, or a text the loader
remembered as a secret) is replaced by :data:`config.redact.MASK`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeAlias

from config.redact import MASK, is_secret_path, remembered
from quant_core.errors import ConfigError

__all__ = [
    "SECRET_PATHS",
    "KeyPath",
    "is_secret_override",
    "masked_override",
    "masked_set",
    "override_paths",
    "split_key",
    "touches",
]

KeyPath: TypeAlias = tuple[str, ...]

# Secret values whatever their key's name: alert URLs hold tokens and passwords.
SECRET_PATHS: tuple[KeyPath, ...] = (("alerts", "urls"),)


def split_key(text: str, sep: str = ".", where: str = "") -> KeyPath:
    """Return the key path of ``text``: split on ``sep``, each part stripped and lower-cased.

    Raises
    ------
    ConfigError
        An empty part (``a..b``, a trailing dot); the message starts with ``where``.
    """
    keys = tuple(part.strip().lower() for part in text.split(sep))
    if not all(keys):
        raise ConfigError(f"{where or text}: empty key in {text!r}")
    return keys


def override_paths(dotted: str, value: Any, where: str = "") -> list[KeyPath]:
    """Return every key path that setting ``dotted`` to ``value`` reaches.

    ``value`` is a Python value (a sweep file's) or the text of a ``--set`` (a JSON mapping in it
    is read as the loader reads it). A mapping gives its leaves (``backtest={"end": x}`` reaches
    ``backtest.end``); an empty mapping, or any other value, gives ``dotted`` itself.
    """
    return _paths(split_key(dotted, ".", where), _parsed(value), where)


def touches(path: KeyPath, fixed: KeyPath) -> bool:
    """Return whether setting ``path`` changes ``fixed``: one of the two holds the other."""
    size = min(len(path), len(fixed))
    return path[:size] == fixed[:size]


def is_secret_override(dotted: str, value: Any) -> bool:
    """Return whether ``dotted=value`` sets a secret (by its key paths or its remembered text)."""
    try:
        paths = override_paths(dotted, value)
    except ConfigError:  # no key path to judge by: the whole item is kept to itself
        return True
    if any(is_secret_path(p) or any(touches(p, s) for s in SECRET_PATHS) for p in paths):
        return True
    # A text the loader remembered as a secret, whole: a value that merely contains one (a
    # number sharing four digits with an account) is not masked, or a re-run would get the mask.
    return isinstance(value, str) and value.strip() in remembered()


def masked_override(item: str) -> str:
    """Return the ``--set`` item ``key=value`` as it may be stored: a secret's value masked."""
    dotted, sep, raw = item.partition("=")
    if not sep:
        return MASK if is_secret_override(item, None) else item
    return f"{dotted}={MASK}" if is_secret_override(dotted, raw) else item


def _parsed(value: Any) -> Any:
    # A --set's text that is a JSON mapping is merged as one, as the loader does.
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _paths(keys: KeyPath, value: Any, where: str) -> list[KeyPath]:
    if not isinstance(value, Mapping) or not value:
        return [keys]
    out: list[KeyPath] = []
    for key, child in value.items():
        out += _paths((*keys, *split_key(str(key), ".", where)), child, where)
    return out


def masked_set(spec: dict[str, Any]) -> dict[str, Any]:
    """Return a sweep spec's dump (a dict) with the secret values of its ``set`` masked."""
    given = spec.get("set")
    if not isinstance(given, Mapping):
        return spec
    masked = {k: MASK if is_secret_override(str(k), v) else v for k, v in given.items()}
    return {**spec, "set": masked}
