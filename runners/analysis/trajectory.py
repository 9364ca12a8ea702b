"""Incumbent trajectories and regret, as pure functions on DataFrames.

Conventions (stated again in every report):

* The incumbent at simulated time ``t`` is the evaluation with the best
  validation value among those finished by ``t`` (``t_end <= t``), at any
  fidelity. A later evaluation replaces it only when strictly better, so on a
  tie the earlier one stays.
* Test values are always those of the validation incumbent, never the best test value seen.
* Regret is ``sign * (y_inc - y*)`` with ``y*`` the benchmark's optimum
  (``sign`` = +1 to minimize, -1 to maximize), so it is >= 0 and lower is better.
* Normalized regret is ``regret / |y_worst - y_best|`` with the range fixed per
  benchmark and metric (see :class:`runners.analysis.load.MetricInfo`).
* Before a run's first finished evaluation its incumbent is undefined (NaN).
  After a run stops, its last incumbent holds until the horizon.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .load import MetricInfo, Study

RUN_KEYS = ["benchmark", "method", "seed"]


def incumbent_steps(t_end: np.ndarray, valid: np.ndarray, test: np.ndarray, sign: float) -> pd.DataFrame:
    """The incumbent of one run as a step function.

    Returns one row per change of incumbent: ``t`` (the time it became the
    incumbent), ``valid`` and ``test`` (its values as stored). Events are taken
    in the order of ``t_end`` (stable, so simultaneous events keep file order);
    non-finite validation values never become incumbents.
    """
    t_end, valid, test = (np.asarray(a, dtype=float) for a in (t_end, valid, test))
    if not (len(t_end) == len(valid) == len(test)):
        raise ValueError(f"t_end, valid and test differ in length: {len(t_end)}, {len(valid)}, {len(test)}")
    order = np.argsort(t_end, kind="stable")
    t, v, te = t_end[order], valid[order], test[order]
    keep = np.isfinite(v)
    t, v, te = t[keep], v[keep], te[keep]
    if not len(t):
        return pd.DataFrame({"t": [], "valid": [], "test": []})
    loss = sign * v
    prev_best = np.concatenate([[np.inf], np.minimum.accumulate(loss)[:-1]])
    improve = loss < prev_best
    return pd.DataFrame({"t": t[improve], "valid": v[improve], "test": te[improve]})


def step_lookup(step_t: np.ndarray, step_v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Value of a right-continuous step function (value ``step_v[i]`` from ``step_t[i]`` on) at ``grid``; NaN
    before the first step."""
    step_t, step_v, grid = np.asarray(step_t, float), np.asarray(step_v, float), np.asarray(grid, float)
    idx = np.searchsorted(step_t, grid, side="right") - 1
    out = np.full(grid.shape, np.nan)
    ok = idx >= 0
    out[ok] = step_v[idx[ok]]
    return out


def regret(values: np.ndarray, metric: MetricInfo, *, normalized: bool = False) -> np.ndarray:
    """``sign * (y - optimum)``, divided by the metric's fixed range when ``normalized``."""
    r = metric.sign * (np.asarray(values, dtype=float) - metric.optimum)
    return r / metric.span if normalized else r


def log_fraction_grid(study: Study, steps: pd.DataFrame, n: int = 200, floor: float = 1e-4) -> np.ndarray:
    """A log-spaced grid of budget fractions, from the first moment any mean curve exists up to 1.

    The start is the earliest fraction of its benchmark's horizon at which
    some (benchmark, method) has a result in every seed (before it, no mean
    can be drawn), clipped to ``[floor, 0.5]``.
    """
    starts = []
    if len(steps):
        first = steps.groupby(RUN_KEYS, sort=False)["t"].min()
        ready = first.groupby(level=["benchmark", "method"]).max()
        for (b, _), t in ready.items():
            starts.append(t / study.tasks[b].horizon)
    lo = min([f for f in starts if f > 0], default=floor)
    return np.geomspace(float(np.clip(lo, floor, 0.5)), 1.0, n)


def all_steps(study: Study) -> pd.DataFrame:
    """Incumbent steps of every complete run: columns benchmark, method, seed, t, valid, test."""
    frames = []
    for (b, meth, s), ev in study.events.groupby(RUN_KEYS, sort=True):
        st = incumbent_steps(
            ev["t_end"].to_numpy(), ev["valid"].to_numpy(), ev["test"].to_numpy(), study.tasks[b].valid.sign
        )
        st.insert(0, "seed", s)
        st.insert(0, "method", meth)
        st.insert(0, "benchmark", b)
        frames.append(st)
    if not frames:
        return pd.DataFrame(columns=[*RUN_KEYS, "t", "valid", "test"])
    return pd.concat(frames, ignore_index=True)


def regret_curves(study: Study, steps: pd.DataFrame, fractions: np.ndarray) -> pd.DataFrame:
    """Every run's regret on the common grid of budget fractions.

    One row per (benchmark, method, seed, grid point) with ``frac``, ``t``
    (seconds: ``frac * horizon`` of the benchmark) and ``valid_regret``,
    ``test_regret``, ``valid_nregret``, ``test_nregret`` (NaN before the
    first result, and the test columns NaN when the benchmark has no test objective).
    Runs with no finite result at all are NaN throughout.
    """
    frames = []
    runs = study.complete_runs()
    for b, meth, s in runs[RUN_KEYS].itertuples(index=False):
        task = study.tasks.get(b)
        if task is None:  # a benchmark whose complete runs hold no finite value
            continue
        st = steps[(steps.benchmark == b) & (steps.method == meth) & (steps.seed == s)]
        grid_t = fractions * task.horizon
        valid = step_lookup(st["t"].to_numpy(), st["valid"].to_numpy(), grid_t)
        test = step_lookup(st["t"].to_numpy(), st["test"].to_numpy(), grid_t)
        cur = {
            "benchmark": b,
            "method": meth,
            "seed": s,
            "frac": fractions,
            "t": grid_t,
            "valid_regret": regret(valid, task.valid),
            "valid_nregret": regret(valid, task.valid, normalized=True),
        }
        if task.test is not None:
            cur["test_regret"] = regret(test, task.test)
            cur["test_nregret"] = regret(test, task.test, normalized=True)
        else:
            cur["test_regret"] = cur["test_nregret"] = np.full(len(fractions), np.nan)
        frames.append(pd.DataFrame(cur))
    cols = [*RUN_KEYS, "frac", "t", "valid_regret", "valid_nregret", "test_regret", "test_nregret"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def mean_step_curve(
    steps: pd.DataFrame, value: str = "valid", seeds: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The exact mean over runs of their step functions ``value(t)``.

    ``steps`` holds the steps of several runs (column ``seed`` tells them
    apart); ``seeds`` lists the runs that count (default: those in ``steps``),
    so a run without any step keeps the mean undefined. Returns ``(t, mean)``
    at every time any run changes; the mean is NaN until every run has a first value.
    """
    if not len(steps):
        return np.array([]), np.array([])
    times = np.unique(steps["t"].to_numpy(float))
    if seeds is not None and set(seeds) - set(steps["seed"]):
        return times, np.full(len(times), np.nan)
    per_run = [step_lookup(g["t"].to_numpy(), g[value].to_numpy(), times) for _, g in steps.groupby("seed")]
    return times, np.mean(per_run, axis=0)


def first_time_at_or_below(t: np.ndarray, loss: np.ndarray, target: float) -> float:
    """The first ``t`` at which ``loss <= target`` (NaN never counts); ``inf`` if never."""
    hit = np.nonzero(np.asarray(loss, float) <= target)[0]
    return float(np.asarray(t, float)[hit[0]]) if len(hit) else float("inf")
