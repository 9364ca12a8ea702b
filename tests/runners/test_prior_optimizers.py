"""Prior-aware baselines: random search and Hyperband drawing from the benchmark's prior."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import catalog
from benchmarks.priors import priors
from runners.optimizer import ConfigSampler
from runners.optimizers.prior import PriorSampler
from runners.registry import make_optimizer
from runners.simulator import Budget, simulate


def test_a_prior_sampler_on_a_table_draws_distinct_unevaluated_configurations_until_the_table_runs_out():
    b = catalog.load("lcbench-car")
    s = PriorSampler(ConfigSampler.for_benchmark(b), priors(b)["misleading"])  # narrow: many draws collide
    s.reset(b.fidelity.max)
    rng = np.random.default_rng(0)
    first = s.sample(50, rng)
    ids = [s.index(c) for c in first]
    assert len(first) == 50 and len(set(ids)) == 50
    for c in first:
        s.note(c, b.fidelity.max)
    seen = set(ids)
    while True:
        batch = s.sample(64, rng)
        if not batch:
            break
        new = [s.index(c) for c in batch]
        assert len(set(new)) == len(new) and not seen & set(new)
        seen |= set(new)
        for c in batch:
            s.note(c, b.fidelity.max)
    assert len(seen) == b.n_configurations()


@pytest.mark.parametrize("method", ["rs-prior", "hyperband-prior"])
def test_a_good_prior_beats_a_misleading_one_and_the_run_records_it(method):
    b = catalog.load("lcbench-car")
    finals = {}
    for strength in ("good", "misleading"):
        runs = [
            simulate(
                b,
                make_optimizer(method, prior=strength),
                seed=s,
                n_workers=2,
                budget=Budget("evaluations", 15),
            )
            for s in range(4)
        ]
        finals[strength] = np.mean([r.events["objective"].min() for r in runs])
        rec = runs[0].optimizer.describe()["prior"]
        assert rec["strength"] == strength and rec["mode"] == priors(b)[strength].mode
    assert finals["good"] < finals["misleading"], finals


def test_a_bad_prior_name_is_refused():
    b = catalog.load("lcbench-car")
    with pytest.raises(ValueError, match="prior='great'; allowed: good, medium, bad, misleading"):
        simulate(
            b, make_optimizer("rs-prior", prior="great"), seed=0, n_workers=1, budget=Budget("evaluations", 2)
        )


def test_the_prior_density_peaks_at_the_mode():
    b = catalog.load("fcnet-naval")
    p = priors(b)["good"]
    far = dict(p.mode)
    far["n_units_1"] = 16 if p.mode["n_units_1"] != 16 else 512
    other = next(c for c in b.space["lr_schedule"].choices if c != p.mode["lr_schedule"])
    dens = p.log_density([p.mode, far, {**p.mode, "lr_schedule": other}])
    assert dens[0] > dens[1] and dens[0] > dens[2]
    assert dens[0] - dens[2] == pytest.approx(np.log((1 - 0.15 + 0.15 / 2) / (0.15 / 2)))


def test_pibo_weighting_pulls_model_based_proposals_towards_the_prior():
    """With a large weight the proposal is the candidate the prior rates highest; with none, BOHB's own."""
    from runners.optimizers.bohb import KDEModel
    from runners.optimizers.encoding import VectorSpace

    b = catalog.load("lcbench-car")
    p = priors(b)["misleading"]
    vs = VectorSpace(b.space)
    rng = np.random.default_rng(0)
    model = KDEModel(
        vs,
        min_points_in_model=None,
        top_n_percent=15,
        num_samples=64,
        random_fraction=0.0,
        bandwidth_factor=3.0,
        min_bandwidth=1e-3,
    )
    for i, c in enumerate(b.configurations()[:60]):
        model.observe(dict(c), b.fidelity.max, float(i), rng)
    plain = [model.propose(np.random.default_rng(s)) for s in range(20)]
    pulled = [model.propose(np.random.default_rng(s), (p.log_density, 1e6)) for s in range(20)]
    assert np.mean(p.log_density(pulled)) > np.mean(p.log_density(plain))
    same = [model.propose(np.random.default_rng(s), (p.log_density, 0.0)) for s in range(20)]
    enc = vs.encode(same)
    assert np.allclose(enc, vs.encode(plain))  # power 0: BOHB's own choice


def test_bohb_with_a_good_prior_beats_it_with_a_misleading_one():
    b = catalog.load("lcbench-car")
    finals = {}
    for strength in ("good", "misleading"):
        runs = [
            simulate(
                b,
                make_optimizer("bohb-prior", prior=strength),
                seed=s,
                n_workers=2,
                budget=Budget("evaluations", 20),
            )
            for s in range(3)
        ]
        finals[strength] = np.mean([r.events["objective"].min() for r in runs])
        assert runs[0].optimizer.describe()["prior"]["strength"] == strength
    assert finals["good"] < finals["misleading"], finals


# ---------------------------------------------------------------- PriorBand
def test_priorband_starts_with_the_prior_mode_and_weighs_the_prior_geometrically_by_rung():
    """Mallik et al. 2023 / NePS: the first configuration is the prior's mode; before the incumbent is active a
    bracket starting at rung r draws from the prior with weight eta**r against 1 for the uniform distribution."""
    b = catalog.load("lcbench-car")
    run = simulate(b, make_optimizer("priorband"), seed=0, n_workers=1, budget=Budget("evaluations", 1))
    opt = run.optimizer
    first = run.events.sort_values("trial_id").iloc[0]
    assert opt.sampler.index(priors(b)["good"].mode) == int(first["config_id"])
    w, inc = run.optimizer.sampling_weights(0)
    eta = run.optimizer.eta
    assert inc is None and w == {"random": 0.5, "prior": 0.5, "incumbent": 0.0}
    w2, _ = run.optimizer.sampling_weights(2)
    assert w2["prior"] == pytest.approx(eta**2 / (1 + eta**2)) and w2["random"] == pytest.approx(
        1 / (1 + eta**2)
    )


def _forget_scores(opt):
    """Drop PriorBand's caches of the split and the densities (they assume a rung's history only grows)."""
    opt._split_cache = None
    opt._ranked.clear()
    opt._prior_scores.clear()
    opt._inc_scores.clear()


def test_priorband_activates_the_incumbent_after_one_bracket_and_splits_by_where_the_best_lie():
    """After one full lowest-rung bracket's resources and a top-rung result, part of the prior's weight goes to
    the incumbent: most of it when the best configurations lie near the incumbent, little when near the prior."""
    b = catalog.load("lcbench-car")
    run = simulate(b, make_optimizer("priorband"), seed=1, n_workers=4, budget=Budget("evaluations", 40))
    opt = run.optimizer
    assert opt.incumbent_active() and opt.resources_used >= opt.first_bracket_resources
    assert opt.drawn["incumbent"] > 0 and opt.drawn["random"] > 0 and opt.drawn["prior"] > 0
    w, inc = opt.sampling_weights(0)
    assert inc == opt.incumbent() and sum(w.values()) == pytest.approx(1.0) and w["incumbent"] > 0
    # the incumbent is the best loss at the highest fidelity each configuration reached
    assert min(v[1] for v in opt.latest.values()) == min(
        loss
        for c, loss in zip(*[sum(x, []) for x in zip(*opt.rung_history.values())], strict=True)
        if c == inc
    )
    # the dynamic split: the top configurations of the top rung all equal to the incumbent -> its share dominates;
    # all equal to the prior's mode -> the prior's does
    top = len(opt.rungs) - 1
    mode = dict(opt.prior.mode)
    opt.rung_history[top] = ([dict(inc)] * 9, [0.1] * 9)
    _forget_scores(opt)
    share_prior, share_inc = opt.prior_incumbent_split(inc)
    assert share_inc > share_prior and share_prior + share_inc == pytest.approx(1.0)
    opt.rung_history[top] = ([mode] * 9, [0.1] * 9)
    _forget_scores(opt)
    share_prior, share_inc = opt.prior_incumbent_split(inc)
    assert share_prior > share_inc
    opt.rung_history = {0: ([mode], [0.1])}  # fewer than eta results on every rung: eta : 1
    assert opt.prior_incumbent_split(inc) == pytest.approx((opt.eta / (1 + opt.eta), 1 / (1 + opt.eta)))


def test_priorband_mutation_redraws_each_hyperparameter_with_its_rate():
    """Each hyperparameter of the incumbent is redrawn with probability inc_mutation_rate: at 0.5 about half as
    many values change as at 1.0 (a redraw can land on the same value, at either rate alike)."""
    b = catalog.load("fcnet-naval")
    inc = dict(priors(b)["bad"].mode)
    changed = {}
    for rate in (0.5, 1.0):
        opt = simulate(
            b,
            make_optimizer("priorband", inc_mutation_rate=rate),
            seed=0,
            n_workers=1,
            budget=Budget("evaluations", 1),
        ).optimizer
        fractions = []
        for _ in range(600):
            m = opt.mutate(inc)
            assert set(m) == set(inc)
            fractions.append(np.mean([m[k] != inc[k] for k in inc]))
        changed[rate] = np.mean(fractions)
    assert 0.4 < changed[0.5] / changed[1.0] < 0.6, changed
    with pytest.raises(ValueError, match=r"inc_mutation_rate=0 must be a number in \(0, 1\]"):
        simulate(
            b,
            make_optimizer("priorband", inc_mutation_rate=0),
            seed=0,
            n_workers=1,
            budget=Budget("evaluations", 1),
        )


def _final(runs):
    """The mean over runs of the best objective at the maximum fidelity."""
    return np.mean(
        [r.events[r.events["fidelity"] == r.events["fidelity"].max()]["objective"].min() for r in runs]
    )


def test_priorband_uses_a_good_prior_and_recovers_from_a_misleading_one():
    """PriorBand's claim (Mallik et al. 2023): it gains from a good prior and, unlike prior-sampling Hyperband,
    recovers from a misleading one (8 seeds, 15 evaluations, at the maximum fidelity)."""
    b = catalog.load("lcbench-car")

    def runs(method, strength):
        return [
            simulate(
                b,
                make_optimizer(method, prior=strength),
                seed=s,
                n_workers=2,
                budget=Budget("evaluations", 15),
            )
            for s in range(8)
        ]

    good, misleading = runs("priorband", "good"), runs("priorband", "misleading")
    assert good[0].optimizer.describe()["prior"]["strength"] == "good"
    assert _final(good) < _final(misleading)
    assert _final(misleading) < _final(runs("hyperband-prior", "misleading"))


def test_priorband_scores_every_top_configuration_up_to_max_scored_and_a_stratified_subsample_beyond():
    b = catalog.load("lcbench-car")
    opt = simulate(
        b, make_optimizer("priorband"), seed=2, n_workers=4, budget=Budget("evaluations", 30)
    ).optimizer
    inc = opt.incumbent()
    configs, losses = opt.rung_history[0]
    n_top = max(len(configs) // 3, 3)
    exact = opt._split(0, configs, losses, inc)
    # the reference: every one of the top configurations, weighted by rank (NePS)
    order = np.argsort(np.asarray(losses), kind="stable")[:n_top]
    from benchmarks.priors import Prior

    centred = Prior("incumbent", inc, opt.prior.spread, np.nan, np.nan, opt.prior.space)
    top = [configs[i] for i in order]
    w = np.arange(n_top, 0, -1)
    ps, cs = (w * np.exp(opt.prior.log_density(top))).sum(), (w * np.exp(centred.log_density(top))).sum()
    assert exact == pytest.approx((ps / (ps + cs), cs / (ps + cs)))
    assert n_top > 8
    opt.max_scored = 8
    _forget_scores(opt)
    sub = opt._split(0, configs, losses, inc)
    # beyond max_scored: the configurations at 8 evenly spaced ranks of the top, each with its rank's weight
    pos = ((np.arange(8) + 0.5) * n_top / 8).astype(int)
    rows, w8 = [top[k] for k in pos], n_top - pos
    ps8, cs8 = (
        (w8 * np.exp(opt.prior.log_density(rows))).sum(),
        (w8 * np.exp(centred.log_density(rows))).sum(),
    )
    assert sub != exact and sub == pytest.approx((ps8 / (ps8 + cs8), cs8 / (ps8 + cs8)))
