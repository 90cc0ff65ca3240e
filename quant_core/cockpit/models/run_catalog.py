"""The Explorer's catalogue of stored runs: rows by run id, and how a run is named to people.

Pure, without Streamlit: the page picks runs by id and shows these labels in its pickers,
legends and compare table. A row is one run's ``summary.parquet`` (plus ``label``, the name a
person gave it: :func:`quant_core.backtest.run_admin.stored_runs`). Runs stored since issue 14
carry :data:`FACTS` (capital, schedule, costs, benchmark) in their summary; for a run stored
before, :func:`config_facts` reads the same from its ``config.json``, in the same words.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from quant_core.backtest.setup_text import costs_text, schedule_text
from quant_core.cockpit.format import md, money, pct

# The summary fields that say how a run was set up (backtest/run.py writes them).
FACTS = ("initial_cash", "schedule", "costs", "benchmark")
BOOK_KIND = "book"  # a book run's summary ``kind`` (backtest/book_run.py); plain runs have none


def is_book(row: Mapping[str, Any]) -> bool:
    """Return True when the catalogue row is a book run (several sleeves in one account)."""
    return row.get("kind") == BOOK_KIND


def sleeve_names(row: Mapping[str, Any]) -> list[str]:
    """Return a book run's sleeve names, in the book's order (``[]`` for a plain run)."""
    names = row.get("sleeves") if is_book(row) else None
    return [n for n in str(names).split(",") if n] if names else []


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


def _known(value: Any) -> bool:
    # A catalogue cell that holds something: not None, NaN or pandas' NA.
    if value is None or value is pd.NA:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def catalog_rows(runs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Return the catalogue as run id -> row (column name -> value), in its order.

    Missing cells (NaN, NA: a column only some runs have) become None.
    """
    rows: dict[str, dict[str, Any]] = {}
    for record in runs.to_dict("records"):
        row = {str(k): (v if _known(v) else None) for k, v in record.items()}
        rows[str(row["run_id"])] = row
    return rows


def needs_config(row: Mapping[str, Any]) -> bool:
    """Return True when the row lacks the setup facts (a run stored before they were kept).

    ``benchmark`` may be None in a new run too (no benchmark), so only the other three tell.
    """
    return any(not _known(row.get(name)) for name in FACTS if name != "benchmark")


def config_facts(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return :data:`FACTS` of a run from its stored ``config.json`` (None where it says none)."""
    backtest = config.get("backtest", {})
    cash = backtest.get("initial_cash")
    rule = config.get("strategy", {}).get("rebalance")
    costs = config.get("costs")
    return {
        "initial_cash": float(cash) if isinstance(cash, int | float) else None,
        "schedule": schedule_text(rule) if rule is not None else None,
        "costs": costs_text(costs) if isinstance(costs, Mapping) else None,
        "benchmark": backtest.get("benchmark"),
    }


def with_facts(row: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``row`` with the facts it lacks taken from ``facts`` (:func:`config_facts`)."""
    if not needs_config(row):
        return dict(row)
    return {**row, **{name: facts.get(name) for name in FACTS}}


def _setup(row: Mapping[str, Any]) -> str:
    # " · $1,000,000 · every 21 sessions · costs ..." for the facts the row has.
    parts = []
    if isinstance(cash := row.get("initial_cash"), int | float):
        parts.append(money(float(cash), 0))
    if row.get("schedule"):
        parts.append(str(row["schedule"]))
    if row.get("costs"):
        parts.append(f"costs {row['costs']}")
    return "".join(f" · {p}" for p in parts)


def run_label(row: Mapping[str, Any]) -> str:
    """Return one catalogue row for a picker.

    The person's name for the run (when renamed), then when, strategy, params, data, period,
    capital, schedule, costs, result and the run id's unique suffix.
    """
    created = str(row.get("created_at", ""))[:16].replace("T", " ")
    final = row.get("final_equity")
    result = f" · final {money(float(final), 0)}" if isinstance(final, int | float) else ""
    name = f"{row['label']} · " if row.get("label") else ""
    return (
        f"{name}{created} · {row.get('strategy')} ({params_text(row.get('params'))}) · "
        f"{row.get('dataset')} {row.get('start')}..{row.get('end')}{_setup(row)}{result} · "
        f"{str(row.get('run_id', ''))[-4:]}"
    )


def short_label(row: Mapping[str, Any]) -> str:
    """Return a legend label: the person's name or the strategy, and the run id's suffix.

    ``momentum #31e4``, or ``Low-vol tilt #31e4`` for a renamed run (the suffix keeps two runs
    given the same name apart).
    """
    return f"{row.get('label') or row.get('strategy')} #{str(row.get('run_id'))[-4:]}"


def capital(row: Mapping[str, Any]) -> float | None:
    """Return the run's starting capital in USD (``initial_cash``, else ``start_equity``)."""
    for name in ("initial_cash", "start_equity"):
        value = row.get(name)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
    return None


def run_details(row: Mapping[str, Any]) -> dict[str, str]:
    """Return what a run was: parameters, dataset, period and setup (for the compare table)."""
    details = {
        "Parameters": params_text(row.get("params")),
        "Dataset": str(row.get("dataset")),
        "Period": f"{row.get('start')} to {row.get('end')}",
        "Capital": money(capital(row), 0),
        "Schedule": str(row.get("schedule") or "-"),
        "Costs": str(row.get("costs") or "-"),
        "Benchmark": str(row.get("benchmark") or "none"),
    }
    if row.get("label"):
        details = {"Name": str(row["label"]), **details}
    return details


def run_description(row: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """Return one Markdown line on how a run was set up: strategy, data, period, rules, costs."""
    facts = with_facts(row, config_facts(config))
    buffer = config.get("portfolio", {}).get("cash_buffer")
    name = f"*{md(row['label'])}*: " if row.get("label") else ""
    what = params_text(row.get("params"))
    if is_book(row):
        what = f"sleeves {', '.join(sleeve_names(row))}"
    return (
        f"{name}**{row.get('strategy')}** ({what}) on "
        f"**{row.get('dataset')}**, {row.get('start')} to {row.get('end')}; capital "
        f"{money(capital(facts), 0)}; rebalance {facts.get('schedule')}; cash buffer "
        f"{pct(buffer)}; costs {facts.get('costs')}; benchmark {facts.get('benchmark')}. "
        f"Created {row.get('created_at')}; run `{row.get('run_id')}`."
    )


def stored_line(run_id: str, metrics: Mapping[str, Any]) -> str:
    """Return what a run just stored says: its id, final equity and how its orders went."""
    return (
        f"Stored run `{run_id}`: final equity {money(metrics['final_equity'])}, "
        f"{metrics['trades']:,} trades ({metrics['truncated']:,} truncated, "
        f"{metrics['unfilled']:,} unfilled)."
    )
