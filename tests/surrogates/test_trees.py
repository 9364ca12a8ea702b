"""The numpy tree walk (surrogates.trees) gives XGBoost's predictions bit for bit, and refuses what it cannot."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from surrogates import surrogate
from surrogates.trees import NumpyForest, NumpyTrees, UnsupportedModel


def _data(n: int = 400, d: int = 6, k: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Y = np.column_stack(
        [np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * j for j in range(k)]
    ) + 0.05 * rng.normal(size=(n, k))
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values follow each node's default direction
    return X, Y


@pytest.mark.parametrize(
    "params",
    [
        {"multi_strategy": "multi_output_tree", "tree_method": "hist"},  # the surrogates' setting
        {"multi_strategy": "one_output_per_tree", "tree_method": "hist"},
        {"tree_method": "exact", "max_depth": 8},
    ],
)
@pytest.mark.parametrize("k", [1, 3])
def test_predictions_equal_xgboost_bit_for_bit(params, k):
    X, Y = _data(k=k)
    reg = xgb.XGBRegressor(n_estimators=40, max_depth=params.pop("max_depth", 5), n_jobs=1, **params)
    reg.fit(X, Y if k > 1 else Y[:, 0])
    booster = reg.get_booster()
    trees = NumpyTrees.from_booster(booster)
    Xt, _ = _data(n=200, k=k, seed=1)
    want = np.asarray(booster.inplace_predict(Xt)).reshape(len(Xt), -1)
    got = trees.predict(Xt)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_unsupported_models_and_bad_input_are_named():
    X, Y = _data(k=1)
    clf = xgb.XGBRegressor(n_estimators=3, objective="reg:logistic", n_jobs=1)
    clf.fit(X, (Y[:, 0] > 0).astype(float))
    with pytest.raises(UnsupportedModel, match="objective 'reg:logistic' transforms the margin"):
        NumpyTrees.from_booster(clf.get_booster())
    lin = xgb.XGBRegressor(n_estimators=3, booster="gblinear", n_jobs=1).fit(X, Y[:, 0])
    with pytest.raises(UnsupportedModel, match="booster 'gblinear'"):
        NumpyTrees.from_booster(lin.get_booster())
    trees = NumpyTrees.from_booster(xgb.XGBRegressor(n_estimators=3, n_jobs=1).fit(X, Y[:, 0]).get_booster())
    with pytest.raises(ValueError, match=r"X has shape \(2, 5\); expected \(n, 6\)"):
        trees.predict(np.zeros((2, 5)))


def test_the_surrogate_uses_the_walk_for_a_few_rows_only_and_keeps_xgboost_s_numbers():
    X, Y = _data(k=2)
    reg = xgb.XGBRegressor(n_estimators=30, multi_strategy="multi_output_tree", tree_method="hist", n_jobs=1)
    reg.fit(X, Y)
    few, many = X[: surrogate._NUMPY_TREE_ROWS], X[:50]
    expect_few = np.asarray(reg.get_booster().inplace_predict(few), dtype=np.float64)
    np.testing.assert_array_equal(surrogate.CurveSurrogate._predict_one("xgboost", reg, few), expect_few)
    assert reg.get_booster() in surrogate._numpy_trees  # built on the first small prediction
    np.testing.assert_array_equal(
        surrogate.CurveSurrogate._predict_one("xgboost", reg, many),
        np.asarray(reg.get_booster().inplace_predict(many), dtype=np.float64),
    )
    old = reg.get_booster()
    reg.fit(X, Y[:, ::-1])  # a refit: a new booster, its own trees
    assert reg.get_booster() is not old
    np.testing.assert_array_equal(
        surrogate.CurveSurrogate._predict_one("xgboost", reg, few),
        np.asarray(reg.get_booster().inplace_predict(few), dtype=np.float64),
    )


def test_boosters_walked_together_give_each_booster_s_numbers():
    """NumpyForest: boosters of different depths, output counts and leaf kinds, walked at once (missing
    values too), each equal to its own inplace_predict; boosters of unequal inputs are refused."""
    X, Y = _data(k=3)
    regs = [
        xgb.XGBRegressor(n_estimators=25, max_depth=3, multi_strategy="multi_output_tree", n_jobs=1).fit(
            X, Y
        ),
        xgb.XGBRegressor(n_estimators=40, max_depth=6, n_jobs=1).fit(X, Y[:, 0]),
        xgb.XGBRegressor(n_estimators=10, max_depth=4, multi_strategy="one_output_per_tree", n_jobs=1).fit(
            X, Y[:, :2]
        ),
    ]
    forest = NumpyForest([NumpyTrees.from_booster(r.get_booster()) for r in regs])
    Xt, _ = _data(n=60, k=3, seed=2)
    got = forest.predict(Xt)
    for r, g in zip(regs, got):
        want = np.asarray(r.get_booster().inplace_predict(Xt)).reshape(len(Xt), -1)
        assert g.dtype == np.float32 and g.shape == want.shape
        np.testing.assert_array_equal(g, want)
    other = xgb.XGBRegressor(n_estimators=3, n_jobs=1).fit(X[:, :4], Y[:, 0])
    with pytest.raises(ValueError, match=r"different numbers of features: \[4, 6\]"):
        NumpyForest(
            [NumpyTrees.from_booster(regs[0].get_booster()), NumpyTrees.from_booster(other.get_booster())]
        )


def test_a_surrogate_s_blocks_walked_together_give_xgboost_s_numbers(tmp_path):
    """One configuration of an xgboost surrogate: its blocks' boosters walked together (one walk for the
    metrics and the cost) give each booster's inplace_predict, standardized as before; a refit remakes it."""
    from benchmarks.table import read_table
    from surrogates.synthetic import synthetic_table

    table = read_table(synthetic_table(tmp_path / "t", n_configs=50, n_seeds=2, n_epochs=6, seed=2))
    sur = surrogate.CurveSurrogate(model="xgboost", model_params={"n_estimators": 12}).fit(table)
    blocks = list(range(len(sur.blocks_)))
    x = sur.encode(table.configs.drop(columns="config_id").iloc[:3])
    for rows in (x[:1], x[:3]):
        got = sur._predict_z(blocks, rows)
        for j in blocks:
            want = np.asarray(
                sur.regressors_["xgboost"][j].get_booster().inplace_predict(rows), dtype=np.float64
            )
            np.testing.assert_array_equal(got[j], want.reshape(len(rows), -1), err_msg=f"block {j}")
    forest = sur._forest_cache[tuple(blocks)][1]
    assert isinstance(forest, NumpyForest) and len(forest.trees) == len(blocks)
    sur.fit(table, config_ids=np.arange(30))
    assert "_forest_cache" not in sur.__dict__
    got = sur._predict_z(blocks, x[:1])
    for j in blocks:
        want = sur.regressors_["xgboost"][j].get_booster().inplace_predict(x[:1])
        np.testing.assert_array_equal(got[j], np.asarray(want, dtype=np.float64).reshape(1, -1))
