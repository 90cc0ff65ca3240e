"""Compute factors from the warehouse's bars and store them beside the bars.

Examples
--------
    python run_factor_computation.py                       # every default factor, every symbol
    python run_factor_computation.py --factors momentum_126,volatility_20 --start 2010-01-01
    python run_factor_computation.py --full                # recompute every session

Only sessions after a factor's last stored date are computed unless --full. Exit codes: 0 ok,
1 data error, 2 usage or configuration error, 3 unexpected error, 4 strategy error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from rich.table import Table

from quant_core import cli
from quant_core.data.warehouse import Warehouse
from quant_core.factors import DEFAULT_FACTORS
from quant_core.factors.compute import compute_factors


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--factors", help=f"comma-separated names (default: {','.join(DEFAULT_FACTORS)})"
    )
    parser.add_argument("--start", type=dt.date.fromisoformat, help="first session to write")
    parser.add_argument("--full", action="store_true", help="recompute every session")
    parser.add_argument("--dataset", help="warehouse dataset (default: data.dataset)")
    cli.add_set_option(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the factor computation command line."""
    args = _parse(argv)

    def work() -> int:
        cfg = cli.prepare(None, args.set)
        names = [n.strip() for n in args.factors.split(",") if n.strip()] if args.factors else None
        dataset = args.dataset or cfg.data.dataset
        warehouse = Warehouse(cfg.paths.data_dir / "warehouse")
        with cli.progress_bar() as progress:
            reports = compute_factors(warehouse, dataset, names, args.start, args.full, progress)
        table = Table(title=f"Factors of {dataset}", title_justify="left")
        for column in ("factor", "rows written", "sessions", "coverage"):
            table.add_column(column, justify="left" if column == "factor" else "right")
        for r in reports:
            span = f"{r.first}..{r.last}" if r.first else "up to date"
            coverage = f"{r.coverage:.1%}" if r.first else "-"
            table.add_row(r.name, f"{r.rows_written:,}", span, coverage)
        cli.console().print(table)
        return cli.ExitCode.OK

    return cli.main(work)


if __name__ == "__main__":
    sys.exit(main())
