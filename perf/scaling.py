"""Cost per ask and tell as the history grows: each built-in optimizer at 1k, 100k and 1M results.

    python -m perf scaling [--quick]
    python -m perf.scaling [--quick] [--all]

Each built-in optimizer is driven by ask and tell (:func:`runners.testing.time_ask_tell`:
4 asynchronous workers, a smooth synthetic loss over a four-hyperparameter
space, fidelities 1..81, an unbounded sampler so that no table runs out) and
its own process CPU time per result (ask + tell) is measured over the
5 x 2,048 results that follow each checkpoint: 1,000, 100,000 and 1,000,000
results told (``--quick``: 1,000 and 100,000; in ``make perf`` only those of :data:`TO_1M` go on to
1,000,000, the others stop at 100,000; ``--all`` takes every one to 1,000,000). The median over the 5 blocks is
reported, so a burst of other work on the machine moves it little; the load
average is recorded beside it. Two optimizers run at a time, each in its own
process (:data:`PARALLEL`, at most the machine's cores): the times are each
process's own CPU time, and the section takes half the wall time.

The baseline of each row is the same optimizer at 1,000 results, so the
"x better" column is the growth (1.0x: flat; 0.5x: twice as slow). Target:
at most 3x the time at 1,000 results, i.e. no growth beyond a small constant
(an O(log n) cost grows by about 2x from 1k to 1M).

BOHB's time per ask rises with the results of the modelled budget until its
KDEs hold ``max_points_in_model`` points each, then stays flat. With the default
cap (1,024) that takes about 100,000 results here (over 2 minutes of CPU) and
1M results over 20 minutes, so BOHB runs twice: with its default cap to 10,000
results (no target: the rise to the cap is a constant, not a growth with the
history; docs/optimizers.md, "Cost per ask and tell", gives the figure at
1,000,000 and the call that measures it), and as ``bohb (cap 64)``, with
``max_points_in_model=64``, to 30,000 results against the growth target,
which shows the flat cost once the cap is reached.
"""

from __future__ import annotations

import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from runners.registry import OPTIMIZERS, runtime_needs
from runners.testing import time_ask_tell

from .common import Report, clock

#: extra runs, label -> (optimizer, its hyperparameters, last checkpoint, whether the growth target applies)
VARIANTS: dict[str, tuple[str, dict, int, bool]] = {
    "bohb": ("bohb", {}, 10_000, False),
    "bohb (cap 64)": ("bohb", {"max_points_in_model": 64}, 30_000, True),
}
#: optimizers driven at once, each in its own process (at most the machine's cores)
#: model-based methods that refit a Gaussian process or boosted trees as results arrive (a few to tens of ms per
#: result on 30 evaluations, perf/optimizers.py): 100,000 results would take hours each, so this section leaves
#: them out and says so; their models are capped (``max_model_points``, refits at 20 % growth)
NOT_SCALED = ("mobster", "cqr", "cqr-asha", "freeze-thaw")
#: the optimizers taken to 1,000,000 results in ``make perf`` (its 10-minute budget, which must hold beside two busy
#: loops): random sampling and asynchronous successive halving; the others stop at 100,000 (dehb alone takes over a
#: CPU-minute to 1M here, hyperband and re half a minute each), and ``python -m perf.scaling --all``
#: takes every one to 1M (docs/optimizers.md, "Cost per ask and tell")
TO_1M = ("rs", "asha")

PARALLEL = 2
#: the runs that take longest, started last in this order (CPU seconds on a quiet 2-core machine in a slow spell:
#: dehb 14, rs 31, asha 42, bohb 17, bohb (cap 64) 22; the others 3-8 each): the cheap runs all finish first, rs and
#: asha pass 100,000 results early in their runs, and on a clock that runs short what is cut is the end of a run to
#: 1,000,000, or a bohb run, not a whole optimizer's rows. Two at a time, the order finishes about as soon as
#: longest-first.
LAST = ("dehb", "rs", "asha", "bohb", "bohb (cap 64)")
GROWTH_TARGET = 3.0


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not available on this platform
        return "unknown"


def _checkpoints(label: str, checkpoints: list[int], quick: bool = False, every: bool = False) -> list[int]:
    if label in VARIANTS:
        last = 10_000 if quick else VARIANTS[label][2]
        return sorted({c for c in checkpoints if c < last} | {last})
    if label not in TO_1M and not every:
        return [c for c in checkpoints if c <= 100_000]
    return checkpoints


def _drive(label: str, cps: list[int], deadline: float | None = None) -> tuple[str, dict, str]:
    """One optimizer's run (in a worker process: its CPU time is its own) and the load average after it.

    ``deadline`` (a ``time.time()`` value): the run stops there, keeping the checkpoints it finished.
    """
    name, hyper, _, _ = VARIANTS.get(label, (label, {}, 0, True))
    return label, time_ask_tell(name, 0, cps, deadline=deadline, **hyper), _load()


def main(quick: bool = False, every: bool = False) -> Report:
    """``every``: every optimizer to the last checkpoint (else only :data:`TO_1M`; the others stop at 100,000)."""
    rep = Report("scaling")
    checkpoints = [1_000, 100_000] if quick else [1_000, 100_000, 1_000_000]
    wall0 = time.perf_counter()
    workers = max(1, min(PARALLEL, os.cpu_count() or 1))
    rep.note(
        f"load average (1/5/15 min) at the start: {_load()}; {os.cpu_count()} cores; {workers} optimizers at a "
        "time, each in its own process (the times are its process CPU time)"
    )
    # the prior variants (rs-prior, ...) are their base method with another sampler and need a benchmark's priors,
    # which this benchmark-free driver has not
    names = [n for n in OPTIMIZERS if not runtime_needs(n) and n not in NOT_SCALED]
    rep.note(
        f"not run to {checkpoints[-1]:,} results: {', '.join(NOT_SCALED)} (model-based, tens of ms per result at "
        "30 evaluations in the optimizers section: hours each here); their growth with history is not measured"
    )
    short = [
        n
        for n in names
        if n not in VARIANTS and n not in TO_1M and _checkpoints(n, checkpoints, quick, every) != checkpoints
    ]
    if short:
        rep.note(
            f"to 100,000 results only (the budget of make perf): {', '.join(short)}; "
            "python -m perf.scaling --all takes them to 1,000,000"
        )
    names += [v for v in VARIANTS if v not in names]
    order = sorted(names, key=lambda n: LAST.index(n) + 1 if n in LAST else 0)
    cps_of = {n: _checkpoints(n, checkpoints, quick, every) for n in names}
    runs: dict[str, tuple[dict, str]] = {}
    with clock().part(0.95, "optimizer runs") as part:
        # on a bounded clock every run stops at the part's end, keeping the checkpoints it finished
        deadline = time.time() + part.left() if clock().bounded else None
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for name, run, load in pool.map(
                _drive,
                order,
                [cps_of[n] for n in order],
                [deadline] * len(order),
            ):
                runs[name] = (run, load)
        stopped = {n: max(r["times"], default=None) for n, (r, _) in runs.items() if r["stop"] == "deadline"}
        if stopped:
            part.cut(
                "stopped at the clock: "
                + ", ".join(
                    f"{n} ({'no checkpoint timed' if c is None else f'timed to {c:,} results'} of "
                    f"{cps_of[n][-1]:,})"
                    for n, c in stopped.items()
                )
            )
    for name in names:
        run, load = runs[name]
        times = run["times"]
        cps = [c for c in cps_of[name] if c in times]
        if not cps:
            continue
        base = times[cps[0]]["ask_tell"] * 1e6
        for c in cps:
            us = times[c]["ask_tell"] * 1e6
            target = None if not VARIANTS.get(name, (0, 0, 0, True))[3] else round(GROWTH_TARGET * base, 1)
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
        "bohb: its default cap (1,024 points per KDE) is reached at about 100,000 results, so its rows have no "
        "target; 'bohb (cap 64)' (max_points_in_model=64) shows the flat cost once the cap is reached"
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    rep.note(
        f"total {time.perf_counter() - wall0:.0f} s wall; peak memory of one run's process {peak:,.0f} MiB"
    )
    rep.print()
    return rep


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv, every="--all" in sys.argv)
