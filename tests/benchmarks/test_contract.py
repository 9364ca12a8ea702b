"""Contract tests: every benchmark in the catalog, and synthetic tables that always exist, obey the protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
from protocol_contract import (  # noqa: F401 - the shared contract, collected here with this module's bench fixture
    _configs,
    _fidelities,
    _seeds,
    test_default_fidelity_is_max_and_default_seed,
    test_metadata,
    test_optimum_is_best,
    test_query_batch_matches_query,
    test_query_matches_curve_and_repeats,
    test_values_within_bounds_and_cost_monotone,
)

import benchmarks
from benchmarks import catalog
from benchmarks.protocol import Benchmark, ConfigError, FidelityError, MetricError, SeedError

SYNTHETIC = ["synthetic_bench", "grid_bench", "one_fidelity_bench"]
CATALOG = [n for n in catalog.names() if catalog.is_available(n)[0]]


@pytest.fixture(params=SYNTHETIC + CATALOG)
def bench(request) -> Benchmark:
    if request.param in SYNTHETIC:
        return request.getfixturevalue(request.param)
    return benchmarks.load(request.param)


def test_bad_inputs_name_the_value(bench):
    c = _configs(bench, 1)[0]
    with pytest.raises(ConfigError, match="unknown hyperparameter 'no_such_hp'"):
        bench.query({**c, "no_such_hp": 1})
    name = next(iter(c))
    with pytest.raises(ConfigError, match=f"missing hyperparameter '{name}'"):
        bench.query({k: v for k, v in c.items() if k != name})
    with pytest.raises(ConfigError, match=f"{name}=.*(outside the space|not a number)"):
        bench.query({**c, name: "definitely-not-allowed"})
    with pytest.raises(FidelityError, match=r"outside the range; allowed"):
        bench.query(c, fidelity=bench.fidelity.max + 1000)
    with pytest.raises(FidelityError, match=r"outside the range"):
        bench.query(c, fidelity=bench.fidelity.min - 1000)
    if bench.seeds is not None:
        with pytest.raises(SeedError, match=r"seed 12345 is not held.*allowed: one of"):
            bench.query(c, seed=12345)
    with pytest.raises(SeedError, match="not an integer"):
        bench.query(c, seed="zero")
    with pytest.raises(MetricError, match="unknown metric 'nope'"):
        bench.optimum("nope")


def test_unknown_benchmark_is_clear():
    with pytest.raises(
        benchmarks.UnknownBenchmarkError, match=r"unknown benchmark 'fcnet-nava'.*Did you mean"
    ):
        benchmarks.load("fcnet-nava")


def test_catalog_is_explicit_and_lists_every_kind():
    kinds = {catalog.entry(n).kind for n in catalog.names()}
    assert {"table", "published", "surrogate"} <= kinds
    for n in catalog.names():
        assert ":" in catalog.entry(n).target  # loaders named as data, resolved lazily


def test_evaluator_answers_what_query_answers(bench):
    """The simulator's hook: the metric's value and the cost are query's, and so are the reported metrics and the
    metric columns of every point (whatever evaluator the benchmark brings)."""
    told = [m for m in bench.metrics if m != bench.test_objective]
    ev = bench.evaluator(bench.objective, told)
    keys, results = [], []
    for c in _configs(bench, 3):
        for f in _fidelities(bench):
            for s in _seeds(bench)[:2]:
                key, value, cost = ev.evaluate(c, f, s)
                r = bench.query(c, f, s)
                expect = r.metrics[bench.objective]
                assert (value == expect or (math.isnan(value) and math.isnan(expect))) and cost == r.cost
                assert dict(ev.reported(key)).keys() == set(told)
                keys.append(key)
                results.append(r)
    cols = ev.metric_columns(keys)
    for m in bench.metrics:
        np.testing.assert_array_equal(cols[m], [r.metrics[m] for r in results])
    ids = list(ev.config_ids(keys))
    assert ids == [r.config_id for r in results]
    assert ev.n_rows == (getattr(bench, "n_configs", None) if ids[0] is not None else None)
    with pytest.raises(FidelityError, match="outside the range"):
        ev.evaluate(_configs(bench, 1)[0], bench.fidelity.max + 1000, _seeds(bench)[0])


def test_evaluate_next_is_evaluate_at_another_fidelity(bench):
    """A continuing trial's next report (the table's fast path moves along the key): the numbers of evaluate at
    every fidelity from every other, and the protocol's error for a fidelity the benchmark does not hold."""
    ev = bench.evaluator(bench.objective, [])
    fids = _fidelities(bench)
    for c in _configs(bench, 2):
        for s in _seeds(bench)[:2]:
            for f0 in fids:
                key, _, _ = ev.evaluate(c, f0, s)
                for f in fids:
                    got, want = ev.evaluate_next(key, c, f, s), ev.evaluate(c, f, s)
                    assert (got[1] == want[1] or (math.isnan(got[1]) and math.isnan(want[1]))) and got[
                        2
                    ] == want[2]
                    assert ev.config_ids([got[0]]) == ev.config_ids([want[0]])
    with pytest.raises(FidelityError, match="outside the range"):
        ev.evaluate_next(key, _configs(bench, 1)[0], bench.fidelity.max + 1000, _seeds(bench)[0])


def test_query_batch_checks_are_the_protocol_s(bench):
    """query_batch checks its arguments once, the same way on every benchmark, naming the bad value."""
    c = _configs(bench, 2)
    with pytest.raises(ConfigError, match="takes many configurations.*got one dict; use query"):
        bench.query_batch(c[0])
    with pytest.raises(
        FidelityError, match=r"fidelity values have shape \(3,\); expected a scalar or \(2,\)"
    ):
        bench.query_batch(c, fidelities=[bench.fidelity.max] * 3)
    with pytest.raises(FidelityError, match="must be numbers; got dtype bool"):
        bench.query_batch(c, fidelities=np.array([True, True]))
    with pytest.raises(FidelityError, match=r"fidelity \w+=.* is outside the range; allowed"):
        bench.query_batch(c, fidelities=[bench.fidelity.max, bench.fidelity.max + 1000])
    with pytest.raises(SeedError, match=r"seed values have shape \(1,\)"):
        bench.query_batch(c, seeds=[_seeds(bench)[0]])
    with pytest.raises(SeedError, match=r"seed 0\.0 is not an integer"):
        bench.query_batch(c, seeds=np.array([0.0, 0.0]))
    with pytest.raises(MetricError, match="unknown metric 'nope'"):
        bench.query_batch(c, metrics=["nope"])
    out = bench.query_batch(c, metrics=[bench.objective], with_cost=False)
    assert out.cost is None and list(out.metrics) == [bench.objective] and len(out) == 2


@pytest.mark.parametrize("fixture", SYNTHETIC)
def test_value_range_follows_the_one_convention(request, fixture):
    """best: the optimum side (never worse than the optimum); reference: the median at the maximum fidelity over
    every configuration and seed the table holds; worst: the worst finite value there."""
    b = request.getfixturevalue(fixture)
    sign = b.objective_metric.sign
    for name in (b.objective, b.test_objective):
        m = b.metric(name)
        r = b.value_range(name)
        vals, source = b.values_at(name)
        assert source == r.source == "table" and vals.shape == (b.n_configs, len(b.seeds))
        top = np.stack(
            [b.query_batch(np.arange(b.n_configs), seeds=s, metrics=[name])[name] for s in b.seeds], 1
        )
        np.testing.assert_array_equal(vals, np.where(np.isfinite(top), top, np.nan))
        loss = m.sign * vals[np.isfinite(vals)]
        assert r.reference == m.sign * float(np.median(loss)) and r.worst == m.sign * float(loss.max())
        assert m.sign * r.best == min(float(loss.min()), m.sign * b.optimum(name))
        assert m.sign * r.best <= m.sign * r.reference <= m.sign * r.worst
        assert "every configuration and seed of the table" in r.note
    assert sign * b.value_range().best <= sign * b.optimum()
    with pytest.raises(MetricError, match="unknown metric 'nope'"):
        b.value_range("nope")
