"""MOBSTER (Klein et al. 2020): ASHA's scheduling, new configurations from a fantasized multi-fidelity GP."""

from __future__ import annotations

import itertools

import ConfigSpace as CS
import numpy as np
import pandas as pd
import pytest
from optimizer_lines import make, quality, write_line_table

from benchmarks import catalog
from benchmarks.protocol import Fidelity, Metric
from runners.optimizer import ConfigSampler, make_result
from runners.optimizers.asha import ASHA
from runners.optimizers.brackets import AshaRungs
from runners.optimizers.mobster import MOBSTER, ExpDecayResourceKernel, surrogate_kernel
from runners.optimizers.multiobjective import Posterior
from runners.registry import make_optimizer
from runners.simulator import Budget, simulate


def _tell(opt, trial, loss):
    opt.tell(trial, make_result(trial, loss, loss, {}, 1.0, 0.0, "ok"))


def _line_loss(trial):
    return quality(trial.config["x"]) + 1.0 / trial.fidelity


UNIT = CS.ConfigurationSpace({"x": CS.UniformFloatHyperparameter("x", 0.0, 1.0)})


def _unit(seed, fidelities=(9.0,), **kw):
    """MOBSTER over one continuous hyperparameter x in [0, 1] (an unbounded sampler, as a surrogate's)."""
    return MOBSTER(
        space=UNIT,
        fidelity=Fidelity("epoch", fidelities),
        objective=Metric("loss", "minimize"),
        seed=seed,
        sampler=ConfigSampler(UNIT),
        **kw,
    )


# ---------------------------------------------------------------- scheduling
@pytest.mark.parametrize("seed", [0, 1])
def test_scheduling_is_ashas_rungs_and_promotion_rule(seed):
    # three trials in flight, the oldest told first; a shadow of ASHA's rung system fed the same results must
    # predict every ask: the promotion it names, or a new configuration at the lowest rung when it names none
    opt = make(MOBSTER, seed=seed)
    asha = make(ASHA, seed=seed)
    assert opt.rungs == asha.rungs == (1.0, 3.0, 9.0, 27.0)
    shadow = AshaRungs(opt.rungs, 3)
    flight, n_promoted = [], 0
    for _ in range(45):
        want = shadow.next_promotion()
        t = opt.ask()
        if t is None:
            break
        if want is None:
            assert t.continues is None and t.fidelity == opt.rungs[0] and t.info["rung"] == 0
        else:
            k, entry = want
            shadow.mark_promoted(k, entry)
            assert t.continues == entry.trial.trial_id and t.fidelity == opt.rungs[k + 1]
            n_promoted += 1
        flight.append(t)
        if len(flight) == 3:
            done = flight.pop(0)
            _tell(opt, done, _line_loss(done))
            shadow.record(done.info["rung"], done, _line_loss(done))
    assert n_promoted >= 5


def test_random_phase_draws_ashas_configurations():
    # before the model, new configurations are ASHA's own draws (same calls on the same stream)
    runs = []
    for cls in (MOBSTER, ASHA):
        opt = make(cls, seed=3)
        fresh = []
        while len(fresh) < 6:
            t = opt.ask()
            fresh += [t.config["x"]] if t.continues is None else []
            _tell(opt, t, _line_loss(t))
        runs.append(fresh)
    assert runs[0] == runs[1]


# ---------------------------------------------------------------- the searcher
def test_model_chosen_configurations_beat_ashas_random_ones():
    # the line table: quality |x - 7| / 30, best at x = 7; the model-chosen new configurations are far closer
    # to it than ASHA's uniform draws at the same positions of the same seed
    gp, rnd = [], []
    for seed in range(3):
        for cls, out in ((MOBSTER, gp), (ASHA, rnd)):
            opt = make(cls, seed=seed)
            fresh = []
            while len(fresh) < 16:
                t = opt.ask()
                if t.continues is None:
                    fresh.append(t)
                _tell(opt, t, _line_loss(t))
            if cls is MOBSTER:
                assert [t.info["how"] for t in fresh] == ["random"] * 6 + ["ei"] * 10
            out += [quality(t.config["x"]) for t in fresh[6:]]
    assert np.mean(gp) < 0.5 * np.mean(rnd)


def test_model_finds_the_minimum_of_a_continuous_space():
    # unbounded sampler: after 6 random points, 10 model-chosen x of (x - 0.3)^2 + 0.5 / f land near 0.3
    opt = _unit(0, fidelities=(1.0, 3.0, 9.0))
    chosen = []
    while len(chosen) < 10:
        t = opt.ask()
        if t.info.get("how") == "ei":
            chosen.append(t.config["x"])
        _tell(opt, t, (t.config["x"] - 0.3) ** 2 + 0.5 / t.fidelity)
    assert np.median(np.abs(np.asarray(chosen) - 0.3)) < 0.05


def test_r_acq_is_the_largest_rung_with_enough_observations():
    opt = make(MOBSTER, seed=0, acq_threshold=3)
    assert opt.acquisition_rung() == 0  # no data yet

    def observe(x, k):
        t = opt.new_trial({"x": x}, opt.rungs[k], rung=k)
        opt._tell(t, make_result(t, 0.5, 0.5, {}, 1.0, 0.0, "ok"))

    for x in range(5):
        observe(x, 0)
    for x in range(3):
        observe(x, 1)
    for x in range(2):
        observe(x, 2)
    assert opt._n_per_rung == [5, 3, 2, 0] and opt.acquisition_rung() == 1
    observe(2, 2)
    assert opt.acquisition_rung() == 2
    opt.acq_threshold = 6  # no rung has six: the lowest rung that has data
    assert opt.acquisition_rung() == 0
    # and the searcher scores candidates there
    opt.acq_threshold = 3
    opt.n_init = 0
    config, how = opt.propose()
    assert how == "ei" and opt.last_r_acq == opt.rungs[2] and config in opt.sampler.configurations


@pytest.mark.parametrize("seed", range(4))
def test_fantasies_spread_the_proposals_of_pending_trials(seed):
    # three observations, then four asks with nothing told: fantasizing the pending ones spreads the proposals;
    # without it the searcher proposes (nearly) the same point four times
    spread = {}
    for fantasize in (True, False):
        opt = _unit(seed, n_init=3, fantasize=fantasize)
        for _ in range(3):
            t = opt.ask()
            _tell(opt, t, (t.config["x"] - 0.3) ** 2)
        asked = [opt.ask() for _ in range(4)]
        assert all(t.info["how"] == "ei" for t in asked)
        xs = [t.config["x"] for t in asked]
        spread[fantasize] = min(abs(a - b) for a, b in itertools.combinations(xs, 2))
    assert spread[True] > 0.01 and spread[False] < 0.005


def test_posterior_without_fantasies_is_scikit_learns():
    from sklearn.gaussian_process import GaussianProcessRegressor

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.random((20, 2)), rng.choice([0.0, 0.25, 1.0], 20)])
    y = np.sin(4 * X[:, 0]) + X[:, 2]
    for name in ("exp-decay-sum", "matern52"):
        gp = GaussianProcessRegressor(surrogate_kernel(name, 2), normalize_y=True).fit(X, y)
        yn = (y - y.mean()) / y.std()
        post = Posterior(gp.kernel_, X, yn[:, None])
        Xq = np.column_stack([rng.random((7, 2)), rng.choice([0.0, 1.0], 7)])
        mu, sd = post.mean_sd(Xq)
        mu_ref, sd_ref = gp.predict(Xq, return_std=True)
        assert np.allclose(mu[:, 0] * y.std() + y.mean(), mu_ref, atol=1e-6)
        assert np.allclose(sd * y.std(), sd_ref, atol=1e-6)


def test_exp_decay_kernel_gradient_and_values():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.random(6), rng.choice([0.0, 0.3, 1.0], 6)])
    k = ExpDecayResourceKernel(alpha=2.0, beta=0.3)
    K, grad = k(X, eval_gradient=True)
    r = X[:, 1]
    assert np.allclose(K, (0.3 / (r[:, None] + r[None, :] + 0.3)) ** 2)
    assert np.allclose(np.diag(K), k.diag(X)) and np.linalg.eigvalsh(K).min() > -1e-12
    theta = k.theta
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = 1e-6
        num = (k.clone_with_theta(theta + e)(X) - k.clone_with_theta(theta - e)(X)) / 2e-6
        assert np.allclose(grad[:, :, i], num, atol=1e-7)


def test_model_data_are_capped_keeping_the_higher_rungs():
    opt = make(MOBSTER, seed=0, max_model_points=8)

    def observe(x, k):
        t = opt.new_trial({"x": x}, opt.rungs[k], rung=k)
        opt._tell(t, make_result(t, 0.5, 0.5, {}, 1.0, 0.0, "ok"))

    for x in range(10):
        observe(x, 0)
    for x in (0, 1):
        observe(x, 1)
    observe(0, 2)
    rows = opt.model_rows()
    rung = np.asarray(opt._obs_rung)[rows]
    x = np.asarray([opt.sampler.configurations[i]["x"] for i in np.asarray(opt._obs_key)[rows]])
    assert len(rows) == 8
    # configurations 0 (rungs 0-2) and 1 (rungs 0-1) keep all their points; three of the eight others fill up
    kept = set(zip(x.tolist(), rung.tolist()))
    assert {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)} <= kept and len(kept) == 8
    assert (rung == 0).sum() == 5


# ---------------------------------------------------------------- runs
@pytest.mark.parametrize("kernel", ["exp-decay-sum", "matern52"])
def test_same_seed_same_events_no_repeats_on_a_table(synthetic_bench, kernel):
    budget = Budget("evaluations", 8)
    a, b, c = (
        simulate(
            synthetic_bench, make_optimizer("mobster", kernel=kernel), seed=s, n_workers=3, budget=budget
        )
        for s in (1, 1, 2)
    )
    pd.testing.assert_frame_equal(a.events, b.events)
    assert not a.events.equals(c.events)
    s = a.summary
    assert s["n_repeated_fresh"] == 0 and s["n_redirected"] == 0
    assert a.optimizer.describe()["n_model"] > 0


def test_table_exhaustion_ends_the_run_after_the_promotions(tmp_path):
    bench = write_line_table(tmp_path / "line")
    run = simulate(bench, make_optimizer("mobster"), seed=0, n_workers=3, budget=Budget("evaluations", 500))
    ev = run.events
    assert run.summary["stop_reason"] == "table_exhausted" and run.summary["n_repeated_fresh"] == 0
    assert ev.loc[ev["continues"].isna(), "config_id"].is_unique and ev["config_id"].nunique() == 30
    assert (ev["fidelity"] == 27.0).any()


def test_runs_on_a_surrogate_benchmark():
    bench = catalog.load("lcbench-car-surrogate")  # answers for any configuration of the space
    budget = Budget("evaluations", 3)
    a, b = (simulate(bench, make_optimizer("mobster"), seed=0, n_workers=3, budget=budget) for _ in range(2))
    pd.testing.assert_frame_equal(a.events, b.events)
    d = a.optimizer.describe()
    assert d["n_model"] > 0 and d["kernel"] == "exp-decay-sum"
    fresh = a.events[a.events["continues"].isna()]
    # every new trial asked is a fresh event, unless the budget ran out while it trained (cancelled, no event)
    assert len(fresh) <= d["n_new"] <= len(fresh) + a.summary["n_cancelled"]
    assert set(a.events["fidelity"]) <= set(a.optimizer.rungs)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"kernel": "rbf"}, "kernel='rbf'"),
        ({"n_init": -1}, "n_init=-1"),
        ({"acq_threshold": 0}, "acq_threshold=0"),
        ({"n_candidates": 2.5}, "n_candidates=2.5"),
        ({"n_fantasies": 0}, "n_fantasies=0"),
        ({"fantasize": "yes"}, "fantasize='yes'"),
        ({"local_sd": 0.0}, "local_sd=0.0"),
        ({"max_model_points": 2}, "max_model_points=2"),
        ({"refit_growth": -0.1}, "refit_growth=-0.1"),
        ({"eta": 1}, "eta=1"),
    ],
)
def test_bad_hyperparameters_are_refused_by_name(kw, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(".", r"\.")):
        make(MOBSTER, **kw)
