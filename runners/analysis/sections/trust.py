"""Report sections that check the comparison itself: random search against its exact expectation, repeated
evaluations and coverage of the table, and whether each benchmark can rank optimizers at this budget."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plots, stats, validity
from ..render import Section, fmt
from .context import ReportContext


def rs_expected_section(ctx: ReportContext) -> Section:
    """Random search's simulated runs against its exact expected incumbent on each table."""
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
    if ctx.baseline is None:
        blocks.append("Not drawn: the study has no random search.")
        return Section(title, blocks)
    panels, rows, skipped = {}, [], []
    for b in ctx.study.benchmarks:
        base = ctx.baseline_runs(b)
        if not len(base):
            continue
        exp = ctx.rs_expected(b)
        ev = ctx.study.events[
            (ctx.study.events["benchmark"] == b) & ctx.study.events["method"].isin(base["method"].unique())
        ]
        task = ctx.study.tasks[b]
        n = int(base["n_events"].max())
        # one row per run (a method's seed: runs of rs at several worker counts are separate runs), each run
        # only as far as its own number of draws (its events, failed ones included): no carried-forward values
        draws = {(m, int(sd)): int(k) for m, sd, k in zip(base["method"], base["seed"], base["n_events"])}
        runs_ev = dict(iter(ev.groupby(["method", "seed"], sort=True)))
        arr = np.full((len(draws), n), np.nan)
        active = np.zeros((len(draws), n), dtype=bool)
        n_i = np.zeros(len(draws), dtype=int)
        for r, (key, k_run) in enumerate(sorted(draws.items())):
            n_i[r] = k_run
            active[r, :k_run] = True
            g = runs_ev.get(key)
            if g is None:  # a run without any finite value keeps the mean undefined
                continue
            inc = np.full(n, np.nan)
            d = g["draw"].to_numpy(float)
            loss = task.valid.sign * g["valid"].to_numpy(float)
            ok = np.isfinite(d) & (d >= 1) & (d <= n)
            inc[(d[ok] - 1).astype(int)] = loss[ok]
            best = np.fmin.accumulate(np.where(np.isnan(inc), np.inf, inc))
            best[~np.isfinite(best)] = np.nan
            arr[r] = best - task.valid.sign * task.valid.optimum
        count = active.sum(axis=0)
        vals = np.where(active, arr, 0.0)
        undefined = (active & np.isnan(arr)).any(axis=0) | (count == 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(undefined, np.nan, np.nansum(vals, axis=0) / count)
            var = np.nansum(np.where(active, (arr - mean) ** 2, 0.0), axis=0) / (count - 1)
            se = np.where(undefined | (count < 2), np.nan, np.sqrt(var / count))
        sim = pd.DataFrame({"k": np.arange(1, n + 1), "mean": mean, "se": se, "n_runs": count})
        if exp is None:
            data = ctx.table_data(b)
            why = ctx.rs_skipped.get(b) or (
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
        # each run at its own last draw, against the expectation at that many draws
        has = n_i >= 1
        fin = arr[has, n_i[has] - 1]
        rows.append(
            {
                "benchmark": b,
                "evaluations": n,
                "draws": "without replacement" if without else "with replacement",
                "expected_final_regret": float(np.mean(curve[n_i[has] - 1])) if has.any() else np.nan,
                "simulated_mean": float(np.mean(fin)) if len(fin) else np.nan,
                "simulated_median": float(np.median(fin)) if len(fin) else np.nan,
                "n_seeds": len(fin),
                "expected_after_1": float(curve[0]),
            }
        )
    if panels:
        blocks.append(
            ctx.figure(
                plots.rs_expected(
                    panels, ctx.palette.color.get(ctx.baseline, "#4d4d4d"), ylabel="validation regret"
                ),
                "rs_expected",
                "Validation regret of random search's incumbent after k evaluations: the simulated runs (mean over "
                "the runs that made at least k evaluations ± one standard error; runs at different worker counts "
                "count separately) and the exact expectation (dashed). A simulated curve far from the dashed one "
                "means the seeds were lucky or unlucky, not that the method is good or bad.",
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
            ctx.table(
                "rs_expected",
                disp,
                "Random search's final validation regret: each run at its own last evaluation, and the exact "
                "expectation at that many evaluations, averaged over the same runs.",
                data=df,
            )
        )
    if skipped:
        blocks.append("No exact expectation for: " + "; ".join(skipped) + ".")
    return Section(title, blocks)


def repeats_section(ctx: ReportContext) -> Section:
    """Repeated evaluations and the fraction of the table each method evaluated, checked against meta.json."""
    runs = ctx.study.complete_runs()
    df = runs.assign(
        repeated=runs["n_repeated"] / runs["n_events"].where(runs["n_events"] > 0),
        table=runs["n_distinct_configs"] / runs["n_configs"],
        table_max=runs["n_distinct_configs_max"] / runs["n_configs"],
    )
    # what the runner recorded in meta.json (summary.n_repeated, n_distinct_configs, table_fraction), if anything
    rec, mismatch = [], []
    for r in df.itertuples():
        summ = (ctx.study.metas.get((r.benchmark, r.method, r.seed)) or {}).get("summary") or {}
        rec.append(
            {k: summ.get(k) for k in ("n_repeated", "n_distinct_configs", "table_fraction", "stop_reason")}
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
    exhausted = df[df["recorded_stop_reason"] == "table_exhausted"].groupby(["method", "benchmark"]).size()

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
        ctx.table(
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


def validity_section(ctx: ReportContext) -> Section:
    """Whether each benchmark can rank optimizers at this budget: fidelity and seed correlations, coverage,
    order against random search, table against surrogate."""
    metric = ctx.headline
    alpha = ctx.opts.alpha
    blocks: list = [
        "Can each benchmark rank optimizers at this budget? Per benchmark: (i) Spearman rank correlation between "
        "each fidelity Hyperband (η = 3) uses and the maximum fidelity, over the table's configurations "
        "(values averaged over seeds); (ii) the seed-noise ceiling, Spearman between seeds 0 and 1 at the "
        "maximum fidelity (no ranking of configurations can be more reproducible than this); (iii) coverage: "
        "the expected fraction of the table random search draws at this budget, and the largest median fraction "
        "any optimizer evaluated; (iv) the order of the optimizers against random search: per method, one-sided "
        f"Wilcoxon signed-rank tests of the final {ctx.label(metric)} regret across seeds (paired by seed "
        "number), better and worse, Holm-corrected over all methods and both directions of the benchmark, "
        f"α = {alpha}; effect size: the matched-pairs rank-biserial correlation r (−1: always better than "
        "random search, +1: always worse). A benchmark where no method differs from random search **cannot "
        "discriminate at this budget**. (v) When a table and its surrogate (`X` and `X-surrogate`) are both in the "
        "study: Kendall τ between the methods' median final regret on each, with a bootstrap interval over "
        "seeds. docs/validity.md explains each number.",
    ]
    if ctx.baseline is None:
        blocks.append("Order against random search not computed: the study has no random search.")
    finals = stats.final_values(ctx.curves)
    base_of = stats.baselines_by_workers(
        ctx.study, ctx.baseline
    )  # each method against rs at its worker count
    col = f"{metric}_regret"
    if metric == "test":  # a benchmark without test values (e.g. the published FCNet tables) uses validation
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
        validity.compare_with_baseline(finals, col, base_of, alpha)
        if base_of
        else pd.DataFrame(columns=["benchmark", "method", "verdict", "n_pairs"])
    )
    runs = ctx.study.complete_runs()
    table_frac = (
        (runs["n_distinct_configs"] / runs["n_configs"]).groupby([runs["benchmark"], runs["method"]]).median()
    )
    rows = []
    for b in ctx.study.benchmarks:
        data = ctx.table_data(b)
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
            exp = ctx.rs_expected(b)
            base = ctx.baseline_runs(b) if ctx.baseline else pd.DataFrame()
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
    blocks.append(ctx.table("validity", disp, "Validity of each benchmark at this study's budget.", data=df))
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
                    f"{'**' if r.verdict != 'no difference' else ''}{r.verdict}"
                    f"{'**' if r.verdict != 'no difference' else ''}"
                    f" (r = {r.rank_biserial:+.2f}, p = {fmt(min(r.p_better, r.p_worse), 2)})"
                    for r in order.itertuples()
                ]
            )
            .pivot(index="method", columns="benchmark", values="cell")
            .fillna("–")
        )
        cells.columns.name = None
        blocks.append(
            ctx.table(
                "order_vs_rs",
                cells,
                f"Each method against random search on final {ctx.label(metric)} regret (Holm-adjusted p of the "
                "direction shown; r: rank-biserial effect size, negative = lower regret than random search).",
                data=order,
            )
        )
    pairs = validity.surrogate_pairs(ctx.study.benchmarks)
    if pairs:
        agree = pd.DataFrame(
            [validity.ranking_agreement(finals, t, sg, f"{metric}_regret") for t, sg in pairs]
        )
        disp = agree.assign(
            tau=agree["tau"].map(lambda x: fmt(x, 2)),
            interval=[f"[{fmt(a, 2)}, {fmt(b, 2)}]" for a, b in zip(agree["low"], agree["high"])],
        ).set_index("table")[["surrogate", "n_methods", "tau", "interval"]]
        blocks.append(
            ctx.table(
                "table_vs_surrogate",
                disp,
                "Ranking agreement between a table and its surrogate: Kendall τ of the methods' median final "
                f"{ctx.label(metric)} regret, 95 % BCa bootstrap over seeds (1,000 resamples, fixed seed); "
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
