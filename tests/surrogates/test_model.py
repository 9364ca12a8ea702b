"""CurveSurrogate: every model fits and predicts sane curves; seed noise; estimator conventions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from benchmarks.table import read_table
from surrogates.encoding import SpaceEncoder, config_seed_hash
from surrogates.surrogate import CurveSurrogate
from surrogates.synthetic import synthetic_table
from surrogates.targets import Transform, fit_pca

FAST = {
    "xgboost": {"n_estimators": 25},
    "rf": {"n_estimators": 15},
    "knn": {},
    "mlp": {"max_steps": 150, "n_members": 2, "hidden": 32},
    "gp": {"n_restarts": 0},
    "ensemble": {
        "members": ["xgboost", "gp", "mlp"],
        "xgboost": {"n_estimators": 25},
        "gp": {"n_restarts": 0},
        "mlp": {"max_steps": 150, "n_members": 2, "hidden": 32},
    },
}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return read_table(
        synthetic_table(tmp_path_factory.mktemp("s") / "t", n_configs=80, n_seeds=3, n_epochs=8)
    )


@pytest.fixture(scope="module")
def fitted(table):
    return {m: CurveSurrogate(model=m, model_params=p).fit(table) for m, p in FAST.items()}


@pytest.mark.parametrize("model", list(FAST))
def test_predicts_every_metric_within_bounds_and_monotone_cost(fitted, table, model):
    sur = fitted[model]
    cfgs = [dict(c) for c in table.space.sample_configuration(50)]
    out = sur.predict_frame(cfgs, seeds=3)
    assert set(out) == {*table.metric_names, "cost"}
    for m in table.metrics:
        v = out[m.name]
        assert v.shape == (50, 8) and np.isfinite(v).all()
        assert (v >= m.lower).all() and (v <= m.upper).all()
    assert (out["cost"] > 0).all() and (np.diff(out["cost"], axis=1) >= 0).all()
    # the curves fall with epochs on average, as in the table
    assert np.mean(out["valid_loss"][:, -1] < out["valid_loss"][:, 0]) > 0.9


@pytest.mark.parametrize("model", list(FAST))
def test_learns_the_table(fitted, table, model):
    """On its own training configurations the mean prediction ranks configs like the table does."""
    from scipy.stats import spearmanr

    sur = fitted[model]
    pred = sur.predict_frame(table.configs.drop(columns="config_id"))["valid_loss"][:, -1]
    real = table.metric_values("valid_loss")[:, :, -1].mean(axis=1)
    assert spearmanr(pred, real)[0] > 0.8


def test_estimator_conventions(table):
    sur = CurveSurrogate(model="knn", max_components=3, random_state=4)
    assert sur.get_params()["max_components"] == 3
    assert not any(k.endswith("_") for k in vars(sur))  # __init__ only stores parameters
    assert sur.fit(table) is sur
    assert hasattr(sur, "regressors_") and hasattr(sur, "blocks_")
    twin = clone(sur)
    assert twin.get_params() == sur.get_params() and not hasattr(twin, "regressors_")


def test_same_seed_same_result_different_random_state_differs(table):
    a = CurveSurrogate(model="xgboost", model_params=FAST["xgboost"], random_state=1).fit(table)
    b = CurveSurrogate(model="xgboost", model_params=FAST["xgboost"], random_state=1).fit(table)
    cfgs = [dict(c) for c in table.space.sample_configuration(20)]
    pa, pb = a.predict_frame(cfgs, seeds=5), b.predict_frame(cfgs, seeds=5)
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])


@pytest.mark.parametrize("model", list(FAST))
def test_seed_gives_one_consistent_curve_and_seeds_differ(fitted, table, model):
    sur = fitted[model]
    cfgs = [dict(c) for c in table.space.sample_configuration(100)]
    x = sur.encode(cfgs)
    a1 = sur.predict_curves(x, seeds=1)
    # order and batch do not matter, to the last bit: reversed, a batch of 7, one alone
    for other, rows in (
        (sur.predict_curves(x[::-1], seeds=1), slice(None, None, -1)),
        (sur.predict_curves(x[40:47], seeds=1), slice(40, 47)),
        (sur.predict_curves(x[75:76], seeds=1), slice(75, 76)),
    ):
        for k in a1:
            np.testing.assert_array_equal(a1[k][rows], other[k], err_msg=f"{model}: {k}")
    # a big batch (one BLAS thread, the blocks decoded in parallel threads) gives the same bits too
    from surrogates.surrogate import _BIG_BATCH

    reps = -(-_BIG_BATCH // len(x)) + 1
    big = sur.predict_curves(np.tile(x, (reps, 1)), seeds=1)
    assert list(big) == list(a1)
    for k in a1:
        np.testing.assert_array_equal(
            big[k].reshape(reps, len(x), -1),
            np.broadcast_to(a1[k], (reps, *a1[k].shape)),
            err_msg=f"{model}: {k} in a batch of {reps * len(x)}",
        )
    a1 = a1["valid_loss"]
    b = sur.predict_curves(x, seeds=2)["valid_loss"]
    assert np.mean(np.any(a1 != b, axis=1)) > 0.9
    mean = sur.predict_curves(x)["valid_loss"]
    assert not np.array_equal(mean, a1)


def test_seed_spread_matches_the_table(tmp_path):
    """Two surrogate seeds differ about as much as two real seeds, on held-out configurations."""
    t = read_table(synthetic_table(tmp_path / "t", n_configs=240, n_seeds=4, n_epochs=10, seed=3))
    train, test = np.arange(0, 200), np.arange(200, len(t.configs))
    sur = CurveSurrogate(model="xgboost", model_params={"n_estimators": 60}).fit(t, train)
    x = sur.encode(t.configs.iloc[test], validated=True)
    g = np.log  # the losses are modelled on the log scale
    real = t.metric_values("valid_loss")[test]
    fake = np.stack([sur.predict_curves(x, seeds=s)["valid_loss"] for s in range(4)], axis=1)
    pairs = [(0, 1), (0, 2), (1, 3), (2, 3)]
    rms = lambda a: np.sqrt(np.mean([np.mean((g(a[:, i]) - g(a[:, j])) ** 2) for i, j in pairs]))  # noqa: E731
    ratio = rms(fake) / rms(real)
    assert 0.7 < ratio < 1.4, ratio
    # and configurations the table shows as noisier (high dropout) are noisier in the surrogate too
    hi = t.configs["dropout"].to_numpy()[test] == 0.5
    lo = t.configs["dropout"].to_numpy()[test] == 0.0
    assert rms(fake[hi]) > 1.3 * rms(fake[lo])


def test_noise_off_gives_the_mean(table):
    sur = CurveSurrogate(model="knn", noise=False).fit(table)
    x = sur.encode([dict(table.space.sample_configuration())])
    np.testing.assert_array_equal(
        sur.predict_curves(x, seeds=1)["valid_loss"], sur.predict_curves(x)["valid_loss"]
    )


def test_config_between_grid_points_and_validation(fitted, table):
    from benchmarks.protocol import ConfigError

    sur = fitted["rf"]
    c = dict(table.configs.iloc[0].drop("config_id"))
    c["learning_rate"] = float(
        np.sqrt(table.configs["learning_rate"].iloc[0] * table.configs["learning_rate"].iloc[1])
    )
    assert np.isfinite(sur.predict_frame([c])["valid_loss"]).all()
    with pytest.raises(ConfigError, match="learning_rate=5.0 is outside the space"):
        sur.predict_frame([{**c, "learning_rate": 5.0}])
    with pytest.raises(ConfigError, match="unknown hyperparameter 'lr'"):
        sur.predict_frame([{**c, "lr": 0.1}])


def test_bad_parameters_are_named(table):
    with pytest.raises(ValueError, match="unknown surrogate model 'gbm'; allowed: xgboost, rf, knn, mlp"):
        CurveSurrogate(model="gbm").fit(table)
    with pytest.raises(ValueError, match="max_components=0"):
        CurveSurrogate(max_components=0).fit(table)


def test_nan_runs_are_filled_not_propagated(tmp_path):
    from benchmarks.protocol import Fidelity, Metric
    from benchmarks.table import TableSpec, write_table
    from surrogates.synthetic import synthetic_space

    space = synthetic_space()
    src = read_table(synthetic_table(tmp_path / "src", n_configs=40, n_seeds=2, n_epochs=5))
    vals = src.metric_values("valid_loss").copy()
    vals[3, 0, 2:] = np.nan  # one run diverged
    vals[5] = np.nan  # one config never produced a value
    path = write_table(
        tmp_path / "nan",
        TableSpec(
            name="nan",
            space=space,
            fidelity=Fidelity("epoch", src.fidelity.values),
            metrics=[Metric("valid_loss", "minimize", 0.0, np.inf, "valid")],
            objective="valid_loss",
            test_objective=None,
            seeds=[0, 1],
        ),
        configs=src.configs.drop(columns="config_id"),
        values={"valid_loss": vals},
        cost=src.cost,
    )
    sur = CurveSurrogate(model="knn").fit(read_table(path))
    assert np.isfinite(sur.predict_frame(src.configs.drop(columns="config_id"), seeds=0)["valid_loss"]).all()


def test_transforms_round_trip_and_pca():
    from benchmarks.protocol import Metric

    y = np.array([0.0, 1e-4, 0.5, 3.0])
    for m in (Metric("loss", "minimize", 0.0), Metric("acc", "maximize", 0.0, 1.0)):
        t = Transform.for_metric(m, np.clip(y, 0, 1))
        assert t.kind in ("log_lower", "log_upper")
        np.testing.assert_allclose(t.inverse(t.forward(np.clip(y, 0, 1))), np.clip(y, 0, 1), atol=1e-12)
    assert Transform.for_metric(Metric("r", "maximize"), y).kind == "identity"
    m = np.outer(np.arange(10.0), np.linspace(0, 1, 6)) + 3
    mu, comps = fit_pca(m, 4)
    assert comps.shape == (1, 6)  # a rank-one family of curves needs one direction
    np.testing.assert_allclose(mu + ((m - mu) @ comps.T) @ comps, m, atol=1e-9)


def test_config_hash_is_stable_and_distinct(table):
    enc = SpaceEncoder(table.space)
    x = enc.encode(table.configs.drop(columns="config_id"))
    h0, h1 = config_seed_hash(x, np.zeros(len(x))), config_seed_hash(x, np.ones(len(x)))
    assert len(set(h0.tolist())) == len(x) and not np.any(h0 == h1)
    np.testing.assert_array_equal(h0, config_seed_hash(x.copy(), np.zeros(len(x), dtype=np.int64)))


def test_config_hash_of_one_row_equals_the_vectorized_hash():
    rng = np.random.default_rng(0)
    x = rng.random((500, 7))
    x[::3, 2] = -1.0  # inactive
    x[::5, 0] = np.arange(0, 100, 1)[:, None].ravel()[: len(x[::5])] * 0.5e-9  # ties at half a quantum
    seeds = rng.integers(0, 2**31, len(x))
    for salt in (0, 3):
        batch = config_seed_hash(x, seeds, salt)
        ones = [config_seed_hash(x[i : i + 1], seeds[i], salt)[0] for i in range(len(x))]
        np.testing.assert_array_equal(batch, np.array(ones, dtype=np.uint64))


def test_discrete_metric_on_its_bound_gets_a_half_step_offset():
    from benchmarks.protocol import Metric

    acc = np.array([0.5, 0.75, 0.98, 1.0, 1.0])
    t = Transform.for_metric(Metric("acc", "maximize", 0.0, 1.0), acc)
    assert t.eps == pytest.approx(0.01)  # half the smallest positive distance to the bound (0.02)
    g = t.forward(acc)
    assert g[3] - g[2] < 2.0 and np.all(np.diff(g) >= 0)


def test_single_config_fast_path_encodes_bit_identically(table):
    enc = SpaceEncoder(table.space)
    cfgs = [dict(c) for c in table.space.sample_configuration(300)]
    many = enc.encode(cfgs)
    one = np.concatenate([enc.encode_one(c) for c in cfgs])
    np.testing.assert_array_equal(one, many)


def test_seeded_curves_stay_within_what_the_table_reached(fitted, table):
    sur = fitted["xgboost"]
    cfgs = [dict(c) for c in table.space.sample_configuration(200)]
    x = sur.encode(cfgs)
    real = table.metric_values("valid_loss")
    lo, hi = np.nanmin(real, axis=(0, 1)), np.nanmax(real, axis=(0, 1))
    for s in range(5):
        v = sur.predict_curves(x, seeds=s, metrics=["valid_loss"], cost=False)["valid_loss"]
        assert np.all(v >= lo * (1 - 1e-5)) and np.all(v <= hi * (1 + 1e-5))


def test_blow_ups_stay_where_they_happened(tmp_path):
    """A run that blows up (loss 1e30) and then goes NaN must not carry its blow-up to later fidelities."""
    from benchmarks.protocol import Fidelity, Metric
    from benchmarks.table import TableSpec, write_table
    from surrogates.synthetic import synthetic_space

    src = read_table(synthetic_table(tmp_path / "src", n_configs=60, n_seeds=2, n_epochs=6))
    vals = src.metric_values("valid_loss").copy()
    vals[:8, :, 2] = 1e30  # eight configurations blow up at the third epoch ...
    vals[:8, :, 3:] = np.nan  # ... and produce NaN from then on
    path = write_table(
        tmp_path / "blow",
        TableSpec(
            name="blow",
            space=synthetic_space(),
            fidelity=Fidelity("epoch", src.fidelity.values),
            metrics=[Metric("valid_loss", "minimize", 0.0, np.inf, "valid")],
            objective="valid_loss",
            test_objective=None,
            seeds=[0, 1],
        ),
        configs=src.configs.drop(columns="config_id"),
        values={"valid_loss": vals},
        cost=src.cost,
    )
    t = read_table(path)
    sur = CurveSurrogate(model="xgboost", model_params={"n_estimators": 25}).fit(t)
    cfgs = [dict(c) for c in t.space.sample_configuration(300)]
    finite_hi = np.nanmax(np.where(vals < 1e29, vals, np.nan), axis=(0, 1))
    for seeds in (None, 0, 1, 7):
        v = sur.predict_frame(cfgs, seeds=seeds, metrics=["valid_loss"], cost=False)["valid_loss"]
        assert np.isfinite(v).all()
        # after the blow-up, nothing beyond what the table's finite runs reached at that fidelity
        assert np.all(v[:, 3:] <= finite_hi[3:] * (1 + 1e-4))
        # at the blow-up epoch itself: capped at the fence, far below 1e30, yet the worst the table holds there
        assert v[:, 2].max() < 1e6


def test_normal_scores_round_trip_and_keep_ranks():
    from surrogates.targets import ScoreTable, fit_knots, from_normal_scores, normal_scores

    rng = np.random.default_rng(0)
    g = np.log(rng.lognormal(size=(300, 2, 4)))
    g[:100, :, 1] = -0.37  # a crowd of tied values, like runs stuck at the class-prior loss
    g[0, 0, 0] = np.nan
    knots = fit_knots(g)
    z = normal_scores(g, knots)
    assert np.isnan(z[0, 0, 0]) and np.isfinite(z[1:]).all()
    ok = np.isfinite(g[:, 0, 0])
    assert np.all(np.diff(z[ok, 0, 0][np.argsort(g[ok, 0, 0])]) >= 0)  # monotone: ranks kept
    assert abs(np.nanmean(z[:, :, 0])) < 0.05 and 0.9 < np.nanstd(z[:, :, 0]) < 1.1
    zz = z[:, 0].astype(np.float32)
    np.testing.assert_allclose(from_normal_scores(zz, knots)[ok], g[ok, 0], atol=1e-4)
    fast = ScoreTable.from_knots(knots).inverse(zz.copy())
    np.testing.assert_allclose(fast[ok], g[ok, 0], atol=2e-3)
    assert np.isnan(fast[0, 0])
    # scores beyond the ends map to the table's extremes, never beyond
    far = ScoreTable.from_knots(knots).inverse(np.full((2, 4), 50.0, dtype=np.float32))
    np.testing.assert_allclose(far[0], np.nanmax(g, axis=(0, 1)), rtol=1e-5)


def test_distilled_surrogate_follows_its_teacher_with_one_network(table, tmp_path):
    """distill=n: one MLP fitted to the ensemble's predictions replaces the ensemble, and answers like it."""
    from scipy.stats import spearmanr

    from surrogates.store import load_surrogate, save_surrogate

    params = FAST["ensemble"]
    teacher = CurveSurrogate(model="ensemble", model_params=params).fit(table)
    student = CurveSurrogate(
        model="ensemble", model_params=params, distill=3000, distill_params={"max_steps": 800, "hidden": 64}
    ).fit(table)
    assert list(student.regressors_) == ["mlp"] and student.distilled_from_["members"] == [
        "xgboost",
        "gp",
        "mlp",
    ]
    cfgs = [dict(c) for c in table.space.sample_configuration(200)]
    a, b = teacher.predict_frame(cfgs)["valid_loss"][:, -1], student.predict_frame(cfgs)["valid_loss"][:, -1]
    assert spearmanr(a, b)[0] > 0.9
    # the teacher kept for the quality card answers as the same model fitted without distillation
    np.testing.assert_array_equal(
        student.teacher_.predict_frame(cfgs)["valid_loss"], teacher.predict_frame(cfgs)["valid_loss"]
    )
    with pytest.raises(ValueError, match="distill=-1"):
        CurveSurrogate(model="xgboost", model_params=FAST["xgboost"], distill=-1).fit(table)
    save_surrogate(student, tmp_path / "s")
    loaded, manifest = load_surrogate(tmp_path / "s")
    assert manifest["distilled_from"]["n_sampled"] == 3000 and list(manifest["regressors"]) == ["mlp"]
    np.testing.assert_array_equal(
        loaded.predict_frame(cfgs, seeds=1)["valid_loss"], student.predict_frame(cfgs, seeds=1)["valid_loss"]
    )


def test_predictions_run_at_one_torch_thread_and_restore_the_count():
    """The thread policy of predictions (surrogates.models.torch_threads): the same numbers at any
    count torch was set to, torch at one thread inside, the caller's count back afterwards."""
    import torch

    from surrogates.models import GPRegressor, MLPEnsembleRegressor, torch_threads

    rng = np.random.default_rng(0)
    x, y = rng.random((60, 3)), rng.random((60, 2))
    gp = GPRegressor().fit(x, y)
    mlp = MLPEnsembleRegressor(n_members=2, hidden=8, max_steps=20).fit(x, y)
    q = rng.random((130, 3))
    prev = torch.get_num_threads()
    try:
        seen = []
        outs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            outs.append((gp.predict(q), mlp.predict_torch(q), gp.predict(q[:1])))
            seen.append(torch.get_num_threads())
        assert seen == [1, 2]  # restored after each prediction
        for a, b in zip(*outs):
            assert np.array_equal(a, b)
        torch.set_num_threads(2)
        with torch_threads():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(prev)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="torch threads"):
            with torch_threads(bad):
                pass
