"""The sync log of a dataset: one JSON line per sync, the last one in the manifest, issue files.

``<dataset>/syncs.jsonl`` gets one line per sync (what was written, rejected, repaired); the
manifest keeps the last summary too, so the cockpit reads it without the log, and
``<dataset>/syncs/<sync_id>-issues.csv`` lists every rejected or repaired row of a sync.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from quant_core.data.store_read import StoreReader

logger = logging.getLogger(__name__)


class SyncLog:
    """The record of the syncs into the datasets of a :class:`StoreReader`.

    Parameters
    ----------
    store
        The datasets the syncs wrote to.
    """

    def __init__(self, store: StoreReader) -> None:
        self.store = store

    def record(self, dataset: str, summary: dict[str, Any]) -> None:
        """Append ``summary`` to the sync log and store it as the dataset's last sync."""
        with self.store.lock(dataset):
            log = self.store.folder(dataset) / "syncs.jsonl"
            with log.open("a+b") as handle:
                # A writer killed mid-line left a torn last line: end it, so ours stands apart.
                torn = False
                if handle.seek(0, os.SEEK_END) > 0:
                    handle.seek(-1, os.SEEK_END)
                    torn = handle.read(1) != b"\n"
                line = json.dumps(summary, sort_keys=True, default=str) + "\n"
                handle.write((("\n" if torn else "") + line).encode("utf-8"))
            manifest = self.store.load(dataset, required=True)
            manifest.last_sync = summary
            self.store.commit(dataset, manifest)

    def entries(self, dataset: str) -> list[dict[str, Any]]:
        """Return every recorded sync summary of ``dataset``, oldest first.

        A published warehouse carries the last one only (in its manifest), not the log file.
        """
        if self.store.remote:
            last = self.last(dataset)
            return [last] if last else []
        path = self.store.folder(dataset) / "syncs.jsonl"
        if not path.is_file():
            return []
        entries = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning(
                    "%s line %d: not a whole sync record (a sync killed while logging?); skipped",
                    path,
                    number,
                )
        return entries

    def last(self, dataset: str) -> dict[str, Any] | None:
        """Return the summary of the last sync into ``dataset``, if any."""
        return self.store.load(dataset, required=True).last_sync

    def issues_dir(self, dataset: str) -> Path:
        """Return the folder where syncs write their rejected/repaired rows."""
        return self.store.folder(dataset) / "syncs"
