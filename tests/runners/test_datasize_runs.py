"""Optimizers along the training-set fraction of a data-size benchmark (benchmarks.datasize)."""

from __future__ import annotations

import functools

import pytest
from datasize_tables import digits_datasize_parts

from benchmarks.datasize import DataSizeBenchmark
from runners.optimizer import RandomSearch
from runners.optimizers import ASHA
from runners.simulator import Budget, simulate


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return DataSizeBenchmark(
        digits_datasize_parts(tmp_path_factory.mktemp("datasize")), name="digits-datasize"
    )


def test_optimizers_run_along_the_fraction_and_a_continuation_pays_the_refit(bench):
    r = simulate(
        bench,
        functools.partial(ASHA, eta=3),
        seed=0,
        n_workers=2,
        budget=Budget("results", 40),
    )
    ev = r.events
    assert set(ev["fidelity"]) <= set(bench.fidelity.values) and ev["fidelity"].nunique() > 1
    cont = ev[ev["continues"].notna()]
    assert len(cont)  # ASHA promoted a configuration to a larger fraction
    for _, row in cont.iterrows():
        whole = bench.query(int(row["config_id"]), row["fidelity"], int(row["seed"])).cost
        assert row["cost"] == pytest.approx(whole, rel=1e-6)  # trained again on more data, from scratch
    rs = simulate(bench, RandomSearch, seed=0, n_workers=1, budget=Budget("results", 4))
    assert set(rs.events["fidelity"]) == {1.0}  # random search evaluates the whole training split


def test_reports_as_a_trial_trains_are_refused_on_a_training_set_size(bench):
    # each report of such a trial was charged the cost difference, as if the model kept training on more data;
    # it is trained again, so there is nothing to report on the way
    from benchmarks.protocol import FidelityError
    from runners.registry import make_optimizer

    with pytest.raises(FidelityError, match="data_fraction is not incremental"):
        simulate(bench, make_optimizer("median-stopping"), seed=0, n_workers=1, budget=Budget("results", 5))


def test_the_cost_increment_on_a_training_set_size_is_the_refit(bench):
    fr = bench.fidelity.values
    r = bench.query(0, fr[1], bench.default_seed)
    assert r.cost_increment == r.cost  # continuing from a smaller fraction is training again
