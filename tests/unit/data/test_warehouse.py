from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quant_core.data.warehouse import BAR_COLUMNS, DatasetMeta, Warehouse
from quant_core.errors import ConfigError, DataError
from tests.factories import META, bars


def test_round_trip(warehouse: Warehouse, calendar) -> None:
    frame = bars(calendar)

    result = warehouse.write_bars("t", frame, META)
    back = warehouse.read_bars("t")

    assert result.rows_written == 10
    assert result.rows_replaced == 0
    assert list(back.columns) == list(BAR_COLUMNS)
    pd.testing.assert_frame_equal(
        back.reset_index(drop=True),
        frame.sort_values(["symbol", "date"]).reset_index(drop=True).astype(back.dtypes.to_dict()),
    )
    assert warehouse.datasets() == ["t"]
    assert warehouse.meta("t") == META


def test_resync_is_idempotent(warehouse: Warehouse, calendar) -> None:
    frame = bars(calendar)
    warehouse.write_bars("t", frame, META)

    before = warehouse.read_bars("t")

    again = warehouse.write_bars("t", frame)

    assert again.rows_replaced == len(frame)
    pd.testing.assert_frame_equal(warehouse.read_bars("t"), before)


def test_overlap_upserts_newest_wins(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar, sessions=5), META)
    newer = bars(calendar, start="2010-01-07", sessions=5, price=20.0)  # 2 sessions overlap

    result = warehouse.write_bars("t", newer)
    back = warehouse.read_bars("t", symbols=["AAA"])

    assert result.rows_replaced == 4
    assert len(back) == 8  # 5 + 5 - 2 overlapping sessions
    overlap = back[back["date"] == pd.Timestamp("2010-01-07")]
    assert overlap["close"].item() == pytest.approx(20.0)


def test_upsert_across_year_partitions(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar, start="2009-12-28", sessions=8), META)
    warehouse.write_bars("t", bars(calendar, start="2009-12-31", sessions=2, price=50.0))

    back = warehouse.read_bars("t", symbols=["BBB"])

    assert len(back) == 8
    assert back["date"].dt.year.unique().tolist() == [2009, 2010]
    assert back.loc[back["date"] == pd.Timestamp("2009-12-31"), "close"].item() == pytest.approx(
        51.0
    )
    files = sorted(p.name for p in (warehouse.root / "t" / "bars").iterdir())
    assert len(files) == 2  # replaced partition files are removed


def test_read_filters(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar, symbols=("AAA", "BBB", "CCC"), sessions=10), META)

    out = warehouse.read_bars(
        "t",
        symbols=["CCC", "AAA"],
        start=dt.date(2010, 1, 6),
        end=dt.date(2010, 1, 8),
        fields=["close"],
    )

    assert list(out.columns) == ["date", "symbol", "close"]
    assert out["symbol"].tolist() == ["AAA"] * 3 + ["CCC"] * 3
    assert out["date"].min() == pd.Timestamp("2010-01-06")
    assert out["date"].max() == pd.Timestamp("2010-01-08")


def test_panel_is_dates_by_symbols_with_nan_for_missing(warehouse: Warehouse, calendar) -> None:
    frame = bars(calendar, symbols=("BBB", "AAA"), sessions=4)
    frame = frame.drop(
        frame.index[(frame["symbol"] == "BBB") & (frame["date"] == pd.Timestamp("2010-01-06"))]
    )
    warehouse.write_bars("t", frame, META)

    panel = warehouse.panel("t", "close")

    assert list(panel.columns) == ["AAA", "BBB"]
    assert panel.index.name == "date"
    assert isinstance(panel.index, pd.DatetimeIndex)
    assert panel.shape == (4, 2)
    assert panel["BBB"].isna().tolist() == [False, False, True, False]
    expected = frame.pivot(index="date", columns="symbol", values="close")
    np.testing.assert_allclose(panel.to_numpy(), expected.to_numpy(), equal_nan=True)


def test_panel_of_empty_selection(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar), META)
    assert warehouse.panel("t", symbols=["ZZZ"]).empty


def test_coverage_counts_missing_sessions(warehouse: Warehouse, calendar) -> None:
    frame = bars(calendar, sessions=6)
    frame = frame.drop(
        frame.index[(frame["symbol"] == "AAA") & (frame["date"] == pd.Timestamp("2010-01-06"))]
    )
    warehouse.write_bars("t", frame, META)

    coverage = warehouse.coverage("t", calendar).set_index("symbol")

    assert coverage.loc["AAA", "rows"] == 5
    assert coverage.loc["AAA", "missing_sessions"] == 1
    assert coverage.loc["BBB", "missing_sessions"] == 0
    assert coverage.loc["AAA", "first_date"] == pd.Timestamp("2010-01-04")
    assert coverage.loc["AAA", "last_date"] == pd.Timestamp("2010-01-11")


def test_unknown_dataset_lists_present_ones(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("real", bars(calendar), META)
    with pytest.raises(DataError, match=r"no dataset 'nope'.*present: real"):
        warehouse.read_bars("nope")


def test_dataset_name_is_checked(warehouse: Warehouse, calendar) -> None:
    with pytest.raises(ConfigError, match="invalid dataset name"):
        warehouse.write_bars("../escape", bars(calendar), META)


def test_new_dataset_needs_meta(warehouse: Warehouse, calendar) -> None:
    with pytest.raises(DataError, match="describe it"):
        warehouse.write_bars("t", bars(calendar))


def test_duplicate_keys_are_refused(warehouse: Warehouse, calendar) -> None:
    frame = bars(calendar)
    with pytest.raises(DataError, match="duplicate"):
        warehouse.write_bars("t", pd.concat([frame, frame.iloc[:1]]), META)


def test_unknown_field_is_refused(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar), META)
    with pytest.raises(ConfigError, match="unknown bar field"):
        warehouse.panel("t", "vwap")


def test_orphans_of_a_crashed_writer_are_removed(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar), META)
    orphan = warehouse.root / "t" / "bars" / "2010-deadbeef.parquet"
    orphan.write_bytes(b"half a file")

    warehouse.write_bars("t", bars(calendar))

    assert not orphan.exists()
    assert len(warehouse.read_bars("t")) == 10


def test_manifest_is_the_source_of_truth(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar), META)
    manifest = json.loads((warehouse.root / "t" / "manifest.json").read_text())
    assert manifest["version"] == 1
    assert list(manifest["partitions"]) == ["2010"]
    assert manifest["meta"]["label"] == "test bars"


def reference_row(symbol: str = "AAA", sector: str = "Tech") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": [symbol],
            "name": ["A Corp"],
            "sector": [sector],
            "industry": ["Unknown"],
            "source": ["test"],
            "delisted": [dt.date(2010, 1, 8)],
        }
    )


def test_symbols_metadata(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar), META)
    warehouse.write_symbols("t", reference_row())
    assert warehouse.symbols("t").to_dict("records") == [
        {
            "symbol": "AAA",
            "name": "A Corp",
            "sector": "Tech",
            "industry": "Unknown",
            "source": "test",
            "delisted": dt.date(2010, 1, 8),
        }
    ]


def test_a_reference_function_is_given_the_table_stored_under_the_lock(
    warehouse: Warehouse, calendar
) -> None:
    seen: list[pd.DataFrame | None] = []

    def keep_and_add(stored: pd.DataFrame | None) -> pd.DataFrame:
        seen.append(stored)
        rows = [reference_row("BBB", "Energy")]
        return pd.concat([stored, *rows] if stored is not None else rows, ignore_index=True)

    # A new dataset: nothing stored, the function is given None.
    warehouse.write_bars("t", bars(calendar, symbols=("BBB",)), META, symbols=keep_and_add)
    assert seen == [None]
    warehouse.write_symbols("t", reference_row("AAA", "Tech"))

    warehouse.write_bars("t", bars(calendar, symbols=("BBB",)), symbols=keep_and_add)
    assert len(seen) == 2  # called once a write
    assert seen[1] is not None
    assert list(seen[1]["symbol"]) == ["AAA"]
    table = warehouse.symbols("t").set_index("symbol")
    assert table.loc[["AAA", "BBB"], "sector"].tolist() == ["Tech", "Energy"]

    # replace=True: the stored table too; the caller keeps the rows it keeps (a sync: those of
    # the symbols with bars, so that a --replace does not turn their sectors Unknown).
    def keep_bbb(stored: pd.DataFrame | None) -> pd.DataFrame:
        seen.append(stored)
        assert stored is not None
        return stored[stored["symbol"] == "BBB"]

    warehouse.write_bars(
        "t", bars(calendar, symbols=("BBB",)), META, replace=True, symbols=keep_bbb
    )
    assert seen[2] is not None
    assert sorted(seen[2]["symbol"]) == ["AAA", "BBB"]
    assert warehouse.symbols("t").set_index("symbol")["sector"].to_dict() == {"BBB": "Energy"}


def test_a_reference_function_that_fails_writes_nothing(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar, symbols=("AAA",), sessions=3), META)
    before = json.loads((warehouse.root / "t" / "manifest.json").read_text())
    files = sorted(p.name for p in (warehouse.root / "t").iterdir())

    def refuse(stored: pd.DataFrame | None) -> pd.DataFrame:
        raise DataError("reference: a bad row")

    with pytest.raises(DataError, match="a bad row"):
        warehouse.write_bars("t", bars(calendar, symbols=("AAA", "BBB")), symbols=refuse)
    assert json.loads((warehouse.root / "t" / "manifest.json").read_text()) == before
    assert sorted(p.name for p in (warehouse.root / "t").iterdir()) == files
    assert list(warehouse.read_bars("t")["symbol"].unique()) == ["AAA"]


def test_synthetic_flag_is_stored(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars(
        "s", bars(calendar), DatasetMeta("SYNTHETIC x", "synthetic", synthetic=True)
    )
    assert warehouse.meta("s").synthetic is True


def test_readers_never_fail_while_a_writer_replaces_partitions(
    warehouse: Warehouse, calendar
) -> None:
    frame = bars(calendar, symbols=tuple(f"S{i:03d}" for i in range(50)), sessions=40)
    warehouse.write_bars("t", frame, META)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_loop() -> None:
        while not stop.is_set():
            try:
                assert warehouse.panel("t").shape == (40, 50)
            except BaseException as exc:
                errors.append(exc)
                return

    reader = threading.Thread(target=read_loop)
    reader.start()
    for _ in range(15):
        warehouse.write_bars("t", frame)
    stop.set()
    reader.join()

    assert errors == []


def test_a_partition_missing_from_an_unchanged_manifest_fails_at_once(
    warehouse: Warehouse, calendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retrying is for a writer that replaced the file (the manifest changed); a file gone from
    # a manifest nobody rewrote is an error, raised without 50 scans first.
    from quant_core.data.store import DatasetStore

    warehouse.write_bars("t", bars(calendar), META)
    partitions = warehouse.store.load("t", required=True).partitions
    (warehouse.store.folder("t") / next(iter(partitions.values()))).unlink()
    scans: list[int] = []
    real = DatasetStore._scan

    def counted(*args: Any, **kwargs: Any) -> Any:
        scans.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(DatasetStore, "_scan", counted)
    # A DataError naming the file and how to write it again, not DuckDB's own (exit 3).
    missing = next(iter(partitions.values()))
    with pytest.raises(DataError, match=rf"bars of 't'.*{missing}.*run_data_sync.py --replace"):
        warehouse.panel("t")
    assert len(scans) == 1


def test_empty_warehouse(tmp_path: Path) -> None:
    assert Warehouse(tmp_path / "none").datasets() == []


def test_another_source_is_refused_not_mixed(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("real", bars(calendar), DatasetMeta("real data", "sample:x"))
    synthetic = DatasetMeta("SYNTHETIC", "synthetic:seed=1", synthetic=True)

    with pytest.raises(
        DataError, match=r"holds sample:x data; writing synthetic:seed=1 .*--replace"
    ):
        warehouse.write_bars("real", bars(calendar, price=99.0), synthetic)

    assert warehouse.read_bars("real")["close"].max() < 20
    assert warehouse.meta("real").synthetic is False


def test_replace_rebuilds_the_dataset_atomically(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("d", bars(calendar, start="2009-12-28", sessions=8), META)
    other = DatasetMeta("other", "csv")

    result = warehouse.write_bars(
        "d", bars(calendar, symbols=("ZZZ",), sessions=2), other, replace=True
    )

    back = warehouse.read_bars("d")
    assert back["symbol"].unique().tolist() == ["ZZZ"]
    assert len(back) == 2
    assert result.rows_replaced == 0
    assert warehouse.meta("d") == other
    assert len(list((warehouse.root / "d" / "bars").iterdir())) == 1  # the 2009 file is gone too


def test_paths_with_quotes_are_safe(tmp_path: Path, calendar) -> None:
    warehouse = Warehouse(tmp_path / "o'brien's data" / "warehouse")
    warehouse.write_bars("t", bars(calendar), META)
    warehouse.write_bars("t", bars(calendar, price=11.0))
    warehouse.write_symbols("t", reference_row())
    assert len(warehouse.read_bars("t")) == 10
    assert warehouse.symbols("t")["symbol"].tolist() == ["AAA"]


def test_stray_temporary_and_symbol_files_are_cleaned(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar), META)
    folder = warehouse.root / "t"
    leftovers = [folder / ".manifest.json.abc.tmp", folder / "symbols-dead.parquet"]
    for path in leftovers:
        path.write_bytes(b"x")

    warehouse.write_bars("t", bars(calendar))

    assert not any(path.exists() for path in leftovers)


def _factor(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[:, ["date", "symbol"]].assign(value=frame["close"] / 10)


def test_factors_survive_appends_but_not_changed_bars(warehouse: Warehouse, calendar) -> None:
    warehouse.write_bars("t", bars(calendar, sessions=5), META)
    warehouse.factor_store.write("t", "f_2", _factor(bars(calendar, sessions=5)))
    assert warehouse.factor_store.last_date("t", "f_2") == dt.date(2010, 1, 8)

    warehouse.write_bars("t", bars(calendar, start="2010-01-11", sessions=3))  # append only
    assert warehouse.factor_store.names("t") == ["f_2"]
    warehouse.write_bars("t", bars(calendar, sessions=5))  # the same rows again
    assert warehouse.factor_store.names("t") == ["f_2"]

    warehouse.write_bars("t", bars(calendar, start="2010-01-12", sessions=1, price=50.0))
    assert warehouse.factor_store.names("t") == []
    assert not list((warehouse.root / "t" / "factors").rglob("*.parquet"))


def test_panels_are_the_fields_and_reference_data_of_one_version(
    warehouse: Warehouse, calendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = bars(calendar, symbols=("AAA", "BBB", "CCC"), sessions=30)
    warehouse.write_bars("t", frame, META)
    reference = pd.DataFrame(
        {"symbol": ["AAA", "BBB", "CCC"], "sector": ["Energy", "Utilities", "Energy"]}
    )
    reference = reference.assign(name="n", industry="i", source="s", delisted=None)
    warehouse.write_symbols("t", reference)
    fields = ("open", "close", "volume")
    version, frames, symbols = warehouse.panels("t", fields)
    assert version == warehouse.bars_version("t")
    for field in fields:
        pd.testing.assert_frame_equal(frames[field], warehouse.panel("t", field))
    pd.testing.assert_frame_equal(symbols, warehouse.symbols("t"))
    # One manifest read for all of it: a write landing after it changes none of what it gives.
    reads: list[int] = []
    real = warehouse.store.load

    def counted(dataset: str, *, required: bool) -> Any:
        reads.append(1)
        return real(dataset, required=required)

    monkeypatch.setattr(warehouse.store, "load", counted)
    warehouse.panels("t", fields)
    assert len(reads) == 1
    with pytest.raises(ConfigError, match=r"unknown bar field\(s\) \['nope'\]"):
        warehouse.panels("t", ("close", "nope"))
