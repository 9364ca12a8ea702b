"""The multi-objective optimizers (runners/optimizers/multiobjective.py) on their defining behaviour.

MOASHA promotes by non-dominated sorting (epsilon-net or crowding distance within fronts), not by one
loss; ParEGO scalarizes with random lattice weights and beats random search on hypervolume; cost-pareto
searches around the (loss, cost) front; each is reproducible and runs from the command line.
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from optimizer_lines import write_line_table

from benchmarks import catalog
from runners.multiobjective import MultiObjective, hypervolume, nondominated, run_objectives
from runners.optimizer import Trial, TrialResult
from runners.optimizers import ASHA
from runners.optimizers.multiobjective import (
    MOASHA,
    CostPareto,
    ParEGO,
    augmented_chebyshev,
    crowding_distance,
    eps_net_order,
    knowles_divisions,
    multiobjective_order,
    weight_lattice,
)
from runners.registry import make_optimizer
from runners.simulator import Budget, simulate
from runners.simulator import make_optimizer as build

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("mo-rs", "moasha", "parego", "cost-pareto")


# ---------------------------------------------------------------- rankings
def test_eps_net_starts_at_the_best_first_objective_then_takes_the_farthest_point():
    pts = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.1, 0.9], [0.55, 0.45]])
    # (0, 1) has the lowest first objective; (1, 0) is farthest from it; (0.5, 0.5) is 0.707 from both ends,
    # (0.55, 0.45) only 0.636 from (1, 0); then (0.1, 0.9) (0.141 from its nearest) before (0.55, 0.45) (0.071)
    assert eps_net_order(pts).tolist() == [0, 1, 2, 3, 4]
    assert eps_net_order(pts[::-1]).tolist() == [4, 3, 2, 1, 0]  # the same points, whatever their order


def test_crowding_distance_on_a_hand_checked_front():
    x = np.array([0.0, 0.1, 0.2, 0.5, 0.55, 1.0])
    cd = crowding_distance(np.column_stack([x, 1 - x]))
    # interior: the neighbours' gap on each objective (range 1), summed over the two objectives
    assert cd.tolist() == pytest.approx([math.inf, 0.4, 0.8, 0.7, 1.0, math.inf])


def test_the_order_takes_fronts_first_and_diverged_results_last():
    pts = np.array([[0.5, 0.5], [0.9, 0.9], [0.0, 1.0], [np.inf, 0.0], [1.0, 0.0], [0.6, 0.6]])
    order = multiobjective_order(pts, "eps_net").tolist()
    assert order[:3] == [2, 4, 0] and order[3:5] == [5, 1] and order[5] == 3
    crowd = multiobjective_order(pts, "crowding").tolist()
    assert set(crowd[:3]) == {0, 2, 4} and crowd[5] == 3
    assert multiobjective_order(pts, limit=2).tolist() == [2, 4, 0]  # the whole first front
    with pytest.raises(ValueError, match="ranking"):
        multiobjective_order(pts, "hypervolume")


# ---------------------------------------------------------------- MOASHA, by hand
@pytest.fixture(scope="module")
def line(tmp_path_factory):
    """A table over x = 0..29 with fidelities 1, 3, 9, 27 (its metric is ``err``; ``cost`` is derived)."""
    return write_line_table(tmp_path_factory.mktemp("mo") / "line")


def _result(trial: Trial, err: float, cost: float) -> TrialResult:
    ok = err == err
    return TrialResult(
        trial, err, err if ok else math.inf, {"err": err}, cost, 0.0, "ok" if ok else "diverged"
    )


def _tell_bottom_rung(opt, points):
    """Ask len(points) fresh trials, then tell trial i the (err, cost) of points[i] (in reverse order)."""
    trials = [opt.ask() for _ in points]
    assert all(t.continues is None and t.fidelity == 1.0 for t in trials)
    for t, (err, cost) in reversed(list(zip(trials, points))):
        opt.tell(t, _result(t, err, cost))
    return trials


# the non-dominated (err, cost) results are 0, 1, 2; result 3 has the second best err but is dominated by 0
RUNG = [(0.10, 9.0), (0.20, 3.0), (0.30, 1.0), (0.15, 10.0), (0.4, 5.0), (0.5, 6.0), (0.35, 9.5)]
RUNG += [(0.45, 1.5), (0.7, 12.0)]


def test_moasha_promotes_the_non_dominated_configurations_not_the_second_best_loss(line):
    mo = MultiObjective(line, ["err", "cost"])
    opt = build(line, MOASHA, seed=0, objectives=mo)
    trials = _tell_bottom_rung(opt, RUNG)
    assert opt.n_top(0) == 3 and nondominated(np.array(RUNG)).tolist() == [True] * 3 + [False] * 6
    promoted = [opt.ask() for _ in range(3)]
    assert all(t.continues is not None and t.fidelity == 3.0 for t in promoted)
    assert {t.continues for t in promoted} == {trials[i].trial_id for i in (0, 1, 2)}
    nxt = opt.ask()
    assert nxt.continues is None and nxt.fidelity == 1.0  # three of nine may go up: a new configuration
    assert opt.describe()["objectives"] == ["err", "cost"] and opt.describe()["ranking"] == "eps_net"
    # the single-objective rule on the same results would promote the dominated result 3
    asha = build(line, ASHA, seed=0)
    trials = _tell_bottom_rung(asha, RUNG)
    assert trials[3].trial_id in {asha.ask().continues for _ in range(3)}


def test_moasha_ranks_within_a_front_by_eps_net_or_crowding_on_normalized_objectives(line):
    x = np.array([0.0, 0.1, 0.2, 0.5, 0.55, 1.0])
    normalized = [*zip(x, 1 - x), (0.9, 0.9), (1.2, 0.5), (0.6, 1.1)]  # one front of six, three dominated
    promoted = {}
    for ranking in ("eps_net", "crowding"):
        mo = MultiObjective(line, ["err", "cost"])
        raw = [tuple(mo.best + np.array(p) * (mo.reference - mo.best)) for p in normalized]
        opt = build(line, functools.partial(MOASHA, ranking=ranking), seed=0, objectives=mo)
        trials = _tell_bottom_rung(opt, raw)
        ids = {t.trial_id: i for i, t in enumerate(trials)}
        promoted[ranking] = {ids[opt.ask().continues] for _ in range(3)}
    # both keep the ends of the front; the epsilon-net then takes the point farthest from both, (0.5, 0.5),
    # the crowding distance the most isolated one, (0.55, 0.45) (gaps 1.0 against 0.7)
    assert promoted == {"eps_net": {0, 5, 3}, "crowding": {0, 5, 4}}


def test_moasha_ranks_a_diverged_result_last_and_its_costs_are_cumulative(line):
    opt = build(line, MOASHA, seed=0, objectives=["err", "cost"])
    # as a point, the diverged (inf, 0.5) would be non-dominated (the cheapest): it must not be promoted
    pts = [(0.1, 1.0), (math.nan, 0.5), (0.3, 2.0), (0.4, 3.0), (0.5, 4.0), (0.6, 5.0)]
    trials = [opt.ask() for _ in pts]
    for t, (err, cost) in zip(trials, pts):
        opt.tell(t, _result(t, err, cost))
    up = [opt.ask() for _ in range(2)]
    assert [t.continues for t in up] == [trials[0].trial_id, trials[2].trial_id]
    opt.tell(up[0], _result(up[0], 0.05, 2.0))  # the increment: its cumulative cost is 1 + 2
    mo = opt.objectives
    assert opt.points[1][0][1] == pytest.approx((3.0 - mo.best[1]) / (mo.reference[1] - mo.best[1]))


# ---------------------------------------------------------------- ParEGO
def test_parego_weight_lattice_and_augmented_chebyshev():
    w = weight_lattice(10, 2)
    assert w.shape == (11, 2) and np.allclose(w.sum(axis=1), 1) and (w >= 0).all()
    assert w[0].tolist() == [0.0, 1.0] and w[3].tolist() == pytest.approx([0.3, 0.7])
    assert len(weight_lattice(4, 3)) == 15 and len(weight_lattice(10, 3)) == math.comb(12, 2) == 66
    assert len({tuple(r) for r in weight_lattice(3, 4)}) == 20
    assert [knowles_divisions(k) for k in (2, 3, 4)] == [10, 4, 3]
    # max(0.3 * 0.2, 0.7 * 0.6) + 0.05 * (0.06 + 0.42)
    f = np.array([[0.2, 0.6], [0.2, np.inf]])
    assert augmented_chebyshev(f, [0.3, 0.7]).tolist() == pytest.approx([0.444, math.inf])
    assert augmented_chebyshev([[1.0, 0.0]], [0.5, 0.5], rho=0.0).tolist() == [0.5]


def test_parego_gives_pending_trials_different_weights_and_configurations():
    bench = catalog.load("lcbench-car")
    opt = build(bench, functools.partial(ParEGO, n_init=4), seed=0)
    assert len(opt.weights) == 11 and opt.describe()["divisions"] == 10
    first = [opt.ask() for _ in range(4)]
    for t in first:
        opt.tell(t, _result_of(bench, t))
    pending = [opt.ask() for _ in range(6)]
    assert len({t.info["weight"] for t in pending}) == 6
    ids = [bench.configurations().index(t.config) for t in first + pending]
    assert len(set(ids)) == 10 and all(t.fidelity == bench.fidelity.max for t in pending)
    three = build(bench, ParEGO, seed=0, objectives=["objective", "cost", "n_params"])
    assert len(three.weights) == 15 and three.weights.shape[1] == 3


def test_cost_pareto_refuses_a_third_objective_it_would_not_search():
    bench = catalog.load("lcbench-car")
    with pytest.raises(ValueError, match=r"names 2 others \(valid_cross_entropy, n_params\)"):
        build(bench, CostPareto, seed=0, objectives=["objective", "cost", "n_params"])


def test_a_parego_weight_steers_its_proposal_along_the_front():
    """The defining step: the weight vector picks the trade-off. After the same 20 results, proposals made with
    all the weight on cost are far cheaper, and those with all of it on the loss far better, than each other."""
    bench = catalog.load("lcbench-car")
    mo = MultiObjective(bench, ["objective", "cost"])

    def proposals(weight):
        opt = build(bench, functools.partial(ParEGO, n_init=20), seed=3, objectives=mo)
        told = [opt.ask() for _ in range(20)]
        for t in told:
            opt.tell(t, _result_of(bench, t))
        wi = [i for i, w in enumerate(opt.weights) if w.tolist() == weight]
        opt.draw_weight = lambda: wi[0]
        out = []
        for _ in range(6):
            t = opt.ask()
            out.append(mo.normalize([[_result_of(bench, t).loss, bench.query(t.config, seed=0).cost]])[0])
            opt.tell(t, _result_of(bench, t))
        return np.array(out)

    on_loss, on_cost = proposals([1.0, 0.0]), proposals([0.0, 1.0])
    assert on_cost[:, 1].mean() < on_loss[:, 1].mean() - 0.3, (on_cost, on_loss)
    assert on_loss[:, 0].mean() < on_cost[:, 0].mean() - 0.3, (on_cost, on_loss)


def _result_of(bench, trial):
    r = bench.query(trial.config, fidelity=trial.fidelity, seed=0)
    v = float(r.metrics[bench.objective])
    return TrialResult(trial, v, v, dict(r.metrics), float(r.cost), 0.0)


def _hypervolume(bench, opt, seed, evaluations):
    mo = MultiObjective(bench, ["valid_cross_entropy", "cost"])
    run = simulate(
        bench,
        make_optimizer(opt),
        seed=seed,
        n_workers=4,
        budget=Budget("evaluations", evaluations),
        objectives=mo,
    )
    return hypervolume(mo.normalize(run_objectives(bench, mo.metrics, run.events)))


def test_parego_beats_random_search_on_hypervolume():
    bench = catalog.load("lcbench-car")
    seeds = range(8)
    parego = [_hypervolume(bench, "parego", s, 40) for s in seeds]
    rs = [_hypervolume(bench, "mo-rs", s, 40) for s in seeds]
    assert np.mean(parego) > np.mean(rs) + 0.02, (parego, rs)


# ---------------------------------------------------------------- cost-pareto
class _Recording(CostPareto):
    """Records, per model-based proposal, the front (trial ids) it was drawn from."""

    def _ask(self):
        front = {self.told_ids[i] for i in self.front()} if len(self.X) >= 2 else set()
        trial = super()._ask()
        if "center" in trial.info:
            self.log.append((trial, front))
        return trial


def test_cost_pareto_proposes_near_members_of_the_loss_cost_front():
    bench = catalog.load("lcbench-car")
    opt = build(bench, _Recording, seed=0, budget=Budget("evaluations", 30))
    opt.log = []
    run = simulate(bench, opt, seed=0, n_workers=4, budget=Budget("evaluations", 30))
    log = opt.log
    assert len(log) >= 20 and run.summary["n_redirected"] == 0
    assert all(t.info["center"] in front for t, front in log)
    enc = opt.encoder
    by_id = {tid: c for tid, c in zip(opt.told_ids, opt.configs)}
    near = [
        np.linalg.norm(enc.encode([t.config])[0] - enc.encode([by_id[t.info["center"]]])[0]) for t, _ in log
    ]
    table = enc.table()
    pairs = np.random.default_rng(0).integers(0, len(table), size=(2000, 2))
    anywhere = np.linalg.norm(table[pairs[:, 0]] - table[pairs[:, 1]], axis=1).mean()
    assert np.mean(near) < 0.7 * anywhere, (np.mean(near), anywhere)
    d = opt.describe()
    assert d["performance"] == "valid_cross_entropy" and d["scaled_to_budget"]["n_init"]["value"] == 5


def test_cost_pareto_uses_the_cumulative_cost_even_without_cost_among_the_objectives():
    bench = catalog.load("lcbench-car")
    run = simulate(
        bench,
        make_optimizer("cost-pareto"),
        seed=2,
        n_workers=2,
        budget=Budget("evaluations", 12),
        objectives=["valid_accuracy"],
    )
    opt = run.optimizer
    ev = run.events.sort_values("t_end", kind="stable")
    assert opt.performance.name == "valid_accuracy"
    assert opt.cost == pytest.approx(ev["cost"].tolist())
    assert opt.loss == pytest.approx((-ev["metric.valid_accuracy"]).tolist())


# ---------------------------------------------------------------- every method
OPTIONS = [(name, {}) for name in METHODS]
OPTIONS += [
    ("moasha", {"ranking": "crowding"}),
    ("cost-pareto", {"front_pick": "sparse", "acquisition": "pi"}),
]


@pytest.mark.parametrize(
    ("name", "options"),
    OPTIONS,
    ids=[f"{n}{'-' if o else ''}{'-'.join(map(str, o.values()))}" for n, o in OPTIONS],
)
def test_same_seed_same_run(name, options):
    bench = catalog.load("lcbench-car")
    runs = [
        simulate(
            bench, make_optimizer(name, **options), seed=s, n_workers=4, budget=Budget("evaluations", 15)
        )
        for s in (3, 3, 4)
    ]
    assert runs[0].summary["n_redirected"] == 0 and runs[0].summary["n_repeated_fresh"] == 0
    assert all(runs[0].optimizer.describe().get(k) == v for k, v in options.items())
    cols = ["trial_id", "continues", "config_id", "fidelity", "t_start", "t_end"]
    a, b, c = (r.events[cols] for r in runs)
    assert a.equals(b)
    assert not (len(a) == len(c) and a.equals(c))


@pytest.mark.parametrize(
    "objectives", ["valid_cross_entropy,cost", "valid_cross_entropy,cost,n_params"], ids=["two", "three"]
)
def test_every_method_runs_from_the_command_line(tmp_path, objectives):
    names = objectives.split(",")
    # cost-pareto searches one objective against cost: it refuses a third (tested above)
    methods = METHODS if len(names) == 2 else tuple(m for m in METHODS if m != "cost-pareto")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "runners.run",
            "--multirun",
            "benchmark=lcbench-car",
            f"optimizer={','.join(methods)}",
            f"objectives=[{objectives}]",
            "budget.amount=12",
            f"results_dir={tmp_path / 'res'}",
            "study=mo",
            f"hydra.sweep.dir={tmp_path / 'mr'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    for name in methods:
        (meta_file,) = (tmp_path / "res" / "mo" / "lcbench-car" / name).rglob("meta.json")
        meta = json.loads(meta_file.read_text())
        assert meta["status"] == "complete", name
        assert meta["objectives"]["names"] == names, name
        assert meta["optimizer_info"]["objectives"] == names, name
