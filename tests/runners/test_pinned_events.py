"""Pinned events: runs of the numpy-only built-in optimizers give the events recorded in reference/pinned_events.json.

A rerun with the same seed must give byte-identical events (docs/runner.md), and a change to the simulator or to an
optimizer that is not meant to change its behaviour (a refactor, per-epoch reports, a speed-up) must not change
them either. Each case's events are digested column by column (exact bytes of the numbers). When a change is
meant to alter a method's events, or a numpy release changes its random streams, rewrite the pins with

    python tests/runners/test_pinned_events.py --update

and say in the commit why they changed. Model-based methods (GPs, KDEs, Optuna) are left out: their last bits
follow the installed scipy and scikit-learn, which a fresh install may upgrade.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PINS = Path(__file__).with_name("reference") / "pinned_events.json"
#: (benchmark, optimizer, n_workers, budget kind, amount, seed)
CASES = [
    ("lcbench-car", "rs", 4, "evaluations", 30, 0),
    ("lcbench-car", "sh", 4, "evaluations", 30, 1),
    ("lcbench-car", "hyperband", 4, "evaluations", 30, 2),
    ("lcbench-car", "asha", 8, "evaluations", 30, 3),
    ("fcnet-naval", "hyperband", 2, "time", 3600, 4),
    ("fcnet-naval", "asha", 4, "evaluations", 20, 5),
    ("lcbench-vehicle", "id-hyperband", 4, "evaluations", 30, 6),
    ("lcbench-vehicle", "median-stopping", 4, "evaluations", 20, 7),
]


def case_id(case: tuple) -> str:
    return "{}/{}/w{}/{}={}/seed{}".format(*case)


def events_digest(events: pd.DataFrame) -> str:
    """sha256 over the columns' names and exact values (numbers as their bytes, text as UTF-8)."""
    h = hashlib.sha256()
    for name in events.columns:
        col = events[name]
        h.update(name.encode() + b"\0")
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            h.update(np.ascontiguousarray(col.to_numpy(dtype=np.float64, na_value=np.nan)).tobytes())
        else:
            h.update("\0".join(map(str, col.tolist())).encode())
    return h.hexdigest()


def run_case(case: tuple) -> str:
    from benchmarks import catalog
    from runners.registry import make_optimizer
    from runners.simulator import Budget, simulate

    bench, opt, workers, kind, amount, seed = case
    r = simulate(
        catalog.load(bench), make_optimizer(opt), seed=seed, n_workers=workers, budget=Budget(kind, amount)
    )
    return events_digest(r.events)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_events_are_the_pinned_ones(case):
    pins = json.loads(PINS.read_text())
    assert case_id(case) in pins, f"no pin for {case_id(case)}: run this file with --update"
    assert run_case(case) == pins[case_id(case)], (
        f"{case_id(case)}: the events changed. If that is intended, rewrite the pins "
        "(python tests/runners/test_pinned_events.py --update) and say why in the commit"
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/runners/test_pinned_events.py --update")
    PINS.write_text(json.dumps({case_id(c): run_case(c) for c in CASES}, indent=1) + "\n")
    print(f"written: {PINS}")
