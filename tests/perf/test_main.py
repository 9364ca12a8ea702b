"""perf's driver: the --busy option, the page naming it, and the budget's cuts (scaling checkpoints, seeds)."""

from __future__ import annotations

import os

import pytest

from perf import common
from perf.__main__ import BUDGET_S, SCRIPTS, TOTAL_BUDGET_S, _busy_arg
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
