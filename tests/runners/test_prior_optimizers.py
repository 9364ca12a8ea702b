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
