from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from quant_core.data.adjust import ActionKind, CorporateAction, apply_actions
from quant_core.types import BarFlag


def _bars() -> pd.DataFrame:
    dates = pd.to_datetime(["2010-06-10", "2010-06-11", "2010-06-14", "2010-06-15"])
    return pd.DataFrame(
        {
            "date": list(dates) * 2,
            "symbol": ["X"] * 4 + ["Y"] * 4,
            "open": [100.0, 100, 50, 51] + [10.0] * 4,
            "high": [101.0, 101, 51, 52] + [10.0] * 4,
            "low": [99.0, 99, 49, 50] + [10.0] * 4,
            "close": [100.0, 100, 50, 51] + [10.0] * 4,
            "volume": [1000.0] * 8,
        }
    )


def test_split_scales_only_earlier_bars_of_that_symbol() -> None:
    action = CorporateAction("X", dt.date(2010, 6, 14), ActionKind.SPLIT, 0.5, "2:1")

    out = apply_actions(_bars(), [action])

    x = out[out["symbol"] == "X"]
    assert x["close"].tolist() == [50, 50, 50, 51]
    assert x["volume"].tolist() == [2000, 2000, 1000, 1000]
    assert x["adj_factor"].tolist() == [0.5, 0.5, 1.0, 1.0]
    assert out.loc[out["symbol"] == "Y", "close"].eq(10).all()
    assert out["flags"].eq(0).all()


def test_estimated_actions_flag_the_ex_date() -> None:
    action = CorporateAction("X", dt.date(2010, 6, 14), ActionKind.SPIN_OFF, 0.5, "est.")

    out = apply_actions(_bars(), [action])

    assert out["volume"].eq(1000).all()  # a spin-off does not change the share count
    flagged = out[(out["flags"] & int(BarFlag.CORPORATE_ACTION)) != 0]
    assert flagged[["symbol", "date"]].to_numpy().tolist() == [["X", pd.Timestamp("2010-06-14")]]


def test_factors_compound() -> None:
    actions = [
        CorporateAction("X", dt.date(2010, 6, 14), ActionKind.SPLIT, 0.5, "2:1"),
        CorporateAction("X", dt.date(2010, 6, 11), ActionKind.SPLIT, 0.5, "2:1"),
    ]
    out = apply_actions(_bars(), actions)
    assert out.loc[out["symbol"] == "X", "adj_factor"].tolist() == pytest.approx([0.25, 0.5, 1, 1])
