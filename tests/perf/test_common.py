"""perf's pure helpers: alternating medians, load recording, the report's rows and page, the bare event loop."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest

from perf import common
from perf.common import Report, Timing, alternate, markdown, under_load
from perf.simulator import EveryEpochRandomSearch, bare_event_loop


def test_alternate_calls_the_measures_in_turn_and_takes_medians(monkeypatch):
    calls = []
    values = {"ours": iter([3.0, 1.0, 2.0]), "base": iter([10.0, 30.0, 20.0])}
    loads = iter([0.5, 0.6, 1.7, 1.8, 2.0, 2.1])
    monkeypatch.setattr(common, "load_now", lambda: next(loads))

    def measure(name):
        def fn():
            calls.append(name)
            return next(values[name])

        return fn

    t = alternate({"ours": measure("ours"), "base": measure("base")}, 3)
    assert calls == ["ours", "base"] * 3
    assert t["ours"].values == [3.0, 1.0, 2.0] and t["ours"].median == 2.0
    assert t["base"].median == 20.0
    assert t["ours"].loads == [0.5, 1.7, 2.0] and t["ours"].load == 1.7
    assert t["base"].load == 1.8


def test_the_load_is_the_median_of_runnable_samples_without_the_minute_average_lag(monkeypatch):
    samples = iter([1.0, 3.0, 2.0, 1.0, 5.0])
    monkeypatch.setattr(common, "runnable", lambda: next(samples))
    monkeypatch.setattr(common, "load_average", lambda: 9.0)  # a lagging minute average is not read
    assert common.load_now(gap=0.0) == 2.0


def test_an_emulated_proc_without_counts_falls_back_to_the_minute_average(monkeypatch, tmp_path):
    fake = tmp_path / "loadavg"
    fake.write_text("0.00 0.00 0.00 0/0 0\n")
    real_open = open
    monkeypatch.setattr(
        "builtins.open", lambda f, *a, **k: real_open(fake if f == "/proc/loadavg" else f, *a, **k)
    )
    monkeypatch.setattr(common, "load_average", lambda: 0.25)
    assert common.runnable() == 0.25


@pytest.mark.skipif(
    not os.path.exists("/proc/loadavg") or common.runnable() < 1 or os.cpu_count() != 2,
    reason="runnable tasks are counted in /proc/loadavg; on 2 cores two busy loops keep one waiting",
)
def test_the_load_shows_busy_processes_at_once():
    # two busy loops and this process on 2 cores: at least 3 runnable (each busy loop always is), whatever
    # else the machine runs; a lagging average or a count without them could read 1 or 2
    procs = common.busy_loops(2)
    try:
        deadline = time.monotonic() + 10.0
        while common.load_now() < 3 and time.monotonic() < deadline:  # until both have started
            time.sleep(0.1)
        assert common.load_now() >= 3
    finally:
        common.stop(procs)


def test_alternate_stops_calling_a_slow_measure_after_three_rounds():
    calls = []

    def measure(name, value):
        def fn():
            calls.append(name)
            return value

        return fn

    # "edge" is slow in one round only (a value at the limit is not over it): it is called every round
    edge = iter([5.0, 50.0, 50.0, 50.0, 50.0])
    t = alternate(
        {
            "ours": measure("ours", 1.0),
            "slow": measure("slow", 50.0),
            "edge": lambda: calls.append("edge") or next(edge),
        },
        5,
        slow=5.0,
    )
    assert calls.count("ours") == 5 and calls.count("slow") == common.SLOW_ROUNDS and calls.count("edge") == 5
    assert t["slow"].median == 50.0 and len(t["slow"].loads) == common.SLOW_ROUNDS
    assert alternate({"slow": measure("slow", 50.0)}, 5)["slow"].values == [50.0] * 5  # no limit given


@pytest.mark.parametrize("rounds", [0, -1, 1.5, True])
def test_alternate_rejects_bad_rounds(rounds):
    with pytest.raises(ValueError, match="rounds"):
        alternate({"a": lambda: 1.0}, rounds)


def test_alternate_needs_a_measure():
    with pytest.raises(ValueError, match="at least one measure"):
        alternate({}, 1)


def test_under_load_threshold():
    assert not under_load(None)
    assert not under_load(float("nan"))
    assert not under_load(common.UNDER_LOAD - 0.01)
    assert under_load(common.UNDER_LOAD)


def test_timing_load_ignores_unknown_values():
    assert Timing([1.0, 2.0], [float("nan"), 3.0]).load == 3.0
    assert math.isnan(Timing([1.0], [float("nan")]).load)


def test_report_rows_carry_setting_load_and_ratio():
    rep = Report("x")
    rep.add_timing(
        "m", Timing([2.0, 2.0], [0.2, 0.3]), Timing([10.0, 10.0], [1.9, 2.0]), "base", setting="warm"
    )
    rep.add("rate", 4.0, 2.0, "b", lower_is_better=False, target=3.0, load=float("nan"))
    r0, r1 = rep.rows
    assert r0["ratio"] == 5.0 and r0["setting"] == "warm"
    assert r0["load"] == pytest.approx(1.95) and r0["under_load"] is True
    assert r1["ratio"] == 2.0 and r1["meets_target"] is True
    assert r1["load"] is None and r1["under_load"] is False


def test_markdown_page_from_saved_results(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    rep = Report("sec")
    rep.add("query (ms)", 0.1, 1.0, "xgboost", target=0.2, setting="1 thread", load=2.5)
    rep.note("a note")
    rep.save()
    run = {"quick": False, "section_seconds": {"sec": 12.0}, "total_seconds": 12.0, "budget_seconds": 600}
    page = markdown(["sec", "missing"], run)
    assert "## sec" in page and "## missing" not in page
    assert "| query (ms) | 0.1 | 1 | 10.0x | <= 0.2: met | 2.5 under load | xgboost | 1 thread |" in page
    assert "12 s in all (budget 600 s); per section: sec 12 s" in page
    assert "- a note" in page
    path = common.write_results(["sec"], run)
    assert path.parent == tmp_path and '"sec"' in path.read_text()


def test_bare_event_loop_records_every_trial_on_the_table():
    values = np.arange(12, dtype=float).reshape(6, 2)
    cost = np.ones((6, 2))
    out = bare_event_loop(values, cost, 10, n_workers=3, seed=1)
    assert len(out["trial"]) == 10 and sorted(out["trial"].tolist()) == list(range(10))
    assert np.array_equal(out["value"], values[out["config"], out["seed"]])
    assert np.all(out["end"] - out["start"] == 1.0)
    assert np.all(np.diff(out["end"]) >= 0)  # finishes come in time order
    assert out["best"] == out["value"].min()
    with pytest.raises(ValueError, match="n_trials"):
        bare_event_loop(values, cost, 0)


def test_every_epoch_random_search_reports_each_epoch(tmp_path):
    from runners.simulator import Budget, simulate
    from runners.testing import toy_benchmark

    bench = toy_benchmark(tmp_path / "toy", n_configs=6, fidelities=(1, 2, 3, 4))
    r = simulate(bench, EveryEpochRandomSearch, seed=0, n_workers=2, budget=Budget("results", 12))
    ev = r.events
    assert len(ev) == 12
    # every result is one epoch: each trial reports every epoch as it trains (one row per epoch, in order)
    assert np.all(ev["fidelity"] - ev["fidelity_from"] == 1.0)
    assert ev["continues"].isna().all() and r.summary["n_reports"] > 0
    for _, g in ev.groupby("trial_id", sort=False):
        assert g["fidelity"].tolist() == list(range(1, len(g) + 1))


class _FakeTime:
    """A clock that moves only when told: ``time.perf_counter`` for perf.common."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def measure(self, seconds: float):
        """A measure that takes ``seconds`` on this clock and returns them."""

        def fn() -> float:
            self.now += seconds
            return seconds

        return fn


def _fake_time(monkeypatch) -> _FakeTime:
    fake = _FakeTime()
    monkeypatch.setattr(common.time, "perf_counter", fake)
    return fake


def test_alternate_cuts_rounds_that_would_end_past_its_share_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)  # the report's print saves it
    fake = _fake_time(monkeypatch)

    measure = fake.measure

    with common.section_clock(100.0, "sec") as clock:
        # a round takes 20 s; the share is 50 s: two rounds (the least) fit, a third would end at 60 s
        t = alternate({"ours": measure(5.0), "base": measure(15.0)}, 5, share=0.5, what="the thing")
        assert t["ours"].values == [5.0, 5.0] and t["base"].values == [15.0, 15.0]
        assert clock.cuts == ["the thing: 2 of 5 rounds"]
        assert clock.parts == [{"what": "the thing", "seconds": 40.0, "allotted": 50.0}]
        # a measure that fits its share runs every round and cuts nothing
        t = alternate({"ours": measure(1.0)}, 5, share=0.1, what="quick")
        assert len(t["ours"].values) == 5 and len(clock.cuts) == 1
        # the share is capped by the time the section has left (100 - 45 s): 3 of 4 rounds of 15 s fit in 55 s
        t = alternate({"ours": measure(15.0)}, 4, share=1.0, what="last")
        assert len(t["ours"].values) == 3 and clock.cuts[-1] == "last: 3 of 4 rounds"
        rep = Report("sec")
        rep.print()
        assert rep.notes[-1].startswith("cut to fit this section's share of the budget (100 s")
        assert "the thing: 2 of 5 rounds; last: 3 of 4 rounds" in rep.notes[-1]
    # outside a section the clock is unbounded: every round is taken, nothing is recorded
    t = alternate({"ours": measure(1e6)}, 4, share=0.01, what="x")
    assert len(t["ours"].values) == 4 and common.clock().cuts == [] and common.clock().parts == []


def test_a_part_never_cuts_below_its_least_rounds(monkeypatch):
    fake = _fake_time(monkeypatch)
    with common.section_clock(10.0) as clock:
        part = clock.part(0.1, "slow")
        done = []
        for r in part.rounds(5, least=3, cut=lambda r: f"{r} done"):
            fake.now += 100.0  # every round far past the share
            done.append(r)
        assert done == [0, 1, 2] and clock.cuts == ["slow: 3 done"]


@pytest.mark.parametrize("share", [0, -0.1, 1.5, True, "0.5"])
def test_a_part_names_a_bad_share(share):
    with pytest.raises(ValueError, match="share"):
        common.Clock(10.0).part(share)


@pytest.mark.parametrize("seconds", [0, -1, True, "10"])
def test_a_clock_names_a_bad_budget(seconds):
    with pytest.raises(ValueError, match="seconds"):
        common.Clock(seconds)


def test_section_clock_restores_the_clock_before():
    before = common.clock()
    with common.section_clock(5.0, "a") as c:
        assert common.clock() is c and c.bounded and c.name == "a"
    assert common.clock() is before and not before.bounded


def test_a_round_is_projected_without_the_measures_it_no_longer_calls(monkeypatch):
    fake = _fake_time(monkeypatch)

    measure = fake.measure

    with common.section_clock(100.0) as clock:
        # three rounds of 21 s take 63 of the 70 s share; the slow baseline is then left out (SLOW_ROUNDS),
        # so the next rounds take 1 s each and fit: none is cut
        t = alternate({"ours": measure(1.0), "base": measure(20.0)}, 5, slow=10.0, share=0.7, what="x")
        assert len(t["ours"].values) == 5 and len(t["base"].values) == common.SLOW_ROUNDS
        assert clock.cuts == []
