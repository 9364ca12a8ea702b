"""The optimizer interface: trial bookkeeping, sampling, projection onto a table, fidelity rungs."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.protocol import Fidelity, FidelityError
from benchmarks.space import check_config
from runners.optimizer import (
    ConfigSampler,
    OptimizerError,
    RandomSearch,
    TrialResult,
    rung_fidelities,
    snap_fidelity,
)
from runners.testing import toy_benchmark, toy_space


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_benchmark(tmp_path_factory.mktemp("opt") / "toy", n_configs=12)


def make_rs(bench, seed=0, **kw):
    return RandomSearch(
        space=bench.space,
        fidelity=bench.fidelity,
        objective=bench.objective_metric,
        seed=seed,
        sampler=ConfigSampler.for_benchmark(bench),
        **kw,
    )


def result_for(trial, value=1.0):
    return TrialResult(trial, value, value, {}, 1.0, 1.0)


def test_ask_tell_tracks_pending_and_ids(toy):
    rs = make_rs(toy)
    a, b = rs.ask(), rs.ask()
    assert (a.trial_id, b.trial_id) == (0, 1) and list(rs.pending) == [0, 1]
    assert a.fidelity == toy.fidelity.max and a.continues is None
    rs.tell(a, result_for(a))
    assert list(rs.pending) == [1]
    with pytest.raises(OptimizerError, match="not pending"):
        rs.tell(a, result_for(a))


def test_continue_trial_copies_config_and_needs_higher_fidelity(toy):
    rs = make_rs(toy, fidelity_value=2.0)
    a = rs.ask()
    c = rs.continue_trial(a, 4.0, rung=1)
    assert c.config is a.config and c.continues == a.trial_id and c.info == {"rung": 1} and c.trial_id == 1
    with pytest.raises(OptimizerError, match="already reached"):
        rs.continue_trial(a, 2.0)


def test_random_search_is_reproducible_and_seed_dependent(toy):
    def draws(seed, n=toy.n_configs):
        rs = make_rs(toy, seed=seed)
        return [toy.config_id(rs.ask().config) for _ in range(n)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    # on a table: without replacement, a permutation of the table; then the table is exhausted
    assert sorted(draws(5)) == list(range(toy.n_configs))
    rs = make_rs(toy, seed=5)
    for _ in range(toy.n_configs):
        rs.ask()
    assert rs.ask() is None and rs.exhausted


def test_random_search_rejects_bad_settings(toy):
    with pytest.raises(FidelityError):
        make_rs(toy, fidelity_value=2.5)
    with pytest.raises(ValueError, match="batch"):
        make_rs(toy, batch=0)
    with pytest.raises(ValueError, match="seed"):
        make_rs(toy, seed=-3)


def test_table_sampler_draws_table_configurations_uniformly(toy):
    s = ConfigSampler.for_benchmark(toy)
    assert s.is_finite and len(s) == toy.n_configs
    rng = np.random.default_rng(0)
    # with nothing evaluated: n distinct configurations, uniformly (each configuration equally often over many calls)
    counts = np.zeros(toy.n_configs)
    for _ in range(1500):
        ids = [toy.config_id(c) for c in s.sample(4, rng)]
        assert len(set(ids)) == 4
        counts += np.bincount(ids, minlength=toy.n_configs)
    assert counts.min() > 350 and counts.max() < 650  # 500 expected per configuration
    assert len(s.sample(100, rng)) == toy.n_configs  # no more than the table holds
    first = s.sample(3, np.random.default_rng(1))
    again = s.sample(3, np.random.default_rng(1))
    assert first == again
    first[0]["lr"] = -1.0  # returned dicts are copies
    assert s.configurations[toy.config_id(again[0])]["lr"] != -1.0


def test_projection_returns_nearest_table_configuration(toy):
    s = ConfigSampler.for_benchmark(toy)
    for cid in range(toy.n_configs):
        cfg = toy.config(cid)
        assert s.project(cfg) == cfg
        nudged = {**cfg, "lr": cfg["lr"] * 1.0001}
        assert s.project(nudged) == cfg
    anywhere = {"lr": 0.001234, "layers": 3, "units": 32, "act": "tanh"}
    p = s.project(anywhere)
    toy.config_id(p)  # in the table
    # it is the closest by the documented encoding
    import pandas as pd

    from benchmarks.space import encode_frame

    frame = pd.DataFrame(toy.configurations())
    d = np.linalg.norm(
        encode_frame(toy.space, frame) - encode_frame(toy.space, pd.DataFrame([anywhere])), axis=1
    )
    assert toy.config_id(p) == int(np.argmin(d))


def _reference_projection(sampler, configs):
    """Projection as first published: encode a DataFrame, query a k-d tree over the table's encoding."""
    import pandas as pd
    from scipy.spatial import cKDTree

    from benchmarks.space import encode_frame

    names = list(sampler.names)
    tree = cKDTree(
        np.nan_to_num(
            encode_frame(sampler.space, pd.DataFrame(sampler.configurations, columns=names)), nan=-1.0
        )
    )
    x = np.nan_to_num(
        encode_frame(sampler.space, pd.DataFrame([dict(c) for c in configs], columns=names)), nan=-1.0
    )
    return np.atleast_1d(tree.query(x, k=1)[1]).tolist()


@pytest.mark.filterwarnings("ignore:Constructing a Categorical", "ignore:invalid value encountered in log")
@pytest.mark.parametrize("space", ["mixed", "grid"])
def test_fast_projection_matches_the_dataframe_reference(tmp_path, space):
    from benchmarks.synthetic import make_synthetic_table
    from benchmarks.tabular import TabularBenchmark
    from runners.optimizers.evolution import mutate_one

    bench = TabularBenchmark.from_path(
        make_synthetic_table(
            tmp_path / "t", n_configs=None if space == "grid" else 300, space=space, n_seeds=1, n_epochs=2
        )
    )
    s = ConfigSampler.for_benchmark(bench)
    rng = np.random.default_rng(1)
    held = s.sample(50, rng)
    proposals = (
        held + [mutate_one(c, bench.space, rng) for c in held] + ConfigSampler(bench.space).sample(100, rng)
    )
    # values outside the space, missing and of the wrong type encode as the DataFrame path encodes them
    first = dict(held[0])
    for name in s.names:
        for bad in (None, "not-a-value", -1e9, 1e9):
            proposals.append({**first, name: bad})
        proposals.append({k: v for k, v in first.items() if k != name})
    want = [dict(s.configurations[i]) for i in _reference_projection(s, proposals)]
    assert [s.project(c) for c in proposals] == want
    assert s.project_many(proposals) == want
    # 0 on a log scale (and infinity) encode to infinity, where the DataFrame path found no neighbour at all
    for name in s.names:
        for bad in (0.0, float("inf"), float("-inf")):
            bench.config_id(s.project({**first, name: bad}))


def test_projection_builds_its_index_once_and_needs_no_dataframe(toy, monkeypatch):
    import runners.optimizer as opt

    s = ConfigSampler.for_benchmark(toy)
    s.project(toy.config(0))  # builds the index

    def no_frames(*args, **kwargs):
        raise AssertionError("projection of one configuration must not build a DataFrame")

    monkeypatch.setattr(opt, "encode_frame", no_frames)
    monkeypatch.setattr(opt.pd, "DataFrame", no_frames)
    anywhere = {"lr": 0.001234, "layers": 3, "units": 32, "act": "tanh"}
    toy.config_id(s.project(anywhere))
    assert s.project(toy.config(3)) == toy.config(3)


def test_sampling_one_configuration_raises_no_deprecation_warning():
    import warnings

    s = ConfigSampler(toy_space())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = s.sample(1, np.random.default_rng(0))
        s.sample_one(np.random.default_rng(0))
    assert len(one) == 1 and isinstance(one[0], dict)
    check_config(toy_space(), one[0])


def test_continuous_sampler_stays_in_space_and_is_reproducible():
    space = toy_space()
    s = ConfigSampler(space)
    assert not s.is_finite
    a = s.sample(20, np.random.default_rng(5))
    b = s.sample(20, np.random.default_rng(5))
    assert a == b and len(a) == 20
    for c in a:
        check_config(space, c)
    clipped = s.project({"lr": 5.0, "layers": 11.4, "units": 16, "act": "relu"})
    assert clipped == {"lr": 1.0, "layers": 8, "units": 16, "act": "relu"}
    assert s.sample(0, np.random.default_rng(0)) == []


def test_snap_fidelity_and_rungs():
    f = Fidelity("epoch", tuple(float(x) for x in range(1, 101)))
    assert snap_fidelity(f, 11.1) == 11.0 and snap_fidelity(f, 0.2) == 1.0 and snap_fidelity(f, 400) == 100.0
    assert rung_fidelities(f, 3) == [1.0, 4.0, 11.0, 33.0, 100.0]
    assert rung_fidelities(f, 3, min_fidelity=10) == [11.0, 33.0, 100.0]
    sparse = Fidelity("epoch", (1.0, 10.0, 50.0, 100.0))
    assert rung_fidelities(sparse, 2) == [1.0, 10.0, 50.0, 100.0]
    assert rung_fidelities(Fidelity("epoch", (200.0,)), 3) == [200.0]
    cont = Fidelity("epoch", (1.0, 27.0), continuous=True)
    assert rung_fidelities(cont, 3) == [1.0, 3.0, 9.0, 27.0]
    with pytest.raises(ValueError, match="eta"):
        rung_fidelities(f, 1)
    with pytest.raises(FidelityError, match="min_fidelity"):
        rung_fidelities(f, 3, min_fidelity=500)


@pytest.mark.parametrize("repeats", ["allow", "avoid"])
def test_random_search_draws_the_same_whether_ask_takes_its_row_or_looks_it_up(tmp_path, repeats):
    """RandomSearch hands ask() the row it drew, so ask need not look the configuration up; without the hint
    ask looks it up. The two runs are the same trials, rows and results."""
    from runners.optimizer import RandomSearch
    from runners.simulator import Budget, simulate

    class RS(RandomSearch):
        name = f"rs-{repeats}"

    class LookedUp(RS):
        def _ask(self):
            trial = super()._ask()
            assert self._row_hint is not None and self._row_hint[0] is trial
            self._row_hint = None  # ask() looks the configuration up
            return trial

    RS.repeats = repeats
    bench = toy_benchmark(tmp_path / "toy", n_configs=30)
    hinted, looked_up = (
        simulate(bench, cls, seed=3, n_workers=2, budget=Budget("evaluations", 25)).events
        for cls in (RS, LookedUp)
    )
    assert len(hinted) > 10
    assert hinted.equals(looked_up)
