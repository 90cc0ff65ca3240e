"""Config files: each text parsed once, every caller given its own copy."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from config import yaml_file
from config.yaml_file import parse_yaml_file
from quant_core.errors import ConfigError


def test_a_text_is_parsed_once_and_each_caller_gets_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("strategy: {name: momentum, params: {lookback: 20}}\nwhen: 2010-01-04\n")
    calls: list[str] = []
    real = yaml_file.strict_load

    def counted(text: str) -> Any:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(yaml_file, "strict_load", counted)
    first = parse_yaml_file(path)
    first["strategy"]["params"]["lookback"] = 999  # the caller's own copy
    second = parse_yaml_file(path)
    assert second == {
        "strategy": {"name": "momentum", "params": {"lookback": 20}},
        "when": dt.date(2010, 1, 4),
    }
    assert len(calls) <= 1  # parsed once (or not at all: an earlier test parsed the same text)


def test_an_edited_file_is_parsed_anew_whatever_its_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("x: 1\n")
    stamp = path.stat().st_mtime_ns
    assert parse_yaml_file(path) == {"x": 1}
    path.write_text("x: 2\n")
    os.utime(path, ns=(stamp, stamp))  # the same size and time: only the text differs
    assert parse_yaml_file(path) == {"x": 2}


def test_bad_yaml_still_names_the_file_each_time(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: [1, 2\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
            parse_yaml_file(path)


def test_the_kept_texts_are_bounded(tmp_path: Path) -> None:
    for k in range(yaml_file.KEPT + 10):
        path = tmp_path / f"f{k}.yaml"
        path.write_text(f"k: {k}\n")
        assert parse_yaml_file(path) == {"k": k}
    assert len(yaml_file._PARSED) <= yaml_file.KEPT
