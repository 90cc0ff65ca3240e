"""What counts as a secret in the configuration, and how secrets are kept out of every message.

A config value is **secret** when

- a part of its dotted key looks like a credential (:func:`is_secret_key`: password, passwd,
  passphrase, secret, token, credential, api key, private / access key, or a key part that is
  ``pass``, ``pwd``, ``auth``, ``login``, ``user`` or ``username``), or
- its field is a ``SecretStr`` in :mod:`config.schema` (``cockpit.password_hash``), or
- it was read from ``secrets.yaml``, which holds secrets by definition, or
- it is text holding a URL with credentials in it (``s3://user:password@host/...``): an error
  about it never shows it (:func:`carries_credentials`).

Secret values are never printed: the config loader names the key, where it came from and the
line, never the value; every secret text the loader has seen (at least four characters long)
is remembered, so :func:`mask` hides it in the config a run stores and :func:`redact` blanks it
out of any log line (the entry points' log formatter calls it), whatever module wrote the line.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = [
    "MASK",
    "SECRETS_FILE",
    "carries_credentials",
    "is_secret_key",
    "is_secret_path",
    "mask",
    "redact",
    "remember",
    "remember_layer",
    "yaml_problem",
]

MASK = "**********"  # what pydantic shows for a SecretStr; used for stored configs too
SECRETS_FILE = "secrets.yaml"
# Shorter remembered texts would blank out ordinary words and numbers in the logs.
MIN_REMEMBERED = 4
_SUBSTRINGS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "apikey",
    "privatekey",
    "accesskey",
)
_PARTS = frozenset({"pass", "pwd", "auth", "login", "user", "username"})
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_TOKEN = re.compile(r"<[a-z ]+>")
_USERINFO = re.compile(r"://[^/@\s]+@")
_SIGNED = re.compile(
    r"[?&#](x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|"
    r"access_token|apikey|api_key|key|password|secret)=",
    re.IGNORECASE,
)

_known: set[str] = set()
_lock = threading.Lock()


def is_secret_key(key: str) -> bool:
    """Return whether a single key name looks like it holds a credential."""
    lowered = key.lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", lowered) if p]
    joined = "".join(parts)
    return any(s in joined for s in _SUBSTRINGS) or any(p in _PARTS for p in parts)


def carries_credentials(value: Any) -> bool:
    """Return whether ``value`` is text holding a URL with credentials.

    In its authority (``scheme://user:password@host``) or its query (a signed URL's
    ``X-Amz-Signature=``, a ``token=``, a ``key=``...).
    """
    if not isinstance(value, str):
        return False
    return _USERINFO.search(value) is not None or (
        "://" in value and _SIGNED.search(value) is not None
    )


def is_secret_path(path: tuple[str, ...]) -> bool:
    """Return whether any key of a dotted path looks like a credential."""
    return any(is_secret_key(key) for key in path)


def remember(value: Any) -> None:
    """Remember the text of a secret value (and of every leaf inside it) for :func:`redact`."""
    if isinstance(value, Mapping):
        for child in value.values():
            remember(child)
    elif isinstance(value, list | tuple):
        for child in value:
            remember(child)
    elif value is not None and not isinstance(value, bool):
        text = str(value)
        if len(text.strip()) >= MIN_REMEMBERED:
            with _lock:
                _known.add(text)
                _known.add(text.strip())


def remember_layer(layer: Any, path: tuple[str, ...] = (), everything: bool = False) -> None:
    """Remember the secret values of one config layer: every value if ``everything``."""
    if everything or is_secret_path(path):
        remember(layer)
    elif isinstance(layer, Mapping):
        for key, child in layer.items():
            remember_layer(child, (*path, str(key)))
    elif isinstance(layer, list):
        for child in layer:
            remember_layer(child, path)


def remembered() -> frozenset[str]:
    """Return the texts remembered as secrets (:func:`remember`)."""
    with _lock:
        return frozenset(_known)


def redact(text: str) -> str:
    """Return ``text`` with every remembered secret replaced by ``***``."""
    if not _known:
        return text
    with _lock:
        secrets = sorted(_known, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def mask(tree: Any, secret: bool = False) -> Any:
    """Return a copy of JSON-like ``tree`` with its secrets masked.

    Masked: values under secret-looking keys, and any text the loader remembered as a secret
    (everything from ``secrets.yaml``, an ``ib.account`` kept there included).
    """
    if (secret and tree is not None) or (isinstance(tree, str) and tree in _known):
        return MASK
    if isinstance(tree, Mapping):
        return {key: mask(value, is_secret_key(str(key))) for key, value in tree.items()}
    if isinstance(tree, list):
        return [mask(value) for value in tree]
    return tree


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Describe a YAML parse error by its problem and line, never quoting the file's text.

    PyYAML's own message shows the offending line, which in ``secrets.yaml`` is a secret; the
    problem text can name a fragment (a tag, an alias) too, so quoted fragments longer than two
    characters are left out (a quoted tab and ``'<stream end>'`` stay).
    """
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"{type(exc).__name__} (details not shown, they may quote the file)"
    parts: list[str] = []
    if exc.problem_mark is not None:
        mark = exc.problem_mark
        parts.append(f"line {mark.line + 1}, column {mark.column + 1}:")
    parts.append(_scrub(exc.problem or type(exc).__name__))
    if exc.context:
        where = ""
        if exc.context_mark is not None:
            where = f" that started on line {exc.context_mark.line + 1}"
        parts.append(f"({_scrub(exc.context)}{where})")
    return " ".join(parts)


def _scrub(text: str) -> str:
    def keep_short(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1]
        token = _TOKEN.fullmatch(inner) is not None  # a PyYAML token name: '<stream end>'
        return match.group(0) if len(inner) <= 2 or token else "'...'"

    return _QUOTED.sub(keep_short, text)
