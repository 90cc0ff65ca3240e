"""Reading one YAML file, every failure a ConfigError naming the file (never its text)."""

from __future__ import annotations

import copy
import threading
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
    with _LOCK:
        known = _PARSED.get(text)
    if known is not None:  # the same text parses to the same value: a copy of it
        return copy.deepcopy(known)
    try:
        value = strict_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    except ValueError:  # a value that does not fit its tag; PyYAML's message quotes the value
        raise ConfigError(f"{path}: not valid YAML: {_misfit(text)}") from None
    with _LOCK:  # a Streamlit server loads configs from several threads
        if len(_PARSED) >= KEPT:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[text] = value
    return copy.deepcopy(value)


MISFIT = "a value does not fit its type (a date that does not exist, !!int on a word)"
MERGE = "tag:yaml.org,2002:merge"  # `<<: *defaults`: its keys may be given again, to override


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (PyYAML keeps the last).

    ``lookback: [20, 60]`` then ``lookback: [30]`` further down would run 30 alone, silently;
    which one was meant is the user's to say. The key is named with its two lines, never a value.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            lines: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                if key in lines:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found the key {str(key)[:40]} a second time (first on line "
                        f"{lines[key] + 1}): give it once",
                        key_node.start_mark,
                    )
                lines[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def strict_load(text: str) -> Any:
    """Return the YAML ``text`` parsed safely, a key given twice in a mapping refused.

    Raises
    ------
    yaml.YAMLError
        Not YAML, or a key given twice (:func:`config.redact.yaml_problem` describes it).
    """
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a safe loader)


class _MarkingLoader(_StrictLoader):
    """The safe loader, saying on which line a value does not fit its type."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except ValueError:  # PyYAML's constructors raise it bare, with neither line nor file
            raise yaml.constructor.ConstructorError(None, None, MISFIT, node.start_mark) from None


def _misfit(text: str) -> str:
    # Parsed again, on the error path only, to find the line (the value itself never shown).
    try:
        yaml.load(text, Loader=_MarkingLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        return yaml_problem(exc)
    except ValueError:
        pass
    return MISFIT


# A sweep's driver loads a thousand configs from the same few files: each text is parsed once
# (parsing was 90% of a config's 12 ms) and every caller gets its own copy of the value.
# Keyed by the text itself, so an edited file is parsed anew, whatever its timestamps say.
KEPT = 32
_PARSED: dict[str, Any] = {}
_LOCK = threading.Lock()


__all__ = ["parse_yaml_file", "strict_load"]
