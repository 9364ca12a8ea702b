"""Simulator speed: overhead per trial beside a bare event loop, scaling, and Syne Tune's simulator.

    python -m perf simulator [--quick]

Table: 1,000 configurations x 4 seeds x 100 epochs (``runners.testing.write_toy_table``), 4
workers, seed 0. Every timing is the median of alternating rounds (ours, baseline, ours, ...;
:func:`perf.common.alternate`) with the load (:func:`perf.common.load_now`) recorded; CPU time is process time.

1. Overhead per trial, random search at the last epoch (one result per trial, drawn with
   replacement so no table runs out): our simulator (``runners.simulator.simulate``) against a
   bare ``heapq`` event loop on the same table in the same run (:func:`bare_event_loop`: draw a
   configuration and a seed, look up its value and cost, push the finish time, pop the next,
   record the result; the least any simulator does). Targets: our CPU per trial within 4x of
   the bare loop's, and at most 20 us wall per evaluation.
2. Scaling: the same at 10k, 100k and (full mode only) 1M trials, CPU per trial at each size
   for both; linear scaling means a flat cost per trial.
3. Syne Tune's simulator configured as its own simulated examples do (``UserBlackboxBackend``
   of a ``BlackboxTabular``, ``Tuner(..., sleep_time=0, callbacks=[SimulatorCallback()])``,
   every other setting its default), on the same table with every epoch a fidelity, so each
   trial reports every epoch. The same work on our side: random search reporting every epoch
   too (:class:`EveryEpochRandomSearch`: each configuration continued epoch by epoch, one result
   per epoch); per result. Ours at its native granularity (one result per trial, at the last
   epoch) is shown on its own row, labelled. ASHA (Syne Tune's ``baselines.ASHA``, its defaults,
   stopping every epoch) against our ASHA (promotions between rungs) for the same work, the
   epochs Syne Tune trained: per configuration and per epoch trained. Syne Tune is the optional
   extra ``perf``; its log goes to ``.perf/third-party.log``.
"""

from __future__ import annotations

import gc
import heapq
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.tabular import TabularBenchmark
from runners.optimizer import Optimizer, RandomSearch, Trial, TrialResult
from runners.optimizers.asha import ASHA as OurASHA
from runners.simulator import Budget, simulate
from runners.testing import write_toy_table

from .common import Report, alternate, clock, set_threads, third_party_to_log, threads_text

N_CONFIGS, N_SEEDS, N_EPOCHS, N_WORKERS = 1000, 4, 100, 4
#: our CPU per trial may be at most this many times the bare event loop's
BARE_RATIO_TARGET = 4.0
#: wall microseconds per evaluation
WALL_TARGET_US = 20.0
#: CPU microseconds an intermediate report may add (a trial that reports as it trains)
REPORT_TARGET_US = 5.0


def _table(root: Path) -> TabularBenchmark:
    path = write_toy_table(
        root / "perf-table",
        n_configs=N_CONFIGS,
        fidelities=tuple(range(1, N_EPOCHS + 1)),
        seeds=tuple(range(N_SEEDS)),
        cost_per_unit=np.linspace(1.0, 20.0, N_CONFIGS),
        name="perf-table",
    )
    return TabularBenchmark.from_path(path)


class RandomSearchWithReplacement(RandomSearch):
    """Random search at the last epoch drawing with replacement, so a run of any length fits one table."""

    name = "rs-replace"
    repeats = "allow"


class EveryEpochRandomSearch(Optimizer):
    """Random search whose trials report every epoch as they train and are never stopped: one result per
    epoch (``reports="every"``, docs/runner.md "Reports as a trial trains").

    What Syne Tune's random search does on a simulated blackbox (a trial reports every epoch and
    is never stopped).
    """

    name = "rs-every-epoch"
    repeats = "allow"

    def _ask(self) -> Trial:
        return self.new_trial(self.sampler.sample_one(self.rng), reports="every")

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        pass


def run_ours(bench: TabularBenchmark, factory: Any, budget: Budget) -> dict[str, float]:
    """One run of our simulator: wall and CPU seconds, results recorded, trials started (configurations)."""
    gc.collect()  # the garbage of the run before is not charged to this one
    t0, c0 = time.perf_counter(), time.process_time()
    r = simulate(bench, factory, seed=0, n_workers=N_WORKERS, budget=budget)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = r.summary
    return {
        "wall": wall,
        "cpu": cpu,
        "results": s["n_events"],
        "configs": s["n_distinct_configs"],
        "optimizer": s["optimizer_seconds"],
    }


def bare_event_loop(
    values: np.ndarray, cost: np.ndarray, n_trials: int, n_workers: int = N_WORKERS, seed: int = 0
) -> dict[str, Any]:
    """Random search on a table as a bare ``heapq`` event loop: the least a simulator does per trial.

    ``values`` and ``cost``: (configurations, seeds) at the last epoch. Each trial draws a
    configuration and a seed (from one generator, in blocks of 1,024), starts on the first free
    worker at the time it frees up, and on finishing records (trial, configuration, seed, start,
    end, value) and updates the incumbent. Returns the records as arrays and the best value.
    """
    if n_trials < 1 or n_workers < 1:
        raise ValueError(f"n_trials={n_trials!r}, n_workers={n_workers!r}: both must be >= 1")
    rng = np.random.default_rng(seed)
    n_configs, n_seeds = values.shape
    draws: list[tuple[int, int]] = []
    heap: list[tuple[float, int, int, int, float]] = []
    rec: list[tuple[int, int, int, float, float, float]] = []
    started = 0
    best = float("inf")

    def start(t: float) -> None:
        nonlocal started, draws
        if not draws:
            block = min(1024, n_trials - started)
            draws = list(
                zip(rng.integers(0, n_configs, block).tolist(), rng.integers(0, n_seeds, block).tolist())
            )
            draws.reverse()
        c, s = draws.pop()
        heapq.heappush(heap, (t + float(cost[c, s]), started, c, s, t))
        started += 1

    for _ in range(min(n_workers, n_trials)):
        start(0.0)
    while heap:
        t1, tid, c, s, t0 = heapq.heappop(heap)
        v = float(values[c, s])
        rec.append((tid, c, s, t0, t1, v))
        if v < best:
            best = v
        if started < n_trials:
            start(t1)
    cols = list(zip(*rec))
    return {
        "trial": np.array(cols[0]),
        "config": np.array(cols[1]),
        "seed": np.array(cols[2]),
        "start": np.array(cols[3]),
        "end": np.array(cols[4]),
        "value": np.array(cols[5]),
        "best": best,
    }


def _bare_inputs(bench: TabularBenchmark) -> tuple[np.ndarray, np.ndarray]:
    vals = bench.table.values  # (metrics + cost, C, S, F)
    obj = np.ascontiguousarray(vals[list(bench.metrics).index(bench.objective)][..., -1])
    return obj, np.ascontiguousarray(vals[-1][..., -1])


def _cpu_of(fn: Any) -> float:
    gc.collect()  # the garbage of the run before is not charged to this one
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def overhead(rep: Report, bench: TabularBenchmark, n: int, rounds: int) -> None:
    """Section 1 of the module docstring."""
    obj, cost = _bare_inputs(bench)
    budget = Budget("results", n)
    walls: list[float] = []

    def ours_cpu() -> float:
        r = run_ours(bench, RandomSearchWithReplacement, budget)
        if r["results"] != n:
            raise AssertionError(f"our run recorded {r['results']} results, not {n}")
        walls.append(r["wall"])
        return r["cpu"] / n * 1e6

    t = alternate(
        {"ours": ours_cpu, "bare": lambda: _cpu_of(lambda: bare_event_loop(obj, cost, n)) / n * 1e6},
        rounds,
        share=0.16,
        what=f"RS against the bare loop, {n:,} trials",
    )
    setting = f"random search at the last epoch, {N_WORKERS} workers, {n:,} trials, same table"
    rep.add_timing("CPU us per trial, RS", t["ours"], t["bare"], "bare heapq event loop", setting=setting)
    ratio = t["ours"].median / t["bare"].median
    rep.add(
        "CPU per trial, ours / the bare loop's (x)",
        ratio,
        None,
        "",
        target=BARE_RATIO_TARGET,
        setting="the two rows above; the bare loop measured in this run",
        load=t["ours"].load,
    )
    wall_us = float(np.median(walls)) / n * 1e6
    rep.add(
        f"wall us per evaluation, RS, {n:,} evals",
        wall_us,
        None,
        "",
        target=WALL_TARGET_US,
        load=t["ours"].load,
        setting=setting,
    )
    # the cost of a report: the same trials reporting every epoch, less the trials without reports
    trials = max(1, n // N_EPOCHS)
    per_trial = Budget("results", trials)
    every = Budget("results", trials * N_EPOCHS)

    def plain_cpu() -> float:
        return run_ours(bench, RandomSearchWithReplacement, per_trial)["cpu"]

    def every_cpu() -> float:
        r = run_ours(bench, EveryEpochRandomSearch, every)
        if r["results"] != trials * N_EPOCHS:
            raise AssertionError(f"the reporting run recorded {r['results']} rows, not {trials * N_EPOCHS}")
        return r["cpu"]

    t = alternate({"every": every_cpu, "plain": plain_cpu}, rounds, share=0.08, what="the cost of a report")
    n_reports = trials * (N_EPOCHS - 1)
    rep.add(
        "CPU us per intermediate report, on top of an evaluation",
        (t["every"].median - t["plain"].median) / n_reports * 1e6,
        None,
        "",
        target=REPORT_TARGET_US,
        load=t["every"].load,
        setting=f"{trials:,} trials of random search, each reporting its {N_EPOCHS - 1} epochs before the "
        "last (reports='every', always continued) against the same number without reports",
    )


def scaling(rep: Report, bench: TabularBenchmark, sizes: list[int]) -> None:
    """Section 2 of the module docstring: CPU per trial at each size, ours and the bare loop."""
    obj, cost = _bare_inputs(bench)
    first = None
    done: list[int] = []
    round_s = 0.0  # seconds of a round at the size before
    with clock().part(0.46, "scaling") as part:
        for n in sizes:
            rounds = 1 if n >= 1_000_000 else 3
            projected = round_s * n / done[-1] if done else 0.0  # a linear projection from the size before
            if done and not part.affords(projected):
                part.cut(f"{n:,} trials not run (projected {projected:.0f} s a round)")
                break
            t0 = time.perf_counter()
            t = alternate(
                {
                    "ours": lambda n=n: (
                        run_ours(bench, RandomSearchWithReplacement, Budget("results", n))["cpu"] / n * 1e6
                    ),
                    "bare": lambda n=n: _cpu_of(lambda: bare_event_loop(obj, cost, n)) / n * 1e6,
                },
                rounds,
            )
            round_s = (time.perf_counter() - t0) / rounds
            done.append(n)
            first = first if first is not None else t["ours"].median
            rep.add_timing(
                f"CPU us per trial at {n:,} trials (ours vs bare)",
                t["ours"],
                t["bare"],
                "bare heapq event loop",
                setting=f"median of {rounds}" + ("; linear if flat across sizes" if n == sizes[0] else ""),
            )
    rep.note(
        f"scaling: ours {first:.2f} us per trial at {sizes[0]:,} trials; a flat cost per trial across "
        f"{', '.join(f'{s:,}' for s in done)} trials is linear scaling"
    )


# ---------------------------------------------------------------- Syne Tune
def _syne_tune_blackbox(bench: TabularBenchmark):
    """The table as a Syne Tune ``BlackboxTabular``: every epoch a fidelity, the same 1,000 rows."""
    import pandas as pd
    from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular
    from syne_tune.config_space import randint

    vals = bench.table.values  # (metric + cost, C, S, F)
    obj = vals[list(bench.metrics).index(bench.objective)]
    cost = vals[-1]
    # the same 1,000 table rows, named by a 40 x 25 grid so that Syne Tune's tabular lookups are exact
    cid = np.arange(bench.n_configs)
    hps = pd.DataFrame({"a": cid // 25, "b": cid % 25})
    space = {"a": randint(0, bench.n_configs // 25 - 1), "b": randint(0, 24)}
    bb = BlackboxTabular(
        hyperparameters=hps,
        configuration_space=space,
        fidelity_space={"epoch": randint(1, N_EPOCHS)},
        objectives_evaluations=np.stack([obj, cost], axis=-1),
        fidelity_values=np.arange(1, N_EPOCHS + 1),
        objectives_names=["valid_loss", "elapsed_time"],
    )
    return bb, space


def run_syne_tune(bench: TabularBenchmark, method: str, n_results: int, workdir: Path) -> dict[str, float]:
    """Syne Tune's simulator for ``n_results`` results with 4 workers: wall seconds, results, trials.

    Configured as its simulated examples are: ``sleep_time=0`` and the ``SimulatorCallback``, every
    other Tuner setting its default.
    """
    os.environ["SYNETUNE_FOLDER"] = str(workdir)
    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend
    from syne_tune.optimizer.baselines import ASHA
    from syne_tune.optimizer.baselines import RandomSearch as STRandomSearch

    bb, space = _syne_tune_blackbox(bench)
    if method == "rs":
        scheduler = STRandomSearch(space, metrics=["valid_loss"], random_seed=0)
    else:
        scheduler = ASHA(space, metric="valid_loss", time_attr="epoch", max_t=N_EPOCHS, random_seed=0)
    tuner = Tuner(
        trial_backend=UserBlackboxBackend(blackbox=bb, elapsed_time_attr="elapsed_time"),
        scheduler=scheduler,
        stop_criterion=StoppingCriterion(max_num_evaluations=n_results),
        n_workers=N_WORKERS,
        sleep_time=0,
        callbacks=[SimulatorCallback()],
        tuner_name=f"curvebench-perf-{method}",
    )
    t0 = time.perf_counter()
    tuner.run()
    wall = time.perf_counter() - t0
    status = tuner.tuning_status
    return {
        "wall": wall,
        "results": float(status.overall_metric_statistics.count),
        "configs": float(status.num_trials_started),
    }


def versus_syne_tune(
    rep: Report, bench: TabularBenchmark, workdir: Path, n_rs: int, n_asha: int, rounds: int
) -> None:
    """Section 3 of the module docstring."""
    from importlib.metadata import version

    st_setting = "Syne Tune defaults; sleep_time=0 + SimulatorCallback, as its simulated examples"
    runs: dict[str, list[dict]] = {"st": [], "ours": [], "native": []}

    def st_rs() -> float:
        r = run_syne_tune(bench, "rs", n_rs, workdir)
        runs["st"].append(r)
        return r["wall"] / r["results"] * 1e3

    def ours_rs() -> float:
        r = run_ours(bench, EveryEpochRandomSearch, Budget("results", n_rs))
        runs["ours"].append(r)
        return r["wall"] / r["results"] * 1e3

    def native_rs() -> float:
        r = run_ours(bench, RandomSearchWithReplacement, Budget("results", n_rs))
        runs["native"].append(r)
        return r["wall"] / r["results"] * 1e3

    t = alternate(
        {"ours": ours_rs, "st": st_rs, "native": native_rs}, rounds, share=0.15, what="RS against Syne Tune"
    )
    rep.add_timing(
        f"ms per result, RS, every epoch reported, {n_rs:,} results",
        t["ours"],
        t["st"],
        f"Syne Tune {version('syne-tune')} simulator",
        setting=st_setting + "; both report every epoch (100 per trial)",
    )
    rep.add_timing(
        f"ms per result, RS, ours native ({n_rs:,} results)",
        t["native"],
        t["st"],
        f"Syne Tune {version('syne-tune')}, every epoch",
        setting="ours: one result per trial at the last epoch (native granularity), not the same work",
    )
    st_results = [r["results"] for r in runs["st"]]
    rep.note(
        f"RS: Syne Tune reported {int(np.median(st_results)):,} results from "
        f"{int(np.median([r['configs'] for r in runs['st']])):,} trials per run; ours every epoch "
        f"{int(np.median([r['configs'] for r in runs['ours']])):,} configurations"
    )

    # ASHA: Syne Tune for n_asha results (one per epoch trained); ours for the same epochs of work
    st_runs: list[dict] = []
    our_runs: list[dict] = []

    def st_asha() -> float:
        r = run_syne_tune(bench, "asha", n_asha, workdir)
        st_runs.append(r)
        return r["wall"] / r["configs"] * 1e3

    def ours_asha() -> float:
        r = run_ours(bench, OurASHA, Budget("fidelity", n_asha))
        our_runs.append(r)
        return r["wall"] / r["configs"] * 1e3

    t = alternate({"ours": ours_asha, "st": st_asha}, rounds, share=0.15, what="ASHA against Syne Tune")
    rep.add_timing(
        f"ms per configuration, ASHA, {n_asha:,} epochs of work",
        t["ours"],
        t["st"],
        f"Syne Tune {version('syne-tune')} simulator",
        setting=st_setting + "; ST reports every epoch, ours one result per rung",
    )
    st_per_epoch = float(np.median([r["wall"] / r["results"] for r in st_runs])) * 1e3
    our_per_epoch = float(np.median([r["wall"] for r in our_runs])) / n_asha * 1e3
    rep.add(
        f"ms per epoch trained, ASHA, {n_asha:,} epochs",
        our_per_epoch,
        st_per_epoch,
        f"Syne Tune {version('syne-tune')} simulator",
        setting="the same epochs of work on both sides (budget in epochs for ours)",
        load=t["st"].load,
    )
    rep.note(
        f"ASHA per run: Syne Tune {int(np.median([r['configs'] for r in st_runs])):,} trials, "
        f"ours {int(np.median([r['configs'] for r in our_runs])):,} configurations "
        f"({int(np.median([r['results'] for r in our_runs])):,} rung results)"
    )


# ---------------------------------------------------------------- main
def main(quick: bool = False) -> Report:
    rep = Report("simulator")
    rep.note(threads_text(set_threads(1)) + " (the simulators are single-threaded; both sides alike)")
    rounds = 2 if quick else 3
    with tempfile.TemporaryDirectory(prefix="curvebench-perf-") as tmp:
        bench = _table(Path(tmp))
        overhead(rep, bench, 20_000 if quick else 100_000, 3)
        scaling(rep, bench, [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000])
        try:
            import syne_tune  # noqa: F401  (the optional extra "perf")
            from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular  # noqa: F401
        except ImportError as e:
            rep.note(f"Syne Tune comparison skipped: {e} (pip install 'curvebench[perf]')")
        else:
            with third_party_to_log("syne_tune") as log:
                versus_syne_tune(
                    rep, bench, Path(tmp) / "st", 1000 if quick else 3000, 1000 if quick else 3000, rounds
                )
            rep.note(f"Syne Tune's log: {log}")
    rep.print()
    return rep


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv)
