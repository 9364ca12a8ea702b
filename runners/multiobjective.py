"""Multi-objective runs: the objectives of a run, their values per result, and hypervolume.

A run with ``objectives=[a, b, ...]`` (docs/multiobjective.md) gives its optimizer, when the optimizer's
class names an ``objectives`` parameter, a :class:`MultiObjective`: the objectives' metrics
(:func:`benchmarks.objectives.objective_metrics`), their documented normalization
(:func:`benchmarks.objectives.reference_bounds`) and :meth:`MultiObjective.losses`, the vector of one
:class:`~runners.optimizer.TrialResult` ("lower is better" for every objective). Single-objective
optimizers run unchanged on the benchmark's objective; the report scores every run by hypervolume.

Hypervolume and non-dominated sorting come from moocore (the C library of the EAF and hypervolume
literature, López-Ibáñez et al.), never hand-written here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import moocore
import numpy as np
import pandas as pd

from benchmarks.objectives import (
    COST,
    INFER_COST,
    N_PARAMS,
    architecture_of,
    inference_cost_of,
    objective_columns,
    objective_metrics,
    reference_bounds,
)
from benchmarks.protocol import Benchmark, Metric

__all__ = [
    "MultiObjective",
    "cumulative_costs",
    "hypervolume",
    "hypervolume_trajectory",
    "nondominated",
    "pareto_ranks",
    "run_objectives",
]


class MultiObjective:
    """The objectives of one run on one benchmark (see the module docstring).

    * ``metrics``: the objectives' :class:`Metric` objects, in the order given;
    * ``best``, ``reference``: per objective, in "lower is better" units, the best value over the
      benchmark's configurations at the maximum fidelity and their median (the normalization: 0 and 1);
    * :meth:`losses`: a result's raw objective vector, ``sign * value`` (``+inf`` for NaN);
    * :meth:`normalized`: the same mapped so that ``best`` is 0 and ``reference`` is 1.

    ``cost`` is the configuration's cumulative training cost to the result's fidelity: a continued trial
    adds the cost of the trial it continues (on an incremental fidelity), which this object remembers
    per trial id; so call :meth:`losses` for the results of one run, in the order they are told.
    """

    def __init__(self, benchmark: Benchmark, names: Sequence[str]) -> None:
        self.benchmark_name = benchmark.name
        self.metrics: tuple[Metric, ...] = objective_metrics(benchmark, names)
        self.names = tuple(m.name for m in self.metrics)
        self.signs = np.array([m.sign for m in self.metrics])
        self.best, self.reference = reference_bounds(benchmark, self.metrics)
        self._scale = self.reference - self.best
        self._arch = architecture_of(benchmark) if N_PARAMS in self.names else None
        self._infer = inference_cost_of(benchmark) if INFER_COST in self.names else None
        self._incremental = benchmark.fidelity.incremental
        self._cum: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self.metrics)

    def losses(self, result: Any) -> np.ndarray:
        """The objective vector of ``result`` (a :class:`~runners.optimizer.TrialResult`), lower is better."""
        trial = result.trial
        cum = float(result.cost)
        if trial.continues is not None and self._incremental:
            cum += self._cum.get(trial.continues, 0.0)
        self._cum[trial.trial_id] = cum
        out = np.empty(len(self.metrics))
        for j, m in enumerate(self.metrics):
            if m.name == COST:
                v = cum
            elif m.name == N_PARAMS:
                v = float(self._arch.n_params(trial.config))  # type: ignore[union-attr]
            elif m.name == INFER_COST:  # a property of the configuration, as objective_columns reads it
                v = float(self._infer([trial.config])[0])  # type: ignore[misc]
            else:
                v = float(result.metrics.get(m.name, math.nan))
            out[j] = math.inf if v != v else m.sign * v
        return out

    def normalized(self, result: Any) -> np.ndarray:
        """:meth:`losses` mapped so that the best configuration's value is 0 and the median's 1."""
        return (self.losses(result) - self.best) / self._scale

    def normalize(self, losses: np.ndarray) -> np.ndarray:
        """Rows of "lower is better" objective values mapped the same way as :meth:`normalized`."""
        return (np.asarray(losses, dtype=np.float64) - self.best) / self._scale

    def describe(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "metrics": [m.to_dict() for m in self.metrics],
            "best": self.best.tolist(),
            "reference": self.reference.tolist(),
            "normalization": "0 at the best configuration at the maximum fidelity, 1 at the median; "
            "hypervolume reference point (1, ..., 1)",
        }


# ---------------------------------------------------------------- library calls (moocore)
def nondominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``points`` (minimized) that no other row dominates (duplicates kept)."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(moocore.is_nondominated(pts, maximise=False, keep_weakly=True), dtype=bool)


def pareto_ranks(points: np.ndarray) -> np.ndarray:
    """Non-dominated sorting: the front index of each row (0 = the Pareto front), minimized."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(moocore.pareto_rank(pts), dtype=np.int64)


def hypervolume(points: np.ndarray, reference: Sequence[float] | None = None) -> float:
    """Hypervolume dominated by ``points`` (minimized) up to ``reference`` (default: 1 in every objective);
    rows not strictly better than the reference in every objective add nothing."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 0:
        return 0.0
    ref = np.ones(pts.shape[1]) if reference is None else np.asarray(reference, dtype=np.float64)
    return float(moocore.hypervolume(pts, ref=ref))  # moocore leaves out the points outside the box


# ---------------------------------------------------------------- from a run's events
def cumulative_costs(events: pd.DataFrame, incremental: bool = True) -> np.ndarray:
    """Each evaluation's cumulative training cost: its ``cost`` (what the events table records: the segment
    trained since the trial's previous report) plus the cumulative cost of the trial's earlier reports (a
    trial that reports as it trains writes one row per segment) and, on an incremental fidelity, of the trial
    it continues."""
    cost = events["cost"].to_numpy(dtype=np.float64)
    tid = events["trial_id"].to_numpy()
    cont = events["continues"].to_numpy(dtype=np.float64, na_value=np.nan)
    out = cost.copy()
    seen: dict[int, float] = {}
    for i in range(len(out)):
        t = int(tid[i])
        if t in seen:  # a later report of the same trial
            out[i] += seen[t]
        elif incremental and cont[i] == cont[i]:
            out[i] += seen.get(int(cont[i]), 0.0)
        seen[t] = out[i]
    return out


def run_objectives(benchmark: Benchmark, objectives: Sequence[Metric], events: pd.DataFrame) -> np.ndarray:
    """(n, k) "lower is better" objective values of a run's evaluations, in the events' order
    (its ``metric.*`` columns, the cumulative cost, the parameter count from its ``config.*`` columns)."""
    metric_values = {
        c[len("metric.") :]: events[c].to_numpy(dtype=np.float64) for c in events if c.startswith("metric.")
    }
    configs = None
    if any(m.name in (N_PARAMS, INFER_COST) for m in objectives):  # properties of the configuration
        cols = [c for c in events if c.startswith("config.")]
        configs = [
            {c[len("config.") :]: v for c, v in zip(cols, row)}
            for row in events[cols].itertuples(index=False, name=None)
        ]
    raw = objective_columns(
        benchmark,
        objectives,
        metric_values,
        cumulative_costs(events, benchmark.fidelity.incremental),
        configs,
    )
    signs = np.array([m.sign for m in objectives])
    out = raw * signs
    out[~np.isfinite(out)] = np.inf
    return out


def hypervolume_trajectory(
    times: np.ndarray, points: np.ndarray, grid: np.ndarray, reference: Sequence[float] | None = None
) -> np.ndarray:
    """The hypervolume of the points found by each time of ``grid`` (``points`` normalized, one row per
    evaluation finishing at ``times``): a step function, recomputed only when a point enters the front."""
    order = np.argsort(times, kind="stable")
    t, pts = np.asarray(times)[order], np.asarray(points, dtype=np.float64)[order]
    ref = np.ones(pts.shape[1]) if reference is None else np.asarray(reference, dtype=np.float64)
    inside = np.all(pts < ref, axis=1)
    front = np.empty((0, pts.shape[1]))
    hv_at = np.zeros(len(t))
    hv = 0.0
    for i in range(len(t)):
        if inside[i]:
            cand = np.vstack([front, pts[i]])
            keep = nondominated(
                cand
            )  # moocore's sorting; the new point on the front: the hypervolume may grow
            if keep[-1]:
                front = cand[keep]
                hv = float(moocore.hypervolume(front, ref=ref))
        hv_at[i] = hv
    idx = np.searchsorted(t, np.asarray(grid, dtype=np.float64), side="right") - 1
    return np.where(idx >= 0, hv_at[np.maximum(idx, 0)], 0.0)


def table_points(
    benchmark: Benchmark, objectives: Sequence[Metric], fidelities: Sequence[float] | None = None
) -> np.ndarray | None:
    """Every point a table holds, (configuration, fidelity, seed), as "lower is better" objective rows, at
    ``fidelities`` (default: all it holds); None for a benchmark without a finite set of configurations. The
    Pareto front of these rows is the best any run on the table can reach at those fidelities."""
    configs = benchmark.configurations()
    if configs is None:
        return None
    arch = architecture_of(benchmark) if any(m.name == N_PARAMS for m in objectives) else None
    params = np.array([arch.n_params(c) for c in configs], dtype=np.float64) if arch is not None else None
    infer = inference_cost_of(benchmark) if any(m.name == INFER_COST for m in objectives) else None
    infer_s = np.asarray(infer(configs), dtype=np.float64) if infer is not None else None
    names = [m.name for m in objectives if m.name not in (COST, N_PARAMS, INFER_COST)]
    seeds = list(benchmark.seeds) if benchmark.seeds else [benchmark.default_seed]
    blocks = []
    for s in seeds:
        for f in benchmark.fidelity.values if fidelities is None else fidelities:
            got = benchmark.query_batch(configs, fidelities=float(f), seeds=s, metrics=names or None)
            cols = []
            for m in objectives:
                if m.name == COST:
                    v = np.asarray(got.cost, dtype=np.float64)
                elif m.name == N_PARAMS:
                    v = params
                elif m.name == INFER_COST:
                    v = infer_s
                else:
                    v = np.asarray(got[m.name], dtype=np.float64)
                cols.append(m.sign * v)
            blocks.append(np.column_stack(cols))
    out = np.vstack(blocks)
    out[~np.isfinite(out)] = np.inf
    return out
