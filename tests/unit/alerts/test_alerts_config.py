"""The alerts section: URLs from secrets.yaml or the environment only, never shown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from config import load_config
from config.redact import MASK, redact
from quant_core.alerts.events import AlertEvent
from quant_core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
URL = "tgram://987654321:AAH-Ur1Secret-Token/123456789"
MAIL = "mailtos://me:Mail-Pass-4242@gmail.com?to=ops@example.com"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A config folder: the project's base.yaml and live.yaml."""
    for name in ("base.yaml", "live.yaml"):
        shutil.copy(ROOT / "config" / name, tmp_path / name)
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_the_defaults_alert_on_everything_and_send_nowhere() -> None:
    cfg = load_config("live", environ={})
    assert cfg.alerts.urls == []
    assert cfg.alerts.on == list(AlertEvent)  # base.yaml lists all eight
    assert (cfg.alerts.disconnect_after_s, cfg.alerts.min_interval_s) == (60.0, 300.0)


def test_urls_from_secrets_yaml_are_masked_everywhere(folder: Path) -> None:
    (folder / "secrets.yaml").write_text(f"alerts:\n  urls:\n    - {URL}\n    - '{MAIL}'\n")
    cfg = load_config("live", config_dir=folder, environ={})
    assert [u.get_secret_value() for u in cfg.alerts.urls] == [URL, MAIL]
    dumped = json.dumps(cfg.sanitized())
    assert cfg.sanitized()["alerts"]["urls"] == [MASK, MASK]
    assert URL not in dumped
    assert "Mail-Pass-4242" not in dumped
    assert "AAH-Ur1" not in dumped
    assert URL not in repr(cfg)
    assert URL not in str(cfg.alerts)
    assert redact(f"sending to {URL}") == "sending to ***"  # a log line naming one: blanked


@pytest.mark.parametrize("layer", ["base.yaml", "live.yaml"])
def test_urls_outside_secrets_yaml_are_refused_without_being_shown(
    folder: Path, layer: str
) -> None:
    path = folder / layer
    if layer == "base.yaml":  # base.yaml has an alerts section: add the key under it
        text = path.read_text().replace("alerts:", f"alerts:\n  urls: ['{URL}']", 1)
        path.write_text(text)
    else:
        _append(path, f"alerts:\n  urls:\n    - {URL}\n")
    with pytest.raises(ConfigError) as error:
        load_config("live", config_dir=folder, environ={})
    message = str(error.value)
    assert str(path) in message
    assert "alerts.urls holds 1 URL(s) (not shown)" in message
    assert "move them there" in message
    assert "config/secrets.yaml" in message
    assert "987654321" not in message
    assert "AAH-Ur1" not in message


def test_an_empty_url_list_outside_secrets_is_fine(folder: Path) -> None:
    _append(folder / "live.yaml", "alerts:\n  urls: []\n")
    (folder / "secrets.yaml").write_text(f"alerts:\n  urls: ['{URL}']\n")
    cfg = load_config("live", config_dir=folder, environ={})
    assert len(cfg.alerts.urls) == 1  # secrets.yaml is read after live.yaml


def test_set_refuses_urls_but_may_turn_alerts_off(folder: Path) -> None:
    (folder / "secrets.yaml").write_text(f"alerts:\n  urls: ['{URL}']\n")
    with pytest.raises(ConfigError) as error:
        load_config("live", [f"alerts.urls={URL}"], config_dir=folder, environ={})
    assert "--set alerts.urls" in str(error.value)
    assert URL not in str(error.value)
    off = load_config("live", ["alerts.urls=[]"], config_dir=folder, environ={})
    assert off.alerts.urls == []


@pytest.mark.parametrize(
    "raw",
    [f"{URL} {MAIL}", f"  {URL}\n{MAIL}  ", json.dumps([URL, MAIL])],
    ids=["spaces", "lines", "json"],
)
def test_the_environment_may_hold_urls(raw: str) -> None:
    cfg = load_config("live", environ={"QC__ALERTS__URLS": raw})
    assert [u.get_secret_value() for u in cfg.alerts.urls] == [URL, MAIL]
    assert MAIL not in json.dumps(cfg.sanitized())
    assert "Mail-Pass-4242" not in redact(f"x {MAIL} y")  # remembered for the log formatter


def test_a_bad_url_list_in_the_environment_is_not_shown() -> None:
    with pytest.raises(ConfigError) as error:
        load_config("live", environ={"QC__ALERTS__URLS": f'["{URL}", 5]'})
    message = str(error.value)
    assert "alerts.urls = '***' (from environment variable QC__ALERTS__URLS)" in message
    assert "987654321" not in message


def test_the_yaml_key_on_is_read_as_on_not_as_true(folder: Path) -> None:
    # YAML 1.1 loads a bare `on:` as the boolean true.
    _append(folder / "live.yaml", "alerts:\n  on: [halt, flat]\n  min_interval_s: 0\n")
    cfg = load_config("live", config_dir=folder, environ={})
    assert cfg.alerts.on == [AlertEvent.HALT, AlertEvent.FLAT]  # live.yaml wins over base.yaml
    assert cfg.alerts.min_interval_s == 0.0


def test_on_from_the_environment_and_its_errors() -> None:
    cfg = load_config("live", environ={"QC__ALERTS__ON": "halt, disconnect,halt"})
    assert cfg.alerts.on == [AlertEvent.HALT, AlertEvent.DISCONNECT]
    with pytest.raises(ConfigError, match=r"alerts\.on = 'page'.*Input should be 'halt'"):
        load_config("live", environ={"QC__ALERTS__ON": "halt,page"})


def test_no_event_with_urls_set_is_refused_naming_the_key() -> None:
    # QC__ALERTS__ON="" would read as no event: every alert dropped without a word.
    with pytest.raises(ConfigError) as error:
        load_config("live", environ={"QC__ALERTS__ON": "", "QC__ALERTS__URLS": URL})
    message = str(error.value)
    assert "alerts.on = '' (from environment variable QC__ALERTS__ON)" in message
    assert "no event while alerts.urls is set" in message
    assert "987654321" not in message  # the URL is not shown
    assert load_config("live", environ={"QC__ALERTS__ON": ""}).alerts.on == []  # no URL: fine


@pytest.mark.parametrize("key", ["disconnect_after_s", "min_interval_s"])
def test_negative_durations_and_unknown_keys_are_refused(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"alerts\.{key} = -1"):
        load_config("live", [f"alerts.{key}=-1"], environ={})
    with pytest.raises(ConfigError, match="unknown key; valid keys here: disconnect_after_s"):
        load_config("live", ["alerts.url=x"], environ={})


def test_secrets_example_documents_the_urls() -> None:
    text = (ROOT / "config" / "secrets.example.yaml").read_text()
    assert "alerts:\n  urls: []" in text
    assert "mode=insecure" in text
    assert "json://" in text
