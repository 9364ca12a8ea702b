"""Simulator speed: overhead per finished evaluation, and Syne Tune's simulator on the same table.

    python -m perf simulator [--quick]

1. Our simulator: random search, 4 workers, 100,000 evaluations on a
   1,000-config x 4-seed x 100-epoch table; wall seconds per evaluation, in
   total and without the time spent inside the optimizer (ask + tell).
   Target: at most 20 microseconds per evaluation.
2. Side by side, in the same process: Syne Tune's simulator (``UserBlackboxBackend``
   + ``SimulatorCallback``, ``sleep_time=0``) against ours, for random search
   and ASHA on the same numbers, for the same number of results. Target: ours
   at least 10x faster per result. Syne Tune is the optional extra ``perf``.

What a "result" is: for random search both simulators evaluate at the maximum
fidelity only (Syne Tune gets the table's last epoch as a one-fidelity
blackbox, so each trial reports one result). For ASHA, Syne Tune's scheduler
reports every epoch of a running trial (one result per epoch) and stops trials,
while ours records one result per rung evaluation; we compare seconds per
result, and also print both totals.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.tabular import TabularBenchmark
from runners.optimizer import RandomSearch
from runners.simulator import Budget, simulate
from runners.testing import write_toy_table

from .common import Report

N_CONFIGS, N_SEEDS, N_EPOCHS = 1000, 4, 100


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


def ours(bench: TabularBenchmark, optimizer, n_results: int, repeat: int = 1) -> tuple[float, dict]:
    """Best wall seconds over ``repeat`` runs of ``n_results`` recorded evaluations with 4 workers.

    The summary gains ``cpu_seconds`` (process CPU time of the best run), which a
    busy machine inflates less than wall time.
    """
    best, summary = float("inf"), {}
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        r = simulate(bench, optimizer, seed=0, n_workers=4, budget=Budget("results", n_results))
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        if dt < best:
            best, summary = dt, {**r.summary, "cpu_seconds": cpu}
    return best, summary


# ---------------------------------------------------------------- Syne Tune
def _syne_tune_blackbox(bench: TabularBenchmark, last_only: bool):
    import pandas as pd
    from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular
    from syne_tune.config_space import randint

    vals = bench.table.values  # (metric + cost, C, S, F)
    obj = vals[list(bench.metrics).index(bench.objective)]
    cost = vals[-1]
    fids = np.arange(1, N_EPOCHS + 1)
    if last_only:
        obj, cost, fids = obj[..., -1:], cost[..., -1:], fids[-1:]
    # the same 1,000 table rows, named by a 40 x 25 grid so that Syne Tune's tabular lookups are exact
    cid = np.arange(bench.n_configs)
    hps = pd.DataFrame({"a": cid // 25, "b": cid % 25})
    space = {"a": randint(0, bench.n_configs // 25 - 1), "b": randint(0, 24)}
    bb = BlackboxTabular(
        hyperparameters=hps,
        configuration_space=space,
        fidelity_space={"epoch": randint(1, N_EPOCHS)},
        objectives_evaluations=np.stack([obj, cost], axis=-1),
        fidelity_values=fids,
        objectives_names=["valid_loss", "elapsed_time"],
    )
    return bb, space


def run_syne_tune(bench: TabularBenchmark, method: str, n_results: int, workdir: Path) -> float:
    """Wall seconds of Syne Tune's simulator for ``n_results`` results with 4 workers."""
    os.environ["SYNETUNE_FOLDER"] = str(workdir)
    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend
    from syne_tune.optimizer.baselines import ASHA
    from syne_tune.optimizer.baselines import RandomSearch as STRandomSearch

    bb, space = _syne_tune_blackbox(bench, last_only=method == "rs")
    if method == "rs":
        scheduler = STRandomSearch(space, metrics=["valid_loss"], random_seed=0)
    else:
        scheduler = ASHA(space, metric="valid_loss", time_attr="epoch", max_t=N_EPOCHS, random_seed=0)
    backend = UserBlackboxBackend(blackbox=bb, elapsed_time_attr="elapsed_time")
    tuner = Tuner(
        trial_backend=backend,
        scheduler=scheduler,
        stop_criterion=StoppingCriterion(max_num_evaluations=n_results),
        n_workers=4,
        sleep_time=0,
        callbacks=[SimulatorCallback()],
        results_update_interval=1e9,
        print_update_interval=1e9,
        save_tuner=False,
        tuner_name=f"curvebench-perf-{method}",
        suffix_tuner_name=True,
        start_jobs_without_delay=False,
    )
    t0 = time.perf_counter()
    tuner.run()
    return time.perf_counter() - t0


# ---------------------------------------------------------------- main
def main(quick: bool = False) -> Report:
    rep = Report("simulator")
    n_big = 20_000 if quick else 100_000
    n_rs_st = 100 if quick else 300
    n_asha_st = 300 if quick else 1500
    with tempfile.TemporaryDirectory(prefix="curvebench-perf-") as tmp:
        bench = _table(Path(tmp))
        dt, s = ours(bench, RandomSearch, n_big, repeat=1 if quick else 3)
        per = dt / s["n_events"] * 1e6
        per_sim = (dt - s["optimizer_seconds"]) / s["n_events"] * 1e6
        rep.add(f"us per evaluation, RS, 4 workers, {n_big:,} evals", per, None, "", target=20.0)
        rep.add("  of which outside the optimizer (us)", per_sim, None, "")
        rep.add(
            "  CPU time per evaluation (us)", s["cpu_seconds"] / s["n_events"] * 1e6, None, "", target=20.0
        )

        try:
            import syne_tune  # noqa: F401
            from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular  # noqa: F401
        except ImportError as e:
            rep.note(f"Syne Tune comparison skipped: {e} (pip install 'curvebench[perf]' huggingface_hub)")
            rep.print()
            return rep

        try:
            from runners.optimizers.asha import ASHA as OurASHA
        except ImportError as e:  # the built-in ASHA lives in runners.optimizers
            OurASHA = None
            rep.note(f"our ASHA unavailable ({e}); ASHA comparison skipped")

        logging.disable(logging.WARNING)  # Syne Tune logs every trial
        try:
            st_rs = run_syne_tune(bench, "rs", n_rs_st, Path(tmp) / "st")
            our_rs, _ = ours(bench, RandomSearch, n_rs_st, repeat=3)
            rep.add(
                f"ms per result, RS, {n_rs_st} results",
                our_rs / n_rs_st * 1e3,
                st_rs / n_rs_st * 1e3,
                "Syne Tune 0.x simulator",
                target=None,
            )
            rep.note(
                f"RS, {n_rs_st} results: ours {our_rs:.3f} s, Syne Tune {st_rs:.1f} s "
                f"(ratio {st_rs / our_rs:.0f}x; target >= 10x)"
            )
            if OurASHA is not None:
                st_asha = run_syne_tune(bench, "asha", n_asha_st, Path(tmp) / "st")
                our_asha, _ = ours(bench, OurASHA, n_asha_st, repeat=3)
                rep.add(
                    f"ms per result, ASHA, {n_asha_st} results",
                    our_asha / n_asha_st * 1e3,
                    st_asha / n_asha_st * 1e3,
                    "Syne Tune 0.x simulator",
                    target=None,
                )
                rep.note(
                    f"ASHA, {n_asha_st} results: ours {our_asha:.3f} s, Syne Tune {st_asha:.1f} s "
                    f"(ratio {st_asha / our_asha:.0f}x; target >= 10x)"
                )
        finally:
            logging.disable(logging.NOTSET)
        try:
            from importlib.metadata import version

            rep.note(
                f"Syne Tune version {version('syne-tune')}; 'result' = one reported evaluation (see module doc)"
            )
        except Exception:  # noqa: BLE001
            pass
    rep.print()
    return rep


if __name__ == "__main__":
    main()
