"""Reading a CSV file, plain or gzip, as the csv module's rows: one opener for every CSV reader.

The csv module keeps exact line numbers (``reader.line_num``), so each reader can report a bad
row by file and line; ``utf-8-sig`` drops a byte-order mark a spreadsheet may have written.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


@contextmanager
def csv_rows(path: Path) -> Iterator[tuple[BinaryIO, Any]]:
    """Yield the raw file (its ``tell()`` is the bytes read, for progress) and a ``csv.reader``.

    A ``.gz`` file is read through gzip; both are closed on exit.
    """
    with path.open("rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
        yield raw, csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
