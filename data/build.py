"""Generate the shipped tables (``make tables``): run every recipe's sweep in turn, merging each when done.

    python -m data.build                  # all tables, in data/recipes.py order; resumes where it stopped
    python -m data.build fcnet-naval      # one table
    python -m data.build --status         # shards done per table

Each sweep trains on one thread by default (``--threads``); a killed build
loses at most the shards in progress.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .recipes import TABLES
from .shards import Plan, done_shards
from .sweep import SweepConfig, run_sweep, sweep_folder, table_folder


def status(names: list[str]) -> None:
    for name in names:
        cfg = SweepConfig(name=name, **TABLES[name])
        if table_folder(cfg).is_dir():
            print(f"{name:22s} table written")
            continue
        folder = sweep_folder(cfg)
        if not (folder / "plan.json").is_file():
            print(f"{name:22s} not started")
            continue
        plan = Plan.from_json(json.loads((folder / "plan.json").read_text()))
        n = len(plan.shards)
        print(f"{name:22s} {len(done_shards(folder, n))}/{n} shards done")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data.build", description=__doc__.split("\n")[0])
    p.add_argument("tables", nargs="*", help=f"tables to build (default: all of {', '.join(TABLES)})")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--status", action="store_true", help="print progress and exit")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    names = args.tables or list(TABLES)
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        p.error(f"unknown table(s) {unknown}; known: {', '.join(TABLES)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.status:
        status(names)
        return 0
    for name in names:
        cfg = SweepConfig(name=name, threads=args.threads, device=args.device, progress=not args.no_progress,
                          **TABLES[name])
        if table_folder(cfg).is_dir():
            print(f"{name}: table already written ({table_folder(cfg)}); skipped")
            continue
        path = run_sweep(cfg)
        print(f"{name}: {'table written: ' + str(path) if path else 'not finished'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
