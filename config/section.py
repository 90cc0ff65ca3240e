"""The base of every config model: frozen, unknown keys rejected, floats finite."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every config model: frozen, unknown keys rejected, numbers finite.

    NaN and infinity (``.inf`` in YAML, ``Infinity`` or ``1e400`` in a ``--set``) are refused
    in every float field: an infinite cash or cost would run silently or crash mid-run.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def fraction_at_most(value: object, upper: float) -> object:
    """Refuse a number above ``upper`` as a percent written where a fraction is meant.

    Used as a ``mode="before"`` validator of fraction fields, so that ``12`` (meant as 12%)
    is refused with the reason, not taken as 1200%. Other values pass to the field's own checks.
    """
    number = value
    if isinstance(value, str):  # an environment variable
        try:
            number = float(value)
        except ValueError:
            return value
    if isinstance(number, int | float) and not isinstance(number, bool) and number > upper:
        raise ValueError(
            f"{value} is above {upper:g}: this key is a fraction, not a percent "
            f"(0.12 is 12%; at most {upper:g}, i.e. {upper:.0%})"
        )
    return value
