from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path

import pydantic
import pytest

from config import PROJECT_ROOT, load_config, redact
from quant_core import cli
from quant_core.errors import ConfigError
from tests.conftest import log_has

BASE = """
paths: {data_dir: data}
portfolio: {cash_buffer: 0.02, fractional_shares: false}
strategy: {name: momentum, params: {lookback: 126}, rebalance: 21}
costs: {model: per_share, per_share_usd: 0.005}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(BASE)
    return tmp_path


def test_defaults_from_the_shipped_files() -> None:
    cfg = load_config("backtest", environ={})
    assert cfg.calendar.exchange == "XNYS"
    assert cfg.portfolio.cash_buffer == 0.02
    assert cfg.portfolio.fractional_shares is False
    assert cfg.data.dataset == "sp500-2010"
    assert cfg.paths.data_dir == PROJECT_ROOT / "data"
    assert cfg.costs.model == "per_share"


def test_layers_merge_in_order(folder: Path) -> None:
    (folder / "backtest.yaml").write_text(
        "portfolio: {cash_buffer: 0.03}\nstrategy: {rebalance: 5}"
    )
    env = {"QC__PORTFOLIO__CASH_BUFFER": "0.05", "QC__STRATEGY__REBALANCE": "weekly"}

    assert load_config(None, config_dir=folder, environ={}).portfolio.cash_buffer == 0.02
    backtest = load_config("backtest", config_dir=folder, environ={})
    assert backtest.portfolio.cash_buffer == 0.03
    assert backtest.strategy.rebalance == 5
    assert load_config("live", config_dir=folder, environ={}).portfolio.cash_buffer == 0.02
    (folder / "secrets.yaml").write_text("portfolio: {cash_buffer: 0.04}")
    assert load_config("backtest", config_dir=folder, environ={}).portfolio.cash_buffer == 0.04
    cfg = load_config("backtest", config_dir=folder, environ=env)
    assert cfg.portfolio.cash_buffer == 0.05
    assert cfg.strategy.rebalance == "weekly"
    cfg = load_config("backtest", ["portfolio.cash_buffer=0.06"], config_dir=folder, environ=env)
    assert cfg.portfolio.cash_buffer == 0.06


def test_deep_merge_keeps_sibling_keys(folder: Path) -> None:
    (folder / "live.yaml").write_text("strategy: {params: {top_quantile: 0.2}}")

    cfg = load_config("live", config_dir=folder, environ={})

    assert cfg.strategy.params == {"lookback": 126, "top_quantile": 0.2}
    assert cfg.strategy.name == "momentum"


def test_env_and_set_values_are_typed_and_nested(folder: Path) -> None:
    cfg = load_config(
        None,
        ["strategy.params.lookback=63", "portfolio.fractional_shares=true"],
        config_dir=folder,
        environ={"QC__STRATEGY__PARAMS__SKIP": "5"},
    )
    assert cfg.strategy.params == {"lookback": 63, "skip": 5}
    assert cfg.portfolio.fractional_shares is True


def test_later_set_wins(folder: Path) -> None:
    cfg = load_config(
        None, ["strategy.rebalance=5", "strategy.rebalance=monthly"], config_dir=folder, environ={}
    )
    assert cfg.strategy.rebalance == "monthly"


def test_unknown_key_names_path_file_and_valid_keys(folder: Path) -> None:
    (folder / "backtest.yaml").write_text("portfolio: {cash_bufer: 0.1}")

    with pytest.raises(ConfigError) as info:
        load_config("backtest", config_dir=folder, environ={})

    message = str(info.value)
    assert "portfolio.cash_bufer" in message
    assert str(folder / "backtest.yaml") in message
    assert "portfolio.cash_bufer = '***'" in message  # a misspelt key may hold a secret
    assert "cash_buffer" in message  # the valid spelling is offered


def test_unknown_section_is_an_error(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"portfollio .*unknown key"):
        load_config(None, config_dir=folder, environ={"QC__PORTFOLLIO__CASH_BUFFER": "0.1"})


def test_wrong_type_names_path_value_source_and_expectation(folder: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["portfolio.cash_buffer=lots"], config_dir=folder, environ={})

    message = str(info.value)
    assert "portfolio.cash_buffer = 'lots'" in message
    assert "--set portfolio.cash_buffer" in message
    assert "valid number" in message


def test_constraint_violation_is_explained(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"portfolio.cash_buffer = 1.5 .*environment variable"):
        load_config(None, config_dir=folder, environ={"QC__PORTFOLIO__CASH_BUFFER": "1.5"})


def test_costs_union_errors_name_the_real_key(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"costs\.commision_bps .*unknown key"):
        load_config(
            None, ["costs.model=bps", "costs.commision_bps=2"], config_dir=folder, environ={}
        )


def test_bps_cost_model(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("costs: {model: bps, commission_bps: 2, slippage_bps: 3}")
    cfg = load_config(None, config_dir=tmp_path, environ={})
    assert cfg.costs.model == "bps"
    assert cfg.costs.commission_bps == 2


def test_missing_base_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing required config file"):
        load_config(None, config_dir=tmp_path, environ={})


def test_overlays_are_optional(folder: Path) -> None:
    assert load_config("live", config_dir=folder, environ={}).live.broker == "sim"


def test_malformed_yaml_names_the_file(folder: Path) -> None:
    (folder / "backtest.yaml").write_text("portfolio: {cash_buffer: [0.1")
    with pytest.raises(ConfigError, match=r"backtest\.yaml: not valid YAML"):
        load_config("backtest", config_dir=folder, environ={})


def test_bad_set_syntax(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        load_config(None, ["portfolio.cash_buffer"], config_dir=folder, environ={})


def test_unknown_environment(folder: Path) -> None:
    with pytest.raises(ConfigError, match="valid: backtest, live"):
        load_config("prod", config_dir=folder, environ={})


def test_relative_paths_resolve_against_project_root(folder: Path, tmp_path: Path) -> None:
    assert load_config(None, config_dir=folder, environ={}).paths.data_dir == PROJECT_ROOT / "data"
    absolute = tmp_path / "elsewhere"
    cfg = load_config(None, [f"paths.data_dir={absolute}"], config_dir=folder, environ={})
    assert cfg.paths.data_dir == absolute


def test_config_is_frozen(folder: Path) -> None:
    cfg = load_config(None, config_dir=folder, environ={})
    with pytest.raises(pydantic.ValidationError):
        cfg.portfolio.cash_buffer = 0.5  # type: ignore[misc]


SECRET = "s3cr3t-hash-value"  # noqa: S105 - a fake secret to hunt for


def test_secret_never_in_repr_dump_or_logs(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    (folder / "secrets.yaml").write_text(f"cockpit: {{password_hash: {SECRET}}}")
    caplog.set_level(logging.DEBUG)

    cfg = load_config(None, config_dir=folder, environ={})

    assert cfg.cockpit.password_hash is not None
    assert cfg.cockpit.password_hash.get_secret_value() == SECRET
    assert SECRET not in repr(cfg)
    assert SECRET not in str(cfg)
    assert SECRET not in str(cfg.sanitized())
    assert SECRET not in cfg.model_dump_json()
    assert log_has(caplog, "secrets.yaml")
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_secret_not_echoed_in_validation_errors(folder: Path) -> None:
    (folder / "secrets.yaml").write_text("cockpit: {password_hash: [123456789]}")
    with pytest.raises(ConfigError) as info:
        load_config(None, config_dir=folder, environ={})
    assert "cockpit.password_hash = '***'" in str(info.value)
    assert "123456789" not in str(info.value)


def test_shipped_secrets_example_is_valid(tmp_path: Path) -> None:
    source = PROJECT_ROOT / "config"
    for name in ("base.yaml", "backtest.yaml", "live.yaml"):
        (tmp_path / name).write_text((source / name).read_text())
    (tmp_path / "secrets.yaml").write_text((source / "secrets.example.yaml").read_text())
    assert load_config("live", config_dir=tmp_path, environ={}).live.broker == "sim"


def test_misspelt_env_prefix_is_warned_about(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    cfg = load_config(None, config_dir=folder, environ={"QC_PORTFOLIO__CASH_BUFFER": "0.5"})
    assert cfg.portfolio.cash_buffer == 0.02
    assert log_has(
        caplog, "Ignoring environment variable QC_PORTFOLIO__CASH_BUFFER", logging.WARNING
    )


def test_misspelt_key_in_secrets_file_is_masked(folder: Path) -> None:
    (folder / "secrets.yaml").write_text("cockpit: {pasword_hash: 'pbkdf2$SUPERSECRET'}")
    with pytest.raises(ConfigError) as info:
        load_config(None, config_dir=folder, environ={})
    assert "cockpit.pasword_hash = '***'" in str(info.value)
    assert "SUPERSECRET" not in str(info.value)


def test_misspelt_key_beside_a_secret_is_masked_from_any_layer(folder: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["cockpit.pasword_hash=hunter2"], config_dir=folder, environ={})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ("live.rebalance_time=15:45", lambda c: c.live.rebalance_time == dt.time(15, 45)),
        ("ib.account=0123", lambda c: c.ib.account == "0123"),
        ("ib.account=null", lambda c: c.ib.account is None),
        ("data.dataset=2010", lambda c: c.data.dataset == "2010"),
        (
            "cockpit.password_hash=123456",
            lambda c: c.cockpit.password_hash.get_secret_value() == "123456",
        ),
        ("strategy.params.lookback=63", lambda c: c.strategy.params["lookback"] == 63),
        (
            'strategy.params.symbols=["A", "B"]',
            lambda c: c.strategy.params["symbols"] == ["A", "B"],
        ),
        ("portfolio.cash_buffer=0.05", lambda c: c.portfolio.cash_buffer == 0.05),
        (
            "portfolio.construction.method=inverse_vol",
            lambda c: c.portfolio.construction.method == "inverse_vol",
        ),
        ("portfolio.construction.lookback=20", lambda c: c.portfolio.construction.lookback == 20),
    ],
)
def test_override_values_are_typed_by_their_key(folder: Path, override, check) -> None:
    assert check(load_config("live", [override], config_dir=folder, environ={}))
    key, value = override.split("=", 1)
    env = {"QC__" + key.replace(".", "__").upper(): value}
    assert check(load_config("live", config_dir=folder, environ=env))


def test_rebalance_true_is_not_every_session(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"strategy\.rebalance = True"):
        load_config(None, ["strategy.rebalance=true"], config_dir=folder, environ={})


def test_unquoted_yaml_time_is_caught(folder: Path) -> None:
    (folder / "live.yaml").write_text("live: {rebalance_time: 15:45}")
    with pytest.raises(ConfigError, match=r"live\.rebalance_time = 945 .*quoted"):
        load_config("live", config_dir=folder, environ={})


def test_switching_cost_model_replaces_the_section(folder: Path) -> None:
    cfg = load_config(
        None, ["costs.model=bps", "costs.commission_bps=10"], config_dir=folder, environ={}
    )
    assert cfg.costs.model == "bps"
    assert cfg.costs.commission_bps == 10
    env = {"QC__COSTS__MODEL": "bps"}
    assert load_config(None, config_dir=folder, environ=env).costs.model == "bps"


def test_unknown_key_in_the_chosen_cost_model_lists_its_keys(folder: Path) -> None:
    with pytest.raises(ConfigError, match="valid keys here: commission_bps, model, slippage_bps"):
        load_config(
            None, ["costs.model=bps", "costs.per_share_usd=1"], config_dir=folder, environ={}
        )


def test_default_data_dir_resolves_against_project_root(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("calendar: {exchange: XNYS}")
    assert (
        load_config(None, config_dir=tmp_path, environ={}).paths.data_dir == PROJECT_ROOT / "data"
    )


def test_switching_strategy_drops_the_old_params_but_keeps_the_schedule(folder: Path) -> None:
    (folder / "backtest.yaml").write_text("strategy: {rebalance: 5}")
    cfg = load_config(
        "backtest",
        ["strategy.name=sma_cross", "strategy.params.fast=20"],
        config_dir=folder,
        environ={},
    )
    assert cfg.strategy.params == {"fast": 20}
    assert cfg.strategy.rebalance == 5
    same = load_config("backtest", ["strategy.name=momentum"], config_dir=folder, environ={})
    assert same.strategy.params == {"lookback": 126}


MARKER = "S3cr3t-MARKER-91f2"  # a fake secret to hunt for


@pytest.mark.parametrize(
    ("overrides", "environ", "key"),
    [
        ([], {"QC__IB__PASSWORD": MARKER}, "ib.password"),
        ([], {"QC__IB__UNKNOWN": MARKER}, "ib.unknown"),
        ([f"ib.password={MARKER}"], {}, "ib.password"),
        ([f"ib.unknown={MARKER}"], {}, "ib.unknown"),
        ([f"ib.api_key={MARKER}"], {}, "ib.api_key"),
        ([f'ib={{"host": "h", "token": "{MARKER}"}}'], {}, "ib.token"),
        ([f'costs={{"model": "bogus", "tokn": "{MARKER}"}}'], {}, "costs = a mapping of"),
        ([f'cockpit={{"password_hash": ["{MARKER}"]}}'], {}, "cockpit.password_hash = '***'"),
    ],
)
def test_secret_and_unknown_values_never_in_errors(
    folder: Path, overrides: list[str], environ: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides, config_dir=folder, environ=environ)
    message = str(info.value)
    assert key in message  # the key and where it came from are enough
    assert MARKER not in message


def test_secret_key_value_is_scrubbed_from_the_reason_too(folder: Path) -> None:
    # A validator's own message quotes the value; under a secret key it must not.
    (folder / "secrets.yaml").write_text(f"ib: {{tws_timezone: {MARKER}}}")
    with pytest.raises(ConfigError) as info:
        load_config(None, config_dir=folder, environ={})
    assert "ib.tws_timezone = '***'" in str(info.value)
    assert "unknown time zone" in str(info.value)
    assert MARKER not in str(info.value)


def test_set_without_equals_does_not_echo_a_secret(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"section\.key=value") as info:
        load_config(None, [f"ib.password:{MARKER}"], config_dir=folder, environ={})
    assert MARKER not in str(info.value)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f'ib:\n  host: x\n  password: "{MARKER}\n', "line 4"),
        (f"cockpit:\n  password_hash: {MARKER}: x\n", "line 2"),
        (f"cockpit:\n  password_hash: [{MARKER}\n", "line 3"),
        (f"cockpit:\n  password_hash: !{MARKER} x\n", "line 2"),
        (f"cockpit: {{password_hash: *{MARKER}}}\n", "line 1"),
    ],
)
def test_broken_yaml_names_file_and_line_never_its_text(folder: Path, text: str, line: str) -> None:
    for name in ("secrets.yaml", "base.yaml"):
        (folder / name).write_text(text)
        with pytest.raises(ConfigError, match="not valid YAML") as info:
            load_config(None, config_dir=folder, environ={})
        assert str(folder / name) in str(info.value)
        assert line in str(info.value)
        assert MARKER not in str(info.value)
        (folder / name).write_text(BASE)


def test_top_level_that_is_not_a_mapping_is_not_quoted(folder: Path) -> None:
    (folder / "secrets.yaml").write_text(MARKER)
    with pytest.raises(
        ConfigError, match=r"secrets\.yaml: the top level must be a mapping"
    ) as info:
        load_config(None, config_dir=folder, environ={})
    assert MARKER not in str(info.value)


def test_stored_config_masks_secret_looking_keys(folder: Path) -> None:
    cfg = load_config(None, [f"strategy.params.api_key={MARKER}"], config_dir=folder, environ={})
    assert cfg.strategy.params["api_key"] == MARKER  # the strategy still gets it
    dumped = cfg.sanitized()
    assert dumped["strategy"]["params"] == {"lookback": 126, "api_key": "**********"}
    assert MARKER not in str(dumped)


def test_entry_point_logs_blank_every_secret_the_loader_saw(folder: Path) -> None:
    # Whatever module quotes a secret (a strategy's parameter error, a traceback), the log
    # formatter of the entry points blanks it.
    (folder / "secrets.yaml").write_text(f"cockpit: {{password_hash: '{MARKER}-hash'}}")
    load_config(None, [f"strategy.params.token={MARKER}"], config_dir=folder, environ={})
    record = logging.LogRecord(
        "quant_core.x", logging.ERROR, __file__, 1, "bad %s", (MARKER,), None
    )
    try:
        raise ValueError(f"value {MARKER}-hash refused")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = cli.RedactingFormatter(cli.LOG_FORMAT).format(record)
    assert "bad ***" in text
    assert "value *** refused" in text
    assert MARKER not in text


def test_secret_words() -> None:
    secret = ["password", "ib_pass", "PWD", "api_key", "apiKey", "client_secret", "auth_token"]
    secret += ["password_hash", "username", "private-key", "credentials"]
    plain = ["host", "port", "client_id", "account", "lookback", "passive", "dataset", "keys"]
    assert all(redact.is_secret_key(k) for k in secret)
    assert not any(redact.is_secret_key(k) for k in plain)


def test_construction_defaults_to_as_is_and_checks_its_settings(folder: Path) -> None:
    cfg = load_config("backtest", config_dir=folder, environ={})
    assert cfg.portfolio.construction.method == "as_is"
    assert cfg.portfolio.construction.lookback == 60
    with pytest.raises(ConfigError, match=r"portfolio\.construction\.lookback = 1"):
        load_config(None, ["portfolio.construction.lookback=1"], config_dir=folder, environ={})
    assert cfg.portfolio.construction.covariance == "ledoit_wolf"
    assert cfg.portfolio.construction.ic == 0.05
    with pytest.raises(ConfigError, match="'black_litterman' or 'half_kelly'"):
        load_config(None, ["portfolio.construction.method=kelly"], config_dir=folder, environ={})


def test_flat_on_breach_is_the_old_spelling_of_on_breach(folder: Path) -> None:
    assert load_config("backtest", config_dir=folder, environ={}).risk.on_breach == "halt"
    old = load_config(None, ["risk.flat_on_breach=true"], config_dir=folder, environ={})
    assert old.risk.on_breach == "flat"
    assert old.risk.flattens
    with pytest.raises(ConfigError, match=r"contradicts risk\.on_breach=flat"):
        load_config(
            None,
            ["risk.on_breach=flat", "risk.flat_on_breach=false"],
            config_dir=folder,
            environ={},
        )


@pytest.mark.parametrize(
    ("key", "value", "upper"),
    [
        ("portfolio.vol_target", "12", "2"),
        ("portfolio.constraints.max_turnover", "30", "2"),
        ("risk.take_profit", "25", "10"),
    ],
)
def test_a_percent_written_for_a_fraction_is_refused_naming_the_key(
    folder: Path, key: str, value: str, upper: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"{key}={value}"], config_dir=folder, environ={})

    message = str(info.value)
    assert f"{key} = {value}" in message
    assert "fraction" in message
    assert "0.12 is 12%" in message
    assert f"at most {upper}" in message


def test_a_percent_in_an_environment_variable_is_refused_too(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"portfolio\.vol_target .*0\.12 is 12%"):
        load_config(None, config_dir=folder, environ={"QC__PORTFOLIO__VOL_TARGET": "12"})


def test_fractions_at_their_bounds_are_accepted(folder: Path) -> None:
    sets = ["portfolio.vol_target=2", "portfolio.constraints.max_turnover=2", "risk.take_profit=10"]
    cfg = load_config(None, sets, config_dir=folder, environ={})

    assert cfg.portfolio.vol_target == 2.0
    assert cfg.portfolio.constraints.max_turnover == 2.0
    assert cfg.risk.take_profit == 10.0
