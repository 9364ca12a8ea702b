"""Partial tables handled honestly: no repeats, the model learns the configuration evaluated, exhaustion,
budget scaling."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from runners.optimizer import ConfigSampler, Optimizer, RandomSearch, TableExhausted
from runners.optimizers import BOHB, DEHB, RegularizedEvolution
from runners.registry import OPTIMIZERS
from runners.simulator import Budget, simulate

ADAPTERS = {
    "optuna-tpe": ("optuna", "runners.adapters.optuna_adapter", "OptunaTPE"),
    "optuna-sha": ("optuna", "runners.adapters.optuna_adapter", "OptunaSHA"),
    "optuna-hyperband": ("optuna", "runners.adapters.optuna_adapter", "OptunaHyperband"),
    "dehb-lib": ("dehb", "runners.adapters.dehb_adapter", "DEHBLibrary"),
    "smac": ("smac", "runners.adapters.smac_adapter", "SMACBO"),
    "smac-hyperband": ("smac", "runners.adapters.smac_adapter", "SMACHyperband"),
}


def _adapter(name):
    lib, module, cls = ADAPTERS[name]
    if importlib.util.find_spec(lib) is None:
        pytest.skip(f"{lib} is not installed")
    return getattr(importlib.import_module(module), cls)


def repeats_in(events, fresh_only: bool = False) -> int:
    """Evaluations (in ask order) of a configuration an earlier trial had trained to that fidelity or beyond;
    ``fresh_only``: only fresh trials (what the ``avoid`` policy prevents)."""
    reached: dict[int, float] = {}
    n = 0
    ev = events.sort_values(
        "trial_id", kind="stable"
    )  # a trial that reports holds a row per report, in order
    for cid, fresh, fid in zip(ev["config_id"], ev["continues"].isna(), ev["fidelity"]):
        if fresh or not fresh_only:
            n += reached.get(int(cid), -np.inf) >= fid
        reached[int(cid)] = max(reached.get(int(cid), -np.inf), fid)
    return n


def check_no_repeats(run, bench):
    s = run.summary
    # no fresh trial re-trains a configuration; a promotion of a configuration another bracket already took to
    # that rung is counted (not prevented): the summary and the events agree on both counts
    assert s["n_repeated_fresh"] == 0 == repeats_in(run.events, fresh_only=True)
    assert s["n_repeated"] == repeats_in(run.events)
    assert s["n_redirected"] == 0, "the optimizer should project with the fidelity itself, so its model knows"
    distinct = run.events["config_id"].nunique()
    assert s["n_distinct_configs"] == distinct and s["table_fraction"] == pytest.approx(
        distinct / bench.n_configs
    )


# ---------------------------------------------------------------- built-ins
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_builtin_never_repeats_and_learns_what_was_evaluated(name, synthetic_bench):
    bench = synthetic_bench  # 40 configurations of a continuous space: every proposal is projected
    run = simulate(bench, OPTIMIZERS[name], seed=3, n_workers=3, budget=Budget("evaluations", 15))
    check_no_repeats(run, bench)
    evaluated = [dict(c) for c in run.events.sort_values("trial_id").pipe(_configs, bench)]
    opt = run.optimizer
    if isinstance(opt, RegularizedEvolution):
        for config, _ in opt.population:
            assert config in evaluated
    if isinstance(opt, DEHB):
        for g, fit in enumerate(opt.fitness):
            for j in np.flatnonzero(np.isfinite(fit)):
                assert opt.pop_configs[g][j] in evaluated
                assert np.allclose(opt.population[g][j], opt._encode([opt.pop_configs[g][j]])[0])
    if isinstance(opt, BOHB):
        for budget, (xs, _) in opt.model.observations.items():
            ev = run.events[run.events["fidelity"] == budget].sort_values("t_end", kind="stable")
            want = opt.vspace.encode(_configs(ev, bench), mode="index")
            assert np.allclose(np.asarray(xs), want, equal_nan=True)


def _configs(events, bench):
    return [bench.config(int(c)) for c in events["config_id"]]


def test_random_search_exhausts_the_table_and_says_so(synthetic_bench):
    run = simulate(synthetic_bench, RandomSearch, seed=0, n_workers=4, budget=Budget("evaluations", 100))
    s = run.summary
    assert s["stop_reason"] == "table_exhausted"
    assert (
        s["n_events"] == synthetic_bench.n_configs == s["n_distinct_configs"] and s["table_fraction"] == 1.0
    )
    assert s["n_repeated"] == 0


def test_repeats_allowed_are_counted_and_recorded(synthetic_bench):
    class Repeating(RandomSearch):
        repeats = "allow"

    run = simulate(synthetic_bench, Repeating, seed=0, n_workers=4, budget=Budget("evaluations", 100))
    assert run.summary["stop_reason"] == "budget" and run.summary["n_events"] == 100
    assert run.summary["n_repeated"] == repeats_in(run.events) > 0
    assert run.optimizer.describe()["repeats"] == "allow"
    assert RandomSearch.repeats == "avoid"


def test_base_class_redirects_a_repeat_of_a_naive_optimizer(synthetic_bench):
    class Naive(Optimizer):
        """Always asks for the same configuration: the base class must move it."""

        def _ask(self):
            return self.new_trial(self.sampler.configurations[0], self.fidelity.max)

        def _tell(self, trial, result):
            pass

    run = simulate(synthetic_bench, Naive, seed=0, n_workers=2, budget=Budget("evaluations", 10))
    s = run.summary
    assert s["n_repeated"] == 0 and s["n_redirected"] == s["n_trials"] - 1 and s["n_distinct_configs"] == 10


def test_projection_with_fidelity_skips_trained_configurations(synthetic_bench):
    s = ConfigSampler.for_benchmark(synthetic_bench)
    s.reset(10.0)
    c0 = synthetic_bench.config(0)
    assert s.project(c0, 10.0) == c0
    s.note(c0, 5.0)
    assert s.project(c0, 5.0) != c0 and s.project(c0, 10.0) == c0  # trained to 5: open at 10
    s.note(c0, 10.0)
    assert s.project(c0) == c0  # without a fidelity: the plain nearest configuration
    rng = np.random.default_rng(0)
    drawn = s.sample(100, rng)
    assert len(drawn) == synthetic_bench.n_configs - 1 and c0 not in drawn
    for c in drawn:
        s.note(c, 10.0)
    assert s.sample(3, rng) == [] and s.n_at_top == synthetic_bench.n_configs
    with pytest.raises(TableExhausted):
        s.sample_one(rng)
    with pytest.raises(TableExhausted):
        s.project(c0, 10.0)


@pytest.mark.parametrize("bench_name", ["synthetic_bench", "grid_bench"])
def test_nearest_open_is_the_first_open_configuration_of_the_full_tree_order(bench_name, request):
    """The projection onto a configuration not yet trained to a fidelity checks only the neighbours its
    queries return; it picks what the first open entry of a query over the whole table picks (ties of an
    exhaustive grid included), however much of the table is trained."""
    bench = request.getfixturevalue(bench_name)
    s = ConfigSampler.for_benchmark(bench)
    s.reset(10.0)
    rng = np.random.default_rng(0)
    n = len(s)
    s.project(bench.config(0))  # builds the k-d tree
    for c in (bench.config(i) for i in rng.permutation(n)):
        for f in (2.0, 5.0, 10.0):
            open_ = np.asarray(s.reached) < f
            if not open_.any():
                with pytest.raises(TableExhausted):
                    s.project(c, f)
                continue
            _, order = s._tree.query(s._encoder.encode(c), k=n)
            expected = s.configurations[
                int(np.atleast_1d(order)[np.flatnonzero(open_[np.atleast_1d(order)])[0]])
            ]
            assert s.project(c, f) == expected
        s.note(c, float(rng.choice([2.0, 5.0, 10.0])))
    assert np.array_equal(s.reached_array(), np.asarray(s.reached))


def test_continuations_are_never_repeats(synthetic_bench):
    run = simulate(
        synthetic_bench, OPTIMIZERS["hyperband"], seed=1, n_workers=2, budget=Budget("evaluations", 12)
    )
    ev = run.events
    assert ev["continues"].notna().any() and run.summary["n_repeated"] == 0


def test_surrogate_style_space_keeps_old_behaviour(synthetic_bench):
    """No finite sampler (ConfigSpace sampling): nothing is deduplicated and table_fraction is null."""
    from benchmarks.protocol import Benchmark  # noqa: F401 - documents the generic path

    def factory(**kw):
        kw["sampler"] = ConfigSampler(kw["space"])
        return RandomSearch(**kw)

    opt = factory(
        space=synthetic_bench.space,
        fidelity=synthetic_bench.fidelity,
        objective=synthetic_bench.objective_metric,
        seed=0,
    )
    a = [opt.ask() for _ in range(5)]
    assert not opt.sampler.is_finite and all(t.continues is None for t in a) and opt.n_redirected == 0


# ---------------------------------------------------------------- adapters
@pytest.mark.parametrize("name", ["optuna-tpe", "optuna-sha", "optuna-hyperband"])
def test_optuna_study_holds_the_evaluated_configurations(name, synthetic_bench):
    cls = _adapter(name)
    run = simulate(synthetic_bench, cls, seed=2, n_workers=3, budget=Budget("evaluations", 8))
    check_no_repeats(run, synthetic_bench)
    opt = run.optimizer
    import optuna

    by_number = {t.number: t for t in opt.study.get_trials(deepcopy=False)}
    fresh = run.events[run.events["continues"].isna()]
    assert len(fresh) > 0
    for tid, cid in zip(fresh["trial_id"], fresh["config_id"]):
        number = _trial_numbers(opt)[int(tid)]
        ot = by_number[number]
        assert ot.params == opt._to_params(synthetic_bench.config(int(cid)))
    # every trial the model learns from (complete or pruned) is an evaluated configuration
    evaluated = {
        tuple(sorted(opt._to_params(synthetic_bench.config(int(c))).items())) for c in run.events["config_id"]
    }
    learned = [
        t
        for t in by_number.values()
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    assert learned and all(tuple(sorted(t.params.items())) in evaluated for t in learned)
    assert opt.describe()["n_moved"] > 0  # the table holds 40 of a continuous space: proposals move


def _trial_numbers(opt):
    """CurveBench trial id -> Optuna trial number, from the trials the optimizer made (kept by the spy)."""
    return opt._spy_numbers


@pytest.fixture(autouse=True)
def _spy_optuna_numbers(monkeypatch):
    """Record which Optuna trial each CurveBench trial reports to (trial.info['optuna'])."""
    if importlib.util.find_spec("optuna") is None:
        return
    from runners.adapters import optuna_adapter

    orig = optuna_adapter.OptunaOptimizer._ask

    def spy(self):
        t = orig(self)
        if not hasattr(self, "_spy_numbers"):
            self._spy_numbers = {}
        self._spy_numbers[t.trial_id] = t.info["optuna"]
        return t

    monkeypatch.setattr(optuna_adapter.OptunaOptimizer, "_ask", spy)


def test_dehb_library_is_told_the_evaluated_configuration(synthetic_bench, monkeypatch):
    cls = _adapter("dehb-lib")
    checked = []
    orig_tell = cls._tell

    def tell(self, trial, result):
        inner = self.dehb.tell

        def spy(job, res):
            stored = self.dehb.config_repository.configs[job["config_id"]].config
            assert np.allclose(stored, self._vector(dict(trial.config)))
            checked.append(trial.trial_id)
            return inner(job, res)

        self.dehb.tell = spy
        try:
            return orig_tell(self, trial, result)
        finally:
            self.dehb.tell = inner

    monkeypatch.setattr(cls, "_tell", tell)
    run = simulate(synthetic_bench, cls, seed=1, n_workers=3, budget=Budget("evaluations", 10))
    check_no_repeats(run, synthetic_bench)
    assert len(checked) == len(run.events) and run.optimizer.describe()["n_moved"] > 0


@pytest.mark.parametrize("name", ["smac", "smac-hyperband"])
def test_smac_proposes_held_configurations_and_learns_what_was_evaluated(name, synthetic_bench):
    cls = _adapter(name)
    run = simulate(synthetic_bench, cls, seed=0, n_workers=2, budget=Budget("evaluations", 12))
    check_no_repeats(run, synthetic_bench)
    opt = run.optimizer
    d = opt.describe()
    assert d["n_moved"] == 0 and "evaluated" in d["told"]
    # SMAC's run history holds exactly the configurations evaluated, at their fidelities, with their losses
    from ConfigSpace import Configuration

    def key(config):  # SMAC's model input: the configuration's vector in the space
        return tuple(np.round(config.get_array(), 12).tolist())

    rh = opt.smac.runhistory
    told = [key(rh.get_config(k.config_id)) for k, v in rh.items() if v.status.name != "RUNNING"]
    final = (
        run.events.sort_values("fidelity").groupby("trial_id").tail(1)
    )  # one tell per trial, at its last fidelity
    evaluated = {
        key(Configuration(synthetic_bench.space, values=synthetic_bench.config(int(c))))
        for c in final["config_id"]
    }
    assert len(told) == len(final) and set(told) == evaluated
    if name == "smac":
        assert d["scaled_to_budget"]["initial_design"]["value"] == 3  # 0.25 x 12 evaluations


# ---------------------------------------------------------------- defaults scaled to the budget
def _re(bench, **kw):
    return RegularizedEvolution(
        space=bench.space,
        fidelity=bench.fidelity,
        objective=bench.objective_metric,
        seed=0,
        sampler=ConfigSampler.for_benchmark(bench),
        **kw,
    )


def test_regularized_evolution_scales_population_to_the_budget(synthetic_bench):
    b = synthetic_bench
    re = _re(b, budget=Budget("evaluations", 100))
    assert (re.population_size, re.sample_size) == (10, 2)
    d = re.describe()["scaled_to_budget"]
    assert d["population_size"]["value"] == 10 and "B / 10" in d["population_size"]["rule"]
    assert (_re(b, budget=Budget("evaluations", 5000)).population_size, _re(b).population_size) == (100, 100)
    assert _re(b).sample_size == 10
    explicit = _re(b, budget=Budget("evaluations", 100), population_size=50, sample_size=7)
    assert (explicit.population_size, explicit.sample_size) == (
        50,
        7,
    ) and "scaled_to_budget" not in explicit.describe()
    assert _re(b, budget=Budget("time", 1e4)).population_size == 100  # unknown in evaluations: the paper's
    # the simulator passes the budget
    run = simulate(b, RegularizedEvolution, seed=0, n_workers=2, budget=Budget("evaluations", 30))
    assert run.optimizer.population_size == 10 and run.optimizer.sample_size == 2


def test_optuna_startup_trials_scale_to_the_budget(synthetic_bench):
    cls = _adapter("optuna-tpe")
    b = synthetic_bench
    kw = dict(space=b.space, fidelity=b.fidelity, objective=b.objective_metric, seed=0)
    assert cls(**kw, budget=Budget("evaluations", 100)).n_startup_trials == 10
    assert cls(**kw, budget=Budget("evaluations", 40)).n_startup_trials == 4
    assert cls(**kw, budget=Budget("evaluations", 40), n_startup_trials=7).n_startup_trials == 7
    assert cls(**kw).n_startup_trials == 10
    assert cls(**kw, budget=Budget("evaluations", 40)).study.sampler._n_startup_trials == 4
