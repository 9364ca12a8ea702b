"""perf's driver: the --busy option, the page naming it, and the budget's cuts (scaling checkpoints, seeds)."""

from __future__ import annotations

import os

import pytest

from perf import common
from perf.__main__ import BUDGET_S, SCRIPTS, TOTAL_BUDGET_S, _budget_arg, _busy_arg, shares
from perf.common import Report, busy_loops, markdown, stop
from perf.scaling import NOT_SCALED, TO_1M, VARIANTS, _checkpoints
from runners.registry import OPTIMIZERS


def test_busy_option_is_parsed_and_removed():
    assert _busy_arg(["tables", "--busy", "2", "--quick"]) == (["tables", "--quick"], 2)
    assert _busy_arg(["tables"]) == (["tables"], 0)


@pytest.mark.parametrize("bad", [[], ["x"], ["0"], ["-1"], ["65"]])
def test_busy_option_names_a_bad_value(bad):
    with pytest.raises(SystemExit, match="--busy") as e:
        _busy_arg(["--busy", *bad])
    assert "whole number 1-64" in str(e.value)


def test_busy_loops_run_until_stopped():
    procs = busy_loops(1)
    try:
        assert procs[0].poll() is None  # running
    finally:
        stop(procs)
    assert procs[0].poll() is not None


def test_a_busy_loop_ends_when_its_parent_is_gone(tmp_path):
    import subprocess
    import sys
    import time

    # a parent that starts one loop, prints its pid and is killed without stopping it
    code = (
        "import time; from perf.common import busy_loops; "
        "print(busy_loops(1)[0].pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if _zombie(pid):
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    raise AssertionError("the busy loop outlived its parent")


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False


def test_the_page_says_a_run_was_beside_busy_loops(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    Report("sec").save()
    run = {"section_seconds": {"sec": 5.0}, "total_seconds": 5.0, "budget_seconds": 600, "busy_loops": 2}
    assert "`python -m perf --busy 2`, 5 s in all" in markdown(["sec"], run)
    run["busy_loops"] = 0
    assert "`python -m perf`, 5 s in all" in markdown(["sec"], run)


def test_section_budgets_fit_the_total():
    assert set(BUDGET_S) == set(SCRIPTS)
    assert sum(BUDGET_S.values()) <= TOTAL_BUDGET_S


def test_scaling_takes_two_methods_to_1m_and_the_others_to_100k_unless_asked_for_all():
    cps = [1_000, 100_000, 1_000_000]
    for name in TO_1M:
        assert name in OPTIMIZERS and _checkpoints(name, cps) == cps
    for name in ("dehb", "hyperband", "re", "sh", "topk", "median-stopping"):
        assert _checkpoints(name, cps) == [1_000, 100_000]
        assert _checkpoints(name, cps, every=True) == cps
    assert _checkpoints("bohb (cap 64)", cps) == [1_000, 30_000]  # its own last checkpoint
    assert not set(TO_1M) & set(NOT_SCALED) and not set(TO_1M) & set(VARIANTS)


def test_each_section_gets_its_share_of_the_time_left():
    full = shares(SCRIPTS, TOTAL_BUDGET_S)
    assert full == pytest.approx({n: BUDGET_S[n] * TOTAL_BUDGET_S / sum(BUDGET_S.values()) for n in SCRIPTS})
    # the sections after one that overran by 60 s share what is left, in proportion
    rest = SCRIPTS[1:]
    late = shares(rest, TOTAL_BUDGET_S, spent=BUDGET_S[SCRIPTS[0]] + 60)
    assert sum(late.values()) == pytest.approx(TOTAL_BUDGET_S - BUDGET_S[SCRIPTS[0]] - 60)
    assert late[rest[0]] / late[rest[1]] == pytest.approx(BUDGET_S[rest[0]] / BUDGET_S[rest[1]])
    # the budget spent: each still gets a tenth of its nominal share (its least rounds)
    assert shares(rest, TOTAL_BUDGET_S, spent=10 * TOTAL_BUDGET_S) == {n: BUDGET_S[n] / 10 for n in rest}


def test_budget_option_is_parsed_and_names_a_bad_value():
    assert _budget_arg(["tables", "--budget", "300"]) == (["tables"], 300.0)
    assert _budget_arg(["tables"]) == (["tables"], None)
    for bad in ([], ["x"], ["5"], ["nan"], ["1e9"]):
        with pytest.raises(SystemExit, match="--budget .*from 10 to 86400"):
            _budget_arg(["--budget", *bad])


def test_a_run_of_ask_and_tell_stops_at_its_deadline_keeping_whole_checkpoints():
    import time

    from runners.testing import time_ask_tell

    full = time_ask_tell("rs", 0, [1_000], block=256, n_blocks=2)
    assert full["stop"] == "n_results" and set(full["times"]) == {1_000}
    # a deadline already past: the run stops at the first check (1,024 results), before its window is complete
    cut = time_ask_tell("rs", 0, [1_000], block=256, n_blocks=2, deadline=time.time() - 1)
    assert cut["stop"] == "deadline" and cut["n_results"] == 1_024 and cut["times"] == {}


def test_a_deadline_keeps_the_checkpoints_whose_window_was_complete(monkeypatch):
    import runners.testing
    from runners.testing import time_ask_tell

    calls = []
    # the deadline (5) has passed from the second check on (2,048 results)
    monkeypatch.setattr(
        runners.testing.time, "time", lambda: calls.append(1) or (0.0 if len(calls) == 1 else 10.0)
    )
    cut = time_ask_tell("rs", 0, [1_000, 10_000], block=256, n_blocks=2, deadline=5.0)
    # the first checkpoint's window (1,000 to 1,512 results) was complete at the stop; the second never began
    assert cut["stop"] == "deadline" and cut["n_results"] == 2_048 and set(cut["times"]) == {1_000}


def test_the_page_names_the_sections_that_were_cut(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    Report("sec").save()
    run = {"section_seconds": {"sec": 5.0}, "total_seconds": 5.0, "budget_seconds": 600}
    assert "Cut to fit" not in markdown(["sec"], run)
    run["cuts"] = {"sec": ["x: 2 of 3 rounds"]}
    assert "Cut to fit the budget (the machine was slower than the sizes assume), in sec" in markdown(
        ["sec"], run
    )


def test_a_run_that_ends_on_a_check_is_not_reported_as_stopped_by_its_deadline(monkeypatch):
    import runners.testing
    from runners.testing import time_ask_tell

    calls = []
    # the deadline (5) passes between the check at 1,024 results and the run's end at 2,048
    monkeypatch.setattr(
        runners.testing.time, "time", lambda: calls.append(1) or (0.0 if len(calls) == 1 else 10.0)
    )
    run = time_ask_tell("rs", 2_048, deadline=5.0)
    assert run["stop"] == "n_results" and run["n_results"] == 2_048


def test_the_page_names_the_command_of_the_run_with_its_sections_and_options(tmp_path, monkeypatch):
    from perf.__main__ import _command

    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    Report("sec").save()
    assert _command(SCRIPTS, False, 0, None) == "python -m perf"
    cmd = _command(["tables", "simulator"], False, 2, 300.0)
    assert cmd == "python -m perf tables simulator --busy 2 --budget 300"
    run = {"command": cmd, "section_seconds": {"sec": 5.0}, "total_seconds": 5.0, "budget_seconds": 300}
    assert f"The run: `{cmd}`, 5 s in all (budget 300 s)" in markdown(["sec"], run)


def test_quick_refuses_a_budget_it_would_not_keep(capsys):
    from perf.__main__ import main

    assert main(["tables", "--quick", "--budget", "100"]) == 2
    assert "--budget 100 with --quick: the quick run is unclocked" in capsys.readouterr().err


def test_a_section_without_its_optional_baseline_is_skipped_and_a_missing_core_module_fails(monkeypatch):
    import types

    import perf.__main__ as driver

    def section(missing):
        def main(quick):
            raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)

        return types.SimpleNamespace(main=main)

    for missing, fails in (("pymoo.indicators", False), ("syne_tune", False), ("numpy", True)):
        monkeypatch.setattr(driver.importlib, "import_module", lambda name, m=missing: section(m))
        failed, seconds = [], {}
        driver._run_one("multiobjective", True, failed, seconds)
        assert failed == (["multiobjective"] if fails else []), missing
