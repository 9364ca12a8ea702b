"""The sweep driver (a Hydra app): train sampled configurations of one family on one dataset, shard by shard.

    python -m data.sweep family=fcnet dataset=naval n_configs=1000 seeds=[0,1]
    python -m data.sweep --multirun family=lcbench dataset=australian,vehicle worker=0,1 n_workers=2 \\
        hydra/launcher=joblib
    python -m data.sweep --multirun ... hydra/launcher=slurm          # submitit on a Slurm cluster

Work is planned once (``plan.json`` in the sweep folder) and split into small
shards, each written atomically when done; rerunning the same command skips
finished shards, so a killed sweep resumes with no run lost or repeated. When
every shard is done the sweep merges them into a table (see :mod:`data.merge`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from benchmarks.io import atomic_write_json, code_version, hardware, utc_now

from . import costmodel
from .datasets import Splits, load_splits
from .engine import resolve_device, train_group
from .families import Family, get_family
from .rng import run_key
from .shards import (
    Plan,
    SweepStateError,
    done_shards,
    load_or_write_plan,
    make_plan,
    read_shard,
    shard_path,
    write_shard,
)

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass
class SweepConfig:
    """Every setting of a sweep (Hydra checks overrides against this schema)."""

    family: str = "fcnet"
    dataset: str = "naval"
    #: table and sweep-folder name; default "<family>-<dataset>"
    name: str | None = None
    n_configs: int = 1000
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    #: epochs to train; default the family's (fcnet 100, lcbench 50)
    epochs: int | None = None
    sample_seed: int = 0
    split_seed: int = 0
    #: subsample the training split to this many rows (documented in the table's card); null keeps all
    max_train_rows: int | None = None
    #: most runs trained together in one group, and runs per shard
    max_group: int = 32
    shard_runs: int = 32
    #: rough seconds one shard may take (estimated before any timing), so that a killed sweep loses little
    shard_seconds: float = 900.0
    #: this process does the shards whose index % n_workers == worker
    worker: int = 0
    n_workers: int = 1
    device: str = "auto"
    threads: int = 1
    #: where the raw datasets live; default $CURVEBENCH_DATA_ROOT, else the cache's datasets folder
    data_root: str | None = None
    #: where sweep folders and tables go; default the package's data/sweeps and data/tables
    sweeps_dir: str | None = None
    tables_dir: str | None = None
    #: merge into a table once every shard is done
    merge: bool = True
    overwrite_table: bool = False
    #: solo timings for the cost model: how many configurations, how many epochs each
    calib_configs: int = 16
    calib_epochs: int = 3
    #: stop after this many shards (time-boxing); null runs them all
    max_shards: int | None = None
    progress: bool = True


ConfigStore.instance().store(name="sweep_schema", node=SweepConfig)


def sweep_name(cfg: SweepConfig) -> str:
    return cfg.name or f"{cfg.family}-{cfg.dataset}"


def sweep_folder(cfg: SweepConfig) -> Path:
    return Path(cfg.sweeps_dir or PACKAGE_DIR / "sweeps") / sweep_name(cfg)


def table_folder(cfg: SweepConfig) -> Path:
    return Path(cfg.tables_dir or PACKAGE_DIR / "tables") / sweep_name(cfg)


def _check(cfg: SweepConfig) -> None:
    if cfg.n_configs < 1:
        raise ValueError(f"n_configs={cfg.n_configs} must be >= 1")
    if not cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds):
        raise ValueError(f"seeds={cfg.seeds} must be a non-empty list of distinct integers")
    if cfg.epochs is not None and cfg.epochs < 1:
        raise ValueError(f"epochs={cfg.epochs} must be >= 1")
    if not 0 <= cfg.worker < cfg.n_workers:
        raise ValueError(f"worker={cfg.worker} must lie in [0, n_workers={cfg.n_workers})")
    if cfg.threads < 1:
        raise ValueError(f"threads={cfg.threads} must be >= 1")
    at_least = {"max_group": (cfg.max_group, 1), "shard_runs": (cfg.shard_runs, 1), "calib_epochs": (cfg.calib_epochs, 1),
                "calib_configs": (cfg.calib_configs, 2), "max_train_rows": (cfg.max_train_rows, 2),
                "max_shards": (cfg.max_shards, 0)}
    for key, (value, low) in at_least.items():
        if value is not None and value < low:
            raise ValueError(f"{key}={value} must be >= {low}" + (" (or null)" if key in ("max_train_rows", "max_shards")
                                                                   else ""))
    if not cfg.shard_seconds > 0:
        raise ValueError(f"shard_seconds={cfg.shard_seconds} must be > 0")


@dataclass
class Sweep:
    """A sweep's resolved pieces (family, data, plan, folder)."""

    cfg: SweepConfig
    family: Family
    data: Splits
    plan: Plan
    folder: Path
    epochs: int

    def config(self, cid: int) -> dict[str, Any]:
        return {k: _py(v) for k, v in self.plan.configs.iloc[cid].items()}


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def prepare(cfg: SweepConfig) -> Sweep:
    """Load the data, sample the configurations and write (or check) the plan."""
    _check(cfg)
    if cfg.data_root:  # through the environment, so that every loader (and any child process) sees it
        root = Path(cfg.data_root).expanduser().resolve()
        if not root.is_dir():
            raise ValueError(f"data_root={cfg.data_root} must be an existing folder holding the datasets")
        os.environ["CURVEBENCH_DATA_ROOT"] = str(root)
    family = get_family(cfg.family)
    data = load_splits(cfg.dataset, split_seed=cfg.split_seed, max_train_rows=cfg.max_train_rows,
                       **family.preprocessing)
    family.check_data(data)
    epochs = int(cfg.epochs or family.epochs)
    configs = family.sample(cfg.n_configs, cfg.sample_seed)
    records = configs.to_dict(orient="records")
    settings = {
        "family": cfg.family, "dataset": cfg.dataset, "name": sweep_name(cfg), "n_configs": cfg.n_configs,
        "seeds": list(cfg.seeds), "epochs": epochs, "sample_seed": cfg.sample_seed, "split_seed": cfg.split_seed,
        "max_train_rows": cfg.max_train_rows, "max_group": cfg.max_group, "shard_runs": cfg.shard_runs,
        "shard_seconds": cfg.shard_seconds,
        "dataset_files": data.provenance["files"],
    }
    plan = make_plan(settings, configs, [family.group_key(r, data) for r in records],
                     [family.within_group_order(r) for r in records], cfg.seeds,
                     max_group=cfg.max_group, shard_runs=cfg.shard_runs,
                     weights=[epochs * costmodel.rough_seconds(family.workload(r, data)) for r in records],
                     shard_weight=cfg.shard_seconds)
    folder = sweep_folder(cfg)
    plan = load_or_write_plan(folder, plan)
    return Sweep(cfg, family, data, plan, folder, epochs)


def train_runs(sw: Sweep, runs: list[tuple[int, int]], device: torch.device, *, epochs: int | None = None,
               on_epoch=None):
    """Train one group of runs (config_id, seed) together; returns the engine's GroupResult."""
    configs = [sw.config(c) for c, _ in runs]
    keys = [run_key(c, s) for c, (_, s) in zip(configs, runs)]
    spec = sw.family.build(configs, keys, sw.data, epochs=epochs or sw.epochs, device=device)
    return train_group(spec, sw.data, device=device, on_epoch=on_epoch)


def calibrate(sw: Sweep, device: torch.device) -> dict[str, Any]:
    """Time a spread of configurations alone and fit the cost model (once per sweep folder)."""
    path = sw.folder / "calibration.json"
    if path.exists():
        import json

        return json.loads(path.read_text())
    records = [sw.config(c) for c in range(len(sw.plan.configs))]
    work = [sw.family.workload(r, sw.data) for r in records]
    picks = costmodel.pick_calibration(sw.plan.configs, work, sw.cfg.calib_configs)
    epochs = min(sw.cfg.calib_epochs, sw.epochs)
    seconds = []
    t0 = time.perf_counter()
    for i in picks:
        res = train_runs(sw, [(i, int(sw.cfg.seeds[0]))], device, epochs=epochs)
        seconds.append(float(np.median(res.epoch_seconds[1:] if epochs > 1 else res.epoch_seconds)))
    model = costmodel.fit([work[i] for i in picks], seconds)
    out = {
        "created": utc_now(),
        "hardware": hardware(),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "epochs_timed": epochs,
        "runs": [{"config_id": int(i), "seconds_per_epoch": s, **asdict(work[i])} for i, s in zip(picks, seconds)],
        "model": model,
        "compute_seconds": time.perf_counter() - t0,
    }
    atomic_write_json(path, out)
    log.info("calibration of %s done: %d configurations timed alone in %.0f s; cost model leave-one-out median "
             "relative error %.1f%%", sw.folder.name, len(picks), out["compute_seconds"],
             100 * model["loo_relative_error_median"])
    return out


def _progress(bar, step: float):
    return None if bar is None else (lambda epoch: bar.update(step))


def run_shard(sw: Sweep, index: int, device: torch.device, bar=None) -> None:
    """Train every group of one shard and write the shard file."""
    groups = sw.plan.shards[index]
    metric_names = [m.name for m in sw.family.metrics()]
    rows, metrics, diverged, n_params, group_of, group_seconds = [], [], [], [], [], []
    started, t0 = utc_now(), time.perf_counter()
    for gi, runs in enumerate(groups):
        res = train_runs(sw, runs, device, on_epoch=_progress(bar, len(runs) / sw.epochs))
        rows += runs
        metrics.append(np.stack([res.metrics[m] for m in metric_names], axis=1))  # (G, M, E)
        diverged.append(res.diverged_epoch)
        n_params.append(res.n_params)
        group_of += [gi] * len(runs)
        group_seconds.append(res.epoch_seconds)
    arrays = {
        "config_id": np.array([r[0] for r in rows], dtype=np.int32),
        "seed": np.array([r[1] for r in rows], dtype=np.int32),
        "metrics": np.concatenate(metrics).astype(np.float32),
        "diverged_epoch": np.concatenate(diverged).astype(np.int32),
        "n_params": np.concatenate(n_params).astype(np.int64),
        "group": np.array(group_of, dtype=np.int32),
        "group_epoch_seconds": np.stack(group_seconds).astype(np.float64),
    }
    meta = {"shard": index, "metric_names": metric_names, "started": started, "finished": utc_now(),
            "wall_seconds": time.perf_counter() - t0, "device": str(device), "threads": torch.get_num_threads(),
            "hardware": hardware(), "code_version": code_version()}
    if not write_shard(sw.folder, index, arrays, meta):
        log.warning("shard %d of %s was written by another process meanwhile; its file is kept, this one dropped",
                    index, sw.folder.name)


def _check_same_numerics(sw: Sweep, done: list[int], device: torch.device) -> None:
    """Refuse to resume on another device type or thread count than the finished shards used.

    Both change the floating-point rounding, so a table mixing them could not be re-run row by row.
    """
    for i in done:
        meta = read_shard(shard_path(sw.folder, i), arrays=False)[1]
        was_device, was_threads = str(meta.get("device", "")).split(":")[0], meta.get("threads")
        if was_device != device.type or was_threads != torch.get_num_threads():
            raise SweepStateError(
                f"{sw.folder}: shard {i} was trained with device={was_device} threads={was_threads}, this run "
                f"has device={device.type} threads={torch.get_num_threads()}; resume with the same device and "
                f"threads (mixing them changes the rounding row by row), or sweep into another sweeps_dir")


def run_sweep(cfg: SweepConfig) -> Path | None:
    """Run (or resume) a sweep; return the table folder once merged, else None."""
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    sw = prepare(cfg)
    n = len(sw.plan.shards)
    mine = [i for i in range(n) if i % cfg.n_workers == cfg.worker]
    done = done_shards(sw.folder, n)
    todo = [i for i in mine if i not in done]
    if cfg.max_shards is not None:
        todo = todo[: cfg.max_shards]
    if todo:
        _check_same_numerics(sw, sorted(done), device)
    log.info("sweep %s: %d shards (%d runs); this worker: %d shards, %d left", sw.folder.name, n, sw.plan.n_runs,
             len(mine), len(todo))
    if cfg.worker == 0 and todo:
        calibrate(sw, device)
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        runs_in = lambda ids: sum(len(g) for i in ids for g in sw.plan.shards[i])  # noqa: E731
        bar = tqdm(total=runs_in(mine), initial=runs_in([i for i in mine if i in done]), unit="run",
                   desc=sw.folder.name, dynamic_ncols=True, smoothing=0.05,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total} runs "
                              "[{elapsed}<{remaining}, {rate_fmt}]")
    try:
        for i in todo:
            if shard_path(sw.folder, i).is_file():  # another process (a second worker, a rerun) finished it meanwhile
                log.info("shard %d of %s already done by another process; skipped", i, sw.folder.name)
                continue
            run_shard(sw, i, device, bar)
    finally:
        if bar is not None:
            bar.close()
    if cfg.merge and len(done_shards(sw.folder, n)) == n:
        from .merge import merge

        out = table_folder(cfg)
        if out.exists() and not cfg.overwrite_table:
            log.info("table %s already written; not merging again (overwrite_table=true to rewrite it)", out)
            return out
        try:
            return merge(sw, device=device, out=out, overwrite=cfg.overwrite_table)
        except (FileExistsError, OSError) as e:
            if out.is_dir() and (out / "manifest.json").is_file():  # another worker merged first
                log.info("table %s was written by another worker (%s)", out, e)
                return out
            raise
    return None


@hydra.main(config_path="conf", config_name="sweep", version_base="1.3")
def main(cfg: Any) -> None:
    sc = SweepConfig(**OmegaConf.to_container(cfg, resolve=True))
    path = run_sweep(sc)
    if path is not None:
        print(f"table written: {path}")


if __name__ == "__main__":
    main()
