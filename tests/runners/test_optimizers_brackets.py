"""The shared bracket logic: rungs, Hyperband sizes, synchronous SH with async workers, ASHA's rule."""

from __future__ import annotations

import math

import pytest
from optimizer_lines import N_X, by_fidelity, drive, line_loss, make, quality, result

from benchmarks.protocol import Fidelity
from runners.optimizers import ASHA, Hyperband, SuccessiveHalving
from runners.optimizers.brackets import AshaRungs, hyperband_brackets, rung_ladder, successive_halving_sizes

# Li et al. 2018, Table 1: R = 81, eta = 3; (n_i, r_i) per bracket s = 4..0
LI_TABLE = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(34, 3), (11, 9), (3, 27), (1, 81)],
    2: [(15, 9), (5, 27), (1, 81)],
    1: [(8, 27), (2, 81)],
    0: [(5, 81)],
}


def test_hyperband_brackets_match_the_published_table():
    fid = Fidelity("epoch", tuple(float(v) for v in range(1, 82)))
    ladder = rung_ladder(fid, 3)
    assert ladder == (1, 3, 9, 27, 81)
    s_max = len(ladder) - 1
    sizes = hyperband_brackets(s_max, 3)
    for k, s in enumerate(range(s_max, -1, -1)):
        got = list(zip(sizes[k], ladder[s_max - s :]))
        assert got == LI_TABLE[s], f"bracket s={s}"


def test_hyperband_optimizer_plans_the_published_brackets():
    hb = make(Hyperband, fidelities=tuple(range(1, 82)))
    for k, s in enumerate([4, 3, 2, 1, 0, 4]):
        sizes, fids = hb.plan(k)
        assert list(zip(sizes, fids)) == LI_TABLE[s]


def test_hpbandster_sizing_differs_as_documented():
    assert hyperband_brackets(4, 3, "hpbandster") == [
        (81, 27, 9, 3, 1),
        (27, 9, 3, 1),
        (9, 3, 1),
        (6, 2),
        (5,),
    ]
    with pytest.raises(ValueError, match="sizing"):
        hyperband_brackets(4, 3, "bohb")


def test_rungs_are_rounded_to_held_fidelities():
    assert rung_ladder(Fidelity("epoch", tuple(float(v) for v in range(1, 101))), 3) == (1, 4, 11, 33, 100)
    # a coarse table: every lower rung rounds to 1, and duplicates are dropped
    assert rung_ladder(Fidelity("epoch", (1.0, 100.0)), 3) == (1, 100)
    assert rung_ladder(Fidelity("epoch", tuple(float(v) for v in range(1, 51))), 3, min_fidelity=5) == (
        6,
        17,
        50,
    )
    with pytest.raises(ValueError, match="eta"):
        rung_ladder(Fidelity("epoch", (1.0, 2.0)), 1)


def test_successive_halving_sizes():
    assert successive_halving_sizes(27, 4, 3) == (27, 9, 3, 1)
    assert successive_halving_sizes(10, 3, 3) == (10, 3, 1)
    assert successive_halving_sizes(4, 4, 2.5) == (4, 1, 1, 1)
    with pytest.raises(ValueError, match="n=0"):
        successive_halving_sizes(0, 3, 3)


def test_sh_keeps_exactly_the_top_floor_n_over_eta_and_continues_them():
    sh = make(SuccessiveHalving, max_brackets=1)
    assert sh.sizes == (27, 9, 3, 1)
    told = drive(sh, n_results=10_000, n_workers=5)
    assert sh.done
    per = by_fidelity(told)
    assert [len(per[f]) for f in (1, 3, 9, 27)] == [27, 9, 3, 1]
    for lo, hi in [(1, 3), (3, 9), (9, 27)]:
        ranked = sorted(per[lo], key=quality)  # ties keep arrival order, as the optimizer does
        kept = [t for t in told if t.fidelity == hi]
        assert sorted(t.config["x"] for t in kept) == sorted(ranked[: len(per[lo]) // 3])
    by_id = {t.trial_id: t for t in told}
    for t in told:
        if t.fidelity > 1:
            prev = by_id[t.continues]
            assert prev.config == t.config and prev.fidelity < t.fidelity


def test_diverged_results_rank_last():
    # x = 7 is the best configuration but diverges: it must not be promoted while finite ones exist
    sh = make(SuccessiveHalving, max_brackets=1, n_configs=N_X, fidelities=(1, 3))
    told = drive(
        sh, loss=lambda t: math.nan if t.config["x"] == 7 else line_loss(t), n_results=1000, n_workers=3
    )
    assert 7 not in by_fidelity(told)[3]


def test_next_rung_waits_for_its_results_and_the_next_bracket_starts_meanwhile():
    hb = make(Hyperband, fidelities=(1, 3, 9), max_brackets=2)
    n0 = hb.bracket_sizes[0][0]  # 9 configurations at epoch 1 in the first bracket
    first = [hb.ask() for _ in range(n0)]
    assert {t.info["bracket"] for t in first} == {0} and all(t.fidelity == 1 for t in first)
    nxt = hb.ask()  # bracket 0 waits for its results: bracket 1 starts
    assert nxt.info["bracket"] == 1 and nxt.fidelity == 3
    for t in first[:-1]:
        hb.tell(t, result(t, line_loss(t)))
    # one result of round 0 is missing: bracket 0 cannot promote yet, so bracket 1 keeps going
    assert all(hb.ask().info["bracket"] == 1 for _ in range(hb.bracket_sizes[1][0] - 1))
    assert hb.ask() is None  # both brackets wait, and max_brackets=2 were started
    hb.tell(first[-1], result(first[-1], line_loss(first[-1])))
    promo = hb.ask()
    assert promo.info == {"bracket": 0, "rung": 1} and promo.continues is not None
    best = min(first, key=lambda t: (line_loss(t), t.trial_id))
    assert promo.continues == best.trial_id


def test_asha_promotes_without_waiting_and_promotes_the_right_config():
    asha = make(ASHA, fidelities=(1, 3, 9))
    trials = [asha.ask() for _ in range(5)]  # five workers busy at the bottom rung
    losses = [0.5, 0.2, 0.9, 0.1, 0.3]
    for t, loss in zip(trials[:2], losses[:2]):
        asha.tell(t, result(t, loss))
    t = asha.ask()  # 2 results: floor(2/3) = 0 promotable -> a new configuration
    assert t.continues is None and t.fidelity == 1
    asha.tell(trials[2], result(trials[2], losses[2]))
    t = asha.ask()  # 3 results, 3 trials still running: promote the best of the three now
    assert t.continues == trials[1].trial_id and t.fidelity == 3
    assert asha.ask().continues is None  # the top-1 is promoted already
    for tr, loss in zip(trials[3:], losses[3:]):
        asha.tell(tr, result(tr, loss))
    # 5 results, floor(5/3) = 1: the best is now trials[3] (0.1), not yet promoted
    t2 = asha.ask()
    assert t2.continues == trials[3].trial_id
    asha.tell(t, result(t, 0.05))
    asha.tell(t2, result(t2, 0.04))
    # rung 1 has 2 results: floor(2/3) = 0; rung 0 has 5 results and its top-1 is promoted already
    assert asha.ask().continues is None


def test_asha_looks_from_the_top_rung_down():
    rungs = AshaRungs((1, 3, 9), 3)
    hb = make(Hyperband, fidelities=(1, 3, 9))  # only used to make trials
    bottom = [hb.new_trial({"x": i}, 1) for i in range(9)]
    for i, t in enumerate(bottom):
        rungs.record(0, t, float(i))
    middle = [hb.new_trial({"x": i}, 3) for i in range(3)]
    for i, t in enumerate(middle):
        rungs.record(1, t, float(10 + i))
    k, e = rungs.next_promotion()
    assert k == 1 and e.trial is middle[0]
    rungs.mark_promoted(1, e)
    k, e = rungs.next_promotion()
    assert k == 0 and e.trial is bottom[0]
    assert rungs.n_top(0) == 3


class _ScanAshaRungs:
    """ASHA's rule as it was written before the heaps: sorted rungs, a scan of each rung's top per ask."""

    def __init__(self, fidelities, eta):
        self.fidelities, self.eta = tuple(fidelities), float(eta)
        self.rungs = [[] for _ in self.fidelities]
        self.promoted = [set() for _ in self.fidelities]
        self._order = 0

    def record(self, rung, trial, loss):
        import bisect

        from runners.optimizers.brackets import Entry

        bisect.insort(self.rungs[rung], Entry(loss, self._order, trial), key=lambda x: x.key)
        self._order += 1

    def n_top(self, rung):
        return math.floor(len(self.rungs[rung]) / self.eta + 1e-9)

    def next_promotion(self):
        for k in range(len(self.fidelities) - 2, -1, -1):
            for e in self.rungs[k][: self.n_top(k)]:
                if e.trial.trial_id not in self.promoted[k]:
                    return k, e
        return None

    def mark_promoted(self, rung, entry):
        self.promoted[rung].add(entry.trial.trial_id)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("eta", [2, 3, 2.5])
def test_asha_heaps_choose_exactly_what_the_sorted_scan_chose(seed, eta):
    """The heap-based rule (O(log n) per record and ask) returns the same (rung, entry) as a scan of the
    sorted rungs at every step, with ties (few distinct losses), infinite (diverged) losses, promotions
    of entries the rule did not pick, and results arriving in any rung order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    fids = (1, 3, 9, 27)
    new, old = AshaRungs(fids, eta), _ScanAshaRungs(fids, eta)
    hb = make(Hyperband, fidelities=(1, 3, 9, 27))  # only used to make trials
    recorded: list[tuple[int, object]] = []
    for step in range(3000):
        u = rng.random()
        if u < 0.55 or not recorded:
            k = int(rng.choice(len(fids) - 1, p=[0.6, 0.3, 0.1]))
            t = hb.new_trial({"x": step}, fids[k])
            loss = math.inf if rng.random() < 0.05 else float(rng.integers(0, 20)) / 4
            new.record(k, t, loss)
            old.record(k, t, loss)
            recorded.append((k, t))
        elif u < 0.97:
            a, b = new.next_promotion(), old.next_promotion()
            assert (a is None) == (b is None), step
            if a is not None:
                assert a[0] == b[0] and a[1].trial is b[1].trial and a[1].key == b[1].key, step
                new.mark_promoted(*a)
                old.mark_promoted(*b)
        else:  # a promotion the rule did not choose (an entry anywhere in its rung)
            k, t = recorded[int(rng.integers(len(recorded)))]
            e = next(x for x in old.rungs[k] if x.trial is t)
            new.mark_promoted(k, e)
            old.mark_promoted(k, e)
        if step % 500 == 0:
            for k in range(len(fids)):
                assert new.n_top(k) == old.n_top(k)
                assert [e.trial for e in new.ranked(k)] == [e.trial for e in old.rungs[k]]


@pytest.mark.parametrize("method", [SuccessiveHalving, Hyperband])
def test_a_table_smaller_than_the_first_round_still_promotes(tmp_path, method):
    # 20 configurations where the first round wants 27 (a published LCDB table holds 20 learners): the round
    # ends at the 20 it started and its best go on, instead of waiting for 7 results that can never come
    import functools

    from benchmarks.synthetic import make_synthetic_table
    from benchmarks.tabular import TabularBenchmark
    from runners.simulator import Budget, simulate

    bench = TabularBenchmark.from_path(
        make_synthetic_table(tmp_path / "t", n_configs=20, n_seeds=1, n_epochs=27)
    )
    run = simulate(
        bench, functools.partial(method, eta=3), seed=0, n_workers=2, budget=Budget("evaluations", 50)
    )
    ev = run.events
    assert ev["fidelity"].max() == bench.fidelity.max and ev["continues"].notna().any()
    top = ev[ev["fidelity"] == bench.fidelity.max]
    assert len(top) >= 1 and run.summary["stop_reason"] == "table_exhausted"
    first = ev[ev["continues"].isna()]
    assert first["config_id"].nunique() == len(first)  # no configuration trained twice from scratch
