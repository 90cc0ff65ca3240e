"""Give a strategy that trades a stored model (``fitted``) its model, before anything runs.

Both drivers call :func:`attach_model` right after building the strategy: the backtest stops
on a refusal (``ModelNotReady``, exit 4) before reading any bar; the worker starts and goes
HALTED with the refusal as its reason (``WorkerOptions.refusal``). Reads the model store (I/O):
not one of research's pure modules. A strategy needs a model when its class says so
(``needs_model = True``); it is typed structurally here, since ``strategies`` sits above
``research``.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, Protocol

from quant_core.errors import ConfigError, DataError
from quant_core.research.model import FittedModel, ModelNotReady
from quant_core.research.store import ModelStore

logger = logging.getLogger(__name__)

MODELS_DIR = "models"  # <data_dir>/models: the model store


class TradesAModel(Protocol):
    """What a strategy that trades a stored model offers its drivers."""

    name: str
    params: Any
    needs_model: bool

    def attach(self, model: FittedModel) -> None:
        """Trade ``model`` (raising ``ModelNotReady`` if it may not be traded)."""

    def refuse(self, reason: str) -> None:
        """Record why no model could be attached: the strategy's decisions raise it."""


def needs_model(strategy: object) -> bool:
    """Return whether ``strategy``'s class declares that it trades a stored model."""
    return bool(getattr(type(strategy), "needs_model", False))


def attach_model(strategy: Any, data_dir: Path) -> str | None:
    """Load ``strategy.params.model`` from ``<data_dir>/models`` and attach it.

    Returns None when attached (or when the strategy needs no model), else the refusal: why
    the strategy cannot trade, which is also given to it (``strategy.refuse``) so that its
    ``decide`` raises it. Refused: no model named, an id that is not one (``ConfigError``), no
    model stored under it, a rejected model (``ModelNotReady``), a damaged model folder: a
    ``model.json`` that cannot be read, a field missing or wrong, coefficients that do not match
    the factors, an ``estimators.joblib`` that cannot be unpickled or does not fit the spec
    (``DataError`` naming the model and the file, ``research/store_json.py``). Every refusal
    is the same to the drivers: the backtest exits 4, the worker starts HALTED with it.
    """
    if not needs_model(strategy):
        return None
    fitted: TradesAModel = strategy
    model_id = str(fitted.params.model)
    try:
        if not model_id:
            raise ModelNotReady(
                "needs a model: --param model=<model_id> (or strategy.params.model); "
                "run_factor_computation.py --models lists the stored ones"
            )
        model = ModelStore(Path(data_dir) / MODELS_DIR).load_fitted(model_id)
        fitted.attach(model)
    except (ModelNotReady, ConfigError, DataError) as exc:  # DataError: a damaged model folder
        text = str(exc)
        prefix = f"strategy {fitted.name}: "
        reason = text if text.startswith(prefix) else prefix + text
        fitted.refuse(reason)
        logger.warning("%s", reason)
        return reason
    logger.info("Strategy %s trades model %s", fitted.name, model_id)
    return None


def too_late(name: str, first: dt.date | None, end: dt.date | None) -> str | None:
    """Return why strategy ``name``'s model, first deciding ``first``, cannot trade by ``end``."""
    if first is None or end is None or first <= end:
        return None
    return (
        f"strategy {name}: its model predicts from the close of {first - dt.timedelta(days=1)} "
        f"on, after the end of the span {end}: choose a later end, or a model fitted on "
        "earlier data"
    )


def first_session(
    strategy: Any, start: dt.date | None, end: dt.date | None = None
) -> dt.date | None:
    """Return ``start``, moved to the first date the attached model predicts for, if later.

    A session T decides from the close of T-1, which a model predicts from its first refit's
    ``valid_from`` on (``strategy.first_decision``): a backtest or replay that would start
    earlier starts at the first session after it (logged), rather than stopping there.

    Raises
    ------
    ModelNotReady
        That first date is after ``end``: the model predicts nothing inside the span.
    """
    first: dt.date | None = getattr(strategy, "first_decision", None)
    if (late := too_late(getattr(strategy, "name", "?"), first, end)) is not None:
        raise ModelNotReady(late)
    if first is None or (start is not None and start >= first):
        return start
    logger.warning(
        "Strategy %s: its model predicts from the close of %s on; starting at %s, not %s",
        getattr(strategy, "name", "?"),
        first - dt.timedelta(days=1),
        first,
        start or "the data's start",
    )
    return first
