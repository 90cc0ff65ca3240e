"""The ``fitted`` strategy: trade the top (and bottom) quantile of a stored model's prediction.

A fitted model (``quant_core/research``: ``run_factor_computation.py --fit SPEC`` stores one)
predicts each symbol's return from its factors at the close of T-1, by the refit that saw only
labels complete before then (:class:`~quant_core.research.model.FittedModel`). The strategy
does no I/O: the drivers load the stored model and :meth:`Fitted.attach` it before anything
runs (``quant_core/research/attach.py``).

It refuses to trade (:class:`~quant_core.research.model.ModelNotReady`, a ``StrategyError``:
exit 4 in the backtest, HALTED with the reason in the worker) when no accepted model is
attached, or when a factor of the model is not there for T-1 (fewer than ``MIN_NAMES`` symbols
with a finite value), or when T-1 is before the model's first refit.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import Field
from typing_extensions import override

from quant_core.factors import make_factor
from quant_core.research.design import MIN_NAMES
from quant_core.research.model import ACCEPTED, FittedModel, ModelNotReady
from quant_core.strategies.base import (
    Picks,
    Strategy,
    StrategyContext,
    StrategyParams,
    register_strategy,
)
from quant_core.strategies.builtin.cross_sectional import quantile_book

NO_MODEL_WARMUP = 1  # without a model there is nothing to warm up: decide() refuses anyway


class FittedParams(StrategyParams):
    """Parameters of ``fitted``."""

    model: str = Field(
        default="",
        pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        description="Stored model id (run_factor_computation.py --models lists them); required",
    )
    top_quantile: float = Field(default=0.2, gt=0, le=1, description="Share held, default 0.2")
    long_short: bool = Field(
        default=False,
        description="Also short the bottom quantile: longs sum to 0.5, shorts to -0.5",
    )


@register_strategy("fitted")
class Fitted(Strategy[FittedParams]):
    """Hold the top quantile of a stored, accepted model's prediction for T (``model`` = its id).

    prediction_i = the model's refit valid at T-1 applied to symbol i's factors at the close of
    T-1, z-scored across the symbols that have every factor (clipped to +/-3). Long the top
    ``top_quantile`` (k = max(1, floor(q x count)), ties by symbol), 1/k each; ``long_short``:
    also short the bottom quantile, longs 0.5 and shorts -0.5 in all. Its scores are the
    prediction. Refuses to trade (exit 4 in a backtest, HALTED in the worker) without an
    accepted model, before its first refit, or when a factor is missing for T-1.
    """

    Params = FittedParams
    gives_scores = True
    needs_model: ClassVar[bool] = True  # the drivers load params.model and attach it

    def __init__(self, params: FittedParams) -> None:
        super().__init__(params)
        self.model: FittedModel | None = None
        self.refusal: str | None = None  # why attaching failed, once a driver tried

    def attach(self, model: FittedModel) -> None:
        """Trade ``model`` from now on.

        Raises
        ------
        ModelNotReady
            ``model`` is not the one ``params.model`` names, or it was not accepted.
        """
        name = self.params.model
        if model.model_id != name:
            raise ModelNotReady(
                f"strategy fitted: given model {model.model_id}, but its parameter model is "
                f"{name or '(empty)'}"
            )
        if model.status != ACCEPTED:
            raise ModelNotReady(
                f"strategy fitted: model {name} is {model.status}, not {ACCEPTED}: it cannot trade"
            )
        self.model, self.refusal = model, None

    def refuse(self, reason: str) -> None:
        """Record why no model could be attached: :meth:`decide` raises it."""
        self.model, self.refusal = None, reason

    @property
    def first_decision(self) -> dt.date | None:
        """Return the first date a session T may fall on: the day after the first refit's.

        None without a model or refits. A session T decides from the factors at the close of
        T-1, which the first refit predicts from its ``valid_from`` on.
        """
        if self.model is None or not self.model.refits:
            return None
        return self.model.refits[0].valid_from + dt.timedelta(days=1)

    @property
    @override
    def warmup(self) -> int:
        """Return the longest window of the model's factors (1 without a model)."""
        if self.model is None:
            return NO_MODEL_WARMUP
        return max(make_factor(name).window for name in self.model.factors)

    @override
    def target_weights(self, context: StrategyContext) -> pd.Series:
        return self.decide(context).weights

    @override
    def decide(self, context: StrategyContext) -> Picks:
        model = self._ready()
        asof = context.view.last_date.date()
        features = {name: context.view.factor(name) for name in model.factors}
        for name, values in features.items():
            count = int(np.isfinite(values.to_numpy(dtype=float)).sum())
            if count < MIN_NAMES:
                size = context.view.universe_size
                why = (
                    "the data for T-1 is missing or incomplete (run run_data_sync.py)"
                    if size is None or size >= MIN_NAMES
                    else f"the sleeve's universe holds {size} name(s): its scanner must keep "
                    f"at least {MIN_NAMES} for a fitted model"
                )
                raise ModelNotReady(
                    f"strategy fitted: factor {name} of model {model.model_id} has {count} "
                    f"value(s) at the close of {asof} (T-1), fewer than {MIN_NAMES}: {why}"
                )
        try:
            prediction = model.predict(features, asof)
        except ModelNotReady as exc:
            raise ModelNotReady(f"strategy fitted: {exc}") from None
        if not np.isfinite(prediction.to_numpy()).any():
            raise ModelNotReady(
                f"strategy fitted: model {model.model_id} predicts nothing at the close of "
                f"{asof} (T-1): fewer than {MIN_NAMES} symbols have every factor "
                f"({', '.join(model.factors)}), or one has no spread"
            )
        scores = prediction.rename("prediction")
        book = quantile_book(scores, self.params.top_quantile, self.params.long_short)
        return Picks(book, scores)

    def _ready(self) -> FittedModel:
        if self.model is not None:
            return self.model
        if self.refusal is not None:
            raise ModelNotReady(self.refusal)
        name = self.params.model
        raise ModelNotReady(
            f"strategy fitted: no model attached (model {name or '(none named)'}); the drivers "
            "load it from <data_dir>/models before running"
        )
