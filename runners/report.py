"""Build the report of a study: figures, tables and one self-contained HTML page.

Command line (``make report STUDY=name`` runs the first form)::

    python -m runners.report study=NAME [results_root=results] [out=reports/NAME]
        [baseline=rs] [fractions=0.1,0.5,1] [grid=200] [alpha=0.05]
    python -m runners.report study_dir=PATH out=PATH

From Python (``make bench`` does this after its runs)::

    from runners.report import build_report
    index_html = build_report("results/bench", "reports/bench")

The output folder holds ``index.html`` (open it in any browser, offline),
``report.md``, ``figures/*.png|svg``, ``tables/*.csv|md`` and ``report.json``
(what was built, from which runs, with which conventions). An existing output
folder is replaced only when it is itself a report (it holds ``report.json``).
See docs/report.md for every convention.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.io import atomic_dir, atomic_write_json, atomic_write_text, code_version, utc_now
from runners.analysis import plots, stats, validity
from runners.analysis import trajectory as tr
from runners.analysis.adastop import adastop_section
from runners.analysis.load import Study, convention_label, load_benchmark, load_study
from runners.analysis.render import (
    FigureBlock,
    Section,
    TableBlock,
    fmt,
    fmt_seconds,
    render_html,
    render_markdown,
    write_table,
)

MARKER = "report.json"
BASELINE_ALIASES = ("rs", "random_search", "random-search", "randomsearch", "random")


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of a report; the defaults are the project's conventions."""

    baseline: str = "rs"
    fractions: tuple[float, ...] = (0.1, 0.5, 1.0)
    grid: int = 200
    alpha: float = 0.05
    progress: bool = False

    def __post_init__(self) -> None:
        if not self.fractions or any(not (0 < f <= 1) for f in self.fractions):
            raise ValueError(f"fractions={self.fractions!r}: each must be in (0, 1]")
        if self.grid < 2:
            raise ValueError(f"grid={self.grid!r}: need at least 2 points")
        if not (0 < self.alpha < 1):
            raise ValueError(f"alpha={self.alpha!r}: must be in (0, 1)")


def build_report(
    study_dir: str | Path, out_dir: str | Path, options: ReportOptions | None = None, **kw: Any
) -> Path:
    """Read the study under ``study_dir``, write its report into ``out_dir``, return the path of ``index.html``.

    Keyword arguments are :class:`ReportOptions` fields. The report is built in
    a temporary folder and moved into place in one step.
    """
    opts = options or ReportOptions(**kw)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise FileExistsError(
            f"{out_dir} exists and is not a CurveBench report (no {MARKER}); refusing to replace it"
        )
    study = load_study(study_dir, progress=opts.progress)
    with atomic_dir(out_dir, overwrite=True) as tmp:
        _Builder(study, tmp, opts).build()
    return out_dir / "index.html"


# ---------------------------------------------------------------- the report
class _Builder:
    def __init__(self, study: Study, out: Path, opts: ReportOptions) -> None:
        self.study, self.out, self.opts = study, out, opts
        (out / "figures").mkdir(parents=True)
        (out / "tables").mkdir()
        self.baseline = _resolve_baseline(study, opts.baseline)
        self.palette = plots.Palette.for_methods(study.complete_runs(), self.baseline)
        self.steps = tr.all_steps(study)
        grid = tr.log_fraction_grid(study, self.steps, opts.grid)
        self.grid = np.unique(np.concatenate([grid, [f for f in opts.fractions if f >= grid[0]]]))
        self.curves = tr.regret_curves(study, self.steps, self.grid)
        self.has_test = any(t.test is not None for t in study.tasks.values())
        self.metrics = ["valid", "test"] if self.has_test else ["valid"]
        self.written: dict[str, list[str]] = {"figures": [], "tables": []}
        self._tables: dict[str, dict | None] = {}
        self._cross: dict[str, pd.DataFrame] = {}
        self._order: pd.DataFrame | None = None

    # ------------------------------------------------------------ helpers
    def figure(self, fig, name: str, caption: str, half: bool = False) -> FigureBlock:
        plots.save_figure(fig, self.out / "figures", name)
        self.written["figures"].append(name)
        return FigureBlock(name, caption, half)

    def table(
        self, name: str, display: pd.DataFrame, caption: str, data: pd.DataFrame | None = None
    ) -> TableBlock:
        t = TableBlock(name, display, caption, data)
        write_table(t, self.out)
        self.written["tables"].append(name)
        return t

    def label(self, metric: str) -> str:
        return "validation" if metric == "valid" else "test"

    # ------------------------------------------------------------ build
    def build(self) -> None:
        s = self.study
        sections = [self.runs_section()]
        if len(s.events):
            sections += [
                self.over_time_section(),
                self.aggregate_section(),
                self.cross_section(),
                self.final_section(),
                self.speedup_section(),
                self.cd_section(),
            ]
            if s.varies_workers:
                sections.append(self.scaling_section())
            sections += [self.rs_expected_section(), self.repeats_section(), self.validity_section()]
        adaptive = adastop_section(s.root, self.table, self.opts.alpha)
        if adaptive is not None:
            sections.append(adaptive)
        sections += [self.conventions_section(), self.tasks_section()]
        sections.insert(0, self.summary_section())
        title = f"CurveBench study report: {s.name}"
        meta_line = (
            f"Generated {utc_now()} by CurveBench {code_version()} from the results of study `{s.name}`."
        )
        atomic_write_text(self.out / "report.md", render_markdown(title, meta_line, sections))
        atomic_write_text(self.out / "index.html", render_html(title, meta_line, sections, self.out))
        runs = s.runs.assign(path=s.runs["path"].map(lambda p: _relative(p, s.root)))
        atomic_write_json(
            self.out / MARKER,
            {
                "format": "curvebench-report",
                "format_version": 1,
                "study": s.name,
                "generated_utc": utc_now(),
                "code_version": code_version(),
                "options": {**self.opts.__dict__, "baseline": self.baseline},
                "benchmarks": s.benchmarks,
                "methods": s.methods,
                **self.written,
                "runs": json.loads(runs.to_json(orient="records")),
            },
        )

    # ------------------------------------------------------------ sections
    def summary_section(self) -> Section:
        s, runs = self.study, self.study.runs
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
        if self.baseline:
            items.append(f"Baseline for speedups: `{self.baseline}`")
        blocks: list = [items]
        if len(s.events):
            metric = "test" if self.has_test else "valid"
            fin = stats.final_table_across_benchmarks(stats.final_values(self.curves), f"{metric}_nregret")
            if fin["best"].any():
                best = fin.loc[fin["best"]].iloc[0]
                blocks.append(
                    f"Lowest median final normalized {self.label(metric)} regret across benchmarks: "
                    f"**{best['method']}** ({fmt(best['median'])}); see Final performance."
                )
        if not len(s.events):
            blocks.append(
                "**No complete run holds a finished evaluation, so there is nothing to analyse yet.**"
            )
        return Section("Summary", blocks)

    def runs_section(self) -> Section:
        runs = self.study.runs
        count = runs.assign(ok=runs["status"] == "complete").groupby(["method", "benchmark"])["ok"]
        cell = (
            (count.sum().astype(int).astype(str) + "/" + count.size().astype(str))
            .unstack("benchmark")
            .fillna("0/0")
        )
        cell.index.name = "method"
        blocks: list = [
            self.table(
                "runs",
                cell,
                "Complete runs out of the runs the study's grid implies "
                "(every benchmark × method × seed that appears anywhere in the study).",
                data=runs.assign(path=runs["path"].map(lambda p: _relative(p, self.study.root))),
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
                self.table(
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

    def over_time_section(self) -> Section:
        blocks: list = []
        for metric in self.metrics:
            col = f"{metric}_regret"
            summ = stats.summarize_curves(self.curves, col)
            if summ["mean"].notna().sum() == 0:
                continue
            per = {b: summ[summ["benchmark"] == b] for b in self.study.benchmarks}
            names = {b: f"{b}" for b in per}
            name_of = {
                b: (t.valid.name if metric == "valid" else (t.test.name if t.test else "?"))
                for b, t in self.study.tasks.items()
            }
            ylab = f"{self.label(metric)} regret"
            markers = {}
            if metric == "valid":
                for b in per:
                    exp = self.rs_expected(b)
                    if exp is not None:
                        markers[b] = (
                            self.study.tasks[b].horizon,
                            float(exp[0][-1]),
                            "rs, exact expected final regret",
                        )
            fig = plots.regret_over_time(
                per,
                self.palette,
                x="t",
                ylabel=ylab,
                titles=names,
                xlabel="simulated time (s)",
                markers=markers,
            )
            objs = ", ".join(f"`{b}`: {name_of[b]}" for b in per)
            blocks.append(
                self.figure(
                    fig,
                    f"regret_{metric}_per_benchmark",
                    f"{self.label(metric).capitalize()} regret of the incumbent over simulated "
                    f"time, mean over seeds ± one standard error ({objs}). "
                    + ("Test values are those of the validation incumbent." if metric == "test" else "")
                    + (
                        " Black star: random search's exact expected final regret on the table (order statistics; "
                        "see the section on random search)."
                        if metric == "valid" and self.baseline
                        else ""
                    ),
                )
            )
        return Section("Regret over time per benchmark", blocks)

    def aggregate_section(self) -> Section:
        blocks: list = []
        panels, ranks = {}, {}
        for metric in self.metrics:
            summ = stats.summarize_curves(self.curves, f"{metric}_nregret")
            common = stats.common_benchmarks(summ)
            panels[f"{self.label(metric)} (normalized)"] = stats.aggregate_over_benchmarks(summ)
            ranks[f"{self.label(metric)} regret"] = stats.ranks_over_time(summ)
        left_out = sorted(set(self.study.benchmarks) - set(common))
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
            self.palette,
            x="frac",
            ylabel="normalized regret",
            titles={k: k.capitalize() for k in panels},
            xlabel="fraction of the time budget",
        )
        blocks.append(
            self.figure(
                fig,
                "nregret_over_time",
                f"Normalized regret averaged over {n_b} benchmark(s), at the same fraction of each "
                "benchmark's time horizon; band: ± one standard error (the per-benchmark standard "
                "errors over seeds combined as independent).",
            )
        )
        if len(self.study.methods) > 1:  # one method has rank 1 throughout: nothing to draw
            fig = plots.rank_over_time(
                ranks, self.palette, xlabel="fraction of the time budget", n_methods=len(self.study.methods)
            )
            blocks.append(
                self.figure(
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

    def final_section(self) -> Section:
        finals = stats.final_values(self.curves)
        blocks: list = [
            f"Values at the end of each benchmark's time horizon: median [25%, 75%] over seeds. "
            f"**Bold**: the best median. `*`: significantly worse than the best "
            f"(two-sided Wilcoxon rank-sum test over seeds, p < {self.opts.alpha}; seeds of different "
            "methods are independent runs). Columns `all`: the mean over seeds per benchmark of the "
            "normalized regret, then median [quartiles] over benchmarks, tested against the best with the "
            "two-sided Wilcoxon signed-rank test (paired by benchmark)."
        ]
        for metric in self.metrics:
            per = stats.final_table(finals, f"{metric}_regret")
            per = per.assign(worse=per["p_vs_best"] < self.opts.alpha)
            agg = stats.final_table_across_benchmarks(finals, f"{metric}_nregret")
            agg = agg.assign(worse=agg["p_vs_best"] < self.opts.alpha)
            both = pd.concat([per, agg.assign(benchmark="all (normalized)")], ignore_index=True)
            disp = both.assign(cell=[_quartile_cell(r) for r in both.itertuples()])
            disp = disp.pivot(index="method", columns="benchmark", values="cell").fillna("–")
            disp = disp[[*sorted(per["benchmark"].unique()), "all (normalized)"]]
            disp.columns.name = None
            blocks.append(
                self.table(
                    f"final_{metric}",
                    disp,
                    f"Final {self.label(metric)} regret (raw per benchmark, normalized in `all`).",
                    data=both,
                )
            )
        return Section("Final performance", blocks)

    def speedup_section(self) -> Section:
        if self.baseline is None:
            return Section(
                "Speedup over random search",
                [
                    f"Not computed: no optimizer named `{self.opts.baseline}` (or a random-search alias: "
                    f"{', '.join(BASELINE_ALIASES)}) in this study; pass `baseline=NAME` to choose one."
                ],
            )
        table = stats.speedup_table(self.study, self.steps, self.baseline)
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
                f"Target: the final mean validation incumbent of `{self.baseline}` (over its seeds) on each benchmark. "
                f"Speedup = time `{self.baseline}` needs to reach it / time the method needs (both on the mean incumbent "
                "curve over seeds, exactly, not on the plotting grid; a method compares with the baseline run with the "
                "same number of workers). `< x (not reached)`: the method never reached the target within the horizon, "
                "so its speedup is below x = baseline time / horizon. Geometric mean over the benchmarks where the target "
                "was reached (how many in brackets).",
                self.table("speedup", cells, "Speedup over random search (higher is better).", data=table),
            ],
        )

    def cd_section(self) -> Section:
        methods = self.study.methods
        blocks: list = [
            f"Friedman test, then the Nemenyi post-hoc test (α = {self.opts.alpha}), on the normalized "
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
        for metric in self.metrics:
            for frac in stats.nearest_fractions(self.opts.fractions, self.grid):
                data, note = stats.cd_blocks(self.curves, f"{metric}_nregret", frac)
                tag = f"{self.label(metric)}, {frac:.0%} of the budget"
                try:
                    res = stats.critical_difference(data, self.opts.alpha)
                except ValueError as e:
                    blocks.append(f"{tag.capitalize()}: not drawn ({e}; {note}).")
                    continue
                verdict = "significant" if res.pvalue < self.opts.alpha else "not significant"
                name = f"cd_{metric}_{frac:.3g}".replace(".", "p")
                blocks.append(
                    self.figure(
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
            disp = df.assign(
                col=df["metric"].map(self.label) + " @ " + df["fraction"].map(lambda f: f"{f:.3g}")
            )
            disp = disp.pivot(index="method", columns="col", values="mean_rank").map(lambda x: f"{x:.2f}")
            disp.columns.name = None
            blocks.append(self.table("cd_ranks", disp, "Mean ranks behind the diagrams.", data=df))
        return Section("Critical differences", blocks)

    def scaling_section(self) -> Section:
        table = stats.scaling_table(self.study, self.steps)
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
            o: self.palette.color[m]
            for m, o in self.study.runs[["method", "optimizer"]].drop_duplicates().itertuples(index=False)
            if m in self.palette.color
        }
        blocks.append(
            self.figure(
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
            self.table(
                "parallel_scaling", disp, "Time to target (speedup over the fewest workers).", data=table
            )
        )
        return Section("Parallel scaling", blocks)

    def conventions_section(self) -> Section:
        srcs = {t.valid.range_source for t in self.study.tasks.values()}
        return Section(
            "Conventions",
            [
                [
                    "Incumbent at simulated time t: the evaluation with the best validation value among those finished by t "
                    "(any fidelity); a later one replaces it only when strictly better. Evaluations without a finite "
                    "validation value never become incumbents.",
                    "Test regret always uses the test value of the validation incumbent, never the best test value seen.",
                    "Regret = sign · (y_incumbent − y*), with y* the benchmark's optimum (the best value it holds, recorded "
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
                    "Before a run's first finished evaluation its regret is undefined; a mean over seeds is drawn only where "
                    "every seed has a value.",
                    "Bands: ± one standard error of the mean over seeds (std with ddof = 1 / √n); none with one seed.",
                    "Partial runs (no meta.json, or a mismatching events checksum) and missing runs are listed under Runs "
                    "and left out of every statistic.",
                    f"Grid: {len(self.grid)} log-spaced budget fractions from {fmt(float(self.grid[0]))} to 1.",
                ]
            ],
        )

    def tasks_section(self) -> Section:
        rows = []
        for b, t in sorted(self.study.tasks.items()):
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
                self.table(
                    "benchmarks",
                    df,
                    "Objectives, the references of regret, and the time horizon of each benchmark.",
                )
            ],
        )

    # ------------------------------------------------------------ trustworthy comparisons
    @property
    def headline(self) -> str:
        """The metric cross-benchmark summaries and the validity checks use: test when the study has one."""
        return "test" if self.has_test else "valid"

    def table_data(self, bench: str) -> dict | None:
        """The benchmark's objective at the maximum fidelity and at Hyperband's rungs (loaded once), or None.

        None when the benchmark cannot be loaded here with the checksum its runs recorded. ``top``: losses
        (sign * value) at the maximum fidelity, (configurations, seeds); ``rungs``: fidelity -> losses;
        ``exhaustive``: whether the configurations are the benchmark's own (a table) or a fixed sample.
        """
        if bench not in self._tables:
            metas = [m for (b, _, _), m in self.study.metas.items() if b == bench]
            b = load_benchmark(bench, metas)
            out = None
            if b is not None:
                try:
                    from runners.results import max_fidelity_values

                    task = self.study.tasks[bench]
                    name, sign = task.valid.name, task.valid.sign
                    fids = validity.rung_fidelities(b.fidelity.values)
                    rungs = {f: sign * max_fidelity_values(b, name, f)[0] for f in fids}
                    top, how = max_fidelity_values(b, name)
                    out = {
                        "top": sign * top,
                        "rungs": rungs,
                        "exhaustive": how == "table",
                        "n_configs": top.shape[0],
                        "n_seeds": top.shape[1],
                    }
                except Exception as e:  # noqa: BLE001 - a benchmark that cannot answer: stated, not fatal
                    out = {"error": f"{type(e).__name__}: {e}"}
            self._tables[bench] = out
        return self._tables[bench]

    def baseline_runs(self, bench: str) -> pd.DataFrame:
        runs = self.study.complete_runs()
        return runs[(runs["benchmark"] == bench) & (runs["optimizer"] == self.baseline)]

    def rs_expected(self, bench: str) -> tuple[np.ndarray, bool] | None:
        """(exact expected validation regret after k = 1..n evaluations, drawn without replacement?) or None."""
        data = self.table_data(bench)
        base = self.baseline_runs(bench) if self.baseline else pd.DataFrame()
        if not data or "top" not in data or not data["exhaustive"] or not len(base):
            return None
        n = int(base["n_events"].max())
        if n < 1:
            return None
        cache = self.__dict__.setdefault("_rs_expected", {})
        if bench in cache:
            return cache[bench]
        metas = [self.study.metas.get((bench, m, sd)) or {} for m, sd in zip(base["method"], base["seed"])]
        without = any(validity.draws_without_replacement(m.get("optimizer_info")) for m in metas)
        task = self.study.tasks[bench]
        try:
            loss = validity.expected_rs_curve(data["top"], n, without_replacement=without)
        except validity.TooLargeForExact as e:
            self.__dict__.setdefault("_rs_skipped", {})[bench] = f"not computed: {e}"
            cache[bench] = None
            return None
        cache[bench] = (loss - task.valid.sign * task.valid.optimum, without)
        return cache[bench]

    def cross_section(self) -> Section:
        metric = self.headline
        blocks: list = [
            "Summaries that no single benchmark can dominate: ranks are taken within each benchmark (so its scale "
            "does not matter), and ratios to random search are averaged geometrically. Both use the benchmarks on "
            "which every method has complete runs."
        ]
        if not stats.common_benchmarks(stats.summarize_curves(self.curves, f"{metric}_regret")):
            blocks.append("No summary: no benchmark has complete runs of every method.")
            return Section("Cross-benchmark summary", blocks)
        rows = []
        for met in self.metrics:
            summ = stats.summarize_curves(self.curves, f"{met}_regret")
            r = stats.ranks_at(summ, self.opts.fractions)
            r = r.assign(col=f"{self.label(met)} @ " + r["frac"].map(lambda f: f"{f:.3g}"))
            rows.append(r)
        ranks = pd.concat(rows, ignore_index=True)
        self._cross["ranks"] = ranks
        disp = ranks.pivot(index="method", columns="col", values="rank")
        final_col = f"{self.label(metric)} @ 1"
        disp = disp.sort_values(final_col) if final_col in disp else disp
        blocks.append(
            self.table(
                "mean_rank",
                disp.map(lambda x: f"{x:.2f}"),
                f"Mean rank over {int(ranks['n_benchmarks'].max()) if len(ranks) else 0} benchmark(s) at fractions of "
                "the time horizon (1 = final); per benchmark the methods are ranked by their mean regret over seeds "
                "(ties share the average rank). Sorted by the final rank.",
                data=ranks.drop(columns="col"),
            )
        )
        if self.baseline is None:
            blocks.append("No ratio to random search: the study has no random search (pass `baseline=NAME`).")
            return Section("Cross-benchmark summary", blocks)
        finals = stats.final_values(self.curves)
        base_methods = sorted(
            self.study.complete_runs().query("optimizer == @self.baseline")["method"].unique()
        )
        base_m = base_methods[0] if base_methods else self.baseline
        ratios = stats.ratio_to_baseline(finals, f"{metric}_nregret", base_m)
        geo = stats.geomean_ratio(ratios)
        self._cross["geo"] = geo
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
        cells = cells.reindex(
            [m for m in order if m in cells.index] + [m for m in cells.index if m not in order]
        )
        blocks.append(
            self.table(
                "ratio_to_rs",
                cells,
                f"Final {self.label(metric)} regret relative to `{base_m}`: per benchmark, the median over seeds of "
                f"the method's normalized regret / the median of `{base_m}`'s (each floored at "
                f"{stats.RATIO_FLOOR:g}, so that a regret of 0 has a ratio); below 1 is better. Last column: the "
                "geometric mean over benchmarks (`scipy.stats.gmean`) and on how many benchmarks the ratio is below "
                "/ above 1. Sorted by the geometric mean.",
                data=ratios,
            )
        )
        return Section("Cross-benchmark summary", blocks)

    def rs_expected_section(self) -> Section:
        title = "Random search: simulated against its exact expectation"
        blocks: list = [
            "On a table, random search's expected incumbent after k evaluations follows from order statistics of "
            "the table's values at the maximum fidelity, with no simulation and so no luck: with replacement (a "
            "configuration and a seed drawn uniformly, what `RandomSearch` does unless its description says "
            "otherwise) E[min of k] = Σ_i v_(i)·[((N−i+1)/N)^k − ((N−i)/N)^k] over the N sorted values of all "
            "configurations and seeds; without replacement (k distinct configurations, each with a seed drawn "
            "uniformly; chosen when the run's `optimizer_info` says `replace: false` or `sampling: "
            "without_replacement`) the exact average over k-subsets. Diverged values never become incumbents (the "
            "expectation is conditional on one finite draw). The x axis counts evaluations in the order random "
            "search drew them (trial ids), not simulated time: with asynchronous workers the time of the k-th "
            "evaluation depends on the costs, so an exact curve in time is not given. See docs/validity.md."
        ]
        if self.baseline is None:
            blocks.append("Not drawn: the study has no random search.")
            return Section(title, blocks)
        panels, rows, skipped = {}, [], []
        for b in self.study.benchmarks:
            base = self.baseline_runs(b)
            if not len(base):
                continue
            exp = self.rs_expected(b)
            ev = self.study.events[
                (self.study.events["benchmark"] == b)
                & self.study.events["method"].isin(base["method"].unique())
            ]
            task = self.study.tasks[b]
            n = int(base["n_events"].max())
            per = []
            for _, g in ev.groupby("seed", sort=True):
                inc = np.full(n, np.nan)
                d = g["draw"].to_numpy(float)
                loss = task.valid.sign * g["valid"].to_numpy(float)
                ok = np.isfinite(d) & (d >= 1) & (d <= n)
                inc[(d[ok] - 1).astype(int)] = loss[ok]
                best = np.fmin.accumulate(np.where(np.isnan(inc), np.inf, inc))
                best[~np.isfinite(best)] = np.nan
                per.append(best - task.valid.sign * task.valid.optimum)
            if len(per) < len(base):  # a run without any finite value keeps the mean undefined
                per += [np.full(n, np.nan)] * (len(base) - len(per))
            arr = np.vstack(per)
            sim = pd.DataFrame(
                {
                    "k": np.arange(1, n + 1),
                    "mean": arr.mean(axis=0),
                    "se": arr.std(axis=0, ddof=1) / np.sqrt(len(arr)) if len(arr) > 1 else np.nan,
                }
            )
            if exp is None:
                data = self.table_data(b)
                why = self.__dict__.get("_rs_skipped", {}).get(b) or (
                    "not a table (a surrogate answers anywhere)"
                    if data and data.get("exhaustive") is False
                    else data["error"]
                    if data and "error" in data
                    else "the benchmark cannot be loaded here with the checksum its runs recorded"
                )
                skipped.append(f"`{b}`: {why}")
                continue
            curve, without = exp
            label = (
                "rs, exact expectation (without replacement)"
                if without
                else "rs, exact expectation (with replacement)"
            )
            panels[b] = (sim, curve, label)
            fin = arr[:, -1]
            rows.append(
                {
                    "benchmark": b,
                    "evaluations": n,
                    "draws": "without replacement" if without else "with replacement",
                    "expected_final_regret": float(curve[-1]),
                    "simulated_mean": float(np.mean(fin)),
                    "simulated_median": float(np.median(fin)),
                    "n_seeds": len(fin),
                    "expected_after_1": float(curve[0]),
                }
            )
        if panels:
            blocks.append(
                self.figure(
                    plots.rs_expected(
                        panels, self.palette.color.get(self.baseline, "#4d4d4d"), ylabel="validation regret"
                    ),
                    "rs_expected",
                    "Validation regret of random search's incumbent after k evaluations: the simulated runs (mean over "
                    "seeds ± one standard error) and the exact expectation (dashed). A simulated curve far from the "
                    "dashed one means the seeds were lucky or unlucky, not that the method is good or bad.",
                )
            )
            df = pd.DataFrame(rows)
            disp = df.set_index("benchmark")[
                [
                    "evaluations",
                    "draws",
                    "expected_after_1",
                    "expected_final_regret",
                    "simulated_mean",
                    "simulated_median",
                    "n_seeds",
                ]
            ]
            for c in ("expected_after_1", "expected_final_regret", "simulated_mean", "simulated_median"):
                disp[c] = disp[c].map(fmt)
            blocks.append(
                self.table(
                    "rs_expected",
                    disp,
                    "Random search's final validation regret: exact expectation and simulated runs.",
                    data=df,
                )
            )
        if skipped:
            blocks.append("No exact expectation for: " + "; ".join(skipped) + ".")
        return Section(title, blocks)

    def repeats_section(self) -> Section:
        runs = self.study.complete_runs()
        df = runs.assign(
            repeated=runs["n_repeated"] / runs["n_events"].where(runs["n_events"] > 0),
            table=runs["n_distinct_configs"] / runs["n_configs"],
            table_max=runs["n_distinct_configs_max"] / runs["n_configs"],
        )
        # what the runner recorded in meta.json (summary.n_repeated, n_distinct_configs, table_fraction), if anything
        rec, mismatch = [], []
        for r in df.itertuples():
            summ = (self.study.metas.get((r.benchmark, r.method, r.seed)) or {}).get("summary") or {}
            rec.append(
                {
                    k: summ.get(k)
                    for k in ("n_repeated", "n_distinct_configs", "table_fraction", "stop_reason")
                }
            )
            for k, mine in (("n_repeated", r.n_repeated), ("n_distinct_configs", r.n_distinct_configs)):
                v = summ.get(k)
                if isinstance(v, (int, float)) and mine == mine and int(v) != int(mine):
                    mismatch.append(
                        f"{r.benchmark}/{r.method}/seed {r.seed}: {k} {v} recorded, {int(mine)} in the events"
                    )
        rec_df = pd.DataFrame(rec, index=df.index)
        df = pd.concat([df, rec_df.add_prefix("recorded_")], axis=1)
        g = df.groupby(["method", "benchmark"], sort=True)
        med = g.agg(
            repeated=("repeated", "median"),
            table=("table", "median"),
            table_max=("table_max", "median"),
            n=("seed", "size"),
        ).reset_index()
        exhausted = (
            df[df["recorded_stop_reason"] == "table_exhausted"].groupby(["method", "benchmark"]).size()
        )

        def cell(r) -> str:
            rep = "n/a" if r.repeated != r.repeated else f"{r.repeated:.0%}"
            tab = "n/a" if r.table != r.table else f"{r.table:.0%}"
            s = f"{rep} / {tab}"
            k = exhausted.get((r.method, r.benchmark), 0)
            return s + (f" ({k} exhausted)" if k else "")

        disp = (
            med.assign(cell=[cell(r) for r in med.itertuples()])
            .pivot(index="method", columns="benchmark", values="cell")
            .fillna("–")
        )
        disp.columns.name = None
        blocks: list = [
            "Per optimizer and benchmark, the median over seeds of the fraction of evaluations that repeat an earlier "
            "one of the same run (same configuration at the same fidelity, any seed) and of the table's "
            "configurations the run evaluated at any fidelity. Counted from `events.parquet` (configuration id, or "
            "the configuration's values for a surrogate); `n/a` where the benchmark holds no list of "
            "configurations (a surrogate) or the events name none. A repeat on a table returns a value already "
            "known (or another seed's): budget that does not explore. A run that evaluated most of the table has "
            "seen nearly every answer, so the benchmark no longer tells optimizers apart at that budget.",
            self.table(
                "repeats",
                disp,
                "Repeated evaluations / fraction of the table evaluated (median over seeds).",
                data=df[
                    [
                        "benchmark",
                        "method",
                        "seed",
                        "n_events",
                        "n_repeated",
                        "n_distinct_configs",
                        "n_distinct_configs_max",
                        "n_configs",
                        "repeated",
                        "table",
                        "table_max",
                        *rec_df.add_prefix("recorded_").columns,
                    ]
                ],
            ),
        ]
        have_rec = rec_df[["n_repeated", "n_distinct_configs"]].notna().any(axis=None)
        if not have_rec:
            blocks.append(
                "The runs' `meta.json` record no `summary.n_repeated` / `n_distinct_configs` (older "
                "results); the counts above come from the events only."
            )
        elif mismatch:
            blocks.append(
                f"**The counts recorded in `meta.json` differ from the events in {len(mismatch)} run(s)**, "
                "e.g. " + "; ".join(mismatch[:5]) + "."
            )
        else:
            blocks.append(
                "The counts recorded in `meta.json` agree with the events in every run that records them."
            )
        return Section("Repeated evaluations and coverage of the table", blocks)

    def validity_section(self) -> Section:
        metric = self.headline
        alpha = self.opts.alpha
        blocks: list = [
            "Can each benchmark rank optimizers at this budget? Per benchmark: (i) Spearman rank correlation between "
            "each fidelity Hyperband (η = 3) uses and the maximum fidelity, over the table's configurations "
            "(values averaged over seeds); (ii) the seed-noise ceiling, Spearman between seeds 0 and 1 at the "
            "maximum fidelity (no ranking of configurations can be more reproducible than this); (iii) coverage: "
            "the expected fraction of the table random search draws at this budget, and the largest median fraction "
            "any optimizer evaluated; (iv) the order of the optimizers against random search: per method, one-sided "
            f"Wilcoxon signed-rank tests of the final {self.label(metric)} regret across seeds (paired by seed "
            "number), better and worse, Holm-corrected over all methods and both directions of the benchmark, "
            f"α = {alpha}; effect size: the matched-pairs rank-biserial correlation r (−1: always better than "
            "random search, +1: always worse). A benchmark where no method differs from random search **cannot "
            "discriminate at this budget**. (v) When a table and its surrogate (`X` and `X-surrogate`) are both in the "
            "study: Kendall τ between the methods' median final regret on each, with a bootstrap interval over "
            "seeds. docs/validity.md explains each number.",
        ]
        if self.baseline is None:
            blocks.append("Order against random search not computed: the study has no random search.")
        finals = stats.final_values(self.curves)
        base_methods = (
            sorted(self.study.complete_runs().query("optimizer == @self.baseline")["method"].unique())
            if self.baseline
            else []
        )
        col = f"{metric}_regret"
        if (
            metric == "test"
        ):  # a benchmark without test values (e.g. the published FCNet tables) uses validation
            has_test = finals.groupby("benchmark")["test_regret"].apply(lambda v: bool(np.isfinite(v).any()))
            no_test = sorted(has_test.index[~has_test])
            if no_test:
                use_valid = finals["benchmark"].isin(no_test).to_numpy()
                finals = finals.assign(
                    order_regret=np.where(use_valid, finals["valid_regret"], finals["test_regret"])
                )
                col = "order_regret"
                blocks.append(
                    "Order against random search on the validation regret for the benchmarks without test "
                    "values: " + ", ".join(f"`{b}`" for b in no_test) + "."
                )
        order = (
            validity.compare_with_baseline(finals, col, base_methods[0], alpha)
            if base_methods
            else pd.DataFrame(columns=["benchmark", "method", "verdict", "n_pairs"])
        )
        self._order = order
        runs = self.study.complete_runs()
        table_frac = (
            (runs["n_distinct_configs"] / runs["n_configs"])
            .groupby([runs["benchmark"], runs["method"]])
            .median()
        )
        rows = []
        for b in self.study.benchmarks:
            data = self.table_data(b)
            row: dict = {"benchmark": b}
            if data and "top" in data:
                rc = validity.rung_correlations(data["rungs"])
                row["rung_spearman"] = "; ".join(
                    f"{f:g}: {fmt(r, 2)}"
                    for f, r in zip(rc["fidelity"], rc["spearman"])
                    if f != max(data["rungs"])
                )
                row["seed_ceiling"] = validity.seed_ceiling(data["top"])
                row["configurations"] = (
                    data["n_configs"] if data["exhaustive"] else f"{data['n_configs']} (sample)"
                )
                row["seeds"] = data["n_seeds"]
                exp = self.rs_expected(b)
                base = self.baseline_runs(b) if self.baseline else pd.DataFrame()
                if data["exhaustive"] and len(base):
                    row["rs_coverage_expected"] = validity.expected_coverage(
                        data["n_configs"],
                        int(base["n_events"].max()),
                        without_replacement=bool(exp and exp[1]),
                    )
            else:
                row["rung_spearman"] = (
                    "n/a ("
                    + (
                        data["error"]
                        if data and "error" in data
                        else "benchmark not loadable here with the runs' checksum"
                    )
                    + ")"
                )
            tf = table_frac.get(b)
            if tf is not None and tf.notna().any():
                row["max_table_fraction"] = f"{tf.max():.0%} ({tf.idxmax()})"
            o = order[order["benchmark"] == b]
            n_seeds = int(o["n_pairs"].max()) if len(o) else 0
            better = sorted(o.loc[o["verdict"] == "better", "method"])
            worse = sorted(o.loc[o["verdict"] == "worse", "method"])
            if not len(o):
                row["verdict"] = "n/a"
            elif not better and not worse:
                row["verdict"] = "cannot discriminate at this budget"
            else:
                row["verdict"] = (
                    f"better than rs: {', '.join(better) or 'none'}; worse: {', '.join(worse) or 'none'}"
                )
            if len(o) and n_seeds < validity.MIN_SEEDS:
                row["verdict"] += f" (only {n_seeds} seeds: below the {validity.MIN_SEEDS} this check needs)"
            row["n_seeds_paired"] = n_seeds
            rows.append(row)
        cols = [
            "benchmark",
            "configurations",
            "seeds",
            "rung_spearman",
            "seed_ceiling",
            "rs_coverage_expected",
            "max_table_fraction",
            "n_seeds_paired",
            "verdict",
        ]
        df = pd.DataFrame(rows).reindex(columns=cols)
        disp = (
            df.set_index("benchmark")
            .assign(
                seed_ceiling=lambda d: d["seed_ceiling"].map(
                    lambda x: fmt(x, 2) if isinstance(x, float) else "–"
                ),
                rs_coverage_expected=lambda d: d["rs_coverage_expected"].map(
                    lambda x: f"{x:.0%}" if isinstance(x, float) and x == x else "–"
                ),
            )
            .astype(object)
            .fillna("–")
        )
        blocks.append(
            self.table("validity", disp, "Validity of each benchmark at this study's budget.", data=df)
        )
        n_disc = int((df["verdict"].str.startswith("better") | df["verdict"].str.contains("worse:")).sum())
        blocks.append(
            f"{n_disc} of {len(df)} benchmark(s) tell at least one method apart from random search; "
            + (
                ", ".join(f"`{b}`" for b in df.loc[df["verdict"].str.startswith("cannot"), "benchmark"])
                + " cannot discriminate at this budget."
                if (df["verdict"].str.startswith("cannot")).any()
                else "every benchmark tells some method apart."
            )
        )
        if len(order):
            cells = (
                order.assign(
                    cell=[
                        f"{'**' if r.verdict != 'no difference' else ''}{r.verdict}{'**' if r.verdict != 'no difference' else ''}"
                        f" (r = {r.rank_biserial:+.2f}, p = {fmt(min(r.p_better, r.p_worse), 2)})"
                        for r in order.itertuples()
                    ]
                )
                .pivot(index="method", columns="benchmark", values="cell")
                .fillna("–")
            )
            cells.columns.name = None
            blocks.append(
                self.table(
                    "order_vs_rs",
                    cells,
                    f"Each method against random search on final {self.label(metric)} regret (Holm-adjusted p of the "
                    "direction shown; r: rank-biserial effect size, negative = lower regret than random search).",
                    data=order,
                )
            )
        pairs = validity.surrogate_pairs(self.study.benchmarks)
        if pairs:
            agree = pd.DataFrame(
                [validity.ranking_agreement(finals, t, sg, f"{metric}_regret") for t, sg in pairs]
            )
            disp = agree.assign(
                tau=agree["tau"].map(lambda x: fmt(x, 2)),
                interval=[f"[{fmt(a, 2)}, {fmt(b, 2)}]" for a, b in zip(agree["low"], agree["high"])],
            ).set_index("table")[["surrogate", "n_methods", "tau", "interval"]]
            blocks.append(
                self.table(
                    "table_vs_surrogate",
                    disp,
                    "Ranking agreement between a table and its surrogate: Kendall τ of the methods' median final "
                    f"{self.label(metric)} regret, 95 % BCa bootstrap over seeds (1,000 resamples, fixed seed); "
                    "no τ where every method ties on one side (no order to agree with).",
                    data=agree,
                )
            )
        else:
            blocks.append(
                "No table and its surrogate (`X` and `X-surrogate`) are both in this study, so the "
                "ranking agreement between them is not computed."
            )
        return Section("Validity of each benchmark", blocks)


# ---------------------------------------------------------------- small helpers
def _resolve_baseline(study: Study, wanted: str) -> str | None:
    opts = set(study.complete_runs()["optimizer"])
    if wanted in opts:
        return wanted
    if wanted in BASELINE_ALIASES:
        return next((a for a in BASELINE_ALIASES if a in opts), None)
    return None


def _quartile_cell(r) -> str:
    if r.n_finite == 0:
        return "–"
    s = f"{fmt(r.median)} [{fmt(r.q25)}, {fmt(r.q75)}]"
    if r.best:
        s = f"**{s}**"
    if r.n_finite < r.n:
        s += f" ({r.n_finite}/{r.n} runs)"
    return s + (" *" if r.worse else "")


def _source(src: str) -> str:
    return {"meta": "runner", "study": "this study's runs"}.get(
        src, src.replace("study", "this study's runs")
    )


def _relative(p: str, root: Path) -> str:
    if not p:
        return ""
    try:
        return str(Path(p).relative_to(root))
    except ValueError:
        return p


# ---------------------------------------------------------------- command line
_USAGE = __doc__.split("From Python")[0].strip()
_KEYS = {"study", "study_dir", "results_root", "out", "baseline", "fractions", "grid", "alpha", "progress"}


def parse_args(argv: Sequence[str]) -> dict[str, str]:
    """``key=value`` arguments (the Hydra-style override syntax) into a dict; unknown keys are an error."""
    args: dict[str, str] = {}
    for a in argv:
        key, sep, value = a.partition("=")
        key = key.lstrip("+-")
        if not sep or key not in _KEYS:
            raise SystemExit(
                f"bad argument {a!r}; expected key=value with key one of {', '.join(sorted(_KEYS))}\n\n"
                + _USAGE
            )
        args[key] = value
    if "study" not in args and "study_dir" not in args:
        raise SystemExit("missing study=NAME (or study_dir=PATH)\n\n" + _USAGE)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help", "help") for a in argv):
        print(_USAGE)
        return 0
    args = parse_args(argv)
    if "study_dir" in args:
        study_dir = Path(args["study_dir"])
    else:
        study_dir = Path(args.get("results_root", "results")) / args["study"]
    out = Path(args.get("out", Path("reports") / (args.get("study") or study_dir.name)))
    try:
        opts = ReportOptions(
            baseline=args.get("baseline", "rs"),
            fractions=tuple(float(x) for x in args["fractions"].split(","))
            if "fractions" in args
            else (0.1, 0.5, 1.0),
            grid=int(args.get("grid", 200)),
            alpha=float(args.get("alpha", 0.05)),
            progress=args.get("progress", "true").lower() not in ("0", "false", "no"),
        )
    except ValueError as e:
        raise SystemExit(f"bad option: {e}") from None
    if not study_dir.is_dir():
        raise SystemExit(
            f"no study folder {study_dir} (results_root={study_dir.parent}, study={study_dir.name})"
        )
    index = build_report(study_dir, out, opts)
    print(f"report written: {index}")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
