"""The Gaussian-process regressor: its likelihood is scikit-learn's, its predictions are the posterior mean."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from surrogates.models import GPRegressor, _neg_lml, member_params


def _data(n=120, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    Y = np.column_stack([np.sin(6 * X[:, 0]) + X[:, 1] ** 2, np.cos(4 * X[:, 2]), X[:, 3]])
    return X, Y + 0.1 * rng.normal(size=Y.shape)


@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5])
def test_likelihood_and_gradient_match_scikit_learn(nu):
    X, Y = _data()
    theta = np.log([1.3, 0.5, 0.7, 2.0, 1.1, 0.05])
    ours, _ = _neg_lml(theta, X, Y, nu)
    kernel = ConstantKernel(1.3) * Matern([0.5, 0.7, 2.0, 1.1], nu=nu) + WhiteKernel(0.05)
    theirs = GaussianProcessRegressor(kernel, optimizer=None).fit(X, Y).log_marginal_likelihood(kernel.theta)
    assert -ours == pytest.approx(theirs, rel=1e-8)
    assert check_grad(lambda t: _neg_lml(t, X, Y, nu)[0], lambda t: _neg_lml(t, X, Y, nu)[1], theta) < 1e-3


@pytest.mark.parametrize("nu", [0.5, 2.5])
def test_predictions_are_the_posterior_mean_of_the_fitted_kernel(nu):
    X, Y = _data()
    gp = GPRegressor(nu=nu, n_restarts=0).fit(X, Y)
    kernel = ConstantKernel(gp.signal_variance_, "fixed") * Matern(
        gp.length_scale_, "fixed", nu=nu
    ) + WhiteKernel(gp.noise_variance_, "fixed")
    ref = GaussianProcessRegressor(kernel, optimizer=None).fit(X, Y)
    Xt = np.random.default_rng(1).random((500, X.shape[1]))
    np.testing.assert_allclose(gp.predict(Xt, exact=True), ref.predict(Xt), atol=1e-8)
    np.testing.assert_allclose(
        gp.predict(Xt), ref.predict(Xt), atol=2e-4
    )  # float32 only where it is that close
    # the fit finds a likelihood at least as good as scikit-learn's own optimizer from the same start
    start = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(X.shape[1]), (1e-2, 1e3), nu=nu) + WhiteKernel(
        0.1, (1e-4, 1)
    )
    sk = GaussianProcessRegressor(start, n_restarts_optimizer=0).fit(X, Y)
    assert gp.log_marginal_likelihood_ >= sk.log_marginal_likelihood_value_ - 1e-3
    # and it learns: held-out error well below the targets' spread
    truth = np.column_stack([np.sin(6 * Xt[:, 0]) + Xt[:, 1] ** 2, np.cos(4 * Xt[:, 2]), Xt[:, 3]])
    assert np.sqrt(np.mean((gp.predict(Xt) - truth) ** 2)) < 0.25 * truth.std()


def test_save_load_round_trip_and_subsampling(tmp_path):
    X, Y = _data(n=90)
    gp = GPRegressor(n_restarts=0, max_train=60).fit(X, Y)
    assert gp.X_train_.shape == (60, X.shape[1])
    gp.save(tmp_path / "gp.npz")
    back = GPRegressor.load(tmp_path / "gp.npz", gp.get_params(), X.shape[1], Y.shape[1])
    np.testing.assert_array_equal(back.predict(X), gp.predict(X))


def test_a_gp_file_is_read_as_untrusted_data(tmp_path):
    # a GP file (and the manifest naming its settings) may come from elsewhere: what it holds must be what
    # the surrogate's manifest says, and settings the class does not compute are refused, not approximated
    X, Y = _data(n=30)
    gp = GPRegressor(n_restarts=0).fit(X, Y)
    path = tmp_path / "gp.npz"
    gp.save(path)
    with pytest.raises(ValueError, match=r"alpha is float64 \(30, 3\), expected float \(30, 4\)"):
        GPRegressor.load(path, gp.get_params(), X.shape[1], 4)
    with pytest.raises(ValueError, match=r"nu=7\.0; allowed: 0\.5, 1\.5, 2\.5"):
        GPRegressor.load(path, {**gp.get_params(), "nu": 7.0}, X.shape[1], Y.shape[1])
    with np.load(path) as z:
        arrays = dict(z)
    np.savez_compressed(path, **arrays, extra=np.zeros(3))
    with pytest.raises(ValueError, match=r"arrays \[.*'extra'.*\], expected"):
        GPRegressor.load(path, gp.get_params(), X.shape[1], Y.shape[1])
    arrays["length_scale"] = -arrays["length_scale"]
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match="length scales"):
        GPRegressor.load(path, gp.get_params(), X.shape[1], Y.shape[1])


def test_bad_settings_name_the_value():
    X, Y = _data(n=20)
    with pytest.raises(ValueError, match="nu=2.0"):
        GPRegressor(nu=2.0).fit(X, Y)
    with pytest.raises(ValueError, match="max_train=1"):
        GPRegressor(max_train=1).fit(X, Y)
    with pytest.raises(ValueError, match="ensemble members"):
        member_params({"members": ["xgboost", "nope"]})
    with pytest.raises(ValueError, match="ensemble members"):
        member_params({"members": ["xgboost"], "gp": {"nu": 1.5}})
