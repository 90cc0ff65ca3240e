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

# Fields of any length: an unterminated quote swallows the lines after it into one field, which
# is then reported line by line (:func:`malformed`). Past the csv module's default limit (131,072
# characters) it failed the whole file instead, naming no line.
csv.field_size_limit(2**31 - 1)


@contextmanager
def csv_rows(path: Path) -> Iterator[tuple[BinaryIO, Any]]:
    """Yield the raw file (its ``tell()`` is the bytes read, for progress) and a ``csv.reader``.

    A ``.gz`` file is read through gzip; both are closed on exit.
    """
    with path.open("rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
        yield raw, csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))


def header_of(reader: Any) -> list[str] | None:
    """Return the first non-blank record (blank lines before a header carry nothing), or None."""
    for record in reader:
        if "".join(record).strip():  # a blank line carries nothing
            return list(record)
    return None


def numbered(reader: Any) -> Iterator[tuple[int, int, list[str]]]:
    """Yield ``(first line, last line, fields)`` of each non-blank record after the header.

    A record spans several lines only inside a quoted field: in a bar or reference file that is
    an unterminated quote, whose record swallows the lines after it (:func:`malformed`).
    """
    start = reader.line_num + 1
    for record in reader:
        first, last = start, reader.line_num
        start = last + 1
        if "".join(record).strip():  # a blank line carries nothing
            yield first, last, record


def malformed(first: int, last: int, fields: int, expected: int) -> list[tuple[int, str]]:
    """Return ``(line, detail)`` for each physical line of a record that cannot be a row.

    A record whose quote runs over several lines is reported line by line, so that no line it
    swallowed goes unreported.
    """
    detail = f"{fields} fields where the header has {expected}"
    if last == first:
        return [(first, detail)]
    runs = f"runs to line {last} (an unterminated quote?)"
    opened = f"a quoted field opened on line {first} {runs}"
    head = f"{detail}; {opened}" if fields != expected else opened
    inside = f"inside the quoted field opened on line {first} (it {runs})"
    return [(first, head)] + [(n, inside) for n in range(first + 1, last + 1)]
