"""The simulator on a tiny synthetic table whose costs can be checked by hand (runners.testing)."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from benchmarks.protocol import Benchmark
from runners.optimizer import Optimizer, OptimizerError, RandomSearch, Trial, TrialResult
from runners.results import write_run
from runners.simulator import Budget, simulate
from runners.testing import toy_benchmark


class RepeatingRS(RandomSearch):
    """Random search with replacement (repeats allowed): runs longer than the toy table's size."""

    repeats = "allow"


# In the toy table, configuration c costs (c + 1) seconds per epoch, fidelities are 1..4 epochs.


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_benchmark(tmp_path_factory.mktemp("runner") / "toy", n_configs=6, seeds=(0, 1, 2))


@pytest.fixture(scope="module")
def toy_diverged(tmp_path_factory):
    return toy_benchmark(
        tmp_path_factory.mktemp("runner") / "toy-div", n_configs=4, diverged=[1], name="toy-div"
    )


class Scripted(Optimizer):
    repeats = "allow"  # the script says what to run, repeats included

    """Asks the scripted (config_id, fidelity, index of the trial to continue or None) steps in order.

    A step whose continued trial has not been told yet makes ``ask`` return None (wait).
    """

    def __init__(self, *, bench, steps, done_at_end=False, **kw):
        super().__init__(**kw)
        self.bench, self.steps, self.done_at_end = bench, list(steps), done_at_end
        self.made: list[Trial] = []
        self.told: dict[int, TrialResult] = {}
        self.seen_pending: list[list[int]] = []

    def _ask(self):
        self.seen_pending.append(sorted(self.pending))
        if not self.steps:
            self.done = self.done_at_end
            return None
        cid, fid, cont = self.steps[0]
        if cont is not None:
            prev = self.made[cont]
            if prev.trial_id not in self.told:
                return None
            self.steps.pop(0)
            t = self.continue_trial(prev, fid)
        else:
            self.steps.pop(0)
            t = self.new_trial(self.bench.config(cid), fid)
        self.made.append(t)
        return t

    def _tell(self, trial, result):
        self.told[trial.trial_id] = result


def scripted(bench, steps, **kw):
    return lambda **base: Scripted(bench=bench, steps=steps, **kw, **base)


RESULTS_100 = Budget("results", 100)


def run(bench, opt, budget=RESULTS_100, n_workers=2, seed=0, **kw):
    return simulate(bench, opt, seed=seed, n_workers=n_workers, budget=budget, **kw)


def test_two_workers_known_event_times(toy):
    steps = [(0, 4, None), (2, 1, None), (1, 1, None), (2, 3, 1), (0, 1, None)]
    r = run(toy, scripted(toy, steps, done_at_end=True))
    ev = r.events.set_index("trial_id")
    # t0: config 0 to 4 epochs on worker 0, 0..4 s; t1: config 2 to 1 epoch on worker 1, 0..3 s
    # at 3 s worker 1 starts t2 (config 1, 1 epoch: 2 s) -> 5 s
    # at 4 s worker 0 continues t1 to 3 epochs: 3 s/epoch * (3 - 1) = 6 s -> 10 s
    # at 5 s worker 1 starts t4 (config 0, 1 epoch: 1 s) -> 6 s
    expect = {0: (0, 0.0, 4.0), 1: (1, 0.0, 3.0), 2: (1, 3.0, 5.0), 3: (0, 4.0, 10.0), 4: (1, 5.0, 6.0)}
    for tid, (w, t0, t1) in expect.items():
        assert (ev.loc[tid, "worker"], ev.loc[tid, "t_start"], ev.loc[tid, "t_end"]) == (w, t0, t1), tid
    assert list(r.events["trial_id"]) == [1, 0, 2, 4, 3]  # finish order
    assert ev.loc[3, "cost"] == 6.0 and ev.loc[3, "fidelity_from"] == 1.0 and ev.loc[3, "continues"] == 1
    assert pd.isna(ev.loc[0, "continues"]) and ev.loc[0, "fidelity_from"] == 0.0
    assert r.summary["stop_reason"] == "optimizer_done" and r.summary["end_time"] == 10.0
    assert r.summary["n_cancelled"] == 0 and r.summary["n_events"] == 5


def test_continued_trial_keeps_seed_and_reads_that_seed(toy):
    steps = [(3, 1, None), (3, 2, 0), (3, 4, 1)] * 1
    for seed in range(6):
        r = run(toy, scripted(toy, steps, done_at_end=True), n_workers=1, seed=seed)
        ev = r.events
        assert ev["seed"].nunique() == 1
        s = int(ev["seed"].iloc[0])
        for _, row in ev.iterrows():
            q = toy.query(3, row["fidelity"], s)
            assert row["objective"] == pytest.approx(q["valid_loss"])
            assert row["test_objective"] == pytest.approx(q["test_loss"])
            assert row["cost"] == pytest.approx(
                q.cost - (toy.query(3, row["fidelity_from"], s).cost if row["fidelity_from"] else 0)
            )
        assert list(ev["cost"]) == [4.0, 4.0, 8.0]  # 4 s/epoch: 1, then +1, then +2 epochs


def test_benchmark_seed_is_drawn_from_run_seed(toy):
    seeds = [
        tuple(run(toy, RandomSearch, seed=k, budget=Budget("results", 30)).events["seed"]) for k in range(3)
    ]
    again = tuple(run(toy, RandomSearch, seed=0, budget=Budget("results", 30)).events["seed"])
    assert seeds[0] == again
    assert len(set(seeds)) == 3
    assert set(np.concatenate(seeds)) <= set(toy.seeds)


def test_optimizer_sees_validation_metrics_only(toy):
    seen = []

    class Spy(RepeatingRS):
        def _tell(self, trial, result):
            seen.append(result)

    run(toy, Spy, budget=Budget("results", 10))
    assert len(seen) == 10
    for res in seen:
        assert set(res.metrics) == {"valid_loss", "train_loss"}
        assert res.value == res.metrics["valid_loss"] and res.loss == res.value and res.status == "ok"


def test_results_record_test_and_all_metrics(toy):
    ev = run(toy, RandomSearch, budget=Budget("results", 5)).events
    assert {
        "metric.valid_loss",
        "metric.train_loss",
        "metric.test_loss",
        "objective",
        "test_objective",
    } <= set(ev)
    assert (ev["test_objective"] == ev["metric.test_loss"]).all()
    assert np.allclose(ev["test_objective"] - ev["objective"], 0.5)


def test_diverged_status_and_infinite_loss(toy_diverged):
    seen = []
    steps = [(1, 1, None), (1, 2, 0)]

    class Spy(Scripted):
        def _tell(self, trial, result):
            super()._tell(trial, result)
            seen.append(result)

    r = run(
        toy_diverged, lambda **kw: Spy(bench=toy_diverged, steps=steps, done_at_end=True, **kw), n_workers=1
    )
    assert list(r.events["status"]) == ["ok", "diverged"]
    assert seen[1].status == "diverged" and seen[1].loss == math.inf and math.isnan(seen[1].value)
    assert r.summary["n_diverged"] == 1


def test_pending_trials_are_known_to_the_optimizer(toy):
    steps = [(0, 1, None), (1, 1, None), (2, 1, None)]
    opt = Scripted(
        bench=toy,
        steps=steps,
        done_at_end=True,
        space=toy.space,
        fidelity=toy.fidelity,
        objective=toy.objective_metric,
        seed=0,
    )
    run(toy, opt, n_workers=2)
    # worker 1 asks while trial 0 is pending; after trial 0 (1 s) finishes, trial 1 (2 s) is still pending
    assert opt.seen_pending[:3] == [[], [0], [1]]
    assert opt.pending == {}


# ---------------------------------------------------------------- budgets
def test_time_budget_records_events_up_to_the_time(toy):
    full = run(toy, RepeatingRS, budget=Budget("results", 200)).events
    r = run(toy, RepeatingRS, budget=Budget("time", 50.0))
    ev = r.events
    assert (ev["t_end"] <= 50.0).all()
    expected = full[full["t_end"] <= 50.0]
    assert len(ev) == len(expected) and list(ev["trial_id"]) == list(expected["trial_id"])
    # the trials running at 50 s are cancelled: one per worker
    assert (
        r.summary["n_cancelled"] == 2 and r.summary["end_time"] == 50.0 and r.summary["budget_used"] == 50.0
    )


def test_fidelity_and_evaluation_budgets(toy):
    steps = [(0, 1, None), (1, 2, None), (0, 3, 0), (2, 4, None), (3, 4, None), (4, 4, None)]
    # 1 worker: epochs trained per event 1, 2, 2, 4, 4, 4 -> cumulative 1, 3, 5, 9, 13, 17
    r = run(toy, scripted(toy, steps), n_workers=1, budget=Budget("fidelity", 9))
    assert list(r.events["trial_id"]) == [0, 1, 2, 3] and r.summary["budget_used"] == 9.0
    r = run(toy, scripted(toy, steps), n_workers=1, budget=Budget("fidelity", 9.5))
    assert len(r.events) == 5 and r.summary["budget_used"] == 13.0  # the event crossing the budget is kept
    # full-fidelity equivalents: 9.5 epochs / 4 epochs = 2.375 evaluations
    r = run(toy, scripted(toy, steps), n_workers=1, budget=Budget("evaluations", 2.375))
    assert len(r.events) == 5 and r.summary["budget_used"] == pytest.approx(13 / 4)
    # with 2 workers, the trial running when the budget is reached is cancelled
    r = run(toy, scripted(toy, steps), n_workers=2, budget=Budget("fidelity", 1))
    assert len(r.events) == 1 and r.summary["n_cancelled"] == 1


def test_results_budget_and_random_search_at_max_fidelity(toy):
    r = run(toy, RepeatingRS, n_workers=3, budget=Budget("results", 17))
    assert len(r.events) == 17 and (r.events["fidelity"] == 4.0).all()
    assert r.summary["n_cancelled"] == 2  # the two other workers were busy
    r2 = run(toy, RepeatingRS, n_workers=3, budget=Budget("evaluations", 17))
    pd.testing.assert_frame_equal(r.events, r2.events)


@pytest.mark.parametrize(
    "kind,amount", [("days", 1), ("time", 0), ("time", -1), ("results", math.inf), ("time", True)]
)
def test_bad_budgets(kind, amount):
    with pytest.raises(ValueError, match="budget"):
        Budget(kind, amount)


def test_bad_arguments(toy):
    with pytest.raises(ValueError, match="n_workers"):
        run(toy, RandomSearch, n_workers=0)
    with pytest.raises(ValueError, match="overhead"):
        run(toy, RandomSearch, overhead="wall")
    with pytest.raises(ValueError, match="seed"):
        run(toy, RandomSearch, seed=-1)


# ---------------------------------------------------------------- contract violations
@pytest.mark.parametrize(
    "steps,match",
    [
        ([(0, 1, None), (0, 1, 0)], "already reached|not above"),
        ([(0, 1, None), (0, 2, 0), (0, 3, 0)], "already continued"),
        ([(0, 3, None)] + [(0, 5, None)], "fidelity"),
    ],
)
def test_contract_violations(toy, steps, match):
    with pytest.raises((OptimizerError, ValueError), match=match):
        run(toy, scripted(toy, steps), n_workers=1)


def test_continue_a_running_trial_is_an_error(toy):
    class Eager(Optimizer):
        def _ask(self):
            if self.n_trials == 0:
                self.first = self.new_trial(toy.config(0), 1)
                return self.first
            return self.continue_trial(self.first, 2)  # the first trial is still running on worker 0

        def _tell(self, trial, result):
            pass

    with pytest.raises(OptimizerError, match="still running"):
        run(toy, Eager, n_workers=2)


def test_continue_with_another_config_is_an_error(toy):
    class Swap(Scripted):
        def continue_trial(self, previous, fidelity, **info):
            tid = self._next_id
            self._next_id += 1
            return Trial(tid, self.bench.config(5), fidelity, previous.trial_id, info)

    with pytest.raises(OptimizerError, match="different configuration"):
        run(toy, lambda **kw: Swap(bench=toy, steps=[(0, 1, None), (0, 2, 0)], **kw), n_workers=1)


def test_stalling_optimizer_is_an_error(toy):
    with pytest.raises(OptimizerError, match="returned None while no trial is pending"):
        run(toy, scripted(toy, [(0, 1, None)], done_at_end=False))


def test_config_not_in_table_is_an_error(toy):
    class Outside(RandomSearch):
        def _ask(self):
            return self.new_trial({"lr": 0.5, "layers": 1, "units": 16, "act": "relu"}, 4)

    with pytest.raises(Exception, match="not in table"):
        run(toy, Outside)


# ---------------------------------------------------------------- reproducibility and overhead
def test_byte_identical_results_files(toy, tmp_path):
    from runners.results_format import EVENTS_FILE

    def write(seed, where):
        r = run(toy, RandomSearch, seed=seed, budget=Budget("results", 40), n_workers=3)
        write_run(tmp_path / where, r, {"status": "complete"})
        return (tmp_path / where / EVENTS_FILE).read_bytes()

    a, b, c = write(7, "a"), write(7, "b"), write(8, "c")
    assert a == b
    assert a != c


class _Wrapped(Benchmark):
    """A non-tabular view of a table: exercises the simulator's generic (query-based) path."""

    def __init__(self, inner):
        self.inner = inner
        for k in (
            "name",
            "space",
            "fidelity",
            "metrics",
            "objective",
            "test_objective",
            "seeds",
            "default_seed",
            "provenance",
        ):
            setattr(self, k, getattr(inner, k))

    def _query(self, config, fidelity, seed):
        return self.inner.query(config, fidelity, seed)

    def _curve(self, config, seed):
        return self.inner.curve(config, seed)

    def _query_batch(self, configs, fidelities, seeds, metrics, with_cost):
        return self.inner.query_batch(configs, fidelities, seeds, metrics, with_cost)

    def optimum(self, metric=None):
        return self.inner.optimum(metric)

    def configurations(self):
        return self.inner.configurations()


def test_generic_path_matches_table_path(toy):
    steps = [(0, 1, None), (1, 2, None), (0, 3, 0), (2, 4, None), (3, 4, None), (1, 4, 1)]
    a = run(toy, scripted(toy, steps, done_at_end=True), n_workers=2).events
    b = run(_Wrapped(toy), scripted(toy, steps, done_at_end=True), n_workers=2).events
    pd.testing.assert_frame_equal(a, b)
    a = run(toy, RandomSearch, budget=Budget("time", 200)).events
    b = run(_Wrapped(toy), RandomSearch, budget=Budget("time", 200)).events
    pd.testing.assert_frame_equal(a, b)


def test_measured_overhead_enters_the_clock(toy):
    class Slow(RandomSearch):
        def _ask(self):
            time.sleep(0.02)
            return super()._ask()

    zero = run(toy, Slow, n_workers=1, budget=Budget("results", 3))
    assert "optimizer_seconds" not in zero.events and zero.summary["optimizer_seconds"] >= 0.06
    assert zero.events["t_start"].iloc[0] == 0.0
    meas = run(toy, Slow, n_workers=1, budget=Budget("results", 3), overhead="measured")
    ev = meas.events
    assert (ev["optimizer_seconds"] >= 0.02).all()
    assert ev["t_start"].iloc[0] >= 0.02
    assert (ev["t_start"].iloc[1:].to_numpy() - ev["t_end"].iloc[:-1].to_numpy() >= 0.02).all()


def test_time_budget_with_a_stuck_clock_is_an_error(tmp_path, monkeypatch):
    import runners.simulator as sim

    free = toy_benchmark(tmp_path / "free", n_configs=3, cost_per_unit=[0.0, 0.0, 0.0], name="free")
    monkeypatch.setattr(sim, "MAX_EVENTS_AT_ONE_TIME", 50)
    with pytest.raises(OptimizerError, match="without the clock advancing"):
        run(free, RepeatingRS, budget=Budget("time", 10.0))


def test_random_search_on_published_fcnet_naval():
    import benchmarks

    try:
        bench = benchmarks.load("pub-fcnet-naval")
    except Exception as e:  # noqa: BLE001 - the published tables are optional here
        pytest.skip(f"pub-fcnet-naval cannot be loaded: {e}")
    r = run(bench, RandomSearch, n_workers=4, budget=Budget("evaluations", 50), seed=1)
    ev = r.events
    assert len(ev) == 50 and (ev["fidelity"] == bench.fidelity.max).all()
    assert set(ev["seed"]) <= set(bench.seeds)
    for _, row in ev.head(5).iterrows():
        q = bench.query(int(row["config_id"]), row["fidelity"], int(row["seed"]))
        assert row["objective"] == pytest.approx(q[bench.objective]) and row["cost"] == pytest.approx(q.cost)
    # events happen in finish order and the 4 workers overlap in time
    assert ev["t_end"].is_monotonic_increasing and ev["worker"].nunique() == 4


def test_an_empty_event_log_has_the_columns_and_dtypes_of_a_run(toy):
    from runners.simulator import EventLog

    ev = run(toy, RandomSearch, budget=Budget("results", 5)).events
    for measured in (False, True):
        empty = EventLog(measured).to_frame(toy, toy.evaluator(toy.objective))
        cols = list(ev.columns) + (["optimizer_seconds"] if measured else [])
        assert list(empty.columns) == cols and len(empty) == 0
        assert [str(empty[c].dtype) for c in ev.columns] == [str(d) for d in ev.dtypes]


def test_the_simulator_asks_the_benchmark_s_evaluator_only(toy):
    """Per evaluation the simulator uses the evaluator hook and nothing else of the benchmark: an evaluator that
    counts its calls sees every evaluation, and query is never called."""
    from benchmarks.tabular import TableEvaluator

    calls = {"evaluate": 0, "query": 0}

    class Counting(TableEvaluator):
        def evaluate(self, config, fidelity, seed):
            calls["evaluate"] += 1
            return super().evaluate(config, fidelity, seed)

    class Watched(_Wrapped):
        def evaluator(self, metric=None, reported=()):
            return Counting(self.inner, self.metric(metric).name, reported)

        def _query(self, config, fidelity, seed):
            calls["query"] += 1
            return super()._query(config, fidelity, seed)

    r = run(Watched(toy), RandomSearch, budget=Budget("results", 12))
    pd.testing.assert_frame_equal(r.events, run(toy, RandomSearch, budget=Budget("results", 12)).events)
    assert calls == {"evaluate": r.summary["n_trials"], "query": 0}
    assert (
        r.summary["table_fraction"]
        == run(toy, RandomSearch, budget=Budget("results", 12)).summary["table_fraction"]
    )
    # trials that report as they train: the subclass's evaluate answers every report too (the table's fast path
    # for a continuing trial belongs with the table's evaluate, not with an override of evaluate alone)
    from runners.optimizers.stopping import MedianStopping

    calls["evaluate"] = 0
    r = run(Watched(toy), MedianStopping, budget=Budget("results", 60))
    pd.testing.assert_frame_equal(r.events, run(toy, MedianStopping, budget=Budget("results", 60)).events)
    assert r.summary["n_reports"] > 0 and calls["evaluate"] >= len(r.events)


def test_a_continuation_on_a_fidelity_that_is_not_incremental_pays_the_whole_cost(toy):
    import dataclasses

    from benchmarks.tabular import TabularBenchmark

    t = toy.table
    refit = TabularBenchmark(
        dataclasses.replace(t, fidelity=dataclasses.replace(t.fidelity, incremental=False)), name="toy-refit"
    )
    steps = [(3, 1, None), (3, 2, 0), (3, 4, 1)]
    for bench, costs, trained in ((toy, [4.0, 4.0, 8.0], 4.0), (refit, [4.0, 8.0, 16.0], 7.0)):
        r = run(bench, scripted(bench, steps, done_at_end=True), n_workers=1, budget=Budget("fidelity", 100))
        ev = r.events
        s = int(ev["seed"].iloc[0])
        assert ev["seed"].nunique() == 1  # a refit keeps its trial's seed, as a continuation does
        assert list(ev["cost"]) == costs  # incremental: 1, +1, +2 epochs; refit: 1, 2, 4 from scratch
        assert list(ev["cost"])[-1] == (bench.query(3, 4, s).cost - (8.0 if bench is toy else 0.0))
        assert list(ev["fidelity_from"]) == [0.0, 1.0, 2.0]  # what it continued, either way
        assert r.summary["budget_used"] == trained  # fidelity units trained: 1+1+2, or 1+2+4
