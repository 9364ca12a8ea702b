"""Fast surrogate inference changes no prediction.

Three paths replaced earlier ones: the metric blocks decoded together (``surrogates.stacked``) instead of
block by block, big batches of a numpy MLP surrogate in row chunks over worker threads, and a quicker
``encode_one`` and ``SurrogateBenchmark.query``. Each is compared here with the path it replaced, on every
shipped surrogate:

* curves: bit for bit against ``CurveSurrogate._predict_curves_blockwise`` (the earlier code, kept), for
  single rows and batches, seeded and seed-mean, every metric or a few, beyond the table's range too;
* the network: the numpy forward pass against the torch one it replaced (``predict_torch``), within
  float32 rounding (rtol 1e-5), for single rows and batches, and the curves made from either;
* the benchmark: ``query``, ``objective_and_cost``, ``query_batch`` and ``curve`` against
  ``tests/surrogates/reference/surrogate_query_reference.npz``, made by the code before these changes
  (commit 0836c65, after the fcnet-naval refit: ``python tests/surrogates/test_fastpath.py OUT.npz`` run
  on that commit's packages), and ``query``
  against the earlier computation (blockwise curves, vectorized interpolation) in the same process;
* determinism: the same query gives the same answer alone, in a batch, in a fresh benchmark, after
  others, with one worker thread or two.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.protocol import ConfigError
from benchmarks.space import check_config
from benchmarks.table import read_table
from surrogates import surrogate as surrogate_module
from surrogates.benchmark import SurrogateBenchmark, surrogates_dir
from surrogates.encoding import SpaceEncoder
from surrogates.surrogate import _BIG_BATCH, CurveSurrogate
from surrogates.synthetic import synthetic_table
from surrogates.targets import EXTRAPOLATION, Transform

REFERENCE = Path(__file__).parent / "reference" / "surrogate_query_reference.npz"
SHIPPED = (
    sorted(p.name for p in surrogates_dir().iterdir() if (p / "manifest.json").is_file())
    if surrogates_dir().is_dir()
    else []
)
MLP_SHIPPED = [n for n in SHIPPED if n.endswith("-ensemble")]
#: the numpy forward pass against torch's: float32 rounding of the same sums in another order
NET_RTOL, NET_ATOL = 1e-5, 4e-6
#: curves and query results of an MLP surrogate against numbers made on another machine or by torch: float32 sums
#: in another order (one element in 20,000 reached 2.06e-5 on an AVX-512 CPU)
CURVE_RTOL = 5e-5
#: an xgboost surrogate's answers against numbers made on another machine: the trees are the same, but numpy's
#: float64 exp and log (the targets' decoding) are not correctly rounded and differ in the last bits between CPUs
#: (SIMD paths); 1e-12 is about 5,000 ulps, far below any change of the model or the code
XGB_RTOL = 1e-12


def _configs(space, n, seed):
    sp = type(space).from_serialized_dict(space.to_serialized_dict())
    sp.seed(seed)
    return [dict(c) for c in sp.sample_configuration(n)]


def _assert_same(new, old, what):
    assert list(new) == list(old), what
    for k in old:
        assert new[k].dtype == old[k].dtype and new[k].shape == old[k].shape, f"{what} {k}"
        np.testing.assert_array_equal(new[k], old[k], err_msg=f"{what} {k}")


def _set_extrapolation(sur, frac):
    for b in sur.blocks_:
        if b.kind == "metric":
            b.set_extrapolation(frac)


# ---------------------------------------------------------------- curves: stacked vs block by block
@pytest.mark.parametrize("name", SHIPPED)
def test_stacked_curves_equal_the_blockwise_ones_bit_for_bit(name, loaded):
    sur = loaded(name)
    x = sur.encode(_configs(sur.space_, 120, 5))
    seeds = np.arange(120) % 5
    metrics = sur.metric_names
    cases = [
        (metrics, True),
        ([sur.objective_], False),
        ([sur.objective_], True),
        (metrics[::2], True),
        ([], True),
    ]
    try:
        for frac in (EXTRAPOLATION, 0.0, 1.0):  # 1.0: many scores beyond the end knots (the linear tails)
            _set_extrapolation(sur, frac)
            for names, cost in cases:
                for s in (seeds, None, 7):
                    what = (
                        f"{name} frac={frac} metrics={names} cost={cost} seeds={'array' if s is seeds else s}"
                    )
                    _assert_same(
                        sur._predict_curves(x, s, names, cost),
                        sur._predict_curves_blockwise(x, s, names, cost),
                        what,
                    )
            for i in (0, 1, 77):  # single rows (the query path: one-row hash, small-batch products)
                one = sur._predict_curves(x[i : i + 1], int(seeds[i]), metrics, True)
                _assert_same(
                    one, sur._predict_curves_blockwise(x[i : i + 1], int(seeds[i]), metrics, True), f"row {i}"
                )
    finally:
        _set_extrapolation(sur, EXTRAPOLATION)


@pytest.mark.parametrize("n_epochs", [1, 2, 5])
def test_stacked_curves_of_short_grids_equal_the_blockwise_ones(n_epochs, tmp_path):
    """Grids of one, two and five fidelities: the one reduction over the components sums in _combine's order."""
    table = read_table(synthetic_table(tmp_path / "t", n_configs=40, n_seeds=2, n_epochs=n_epochs, seed=3))
    sur = CurveSurrogate(model="xgboost", model_params={"n_estimators": 10}).fit(table)
    x = sur.encode(_configs(sur.space_, 30, 2))
    for names, cost in ((sur.metric_names, True), ([sur.objective_], False)):
        for s in (np.arange(30) % 3, None):
            _assert_same(
                sur._predict_curves(x, s, names, cost),
                sur._predict_curves_blockwise(x, s, names, cost),
                f"{n_epochs} epochs",
            )
        for i in range(0, 30, 7):
            _assert_same(
                sur._predict_curves(x[i : i + 1], i, names, cost),
                sur._predict_curves_blockwise(x[i : i + 1], i, names, cost),
                f"{n_epochs} epochs row {i}",
            )


@pytest.fixture(scope="module")
def syn():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        table = read_table(synthetic_table(Path(tmp) / "t", n_configs=60, n_seeds=3, n_epochs=12, seed=4))
    sur = CurveSurrogate(model="xgboost", model_params={"n_estimators": 15}).fit(table)
    return table, sur


def test_stacked_decoding_of_extreme_and_missing_targets_and_an_identity_metric(syn):
    """Targets far outside the training range (tails, clips), NaN targets, and a metric without a transform."""
    from surrogates.stacked import StackedMetrics

    _, sur = syn
    js = [j for j, b in enumerate(sur.blocks_) if b.kind == "metric"]
    blocks = [sur.blocks_[j] for j in js]
    rng = np.random.default_rng(0)
    n = 400
    widths = [b.n_targets for b in blocks]
    t = rng.standard_normal((n, sum(widths))) * 4.0
    t[5, 0] = np.nan
    t[9, widths[0] - 1] = np.nan  # a NaN noise amplitude
    idx = rng.integers(0, len(sur.bank_[0]), n)
    old_transform = blocks[1].transform
    try:
        for identity in (False, True):
            if identity:
                blocks[1].transform = Transform("identity")
            for frac in (EXTRAPOLATION, 0.0, 1.0):
                for b in blocks:
                    b.set_extrapolation(frac)
                dec = StackedMetrics(
                    blocks,
                    [sur.metrics_[b.name] for b in blocks],
                    [sur.noise_scale_ * sur.noise_calibration_[j] for j in js],
                    [sur._bank32(j) for j in js],
                )
                starts = np.cumsum([0] + widths)
                for shape_idx in (idx, None):
                    with np.errstate(invalid="ignore", over="ignore"):
                        got = dec.curves(t, shape_idx)
                        for k, j in enumerate(js):
                            _, want = sur._block_curves(j, t[:, starts[k] : starts[k + 1]], shape_idx)
                            np.testing.assert_array_equal(
                                got[k], want, err_msg=f"block {j} frac {frac} id {identity}"
                            )
                    for k in range(len(js)):  # the same rows alone give the same numbers
                        assert np.array_equal(
                            dec.curves(t[3:4], None if shape_idx is None else shape_idx[3:4])[k, 0],
                            got[k, 3],
                            equal_nan=True,
                        )
    finally:
        blocks[1].transform = old_transform
        for b in blocks:
            b.set_extrapolation(EXTRAPOLATION)


@pytest.mark.parametrize("name", MLP_SHIPPED[:2] + [n for n in SHIPPED if n.endswith("-xgboost")][:1])
def test_big_batches_equal_one_blockwise_call_with_one_thread_or_two(name, loaded, monkeypatch):
    """A batch of _BIG_BATCH rows or more gives the numbers of one blockwise call: row chunks over worker
    threads (numpy MLP: the whole way; xgboost: the model called once, the curves decoded in chunks)."""
    sur = loaded(name)
    n = _BIG_BATCH + 1003  # not a multiple of the chunk
    x = sur.encode(_configs(sur.space_, n, 8))
    seeds = np.arange(n) % 3
    want_obj = sur._predict_curves_blockwise(x, seeds, [sur.objective_], False)
    want_all = sur._predict_curves_blockwise(x, seeds, sur.metric_names, True)
    for threads in (1, 2):
        monkeypatch.setattr(surrogate_module, "PREDICT_THREADS", threads)
        _assert_same(
            sur.predict_curves(x, seeds=seeds, metrics=[sur.objective_], cost=False), want_obj, f"{threads}"
        )
        _assert_same(sur.predict_curves(x, seeds=seeds), want_all, f"{threads} threads, every metric")
        assert (
            sur.predict_curves(x, seeds=seeds, metrics=[], cost=False) == {}
        )  # nothing asked, as a small batch
    rows = [0, 1, 4095, n - 1]
    for i in rows:  # and each row alone
        one = sur.predict_curves(x[i : i + 1], seeds=int(seeds[i]))
        for k, v in one.items():
            np.testing.assert_array_equal(v[0], want_all[k][i])


@pytest.mark.parametrize("n_epochs", [12, 1])
def test_big_batches_of_an_xgboost_surrogate_equal_one_blockwise_call(n_epochs, syn, tmp_path, monkeypatch):
    """xgboost, a big batch: the boosters called by the workers on row slices (a last slice of a few rows
    walks the trees in numpy), the curves decoded in chunks; seed-mean curves and noisy ones; a grid of
    one fidelity (decoding chunks longer than a model slice)."""
    sur = syn[1]
    if n_epochs != 12:
        table = read_table(
            synthetic_table(tmp_path / "t", n_configs=40, n_seeds=2, n_epochs=n_epochs, seed=3)
        )
        sur = CurveSurrogate(model="xgboost", model_params={"n_estimators": 10}).fit(table)
    n = _BIG_BATCH + 2 * surrogate_module._MODEL_ROWS + 3
    x = sur.encode(_configs(sur.space_, n, 5))
    for seeds in (np.arange(n) % 5, None):
        for names, cost in (
            (sur.metric_names, True),
            ([sur.objective_], False),
            (sur.metric_names[1:3], True),
        ):
            want = sur._predict_curves_blockwise(x, seeds, names, cost)
            for threads in (1, 2):
                monkeypatch.setattr(surrogate_module, "PREDICT_THREADS", threads)
                _assert_same(sur.predict_curves(x, seeds, names, cost), want, f"{threads} threads, {names}")
    booster = sur.regressors_["xgboost"][0].get_booster()
    assert json.loads(booster.save_config())["learner"]["generic_param"]["nthread"] == "1"


# ---------------------------------------------------------------- the network: numpy vs torch
@pytest.mark.parametrize("name", MLP_SHIPPED)
def test_shipped_numpy_network_within_float32_rounding_of_torch(name, loaded):
    sur = loaded(name)
    reg = sur.regressors_["mlp"][0]
    x = sur.encode(_configs(sur.space_, 300, 12))
    np.testing.assert_allclose(reg.predict(x), reg.predict_torch(x), rtol=NET_RTOL, atol=NET_ATOL)
    for i in range(0, 300, 37):  # single rows, and a few rows, as a query sends them
        np.testing.assert_allclose(
            reg.predict(x[i : i + 1]), reg.predict_torch(x[i : i + 1]), rtol=NET_RTOL, atol=NET_ATOL
        )
        np.testing.assert_allclose(
            reg.predict(x[i : i + 3]), reg.predict_torch(x[i : i + 3]), rtol=NET_RTOL, atol=NET_ATOL
        )


@pytest.mark.parametrize("name", MLP_SHIPPED[:3])
def test_shipped_curves_within_float32_rounding_of_the_torch_network(name, loaded):
    """The curves of the torch network, decoded block by block as before, and the new path's."""
    import copy

    sur = loaded(name)
    twin = copy.copy(sur)
    reg = copy.copy(sur.regressors_["mlp"][0])
    reg.predict = reg.predict_torch
    twin.regressors_ = {"mlp": [reg]}
    x = sur.encode(_configs(sur.space_, 200, 13))
    seeds = np.arange(200) % 4
    new = sur.predict_curves(x, seeds=seeds)
    old = twin._predict_curves_blockwise(x, seeds, sur.metric_names, True)
    for k in old:
        np.testing.assert_allclose(new[k], old[k], rtol=CURVE_RTOL, atol=1e-7, err_msg=k)
    for i in (0, 50):
        one = sur.predict_curves(x[i : i + 1], seeds=int(seeds[i]))
        for k in old:
            np.testing.assert_allclose(one[k][0], old[k][i], rtol=CURVE_RTOL, atol=1e-7, err_msg=k)


# ---------------------------------------------------------------- the benchmark
def _reference_queries(bench):
    """The numbers the reference file holds for one surrogate benchmark (see the module docstring)."""
    grid = np.asarray(bench.fidelity.values, dtype=np.float64)
    g = grid.tolist()
    fids = [None, g[0], g[len(g) // 2], 0.5 * (g[min(1, len(g) - 1)] + g[min(2, len(g) - 1)]), g[-1]]
    cfgs = _configs(bench.space, 40, 2025)
    out = {}
    rows = []
    for i, c in enumerate(cfgs[:8]):
        for f in fids:
            r = bench.query(c, fidelity=f, seed=[0, 1, 2, 2**40][i % 4])
            rows.append([r.metrics[m] for m in bench.metrics] + [r.cost, r.cost_increment])
    out["query"] = np.array(rows)
    out["objective_and_cost"] = np.array(
        [bench.objective_and_cost(c, f, i % 3) for i, c in enumerate(cfgs[8:14]) for f in fids]
    )
    batch = bench.query_batch(cfgs[14:40], fidelities=fids[3], seeds=np.arange(26) % 5)
    out["query_batch"] = np.column_stack([batch.metrics[m] for m in bench.metrics] + [batch.cost])
    curve = bench.curve(cfgs[0], seed=3)
    out["curve"] = np.column_stack([curve.metrics[m] for m in bench.metrics] + [curve.cost])
    return out


@pytest.fixture(scope="module")
def query_reference():
    with np.load(REFERENCE) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_benchmark_answers_unchanged(name, query_reference):
    bench = SurrogateBenchmark.from_path(surrogates_dir() / name)
    got = _reference_queries(bench)
    for k, v in got.items():
        ref = query_reference[f"{name}/{k}"]
        if name in MLP_SHIPPED:  # the network's float32 sums may round otherwise on another machine's BLAS
            np.testing.assert_allclose(v, ref, rtol=CURVE_RTOL, atol=1e-12, err_msg=f"{name} {k}")
        else:
            np.testing.assert_allclose(v, ref, rtol=XGB_RTOL, atol=0, err_msg=f"{name} {k}")


@pytest.mark.parametrize("name", SHIPPED)
def test_query_equals_the_earlier_computation_and_is_deterministic(name):
    """query: its numbers are those of blockwise curves with the vectorized interpolation; the same in a
    fresh benchmark, after other queries, in a batch, and for objective_and_cost."""
    bench = SurrogateBenchmark.from_path(surrogates_dir() / name)
    sur = bench.surrogate
    g = bench.fidelity.values
    fids = [None, float(g[0]), float(g[-1]), float(g[len(g) // 3])]
    if len(g) > 1:
        fids.append(0.3 * g[0] + 0.7 * g[1])
    cfgs = _configs(bench.space, 12, 31)
    for i, c in enumerate(cfgs):
        seed = i % 4
        f = fids[i % len(fids)]
        r = bench.query(c, fidelity=f, seed=seed)
        # the earlier query: every block's curve, then _fid_positions and _interp on arrays
        pred = sur._predict_curves_blockwise(sur.encode([c]), seed, sur.metric_names, True)
        ff = bench.fidelity.max if f is None else f
        lo, hi, w = bench._fid_positions(ff, 1)
        for m in bench.metrics:
            assert r.metrics[m] == float(bench._interp(m, pred[m], lo, hi, w)[0]), (name, m, f)
        cost = float(bench._interp("cost", pred["cost"], lo, hi, w)[0])
        below = np.flatnonzero(np.asarray(g) < ff)
        prev = float(pred["cost"][0, below[-1]]) if below.size else 0.0
        assert (r.cost, r.cost_increment) == (cost, cost - prev)
        assert bench.objective_and_cost(c, f, seed) == (r.metrics[bench.objective], r.cost)
        fresh = SurrogateBenchmark.from_path(surrogates_dir() / name)
        assert fresh.query(c, fidelity=f, seed=seed) == r
        assert bench.query(c, fidelity=f, seed=seed) == r  # from the cache
    batch = bench.query_batch(cfgs, fidelities=float(g[-1]), seeds=np.arange(12) % 4)
    again = SurrogateBenchmark.from_path(surrogates_dir() / name)
    for i, c in enumerate(cfgs):
        r = again.query(c, fidelity=float(g[-1]), seed=i % 4)
        assert all(r.metrics[m] == batch.metrics[m][i] for m in bench.metrics) and r.cost == batch.cost[i]


# ---------------------------------------------------------------- encode_one's quick check
def test_encode_one_accepts_and_refuses_exactly_what_check_config_does(syn):
    table, sur = syn
    enc = SpaceEncoder(table.space)
    cfgs = [dict(c) for c in table.space.sample_configuration(50)]
    np.testing.assert_array_equal(np.concatenate([enc.encode_one(c) for c in cfgs]), enc.encode(cfgs))
    c = cfgs[0]
    num = next(n for n in enc.names if enc._cols[enc.names.index(n)][0] == "num")
    hp = table.space[num]
    variants = [
        {**c, num: np.float64(c[num])},
        {**c, num: float(hp.lower)},
        {**c, num: float(hp.upper)},
        {**c, "extra": 1},
        {k: v for k, v in c.items() if k != num},
        {**c, num: None},
        {**c, num: True},
        {**c, num: float("nan")},
        {**c, num: float(hp.upper) * 2 + 1},
        {**c, num: "1"},
        {**c, num: float("inf")},
    ]
    for v in variants:
        try:
            check_config(table.space, v)
        except ConfigError as e:
            with pytest.raises(ConfigError) as got:
                enc.encode_one(v)
            assert str(got.value) == str(e)
        else:
            np.testing.assert_array_equal(enc.encode_one(v), enc.encode([v]))


if __name__ == "__main__":  # write the reference file (run on the code whose answers it should hold)
    out = {}
    for name in SHIPPED:
        for k, v in _reference_queries(SurrogateBenchmark.from_path(surrogates_dir() / name)).items():
            out[f"{name}/{k}"] = v
    np.savez_compressed(sys.argv[1], **out)
