"""Generate the shipped tables (``make tables``): run every recipe's sweep in turn, merging each when done.

    python -m data.build                      # all tables, in data/recipes.py order; resumes where it stopped
    python -m data.build tables=fcnet-naval   # one table
    python -m data.build status               # shards done per table

Each sweep trains on one thread by default (``threads=N``); a killed build
loses at most the shards in progress.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from benchmarks.cli import UsageError, hint, key_field, parse_command, usage_status
from benchmarks.protocol import CurveBenchError

from .checks import INT_LIMITS, check_int
from .recipes import TABLES, cost_pool
from .shards import done_shards, read_plan
from .sweep import SweepConfig, run_sweep_outcome, sweep_folder, table_exists, table_folder


def status(names: list[str]) -> None:
    width = max(map(len, names), default=0)  # one column, however long a name
    for name in names:
        cfg = SweepConfig(name=name, **TABLES[name])
        if table_exists(table_folder(cfg)):
            print(f"{name:{width}s}  table written")
            continue
        folder = sweep_folder(cfg)
        if not (folder / "plan.json").is_file():
            print(f"{name:{width}s}  not started")
            continue
        plan = read_plan(folder / "plan.json")
        n = len(plan.shards)
        print(f"{name:{width}s}  {len(done_shards(folder, n))}/{n} shards done")


#: the actions of ``python -m data.build``
ACTIONS = {
    "build": "run each table's sweep (resuming where it stopped) and merge it when done",
    "status": "print the shards done per table and exit",
}
TABLES_HELP = f"tables to build (default: all of {', '.join(TABLES)})"


@dataclass
class BuildArgs:
    """``python -m data.build [build]``'s keys."""

    tables: list[str] = key_field([], TABLES_HELP, positional=True)
    threads: int = key_field(
        1, f"CPU threads per sweep, {INT_LIMITS['threads'][0]}..{INT_LIMITS['threads'][1]}"
    )
    device: str = key_field("auto", "the training device (auto, cpu, cuda, ...)")
    progress: bool = key_field(True, "show progress bars")


@dataclass
class StatusArgs:
    """``python -m data.build status``'s keys."""

    tables: list[str] = key_field([], TABLES_HELP, positional=True)


def check_args(args: BuildArgs | StatusArgs) -> list[str]:
    """The tables to build (default: all), each a recipe; ``threads`` in its limits; else an error naming it."""
    for name in args.tables:
        if name not in TABLES:
            raise UsageError(
                f"unknown table {name!r}.{hint(name, list(TABLES))} Allowed: {', '.join(TABLES)}"
            )
    if isinstance(args, BuildArgs):
        check_int("threads", args.threads, *INT_LIMITS["threads"])
    return list(args.tables) or list(TABLES)


def main(argv: list[str] | None = None) -> int:
    """``python -m data.build [build|status] [key=value ...]``: a bad key or value prints ``error: <message>``
    and returns 2; a failed sweep returns 1."""
    try:
        action, args = parse_command(
            argv,
            {"build": BuildArgs, "status": StatusArgs},
            module="data.build",
            description=__doc__.split("\n")[0],
            actions=ACTIONS,
            default_action="build",
        )
        names = check_args(args)
    except CurveBenchError as e:
        return usage_status(e)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        if action == "status":
            status(names)
            return 0
        # a data-size fraction's cost model pools its family's calibrations (data.recipes.cost_pool): its sweep
        # runs in turn, unmerged, and it is merged after every table's sweep has run (a finished sweep run
        # again trains nothing and merges)
        pooled = [n for n in names if cost_pool(n)]
        for name, merge in [*((n, n not in pooled) for n in names), *((n, True) for n in pooled)]:
            cfg = SweepConfig(
                name=name,
                threads=args.threads,
                device=args.device,
                progress=args.progress,
                merge=merge,
                **TABLES[name],
            )
            if table_exists(table_folder(cfg)):
                if merge:
                    print(f"{name}: table already written ({table_folder(cfg)}); skipped")
                continue
            print(f"{name}: {run_sweep_outcome(cfg).message()}")
    except CurveBenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
