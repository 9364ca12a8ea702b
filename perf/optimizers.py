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

from .common import Report


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
        ms_per_result: dict[str, float] = {}
        ms_per_ask: dict[str, float] = {}
        fewer: dict[str, int] = {}
        for name, factory in factories.items():
            secs, n = 0.0, 0
            asks = [0.0, 0]
            t0 = time.perf_counter()
            for i, seed in enumerate(seeds):
                if i and time.perf_counter() - t0 > SEED_CAP_S:
                    fewer[name] = i
                    break
                run = simulate(
                    bench,
                    _timing_asks(factory, asks),
                    seed=seed,
                    n_workers=4,
                    budget=Budget("evaluations", evaluations),
                )
                secs += run.summary["optimizer_seconds"]
                n += run.summary["n_events"]
            ms_per_result[name] = 1000 * secs / max(n, 1)
            ms_per_ask[name] = 1000 * asks[0] / max(asks[1], 1)
        for name in sorted(n for n in factories if n in _builtin_names()):
            base = OVERHEAD_BASELINE.get(name)
            base = base if base in ms_per_result else "rs"
            report.add(f"{name}: optimizer ms per result", ms_per_result[name], ms_per_result[base], base)
        for name in sorted(n for n in factories if n in _builtin_names()):
            base = OVERHEAD_BASELINE.get(name)
            base = base if base in ms_per_ask else "rs"
            report.add(f"{name}: optimizer ms per ask", ms_per_ask[name], ms_per_ask[base], base)
        for name in sorted(n for n in factories if n not in _builtin_names()):
            report.note(f"{name}: {ms_per_result[name]:.3g} ms per result, {ms_per_ask[name]:.3g} ms per ask")
        report.note(f"seeds {seeds}; 4 workers; {evaluations} full-training equivalents per run")
        if fewer:
            report.note(
                f"fewer seeds where the first runs took over {SEED_CAP_S:g} s (the section's budget): "
                + ", ".join(f"{k} {v}" for k, v in sorted(fewer.items()))
            )
    report.print()
    return report


def _timing_asks(factory: Callable[..., Any], acc: list) -> Callable[..., Any]:
    """``factory`` whose optimizers add the seconds and the number of their ``ask`` calls to ``acc``."""

    @functools.wraps(factory)  # the factory's signature: the simulator passes what it names (priors, ...)
    def build(**kwargs: Any) -> Any:
        opt = factory(**kwargs)
        ask = opt.ask

        def timed_ask() -> Any:
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
