"""The headless live worker: broker (the simulated one by default), strategy, state, commands.

Examples
--------
    python run_live_strategy.py                                   # live.yaml; sim broker (paper)
    python run_live_strategy.py --replay 2009-10-01:2010-08-20 --speed 0.5
    python run_live_strategy.py --replay 2010-04-01:2010-08-20 --continue  # carry an account on
    python run_live_strategy.py --once [--force-rebalance]        # one cycle, then exit
    python run_live_strategy.py --book config/books/core.yaml     # a book of sleeves
    python run_live_strategy.py --resume                          # clear a STOP latch
    python run_live_strategy.py --health                          # exit 0 healthy, 1 not

State and commands live in <data_dir>/live/: the state in dashboard_state.json, commands as one
file each in inbox/ (a legacy command.json is still taken, if written atomically). Exit codes:
0 ok, 1 domain error, 2 usage or configuration error, 3 unexpected error, 4 strategy error (bad
weights), 130 interrupted. ``--health`` reads the state file only (no broker, nothing written)
and prints one line: exit 0 healthy, 1 unhealthy (``quant_core/live/health.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from quant_core import cli
from quant_core.live.health import check_health


def _span(text: str) -> tuple[dt.date, dt.date]:
    start, sep, end = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not START:END (YYYY-MM-DD:YYYY-MM-DD)"
        ) from None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(__doc__)
    parser.add_argument("--replay", type=_span, metavar="START:END", help="replay history")
    parser.add_argument("--speed", type=float, default=None, help="replay: seconds per session")
    parser.add_argument(
        "--continue",
        dest="continue_account",
        action="store_true",
        help="replay: keep trading the simulated account of an earlier run (default: a fresh one)",
    )
    parser.add_argument(
        "--book",
        type=Path,
        default=None,
        metavar="PATH",
        help="run a book of sleeves (config/books/<name>.yaml) instead of the config's strategy",
    )
    parser.add_argument("--once", action="store_true", help="one cycle, then exit (for cron)")
    parser.add_argument("--force-rebalance", action="store_true", help="with --once: rebalance now")
    parser.add_argument("--resume", action="store_true", help="start trading despite a STOP latch")
    parser.add_argument("--live", action="store_true", help="trade a live account (IB only)")
    parser.add_argument(
        "--health",
        action="store_true",
        help="print the worker's health from its state file (heartbeat age, state); exit 0 "
        "healthy, 1 not. Connects to nothing, writes nothing (monitoring, systemd)",
    )
    cli.add_set_option(parser)
    args = parser.parse_args(argv)
    # A flag that would be ignored is refused (exit 2), never silently dropped.
    if args.health:
        flags = {
            "--replay": args.replay is not None,
            "--once": args.once,
            "--resume": args.resume,
            "--live": args.live,
            "--force-rebalance": args.force_rebalance,
            "--speed": args.speed is not None,
            "--continue": args.continue_account,
            "--book": args.book is not None,
        }
        if clash := [flag for flag, given in flags.items() if given]:
            parser.error(
                f"--health only reads the state; it does not combine with {', '.join(clash)}"
            )
    if args.force_rebalance and not args.once:
        parser.error("--force-rebalance works with --once only")
    if args.speed is not None and args.replay is None:
        parser.error("--speed works with --replay only")
    if args.once and args.replay is not None:
        parser.error("--once and --replay exclude each other")
    return args


def _health(overrides: list[str]) -> int:
    # The config as the worker loads it (live.yaml, secrets, QC__ variables, --set), so the
    # same data_dir is read; no log file: --health writes nothing. Its one line is the answer:
    # the loader's INFO lines stay out of the journal a timer fills every minute.
    cli.set_level("WARNING")
    cfg = cli.prepare("live", overrides)
    folder = cfg.paths.data_dir / "live"  # live.run.live_dir's folder, without the worker's imports
    ok, line = check_health(folder, dt.datetime.now(dt.UTC), cfg.live.health_max_age_s)
    print(line)
    return cli.ExitCode.OK if ok else cli.ExitCode.DOMAIN_ERROR


def main(argv: list[str] | None = None) -> int:
    """Run the live worker command line."""
    args = _parse(argv)
    if args.health:
        return cli.main(lambda: _health(args.set))

    def work() -> int:
        # Imported here: --health, run every minute by a timer, needs none of it (2 s of imports).
        from quant_core.ib.broker import IBBroker
        from quant_core.ib.refresh import refresh_through
        from quant_core.live.files import WORKER_LOG
        from quant_core.live.run import LiveRequest, check_mode, live_dir, run_worker

        cfg = cli.prepare("live", args.set, log_file=lambda cfg: live_dir(cfg) / WORKER_LOG)
        request = LiveRequest(
            replay=args.replay,
            speed_s=args.speed or 0.0,
            once=args.once,
            force_rebalance=args.force_rebalance,
            resume=args.resume,
            live=args.live,
            continue_account=args.continue_account,
            book=args.book,
        )
        broker = None
        if cfg.live.broker == "ib":
            check_mode(cfg, request)  # refuse a live account before touching the socket
            broker = IBBroker(cfg.ib)  # the entry point wires IB in: live never imports ib
        # live.refresh: broker: the worker fetches its missing sessions through IB's history
        # (ib/refresh.py), in a child process of its own; none: run_data_sync.py does.
        refresh = refresh_through if cfg.live.refresh == "broker" else None
        run_worker(cfg, request, broker, refresh=refresh)
        return cli.ExitCode.OK

    return cli.main(work)


if __name__ == "__main__":
    sys.exit(main())
