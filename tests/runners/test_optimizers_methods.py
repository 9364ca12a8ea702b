"""BOHB, DEHB, regularized evolution and top-K on their defining behaviour; every optimizer through the simulator."""

from __future__ import annotations

import inspect

import ConfigSpace as CS
import numpy as np
import pytest
from optimizer_lines import (
    by_fidelity,
    drive,
    line_loss,
    line_space,
    make,
    result,
    write_line_table,
)

from benchmarks.synthetic import make_synthetic_table
from benchmarks.tabular import TabularBenchmark
from runners.optimizer import ConfigSampler
from runners.optimizers import BOHB, DEHB, RegularizedEvolution, TopK
from runners.optimizers.bohb import KDEModel
from runners.optimizers.dehb import boundary_fix, crossover_bin, mutation_rand1
from runners.optimizers.encoding import VectorSpace
from runners.optimizers.evolution import mutate_one
from runners.optimizers.kde import KDE
from runners.registry import OPTIMIZERS
from runners.simulator import Budget, simulate


def bowl_space() -> CS.ConfigurationSpace:
    space = CS.ConfigurationSpace()
    space.add(CS.UniformFloatHyperparameter("a", 0.0, 1.0))
    space.add(CS.UniformFloatHyperparameter("b", 1e-3, 1.0, log=True))
    space.add(CS.CategoricalHyperparameter("c", ["p", "q", "r"]))
    return space


def bowl(config) -> float:
    """An easy objective: best at a = 0.2, b = 0.01, c = "q"."""
    return (config["a"] - 0.2) ** 2 + (np.log10(config["b"]) + 2) ** 2 / 9 + (config["c"] != "q") * 0.3


# ---------------------------------------------------------------- encoding and KDE
def test_vector_space_round_trips_and_stays_in_the_unit_cube():
    space = bowl_space()
    space.add(CS.UniformIntegerHyperparameter("n", 1, 9))
    space.add(CS.OrdinalHyperparameter("o", [16, 32, 64]))
    space.add(CS.Constant("k", "fixed"))
    vs = VectorSpace(space)
    configs = [dict(c) for c in space.sample_configuration(50)]
    x = vs.encode(configs)
    assert x.shape == (50, 5) and np.all((x >= 0) & (x <= 1))
    back = vs.decode(x)
    for a, b in zip(configs, back):
        assert b["c"] == a["c"] and b["n"] == a["n"] and b["o"] == a["o"] and b["k"] == "fixed"
        assert b["a"] == pytest.approx(a["a"]) and b["b"] == pytest.approx(a["b"])
    idx = vs.encode(configs, mode="index")
    assert set(idx[:, vs.names.index("c")]) <= {0.0, 1.0, 2.0}


def test_kde_matches_statsmodels_when_every_category_is_present():
    sm = pytest.importorskip(
        "statsmodels.api", reason="statsmodels is not installed (only this cross-check needs it)"
    )
    rng = np.random.default_rng(0)
    data = np.column_stack([rng.random(30), rng.random(30), np.arange(30) % 3])
    ours = KDE(data, np.array([0, 0, 3]))
    ref = sm.nonparametric.KDEMultivariate(data=data, var_type="ccu", bw="normal_reference")
    query = np.column_stack([rng.random(7), rng.random(7), rng.integers(0, 3, 7)])
    np.testing.assert_allclose(ours.bw, ref.bw)
    np.testing.assert_allclose(ours.pdf(query), ref.pdf(query), rtol=1e-10)


# ---------------------------------------------------------------- BOHB
def kde(vs, cls=KDEModel, **settings):
    """BOHB's model with BOHB's default settings (its constructor's), ``settings`` replacing some."""
    params = inspect.signature(BOHB.__init__).parameters
    names = [n for n in inspect.signature(KDEModel.__init__).parameters if n not in ("self", "vspace")]
    return cls(vs, **{n: settings.get(n, params[n].default) for n in names})


def test_bohb_is_random_until_both_kdes_have_d_plus_1_points():
    space = bowl_space()
    model = kde(VectorSpace(space), random_fraction=0.0)
    d = 3
    assert model.min_points_in_model == d + 1
    rng = np.random.default_rng(0)
    configs = [dict(c) for c in space.sample_configuration(2 * (d + 1))]
    for i, c in enumerate(configs):
        assert model.propose(rng) is None, f"model-based proposal after only {i} observations"
        model.observe(c, 9.0, bowl(c), rng)
        # a smaller budget never replaces the model of a larger one
        model.observe(c, 1.0, bowl(c), rng)
    assert model.model_budget == 9.0
    assert model.propose(rng) is not None


def test_bohb_optimizer_uses_the_model_only_once_it_exists():
    opt = make(BOHB, space=bowl_space(), fidelities=(1, 3, 9), seed=3, random_fraction=0.0)
    trials = drive(opt, loss=lambda t: bowl(t.config), n_results=7)
    assert opt.n_model_based == 0 and opt.model.model_budget is None  # d = 3: needs 8 results at one budget
    drive(opt, loss=lambda t: bowl(t.config), n_results=12)
    assert opt.model.model_budget is not None and opt.n_model_based > 0
    assert len(trials) == 7


def test_bohb_model_proposes_better_configs_than_random():
    space = bowl_space()
    rng = np.random.default_rng(42)
    model = kde(VectorSpace(space), random_fraction=0.0)
    for c in ConfigSampler(space).sample(40, rng):
        model.observe(c, 1.0, bowl(c), rng)
    proposed = [bowl(model.propose(rng)) for _ in range(40)]
    random = [bowl(c) for c in ConfigSampler(space).sample(40, rng)]
    assert np.median(proposed) < 0.5 * np.median(random)


def test_bohb_on_a_table_proposes_held_configurations(tmp_path):
    bench = TabularBenchmark.from_path(
        make_synthetic_table(tmp_path / "s", n_configs=40, n_seeds=1, n_epochs=9)
    )
    run = simulate(
        bench,
        lambda **kw: BOHB(random_fraction=0.0, **kw),
        seed=0,
        n_workers=3,
        budget=Budget("evaluations", 40),
    )
    assert run.optimizer.n_model_based > 0
    assert run.events["config_id"].notna().all()  # every evaluated configuration is in the table


@pytest.mark.parametrize("n", [1, 9, 300, 40_000])
def test_kde_pdf_by_dimension_and_in_chunks_is_bit_identical_to_the_full_array(n, monkeypatch):
    """The density computed a dimension at a time (and in chunks of queries) equals, bit for bit, the
    product over the (m, n, d) array of kernel values, so BOHB's proposals did not change."""
    from runners.optimizers import kde

    rng = np.random.default_rng(n)
    levels = np.array([0, 3, 0, 2, 0])
    data = rng.random((n, levels.size))
    query = rng.random((64, levels.size))
    for j in np.flatnonzero(levels):
        data[:, j] = rng.integers(0, levels[j], n)
        query[:, j] = rng.integers(0, levels[j], 64)
    k = KDE(data, levels)
    ref = k._pdf_reference(query)
    assert np.array_equal(k.pdf(query), ref)
    monkeypatch.setattr(kde, "PDF_CHUNK", 7 * data.size)  # chunks of 7 queries
    assert np.array_equal(k.pdf(query), ref)


class _EagerKDEModel(KDEModel):
    """BOHB's model as first written: refitted at every result of the modelled budget (hpbandster's
    schedule), with the published imputation loop; the reference the deferred fit must equal."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.eager: dict[float, tuple[KDE, KDE]] = {}

    def observe(self, config, budget, loss, rng):
        loss = loss if np.isfinite(loss) else np.inf
        xs, ys = self.observations.setdefault(budget, ([], []))
        xs.append(self.vspace.encode([config], mode="index")[0])
        ys.append(loss)
        if self.eager and max(self.eager) > budget:
            return
        n = len(xs)
        if n < self.min_points_in_model:
            return
        n_good = max(self.min_points_in_model, (self.top_n_percent * n) // 100)
        n_bad = max(self.min_points_in_model, ((100 - self.top_n_percent) * n) // 100)
        order = np.argsort(np.asarray(ys), kind="stable")
        data = np.asarray(xs)
        good = self._impute_loop(data[order[:n_good]], rng)
        bad = self._impute_loop(data[order[n_good : n_good + n_bad]], rng)
        d = self.vspace.dim
        if good.shape[0] <= d or bad.shape[0] <= d:
            return
        self.eager[budget] = (
            KDE(good, self.vspace.categorical_levels, self.min_bandwidth),
            KDE(bad, self.vspace.categorical_levels, self.min_bandwidth),
        )

    def _impute_loop(self, array, rng):
        if not np.isnan(array).any():
            return array
        out = array.copy()
        for i in range(out.shape[0]):
            for j in np.flatnonzero(np.isnan(out[i])):
                valid = np.flatnonzero(~np.isnan(array[:, j]))
                if valid.size:
                    out[i, j] = array[rng.choice(valid), j]
                elif self.vspace.categorical_levels[j] > 0:
                    out[i, j] = rng.integers(self.vspace.categorical_levels[j])
                else:
                    out[i, j] = rng.random()
        return out

    @property
    def fitted_on(self):  # what propose and model_budget read: the eagerly fitted models
        return {b: 0 for b in getattr(self, "eager", {})}

    @fitted_on.setter
    def fitted_on(self, value):
        pass

    def model(self, budget):
        return self.eager[budget]


def conditional_space() -> CS.ConfigurationSpace:
    space = bowl_space()
    opt = CS.CategoricalHyperparameter("opt", ["adam", "sgd"])
    mom = CS.UniformFloatHyperparameter("momentum", 0.0, 0.99)
    space.add([opt, mom])
    space.add(CS.EqualsCondition(mom, opt, "sgd"))
    return space


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_bohb_deferred_fit_proposes_exactly_what_refitting_at_every_result_proposed(conditional, seed):
    """The model fitted when a proposal needs it (cached until new observations of its budget) gives the
    same proposals and leaves the random stream where refitting at every result left it; on a
    conditional space (imputation draws from the stream) it refits at every result, as before."""
    space = conditional_space() if conditional else bowl_space()
    vs = VectorSpace(space)
    rngs = [np.random.default_rng(seed), np.random.default_rng(seed)]
    models = [kde(vs, random_fraction=0.2), kde(vs, _EagerKDEModel, random_fraction=0.2)]
    draw = np.random.default_rng(100 + seed)
    configs = [dict(c) for c in space.sample_configuration(600)]
    budgets = (1.0, 3.0, 9.0)
    for step, c in enumerate(configs):
        b = budgets[int(draw.choice(3, p=[0.6, 0.3, 0.1]))]
        loss = np.inf if draw.random() < 0.03 else bowl(c) + b / 10
        for m, r in zip(models, rngs):
            m.observe(c, b, loss, r)
        if step % 3 == 0:
            a, e = (m.propose(r) for m, r in zip(models, rngs))
            assert a == e, step
            assert rngs[0].bit_generator.state == rngs[1].bit_generator.state, step
    assert models[0].model_budget == models[1].model_budget == 9.0


@pytest.mark.parametrize("conditional", [False, True])
def test_bohb_model_is_exact_up_to_its_cap_and_a_rank_stratified_subsample_beyond(conditional):
    """Up to ``max_points_in_model`` points per KDE the capped model proposes what the uncapped one
    (hpbandster's) proposes, from the same random stream; beyond it each KDE holds exactly the cap, at
    evenly spaced ranks of its set, so a fit's size no longer grows with the history."""
    space = conditional_space() if conditional else bowl_space()
    vs = VectorSpace(space)
    cap = 40
    capped, full = kde(vs, max_points_in_model=cap), kde(vs, max_points_in_model=None)
    rngs = [np.random.default_rng(3), np.random.default_rng(3)]
    draw = np.random.default_rng(7)
    configs = [dict(c) for c in space.sample_configuration(400)]
    limit = next(n for n in range(1, 400) if max(capped._sizes(n)) > cap)  # the first n beyond the cap
    losses = []
    for n, c in enumerate(configs, start=1):
        loss = float(np.round(draw.random(), 2))  # ties among losses: ranked by arrival, as a stable argsort
        losses.append(loss)
        for m, r in zip((capped, full), rngs):
            m.observe(c, 1.0, loss, r)
        if n < limit:
            a, e = (m.propose(r) for m, r in zip((capped, full), rngs))
            assert a == e, n
            assert rngs[0].bit_generator.state == rngs[1].bit_generator.state, n
    good, bad = capped.model(1.0)
    assert good.data.shape[0] == bad.data.shape[0] == cap
    n = len(configs)
    n_good, n_bad = capped._sizes(n)
    order = np.argsort(np.asarray(losses), kind="stable")
    X = np.asarray(capped.observations[1.0][0])
    if not conditional:  # (imputed rows differ by their draws; the ranks are the same)
        want = order[((np.arange(cap) + 0.5) * n_good / cap).astype(int)]
        assert np.array_equal(good.data, X[want])
        want_bad = order[n_good + ((np.arange(cap) + 0.5) * (n - n_good) / cap).astype(int)]
        assert np.array_equal(bad.data, X[want_bad])
    assert full.model(1.0)[0].data.shape[0] == n_good  # uncapped: every good point
    with pytest.raises(ValueError, match="max_points_in_model=2 must be None"):
        kde(vs, max_points_in_model=2)


# ---------------------------------------------------------------- DEHB
def test_rand1_mutant_is_r1_plus_f_times_r2_minus_r3():
    pool = np.array([[0.1, 0.2], [0.5, 0.9], [0.3, 0.0]])
    rng = np.random.default_rng(0)
    from itertools import permutations

    allowed = [pool[a] + 0.5 * (pool[b] - pool[c]) for a, b, c in permutations(range(3))]
    for _ in range(20):
        m = mutation_rand1(pool, 0.5, rng)
        assert any(np.allclose(m, a) for a in allowed)
    with pytest.raises(ValueError, match="at least 3"):
        mutation_rand1(pool[:2], 0.5, rng)


def test_binomial_crossover_takes_at_least_one_mutant_dimension():
    rng = np.random.default_rng(1)
    target, mutant = np.zeros(6), np.ones(6)
    for _ in range(50):
        child = crossover_bin(target, mutant, 0.0, rng)
        assert child.sum() == 1  # probability 0: exactly the one forced dimension
    assert np.array_equal(crossover_bin(target, mutant, 1.0, rng), mutant)
    fractions = np.mean([crossover_bin(target, mutant, 0.5, rng).mean() for _ in range(400)])
    assert 0.45 < fractions < 0.6


def test_boundary_fix_redraws_or_clips_only_violations():
    rng = np.random.default_rng(2)
    v = np.array([-0.5, 0.3, 1.7])
    fixed = boundary_fix(v, rng)
    assert fixed[1] == 0.3 and np.all((fixed >= 0) & (fixed <= 1))
    assert list(boundary_fix(v, rng, "clip")) == [0.0, 0.3, 1.0]


def test_dehb_populations_and_first_iteration_promotions():
    # the line space sampled by ConfigSpace (no table): a table of N_X configurations would be exhausted early
    dehb = make(DEHB, space=line_space(), fidelities=tuple(float(v) for v in range(1, 82)), seed=0)
    assert [len(f) for f in dehb.fitness] == [81, 34, 15, 8, 5]  # the largest n_i per rung (Li sizing)
    told = drive(dehb, n_results=350, n_workers=4)
    by_id = {t.trial_id: t for t in told}
    first = [t for t in told if t.info["bracket"] <= dehb.s_max]
    later = [t for t in told if t.info["bracket"] > dehb.s_max]
    assert later, "the run should reach the second Hyperband iteration"
    # first iteration: higher rounds are promotions that continue the earlier trial
    for t in first:
        if t.info["rung"] > 0:
            assert t.continues is not None and by_id[t.continues].config == t.config
    # afterwards: DE offspring, trained from scratch
    assert all(t.continues is None for t in later)
    # selection keeps, for every evaluated member, a fitness no worse than what it replaced
    assert np.isfinite(dehb.fitness[0]).all()


def test_dehb_selection_replaces_the_target_only_when_not_worse():
    dehb = make(DEHB, fidelities=(1, 3, 9), seed=0)
    t = dehb.ask()
    g, p = t.info["g"], t.info["parent"]
    dehb.tell(t, result(t, 0.5))
    assert dehb.fitness[g][p] == 0.5
    dehb.observe(dehb.new_trial({"x": 1}, 1, g=g, parent=p), result(t, 0.7))
    assert dehb.fitness[g][p] == 0.5 and dehb.pop_configs[g][p] == t.config
    dehb.observe(dehb.new_trial({"x": 2}, 1, g=g, parent=p), result(t, 0.4))
    assert dehb.fitness[g][p] == 0.4 and dehb.pop_configs[g][p] == {"x": 2}


# ---------------------------------------------------------------- regularized evolution
def test_re_removes_the_oldest_and_tournament_picks_the_best():
    re = make(RegularizedEvolution, population_size=5, sample_size=5, seed=0)
    told = drive(re, n_results=5)
    assert [c for c, _ in re.population] == [dict(t.config) for t in told]
    best = min(re.population, key=lambda m: m[1])[0]
    assert re.tournament() == best  # S = P: the tournament sees everyone
    extra = drive(re, n_results=1)
    assert len(re.population) == 5
    assert [c for c, _ in re.population] == [dict(t.config) for t in told[1:] + extra]


def test_re_children_differ_from_their_parent_in_one_hyperparameter():
    space = bowl_space()
    rng = np.random.default_rng(0)
    for c in ConfigSampler(space).sample(30, rng):
        child = mutate_one(c, space, rng)
        assert sum(child[k] != c[k] for k in c) == 1


def test_re_evolves_after_the_random_population():
    # OneMax: eight binary hyperparameters; the loss counts the ones that differ from the target
    space = CS.ConfigurationSpace(
        {f"h{i}": CS.CategoricalHyperparameter(f"h{i}", ["a", "b"]) for i in range(8)}
    )
    target = {f"h{i}": "a" for i in range(8)}

    def mismatches(t):
        return float(sum(t.config[k] != v for k, v in target.items()))

    re = make(RegularizedEvolution, space=space, population_size=20, sample_size=5, seed=1)
    told = drive(re, loss=mismatches, n_results=200)
    assert all(t.fidelity == 27 for t in told)
    first, later = told[:20], told[-40:]
    assert np.mean([mismatches(t) for t in later]) < np.mean([mismatches(t) for t in first]) - 1
    assert min(mismatches(t) for t in told) == 0


# ---------------------------------------------------------------- top-K
def test_topk_trains_exactly_k_configs_to_the_max_fidelity():
    opt = make(TopK, k=3, n_configs=12, max_rounds=2, seed=0)
    told = drive(opt, n_results=1000, n_workers=5)
    assert opt.done
    per = by_fidelity(told)
    assert sorted(per) == [1, 27] and len(per[1]) == 24 and len(per[27]) == 6
    lows = [t for t in told if t.fidelity == 1]
    by_id = {t.trial_id: t for t in told}
    for rnd in (0, 1):
        low = [t for t in lows if t.info["bracket"] == rnd]
        top = sorted(low, key=lambda t: (line_loss(t), told.index(t)))[:3]
        kept = [by_id[t.continues] for t in told if t.fidelity == 27 and t.info["bracket"] == rnd]
        assert {t.trial_id for t in kept} == {t.trial_id for t in top}


def test_topk_default_round_size():
    assert make(TopK).n_configs == 27  # round(max / min) = 27 / 1
    with pytest.raises(ValueError, match="n_configs"):
        make(TopK, k=3, n_configs=3)


# ---------------------------------------------------------------- every optimizer, through the simulator
@pytest.fixture(scope="module")
def tiny_tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("opt-tables")
    return {
        "min": write_line_table(root / "min", "minimize", diverged=(3,)),
        "max": write_line_table(root / "max", "maximize"),
        "mixed": TabularBenchmark.from_path(
            make_synthetic_table(root / "mixed", n_configs=30, n_seeds=2, n_epochs=9)
        ),
    }


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("table", ["min", "max", "mixed"])
def test_every_optimizer_runs_through_the_simulator_deterministically(name, table, tiny_tables):
    bench = tiny_tables[table]
    runs = [
        simulate(bench, OPTIMIZERS[name], seed=s, n_workers=3, budget=Budget("evaluations", 12))
        for s in (7, 7, 8)
    ]
    a, b, c = (r.events for r in runs)
    # tiny tables: multi-fidelity methods draw every configuration before 12 evaluations are spent
    assert len(a) > 0 and runs[0].summary["stop_reason"] in ("budget", "table_exhausted")
    assert (
        runs[0].summary["n_repeated_fresh"] == 0
    )  # no fresh trial re-trains (promotions may duplicate a rung)
    cols = ["trial_id", "continues", "config_id", "fidelity", "t_start", "t_end"]
    assert a[cols].equals(b[cols]), "same seed, different run"
    if name != "rs" or table != "min":
        assert not (len(a) == len(c) and a[cols].equals(c[cols])), "the seed changes nothing"


@pytest.mark.parametrize("name", ["sh", "hyperband", "asha", "bohb", "dehb", "topk"])
def test_maximize_objectives_promote_the_highest_values(name, tiny_tables):
    run = simulate(
        tiny_tables["max"], OPTIMIZERS[name], seed=0, n_workers=2, budget=Budget("evaluations", 30)
    )
    ev = run.events
    top = ev[ev["fidelity"] == ev["fidelity"].max()]
    low = ev[ev["fidelity"] == ev["fidelity"].min()]
    assert top["objective"].mean() > low["objective"].mean()
    assert abs(top["config.x"].astype(int) - 7).mean() < abs(low["config.x"].astype(int) - 7).mean()


def test_top_k_on_one_fidelity_runs_rounds_of_random_configurations(tmp_path):
    bench = write_line_table(tmp_path / "one", fidelities=(5,))
    run = simulate(bench, TopK, seed=0, n_workers=2, budget=Budget("evaluations", 9))
    assert len(run.events) == 9 and set(run.events["fidelity"]) == {5.0}
    assert run.events["continues"].isna().all() and run.optimizer.describe()["single_fidelity"] is True
    assert run.optimizer.plan(0) == ((4,), (5.0,))  # k + 1 configurations per round
    # the bracket methods degrade to random search at the one fidelity
    run = simulate(bench, OPTIMIZERS["hyperband"], seed=0, n_workers=1, budget=Budget("evaluations", 5))
    assert set(run.events["fidelity"]) == {5.0}


@pytest.mark.parametrize("name", ["sh", "hyperband", "asha", "bohb", "dehb", "re"])
def test_one_fidelity_tables_work_for_every_other_optimizer(name, tmp_path):
    bench = write_line_table(tmp_path / "one", fidelities=(5,))
    run = simulate(bench, OPTIMIZERS[name], seed=0, n_workers=2, budget=Budget("evaluations", 8))
    assert len(run.events) == 8 and set(run.events["fidelity"]) == {5.0}
