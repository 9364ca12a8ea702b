"""Report sections on how the methods perform: regret over time, averages, final tables, speedup, ranks, scaling."""

from __future__ import annotations

import pandas as pd

from .. import plots, stats
from ..render import Section, fmt, fmt_seconds
from .context import BASELINE_ALIASES, ReportContext


def over_time_section(ctx: ReportContext) -> Section:
    """Regret of the incumbent over simulated time, one panel per benchmark, one figure per metric."""
    blocks: list = []
    for metric in ctx.metrics:
        col = f"{metric}_regret"
        summ = stats.summarize_curves(ctx.curves, col)
        if summ["mean"].notna().sum() == 0:
            continue
        per = {b: summ[summ["benchmark"] == b] for b in ctx.study.benchmarks}
        names = {b: f"{b}" for b in per}
        name_of = {
            b: (t.valid.name if metric == "valid" else (t.test.name if t.test else "?"))
            for b, t in ctx.study.tasks.items()
        }
        ylab = f"{ctx.label(metric)} regret"
        markers = {}
        if metric == "valid":
            for b in per:
                exp = ctx.rs_expected(b)
                if exp is not None:
                    markers[b] = (
                        ctx.study.tasks[b].horizon,
                        float(exp[0][-1]),
                        "rs, exact expected final regret",
                    )
        fig = plots.regret_over_time(
            per,
            ctx.palette,
            x="t",
            ylabel=ylab,
            titles=names,
            xlabel="simulated time (s)",
            markers=markers,
        )
        objs = ", ".join(f"`{b}`: {name_of[b]}" for b in per)
        blocks.append(
            ctx.figure(
                fig,
                f"regret_{metric}_per_benchmark",
                f"{ctx.label(metric).capitalize()} regret of the incumbent over simulated "
                f"time, mean over seeds ± one standard error ({objs}). "
                + ("Test values are those of the validation incumbent." if metric == "test" else "")
                + (
                    " Black star: random search's exact expected final regret on the table (order statistics; "
                    "see the section on random search)."
                    if metric == "valid" and ctx.baseline
                    else ""
                ),
            )
        )
    return Section("Regret over time per benchmark", blocks)


def aggregate_section(ctx: ReportContext) -> Section:
    """Normalized regret and average rank over the fraction of the time budget, averaged over benchmarks."""
    blocks: list = []
    panels, ranks = {}, {}
    for metric in ctx.metrics:
        summ = stats.summarize_curves(ctx.curves, f"{metric}_nregret")
        common = stats.common_benchmarks(summ)
        panels[f"{ctx.label(metric)} (normalized)"] = stats.aggregate_over_benchmarks(summ)
        ranks[f"{ctx.label(metric)} regret"] = stats.ranks_over_time(summ)
    left_out = sorted(set(ctx.study.benchmarks) - set(common))
    n_b = len(common)
    if n_b == 0:  # no figure rather than empty axes
        return Section(
            "Averaged over benchmarks",
            [
                "No average: no benchmark has complete runs of every method. The per-benchmark figures above "
                "show what there is."
            ],
        )
    fig = plots.regret_over_time(
        panels,
        ctx.palette,
        x="frac",
        ylabel="normalized regret",
        titles={k: k.capitalize() for k in panels},
        xlabel="fraction of the time budget",
    )
    blocks.append(
        ctx.figure(
            fig,
            "nregret_over_time",
            f"Normalized regret averaged over {n_b} benchmark(s), at the same fraction of each "
            "benchmark's time horizon; band: ± one standard error (the per-benchmark standard "
            "errors over seeds combined as independent).",
        )
    )
    if len(ctx.study.methods) > 1:  # one method has rank 1 throughout: nothing to draw
        fig = plots.rank_over_time(
            ranks, ctx.palette, xlabel="fraction of the time budget", n_methods=len(ctx.study.methods)
        )
        blocks.append(
            ctx.figure(
                fig,
                "rank_over_time",
                f"Average rank over {n_b} benchmark(s) (rank of the mean over seeds at each time; "
                "ties share the average rank; no result yet ranks last).",
            )
        )
    if left_out:
        blocks.append(
            "Left out of these averages because some method has no complete run there: "
            + ", ".join(f"`{b}`" for b in left_out)
            + "."
        )
    return Section("Averaged over benchmarks", blocks)


def final_section(ctx: ReportContext) -> Section:
    """Final regret per benchmark and across benchmarks: median and quartiles over seeds, with tests against
    the best."""
    finals = stats.final_values(ctx.curves)
    blocks: list = [
        f"Values at the end of each benchmark's time horizon: median [25%, 75%] over seeds. "
        f"**Bold**: the best median. `*`: significantly worse than the best "
        f"(two-sided Wilcoxon rank-sum test over seeds, p < {ctx.opts.alpha}; seeds of different "
        "methods are independent runs). Columns `all`: the mean over seeds per benchmark of the "
        "normalized regret, then median [quartiles] over benchmarks, tested against the best with the "
        "two-sided Wilcoxon signed-rank test (paired by benchmark)."
    ]
    for metric in ctx.metrics:
        per = stats.final_table(finals, f"{metric}_regret")
        per = per.assign(worse=per["p_vs_best"] < ctx.opts.alpha)
        agg = stats.final_table_across_benchmarks(finals, f"{metric}_nregret")
        agg = agg.assign(worse=agg["p_vs_best"] < ctx.opts.alpha)
        both = pd.concat([per, agg.assign(benchmark="all (normalized)")], ignore_index=True)
        disp = both.assign(cell=[_quartile_cell(r) for r in both.itertuples()])
        disp = disp.pivot(index="method", columns="benchmark", values="cell").fillna("–")
        disp = disp[[*sorted(per["benchmark"].unique()), "all (normalized)"]]
        disp.columns.name = None
        blocks.append(
            ctx.table(
                f"final_{metric}",
                disp,
                f"Final {ctx.label(metric)} regret (raw per benchmark, normalized in `all`).",
                data=both,
            )
        )
    return Section("Final performance", blocks)


def speedup_section(ctx: ReportContext) -> Section:
    """Speedup over the baseline (random search) in time to reach its final mean incumbent."""
    if ctx.baseline is None:
        return Section(
            "Speedup over random search",
            [
                f"Not computed: no optimizer named `{ctx.opts.baseline}` (or a random-search alias: "
                f"{', '.join(BASELINE_ALIASES)}) in this study; pass `baseline=NAME` to choose one."
            ],
        )
    table = stats.speedup_table(ctx.study, ctx.steps, ctx.baseline)
    summ = stats.speedup_summary(table)
    cells = (
        table.assign(
            cell=[
                (f"{r.speedup:.2f}×" if r.reached else f"< {r.speedup_below:.2f}× (not reached)")
                for r in table.itertuples()
            ]
        )
        .pivot(index="method", columns="benchmark", values="cell")
        .fillna("–")
    )
    cells.columns.name = None
    geo = summ.set_index("method")
    cells["geometric mean"] = [
        f"{geo.at[m, 'geomean']:.2f}× ({geo.at[m, 'n_reached']}/{geo.at[m, 'n_benchmarks']})"
        if m in geo.index and geo.at[m, "n_reached"]
        else "–"
        for m in cells.index
    ]
    return Section(
        "Speedup over random search",
        [
            f"Target: the final mean validation incumbent of `{ctx.baseline}` (over its seeds) on each benchmark. "
            f"Speedup = time `{ctx.baseline}` needs to reach it / time the method needs (both on the mean incumbent "
            "curve over seeds, exactly, not on the plotting grid; a method compares with the baseline run with the "
            "same number of workers). `< x (not reached)`: the method never reached the target within the horizon, "
            "so its speedup is below x = baseline time / horizon. Geometric mean over the benchmarks where the target "
            "was reached (how many in brackets).",
            ctx.table("speedup", cells, "Speedup over random search (higher is better).", data=table),
        ],
    )


def cd_section(ctx: ReportContext) -> Section:
    """Critical-difference diagrams (Friedman, then Nemenyi) at fixed fractions of the time budget."""
    methods = ctx.study.methods
    blocks: list = [
        f"Friedman test, then the Nemenyi post-hoc test (α = {ctx.opts.alpha}), on the normalized "
        "regret at fixed fractions of each benchmark's time horizon, computed with autorank. "
        "Methods joined by a bar are not significantly different; lower rank is better."
    ]
    if len(methods) < 3:
        blocks.append(
            f"Not drawn: a critical-difference diagram needs at least 3 methods, this study has "
            f"{len(methods)}."
        )
        return Section("Critical differences", blocks)
    rows = []
    for metric in ctx.metrics:
        for frac in stats.nearest_fractions(ctx.opts.fractions, ctx.grid):
            data, note = stats.cd_blocks(ctx.curves, f"{metric}_nregret", frac)
            tag = f"{ctx.label(metric)}, {frac:.0%} of the budget"
            try:
                res = stats.critical_difference(data, ctx.opts.alpha)
            except ValueError as e:
                blocks.append(f"{tag.capitalize()}: not drawn ({e}; {note}).")
                continue
            verdict = "significant" if res.pvalue < ctx.opts.alpha else "not significant"
            name = f"cd_{metric}_{frac:.3g}".replace(".", "p")
            blocks.append(
                ctx.figure(
                    plots.cd_diagram(res, tag.capitalize()),
                    name,
                    f"{tag.capitalize()}: Friedman p = {fmt(res.pvalue)} ({verdict}), critical "
                    f"difference {fmt(res.cd)}; {note}.",
                    half=True,
                )
            )
            for m, r in res.rankdf.iterrows():
                rows.append(
                    {
                        "metric": metric,
                        "fraction": frac,
                        "method": m,
                        "mean_rank": r["meanrank"],
                        "friedman_p": res.pvalue,
                        "cd": res.cd,
                        "n_blocks": len(data),
                    }
                )
    if rows:
        df = pd.DataFrame(rows)
        disp = df.assign(col=df["metric"].map(ctx.label) + " @ " + df["fraction"].map(lambda f: f"{f:.3g}"))
        disp = disp.pivot(index="method", columns="col", values="mean_rank").map(lambda x: f"{x:.2f}")
        disp.columns.name = None
        blocks.append(ctx.table("cd_ranks", disp, "Mean ranks behind the diagrams.", data=df))
    return Section("Critical differences", blocks)


def scaling_section(ctx: ReportContext) -> Section:
    """Time to a target regret against the number of workers (only when the study varies them)."""
    table = stats.scaling_table(ctx.study, ctx.steps)
    blocks: list = [
        "Time to a target regret versus the number of workers. The target, per benchmark and optimizer, is the "
        "final mean validation incumbent of that optimizer's runs with the fewest workers; each worker count's "
        "time is the first time its mean incumbent curve (over seeds) reaches it. Speedup = time with the fewest "
        "workers / time with w workers; the dashed line is linear scaling."
    ]
    if not len(table):
        blocks.append(
            "Not computed: no optimizer was run with more than one worker count on the same benchmark."
        )
        return Section("Parallel scaling", blocks)
    summ = stats.scaling_summary(table)
    opt_colors = {
        o: ctx.palette.color[m]
        for m, o in ctx.study.runs[["method", "optimizer"]].drop_duplicates().itertuples(index=False)
        if m in ctx.palette.color
    }
    blocks.append(
        ctx.figure(
            plots.scaling(summ, table, opt_colors),
            "parallel_scaling",
            "Parallel speedup in time to target; thin markers: single benchmarks, line: "
            "geometric mean over benchmarks that reached the target.",
        )
    )
    disp = table.assign(
        row=table["optimizer"] + " × " + table["n_workers"].astype(str),
        cell=[
            f"{fmt_seconds(r.time)} ({r.speedup:.2f}×)" if r.time == r.time else "not reached"
            for r in table.itertuples()
        ],
    )
    disp = disp.pivot(index="row", columns="benchmark", values="cell").fillna("–")
    disp.index.name, disp.columns.name = "optimizer × workers", None
    blocks.append(
        ctx.table("parallel_scaling", disp, "Time to target (speedup over the fewest workers).", data=table)
    )
    return Section("Parallel scaling", blocks)


def cross_section(ctx: ReportContext) -> Section:
    """Mean ranks within benchmarks and geometric-mean ratios to the baseline across benchmarks."""
    metric = ctx.headline
    blocks: list = [
        "Summaries that no single benchmark can dominate: ranks are taken within each benchmark (so its scale "
        "does not matter), and ratios to random search are averaged geometrically. Both use the benchmarks on "
        "which every method has complete runs."
    ]
    if not stats.common_benchmarks(stats.summarize_curves(ctx.curves, f"{metric}_regret")):
        blocks.append("No summary: no benchmark has complete runs of every method.")
        return Section("Cross-benchmark summary", blocks)
    rows = []
    for met in ctx.metrics:
        summ = stats.summarize_curves(ctx.curves, f"{met}_regret")
        r = stats.ranks_at(summ, ctx.opts.fractions)
        # the metric named in each row: the CSV holds one block per metric (validation, test)
        r = r.assign(metric=met, col=f"{ctx.label(met)} @ " + r["frac"].map(lambda f: f"{f:.3g}"))
        rows.append(r)
    ranks = pd.concat(rows, ignore_index=True)
    disp = ranks.pivot(index="method", columns="col", values="rank")
    final_col = f"{ctx.label(metric)} @ 1"
    disp = disp.sort_values(final_col) if final_col in disp else disp
    blocks.append(
        ctx.table(
            "mean_rank",
            disp.map(lambda x: f"{x:.2f}"),
            f"Mean rank over {int(ranks['n_benchmarks'].max()) if len(ranks) else 0} benchmark(s) at fractions of "
            "the time horizon (1 = final); per benchmark the methods are ranked by their mean regret over seeds "
            "(ties share the average rank). Sorted by the final rank.",
            data=ranks[["metric", "method", "frac", "rank", "n_benchmarks"]],
        )
    )
    if ctx.baseline is None:
        blocks.append("No ratio to random search: the study has no random search (pass `baseline=NAME`).")
        return Section("Cross-benchmark summary", blocks)
    finals = stats.final_values(ctx.curves)
    base_of = stats.baselines_by_workers(
        ctx.study, ctx.baseline
    )  # each method against rs at its worker count
    bases = sorted(set(base_of.values()))
    base_m = (
        bases[0]
        if len(bases) == 1
        else f"{ctx.baseline}` at the method's worker count (`{'`, `'.join(bases)}"
    )
    ratios = stats.ratio_to_baseline(finals, f"{metric}_nregret", base_of)
    geo = stats.geomean_ratio(ratios)
    cells = ratios.pivot(index="method", columns="benchmark", values="ratio").map(lambda x: fmt(x))
    cells.columns.name = None
    g = geo.set_index("method")
    cells["geometric mean"] = [
        f"{g.at[m, 'geomean']:.3g} ({g.at[m, 'n_better']} better, {g.at[m, 'n_worse']} worse of "
        f"{g.at[m, 'n_benchmarks']})"
        if m in g.index and g.at[m, "geomean"] == g.at[m, "geomean"]
        else "–"
        for m in cells.index
    ]
    order = geo.sort_values(["geomean", "method"])["method"].tolist()
    cells = cells.reindex([m for m in order if m in cells.index] + [m for m in cells.index if m not in order])
    blocks.append(
        ctx.table(
            "ratio_to_rs",
            cells,
            f"Final {ctx.label(metric)} regret relative to `{base_m}`: per benchmark, the median over seeds of "
            f"the method's normalized regret / the median of its baseline's (each floored at "
            f"{stats.RATIO_FLOOR:g}, so that a regret of 0 has a ratio); below 1 is better. Last column: the "
            "geometric mean over benchmarks (`scipy.stats.gmean`) and on how many benchmarks the ratio is below "
            "/ above 1. Sorted by the geometric mean.",
            data=ratios,
        )
    )
    return Section("Cross-benchmark summary", blocks)


def _quartile_cell(r) -> str:
    """One cell of a final table: median [quartiles], bold for the best, ``*`` when significantly worse."""
    if r.n_finite == 0:
        return "–"
    s = f"{fmt(r.median)} [{fmt(r.q25)}, {fmt(r.q75)}]"
    if r.best:
        s = f"**{s}**"
    if r.n_finite < r.n:
        s += f" ({r.n_finite}/{r.n} runs)"
    return s + (" *" if r.worse else "")
