"""The Explorer's catalogue of stored runs: rows by run id, and how a run is named to people.

Pure, without Streamlit: the page picks runs by id and shows these labels in its pickers,
legends and compare table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from quant_core.cockpit.format import money, pct


def params_text(params: Any) -> str:
    """Return stored params (JSON text or a dict) as ``key=value, ...``."""
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError:
            return str(params)
    if not isinstance(params, Mapping):
        return str(params)
    return ", ".join(
        f"{k}={json.dumps(v) if isinstance(v, dict | list) else v}" for k, v in params.items()
    )


def catalog_rows(runs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Return the catalogue as run id -> row (column name -> value), in its order."""
    rows: dict[str, dict[str, Any]] = {}
    for record in runs.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        rows[str(row["run_id"])] = row
    return rows


def run_label(row: Mapping[str, Any]) -> str:
    """Return one catalogue row for a picker: when, strategy, params, data, period, result."""
    created = str(row.get("created_at", ""))[:16].replace("T", " ")
    final = row.get("final_equity")
    result = f" · final {money(float(final), 0)}" if isinstance(final, int | float) else ""
    return (
        f"{created} · {row.get('strategy')} ({params_text(row.get('params'))}) · "
        f"{row.get('dataset')} {row.get('start')}..{row.get('end')}{result} · "
        f"{str(row.get('run_id', ''))[-4:]}"
    )


def short_label(row: Mapping[str, Any]) -> str:
    """Return a legend label: the strategy and the run id's unique suffix (``momentum #31e4``)."""
    return f"{row.get('strategy')} #{str(row.get('run_id'))[-4:]}"


def run_details(row: Mapping[str, Any]) -> dict[str, str]:
    """Return what a run was: its parameters, dataset and period (for the compare table)."""
    return {
        "Parameters": params_text(row.get("params")),
        "Dataset": str(row.get("dataset")),
        "Period": f"{row.get('start')} to {row.get('end')}",
    }


def run_description(row: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """Return one Markdown line on how a run was set up: strategy, data, period, rules, costs."""
    rule = config.get("strategy", {}).get("rebalance")
    rule_text = f"every {rule} sessions" if isinstance(rule, int) else f"{rule}"
    buffer = config.get("portfolio", {}).get("cash_buffer")
    return (
        f"**{row.get('strategy')}** ({params_text(row.get('params'))}) on "
        f"**{row.get('dataset')}**, {row.get('start')} to {row.get('end')}; rebalance "
        f"{rule_text}; cash buffer {pct(buffer)}; costs {config.get('costs', {}).get('model')}; "
        f"benchmark {config.get('backtest', {}).get('benchmark')}. "
        f"Created {row.get('created_at')}."
    )


def stored_line(run_id: str, metrics: Mapping[str, Any]) -> str:
    """Return what a run just stored says: its id, final equity and how its orders went."""
    return (
        f"Stored run `{run_id}`: final equity {money(metrics['final_equity'])}, "
        f"{metrics['trades']:,} trades ({metrics['truncated']:,} truncated, "
        f"{metrics['unfilled']:,} unfilled)."
    )
