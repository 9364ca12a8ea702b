"""Synthetic study results in the runner's results format, for tests and for demonstrating the report.

:func:`write_synthetic_study` writes ``<root>/<study>/<benchmark>/<optimizer>/workers-<n>/seed-<k>/``
folders with an ``events.parquet`` and a ``meta.json`` laid out as docs/runner.md
describes (only the columns and fields the analysis reads), written by the runner's
:func:`runners.results.write_run`. The numbers come
from a toy model, not from any benchmark: each optimizer draws losses from
``optimum + span * u ** power`` (a larger ``power`` finds good values sooner),
evaluation times are exponential, and ``n_workers`` workers run in parallel.
The same arguments give the same files.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..results import write_run

#: per optimizer, how fast it finds good values (the exponent of the toy model)
DEFAULT_OPTIMIZERS: Mapping[str, float] = {"rs": 1.0, "good": 2.0, "better": 3.0}


def write_synthetic_study(
    root: str | Path,
    study: str = "synthetic",
    *,
    benchmarks: Sequence[str] = ("toy-a", "toy-b"),
    optimizers: Mapping[str, float] = DEFAULT_OPTIMIZERS,
    seeds: Sequence[int] = (0, 1, 2),
    n_workers: Sequence[int] = (1,),
    budget: float = 100.0,
    maximize: Sequence[str] = (),
    seed: int = 0,
) -> Path:
    """Write a complete synthetic study and return its folder.

    ``maximize`` names benchmarks whose objective is an accuracy-like score
    (higher is better), so that both directions are exercised.
    """
    out = Path(root) / study
    for bi, bench in enumerate(benchmarks):
        direction = "maximize" if bench in maximize else "minimize"
        optimum, worst = (0.95, 0.5) if direction == "maximize" else (0.1 * (bi + 1), 1.0 + bi)
        for oi, (opt, power) in enumerate(optimizers.items()):
            for w in n_workers:
                for s in seeds:
                    rng = np.random.default_rng([seed, bi, oi, int(w), int(s)])
                    events = _simulate(rng, power, int(w), budget, optimum, worst)
                    write_run(
                        out / bench / opt / f"workers-{w}" / f"seed-{s}",
                        events,
                        {
                            "study": study,
                            "benchmark": bench,
                            "optimizer": opt,
                            "seed": int(s),
                            "n_workers": int(w),
                            "budget": {"kind": "time", "amount": float(budget)},
                            "objective": {
                                "name": "valid_score" if direction == "maximize" else "valid_loss",
                                "direction": direction,
                                "optimum": optimum,
                                "value_range": [optimum, worst],
                            },
                            "test_objective": {
                                "name": "test_score" if direction == "maximize" else "test_loss",
                                "direction": direction,
                                "optimum": optimum,
                                "value_range": [optimum, worst],
                            },
                        },
                    )
    return out


def _simulate(
    rng: np.random.Generator, power: float, n_workers: int, budget: float, optimum: float, worst: float
) -> pd.DataFrame:
    """Toy asynchronous run: each worker evaluates one random value after another until the budget."""
    span = worst - optimum
    queue = [(float(rng.exponential(5.0)), w) for w in range(n_workers)]
    heapq.heapify(queue)
    starts = dict.fromkeys(range(n_workers), 0.0)
    rows = []
    while queue:
        t_end, w = heapq.heappop(queue)
        if t_end > budget:
            continue
        u = float(rng.uniform()) ** power
        valid = optimum + span * u
        test = float(
            np.clip(valid + rng.normal(0, 0.02 * abs(span)), min(optimum, worst), max(optimum, worst))
        )
        rows.append(
            {
                "trial_id": len(rows),
                "worker": w,
                "fidelity": 1.0,
                "t_start": starts[w],
                "t_end": t_end,
                "objective": valid,
                "test_objective": test,
                "status": "ok",
            }
        )
        starts[w] = t_end
        heapq.heappush(queue, (t_end + float(rng.exponential(5.0)), w))
    return pd.DataFrame(
        rows,
        columns=[
            "trial_id",
            "worker",
            "fidelity",
            "t_start",
            "t_end",
            "objective",
            "test_objective",
            "status",
        ],
    )
