"""Trials and results made on the simulator's fast path are the dataclasses' objects; the row hint; the event log."""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle

import pytest

from runners.optimizer import ConfigSampler, RandomSearch, Trial, TrialResult, make_result, make_trial
from runners.simulator import Budget, _Simulation, make_optimizer
from runners.testing import toy_benchmark


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_benchmark(tmp_path_factory.mktemp("records") / "toy", n_configs=8, seeds=(0, 1))


def test_make_trial_is_a_frozen_trial_equal_to_the_constructor_s():
    config, info = {"x": 1}, {"rung": 2}
    fast, slow = make_trial(3, config, 2.0, 1, info), Trial(3, config, 2.0, 1, info)
    assert type(fast) is Trial and repr(fast) == repr(slow)
    assert dataclasses.astuple(fast) == dataclasses.astuple(slow)
    assert fast._row is None and fast != slow and hash(fast) != hash(slow)  # identity, as every Trial
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.fidelity = 4.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast._row = 3
    for t in (fast, slow):  # no other attribute either (the dataclass's frozen __setattr__ raises TypeError)
        with pytest.raises((AttributeError, TypeError)):
            t.other = 1
    again = pickle.loads(pickle.dumps(fast))
    assert dataclasses.astuple(again) == dataclasses.astuple(fast) and copy.copy(fast).config == config


def test_make_result_is_a_frozen_result_equal_to_the_constructor_s():
    trial = make_trial(0, {"x": 1}, 1.0, None, {})
    fast = make_result(trial, 0.5, -0.5, {"m": 1.0}, 2.0, 3.0, "ok")
    slow = TrialResult(trial, 0.5, -0.5, {"m": 1.0}, 2.0, 3.0, "ok")
    assert type(fast) is TrialResult and repr(fast) == repr(slow)
    assert fast.trial_id == 0 and fast.config == {"x": 1} and fast.fidelity == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.loss = 0.0


def test_ask_hands_out_trials_with_the_row_of_their_configuration(toy):
    opt = RandomSearch(
        space=toy.space,
        fidelity=toy.fidelity,
        objective=toy.objective_metric,
        seed=0,
        sampler=ConfigSampler.for_benchmark(toy),
    )
    for _ in range(5):
        t = opt.ask()
        assert t._row == toy.config_id(t.config)
    continuous = RandomSearch(space=toy.space, fidelity=toy.fidelity, objective=toy.objective_metric, seed=0)
    assert continuous.ask()._row is None  # a sampler of the space: no rows


def test_the_event_log_s_rows_are_left_to_the_garbage_collector_s_young_generations(toy):
    """A row and a finished trial's record hold numbers only: once collected they are no longer tracked, so
    full collections do not walk every row of a long run."""

    class RS(RandomSearch):
        repeats = "allow"

    budget = Budget("results", 300)
    sim = _Simulation(toy, make_optimizer(toy, RS, 0, None, budget), 0, 3, budget, False)
    sim.run()
    gc.collect()
    assert len(sim.log.rows) == 300 and len(sim.log.configs) == 300
    assert not any(gc.is_tracked(r) for r in sim.log.rows)
    assert not any(gc.is_tracked(r) for r in sim.finished.values())


def test_the_simulator_passes_the_row_to_an_evaluate_that_takes_it_and_only_then(toy):
    from benchmarks.tabular import TableEvaluator
    from runners.simulator import simulate

    seen: dict[str, list] = {"row": [], "kwargs": []}

    class Rows(TableEvaluator):
        def evaluate(self, config, fidelity, seed, row=None):
            seen["row"].append((row, toy.config_id(config)))
            return super().evaluate(config, fidelity, seed, row)

    class Kwargs(TableEvaluator):
        def evaluate(self, config, fidelity, seed, **kwargs):  # written before the hint: gets none
            seen["kwargs"].append(kwargs)
            return super().evaluate(config, fidelity, seed)

    def run(evaluator_class):
        class Bench(type(toy)):
            def evaluator(self, metric=None, reported=()):
                return evaluator_class(self, self.metric(metric).name, reported)

        bench = Bench(toy.table, name=toy.name)
        return simulate(bench, RandomSearch, seed=1, n_workers=2, budget=Budget("results", 6)).events

    plain = simulate(toy, RandomSearch, seed=1, n_workers=2, budget=Budget("results", 6)).events
    assert run(Rows).equals(plain) and run(Kwargs).equals(plain)
    assert len(seen["row"]) >= 6 and all(row == cid for row, cid in seen["row"])
    assert len(seen["kwargs"]) >= 6 and not any(seen["kwargs"])
