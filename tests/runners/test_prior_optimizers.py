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
