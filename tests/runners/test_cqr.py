"""CQR (runners/optimizers/cqr.py, Salinas et al., ICML 2023) on its defining behaviour.

The split-conformal correction brings miscalibrated quantile intervals to their nominal coverage; the
acquisition proposes the candidate whose independently sampled quantile is lowest; model-based proposals
beat random ones on a toy problem; ``cqr-asha`` schedules exactly as ``asha`` while the model picks its new
configurations, fitted on each configuration's last observed loss; runs are reproducible, never repeat a
configuration on a table, and run on a surrogate benchmark.
"""

from __future__ import annotations

import math

import ConfigSpace as CS
import numpy as np
import pandas as pd
import pytest
from optimizer_lines import N_X, drive, line_loss, make, quality, result, write_line_table

from runners.optimizer import RandomSearch, TableExhausted, Trial
from runners.optimizers.asha import ASHA
from runners.optimizers.cqr import (
    CQR,
    CQRASHA,
    ConformalQuantileRegressor,
    conformal_shifts,
    pick_by_sampled_quantiles,
    quantile_levels,
)
from runners.registry import make_optimizer
from runners.simulator import Budget, simulate

LEVELS = quantile_levels(5)


# ---------------------------------------------------------------- the model
def test_the_levels_are_syne_tunes_five_symmetric_quantiles():
    assert LEVELS.tolist() == pytest.approx([1 / 6, 1 / 3, 1 / 2, 2 / 3, 5 / 6])
    # Syne Tune rounds them to two decimals
    assert LEVELS == pytest.approx([0.17, 0.33, 0.5, 0.67, 0.83], abs=0.004)
    assert quantile_levels(3).tolist() == [0.25, 0.5, 0.75]


def _coverage(pred: np.ndarray, y: np.ndarray, lo: int, hi: int) -> float:
    return float(np.mean((pred[:, lo] <= y) & (y <= pred[:, hi])))


@pytest.mark.parametrize("half_width", [0.05, 3.0], ids=["too-narrow", "too-wide"])
def test_the_conformal_shift_brings_an_interval_to_its_nominal_coverage(half_width):
    # y = x + N(0, 1), the "model" predicts x -/+ half_width at the outer levels (1/6, 5/6: nominal coverage
    # 2/3) and half of that at the inner ones (1/3, 2/3: nominal 1/3); 20 held-out points per correction.
    # Split conformal guarantees a mean coverage in [1 - 2a, 1 - 2a + 1 / (n + 1)] over the draws.
    rng = np.random.default_rng(0)
    offsets = half_width * np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    raw, fixed = {0: [], 1: []}, {0: [], 1: []}
    for _ in range(300):
        x = rng.normal(size=20)
        y = x + rng.normal(size=20)
        shifts = conformal_shifts(x[:, None] + offsets, y, LEVELS)
        assert shifts[2] == 0.0 and shifts[0] == -shifts[4] and shifts[1] == -shifts[3]
        xf = rng.normal(size=500)
        yf = xf + rng.normal(size=500)
        pred = xf[:, None] + offsets
        for j in (0, 1):
            raw[j].append(_coverage(pred, yf, j, 4 - j))
            fixed[j].append(_coverage(pred + shifts, yf, j, 4 - j))
    nominal = {0: 2 / 3, 1: 1 / 3}
    for j in (0, 1):
        assert nominal[j] - 0.02 <= np.mean(fixed[j]) <= nominal[j] + 1 / 21 + 0.02, (j, np.mean(fixed[j]))
        assert abs(np.mean(raw[j]) - nominal[j]) > 0.25  # the uncorrected interval is far off


def test_the_correction_is_the_finite_sample_order_statistic():
    # scores 1..10 for the outer pair: ceil(11 * 2/3) = 8th smallest; for the inner pair ceil(11 / 3) = 4th
    y = np.arange(1.0, 11.0)
    pred = np.zeros((10, 5))
    shifts = conformal_shifts(pred, y, LEVELS)
    assert shifts.tolist() == [-8.0, -4.0, 0.0, 4.0, 8.0]
    with pytest.raises(ValueError, match="symmetric"):
        conformal_shifts(np.zeros((3, 2)), np.zeros(3), [0.2, 0.6])


def _heteroscedastic(rng, n):
    X = rng.random((n, 3))
    return X, np.sin(4 * X[:, 0]) + (0.2 + X[:, 1]) * rng.normal(size=n)


def test_the_conformalized_boosting_is_calibrated_where_the_raw_one_is_not():
    # 100 boosted trees of depth 3 with leaves of one sample fit their 180 training points too closely:
    # the raw (1/6, 5/6) interval covers far less than 2/3 of fresh points; the held-out correction fixes it
    raw, fixed = [], []
    for rep in range(8):
        rng = np.random.default_rng(rep)
        X, y = _heteroscedastic(rng, 200)
        model = ConformalQuantileRegressor(LEVELS).fit(X, y, rng)
        assert model.conformalized and model.n_valid == 20
        Xf, yf = _heteroscedastic(rng, 2000)
        raw.append(_coverage(model.predict_raw(Xf), yf, 0, 4))
        fixed.append(_coverage(model.predict(Xf), yf, 0, 4))
    assert np.mean(raw) < 0.6
    assert 0.62 <= np.mean(fixed) <= 0.74
    # up to 32 observations (Syne Tune's threshold) nothing is held out; None never conformalizes
    rng = np.random.default_rng(0)
    X, y = _heteroscedastic(rng, 32)
    small = ConformalQuantileRegressor(LEVELS).fit(X, y, rng)
    assert not small.conformalized and small.n_valid == 0 and not small.shifts.any()
    X, y = _heteroscedastic(rng, 60)
    plain = ConformalQuantileRegressor(LEVELS, min_samples_to_conformalize=None).fit(X, y, rng)
    assert not plain.conformalized and not plain.shifts.any()


# ---------------------------------------------------------------- the acquisition
def test_the_acquisition_takes_the_lowest_independently_sampled_quantile():
    q = np.array([[3.0, 4.0, 5.0], [0.0, 0.5, 1.0], [2.0, 6.0, 9.0]])
    # candidate 1 lies below every quantile of the others: always chosen
    rng = np.random.default_rng(0)
    assert {pick_by_sampled_quantiles(q, rng) for _ in range(50)} == {1}
    # the choice is the argmin of one uniformly drawn column per row, from the rng's next draws
    q = np.random.default_rng(1).normal(size=(40, 5))
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(20):
        draw = b.integers(5, size=40)
        assert pick_by_sampled_quantiles(q, a) == int(np.argmin(q[np.arange(40), draw]))
    # each candidate draws its own level: A = (0..4) beats B = A + 0.5 in 15 of the 25 level pairs (a shared
    # level would make A win always)
    q = np.array([[0.0, 1, 2, 3, 4], [0.5, 1.5, 2.5, 3.5, 4.5]])
    rng = np.random.default_rng(2)
    wins = np.mean([pick_by_sampled_quantiles(q, rng) == 0 for _ in range(4000)])
    assert wins == pytest.approx(15 / 25, abs=0.03)
    # candidates no longer alive are never chosen
    alive = np.array([False, True])
    assert {pick_by_sampled_quantiles(q, rng, alive) for _ in range(20)} == {1}


class _Oracle:
    """A "model" that knows the line's loss: every quantile of x is quality(x) (x from the unit encoding)."""

    conformalized = False

    def predict(self, feats: np.ndarray) -> np.ndarray:
        x = np.floor(feats[:, 0] * N_X).astype(int)
        return np.repeat(np.array([quality(int(v)) for v in x])[:, None], 5, axis=1)


def test_with_a_model_that_knows_the_answer_the_best_open_configuration_is_proposed():
    opt = make(CQR, fidelities=(1,), seed=3)
    opt.searcher.fit_model = lambda X, y: _Oracle()
    done: set[int] = set()
    for _ in range(20):
        t = opt.ask()
        x = t.config["x"]
        if t.info["how"] == "model":
            assert quality(x) == min(quality(v) for v in range(N_X) if v not in done), (x, sorted(done))
        done.add(x)
        opt.tell(t, result(t, quality(x)))
    assert opt.searcher.n_random == 5 and opt.searcher.n_model == 15
    assert {7, 6, 8, 5, 9} <= done


# ---------------------------------------------------------------- model-based against random
TOY = CS.ConfigurationSpace(
    {
        "x": CS.Float("x", (0.0, 1.0)),
        "z": CS.Float("z", (0.0, 1.0)),
        "c": CS.Categorical("c", ["a", "b", "c"]),
    }
)


def _toy_loss(trial: Trial) -> float:
    return (trial.config["x"] - 0.3) ** 2  # z and c do not matter


def test_model_based_proposals_beat_random_ones_on_a_one_parameter_toy_problem():
    # 25 results, one worker, three seeds; a uniform x has an expected loss of 0.123 and lands within 0.03 of
    # the best x = 0.3 6 % of the time. The 20 model-based proposals of each run (after 5 random ones) do
    # far better than random search's 25 of the same seed
    for seed in range(3):
        told = drive(make(CQR, space=TOY, fidelities=(1,), seed=seed), _toy_loss, n_results=25)
        model = np.array([_toy_loss(t) for t in told if t.info["how"] == "model"])
        rs = np.array(
            [
                _toy_loss(t)
                for t in drive(make(RandomSearch, space=TOY, fidelities=(1,), seed=seed), _toy_loss, 25)
            ]
        )
        assert len(model) == 20
        assert model.mean() < 0.1 * rs.mean(), (seed, model.mean(), rs.mean())
        assert np.mean(model < 0.03**2) > 3 * max(np.mean(rs < 0.03**2), 0.05), (
            seed,
            np.sort(model),
            np.sort(rs),
        )


def test_categoricals_of_more_than_two_choices_are_one_hot_features():
    # as Syne Tune's feature pipeline; numbers keep their [0, 1] encoding (trees ignore its standardization)
    s = make(CQR, space=TOY, fidelities=(1,)).searcher
    names = s.encoder.vspace.names
    f = s.features(s.encoder.encode([{"x": 0.25, "z": 0.75, "c": "b"}]))[0]
    plain = [{"x": 0.25, "z": 0.75}[n] for n in names if n != "c"]
    assert f.tolist() == pytest.approx([*plain, 0.0, 1.0, 0.0])


# ---------------------------------------------------------------- refits and diverged results
@pytest.mark.parametrize(("growth", "fits"), [(0.0, 15), (0.2, 7)])
def test_the_model_is_refitted_as_the_observations_grow(growth, fits):
    # one worker, 20 results, 5 random: growth 0 (Syne Tune's update_frequency=1) fits before each of asks
    # 6..20 (observations 5..19); growth 0.2 once at least ceil(1.2 n) observations are in, n those of the
    # last fit (and at least one more): at 5, 6, 8, 10, 12, 15, 18
    opt = make(CQR, fidelities=(1,), seed=0, refit_growth=growth)
    drive(opt, lambda t: quality(t.config["x"]), n_results=20)
    assert opt.describe()["n_fits"] == fits


def test_diverged_results_count_as_the_worst_and_all_diverged_stays_random():
    opt = make(CQR, fidelities=(1,), seed=0)
    told = drive(opt, lambda t: math.nan if t.config["x"] % 3 == 0 else quality(t.config["x"]), n_results=15)
    y = opt.searcher.targets()
    diverged = [opt.searcher.rows[t.config["x"]] for t in told if t.config["x"] % 3 == 0]
    assert diverged and np.isfinite(y).all()
    assert (y[diverged] == max(quality(t.config["x"]) for t in told if t.config["x"] % 3)).all()
    opt = make(CQR, fidelities=(1,), seed=0)
    told = drive(opt, lambda t: math.nan, n_results=12)
    assert all(t.info["how"] == "random" for t in told) and opt.searcher.n_fits == 0


# ---------------------------------------------------------------- cqr-asha
def _record_new_configs(opt: CQRASHA) -> list[dict]:
    asked: list[dict] = []
    propose = opt.new_config

    def new_config():
        asked.append(propose())
        return asked[-1]

    opt.new_config = new_config
    return asked


def test_cqr_asha_schedules_exactly_as_asha_with_the_model_choosing_new_configurations():
    # ASHA fed the same new configurations in the same order makes the same trials: rungs, promotions and
    # continuations are ASHA's
    cqr = make(CQRASHA, seed=0)
    asked = _record_new_configs(cqr)
    told = drive(cqr, line_loss, n_results=45, n_workers=3)
    script = iter(list(asked))
    asha = make(ASHA, seed=0)

    def scripted() -> dict:
        for config in script:
            return dict(config)
        raise TableExhausted("as cqr-asha: the line's 30 configurations were used up")

    asha.new_config = scripted
    told_asha = drive(asha, line_loss, n_results=45, n_workers=3)

    def key(ts):
        return [(t.trial_id, t.config["x"], t.fidelity, t.continues, t.info["rung"]) for t in ts]

    assert key(told) == key(told_asha)
    assert any(t.continues is not None for t in told)
    # and the model chose them: after the 5 random ones, new configurations are closer to the best x = 7
    # than ASHA's own uniform draws of the same seed
    own = [
        t.config["x"]
        for t in drive(make(ASHA, seed=0), line_loss, n_results=45, n_workers=3)
        if t.continues is None
    ]
    ours = [c["x"] for c in asked]
    assert cqr.searcher.n_model > 0
    assert np.mean([abs(x - 7) for x in ours[7:17]]) < np.mean([abs(x - 7) for x in own[7:17]])


def test_cqr_asha_fits_each_configuration_s_last_observed_loss():
    opt = make(CQRASHA, seed=1)
    told = drive(opt, line_loss, n_results=40, n_workers=2)
    last: dict[int, tuple[float, float]] = {}
    for t in told:
        x = t.config["x"]
        if x not in last or t.fidelity >= last[x][0]:
            last[x] = (t.fidelity, line_loss(t))
    s = opt.searcher
    assert s.n_obs == len(last) and max(f for f, _ in last.values()) > 1.0
    for x, (f, loss) in last.items():
        r = s.rows[x]  # the table row of x (the sampler holds x = 0..29 in order)
        assert s.fid[r] == f and s.y[r] == pytest.approx(loss)


# ---------------------------------------------------------------- runs: reproducible, tables, surrogates
@pytest.fixture(scope="module")
def line(tmp_path_factory):
    return write_line_table(tmp_path_factory.mktemp("cqr") / "line", diverged=(3,))


@pytest.mark.parametrize("name", ["cqr", "cqr-asha"])
def test_same_seed_same_run_on_a_table(name, line):
    runs = [
        simulate(line, make_optimizer(name), seed=s, n_workers=3, budget=Budget("evaluations", 10))
        for s in (4, 4, 5)
    ]
    a, b, c = (r.events for r in runs)
    cols = ["trial_id", "continues", "config_id", "fidelity", "t_start", "t_end"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert not (len(a) == len(c) and a[cols].equals(c[cols]))
    info = runs[0].optimizer.describe()
    assert info["n_model"] > 0 and info["n_fits"] > 0


@pytest.mark.parametrize("name", ["cqr", "cqr-asha"])
def test_a_table_is_used_without_repeats_until_exhausted(name, synthetic_bench):
    # 40 configurations of a continuous space, a budget beyond the table: every configuration once, none
    # twice at one fidelity, nothing redirected by the base class, then the run ends as the table is used up
    run = simulate(
        synthetic_bench, make_optimizer(name), seed=2, n_workers=3, budget=Budget("evaluations", 400)
    )
    s, ev = run.summary, run.events
    assert s["stop_reason"] == "table_exhausted"
    assert s["n_distinct_configs"] == synthetic_bench.n_configs == 40
    assert s["n_repeated"] == 0 and s["n_redirected"] == 0
    fresh = ev[ev["continues"].isna()]
    assert not fresh.duplicated(["config_id", "fidelity"]).any()
    assert run.optimizer.describe()["n_conformalized_fits"] >= 1  # more than 32 observations


@pytest.mark.parametrize("name", ["cqr", "cqr-asha"])
def test_a_surrogate_benchmark_runs_reproducibly(name):
    # a continuous sampler (ConfigSpace draws): candidates are drawn from the space, none proposed twice;
    # refits at 50 % growth keep the test short
    from benchmarks import catalog

    bench = catalog.load("fcnet-naval-surrogate")
    runs = [
        simulate(
            bench,
            make_optimizer(name, refit_growth=0.5),
            seed=0,
            n_workers=2,
            budget=Budget("evaluations", 6),
        )
        for _ in range(2)
    ]
    a, b = (r.events for r in runs)
    pd.testing.assert_frame_equal(a, b)
    assert runs[0].optimizer.searcher.n_model > 0
    configs = a[a["continues"].isna()].filter(like="config.")
    assert len(configs) > 5 and not configs.duplicated().any()


# ---------------------------------------------------------------- hyperparameters
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_init": 0}, "n_init=0"),
        ({"n_init": True}, "n_init=True"),
        ({"n_quantiles": 4}, "n_quantiles=4 must be odd"),
        ({"n_quantiles": 0}, "n_quantiles=0"),
        ({"n_candidates": 0}, "n_candidates=0"),
        ({"valid_fraction": 0.0}, r"valid_fraction=0.0 must be in \(0, 1\)"),
        ({"valid_fraction": 1.5}, "valid_fraction=1.5"),
        ({"min_samples_to_conformalize": -1}, "min_samples_to_conformalize=-1"),
        ({"refit_growth": -0.5}, "refit_growth=-0.5"),
        ({"refit_growth": math.inf}, "refit_growth=inf"),
    ],
)
@pytest.mark.parametrize("cls", [CQR, CQRASHA])
def test_bad_hyperparameters_name_the_value_and_what_is_allowed(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(cls, **kwargs)
