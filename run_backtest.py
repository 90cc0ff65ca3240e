r"""Backtest a registered strategy on the warehouse under the dual-price rule.

Examples
--------
    python run_backtest.py                                    # backtest.yaml's strategy
    python run_backtest.py --strategy momentum --param lookback=126 --param top_quantile=0.2 \\
        --set strategy.rebalance=21 --start 2009-10-01 --end 2010-08-20
    python run_backtest.py --list-strategies
    python run_backtest.py --set portfolio.construction.method=inverse_vol
    python run_backtest.py --list-constructions                # methods, settings, what they need
    python run_backtest.py --json                             # one JSON summary on stdout
    python run_backtest.py --report                           # and <run folder>/report.html
    python run_backtest.py --report-only 20100820T000000Z-momentum-0a1b2c3d-4e5f
                                                # the report of a run stored before (no backtest)
    python run_backtest.py --book config/books/core.yaml      # several sleeves, one account
    python run_backtest.py --sweep research/mom_grid.yaml     # many configurations, on Dask
    python run_backtest.py --sweep research/mom_grid.yaml --scheduler tcp://10.0.0.5:8786
    python run_backtest.py --walk-forward research/mom_wf.yaml  # choose on train, trade test

Exit codes: 0 ok, 1 data error, 2 usage or configuration error, 3 unexpected error, 4 strategy
error (its weights break the strategy contract, or ``fitted`` has no stored, accepted model).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from rich.console import Console

from config.book_loader import load_book
from config.keys import KeyPath, override_paths
from config.schema import AppConfig
from quant_core import cli
from quant_core.atomic import json_safe
from quant_core.backtest import report
from quant_core.backtest.book_run import BookRun, run_book_backtest
from quant_core.backtest.records import event_line
from quant_core.backtest.run import BacktestRun, run_backtest
from quant_core.backtest.run_admin import run_folder
from quant_core.backtest.tearsheet import write_tearsheet
from quant_core.book.build import build_book
from quant_core.book_setup import load_sleeve_models
from quant_core.errors import ConfigError
from quant_core.research.model import ModelNotReady

logger = logging.getLogger("run_backtest")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(__doc__)
    parser.add_argument("--strategy", help="registered strategy (default: strategy.name)")
    parser.add_argument(
        "--book",
        type=Path,
        metavar="PATH",
        help="backtest a book file (config/books/*.yaml): several sleeves in one account",
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter"
    )
    parser.add_argument("--start", type=_date, help="first session (any date; default: data)")
    parser.add_argument("--end", type=_date, help="last session (any date; default: data)")
    parser.add_argument("--list-strategies", action="store_true", help="names, parameters, docs")
    parser.add_argument(
        "--list-constructions",
        action="store_true",
        help="construction methods, their settings, what they need",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    parser.add_argument(
        "--report",
        action="store_true",
        help="also write the run's HTML tearsheet (report.html in its folder)",
    )
    parser.add_argument(
        "--report-only",
        metavar="RUN_ID",
        help="write the HTML tearsheet of a stored run (no backtest)",
    )
    parser.add_argument(
        "--sweep",
        type=Path,
        metavar="PATH",
        help="run a sweep file (research/*.yaml: a grid, a random or an Optuna search) on a "
        "Dask cluster",
    )
    parser.add_argument(
        "--walk-forward",
        dest="walk_forward",
        type=Path,
        metavar="PATH",
        help="walk-forward of a sweep file with a walk_forward section: choose on each train "
        "window, trade its test window, stitch the out-of-sample curve",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="--sweep, --walk-forward: a running Dask scheduler (tcp://...)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="--sweep, --walk-forward: local worker processes (default: cores)",
    )
    cli.add_set_option(parser)
    args = parser.parse_args(argv)
    _check_sweep(parser, args)
    if args.book is not None:  # each sleeve names its own strategy and params
        clashing = [
            flag
            for flag, value in (
                ("--strategy", args.strategy),
                ("--param", args.param),
                ("--report-only", args.report_only),
            )
            if value
        ]
        # --set strategy.* would be read by no sleeve: refused like --param, not dropped.
        clashing += [
            f"--set {text}"
            for text in args.set
            if text.split("=", 1)[0].strip().lower().split(".")[0] == "strategy"
        ]
        if clashing:
            parser.error(
                f"--book runs the strategies its sleeves name: {', '.join(clashing)} cannot go "
                "with it (set a sleeve's strategy and params in the book file)"
            )
    if args.report_only:  # a flag that would be ignored is refused, not silently dropped
        ignored = [
            flag
            for flag, value in (
                ("--strategy", args.strategy),
                ("--param", args.param),
                ("--start", args.start),
                ("--end", args.end),
                ("--report", args.report),
            )
            if value
        ]
        if ignored:
            parser.error(
                f"--report-only writes the report of a stored run as it was made: "
                f"{', '.join(ignored)} would be ignored (--set paths.data_dir=... still applies)"
            )
    return args


def _check_sweep(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    # A flag that would be ignored is refused (exit 2), never silently dropped.
    if args.sweep is not None and args.walk_forward is not None:
        parser.error("--sweep and --walk-forward exclude each other")
    if args.sweep is None and args.walk_forward is None:
        if args.scheduler or args.workers is not None:
            parser.error("--scheduler and --workers go with --sweep or --walk-forward only")
        return
    clashing = [
        flag
        for flag, value in (
            ("--strategy", args.strategy),
            ("--param", args.param),
            ("--book", args.book),
            ("--start", args.start),
            ("--end", args.end),
            ("--report", args.report),
            ("--report-only", args.report_only),
            ("--list-strategies", args.list_strategies),
            ("--list-constructions", args.list_constructions),
        )
        if value
    ]
    if clashing:
        parser.error(
            f"{'--sweep' if args.sweep else '--walk-forward'} runs what its file names "
            f"(strategy, grid, period): {', '.join(clashing)} "
            "cannot go with it"
        )
    if args.scheduler and args.workers is not None:
        parser.error("--workers starts a local cluster; a --scheduler has its own workers")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers needs at least 1")


def _sweep(args: argparse.Namespace, console: Console) -> int:
    from config import load_config
    from config.sweep import load_sweep
    from quant_core.sweeps.report import progress_bar, sweep_json, sweep_table
    from quant_core.sweeps.runner import run_sweep

    spec = load_sweep(args.sweep)
    if spec.walk_forward is not None:  # a newcomer's slip: said, and the sweep runs
        logger.warning(
            "%s has a walk_forward section, which --sweep does not read: this runs the plain "
            "sweep over the whole period (--walk-forward %s runs its folds)",
            args.sweep,
            args.sweep,
        )
    extra = tuple(_overrides(args))  # --set only: the other flags are refused with --sweep
    cli.prepare("backtest", extra)  # the run's config errors (exit 2) and log level, first
    with progress_bar(enabled=not args.json) as progress:
        run = run_sweep(
            spec,
            lambda overrides: load_config("backtest", overrides),
            path=args.sweep,
            extra=extra,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=progress,
        )
    summary = sweep_json(run, spec.objective)
    if args.json:
        sys.stdout.write(json.dumps(summary, default=str, allow_nan=False) + "\n")
    else:
        console.print(sweep_table(summary))
        if run.start is not None:
            console.print(
                f"Every configuration ran from {run.start}, the first session the longest "
                f"warm-up allows (run one alone with --set backtest.start={run.start})",
                soft_wrap=True,
            )
        console.print(f"Catalogue: {run.catalogue} (sweep {run.sweep_id})", soft_wrap=True)
    return cli.ExitCode.OK


def _walk_forward(args: argparse.Namespace, console: Console) -> int:
    from config import load_config
    from config.sweep import load_sweep
    from quant_core.sweeps.report import folds_bar, walk_forward_json, walk_forward_table
    from quant_core.sweeps.walk_forward import run_walk_forward

    spec = load_sweep(args.walk_forward)
    extra = tuple(_overrides(args))  # --set only: the other flags are refused with it
    cli.prepare("backtest", extra)
    with folds_bar(enabled=not args.json) as progress:
        run = run_walk_forward(
            spec,
            lambda overrides: load_config("backtest", overrides),
            path=str(args.walk_forward),
            extra=extra,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=progress,
        )
    summary = walk_forward_json(run)
    if args.json:
        sys.stdout.write(json.dumps(summary, default=str, allow_nan=False) + "\n")
    else:
        console.print(walk_forward_table(summary, spec.objective))
        console.print(f"Catalogue: {run.catalogue} ({run.wf_id})", soft_wrap=True)
    return cli.ExitCode.OK


def _overrides(args: argparse.Namespace) -> list[str]:
    """Return the command line's config overrides, in the order the loader applies them.

    Raises
    ------
    ConfigError
        A ``--param`` without ``=``, or one key given twice (:func:`_refuse_repeats`).
    """
    # The strategy first: choosing another one drops earlier params, never those given here.
    flagged = [("--strategy", f"strategy.name={args.strategy}")] if args.strategy else []
    flagged += [("--set", item) for item in args.set]
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param expects key=value, got {item!r}")
        flagged.append(("--param", f"strategy.params.{key}={value}"))
    if args.start:
        flagged.append(("--start", f"backtest.start={args.start}"))
    if args.end:
        flagged.append(("--end", f"backtest.end={args.end}"))
    _refuse_repeats(flagged)
    return [item for _, item in flagged]


def _refuse_repeats(flagged: list[tuple[str, str]]) -> None:
    # One key given twice on one command line (--set a=1 --set a=2, --set backtest.start=...
    # with --start) is a slip: which one was meant? The later would win silently. Values are
    # not shown (one may be a secret).
    seen: dict[KeyPath, str] = {}
    for flag, item in flagged:
        dotted, sep, raw = item.partition("=")
        if not sep:
            continue  # the loader names it
        for path in override_paths(dotted, raw, f"{flag} {dotted}"):
            if path in seen:
                raise ConfigError(
                    f"{'.'.join(path)} is given twice on the command line ({seen[path]} and "
                    f"{flag}); give it once"
                )
            seen[path] = flag


def _print_run(run: BacktestRun, written: Path | None, *, json_out: bool, console: Console) -> None:
    """Print a finished run: one JSON object, or the tables (metrics, events, trades)."""
    if json_out:
        summary = report.json_summary(run)
        if written is not None:
            summary["report"] = str(written)
        sys.stdout.write(json.dumps(summary, default=str, allow_nan=False) + "\n")
        return
    console.print(report.metrics_table(run))
    if "stops" in run.metrics:  # stops, halts, constraints or fallbacks set or seen
        console.print(event_line(run.metrics))
    if run.trade_stats:
        console.print(report.trade_stats_table(run))
    if written is not None:
        console.print(f"Report: {written}", soft_wrap=True, markup=False, highlight=False)


def _print_book(run: BookRun, written: Path | None, *, json_out: bool, console: Console) -> None:
    """Print a finished book run: a plain run's output plus its sleeves and last allocation."""
    sleeves = {str(name): row for name, row in run.sleeves.to_dict(orient="index").items()}
    if json_out:
        summary = report.json_summary(run.account)
        if written is not None:
            summary["report"] = str(written)
        summary["sleeves"] = json_safe(sleeves)
        sys.stdout.write(json.dumps(summary, default=str, allow_nan=False) + "\n")
        return
    _print_run(run.account, written, json_out=False, console=console)
    for name, row in sleeves.items():
        console.print(
            f"Sleeve {name}: final equity ${row['final_equity']:,.2f}, return "
            f"{row['total_return']:.2%}, max drawdown {row['max_drawdown']:.2%}, "
            f"{row['trades']:,} trades",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    allocations = run.book.allocations
    if allocations.empty:
        line = "Allocation: none (no allocation session in the span)"
    else:
        day = allocations["date"].max()
        weights = ", ".join(f"{name} {row['weight']:.2%}" for name, row in sleeves.items())
        line = f"Allocation of {day.date()}: {weights}"
    console.print(line, soft_wrap=True, markup=False, highlight=False)


def _book(args: argparse.Namespace, cfg: AppConfig, console: Console) -> int:
    book_cfg = load_book(args.book)
    try:  # stored models named as factors (exit 4 if not)
        load_sleeve_models(book_cfg, cfg.paths.data_dir)
    except ModelNotReady as exc:
        raise ModelNotReady(f"{args.book}: {exc}") from None
    try:  # a sleeve that cannot be built: say so now, naming the file
        build_book(book_cfg, cfg)
    except ConfigError as exc:
        raise ConfigError(f"{args.book}: {exc}") from None
    with cli.progress_bar() as progress:
        book_run = run_book_backtest(cfg, book_cfg, progress=progress)
    written = write_tearsheet(book_run.account.path) if args.report else None
    _print_book(book_run, written, json_out=args.json, console=console)
    return cli.ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    """Run the backtest command line."""
    args = _parse(argv)
    console = cli.console()

    def work() -> int:
        if args.list_strategies:
            console.print(report.strategies_table())
            return cli.ExitCode.OK
        if args.list_constructions:
            console.print(report.constructions_table())
            return cli.ExitCode.OK
        if args.sweep is not None:
            return _sweep(args, console)
        if args.walk_forward is not None:
            return _walk_forward(args, console)
        cfg = cli.prepare("backtest", _overrides(args))
        if args.report_only:
            # A run id, never a path: run_folder refuses "../x" and names a missing run.
            path = write_tearsheet(run_folder(cfg.paths.data_dir / "backtests", args.report_only))
            if args.json:
                sys.stdout.write(
                    json.dumps({"run_id": args.report_only, "report": str(path)}) + "\n"
                )
            else:
                console.print(f"Report: {path}", soft_wrap=True, markup=False, highlight=False)
            return cli.ExitCode.OK
        if args.book is not None:
            return _book(args, cfg, console)
        with cli.progress_bar() as progress:
            run = run_backtest(cfg, progress=progress)
        written = write_tearsheet(run.path) if args.report else None
        _print_run(run, written, json_out=args.json, console=console)
        return cli.ExitCode.OK

    return cli.main(work)


if __name__ == "__main__":
    sys.exit(main())
