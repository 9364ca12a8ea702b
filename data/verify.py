"""Re-train a table's rows live and compare them with what the table holds (faithfulness checks).

    python -m data.verify data/tables/lcbench-australian --configs 3 --epochs 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.io import hardware
from benchmarks.table import Table, read_table

from .datasets import load_splits
from .engine import resolve_device, train_group
from .families import get_family
from .rng import run_key


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _table(path: str | Path | Table, *, verify: bool = True) -> Table:
    return path if isinstance(path, Table) else read_table(path, verify=verify)


def retrain(path: str | Path | Table, config_id: int, seed: int, *, epochs: int | None = None,
            device: str = "cpu", threads: int | None = None) -> dict[str, np.ndarray]:
    """Train one (config_id, seed) row of a generated table again; returns metric -> per-epoch values.

    ``epochs`` trains only the first epochs (the schedule stays the table's, so
    those epochs are the same as in the full run). ``threads`` is the CPU
    thread count to train with; by default the one the table was recorded
    with, because a different count changes the floating-point rounding of
    the reductions, and 100 epochs of training can amplify that to
    differences of several percent. The caller's thread count is restored.
    ``path`` may be a table already read.
    """
    table = _table(path)
    if threads is None:
        threads = table.manifest["provenance"].get("recording_hardware", {}).get("threads")
        if not isinstance(threads, int):  # not recorded, or shards that mixed thread counts: no single answer
            threads = None
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _retrain(table, config_id, seed, epochs=epochs, device=device)
    finally:
        torch.set_num_threads(before)


def _retrain(table: Table, config_id: int, seed: int, *, epochs: int | None, device: str) -> dict[str, np.ndarray]:
    sweep = table.manifest["provenance"]["sweep"]
    family = get_family(sweep["family"])
    data = load_splits(sweep["dataset"], split_seed=sweep["split_seed"], max_train_rows=sweep.get("max_train_rows"),
                       **family.preprocessing)
    config = {k: _py(table.configs.iloc[config_id][k]) for k in table.manifest["hyperparameters"]}
    dev = resolve_device(device)
    spec = family.build([config], [run_key(config, seed)], data, epochs=int(sweep["epochs"]), device=dev)
    if epochs is not None:
        spec.lr = spec.lr[:, :epochs]
    res = train_group(spec, data, device=dev)
    return res.metrics


def compare(path: str | Path | Table, config_id: int, seed: int, *, epochs: int | None = None) -> float:
    """Largest relative difference between a table row and its live re-run.

    Epochs where both are NaN (a run that diverged in both) agree; an epoch where only one of them is
    NaN is a mismatch and gives ``inf``.
    """
    table = _table(path)
    live = retrain(table, config_id, seed, epochs=epochs)
    s = list(table.seeds).index(seed)
    worst = 0.0
    for m, v in live.items():
        stored = table.metric_values(m)[config_id, s, : v.shape[1]]
        ns, nl = np.isnan(stored), np.isnan(v[0])
        if (ns != nl).any():
            return float("inf")
        ok = ~ns
        if ok.any():
            rel = np.abs(stored[ok] - v[0][ok]) / np.maximum(np.abs(v[0][ok]), 1e-6)
            worst = max(worst, float(rel.max()))
    return worst


def on_recording_cpu(path: str | Path | Table) -> tuple[bool, str, list[str]]:
    """Whether this machine's CPU is the one the table's runs were trained on: (same, this cpu, recording cpus).

    Only there does a full-length re-run reproduce a row to float rounding. Another CPU model can pick
    other BLAS and vector kernels, whose rounding differs in the last bits; a training run is chaotic
    enough that 100 epochs of it can grow that into differences as large as seed noise (docs/data.md).
    """
    table = _table(path, verify=False)
    cpus = list(table.manifest["provenance"].get("recording_hardware", {}).get("cpus", []))
    here = hardware().get("cpu", "")
    return here in cpus, here, cpus


def cheapest_rows(path: str | Path | Table, n: int) -> list[int]:
    """The ``n`` configurations with the fewest parameters times steps (quick to re-train)."""
    table = _table(path, verify=False)
    cfg = table.configs
    work = cfg["n_params"].to_numpy(dtype=float) / cfg["batch_size"].to_numpy(dtype=float)
    return [int(i) for i in np.argsort(work, kind="stable")[:n]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data.verify", description=__doc__.split("\n")[0])
    p.add_argument("table")
    p.add_argument("--configs", type=int, default=3, help="how many (cheapest) configurations to re-train")
    p.add_argument("--epochs", type=int, default=None, help="re-train only the first epochs")
    p.add_argument("--tolerance", type=float, default=1e-3)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    table = read_table(args.table)
    same, here, cpus = on_recording_cpu(table)
    if not same:
        print(f"note: this CPU ({here}) is not the one the table was recorded on ({', '.join(cpus) or 'unknown'}); "
              f"expect the first epoch to agree and later epochs to drift apart (see docs/data.md)")
    bad = 0
    for cid in cheapest_rows(table, args.configs):
        for seed in table.seeds:
            d = compare(table, cid, seed, epochs=args.epochs)
            ok = d <= args.tolerance
            bad += not ok
            print(f"config {cid} seed {seed}: max relative difference {d:.2e} {'ok' if ok else 'MISMATCH'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
