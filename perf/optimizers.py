"""Optimizer performance: the optimizer's own time per result and per ask, beside baselines.

Run with ``make perf`` (or ``python -m perf optimizers``). Everything is
measured in this run on a synthetic table with the FCNet grid's space
(2,000 of its configurations x 100 epochs), 4 workers, a budget of full-training
equivalents, zero optimizer-overhead policy (the optimizer's real seconds are
measured on the side).

Baselines, measured in the same run:
* overhead: the same algorithm in an external library where one is installed
  (DEHB: the ``dehb`` package; ASHA and Hyperband: Optuna's random sampler with
  its successive-halving and Hyperband pruners; BOHB: Optuna's TPE), else
  random search.

Optimizer *quality* is not measured here: a synthetic table and a few seeds say
nothing about how methods rank on real training. It comes from the default
study on the real tables with 10 seeds (``make bench``; README, "What the
default study finds").
"""

from __future__ import annotations

import functools
import importlib.util
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.synthetic import make_synthetic_table
from benchmarks.tabular import TabularBenchmark
from runners.registry import OPTIMIZERS
from runners.simulator import Budget, simulate
from runners.testing import fcnet_like_space

from .common import Report, clock


def _factories() -> dict[str, Callable[..., Any]]:
    out: dict[str, Callable[..., Any]] = dict(OPTIMIZERS)
    if importlib.util.find_spec("optuna") is not None:
        from runners.adapters.optuna_adapter import (  # lazy: optional extra (optuna)
            OptunaOptimizer,
            OptunaTPE,
        )

        out["optuna-random-sha"] = lambda **kw: OptunaOptimizer(optuna_sampler="random", pruner="sha", **kw)
        out["optuna-random-hyperband"] = lambda **kw: OptunaOptimizer(
            optuna_sampler="random", pruner="hyperband", **kw
        )
        out["optuna-tpe"] = OptunaTPE
    if importlib.util.find_spec("dehb") is not None:
        from runners.adapters.dehb_adapter import DEHBLibrary  # lazy: optional extra (dehb)

        out["dehb-lib"] = DEHBLibrary
    return out


#: ours -> the library doing the same (or the closest) job
OVERHEAD_BASELINE = {
    "dehb": "dehb-lib",
    "asha": "optuna-random-sha",
    "hyperband": "optuna-random-hyperband",
    "bohb": "optuna-tpe",
}


#: an optimizer's further seeds are run only while its runs so far took less than this (wall seconds): the
#: model-based methods take seconds to tens of seconds per run here, and one run of 100 evaluations gives
#: their time per ask well enough; the cheap ones get every seed
SEED_CAP_S = 1.0
#: the costliest runs, run last in this order (wall seconds of one run on a 2-core machine, quiet: cost-pareto,
#: parego about 3, moasha and cqr 7-8, freeze-thaw 10, cqr-asha 20, mobster 39): on a bounded clock each first run
#: may take 3 / (first runs still to go) of the time left (all of it for the last three), so what the cheap runs
#: leave goes to these
SLOWEST = ("cost-pareto", "parego", "moasha", "cqr", "freeze-thaw", "cqr-asha", "mobster")


def main(quick: bool = False) -> Report:
    seeds = [0] if quick else [0, 1, 2]
    evaluations = 30 if quick else 100
    report = Report("optimizers")
    with tempfile.TemporaryDirectory(prefix="curvebench-perf-") as tmp:
        path = make_synthetic_table(
            Path(tmp) / "fcnet-like",
            n_configs=2000,
            space=fcnet_like_space(),
            n_seeds=1,
            n_epochs=100,
            name="fcnet-like",
        )
        bench = TabularBenchmark.from_path(path)
        factories = _factories()
        secs = dict.fromkeys(factories, 0.0)  # optimizer seconds, summed over its runs
        events = dict.fromkeys(factories, 0)  # results told, summed over its runs
        asks = {name: [0.0, 0] for name in factories}  # seconds inside ask, calls
        run_wall = dict.fromkeys(factories, 0.0)  # wall seconds of its runs so far
        fewer: dict[str, int] = {}  # optimizers run on fewer seeds, slow ones: how many
        short: list[str] = []  # the clock ran out before their next seed
        # seed by seed over every optimizer (a round each): the first seed of each is the minimum, later seeds
        # are taken while the optimizer's runs stay under SEED_CAP_S and the section's clock affords one more
        boxed: dict[str, int] = {}  # first runs the clock stopped early: results told
        # the costliest last, so that the time the cheap ones leave goes to them
        order = sorted(factories, key=lambda n: SLOWEST.index(n) + 1 if n in SLOWEST else 0)
        with clock().part(0.95, "optimizer runs") as part:
            for i, seed in enumerate(seeds):
                for k, name in enumerate(order):
                    factory = factories[name]
                    if i and name in boxed:  # stopped by the clock: no further seeds
                        fewer.setdefault(name, i)
                        continue
                    if i and name in fewer:
                        continue
                    if i and run_wall[name] > SEED_CAP_S:
                        fewer[name] = i
                        continue
                    if i and not part.affords(run_wall[name] / i):
                        fewer[name] = i
                        short.append(name)
                        continue
                    t0 = time.perf_counter()
                    # a first run may take three equal parts of the time left to the first runs still to go (the
                    # cheap ones, first, take far less; what they leave goes to the costliest, last)
                    deadline = (
                        t0 + part.left() * min(1.0, 3 / (len(order) - k))
                        if i == 0 and clock().bounded
                        else None
                    )
                    stopped: list = []
                    run = simulate(
                        bench,
                        _timing_asks(factory, asks[name], deadline, stopped),
                        seed=seed,
                        n_workers=4,
                        budget=Budget("evaluations", evaluations),
                    )
                    run_wall[name] += time.perf_counter() - t0
                    secs[name] += run.summary["optimizer_seconds"]
                    events[name] += run.summary["n_events"]
                    if stopped:
                        boxed[name] = run.summary["n_events"]
            if boxed:
                part.cut(
                    "first runs stopped by the clock before their budget (their times are over the results "
                    "told, a shorter history): "
                    + ", ".join(
                        f"{n} after {r:,} results" + ("" if r else " (no row)") for n, r in boxed.items()
                    )
                )
            if short:
                part.cut("seeds of " + ", ".join(f"{n} ({fewer[n]} of {len(seeds)})" for n in short))
        # a run the clock stopped before its first result measured nothing: no row (the cut names it)
        timed = [name for name in factories if events[name] and asks[name][1]]
        ms_per_result = {name: 1000 * secs[name] / events[name] for name in timed}
        ms_per_ask = {name: 1000 * asks[name][0] / asks[name][1] for name in timed}
        for name in sorted(n for n in timed if n in _builtin_names()):
            base = OVERHEAD_BASELINE.get(name)
            base = base if base in ms_per_result else "rs"
            report.add(
                f"{name}: optimizer ms per result",
                ms_per_result[name],
                ms_per_result.get(base),
                base,
                setting=_stopped(boxed, name, base),
            )
        for name in sorted(n for n in timed if n in _builtin_names()):
            base = OVERHEAD_BASELINE.get(name)
            base = base if base in ms_per_ask else "rs"
            report.add(
                f"{name}: optimizer ms per ask",
                ms_per_ask[name],
                ms_per_ask.get(base),
                base,
                setting=_stopped(boxed, name, base),
            )
        for name in sorted(n for n in timed if n not in _builtin_names()):
            report.note(f"{name}: {ms_per_result[name]:.3g} ms per result, {ms_per_ask[name]:.3g} ms per ask")
        report.note(f"seeds {seeds}; 4 workers; {evaluations} full-training equivalents per run")
        slowest = sorted(run_wall, key=run_wall.get, reverse=True)[:5]
        report.note(
            f"wall seconds of all runs: {sum(run_wall.values()):.0f}; the slowest: "
            + ", ".join(f"{n} {run_wall[n]:.1f}" for n in slowest)
        )
        if fewer:
            report.note(
                f"fewer seeds where the first runs took over {SEED_CAP_S:g} s, or the section's clock ran short: "
                + ", ".join(f"{k} {v}" for k, v in sorted(fewer.items()))
            )
    report.print()
    return report


def _stopped(boxed: dict[str, int], *names: str) -> str:
    """The setting of a row one of whose runs the clock stopped early (its history was shorter): "" if none."""
    return "; ".join(
        f"{n}'s first run stopped by the clock after {boxed[n]:,} results" for n in names if n in boxed
    )


def _timing_asks(
    factory: Callable[..., Any], acc: list, deadline: float | None = None, stopped: list | None = None
) -> Callable[..., Any]:
    """``factory`` whose optimizers add the seconds and the number of their ``ask`` calls to ``acc``.

    ``deadline`` (a ``time.perf_counter`` value): from then on the optimizer asks for nothing and says it is
    done, so the run ends once its running trials are told (``stopped`` gets one entry when that happens).
    """

    @functools.wraps(factory)  # the factory's signature: the simulator passes what it names (priors, ...)
    def build(**kwargs: Any) -> Any:
        opt = factory(**kwargs)
        ask = opt.ask

        def timed_ask() -> Any:
            if deadline is not None and time.perf_counter() > deadline:
                if not opt.done and stopped is not None:
                    stopped.append(True)
                opt.done = True
                return None
            t0 = time.perf_counter()
            try:
                return ask()
            finally:
                acc[0] += time.perf_counter() - t0
                acc[1] += 1

        opt.ask = timed_ask
        return opt

    return build


def _builtin_names() -> set[str]:
    return set(OPTIMIZERS)


if __name__ == "__main__":
    main()
