"""Cost per ask and tell as the history grows: each built-in optimizer at 1k, 100k and 1M results.

    python -m perf scaling [--quick]

Each built-in optimizer is driven by ask and tell (:func:`runners.testing.time_ask_tell`:
4 asynchronous workers, a smooth synthetic loss over a four-hyperparameter
space, fidelities 1..81, an unbounded sampler so that no table runs out) and
its own process CPU time per result (ask + tell) is measured over the
5 x 2,048 results that follow each checkpoint: 1,000, 100,000 and 1,000,000
results told (``--quick``: 1,000 and 100,000). The median over the 5 blocks is
reported, so a burst of other work on the machine moves it little; the load
average is recorded beside it. Two optimizers run at a time, each in its own
process (:data:`PARALLEL`, at most the machine's cores): the times are each
process's own CPU time, and the section takes half the wall time.

The baseline of each row is the same optimizer at 1,000 results, so the
"x better" column is the growth (1.0x: flat; 0.5x: twice as slow). Target:
at most 3x the time at 1,000 results, i.e. no growth beyond a small constant
(an O(log n) cost grows by about 2x from 1k to 1M).

BOHB is measured to 10,000 results only: a model-based proposal evaluates its
two KDEs over every result of the modelled budget, as the published method
does, so its time per ask grows linearly with that number (docs/optimizers.md,
"Cost per ask and tell"); 1M results would take hours. Its rows have no target.
"""

from __future__ import annotations

import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from runners.registry import OPTIMIZERS, runtime_needs
from runners.testing import time_ask_tell

from .common import Report

#: the optimizers whose cost per result grows linearly by design, and the last checkpoint they run to
LINEAR = {"bohb": 10_000}
#: optimizers driven at once, each in its own process (at most the machine's cores)
PARALLEL = 2
#: the runs that take longest (started first)
SLOWEST = ("dehb", "re")
GROWTH_TARGET = 3.0


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not available on this platform
        return "unknown"


def _checkpoints(name: str, checkpoints: list[int]) -> list[int]:
    if name in LINEAR:
        return [c for c in checkpoints if c <= LINEAR[name]] + [LINEAR[name]]
    return checkpoints


def _drive(name: str, cps: list[int]) -> tuple[str, dict, str]:
    """One optimizer's run (in a worker process: its CPU time is its own) and the load average after it."""
    return name, time_ask_tell(name, 0, cps), _load()


def main(quick: bool = False) -> Report:
    rep = Report("scaling")
    checkpoints = [1_000, 100_000] if quick else [1_000, 100_000, 1_000_000]
    wall0 = time.perf_counter()
    workers = max(1, min(PARALLEL, os.cpu_count() or 1))
    rep.note(
        f"load average (1/5/15 min) at the start: {_load()}; {os.cpu_count()} cores; {workers} optimizers at a "
        "time, each in its own process (the times are its process CPU time)"
    )
    # the longest runs first (a model-based ask costs most), so that the workers finish together
    # the prior variants (rs-prior, ...) are their base method with another sampler and need a benchmark's priors,
    # which this benchmark-free driver has not
    names = [n for n in OPTIMIZERS if not runtime_needs(n)]
    order = sorted(names, key=lambda n: n not in SLOWEST)
    runs: dict[str, tuple[dict, str]] = {}
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for name, run, load in pool.map(_drive, order, [_checkpoints(n, checkpoints) for n in order]):
            runs[name] = (run, load)
    for name in names:
        cps = _checkpoints(name, checkpoints)
        run, load = runs[name]
        times = run["times"]
        base = times[cps[0]]["ask_tell"] * 1e6
        for c in cps:
            us = times[c]["ask_tell"] * 1e6
            target = None if name in LINEAR else round(GROWTH_TARGET * base, 1)
            rep.add(
                f"{name}: us per ask+tell at {c:,} results",
                us,
                base if c != cps[0] else None,
                f"{name} at {cps[0]:,}",
                target=target,
            )
        split = ", ".join(
            f"{c:,}: ask {times[c]['ask'] * 1e6:.1f} + tell {times[c]['tell'] * 1e6:.1f} us" for c in cps
        )
        rep.note(
            f"{name}: {run['n_results']:,} results in {run['wall_seconds']:.0f} s wall, "
            f"{run['cpu_seconds']:.0f} s CPU ({split}); load average after: {load}"
        )
    rep.note(
        f"BOHB to {LINEAR['bohb']:,} results only: its KDEs are evaluated over every result of the modelled "
        "budget (the published method), so its time per ask grows linearly; no target"
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    rep.note(
        f"total {time.perf_counter() - wall0:.0f} s wall; peak memory of one run's process {peak:,.0f} MiB"
    )
    rep.print()
    return rep


if __name__ == "__main__":
    main()
