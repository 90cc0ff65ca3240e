"""The stored model a configuration trades, checked before a sweep's cluster starts.

A ``fitted`` strategy (or a book's sleeve of one) trades the model its params name; its run
refuses a model not stored or rejected, and one that predicts nothing before the span's end
(:func:`quant_core.research.attach.attach_model`, ``first_session``: exit 4). A sweep checks
each configuration's model as it checks its schedule and policy (``sweeps.checks``), so such a
configuration is named before any worker runs, not found by a worker's "Compute Failed". Each
model is read once per sweep (:class:`ModelChecks` keeps what it found by model id).

A run that trades a model starts on its first decision (``first_session``), which is a warm-up
in the engine's own terms: the first session is ``max(start row, warm-up, row of the first
decision)``. :meth:`ModelChecks.check` returns that row, so a sweep over models fitted on other
windows starts every configuration on the same session (``sweeps.span``), as for lookbacks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from quant_core.research.attach import attach_model, needs_model, too_late
from quant_core.research.model import ModelNotReady

__all__ = ["ModelChecks"]


@dataclass
class ModelChecks:
    """The models of a sweep's configurations, read from ``<data_dir>/models``, to ``end``."""

    data_dir: Path
    end: dt.date | None
    dates: np.ndarray | None = None  # the dataset's sessions (datetime64[D]), when known
    seen: dict[str, tuple[str | None, dt.date | None]] = field(default_factory=dict)

    def check(self, strategy: Any) -> int:
        """Refuse ``strategy``'s model as its run would; return its first decision's row.

        The row of ``dates`` the run's first session cannot precede (module docstring); 0 for a
        strategy without a model, or without ``dates``.

        Raises
        ------
        ModelNotReady
            No such model stored, a rejected or damaged one, or one that predicts nothing
            before ``end`` (the run's own message).
        """
        if not needs_model(strategy):
            return 0
        model_id = str(strategy.params.model)
        if model_id not in self.seen:
            refusal = attach_model(strategy, self.data_dir)
            self.seen[model_id] = (refusal, getattr(strategy, "first_decision", None))
        refusal, first = self.seen[model_id]
        if refusal is None:
            refusal = too_late(str(getattr(strategy, "name", "?")), first, self.end)
        if refusal is not None:
            raise ModelNotReady(refusal)
        if first is None or self.dates is None:
            return 0
        return int(np.searchsorted(self.dates, np.datetime64(first, "D"), "left"))
