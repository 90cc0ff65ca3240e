"""A key given twice in one YAML mapping is refused, naming the key and its lines (PyYAML keeps
the last silently: ``lookback: [20, 60]`` then ``lookback: [30]`` ran 30 alone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import load_config
from config.sweep import load_sweep
from config.yaml_file import parse_yaml_file
from quant_core.errors import ConfigError
from quant_core.research.cli_fit import load_spec


def test_a_key_given_twice_names_the_file_the_key_and_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("risk:\n  stop_loss: 0.1\nbacktest: {}\nrisk:\n  stop_loss: 0.2\n")

    with pytest.raises(ConfigError) as caught:
        parse_yaml_file(path)

    message = str(caught.value)
    assert str(path) in message
    assert "line 4" in message
    assert "found the key risk a second time (first on line 1)" in message


def test_a_nested_key_given_twice_is_refused_and_the_same_key_in_two_mappings_is_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a: {x: 1, y: 2}\nb: {x: 3}\n")
    assert parse_yaml_file(path) == {"a": {"x": 1, "y": 2}, "b": {"x": 3}}

    path.write_text("a:\n  x: 1\n  y: 2\n  x: 3\n")
    with pytest.raises(ConfigError, match=r"line 4.*found the key x a second time"):
        parse_yaml_file(path)


def test_a_merged_key_may_be_given_again_to_override_it(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("base: &base {x: 1, y: 2}\nrun:\n  <<: *base\n  x: 5\n")

    assert parse_yaml_file(path)["run"] == {"x": 5, "y": 2}


def test_a_secret_given_twice_is_named_by_its_key_never_its_values(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text(
        "alerts:\n  smtp_password: hunter2-first\n  smtp_password: hunter2-second\n"
    )

    with pytest.raises(ConfigError) as caught:
        load_config(None, config_dir=_config_dir(tmp_path), environ={})

    message = str(caught.value)
    assert "smtp_password a second time" in message
    assert "hunter2" not in message


def test_a_sweep_spec_with_a_parameter_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(
        "sweep:\n  strategy: momentum\n  grid:\n    lookback: [20, 60]\n"
        "    top_quantile: [0.1]\n    lookback: [30]\n"
    )

    with pytest.raises(ConfigError, match=r"grid.yaml.*line 6.*found the key lookback a second"):
        load_sweep(path)


def test_a_model_spec_with_a_field_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("model:\n  name: m\n  name: n\n")

    with pytest.raises(ConfigError, match=r"model.yaml.*found the key name a second time"):
        load_spec(path)


def _config_dir(tmp_path: Path) -> Path:
    # The shipped config files beside the test's secrets.yaml.
    shipped = Path(__file__).resolve().parents[2] / "config"
    for name in ("base.yaml", "backtest.yaml", "live.yaml"):
        if (shipped / name).exists():
            (tmp_path / name).write_text((shipped / name).read_text())
    return tmp_path
