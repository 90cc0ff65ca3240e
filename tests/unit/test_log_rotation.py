"""worker.log as cli.prepare sets it up: rotated at live.log_max_mb, log_backups kept, redacted."""

from __future__ import annotations

import logging
import logging.handlers
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from quant_core import cli
from quant_core.live.files import WORKER_LOG

SECRET = "scrypt$16384$8$1$c2FsdHNhbHQ$rotation-test-secret-value"  # noqa: S105 - a test value


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("QC__"):
            monkeypatch.delenv(key)
    root, ours = logging.getLogger(), logging.getLogger("quant_core")
    handlers, root_level, our_level = root.handlers[:], root.level, ours.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(root_level)
    ours.setLevel(our_level)


def _prepare(data_dir: Path, *overrides: str) -> Path:
    cli.prepare(
        "live",
        [f"paths.data_dir={data_dir}", *overrides],
        log_file=lambda cfg: cfg.paths.data_dir / "live" / WORKER_LOG,
    )
    return data_dir / "live" / WORKER_LOG


def _rotating_handler() -> logging.handlers.RotatingFileHandler:
    (handler,) = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.handlers.RotatingFileHandler)
    ]
    return handler


def test_worker_log_rotates_at_the_configured_size_and_keeps_n_backups(tmp_path: Path) -> None:
    log = _prepare(tmp_path, "live.log_max_mb=0.004", "live.log_backups=3")
    handler = _rotating_handler()
    assert handler.maxBytes == 4000
    assert handler.backupCount == 3
    writer = logging.getLogger("quant_core.live.worker")
    for i in range(400):  # about 40 kB of records: ten files' worth
        writer.info("heartbeat %04d %s", i, "x" * 40)
    handler.flush()
    names = sorted(p.name for p in log.parent.iterdir())
    assert names == [WORKER_LOG, f"{WORKER_LOG}.1", f"{WORKER_LOG}.2", f"{WORKER_LOG}.3"]
    for path in log.parent.iterdir():
        assert path.stat().st_size <= 4000
    # The newest records are in worker.log, the older ones in .1, .2, .3; the oldest are gone.
    assert "heartbeat 0399" in log.read_text()
    kept = "".join((log.parent / n).read_text() for n in names)
    assert "heartbeat 0000" not in kept
    numbers = [int(line.split("heartbeat ")[1][:4]) for line in kept.splitlines()]
    assert len(numbers) > 100
    last = (log.parent / f"{WORKER_LOG}.1").read_text().splitlines()[-1]
    first_now = log.read_text().splitlines()[0]
    assert int(first_now.split("heartbeat ")[1][:4]) == int(last.split("heartbeat ")[1][:4]) + 1


def test_the_defaults_are_10_mb_and_5_backups(tmp_path: Path) -> None:
    _prepare(tmp_path)
    handler = _rotating_handler()
    assert (handler.maxBytes, handler.backupCount) == (10_000_000, 5)


def test_the_rotating_log_still_redacts_secrets(tmp_path: Path) -> None:
    log = _prepare(
        tmp_path, "live.log_max_mb=0.002", "live.log_backups=2", f"cockpit.password_hash={SECRET}"
    )
    writer = logging.getLogger("quant_core.live.worker")
    for i in range(100):  # across rotations too
        writer.warning("leaked by mistake %d: %s", i, SECRET)
    _rotating_handler().flush()
    texts = [p.read_text() for p in log.parent.iterdir()]
    assert len(texts) == 3
    assert all("leaked by mistake" in t and "***" in t for t in texts)
    assert not any(SECRET in t or "rotation-test-secret" in t for t in texts)
