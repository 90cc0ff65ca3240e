"""A stored model as a factor any strategy can compute: ``model_<model_id>``.

Pure: panels in, a panel out; no I/O, no clock (``research/model_factors.py`` loads the models
a strategy's parameters name and registers them).

:class:`ModelFactor` keeps the factor contract (``factors/base.py``). For every row ``d`` of
the input panels (a session, known at its close)::

    z_d      = standardise([f_1(d), ..., f_p(d)])      per row, over the symbols having every f_j
    value_d  = refit_for(date d).predict(z_d)          NaN before the model's first refit

where ``f_j`` are the model's factors computed on the same panels (``design.standardise``: the
per-session z-score, ddof=1, clipped to +-3, NaN for a symbol missing a factor or a session
with too few names) and ``refit_for(date d)`` the latest refit with ``valid_from <= d``. So
the value on row ``d`` reads the model's factors' windows ending at ``d`` and the refits valid
by then: ``window`` is the longest of the factors' windows, and the value never depends on a
later row (each refit saw only labels complete by its ``valid_from``). On the panels the model
was fitted on it is the stored composite (``pipeline.fit_model``'s ``composite``) bit for bit,
and on any row it is what ``FittedModel.predict`` gives for that session. Rows are predicted
in one call per refit segment (the rows one refit predicts), not row by row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pandas as pd

from quant_core.errors import DataError
from quant_core.factors.base import MODEL_PREFIX, Factor, make_factor, register_named_factor
from quant_core.research.design import standardise
from quant_core.research.model import ACCEPTED, FittedModel, ModelNotReady


class ModelFactor(Factor):
    """The predictions of a fitted model, as factor ``model_<model_id>`` (module docstring).

    Parameters
    ----------
    model
        The fitted model: its spec's factors and its walk-forward refits, oldest first.
    """

    kind: ClassVar[str] = "model"
    params: ClassVar[tuple[tuple[str, int], ...]] = ()

    def __init__(self, model: FittedModel) -> None:
        super().__init__()
        self.model = model
        self.factors = tuple(make_factor(name) for name in model.factors)
        # The union of the factors' inputs, in the order they first appear.
        self.inputs = tuple(dict.fromkeys(f for m in self.factors for f in m.inputs))
        self._window = max(m.window for m in self.factors)

    @property
    def name(self) -> str:
        """Return ``model_<model_id>``."""
        return MODEL_PREFIX + self.model.model_id

    @property
    def window(self) -> int:
        """Return the longest window of the model's factors."""
        return self._window

    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Return the model's prediction for every row of the input panels (module docstring).

        The output has the sessions and symbols of the panel of the first input.

        Raises
        ------
        DataError
            The panels' index is not increasing session dates.
        """
        reference = data[self.inputs[0]]
        index, columns = reference.index, reference.columns
        if not isinstance(index, pd.DatetimeIndex) or not index.is_monotonic_increasing:
            raise DataError(f"factor {self.name}: the panels' index must be increasing dates")
        out = np.full(reference.shape, np.nan)
        bounds = self._segments(index)
        first = bounds[0] if bounds.size else len(index)
        if first < len(index):
            z = self._standardised(data, index, columns, first)
            for k, refit in enumerate(self.model.refits):
                lo = bounds[k]
                hi = bounds[k + 1] if k + 1 < bounds.size else len(index)
                segment = z[lo - first : hi - first]
                rows, cols = np.nonzero(np.isfinite(segment).all(axis=2))
                if rows.size:
                    out[lo + rows, cols] = refit.predict(segment[rows, cols])
        return pd.DataFrame(out, index=index, columns=columns)

    def _segments(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Return each refit's first row: the first session on or after its ``valid_from``.

        Refit ``k`` predicts rows ``bounds[k] .. bounds[k+1] - 1`` (the last: to the end),
        exactly the rows ``refit_for`` gives it; a refit valid after the last row has none.
        """
        days = index.to_numpy().astype("datetime64[D]")
        starts = np.array([np.datetime64(r.valid_from, "D") for r in self.model.refits])
        return np.searchsorted(days, starts, side="left") if starts.size else starts

    def _standardised(
        self, data: Mapping[str, pd.DataFrame], index: pd.Index, columns: pd.Index, first: int
    ) -> np.ndarray:
        """Return rows ``first ..`` of the model's factors, standardised per row.

        Rows x symbols x factors, the factors in the spec's order.
        """
        cube = np.stack(
            [
                m.compute({f: data[f] for f in m.inputs})
                .reindex(index=index, columns=columns)
                .to_numpy(dtype=float)[first:]
                for m in self.factors
            ],
            axis=2,
        )
        z = np.full(cube.shape, np.nan)
        for r in range(cube.shape[0]):  # one call per session, as build_design standardises
            z[r] = standardise(cube[r])
        return z


def model_factor_name(model_id: str) -> str:
    """Return the factor name of model ``model_id``: ``model_<model_id>``."""
    return MODEL_PREFIX + model_id


def register_model_factor(model: FittedModel) -> str:
    """Register ``model`` as the named factor ``model_<model_id>`` and return that name.

    From then on ``factors.base.make_factor`` (and so ``DataView.factor`` and every strategy
    naming it) gives its :class:`ModelFactor`.

    Raises
    ------
    ModelNotReady
        The model is not accepted (a rejected model cannot trade, as a factor neither).
    """
    if model.status != ACCEPTED:
        raise ModelNotReady(
            f"model {model.model_id} is {model.status}, not {ACCEPTED}: it cannot be a factor"
        )
    factor = ModelFactor(model)
    register_named_factor(factor.name, factor)
    return factor.name
