"""A sweep worker's panel load from object storage against the same load from a local folder.

The sweep benchmark's panel (500 symbols x 5,000 sessions, seed 42) is written to a local
warehouse, published to a real S3 server on 127.0.0.1 (moto's: the S3 HTTP API, no network
between them, so the figures are DuckDB's httpfs and the S3 protocol, not a link's bandwidth),
and loaded both ways as a worker loads it (``load_market``: every bar field and the sectors).
The two loads are checked equal, to the bit, before their times are compared.

    python -m benchmarks.remote [--symbols 500] [--sessions 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs

from benchmarks.sweep_setup import DATASET, write_panel
from quant_core.backtest.run import load_market
from quant_core.data.panels import MarketData
from quant_core.data.publish import publish
from quant_core.data.store import DatasetStore
from quant_core.data.warehouse import Warehouse


def _timed(load: Callable[[], MarketData], repeat: int) -> tuple[float, MarketData]:
    times, data = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        data = load()
        times.append(time.perf_counter() - started)
    assert data is not None
    return statistics.median(times), data


def _same(a: MarketData, b: MarketData) -> None:
    assert np.array_equal(a.dates, b.dates)
    assert np.array_equal(a.symbols, b.symbols)
    for field, panel in a.panels.items():
        assert np.array_equal(panel, b.panels[field], equal_nan=True), field
    assert a.sectors is not None
    assert b.sectors is not None
    assert np.array_equal(a.sectors, b.sectors)


def main() -> None:
    """Print the local and the S3 load times of the benchmark panel, checked equal first."""
    from moto.server import ThreadedMotoServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            print(f"wrote the panel in {write_panel(root, args.symbols, args.sessions):.2f} s")
            pafs.S3FileSystem(
                access_key="bench",
                secret_key="bench-secret",
                endpoint_override=f"http://{host}:{port}",
                region="us-east-1",
                allow_bucket_creation=True,
            ).create_dir("bench")
            local = Warehouse(root / "warehouse")
            assert isinstance(local.store, DatasetStore)
            started = time.perf_counter()
            done = publish(local.store, DATASET, "s3://bench/warehouse")
            published = time.perf_counter() - started
            size = done.bytes_sent / 2**20
            print(f"published {done.copied} files ({size:.1f} MiB) in {published:.2f} s")
            here, on_disk = _timed(lambda: load_market(local, DATASET), args.repeat)
            remote = Warehouse("s3://bench/warehouse")
            there, from_s3 = _timed(lambda: load_market(remote, DATASET), args.repeat)
            _same(on_disk, from_s3)
            print(f"{'load_market':<24}{'seconds (median)':>18}")
            print(f"{'local folder':<24}{here:>18.3f}")
            print(f"{'S3 (httpfs, 127.0.0.1)':<24}{there:>18.3f}")
            print(f"S3 / local: {there / here:.2f}x; the panels are equal to the bit")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
