"""Iterative deepening Hyperband (Brandt et al. 2023): deeper iterations continue the earlier ones' brackets."""

from __future__ import annotations

import pytest

from benchmarks import catalog
from runners.optimizer import ConfigSampler, make_result
from runners.optimizers.brackets import hyperband_brackets
from runners.optimizers.idhyperband import IDHyperband
from runners.registry import make_optimizer
from runners.simulator import Budget, simulate

UNLIMITED = Budget("evaluations", 10_000)


@pytest.fixture(scope="module")
def bench():
    return catalog.load("lcbench-car")  # epochs 1..50: rungs 2, 6, 17, 50 at eta = 3


class Recorded(IDHyperband):
    """IDHyperband that remembers the iteration, bracket and round of every trial it asks."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.asked = {}

    def _ask(self):
        t = super()._ask()
        if t is not None:
            self.asked[t.trial_id] = t
        return t


def _optimizer(bench, **kw):
    return Recorded(
        space=bench.space,
        fidelity=bench.fidelity,
        objective=bench.objective_metric,
        seed=0,
        sampler=ConfigSampler.for_benchmark(bench),
        **kw,
    )


def test_deeper_iterations_continue_the_earlier_winners_by_hand(bench):
    # driven by hand, one trial at a time; the loss of a configuration is the id of the trial that started it, so
    # configurations drawn earlier are better: every deeper bracket must keep its predecessor's winner on top
    opt = _optimizer(bench, max_iterations=4)
    assert opt.rungs == (2.0, 6.0, 17.0, 50.0) and opt.deepenings == 3 and opt.initial_max == 2.0
    root = {}
    while (t := opt.ask()) is not None:
        root[t.trial_id] = t.trial_id if t.continues is None else root[t.continues]
        opt.tell(t, make_result(t, root[t.trial_id], float(root[t.trial_id]), {}, 1.0, 1.0, "ok"))
    assert opt.done and opt.n_iterations == 4
    trials = opt.asked
    first = trials[0]
    assert first.info["iteration"] == 0 and first.fidelity == 2.0
    for it in (1, 2, 3):
        top = opt.rungs[it]
        at_top = [t for t in trials.values() if t.info["iteration"] == it and t.fidelity == top]
        deepened = [t for t in at_top if t.continues is not None]
        fresh = [t for t in at_top if t.continues is None]
        # each bracket the previous iteration ran is continued one rung deeper (Hyperband's last round size at the
        # new maximum), the new top paid from the old top
        assert len(deepened) == sum(hyperband_brackets(it, 3.0)[m][-1] for m in range(it))
        assert all(trials[t.continues].fidelity == opt.rungs[it - 1] for t in deepened)
        # ... by the previous iteration's winner: the trial continued there was asked in the previous iteration
        assert all(trials[t.continues].info["iteration"] == it - 1 for t in deepened)
        assert len(fresh) == hyperband_brackets(it, 3.0)[it][0]  # the new bracket s = 0 at the new top rung
    # the first configuration is the best throughout: one chain of trials, 2 -> 6 -> 17 -> 50, from scratch once
    chain = [t for t in trials.values() if root[t.trial_id] == 0]
    assert [(t.fidelity, t.info["iteration"]) for t in chain] == [(2.0, 0), (6.0, 1), (17.0, 2), (50.0, 3)]
    assert [t.continues for t in chain[1:]] == [t.trial_id for t in chain[:-1]]
    d = opt.describe()
    assert d["variant"] == "efficient" and d["n_iterations"] == 4 and d["n_carried"] > 0
    assert d["n_carried_promotions"] >= 3


def test_on_a_table_earlier_winners_are_continued_and_pay_only_the_increment(bench):
    run = simulate(
        bench, lambda **kw: Recorded(**kw, max_iterations=4), seed=0, n_workers=4, budget=UNLIMITED
    )
    assert run.summary["stop_reason"] == "optimizer_done"
    ev, asked, rungs = run.events, run.optimizer.asked, run.optimizer.rungs
    # no configuration is trained from scratch twice: every deeper evaluation continues its checkpoint
    assert ev.loc[ev["continues"].isna(), "config_id"].is_unique
    earlier = 0
    for it in (1, 2, 3):
        rows = ev[(ev["fidelity"] == rungs[it]) & (ev["fidelity_from"] == rungs[it - 1])]
        assert len(rows) >= 1 and rows["continues"].notna().all()
        for _, row in rows.iterrows():
            cfg, seed = bench.config(int(row["config_id"])), int(row["seed"])
            paid = bench.query(cfg, fidelity=rungs[it], seed=seed).cost
            paid -= bench.query(cfg, fidelity=rungs[it - 1], seed=seed).cost
            assert row["cost"] == pytest.approx(paid)  # only the increment from the old top rung
            earlier += asked[int(row["continues"])].info["iteration"] < it
    assert earlier >= 1  # some of them are winners of an earlier iteration, continued, not retrained


def test_with_the_final_maximum_it_is_one_hyperband_iteration(bench):
    # the check: after the last deepening, every bracket holds Hyperband's round sizes at Hyperband's rungs, so
    # the deepening run evaluates exactly as many configurations at each rung as one Hyperband iteration
    # (li sizing, s_max = 3: (27, 9, 3, 1), (12, 4, 1), (6, 2), (4)), and trains the same number of epochs
    idhb = simulate(
        bench, make_optimizer("id-hyperband", max_iterations=4), seed=0, n_workers=4, budget=UNLIMITED
    )
    hb = simulate(bench, make_optimizer("hyperband", max_brackets=4), seed=0, n_workers=4, budget=UNLIMITED)
    want = {2.0: 27, 6.0: 9 + 12, 17.0: 3 + 4 + 6, 50.0: 1 + 1 + 2 + 4}
    for run in (idhb, hb):
        assert run.events.groupby("fidelity")["config_id"].nunique().to_dict() == want
    assert (idhb.events["fidelity"] == 50.0).sum() == (hb.events["fidelity"] == 50.0).sum() == 8
    epochs = [(r.events["fidelity"] - r.events["fidelity_from"]).sum() for r in (idhb, hb)]
    assert epochs[0] == epochs[1]
    opt = idhb.optimizer
    for m, sizes in enumerate(hyperband_brackets(3, 3.0)):
        assert opt.bracket_plan(3, m) == (sizes, opt.rungs[m:])


def test_same_seed_same_events_and_no_deepening_is_hyperband(bench):
    budget = Budget("evaluations", 25)
    a = simulate(bench, make_optimizer("id-hyperband"), seed=2, n_workers=3, budget=budget)
    b = simulate(bench, make_optimizer("id-hyperband"), seed=2, n_workers=3, budget=budget)
    c = simulate(bench, make_optimizer("id-hyperband"), seed=5, n_workers=3, budget=budget)
    assert a.events.equals(b.events) and not a.events.equals(c.events)
    assert a.summary["n_repeated_fresh"] == 0 and a.summary["n_redirected"] == 0
    plain = simulate(bench, make_optimizer("id-hyperband", deepenings=0), seed=2, n_workers=3, budget=budget)
    hb = simulate(bench, make_optimizer("hyperband"), seed=2, n_workers=3, budget=budget)
    assert plain.events.equals(hb.events)


def test_settings_are_checked_and_recorded(bench):
    opt = _optimizer(bench, deepenings=1)
    d = opt.describe()
    assert d["deepenings"] == 1 and d["initial_max"] == 17.0 and d["rungs"] == [2.0, 6.0, 17.0, 50.0]
    assert _optimizer(bench, deepenings=99).deepenings == 3  # clipped to the ladder
    for bad in ({"deepenings": -1}, {"max_iterations": 0}, {"sizing": "x"}, {"eta": 1}):
        with pytest.raises(ValueError):
            _optimizer(bench, **bad)
