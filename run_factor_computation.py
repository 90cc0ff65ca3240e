"""Compute factors from the warehouse's bars and store them beside the bars; fit factor models.

Examples
--------
    python run_factor_computation.py                       # every default factor, every symbol
    python run_factor_computation.py --factors momentum_126,volatility_20 --start 2010-01-01
    python run_factor_computation.py --full                # recompute every session
    python run_factor_computation.py --fit research/value_mom.yaml          # fit, validate, store
    python run_factor_computation.py --fit research/value_mom.yaml --json   # ... one JSON object
    python run_factor_computation.py --models [--json]     # the stored models and their scores

Only sessions after a factor's last stored date are computed unless --full. --fit reads the
spec's `model:` section, fits it on the dataset's bars (--dataset, default data.dataset),
stores the model under <data_dir>/models/<model_id>/ and its composite as the factor
model_<model_id> of the dataset. Exit codes: 0 ok, 1 data error, 2 usage or configuration
error (a bad spec names its file and field), 3 unexpected error, 4 strategy error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from rich.table import Table

from quant_core import cli
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError
from quant_core.factors import DEFAULT_FACTORS
from quant_core.factors.compute import compute_factors

MODELS_DIR = "models"  # <data_dir>/models: the model store
WIDE = 200  # piped output of the model tables: ids and date ranges never cut


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--factors", help=f"comma-separated names (default: {','.join(DEFAULT_FACTORS)})"
    )
    parser.add_argument("--start", type=dt.date.fromisoformat, help="first session to write")
    parser.add_argument("--full", action="store_true", help="recompute every session")
    parser.add_argument("--dataset", help="warehouse dataset (default: data.dataset)")
    task = parser.add_mutually_exclusive_group()
    task.add_argument(
        "--fit", type=Path, metavar="SPEC.yaml", help="fit, validate and store the model of SPEC"
    )
    task.add_argument("--models", action="store_true", help="list the stored models")
    parser.add_argument(
        "--json", action="store_true", help="with --fit or --models: print JSON on stdout"
    )
    cli.add_set_option(parser)
    args = parser.parse_args(argv)
    if (args.fit or args.models) and (args.factors or args.start or args.full):
        parser.error("--factors, --start and --full compute factors; not with --fit or --models")
    if args.json and not (args.fit or args.models):
        parser.error("--json goes with --fit or --models")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the factor computation command line."""
    args = _parse(argv)

    def work() -> int:
        cfg = cli.prepare(None, args.set)
        dataset = args.dataset or cfg.data.dataset
        warehouse = Warehouse(cfg.paths.warehouse_location())
        # Before any is computed or fitted: the values (a fit's composite) could not be stored.
        if warehouse.store.remote and not args.models:
            what = "fit the model" if args.fit else "compute the factors"
            raise ConfigError(
                f"paths.warehouse={warehouse.location} is read-only: {what} into a local "
                "warehouse, then publish it (run_data_sync.py --publish URL)"
            )
        if args.fit or args.models:
            return _research(args, warehouse, dataset, cfg.paths.data_dir / MODELS_DIR)
        names = [n.strip() for n in args.factors.split(",") if n.strip()] if args.factors else None
        with cli.progress_bar() as progress:
            reports = compute_factors(warehouse, dataset, names, args.start, args.full, progress)
        table = Table(title=f"Factors of {dataset}", title_justify="left")
        notes = any(r.note for r in reports)  # a note column only when one has something
        columns = ["factor", "rows written", "sessions", "coverage"] + (["note"] if notes else [])
        for column in columns:
            table.add_column(column, justify="left" if column in ("factor", "note") else "right")
        for r in reports:
            span = f"{r.first}..{r.last}" if r.first else "up to date"
            coverage = f"{r.coverage:.1%}" if r.first else "-"
            cells = [r.name, f"{r.rows_written:,}", span, coverage]
            table.add_row(*cells, *([r.note] if notes else []))
        cli.console().print(table)
        return cli.ExitCode.OK

    return cli.main(work)


def _research(args: argparse.Namespace, warehouse: Warehouse, dataset: str, root: Path) -> int:
    """Fit a model spec (``--fit``) or list the stored models (``--models``)."""
    # Imported here: plain factor runs need none of scikit-learn.
    from quant_core.research import cli_fit
    from quant_core.research.store import ModelStore

    models = ModelStore(root)
    if args.models:
        frame = models.list_models()
        if args.json:
            print(json.dumps(cli_fit.models_json(frame), allow_nan=False))
        else:
            cli_fit.print_models(cli.console(WIDE), frame)
        return cli.ExitCode.OK
    from quant_core.research.pipeline import fit_model

    spec = cli_fit.load_spec(args.fit)
    with cli.progress_bar() as progress:
        fitted = cli_fit.fit_and_store(fit_model, spec, warehouse, dataset, models, progress)
    if args.json:
        print(json.dumps(cli_fit.fit_json(fitted), allow_nan=False))
    else:
        cli_fit.print_fit(cli.console(WIDE), fitted)
    return cli.ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
