"""The version of a dataset's bars: moved by bars and reference data, not by factors or logs.

A sweep's id, a sweep worker's panels and the live worker's reload are keyed by it, so storing a
factor (a ``--fit``'s composite, ``run_factor_computation.py``) or recording a sync that wrote
nothing does not make a finished sweep run again or a worker read its panels again.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from quant_core.data.warehouse import Warehouse
from tests.factories import META, bars


def _factor(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[:, ["date", "symbol"]].assign(value=frame["close"] / 10)


def _versions(warehouse: Warehouse) -> tuple[int, int]:
    return warehouse.version("t"), warehouse.bars_version("t")


def test_bars_and_reference_data_move_it_factors_and_sync_logs_do_not(
    warehouse: Warehouse, calendar
) -> None:
    warehouse.write_bars("t", bars(calendar, sessions=5), META)
    assert _versions(warehouse) == (1, 1)

    warehouse.factor_store.write("t", "f_2", _factor(bars(calendar, sessions=5)))
    assert _versions(warehouse) == (2, 1)
    warehouse.sync_log.record("t", {"sync_id": "s1", "rows_written": 0})
    assert _versions(warehouse) == (3, 1)

    warehouse.write_bars("t", bars(calendar, start="2010-01-11", sessions=3))  # new sessions
    assert _versions(warehouse) == (4, 4)
    warehouse.factor_store.write("t", "f_3", _factor(bars(calendar, sessions=5)))
    assert _versions(warehouse) == (5, 4)

    reference = pd.DataFrame(
        {
            "symbol": ["AAA", "BBB"],
            "name": ["A Inc", "B Inc"],
            "sector": ["Energy", "Utilities"],
            "industry": ["Oil", "Power"],
            "source": ["test", "test"],
            "delisted": [None, None],
        }
    )
    warehouse.write_symbols("t", reference)
    assert _versions(warehouse) == (6, 6)


def test_a_manifest_written_before_it_existed_reads_it_as_its_version(
    warehouse: Warehouse, calendar
) -> None:
    warehouse.write_bars("t", bars(calendar, sessions=5), META)
    warehouse.factor_store.write("t", "f_2", _factor(bars(calendar, sessions=5)))
    path = warehouse.root / "t" / "manifest.json"
    raw = json.loads(path.read_text())
    del raw["bars_version"]  # as an older release wrote it
    path.write_text(json.dumps(raw))
    assert _versions(warehouse) == (2, 2)  # unknown: every change counted

    warehouse.factor_store.write("t", "f_3", _factor(bars(calendar, sessions=5)))
    assert _versions(warehouse) == (3, 2)
    assert json.loads(path.read_text())["bars_version"] == 2


def test_an_unknown_dataset_is_named(warehouse: Warehouse) -> None:
    with pytest.raises(Exception, match="no dataset 'nope'"):
        warehouse.bars_version("nope")


def _reference(sector: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": ["AAA", "BBB"],
            "name": ["A Inc", "B Inc"],
            "sector": [sector, "Utilities"],
            "industry": ["Oil", "Power"],
            "source": ["test", "test"],
            "delisted": [None, None],
        }
    )


def test_the_same_bars_and_reference_data_again_keep_their_files(
    warehouse: Warehouse, calendar
) -> None:
    # A sync that fetched nothing new rewrote the year's partition and the reference file under
    # new names: bars_version moved, and every finished sweep on the dataset ran again.
    frame = bars(calendar, sessions=5)
    same = lambda stored: _reference("Energy")  # noqa: E731 - the sync's reference function
    warehouse.write_bars("t", frame, META, symbols=same)
    path = warehouse.root / "t" / "manifest.json"
    before = json.loads(path.read_text())

    again = warehouse.write_bars("t", frame.sample(frac=1.0, random_state=3), symbols=same)

    after = json.loads(path.read_text())
    assert again.rows_replaced == len(frame)
    assert after["version"] == before["version"] + 1
    assert after["bars_version"] == before["bars_version"]
    assert (after["partitions"], after["symbols_file"]) == (
        before["partitions"],
        before["symbols_file"],
    )
    files = {p.name for p in (warehouse.root / "t").rglob("*.parquet")}
    assert files == {
        *(n.split("/")[-1] for n in before["partitions"].values()),
        before["symbols_file"],
    }  # the files written for nothing were removed

    changed = frame.copy()
    volume = changed["volume"].to_numpy(dtype=float, copy=True)
    volume[0] += 1  # one field of one bar
    changed["volume"] = volume
    warehouse.write_bars("t", changed, symbols=same)
    assert warehouse.bars_version("t") == before["version"] + 2
    warehouse.write_bars("t", frame, symbols=lambda stored: _reference("Materials"))
    moved = json.loads(path.read_text())
    assert moved["bars_version"] == moved["version"]  # the bars changed back, the sector too
    warehouse.write_bars("t", frame, symbols=lambda stored: _reference("Energy"))
    last = json.loads(path.read_text())
    assert last["partitions"] == moved["partitions"]
    assert last["symbols_file"] != moved["symbols_file"]  # the reference data alone changed
    assert last["bars_version"] == last["version"]
