"""The run form's portfolio sections: construction, constraints, vol target, stops and halts.

Pure, without Streamlit, like :mod:`~quant_core.cockpit.models.backtest_form`. Each field is a
config key: its widget kind and help text come from ``config/schema.py`` (the field's type and
description), its default from the loaded config (``base.yaml`` and its overlays). What the
form holds becomes ``--set`` overrides, and :func:`check_run` loads them through the config
loader and checks what cannot run (the schedule and construction method against the strategy,
the history the period leaves) before anything runs, the way ``run_backtest.py`` would fail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from config import load_config
from config.schema import AppConfig
from quant_core.cockpit.models.backtest_form import ParamSpec, field_spec
from quant_core.errors import ConfigError, DataError, QuantError
from quant_core.portfolio.construction import METHODS
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.schedule import session_range
from quant_core.research.model_factors import load_model_factors
from quant_core.strategies import STRATEGIES, build_strategy, check_schedule
from quant_core.strategies.decide import check_policy, decision_warmup

METHOD = "portfolio.construction.method"
CONSTRUCTION = ("lookback", "covariance", "ic")  # keys of portfolio.construction besides method
VOL_TARGET_READS = ("lookback", "covariance")  # construction keys the vol target reads too
LABELS = {  # config key -> the form's label; the help text is the schema's description
    METHOD: "Construction method",
    "portfolio.construction.lookback": "Lookback (sessions)",
    "portfolio.construction.covariance": "Covariance estimator",
    "portfolio.construction.ic": "IC of the scores",
    "portfolio.constraints.max_weight": "Max weight per name",
    "portfolio.constraints.sector_cap": "Sector cap (gross)",
    "portfolio.constraints.max_gross": "Max gross",
    "portfolio.constraints.max_net": "Max net",
    "portfolio.constraints.max_turnover": "Max turnover per rebalance",
    "portfolio.constraints.no_trade_band": "No-trade band",
    "portfolio.vol_target": "Vol target (annualised)",
    "risk.stop_loss": "Stop loss",
    "risk.take_profit": "Take profit",
    "risk.trailing_stop": "Trailing stop",
    "risk.max_drawdown_frac": "Max drawdown (halts)",
    "risk.max_daily_loss_frac": "Max daily loss (halts)",
    "risk.on_breach": "On breach",
    "risk.halt_sessions": "Halt sessions",
}
CONSTRAINTS = tuple(k for k in LABELS if k.startswith("portfolio.constraints."))
STOPS = tuple(k for k in LABELS if k.startswith("risk."))
BLANK_MAX_WEIGHT = "portfolio.constraints.max_weight"  # blank: risk.max_position_weight


def widget_key(path: str) -> str:
    """Return the session-state key of config key ``path``'s widget."""
    return f"bt_set__{path}"


METHOD_KEY = widget_key(METHOD)


@dataclass(frozen=True, slots=True)
class ConfigField:
    """One config key as a form field.

    Attributes
    ----------
    path
        The dotted config key, e.g. ``risk.stop_loss``.
    label
        The widget's label.
    spec
        Kind, choices and help from the schema; the default is the loaded config's value.
    placeholder
        What a blank number input means (an optional field left blank is None: off).
    """

    path: str
    label: str
    spec: ParamSpec
    placeholder: str = ""

    @property
    def key(self) -> str:
        """Return the widget's session-state key."""
        return widget_key(self.path)

    @property
    def step(self) -> int | float:
        """Return the number input's step."""
        return 1 if self.spec.kind == "int" else 0.01

    @property
    def number_format(self) -> str:
        """Return the printf format of the number input."""
        return "%d" if self.spec.kind == "int" else "%.4f"

    def override(self, value: Any) -> str:
        """Return the ``--set`` override of ``value`` (a choice as text, numbers as JSON)."""
        text = str(value) if self.spec.kind == "choice" else json.dumps(value)
        return f"{self.path}={text}"


@dataclass(frozen=True, slots=True)
class FormSections:
    """The portfolio fields of the form for one construction method, grouped as shown.

    ``construction`` holds the settings the method uses; ``vol_target`` the vol target and the
    settings it reads that the method does not (so each key is in exactly one place).
    """

    method: ConfigField
    construction: tuple[ConfigField, ...]
    constraints: tuple[ConfigField, ...]
    vol_target: tuple[ConfigField, ...]
    stops: tuple[ConfigField, ...]

    @property
    def fields(self) -> tuple[ConfigField, ...]:
        """Return every field, the method first."""
        groups = (self.construction, self.constraints, self.vol_target, self.stops)
        return (self.method, *(f for group in groups for f in group))


def config_field(cfg: AppConfig, path: str) -> ConfigField:
    """Return the form field of config key ``path``, its default the value in ``cfg``."""
    *parents, name = path.split(".")
    section: BaseModel = cfg
    for part in parents:
        section = getattr(section, part)
    spec = field_spec(name, type(section).model_fields[name])
    spec = replace(spec, default=getattr(section, name))
    placeholder = ""
    if spec.optional:
        placeholder = "off"
        if path == BLANK_MAX_WEIGHT:
            placeholder = f"{cfg.risk.max_position_weight} (risk.max_position_weight)"
    return ConfigField(path, LABELS[path], spec, placeholder)


def method_settings(method: str) -> tuple[str, ...]:
    """Return the ``portfolio.construction`` keys ``method`` uses (all of them if unregistered)."""
    entry = METHODS.items.get(method)
    return CONSTRUCTION if entry is None else tuple(s for s in CONSTRUCTION if s in entry.settings)


def method_note(method: str) -> str:
    """Return one line on ``method`` for the form: its summary, and what it needs."""
    entry = METHODS.items.get(method)
    if entry is None:
        return f"{method} is not available in this build; valid: {', '.join(METHODS.names())}."
    if not entry.needs_scores:
        return entry.summary
    scored = ", ".join(n for n, cls in STRATEGIES.items.items() if cls.gives_scores)
    return f"{entry.summary} Needs a strategy that gives scores ({scored})."


def sections(cfg: AppConfig, method: str) -> FormSections:
    """Return the form's portfolio fields for ``method``, defaults from ``cfg``."""
    used = method_settings(method)
    vol_only = [s for s in VOL_TARGET_READS if s not in used]
    return FormSections(
        method=config_field(cfg, METHOD),
        construction=tuple(config_field(cfg, f"portfolio.construction.{s}") for s in used),
        constraints=tuple(config_field(cfg, p) for p in CONSTRAINTS),
        vol_target=tuple(
            config_field(cfg, p)
            for p in ("portfolio.vol_target", *(f"portfolio.construction.{s}" for s in vol_only))
        ),
        stops=tuple(config_field(cfg, p) for p in STOPS),
    )


def overrides(fields: Sequence[ConfigField], values: Mapping[str, Any]) -> list[str]:
    """Return the ``--set`` overrides of ``fields``; ``values`` maps widget keys to values."""
    return [f.override(values.get(f.key, f.spec.default)) for f in fields]


@dataclass(frozen=True, slots=True)
class RunCheck:
    """What :func:`check_run` found: problems stop the run, notes only inform.

    ``first`` is the run's first session (its first rebalance) when the period has one; it
    takes no part in comparisons.
    """

    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    first: pd.Timestamp | None = field(default=None, compare=False)


def config_problems(exc: ConfigError) -> list[str]:
    """Return the config loader's error as one line per key (it names each key first)."""
    lines = str(exc).splitlines()
    if len(lines) > 1 and lines[0].endswith("invalid config value(s):"):
        return [line.strip() for line in lines[1:]]
    return [str(exc)]


def check_run(overrides: Sequence[str], sessions: np.ndarray) -> RunCheck:
    """Load a run's config and check, before anything runs, what would stop it.

    Parameters
    ----------
    overrides
        The form's ``--set`` overrides.
    sessions
        The dataset's session dates (``datetime64``), for the history the period leaves.

    Returns
    -------
    RunCheck
        Problems, each naming its key: every invalid config value (one line per key), a
        schedule the strategy refuses, a construction method the strategy cannot feed (e.g.
        ``mean_variance`` on a strategy without scores), a period too short for the strategy's
        and the construction's history, a stored model named as a factor (``model_<id>``,
        loaded here as the drivers load it) that is not stored or was rejected. Notes:
        settings that have no effect as combined.
    """
    try:
        cfg = load_config("backtest", overrides)
    except ConfigError as exc:
        return RunCheck(tuple(config_problems(exc)))
    policy = PortfolioPolicy.from_config(cfg)
    try:
        # Stored models named as factors (model_<id>): loaded, or the reason they cannot be.
        load_model_factors(cfg.strategy.params, cfg.paths.data_dir)
        strategy = build_strategy(cfg.strategy.name, cfg.strategy.params)
        check_schedule(strategy, cfg.strategy.rebalance)
        check_policy(strategy, policy)
    except QuantError as exc:
        return RunCheck((str(exc),))
    warmup = decision_warmup(strategy, policy)
    try:
        first, _ = session_range(sessions, warmup, cfg.backtest.start, cfg.backtest.end)
    except DataError as exc:
        why = str(exc)
        if policy.history > strategy.warmup:
            why += (
                f" (strategy warm-up {strategy.warmup}; construction and vol target "
                f"{policy.history}: portfolio.construction.lookback="
                f"{policy.construction.lookback} returns plus one close)"
            )
        return RunCheck((why,))
    return RunCheck(notes=tuple(notes(cfg)), first=pd.Timestamp(sessions[first]))


def notes(cfg: AppConfig) -> list[str]:
    """Return what in ``cfg`` runs but does nothing, or works only in the backtest."""
    out = []
    risk, limits = cfg.risk, cfg.portfolio.constraints
    if risk.on_breach == "flat" and risk.max_drawdown_frac is risk.max_daily_loss_frac is None:
        out.append(
            "risk.on_breach=flat has no effect: neither risk.max_drawdown_frac nor "
            "risk.max_daily_loss_frac is set"
        )
    guard = risk.max_position_weight
    if limits.max_weight is not None and guard is not None and limits.max_weight > guard:
        out.append(
            f"portfolio.constraints.max_weight={limits.max_weight} is above "
            f"risk.max_position_weight={guard}: orders are trimmed to the position limit at "
            "the execution prices, in the backtest and the worker alike"
        )
    return out
