"""The CSV source's optional reference file: one row per symbol (``--reference symbols.csv``).

Columns, matched case-insensitively (``ticker`` is read as ``symbol``): ``symbol`` (required),
``name``, ``sector``, ``industry`` and ``delisted`` (optional columns; ``YYYY-MM-DD`` or
``YYYYMMDD``, blank where the symbol is listed). Any other column is refused by name. A blank
sector or industry reads ``Unknown``, and so does every new symbol of the bars the file leaves
out; a symbol the dataset already holds keeps its stored row unless the file gives it one, and
the file's rows for symbols neither synced nor stored are named in the sync's notes.

A row that cannot be used (wrong number of fields, a symbol that breaks the symbol rule, a
delisting that is not a date, a symbol given twice) is left out and reported with its file and
line in the sync's issues file, never dropped silently::

    symbol,name,sector,industry,delisted
    AAPL,Apple Inc.,Information Technology,Computer Hardware,
    ACS,Affiliated Computer Services,Information Technology,IT Services,2010-02-08
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import logging
import re
from pathlib import Path

import pandas as pd

from quant_core.data.sources.csv_text import csv_rows, header_of, malformed, numbered
from quant_core.data.symbol_rule import SYMBOL_RULE, is_valid_symbol, normalize_symbol
from quant_core.errors import DataError

logger = logging.getLogger(__name__)

COLUMNS = ("symbol", "name", "sector", "industry", "delisted")
ALIASES = {"ticker": "symbol"}
MALFORMED_COLUMNS = ["_source", "_line", "detail"]


def read_reference(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the usable rows of a reference file, and one row per line left out.

    Returns
    -------
    rows
        ``symbol, name, sector, industry, delisted, source`` (``source`` names the file).
    bad
        ``_source, _line, detail``: each line that could not be used, and why.

    Raises
    ------
    DataError
        The file is missing, empty or unreadable, lacks a ``symbol`` column, or has a column
        that is unknown or repeated.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise DataError(f"{path}: no such reference file")
    try:
        header, records = _records(path)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as a UTF-8 CSV file ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    names = _columns(path, header)
    rows: list[dict[str, object]] = []
    bad: list[dict[str, object]] = []
    first_line: dict[str, int] = {}
    for line, last, record in records:
        if len(record) != len(header) or last != line:
            bad += [
                _bad(path, n, why) for n, why in malformed(line, last, len(record), len(header))
            ]
            continue
        row: dict[str, object] = {n: v.strip() for n, v in zip(names, record, strict=True)}
        problem = _problem(row, first_line)
        if problem:
            bad.append(_bad(path, line, problem))
            continue
        symbol = str(row["symbol"])
        first_line[symbol] = line
        row["symbol"] = symbol
        row["delisted"] = _parse_date(str(row.get("delisted", "")))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(names), dtype=object)
    frame["source"] = f"csv reference {path}"
    for row_bad in bad:
        logger.warning("%s line %s: %s", path, row_bad["_line"], row_bad["detail"])
    logger.info("Read reference data of %d symbol(s) from %s", len(frame), path)
    return frame, pd.DataFrame(bad, columns=MALFORMED_COLUMNS)


def _records(path: Path) -> tuple[list[str], list[tuple[int, int, list[str]]]]:
    with csv_rows(path) as (_, reader):
        header = header_of(reader)
        if header is None:
            raise DataError(f"{path}: the reference file is empty")
        return header, list(numbered(reader))


def _columns(path: Path, header: list[str]) -> list[str]:
    names = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    unknown = [h for h, n in zip(header, names, strict=True) if n not in COLUMNS]
    if unknown:
        raise DataError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; a reference file has "
            f"the columns {', '.join(COLUMNS)} (symbol required, the others optional)"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{path}: column(s) {', '.join(repeated)} appear more than once")
    if "symbol" not in names:
        raise DataError(f"{path}: no symbol column; found {', '.join(header)}")
    return names


def _problem(row: dict[str, object], first_line: dict[str, int]) -> str | None:
    symbol = normalize_symbol(str(row["symbol"]))
    row["symbol"] = symbol
    if not symbol:
        return "the symbol is empty"
    if not is_valid_symbol(symbol):
        return f"symbol {symbol!r} is not {SYMBOL_RULE}"
    if symbol in first_line:
        return f"symbol {symbol} was already given on line {first_line[symbol]}"
    delisted = str(row.get("delisted", ""))
    if delisted and _parse_date(delisted) is None:
        return f"delisted {delisted!r} (symbol {symbol}) is not a date (YYYY-MM-DD or YYYYMMDD)"
    return None


def _parse_date(text: str) -> dt.date | None:
    # strptime reads "201012" as 2010-01-02: the compact form must have its eight digits.
    if not re.fullmatch(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{8}", text):  # ASCII digits only
        return None
    for pattern in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, pattern).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    return None


def _bad(path: Path, line: int, detail: str) -> dict[str, object]:
    return {"_source": str(path), "_line": line, "detail": f"reference file: {detail}"}
