"""The projected compute of a sweep (python -m data.sweep ... project=true): counted, then measured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data.projection import GPU_EFFICIENCY, GPU_TFLOPS, describe, epoch_flops, project
from data.sweep import SweepConfig, prepare, run_sweep

ROOT = Path(__file__).resolve().parents[2]


def _cfg(tmp: Path, **kw) -> SweepConfig:
    base = dict(
        family="fcnet",
        dataset="diabetes",
        n_configs=5,
        epochs=2,
        shard_runs=2,
        max_group=2,
        calib_configs=2,
        calib_epochs=1,
        progress=False,
        sweeps_dir=str(tmp / "sweeps"),
        tables_dir=str(tmp / "tables"),
    )
    return SweepConfig(**{**base, **kw})


def test_the_projection_counts_every_run_and_writes_nothing(tmp_path):
    cfg = _cfg(tmp_path)
    sw = prepare(cfg, write=False)
    assert not (tmp_path / "sweeps").exists()  # no plan written
    p = project(sw)
    work = [sw.family.workload(sw.config(c), sw.data) for c in range(5)]
    assert p["runs"] == 10 and p["flops"] == pytest.approx(sum(epoch_flops(w) for w in work) * 2 * 2)
    assert all(w.macs > 0 and w.train_rows == len(sw.data.y_train) for w in work)
    assert p["gpu_hours"] == pytest.approx(p["flops"] / (GPU_TFLOPS * 1e12 * GPU_EFFICIENCY) / 3600)
    assert "measured" not in p and "no shard done yet" in describe(p)


def test_after_the_sweep_the_measured_rate_and_the_solo_cost_are_given(tmp_path):
    cfg = _cfg(tmp_path)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_sweep(cfg)
    finally:
        torch.set_num_threads(before)
    p = project(prepare(cfg, write=False))
    m = p["measured"]
    assert m["runs_done"] == 10 and m["shards_done"] == p["shards"] and m["devices"] == ["cpu"]
    assert m["wall_hours"] > 0 and m["hours_left"] == 0
    assert p["solo_hours"] > 0
    text = describe(p)
    assert "measured: " in text and "took" in text and "solo cost the table will record" in text


def test_project_true_on_the_command_line_prints_and_trains_nothing(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "data.sweep",
            "family=fcnet",
            "dataset=diabetes",
            "n_configs=7",
            "project=true",
            f"sweeps_dir={tmp_path / 'sweeps'}",
            f"tables_dir={tmp_path / 'tables'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "sweep fcnet-diabetes: 14 runs x 100 epochs" in out.stdout and "projected GPU time" in out.stdout
    assert not (tmp_path / "sweeps").exists() and not (tmp_path / "tables").exists()
