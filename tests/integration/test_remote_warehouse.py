"""A warehouse published to object storage and read through DuckDB's httpfs.

The object store is a real S3 server on 127.0.0.1 (moto's, speaking the S3 HTTP API); the web
server is Python's, on 127.0.0.1 too. What is checked:

- a published dataset reads back exactly as the local one: every bar field, the reference
  data, the stored factor values, the versions; over S3 and over plain HTTP;
- publishing again copies only the new files, keeps the previous version's and deletes older
  ones; a publish killed midway leaves the old version readable and, run again, completes;
- a published warehouse is read-only, and a missing dataset is named with the URL;
- ``run_data_sync.py --publish`` and ``run_backtest.py --set paths.warehouse=s3://...`` from
  the command line: the backtest's metrics are those of the local run, and the S3 secret
  appears in no output.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.fs as pafs
import pytest

from quant_core.data.publish import publish, s3_filesystem
from quant_core.data.remote import S3Settings
from quant_core.data.sources.synthetic import generate_bars
from quant_core.data.store import DatasetStore
from quant_core.data.warehouse import BAR_FIELDS, DatasetMeta, Warehouse
from quant_core.errors import DataError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
META = DatasetMeta("synthetic, for the remote warehouse tests", "synthetic", True)
SECRET = "remote-test-secret-Zq81"  # noqa: S105 - a test credential, checked never to be shown


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "remote-test-key",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def bucket(s3_env: dict[str, str], request: pytest.FixtureRequest) -> str:
    name = "wh-" + request.node.name.replace("_", "-")[:40].strip("-").lower()
    pafs.S3FileSystem(
        access_key=s3_env["AWS_ACCESS_KEY_ID"],
        secret_key=SECRET,
        endpoint_override=s3_env["AWS_ENDPOINT_URL"],
        region="us-east-1",
        allow_bucket_creation=True,
    ).create_dir(name)
    return f"s3://{name}/warehouse"


def _local(root: Path, calendar: Any, sessions: int = 300) -> Warehouse:
    warehouse = Warehouse(root / "warehouse")
    bars = generate_bars(calendar, 12, sessions, seed=3, missing_frac=0.02)
    bars["adj_factor"] = 1.0
    bars["flags"] = 0
    symbols = sorted(bars["symbol"].unique())
    sectors = pd.DataFrame(
        {
            "symbol": symbols,
            "name": [f"Company {s}" for s in symbols],
            "sector": ["Energy", "Utilities"] * 6,
            "industry": "Unknown",
            "source": "test",
            "delisted": pd.NaT,
        }
    )
    warehouse.write_bars("d", bars, META, symbols=lambda _stored: sectors)
    closes = warehouse.panel("d", "close")
    stacked = closes.pct_change(5, fill_method=None).stack()
    values = pd.DataFrame(
        {
            "date": stacked.index.get_level_values(0),
            "symbol": stacked.index.get_level_values(1),
            "value": stacked.to_numpy(),
        }
    )
    warehouse.factor_store.write("d", "mom5", values)
    return warehouse


def _assert_same(local: Warehouse, remote: Warehouse) -> None:
    assert remote.datasets() == local.datasets() or remote.location.startswith("http")
    assert remote.bars_version("d") == local.bars_version("d")
    assert remote.version("d") == local.version("d")
    assert remote.meta("d") == local.meta("d")
    for field in BAR_FIELDS:
        pd.testing.assert_frame_equal(remote.panel("d", field), local.panel("d", field))
    pd.testing.assert_frame_equal(remote.symbols("d"), local.symbols("d"))
    pd.testing.assert_frame_equal(
        remote.factor_store.panel("d", "mom5"), local.factor_store.panel("d", "mom5")
    )
    pd.testing.assert_frame_equal(remote.read_bars("d"), local.read_bars("d"))


def _published(bucket: str) -> set[str]:
    """Return the files of dataset ``d`` in the bucket, relative to its folder."""
    fs = s3_filesystem(S3Settings.from_env())
    prefix = bucket[len("s3://") :] + "/d"
    found = fs.get_file_info(pafs.FileSelector(prefix, recursive=True))
    return {i.path[len(prefix) + 1 :] for i in found if i.type == pafs.FileType.File}


def _store(warehouse: Warehouse) -> DatasetStore:
    assert isinstance(warehouse.store, DatasetStore)
    return warehouse.store


def test_a_published_dataset_reads_back_exactly_as_the_local_one(
    tmp_path: Path, calendar: Any, bucket: str
) -> None:
    local = _local(tmp_path, calendar)
    done = publish(_store(local), "d", bucket)
    manifest = local.store.load("d", required=True)
    assert (done.copied, done.present, done.removed) == (len(manifest.files()), 0, 0)
    remote = Warehouse(bucket)
    assert remote.store.remote
    _assert_same(local, remote)
    assert remote.datasets() == ["d"]


def test_publishing_again_copies_what_is_new_keeps_the_last_version_and_drops_older_ones(
    tmp_path: Path, calendar: Any, bucket: str
) -> None:
    local = _local(tmp_path, calendar)
    first = local.store.load("d", required=True).files()
    publish(_store(local), "d", bucket)
    again = publish(_store(local), "d", bucket)
    assert (again.copied, again.present, again.removed) == (0, len(first), 0)

    more = generate_bars(calendar, 12, 400, seed=3, missing_frac=0.02).iloc[-600:]
    more = more.assign(adj_factor=1.0, flags=0, close=more["close"] * 1.01)
    local.write_bars("d", more)  # changes bars: the stored factor is dropped
    second = local.store.load("d", required=True).files()
    done = publish(_store(local), "d", bucket)
    assert done.copied == len(second - first)
    assert done.present == len(second & first)
    assert done.removed == 0  # the previous version's files stay for readers that hold it
    remote = Warehouse(bucket)
    for field in BAR_FIELDS:
        pd.testing.assert_frame_equal(remote.panel("d", field), local.panel("d", field))
    assert remote.factor_store.names("d") == []

    local.write_bars("d", more.assign(close=more["close"] * 1.01))
    third = publish(_store(local), "d", bucket)
    now = local.store.load("d", required=True).files()
    assert third.removed == len(first - second - now)
    assert _published(bucket) == second | now | {"manifest.json"}


def test_a_publish_killed_midway_leaves_the_old_version_and_completes_when_run_again(
    tmp_path: Path, calendar: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = _local(tmp_path, calendar)
    publish(_store(local), "d", bucket)
    before = local.panel("d", "close")
    more = generate_bars(calendar, 12, 400, seed=3, missing_frac=0.0).iloc[-900:]
    local.write_bars("d", more.assign(adj_factor=1.0, flags=0, close=more["close"] * 1.05))
    real, calls = pafs.copy_files, []

    def dies_on_the_second_copy(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("connection reset by peer (simulated)")
        real(*args, **kwargs)

    monkeypatch.setattr(pafs, "copy_files", dies_on_the_second_copy)
    with pytest.raises(DataError, match=r"publishing 'd' to s3://.*connection reset"):
        publish(_store(local), "d", bucket)
    pd.testing.assert_frame_equal(Warehouse(bucket).panel("d", "close"), before)

    monkeypatch.setattr(pafs, "copy_files", real)
    done = publish(_store(local), "d", bucket)
    assert done.present >= 1  # the file copied before the kill is not sent again
    pd.testing.assert_frame_equal(Warehouse(bucket).panel("d", "close"), local.panel("d", "close"))


def test_a_published_warehouse_is_read_only_and_names_what_is_missing(
    tmp_path: Path, calendar: Any, bucket: str
) -> None:
    local = _local(tmp_path, calendar)
    publish(_store(local), "d", bucket)
    remote = Warehouse(bucket)
    bars = local.read_bars("d")
    with pytest.raises(DataError, match=r"warehouse at s3://.*is read-only.*--publish"):
        remote.write_bars("d", bars, META)
    with pytest.raises(DataError, match=r"no dataset 'other' in s3://\S+; present: d"):
        remote.panel("other", "close")
    with pytest.raises(DataError, match="a URL, not a local folder"):
        _ = remote.root


def test_a_warehouse_served_over_http_reads_as_the_local_one(tmp_path: Path, calendar: Any) -> None:
    local = _local(tmp_path, calendar)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(local.root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        remote = Warehouse(url)
        _assert_same(local, remote)
        assert remote.datasets() == []  # HTTP cannot list; a missing dataset says so
        with pytest.raises(DataError, match=rf"no dataset 'nope' in {url}"):
            remote.panel("nope", "close")
    finally:
        server.shutdown()
        server.server_close()


def _cli(script: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_publish_and_backtest_from_the_command_line_match_the_local_run(
    tmp_path: Path, calendar: Any, bucket: str, s3_env: dict[str, str]
) -> None:
    local = _local(tmp_path / "here", calendar, sessions=400)
    here = [f"paths.data_dir={tmp_path / 'here'}", "data.dataset=d"]
    published = _cli("run_data_sync.py", ["--publish", bucket, *_set(here)], s3_env)
    assert published.returncode == 0, published.stderr
    assert f"Published d (version {local.version('d')}) to {bucket}" in published.stdout
    common = ["strategy.params.lookback=20", "strategy.rebalance=10", "data.dataset=d"]
    here = here[:1]
    alone = _cli("run_backtest.py", ["--json", *_set(common + here)], s3_env)
    assert alone.returncode == 0, alone.stderr
    # An empty data dir of its own: the bars can only come from the bucket.
    there = [f"paths.data_dir={tmp_path / 'there'}", f"paths.warehouse={bucket}"]
    remote = _cli("run_backtest.py", ["--json", *_set(common + there)], s3_env)
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout)["metrics"] == json.loads(alone.stdout)["metrics"]
    assert not (tmp_path / "there" / "warehouse").exists()
    for run in (published, alone, remote):
        assert SECRET not in run.stdout + run.stderr


def _set(pairs: list[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


def test_a_sweep_on_two_workers_reads_the_published_warehouse(
    tmp_path: Path, calendar: Any, bucket: str
) -> None:
    from config import load_config
    from config.sweep import SweepConfig, configurations
    from quant_core.atomic import json_safe
    from quant_core.backtest.run import run_backtest
    from quant_core.sweeps.catalogue import Catalogue
    from quant_core.sweeps.runner import run_sweep

    local = _local(tmp_path / "here", calendar, sessions=400)
    publish(_store(local), "d", bucket)

    def loader(*where: str) -> Any:
        return lambda overrides: load_config(
            "backtest", [*overrides, *where, "data.dataset=d"], environ={}
        )

    # The workers (processes of their own, the S3 settings in their environment) and the
    # driver have an empty data dir: the bars can only come from the bucket.
    there = tmp_path / "there"
    remote = loader(f"paths.data_dir={there}", f"paths.warehouse={bucket}")
    spec = SweepConfig(
        name="remote",
        strategy="momentum",
        grid={"lookback": [10, 20], "top_quantile": [0.2, 0.4]},
        set={"strategy.rebalance": 10},
        objective="sharpe",
    )
    done = run_sweep(spec, remote, path="remote", workers=2)
    assert (done.total, done.ran, done.workers) == (4, 4, 2)
    assert not (there / "warehouse").exists()
    catalogue = Catalogue(done.catalogue)
    try:
        frame = catalogue.results(done.sweep_id)
    finally:
        catalogue.close()
    recorded = dict(zip(frame["key"].astype(str), frame["metrics"], strict=True))
    here = loader(f"paths.data_dir={tmp_path / 'here'}")
    for config in configurations(spec):
        alone = run_backtest(here([*config.overrides, f"backtest.start={done.start}"]), store=False)
        assert recorded[config.key] == json_safe(alone.metrics), config.key


def test_a_missing_bucket_or_file_is_a_data_error_naming_the_url(
    tmp_path: Path, calendar: Any, bucket: str, s3_env: dict[str, str]
) -> None:
    with pytest.raises(DataError, match=r"cannot list the datasets of s3://no-such-bucket/wh"):
        Warehouse("s3://no-such-bucket/wh").panel("d", "close")
    local = _local(tmp_path, calendar)
    publish(_store(local), "d", bucket)
    partition = sorted(local.store.load("d", required=True).partitions.values())[0]
    fs = s3_filesystem(S3Settings.from_env())
    fs.delete_file(f"{bucket[len('s3://') :]}/d/{partition}")
    with pytest.raises(DataError, match=rf"cannot read 'd' at {bucket}: .*404"):
        Warehouse(bucket).panel("d", "close")


def test_only_a_404_means_no_dataset_whatever_the_url_holds(tmp_path: Path) -> None:
    class Forbidden(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(403)

        do_HEAD = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/rel404"  # a 404 in the URL itself
        with pytest.raises(DataError, match=rf"cannot read {url}/d/manifest.json: HTTP Error"):
            Warehouse(url).panel("d", "close")
    finally:
        server.shutdown()
        server.server_close()


def test_publish_never_takes_the_published_copy_back_unless_forced(
    tmp_path: Path, calendar: Any, bucket: str
) -> None:
    newer = _local(tmp_path / "newer", calendar)
    newer.write_bars("d", newer.read_bars("d").assign(flags=0, adj_factor=1.0).iloc[:50])
    older = _local(tmp_path / "older", calendar)  # the same version number, other files
    publish(_store(newer), "d", bucket)
    assert newer.version("d") > older.version("d")
    with pytest.raises(DataError, match=r"is at version \d+, newer than the local \d+"):
        publish(_store(older), "d", bucket)
    older.factor_store.write("d", "mom5", pd.DataFrame(columns=["date", "symbol", "value"]))
    while older.version("d") < newer.version("d"):
        older.write_symbols("d", older.symbols("d"))
    assert older.version("d") == newer.version("d")
    with pytest.raises(DataError, match="with other files than the local dataset's"):
        publish(_store(older), "d", bucket)
    done = publish(_store(older), "d", bucket, force=True)
    assert done.version == older.version("d")
    pd.testing.assert_frame_equal(Warehouse(bucket).panel("d", "close"), older.panel("d", "close"))


def test_publishing_the_same_version_twice_deletes_nothing(
    tmp_path: Path, calendar: Any, bucket: str
) -> None:
    local = _local(tmp_path, calendar)
    publish(_store(local), "d", bucket)
    old = local.store.load("d", required=True).files()
    more = generate_bars(calendar, 12, 400, seed=3, missing_frac=0.0).iloc[-600:]
    local.write_bars("d", more.assign(adj_factor=1.0, flags=0))
    publish(_store(local), "d", bucket)
    again = publish(_store(local), "d", bucket)  # the same manifest: a repair, no deletion
    assert again.removed == 0
    assert old <= _published(bucket)  # the previous version's files are still there for its readers


def test_the_published_bucket_served_over_http_lists_its_datasets(
    tmp_path: Path, calendar: Any, bucket: str, s3_endpoint: str
) -> None:
    local = _local(tmp_path, calendar)
    publish(_store(local), "d", bucket)
    # moto answers unsigned GETs: the bucket read as any web server's copy would be.
    over_http = Warehouse(f"{s3_endpoint}/{bucket[len('s3://') :]}")
    assert over_http.datasets() == ["d"]  # datasets.json, kept by --publish
    pd.testing.assert_frame_equal(over_http.panel("d", "close"), local.panel("d", "close"))


def test_writers_refuse_a_published_warehouse_before_they_read_anything(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/wh"  # nothing listens: a refusal must come before any read
    here = ["--set", f"paths.data_dir={tmp_path}", "--set", f"paths.warehouse={url}"]
    synced = _cli("run_data_sync.py", ["--source", "sample", *here], {})
    assert synced.returncode == 2, synced.stderr
    assert f"paths.warehouse={url} is read-only: sync into a local warehouse" in synced.stderr
    factors = _cli("run_factor_computation.py", here, {})
    assert factors.returncode == 2, factors.stderr
    assert "is read-only: compute the factors into a local warehouse" in factors.stderr
    # A fit stored its model, then failed writing the composite (exit 1; a model per retry).
    fitted = _cli("run_factor_computation.py", ["--fit", "research/value_mom.yaml", *here], {})
    assert fitted.returncode == 2, fitted.stderr
    assert "is read-only: fit the model into a local warehouse" in fitted.stderr
    assert not (tmp_path / "models").exists()
    ib = ["--set", "live.refresh=broker", "--set", "live.broker=ib", "--set", "ib.port=9"]
    live = _cli("run_live_strategy.py", [*here, *ib], {})
    assert live.returncode == 2, live.stderr
    assert "live.refresh: broker stores the bars it fetches" in live.stderr
    published = _cli("run_data_sync.py", ["--publish", "s3://bkt//wh", *here[:2]], {})
    assert published.returncode == 2, published.stderr
    assert "no empty path segment" in published.stderr
