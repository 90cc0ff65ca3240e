"""Random panels with holes, and plain per-date pandas references of the built-in scanners."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_core.data.panels import MarketData

SECTORS = np.array(["Tech", "Energy", "Health", "Utilities"])


def random_market(seed: int, sessions: int = 120, symbols: int = 24) -> MarketData:
    """Bars with random holes, late listings, early delistings, cheap names and exact ties.

    Prices are to the cent and volumes whole hundreds, and the last three symbols copy the bars
    of the first three, so equal medians and equal gaps occur and the tie rule is exercised.
    """
    rng = np.random.default_rng(seed)
    base = symbols - 3
    start = np.exp(rng.normal(np.log(20.0), 1.0, base))  # some below 5: the price filter bites
    steps = rng.normal(0.0, 0.02, (sessions, base))
    close = np.round(start * np.exp(np.cumsum(steps, axis=0)), 2)
    gaps = rng.normal(0.0, 0.03, (sessions, base))
    open_ = np.round(np.vstack([close[:1], close[:-1]]) * np.exp(gaps), 2)
    volume = np.round(rng.lognormal(np.log(5e4), 1.0, (sessions, base)), -2)
    volume[rng.random(volume.shape) < 0.02] = 0.0
    holes = rng.random((sessions, base)) < 0.08
    late = rng.integers(0, sessions, base) * (rng.random(base) < 0.3)
    early = np.where(rng.random(base) < 0.15, rng.integers(0, sessions, base), sessions)
    rows = np.arange(sessions)[:, None]
    missing = holes | (rows < late) | (rows >= early)
    panels = {"open": open_, "high": np.maximum(open_, close), "low": np.minimum(open_, close)}
    panels |= {"close": close, "volume": volume}
    for name, panel in panels.items():
        panel = np.where(missing, np.nan, panel)
        panel[rng.random(panel.shape) < 0.01] = np.nan  # a field missing on its own
        panels[name] = np.hstack([panel, panel[:, :3]])
    names = [f"S{i:02d}" for i in range(base)] + [f"T{i:02d}" for i in range(3)]
    dates = np.datetime64("2020-01-01") + np.arange(sessions)
    sectors = SECTORS[rng.permutation(symbols) % len(SECTORS)].astype(object)  # each one used
    return MarketData(dates, np.array(names), panels, sectors=sectors)


def with_garbage_from(data: MarketData, t: int, seed: int) -> MarketData:
    """Return ``data`` with every row ``>= t`` of every panel replaced by random garbage."""
    rng = np.random.default_rng(seed)
    panels = {}
    for name, panel in data.panels.items():
        out = panel.copy()
        junk = rng.choice([np.nan, np.inf, -1.0, 0.0, 1e9, 3.0], size=out[t:].shape)
        out[t:] = np.where(rng.random(junk.shape) < 0.5, junk, rng.lognormal(5, 3, junk.shape))
        panels[name] = out
    return MarketData(data.dates, data.symbols, panels, sectors=data.sectors)


def frame(data: MarketData, name: str) -> pd.DataFrame:
    return pd.DataFrame(data.panels[name], columns=data.symbols)


def ranked(score: pd.Series, top: int) -> set[str]:
    """The ``top`` largest of ``score``, ties to the alphabetically first symbol."""
    table = pd.DataFrame({"score": score.to_numpy(), "name": score.index.to_numpy()})
    table = table.sort_values(["score", "name"], ascending=[False, True])
    return set(table["name"].head(top))


def ref_liquid(
    data: MarketData, t: int, top: int, window: int, price: float, hist: int
) -> set[str]:
    if t == 0:
        return set()
    close, volume = frame(data, "close"), frame(data, "volume")
    first = close.notna().to_numpy().argmax(axis=0)
    has_bar = close.iloc[:t].notna().any().to_numpy()
    dv = (close * volume).iloc[max(0, t - window) : t]
    median, count = dv.median(), dv.count()
    last = close.iloc[t - 1]
    ok = last.notna() & (last >= price) & (count >= max(1, window // 2))
    ok &= pd.Series(has_bar & (t - first >= hist), index=close.columns)
    return ranked(median[ok], top)


def ref_gappers(
    data: MarketData, t: int, min_gap: float, top: int, price: float, window: int, dollars: float
) -> set[str]:
    if t < 2:
        return set()
    close, open_, volume = frame(data, "close"), frame(data, "open"), frame(data, "volume")
    gap = (open_.iloc[t - 1] / close.iloc[t - 2] - 1).abs()
    gap[~(close.iloc[t - 2] > 0)] = np.nan
    dv = (close * volume).iloc[max(0, t - window) : t]
    median, count = dv.median(), dv.count()
    last = close.iloc[t - 1]
    ok = (gap >= min_gap) & (last >= price) & (count >= max(1, window // 2))
    ok &= median >= dollars
    return ranked(gap[ok], top)


def ref_sector(data: MarketData, t: int, include: list[str], exclude: list[str]) -> set[str]:
    if t == 0:
        return set()
    last = frame(data, "close").iloc[t - 1]
    assert data.sectors is not None
    sector = pd.Series([str(s).lower() for s in data.sectors], index=last.index)
    chosen = sector.isin([s.lower() for s in include or exclude])
    keep = chosen if include else ~chosen
    return set(last.index[keep & last.notna()])


def members(data: MarketData, mask: np.ndarray) -> set[str]:
    return set(data.symbols[mask].tolist())
