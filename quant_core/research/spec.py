"""A model spec: the factors, the target, the estimator and the validation scheme.

Read from YAML (``research/value_mom.yaml``), under a top-level ``model:`` key::

    model:
      name: value_mom
      factors: [momentum_126, reversal_5, volatility_20]
      target: fwd_open_5          # a label name (quant_core/research/labels.py)
      estimator: ridge            # ols | ridge | gbr
      alpha: 1.0                  # ridge's penalty on the standardised factors
      validation: {scheme: walk_forward, train: 504, test: 63, embargo: 5}   # or purged_kfold
      bootstrap: 200
      min_oos_rank_ic: 0.02       # below this the model is stored as rejected
      quantiles: 5                # buckets of the top-minus-bottom spread
      seed: 7                     # the bootstrap's and gbr's random state

The walk-forward composite (the stored factor the ``fitted`` strategy trades) is refitted every
``refit.every`` sessions on the last ``refit.train`` sessions (``expanding``: all before); by
default those of a walk-forward validation (``train``, ``test``), else 504 and 63.

Types are strict: an integer field takes an integer (not ``true``, ``"40"`` or ``40.0``), a
flag a boolean, a number a finite number; ``seed`` is 0..2**32 - 1 (what numpy and
scikit-learn accept) and ``min_oos_rank_ic`` below 1 (a rank IC is at most 1). Factor names
are stored as the factor library spells them (``reversal_05`` is ``reversal_5``); two names of
one factor are refused.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from quant_core.factors.base import make_factor

Estimator = Literal["ols", "ridge", "gbr"]
MAX_SEED = 2**32 - 1  # numpy's SeedSequence and scikit-learn's random_state take 0..2**32 - 1


class _Frozen(BaseModel):
    # strict: YAML's `true` is not 1, "40" is not 40; allow_inf_nan: .nan and .inf are refused
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class WalkForward(_Frozen):
    """Rolling (or expanding) train windows, each followed by a test window, purged."""

    scheme: Literal["walk_forward"] = "walk_forward"
    train: Annotated[int, Field(ge=20)] = 504
    test: Annotated[int, Field(ge=1)] = 63
    embargo: Annotated[int, Field(ge=0)] = 5
    expanding: bool = False


class PurgedKFold(_Frozen):
    """k contiguous test folds; train on the rest, purged and embargoed around each test fold."""

    scheme: Literal["purged_kfold"] = "purged_kfold"
    folds: Annotated[int, Field(ge=2, le=50)] = 5
    embargo: Annotated[int, Field(ge=0)] = 5


class Refit(_Frozen):
    """The walk-forward schedule of the stored composite."""

    train: Annotated[int, Field(ge=20)] = 504
    every: Annotated[int, Field(ge=1)] = 63
    expanding: bool = False


class ModelSpec(_Frozen):
    """One model to fit, validate and store (module docstring)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]
    factors: Annotated[list[str], Field(min_length=1, strict=False)]  # a tuple too; no 5
    target: str = "fwd_open_5"
    estimator: Estimator = "ridge"
    alpha: Annotated[float, Field(ge=0)] = 1.0
    validation: WalkForward | PurgedKFold = Field(
        default_factory=WalkForward, discriminator="scheme"
    )
    refit: Refit | None = None
    bootstrap: Annotated[int, Field(ge=0, le=10_000)] = 200
    min_oos_rank_ic: Annotated[float, Field(lt=1)] = 0.02  # a rank IC is at most 1
    quantiles: Annotated[int, Field(ge=2, le=20)] = 5
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 7

    @field_validator("factors")
    @classmethod
    def _known_factors(cls, value: list[str]) -> list[str]:
        # make_factor raises ConfigError for an unknown factor; its name is the library's
        # spelling, the one the fit keys the factor panels by (reversal_05 is reversal_5)
        names = [make_factor(name).name for name in value]
        for i, name in enumerate(names):
            if name in names[:i]:
                first = names.index(name)
                same = "" if value[first] == value[i] else f" (both are {name})"
                raise ValueError(
                    f"a factor is named twice: {value[first]!r} and {value[i]!r}{same}"
                )
        return names

    @model_validator(mode="after")
    def _embargo_covers_the_label(self) -> ModelSpec:
        from quant_core.research.labels import parse_label  # the label names' one parser

        label = parse_label(self.target)
        if self.validation.embargo < label.horizon:
            raise ValueError(
                f"validation.embargo {self.validation.embargo} is shorter than the label "
                f"{self.target}'s horizon {label.horizon}: a training label would overlap a "
                "test date; set embargo >= the horizon"
            )
        return self

    @property
    def schedule(self) -> Refit:
        """Return the composite's refit schedule (module docstring)."""
        if self.refit is not None:
            return self.refit
        if isinstance(self.validation, WalkForward):
            v = self.validation
            return Refit(train=v.train, every=v.test, expanding=v.expanding)
        return Refit()
