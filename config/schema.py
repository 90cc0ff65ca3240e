"""Typed, frozen configuration models. Unknown keys are errors, never silent defaults.

Every field documents its default and unit. Key names of the shared sections (``paths``,
``calendar``, ``data``, ``strategy``, ``portfolio``, ``costs``) are a public interface: the
backtest and the live worker read the same sections, so they run the same thing by construction.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.backtest_schema import BacktestConfig
from config.paths_schema import PathsConfig as PathsConfig
from config.paths_schema import warehouse_url as warehouse_url
from config.portfolio_schema import (
    ConstraintsConfig,
    ConstructionConfig,
    ConstructionMethod,
    PortfolioConfig,
)
from config.redact import mask
from config.risk_schema import RiskConfig
from config.section import Section
from quant_core.alerts.events import AlertEvent

__all__ = [
    "MOO_CUTOFF",
    "AlertsConfig",
    "AppConfig",
    "BacktestConfig",
    "BpsCosts",
    "CalendarConfig",
    "CockpitConfig",
    "ConstraintsConfig",
    "ConstructionConfig",
    "ConstructionMethod",
    "CostsConfig",
    "DataConfig",
    "IBConfig",
    "LiveConfig",
    "LoggingConfig",
    "PathsConfig",
    "PerShareCosts",
    "PortfolioConfig",
    "RiskConfig",
    "Section",
    "StrategyConfig",
]

MOO_CUTOFF = dt.time(9, 28)  # the last exchange-local time the opening auction takes orders


class CalendarConfig(Section):
    """The exchange whose sessions are the trading days."""

    exchange: str = Field(default="XNYS", description="exchange_calendars code. Default: XNYS")


class DataConfig(Section):
    """Which warehouse dataset the backtest and the worker read, and how syncs treat bad rows."""

    dataset: str = Field(
        default="sp500-2010",
        min_length=1,
        description="Warehouse dataset to read. Default: sp500-2010",
    )
    ohlc_inconsistency: Literal["reject", "repair"] = Field(
        default="reject",
        description="Rows whose high/low contradict open/close, from csv and other user "
        "sources: reject them, or widen high/low to cover open/close (reported either way). "
        "Sample datasets state their own documented rule. Default: reject",
    )


class StrategyConfig(Section):
    """The strategy both drivers run."""

    name: str = Field(default="momentum", min_length=1, description="Registered strategy name")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Strategy parameters, validated by the strategy"
    )
    # Strict: YAML's `true` must not become a rebalance every 1 session.
    rebalance: Annotated[int, Field(strict=True, gt=0)] | Literal["weekly", "monthly"] = Field(
        default=21,
        description="Every N trading days (integer), or the first session of each week/month. "
        "Default: 21",
    )


class PerShareCosts(Section):
    """IB-style tiered commission: per share, with a minimum and a cap per order."""

    model: Literal["per_share"] = "per_share"
    per_share_usd: NonNegativeFloat = Field(default=0.005, description="USD per share: 0.005")
    min_per_order_usd: NonNegativeFloat = Field(default=1.0, description="USD per order: 1.00")
    max_frac_of_value: float = Field(
        default=0.01, gt=0, le=1, description="Cap as a fraction of the order value. Default: 0.01"
    )
    slippage_bps: float = Field(
        default=5.0, ge=0, lt=10_000, description="Adverse price move per fill, bps. Default: 5"
    )


class BpsCosts(Section):
    """Commission as basis points of the traded value."""

    model: Literal["bps"] = "bps"
    commission_bps: float = Field(
        default=1.0, ge=0, lt=10_000, description="Basis points of notional. Default: 1"
    )
    slippage_bps: float = Field(
        default=5.0, ge=0, lt=10_000, description="Adverse price move per fill, bps. Default: 5"
    )


CostsConfig = Annotated[PerShareCosts | BpsCosts, Field(discriminator="model")]


class LiveConfig(Section):
    """Live worker settings."""

    broker: Literal["sim", "ib"] = Field(default="sim", description="Default: sim (paper sim)")
    heartbeat_s: PositiveFloat = Field(default=1.0, description="Heartbeat period, seconds")
    rebalance_time: dt.time = Field(
        default=dt.time(9, 35), description="Exchange-local time of the rebalance. Default 09:35"
    )
    command_max_age_s: PositiveFloat = Field(
        default=60.0, description="Older commands are refused as expired, seconds. Default: 60"
    )
    initial_cash: PositiveFloat = Field(
        default=1_000_000.0, description="Starting cash of the simulated account, USD"
    )
    flat_timeout_s: PositiveFloat = Field(
        default=30.0, description="How long FLAT re-checks for an empty book, seconds"
    )
    order_type: Literal["market", "market_on_open"] = Field(
        default="market",
        description="market: fills at once, after the open; market_on_open: in the opening "
        "auction, the backtest's price (needs rebalance_time before 09:28). Default: market",
    )
    refresh: Literal["broker", "none"] = Field(
        default="none",
        description="broker: the worker fetches the sessions missing from the warehouse through "
        "the IB history source after each close (refresh_time) and at start if stale, then "
        "recomputes its factors; none: run_data_sync.py keeps the data fresh. Default: broker "
        "with live.broker: ib, none with sim",
    )
    refresh_time: dt.time = Field(
        default=dt.time(16, 30),
        description="Exchange-local time of the nightly data refresh on a regular session; an "
        "early close moves it as much earlier (16:30 -> 13:30 after a 13:00 close). "
        "Default 16:30",
    )
    refresh_retry_s: PositiveFloat = Field(
        default=300.0,
        description="A failed refresh is tried again after this long, doubled per failure, "
        "seconds. Default: 300",
    )
    refresh_retry_max_s: PositiveFloat = Field(
        default=3600.0, description="The longest wait between refresh attempts, s. Default: 3600"
    )
    health_max_age_s: PositiveFloat = Field(
        default=60.0,
        description="run_live_strategy.py --health fails when the state's heartbeat is older "
        "than this, seconds. Default: 60",
    )
    log_max_mb: PositiveFloat = Field(
        default=10.0, description="worker.log rotates at this size, MB. Default: 10"
    )
    log_backups: PositiveInt = Field(
        default=5, description="Rotated worker.log files kept (worker.log.1 ...). Default: 5"
    )

    @model_validator(mode="before")
    @classmethod
    def _refresh_default(cls, value: Any) -> Any:
        # The default follows the broker: IB has history to fetch, the simulated broker none.
        if isinstance(value, dict) and value.get("refresh") is None:
            return {**value, "refresh": "broker" if value.get("broker") == "ib" else "none"}
        return value

    @field_validator("rebalance_time", "refresh_time", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 15:45 as the number 945 (base 60).
        if isinstance(value, int):
            raise ValueError('write the time quoted, as "HH:MM" (an unquoted 15:45 is a number)')
        return value

    @model_validator(mode="after")
    def _auction_cutoff(self) -> LiveConfig:
        # NYSE and Nasdaq take market-on-open orders until 09:28; later ones would wait a day.
        if self.order_type == "market_on_open" and self.rebalance_time >= MOO_CUTOFF:
            raise ValueError(
                f"live.order_type market_on_open needs live.rebalance_time before "
                f"{MOO_CUTOFF:%H:%M} (got {self.rebalance_time:%H:%M}); the auction takes "
                "later orders only for the next day"
            )
        if self.refresh == "broker" and self.broker != "ib":
            raise ValueError(
                "live.refresh: broker fetches bars through IB (live.broker: ib); the simulated "
                "broker has no history: use live.refresh: none and run_data_sync.py"
            )
        return self


class IBConfig(Section):
    """Connection to TWS or IB Gateway."""

    host: str = Field(default="127.0.0.1", description="TWS / Gateway host. Default: 127.0.0.1")
    port: PositiveInt = Field(default=7497, description="7497 paper TWS, 4002 paper Gateway")
    client_id: int = Field(default=17, ge=0, description="API client id. Default: 17")
    account: str | None = Field(default=None, description="Account id; None: the only one")
    trading_mode: Literal["paper", "live"] = Field(default="paper", description="Default: paper")
    tws_timezone: str | None = Field(
        default=None,
        description="The zone TWS / Gateway runs in (its login setting), e.g. America/New_York; "
        "read when TWS sends a time without naming its zone. Default: this machine's zone",
    )
    cancel_scope: Literal["ours", "all"] = Field(
        default="ours",
        description="CANCEL and FLAT cancel our orders (tagged qc:/flat:) or all of the account's",
    )

    @field_validator("tws_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (e.g. America/New_York)") from None
        return value


class CockpitConfig(Section):
    """The Streamlit cockpit."""

    password_hash: SecretStr | None = Field(
        default=None,
        description="Optional salted password hash gating the cockpit; put it in secrets.yaml",
    )


class AlertsConfig(Section):
    """Alerts by apprise URLs (email, Slack, Telegram, Discord, webhooks: quant_core.alerts).

    The URLs carry credentials: they are read from ``config/secrets.yaml`` or the environment
    variable ``QC__ALERTS__URLS`` only (the loader refuses them anywhere else) and never printed.
    """

    urls: list[SecretStr] = Field(
        default_factory=list,
        description="apprise URLs (tgram://..., mailto://..., json://host:port/path), in "
        "secrets.yaml or QC__ALERTS__URLS (a JSON list, or URLs separated by spaces). "
        "Default: none (no alert is sent)",
    )
    on: list[AlertEvent] = Field(
        default_factory=lambda: list(AlertEvent),
        description="Events that alert: halt, flat, stop, disconnect, reject, stale_data, "
        "refresh, daily_report, error; not empty while urls are set. Default: all of them",
    )
    disconnect_after_s: NonNegativeFloat = Field(
        default=60.0,
        description="A broker connection down this long alerts (once per outage); a shorter "
        "drop does not. Seconds. Default: 60",
    )
    min_interval_s: NonNegativeFloat = Field(
        default=300.0,
        description="The same alert (event and title) at most once per this many seconds. "
        "Default: 300",
    )

    @field_validator("urls", mode="before")
    @classmethod
    def _url_list(cls, value: Any) -> Any:
        # QC__ALERTS__URLS is text: a JSON list, or URLs separated by white space (an apprise
        # URL has no space in it; a comma can be part of one, so it does not separate them).
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    raise ValueError("not a JSON list of URLs") from None
            else:
                value = text.split()
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise ValueError("expected a list of URL texts")  # the values are not shown
        texts = [u.get_secret_value() if isinstance(u, SecretStr) else u for u in value]
        if not all(isinstance(u, str) for u in texts):
            raise ValueError("expected a list of URL texts")
        return [u.strip() for u in texts if u.strip()]

    @field_validator("on", mode="before")
    @classmethod
    def _event_list(cls, value: Any) -> Any:
        # QC__ALERTS__ON=halt,flat (a JSON list works too).
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("on")
    @classmethod
    def _once_each(cls, value: list[AlertEvent]) -> list[AlertEvent]:
        return list(dict.fromkeys(value))

    @field_validator("on")
    @classmethod
    def _some_event(cls, value: list[AlertEvent], info: ValidationInfo) -> list[AlertEvent]:
        # QC__ALERTS__ON="" reads as no event at all: with URLs set, every alert would vanish.
        if not value and info.data.get("urls"):
            raise ValueError(
                "no event while alerts.urls is set: no alert would ever be sent; name the "
                "events to alert on (halt, flat, stop, ...), or set alerts.urls=[] to turn "
                "alerts off"
            )
        return value


class LoggingConfig(Section):
    """Log settings."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class AppConfig(Section):
    """The whole, validated configuration."""

    # A dict default is validated with the context, so data_dir resolves against the root.
    paths: PathsConfig = Field(default_factory=dict, validate_default=True)
    calendar: CalendarConfig = CalendarConfig()
    data: DataConfig = DataConfig()
    strategy: StrategyConfig = StrategyConfig()
    portfolio: PortfolioConfig = PortfolioConfig()
    costs: CostsConfig = PerShareCosts()
    backtest: BacktestConfig = BacktestConfig()
    live: LiveConfig = LiveConfig()
    risk: RiskConfig = RiskConfig()
    ib: IBConfig = IBConfig()
    cockpit: CockpitConfig = CockpitConfig()
    alerts: AlertsConfig = AlertsConfig()
    logging: LoggingConfig = LoggingConfig()

    def sanitized(self) -> dict[str, Any]:
        """Return the config as JSON-ready data with every secret masked.

        ``SecretStr`` fields dump as ``**********``; so does any value under a key that looks
        like a credential (a strategy parameter ``api_key``), see :mod:`config.redact`.
        """
        masked: dict[str, Any] = mask(self.model_dump(mode="json"))
        return masked
