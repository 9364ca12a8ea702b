"""Optuna's multi-objective samplers through the adapter (``optuna-nsga2``, ``optuna-motpe``): the study holds one
direction per objective and, per evaluation, the objective vector of the configuration evaluated (projected
proposals included); diverged results are FAIL; NSGA-II's generations advance on a table; MOTPE beats random
search on hypervolume; both run through the command line with two and three objectives."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest

import benchmarks
from benchmarks.catalog import is_available
from runners.multiobjective import MultiObjective, hypervolume, run_objectives
from runners.optimizer import RandomSearch
from runners.results import read_events, read_meta
from runners.simulator import Budget, simulate
from runners.testing import write_toy_table

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("optuna") is None,
    reason="optional library 'optuna' is not installed (pip install 'curvebench[optuna]')",
)

TABLE = (
    "lcbench-car"  # a shipped table of 500 configurations from a continuous space: every proposal is moved
)
TWO = ["valid_cross_entropy", "cost"]
THREE = ["valid_cross_entropy", "cost", "n_params"]


@pytest.fixture(scope="module")
def bench():
    ok, why = is_available(TABLE)
    if not ok:
        pytest.skip(f"{TABLE} is not available here: {why}")
    return benchmarks.load(TABLE)


def classes():
    from runners.adapters.optuna_adapter import OptunaMOTPE, OptunaNSGAII

    return {"optuna-nsga2": OptunaNSGAII, "optuna-motpe": OptunaMOTPE}


@pytest.fixture
def told(monkeypatch):
    """CurveBench trial id -> (Optuna trial number, the configuration evaluated), as the adapter is told."""
    from runners.adapters.optuna_adapter import OptunaOptimizer

    seen: dict[int, tuple[int, dict]] = {}
    orig = OptunaOptimizer._tell

    def spy(self, trial, result):
        seen[trial.trial_id] = (trial.info["optuna"], dict(trial.config))
        return orig(self, trial, result)

    monkeypatch.setattr(OptunaOptimizer, "_tell", spy)
    return seen


def run(bench, name, objectives, *, seed=0, n=40, workers=4, **kw):
    cls = classes()[name]
    if kw:  # hyperparameters: a factory, which names no `objectives`, so it passes the run's itself
        mo = MultiObjective(bench, objectives)
        factory = lambda **a: cls(objectives=mo, **kw, **a)  # noqa: E731
    else:  # the class, which names `objectives`: the simulator gives it the run's
        factory = cls
    return simulate(
        bench, factory, seed=seed, n_workers=workers, budget=Budget("evaluations", n), objectives=objectives
    )


def check_study(bench, r, told, objectives, projected=True):
    """The study: k directions; each evaluation one trial with the evaluated parameters and its vector."""
    import optuna

    opt, study, ev = r.optimizer, r.optimizer.study, r.events
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE] * len(objectives)
    want = run_objectives(bench, MultiObjective(bench, objectives).metrics, ev)  # from the events, apart
    trials = study.trials
    complete = set()
    for i, tid in enumerate(ev["trial_id"].tolist()):
        number, config = told[tid]
        t = trials[number]
        assert t.params == opt._to_params(config)  # the configuration evaluated, not the proposal
        if np.isfinite(want[i]).all():
            assert t.state.name == "COMPLETE" and t.values == want[i].tolist()
            complete.add(number)
        else:
            assert t.state.name == "FAIL" and t.user_attrs.get("diverged") is True
    assert {t.number for t in trials if t.state.name == "COMPLETE"} == complete
    moved = [t for t in trials if t.state.name == "FAIL" and "diverged" not in t.user_attrs]
    assert opt.n_moved == len(moved)  # proposals projected onto the table, told FAIL and re-asked
    assert opt.n_moved > 0 or not projected
    running = sum(t.state.name == "RUNNING" for t in trials)
    if opt.exhausted:  # the ask that found the table exhausted leaves its Optuna trial running
        assert running >= r.summary["n_cancelled"]
    else:
        assert running == r.summary["n_cancelled"]


# ---------------------------------------------------------------- the study
@pytest.mark.parametrize(
    "name, objectives", [("optuna-nsga2", TWO), ("optuna-motpe", TWO), ("optuna-motpe", THREE)]
)
def test_the_study_holds_k_directions_and_the_vectors_of_the_evaluated_configurations(
    bench, told, name, objectives
):
    r = run(bench, name, objectives, n=60)
    assert len(r.events) == 60 and set(r.events["fidelity"]) == {bench.fidelity.max}
    check_study(bench, r, told, objectives)
    assert r.optimizer.objectives.names == tuple(objectives)
    info = r.optimizer.describe()
    assert info["objectives"] == objectives and info["pruner"] == "none"


def test_the_samplers_are_optunas_nsga2_and_tpe_with_their_settings(bench):
    import optuna

    nsga = run(bench, "optuna-nsga2", TWO, n=5).optimizer
    assert type(nsga.study.sampler) is optuna.samplers.NSGAIISampler
    assert nsga.study.sampler.population_size == 50 and nsga.n_startup_trials is None
    motpe = run(bench, "optuna-motpe", TWO, n=60).optimizer
    assert type(motpe.study.sampler) is optuna.samplers.TPESampler
    assert (
        motpe.n_startup_trials == 6 == motpe.study.sampler._n_startup_trials
    )  # min(10, max(2, round(60/10)))
    assert motpe.describe()["scaled_to_budget"]["n_startup_trials"]["value"] == 6


def test_single_objective_optuna_is_unchanged(bench):
    from runners.adapters.optuna_adapter import OptunaTPE

    opt = simulate(bench, OptunaTPE, seed=0, n_workers=1, budget=Budget("evaluations", 3)).optimizer
    assert opt.objectives is None and len(opt.study.directions) == 1 and "objectives" not in opt.describe()
    assert all(len(t.values) == 1 for t in opt.study.trials if t.state.name == "COMPLETE")


def test_optuna_pruners_refuse_multi_objective_studies_so_the_classes_use_none(bench):
    import optuna

    from runners.adapters.optuna_adapter import OptunaOptimizer

    study = optuna.create_study(directions=["minimize", "minimize"])
    trial = study.ask()
    with pytest.raises(NotImplementedError):
        trial.report(1.0, step=1)
    with pytest.raises(NotImplementedError):
        trial.should_prune()
    with pytest.raises(ValueError, match="pruners do not support multi-objective"):
        OptunaOptimizer(
            pruner="sha",
            multi_objective=MultiObjective(bench, TWO),
            space=bench.space,
            fidelity=bench.fidelity,
            objective=bench.objective_metric,
            seed=0,
        )


@pytest.mark.parametrize("name", ["optuna-nsga2", "optuna-motpe"])
def test_diverged_results_are_told_fail(tmp_path, told, name):
    from benchmarks.tabular import TabularBenchmark

    toy = TabularBenchmark.from_path(write_toy_table(tmp_path / "toy", n_configs=12, diverged=(1, 4, 7, 10)))
    objectives = [toy.objective, "cost"]
    r = run(toy, name, objectives, n=12, workers=2)
    assert r.summary["n_diverged"] > 0  # the vector's loss is +inf there
    check_study(toy, r, told, objectives, projected=False)
    trials = r.optimizer.study.trials
    diverged = [t for t in trials if t.user_attrs.get("diverged")]
    assert len(diverged) == r.summary["n_diverged"] == r.optimizer.n_diverged
    assert all(t.state.name == "FAIL" for t in diverged)
    assert all(math.isfinite(v) for t in trials if t.state.name == "COMPLETE" for v in t.values)


def test_same_seed_same_run(bench):
    for name in ("optuna-nsga2", "optuna-motpe"):
        a, b = run(bench, name, TWO, seed=3, n=30), run(bench, name, TWO, seed=3, n=30)
        assert a.events.equals(b.events), name
        assert [t.values for t in a.optimizer.study.trials] == [t.values for t in b.optimizer.study.trials]
        assert not a.events["config_id"].equals(run(bench, name, TWO, seed=4, n=30).events["config_id"]), name


# ---------------------------------------------------------------- NSGA-II's generations
def test_nsga2_generation_advances_after_population_size_complete_trials(bench):
    pop = 10
    r = run(bench, "optuna-nsga2", TWO, n=40, workers=1, population_size=pop)
    study, sampler = r.optimizer.study, r.optimizer.study.sampler
    assert sampler.population_size == pop
    complete = [t.number for t in study.trials if t.state.name == "COMPLETE"]  # one worker: in tell order
    assert len(complete) >= 3 * pop
    for g in range(len(complete) // pop):
        # the re-asked (projected) trials belong to generations too: without that, all stay in generation 0
        assert [t.number for t in sampler.get_population(study, g)] == complete[g * pop : (g + 1) * pop]
    parents = {t.number for t in sampler.get_parent_population(study, 2)}
    assert len(parents) == pop and parents <= set(complete[: 2 * pop])  # elites of generations 0 and 1
    # the default population at the default budget: a random generation, then offspring
    default = run(bench, "optuna-nsga2", TWO, n=100, workers=4)
    s = default.optimizer.study
    assert len(s.sampler.get_population(s, 0)) >= 50 and len(s.sampler.get_population(s, 1)) > 0


# ---------------------------------------------------------------- quality
def test_motpe_beats_random_search_on_hypervolume(bench):
    # seen here (4 workers, 60 evaluations, seeds 0-2): random search 0.47, MOTPE 0.63 of normalized
    # hypervolume; the whole table (every configuration at the maximum fidelity) has 0.68
    mo = MultiObjective(bench, TWO)

    def hv(factory, seed):
        r = simulate(bench, factory, seed=seed, n_workers=4, budget=Budget("evaluations", 60), objectives=TWO)
        return hypervolume(mo.normalize(run_objectives(bench, mo.metrics, r.events)))

    seeds = range(3)
    rs = np.mean([hv(RandomSearch, s) for s in seeds])
    motpe = np.mean([hv(classes()["optuna-motpe"], s) for s in seeds])
    assert motpe > rs + 0.05, (motpe, rs)


# ---------------------------------------------------------------- the command line
@pytest.mark.parametrize("objectives", [TWO, THREE], ids=["two", "three"])
def test_the_command_line_runs_both_with_the_objectives(tmp_path, bench, objectives):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "runners.run",
            "--multirun",
            f"benchmark={TABLE}",
            "optimizer=optuna-nsga2,optuna-motpe",
            f"objectives=[{','.join(objectives)}]",
            "n_workers=2",
            "budget.amount=20",
            f"results_dir={tmp_path / 'res'}",
            "study=mo-test",
            f"hydra.sweep.dir={tmp_path / 'mr'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    for name in ("optuna-nsga2", "optuna-motpe"):
        folder = tmp_path / "res" / "mo-test" / TABLE / name / "workers-2" / "seed-0"
        meta = read_meta(folder)
        assert meta is not None and meta["status"] == "complete", name
        assert meta["objectives"]["names"] == objectives
        assert meta["optimizer_info"]["directions"] == ["minimize"] * len(objectives)
        assert len(read_events(folder)) == 20
