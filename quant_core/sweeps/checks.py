"""What a sweep is checked for before anything runs, and what makes it the same sweep.

- :func:`check_extra`: the command line's ``--set`` cannot change what the sweep file decides:
  the strategy, a swept parameter, the period (a walk-forward's windows would be stretched past
  their ends: look-ahead). Each key is read as the config loader reads it (each part stripped
  and lower-cased, a JSON mapping merged key by key: :mod:`config.keys`), so ``BACKTEST.END``,
  ``backtest .end`` and ``backtest={"end": ...}`` are all ``backtest.end``;
- :func:`check_objective`: the objective is a metric a run has (the names listed);
- :func:`load_base`: the sweep's run config (its ``set`` and the ``--set`` values); an error
  names the sweep file and, when it is one, the ``sweep.set`` key at fault;
- :func:`check_configurations`: a configuration a backtest would refuse (its strategy's
  schedule, ``strategy.rebalance``, or its portfolio policy; a book's sleeves: :func:`check_book`)
  is named with the file;
  :func:`check_study` does the same for an Optuna search at the corners of its space. Given
  the dataset's sessions (:func:`sessions`), each must also find a session to trade in the
  period after its warm-up (a period outside the data, or too early for a long lookback). All
  of it before a cluster starts;
- :func:`sweep_context`: the run config's digest and the version of the dataset's bars, part of
  the sweep's identity (``config.sweep.sweep_digest``): another config or newer bars is another
  sweep, not a resumption of the old one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from config.book_schema import BookConfig
from config.keys import override_paths, touches
from config.schema import AppConfig
from config.sweep import METRIC_NAMES, Configuration, SweepConfig, base_overrides
from config.sweep_book import with_params
from config.sweep_checks import NOT_OBJECTIVES, decided
from quant_core.backtest.benchmark import check_stored_benchmark
from quant_core.book.build import build_book
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError, DataError
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.schedule import session_range
from quant_core.research.model import ModelNotReady
from quant_core.research.model_factors import load_model_factors, model_factor_names
from quant_core.runs import config_digest
from quant_core.strategies import build_strategy, check_schedule
from quant_core.strategies.decide import check_policy, decision_warmup
from quant_core.sweeps.model_checks import ModelChecks

Loader = Callable[[list[str]], AppConfig]
Span = tuple[dt.date | None, dt.date | None]


def swept(spec: SweepConfig) -> set[str]:
    """Return the parameters the sweep varies."""
    if spec.grid is not None:
        return set(spec.grid)
    return set(spec.search.space) if spec.search is not None else set()


def check_extra(spec: SweepConfig, extra: tuple[str, ...], path: Path | str) -> None:
    """Refuse a ``--set`` that would change what the sweep file decides (module docstring)."""
    fixed = decided(spec)
    for item in extra:
        dotted, sep, raw = item.partition("=")
        if not sep:  # not key=value: the config loader refuses it
            continue
        given = f"--set {dotted.strip()}"
        for keys in override_paths(dotted, raw, f"{path}: {given}"):
            for key, owner in fixed.items():
                if touches(keys, key):
                    raise ConfigError(
                        f"{path}: {given}: it sets {'.'.join(keys)}, which the sweep file "
                        f"decides ({owner}); change the file, not the command line"
                    )


def check_objective(spec: SweepConfig, path: Path | str) -> None:
    """Refuse an objective no run has, naming the metrics one may choose."""
    if spec.objective not in METRIC_NAMES:
        raise ConfigError(
            f"{path}: sweep.objective: {spec.objective!r} is no metric of a run; choose one "
            f"of {', '.join(sorted(METRIC_NAMES - set(NOT_OBJECTIVES)))}"
        )


def load_base(
    spec: SweepConfig, load: Loader, extra: tuple[str, ...], path: Path | str
) -> AppConfig:
    """Return the sweep's run config: its strategy, ``set`` and period, then ``extra``.

    Raises
    ------
    ConfigError
        It does not validate: the message names the sweep file and, when one item of
        ``sweep.set`` alone is at fault, that key (the loader's own text follows; a secret or
        an unknown key's value is never shown in it).
    """
    try:
        return load([*base_overrides(spec), *extra])
    except ConfigError as exc:
        raise ConfigError(_blame(spec, load, extra, path, exc)) from None


def _blame(
    spec: SweepConfig, load: Loader, extra: tuple[str, ...], path: Path | str, exc: ConfigError
) -> str:
    # Which of sweep.set's items the run config refuses: each alone over the rest of it.
    every = base_overrides(spec)  # strategy.name (not a book's), the set's items, the period
    first = 0 if spec.strategy is None else 1
    items = dict(zip(spec.set, every[first : first + len(spec.set)], strict=True))
    rest = [*every[:first], *every[first + len(spec.set) :]]
    try:
        load([*rest, *extra])
    except ConfigError as own:  # not the sweep's set: the config files, QC__ variables, --set
        return f"{path}: the run config (config files, QC__ variables, --set): {own}"
    for key, item in items.items():
        try:
            load([*rest, item, *extra])
        except ConfigError as one:
            text = str(one).replace(f"(from --set {item.partition('=')[0]})", f"(from {path})")
            return f"{path}: sweep.set.{key}: {text}"
    return f"{path}: sweep.set: {exc}"


def check_runnable(
    cfg: AppConfig,
    params: dict[str, Any] | None = None,
    loaded: set[str] | None = None,
    models: ModelChecks | None = None,
) -> int:
    """Refuse a run config a backtest would refuse; return its decisions' warm-up in sessions.

    Its strategy, schedule or policy, and with ``models`` the stored model it trades
    (:mod:`quant_core.sweeps.model_checks`: its first decision counts as warm-up). ``params``:
    the strategy's params to check instead of the config's (an Optuna trial's). Stored models
    the params name as factors are loaded first, as a run does, but those in ``loaded`` (which
    gets the names loaded) once only.
    """
    params = cfg.strategy.params if params is None else params
    loaded = set() if loaded is None else loaded
    if not set(model_factor_names(params)) <= loaded:
        loaded.update(load_model_factors(params, cfg.paths.data_dir))
    strategy = build_strategy(cfg.strategy.name, params)
    check_schedule(strategy, cfg.strategy.rebalance)
    policy = PortfolioPolicy.from_config(cfg)
    check_policy(strategy, policy)
    first = models.check(strategy) if models is not None else 0  # a model's first decision
    return max(decision_warmup(strategy, policy), first)


def load_models(spec: SweepConfig, base: AppConfig, path: Path | str = "sweep") -> list[str]:
    """Load every stored model the sweep or its run config names as a factor; return the names.

    Before its configurations are built: a ``multi_factor`` whose swept ``factors`` (or a book
    sleeve's) name ``model_<id>`` validates only once that model is a registered factor. Each
    worker's run loads them again itself (``<data_dir>/models`` on every machine).

    Raises
    ------
    ModelNotReady
        A named model is not stored, or was rejected (the sweep file and the factor named).
    """
    named = {"spec": spec.model_dump(mode="json"), "params": base.strategy.params}
    try:
        return load_model_factors(named, base.paths.data_dir)
    except ModelNotReady as exc:
        raise ModelNotReady(f"{path}: {exc}") from None


def check_book(
    cfg: AppConfig,
    book: BookConfig,
    loaded: set[str] | None = None,
    models: ModelChecks | None = None,
) -> dict[str, int]:
    """Refuse a book a backtest would refuse; return each sleeve's warm-up (sessions).

    Each sleeve built as the run builds it (strategy, schedule, scanner, policy:
    :func:`quant_core.book.build.build_book`), with ``models`` the stored model it trades (the
    book waits for its sleeves' models' first decisions: each warm-up counts the latest), the
    stored models its params name as factors loaded first, those in ``loaded`` once only. The
    book starts on its earliest sleeve's first session, and refuses a span in which any sleeve
    has none (:func:`check_sleeves`).
    """
    loaded = set() if loaded is None else loaded
    for sleeve in book.sleeves:
        if not set(model_factor_names(sleeve.strategy.params)) <= loaded:
            loaded.update(load_model_factors(sleeve.strategy.params, cfg.paths.data_dir))
    built = build_book(book, cfg).sleeves
    first = 0  # the latest first decision of a sleeve's model: the whole book waits for it
    for one in built:
        try:
            first = max(first, models.check(one.strategy) if models is not None else 0)
        except ModelNotReady as exc:
            raise ModelNotReady(f"sleeve {one.name}: {exc}") from None
    return {s.name: max(s.warmup, first) for s in built}


def check_sleeves(
    dates: np.ndarray | None, warmups: dict[str, int], span: Span, path: Path | str, what: str
) -> int:
    """Refuse a span in which a sleeve has no session to trade; return the book's warm-up."""
    for name, warmup in warmups.items():
        whose = f"sleeve {name} (its warm-up, {warmup} sessions: its strategy's or scanner's)"
        check_span(dates, warmup, span, path, f"{what}: {whose}")
    return min(warmups.values())


def sessions(base: AppConfig) -> np.ndarray | None:
    """Return the sessions of the run config's dataset; None without it (each run says so)."""
    warehouse = Warehouse(base.paths.warehouse_location())
    if not warehouse.exists(base.data.dataset):
        return None
    # The dates of its bars, as the panels' rows (load_market): no panel read in the driver.
    index = warehouse.bars_per_session(base.data.dataset).index
    return np.asarray(index.to_numpy(dtype="datetime64[D]"))


def check_benchmark_of(base: AppConfig, path: Path | str) -> None:
    """Refuse the run config's ``backtest.benchmark`` if the dataset holds no such symbol."""
    warehouse = Warehouse(base.paths.warehouse_location())
    try:
        check_stored_benchmark(warehouse, base.data.dataset, base.backtest.benchmark)
    except ConfigError as exc:
        raise ConfigError(f"{path}: the run config: {exc}") from None


def check_span(
    dates: np.ndarray | None, warmup: int, span: Span, path: Path | str, what: str
) -> None:
    """Refuse a span with no session to trade after ``warmup`` (the engine's own rule)."""
    if dates is None:
        return
    if not len(dates):
        raise DataError(f"{path}: the dataset has no session")
    try:
        session_range(dates, warmup, *span)
    except DataError as exc:
        raise DataError(f"{path}: {what}: {exc}") from None


def check_configurations(
    base: AppConfig,
    configurations: list[Configuration],
    path: Path | str,
    dates: np.ndarray | None = None,
    span: Span | None = None,
) -> list[int]:
    """Refuse the first configuration a backtest would refuse, naming the file and it.

    A configuration's run config is the sweep's (``base``) with its params over the strategy's
    (the loader merges ``strategy.params.<name>`` into them), so it is checked as that. With
    ``dates`` (:func:`sessions`), it needs a session to trade in ``span`` (the period's, by
    default) after its warm-up, as its backtest would. Returns each one's warm-up (sessions).
    """
    loaded: set[str] = set()
    field = "sweep.period" if span is None else "its first train window"
    span = span or (base.backtest.start, base.backtest.end)
    models = ModelChecks(base.paths.data_dir, span[1], dates)
    judge = _Judge(base, loaded, models, dates, span, path)
    return [judge(f"configuration {c.key}", field, c.params, c.book) for c in configurations]


@dataclass(frozen=True, slots=True)
class _Judge:
    # One configuration (or corner) checked as its run: built, its model, its span.
    base: AppConfig
    loaded: set[str] | None
    models: ModelChecks
    dates: np.ndarray | None
    span: Span
    path: Path | str

    def __call__(
        self, who: str, field: str, params: dict[str, Any], book: BookConfig | None
    ) -> int:
        try:
            if book is not None:
                sleeves = check_book(self.base, book, self.loaded, self.models)
            else:
                merged = {**self.base.strategy.params, **params}
                warmup = check_runnable(self.base, merged, self.loaded, self.models)
        except ConfigError as exc:
            raise ConfigError(f"{self.path}: {who}: {exc}") from None
        except ModelNotReady as exc:  # the span's end may be a walk-forward's first train window
            raise ModelNotReady(f"{self.path}: {who}: {field}: {exc}") from None
        what = f"{who}: {field}"
        if book is not None:
            return check_sleeves(self.dates, sleeves, self.span, self.path, what)
        check_span(self.dates, warmup, self.span, self.path, what)
        return warmup


def load_configuration(load: Loader, overrides: list[str], path: Path | str, key: str) -> AppConfig:
    """Return configuration ``key``'s run config; an error names the sweep file and ``key``."""
    try:
        return load(overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: configuration {key}: {exc}") from None


def check_study(
    spec: SweepConfig, base: AppConfig, path: Path | str, dates: np.ndarray | None = None
) -> list[int]:
    """Refuse an Optuna search a trial's backtest would refuse, at the corners of its space.

    Each trial's params go over the run config's (as :meth:`optuna_search.StudyFeed.take` merges
    them): the strategy is built at every range's low end, then at every one's high end (a
    list's first and last values), then at each other value of a list (over the low end of
    the rest), with the schedule, policy and stored model checked. Returns their warm-ups
    (sessions).
    """
    if spec.search is None:
        return []
    warmups: list[int] = []
    models = ModelChecks(base.paths.data_dir, base.backtest.end, dates)
    corners: list[dict[str, Any]] = [{}, {}]
    for name, dim in spec.search.space.items():
        ends = (dim[0], dim[-1]) if isinstance(dim, list) else (dim.whole or dim.real or (0, 0))
        corners[0][name], corners[1][name] = ends
    # A list's other values too (over the low corner): a value is a choice, not a point between
    # its ends (a stored model fitted on a later window, or rejected, may sit in the middle).
    for name, dim in spec.search.space.items():
        if isinstance(dim, list):
            corners += [{**corners[0], name: value} for value in dim[1:-1]]
    judge = _Judge(base, None, models, dates, (base.backtest.start, base.backtest.end), path)
    for corner in corners:
        who = f"sweep.search.space at {corner}"
        try:
            book = None if spec.book is None else with_params(spec.book.config, corner)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {who}: {exc}") from None
        warmups.append(judge(who, "sweep.period", corner, book))
    return warmups


def bars_version_of(base: AppConfig) -> int:
    """Return the version of the bars of ``base``'s dataset (-1: no such dataset yet).

    Factor values stored since (a ``--fit``'s composite) do not move it: they change no result.
    """
    warehouse = Warehouse(base.paths.warehouse_location())
    dataset = base.data.dataset
    return warehouse.bars_version(dataset) if warehouse.exists(dataset) else -1


def sweep_context(base: AppConfig, spec: SweepConfig, version: int | None = None) -> str:
    """Return the run config's digest and the version of the dataset's bars.

    ``version``: the one read by the caller (:func:`bars_version_of`), which its tasks carry;
    None reads it now. The strategy's params the sweep varies are left out (the sweep's own,
    in its spec), and a book's sweep leaves out the whole ``strategy`` section, which a book
    does not read; every other param of the run config (``base.yaml``, a
    ``QC__STRATEGY__PARAMS__`` variable, a ``--set``) decides each result, so it stays in.
    """
    config = base.sanitized()
    if spec.book is not None:  # a book reads no strategy section: each sleeve names its own
        config.pop("strategy", None)
    params = config.get("strategy", {}).get("params")
    if isinstance(params, dict):
        for name in swept(spec):
            params.pop(name, None)
        if not params:  # all swept: the digest is the one before unswept params counted
            config["strategy"].pop("params")
    if version is None:
        version = bars_version_of(base)
    return f"{config_digest(config)}:{base.data.dataset}:{version}"


__all__ = [
    "METRIC_NAMES",
    "bars_version_of",
    "check_benchmark_of",
    "check_book",
    "check_configurations",
    "check_extra",
    "check_objective",
    "check_runnable",
    "check_sleeves",
    "check_span",
    "check_study",
    "load_base",
    "load_configuration",
    "load_models",
    "sessions",
    "sweep_context",
    "swept",
]
