"""User CSV files: one long file, or a folder of per-symbol files.

A long file has the columns ``date, symbol, open, high, low, close, volume``; a per-symbol
file (``AAPL.csv``) may leave out ``symbol``, which then comes from the file name. Headers are
matched case-insensitively (``ticker`` is read as ``symbol``); an optional ``adj_close``
(or ``Adj Close``) adjusts prices as in wiki5. Other columns are ignored and named in the
report. Dates are ``YYYY-MM-DD`` or ``YYYYMMDD``. Files may be gzip-compressed (``.csv.gz``).

An optional reference file (``--reference symbols.csv``) gives each symbol's name, sector,
industry and delisting date (:mod:`quant_core.data.sources.csv_reference`).

Every row keeps its file and line number, so a rejected row is reported where it stands. A line
with the wrong number of fields is rejected as ``malformed_line``, never dropped silently.
"""

from __future__ import annotations

import csv
import gzip
import logging
from pathlib import Path

import pandas as pd

from quant_core.data.sources.base import SOURCES, ProgressFn, SourceBatch, SourceRequest
from quant_core.data.sources.csv_reference import read_reference
from quant_core.data.sources.csv_text import csv_rows, header_of, malformed, numbered
from quant_core.data.symbol_rule import SYMBOL_RULE, is_valid_symbol, normalize_symbol
from quant_core.data.warehouse import DatasetMeta
from quant_core.errors import ConfigError, DataError
from quant_core.types import Rule

logger = logging.getLogger(__name__)

REQUIRED = ("date", "symbol", "open", "high", "low", "close", "volume")
ALIASES = {"ticker": "symbol", "adj close": "adj_close", "adjclose": "adj_close"}
OPTIONAL = ("adj_close",)


class CsvSource:
    """Bars from a CSV file or a folder of ``*.csv`` / ``*.csv.gz`` files.

    Parameters
    ----------
    path
        A file, or a folder whose files each hold one symbol (or several, with a column).
    reference
        An optional reference file: name, sector, industry and delisting per symbol
        (:mod:`quant_core.data.sources.csv_reference`).
    """

    def __init__(self, path: Path, reference: Path | None = None) -> None:
        self.path = Path(path).resolve()
        self.reference = reference
        self.name = f"csv:{self.path}"

    def load(self, progress: ProgressFn | None = None) -> SourceBatch:
        """Read every file; raise ``DataError`` naming the file for a header we cannot use."""
        files = self._files()
        frames: list[pd.DataFrame] = []
        malformed: list[pd.DataFrame] = []
        notes: list[str] = []
        for done, file in enumerate(files, start=1):
            frame, bad, ignored = _read_one(
                file, symbol_from_name=self.path.is_dir(), progress=progress
            )
            frames.append(frame)
            malformed.append(bad)
            if ignored:
                notes.append(f"{file}: ignored column(s) {', '.join(ignored)}")
            named = symbol_of(file)
            found = sorted(frame["symbol"].dropna().str.strip().str.upper().unique())
            if self.path.is_dir() and found and found != [named]:
                notes.append(f"{file}: its symbol column gives {', '.join(found[:5])}, not {named}")
            if progress is not None:
                progress("read", done, len(files))
        bars = pd.concat(frames, ignore_index=True)
        if "adj_close" in bars.columns:
            # Files without the column are unadjusted: their factor is 1, not "missing".
            bars["adj_close"] = bars["adj_close"].fillna(bars["close"])
        meta = DatasetMeta(label=f"csv: {self.path}", source="csv")
        symbols = None
        if self.reference is not None:
            symbols, bad = read_reference(self.reference)
            malformed.append(bad)
            notes.append(f"reference data of {len(symbols)} symbol(s) from {self.reference}")
            if not bad.empty:
                notes.append(f"{self.reference}: {len(bad)} row(s) left out (see the issues file)")
        batch = SourceBatch(bars, meta, ohlc=None, notes=tuple(notes), symbols=symbols)
        return _with_malformed(batch, pd.concat(malformed, ignore_index=True))

    def _files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if self.path.is_dir():
            files = sorted(
                p for p in self.path.iterdir() if p.name.lower().endswith((".csv", ".csv.gz"))
            )
            if not files:
                raise DataError(f"{self.path}: no .csv or .csv.gz files in this folder")
            return files
        raise DataError(f"{self.path}: no such file or folder")


@SOURCES.register("csv")
def _from_request(request: SourceRequest) -> tuple[CsvSource, str]:
    if request.path is None:
        raise ConfigError("--source csv needs --path FILE_OR_FOLDER")
    return CsvSource(request.path, request.reference), request.dataset or "csv"


PROGRESS_EVERY_ROWS = 100_000


def symbol_of(path: Path) -> str:
    """Return the symbol a per-symbol file names: ``brk.b.csv.gz`` -> ``BRK.B``.

    A non-ASCII name keeps its case, so the symbol rule refuses it: a dotless i never reads
    as ``I``.
    """
    name = path.name
    for suffix in (".csv.gz", ".csv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return normalize_symbol(name)


def _symbol_from_name(path: Path) -> str:
    symbol = symbol_of(path).strip()
    if not is_valid_symbol(symbol):
        raise DataError(
            f"{path}: the file name gives the symbol {symbol!r}, which is not a valid symbol "
            f"({SYMBOL_RULE}); rename the file or add a symbol column"
        )
    return symbol


def _read_one(
    path: Path, *, symbol_from_name: bool, progress: ProgressFn | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    try:
        return _parse(path, symbol_from_name, progress)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as a UTF-8 CSV file ({exc})") from None
    except OSError as exc:  # a dangling link, a folder named *.csv, no permission
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _parse(
    path: Path, symbol_from_name: bool, progress: ProgressFn | None
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    # The csv module keeps exact line numbers and lets us reject ragged lines one by one.
    size = path.stat().st_size
    with csv_rows(path) as (raw, reader):
        header = header_of(reader)
        if header is None:
            raise DataError(f"{path}: the file is empty")
        names = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
        index = _columns(path, header, names, symbol_from_name)
        named = None if "symbol" in index else _symbol_from_name(path)  # checked before reading
        ignored = [h for h, n in zip(header, names, strict=True) if n not in index]
        rows: list[list[str]] = []
        lines: list[int] = []
        bad: list[dict[str, object]] = []
        for line, last, record in numbered(reader):
            if len(record) != len(header) or last != line:  # a bar has no multi-line field
                for n, detail in malformed(line, last, len(record), len(header)):
                    bad.append({"_source": str(path), "_line": n, "detail": detail})
                continue
            rows.append([record[i] for i in index.values()])
            lines.append(line)
            if progress is not None and len(rows) % PROGRESS_EVERY_ROWS == 0:
                progress(f"read {path.name}", raw.tell(), size)
    frame = pd.DataFrame(rows, columns=list(index), dtype="string")
    if named is not None:
        frame["symbol"] = named
    frame["_source"] = str(path)
    frame["_line"] = lines
    logger.info("Read %d rows and %d malformed line(s) from %s", len(frame), len(bad), path)
    return frame, pd.DataFrame(bad, columns=["_source", "_line", "detail"]), ignored


def _columns(
    path: Path, header: list[str], names: list[str], symbol_from_name: bool
) -> dict[str, int]:
    wanted = [n for n in names if n in REQUIRED or n in OPTIONAL]
    repeated = sorted({n for n in wanted if wanted.count(n) > 1})
    if repeated:
        raise DataError(
            f"{path}: column(s) {', '.join(repeated)} appear more than once "
            f"(header: {', '.join(header)}; 'ticker' counts as 'symbol')"
        )
    required = [c for c in REQUIRED if not (c == "symbol" and symbol_from_name)]
    missing = [c for c in required if c not in names]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header)}; "
            f"expected {', '.join(REQUIRED)} (any case), optional adj_close"
        )
    return {n: names.index(n) for n in wanted}


def _with_malformed(batch: SourceBatch, malformed: pd.DataFrame) -> SourceBatch:
    if malformed.empty:
        return batch
    return SourceBatch(
        batch.bars,
        batch.meta,
        batch.ohlc,
        (
            *batch.notes,
            f"{len(malformed)} malformed line(s) rejected ({Rule.MALFORMED_LINE.value})",
        ),
        batch.symbols,
        malformed,
    )
