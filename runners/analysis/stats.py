"""Summaries of regret curves: means with standard errors, ranks over time, final tables,
speedup over a baseline, critical differences and parallel scaling. Pure functions on DataFrames.

The conventions each function follows are in its docstring and are repeated in the report.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .load import Study
from .trajectory import first_time_at_or_below, mean_step_curve

ALPHA = 0.05


# ---------------------------------------------------------------- curves
def summarize_curves(curves: pd.DataFrame, value: str) -> pd.DataFrame:
    """Mean and standard error over seeds of ``value`` per (benchmark, method, grid point).

    Columns: benchmark, method, frac, t, mean, se, n. The mean is NaN at a grid
    point where any seed has no result yet (a mean over the seeds that happen
    to have one would be biased). ``se`` is ``std(ddof=1)/sqrt(n)``, NaN for one seed.
    """
    keys = ["benchmark", "method", "frac"]
    g = curves.groupby(keys, sort=True)
    out = g.agg(t=("t", "first"), mean=(value, "mean"), sd=(value, "std"), n=(value, "size"))
    incomplete = curves[value].isna().groupby([curves[k] for k in keys], sort=True).any()
    out.loc[incomplete.to_numpy(), ["mean", "sd"]] = np.nan
    out["se"] = out["sd"] / np.sqrt(out["n"])
    return out.drop(columns="sd").reset_index()


def common_benchmarks(summary: pd.DataFrame) -> list[str]:
    """Benchmarks on which every method of ``summary`` has runs (the set every cross-task average uses)."""
    methods = set(summary["method"])
    have = summary.groupby("benchmark")["method"].agg(set)
    return sorted(b for b, m in have.items() if m == methods)


def aggregate_over_benchmarks(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean over benchmarks of the per-benchmark seed means, per (method, frac).

    Only benchmarks where every method has runs take part (:func:`common_benchmarks`).
    The standard error combines the per-benchmark ones as independent:
    ``sqrt(sum se_b^2) / B``; it is NaN when any benchmark has a single seed.
    """
    sub = summary[summary["benchmark"].isin(common_benchmarks(summary))].assign(se2=lambda d: d["se"] ** 2)
    keys = [sub["method"], sub["frac"]]
    out = sub.groupby(["method", "frac"], sort=True).agg(
        mean=("mean", "mean"), se2=("se2", "sum"), n_benchmarks=("benchmark", "nunique")
    )
    out.loc[sub["mean"].isna().groupby(keys, sort=True).any().to_numpy(), "mean"] = np.nan
    out["se"] = np.sqrt(out["se2"]) / out["n_benchmarks"]
    out.loc[sub["se"].isna().groupby(keys, sort=True).any().to_numpy(), "se"] = np.nan
    return out[["mean", "se", "n_benchmarks"]].reset_index()


def ranks_over_time(summary: pd.DataFrame) -> pd.DataFrame:
    """Average rank per (method, frac) across benchmarks; rank 1 is the lowest mean regret.

    At each grid point of each benchmark the methods are ranked by their mean
    over seeds, ties sharing the average rank. A method with no result yet
    (NaN) ranks behind every method that has one, tied with the others that
    have none. Ranks are then averaged over the common benchmarks.
    """
    sub = summary[summary["benchmark"].isin(common_benchmarks(summary))].copy()
    key = sub["mean"].fillna(np.inf)
    sub["rank"] = key.groupby([sub["benchmark"], sub["frac"]]).rank(method="average")
    return sub.groupby(["method", "frac"], sort=True)["rank"].mean().reset_index()


# ---------------------------------------------------------------- final performance
def final_values(curves: pd.DataFrame) -> pd.DataFrame:
    """Each run's values at the last grid point (the horizon): one row per (benchmark, method, seed)."""
    last = curves["frac"].max()
    cols = ["benchmark", "method", "seed", "valid_regret", "valid_nregret", "test_regret", "test_nregret"]
    return curves.loc[curves["frac"] == last, cols].reset_index(drop=True)


#: the columns of :func:`final_table` and :func:`final_table_across_benchmarks`
FINAL_COLUMNS = [
    "benchmark",
    "method",
    "n",
    "n_finite",
    "median",
    "q25",
    "q75",
    "mean",
    "best",
    "p_vs_best",
    "worse",
]


def final_table(finals: pd.DataFrame, value: str) -> pd.DataFrame:
    """Median and quartiles over seeds of ``value`` per (benchmark, method), with a test against the best.

    The best method of a benchmark has the lowest median (ties: lowest mean).
    Every other method is compared with it by the two-sided Wilcoxon rank-sum
    (Mann-Whitney U) test, since seeds of different methods are independent
    runs, not pairs. ``p_vs_best`` is NaN for the best itself and when either
    side has no finite value. ``worse`` marks p < ALPHA.
    """
    rows = []
    for b, sub in finals.groupby("benchmark", sort=True):
        per = {m: g[value].to_numpy(float) for m, g in sub.groupby("method", sort=True)}
        best = _best_of({m: v[np.isfinite(v)] for m, v in per.items()})
        for m, v in per.items():
            f = v[np.isfinite(v)]
            p = np.nan
            if m != best and len(f) and best is not None and len(per[best][np.isfinite(per[best])]):
                p = _ranksum_p(f, per[best][np.isfinite(per[best])])
            rows.append(_quartile_row(b, m, v, f, best, p))
    return pd.DataFrame(rows, columns=FINAL_COLUMNS)


def final_table_across_benchmarks(finals: pd.DataFrame, value: str) -> pd.DataFrame:
    """Across benchmarks: each method's mean over seeds per benchmark, then median and quartiles over benchmarks.

    Methods are paired by benchmark, so the comparison with the best (lowest
    median) is the two-sided Wilcoxon signed-rank test on the per-benchmark
    means; only benchmarks where every method has a finite mean take part (a
    method's mean on a benchmark is undefined when any of its runs has no value).
    """
    keys = [finals["benchmark"], finals["method"]]
    means = finals[value].groupby(keys).mean()
    means[finals[value].isna().groupby(keys).any()] = (
        np.nan
    )  # a run without a value leaves the mean undefined
    means = means.unstack("method")
    means = means.dropna(axis=0, how="any")
    per = {m: means[m].to_numpy(float) for m in means.columns}
    best = _best_of(per)
    rows = []
    for m, v in per.items():
        p = _signed_rank_p(v, per[best]) if m != best and best is not None else np.nan
        rows.append(_quartile_row("all", m, v, v, best, p))
    out = pd.DataFrame(rows, columns=FINAL_COLUMNS)
    return out.sort_values("method").reset_index(drop=True)


def _quartile_row(bench: str, method: str, v: np.ndarray, f: np.ndarray, best: str | None, p: float) -> dict:
    q25, med, q75 = np.percentile(f, [25, 50, 75]) if len(f) else (np.nan,) * 3
    return {
        "benchmark": bench,
        "method": method,
        "n": len(v),
        "n_finite": len(f),
        "median": float(med),
        "q25": float(q25),
        "q75": float(q75),
        "mean": float(np.mean(f)) if len(f) else np.nan,
        "best": method == best,
        "p_vs_best": p,
        "worse": bool(p < ALPHA) if p == p else False,
    }


def _best_of(per: dict[str, np.ndarray]) -> str | None:
    scored = [(np.median(v), np.mean(v), m) for m, v in per.items() if len(v)]
    return min(scored)[2] if scored else None


def _ranksum_p(a: np.ndarray, b: np.ndarray) -> float:
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0  # all values equal: no evidence of a difference (scipy returns NaN here)
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _signed_rank_p(a: np.ndarray, b: np.ndarray) -> float:
    d = a - b
    if not len(d):
        return np.nan
    if np.all(d == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # small-sample warnings; the p-value is still exact or normal-approximated
        return float(stats.wilcoxon(a, b, alternative="two-sided").pvalue)


# ---------------------------------------------------------------- speedup over a baseline
def speedup_table(study: Study, steps: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Speedup of each method over the optimizer ``baseline`` per benchmark, on validation values.

    Each method is compared with the baseline run with the same number of
    workers. ``target`` is the baseline's final mean incumbent (mean over its
    seeds at the horizon); ``t_baseline`` the first time its mean incumbent
    curve reaches the target; ``t_method`` the first time the method's mean
    curve reaches it (a mean curve is defined once every seed has a result).
    ``speedup = t_baseline / t_method``. When the method never reaches the
    target within the horizon, ``reached`` is False, ``speedup`` NaN, and
    ``speedup_below`` holds the bound ``t_baseline / horizon`` (the true
    speedup is below it). Curves are exact step functions, not the plotting grid.
    """
    runs = study.complete_runs()
    workers_of = dict(zip(runs["method"], runs["n_workers"].fillna(-1)))
    seeds_of = runs.groupby(["benchmark", "method"])["seed"].agg(list).to_dict()
    base_of_workers = {
        w: m for m, w in workers_of.items() if m in set(runs.loc[runs.optimizer == baseline, "method"])
    }
    rows = []
    for b, task in sorted(study.tasks.items()):
        sb = steps[steps.benchmark == b]
        sign = task.valid.sign
        targets: dict[str, tuple[float, float]] = {}
        for m, g in sb.groupby("method", sort=True):
            base_m = base_of_workers.get(workers_of.get(m))
            if base_m is None:
                continue
            if base_m not in targets:
                bt, bmean = mean_step_curve(sb[sb.method == base_m], "valid", seeds_of.get((b, base_m)))
                if not len(bmean) or not np.isfinite(bmean[-1]):
                    continue
                target = sign * bmean[-1]  # as a loss
                targets[base_m] = (target, first_time_at_or_below(bt, sign * bmean, target))
            target, t_base = targets[base_m]
            mt, mmean = mean_step_curve(g, "valid", seeds_of.get((b, m)))
            t_m = first_time_at_or_below(mt, sign * mmean, target)
            reached = math.isfinite(t_m) and t_m <= task.horizon
            rows.append(
                {
                    "benchmark": b,
                    "method": m,
                    "baseline": base_m,
                    "target": sign * target,
                    "t_baseline": t_base,
                    "t_method": t_m if reached else np.nan,
                    "reached": reached,
                    "speedup": t_base / t_m if reached and t_m > 0 else np.nan,
                    "speedup_below": np.nan if reached else t_base / task.horizon,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "benchmark",
            "method",
            "baseline",
            "target",
            "t_baseline",
            "t_method",
            "reached",
            "speedup",
            "speedup_below",
        ],
    )


def speedup_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: geometric mean and median of the speedups over benchmarks where it reached the target."""
    rows = []
    for m, g in table.groupby("method", sort=True):
        s = g.loc[g["reached"], "speedup"].to_numpy(float)
        rows.append(
            {
                "method": m,
                "n_benchmarks": len(g),
                "n_reached": len(s),
                "geomean": float(np.exp(np.mean(np.log(s)))) if len(s) else np.nan,
                "median": float(np.median(s)) if len(s) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["method", "n_benchmarks", "n_reached", "geomean", "median"])


# ---------------------------------------------------------------- critical difference
def cd_blocks(curves: pd.DataFrame, value: str, frac: float, min_blocks: int = 5) -> tuple[pd.DataFrame, str]:
    """The data of a critical-difference test at budget fraction ``frac``: rows are blocks, columns methods.

    Blocks are benchmarks (each cell the mean over seeds) when there are at
    least ``min_blocks`` of them; otherwise (benchmark, seed) pairs, with seeds
    matched by their rank in each method's seed list. Rows with a missing
    value are dropped; a benchmark's mean is missing when any seed's value is (as in
    :func:`summarize_curves`: a mean over the seeds that happen to have a result is biased).
    Returns the data and a sentence saying which blocks were used.
    """
    grid = np.sort(curves["frac"].unique())
    at = grid[np.argmin(np.abs(grid - frac))]
    sub = curves[curves["frac"] == at]
    keys = [sub["benchmark"], sub["method"]]
    means = sub[value].groupby(keys).mean()
    means[sub[value].isna().groupby(keys).any()] = np.nan
    per_bench = means.unstack("method")
    complete = per_bench.dropna(how="any")
    if len(complete) >= min_blocks:
        return complete, f"blocks: {len(complete)} benchmarks (mean over seeds)"
    sub = sub.assign(seed_rank=sub.groupby(["benchmark", "method"])["seed"].rank(method="first").astype(int))
    pairs = sub.pivot_table(index=["benchmark", "seed_rank"], columns="method", values=value, aggfunc="first")
    pairs = pairs.dropna(how="any")
    return pairs, (
        f"blocks: {len(pairs)} (benchmark, seed) pairs, since only {len(complete)} benchmark(s) have "
        f"results for every method (at least {min_blocks} are needed); seeds matched by order"
    )


def critical_difference(data: pd.DataFrame, alpha: float = ALPHA):
    """Friedman test then Nemenyi post-hoc via autorank; lower values are better.

    Returns the autorank ``RankResult``; raises ValueError with the reason when
    the data cannot support the test (fewer than 3 methods or 5 blocks).
    """
    if data.shape[1] < 3:
        raise ValueError(f"a Friedman/Nemenyi test needs at least 3 methods, got {data.shape[1]}")
    if data.shape[0] < 5:
        raise ValueError(f"a Friedman/Nemenyi test needs at least 5 blocks, got {data.shape[0]}")
    from autorank import autorank

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return autorank(data, alpha=alpha, order="ascending", force_mode="nonparametric", verbose=False)


# ---------------------------------------------------------------- parallel scaling
def scaling_table(study: Study, steps: pd.DataFrame) -> pd.DataFrame:
    """Time to a target regret versus the number of workers, per (benchmark, optimizer).

    The target is the final mean validation incumbent (over seeds) of the
    optimizer's run with the fewest workers on that benchmark; ``time`` is the
    first time each worker count's mean incumbent curve reaches it (NaN if it
    never does), and ``speedup`` is ``time(fewest workers) / time``. Empty when
    no optimizer was run with more than one worker count.
    """
    complete = study.complete_runs()
    seeds_of = complete.groupby(["benchmark", "method"])["seed"].agg(list).to_dict()
    runs = complete[["benchmark", "optimizer", "method", "n_workers"]].drop_duplicates()
    rows = []
    for (b, opt), g in runs.groupby(["benchmark", "optimizer"], sort=True):
        if g["n_workers"].nunique() < 2 or b not in study.tasks:
            continue
        task = study.tasks[b]
        sign = task.valid.sign
        g = g.sort_values("n_workers")
        curves = {}
        for meth, w in zip(g["method"], g["n_workers"]):
            curves[w] = mean_step_curve(
                steps[(steps.benchmark == b) & (steps.method == meth)], "valid", seeds_of.get((b, meth))
            )
        w0 = g["n_workers"].iat[0]
        t0, m0 = curves[w0]
        if not len(m0) or not np.isfinite(m0[-1]):
            continue
        target = sign * m0[-1]
        base = first_time_at_or_below(t0, sign * m0, target)
        for w, (t, m) in curves.items():
            tt = first_time_at_or_below(t, sign * m, target)
            tt = tt if math.isfinite(tt) and tt <= task.horizon else np.nan
            rows.append(
                {
                    "benchmark": b,
                    "optimizer": opt,
                    "n_workers": int(w),
                    "target": sign * target,
                    "time": tt,
                    "speedup": base / tt if tt == tt and tt > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["benchmark", "optimizer", "n_workers", "target", "time", "speedup"])


def scaling_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (optimizer, n_workers): geometric mean over benchmarks of the parallel speedup (reached targets only)."""
    rows = []
    for (opt, w), g in table.groupby(["optimizer", "n_workers"], sort=True):
        s = g["speedup"].to_numpy(float)
        s = s[np.isfinite(s) & (s > 0)]
        rows.append(
            {
                "optimizer": opt,
                "n_workers": int(w),
                "n_benchmarks": len(g),
                "n_reached": len(s),
                "geomean_speedup": float(np.exp(np.mean(np.log(s)))) if len(s) else np.nan,
            }
        )
    return pd.DataFrame(
        rows, columns=["optimizer", "n_workers", "n_benchmarks", "n_reached", "geomean_speedup"]
    )


def nearest_fractions(fracs: Sequence[float], grid: np.ndarray) -> list[float]:
    """The grid points nearest to each requested budget fraction."""
    return [float(grid[np.argmin(np.abs(grid - f))]) for f in fracs]


# ---------------------------------------------------------------- summaries no single benchmark dominates
#: regrets below this normalized regret count as this value in ratios (a regret of exactly 0 has no ratio)
RATIO_FLOOR = 1e-3


def ranks_at(summary: pd.DataFrame, fracs: Sequence[float]) -> pd.DataFrame:
    """Mean rank over benchmarks at the grid points nearest to ``fracs`` (see :func:`ranks_over_time`).

    Ranks are taken within each benchmark (on the mean over seeds), so no benchmark weighs more than another
    whatever its scale. Columns: method, frac, rank, n_benchmarks.
    """
    grid = np.sort(summary["frac"].unique())
    at = [float(grid[np.argmin(np.abs(grid - f))]) for f in fracs]
    r = ranks_over_time(summary[summary["frac"].isin(at)])
    r["n_benchmarks"] = len(common_benchmarks(summary))
    return r


def baselines_by_workers(study: Study, baseline: str | None) -> dict[str, str]:
    """Each method's baseline: the ``baseline`` optimizer's method at the same worker count (a method at 4 workers
    is compared with random search at 4 workers, as :func:`speedup_table` does); methods at a worker count the
    baseline did not run at have none."""
    if baseline is None:
        return {}
    runs = study.complete_runs()
    workers_of = dict(zip(runs["method"], runs["n_workers"].fillna(-1)))
    base_at = {workers_of[m]: m for m in sorted(set(runs.loc[runs.optimizer == baseline, "method"]))}
    return {m: base_at[w] for m, w in workers_of.items() if w in base_at}


def ratio_to_baseline(
    finals: pd.DataFrame, value: str, baseline: str | Mapping[str, str], floor: float = RATIO_FLOOR
) -> pd.DataFrame:
    """Per benchmark and method: median over seeds of the final ``value`` / the baseline's median, both floored.

    ``baseline``: one method, or each method's own (:func:`baselines_by_workers`; methods without one are left
    out). ``value`` should be a normalized regret so that ``floor`` means the same on every benchmark (a median
    below ``floor`` counts as ``floor``: a regret of 0 would make the ratio 0 or undefined). Ratio < 1: better
    than the baseline. Columns: benchmark, method, median, baseline_median, ratio.
    """
    med = finals.groupby(["benchmark", "method"], sort=True)[value].median().unstack("method")
    base_of = {m: baseline for m in med} if isinstance(baseline, str) else dict(baseline)
    if not any(b in med for b in base_of.values()):
        return pd.DataFrame(columns=["benchmark", "method", "median", "baseline_median", "ratio"])
    rows = []
    for b, r in med.iterrows():
        for m, v in r.items():
            if base_of.get(m) not in med:
                continue
            base = r[base_of[m]]
            ok = np.isfinite(v) and np.isfinite(base)
            rows.append(
                {
                    "benchmark": b,
                    "method": m,
                    "median": v,
                    "baseline_median": base,
                    "ratio": max(v, floor) / max(base, floor) if ok else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["benchmark", "method", "median", "baseline_median", "ratio"])


def geomean_ratio(ratios: pd.DataFrame) -> pd.DataFrame:
    """Per method: geometric mean (``scipy.stats.gmean``) over the benchmarks where every method has a ratio.

    Also the number of benchmarks where the ratio is below 1 (better than the baseline) and above 1.
    Columns: method, geomean, n_better, n_worse, n_benchmarks.
    """
    wide = ratios.pivot(index="benchmark", columns="method", values="ratio").dropna(how="any")
    rows = []
    for m in sorted(wide.columns):
        v = wide[m].to_numpy(float)
        rows.append(
            {
                "method": m,
                "geomean": float(stats.gmean(v)) if len(v) else np.nan,
                "n_better": int((v < 1).sum()),
                "n_worse": int((v > 1).sum()),
                "n_benchmarks": len(v),
            }
        )
    return pd.DataFrame(rows, columns=["method", "geomean", "n_better", "n_worse", "n_benchmarks"])
