"""Daily bars from IB for run_data_sync.py: a BarSource, registered as ``ib``.

``ADJUSTED_LAST`` (the default) gives split- and dividend-adjusted bars; IB does not allow an
end date with it, so each symbol is one request covering the years back to ``start``.
``TRADES`` gives unadjusted bars, fetched a year at a time back from ``end``; they are stored
unadjusted (``adj_factor`` 1), so a split shows as a jump: re-sync with ``--replace`` after one.

IB's pacing rules are kept (:class:`Pacer`): at most 60 historical requests in 10 minutes, no
identical request within 15 s; a pacing violation (error 162) is answered by waiting and asking
again. Every chunk received is cached under ``<data_dir>/cache/ib/``, so a sync interrupted
half-way resumes where it stopped. The bars then go through the same validation and warehouse
as every source. Each symbol synced is then looked up once (reqContractDetails): its name,
sector (IB's industry) and industry (IB's category) fill the dataset's reference data.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from config.schema import IBConfig
from quant_core.calendar import TradingCalendar
from quant_core.data.sources.base import ProgressFn, SourceBatch, SourceRequest
from quant_core.data.symbol_rule import check_symbols
from quant_core.data.warehouse import DatasetMeta
from quant_core.errors import ConfigError, DataError
from quant_core.ib import history_check, mapping
from quant_core.ib.connection import IBConnection
from quant_core.ib.history_check import StoredBars
from quant_core.ib.pacing import IDENTICAL_GAP_S as IDENTICAL_GAP_S  # re-exported
from quant_core.ib.pacing import MAX_REQUESTS as MAX_REQUESTS
from quant_core.ib.pacing import WINDOW_S as WINDOW_S
from quant_core.ib.pacing import Pacer as Pacer

logger = logging.getLogger(__name__)

VIOLATION_WAIT_S = 60.0
MAX_VIOLATIONS = 5
IB_REFERENCE_SOURCE = "ib contract details"
NO_SECURITY = 200  # IB knows no such security (any more): delisted, renamed or mistyped
HISTORY_CLIENT_ID_OFFSET = 100  # the sync's own client id, so it never collides with the worker


class HistoryRefusal(DataError):
    """IB refused one symbol's history request with an error (``code``: IB's error code)."""

    def __init__(self, symbol: str, code: int, message: str) -> None:
        super().__init__(f"IB history for {symbol}: error {code}: {message}")
        self.symbol, self.code = symbol, code


def history_connection(cfg: IBConfig) -> IBConnection:
    """Return a connection (not yet connected) on the history client id of ``cfg``.

    ``cfg.client_id + HISTORY_CLIENT_ID_OFFSET``, so reading history never collides with the
    worker. Only a connection: reading bars trades nothing, so neither the trading consent
    checks nor the P&L subscription of the broker apply.
    """
    return IBConnection(
        cfg.model_copy(update={"client_id": cfg.client_id + HISTORY_CLIENT_ID_OFFSET})
    )


class IBHistorySource:
    """Daily bars of ``symbols`` from ``start`` (to ``end``) through TWS / IB Gateway."""

    def __init__(
        self,
        cfg: IBConfig,
        symbols: list[str],
        start: dt.date,
        end: dt.date | None = None,
        what: str = "ADJUSTED_LAST",
        cache_dir: Path | None = None,
        pacer: Pacer | None = None,
        calendar: TradingCalendar | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        stored: StoredBars | None = None,
    ) -> None:
        if what not in {"ADJUSTED_LAST", "TRADES"}:
            raise ConfigError(f"IB history: what must be ADJUSTED_LAST or TRADES, got {what!r}")
        check_symbols(symbols, "IB history")  # each one names a cache file
        self.cfg = cfg
        self.symbols, self.start, self.end, self.what = symbols, start, end, what
        self.cache_dir = cache_dir
        self.calendar = calendar
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.pacer = pacer or Pacer()
        self.stored = stored  # the dataset's bars, to check IB's answer against (history_check)
        self.name = f"ib:{what}"

    def load(self, progress: ProgressFn | None = None) -> SourceBatch:
        """Fetch every symbol (cached chunks are not asked for again).

        A symbol IB knows no security for (error 200) is noted (``unfetched``, a note, a log
        warning) and the others are synced; with no bar from any symbol it is a ``DataError``.
        """
        connection = history_connection(self.cfg)
        accounts = connection.connect()
        logger.info(
            "Connected to IB for history (server version %s), accounts %s",
            connection.ib.client.serverVersion(),
            accounts,
        )
        frames = []
        synced: list[str] = []
        firsts: dict[str, pd.Timestamp] = {}  # symbols whose whole history was fetched again
        changes: list[str] = []
        unknown: list[str] = []  # symbols IB answered 200 for
        try:
            for done, symbol in enumerate(self.symbols, start=1):
                try:
                    got = self.fetch_symbol(connection, symbol)
                except HistoryRefusal as exc:
                    if exc.code != NO_SECURITY:
                        raise
                    logger.warning(
                        "IB knows no security %s (error %d): not synced", symbol, exc.code
                    )
                    unknown.append(symbol)
                    got = []
                got, first, why = self._check_stored(connection, symbol, got)
                if first is not None:
                    firsts[symbol] = pd.Timestamp(first)
                    changes.append(
                        f"{symbol}: IB's adjusted history changed ({why}): its whole history "
                        "was fetched again"
                    )
                frames.extend(got)
                if any(not frame.empty for frame in got):
                    synced.append(symbol)
                if progress is not None:
                    progress("ib history", done, len(self.symbols))
            symbols = contract_reference(connection, synced)
        finally:
            connection.disconnect()
        bars = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if bars.empty:
            raise DataError(
                f"IB returned no bars for {', '.join(self.symbols)}"
                + (f" (no security {', '.join(unknown)}: error {NO_SECURITY})" if unknown else "")
            )
        bars["date"] = pd.to_datetime(bars["date"], format="%Y%m%d")
        # Nothing before --start (a symbol fetched again: its first stored bar), and never
        # today's bar while the session is still trading.
        starts = pd.to_datetime(bars["symbol"].map(firsts)).fillna(pd.Timestamp(self.start))
        bars = bars[(bars["date"] >= starts) & (bars["date"] <= pd.Timestamp(self._end()))]
        # Only exact copies go (a bar two chunks both hold); copies that disagree are left to
        # the validation, which rejects them as conflicting_duplicate as for any source.
        bars = bars.drop_duplicates().reset_index(drop=True)
        meta = self.meta
        notes = (
            f"{len(self.symbols)} symbol(s) from IB, {self.what}",
            "names, sectors and industries from IB's contract details",
            *changes,
            *(
                [f"IB knows no security {', '.join(unknown)} (error {NO_SECURITY}): not synced"]
                if unknown
                else []
            ),
        )
        return SourceBatch(
            bars, meta, ohlc=None, notes=notes, symbols=symbols, unfetched=tuple(unknown)
        )

    @property
    def meta(self) -> DatasetMeta:
        """Return the label of the data, known before loading (the sync checks it first)."""
        kind = "split- and dividend-adjusted" if self.what == "ADJUSTED_LAST" else "unadjusted"
        return DatasetMeta(label=f"IB daily bars ({self.what}: {kind})", source=self.name)

    def _end(self) -> dt.date:
        """Return the last date asked for: ``end``, or the last session that has closed."""
        if self.end is not None:
            return self.end
        if self.calendar is None:
            return dt.date.today()  # noqa: DTZ011 - without a calendar, the local date
        now = self.clock().astimezone(ZoneInfo(self.calendar.tz))
        sessions = self.calendar.sessions
        done = sessions[sessions <= np.datetime64(now.date(), "D")]
        last = pd.Timestamp(done[-1]).date()
        close = self.calendar.close_of(last)
        if close is not None and now < close and len(done) > 1:
            last = pd.Timestamp(done[-2]).date()
        return last

    def _check_stored(
        self, connection: IBConnection, symbol: str, frames: list[pd.DataFrame]
    ) -> tuple[list[pd.DataFrame], dt.date | None, str | None]:
        """Return ``frames``, or the whole history if IB's answer contradicts the stored bars.

        Also the first stored bar and the reason when it does (:mod:`history_check`). An
        answer reaching back to the first stored bar is the whole history already.
        """
        answered = any(not frame.empty for frame in frames)
        stored = None if self.stored is None or not answered else self.stored(symbol)
        why = None if stored is None else history_check.changed(symbol, stored, frames)
        if stored is None or why is None:
            return frames, None, None
        first = pd.Timestamp(stored["date"].min()).date()
        logger.warning(
            "IB history for %s changed (%s): fetching it again from its first stored bar %s",
            symbol,
            why,
            first,
        )
        if min(f"{f['date'].min()}" for f in frames if not f.empty) <= f"{first:%Y%m%d}":
            return frames, first, why
        # The request's cached answer, if any, is from before the change: never read it.
        cache = self.cache_dir if self.what == "ADJUSTED_LAST" else None
        whole = IBHistorySource(
            self.cfg,
            [symbol],
            first,
            self.end,
            self.what,
            cache,
            self.pacer,
            self.calendar,
            self.clock,
        )
        if self.what == "ADJUSTED_LAST":
            whole.forget(symbol, "", whole._duration())
        return whole.fetch_symbol(connection, symbol), first, why

    def _duration(self) -> str:
        """Return the ``durationStr`` of an ``ADJUSTED_LAST`` request: whole years to ``start``."""
        return f"{max(1, math.ceil((self._end() - self.start).days / 365))} Y"

    def fetch_symbol(self, connection: IBConnection, symbol: str) -> list[pd.DataFrame]:
        """Return the raw bar chunks of ``symbol`` from ``start`` to the end (one per request)."""
        end = self._end()
        if self.what == "ADJUSTED_LAST":  # IB refuses an end date with ADJUSTED_LAST
            return [self.fetch_chunk(connection, symbol, "", self._duration())]
        # A year at a time, each chunk ending on the first bar of the one after it, so no
        # session falls between two chunks whatever IB counts as "1 Y".
        frames: list[pd.DataFrame] = []
        while True:
            frame = self.fetch_chunk(connection, symbol, f"{end:%Y%m%d} 23:59:59 UTC", "1 Y")
            if frame.empty:
                return frames
            frames.append(frame)
            earliest = dt.datetime.strptime(frame["date"].min(), "%Y%m%d").date()  # noqa: DTZ007
            if earliest <= self.start or earliest >= end:
                return frames
            end = earliest

    def fetch_chunk(
        self, connection: IBConnection, symbol: str, end: str, duration: str
    ) -> pd.DataFrame:
        """Return one request's raw bars (``endDateTime`` ``end``, ``durationStr`` ``duration``).

        Cached chunks are read back instead of asked for; pacing is kept; a pacing violation
        is waited out and asked again; "no data" (162) gives an empty frame.

        Raises
        ------
        HistoryRefusal
            IB answered the request with another error (200: no such security, ...).
        DataError
            No answer (a timeout), or pacing violations without end.
        """
        cached = self._cache_path(symbol, end, duration)
        if cached is not None and cached.is_file():
            return pd.read_parquet(cached)
        contract = mapping.stock(symbol)
        for _ in range(MAX_VIOLATIONS + 1):
            self.pacer.wait(f"{symbol}|{end}|{duration}|{self.what}")
            connection.errors.clear()
            bars = connection.ib.reqHistoricalData(
                contract,
                endDateTime=end,
                durationStr=duration,
                barSizeSetting="1 day",
                whatToShow=self.what,
                useRTH=True,
                formatDate=1,
            )
            # 162 is both "pacing violation" and "query returned no data": read the text.
            mine = [(c, m) for r, c, m in connection.errors if r > 0]  # not system messages
            if any(c == 162 and "pacing" in m.lower() for c, m in mine):
                logger.warning(
                    "Pacing violation (IB 162) for %s: waiting %.0f s", symbol, VIOLATION_WAIT_S
                )
                self.pacer.sleep(VIOLATION_WAIT_S)
                continue
            if any(c == 162 and "no data" in m.lower() for c, m in mine):
                return _frame(symbol, [])  # before the listing, say: nothing there
            if mine:
                code, message = mine[0]
                raise HistoryRefusal(symbol, code, message)
            if not bars:  # the library's timeout gives [] and no error: never a silent gap
                raise DataError(
                    f"IB history for {symbol}: no answer for {end or 'latest'} {duration} "
                    f"(TWS busy or the request timed out); run the sync again to resume"
                )
            frame = _frame(symbol, bars)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                partial = cached.with_suffix(".partial")
                frame.to_parquet(partial)
                os.replace(partial, cached)  # a cache file is whole or absent
            return frame
        raise DataError(f"IB kept refusing history for {symbol} (pacing violations)")

    def forget(self, symbol: str, end: str, duration: str) -> None:
        """Drop the kept answer of one request, if any: the next one asks IB again."""
        cached = self._cache_path(symbol, end, duration)
        if cached is not None:
            cached.unlink(missing_ok=True)

    def _cache_path(self, symbol: str, end: str, duration: str) -> Path | None:
        if self.cache_dir is None:
            return None
        # An open-ended request (ADJUSTED_LAST) is keyed by today's date: tomorrow asks again.
        until = end[:8] or f"{self._end():%Y%m%d}"
        span = duration.replace(" ", "")
        return self.cache_dir / f"{symbol}-{self.what}-{until}-{span}-{self.start:%Y%m%d}.parquet"


def contract_reference(connection: IBConnection, symbols: list[str]) -> pd.DataFrame:
    """Return the reference data of ``symbols`` from IB's contract details (reqContractDetails).

    ``longName`` gives the name, ``industry`` the sector and ``category`` the industry
    (:func:`quant_core.ib.mapping.reference`); a symbol IB gives no details for is left out
    (the sync gives it the sector Unknown) and logged.
    """
    rows = []
    for symbol in symbols:
        connection.errors.clear()
        details = connection.ib.reqContractDetails(mapping.stock(symbol))
        if not details:
            said = "; ".join(f"error {c}: {m}" for r, c, m in connection.errors if r > 0)
            logger.warning(
                "IB gave no contract details for %s%s: its sector reads Unknown",
                symbol,
                f" ({said})" if said else "",
            )
            continue
        rows.append(mapping.reference(symbol, details[0]))
    connection.errors.clear()
    frame = pd.DataFrame(rows, columns=["symbol", "name", "sector", "industry"], dtype=object)
    frame["source"] = IB_REFERENCE_SOURCE
    return frame


def _frame(symbol: str, bars: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [
                b.date.strftime("%Y%m%d") if hasattr(b.date, "strftime") else str(b.date)
                for b in bars
            ],
            "symbol": symbol,
            "open": [float(b.open) for b in bars],
            "high": [float(b.high) for b in bars],
            "low": [float(b.low) for b in bars],
            "close": [float(b.close) for b in bars],
            "volume": [float(b.volume) for b in bars],
            "_source": f"ib:{symbol}",
        }
    )


def source_from_request(request: SourceRequest) -> tuple[IBHistorySource, str]:
    """Build the source for ``run_data_sync.py --source ib`` (the entry point registers it)."""
    if request.ib is None or request.start is None:
        raise ConfigError("--source ib needs --symbols A,B,C and --start YYYY-MM-DD")
    symbols = [s.strip().upper() for s in (request.symbols or "").split(",") if s.strip()]
    if not symbols:
        raise ConfigError("--source ib needs --symbols A,B,C")
    cache = request.cache_dir / "ib" if request.cache_dir else None
    dataset = request.dataset or "ib"
    last = IBHistorySource(request.ib, symbols, request.start, calendar=request.calendar)._end()
    if request.start > last:
        raise ConfigError(
            f"--start {request.start} is after the last completed session {last}: IB has no "
            "bar from it yet; give a --start on or before it"
        )
    source = IBHistorySource(
        request.ib,
        symbols,
        request.start,
        cache_dir=cache,
        calendar=request.calendar,
        stored=history_check.stored_reader(request.warehouse, dataset),
    )
    return source, dataset
