"""Load daily bars into the warehouse, or list what it holds.

Examples
--------
    python run_data_sync.py --source sample                     # sp500-2010, the default
    python run_data_sync.py --source sample --dataset wiki5
    python run_data_sync.py --source csv --path my_bars.csv     # or a folder of per-symbol files
    python run_data_sync.py --source csv --path bars/ --reference symbols.csv   # sectors too
    python run_data_sync.py --source synthetic --symbols 500 --days 5000 --seed 7
    python run_data_sync.py --list [--dataset NAME]
    python run_data_sync.py --publish s3://bucket/warehouse [--dataset NAME]   # for a cluster

Exit codes: 0 ok, 1 data errors (rejected rows under --strict, unusable input), 2 usage or
configuration errors, 3 unexpected errors, 4 strategy error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from quant_core import cli
from quant_core.calendar import get_calendar
from quant_core.data import report as tables
from quant_core.data.publish import publish
from quant_core.data.sources import SOURCES, BarSource, SourceRequest
from quant_core.data.sources.sample import SAMPLE_DATASETS
from quant_core.data.store import DatasetStore
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError


@SOURCES.register("ib")
def _ib_source(request: SourceRequest) -> tuple[BarSource, str]:
    # Wired in here, not in data/ (which never imports ib), and imported only when asked for:
    # the IB client library costs every other sync 0.1 s to import.
    from quant_core.ib.history import source_from_request

    return source_from_request(request)


# The sources each flag is read by (SourceRequest's fields): any other ignores it.
FLAG_SOURCES = {
    "path": ("csv",),
    "reference": ("csv",),
    "symbols": ("synthetic", "ib"),
    "start": ("ib",),
    "days": ("synthetic",),
    "seed": ("synthetic",),
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--source", choices=SOURCES.names(), help="where the bars come from (sample)"
    )
    parser.add_argument(
        "--dataset",
        help="warehouse dataset name; with --source sample also which bundled set "
        f"({', '.join(SAMPLE_DATASETS.names())}). Default: sp500-2010, csv or synthetic",
    )
    parser.add_argument("--path", type=Path, help="csv: a file or a folder of per-symbol files")
    parser.add_argument(
        "--reference",
        type=Path,
        help="csv: a reference file with the columns symbol, name, sector, industry, delisted "
        "(symbol required, the others optional; delisted YYYY-MM-DD). New symbols it leaves "
        "out get the sector Unknown, counted in the summary; stored ones keep theirs",
    )
    parser.add_argument(
        "--symbols", help="synthetic: how many symbols (default 500); ib: AAPL,MSFT,SPY"
    )
    parser.add_argument("--start", type=dt.date.fromisoformat, help="ib: first date")
    parser.add_argument("--days", type=int, help="synthetic: sessions (2520)")
    parser.add_argument("--seed", type=int, help="synthetic: random seed, 0 .. 2^32-1 (7)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if any row is rejected, or (ib) any symbol could not be fetched",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="rebuild the dataset from this source alone instead of merging into it",
    )
    parser.add_argument("--list", action="store_true", help="show what the warehouse holds")
    parser.add_argument(
        "--force",
        action="store_true",
        help="--publish: replace a published copy that is newer or another warehouse's",
    )
    parser.add_argument(
        "--publish",
        metavar="URL",
        help="copy a dataset (--dataset, default data.dataset) to s3://bucket/prefix, where "
        "workers read it with paths.warehouse=URL; credentials from AWS_* variables",
    )
    cli.add_set_option(parser)
    args = parser.parse_args(argv)
    _refuse_sync_flags(parser, args)
    args.source = args.source or "sample"
    for flag, sources in FLAG_SOURCES.items():  # a flag the source would ignore: said, not run
        if getattr(args, flag) is not None and args.source not in sources:
            parser.error(f"--{flag} is for --source {' or '.join(sources)}, not {args.source}")
    today = dt.date.today()  # noqa: DTZ011 - a later local date is after every session closed
    if args.start is not None and args.start > today:
        parser.error(f"--start {args.start} is after today ({today}): IB has no bar from it yet")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        parser.error(f"--seed {args.seed}: give a whole number from 0 to 2^32-1")
    if args.days is not None and args.days < 1:
        parser.error(f"--days {args.days}: give at least 1 session")
    return args


def _refuse_sync_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a sync flag beside --list or --publish (it would be ignored), naming it."""
    mode = "--publish" if args.publish else "--list" if args.list else None
    if args.list and args.publish:
        parser.error("--list and --publish: give one of them")
    if args.force and not args.publish:
        parser.error("--force is for --publish")
    if mode is None:
        return
    for flag in ("source", *FLAG_SOURCES, "strict", "replace"):
        if getattr(args, flag) not in (None, False):
            parser.error(f"--{flag} is for a sync, not {mode} (which reads only --dataset)")


def _publish(warehouse: Warehouse, dataset: str, url: str, force: bool) -> int:
    if not isinstance(warehouse.store, DatasetStore):
        raise ConfigError(f"--publish copies a local warehouse; {warehouse.location} is a URL")
    with cli.progress_bar() as progress:
        done = publish(warehouse.store, dataset, url, progress, force=force)
    cli.console().print(
        f"Published {done.dataset} (version {done.version}) to {done.url}: {done.copied} "
        f"file(s) copied ({done.bytes_sent:,} bytes), {done.present} already there, "
        f"{done.removed} removed. Read it with --set paths.warehouse={done.url}"
    )
    return cli.ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    """Run the data sync command line."""
    args = _parse(argv)
    console = cli.console(piped_width=160)  # room for the coverage and sync tables

    def work() -> int:
        cfg = cli.prepare(None, args.set)
        calendar = get_calendar(cfg.calendar.exchange)
        warehouse = Warehouse(cfg.paths.warehouse_location())
        if args.publish:
            return _publish(warehouse, args.dataset or cfg.data.dataset, args.publish, args.force)
        if args.list:
            if args.dataset:
                console.print(tables.coverage_table(warehouse, args.dataset, calendar))
            else:
                console.print(tables.warehouse_table(warehouse, calendar))
            return cli.ExitCode.OK
        if warehouse.store.remote:  # before the source is read: nothing is fetched for nothing
            raise ConfigError(
                f"paths.warehouse={warehouse.location} is read-only: sync into a local "
                "warehouse, then publish it (--publish URL)"
            )
        request = SourceRequest(
            calendar,
            args.dataset,
            args.path,
            args.symbols,
            2520 if args.days is None else args.days,
            7 if args.seed is None else args.seed,
            start=args.start,
            ib=cfg.ib,
            cache_dir=cfg.paths.data_dir / "cache",
            reference=args.reference,
            warehouse=None if args.replace else warehouse,  # --replace keeps nothing stored
        )
        source, dataset = SOURCES.get(args.source)(request)
        with cli.progress_bar() as progress:
            summary = sync(
                source,
                warehouse,
                calendar,
                dataset,
                cfg.data.ohlc_inconsistency,
                progress,
                replace=args.replace,
            )
        console.print(tables.sync_summary(summary))
        if args.strict and summary.rejected:
            console.print(f"--strict: {summary.rejected} row(s) rejected", style="bold red")
            return cli.ExitCode.DOMAIN_ERROR
        if args.strict and summary.unfetched:
            missing = ", ".join(summary.unfetched)
            console.print(f"--strict: {missing} could not be fetched", style="bold red")
            return cli.ExitCode.DOMAIN_ERROR
        return cli.ExitCode.OK

    return cli.main(work)


if __name__ == "__main__":
    sys.exit(main())
