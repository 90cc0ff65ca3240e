"""Load the stored models a strategy's parameters name as factors, before the strategy is built.

Reads the model store (I/O): not one of research's pure modules. Any strategy may name a
stored model's composite as a factor, ``model_<model_id>`` (``multi_factor``'s
``factors={"model_value_mom-20240105T143000Z-1a2b": 1.0, "momentum_20": 0.5}``). The drivers
(``backtest/run.py``, ``live/run.py``) and the cockpit's run form call
:func:`load_model_factors` with ``strategy.params`` before they build the strategy: every
string in them (dict keys included, at any depth) that is ``model_`` followed by a model id
is loaded from ``<data_dir>/models`` and registered (``research/model_factor.py``), so that
``factors.base.make_factor`` knows it. A model that is not stored, or was rejected, stops
there with ``ModelNotReady`` (a ``StrategyError``: exit 4), before any bar is read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quant_core.factors.base import MODEL_PREFIX
from quant_core.research.attach import MODELS_DIR
from quant_core.research.model import ModelNotReady
from quant_core.research.model_factor import register_model_factor
from quant_core.research.store import MODEL_ID, ModelStore

logger = logging.getLogger(__name__)


def model_factor_names(params: object) -> list[str]:
    """Return the ``model_<model_id>`` names in ``params``, in the order first met, once each.

    ``params`` is walked through mappings (keys and values), lists, tuples and sets; a string
    counts when it is ``model_`` followed by something shaped like a model id
    (``<name>-<YYYYmmddTHHMMSSZ>-<4 hex>``, ``research.store.MODEL_ID``).
    """
    found: dict[str, None] = {}
    pending: list[object] = [params]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            rest = item.removeprefix(MODEL_PREFIX)
            if rest != item and MODEL_ID.fullmatch(rest) is not None:
                found[item] = None
        elif isinstance(item, Mapping):
            for key, value in reversed(list(item.items())):
                pending.extend([value, key])
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(reversed(list(item)))
    return list(found)


def load_model_factors(params: Mapping[str, Any], data_dir: Path) -> list[str]:
    """Load and register every stored model ``params`` names as a factor; return the names.

    Parameters
    ----------
    params
        A strategy's parameters (``cfg.strategy.params``), before the strategy is built.
    data_dir
        ``paths.data_dir``: the models are read from ``<data_dir>/models``.

    Raises
    ------
    ModelNotReady
        A named model is not stored, or was rejected: the message names the factor and says
        why (for a rejected model its out-of-sample rank IC and the floor).
    DataError
        A stored model's files cannot be read.
    """
    names = model_factor_names(params)
    if not names:
        return []
    store = ModelStore(Path(data_dir) / MODELS_DIR)
    for name in names:
        try:
            model = store.load_fitted(name.removeprefix(MODEL_PREFIX))
            register_model_factor(model)
        except ModelNotReady as exc:
            raise ModelNotReady(f"factor {name} in strategy.params: {exc}") from exc
        logger.info("Loaded model factor %s", name)
    return names
