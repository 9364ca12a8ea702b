"""The Benchmark protocol's contract as test functions, shared by every kind of benchmark.

tests/benchmarks/test_contract.py runs them over the catalog and the synthetic tables, and
tests/surrogates/test_benchmark.py over fitted surrogates: each test module imports them and supplies
its own ``bench`` fixture.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.protocol import Benchmark


def _configs(b: Benchmark, n: int = 5) -> list[dict]:
    held = b.configurations()
    if held is not None:
        idx = np.linspace(0, len(held) - 1, n).astype(int)
        return [held[i] for i in idx]
    sampled = b.space.sample_configuration(n)
    sampled = sampled if isinstance(sampled, list) else [sampled]
    return [dict(c) for c in sampled]


def _seeds(b: Benchmark) -> list[int]:
    return list(b.seeds) if b.seeds is not None else [0, 1, 7]


def _fidelities(b: Benchmark) -> list[float]:
    vals = list(b.fidelity.values)
    return sorted({vals[0], vals[len(vals) // 2], vals[-1]})


def test_metadata(bench):
    assert bench.name
    assert bench.objective in bench.metrics
    if bench.test_objective is not None:
        assert bench.metrics[bench.test_objective].split == "test"
    assert bench.metrics[bench.objective].split != "test"
    assert bench.fidelity.min <= bench.fidelity.max
    assert bench.default_seed == (bench.seeds[0] if bench.seeds is not None else 0)
    assert len(bench.space) > 0
    d = bench.describe()
    assert d["name"] == bench.name and set(d["metrics"]) == set(bench.metrics)


def test_default_fidelity_is_max_and_default_seed(bench):
    for c in _configs(bench, 3):
        r = bench.query(c)
        assert r.fidelity == bench.fidelity.max
        assert r.seed == bench.default_seed
        assert r.metrics == bench.query(c, fidelity=bench.fidelity.max, seed=bench.default_seed).metrics


def test_query_matches_curve_and_repeats(bench):
    for c in _configs(bench, 4):
        for s in _seeds(bench)[:2]:
            cv = bench.curve(c, seed=s)
            assert len(cv) == len(bench.fidelity.values)
            for i in sorted({0, len(cv) // 2, len(cv) - 1}):
                f = cv.fidelities[i].item()
                r1, r2 = bench.query(c, fidelity=f, seed=s), bench.query(c, fidelity=f, seed=s)
                assert r1 == r2  # repeated queries agree exactly
                for m in bench.metrics:
                    assert r1.metrics[m] == pytest.approx(float(cv.metrics[m][i]), rel=1e-6, nan_ok=True)
                assert r1.cost == pytest.approx(float(cv.cost[i]), rel=1e-6)


def test_values_within_bounds_and_cost_monotone(bench):
    for c in _configs(bench, 5):
        for s in _seeds(bench)[:2]:
            cv = bench.curve(c, seed=s)
            for m, metric in bench.metrics.items():
                v = np.asarray(cv.metrics[m], dtype=float)
                v = v[np.isfinite(v)]
                assert np.all(v >= metric.lower) and np.all(v <= metric.upper), m
            cost = np.asarray(cv.cost, dtype=float)
            assert np.all(cost >= 0) and np.all(np.diff(cost) >= -1e-6 * np.abs(cost[1:]))
            prev = 0.0
            for f in bench.fidelity.values:
                r = bench.query(c, fidelity=f, seed=s)
                # continuing on a fidelity that is not incremental (a training-set size) is the whole refit
                want = r.cost - prev if bench.fidelity.incremental else r.cost
                assert r.cost_increment == pytest.approx(want, rel=1e-5, abs=1e-6)
                assert r.cost_increment >= -1e-6
                prev = r.cost
                if len(bench.fidelity.values) > 20:
                    break


def test_query_batch_matches_query(bench):
    cfgs = _configs(bench, 6)
    seeds = _seeds(bench)
    fids = _fidelities(bench)
    rows = [(c, f, seeds[i % len(seeds)]) for i, c in enumerate(cfgs) for f in fids]
    batch = bench.query_batch([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    for i, (c, f, s) in enumerate(rows):
        r = bench.query(c, fidelity=f, seed=s)
        for m in bench.metrics:
            assert float(batch.metrics[m][i]) == pytest.approx(r.metrics[m], rel=1e-5, nan_ok=True)
        assert float(batch.cost[i]) == pytest.approx(r.cost, rel=1e-5)


def test_optimum_is_best(bench):
    best = bench.optimum()
    metric = bench.metrics[bench.objective]
    assert math.isfinite(best)
    for c in _configs(bench, 8):
        v = bench.query(c).metrics[bench.objective]
        if math.isfinite(v):
            assert metric.sign * best <= metric.sign * v + 1e-9
