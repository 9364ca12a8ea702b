"""The learning-curve extrapolation task (runners.lc_task): a fixed split, proper scores, the stopping regret, the
three predictors on curves whose continuation is known, and the command line."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from benchmarks import catalog
from benchmarks.protocol import CurveBenchError
from runners import lc_task
from runners.lc_task import (
    MIN_STD,
    KNNPredictor,
    LastValuePredictor,
    ParametricPredictor,
    Prediction,
    Predictor,
    evaluate,
    gaussian_crps,
    gaussian_logpdf,
    pool_regret,
    split,
    stopping_regret,
    task_curves,
)

#: the published split of lcbench-car (seed 0): a digest of its sorted test ids. A change of the split changes
#: every published number of the task, so it must be deliberate (a new SPLIT_SALT), never a side effect.
LCBENCH_TEST_DIGEST = "3235cc971011a81953191273196e509e48755921bcfe679b0f09f4be47f13752"


@pytest.fixture(scope="module")
def car():
    return catalog.load("lcbench-car")


# ---------------------------------------------------------------- the split
def test_the_split_is_fixed_disjoint_covering_and_recorded_with_the_checksum(car):
    a, b = split(car), split(car)
    assert np.array_equal(a.train_ids, b.train_ids) and np.array_equal(a.test_ids, b.test_ids)
    assert len(a.test_ids) == 100 and len(a.train_ids) == 400
    assert not set(a.test_ids) & set(a.train_ids)
    assert sorted([*a.test_ids, *a.train_ids]) == list(range(car.n_configs))
    assert a.test_digest == LCBENCH_TEST_DIGEST
    rec = a.record()
    assert rec["checksum"] == car.provenance["checksum"] and len(rec["checksum"]) == 64
    assert rec["test_ids"] == a.test_ids.tolist() and rec["test_ids_sha256"] == LCBENCH_TEST_DIGEST
    # another seed is another split; a table with the same configurations has the same one
    assert not np.array_equal(split(car, seed=1).test_ids, a.test_ids)
    vehicle = catalog.load("lcbench-vehicle")
    assert np.array_equal(split(vehicle).test_ids, a.test_ids)
    assert split(vehicle).checksum != a.checksum


def test_the_cut_points_are_held_epochs_at_10_20_40_percent(car, synthetic_bench, one_fidelity_bench):
    sp = split(car)
    assert sp.cuts == (5.0, 10.0, 20.0) and sp.observed == (5, 10, 20)
    # 10 epochs: 1, 2, 4 (each the largest held epoch at or below the fraction of the last)
    s = split(synthetic_bench)
    assert s.cuts == (1.0, 2.0, 4.0) and s.observed == (1, 2, 4)
    assert split(synthetic_bench, cut_fractions=(0.01, 0.05)).cuts == (1.0,)  # snapped, repeats dropped
    with pytest.raises(CurveBenchError, match="at least 2 epochs"):
        split(one_fidelity_bench)


def test_task_curves_are_the_objective_per_seed_with_diverged_runs_left_out(car):
    cv = task_curves(car)
    vals, _ = car.values_at(car.objective)
    assert cv.scale == "log"
    np.testing.assert_allclose(cv.loss[:, :, -1][np.isfinite(vals)], vals[np.isfinite(vals)], rtol=1e-6)
    np.testing.assert_allclose(np.exp(cv.model[cv.finite]), cv.loss[cv.finite], rtol=1e-9)
    assert (~cv.finite).sum() == 2  # the one configuration that diverged on both seeds
    y, pairs = cv.rows(split(car).test_ids)
    assert len(y) == len(pairs) and np.isfinite(y).all()


# ---------------------------------------------------------------- scores
@pytest.mark.parametrize("mean, std, y", [(0.0, 1.0, 0.3), (1.5, 0.2, 0.9), (-2.0, 3.0, 4.0)])
def test_the_crps_closed_form_equals_the_integral_of_the_squared_cdf_difference(mean, std, y):
    def integrand(x):
        return (stats.norm.cdf(x, mean, std) - (x >= y)) ** 2

    lo, hi = mean - 12 * std, mean + 12 * std
    num = integrate.quad(integrand, lo, y, limit=200)[0] + integrate.quad(integrand, y, hi, limit=200)[0]
    assert gaussian_crps(mean, std, y) == pytest.approx(num, rel=1e-7, abs=1e-10)
    assert gaussian_logpdf(mean, std, y) == pytest.approx(stats.norm.logpdf(y, mean, std), rel=1e-12)


def test_the_pool_regret_is_the_exact_mean_over_every_pool():
    rng = np.random.default_rng(3)
    final = rng.normal(size=8)
    predicted = final + rng.normal(scale=0.8, size=8)
    for pool in (2, 3, 5, 8):
        regrets, randoms = [], []
        for idx in itertools.combinations(range(8), pool):
            idx = list(idx)
            pick = idx[int(np.argmin(predicted[idx]))]
            regrets.append(final[pick] - final[idx].min())
            randoms.append(final[idx].mean() - final[idx].min())
        r, rr = pool_regret(predicted, final, pool)
        assert r == pytest.approx(np.mean(regrets), abs=1e-12)
        assert rr == pytest.approx(np.mean(randoms), abs=1e-12)
    assert pool_regret(final, final, 3)[0] == pytest.approx(0.0, abs=1e-12)
    # the top-keep rule: 2 of 8 continued; the best curve is 3rd by prediction here -> its regret
    pred = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    true = np.array([0.5, 0.4, 0.1, 0.9, 0.8, 0.7, 0.6, 1.0])
    assert stopping_regret(pred, true, keep=0.25) == (pytest.approx(0.3), 2)
    assert stopping_regret(pred, true, keep=0.3) == (pytest.approx(0.0), 3)


class Oracle(Predictor):
    """Knows the test curves: predicts each one's true continuation with the smallest std."""

    name = "oracle"

    def __init__(self, curves: np.ndarray) -> None:
        self.curves = curves

    def predict(self, partial_curves: np.ndarray, k: int) -> Prediction:
        prefix = self._check(partial_curves, k)
        rows = [int(np.flatnonzero((self.curves[:, :k] == p).all(axis=1))[0]) for p in prefix]
        mean = self.curves[rows, k:]
        return Prediction(mean, np.full_like(mean, MIN_STD))


def test_an_oracle_has_no_stopping_regret_and_the_best_scores(car):
    test_curves, _ = task_curves(car).rows(split(car).test_ids)
    predictors = {"oracle": Oracle(test_curves), **{n: lc_task.make_predictor(n) for n in lc_task.PREDICTORS}}
    df, sp = evaluate(car, predictors)
    assert len(df) == 4 * len(sp.cuts)
    assert df.groupby("cut")["predictor"].apply(list).tolist() == [list(predictors)] * 3  # by cut, in order
    oracle, others = df[df.predictor == "oracle"], df[df.predictor != "oracle"]
    assert (oracle.regret == 0).all() and (oracle.regret_keep == 0).all() and (oracle.cost_ratio == 1).all()
    assert (oracle.rmse_final == 0).all()
    for cut, group in others.groupby("cut"):
        o = oracle[oracle.cut == cut].iloc[0]
        assert (group.crps_final > o.crps_final).all() and (group.crps_curve > o.crps_curve).all()
        assert (group.ll_final < o.ll_final).all() and (group.ll_curve < o.ll_curve).all()
        assert (group.regret < group.regret_random).all()  # every predictor beats a random choice
        assert (group.regret >= 0).all()
    # the scores that the task's docs report: knn is better than last-value at every cut on this table
    knn, last = others[others.predictor == "knn"], others[others.predictor == "last-value"]
    assert (knn.crps_curve.to_numpy() < last.crps_curve.to_numpy()).all()


# ---------------------------------------------------------------- predictors on known curves
EPOCHS = np.arange(1.0, 51.0)


def test_last_value_is_exact_on_flat_curves():
    rng = np.random.default_rng(0)
    train = np.repeat(rng.normal(size=(30, 1)), 50, axis=1)
    test = np.repeat(np.array([[0.25], [-1.5]]), 50, axis=1)
    p = LastValuePredictor().fit(train, EPOCHS)
    for k in (1, 5, 49):
        pred = p.predict(test[:, :k], k)
        assert pred.mean.shape == (2, 50 - k)
        np.testing.assert_array_equal(pred.mean, test[:, k:])
        np.testing.assert_array_equal(pred.std, MIN_STD)  # its train residuals are 0
    with pytest.raises(ValueError, match="the cut must leave an epoch"):
        p.predict(test, 50)


def pow3(c: float, a: float, alpha: float) -> np.ndarray:
    return c + a * EPOCHS**-alpha


def test_the_parametric_predictor_recovers_a_pow3_curve():
    rng = np.random.default_rng(0)
    train = np.stack(
        [pow3(rng.uniform(-1, 1), rng.uniform(0.5, 3), rng.uniform(0.2, 1.5)) for _ in range(100)]
    )
    p = ParametricPredictor().fit(train, EPOCHS)
    for c, a, alpha in [(0.3, 2.0, 0.7), (-0.5, 1.0, 1.1)]:
        truth = pow3(c, a, alpha)
        for k in (5, 10, 20):
            pred = p.predict(truth[None, :k], k)
            # within 0.1 % of the curve's drop from epoch 1 to 50 (last-value misses by 5-60 %)
            assert abs(pred.mean[0, -1] - truth[-1]) < 1e-3 * (truth[0] - truth[-1])
        assert p.family_weights(10)["pow3"] > 0.9


def test_knn_on_shifted_copies_of_one_shape_is_exact_and_calibrates_leaving_a_configuration_out():
    shape = np.log(0.2 + 2.0 * EPOCHS**-0.5) + 0.1 * np.sin(EPOCHS / 4)
    train = shape[None, :] + np.linspace(-1, 1, 40)[:, None]
    p = KNNPredictor(neighbors=5).fit(train, EPOCHS)
    test = shape[None, :] + np.array([[0.33], [-0.71]])
    pred = p.predict(test[:, :10], 10)
    np.testing.assert_allclose(pred.mean, test[:, 10:], atol=1e-12)
    # calibration leaves a whole configuration out: three identical seeds of each of 20 random curves predict
    # each other exactly (tau 0) unless their configuration is left out with them
    walks = np.cumsum(np.random.default_rng(1).normal(size=(20, 50)), axis=1)
    seeds = np.repeat(walks, 3, axis=0)
    alone = KNNPredictor(neighbors=2).fit(seeds, EPOCHS)
    grouped = KNNPredictor(neighbors=2).fit(seeds, EPOCHS, groups=np.repeat(np.arange(20), 3))
    assert (alone._tau(10) == 0).all() and (grouped._tau(10) > 0).all()


# ---------------------------------------------------------------- the command line
def test_the_command_line_writes_its_outputs_and_rejects_a_bad_key(tmp_path, capsys):
    out = tmp_path / "lc"
    argv = ["run", "benchmarks=[lcbench-car]", "predictors=[last-value,knn]", f"out={out}", "progress=false"]
    assert lc_task.main(argv) == 0
    printed = capsys.readouterr().out
    df = pd.read_csv(out / "lc-task.csv")
    assert len(df) == 6 and set(df.predictor) == {"last-value", "knn"}
    assert np.isfinite(df[["crps_final", "crps_curve", "ll_final", "ll_curve", "regret"]].to_numpy()).all()
    # printed: the summary at the middle cut (epoch 10 of 50), the lower of the two figures bold
    mid = df[df.cut == 10].set_index("predictor")
    crps = [f"{mid.loc[p, 'crps_final']:.3g}" for p in ("last-value", "knn")]
    best = int(mid.loc["knn", "crps_final"] < mid.loc["last-value", "crps_final"])
    crps[best] = f"**{crps[best]}**"
    assert f"| `lcbench-car` | 10/50 | {crps[0]} | {crps[1]} |" in printed
    md = (out / "lc-task.md").read_text()
    assert f"| `lcbench-car` | 10/50 | {crps[0]} | {crps[1]} |" in md
    assert "| `lcbench-car` | 20/50 | `last-value` |" in md and "| `lcbench-car` | 5/50 | `knn` |" in md
    meta = json.loads((out / "lc-task.json").read_text())
    assert meta["splits"][0]["test_ids_sha256"] == LCBENCH_TEST_DIGEST
    assert meta["splits"][0]["checksum"] == catalog.load("lcbench-car").provenance["checksum"]
    assert lc_task.main(argv) == 0  # its own folder is replaced
    assert not [p.name for p in tmp_path.iterdir() if p.name != "lc"]  # no temporary folder left behind
    capsys.readouterr()

    assert lc_task.main(["predictor=[knn]", f"out={out}"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: ") and "unknown key 'predictor'" in err and "Did you mean 'predictors'" in err
    )
    assert lc_task.main(["predictors=[lc-pfn]"]) == 2
    assert "Allowed: last-value, knn, parametric" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("x")
    assert lc_task.main(["benchmarks=[lcbench-car]", f"out={other}", "progress=false"]) == 2
    assert "not an lc-task output folder" in capsys.readouterr().err
    assert (other / "mine.txt").exists()

    r = subprocess.run(
        [sys.executable, "-m", "runners.lc_task", "run", "benchmark=lcbench-car"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert "Did you mean 'benchmarks'" in r.stderr
