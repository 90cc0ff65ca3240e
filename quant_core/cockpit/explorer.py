"""The Strategy Explorer's numbers, tables and charts: pure, without Streamlit.

The page (``views/explorer.py``) stays thin: it reads widgets and files and hands them here.
This module turns a strategy's pydantic params model into form fields and validates what was
entered, builds the config overrides of a run (as ``run_backtest.py`` does), formats metrics
with their units, and builds every chart through :func:`quant_core.cockpit.theme.style`.

Curves are stored run frames: a date index with ``equity``, ``cash``, ``long_value``,
``short_value`` (negative for shorts) and, with a benchmark, ``benchmark`` (all USD).
"""

from __future__ import annotations

import enum
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import annotated_types as at
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pandas.io.formats.style import Styler
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from config.redact import is_secret_key
from quant_core.backtest.engine import TRADE_COLUMNS
from quant_core.backtest.metrics import drawdown as drawdown  # the run's own definition
from quant_core.calendar import TRADING_DAYS_PER_YEAR
from quant_core.cockpit.theme import COLORS, DOWN, UP, Unit, money, pct, style
from quant_core.errors import QuantError

# --------------------------------------------------------------------------- the params form

Kind = Literal["int", "float", "bool", "choice", "text", "json"]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One form field derived from a params model field.

    Attributes
    ----------
    name
        The field name (the key of ``strategy.params``).
    kind
        Which widget shows it: ``int``/``float`` number input, ``bool`` checkbox, ``choice``
        select, ``text`` text input, ``json`` text input holding JSON (dicts, lists, unions).
    default
        The model's default, as the widget takes it (JSON text for ``json``).
    minimum, maximum
        The widget's inclusive bounds from ``ge``/``gt``/``le``/``lt``, or None. An exclusive
        bound is offered as the limit itself; the model rejects it on validation.
    help
        The field's description.
    options
        The choices of a ``choice`` field.
    """

    name: str
    kind: Kind
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    options: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        """Return the field name for people: ``top_quantile`` -> ``Top quantile``."""
        return self.name.replace("_", " ").capitalize()

    @property
    def step(self) -> float | int:
        """Return the number input's step: 1 for integers, a fitting fraction for floats."""
        if self.kind == "int":
            return 1
        scale = max(abs(float(self.default or 0.0)), abs(self.maximum or 0.0))
        return 0.01 if scale <= 1 else 0.5

    @property
    def number_format(self) -> str:
        """Return the printf format of a number input."""
        return "%d" if self.kind == "int" else "%.3f"


def param_specs(model: type[BaseModel]) -> list[ParamSpec]:
    """Return one form field per field of a params model, in declaration order."""
    return [_spec(name, info) for name, info in model.model_fields.items()]


def _spec(name: str, info: FieldInfo) -> ParamSpec:
    default = info.get_default(call_default_factory=True)
    annotation = info.annotation
    text = info.description or ""
    low, high = _bounds(info)
    if annotation is bool:
        return ParamSpec(name, "bool", bool(default), help=text)
    if annotation is int:
        return ParamSpec(name, "int", int(default), low, high, text)
    if annotation is float:
        return ParamSpec(name, "float", float(default), low, high, text)
    if get_origin(annotation) is Literal:
        return ParamSpec(name, "choice", default, help=text, options=get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = tuple(m.value for m in annotation)
        value = default.value if isinstance(default, enum.Enum) else default
        return ParamSpec(name, "choice", value, help=text, options=values)
    if annotation is str:
        return ParamSpec(name, "text", str(default), help=text)
    hint = "JSON, e.g. " + json.dumps(default) if default is not None else "JSON"
    return ParamSpec(name, "json", json.dumps(default), help=f"{text} ({hint})".strip())


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low: float | None = None
    high: float | None = None
    for item in info.metadata:
        if isinstance(item, at.Ge | at.Gt):
            low = float(item.ge if isinstance(item, at.Ge) else item.gt)  # type: ignore[arg-type]
        elif isinstance(item, at.Le | at.Lt):
            high = float(item.le if isinstance(item, at.Le) else item.lt)  # type: ignore[arg-type]
    return low, high


def validate_params(
    model: type[BaseModel], specs: Sequence[ParamSpec], raw: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, list[str]]:
    """Validate entered values against the params model.

    Parameters
    ----------
    model
        The strategy's params model.
    specs
        Its form fields (:func:`param_specs`): ``json`` fields arrive as text and are parsed.
    raw
        Field name -> value as the widgets gave it.

    Returns
    -------
    tuple
        ``(params, [])`` with the validated params as plain data, or ``(None, errors)`` where
        every error names its field: ``"top_quantile: Input should be greater than 0 (got 0.0)"``.
    """
    values: dict[str, Any] = {}
    errors: list[str] = []
    for spec in specs:
        value = raw.get(spec.name, spec.default)
        if spec.kind == "json":
            try:
                value = json.loads(str(value))
            except json.JSONDecodeError as exc:
                got = "" if is_secret_key(spec.name) else f" (got {value!r})"
                errors.append(f"{spec.name}: not valid JSON ({exc.msg}){got}")
                continue
        values[spec.name] = value
    if errors:
        return None, errors
    try:
        params = model.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(map(str, err["loc"])) or "parameters"
            shown = err.get("input")
            hidden = isinstance(shown, dict) or any(is_secret_key(str(k)) for k in err["loc"])
            got = "" if hidden else f" (got {shown!r})"  # a credential-like field: never echoed
            errors.append(f"{where}: {err['msg']}{got}")
        return None, errors
    except QuantError as exc:  # a validator that asks the registries (unknown factor names)
        return None, [f"{_culprit(model, specs, values)}: {exc}"]
    return params.model_dump(mode="json"), []


def _culprit(model: type[BaseModel], specs: Sequence[ParamSpec], values: dict[str, Any]) -> str:
    # The field that fails on its own, every other field at its default.
    defaults = {s.name: json.loads(s.default) if s.kind == "json" else s.default for s in specs}
    for name, value in values.items():
        try:
            model.model_validate({**defaults, name: value})
        except (QuantError, ValidationError):
            return name
    return "parameters"


Rebalance = int | Literal["weekly", "monthly"]


def backtest_overrides(
    strategy: str,
    params: Mapping[str, Any],
    *,
    dataset: str,
    start: Any,
    end: Any,
    rebalance: Rebalance,
    cash_buffer: float,
    initial_cash: float,
) -> list[str]:
    """Return the ``--set`` overrides of one run, the way ``run_backtest.py`` builds them.

    The strategy comes first: choosing another one drops the config's params, never these.
    Values are JSON, so numbers, booleans, lists and dicts keep their types.
    """
    out = [f"strategy.name={strategy}"]
    out += [f"strategy.params.{key}={json.dumps(value)}" for key, value in params.items()]
    out += [
        f"data.dataset={dataset}",
        f"strategy.rebalance={rebalance}",
        f"portfolio.cash_buffer={cash_buffer!r}",
        f"backtest.initial_cash={initial_cash!r}",
    ]
    if start is not None:
        out.append(f"backtest.start={start}")
    if end is not None:
        out.append(f"backtest.end={end}")
    return out


# --------------------------------------------------------------------------- metrics

# metric -> (label, unit); units: usd, pct, ratio, count, sessions, turnover
METRICS: dict[str, tuple[str, str]] = {
    "start_equity": ("Start equity", "usd"),
    "final_equity": ("Final equity", "usd"),
    "total_return": ("Total return", "pct"),
    "cagr": ("CAGR", "pct"),
    "volatility": ("Volatility (annual)", "pct"),
    "sharpe": ("Sharpe ratio", "ratio"),
    "sortino": ("Sortino ratio", "ratio"),
    "max_drawdown": ("Max drawdown", "pct"),
    "max_drawdown_sessions": ("Max drawdown length", "sessions"),
    "calmar": ("Calmar ratio", "ratio"),
    "turnover": ("Turnover (per year)", "turnover"),
    "exposure": ("Gross exposure (average)", "pct"),
    "hit_rate": ("Hit rate (up sessions)", "pct"),
    "commissions": ("Commissions", "usd"),
    "slippage": ("Slippage", "usd"),
    "total_costs": ("Total costs (commissions + slippage)", "usd"),
    "trades": ("Trades (filled orders)", "count"),
    "truncated": ("Orders truncated (cash)", "count"),
    "unfilled": ("Orders unfilled (no price)", "count"),
    "sessions": ("Sessions", "count"),
    "benchmark_total_return": ("Benchmark total return", "pct"),
    "benchmark_cagr": ("Benchmark CAGR", "pct"),
    "excess_return": ("Excess return", "pct"),
    "excess_cagr": ("Excess CAGR", "pct"),
}
HEADLINE = (
    "final_equity",
    "total_return",
    "cagr",
    "sharpe",
    "max_drawdown",
    "turnover",
    "volatility",
    "sortino",
    "exposure",
    "hit_rate",
    "trades",
    "total_costs",
)


def metric_label(name: str) -> str:
    """Return a metric's label for people (unknown names: the name, spaced)."""
    return METRICS.get(name, (name.replace("_", " ").capitalize(), ""))[0]


def format_metric(name: str, value: Any) -> str:
    """Return a metric's value with its unit: ``$955,589``, ``-9.30%``, ``4.78x / yr``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    unit = METRICS.get(name, ("", ""))[1]
    if unit == "usd":
        return money(float(value), 0 if abs(value) >= 1000 else 2)
    if unit == "pct":
        return pct(float(value))
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "turnover":
        return f"{value:.2f}x / yr"
    if unit == "sessions":
        return f"{int(value):,} sessions"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def metrics_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Return ``Metric`` / ``Value`` rows of a run, formatted with units, known metrics first."""
    names = [n for n in METRICS if n in metrics] + [n for n in metrics if n not in METRICS]
    return pd.DataFrame(
        {
            "Metric": [metric_label(n) for n in names],
            "Value": [format_metric(n, metrics[n]) for n in names],
        }
    )


def compare_metrics(
    runs: Mapping[str, Mapping[str, Any]], details: Mapping[str, Mapping[str, str]] | None = None
) -> pd.DataFrame:
    """Return metrics side by side: one row per metric, one column per run label.

    ``details`` (run label -> row name -> text, e.g. the parameters and the period) come first.
    """
    names = [n for n in METRICS if any(n in m for m in runs.values())]
    labels = [metric_label(n) for n in names]
    extra = list(dict.fromkeys(k for d in (details or {}).values() for k in d))
    columns = {
        label: [(details or {}).get(label, {}).get(k, "") for k in extra]
        + [format_metric(n, m.get(n)) for n in names]
        for label, m in runs.items()
    }
    return pd.DataFrame(columns, index=pd.Index(extra + labels, name="Metric"))


def run_details(row: Mapping[str, Any]) -> dict[str, str]:
    """Return what a run was: its parameters, dataset and period (for the compare table)."""
    return {
        "Parameters": params_text(row.get("params")),
        "Dataset": str(row.get("dataset")),
        "Period": f"{row.get('start')} to {row.get('end')}",
    }


# --------------------------------------------------------------------------- series


def equity_series(curve: pd.DataFrame, column: str = "equity") -> pd.Series:
    """Return one column of a stored curve with a plain ``DatetimeIndex``."""
    series = curve[column].astype(float)
    series.index = pd.DatetimeIndex(curve.index)
    return series


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Return monthly returns as years x months (1..12) plus a ``Year`` column, fractions.

    A month's return is its last equity over the previous month's last (the curve's first
    value for the first month); the year's is its last equity over the previous year's last.
    Months without data are NaN.
    """
    index = pd.DatetimeIndex(equity.index)
    month_end = equity.groupby([index.year, index.month]).last()
    previous = month_end.shift(1).fillna(equity.iloc[0])
    table = _by_month(month_end / previous - 1)
    year_end = equity.groupby(index.year).last()
    table["Year"] = year_end / year_end.shift(1).fillna(equity.iloc[0]) - 1
    table.index.name, table.columns.name = "year", "month"
    return table


def monthly_pnl(equity: pd.Series) -> pd.DataFrame:
    """Return the monthly profit in USD, shaped as :func:`monthly_returns` (``Year`` too)."""
    index = pd.DatetimeIndex(equity.index)
    month_end = equity.groupby([index.year, index.month]).last()
    table = _by_month(month_end.diff().fillna(month_end.iloc[0] - equity.iloc[0]))
    year_end = equity.groupby(index.year).last()
    table["Year"] = year_end.diff().fillna(year_end.iloc[0] - equity.iloc[0])
    table.index.name, table.columns.name = "year", "month"
    return table


def _by_month(values: pd.Series) -> pd.DataFrame:
    # values: one number per (year, month) -> years x months 1..12 (NaN where absent)
    frame = pd.DataFrame({"value": values.to_numpy()}, index=values.index)
    frame.index.names = ["year", "month"]
    table = frame.reset_index().pivot_table(
        index="year", columns="month", values="value", aggfunc="last", dropna=False
    )
    return table.reindex(columns=range(1, 13))


def rolling_sharpe(equity: pd.Series, window: int) -> pd.Series:
    """Return the annualised Sharpe ratio of the last ``window`` daily returns at each date.

    Same convention as the run's Sharpe: mean over sample std of daily simple returns, times
    the square root of 252, zero risk-free rate. NaN until ``window`` returns exist.
    """
    daily = equity.pct_change()
    rolling = daily.rolling(window, min_periods=window)
    ratio = rolling.mean() / rolling.std() * math.sqrt(TRADING_DAYS_PER_YEAR)
    return ratio.replace([np.inf, -np.inf], np.nan).rename("rolling_sharpe")


def exposure(curve: pd.DataFrame) -> pd.DataFrame:
    """Return gross ``(long - short) / equity`` and net ``(long + short) / equity`` exposure.

    ``short_value`` is stored negative. Also returns the long and short values in USD.
    """
    equity = equity_series(curve)
    long_value = equity_series(curve, "long_value")
    short_value = equity_series(curve, "short_value")
    return pd.DataFrame(
        {
            "gross": (long_value - short_value) / equity,
            "net": (long_value + short_value) / equity,
            "long_usd": long_value,
            "short_usd": short_value,
        }
    )


def holdings_count(positions: pd.DataFrame, rebalances: pd.DatetimeIndex) -> pd.Series:
    """Return the number of symbols held after each rebalance (0 where nothing is held)."""
    held = positions[positions["shares"] != 0]
    counts = held.groupby(pd.DatetimeIndex(held["date"]))["symbol"].nunique()
    dates = pd.DatetimeIndex(rebalances).union(pd.DatetimeIndex(counts.index))
    return counts.reindex(dates, fill_value=0).astype(int).rename("holdings")


def top_weights(positions: pd.DataFrame, equity: pd.Series, n: int = 15) -> pd.DataFrame:
    """Return the weights (fraction of equity) after each rebalance of the ``n`` most held.

    Rows are rebalance dates, columns symbols ordered by average absolute weight, largest
    first; a symbol not held on a date weighs 0.
    """
    if positions.empty:
        return pd.DataFrame()
    frame = positions.assign(date=pd.DatetimeIndex(positions["date"]))
    wide = frame.pivot_table(index="date", columns="symbol", values="value", aggfunc="sum")
    weights = wide.fillna(0.0).div(equity.reindex(wide.index), axis=0)
    order = weights.abs().mean().sort_values(ascending=False, kind="stable").index[:n]
    return weights[order]


# --------------------------------------------------------------------------- trades

# status -> (flag shown in the table, what happened)
STATUS_NOTES: dict[str, tuple[str, str]] = {
    "filled": ("", ""),
    "truncated_cash": (
        "TRUNCATED",
        "cash short at the open: filled {filled:,.0f} of {requested:,.0f}",
    ),
    "rejected_no_price": ("UNFILLED", "no open price: nothing traded"),
    "exit_at_last_close": ("EXIT", "symbol left the data: sold at its last close"),
}
ROW_COLORS = {
    "truncated_cash": "background-color: rgba(230, 159, 0, 0.25)",
    "rejected_no_price": "background-color: rgba(213, 94, 0, 0.25)",
    "exit_at_last_close": "background-color: rgba(86, 180, 233, 0.18)",
}
# The engine's columns, with the flag after the side and its note before the status.
TRADE_ORDER = [
    *TRADE_COLUMNS[:3],
    "flag",
    *TRADE_COLUMNS[3:-1],
    "note",
    TRADE_COLUMNS[-1],
]


def trades_view(trades: pd.DataFrame, only_flagged: bool = False) -> pd.DataFrame:
    """Return the trades for the table, each truncated, unfilled or exit order flagged.

    Parameters
    ----------
    trades
        The engine's trades frame (``status`` is filled, truncated_cash, rejected_no_price or
        exit_at_last_close).
    only_flagged
        Keep only orders that were not plainly filled.

    Returns
    -------
    pandas.DataFrame
        The trades with ``flag`` (``TRUNCATED``, ``UNFILLED``, ``EXIT`` or empty) and ``note``
        (what happened, in words) added.
    """
    frame = trades.copy()
    frame["date"] = pd.DatetimeIndex(frame["date"])
    flags, notes = [], []
    for status, filled, requested in zip(
        frame["status"], frame["filled"], frame["requested"], strict=True
    ):
        flag, note = STATUS_NOTES.get(status, (str(status).upper(), ""))
        flags.append(flag)
        notes.append(note.format(filled=abs(filled), requested=abs(requested)))
    frame["flag"] = pd.Series(flags, index=frame.index, dtype=object)
    frame["note"] = pd.Series(notes, index=frame.index, dtype=object)
    if only_flagged:
        frame = frame[frame["status"] != "filled"]
    ordered = [c for c in TRADE_ORDER if c in frame] + [c for c in frame if c not in TRADE_ORDER]
    return frame[ordered].reset_index(drop=True)


def trade_row_styles(view: pd.DataFrame) -> pd.DataFrame:
    """Return CSS per cell: flagged orders get their status colour across the row."""
    css = [ROW_COLORS.get(s, "") for s in view["status"]]
    return pd.DataFrame(
        np.repeat(np.array(css, dtype=object)[:, None], view.shape[1], axis=1),
        index=view.index,
        columns=view.columns,
    )


MONEY_COLUMNS = ("signal_price", "open_price", "exec_price", "notional", "commission", "slippage")


def trades_styler(view: pd.DataFrame) -> Styler:
    """Return the trades table styled: flagged rows coloured, $ and shares formatted."""
    formats: dict[str, Any] = {c: "${:,.2f}" for c in MONEY_COLUMNS if c in view}
    formats |= {c: "{:,.0f}" for c in ("requested", "filled") if c in view}
    formats["date"] = lambda d: f"{d:%Y-%m-%d}"
    return view.style.apply(trade_row_styles, axis=None).format(formats, na_rep="-")


def status_counts(trades: pd.DataFrame) -> dict[str, int]:
    """Return how many orders had each status, every known status present."""
    counts = trades["status"].value_counts() if len(trades) else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in STATUS_NOTES} | {
        str(s): int(c) for s, c in counts.items() if s not in STATUS_NOTES
    }


# --------------------------------------------------------------------------- CSV


def curve_csv(curve: pd.DataFrame) -> bytes:
    """Return the daily curve (USD columns) as CSV with a ``date`` column."""
    frame = curve.copy()
    frame.index = pd.DatetimeIndex(curve.index).strftime("%Y-%m-%d")
    frame.index.name = "date"
    return frame.to_csv().encode()


def trades_csv(trades: pd.DataFrame) -> bytes:
    """Return the trades (with their notes) as CSV."""
    view = trades_view(trades)
    view["date"] = view["date"].dt.strftime("%Y-%m-%d")
    return view.to_csv(index=False).encode()


def metrics_csv(metrics: Mapping[str, Any]) -> bytes:
    """Return ``metric, value, display`` rows: raw numbers and the formatted text."""
    buffer = io.StringIO()
    pd.DataFrame(
        {
            "metric": list(metrics),
            "value": list(metrics.values()),
            "display": [format_metric(k, v) for k, v in metrics.items()],
        }
    ).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


# --------------------------------------------------------------------------- charts


def _chart(
    fig: go.Figure,
    title: str,
    x: tuple[str, Unit],
    y: tuple[str, Unit],
    height: int,
    log_y: bool = False,
) -> go.Figure:
    # The house style, with the legend at the top right so it never runs into the title.
    fig = style(fig, title, x, y, height, log_y)
    fig.update_layout(legend={"x": 1.0, "xanchor": "right"})
    return fig


def _dates(series: pd.Series | pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(series.index)


def equity_figure(curve: pd.DataFrame, log_y: bool = False) -> go.Figure:
    """Return the equity curve against the benchmark, in USD; hover shows $ and % since start."""
    fig = go.Figure()
    columns = [("equity", "Strategy")]
    if "benchmark" in curve and curve["benchmark"].notna().any():
        columns.append(("benchmark", "Benchmark"))
    for (column, name), color in zip(columns, COLORS, strict=False):
        values = equity_series(curve, column)
        fig.add_trace(
            go.Scatter(
                x=_dates(values),
                y=values.to_numpy(),
                name=name,
                mode="lines",
                line={"color": color, "width": 2 if column == "equity" else 1.5},
                customdata=(values / values.iloc[0] - 1).to_numpy(),
                hovertemplate=f"{name}: $%{{y:,.0f}} (%{{customdata:+.2%}})<extra></extra>",
            )
        )
    title = "Equity vs benchmark" if len(columns) > 1 else "Equity"
    scale = " (log scale)" if log_y else ""
    return _chart(fig, title + scale, ("Date", "date"), ("Equity", "usd"), 380, log_y)


def drawdown_figure(curve: pd.DataFrame) -> go.Figure:
    """Return the drawdown from the running peak in %, hover also in USD below the peak."""
    equity = equity_series(curve)
    fall = drawdown(equity)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=_dates(fall),
            y=fall.to_numpy(),
            name="Strategy",
            fill="tozeroy",
            mode="lines",
            line={"color": DOWN, "width": 1},
            customdata=(equity - equity.cummax()).to_numpy(),
            hovertemplate="Strategy: %{y:.2%} ($%{customdata:,.0f} below peak)<extra></extra>",
        )
    )
    if "benchmark" in curve and curve["benchmark"].notna().any():
        bench = equity_series(curve, "benchmark")
        fig.add_trace(
            go.Scatter(
                x=_dates(bench),
                y=drawdown(bench).to_numpy(),
                name="Benchmark",
                mode="lines",
                line={"color": COLORS[1], "width": 1, "dash": "dot"},
                customdata=(bench - bench.cummax()).to_numpy(),
                hovertemplate="Benchmark: %{y:.2%} ($%{customdata:,.0f} below peak)<extra></extra>",
            )
        )
    return _chart(fig, "Drawdown from peak", ("Date", "date"), ("Drawdown", "pct"), 260)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_heatmap(curve: pd.DataFrame) -> go.Figure:
    """Return monthly returns as a years x months heatmap in %, hover also in USD."""
    equity = equity_series(curve)
    returns = monthly_returns(equity)
    pnl = monthly_pnl(equity)
    z = returns.to_numpy(dtype=float)
    text = [[pct(v, 1) if math.isfinite(v) else "" for v in row] for row in z]
    limit = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 0.01
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[*MONTHS, "Year"],
            y=[str(y) for y in returns.index],
            text=text,
            texttemplate="%{text}",
            customdata=pnl.to_numpy(dtype=float),
            colorscale=[[0.0, DOWN], [0.5, "#FFFFFF"], [1.0, UP]],
            zmid=0.0,
            zmin=-limit,
            zmax=limit,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": "Return (%)"}, "tickformat": ".0%"},
            hovertemplate="%{x} %{y}: %{z:.2%} ($%{customdata:,.0f})<extra></extra>",
        )
    )
    height = max(240, 140 + 40 * len(returns))
    fig = _chart(fig, "Monthly returns (%)", ("Month", "none"), ("Year", "none"), height)
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    fig.update_xaxes(showgrid=False, type="category")
    return fig


def rolling_sharpe_figure(curve: pd.DataFrame, window: int) -> go.Figure:
    """Return the rolling annualised Sharpe ratio over ``window`` sessions."""
    equity = equity_series(curve)
    ratio = rolling_sharpe(equity, window)
    change = equity.pct_change(window)
    fig = go.Figure(
        go.Scatter(
            x=_dates(ratio),
            y=ratio.to_numpy(),
            name=f"Sharpe, {window} sessions",
            mode="lines",
            line={"color": COLORS[0], "width": 1.5},
            customdata=np.column_stack(
                [change.to_numpy(), (equity - equity.shift(window)).to_numpy()]
            ),
            hovertemplate="Sharpe %{y:.2f} · window return %{customdata[0]:+.2%} "
            "($%{customdata[1]:,.0f})<extra></extra>",
        )
    )
    fig.add_hline(y=0, line={"color": "rgba(0,0,0,0.4)", "width": 1})
    title = f"Rolling Sharpe ({window} sessions)"
    return _chart(fig, title, ("Date", "date"), ("Sharpe ratio, annualised", "ratio"), 300)


def exposure_figure(curve: pd.DataFrame) -> go.Figure:
    """Return gross and net exposure in % of equity; hover also shows long and short USD."""
    frame = exposure(curve)
    usd = frame[["long_usd", "short_usd"]].to_numpy()
    fig = go.Figure()
    for column, name, color in (("gross", "Gross", COLORS[0]), ("net", "Net", COLORS[2])):
        fig.add_trace(
            go.Scatter(
                x=_dates(frame),
                y=frame[column].to_numpy(),
                name=name,
                mode="lines",
                line={
                    "color": color,
                    "width": 1.5,
                    "dash": "solid" if column == "gross" else "dot",
                },
                customdata=usd,
                hovertemplate=f"{name}: %{{y:.1%}} (long $%{{customdata[0]:,.0f}}, "
                "short $%{customdata[1]:,.0f})<extra></extra>",
            )
        )
    return _chart(fig, "Exposure (% of equity)", ("Date", "date"), ("Exposure", "pct"), 300)


def holdings_figure(counts: pd.Series, curve: pd.DataFrame) -> go.Figure:
    """Return the number of holdings after each rebalance, held until the next one.

    The hover also shows the value invested (long plus short, USD) and the gross exposure.
    """
    series = counts
    end = pd.DatetimeIndex(curve.index)[-1] if len(curve) else None
    if end is not None and len(counts) and counts.index[-1] < end:
        series = pd.concat([counts, pd.Series([counts.iloc[-1]], index=pd.DatetimeIndex([end]))])
    book = exposure(curve).reindex(_dates(series), method="ffill")
    invested = (book["long_usd"] - book["short_usd"]).to_numpy()
    fig = go.Figure(
        go.Scatter(
            x=_dates(series),
            y=series.to_numpy(),
            name="Holdings",
            mode="lines+markers",
            line={"shape": "hv", "color": COLORS[0], "width": 1.5},
            marker={"size": 5},
            customdata=np.column_stack([invested, book["gross"].to_numpy()]),
            hovertemplate="%{y:,d} symbols held: $%{customdata[0]:,.0f} invested "
            "(%{customdata[1]:.1%} of equity)<extra></extra>",
        )
    )
    fig = _chart(fig, "Number of holdings", ("Date", "date"), ("Holdings", "count"), 300)
    fig.update_yaxes(rangemode="tozero")
    return fig


def weights_figure(weights: pd.DataFrame, equity: pd.Series) -> go.Figure:
    """Return a heatmap of the weights (% of equity) of the most held symbols per rebalance."""
    z = weights.T.to_numpy(dtype=float)
    values = weights.mul(equity.reindex(weights.index), axis=0).T.to_numpy(dtype=float)
    # Shorts on a diverging scale centred on 0 (red short, blue long): on a one-hue scale from
    # 0 a 5% short would look like a tiny long. Two decimals: long-only weights are close.
    top = float(np.nanmax(np.abs(z))) if z.size else 0.0
    shorts = bool((z < 0).any())
    scale: dict[str, object] = (
        {"colorscale": "RdBu", "zmid": 0.0, "zmin": -top, "zmax": top}
        if shorts
        else {"colorscale": "Blues", "zmin": 0.0}
    )
    fig = go.Figure(
        go.Heatmap(
            z=np.where(z == 0, np.nan, z),
            x=_dates(weights),
            y=[str(s) for s in weights.columns],
            customdata=values,
            **scale,
            colorbar={"title": {"text": "Weight (%)"}, "tickformat": ".2%"},
            hovertemplate="%{y} on %{x|%Y-%m-%d}: %{z:.2%} of equity "
            "($%{customdata:,.0f})<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    height = 140 + 20 * len(weights.columns)
    title = f"Weights of the {len(weights.columns)} most held symbols (% of equity)"
    fig = _chart(fig, title, ("Rebalance date", "date"), ("Symbol", "none"), max(height, 300))
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    return fig


def compare_figure(curves: Mapping[str, pd.DataFrame], normalise: bool = True) -> go.Figure:
    """Return the equity of several runs, one trace each, as growth of $1 or in USD."""
    fig = go.Figure()
    for number, (label, curve) in enumerate(curves.items()):
        equity = equity_series(curve)
        growth = equity / equity.iloc[0]
        fig.add_trace(
            go.Scatter(
                x=_dates(equity),
                y=(growth if normalise else equity).to_numpy(),
                name=label,
                mode="lines",
                line={"color": COLORS[number % len(COLORS)], "width": 1.5},
                customdata=np.column_stack([(growth - 1).to_numpy(), equity.to_numpy()]),
                hovertemplate=f"{label}: $%{{customdata[1]:,.0f}} "
                "(%{customdata[0]:+.2%})<extra></extra>",
            )
        )
    if normalise:
        fig = _chart(
            fig, "Compare runs: growth of $1", ("Date", "date"), ("Growth of $1", "ratio"), 420
        )
    else:
        fig = _chart(fig, "Compare runs: equity ($)", ("Date", "date"), ("Equity", "usd"), 420)
    # Many runs make a long legend: below the plot it never covers the title or the lines.
    fig.update_layout(
        legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.25, "yanchor": "top"},
        margin={"b": 100},
    )
    return fig


# --------------------------------------------------------------------------- run labels


def params_text(params: Any) -> str:
    """Return stored params (JSON text or a dict) as ``key=value, ...``."""
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError:
            return str(params)
    if not isinstance(params, Mapping):
        return str(params)
    return ", ".join(
        f"{k}={json.dumps(v) if isinstance(v, dict | list) else v}" for k, v in params.items()
    )


def catalog_rows(runs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Return the catalogue as run id -> row (column name -> value), in its order."""
    rows: dict[str, dict[str, Any]] = {}
    for record in runs.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        rows[str(row["run_id"])] = row
    return rows


def run_label(row: Mapping[str, Any]) -> str:
    """Return one catalogue row for a picker: when, strategy, params, data, period, result."""
    created = str(row.get("created_at", ""))[:16].replace("T", " ")
    final = row.get("final_equity")
    result = f" · final {money(float(final), 0)}" if isinstance(final, int | float) else ""
    return (
        f"{created} · {row.get('strategy')} ({params_text(row.get('params'))}) · "
        f"{row.get('dataset')} {row.get('start')}..{row.get('end')}{result} · "
        f"{str(row.get('run_id', ''))[-4:]}"
    )


def short_label(row: Mapping[str, Any]) -> str:
    """Return a legend label: the strategy and the run id's unique suffix (``momentum #31e4``)."""
    return f"{row.get('strategy')} #{str(row.get('run_id'))[-4:]}"
