"""Every optimizer config in runners/conf/optimizer runs through ``python -m runners.run``.

One multirun per table (a one-fidelity table and a multi-fidelity one) over
every YAML, with a tiny budget; each run must finish with results at
fidelities the table holds, and optimizers whose optional library is missing
here are left out (their error is tested in test_runner_hydra).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import runners.run as run_mod
from runners.adapters._common import missing_library
from runners.registry import needs_transfer
from runners.results import read_events, read_meta
from runners.testing import write_toy_table

CONF = Path(run_mod.__file__).parent / "conf" / "optimizer"
ALL = sorted(p.stem for p in CONF.glob("*.yaml"))
RUNNABLE = [
    n
    for n in ALL
    # transfer methods learn from the other datasets of a shared configuration set, which a toy table has not
    # (tests/runners/test_transfer.py runs them on the lcbench-* tables)
    if missing_library(yaml.safe_load((CONF / f"{n}.yaml").read_text())["_target_"]) is None
    and not needs_transfer(n)
]


def test_the_config_tree_has_every_optimizer():
    assert len(ALL) >= 14 and {"rs", "dehb-lib", "topk", "smac-hyperband", "optuna-sha"} <= set(ALL)


@pytest.mark.parametrize("fidelities", [(4,), (1, 2, 3, 4)], ids=["one-fidelity", "multi-fidelity"])
def test_every_optimizer_config_runs_through_the_command_line(tmp_path, fidelities):
    table = write_toy_table(tmp_path / "toy", n_configs=12, fidelities=fidelities, name="toy")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "runners.run",
            "--multirun",
            "benchmark=table",
            f"benchmark.path={table}",
            "benchmark.name=toy",
            f"optimizer={','.join(RUNNABLE)}",
            "n_workers=2",
            "budget.kind=evaluations",
            "budget.amount=3",
            f"results_dir={tmp_path / 'res'}",
            "study=every",
            f"hydra.sweep.dir={tmp_path / 'mr'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    for name in RUNNABLE:
        folder = tmp_path / "res" / "every" / "toy" / name / "workers-2" / "seed-0"
        meta = read_meta(folder)
        assert meta is not None and meta["status"] == "complete", f"{name}: no finished run in {folder}"
        events = read_events(folder)
        assert len(events) >= 1, name
        assert set(events["fidelity"]) <= set(map(float, fidelities)), name
        assert meta["summary"]["budget_used"] >= 3 or meta["summary"]["stop_reason"] == "optimizer_done", name
