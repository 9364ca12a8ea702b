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
from runners.analysis import plots, stats
from runners.analysis import trajectory as tr
from runners.analysis.load import Study, load_study
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
                self.final_section(),
                self.speedup_section(),
                self.cd_section(),
            ]
            if s.varies_workers:
                sections.append(self.scaling_section())
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
            disp = grouped[["benchmark", "method", "seeds", "runs", "status", "n_events", "note"]].set_index("benchmark")
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
            fig = plots.regret_over_time(
                per, self.palette, x="t", ylabel=ylab, titles=names, xlabel="simulated time (s)"
            )
            objs = ", ".join(f"`{b}`: {name_of[b]}" for b in per)
            blocks.append(
                self.figure(
                    fig,
                    f"regret_{metric}_per_benchmark",
                    f"{self.label(metric).capitalize()} regret of the incumbent over simulated "
                    f"time, mean over seeds ± one standard error ({objs}). "
                    + ("Test values are those of the validation incumbent." if metric == "test" else ""),
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
                    "Normalized regret = regret / |y_worst − y_best|, with the range fixed per benchmark and metric: the "
                    "benchmark's value range recorded with the runs"
                    + (
                        " or, where it was not recorded, the range over all runs of this study (see Benchmarks)."
                        if "study" in srcs
                        else "."
                    )
                    + (
                        " The runner records the range from the benchmark's optimum to its worst value at the maximum "
                        "fidelity (over every configuration and seed of a table; for a surrogate, over a fixed, seeded "
                        "sample of configurations); see Benchmarks."
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
