"""The sections' budget cuts: an optimizer run stopped by the clock, the costliest runs last."""

from __future__ import annotations

import time

from perf.optimizers import SLOWEST, _timing_asks
from runners.registry import OPTIMIZERS
from runners.simulator import Budget, simulate
from runners.testing import toy_benchmark


def test_the_costliest_runs_are_registered_optimizers():
    assert set(SLOWEST) <= set(OPTIMIZERS) and len(set(SLOWEST)) == len(SLOWEST)


def test_an_optimizer_run_stops_at_its_deadline_and_says_so(tmp_path):
    bench = toy_benchmark(tmp_path / "toy", n_configs=50, fidelities=(1, 2, 3, 4))
    budget = Budget("evaluations", 40)
    acc, stopped = [0.0, 0], []
    full = simulate(bench, _timing_asks(OPTIMIZERS["rs"], acc), seed=0, n_workers=2, budget=budget)
    assert full.summary["n_events"] >= 40 and acc[1] > 40
    acc, stopped = [0.0, 0], []
    # the deadline has passed: no trial starts, the run ends at once, and the stop is recorded
    cut = simulate(
        bench,
        _timing_asks(OPTIMIZERS["rs"], acc, time.perf_counter() - 1, stopped),
        seed=0,
        n_workers=2,
        budget=budget,
    )
    assert cut.summary["n_events"] == 0 and stopped == [True] and acc == [0.0, 0]
    assert cut.summary["stop_reason"] == "optimizer_done"


def test_rows_of_a_run_the_clock_stopped_say_so():
    from perf.optimizers import _stopped

    assert _stopped({}, "bohb", "optuna-tpe") == ""
    assert _stopped({"optuna-tpe": 1234}, "bohb", "optuna-tpe") == (
        "optuna-tpe's first run stopped by the clock after 1,234 results"
    )
