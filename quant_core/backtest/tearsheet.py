"""The HTML tearsheet of a stored backtest run: one self-contained file, ``<run>/report.html``.

:func:`write_tearsheet` reads the stored run (equity curve with its benchmark, trades, metrics,
config, round trips and trade statistics, decisions and risk files) and writes a report of, in
order: the run and its final equity, its metrics, equity vs benchmark (log scale), drawdowns
with the worst five periods, monthly and yearly returns, rolling Sharpe ratio and volatility,
exposure, turnover and costs, trade analytics, construction and risk, QuantStats' tearsheet
(its metrics, EOY returns, worst drawdowns and figures) and the exact config.

QuantStats (pinned) draws its part from the daily returns of the equity curve and of the
stored benchmark curve, both passed as series: it is never given a ticker, so it never
downloads anything. It is imported here only, lazily (a second to import). Its warnings are
silenced for the call, its figures are drawn with the Agg backend and DejaVu Sans (Arial, its
default, is not installed here) and the matplotlib settings it changes at import are undone.

The report opens with no network: figures are inline (PNG as base64 ``data:`` URIs, QuantStats'
as inline SVG), no script, and every reference to an outside address that a browser would
fetch (QuantStats' favicon, a link's target) is removed (:func:`outside_references` finds them).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pandas as pd

from quant_core.atomic import atomic_write_bytes, read_json_object
from quant_core.backtest.results import load_round_trips, load_trade_stats
from quant_core.backtest.risk import load_risk
from quant_core.backtest.tearsheet_html import CSS, ReportData, esc, note
from quant_core.errors import DataError

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"
FONT = "DejaVu Sans"  # shipped with matplotlib: always present
# An attribute or CSS reference a browser would fetch from another host (http, https, //host).
_OUTSIDE = r"""(?:https?:)?//"""
_FETCH_ATTR = re.compile(
    r"""\b(?:src|href|srcset|poster|data|action|background|xlink:href)\s*=\s*["']?\s*""" + _OUTSIDE,
    re.IGNORECASE,
)
_CSS_FETCH = re.compile(
    r"""url\(\s*["']?\s*""" + _OUTSIDE + r"""[^)]*\)|@import[^;]*;?""", re.IGNORECASE
)
_ANCHOR = re.compile(
    r"""<a\b[^>]*\bhref\s*=\s*["']?\s*""" + _OUTSIDE + r"""[^>]*>(.*?)</a>""", re.I | re.S
)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[a-zA-Z][^>]*>")
_SVG_PROLOG = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE svg[^>]*>|<metadata>.*?</metadata>", re.S)
# QuantStats' rolling figures (beta, volatility, Sharpe, Sortino) use a window of half a year of
# 252 sessions: a run with no more returns than that gets empty axes with meaningless dates.
QS_ROLLING = 126
_QS_ROLLING_FIGURES = re.compile(
    r"""<div id="rolling_(?:beta|vol|sharpe|sortino)">.*?</div>\s*""", re.S
)
# QuantStats labels its CAGR "CAGR﹪" (U+FE6A, SMALL PERCENT SIGN): few fonts have the glyph.
_QS_GLYPHS = {"\ufe6a": "%"}
_qs_rc: dict[str, Any] | None = None  # QuantStats' matplotlib settings, captured at its import
# matplotlib's settings and pyplot are process-wide: one report at a time (cockpit sessions are
# threads of one process).
_DRAWING = threading.Lock()


def report_path(folder: Path) -> Path:
    """Return where the tearsheet of the run in ``folder`` is written."""
    return folder / REPORT_NAME


def outside_references(document: str) -> list[str]:
    """Return every tag or CSS reference in ``document`` that would fetch from another host."""
    found = [tag for tag in _TAG.findall(document) if _FETCH_ATTR.search(tag)]
    return found + [m.group(0) for m in _CSS_FETCH.finditer(document)]


def offline(document: str) -> str:
    """Return ``document`` with nothing a browser would fetch from another host.

    A link to an outside address keeps its text and loses the link; scripts go; any other tag
    that would fetch from outside (QuantStats' favicon ``<link>``) is dropped.
    """
    document = _SCRIPT.sub("", document)
    document = _ANCHOR.sub(r"\1", document)
    document = _TAG.sub(lambda t: "" if _FETCH_ATTR.search(t.group(0)) else t.group(0), document)
    return _CSS_FETCH.sub("none", document)


def load_report_data(folder: Path) -> ReportData:
    """Read what the tearsheet shows from the run stored in ``folder``."""
    if not (folder / "summary.parquet").is_file() or not (folder / "equity.parquet").is_file():
        raise DataError(f"no stored backtest run in {folder}")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    label = (read_json_object(folder / "label.json") or {}).get("label")
    decisions = folder / "decisions.parquet"
    benchmark = (config.get("backtest") or {}).get("benchmark")
    return ReportData(
        run_id=folder.name,
        label=str(label) if label else None,
        curve=pd.read_parquet(folder / "equity.parquet"),
        benchmark_name=str(benchmark) if benchmark else None,
        trades=pd.read_parquet(folder / "trades.parquet"),
        metrics=json.loads((folder / "metrics.json").read_text(encoding="utf-8")),
        config=config,
        trips=load_round_trips(folder),
        stats=load_trade_stats(folder),
        risk=load_risk(folder),
        decisions=pd.read_parquet(decisions) if decisions.is_file() else None,
    )


@contextmanager
def _matplotlib(rc: dict[str, Any] | None = None) -> Iterator[None]:
    # Agg, DejaVu Sans, no findfont chatter; rcParams and the backend restored afterwards (a
    # notebook's inline backend, a script's GUI one keep working after a report).
    import matplotlib

    backend = matplotlib.get_backend()
    if backend.lower() != "agg":
        matplotlib.use("Agg")
    fonts = logging.getLogger("matplotlib.font_manager")
    level = fonts.level
    fonts.setLevel(logging.ERROR)
    try:
        with matplotlib.rc_context(cast(Any, rc)):
            matplotlib.rcParams["font.family"] = "sans-serif"
            matplotlib.rcParams["font.sans-serif"] = [FONT]
            yield
    finally:
        fonts.setLevel(level)
        if matplotlib.get_backend() != backend:
            try:
                matplotlib.use(backend)
            except (ImportError, ValueError, RuntimeError) as exc:  # e.g. its display is gone
                logger.warning("Could not restore the matplotlib backend %s: %s", backend, exc)


def _returns(curve: pd.Series, name: str) -> pd.Series:
    out = curve.astype(float).pct_change().dropna()
    out.index = pd.DatetimeIndex(out.index).as_unit("ns")
    return out.rename(name)


def quantstats_part(data: ReportData) -> tuple[str, str]:
    """Return QuantStats' tearsheet of the run: (its style, its body), ready to inline."""
    global _qs_rc
    returns = _returns(data.equity, "Strategy")
    curve = data.benchmark
    benchmark = None if curve is None else _returns(curve, data.benchmark_name or "Benchmark")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas, seaborn and matplotlib deprecations
        if _qs_rc is None:
            with _matplotlib():
                import matplotlib
                import quantstats  # noqa: F401  (sets seaborn's theme: captured, then undone)

                _qs_rc = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
        from quantstats import reports

        with _matplotlib(_qs_rc), _tmp_html() as output:
            reports.html(  # type: ignore[no-untyped-call]
                returns,
                benchmark=benchmark,
                output=str(output),
                title="QuantStats tearsheet",
                benchmark_title=data.benchmark_name,
            )
            document = output.read_text(encoding="utf-8")
    styles = "".join(re.findall(r"<style>.*?</style>", document, re.S))
    body = re.search(r"<body[^>]*>(.*)</body>", document, re.S)
    if body is None:
        raise DataError("QuantStats wrote no HTML body")
    return styles, _tidy(body.group(1), len(returns))


def _tidy(body: str, returns: int) -> str:
    # QuantStats' body without SVG prologs, with glyphs every font has, and without its rolling
    # figures when the run is too short for their window (a note says so instead).
    body = _SVG_PROLOG.sub("", body)
    for glyph, text in _QS_GLYPHS.items():
        body = body.replace(glyph, text)
    if returns <= QS_ROLLING:
        message = (
            f"QuantStats' rolling beta, volatility, Sharpe and Sortino use {QS_ROLLING} sessions: "
            f"this run has {returns} daily returns, too few to draw them."
        )
        first = _QS_ROLLING_FIGURES.search(body)
        if first is not None:  # the note where the first figure was, the figures gone
            rest = _QS_ROLLING_FIGURES.sub("", body[first.end() :])
            body = body[: first.start()] + note(message) + rest
    return body


@contextmanager
def _tmp_html() -> Iterator[Path]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="quantstats-") as folder:
        yield Path(folder) / "quantstats.html"


def _quantstats_or_note(data: ReportData) -> tuple[str, str]:
    if len(data.equity) < 3:
        return "", note("Too few sessions for QuantStats' tearsheet (it needs two returns).")
    try:
        return quantstats_part(data)
    except Exception as exc:  # a third-party failure costs its part, not the report
        logger.warning("QuantStats could not draw run %s: %s", data.run_id, exc, exc_info=True)
        return "", note(f"QuantStats could not draw its tearsheet for this run: {exc}")


def render(data: ReportData) -> str:
    """Return the whole report of ``data`` as one HTML document (offline, self-contained)."""
    # Imported here: matplotlib and the metrics' tables cost a second that only a report needs.
    from quant_core.backtest import tearsheet_sections as sections
    from quant_core.backtest import tearsheet_trades as trades

    with warnings.catch_warnings(), _matplotlib():
        warnings.simplefilter("ignore", UserWarning)  # matplotlib's layout notes on tiny runs
        ours = [
            sections.header(data),
            sections.metrics_section(data),
            sections.equity_section(data),
            sections.drawdown_section(data),
            sections.returns_section(data),
            sections.rolling_section(data),
            sections.activity_section(data),
            trades.trades_section(data),
            trades.risk_section(data),
        ]
    qs_style, qs_body = _quantstats_or_note(data)
    title = esc(f"Backtest report: {data.label or data.run_id}")
    document = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{title}</title>{qs_style}<style>{CSS}</style>'
        '</head><body><div class="container qc">'
        + "".join(ours)
        + f'<section id="quantstats" class="qs-part"><h2>QuantStats</h2>{qs_body}</section>'
        + '<div style="clear:both"></div>'
        + trades.config_section(data)
        + "</div></body></html>"
    )
    return offline(document)


def write_tearsheet(folder: Path) -> Path:
    """Write the tearsheet of the run stored in ``folder`` to ``<folder>/report.html``.

    Written atomically (a temporary file renamed into place): a reader sees the old report or
    the new one. Returns the report's path.

    Raises
    ------
    DataError
        ``folder`` holds no stored run.
    """
    started = time.perf_counter()
    data = load_report_data(folder)
    with _DRAWING:
        document = render(data)
    path = report_path(folder)
    atomic_write_bytes(path, document.encode("utf-8"))
    logger.info(
        "Wrote the report of run %s to %s (%.0f kB, %.1f s)",
        data.run_id,
        path,
        path.stat().st_size / 1e3,
        time.perf_counter() - started,
    )
    return path
