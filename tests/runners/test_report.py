"""Analysis and report: known answers on hand-made results, then whole reports from synthetic studies."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runners.analysis import stats
from runners.analysis import trajectory as tr
from runners.analysis.load import MetricInfo, ResultsFormatError, load_study
from runners.analysis.sections import ReportContext, final_section, summary_section
from runners.analysis.synthetic import write_synthetic_study
from runners.report import ReportOptions, build_report, main
from runners.results import write_run


def events(*rows):
    """Events of one run from (t_end, objective, test_objective) triples."""
    return pd.DataFrame(
        [
            {
                "trial_id": i,
                "t_end": t,
                "objective": v,
                "test_objective": te,
                "fidelity": 1.0,
                "status": "ok" if v == v else "diverged",
            }
            for i, (t, v, te) in enumerate(rows)
        ]
    )


def meta(direction="minimize", optimum=0.0, value_range=(0.0, 1.0), budget=100.0, n_workers=1, test=True):
    obj = {
        "name": "loss",
        "direction": direction,
        "optimum": optimum,
        "value_range": list(value_range) if value_range else None,
    }
    return {
        "n_workers": n_workers,
        "budget": {"kind": "time", "amount": budget},
        "objective": obj,
        "test_objective": {**obj, "name": "test_loss"} if test else None,
    }


def write(root, bench, opt, seed, ev, workers=1, **kw):
    return write_run(
        root / bench / opt / f"workers-{workers}" / f"seed-{seed}", ev, meta(n_workers=workers, **kw)
    )


# ---------------------------------------------------------------- incumbent and regret
def test_incumbent_steps_minimize_keeps_earlier_tie_and_skips_nan():
    st = tr.incumbent_steps(
        t_end=[3, 1, 2, 5, 4], valid=[5, 7, 5, 1, np.nan], test=[30, 70, 50, 10, 0], sign=1.0
    )
    assert st["t"].tolist() == [1, 2, 5]
    assert st["valid"].tolist() == [7, 5, 1]
    assert st["test"].tolist() == [
        70,
        50,
        10,
    ]  # the test value of the validation incumbent, not the best test


def test_incumbent_steps_maximize():
    st = tr.incumbent_steps(t_end=[1, 2, 3, 4], valid=[0.5, 0.4, 0.9, 0.7], test=[1, 2, 3, 4], sign=-1.0)
    assert st["t"].tolist() == [1, 3] and st["valid"].tolist() == [0.5, 0.9] and st["test"].tolist() == [1, 3]


def test_step_lookup_is_right_continuous_and_nan_before_first():
    v = tr.step_lookup([2.0, 5.0], [0.7, 0.3], np.array([1.0, 2.0, 4.9, 5.0, 9.0]))
    np.testing.assert_array_equal(v, [np.nan, 0.7, 0.7, 0.3, 0.3])


def test_regret_and_normalized_regret_both_directions():
    mx = MetricInfo("acc", "maximize", optimum=0.9, best=0.9, worst=0.5)
    np.testing.assert_allclose(tr.regret([0.8, 0.9], mx), [0.1, 0.0])
    np.testing.assert_allclose(tr.regret([0.8, 0.5], mx, normalized=True), [0.25, 1.0])
    mn = MetricInfo("loss", "minimize", optimum=0.2, best=0.2, worst=2.2)
    np.testing.assert_allclose(tr.regret([1.2], mn, normalized=True), [0.5])


# ---------------------------------------------------------------- summaries
def _summary(rows):
    return pd.DataFrame(rows, columns=["benchmark", "method", "frac", "t", "mean", "se", "n"])


def test_summarize_curves_mean_se_and_nan_until_every_seed_has_a_value():
    curves = pd.DataFrame(
        {
            "benchmark": "b",
            "method": "m",
            "seed": [0, 1, 0, 1],
            "frac": [0.5, 0.5, 1, 1],
            "t": [5, 5, 10, 10],
            "valid_regret": [np.nan, 0.4, 0.2, 0.4],
        }
    )
    s = stats.summarize_curves(curves, "valid_regret")
    assert math.isnan(s["mean"].iat[0]) and math.isnan(s["se"].iat[0])
    assert s["mean"].iat[1] == pytest.approx(0.3)
    assert s["se"].iat[1] == pytest.approx(np.std([0.2, 0.4], ddof=1) / math.sqrt(2))


def test_aggregate_combines_standard_errors_as_independent():
    s = _summary([("x", "m", 1.0, 10, 0.2, 0.3, 3), ("y", "m", 1.0, 50, 0.4, 0.4, 3)])
    agg = stats.aggregate_over_benchmarks(s)
    assert agg["mean"].iat[0] == pytest.approx(0.3)
    assert agg["se"].iat[0] == pytest.approx(math.sqrt(0.09 + 0.16) / 2)


def test_ranks_average_ties_and_put_missing_last():
    s = _summary(
        [
            ("x", "A", 1.0, 1, 1.0, 0, 1),
            ("x", "B", 1.0, 1, 1.0, 0, 1),
            ("x", "C", 1.0, 1, np.nan, 0, 1),
            ("y", "A", 1.0, 1, 2.0, 0, 1),
            ("y", "B", 1.0, 1, 1.0, 0, 1),
            ("y", "C", 1.0, 1, 3.0, 0, 1),
        ]
    )
    r = stats.ranks_over_time(s).set_index("method")["rank"]
    assert r.to_dict() == {"A": 1.75, "B": 1.25, "C": 3.0}


def test_final_table_medians_and_rank_sum_test_against_best():
    finals = pd.DataFrame(
        {
            "benchmark": "b",
            "method": ["good"] * 5 + ["bad"] * 5,
            "seed": list(range(5)) * 2,
            "valid_regret": [0.1, 0.2, 0.3, 0.4, 0.5, 1.1, 1.2, 1.3, 1.4, 1.5],
        }
    )
    t = stats.final_table(finals, "valid_regret").set_index("method")
    assert t.at["good", "best"] and not t.at["bad", "best"]
    assert t.at["good", "median"] == pytest.approx(0.3) and t.at["bad", "q25"] == pytest.approx(1.2)
    assert t.at["bad", "p_vs_best"] == pytest.approx(
        2 / 252
    )  # exact two-sided Mann-Whitney, complete separation
    assert t.at["bad", "worse"] and math.isnan(t.at["good", "p_vs_best"])


def test_final_table_across_benchmarks_is_paired_signed_rank():
    rows = []
    for i, b in enumerate("abcdef"):
        rows += [
            {"benchmark": b, "method": "A", "seed": 0, "v": 0.1 * i},
            {"benchmark": b, "method": "B", "seed": 0, "v": 0.1 * i + 0.05 * (i + 1)},
        ]
    t = stats.final_table_across_benchmarks(pd.DataFrame(rows), "v").set_index("method")
    assert t.at["A", "best"] and t.at["B", "p_vs_best"] == pytest.approx(2 / 64)  # all 6 differences one way


def test_critical_difference_ranks_a_strict_order():
    data = pd.DataFrame(
        {"A": np.arange(6) * 0.1, "B": np.arange(6) * 0.1 + 0.5, "C": np.arange(6) * 0.1 + 1.0}
    )
    res = stats.critical_difference(data)
    assert res.omnibus == "friedman" and res.posthoc == "nemenyi" and res.pvalue < 0.05
    assert res.rankdf["meanrank"].to_dict() == {"A": 1.0, "B": 2.0, "C": 3.0}
    with pytest.raises(ValueError, match="at least 3 methods"):
        stats.critical_difference(data[["A", "B"]])


# ---------------------------------------------------------------- speedup (hand-made study)
@pytest.fixture
def speed_study(tmp_path):
    root = tmp_path / "speed"
    write(root, "b", "rs", 0, events((10, 0.5, 0.6), (40, 0.2, 0.3)))
    write(root, "b", "rs", 1, events((20, 0.4, 0.5), (60, 0.2, 0.25)))
    write(root, "b", "fast", 0, events((5, 0.3, 0.3), (15, 0.1, 0.2)))
    write(root, "b", "fast", 1, events((10, 0.3, 0.3), (30, 0.2, 0.2)))
    write(root, "b", "slow", 0, events((50, 0.3, 0.3)))
    write(root, "b", "slow", 1, events((50, 0.3, 0.3), (70, np.nan, np.nan)))
    return load_study(root)


def test_speedup_over_random_search(speed_study):
    steps = tr.all_steps(speed_study)
    t = stats.speedup_table(speed_study, steps, "rs").set_index("method")
    # rs mean curve: 0.45 @20, 0.3 @40, 0.2 @60 -> target 0.2 reached at 60; fast's mean: 0.3 @10, 0.2 @15
    assert t.at["rs", "target"] == pytest.approx(0.2) and t.at["rs", "t_baseline"] == 60
    assert t.at["fast", "speedup"] == pytest.approx(4.0) and t.at["rs", "speedup"] == pytest.approx(1.0)
    assert not t.at["slow", "reached"] and math.isnan(t.at["slow", "speedup"])
    assert t.at["slow", "speedup_below"] == pytest.approx(60 / 100)


def test_regret_curves_and_final_values(speed_study):
    steps = tr.all_steps(speed_study)
    curves = tr.regret_curves(speed_study, steps, np.array([0.05, 0.5, 1.0]))
    fin = stats.final_values(curves).set_index(["method", "seed"])
    assert fin.at[("fast", 0), "valid_regret"] == pytest.approx(0.1)
    assert fin.at[("fast", 0), "test_regret"] == pytest.approx(0.2)
    assert fin.at[("slow", 1), "valid_nregret"] == pytest.approx(0.3)  # the diverged event never counts
    early = curves[(curves.frac == 0.05) & (curves.method == "rs")]
    assert early["valid_regret"].isna().all()  # t = 5 s: no rs result yet


def test_loader_counts_diverged_and_reads_budget(speed_study):
    runs = speed_study.runs.set_index(["method", "seed"])
    assert runs.at[("slow", 1), "n_failed"] == 1 and runs.at[("slow", 1), "n_events"] == 2
    assert speed_study.tasks["b"].horizon == 100 and speed_study.tasks["b"].horizon_source == "time budget"


# ---------------------------------------------------------------- loading: partial, missing, fallbacks
def test_partial_missing_and_tampered_runs_are_listed(tmp_path):
    root = write_synthetic_study(
        tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1, "x": 2}, seeds=(0, 1, 2)
    )
    (root / "a" / "x" / "workers-1" / "seed-1" / "meta.json").unlink()  # interrupted
    shutil.rmtree(root / "a" / "x" / "workers-1" / "seed-2")  # never started
    m = root / "a" / "rs" / "workers-1" / "seed-2" / "meta.json"  # events changed afterwards
    d = json.loads(m.read_text())
    d["events_sha256"] = "0" * 64
    m.write_text(json.dumps(d))
    st = load_study(root).runs.set_index(["method", "seed"])
    assert st.at[("x", 1), "status"] == "partial" and "no meta.json" in st.at[("x", 1), "note"]
    assert st.at[("x", 2), "status"] == "missing"
    assert st.at[("rs", 2), "status"] == "partial" and "checksum" in st.at[("rs", 2), "note"]
    assert (st["status"] == "complete").sum() == 3


def test_range_falls_back_to_the_study_and_says_so(tmp_path):
    root = tmp_path / "s"
    write(root, "b", "rs", 0, events((1, 0.5, 0.5), (2, 0.3, 0.4)), value_range=None, optimum=0.1)
    write(root, "b", "rs", 1, events((1, 0.9, 0.9)), value_range=None, optimum=0.1)
    v = load_study(root).tasks["b"].valid
    assert (v.best, v.worst, v.range_source, v.optimum_source) == (0.3, 0.9, "study", "meta")


def test_contradictory_metadata_is_an_error(tmp_path):
    root = tmp_path / "s"
    write(root, "b", "rs", 0, events((1, 0.5, 0.5)), direction="minimize")
    write(root, "b", "rs", 1, events((1, 0.5, 0.5)), direction="maximize")
    with pytest.raises(ResultsFormatError, match="disagree on the direction"):
        load_study(root)


def test_empty_study_folder_is_a_clear_error(tmp_path):
    (tmp_path / "s").mkdir()
    with pytest.raises(ResultsFormatError, match="no run folders"):
        load_study(tmp_path / "s")


# ---------------------------------------------------------------- whole reports
FAST = {"grid": 40}


def test_report_with_one_seed_and_one_optimizer(tmp_path):
    root = write_synthetic_study(tmp_path, "one", benchmarks=("a",), optimizers={"rs": 1.0}, seeds=(0,))
    index = build_report(root, tmp_path / "rep", **FAST)
    html = index.read_text()
    assert "Final performance" in html and "Speedup over random search" in html
    assert "needs at least 3 methods" in html
    info = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert info["methods"] == ["rs"] and info["figures"]
    assert "rank_over_time" not in info["figures"]  # one method: no rank to draw
    for name in info["figures"]:
        assert (tmp_path / "rep" / "figures" / f"{name}.png").stat().st_size > 1000
        assert (tmp_path / "rep" / "figures" / f"{name}.svg").stat().st_size > 1000
    for name in info["tables"]:
        assert (tmp_path / "rep" / "tables" / f"{name}.csv").exists()
    assert str(tmp_path) not in html  # no machine paths in the page


def test_report_draws_no_average_when_no_benchmark_has_every_method(tmp_path):
    root = write_synthetic_study(
        tmp_path, "s", benchmarks=("a", "b"), optimizers={"rs": 1, "x": 2}, seeds=(0, 1)
    )
    shutil.rmtree(root / "a" / "x")
    shutil.rmtree(root / "b" / "rs")
    build_report(root, tmp_path / "rep", **FAST)
    info = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert "nregret_over_time" not in info["figures"] and "rank_over_time" not in info["figures"]
    assert (
        "No average: no benchmark has complete runs of every method"
        in (tmp_path / "rep" / "report.md").read_text()
    )


def test_report_lists_partial_and_missing_runs(tmp_path):
    root = write_synthetic_study(
        tmp_path, "s", benchmarks=("a", "b"), optimizers={"rs": 1, "x": 2}, seeds=(0, 1)
    )
    (root / "b" / "x" / "workers-1" / "seed-0" / "meta.json").unlink()
    shutil.rmtree(root / "a" / "rs" / "workers-1" / "seed-1")
    build_report(root, tmp_path / "rep", **FAST)
    inc = pd.read_csv(tmp_path / "rep" / "tables" / "incomplete_runs.csv")
    got = set(zip(inc["benchmark"], inc["method"], inc["seed"], inc["status"]))
    assert got == {("b", "x", 0, "partial"), ("a", "rs", 1, "missing")}
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "2 run(s) are partial or missing" in md
    runs = pd.read_csv(tmp_path / "rep" / "tables" / "runs.csv")
    assert len(runs) == 8 and (runs["status"] == "complete").sum() == 6


def test_report_is_deterministic_and_replaces_only_reports(tmp_path):
    root = write_synthetic_study(
        tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1, "x": 3}, seeds=(0, 1), maximize=("a",)
    )
    out = build_report(root, tmp_path / "rep", **FAST).parent
    first = {
        p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.suffix in (".csv", ".md", ".svg")
    }
    assert len(first) > 10
    build_report(root, out, **FAST)  # an existing report is replaced, with byte-identical figures and tables
    second = {
        p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.suffix in (".csv", ".md", ".svg")
    }
    first.pop(Path("report.md"))  # holds the generation time
    assert {k: v for k, v in second.items() if k in first} == first
    other = tmp_path / "not-a-report"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not a CurveBench report"):
        build_report(root, other, **FAST)
    assert (other / "keep.txt").read_text() == "x"


def test_a_folder_whose_report_json_is_not_a_reports_is_never_replaced(tmp_path):
    root = write_synthetic_study(tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1}, seeds=(0,))
    other = tmp_path / "thesis"
    other.mkdir()
    (other / "report.json").write_text('{"tool": "something else"}')
    (other / "thesis.tex").write_text("x")
    with pytest.raises(FileExistsError, match="not a CurveBench report"):
        build_report(root, other, **FAST)
    assert sorted(p.name for p in other.iterdir()) == ["report.json", "thesis.tex"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileExistsError, match="is not a folder"):
        build_report(root, tmp_path / "afile", **FAST)


def test_the_markdown_report_shows_hostile_names_and_never_runs_them(tmp_path):
    # names and notes come from results folders that may be someone else's: raw HTML and foreign links are
    # shown as text in report.md and its tables (the HTML page escapes them too)
    root = tmp_path / "s"
    bench, opt = "b<img src=x onerror=alert(1)>", "rs[x](javascript:alert(2))"
    for seed in (0, 1):
        write(root, bench, opt, seed, events((1, 0.5, 0.5), (2, 0.3, 0.4)))
    out = build_report(root, tmp_path / "rep", **FAST).parent
    for md in [out / "report.md", *(out / "tables").glob("*.md")]:
        text = md.read_text()
        assert "<img" not in text and not re.search(r"(?<!\\)\]\(javascript:", text), md.name
    assert "&lt;img src=x onerror=alert(1)&gt;" in (out / "report.md").read_text()
    assert "<img src=x" not in (out / "index.html").read_text()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("t_end", math.inf, r"t_end must be finite and >= 0; row 1 holds inf"),
        ("t_end", math.nan, r"t_end must be finite and >= 0; row 1 holds nan"),
        ("t_end", -2.0, r"t_end must be finite and >= 0; row 1 holds -2\.0"),
        ("trial_id", math.inf, r"trial_id must be a whole number >= 0 .*row 1 holds inf"),
        ("fidelity", -math.inf, r"fidelity must be finite .*row 1 holds -inf"),
    ],
)
def test_event_times_and_ids_past_what_a_run_writes_are_errors_not_other_statistics(
    tmp_path, column, value, message
):
    # an infinite time moved the horizon (and every method's final regret), a NaN one dropped the evaluation
    root = tmp_path / "s"
    ev = events((1, 0.5, 0.5), (2, 0.3, 0.4))
    ev[column] = ev[column].astype(float)
    ev.loc[1, column] = value
    write(root, "b", "rs", 0, ev)
    with pytest.raises(ResultsFormatError, match=rf"events\.parquet: {message}"):
        load_study(root)


def test_an_events_file_past_the_runners_limit_is_refused_before_reading(tmp_path, monkeypatch):
    import runners.analysis.load as load

    monkeypatch.setattr(load, "MAX_EVENTS", 2)
    root = tmp_path / "s"
    write(root, "b", "rs", 0, events((1, 0.5, 0.5), (2, 0.3, 0.4), (3, 0.2, 0.2)))
    with pytest.raises(ResultsFormatError, match="3 events, more than the 2 a run can record"):
        load_study(root)


def test_report_parallel_scaling_when_workers_vary(tmp_path):
    root = write_synthetic_study(
        tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1, "x": 2}, seeds=(0, 1), n_workers=(1, 4)
    )
    build_report(root, tmp_path / "rep", **FAST)
    t = pd.read_csv(tmp_path / "rep" / "tables" / "parallel_scaling.csv")
    assert sorted(set(t["n_workers"])) == [1, 4] and set(t["optimizer"]) == {"rs", "x"}
    assert (t.loc[t.n_workers == 1, "speedup"] == 1.0).all()
    assert (tmp_path / "rep" / "figures" / "parallel_scaling.svg").exists()


def test_options_are_validated():
    with pytest.raises(ValueError, match="fractions"):
        ReportOptions(fractions=(0.0,))
    with pytest.raises(ValueError, match="alpha"):
        ReportOptions(alpha=2)


def test_a_section_builds_on_its_own(tmp_path):
    """One section function, called without the rest of the report, returns its part and writes only its table."""
    root = write_synthetic_study(
        tmp_path, "s", benchmarks=("a", "b"), optimizers={"rs": 1, "x": 3}, seeds=(0, 1)
    )
    ctx = ReportContext(load_study(root), tmp_path / "part", ReportOptions(grid=20))
    section = final_section(ctx)
    assert section.title == "Final performance"
    assert ctx.written == {"figures": [], "tables": ["final_valid", "final_test"]}
    assert sorted(p.name for p in (tmp_path / "part" / "tables").iterdir()) == [
        "final_test.csv",
        "final_test.md",
        "final_valid.csv",
        "final_valid.md",
    ]
    fin = pd.read_csv(tmp_path / "part" / "tables" / "final_valid.csv")
    assert set(fin["method"]) == {"rs", "x"} and set(fin["benchmark"]) >= {"a", "b"}
    assert summary_section(ctx).title == "Summary" and ctx.written["figures"] == []


def test_critical_difference_blocks_never_average_only_the_seeds_that_have_a_value():
    # a method with a seed missing has no mean on that benchmark (as in the curves' means and ranks): the test
    # falls back to (benchmark, seed) blocks instead of drawing a partial mean as the best
    rows = [
        {"benchmark": b, "method": m, "seed": s, "frac": 0.1, "valid_nregret": v}
        for b in "abcde"
        for m, vals in {"A": [0.1, np.nan], "B": [0.3, 0.35], "C": [0.5, 0.55]}.items()
        for s, v in enumerate(vals)
    ]
    data, note = stats.cd_blocks(pd.DataFrame(rows), "valid_nregret", 0.1)
    assert "(benchmark, seed) pairs" in note and len(data) == 5
    assert (data["A"] == 0.1).all()  # seed 0's pairs only: seed 1 of A has no value


def test_each_method_is_set_against_random_search_at_its_own_worker_count(tmp_path):
    from runners.analysis.sections import performance, trust

    root = write_synthetic_study(
        tmp_path,
        "s",
        benchmarks=("a", "b", "c"),
        optimizers={"rs": 1, "x": 3},
        seeds=tuple(range(6)),
        n_workers=(1, 4),
    )
    ctx = ReportContext(load_study(root), tmp_path / "part", ReportOptions(grid=20))
    performance.cross_section(ctx)
    r = pd.read_csv(tmp_path / "part" / "tables" / "ratio_to_rs.csv")
    assert (r.loc[r["method"].str.startswith("rs"), "ratio"] == 1.0).all()  # rs at 4 workers against itself
    x4 = r[r["method"] == "x (4 workers)"].set_index("benchmark")
    rs4 = r[r["method"] == "rs (4 workers)"].set_index("benchmark")
    assert (x4["baseline_median"] == rs4["median"]).all()
    trust.validity_section(ctx)
    order = pd.read_csv(tmp_path / "part" / "tables" / "order_vs_rs.csv")
    assert not order["method"].str.startswith("rs").any()  # random search is never set against itself
    assert set(order["method"]) == {"x (1 worker)", "x (4 workers)"}


def test_random_search_against_its_expectation_takes_each_run_at_its_own_draws(tmp_path):
    from runners.analysis.sections import trust

    root = write_synthetic_study(
        tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1}, seeds=(0, 1, 2), n_workers=(1, 4)
    )
    st = load_study(root)
    ctx = ReportContext(st, tmp_path / "part", ReportOptions(grid=20))
    base = ctx.baseline_runs("a")
    assert base["n_events"].nunique() > 1  # runs of different lengths
    n = int(base["n_events"].max())
    curve = np.linspace(1.0, 0.1, n)
    ctx.rs_expected = lambda b: (curve, False)  # a stand-in for a table's exact curve
    trust.rs_expected_section(ctx)
    row = pd.read_csv(tmp_path / "part" / "tables" / "rs_expected.csv").iloc[0]
    assert row["n_seeds"] == 6  # the runs at 1 and 4 workers are separate runs, not merged by seed number
    assert row["expected_final_regret"] == pytest.approx(np.mean(curve[base["n_events"].to_numpy(int) - 1]))
    ev = st.events[st.events["benchmark"] == "a"]
    want = (ev.groupby(["method", "seed"])["valid"].min() - st.tasks["a"].valid.optimum).mean()
    assert row["simulated_mean"] == pytest.approx(want)


def test_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CURVEBENCH_TRACEBACK", raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    write_synthetic_study(tmp_path / "results", "cli", benchmarks=("a",), optimizers={"rs": 1}, seeds=(0,))
    out = tmp_path / "reports" / "cli"
    root = f"results_root={tmp_path / 'results'}"
    assert main(["study=cli", root, f"out={out}", "grid=20", "progress=false"]) == 0
    assert (out / "index.html").exists() and "report written" in capsys.readouterr().out
    # the action word, a Hydra list and the older a,b form of a list
    assert main(["build", "study=cli", root, f"out={out}", "grid=20", "fractions=[0.5,1]"]) == 0
    assert json.loads((out / "report.json").read_text())["options"]["fractions"] == [0.5, 1.0]
    assert main(["study=cli", root, f"out={out}", "grid=20", "fractions=0.25,1"]) == 0
    assert json.loads((out / "report.json").read_text())["options"]["fractions"] == [0.25, 1.0]
    capsys.readouterr()
    for argv, message in (
        (["studdy=cli"], "unknown key 'studdy' in the report. Did you mean 'study'?"),
        (["cli"], "'cli' is not key=value; use study=cli"),
        (["--grid=20", "study=cli"], "use grid=20"),
        (["study=cli", root, "grid=many"], "'grid=many'"),
        (["study=cli", root, "alpha=2"], "alpha=2.0: must be in (0, 1)"),
        (["study=cli", root, "fractions=[0,1]"], "each must be in (0, 1]"),
        ([root], "which study?"),
        (["study=nope", root], "no study folder"),
        (["study=clj", root], "Did you mean 'cli'? Studies there: cli"),
        (
            ["study=cli", root, f"out={tmp_path / 'r2'}", "baseline=rss", "progress=false"],
            "baseline='rss' is not",
        ),
        (["study=cli", root, f"out={tmp_path}"], "is not a CurveBench report"),
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, (argv, err)
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "fractions=[0.1,0.5,1.0]" in capsys.readouterr().out


def test_report_without_test_objective(tmp_path):
    root = tmp_path / "s"
    for opt, v in (("rs", 0.5), ("x", 0.3)):
        write(root, "b", opt, 0, events((1, 0.9, np.nan), (2, v, np.nan)), test=False)
    build_report(root, tmp_path / "rep", **FAST)
    tables = {p.stem for p in (tmp_path / "rep" / "tables").glob("*.csv")}
    assert "final_valid" in tables and "final_test" not in tables
    fin = pd.read_csv(tmp_path / "rep" / "tables" / "final_valid.csv").set_index(["benchmark", "method"])
    assert fin.at[("b", "x"), "median"] == pytest.approx(0.3) and fin.at[("b", "x"), "best"]


def test_a_value_beyond_the_recorded_optimum_becomes_the_reference(tmp_path):
    root = tmp_path / "s"
    write(root, "b", "rs", 0, events((1, 0.5, 0.5), (2, -0.2, 0.4)), optimum=0.0, value_range=(0.0, 1.0))
    v = load_study(root).tasks["b"].valid
    assert v.optimum == v.best == -0.2 and v.worst == 1.0 and "beats the recorded optimum" in v.optimum_source


def test_reads_what_the_runner_writes(tmp_path):
    """Runs written by the runner's own code (simulator + results writer) load and report."""
    from runners.optimizer import RandomSearch
    from runners.optimizers.asha import ASHA
    from runners.results import build_meta, run_dir
    from runners.simulator import Budget, simulate
    from runners.testing import toy_benchmark

    toy = toy_benchmark(tmp_path / "toy")
    for name, cls in (("rs", RandomSearch), ("asha", ASHA)):
        for seed in (0, 1):
            r = simulate(toy, cls, seed=seed, n_workers=2, budget=Budget("evaluations", 6))
            m = build_meta(
                r,
                toy,
                study="s",
                benchmark_name="toy",
                optimizer_name=name,
                run_config={},
                started_utc="2000-01-01T00:00:00Z",
            )
            write_run(run_dir(tmp_path / "results", "s", "toy", name, 2, seed), r, m)
    study = load_study(tmp_path / "results" / "s")
    assert (study.runs["status"] == "complete").all() and study.methods == ["asha", "rs"]
    task = study.tasks["toy"]
    assert task.valid.optimum == pytest.approx(toy.optimum())
    assert task.valid.range_source.startswith("runner, ") and "maximum fidelity" in task.valid.range_source
    assert task.test is not None and task.horizon_source == "latest run end"
    first = (
        study.events[(study.events.method == "rs") & (study.events.seed == 0)].sort_values("t_end").iloc[0]
    )
    raw = pd.read_parquet(run_dir(tmp_path / "results", "s", "toy", "rs", 2, 0) / "events.parquet")
    assert first["valid"] == raw.sort_values("t_end", kind="stable")["objective"].iloc[0]
    build_report(tmp_path / "results" / "s", tmp_path / "rep", **FAST)
    sp = pd.read_csv(tmp_path / "rep" / "tables" / "speedup.csv").set_index("method")
    assert sp.at["rs", "speedup"] == pytest.approx(1.0)


def test_a_run_without_any_result_keeps_means_undefined():
    steps = pd.DataFrame({"seed": [0, 0], "t": [1.0, 3.0], "valid": [0.5, 0.2]})
    t, m = tr.mean_step_curve(steps, "valid", seeds=[0, 1])  # seed 1 has no result at all
    assert t.tolist() == [1.0, 3.0] and np.isnan(m).all()
    assert tr.mean_step_curve(steps, "valid", seeds=[0])[1].tolist() == [0.5, 0.2]
    finals = pd.DataFrame(
        {
            "benchmark": ["a", "a", "b", "b"],
            "method": ["A", "B", "A", "B"],
            "seed": 0,
            "v": [0.1, np.nan, 0.2, 0.3],
        }
    )
    agg = stats.final_table_across_benchmarks(finals, "v").set_index("method")
    assert agg.at["A", "n"] == 1 and agg.at["B", "median"] == pytest.approx(0.3)  # benchmark a left out


# ---------------------------------------------------------------- the study plan (study.json)
def write_plan(root, runs, failures=(), unavailable=()):
    plan = {
        "format": "curvebench-study",
        "format_version": 1,
        "study": root.name,
        "status": "finished",
        "runs": [
            {
                "benchmark": b,
                "optimizer": o,
                "n_workers": w,
                "seed": s,
                "path": f"{b}/{o}/workers-{w}/seed-{s}",
                **({"note": n} if n else {}),
            }
            for b, o, w, s, n in runs
        ],
        "failures": list(failures),
        "unavailable": list(unavailable),
    }
    (root / "study.json").write_text(json.dumps(plan))


def test_planned_runs_without_a_folder_are_missing_with_their_reason(tmp_path):
    root = write_synthetic_study(tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1, "x": 2}, seeds=(0, 1))
    shutil.rmtree(root / "a" / "x" / "workers-1" / "seed-1")
    # a method that never ran anywhere, a benchmark that was not available, and a failed run
    runs = [(b, o, 1, s, None) for b in ("a",) for o in ("rs", "x", "ghost") for s in (0, 1)]
    runs += [("gone", o, 1, s, "benchmark not available here: no table") for o in ("rs", "x") for s in (0, 1)]
    write_plan(
        root,
        runs,
        failures=[
            {"benchmark": "a", "optimizer": "x", "n_workers": 1, "seed": 1, "error": "ValueError: boom"}
        ],
    )
    st = load_study(root).runs.set_index(["benchmark", "method", "seed"])
    assert (st["status"] == "complete").sum() == 3 and (st["status"] == "missing").sum() == 7
    assert "run failed: ValueError: boom" in st.at[("a", "x", 1), "note"]
    assert "never started" in st.at[("a", "ghost", 0), "note"]
    assert st.at[("gone", "rs", 1), "note"] == "benchmark not available here: no table"
    out = build_report(root, tmp_path / "rep", **FAST)
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert sum(r["status"] == "missing" for r in rep["runs"]) == 7 and out.is_file()
    assert "ghost" in (tmp_path / "rep" / "tables" / "incomplete_runs.csv").read_text()


def test_a_plan_without_any_finished_run_still_gives_a_report(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    write_plan(
        root,
        [("a", "rs", 4, 0, None)],
        failures=[
            {"benchmark": "a", "optimizer": "rs", "n_workers": 4, "seed": 0, "error": "RuntimeError: no"}
        ],
    )
    study = load_study(root)
    assert list(study.runs["status"]) == ["missing"] and len(study.events) == 0
    build_report(root, tmp_path / "rep", **FAST)
    assert "RuntimeError: no" in (tmp_path / "rep" / "report.md").read_text()


def test_run_folders_the_plan_does_not_list_still_set_the_grid(tmp_path):
    # a plan that a rerun with fewer seeds shrank (older versions replaced it): the folders of seeds 1-3 of rs
    # still say those seeds were run, so the missing seeds of x are listed, not hidden
    root = write_synthetic_study(
        tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1, "x": 2}, seeds=(0, 1, 2, 3)
    )
    for s in (1, 2, 3):
        shutil.rmtree(root / "a" / "x" / "workers-1" / f"seed-{s}")
    write_plan(root, [("a", o, 1, 0, None) for o in ("rs", "x")])
    st = load_study(root).runs.set_index(["method", "seed"])
    assert (st["status"] == "complete").sum() == 5 and (st["status"] == "missing").sum() == 3
    for s in (1, 2, 3):
        assert st.at[("x", s), "status"] == "missing"
        assert (
            f"seed {s} has run folders on this benchmark that study.json does not list"
            in st.at[("x", s), "note"]
        )
    build_report(root, tmp_path / "rep", **FAST)
    assert "5 complete, 0 partial, 3 missing" in (tmp_path / "rep" / "report.md").read_text()


def test_a_copied_or_moved_run_folder_is_damaged_not_an_extra_seed(tmp_path):
    root = write_synthetic_study(
        tmp_path, "s", benchmarks=("a", "b"), optimizers={"rs": 1, "x": 2}, seeds=(0, 1)
    )
    shutil.copytree(root / "a" / "rs" / "workers-1" / "seed-0", root / "a" / "rs" / "workers-1" / "seed-7")
    shutil.copytree(root / "b" / "x" / "workers-1" / "seed-1", root / "a" / "x" / "workers-2" / "seed-1")
    study = load_study(root)
    st = study.runs.set_index(["benchmark", "optimizer", "n_workers", "seed"])
    copied = st.loc[("a", "rs", 1.0, 7)]
    assert copied["status"] == "partial"
    assert "is of another run (seed 0, but the folder is of seed 7)" in copied["note"]
    moved = st.loc[("a", "x", 2.0, 1)]
    assert (
        moved["status"] == "partial" and "benchmark 'b', but the folder is of benchmark 'a'" in moved["note"]
    )
    assert "n_workers 1, but the folder is of n_workers 2" in moved["note"]
    assert not ((study.events["seed"] == 7) | (study.events["n_workers"] == 2)).any()
    build_report(root, tmp_path / "rep", **FAST)  # the report is still written, naming both
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "but the folder is of seed 7" in md and "but the folder is of benchmark" in md


def test_failures_a_shard_recorded_reach_the_report(tmp_path):
    root = write_synthetic_study(tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1, "x": 2}, seeds=(0, 1))
    shutil.rmtree(root / "a" / "x" / "workers-1" / "seed-1")
    write_plan(root, [("a", o, 1, s, None) for o in ("rs", "x") for s in (0, 1)])
    fail = {"benchmark": "a", "optimizer": "x", "n_workers": 1, "seed": 1, "error": "ValueError: shard boom"}
    (root / "shard-1-of-2.json").write_text(json.dumps({"shard": 1, "n_shards": 2, "failures": [fail]}))
    st = load_study(root).runs.set_index(["method", "seed"])
    assert (
        st.at[("x", 1), "status"] == "missing"
        and st.at[("x", 1), "note"] == "run failed: ValueError: shard boom"
    )
    build_report(root, tmp_path / "rep", **FAST)
    assert "ValueError: shard boom" in (tmp_path / "rep" / "report.md").read_text()
    # a shard file is checked like the plan: the bad value and what is allowed are named
    (root / "shard-0-of-2.json").write_text(json.dumps({"failures": [{**fail, "seed": "one"}]}))
    with pytest.raises(
        ResultsFormatError, match=r"shard-0-of-2\.json: failures\[0\]\.seed must be an integer, got 'one'"
    ):
        load_study(root)


def test_a_meta_json_without_status_is_not_a_complete_run(tmp_path):
    root = write_synthetic_study(tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1}, seeds=(0, 1))
    m = root / "a" / "rs" / "workers-1" / "seed-1" / "meta.json"
    d = json.loads(m.read_text())
    del d["status"]
    m.write_text(json.dumps(d))
    st = load_study(root).runs.set_index("seed")
    assert st.at[0, "status"] == "complete"
    assert st.at[1, "status"] == "partial" and "records no status" in st.at[1, "note"]


def test_symbolic_links_in_a_results_folder_are_never_followed(tmp_path):
    outside = write_synthetic_study(
        tmp_path, "other", benchmarks=("a", "z"), optimizers={"rs": 1, "x": 2}, seeds=(0, 5)
    )
    root = write_synthetic_study(tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1, "x": 2}, seeds=(0, 1))
    wdir = root / "a" / "rs" / "workers-1"
    (wdir / "seed-5").symlink_to(outside / "a" / "rs" / "workers-1" / "seed-5", target_is_directory=True)
    for name in ("meta.json", "events.parquet"):  # a run whose files are links to another run's
        (root / "a" / "x" / "workers-1" / "seed-1" / name).unlink()
        (root / "a" / "x" / "workers-1" / "seed-1" / name).symlink_to(
            outside / "a" / "x" / "workers-1" / "seed-0" / name
        )
    (root / "z").symlink_to(outside / "z", target_is_directory=True)  # a whole benchmark from elsewhere
    write_plan(root, [(b, o, 1, s, None) for b in ("a", "z") for o in ("rs", "x") for s in (0, 1)])
    with pytest.warns(UserWarning, match=r"z is a symbolic link; the report does not follow it"):
        study = load_study(root)
    st = study.runs.set_index(["benchmark", "method", "seed"])
    assert (
        st.at[("a", "rs", 5), "status"] == "partial"
        and "seed-5 is a symbolic link" in st.at[("a", "rs", 5), "note"]
    )
    assert (
        st.at[("a", "x", 1), "status"] == "partial" and "is a symbolic link" in st.at[("a", "x", 1), "note"]
    )
    for o in ("rs", "x"):
        for s in (0, 1):
            assert st.at[("z", o, s), "status"] == "missing"
            assert "a symbolic link that is not followed" in st.at[("z", o, s), "note"]
    assert set(study.events["benchmark"]) == {"a"} and 5 not in set(study.events["seed"])
    assert (st["status"] == "complete").sum() == 3


def test_an_estimated_range_is_named_in_the_report(tmp_path):
    root = tmp_path / "s"
    how = "estimated from 1000 configurations sampled uniformly (seed 0) at the maximum fidelity"
    for s in (0, 1):
        m = meta()
        m["objective"]["value_range_source"] = how
        write_run(root / "b" / "rs" / "workers-1" / f"seed-{s}", events((1, 0.5, 0.5), (2, 0.3, 0.4)), m)
    v = load_study(root).tasks["b"].valid
    assert (v.best, v.worst) == (0.0, 1.0) and v.range_source == f"runner, {how}"
    build_report(root, tmp_path / "rep", **FAST)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert how in md and "See Benchmarks for where each range comes from" in md


def test_the_palette_keeps_fifteen_methods_apart_in_colour_and_in_grey_print():
    import matplotlib.colors as mc

    from runners.analysis.plots import Palette

    opts = [f"opt{i:02d}" for i in range(15)] + ["rs"]
    runs = pd.DataFrame({"method": opts, "optimizer": opts, "n_workers": 4})
    pal = Palette.for_methods(runs, baseline="rs")
    others = [m for m in opts if m != "rs"]
    assert len({pal.color[m] for m in others}) == 15  # distinct colours
    assert len({pal.marker[m] for m in others}) == 15 and all(
        pal.marker[m] for m in others
    )  # distinct markers
    for m in others:  # no method but the baseline is a mid grey, which would read as the baseline
        r, g, b = mc.to_rgb(pal.color[m])
        assert not (abs(r - g) < 0.05 and abs(g - b) < 0.05 and 0.15 < r < 0.85), (m, pal.color[m])
    assert pal.marker["rs"] == "" and "marker" not in pal.kw("rs")
    kw = pal.kw("opt03")
    assert kw["marker"] == pal.marker["opt03"] and kw["color"] == pal.color["opt03"]


def test_regret_lines_with_markers_survive_values_a_log_axis_cannot_draw(tmp_path):
    """A method whose summary is all NaN (or non-positive on a log axis) draws nothing, and saving must not fail."""
    from runners.analysis.plots import Palette, regret_over_time, save_figure

    runs = pd.DataFrame({"method": ["rs", "a", "b"], "optimizer": ["rs", "a", "b"], "n_workers": 4})
    pal = Palette.for_methods(runs, baseline="rs")
    xs = np.geomspace(0.01, 1, 50)
    s = pd.concat(
        [
            pd.DataFrame({"method": "rs", "frac": xs, "mean": 1 / (1 + 10 * xs), "se": 0.01}),
            pd.DataFrame({"method": "a", "frac": xs, "mean": np.nan, "se": np.nan}),
            pd.DataFrame({"method": "b", "frac": xs, "mean": np.where(xs < 0.5, np.nan, 0.1), "se": np.nan}),
        ]
    )
    fig = regret_over_time({"t": s}, pal, x="frac", ylabel="regret", titles={"t": "t"}, xlabel="fraction")
    paths = save_figure(fig, tmp_path, "regret")
    assert paths["png"].stat().st_size > 0


def test_wide_tables_are_split_into_tables_that_fit_the_page_and_keep_every_cell():
    from runners.analysis.render import PAGE_CHARS, column_chunks, html_table, markdown_table

    cols = [f"benchmark-{i:02d}" for i in range(19)]
    df = pd.DataFrame(
        [[f"**better** (r = -0.9{i}, p = 0.0{j})" for i in range(19)] for j in range(9)],
        index=pd.Index([f"method-{j}" for j in range(9)], name="method"),
        columns=cols,
    )
    parts = column_chunks(df)
    assert len(parts) > 1 and [c for p in parts for c in p.columns] == cols  # every column once, in order
    md = markdown_table(df)
    for block in md.split("\n\n"):
        assert max(len(line) for line in block.splitlines()) <= PAGE_CHARS + 10
        assert block.count("\n") == 1 + 9  # header, rule and every row in each part
    assert html_table(df).count("<table>") == len(parts)
    small = df.iloc[:, :2]
    assert len(column_chunks(small)) == 1 and "\n\n" not in markdown_table(small)


def test_the_report_reads_the_events_it_checked_not_a_file_swapped_after(tmp_path, monkeypatch):
    import runners.analysis.load as load_mod

    root = write_synthetic_study(tmp_path, "s", benchmarks=("a",), optimizers={"rs": 1}, seeds=(0, 1))
    want = load_study(root).events.sort_values(["seed", "t_end"]).reset_index(drop=True)
    other = (root / "a" / "rs" / "workers-1" / "seed-1" / "events.parquet").read_bytes()
    read = load_mod._events_bytes

    def read_then_swap(path):
        data = read(path)
        if path.parent.name == "seed-0":  # another process replaces the file once it has been read
            path.write_bytes(other)
        return data

    monkeypatch.setattr(load_mod, "_events_bytes", read_then_swap)
    got = load_study(root)
    assert (root / "a" / "rs" / "workers-1" / "seed-0" / "events.parquet").read_bytes() == other
    assert set(got.runs["status"]) == {"complete"}
    pd.testing.assert_frame_equal(got.events.sort_values(["seed", "t_end"]).reset_index(drop=True), want)
