"""Generate the shipped tables (``make tables``): run every recipe's sweep in turn, merging each when done.

    python -m data.build                  # all tables, in data/recipes.py order; resumes where it stopped
    python -m data.build fcnet-naval      # one table
    python -m data.build --status         # shards done per table

Each sweep trains on one thread by default (``--threads``); a killed build
loses at most the shards in progress.
"""

from __future__ import annotations

import argparse
import logging
import sys

from benchmarks.protocol import CurveBenchError

from .checks import INT_LIMITS, SettingsError, check_int
from .recipes import TABLES
from .shards import done_shards, read_plan
from .sweep import SweepConfig, run_sweep_outcome, sweep_folder, table_exists, table_folder


def status(names: list[str]) -> None:
    for name in names:
        cfg = SweepConfig(name=name, **TABLES[name])
        if table_exists(table_folder(cfg)):
            print(f"{name:22s} table written")
            continue
        folder = sweep_folder(cfg)
        if not (folder / "plan.json").is_file():
            print(f"{name:22s} not started")
            continue
        plan = read_plan(folder / "plan.json")
        n = len(plan.shards)
        print(f"{name:22s} {len(done_shards(folder, n))}/{n} shards done")


def _threads(text: str) -> int:
    try:
        value: object = int(text)
    except ValueError:
        value = text
    try:
        return int(check_int("--threads", value, *INT_LIMITS["threads"]))
    except SettingsError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data.build", description=__doc__.split("\n")[0])
    p.add_argument("tables", nargs="*", help=f"tables to build (default: all of {', '.join(TABLES)})")
    p.add_argument(
        "--threads",
        type=_threads,
        default=1,
        metavar="N",
        help=f"CPU threads per sweep, {INT_LIMITS['threads'][0]}..{INT_LIMITS['threads'][1]} (default 1)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--status", action="store_true", help="print progress and exit")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    names = args.tables or list(TABLES)
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        p.error(f"unknown table(s) {unknown}; known: {', '.join(TABLES)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        if args.status:
            status(names)
            return 0
        for name in names:
            cfg = SweepConfig(
                name=name,
                threads=args.threads,
                device=args.device,
                progress=not args.no_progress,
                **TABLES[name],
            )
            if table_exists(table_folder(cfg)):
                print(f"{name}: table already written ({table_folder(cfg)}); skipped")
                continue
            print(f"{name}: {run_sweep_outcome(cfg).message()}")
    except CurveBenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
