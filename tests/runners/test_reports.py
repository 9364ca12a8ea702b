"""Trials that report as they train: per-epoch reports, stop, pause and thaw, and the median stopping rule."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import catalog
from runners.optimizer import Optimizer, OptimizerError, RandomSearch, TrialResult, make_result
from runners.optimizers.stopping import MedianStopping
from runners.registry import make_optimizer
from runners.simulator import Budget, simulate


@pytest.fixture(scope="module")
def bench():
    return catalog.load("lcbench-car")


class EveryEpoch(RandomSearch):
    """Random search whose trials report every epoch and always continue."""

    def _ask(self):
        t = super()._ask()
        return self.new_trial(t.config, t.fidelity, reports="every")


def test_reporting_every_epoch_changes_nothing_but_adds_the_reports(bench):
    # a time budget ends both runs at the same instant (a budget in epochs counts reported epochs as they
    # happen, so it ends a reporting run earlier: the epochs of trials still running are counted)
    budget = Budget("time", 30.0)
    # seed 0 draws no configuration that diverges by then (a diverged report ends its trial early)
    plain = simulate(bench, make_optimizer("rs"), seed=0, n_workers=4, budget=budget)
    every = simulate(bench, EveryEpoch, seed=0, n_workers=4, budget=budget)
    ev = every.events
    assert plain.summary["n_events"] >= 10
    assert every.summary["n_reports"] == (ev["fidelity"] < bench.fidelity.max).sum() > 0
    final = ev[ev["fidelity"] == bench.fidelity.max].reset_index(drop=True)
    cols = ["config_id", "seed", "worker", "objective", "test_objective"]
    assert plain.events["objective"].notna().all()
    assert final[cols].equals(plain.events[cols])  # same trials, same values, on the same workers
    np.testing.assert_allclose(final["t_end"], plain.events["t_end"], rtol=1e-12)  # the same finishing times
    for _, g in ev.groupby("trial_id"):
        assert g["fidelity"].tolist() == list(bench.fidelity.values)[: len(g)]
        assert np.allclose(g["fidelity_from"].to_numpy()[1:], g["fidelity"].to_numpy()[:-1])
        assert np.allclose(g["t_start"].to_numpy()[1:], g["t_end"].to_numpy()[:-1])
        assert g["worker"].nunique() == 1
    again = simulate(bench, EveryEpoch, seed=0, n_workers=4, budget=budget)
    assert again.events.equals(ev)


class StopAt(Optimizer):
    """Fresh trials at the maximum fidelity reporting at ``at``; the first one is paused there and thawed later
    to the maximum, the others stopped there."""

    def __init__(self, *, at: float = 3.0, **kw):
        super().__init__(**kw)
        self.at, self.told, self.reported, self.paused = at, [], [], None
        self.thawed = False

    def _ask(self):
        if self.paused is not None and not self.thawed:
            self.thawed = True
            return self.continue_trial(self.paused, self.fidelity.max)
        return self.new_trial(self.sampler.sample_one(self.rng, self.fidelity.max), reports=[self.at])

    def _report(self, trial, result):
        self.reported.append((trial.trial_id, result.fidelity, result.cost))
        return "pause" if trial.trial_id == 0 else "stop"

    def _tell(self, trial, result):
        self.told.append((trial, result))
        if trial.trial_id == 0:
            self.paused = trial


def test_stop_and_pause_end_the_trial_at_the_report_and_thaw_pays_the_increment(bench):
    r = simulate(bench, StopAt, seed=0, n_workers=2, budget=Budget("results", 8))
    opt, ev = r.optimizer, r.events
    assert r.summary["n_paused"] == 1 and r.summary["n_stopped"] >= 4
    first = opt.told[0][1]
    assert first.fidelity == 3.0 and first.reached == 3.0 and opt.reached_at[0] == 3.0
    for tid, f, cost in opt.reported:  # the cost charged so far is the table's cost to the report
        row = ev[(ev["trial_id"] == tid) & (ev["fidelity"] == f)].iloc[0]
        want = bench.query(bench.config(int(row["config_id"])), fidelity=f, seed=int(row["seed"])).cost
        assert cost == pytest.approx(want)
    thaw = ev[ev["continues"] == 0].iloc[0]
    assert thaw["fidelity_from"] == 3.0 and thaw["fidelity"] == bench.fidelity.max
    cfg = bench.config(int(thaw["config_id"]))
    s = int(thaw["seed"])
    increment = bench.query(cfg, seed=s).cost - bench.query(cfg, fidelity=3.0, seed=s).cost
    assert thaw["cost"] == pytest.approx(increment)
    # a stopped trial frees its worker at the report: no trial of this run trains past epoch 3 but the thaw
    assert set(ev.loc[ev["continues"].isna(), "fidelity"]) == {3.0}


class BadDecision(EveryEpoch):
    def _report(self, trial, result):
        return "halt"


def test_a_bad_decision_and_bad_report_points_are_refused(bench):
    with pytest.raises(OptimizerError, match="'halt'.*allowed: continue, stop, pause"):
        simulate(bench, BadDecision, seed=0, n_workers=1, budget=Budget("results", 3))
    opt = RandomSearch(space=bench.space, fidelity=bench.fidelity, objective=bench.objective_metric, seed=0)
    with pytest.raises(ValueError, match="'each'"):
        opt.new_trial({}, 50.0, reports="each")
    t = opt.new_trial({}, 10.0, reports=[5.0, 20.0, 2.0, 5.0, 10.0])
    assert t.reports == (2.0, 5.0)  # strictly below the trial's fidelity, sorted, once each
    assert opt.new_trial({}, 10.0).reports is None


def _result(trial, loss, fid, reached=True):
    return make_result(trial, loss, loss, {}, 1.0, 1.0, "ok", fid if reached else None)


def test_the_median_stopping_rule_compares_the_best_so_far_with_the_median_running_average(bench):
    opt = MedianStopping(
        space=bench.space, fidelity=bench.fidelity, objective=bench.objective_metric, seed=0, min_samples=3
    )
    steps = list(bench.fidelity.values)
    # three completed trials with constant curves 1, 2 and 3: running averages 1, 2, 3 at every step
    for level in (1.0, 2.0, 3.0):
        t = opt.ask()
        assert t.reports == tuple(steps[:-1])
        for f in steps[:-1]:
            assert opt.report(t, _result(t, level, f)) == "continue"  # fewer than 3 completed: never stops
        opt.tell(t, _result(t, level, steps[-1], reached=False))
    worse, better = opt.ask(), opt.ask()
    assert opt.report(worse, _result(worse, 2.5, steps[0])) == "stop"  # best 2.5 > median 2
    assert opt.report(better, _result(better, 2.5, steps[0])) == "stop"
    fresh = opt.ask()
    assert opt.report(fresh, _result(fresh, 1.9, steps[0])) == "continue"
    # the best value so far counts, not the last: 1.9 then 2.2 stays below the median 2
    assert opt.report(fresh, _result(fresh, 2.2, steps[1])) == "continue"
    assert opt.n_stopped == 2


def test_median_stopping_spends_its_budget_on_more_configurations(bench):
    rs = simulate(bench, make_optimizer("rs"), seed=1, n_workers=4, budget=Budget("evaluations", 30))
    ms = simulate(
        bench, make_optimizer("median-stopping"), seed=1, n_workers=4, budget=Budget("evaluations", 30)
    )
    assert ms.summary["n_stopped"] > 0
    assert ms.events["trial_id"].nunique() > 3 * rs.events["trial_id"].nunique()
    assert isinstance(ms.optimizer.describe()["n_stopped"], int)


def test_trial_results_keep_their_fidelity_when_they_reached_their_trials():
    from runners.optimizer import Trial

    t = Trial(0, {}, 50.0)
    assert TrialResult(t, 1.0, 1.0, {}, 1.0, 1.0).fidelity == 50.0
    assert TrialResult(t, 1.0, 1.0, {}, 1.0, 1.0, reached=3.0).fidelity == 3.0


@pytest.mark.parametrize("name", ["optuna-median", "optuna-pruner-hb"])
def test_optunas_own_pruners_decide_through_the_reports(bench, name):
    pytest.importorskip("optuna")
    import optuna

    r = simulate(bench, make_optimizer(name), seed=0, n_workers=4, budget=Budget("evaluations", 25))
    opt, ev = r.optimizer, r.events
    trials = opt.study.get_trials(deepcopy=False)
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(pruned) == opt.n_pruned == r.summary["n_stopped"] > 0
    steps = set(range(1, len(bench.fidelity.values) + 1))
    # every report reached Optuna, at its step (the position of its epoch), but a diverged one (never asked)
    told = sum(len(t.intermediate_values) for t in trials)
    failed = sum(t.state == optuna.trial.TrialState.FAIL for t in trials)
    assert r.summary["n_reports"] - failed <= told <= r.summary["n_reports"]
    assert all(set(t.intermediate_values) <= steps for t in trials)
    last = ev.groupby("trial_id").tail(1)
    assert all(t.values[0] in set(last["objective"]) for t in done)  # COMPLETE: told the final loss
    assert len(done) == (last["fidelity"] == bench.fidelity.max).sum()
    assert opt.describe()["pruner"] == ("median" if name == "optuna-median" else "hyperband")
    again = simulate(bench, make_optimizer(name), seed=0, n_workers=4, budget=Budget("evaluations", 25))
    assert again.events.equals(ev)
