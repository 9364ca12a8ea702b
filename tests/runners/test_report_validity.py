"""Trustworthy comparisons: exact random-search expectations, repeats, cross-benchmark summaries, validity checks."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from runners.analysis import stats, validity
from runners.analysis.load import load_study, repeat_counts
from runners.analysis.synthetic import _simulate, write_synthetic_study
from runners.results import write_run


# ---------------------------------------------------------------- order statistics, against brute force
def _brute_with(values, n):
    v = np.where(np.isfinite(values), values, np.inf)
    out = []
    for k in range(1, n + 1):
        mins = [min(seq) for seq in itertools.product(v, repeat=k)]
        fin = [m for m in mins if np.isfinite(m)]
        out.append(np.mean(fin))
    return np.array(out)


def _brute_distinct(matrix, n):
    C, S = matrix.shape
    m = np.where(np.isfinite(matrix), matrix, np.inf)
    out = []
    for k in range(1, n + 1):
        tot = w = 0.0
        for subset in itertools.combinations(range(C), k):
            for seeds in itertools.product(range(S), repeat=k):
                x = min(m[c, s] for c, s in zip(subset, seeds))
                if np.isfinite(x):
                    tot += x
                    w += 1
        out.append(tot / w)
    return np.array(out)


def test_expected_min_with_replacement_is_exact():
    vals = np.array([0.3, 0.1, np.nan, 0.7, 0.1, 2.0])  # a tie and a divergence
    got = validity.expected_min_with_replacement(vals, 3)
    np.testing.assert_allclose(got, _brute_with(vals, 3), rtol=1e-12)
    assert got[0] == pytest.approx(np.nanmean(vals))  # one draw: the mean of the finite values


def test_expected_min_without_replacement_and_distinct_configs_are_exact():
    m = np.array([[0.5, 0.9], [0.2, np.nan], [0.8, 0.4], [0.6, 0.6]])
    np.testing.assert_allclose(
        validity.expected_min_distinct_configs(m, 4), _brute_distinct(m, 4), rtol=1e-12
    )
    one = m[:, 0]
    hyper = validity.expected_min_without_replacement(one, 6)
    np.testing.assert_allclose(hyper[:4], validity.expected_min_distinct_configs(one, 4), rtol=1e-12)
    assert hyper[3] == hyper[5] == pytest.approx(0.2)  # the table is exhausted after 4 draws
    # without replacement is never worse than with replacement
    flat = m.ravel()
    assert (
        validity.expected_min_without_replacement(flat, 5)
        <= validity.expected_min_with_replacement(flat, 5) + 1e-12
    ).all()


def test_exact_expectation_refuses_a_table_beyond_its_limit(monkeypatch):
    m = np.arange(40.0).reshape(20, 2)  # 20 configurations x 40 distinct values = 800 cells
    monkeypatch.setattr(validity, "MAX_EXACT_CELLS", 799)
    with pytest.raises(validity.TooLargeForExact, match="20 configurations x 40 distinct values"):
        validity.expected_min_distinct_configs(m, 3)
    monkeypatch.setattr(validity, "MAX_EXACT_CELLS", 800)
    assert np.isfinite(validity.expected_min_distinct_configs(m, 3)).all()


def test_the_flag_that_selects_the_formula():
    assert not validity.draws_without_replacement({"name": "rs", "batch": 1024})
    assert validity.draws_without_replacement({"replace": False})
    assert validity.draws_without_replacement({"sampling": "without_replacement"})
    assert validity.draws_without_replacement({"class": "runners.optimizer.RandomSearch", "repeats": "avoid"})
    assert not validity.draws_without_replacement(
        {"class": "runners.optimizer.RandomSearch", "repeats": "allow"}
    )
    assert not validity.draws_without_replacement({"sampling": "with_replacement"})
    assert validity.expected_coverage(1000, 100, without_replacement=True) == 0.1
    assert validity.expected_coverage(1000, 100, without_replacement=False) == pytest.approx(1 - 0.999**100)


def test_rung_fidelities_are_those_of_hyperband():
    assert validity.rung_fidelities(np.arange(1, 101.0)) == [1.0, 4.0, 11.0, 33.0, 100.0]
    assert validity.rung_fidelities(np.arange(1, 51.0)) == [2.0, 6.0, 17.0, 50.0]
    rc = validity.rung_correlations({1.0: np.array([[3.0], [1], [2]]), 2.0: np.array([[3.0], [2], [1]])})
    assert rc["spearman"].tolist() == pytest.approx([0.5, 1.0])
    assert validity.seed_ceiling(np.array([[1.0, 1], [2, 3], [3, 2], [4, 4]])) == pytest.approx(0.8)
    assert math.isnan(validity.seed_ceiling(np.ones((4, 1))))


# ---------------------------------------------------------------- tests against the baseline
def test_holm_and_the_comparison_with_random_search():
    np.testing.assert_allclose(validity.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    seeds = np.arange(10)
    rows = [{"benchmark": "b", "method": "rs", "seed": s, "r": 1.0 + 0.01 * s} for s in seeds]
    rows += [{"benchmark": "b", "method": "good", "seed": s, "r": 0.5 + 0.01 * s} for s in seeds]
    rows += [{"benchmark": "b", "method": "same", "seed": s, "r": 1.0 + 0.01 * s} for s in seeds]
    out = validity.compare_with_baseline(pd.DataFrame(rows), "r", "rs").set_index("method")
    assert out.at["good", "verdict"] == "better" and out.at["good", "rank_biserial"] == -1.0
    assert out.at["same", "verdict"] == "no difference" and out.at["good", "enough_seeds"]


def test_ratio_to_random_search_and_its_geometric_mean():
    rows = []
    for b, (rs, m) in {"x": (0.1, 0.05), "y": (0.2, 0.0)}.items():
        rows += [{"benchmark": b, "method": "rs", "seed": s, "n": rs} for s in range(3)]
        rows += [{"benchmark": b, "method": "m", "seed": s, "n": m} for s in range(3)]
    ratios = stats.ratio_to_baseline(pd.DataFrame(rows), "n", "rs", floor=0.01)
    geo = stats.geomean_ratio(ratios).set_index("method")
    assert geo.at["m", "geomean"] == pytest.approx(math.sqrt(0.5 * 0.05))  # 0 floored at 0.01
    assert geo.at["rs", "geomean"] == 1.0 and geo.at["m", "n_better"] == 2


def test_ranking_agreement_is_deterministic():
    rows = []
    for b in ("t", "t-surrogate"):
        for i, m in enumerate(["a", "b", "c", "d"]):
            rows += [{"benchmark": b, "method": m, "seed": s, "r": i + 0.1 * s} for s in range(5)]
    f = pd.DataFrame(rows)
    assert validity.surrogate_pairs(["t", "t-surrogate", "u"]) == [("t", "t-surrogate")]
    a = validity.ranking_agreement(f, "t", "t-surrogate", "r", n_boot=50)
    assert a["tau"] == 1.0 and a == validity.ranking_agreement(f, "t", "t-surrogate", "r", n_boot=50)


def test_vectorized_kendall_tau_b_equals_scipy():
    from scipy.stats import kendalltau

    rng = np.random.default_rng(0)
    xs = rng.integers(0, 4, (300, 7)).astype(float)  # many ties
    ys = np.where(rng.random((300, 7)) < 0.5, rng.integers(0, 3, (300, 7)), rng.random((300, 7)))
    got = validity.kendall_tau_b(xs, ys)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.array([kendalltau(x, y).statistic for x, y in zip(xs, ys)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.isnan(validity.kendall_tau_b(np.ones(5), np.arange(5.0)))


def test_ranking_agreement_interval_holds_its_estimate_when_methods_tie():
    # six methods; on the table 45 % of each method's seeds end at the optimum (a tie), the rest scattered
    g = np.random.default_rng(35)
    rows = []
    for i, m in enumerate("abcdef"):
        for s in range(10):
            rows.append(
                {
                    "benchmark": "t",
                    "method": m,
                    "seed": s,
                    "r": 0.0 if g.random() < 0.45 else round(g.random(), 1),
                }
            )
            rows.append(
                {"benchmark": "t-surrogate", "method": m, "seed": s, "r": 0.05 * i + g.normal(0, 0.1)}
            )
    a = validity.ranking_agreement(pd.DataFrame(rows), "t", "t-surrogate", "r", n_boot=300)
    assert (
        math.isfinite(a["tau"]) and a["low"] <= a["tau"] <= a["high"]
    )  # a percentile interval misses it here
    # every method tied on one side: no order, no interval
    flat = pd.DataFrame([{**r, "r": 0.0} if r["benchmark"] == "t" else r for r in rows])
    b = validity.ranking_agreement(flat, "t", "t-surrogate", "r", n_boot=50)
    assert math.isnan(b["tau"]) and math.isnan(b["low"]) and math.isnan(b["high"])


# ---------------------------------------------------------------- repeats from the events
def test_repeat_counts_from_events():
    ev = pd.DataFrame(
        {"config_id": [3, 3, 5, 3, 5], "fidelity": [1.0, 3.0, 1.0, 1.0, 3.0], "t_end": [1.0, 2, 3, 4, 5]}
    )
    assert repeat_counts(ev, 3.0) == {
        "n_repeated": 1.0,
        "n_distinct_configs": 2.0,
        "n_distinct_configs_max": 2.0,
    }
    sur = pd.DataFrame(
        {
            "config.lr": [0.1, 0.1, 0.2],
            "config.act": ["a", "a", "a"],
            "fidelity": [1.0] * 3,
            "t_end": [1.0, 2, 3],
        }
    )
    assert repeat_counts(sur)["n_repeated"] == 1.0 and repeat_counts(sur)["n_distinct_configs"] == 2.0
    # in ask order (trial ids): a fresh trial below a fidelity already reached, and a continuation to a rung another
    # trial of the same configuration took it to, are repeats; a continuation to a new fidelity is not
    asked = pd.DataFrame(
        {
            "trial_id": [0, 1, 2, 3],
            "config_id": [7, 7, 7, 7],
            "fidelity": [3.0, 1.0, 9.0, 9.0],
            "t_end": [5.0, 1.0, 9.0, 8.0],
        }
    )
    assert repeat_counts(asked)["n_repeated"] == 2.0  # trial 1 (1 <= 3) and trial 3 (9 <= 9)


def test_runner_and_report_count_repeats_alike(synthetic_bench):
    from runners.registry import OPTIMIZERS
    from runners.simulator import Budget, simulate

    for name in ("bohb", "hyperband", "dehb"):
        run = simulate(
            synthetic_bench, OPTIMIZERS[name], seed=1, n_workers=3, budget=Budget("evaluations", 10)
        )
        assert repeat_counts(run.events)["n_repeated"] == run.summary["n_repeated"]


# ---------------------------------------------------------------- conventions of recorded ranges
def _study_with_range(root, bench, ranges, checksum=None, names=("valid_loss", "test_loss")):
    for s, (rng_, src) in enumerate(ranges):
        ev = _simulate(np.random.default_rng(s), 1.0, 1, 50.0, 0.1, 1.0)
        meta = {
            "benchmark": bench,
            "optimizer": "rs",
            "seed": s,
            "n_workers": 1,
            "budget": {"kind": "time", "amount": 50.0},
            "benchmark_info": {"checksum": checksum, "n_configs": 10},
        }
        for key, name in zip(("objective", "test_objective"), names):
            meta[key] = {
                "name": name,
                "direction": "minimize",
                "optimum": 0.1,
                "value_range": list(rng_),
                "value_range_source": src,
            }
        write_run(root / bench / "rs" / "workers-1" / f"seed-{s}", ev, meta)
    return root


def test_ranges_by_two_conventions_prefer_the_median(tmp_path):
    old = (
        (0.1, 50.0),
        "optimum to the worst value at the maximum fidelity over every configuration and seed",
    )
    new = ((0.1, 0.6), "optimum to the median finite value at the maximum fidelity over every configuration")
    s = load_study(_study_with_range(tmp_path / "mixed", "toy", [old, new]))
    v = s.tasks["toy"].valid
    assert (v.worst, v.convention) == (0.6, "median-at-max-fidelity")
    s = load_study(_study_with_range(tmp_path / "old", "toy", [old, old]))
    assert (s.tasks["toy"].valid.worst, s.tasks["toy"].valid.convention) == (50.0, "worst-at-max-fidelity")


def test_an_old_range_is_recomputed_from_the_shipped_table(tmp_path):
    from benchmarks import catalog

    if not catalog.is_available("lcbench-car")[0]:
        pytest.skip("lcbench-car not generated here")
    b = catalog.load("lcbench-car")
    old = (
        (0.0, 99.0),
        "optimum to the worst value at the maximum fidelity over every configuration and seed",
    )
    root = _study_with_range(
        tmp_path / "s", "lcbench-car", [old], checksum=b.checksum, names=(b.objective, b.test_objective)
    )
    v = load_study(root).tasks["lcbench-car"].valid
    top = b.query_batch(np.arange(b.n_configs), fidelities=b.fidelity.max, seeds=0, metrics=[b.objective])[
        b.objective
    ]
    assert v.convention == "median-at-max-fidelity" and v.range_source.startswith(
        "recomputed from the benchmark"
    )
    assert v.worst < 99.0 and np.nanmin(top) <= v.worst <= np.nanmax(top)
    assert load_study(root, recompute=False).tasks["lcbench-car"].valid.worst == 99.0


# ---------------------------------------------------------------- the report's new sections
def test_report_has_the_new_sections(tmp_path):
    from runners.report import build_report

    root = write_synthetic_study(
        tmp_path / "r", benchmarks=("toy-a", "toy-a-surrogate", "toy-b"), seeds=range(10), budget=60.0
    )
    index = build_report(root, tmp_path / "out", grid=20)
    out = index.parent
    for t in ("mean_rank", "ratio_to_rs", "repeats", "validity", "order_vs_rs", "table_vs_surrogate"):
        assert (out / "tables" / f"{t}.csv").is_file(), t
    md = (out / "report.md").read_text()
    assert "## Cross-benchmark summary" in md and "## Validity of each benchmark" in md
    assert "no `summary.n_repeated`" in md  # older results: counts from the events only
    val = pd.read_csv(out / "tables" / "validity.csv")
    assert "benchmark not loadable" in val["rung_spearman"].iloc[0]
    # one block of ranks per metric, each row naming its metric: (metric, method, frac) is a key
    ranks = pd.read_csv(out / "tables" / "mean_rank.csv")
    assert list(ranks.columns[:3]) == ["metric", "method", "frac"] and ranks["metric"].nunique() == 2
    assert not ranks.duplicated(["metric", "method", "frac"]).any()
    assert ranks.duplicated(["method", "frac"]).any()  # without the metric column the key would be ambiguous
    assert set(json.loads((out / "report.json").read_text())["tables"]) >= {"validity", "repeats"}


def test_the_signed_rank_test_on_ranks_equals_scipy_on_the_differences():
    from scipy import stats as st

    rng = np.random.default_rng(0)
    for _ in range(10):
        d = np.round(rng.normal(size=10), 1)
        d[rng.random(10) < 0.2] = 0
        for alt in ("less", "greater"):
            assert validity._signed_rank(d, alt) == pytest.approx(
                st.wilcoxon(d, alternative=alt).pvalue, abs=1e-12
            )
