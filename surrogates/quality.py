"""The quality card of a surrogate: how well it predicts held-out configurations, beside the seed ceiling.

Protocol (the same for every table and model):

1. Hold configurations out by cross-validation: the configurations are split
   into ``n_folds`` (5) folds (``KFold`` over configuration ids, shuffled with
   a fixed seed), and a surrogate with the shipped settings is fitted on the
   other folds for each one; every seed and fidelity of a configuration falls
   on one side. So every configuration of the table is predicted once by a
   surrogate that never saw it, and the statistics below are computed over all
   of them. (``n_folds=None``: one ``GroupShuffleSplit`` with ``test_size``
   held out, the protocol of earlier cards; with a few hundred configurations
   its numbers move by several hundredths from one split to the next.)
2. At several fidelities, compare the surrogate's seed-mean prediction with
   each real seed s of the table, and average over s: Spearman and Kendall
   rank correlation, R² (on the scale the model works in: log of the distance
   to the metric's bound, e.g. log loss) and top-10 regret (the best real
   value among the 10 configurations predicted best, minus the best real
   value; 0 is perfect).
3. The ceiling beside each number: the same statistic, on the same held-out
   configurations and the same values, when one real seed t "predicts"
   another real seed s (averaged over ordered pairs s != t). It is how well
   the table agrees with itself; a surrogate can reach or pass it because its
   seed-mean prediction is less noisy than one seed. Both sides are compared
   with one real seed at a time, so neither gains from averaging the other's
   target; runs without a value (diverged, NaN) are left out pairwise.
4. Seed noise: the median and the RMS absolute difference between two seeds
   of the surrogate against those between two real seeds, over held-out
   configurations and all fidelities, on the model's scale (e.g. log loss);
   1.0 is a perfect match. The median speaks for typical configurations, the
   RMS also for the few very noisy ones.

The target: Spearman at the final fidelity >= 0.9 and >= 95% of the ceiling.
The agreement of optimizer rankings on table and surrogate is a study run by
the runner (``runners/card_study.py``) and merged into the card there.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau, spearmanr
from sklearn.model_selection import GroupShuffleSplit, KFold

from benchmarks.io import atomic_write_json, atomic_write_text, code_version, utc_now
from benchmarks.table import Table, table_checksum

from .benchmark import SurrogateBenchmark
from .store import load_surrogate
from .surrogate import CurveSurrogate
from .targets import Transform, quiet_empty_slices

TARGET_SPEARMAN = 0.9
TARGET_CEILING_FRACTION = 0.95
TOP_K = 10


def split_configs(n_configs: int, test_size: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and test configuration ids, split by configuration (the group)."""
    if not 0 < test_size < 1:
        raise ValueError(f"test_size={test_size!r}; allowed: a fraction in (0, 1)")
    groups = np.arange(n_configs)
    split = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train, test = next(split.split(groups, groups=groups))
    return np.sort(train), np.sort(test)


def fold_configs(n_configs: int, n_folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train ids, test ids) of each fold of a shuffled ``KFold`` over configuration ids."""
    if not isinstance(n_folds, int) or not 2 <= n_folds <= n_configs:
        raise ValueError(
            f"n_folds={n_folds!r}; allowed: an integer from 2 to the number of configurations ({n_configs})"
        )
    kf = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(np.sort(tr), np.sort(te)) for tr, te in kf.split(np.arange(n_configs))]


def card_fidelity_indices(n_fid: int) -> list[int]:
    """Grid indices the card reports: first, ~10%, ~25%, ~50% and last."""
    return sorted({0, *(round(q * (n_fid - 1)) for q in (0.1, 0.25, 0.5)), n_fid - 1})


def _stats(pred: np.ndarray, real: np.ndarray, sign: float, fwd) -> dict[str, float]:
    ok = np.isfinite(pred) & np.isfinite(real)
    p, r = pred[ok], real[ok]
    if p.size < 3 or np.ptp(p) == 0 or np.ptp(r) == 0:
        return {"spearman": math.nan, "kendall": math.nan, "r2": math.nan, "top10_regret": math.nan}
    gp, gr = fwd(p), fwd(r)
    ss = np.sum((gr - gr.mean()) ** 2)
    top = np.argsort(sign * p, kind="stable")[:TOP_K]
    return {
        "spearman": float(spearmanr(p, r)[0]),
        "kendall": float(kendalltau(p, r)[0]),
        "r2": float(1 - np.sum((gr - gp) ** 2) / ss) if ss > 0 else math.nan,
        "top10_regret": float(np.min(sign * r[top]) - np.min(sign * r)),
    }


def _mean_stats(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {k: math.nan for k in ("spearman", "kendall", "r2", "top10_regret")}
    return {
        k: float(np.nanmean([r[k] for r in rows])) if any(np.isfinite(r[k]) for r in rows) else math.nan
        for k in rows[0]
    }


class HeldOut:
    """Predictions for held-out configurations, each made by a surrogate fitted without it.

    ``ids``: the table rows predicted; ``mean[metric]`` (n, F) seed-mean curves;
    ``seeded[metric]``: one (n, F) array per table seed index, predicted with
    that seed's noise; ``cost`` (n, F) seed-mean cumulative cost.
    """

    def __init__(self, metrics: list[str], n_seeds: int) -> None:
        self.member_mean: dict[str, list[np.ndarray]] = {}  # ensemble member -> objective curves
        self.ids: list[np.ndarray] = []
        self.mean: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
        self.seeded: dict[str, list[list[np.ndarray]]] = {m: [[] for _ in range(n_seeds)] for m in metrics}
        self.cost: list[np.ndarray] = []

    def add(self, sur: CurveSurrogate, table: Table, test_ids: np.ndarray) -> None:
        x = sur.encode(table.configs.iloc[test_ids], validated=True)
        self.ids.append(np.asarray(test_ids))
        names = list(self.mean)
        pred = sur.predict_curves(x, metrics=names, cost=True)
        for m in names:
            self.mean[m].append(pred[m])
        # what each member of an ensemble would have answered alone, and a distilled model's teacher
        teacher = getattr(sur, "teacher_", None)
        base = teacher if teacher is not None else sur
        if teacher is not None:
            self.member_mean.setdefault("teacher (before distillation)", []).append(
                teacher.predict_curves(x, metrics=names[:1], cost=False)[names[0]]
            )
        if len(base.regressors_) > 1:
            for member in base.regressors_:
                alone = base.only(member).predict_curves(x, metrics=names[:1], cost=False)[names[0]]
                self.member_mean.setdefault(member, []).append(alone)
        self.cost.append(pred["cost"])
        if len(table.seeds) > 1:
            for s in range(len(table.seeds)):
                seeded = sur.predict_curves(x, seeds=s, metrics=names, cost=False)
                for m in names:
                    self.seeded[m][s].append(seeded[m])

    def done(self) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, list[np.ndarray]], np.ndarray]:
        """(ids, mean, seeded, cost), each concatenated over the folds."""
        cat = np.concatenate
        return (
            cat(self.ids),
            {m: cat(v) for m, v in self.mean.items()},
            {m: [cat(a) for a in v] if v[0] else [] for m, v in self.seeded.items()},
            cat(self.cost),
        )


def evaluate(
    table: Table, test_ids: np.ndarray, metric: str, pred: np.ndarray, seeded: list[np.ndarray]
) -> dict[str, Any]:
    """Card statistics of ``metric`` from held-out seed-mean curves ``pred`` (n, F) of the rows ``test_ids``.

    ``seeded``: the held-out curves predicted for each table seed index (empty with one seed).
    R² and the seed noise are on the model's scale, a :class:`~surrogates.targets.Transform` of the
    metric fitted on the whole table (the same for every fold).
    """
    mi = table.metric_names.index(metric)
    mt = table.metrics[mi]
    sign = mt.sign
    fwd = Transform.for_metric(mt, table.metric_values(metric).astype(np.float64)).forward
    y = table.metric_values(metric)[test_ids].astype(np.float64)  # (C, S, F)
    S, F = y.shape[1], y.shape[2]
    rows = []
    for f in card_fidelity_indices(F):
        surr = _mean_stats([_stats(pred[:, f], y[:, s, f], sign, fwd) for s in range(S)])
        ceil = _mean_stats(
            [_stats(y[:, t, f], y[:, s, f], sign, fwd) for s, t in itertools.permutations(range(S), 2)]
        )
        rows.append({"fidelity": float(table.fidelity.values[f]), "surrogate": surr, "ceiling": ceil})
    noise = None
    if S > 1 and seeded:
        gy = fwd(y)
        pairs = list(itertools.combinations(range(S), 2))
        gs = [fwd(a) for a in seeded]
        real_d = np.concatenate([np.abs(gy[:, s] - gy[:, t]).ravel() for s, t in pairs])
        surr_d = np.concatenate([np.abs(gs[s] - gs[t]).ravel() for s, t in pairs])
        real_d = real_d[np.isfinite(real_d)]
        real, surr = np.sqrt(np.mean(real_d**2)), np.sqrt(np.mean(surr_d**2))
        real_med, surr_med = np.median(real_d), np.median(surr_d)
        noise = {
            "real_rms_seed_difference": float(real),
            "surrogate_rms_seed_difference": float(surr),
            "ratio": float(surr / real) if real > 0 else math.nan,
            "real_median_seed_difference": float(real_med),
            "surrogate_median_seed_difference": float(surr_med),
            "median_ratio": float(surr_med / real_med) if real_med > 0 else math.nan,
        }
    return {"metric": metric, "direction": mt.direction, "by_fidelity": rows, "seed_noise": noise}


#: the share of the table's configurations (the best by final-fidelity seed-mean objective) held out by
#: :func:`top_holdout_check`
TOP_SHARE = 0.1
#: the extrapolation fractions (of the per-fidelity IQR) the top hold-out reports beside the shipped one
CHECK_FRACTIONS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)


def top_holdout_check(
    table: Table,
    *,
    model: str = "xgboost",
    model_params: dict[str, Any] | None = None,
    seed: int = 0,
    distill: int = 0,
    distill_params: dict[str, Any] | None = None,
    fractions: tuple[float, ...] = CHECK_FRACTIONS,
    surrogate: CurveSurrogate | None = None,
    max_components: int = 8,
    noise: bool = True,
) -> dict[str, Any]:
    """Calibration beyond the table's range: fit without the top ``TOP_SHARE`` configurations, predict them.

    The best tenth of the configurations (seed-mean objective at the final fidelity) is held out and a
    surrogate with the card's settings is fitted on the rest (``surrogate``: one fitted so already).
    Every held-out configuration is truly better than the training best, so a calibrated surrogate
    predicts many of them beyond it, and few beyond the table's true best. For each extrapolation
    fraction (see :class:`surrogates.targets.Extrapolation`; applied at prediction time, one fit
    serves them all): the share of held-out top configurations predicted better than the training
    best, the share predicted better than the table's best, the share pinned at the limit (the
    regressor asked for more than the margin allows), Spearman within the held-out top, the
    median absolute error on the model's scale (log distance to the bound) and the best prediction.
    ``true_excess_iqr``: how far the table's best lies beyond the training best, in IQRs of the
    model's scale at the final fidelity (what a margin must cover to reach it).
    """
    obj = table.manifest["objective"]
    mt = next(m for m in table.metrics if m.name == obj)
    sign = mt.sign
    y = table.metric_values(obj).astype(np.float64)
    with np.errstate(invalid="ignore"), quiet_empty_slices():
        final = np.nanmean(y[:, :, -1], axis=1)
    key = np.where(np.isfinite(final), sign * final, np.inf)
    order = np.argsort(key, kind="stable")
    n_top = max(3, int(round(TOP_SHARE * len(order))))
    top, rest = np.sort(order[:n_top]), np.sort(order[n_top:])
    sur = surrogate or CurveSurrogate(
        model=model,
        model_params=model_params,
        max_components=max_components,
        noise=noise,
        random_state=seed,
        distill=distill,
        distill_params=distill_params,
    ).fit(table, rest)
    j = list(sur.metrics_).index(obj)
    block = sur.blocks_[j]
    fwd = Transform.for_metric(mt, y).forward
    train_best = float(np.min(key[rest]) * sign)
    table_best = float(np.min(key) * sign)
    g = fwd(np.array([train_best, table_best]))
    if (
        block.knots is not None
    ):  # the IQR the margin is measured in: the fitted block's, at the final fidelity
        pk = np.linspace(0.0, 1.0, block.knots.shape[0])
        iqr = float(np.interp(0.75, pk, block.knots[:, -1]) - np.interp(0.25, pk, block.knots[:, -1]))
    else:
        last = fwd(y[rest][:, :, -1])
        iqr = float(np.subtract(*np.quantile(last[np.isfinite(last)], [0.75, 0.25])))
    x = sur.encode(table.configs.iloc[top], validated=True)
    true = final[top]
    rows = []
    before = block.extrapolation.frac
    try:
        for frac in sorted({*fractions, before}):
            block.set_extrapolation(frac)
            pred = sur.predict_curves(x, metrics=[obj], cost=False)[obj][:, -1].astype(np.float64)
            ok = np.isfinite(pred) & np.isfinite(true)
            z, _ = block.decode(
                sur._predict_targets([j], x)[j]
            )  # the mean curve on the model's scale, after the limit
            limit = block.extrapolation.mean_lo[-1] if sign > 0 else block.extrapolation.mean_hi[-1]
            pinned = sign * z[:, -1].astype(np.float64) <= sign * limit + 1e-6
            rows.append(
                {
                    "extrapolation": float(frac),
                    "shipped": bool(frac == before),
                    "share_beyond_training_best": float(np.mean(sign * pred < sign * train_best)),
                    "share_beyond_table_best": float(np.mean(sign * pred < sign * table_best)),
                    "share_at_limit": float(np.mean(pinned)),
                    "spearman_within_top": float(spearmanr(pred[ok], true[ok])[0])
                    if ok.sum() > 2
                    else math.nan,
                    "median_abs_error_model_scale": float(np.median(np.abs(fwd(pred[ok]) - fwd(true[ok])))),
                    "best_predicted": float(np.min(sign * pred) * sign),
                }
            )
    finally:
        block.set_extrapolation(before)
    return {
        "metric": obj,
        "direction": mt.direction,
        "n_held_out": int(n_top),
        "n_train": int(len(rest)),
        "training_best": train_best,
        "table_best": table_best,
        "true_excess_iqr": float(abs(g[0] - g[1]) / iqr) if iqr > 0 else math.nan,
        "by_extrapolation": rows,
    }


def predicted_optimum(
    sur: CurveSurrogate, table: Table, bench: SurrogateBenchmark | None = None
) -> dict[str, Any]:
    """The surrogate's predicted optimum of the objective (:meth:`SurrogateBenchmark.optimum`) beside the
    table's best; ``bench``: the surrogate's benchmark when the caller has one (its optima are computed once)."""
    bench = bench if bench is not None else SurrogateBenchmark(sur)
    obj = sur.objective_
    mt = sur.metrics_[obj]
    y = table.metric_values(obj)
    best = float(np.nanmin(y) if mt.direction == "minimize" else np.nanmax(y))
    opt = bench.optimum(obj)
    n = len(bench.candidate_configs())
    return {
        "metric": obj,
        "direction": mt.direction,
        "predicted": opt,
        "table_best": best,
        "predicted_beyond_table": bool(mt.sign * opt < mt.sign * best),
        "n_candidates": int(n),
        "extrapolation": float(sur.blocks_[list(sur.metrics_).index(obj)].extrapolation.frac),
    }


def quality_card(
    table: Table,
    *,
    model: str = "xgboost",
    model_params: dict[str, Any] | None = None,
    n_folds: int | None = 5,
    test_size: float = 0.2,
    seed: int = 0,
    benchmark: str | None = None,
    distill: int = 0,
    distill_params: dict[str, Any] | None = None,
    top_holdout: bool = True,
    max_components: int = 8,
    noise: bool = True,
    code: str | None = None,
) -> dict[str, Any]:
    """Fit on training folds of ``table`` and return the card (a JSON-ready dict).

    Every fit uses the shipped surrogate's settings (model and its parameters, ``max_components``,
    ``noise``, seed, distillation), which the card records (``settings``); ``code``: the code version
    to record (:func:`surrogates.fit.fit_benchmark` passes the one it read before fitting, the same as
    the manifest's; default: read now).

    ``top_holdout``: also fit once without the best tenth of the configurations and check the
    predictions for them (:func:`top_holdout_check`). The predicted optimum of the shipped surrogate
    (``card["optimum"]``, :func:`predicted_optimum`) is filled by :func:`surrogates.fit.fit_benchmark`.

    ``n_folds``: cross-validation over configurations (every configuration held out once);
    None: one split with ``test_size`` of the configurations held out.
    """
    table = getattr(table, "table", table)
    n = len(table.configs)
    if n_folds is None:
        folds = [split_configs(n, test_size, seed)]
        split = {"method": "GroupShuffleSplit by configuration", "test_size": test_size, "seed": seed}
    else:
        folds = fold_configs(n, n_folds, seed)
        split = {
            "method": f"{n_folds}-fold cross-validation by configuration (KFold, shuffled)",
            "n_folds": n_folds,
            "seed": seed,
        }
    metrics = [table.manifest["objective"]]
    if table.manifest.get("test_objective") and table.manifest["test_objective"] not in metrics:
        metrics.append(table.manifest["test_objective"])
    held = HeldOut(metrics, len(table.seeds))
    fit_seconds = []
    for train, test in folds:
        sur = CurveSurrogate(
            model=model,
            model_params=model_params,
            max_components=max_components,
            noise=noise,
            random_state=seed,
            distill=distill,
            distill_params=distill_params,
        ).fit(table, train)
        fit_seconds.append(sur.fit_seconds_)
        held.add(sur, table, test)
    test, pred, seeded, cost_pred = held.done()
    evals = [evaluate(table, test, m, pred[m], seeded[m]) for m in metrics]
    members = {
        name: evaluate(table, test, metrics[0], np.concatenate(curves), [])["by_fidelity"][-1]["surrogate"]
        for name, curves in held.member_mean.items()
    }
    real_total = table.cost[test][..., -1].mean(axis=1)
    cost = {
        "spearman_total": float(spearmanr(cost_pred[:, -1], real_total)[0]) if len(test) > 2 else math.nan,
        "median_relative_error_total": float(np.median(np.abs(cost_pred[:, -1] / real_total - 1))),
        "never_decreases": bool(np.all(np.diff(cost_pred, axis=1) >= 0)),
    }
    split.update({"n_train_configs": int(len(folds[0][0])), "n_test_configs": int(len(test))})
    top = (
        top_holdout_check(
            table,
            model=model,
            model_params=model_params,
            seed=seed,
            distill=distill,
            distill_params=distill_params,
            max_components=max_components,
            noise=noise,
        )
        if top_holdout
        else None
    )
    final = evals[0]["by_fidelity"][-1]
    rho, ceil = final["surrogate"]["spearman"], final["ceiling"]["spearman"]
    passes = bool(rho >= TARGET_SPEARMAN and (not np.isfinite(ceil) or rho >= TARGET_CEILING_FRACTION * ceil))
    return {
        "benchmark": benchmark or table.name,
        "table": {
            "name": table.name,
            "checksum": table_checksum(table.manifest),
            "n_configs": len(table.configs),
            "seeds": list(table.seeds),
            "n_fidelities": len(table.fidelity.values),
        },
        "model": model,
        "distill": {"n_sampled": int(distill), "student": distill_params} if distill else None,
        "settings": {
            "model_params": model_params,
            "max_components": max_components,
            "noise": noise,
            "seed": seed,
            "note": "the card's folds are the ones the model settings were chosen on (docs/surrogates.md)",
        },
        "split": split,
        "fit_seconds": round(float(np.mean(fit_seconds)), 2),
        "metrics": evals,
        "cost": cost,
        "target": {
            "spearman_final_at_least": TARGET_SPEARMAN,
            "fraction_of_ceiling_at_least": TARGET_CEILING_FRACTION,
            "spearman_final": rho,
            "ceiling_final": ceil,
            "passes": passes,
        },
        "members_alone": members or None,
        "top_holdout": top,
        "optimum": None,
        "optimizer_ranking": None,
        "created": utc_now(),
        "code_version": code if code is not None else code_version(),
    }


def _f(x: Any, nd: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def _g(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3g}"


def card_markdown(card: dict[str, Any]) -> str:
    """The card as a Markdown page."""
    t = card["target"]
    lines = [
        f"# Quality card: {card['benchmark']} ({card['model']} surrogate"
        + (
            f", distilled into one MLP on {card['distill']['n_sampled']:,} sampled configurations"
            if card.get("distill")
            else ""
        )
        + ")",
        "",
        f"Table `{card['table']['name']}` ({card['table']['n_configs']} configurations, "
        f"seeds {card['table']['seeds']}, "
        f"{card['table']['n_fidelities']} fidelities; checksum `{card['table']['checksum'][:12]}`). "
        f"Held out: {card['split']['n_test_configs']} configurations "
        f"({card['split']['method']}, seed {card['split']['seed']}), "
        f"each predicted by a surrogate fitted on {card['split']['n_train_configs']} others "
        f"({card['fit_seconds']} s per fit).",
        "",
        f"**Target** (Spearman at the final fidelity >= {t['spearman_final_at_least']} and >= "
        f"{t['fraction_of_ceiling_at_least']:.0%} of the seed ceiling): "
        f"{'PASS' if t['passes'] else 'FAIL'} (Spearman {_f(t['spearman_final'])}, ceiling {_f(t['ceiling_final'])}).",
        *(
            []
            if t["passes"]
            else [
                "",
                "Below the target. The project's surrogate documentation (docs/surrogates.md, \"Quality on the "
                '500-configuration tables") gives the evidence: models, target scales, and held-out Spearman against '
                "the number of training configurations.",
            ]
        ),
        "",
        "Each cell: surrogate / ceiling (the agreement of two real seeds). R² is on the model's scale "
        "(log distance to the metric's bound). Top-10 regret: best real value among the 10 predicted best "
        "minus the best real value.",
    ]
    for ev in card["metrics"]:
        lines += [
            "",
            f"## {ev['metric']} ({ev['direction']})",
            "",
            "| fidelity | Spearman | Kendall | R² | top-10 regret |",
            "|---:|---:|---:|---:|---:|",
        ]
        for r in ev["by_fidelity"]:
            s, c = r["surrogate"], r["ceiling"]
            cells = [f"{_f(s[k])} / {_f(c[k])}" for k in ("spearman", "kendall", "r2")]
            cells.append(f"{_g(s['top10_regret'])} / {_g(c['top10_regret'])}")
            lines.append(f"| {r['fidelity']:g} | " + " | ".join(cells) + " |")
        if ev["seed_noise"]:
            n = ev["seed_noise"]
            lines += [
                "",
                f"Seed noise (model scale), difference between two seeds, surrogate vs real: "
                f"median {_g(n['surrogate_median_seed_difference'])} vs {_g(n['real_median_seed_difference'])} "
                f"(ratio {_f(n['median_ratio'], 2)}); RMS {_g(n['surrogate_rms_seed_difference'])} vs "
                f"{_g(n['real_rms_seed_difference'])} (ratio {_f(n['ratio'], 2)}).",
            ]
    if card.get("members_alone"):
        lines += [
            "",
            "## Ensemble members alone",
            "",
            f"Held-out {card['metrics'][0]['metric']} at the final fidelity, "
            "each member of the ensemble answering alone "
            "(the same fitted fold models; the ensemble averages their standardized predictions; a distilled "
            "surrogate also shows its teacher, the ensemble it was distilled from):",
            "",
            "| member | Spearman | Kendall | R² | top-10 regret |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, st in card["members_alone"].items():
            lines.append(
                f"| {name} | {_f(st['spearman'])} | {_f(st['kendall'])} | {_f(st['r2'])} | {_g(st['top10_regret'])} |"
            )
        fin = card["metrics"][0]["by_fidelity"][-1]["surrogate"]
        lines.append(
            f"| **{'distilled student' if card.get('distill') else 'ensemble'}** | {_f(fin['spearman'])} "
            f"| {_f(fin['kendall'])} | {_f(fin['r2'])} | {_g(fin['top10_regret'])} |"
        )
    lines += beyond_range_markdown(card)
    c = card["cost"]
    lines += [
        "",
        "## Cost",
        "",
        f"Spearman of the total cost {_f(c['spearman_total'])}, "
        f"median relative error {_f(c['median_relative_error_total'])}, "
        f"cumulative cost never decreases: {'yes' if c['never_decreases'] else 'NO'}.",
    ]
    rk = card.get("optimizer_ranking")
    lines += ["", "## Optimizer ranking: table vs surrogate", ""]
    if rk:
        line = (
            f"Kendall tau between the rankings of {len(rk['optimizers'])} optimizers x {rk['n_seeds']} seeds "
            f"on the table and on the surrogate: {_f(rk['kendall_tau'])}"
        )
        if rk.get("kendall_tau_interval"):
            lo, hi = rk["kendall_tau_interval"]
            line += f" (90% bootstrap interval over run seeds: {_f(lo)} to {_f(hi)})"
        lines.append(line + ".")
        other = rk.get("table_other_seeds")
        if other:
            lo, hi = rk["table_self_tau_interval"]
            lines += [
                "",
                f"The table against itself, the same runs with {rk['n_seeds']} other seeds: tau "
                f"{_f(rk['table_self_tau'])} (interval {_f(lo)} to {_f(hi)}). With this few seeds that is "
                "the agreement to expect even from a perfect surrogate.",
            ]
        lines.append("")
        head = "| optimizer | mean final regret (table) | mean final regret (surrogate) |"
        lines.append(head + (" table, other seeds |" if other else ""))
        lines.append("|---|---:|---:|" + ("---:|" if other else ""))
        for o in rk["optimizers"]:
            lines.append(
                f"| {o} | {_g(rk['table'][o])} | {_g(rk['surrogate'][o])} |"
                + (f" {_g(other[o])} |" if other else "")
            )
        if rk.get("created"):
            lines += ["", f"_Ranking study made {rk['created']} by CurveBench {rk['code_version']}._"]
    else:
        lines.append("Not measured yet (run by the runner's card study).")
    lines += ["", f"_Made {card['created']} by CurveBench {card['code_version']}._", ""]
    return "\n".join(lines)


def beyond_range_markdown(card: dict[str, Any]) -> list[str]:
    """The card's section on predictions beyond the table's range (optimum, top hold-out)."""
    lines = ["", "## Beyond the table's range", ""]
    opt, top = card.get("optimum"), card.get("top_holdout")
    if opt:
        lines.append(
            f"Predicted optimum of {opt['metric']} ({opt['direction']}, best over {opt['n_candidates']:,} "
            f"candidate configurations, every seed of the table and every fidelity; extrapolation "
            f"{opt['extrapolation']:g} IQR): {_g(opt['predicted'])}; the table's best: {_g(opt['table_best'])}"
            f" ({'beyond' if opt['predicted_beyond_table'] else 'not beyond'} it)."
        )
    else:
        lines.append("Predicted optimum: not measured (made with the shipped surrogate by surrogates.fit).")
    if top:
        lines += [
            "",
            f"Top hold-out: the best {top['n_held_out']} configurations (seed-mean {top['metric']} at the "
            f"final fidelity) held out, a surrogate fitted on the other {top['n_train']}. Training best "
            f"{_g(top['training_best'])}, table best {_g(top['table_best'])} ({_f(top['true_excess_iqr'], 2)} "
            "IQR of the model's scale beyond it). Every held-out configuration is truly better than the "
            "training best.",
            "",
            "| extrapolation (IQR) | predicted beyond training best | beyond table best | at the limit "
            "| Spearman within top | median abs error (model scale) | best predicted |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in top["by_extrapolation"]:
            mark = " (shipped)" if r["shipped"] else ""
            lines.append(
                f"| {r['extrapolation']:g}{mark} | {r['share_beyond_training_best']:.0%} | "
                f"{r['share_beyond_table_best']:.0%} | {r['share_at_limit']:.0%} | {_f(r['spearman_within_top'])} | "
                f"{_g(r['median_abs_error_model_scale'])} | {_g(r['best_predicted'])} |"
            )
    else:
        lines += ["", "Top hold-out: not measured for this card (regenerate it with `make surrogates`)."]
    return lines


def add_beyond_range(folder: str | Path, table: Table) -> dict[str, Any]:
    """Fill a saved surrogate's card with the section on predictions beyond the table's range, without refitting it.

    The predicted optimum comes from the saved surrogate; the top hold-out check fits one surrogate with
    the saved one's settings (model, parameters, distillation, seed) without the best tenth of the
    table. Rewrites ``card.json`` and ``card.md`` in ``folder``; the rest of the card is kept as it was.
    """
    import json

    folder = Path(folder)
    sur, _ = load_surrogate(folder)
    card = json.loads((folder / "card.json").read_text())
    card["optimum"] = predicted_optimum(sur, table)
    card["top_holdout"] = top_holdout_check(
        table,
        model=sur.model,
        model_params=sur.model_params,
        seed=sur.random_state or 0,
        distill=sur.distill,
        distill_params=sur.distill_params,
        max_components=sur.max_components,
        noise=sur.noise,
    )
    card["beyond_range_added"] = {"created": utc_now(), "code_version": code_version()}
    write_card(card, folder, "card")
    return card


def write_card(card: dict[str, Any], folder: str | Path, stem: str) -> tuple[Path, Path]:
    """Write ``stem.json`` and ``stem.md`` into ``folder`` atomically."""
    folder = Path(folder)
    j, m = folder / f"{stem}.json", folder / f"{stem}.md"
    atomic_write_json(j, _clean(card))
    atomic_write_text(m, card_markdown(card))
    return j, m


def _clean(o: Any) -> Any:
    """NaN -> None, so that the JSON is standard."""
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_clean(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o
