"""Predictions beyond the table's range (the documented extrapolation rule), the numpy forward pass of the
MLPs, and the shipped surrogates' predictions against the ones saved before both changes.

``tests/surrogates/reference/surrogate_reference.npz`` holds, for every shipped surrogate, 8 configurations
sampled from its space (seed 2024), their seeds, and the predicted curves (seeded and seed-mean), made by
the code before the extrapolation rule and the numpy forward pass (commit f47f231). Regenerate only when
predictions change on purpose: the entries of ``fcnet-naval-ensemble`` were regenerated (the same
configurations and seeds, the old rule, extrapolation 0) when that surrogate was refitted on the table's
dataset revision 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.table import read_table
from surrogates.benchmark import SurrogateBenchmark, surrogates_dir
from surrogates.models import NP_CHUNK, mlp_forward
from surrogates.quality import beyond_range_markdown, predicted_optimum, top_holdout_check
from surrogates.store import load_surrogate
from surrogates.surrogate import CurveSurrogate
from surrogates.synthetic import synthetic_table
from surrogates.targets import EXTRAPOLATION, _combine, from_normal_scores

REFERENCE = Path(__file__).parent / "reference" / "surrogate_reference.npz"
SHIPPED = (
    sorted(p.name for p in surrogates_dir().iterdir() if (p / "manifest.json").is_file())
    if surrogates_dir().is_dir()
    else []
)
#: numpy and torch round the MLP's float32 sums differently: about 1e-6 on the standardized targets
MLP_RTOL = 2e-5
#: xgboost surrogates against numbers made on another CPU: numpy's float64 exp and log differ in the last bits
XGB_RTOL = 1e-12


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as z:
        return {k: z[k] for k in z.files}


def _set(sur, frac):
    for b in sur.blocks_:
        if b.kind == "metric":
            b.set_extrapolation(frac)


def _has_mlp(sur):
    return "mlp" in sur.regressors_


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_predictions_unchanged_without_extrapolation(name, reference, loaded):
    """Extrapolation 0 is the old rule: xgboost surrogates within float64 rounding (1e-12; bit for bit on the CPU that
    made the reference), MLP ones within float32 rounding."""
    sur = loaded(name)
    x, seeds = reference[f"{name}/x"], reference[f"{name}/seeds"]
    _set(sur, 0.0)
    try:
        for mode, s in (("seeded", seeds), ("mean", None)):
            pred = sur.predict_curves(x, seeds=s)
            for k, v in pred.items():
                ref = reference[f"{name}/{mode}/{k}"]
                if _has_mlp(sur):
                    np.testing.assert_allclose(
                        v, ref, rtol=MLP_RTOL, atol=1e-12, err_msg=f"{name} {mode} {k}"
                    )
                else:  # the same trees; float64 decoding differs in the last bits between CPUs
                    np.testing.assert_allclose(v, ref, rtol=XGB_RTOL, atol=0, err_msg=f"{name} {mode} {k}")
            obj = sur.objective_
            # rankings unchanged: the order of the configurations by the final objective
            np.testing.assert_array_equal(
                np.argsort(pred[obj][:, -1], kind="stable"),
                np.argsort(reference[f"{name}/{mode}/{obj}"][:, -1], kind="stable"),
            )
    finally:
        _set(sur, EXTRAPOLATION)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_predictions_change_only_where_the_old_rule_clipped(name, reference, loaded):
    """With the default rule a seed-mean value differs from the old one only where the old rule pinned its
    mean curve at the range of the training curves, and then stays within the documented margin."""
    sur = loaded(name)
    x = reference[f"{name}/x"]
    pred = sur.predict_curves(x, seeds=None)
    targets = sur._predict_targets(range(len(sur.blocks_)), x)
    for j, b in enumerate(sur.blocks_):
        if b.kind != "metric":
            continue
        k = b.comps.shape[0]
        raw = _combine(targets[j][:, :k], b.comps, b.mu)
        clipped = (raw < b.lo.astype(np.float32)) | (raw > b.hi.astype(np.float32))
        ref = reference[f"{name}/mean/{b.name}"]
        v = pred[b.name]
        rtol = MLP_RTOL if _has_mlp(sur) else 0
        np.testing.assert_allclose(v[~clipped], ref[~clipped], rtol=rtol, atol=1e-12)
        _check_within_rule(sur, j, v, seeded=False)


def _limits_g(b, seeded):
    """The rule's limits on the model's scale: the old range's ends, and the margin beyond them."""
    lo, hi = (b.seed_lo, b.seed_hi) if seeded else (b.lo, b.hi)
    ends = from_normal_scores(np.vstack([lo, hi]).astype(np.float32), b.knots).astype(np.float64)
    m = b.extrapolation.margin_g
    return ends[0] - m, ends[1] + m


def _check_within_rule(sur, j, v, seeded):
    b = sur.blocks_[j]
    mt = sur.metrics_[b.name]
    assert np.all(v >= mt.lower) and np.all(v <= mt.upper), f"{b.name} leaves its bounds"
    g = b.transform.forward(v.astype(np.float64))
    lo, hi = _limits_g(b, seeded)
    # the transform's inverse clamps at the metric's bound, so only values off the bound are compared
    off_bound = np.isfinite(g)
    tol = 1e-3 * (1 + np.abs(g))
    assert np.all((g >= lo - tol) | ~off_bound) and np.all((g <= hi + tol) | ~off_bound), b.name


# ---------------------------------------------------------------- synthetic surrogates
@pytest.fixture(scope="module")
def syn():
    table = read_table(
        synthetic_table(Path(__import__("tempfile").mkdtemp()) / "t", n_configs=80, n_seeds=3, n_epochs=8)
    )
    mlp = CurveSurrogate(model="mlp", model_params={"max_steps": 150, "n_members": 2, "hidden": 24}).fit(
        table
    )
    xgb = CurveSurrogate(model="xgboost", model_params={"n_estimators": 25}).fit(table)
    return table, mlp, xgb


@pytest.mark.parametrize("frac", [0.0, 0.1, EXTRAPOLATION, 1.0])
def test_extreme_targets_stop_at_the_margin_and_the_bounds(syn, frac):
    """Scores far beyond anything seen give curves exactly at the rule's limits, never past the metric's bounds."""
    table, sur, _ = syn
    try:
        _set(sur, frac)
        for j, b in enumerate(sur.blocks_):
            if b.kind != "metric":
                continue
            k = b.comps.shape[0]
            t = np.zeros((4, k + 1))
            t[0, :k], t[1, :k] = 1e3 * b.comps.sum(axis=1), -1e3 * b.comps.sum(axis=1)  # far on both sides
            t[2, :k], t[3, :k] = 50.0, -50.0
            for seeded in (False, True):
                mean, log_amp = b.decode(t)
                shape = None
                amp = np.full(4, 50.0, dtype=np.float32)
                if seeded:
                    shape = np.ones((4, mean.shape[1]), dtype=np.float32)
                    shape[1::2] = -1
                v = b.curves(mean, amp, shape, sur.metrics_[b.name])
                _check_within_rule(sur, j, v, seeded)
            if frac == 0:  # the old rule: inside what the table reached at each fidelity
                real = table.metric_values(b.name)
                mean, _ = b.decode(t)
                v = b.curves(mean, None, None, sur.metrics_[b.name])
                assert np.all(v >= np.nanmin(real, axis=(0, 1)) * (1 - 1e-4) - 1e-9)
                assert np.all(v <= np.nanmax(real, axis=(0, 1)) * (1 + 1e-4) + 1e-9)
    finally:
        _set(sur, EXTRAPOLATION)


def test_margin_is_monotone_and_reaches_beyond_the_table(syn):
    """A wider margin never narrows the limits; with a positive one the limits lie beyond the table's values."""
    table, sur, _ = syn
    b = next(b for b in sur.blocks_ if b.name == table.manifest["objective"])
    prev = None
    for frac in (0.0, 0.1, 0.25, 0.5, 1.0):
        b.set_extrapolation(frac)
        ex = b.extrapolation
        cur = (ex.mean_lo, ex.mean_hi, ex.seed_lo, ex.seed_hi)
        if prev is not None:
            assert np.all(cur[0] <= prev[0]) and np.all(cur[1] >= prev[1])
            assert np.all(cur[2] <= prev[2]) and np.all(cur[3] >= prev[3])
        prev = cur
    assert np.all(b.extrapolation.seed_lo < b.seed_lo) and np.all(b.extrapolation.seed_hi > b.seed_hi)
    b.set_extrapolation(EXTRAPOLATION)
    with pytest.raises(ValueError, match="extrapolation"):
        b.set_extrapolation(-0.1)


def test_single_and_batch_agree_exactly_with_extrapolation(syn):
    """The same (config, seed) gives the same curve alone or in any batch, beyond the range too."""
    table, mlp, xgb = syn
    cfgs = [dict(c) for c in table.space.sample_configuration(70)]
    for sur in (mlp, xgb):
        _set(sur, 1.0)
        try:
            x = sur.encode(cfgs)
            seeds = np.arange(70) % 5
            batch = sur.predict_curves(x, seeds=seeds)
            for i in range(0, 70, 9):
                one = sur.predict_curves(x[i : i + 1], seeds=int(seeds[i]))
                for k in batch:
                    np.testing.assert_array_equal(one[k][0], batch[k][i])
        finally:
            _set(sur, EXTRAPOLATION)


# ---------------------------------------------------------------- the numpy forward pass
def test_numpy_forward_matches_torch_and_is_batch_invariant(syn):
    _, sur, _ = syn
    reg = sur.regressors_["mlp"][0]
    rng = np.random.default_rng(0)
    X = rng.random((NP_CHUNK + 37, reg.n_features_in_)).astype(np.float32)
    full = reg.predict(X)
    np.testing.assert_allclose(full, reg.predict_torch(X), rtol=0, atol=2e-6 * max(1.0, np.abs(full).max()))
    for m in (1, 2, 3, 4, 5, 7, 9, 63, 64, 65, 300):
        parts = np.vstack([reg.predict(X[i : i + m]) for i in range(0, 300, m)])[:300]
        np.testing.assert_array_equal(parts, full[:300], err_msg=f"batches of {m} rows")


@pytest.mark.parametrize("name", [n for n in SHIPPED if n.endswith("-ensemble")][:2])
def test_shipped_mlp_numpy_forward_within_1e6_of_torch(name, loaded):
    sur = loaded(name)
    reg = sur.regressors_["mlp"][0]
    sp = type(sur.space_).from_serialized_dict(sur.space_.to_serialized_dict())
    sp.seed(1)
    x = sur.encode([dict(c) for c in sp.sample_configuration(500)])
    a, b = reg.predict(x), reg.predict_torch(x)
    assert np.abs(a - b).max() <= 1e-6 * max(1.0, np.abs(b).max())
    one = np.vstack([reg.predict(x[i : i + 1]) for i in range(0, 500, 25)])
    np.testing.assert_array_equal(one, a[::25])
    layers = mlp_forward(reg.numpy_weights(), x[:3].astype(np.float32))
    np.testing.assert_array_equal(layers, a[:3].astype(np.float32))


@pytest.mark.parametrize("name", [n for n in SHIPPED if n.endswith("-ensemble")][:1])
def test_shipped_query_matches_query_batch(name):
    bench = SurrogateBenchmark.from_path(surrogates_dir() / name)
    sp = type(bench.space).from_serialized_dict(bench.space.to_serialized_dict())
    sp.seed(3)
    cfgs = [dict(c) for c in sp.sample_configuration(40)]
    batch = bench.query_batch(cfgs, seeds=np.arange(40) % 3)
    for i in range(0, 40, 3):
        r = bench.query(cfgs[i], seed=i % 3)
        for m, v in r.metrics.items():
            assert v == batch.metrics[m][i]


# ---------------------------------------------------------------- the card
def test_top_holdout_check_and_optimum(syn):
    table, _, xgb = syn
    r = top_holdout_check(table, model="xgboost", model_params={"n_estimators": 20}, fractions=(0.0, 0.5))
    assert r["n_held_out"] == 8 and r["n_train"] == 72
    sign = 1 if r["direction"] == "minimize" else -1
    assert sign * r["table_best"] < sign * r["training_best"] and r["true_excess_iqr"] > 0
    rows = {row["extrapolation"]: row for row in r["by_extrapolation"]}
    assert set(rows) == {0.0, 0.5, EXTRAPOLATION} and rows[EXTRAPOLATION]["shipped"]
    for row in rows.values():
        for k in ("share_beyond_training_best", "share_beyond_table_best", "share_at_limit"):
            assert 0.0 <= row[k] <= 1.0
    # the old rule pins the seed-mean at the training range: nothing beyond the table's best
    assert rows[0.0]["share_beyond_table_best"] == 0.0
    opt = predicted_optimum(xgb, table)
    assert opt["metric"] == table.manifest["objective"] and np.isfinite(opt["predicted"])
    text = "\n".join(beyond_range_markdown({"optimum": opt, "top_holdout": r}))
    assert "Predicted optimum" in text and "Top hold-out" in text and "(shipped)" in text


def test_a_saved_card_gains_the_beyond_range_section_without_a_refit(tmp_path):
    """surrogates.build --beyond-range: the card gets the predicted optimum and the top hold-out check;
    the saved model files are untouched (the folder still loads with every checksum)."""
    import json

    from benchmarks.table import read_table
    from surrogates.quality import add_beyond_range, quality_card, write_card
    from surrogates.store import save_surrogate
    from surrogates.surrogate import CurveSurrogate
    from surrogates.synthetic import synthetic_table

    table = read_table(synthetic_table(tmp_path / "t", n_configs=60, n_seeds=2, n_epochs=5))
    params = {"n_estimators": 20}
    path = save_surrogate(CurveSurrogate(model="xgboost", model_params=params).fit(table), tmp_path / "s")
    write_card(
        quality_card(table, model="xgboost", model_params=params, n_folds=None, top_holdout=False),
        path,
        "card",
    )
    before = {p.name: p.read_bytes() for p in path.iterdir() if not p.name.startswith("card")}
    assert "Top hold-out: not measured" in (path / "card.md").read_text()
    card = add_beyond_range(path, table)
    assert card["optimum"]["metric"] == table.manifest["objective"] and card["top_holdout"]["n_held_out"] == 6
    assert json.loads((path / "card.json").read_text())["top_holdout"]["by_extrapolation"]
    assert "Top hold-out: the best 6 configurations" in (path / "card.md").read_text()
    assert before == {p.name: p.read_bytes() for p in path.iterdir() if not p.name.startswith("card")}
    load_surrogate(path)
