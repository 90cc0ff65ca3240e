"""A fitted model as the ``fitted`` strategy trades it: its walk-forward refits, and predict.

Pure: no I/O, no clock (``research/store.py`` reads and writes it). A model is a list of
refits, each fitted on samples whose labels were complete by the open of its ``valid_from``
session (``research/splits.py``; the features it predicts from are read at that session's
close), and used for the feature sessions from its
``valid_from`` to the next refit's. A prediction for session T reads the factors at the close
of T-1 (``asof``) and the latest refit with ``valid_from <= asof``: a model that saw only
earlier labels. Beyond the last refit (a live worker after the fit), the last one is used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quant_core.errors import StrategyError
from quant_core.research.design import standardise_series
from quant_core.research.spec import ModelSpec

ACCEPTED, REJECTED = "accepted", "rejected"


class ModelNotReady(StrategyError):
    """No stored, accepted model to trade, or its factors are not there for T-1.

    The backtest stops with this message (exit 4); the worker goes HALTED with it.
    """

    kind = "Strategy not ready (no usable model)"


@dataclass(frozen=True, slots=True)
class RefitRecord:
    """One walk-forward refit: the feature sessions it predicts from, what it was trained on.

    ``coef`` and ``intercept`` for a linear estimator (ols, ridge); ``estimator`` holds the
    fitted scikit-learn object of any estimator (gbr's only form; None once a linear refit is
    read back from its JSON).
    """

    valid_from: dt.date
    train_first: dt.date
    train_last: dt.date
    samples: int
    coef: tuple[float, ...] | None
    intercept: float | None
    estimator: Any = field(default=None, compare=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Return the prediction of each row of standardised factors ``x`` (finite rows)."""
        if self.coef is not None and self.intercept is not None:
            return np.asarray(x @ np.asarray(self.coef) + self.intercept, dtype=float)
        if self.estimator is None:
            raise ModelNotReady("this refit has neither coefficients nor a fitted estimator")
        return np.asarray(self.estimator.predict(x), dtype=float)


@dataclass(frozen=True, slots=True)
class FittedModel:
    """A stored model: its id, spec, status and refits, oldest first."""

    model_id: str
    spec: ModelSpec
    status: str
    refits: tuple[RefitRecord, ...]

    @property
    def factors(self) -> tuple[str, ...]:
        """Return the model's factor names, in the spec's order."""
        return tuple(self.spec.factors)

    def refit_for(self, asof: dt.date) -> RefitRecord | None:
        """Return the latest refit with ``valid_from <= asof`` (None before the first)."""
        usable = [r for r in self.refits if r.valid_from <= asof]
        return usable[-1] if usable else None

    def predict(self, features: Mapping[str, pd.Series], asof: dt.date) -> pd.Series:
        """Return the prediction per symbol from the factors at the close of ``asof``.

        ``features[name]`` holds factor ``name`` by symbol; a symbol missing any factor gets
        NaN. Raises :class:`ModelNotReady` before the first refit.
        """
        refit = self.refit_for(asof)
        if refit is None:
            first = self.refits[0].valid_from if self.refits else None
            raise ModelNotReady(
                f"model {self.model_id} has no refit for {asof}: its first predicts from {first}"
            )
        z = standardise_series(features, self.factors)
        values = np.full(len(z), np.nan)
        rows = np.isfinite(z.to_numpy()).all(axis=1)
        if rows.any():
            values[rows] = refit.predict(z.to_numpy()[rows])
        return pd.Series(values, index=z.index, name="prediction")
