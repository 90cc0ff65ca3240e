"""A backtest's configuration mistyped as a user would: refused with the key, before any work.

Each case was accepted, crashed (exit 3) or was found only after the whole run before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config import CONFIG_DIR, load_config
from quant_core.errors import ConfigError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def refused(*overrides: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config("backtest", overrides, environ=environ or {})
    return str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("backtest.initial_cash", "Infinity"),
        ("backtest.initial_cash", "inf"),
        ("backtest.initial_cash", "1e400"),  # JSON reads it as infinity
        ("costs.per_share_usd", "Infinity"),
        ("costs.min_per_order_usd", "Infinity"),
        ("risk.max_order_notional_usd", "Infinity"),
        ("costs.slippage_bps", "NaN"),
        ("portfolio.cash_buffer", "NaN"),
    ],
)
def test_infinite_or_nan_numbers_are_refused(key: str, value: str) -> None:
    message = refused(f"{key}={value}")
    assert key in message
    assert "finite number" in message


def test_infinite_cash_from_yaml_and_environment_is_refused(tmp_path: Path) -> None:
    shutil.copy(CONFIG_DIR / "base.yaml", tmp_path / "base.yaml")
    (tmp_path / "backtest.yaml").write_text("backtest:\n  initial_cash: .inf\n")
    with pytest.raises(ConfigError, match=r"backtest\.initial_cash = inf .*finite number"):
        load_config("backtest", config_dir=tmp_path, environ={})
    message = refused(environ={"QC__BACKTEST__INITIAL_CASH": "inf"})
    assert "QC__BACKTEST__INITIAL_CASH" in message
    assert "finite number" in message


def test_absurd_initial_cash_is_refused_a_large_one_is_not() -> None:
    message = refused("backtest.initial_cash=1e300")
    assert "backtest.initial_cash = 1e+300" in message
    cfg = load_config("backtest", ["backtest.initial_cash=1e13"], environ={})
    assert cfg.backtest.initial_cash == 1e13


@pytest.mark.parametrize("value", ["0", "86400", "1262563200"])
def test_a_number_is_not_a_date(value: str) -> None:
    # pydantic would read it as seconds since 1970 (0 is 1970-01-01).
    message = refused(f"backtest.start={value}")
    assert f"backtest.start = '{value}'" in message
    assert "YYYY-MM-DD" in message
    message = refused(environ={"QC__BACKTEST__END": value})
    assert "backtest.end" in message
    assert "YYYY-MM-DD" in message


def test_start_after_end_is_refused_at_load_naming_both_keys() -> None:
    message = refused("backtest.start=2010-06-01", "backtest.end=2010-01-01")
    assert "backtest.start 2010-06-01 is after backtest.end 2010-01-01" in message
    cfg = load_config(
        "backtest", ["backtest.start=2010-01-04", "backtest.end=2010-01-04"], environ={}
    )
    assert cfg.backtest.start == cfg.backtest.end  # one session is a period


def test_empty_benchmark_is_refused_not_taken_as_none() -> None:
    message = refused("backtest.benchmark=")
    assert "backtest.benchmark = ''" in message
    assert "null" in message
    assert (
        load_config("backtest", ["backtest.benchmark=null"], environ={}).backtest.benchmark is None
    )


@pytest.mark.parametrize("value", ["25", "1.5"])
def test_position_weight_above_one_is_refused(value: str) -> None:
    # 25 meant as 25% was a cap that never binds.
    message = refused(f"risk.max_position_weight={value}")
    assert "risk.max_position_weight" in message
    assert "fraction, not a percent" in message


def test_position_weight_of_one_and_null_still_load() -> None:
    cfg = load_config("backtest", ["risk.max_position_weight=1"], environ={})
    assert cfg.risk.max_position_weight == 1.0
    cfg = load_config("backtest", ["risk.max_position_weight=null"], environ={})
    assert cfg.risk.max_position_weight is None


def cli(data_dir: Path, *args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QC__")}
    env["QC__PATHS__DATA_DIR"] = str(data_dir)
    head = [sys.executable, "-c", script] if script else [sys.executable, "run_backtest.py"]
    return subprocess.run(
        [*head, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


@pytest.mark.parametrize(
    ("args", "key", "flags"),
    [
        (
            ["--set", "backtest.initial_cash=5e5", "--set", "backtest.initial_cash=2e5"],
            "backtest.initial_cash",
            "--set and --set",
        ),
        (
            ["--set", "Backtest.Start=2010-01-04", "--start", "2010-02-01"],
            "backtest.start",
            "--set and --start",
        ),
        (["--set", 'backtest={"end": "2010-06-01"}', "--end", "2010-07-01"], "backtest.end", ""),
        (["--strategy", "momentum", "--set", "strategy.name=sma_cross"], "strategy.name", ""),
        (["--param", "lookback=60", "--set", "strategy.params.lookback=90"], "lookback", ""),
    ],
)
def test_a_key_given_twice_on_one_command_line_is_refused(
    tmp_path: Path, args: list[str], key: str, flags: str
) -> None:
    result = cli(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert f"{key} is given twice on the command line ({flags}" in result.stderr
    assert "Traceback" not in result.stderr


def test_infinite_cash_on_the_command_line_exits_2_not_3(tmp_path: Path) -> None:
    result = cli(tmp_path, "--set", "backtest.initial_cash=Infinity")
    assert result.returncode == 2, result.stderr
    assert "backtest.initial_cash = inf" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bt")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QC__")}
    env["QC__PATHS__DATA_DIR"] = str(root)
    subprocess.run(
        [sys.executable, "run_data_sync.py"],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )
    return root


# The entry point with the engine replaced by one that ends the process with code 97: a run
# that reaches the engine is found out.
ENGINE_TRAP = """
import sys

import quant_core.backtest.run as run
import run_backtest


def trap(*args, **kwargs):
    raise SystemExit(97)


run.run_engine = trap
sys.exit(run_backtest.main(sys.argv[1:]))
"""


def test_unknown_benchmark_symbol_is_refused_before_the_run(data_dir: Path) -> None:
    result = cli(data_dir, "--set", "backtest.benchmark=NOSUCH", script=ENGINE_TRAP)
    assert result.returncode == 2, result.stderr  # was 97: found only after the whole run
    assert "backtest.benchmark: no symbol 'NOSUCH' in the data" in result.stderr


def test_a_known_benchmark_symbol_reaches_the_engine(data_dir: Path) -> None:
    result = cli(data_dir, "--set", "backtest.benchmark=AAPL", script=ENGINE_TRAP)
    assert result.returncode == 97, result.stderr
