"""Multi-objective: hypervolume and non-dominated sorting at 10,000 points, and a run's hypervolume over time.

Run with ``make perf-multiobjective`` (or ``python -m perf multiobjective``). Ours is what the report and the
multi-objective optimizers call (:mod:`runners.multiobjective`, on moocore); the baselines are the other
maintained libraries' public calls, configured as their documentation shows, on the same points in the same
run, timed alternately (medians), all single-threaded:

* hypervolume of 10,000 mutually non-dominated points (on the unit sphere's positive orthant, reference
  point 1.1 in every objective), 2 and 3 objectives: pymoo's ``HV(ref_point=...)(F)`` and Optuna's
  ``optuna._hypervolume.compute_hypervolume`` (Optuna's own, used by its samplers; a private module);
* non-dominated sorting (every point's front) of 10,000 uniform points, 2 and 3 objectives: pymoo's
  ``NonDominatedSorting().do(F, return_rank=True)`` and Optuna's ``_fast_non_domination_rank``;
* a run's hypervolume after each of 2,000 evaluations (the report's curve): ours keeps the front and
  recomputes only when a point enters it (:func:`runners.multiobjective.hypervolume_trajectory`); the
  baseline calls the library's hypervolume on all points so far at each evaluation (pymoo).

Every pair is checked to agree before it is timed. A baseline whose calls take over a second (``SLOW_MS``)
is timed in 3 rounds, the others in 5 (the table's notes say which).
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from runners.multiobjective import hypervolume, hypervolume_trajectory, pareto_ranks

from .common import SLOW_ROUNDS, Report, alternate, clock, set_threads, threads_text

N_POINTS = 10_000
N_RUN = 2_000
#: a baseline call over this many milliseconds is timed in 3 rounds only (Optuna's 3-objective hypervolume
#: takes 5-10 s a call: its other rounds took a fifth of the section's budget)
SLOW_MS = 1000.0


def _front(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` mutually non-dominated points: 1 minus unit vectors of the positive orthant (minimized)."""
    v = np.abs(rng.normal(size=(n, k)))
    return 1.0 - v / np.linalg.norm(v, axis=1, keepdims=True)


def _time(fn, *args, **kw) -> float:
    """Milliseconds of one call ``fn(*args, **kw)``."""
    t = time.perf_counter()
    fn(*args, **kw)
    return (time.perf_counter() - t) * 1e3


def _keep(out: list, fn):
    """``fn`` that also appends each result to ``out`` (to check a slow baseline's answers without a second call)."""

    def call(*args):
        out.append(fn(*args))

    return call


def _check_answers(name: str, answers: list[float], want: float) -> None:
    """Every answer of a baseline's timed calls equals ours (``answers`` empty: it never ran, an error)."""
    if not answers or not np.allclose(answers, want):
        raise AssertionError(f"{name}: answers {answers[:3]} do not match ours ({want})")


def main(quick: bool = False) -> None:
    from optuna._hypervolume import compute_hypervolume
    from optuna.study._multi_objective import _fast_non_domination_rank
    from pymoo.indicators.hv import HV
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    threads = set_threads(1)
    rep = Report("multiobjective")
    rng = np.random.default_rng(0)
    n = 2_000 if quick else N_POINTS
    rounds = 3 if quick else 5
    few: list[str] = []  # measures timed in fewer rounds (slow baselines)
    for k in (2, 3):
        front = _front(n, k, rng)
        ref = np.full(k, 1.1)
        ours_hv = hypervolume(front, ref)
        assert np.isclose(ours_hv, HV(ref_point=ref)(front))
        optuna_hv: list[float] = []
        t = alternate(
            {
                "ours": partial(_time, hypervolume, front, ref),
                "pymoo": partial(_time, HV(ref_point=ref), front),
                "optuna": partial(_time, _keep(optuna_hv, compute_hypervolume), front, ref),
            },
            rounds,
            slow=SLOW_MS,
            share=0.1 if k == 2 else 0.35,
            what=f"hypervolume, {k} objectives",
        )
        few += [
            f"{b}, hypervolume, {k} objectives" for b, v in t.items() if len(v.values) < len(t["ours"].values)
        ]
        setting = f"{n:,} non-dominated points, {k} objectives, 1 thread"
        rep.add_timing(
            f"hypervolume, {k} objectives (ms)", t["ours"], t["pymoo"], "pymoo HV", setting=setting
        )
        _check_answers("Optuna compute_hypervolume", optuna_hv, ours_hv)  # kept from the timed calls
        rep.add_timing(
            f"hypervolume, {k} objectives (ms)",
            t["ours"],
            t["optuna"],
            "Optuna compute_hypervolume",
            setting=setting,
        )
        pts = rng.random((n, k))
        ranks = pareto_ranks(pts)
        _, pymoo_rank = NonDominatedSorting().do(pts, return_rank=True)
        assert np.array_equal(ranks, pymoo_rank) and np.array_equal(ranks, _fast_non_domination_rank(pts))
        t = alternate(
            {
                "ours": partial(_time, pareto_ranks, pts),
                "pymoo": partial(_time, NonDominatedSorting().do, pts, return_rank=True),
                "optuna": partial(_time, _fast_non_domination_rank, pts),
            },
            rounds,
            slow=SLOW_MS,
            share=0.1 if k == 2 else 0.15,
            what=f"non-dominated sorting, {k} objectives",
        )
        few += [
            f"{b}, sorting, {k} objectives" for b, v in t.items() if len(v.values) < len(t["ours"].values)
        ]
        setting = f"{n:,} uniform points ({ranks.max() + 1} fronts), {k} objectives, 1 thread"
        rep.add_timing(
            f"non-dominated sorting, {k} objectives (ms)",
            t["ours"],
            t["pymoo"],
            "pymoo NonDominatedSorting",
            setting=setting,
        )
        rep.add_timing(
            f"non-dominated sorting, {k} objectives (ms)",
            t["ours"],
            t["optuna"],
            "Optuna _fast_non_domination_rank",
            setting=setting,
        )
    m = 300 if quick else N_RUN
    run = rng.random((m, 2)) * np.linspace(1.5, 0.6, m)[:, None]  # a run that improves as it goes
    times = np.arange(1, m + 1, dtype=float)

    def naive() -> np.ndarray:
        hv = HV(ref_point=np.ones(2))
        return np.array(
            [hv(run[: i + 1]) if np.any(np.all(run[: i + 1] < 1, axis=1)) else 0.0 for i in range(m)]
        )

    assert np.allclose(hypervolume_trajectory(times, run, times), naive())
    t = alternate(
        {
            "ours": partial(_time, hypervolume_trajectory, times, run, times),
            "naive": partial(_time, naive),
        },
        3 if quick else 5,
        share=0.15,
        what="hypervolume trajectory",
    )
    rep.add_timing(
        f"hypervolume after each of {m:,} evaluations (ms)",
        t["ours"],
        t["naive"],
        "pymoo HV of all points at each evaluation",
        setting="2 objectives, 1 thread",
    )
    rep.note(threads_text(threads))
    rep.note(
        f"medians of {rounds} alternating rounds"
        + (" (fewer where the section's clock cut them: see its cuts)" if clock().cuts else "")
        + (f"; in {SLOW_ROUNDS} (over {SLOW_MS / 1e3:g} s a call): " + "; ".join(few) if few else "")
    )
    rep.note(
        "pymoo >= 0.6.2 computes the hypervolume with moocore itself: its ratio shows what our wrapper adds"
    )
    rep.print()


if __name__ == "__main__":
    main()
