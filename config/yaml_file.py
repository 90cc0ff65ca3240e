"""Reading one YAML file, every failure a ConfigError naming the file (never its text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from config.redact import yaml_problem
from quant_core.errors import ConfigError


def parse_yaml_file(path: Path) -> Any:
    """Return the parsed contents of ``path`` (any YAML value; None for an empty file).

    A missing file raises ``FileNotFoundError`` (each caller says what was missing); text that
    is not UTF-8, a file that cannot be read and YAML that does not parse raise ``ConfigError``
    naming the file and the byte or line, never the text (it may be secrets.yaml).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None


__all__ = ["parse_yaml_file"]
