"""Early stopping by learning-curve extrapolation (Domhan et al. 2015) on per-epoch reports."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from benchmarks import catalog
from runners.optimizer import make_result
from runners.optimizers.lcextrap import LCExtrapolation
from runners.registry import make_optimizer
from runners.simulator import Budget, simulate

EPOCHS = np.arange(1.0, 51.0)


@pytest.fixture(scope="module")
def bench():
    return catalog.load("lcbench-car")  # valid cross-entropy (log scale), epochs 1..50


def _optimizer(bench, **kw):
    return LCExtrapolation(
        space=bench.space, fidelity=bench.fidelity, objective=bench.objective_metric, seed=0, **kw
    )


def _curve(final: float, start: float = 2.0, rate: float = 8.0) -> np.ndarray:
    """A loss curve falling from about ``start`` towards ``final``."""
    return final + (start - final) * np.exp(-EPOCHS / rate)


def _result(trial, loss, fid, reached=True):
    return make_result(trial, loss, loss, {}, 1.0, 1.0, "ok", fid if reached else None)


def _run(opt, trial, curve, upto):
    """Report the curve's epochs 1..upto; the decisions."""
    return [opt.report(trial, _result(trial, float(curve[e - 1]), float(e))) for e in range(1, upto + 1)]


def test_a_clearly_worse_curve_is_stopped_and_a_clearly_better_one_continues(bench):
    opt = _optimizer(bench)
    assert opt.scale == "log" and opt.grace == 5.0 and sorted(opt.check_at) == list(range(5, 50, 5))
    # three completed trials, final losses 0.5, 0.6 and 0.7; nothing is stopped before three completed
    for final, rate in ((0.5, 8.0), (0.6, 6.0), (0.7, 10.0)):
        t = opt.ask()
        assert t.reports == tuple(EPOCHS[:-1])
        curve = _curve(final, rate=rate)
        assert set(_run(opt, t, curve, 49)) == {"continue"}
        opt.tell(t, _result(t, float(curve[-1]), 50.0, reached=False))
    assert opt.best == pytest.approx(math.log(_curve(0.5)[-1])) and opt.n_checks == 0
    worse, better = opt.ask(), opt.ask()
    # a curve that has levelled off near 1.9 by epoch 5: its predicted final value cannot beat 0.5
    flat = 1.9 + 0.1 * np.exp(-EPOCHS / 2.0)
    assert _run(opt, worse, flat, 5) == ["continue"] * 4 + ["stop"]
    assert opt.probability_better([math.log(v) for v in flat[:5]]) < 0.05
    # a curve falling fast, below every completed one, towards 0.2: it continues at every check
    fast = _curve(0.2, start=1.0, rate=4.0)
    assert set(_run(opt, better, fast, 49)) == {"continue"}
    assert opt.probability_better([math.log(v) for v in fast[:5]]) > 0.4
    d = opt.describe()
    assert (d["n_stopped"], d["n_completed"], d["n_checks"]) == (1, 3, 1 + 9)
    assert d["threshold"] == 0.05 and d["check_fidelities"] == [float(e) for e in range(5, 50, 5)]


def test_fewer_completed_trials_than_min_samples_stop_nothing(bench):
    opt = _optimizer(bench, min_samples=4, check_every=1, grace=3.0)
    for final in (0.5, 0.6, 0.7):
        t = opt.ask()
        curve = _curve(final)
        _run(opt, t, curve, 49)
        opt.tell(t, _result(t, float(curve[-1]), 50.0, reached=False))
    t = opt.ask()
    assert set(_run(opt, t, np.full(50, 3.0), 49)) == {"continue"} and opt.n_checks == 0
    for bad in (
        {"threshold": 1.0},
        {"check_every": 0},
        {"min_samples": 1},
        {"refit_growth": 0.5},
        {"scale": "x"},
    ):
        with pytest.raises(ValueError):
            _optimizer(bench, **bad)


class Timed(LCExtrapolation):
    seconds = 0.0
    reports = 0

    def _report(self, trial, result):
        t = time.process_time()
        d = super()._report(trial, result)
        Timed.seconds += time.process_time() - t
        Timed.reports += 1
        return d


def test_on_lcbench_car_it_stops_trials_and_beats_random_search(bench):
    # the final test regret of the incumbent (the best validation value of the run, at any fidelity: the
    # convention of runners.analysis), mean over five seeds, 30 full-fidelity evaluations, 4 workers; measured:
    # 0.035 against random search's 0.179 (median-stopping: 0.044)
    best, sign = bench.optimum(bench.test_objective), bench.objective_metric.sign

    def regret(run):
        ev = run.events[np.isfinite(run.events["objective"])]
        i = int(np.argmin(sign * ev["objective"].to_numpy()))
        return sign * (ev["test_objective"].to_numpy()[i] - best)

    budget = Budget("evaluations", 30)
    rs, lc = [], []
    for s in range(5):
        rs.append(regret(simulate(bench, make_optimizer("rs"), seed=s, n_workers=4, budget=budget)))
        run = simulate(bench, Timed, seed=s, n_workers=4, budget=budget)
        assert (
            run.summary["n_stopped"] > 0 and run.optimizer.describe()["n_stopped"] == run.summary["n_stopped"]
        )
        lc.append(regret(run))
    assert np.mean(lc) < 0.5 * np.mean(rs), (lc, rs)  # well below, not merely no worse
    assert Timed.seconds / Timed.reports < 0.005  # CPU per report, on average (measured: about 0.2 ms)


def test_same_seed_same_events(bench):
    budget = Budget("evaluations", 8)
    a, b, c = (
        simulate(bench, make_optimizer("lc-extrapolation"), seed=s, n_workers=3, budget=budget)
        for s in (1, 1, 2)
    )
    assert a.events.equals(b.events) and not a.events.equals(c.events)
    assert a.summary["n_repeated_fresh"] == 0 and a.summary["n_redirected"] == 0
