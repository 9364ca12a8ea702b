"""A tiny data-size family: one lcbench sweep on 1/27, 1/9, 1/3 and all of scikit-learn's digits."""

from __future__ import annotations

from pathlib import Path

import torch

from benchmarks.tabular import TabularBenchmark
from data.sweep import SweepConfig, run_sweep

DIVISORS = (27, 9, 3, 1)


def digits_datasize_parts(tmp: Path) -> list[TabularBenchmark]:
    """The same 4 configurations x 2 seeds x 3 epochs on each fraction, smallest first (about 3 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = []
        for k in DIVISORS:
            cfg = SweepConfig(
                family="lcbench",
                dataset="digits",
                n_configs=4,
                epochs=3,
                train_fraction=1.0 / k,
                calib_configs=2,
                calib_epochs=1,
                progress=False,
                sweeps_dir=str(tmp / "sweeps"),
                tables_dir=str(tmp / "tables"),
            )
            out.append(TabularBenchmark.from_path(run_sweep(cfg)))
        return out
    finally:
        torch.set_num_threads(before)
