"""Report sections of a multi-objective study: hypervolume over time, final fronts and attainment surfaces,
ranks and tests by hypervolume (docs/multiobjective.md).

A run is multi-objective when its meta.json records ``objectives`` (a run with ``objectives=[...]``). Every
run of a benchmark must record the same objectives and normalization. Each evaluation of a run at the
maximum fidelity is a point: a model trained with its configuration's whole schedule ("lower is better"
values of the objectives, normalized so that the benchmark's best configuration at the maximum fidelity is
0 and the median 1). Partial trainings are not points: with ``cost`` an objective, a multi-fidelity
method's discarded low-fidelity models would fill the cheap end of every front, and on lcbench-car ASHA
and MOASHA then reached the same hypervolume whatever they promoted. The run's hypervolume at time t is
that of its points found by t, against the reference point (1, ..., 1). The *hypervolume regret* is the
hypervolume of the best front reachable on the benchmark minus the run's: every point the table holds at
the maximum fidelity (configuration x seed) on a table, else the union of the study's points on that
benchmark. It is 0 when a run found that whole
front, and it is read like the single-objective regret: the same ranks, the same tests (Wilcoxon rank-sum per
benchmark, signed-rank across benchmarks, Friedman and Nemenyi critical differences).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import moocore
import numpy as np
import pandas as pd

from benchmarks.protocol import Metric
from runners.multiobjective import (
    hypervolume,
    hypervolume_trajectory,
    nondominated,
    run_objectives,
    table_points,
)
from runners.results_format import EVENTS_FILE

from .. import plots, stats
from ..load import load_benchmark
from ..render import Section, fmt
from .context import ReportContext

__all__ = ["MOData", "mo_data", "mo_sections"]

#: the attainment levels drawn (percent of seeds that reach the surface)
ATTAINMENT = (50.0,)


@dataclass
class MOData:
    """What the multi-objective sections read, computed once per report."""

    #: benchmark -> the objectives' names
    names: dict[str, list[str]]
    #: benchmark -> the normalized points of the best reachable front, and where they come from
    fronts: dict[str, tuple[np.ndarray, str]]
    #: one row per (benchmark, method, seed, grid point): frac, t, hv, hv_regret
    curves: pd.DataFrame
    #: (benchmark, method, seed) -> the run's normalized points at the end of the horizon
    points: dict[tuple[str, str, int], np.ndarray]
    #: benchmarks left out, with the reason
    skipped: dict[str, str]
    #: benchmark -> the objectives' metrics and, in their own units, their values at 0 (the best configuration)
    #: and at 1 (the median: the hypervolume's reference point)
    anchors: dict[str, tuple[list[Metric], np.ndarray, np.ndarray]] = field(default_factory=dict)


def _bench_points(
    ctx: ReportContext,
    bench: str,
    paths: dict[tuple[str, str, int], str],
    names: dict[str, list[str]],
    fronts: dict[str, tuple[np.ndarray, str]],
    points: dict[tuple[str, str, int], np.ndarray],
    times: dict[tuple[str, str, int], np.ndarray],
    skipped: dict[str, str],
    anchors: dict[str, tuple[list[Metric], np.ndarray, np.ndarray]],
) -> None:
    """One benchmark's objectives, points and front, into the dicts given (or a reason in ``skipped``)."""
    metas = ctx.study.metas
    keys = [k for k in metas if k[0] == bench]
    specs = {_spec_key(metas[k].get("objectives")) for k in keys}
    if len(specs) != 1 or None in specs:
        skipped[bench] = "its runs record different objectives or normalizations (or none)"
        return
    spec = metas[keys[0]]["objectives"]
    b = load_benchmark(bench, [metas[k] for k in keys])
    if b is None:
        skipped[bench] = "the benchmark does not load here with the checksum its runs recorded"
        return
    objs = [Metric.from_dict(d) for d in spec["metrics"]]
    best, ref = np.asarray(spec["best"], dtype=float), np.asarray(spec["reference"], dtype=float)
    scale = ref - best
    names[bench] = [m.name for m in objs]
    signs = np.array([m.sign for m in objs], dtype=float)  # "lower is better" units back to the metric's own
    anchors[bench] = (objs, signs * best, signs * ref)
    top = float(b.fidelity.max)
    for k in keys:
        ev = pd.read_parquet(Path(paths[k]) / EVENTS_FILE)
        pts = (run_objectives(b, objs, ev) - best) / scale  # cumulative costs need every evaluation
        final = ev["fidelity"].to_numpy(float) == top
        pts, ev = pts[final], ev[final]
        ok = np.all(np.isfinite(pts), axis=1)
        points[k], times[k] = pts[ok], ev["t_end"].to_numpy(float)[ok]
    held = table_points(b, objs, [top])
    if held is not None:
        cand, source = (held - best) / scale, "every point the table holds"
    else:
        cand = np.vstack([points[k] for k in keys])
        source = "the union of the study's points (the benchmark holds no finite set of configurations)"
    cand = cand[np.all(np.isfinite(cand), axis=1)]
    cand = cand[np.all(cand < 1.0, axis=1)]
    fronts[bench] = (cand[nondominated(cand)] if len(cand) else cand, source)


def mo_data(ctx: ReportContext) -> MOData | None:
    """The multi-objective data of the study, or None when no complete run records objectives."""
    study = ctx.study
    runs = study.complete_runs()
    metas = study.metas
    mo_runs = [(b, m, s) for (b, m, s), meta in metas.items() if meta.get("objectives")]
    if not mo_runs:
        return None
    names: dict[str, list[str]] = {}
    fronts: dict[str, tuple[np.ndarray, str]] = {}
    points: dict[tuple[str, str, int], np.ndarray] = {}
    times: dict[tuple[str, str, int], np.ndarray] = {}
    skipped: dict[str, str] = {}
    anchors: dict[str, tuple[list[Metric], np.ndarray, np.ndarray]] = {}
    paths = {(r.benchmark, r.method, int(r.seed)): r.path for r in runs.itertuples()}
    for bench in sorted({b for b, _, _ in mo_runs}):
        try:
            _bench_points(ctx, bench, paths, names, fronts, points, times, skipped, anchors)
        except (KeyError, TypeError, ValueError) as e:  # a meta.json's objectives malformed past its checks
            for d in (names, fronts, anchors):
                d.pop(bench, None)
            for k in [k for k in points if k[0] == bench]:
                points.pop(k), times.pop(k, None)
            skipped[bench] = f"its runs record malformed objectives ({type(e).__name__}: {e})"
    rows = []
    for (bench, meth, seed), pts in points.items():
        if bench not in fronts:
            continue
        task = study.tasks.get(bench)
        if task is None:
            continue
        grid_t = ctx.grid * task.horizon
        hv = hypervolume_trajectory(times[(bench, meth, seed)], pts, grid_t)
        top = hypervolume(fronts[bench][0]) if len(fronts[bench][0]) else 0.0
        rows.append(
            pd.DataFrame(
                {
                    "benchmark": bench,
                    "method": meth,
                    "seed": seed,
                    "frac": ctx.grid,
                    "t": grid_t,
                    "hv": hv,
                    "hv_regret": np.maximum(top - hv, 0.0),
                }
            )
        )
    cols = ["benchmark", "method", "seed", "frac", "t", "hv", "hv_regret"]
    curves = pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)
    return MOData(names, fronts, curves, points, skipped, anchors)


def _spec_key(spec: Any) -> Any:
    if not isinstance(spec, dict):
        return None
    try:
        return (tuple(spec["names"]), tuple(spec["best"]), tuple(spec["reference"]))
    except (KeyError, TypeError):
        return None


# ---------------------------------------------------------------- sections
def mo_sections(ctx: ReportContext) -> list[Section]:
    """The multi-objective sections, or none when the study has no multi-objective run."""
    data = mo_data(ctx)
    if data is None:
        return []
    return [_hv_time_section(ctx, data), _final_section(ctx, data), _fronts_section(ctx, data)]


def _objectives_line(data: MOData) -> str:
    per = sorted({tuple(v) for v in data.names.values()})
    return "; ".join(" and ".join(f"`{n}`" for n in p) for p in per)


def _hv_time_section(ctx: ReportContext, data: MOData) -> Section:
    blocks: list = [
        f"Objectives: {_objectives_line(data)}, each normalized per benchmark (0: the best configuration at "
        "the maximum fidelity, 1: the median; `cost` is the training cost of the configuration's whole "
        "schedule). A run's points are its evaluations at the maximum fidelity (trained models; partial "
        "trainings are not points, docs/multiobjective.md). Hypervolume against the reference point "
        "(1, ..., 1) of the points a run found by that time, computed with moocore. Hypervolume regret: "
        "the hypervolume of the best reachable front minus the run's (0: the whole front found)."
    ]
    if data.skipped:
        blocks.append(
            "Left out: " + "; ".join(f"`{b}` ({why})" for b, why in sorted(data.skipped.items())) + "."
        )
    if data.anchors:
        rows = [
            {
                "benchmark": b,
                "objective": m.name,
                "direction": m.direction,
                "best (0)": float(lo),
                "reference point (1)": float(hi),
            }
            for b, (objs, best, ref) in sorted(data.anchors.items())
            for m, lo, hi in zip(objs, best, ref)
        ]
        table = pd.DataFrame(rows).set_index("benchmark")
        shown = table.assign(**{c: table[c].map(fmt) for c in ("best (0)", "reference point (1)")})
        blocks.append(
            ctx.table(
                "reference_points",
                shown,
                "The normalization of each benchmark in its objectives' own units (costs in seconds): 0 is the "
                "best value over the configurations at the maximum fidelity, 1 the median, which is the "
                "hypervolume's reference point.",
                data=table.reset_index(),
            )
        )
    if not len(data.curves):
        return Section("Hypervolume over time", blocks)
    summ = stats.summarize_curves(data.curves, "hv_regret")
    per = {b: summ[summ["benchmark"] == b] for b in sorted(summ["benchmark"].unique())}
    fig = plots.regret_over_time(
        per,
        ctx.palette,
        x="t",
        ylabel="hypervolume regret",
        titles={b: b for b in per},
        xlabel="simulated time (s)",
    )
    blocks.append(
        ctx.figure(
            fig,
            "hv_regret_per_benchmark",
            "Hypervolume regret over simulated time, mean over seeds ± one standard error.",
        )
    )
    if summ["method"].nunique() > 1:
        fig = plots.rank_over_time(
            {"hypervolume": stats.ranks_over_time(summ)},
            ctx.palette,
            xlabel="fraction of the time budget",
            n_methods=summ["method"].nunique(),
        )
        n_b = len(stats.common_benchmarks(summ))
        blocks.append(
            ctx.figure(
                fig,
                "hv_rank_over_time",
                f"Average rank by hypervolume over {n_b} benchmark(s) (rank of the mean over seeds at each "
                "fraction of each benchmark's time horizon; ties share the average rank).",
            )
        )
    return Section("Hypervolume over time", blocks)


def _final_section(ctx: ReportContext, data: MOData) -> Section:
    finals = data.curves[data.curves["frac"] == data.curves["frac"].max()].reset_index(drop=True)
    blocks: list = [
        "Hypervolume regret at the end of each benchmark's time horizon: median [25%, 75%] over seeds. "
        f"**Bold**: the best median; `*`: significantly worse than the best (two-sided Wilcoxon rank-sum test "
        f"over seeds, p < {ctx.opts.alpha}). Column `all`: the mean over seeds per benchmark, then median "
        "[quartiles] over benchmarks, tested against the best with the two-sided Wilcoxon signed-rank test "
        "(paired by benchmark)."
    ]
    if not len(finals):
        return Section("Final hypervolume", blocks)
    per = stats.final_table(finals, "hv_regret")
    per = per.assign(worse=per["p_vs_best"] < ctx.opts.alpha)
    agg = stats.final_table_across_benchmarks(finals, "hv_regret")
    agg = agg.assign(worse=agg["p_vs_best"] < ctx.opts.alpha)
    both = pd.concat([per, agg.assign(benchmark="all")], ignore_index=True)
    disp = both.assign(cell=[_cell(r) for r in both.itertuples()])
    disp = disp.pivot(index="method", columns="benchmark", values="cell").fillna("–")
    disp = disp[[*sorted(per["benchmark"].unique()), "all"]]
    disp.columns.name = None
    blocks.append(ctx.table("final_hv_regret", disp, "Final hypervolume regret.", data=both))
    hv = finals.groupby(["benchmark", "method"])["hv"].mean().unstack("method")
    blocks.append(
        ctx.table(
            "final_hv",
            hv.map(lambda x: fmt(x)),
            "Final hypervolume (normalized objectives, reference point 1), mean over seeds; the best "
            "reachable front's: "
            + ", ".join(
                f"`{b}` {fmt(hypervolume(f) if len(f) else 0.0)}" for b, (f, _) in sorted(data.fronts.items())
            )
            + ".",
            data=hv.reset_index(),
        )
    )
    methods = sorted(finals["method"].unique())
    if len(methods) >= 3:
        for frac in stats.nearest_fractions(ctx.opts.fractions, ctx.grid):
            cd, note = stats.cd_blocks(data.curves, "hv_regret", frac)
            tag = f"Hypervolume regret, {frac:.0%} of the budget"
            try:
                res = stats.critical_difference(cd, ctx.opts.alpha)
            except ValueError as e:
                blocks.append(f"{tag}: no critical-difference diagram ({e}; {note}).")
                continue
            verdict = "significant" if res.pvalue < ctx.opts.alpha else "not significant"
            blocks.append(
                ctx.figure(
                    plots.cd_diagram(res, tag),
                    f"cd_hv_{frac:.3g}".replace(".", "p"),
                    f"{tag}: Friedman p = {fmt(res.pvalue)} ({verdict}), Nemenyi critical difference "
                    f"{fmt(res.cd)}; {note}. Lower rank is better.",
                    half=True,
                )
            )
    return Section("Final hypervolume", blocks)


def _cell(r: Any) -> str:
    if not r.n_finite:
        return "–"
    s = f"{fmt(r.median)} [{fmt(r.q25)}, {fmt(r.q75)}]"
    if r.method == r.best:
        return f"**{s}**"
    return s + (" *" if r.worse else "")


def _fronts_section(ctx: ReportContext, data: MOData) -> Section:
    blocks: list = [
        "Final fronts as median attainment surfaces: the boundary of what at least half of a method's seeds "
        "attained by the end of the horizon (the 50 % empirical attainment function, López-Ibáñez et al. "
        "2010, computed with moocore). Black dashes: the best reachable front. With three or more objectives "
        "the panels show the first two objectives' projection of the non-dominated points."
    ]
    panels = {}
    one = sorted(b for b, names in data.names.items() if len(names) < 2)
    if one:  # a front of one objective is a point: nothing to draw
        blocks.append(
            "No fronts drawn for " + ", ".join(f"`{b}`" for b in one) + ": their runs record one objective."
        )
    for bench, names in sorted(data.names.items()):
        if bench not in data.fronts or len(names) < 2:
            continue
        per_method = {}
        for meth in sorted({m for b, m, _ in data.points if b == bench}):
            sets = [(s, p) for (b, m, s), p in data.points.items() if b == bench and m == meth]
            per_method[meth] = _attainment(sets, len(names))
        front = data.fronts[bench][0][:, :2] if len(data.fronts[bench][0]) else np.empty((0, 2))
        panels[bench] = (per_method, front, names[:2])
    if panels:
        fig = plots.attainment_surfaces(panels, ctx.palette)
        blocks.append(
            ctx.figure(
                fig,
                "attainment_50",
                "Median (50 %) attainment surface of each method per benchmark, normalized objectives "
                "(lower-left is better); black dashes: the best reachable front "
                + ", ".join(f"(`{b}`: {src})" for b, (_, src) in sorted(data.fronts.items()))
                + ".",
            )
        )
        runs = {
            bench: ({meth: _run_fronts(data, bench, meth) for meth in per_method}, front, names)
            for bench, (per_method, front, names) in panels.items()
        }
        blocks.append(
            ctx.figure(
                plots.final_fronts(runs, ctx.palette),
                "final_fronts",
                "The final Pareto front of every run (each seed's non-dominated points at the end of the horizon, "
                "one marker each; with three or more objectives, the first two of them), per method and "
                "benchmark, normalized objectives; black dashes: the best reachable front.",
            )
        )
    return Section("Pareto fronts and attainment surfaces", blocks)


def _run_fronts(data: MOData, bench: str, meth: str) -> list[np.ndarray]:
    """The final non-dominated points of each run of ``meth`` on ``bench``, in seed order."""
    sets = [p for (b, m, _), p in sorted(data.points.items()) if (b, m) == (bench, meth)]
    return [p[nondominated(p)] if len(p) else p for p in sets]


def _attainment(sets: list[tuple[int, np.ndarray]], k: int) -> np.ndarray:
    """The 50 % attainment surface of ``sets`` (one normalized point set per seed), in the first two objectives."""
    rows, ids = [], []
    for i, (_, p) in enumerate(sets):
        q = p[:, :2] if k > 2 else p
        q = q[np.all(q < 1.0, axis=1)]
        if len(q):
            q = q[nondominated(q)]
            rows.append(q)
            ids.append(np.full(len(q), i + 1))
    if not rows:
        return np.empty((0, 2))
    pts, sid = np.vstack(rows), np.concatenate(ids)
    if len(sets) == 1:
        return pts[np.argsort(pts[:, 0])]
    # percentiles of the EAF count every seed, those with no point inside the reference box too
    level = ATTAINMENT[0] * len(sets) / len(rows)
    if level > 100.0:
        return np.empty((0, 2))
    surf = moocore.eaf(pts, sets=sid, percentiles=[min(100.0, level)])
    out = surf[:, :2]
    return out[np.argsort(out[:, 0])]
