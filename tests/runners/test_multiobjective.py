"""Multi-objective runs: objectives in the run config, cumulative costs, hypervolume, the report's sections."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import catalog
from runners.multiobjective import (
    MultiObjective,
    cumulative_costs,
    hypervolume,
    hypervolume_trajectory,
    nondominated,
    pareto_ranks,
    run_objectives,
    table_points,
)
from runners.optimizer import Optimizer
from runners.registry import make_optimizer
from runners.report import build_report
from runners.run import run_config
from runners.simulator import Budget, simulate


def test_hypervolume_and_sorting_on_a_hand_checked_example():
    pts = np.array([[0.2, 0.6], [0.5, 0.3], [0.4, 0.7], [0.9, 0.1], [1.2, 0.0]])
    # union of [0.2,1]x[0.6,1], [0.5,1]x[0.3,1], [0.9,1]x[0.1,1]; (0.4,0.7) is dominated, (1.2,0) is outside
    want = 0.8 * 0.4 + 0.5 * 0.3 + 0.1 * 0.2
    assert hypervolume(pts) == pytest.approx(want)
    assert nondominated(pts).tolist() == [True, True, False, True, True]
    assert pareto_ranks(pts).tolist() == [0, 0, 1, 0, 0]
    times = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    traj = hypervolume_trajectory(times, pts, np.array([0.5, 1.0, 3.0, 10.0]))
    assert traj.tolist() == pytest.approx([0.0, 0.5 * 0.7, hypervolume(pts[[0, 1]]), want])


@pytest.mark.parametrize("method", ["hyperband", "median-stopping"])
def test_every_evaluations_objectives_are_the_tables_point_cumulative_cost_included(method):
    """Hyperband continues trials, median stopping's trials report every epoch (the events record each
    segment's increment): the cumulative cost of every evaluation must be the table's cost of its
    (configuration, fidelity, seed), and every point one the table holds."""
    bench = catalog.load("lcbench-car")
    mo = MultiObjective(bench, ["objective", "cost", "n_params"])
    r = simulate(bench, make_optimizer(method), seed=1, n_workers=4, budget=Budget("evaluations", 10))
    ev = r.events
    assert ev["continues"].notna().any() or ev["trial_id"].duplicated().any()
    cum = cumulative_costs(ev)
    ids, fid, seed = ev["config_id"].to_numpy(int), ev["fidelity"].to_numpy(), ev["seed"].to_numpy()
    want = np.array(
        [bench.query(bench.config(i), fidelity=f, seed=int(s)).cost for i, f, s in zip(ids, fid, seed)]
    )
    np.testing.assert_allclose(cum, want, rtol=1e-12)
    pts = run_objectives(bench, mo.metrics, ev)
    held = {tuple(row) for row in table_points(bench, mo.metrics)}
    assert all(tuple(p) in held for p in pts)


def test_inference_cost_runs_are_scored_like_the_others():
    # the report rebuilds each evaluation's objectives and the table's points: infer_cost is a property of the
    # configuration, as n_params is (it was read as a table metric and the benchmark left out of the report)
    bench = catalog.load("lcbench-letter")
    mo = MultiObjective(bench, ["objective", "infer_cost"])
    r = simulate(bench, make_optimizer("rs"), seed=0, n_workers=2, budget=Budget("evaluations", 5))
    pts = run_objectives(bench, mo.metrics, r.events)
    held = table_points(bench, mo.metrics, [bench.fidelity.max])
    assert np.isfinite(pts).all() and np.isfinite(held[:, 1]).all()  # every configuration has its seconds
    held_set = {tuple(row) for row in held}
    top = r.events["fidelity"].to_numpy() == bench.fidelity.max
    assert all(tuple(p) in held_set for p in pts[top])


class _Recorder(Optimizer):
    """Random search at the lowest then the maximum fidelity of one configuration, recording the vectors."""

    def __init__(self, *, objectives: MultiObjective | None = None, **kw):
        super().__init__(**kw)
        self.objectives, self.seen, self._first = objectives, [], None

    def _ask(self):
        if self._first is None:
            self._first = -1
            return self.new_trial(self.sampler.sample_one(self.rng), self.fidelity.min)
        done = [t for t in self.pending.values()]
        if self._first not in (-1, None) and not done:
            prev, self._first = self._first, None
            return self.continue_trial(prev, self.fidelity.max)
        return None if self.pending else self.new_trial(self.sampler.sample_one(self.rng), self.fidelity.max)

    def _tell(self, trial, result):
        self.seen.append((trial, self.objectives.losses(result)))
        if self._first == -1:
            self._first = trial


def test_a_multi_objective_optimizer_gets_cumulative_costs_and_the_default_objectives():
    bench = catalog.load("lcbench-car")
    r = simulate(bench, _Recorder, seed=0, n_workers=1, budget=Budget("results", 3))
    opt = r.optimizer
    assert opt.objectives.names == ("valid_cross_entropy", "cost")  # the default: the objective and cost
    (t0, v0), (t1, v1) = opt.seen[:2]
    assert t1.continues == t0.trial_id
    cfg, s = t0.config, int(r.events["seed"].iloc[0])
    lo, hi = (bench.query(cfg, fidelity=f, seed=s) for f in (bench.fidelity.min, bench.fidelity.max))
    assert v0[1] == pytest.approx(lo.cost) and v1[1] == pytest.approx(
        hi.cost
    )  # cumulative, not the increment
    assert v1[1] > v1[1] - v0[1] > 0
    assert v1[0] == pytest.approx(hi["valid_cross_entropy"])


def test_an_optimizer_sees_the_inference_cost_the_table_measured():
    """``infer_cost`` is a property of the configuration: the vector an optimizer gets holds the table's timing of
    it (not a missing metric, which would read as an infinite loss)."""
    bench = catalog.load("lcbench-mnist_5k")
    r = simulate(
        bench,
        _Recorder,
        seed=0,
        n_workers=1,
        budget=Budget("results", 3),
        objectives=["objective", "infer_cost"],
    )
    assert r.optimizer.objectives.names == ("valid_cross_entropy", "infer_cost")
    for trial, v in r.optimizer.seen:
        assert np.isfinite(v).all()
        measured = bench.configs_frame["infer_seconds"].iloc[bench.config_id(trial.config)]
        assert v[1] == measured > 0


def test_one_objective_runs_keep_their_identity():
    cfg = {
        "study": "s",
        "benchmark": {"name": "lcbench-car"},
        "optimizer": {"name": "rs"},
        "seed": 0,
        "n_workers": 4,
        "budget": {"kind": "evaluations", "amount": 10},
        "overhead": "zero",
        "objectives": None,
    }
    assert "objectives" not in run_config(cfg)
    assert run_config({**cfg, "objectives": ["objective", "cost"]})["objectives"] == ["objective", "cost"]


def _run(*args, cwd):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_objectives_on_the_command_line_are_checked_and_recorded(tmp_path):
    root = Path(__file__).resolve().parents[2]
    common = [
        "-m",
        "runners.run",
        "benchmark=lcbench-car",
        "optimizer=rs",
        f"results_dir={tmp_path}",
        f"hydra.run.dir={tmp_path / 'hydra'}",  # Hydra's own output folder: not the repository's outputs/
    ]
    bad = _run(*common, "objectives=[valid_cross_entropy,test_accuracy]", cwd=root)
    assert bad.returncode != 0 and "test metric" in bad.stderr + bad.stdout
    ok = _run(*common, "budget.amount=5", "objectives=[objective,cost,n_params]", cwd=root)
    assert ok.returncode == 0, ok.stderr
    meta = json.loads(next(tmp_path.rglob("seed-0/meta.json")).read_text())
    spec = meta["objectives"]
    assert spec["names"] == ["valid_cross_entropy", "cost", "n_params"]
    assert meta["config"]["objectives"] == ["objective", "cost", "n_params"]
    assert all(b < r for b, r in zip(spec["best"], spec["reference"]))


def test_the_report_of_a_multi_objective_study(tmp_path):
    bench = catalog.load("lcbench-car")
    from runners.results import build_meta, run_dir, write_run

    mo = MultiObjective(bench, ["objective", "cost"])
    for opt in ("rs", "asha", "hyperband"):
        for seed in range(2):
            r = simulate(bench, make_optimizer(opt), seed=seed, n_workers=4, budget=Budget("evaluations", 20))
            cfg = {"study": "mo", "objectives": ["objective", "cost"], "optimizer": {"name": opt}}
            meta = build_meta(
                r,
                bench,
                study="mo",
                benchmark_name="lcbench-car",
                optimizer_name=opt,
                run_config=cfg,
                started_utc="2026-01-01T00:00:00Z",
            )
            meta["objectives"] = mo.describe()
            write_run(run_dir(tmp_path, "mo", "lcbench-car", opt, 4, seed), r, meta)
    build_report(tmp_path / "mo", tmp_path / "report")
    out = tmp_path / "report"
    for fig in ("hv_regret_per_benchmark", "attainment_50", "hv_rank_over_time", "final_fronts"):
        assert (out / "figures" / f"{fig}.png").is_file()
    # the reference point in the objectives' own units: the median configuration's loss and training seconds
    refs = pd.read_csv(out / "tables" / "reference_points.csv").set_index("objective")
    assert refs.loc["cost", "reference point (1)"] == pytest.approx(mo.reference[1])
    seed_mean, _ = bench.values_at("valid_cross_entropy")  # 0: the best seed-mean loss at the last epoch
    assert refs.loc["valid_cross_entropy", "best (0)"] == pytest.approx(np.nanmin(seed_mean))
    final = pd.read_csv(out / "tables" / "final_hv_regret.csv")
    per = final[final["benchmark"] == "lcbench-car"]
    assert set(per["method"]) == {"rs", "asha", "hyperband"}
    assert (per["median"] >= 0).all()
    hv = pd.read_csv(out / "tables" / "final_hv.csv")
    front = table_points(bench, mo.metrics)
    top = hypervolume(mo.normalize(front[np.all(np.isfinite(front), axis=1)]))
    assert (hv[["rs", "asha", "hyperband"]].to_numpy() <= top + 1e-12).all()
    assert "Hypervolume over time" in (out / "report.md").read_text()
    # objectives recorded in a malformed way (by hand, or by another tool): the benchmark is left out, named
    for m in (tmp_path / "mo").rglob("meta.json"):
        d = json.loads(m.read_text())
        del d["objectives"]["metrics"]
        m.write_text(json.dumps(d))
    build_report(tmp_path / "mo", out)
    assert "its runs record malformed objectives (KeyError" in (out / "report.md").read_text()


def test_a_study_of_one_objective_reports_without_fronts(tmp_path):
    # one to four objectives are allowed; a front of one objective is a point, and drawing it crashed the report
    from runners.results import build_meta, run_dir, write_run

    bench = catalog.load("lcbench-car")
    mo = MultiObjective(bench, ["valid_cross_entropy"])
    for seed in range(2):
        r = simulate(bench, make_optimizer("mo-rs"), seed=seed, n_workers=2, budget=Budget("evaluations", 3))
        cfg = {"study": "one", "objectives": ["valid_cross_entropy"], "optimizer": {"name": "mo-rs"}}
        meta = build_meta(
            r,
            bench,
            study="one",
            benchmark_name="lcbench-car",
            optimizer_name="mo-rs",
            run_config=cfg,
            started_utc="2026-01-01T00:00:00Z",
        )
        meta["objectives"] = mo.describe()
        write_run(run_dir(tmp_path, "one", "lcbench-car", "mo-rs", 2, seed), r, meta)
    build_report(tmp_path / "one", tmp_path / "report")
    assert "their runs record one objective" in (tmp_path / "report" / "report.md").read_text()
