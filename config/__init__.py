"""Layered configuration: ``load_config(env)``.

Layers, later ones win, merged key by key (deep merge):

1. ``config/base.yaml`` (required)
2. ``config/<env>.yaml`` for ``env`` in ``backtest`` / ``live`` (optional)
3. ``config/secrets.yaml`` (optional, git-ignored; see ``secrets.example.yaml``)
4. environment variables ``QC__SECTION__KEY=value`` (``QC__PORTFOLIO__CASH_BUFFER=0.05``)
5. command-line overrides ``--set section.key=value``, in order

Values from layers 4 and 5 are read as JSON scalars (``0.05`` is a number, ``true`` a bool,
``null`` none, ``[1, 2]`` a list) except where the key takes text (names, paths, times, account
ids, secrets): there the raw text is kept, so ``0123`` stays ``"0123"`` and ``15:45`` a time.
A later layer that changes ``costs.model`` replaces the whole ``costs`` section, and one that
changes ``strategy.name`` drops the earlier ``strategy.params``.
Alert URLs (``alerts.urls``) carry credentials: they are taken from ``secrets.yaml`` and the
``QC__ALERTS__URLS`` variable only; a non-empty list in ``base.yaml``, ``<env>.yaml`` or a
``--set`` is refused (an empty one, which turns alerts off, is not). YAML 1.1 reads a bare
``on:`` key as the boolean true; under ``alerts`` it is read back as the key ``on``.
The merged result is validated by :class:`config.schema.AppConfig`; an error names the dotted
key path, the value, where it came from and what was expected. A secret value (see
:mod:`config.redact`: a credential-like key, a ``SecretStr`` field, anything in ``secrets.yaml``)
and the value of an unknown key (perhaps a misspelt secret) are never shown: the key, the source
and the line are. Every secret the loader reads is remembered, so the entry points' logs blank it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeGuard, get_args

from pydantic import BaseModel, SecretStr, ValidationError

from config.keys import SECRET_PATHS, KeyPath
from config.keys import split_key as _split
from config.redact import (
    SECRETS_FILE,
    carries_credentials,
    is_secret_path,
    remember,
    remember_layer,
)
from config.schema import AppConfig
from config.yaml_file import parse_yaml_file
from quant_core.errors import ConfigError

__all__ = ["PROJECT_ROOT", "AppConfig", "load_config"]

logger = logging.getLogger("quant_core.config")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(__file__).resolve().parent
ENV_PREFIX = "QC__"
ENVIRONMENTS = ("backtest", "live")
# Fields whose override text is kept as written rather than parsed as JSON.
TEXT_TYPES = {str, SecretStr, Path, dt.time, dt.date}
# Sections chosen by a tag. When a later layer changes the tag, what belongs to the old choice
# goes: the whole costs section (another cost model), or the strategy's params (another
# strategy's parameters), while strategy.rebalance stays.
DISCRIMINATED: dict[tuple[str, ...], tuple[str, str | None]] = {
    ("costs",): ("model", None),
    ("strategy",): ("name", "params"),
}


def load_config(
    env: str | None = None,
    overrides: Iterable[str] = (),
    *,
    config_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> AppConfig:
    """Merge every layer and validate the result.

    Parameters
    ----------
    env
        ``"backtest"``, ``"live"`` or ``None`` (base and secrets only).
    overrides
        ``section.key=value`` strings, as given to ``--set``.
    config_dir
        Folder of the YAML files; default ``$QC_CONFIG_DIR`` or this package's folder.
    environ
        Environment to read ``QC__`` variables from; default ``os.environ``.

    Raises
    ------
    ConfigError
        A file is missing or malformed, or a value fails validation.
    """
    environ = os.environ if environ is None else environ
    folder = config_dir or Path(environ.get("QC_CONFIG_DIR", CONFIG_DIR))
    if env is not None and env not in ENVIRONMENTS:
        raise ConfigError(f"unknown config environment {env!r}; valid: {', '.join(ENVIRONMENTS)}")

    merged: dict[str, Any] = {}
    origin: dict[KeyPath, str] = {}
    base = folder / "base.yaml"
    if not base.is_file():
        raise ConfigError(f"missing required config file {base}")
    files = [base] + [folder / f"{name}.yaml" for name in (env, "secrets") if name]
    for path in files:
        if path.is_file():
            layer = _alerts_on_key(_read_yaml(path))
            secrets = path.name == SECRETS_FILE
            remember_layer(layer, everything=secrets)
            if not secrets:
                _refuse_alert_urls(layer, str(path))
            _merge(merged, layer, (), str(path), origin)
            logger.info("Loaded config file %s", path)
    _apply_environment(environ, merged, origin)
    _apply_overrides(overrides, merged, origin)

    try:
        cfg = AppConfig.model_validate(merged, context={"root": PROJECT_ROOT})
    except ValidationError as exc:
        raise ConfigError(_explain(exc, merged, origin)) from None
    _remember_secret_fields(cfg)
    return cfg


def _remember_secret_fields(model: BaseModel) -> None:
    # SecretStr fields (and lists of them: alerts.urls) are secret whatever their name.
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, SecretStr):
                remember(item.get_secret_value())
            elif isinstance(item, BaseModel):
                _remember_secret_fields(item)


def _alerts_on_key(layer: dict[str, Any]) -> dict[str, Any]:
    # PyYAML (YAML 1.1) loads a bare `on:` key as True; alerts.on is meant.
    alerts = layer.get("alerts")
    if isinstance(alerts, dict) and True in alerts:
        alerts["on"] = alerts.pop(True)
    return layer


def _refuse_alert_urls(layer: Mapping[str, Any], source: str) -> None:
    # The URLs carry tokens and passwords: only secrets.yaml (git-ignored) and the
    # environment may hold them. The URLs themselves are never shown.
    alerts = layer.get("alerts")
    urls = alerts.get("urls") if isinstance(alerts, Mapping) else None
    if isinstance(urls, str):
        urls = urls.strip()  # a --set gives text: "[]" turns alerts off
    if urls in (None, [], "", "[]"):
        return
    count = len(urls) if isinstance(urls, list) else 1
    raise ConfigError(
        f"{source}: alerts.urls holds {count} URL(s) (not shown): alert URLs carry credentials "
        f"and belong in config/{SECRETS_FILE} (git-ignored; see secrets.example.yaml) or the "
        "QC__ALERTS__URLS environment variable; move them there"
    )


def _apply_environment(
    environ: Mapping[str, str], merged: dict[str, Any], origin: dict[KeyPath, str]
) -> None:
    for key, raw in sorted(environ.items()):
        if key.startswith("QC_") and not key.startswith(ENV_PREFIX) and key != "QC_CONFIG_DIR":
            logger.warning("Ignoring environment variable %s: overrides start with QC__", key)
        if key.startswith(ENV_PREFIX):
            keys = _split(key[len(ENV_PREFIX) :], "__", f"environment variable {key}")
            value = _scalar(raw, keys, merged)
            remember_layer(value, keys, everything=_is_secret_path(keys))
            _merge(merged, _nest(keys, value), (), f"environment variable {key}", origin)
            logger.info("Applied environment override %s", key)


def _apply_overrides(
    overrides: Iterable[str], merged: dict[str, Any], origin: dict[KeyPath, str]
) -> None:
    for item in overrides:
        dotted, sep, raw = item.partition("=")
        if not sep:
            shown = "an item (not shown: it names a secret)" if _looks_secret(item) else repr(item)
            raise ConfigError(f"--set expects section.key=value, got {shown}")
        keys = _split(dotted, ".", f"--set {dotted}")
        value = _scalar(raw, keys, merged)
        remember_layer(value, keys, everything=_is_secret_path(keys))
        _refuse_alert_urls(_nest(keys, value), f"--set {dotted}")
        _merge(merged, _nest(keys, value), (), f"--set {dotted}", origin)
        logger.info("Applied command-line override %s", dotted)


def _looks_secret(text: str) -> bool:
    keys = tuple(text.replace("=", ".").split("."))
    return is_secret_path(keys) or _is_secret_path(tuple(k.strip().lower() for k in keys))


def _is_secret_path(path: KeyPath) -> bool:
    # A path at or under one of SECRET_PATHS (alerts.urls, alerts.urls.0).
    return any(path[: len(secret)] == secret for secret in SECRET_PATHS)


def _read_yaml(path: Path) -> dict[str, Any]:
    # Messages name the file and the line, never its text: it may be secrets.yaml.
    try:
        data = parse_yaml_file(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got a {kind}")
    return data


def _scalar(raw: str, keys: KeyPath, merged: Mapping[str, Any]) -> Any:
    if _takes_text(keys, merged):
        return None if raw.strip() in {"null", "~"} else raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _takes_text(keys: KeyPath, merged: Mapping[str, Any]) -> bool:
    model = _model_at(keys[:-1], merged)
    field = model.model_fields.get(keys[-1]) if model else None
    if field is None:
        return False
    kinds = get_args(field.annotation) or (field.annotation,)
    return any(k in TEXT_TYPES for k in kinds)


def _nest(keys: KeyPath, value: Any) -> dict[str, Any]:
    for key in reversed(keys):
        value = {key: value}
    return dict(value)


def _merge(
    into: dict[str, Any],
    layer: Mapping[str, Any],
    prefix: KeyPath,
    source: str,
    origin: dict[KeyPath, str],
) -> None:
    for key, value in layer.items():
        path = (*prefix, str(key))
        tag, owned = DISCRIMINATED.get(path, (None, None))
        if _switches_model(tag, into.get(key), value):
            if owned is None:
                into.pop(key)
            else:
                into[key].pop(owned, None)
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, path, source, origin)
            continue
        into[key] = dict(value) if isinstance(value, Mapping) else value
        for known in [p for p in origin if p[: len(path)] == path]:
            del origin[known]
        origin[path] = source
        if isinstance(value, Mapping):
            _record_leaves(value, path, source, origin)


def _switches_model(tag: str | None, current: Any, value: Any) -> bool:
    if tag is None or not isinstance(current, dict) or not isinstance(value, Mapping):
        return False
    return tag in value and value[tag] != current.get(tag)


def _record_leaves(
    value: Mapping[str, Any], prefix: KeyPath, source: str, origin: dict[KeyPath, str]
) -> None:
    for key, child in value.items():
        origin[(*prefix, str(key))] = source
        if isinstance(child, Mapping):
            _record_leaves(child, (*prefix, str(key)), source, origin)


def _explain(exc: ValidationError, merged: Mapping[str, Any], origin: dict[KeyPath, str]) -> str:
    # A union reports one error per member; show them as one line per key.
    found: dict[KeyPath, list[str]] = {}
    shown: dict[KeyPath, str] = {}
    for err in exc.errors():
        path = _key_path(err["loc"], merged)
        source = next(
            (origin[path[:n]] for n in range(len(path), 0, -1) if path[:n] in origin), "defaults"
        )
        model = _model_at(path[:-1], merged)
        unknown = err["type"] == "extra_forbidden"
        if unknown:
            valid = ", ".join(sorted(model.model_fields)) if model else "?"
            expected = f"unknown key; valid keys here: {valid}"
        else:
            expected = err["msg"]
        # A secret key or field, anything from secrets.yaml, and an unknown key (a misspelt
        # secret?) keep their value to themselves, also out of the message.
        hidden = is_secret_path(path) or _is_secret(model, path) or unknown
        hidden = hidden or _is_secret_path(path)
        hidden = hidden or Path(source).name == SECRETS_FILE
        hidden = hidden or carries_credentials(err.get("input"))
        if hidden:
            expected = _without(expected, err.get("input"), err["type"])
        value = "'***'" if hidden else _show(err.get("input"))
        shown[path] = f"{'.'.join(path) or '(top level)'} = {value} (from {source})"
        found.setdefault(path, []).append(expected)
    lines = [f"{len(found)} invalid config value(s):"]
    lines += [f"  {shown[path]}: {'; or '.join(found[path])}" for path in found]
    return "\n".join(lines)


def _key_path(loc: tuple[int | str, ...], merged: Mapping[str, Any]) -> KeyPath:
    # Discriminated unions add their tag ("per_share") to the location; keep only real keys.
    # Union members name themselves in the location too ("bps", "constrained-int"); only
    # parts that exist in the merged data (keys, list indices) make the key path.
    path: list[str] = []
    node: Any = merged
    for part in loc:
        is_key = isinstance(node, Mapping) and part in node
        is_index = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if is_key or is_index:
            node = node[part]
            path.append(str(part))
    return tuple(path)


def _model_at(path: KeyPath, merged: Mapping[str, Any]) -> type[BaseModel] | None:
    model: type[BaseModel] = AppConfig
    node: Any = merged
    for key in path:
        field = model.model_fields.get(key)
        node = node.get(key, {}) if isinstance(node, Mapping) else {}
        choices = [a for a in get_args(getattr(field, "annotation", None)) if _is_model(a)]
        annotation = getattr(field, "annotation", None)
        if field is not None and _is_model(annotation):
            model = annotation
        elif field is not None and field.discriminator and choices:
            # A discriminated union: the tag in the merged data picks the model.
            tag = str(field.discriminator)
            wanted = node.get(tag, choices[0].model_fields[tag].default)
            match = [c for c in choices if c.model_fields[tag].default == wanted]
            if not match:
                return None
            model = match[0]
        else:
            return None
    return model


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _show(value: Any) -> str:
    # A mapping may hold a secret under a misspelt key: name its keys only.
    if isinstance(value, Mapping):
        return f"a mapping of {', '.join(map(str, value)) or 'nothing'}"
    if isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
        return f"a list of {len(value)} items"
    return repr(value)


def _without(message: str, value: Any, kind: str) -> str:
    text = "" if value is None or isinstance(value, Mapping | list) else str(value)
    if not text or text not in message:
        return message
    return message.replace(text, "***") if len(text) >= 4 else f"invalid value ({kind})"


def _is_secret(model: type[BaseModel] | None, path: KeyPath) -> bool:
    if model is None or not path:
        return False
    field = model.model_fields.get(path[-1])
    return field is not None and "SecretStr" in repr(field.annotation)
