"""Run ids and config digests keep the shapes stored files and the cockpit rely on."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

from quant_core.runs import config_digest, new_run_id

NOW = dt.datetime(2024, 1, 5, 14, 30, 7, tzinfo=dt.UTC)


def test_a_plain_run_id_is_the_utc_second_and_six_hex_digits() -> None:
    run_id = new_run_id(NOW)
    assert re.fullmatch(r"20240105T143007Z-[0-9a-f]{6}", run_id)


def test_a_backtest_run_id_carries_its_parts_and_four_hex_digits() -> None:
    run_id = new_run_id(NOW, "momentum", "1a2b3c4d", random_hex=4)
    assert re.fullmatch(r"20240105T143007Z-momentum-1a2b3c4d-[0-9a-f]{4}", run_id)


def test_run_ids_of_the_same_second_differ() -> None:
    assert len({new_run_id(NOW) for _ in range(50)}) == 50


def test_the_time_is_written_as_given() -> None:
    local = NOW.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert new_run_id(local).startswith("20240105T163007Z-")


def test_config_digest_is_sha256_of_sorted_json() -> None:
    config = {"b": 1, "a": {"y": [1, 2], "x": dt.date(2010, 1, 4)}}
    text = json.dumps(config, sort_keys=True, default=str)
    assert config_digest(config) == hashlib.sha256(text.encode()).hexdigest()


def test_config_digest_ignores_key_order_and_sees_values() -> None:
    assert config_digest({"a": 1, "b": 2}) == config_digest({"b": 2, "a": 1})
    assert config_digest({"a": 1}) != config_digest({"a": 2})
    assert len(config_digest({})) == 64
