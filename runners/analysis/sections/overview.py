"""Report sections about the study itself: the summary, the runs, the conventions, the benchmarks."""

from __future__ import annotations

import pandas as pd

from .. import stats
from ..load import convention_label
from ..render import Section, fmt, fmt_seconds
from .context import ReportContext, relative_path


def summary_section(ctx: ReportContext) -> Section:
    """The study at a glance: what was run, how many runs are complete, the best method overall."""
    s, runs = ctx.study, ctx.study.runs
    n = runs["status"].value_counts()
    seeds = sorted(runs["seed"].unique())
    items = [
        f"Benchmarks ({runs['benchmark'].nunique()}): "
        + ", ".join(f"`{b}`" for b in sorted(runs["benchmark"].unique())),
        f"Methods ({runs['method'].nunique()}): "
        + ", ".join(f"`{m}`" for m in sorted(runs["method"].unique())),
        f"Seeds: {len(seeds)} ({', '.join(map(str, seeds))})",
        f"Runs: {n.get('complete', 0)} complete, {n.get('partial', 0)} partial, {n.get('missing', 0)} missing"
        + (" (see Runs)" if n.get("partial", 0) + n.get("missing", 0) else ""),
    ]
    if ctx.baseline:
        items.append(f"Baseline for speedups: `{ctx.baseline}`")
    blocks: list = [items]
    if len(s.events):
        metric = "test" if ctx.has_test else "valid"
        fin = stats.final_table_across_benchmarks(stats.final_values(ctx.curves), f"{metric}_nregret")
        if fin["best"].any():
            best = fin.loc[fin["best"]].iloc[0]
            blocks.append(
                f"Lowest median final normalized {ctx.label(metric)} regret across benchmarks: "
                f"**{best['method']}** ({fmt(best['median'])}); see Final performance."
            )
    if not len(s.events):
        blocks.append("**No complete run holds a finished evaluation, so there is nothing to analyse yet.**")
    return Section("Summary", blocks)


def runs_section(ctx: ReportContext) -> Section:
    """Complete runs per method and benchmark, and the partial and missing ones grouped by reason."""
    runs = ctx.study.runs
    count = runs.assign(ok=runs["status"] == "complete").groupby(["method", "benchmark"])["ok"]
    cell = (
        (count.sum().astype(int).astype(str) + "/" + count.size().astype(str))
        .unstack("benchmark")
        .fillna("0/0")
    )
    cell.index.name = "method"
    blocks: list = [
        ctx.table(
            "runs",
            cell,
            "Complete runs out of the runs the study's grid implies "
            "(every benchmark × method × seed that appears anywhere in the study).",
            data=runs.assign(path=runs["path"].map(lambda p: relative_path(p, ctx.study.root))),
        )
    ]
    bad = runs[runs["status"] != "complete"]
    if len(bad):
        cols = ["benchmark", "method", "seed", "status", "n_events", "note"]
        grouped = (
            bad[cols]
            .assign(note=bad["note"].fillna(""))
            .groupby(["benchmark", "method", "status", "note"], sort=True, dropna=False)
            .agg(seeds=("seed", _seed_ranges), runs=("seed", "size"), n_events=("n_events", "sum"))
            .reset_index()
        )
        disp = grouped[["benchmark", "method", "seeds", "runs", "status", "n_events", "note"]].set_index(
            "benchmark"
        )
        blocks.append(
            f"**{len(bad)} run(s) are partial or missing; they are left out of every figure and "
            "table below** (a partial run has no `meta.json`, or a bad one)."
        )
        blocks.append(
            ctx.table(
                "incomplete_runs",
                disp,
                "Partial and missing runs, grouped by benchmark, method, status and reason "
                "(the CSV lists every run).",
                data=bad[cols],
            )
        )
    else:
        blocks.append(f"All {len(runs)} runs are complete.")
    empty = runs[(runs["status"] == "complete") & (runs["n_events"] - runs["n_failed"] <= 0)]
    if len(empty):
        blocks.append(
            f"{len(empty)} complete run(s) hold no evaluation with a finite validation value; "
            "their regret is undefined (NaN) throughout."
        )
    failed = int(runs.loc[runs["status"] == "complete", "n_failed"].sum())
    if failed:
        blocks.append(
            f"{failed} evaluation(s) of complete runs have no finite validation value (status other "
            "than `ok`, e.g. diverged); they never become incumbents."
        )
    return Section("Runs", blocks)


def conventions_section(ctx: ReportContext) -> Section:
    """How incumbents, regret, normalized regret, time and bands are defined in this report."""
    srcs = {t.valid.range_source for t in ctx.study.tasks.values()}
    return Section(
        "Conventions",
        [
            [
                "Incumbent at simulated time t: the evaluation with the best validation value "
                "among those finished by t "
                "(any fidelity); a later one replaces it only when strictly better. Evaluations without a finite "
                "validation value never become incumbents.",
                "Test regret always uses the test value of the validation incumbent, never the best test value seen.",
                "Regret = sign · (y_incumbent − y*), with y* the benchmark's optimum "
                "(the best value it holds, recorded "
                "by the runner) and sign +1 to minimize, −1 to maximize: 0 is optimal, lower is better.",
                "Normalized regret = regret / |y_ref − y_best|, with the range fixed per benchmark and metric. The "
                "reference y_ref is the median value at the maximum fidelity over the table's configurations and "
                "seeds (for a surrogate, over a fixed sample): normalized regret 1 is a typical random "
                "configuration, 0 the optimum, and values above 1 are possible. Results recorded before this "
                "convention (reference = the worst value at the maximum fidelity, a divergence on FCNet that made "
                "its normalized regrets 1e-5 … 1e-9) are recomputed from the benchmark when it loads here with the "
                "same checksum; otherwise the Benchmarks table names the convention each benchmark uses. Range: the "
                "benchmark's value range recorded with the runs"
                + (
                    " or, where it was not recorded, the range over all runs of this study (see Benchmarks)."
                    if "study" in srcs
                    else "."
                )
                + (
                    " See Benchmarks for where each range comes from."
                    if any(s.startswith("runner, ") for s in srcs)
                    else ""
                ),
                "Time is the simulated clock of the runs, in seconds, shown on a log scale. Averages across benchmarks "
                "use the fraction of each benchmark's time horizon: its time budget, else the latest end of any of its "
                "runs. A run that stopped early keeps its last incumbent until the horizon.",
                "Before a run's first finished evaluation its regret is undefined; "
                "a mean over seeds is drawn only where "
                "every seed has a value.",
                "Bands: ± one standard error of the mean over seeds (std with ddof = 1 / √n); none with one seed.",
                "Partial runs (no meta.json, or a mismatching events checksum) and missing runs are listed under Runs "
                "and left out of every statistic.",
                f"Grid: {len(ctx.grid)} log-spaced budget fractions from {fmt(float(ctx.grid[0]))} to 1.",
            ]
        ],
    )


def benchmarks_section(ctx: ReportContext) -> Section:
    """Per benchmark: its objectives, the references of regret and the time horizon, with where each comes from."""
    rows = []
    for b, t in sorted(ctx.study.tasks.items()):
        for kind, m in (("validation", t.valid), ("test", t.test)):
            if m is None:
                continue
            rows.append(
                {
                    "benchmark": b,
                    "metric": kind,
                    "name": m.name,
                    "direction": m.direction,
                    "optimum": fmt(m.optimum),
                    "best": fmt(m.best),
                    "worst": fmt(m.worst),
                    "optimum from": _source(m.optimum_source),
                    "range from": _source(m.range_source),
                    "range convention": convention_label(m.convention),
                    "horizon": fmt_seconds(t.horizon),
                    "horizon from": t.horizon_source,
                }
            )
    if not rows:
        return Section("Benchmarks", ["No benchmark has a complete run."])
    df = pd.DataFrame(rows).set_index("benchmark")
    return Section(
        "Benchmarks",
        [
            ctx.table(
                "benchmarks",
                df,
                "Objectives, the references of regret, and the time horizon of each benchmark.",
            )
        ],
    )


def _source(src: str) -> str:
    """Where a reference came from, in the report's words."""
    return {"meta": "runner", "study": "this study's runs"}.get(
        src, src.replace("study", "this study's runs")
    )


def _seed_ranges(seeds: pd.Series) -> str:
    """Seeds as compact ranges: 0-4, 7, 9."""
    vals = sorted(int(v) for v in seeds)
    parts: list[str] = []
    start = prev = vals[0]
    for v in vals[1:] + [None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(parts)
