"""The quantile analysis of one factor against every prediction target (label).

Pure: wide panels in (sessions x symbols), one long table out; no I/O, no clock. Each target is
a label of :mod:`quant_core.research.labels`, computed from the bars by
:func:`~quant_core.research.labels.label_panel`; its row ``d`` is what a signal at the close of
``d`` earns from the next open, so it pairs with the factor's row ``d`` (known at that close)
without a shift. The buckets, their NaN rules and the means are those of
:func:`quant_core.factors.quantiles.quantile_returns`, with the label in place of the
close-to-close forward return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from quant_core.errors import ConfigError
from quant_core.factors.cross_section import MIN_PAIRS, check_positive
from quant_core.factors.quantiles import DEFAULT_QUANTILES, quantile_returns
from quant_core.research.labels import label_panel, parse_label

# One label of each of the seven families, at a 5-session horizon.
DEFAULT_TARGETS: tuple[str, ...] = (
    "fwd_open_5",
    "fwd_close_5",
    "fwd_open_5_demeaned",
    "fwd_open_5_rank",
    "fwd_open_5_volnorm",
    "sign_fwd_open_5",
    "triple_barrier_5",
)
TARGET_COLUMNS = ["target", "quantile", "mean", "sessions", "spread"]
# What a label's value is measured in, by kind: a quantile's mean is in the same unit.
UNITS = {
    "fwd_open": "return",
    "fwd_close": "return",
    "fwd_open_demeaned": "return",
    "fwd_open_rank": "percentile",
    "fwd_open_volnorm": "sigma",
    "sign_fwd_open": "sign",
    "triple_barrier": "barrier",
}


def target_unit(name: str) -> str:
    """Return the unit of label ``name``'s values.

    ``return`` (a fraction over the horizon, 0.01 = 1 %), ``percentile`` (a rank in (0, 1]),
    ``sigma`` (multiples of the expected spread ``sigma[d] * sqrt(h)``), ``sign`` (mean of
    -1/0/+1) or ``barrier`` (mean of -1 stop / 0 time limit / +1 profit-take).

    Raises
    ------
    ConfigError
        ``name`` is not a label name.
    """
    return UNITS[parse_label(name).kind]


def target_quantiles(
    factor: pd.DataFrame,
    bars: Mapping[str, pd.DataFrame],
    targets: Sequence[str] = DEFAULT_TARGETS,
    quantiles: int = DEFAULT_QUANTILES,
    min_pairs: int = MIN_PAIRS,
) -> pd.DataFrame:
    """Return the mean of every target in each factor quantile.

    For each target: on each session the symbols with both a factor value and a label are
    split into ``quantiles`` buckets by factor rank (``floor((r - 1) * q / n) + 1``, 1 =
    lowest); a bucket's session value is the equal-weighted mean label of its members; its
    ``mean`` is the mean over the sessions where every bucket has a member (each session
    weighs the same). ``spread = mean[q] - mean[1]``. The cross-sectional labels
    (``_demeaned``, ``_rank``) are demeaned or ranked over every symbol with a label that
    session, before the symbols without a factor value are left out.

    Parameters
    ----------
    factor
        The factor, sessions x symbols (row ``d`` known at the close of ``d``).
    bars
        Wide ``open``, ``high``, ``low``, ``close`` panels (sessions x symbols), aligned.
    targets
        Label names (:mod:`quant_core.research.labels`); default one of each family at h=5.
    quantiles
        ``q``, the number of buckets.
    min_pairs
        Sessions with fewer than ``max(q, min_pairs)`` symbols having both are not bucketed.

    Returns
    -------
    DataFrame
        ``q`` rows per target, in the order given: ``target``, ``quantile`` (1..q), ``mean``
        (in the label's unit, :func:`target_unit`), ``sessions`` (sessions bucketed) and
        ``spread`` (the target's top minus bottom quantile mean, repeated on its rows).

    Raises
    ------
    ConfigError
        No target, a name that is not a label, a repeated target, or ``quantiles`` < 1.
    DataError
        A bar panel a label reads is missing, misaligned or holds a non-positive price.
    """
    check_positive("quantiles", quantiles)
    names = list(targets)
    if not names:
        raise ConfigError("target_quantiles: name at least one target (a label name)")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"target_quantiles: target(s) {repeated} named more than once")
    for name in names:
        parse_label(name)  # every name checked before any label is computed
    frames = []
    for name in names:
        result = quantile_returns(factor, label_panel(name, bars), quantiles, min_pairs)
        frames.append(
            pd.DataFrame(
                {
                    "target": name,
                    "quantile": range(1, quantiles + 1),
                    "mean": result.mean.to_numpy(dtype=float),
                    "sessions": result.sessions,
                    "spread": result.spread,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[TARGET_COLUMNS]
