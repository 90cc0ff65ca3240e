"""Print the kill rate of a mutmut 3 run per module; exit 1 if any module is below the bar.

Usage (from the project root, after ``mutmut run``; ``make mutation`` does both)::

    python .ci/mutation_report.py [--min 90] [--root .]

Reads the modules from ``[tool.mutmut] only_mutate`` in ``pyproject.toml`` and mutmut's
results from ``mutants/<module>.meta``. A mutant counts as killed when a test failed, it timed
out or the type checker caught it; every other verdict (survived, no tests, suspicious, ...)
counts against the module. A module with mutants that were never run, or no results at all,
fails too: a missing figure is not a pass. Surviving mutants are listed, with a mark on those
that ``tests/MUTATION.md`` does not explain (as equivalent or accepted).

Exit codes: 0 every module at or above ``--min`` percent; 1 a module below it, unrun or
missing; 2 bad usage or an unreadable file (the message names it).
"""

# ruff: noqa: T201  (a command-line report: printing is its job)
from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# mutmut 3's verdicts by worker exit code (mutmut/stats.py); anything else is "suspicious".
KILLED_CODES = {1, 3, 24, -24, 152, 255, 36, 37}  # failed, pytest error, timeouts, type check
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    2: "interrupted",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    37: "type check",
    -11: "segfault",
    -9: "segfault",
}
FULL_NAME = re.compile(r"quant_core\.[\w.ǁ]+__mutmut_\d+")
FUNCTION_NAME = re.compile(r"[\wǁ]+__mutmut_\d+")  # the module of the last full name
NUMBER = re.compile(r"_(\d+)")  # another mutant of the last full name's function


@dataclass(frozen=True)
class ModuleResult:
    """One module's verdicts."""

    path: str
    statuses: Counter[str]
    survivors: list[str]

    @property
    def total(self) -> int:
        """Return the number of mutants."""
        return sum(self.statuses.values())

    @property
    def killed(self) -> int:
        """Return the number of mutants a test (or the type checker, or a timeout) killed."""
        return sum(self.statuses[s] for s in ("killed", "timeout", "type check"))

    @property
    def percent(self) -> float:
        """Return the kill rate in percent (0 for a module without mutants)."""
        return 100.0 * self.killed / self.total if self.total else 0.0


def explained_names(text: str) -> set[str]:
    """Return the mutant names a ``MUTATION.md`` text explains.

    Names are written in backquotes, in full (``quant_core.m.x_f__mutmut_3``), or after a full
    name as a function of the same module (``x_g__mutmut_4``) or a number of the same function
    (``_5``).
    """
    names: set[str] = set()
    last = ""
    for token in re.findall(r"`([^`]+)`", text):
        if FULL_NAME.fullmatch(token):
            last = token
        elif last and FUNCTION_NAME.fullmatch(token):
            token = f"{last.rsplit('.', 1)[0]}.{token}"
        elif last and (number := NUMBER.fullmatch(token)):
            token = f"{last[: last.rindex('__mutmut_')]}__mutmut_{number[1]}"
        else:
            continue
        names.add(token)
    return names


def _fail(message: str) -> None:
    print(f"mutation_report: {message}", file=sys.stderr)
    raise SystemExit(2)


def modules(root: Path) -> list[str]:
    """Return the module paths listed in ``[tool.mutmut] only_mutate``."""
    path = root / "pyproject.toml"
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}")
    listed = config.get("tool", {}).get("mutmut", {}).get("only_mutate")
    if not isinstance(listed, list) or not listed:
        _fail(f"{path}: [tool.mutmut] only_mutate lists no module")
    return [str(p) for p in listed]


def read_module(root: Path, path: str) -> ModuleResult | None:
    """Return the verdicts of ``path``, or None if mutmut has no results for it."""
    meta = root / "mutants" / f"{path}.meta"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        codes: dict[str, int | None] = data["exit_code_by_key"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _fail(f"cannot read mutmut results {meta}: {exc!r}")
    statuses: Counter[str] = Counter()
    survivors = []
    for name, code in sorted(codes.items()):
        status = "not run" if code is None else STATUS.get(code, "suspicious")
        statuses[status] += 1
        if code is not None and code not in KILLED_CODES:
            survivors.append(f"{name} ({status})")
    return ModuleResult(path, statuses, survivors)


def main(argv: list[str] | None = None) -> int:
    """Print the table and return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=float, default=90.0, help="kill rate bar, percent")
    parser.add_argument("--root", type=Path, default=Path(), help="project root")
    args = parser.parse_args(argv)
    explained_path = args.root / "tests" / "MUTATION.md"
    explained = (
        explained_names(explained_path.read_text(encoding="utf-8"))
        if explained_path.exists()
        else set()
    )
    failed = []
    print(f"{'module':<36} {'killed':>6} {'total':>6} {'%':>6}")
    for path in modules(args.root):
        result = read_module(args.root, path)
        if result is None or result.total == 0:
            print(f"{path:<36} {'-':>6} {'-':>6} {'-':>6}  no results: run mutmut first")
            failed.append(path)
            continue
        below = result.percent < args.min or result.statuses["not run"] > 0
        mark = "  BELOW" if below else ""
        print(f"{path:<36} {result.killed:>6} {result.total:>6} {result.percent:>6.1f}{mark}")
        if result.statuses["not run"]:
            print(f"    {result.statuses['not run']} mutants not run: run mutmut on this module")
        for survivor in result.survivors:
            name = survivor.split(" ", 1)[0]
            note = "" if name in explained else "  (not explained in tests/MUTATION.md)"
            print(f"    {survivor}{note}")
        if below:
            failed.append(path)
    if failed:
        print(f"below {args.min:g}% or not run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
