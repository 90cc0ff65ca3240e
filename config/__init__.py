"""Layered configuration: ``load_config(env)``.

Layers, later ones win, merged key by key (deep merge):

1. ``config/base.yaml`` (required)
2. ``config/<env>.yaml`` for ``env`` in ``backtest`` / ``live`` (optional)
3. ``config/secrets.yaml`` (optional, git-ignored; see ``secrets.example.yaml``)
4. environment variables ``QC__SECTION__KEY=value`` (``QC__PORTFOLIO__CASH_BUFFER=0.05``)
5. command-line overrides ``--set section.key=value``, in order

Values from layers 4 and 5 are parsed as YAML scalars (``0.05`` is a number, ``true`` a bool).
The merged result is validated by :class:`config.schema.AppConfig`; an error names the dotted
key path, the value, where it came from and what was expected. Secrets are never logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeAlias

import yaml
from pydantic import BaseModel, ValidationError

from config.schema import AppConfig
from quant_core.errors import ConfigError

__all__ = ["PROJECT_ROOT", "AppConfig", "load_config"]

logger = logging.getLogger("quant_core.config")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(__file__).resolve().parent
ENV_PREFIX = "QC__"
ENVIRONMENTS = ("backtest", "live")

KeyPath: TypeAlias = tuple[str, ...]


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
            _merge(merged, _read_yaml(path), (), str(path), origin)
            logger.info("Loaded config file %s", path)
    _apply_environment(environ, merged, origin)
    _apply_overrides(overrides, merged, origin)

    try:
        return AppConfig.model_validate(merged, context={"root": PROJECT_ROOT})
    except ValidationError as exc:
        raise ConfigError(_explain(exc, merged, origin)) from None


def _apply_environment(
    environ: Mapping[str, str], merged: dict[str, Any], origin: dict[KeyPath, str]
) -> None:
    for key, raw in sorted(environ.items()):
        if key.startswith("QC_") and not key.startswith(ENV_PREFIX) and key != "QC_CONFIG_DIR":
            logger.warning("Ignoring environment variable %s: overrides start with QC__", key)
        if key.startswith(ENV_PREFIX):
            keys = _split(key[len(ENV_PREFIX) :], "__", f"environment variable {key}")
            _merge(merged, _nest(keys, _scalar(raw)), (), f"environment variable {key}", origin)
            logger.info("Applied environment override %s", key)


def _apply_overrides(
    overrides: Iterable[str], merged: dict[str, Any], origin: dict[KeyPath, str]
) -> None:
    for item in overrides:
        dotted, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        keys = _split(dotted, ".", f"--set {dotted}")
        _merge(merged, _nest(keys, _scalar(raw)), (), f"--set {dotted}", origin)
        logger.info("Applied command-line override %s", dotted)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {data!r}")
    return data


def _scalar(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _split(text: str, sep: str, where: str) -> KeyPath:
    keys = tuple(part.strip().lower() for part in text.split(sep))
    if not all(keys):
        raise ConfigError(f"{where}: empty key in {text!r}")
    return keys


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
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, path, source, origin)
            continue
        into[key] = dict(value) if isinstance(value, Mapping) else value
        for known in [p for p in origin if p[: len(path)] == path]:
            del origin[known]
        origin[path] = source
        if isinstance(value, Mapping):
            _record_leaves(value, path, source, origin)


def _record_leaves(
    value: Mapping[str, Any], prefix: KeyPath, source: str, origin: dict[KeyPath, str]
) -> None:
    for key, child in value.items():
        origin[(*prefix, str(key))] = source
        if isinstance(child, Mapping):
            _record_leaves(child, (*prefix, str(key)), source, origin)


def _explain(exc: ValidationError, merged: Mapping[str, Any], origin: dict[KeyPath, str]) -> str:
    lines = [f"{exc.error_count()} invalid config value(s):"]
    for err in exc.errors():
        path = _key_path(err["loc"], merged)
        dotted = ".".join(path) or "(top level)"
        source = next(
            (origin[path[:n]] for n in range(len(path), 0, -1) if path[:n] in origin), "defaults"
        )
        model = _model_at(path[:-1])
        if err["type"] == "extra_forbidden":
            valid = ", ".join(sorted(model.model_fields)) if model else "?"
            expected = f"unknown key; valid keys here: {valid}"
        else:
            expected = err["msg"]
        shown = "'***'" if _is_secret(model, path) else repr(err.get("input"))
        lines.append(f"  {dotted} = {shown} (from {source}): {expected}")
    return "\n".join(lines)


def _key_path(loc: tuple[int | str, ...], merged: Mapping[str, Any]) -> KeyPath:
    # Discriminated unions add their tag ("per_share") to the location; keep only real keys.
    path: list[str] = []
    node: Any = merged
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            path.append(str(part))
            node = node[part]
        elif not isinstance(node, Mapping) or isinstance(part, int):
            path.append(str(part))
    return tuple(path)


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    model: type[BaseModel] = AppConfig
    for key in path:
        field = model.model_fields.get(key)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _is_secret(model: type[BaseModel] | None, path: KeyPath) -> bool:
    if model is None or not path:
        return False
    field = model.model_fields.get(path[-1])
    return field is not None and "SecretStr" in repr(field.annotation)
