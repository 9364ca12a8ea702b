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
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.config_store import ConfigStore
from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from benchmarks.io import atomic_write_json, code_version, hardware, utc_now

from . import costmodel
from .checks import (
    INT_LIMITS,
    MAX_RUNS,
    MAX_SEEDS,
    MAX_SHARD_SECONDS,
    SEED_RANGE,
    SettingsError,
    check_float,
    check_limit,
    check_name,
    check_str,
    is_int,
)
from .datasets import Splits, load_splits
from .engine import resolve_device, train_group
from .families import Family, get_family
from .rng import run_key
from .shards import (
    Plan,
    SweepStateError,
    clean_stale_tmp,
    done_shards,
    load_or_write_plan,
    make_plan,
    read_json_file,
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
    """The sweep's folder and table name (``name``, else "<family>-<dataset>"), refused unless a safe folder name."""
    if cfg.name:
        return check_name("name", cfg.name)
    return check_name(f"name (default from family={cfg.family!r}, dataset={cfg.dataset!r})",
                      f"{cfg.family}-{cfg.dataset}")


def sweep_folder(cfg: SweepConfig) -> Path:
    return Path(cfg.sweeps_dir or PACKAGE_DIR / "sweeps") / sweep_name(cfg)


def table_folder(cfg: SweepConfig) -> Path:
    return Path(cfg.tables_dir or PACKAGE_DIR / "tables") / sweep_name(cfg)


def check_settings(cfg: SweepConfig) -> None:
    """Refuse any setting outside what is allowed, naming the value and the allowed range (SettingsError).

    Every integer has a documented upper limit (``data.checks.INT_LIMITS``, docs/data.md), and the
    sweep's name, which becomes a folder name, may not hold path separators or '..'.
    """
    for key in ("n_configs", "sample_seed", "split_seed", "max_group", "shard_runs", "worker", "n_workers",
                "threads", "calib_configs", "calib_epochs"):
        check_limit(key, getattr(cfg, key))
    for key in ("epochs", "max_train_rows", "max_shards"):
        check_limit(key, getattr(cfg, key), nullable=True)
    for key in ("family", "dataset", "device"):
        check_str(key, getattr(cfg, key))
    for key in ("data_root", "sweeps_dir", "tables_dir"):
        check_str(key, getattr(cfg, key), nullable=True)
    for key in ("merge", "overwrite_table", "progress"):
        if not isinstance(getattr(cfg, key), bool):
            raise SettingsError(f"{key}={getattr(cfg, key)!r} must be true or false")
    seeds = cfg.seeds
    if (not isinstance(seeds, (list, tuple)) or not 1 <= len(seeds) <= MAX_SEEDS or len(set(map(repr, seeds))) != len(seeds)
            or not all(is_int(s) and SEED_RANGE[0] <= s <= SEED_RANGE[1] for s in seeds)):
        raise SettingsError(f"seeds={seeds!r} must be a non-empty list of at most {MAX_SEEDS} "
                            f"distinct integers in {SEED_RANGE[0]}..{SEED_RANGE[1]}")
    if cfg.n_configs * len(seeds) > MAX_RUNS:
        raise SettingsError(f"n_configs={cfg.n_configs} x {len(seeds)} seeds = {cfg.n_configs * len(seeds)} runs is "
                            f"too many: a sweep may hold at most {MAX_RUNS} runs")
    if not cfg.worker < cfg.n_workers:
        raise SettingsError(f"worker={cfg.worker} must be an integer in 0..{cfg.n_workers - 1} "
                            f"(below n_workers={cfg.n_workers})")
    check_float("shard_seconds", cfg.shard_seconds, 0.0, MAX_SHARD_SECONDS, low_open=True)
    if cfg.name is not None and not isinstance(cfg.name, str):
        raise SettingsError(f"name={cfg.name!r} must be a string (or null)")
    sweep_name(cfg)  # the name becomes a folder name; the default one comes from family and dataset


_check = check_settings  # the former name


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
    check_settings(cfg)
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
    if data.provenance["revision"] != 1:  # recorded from revision 2 on: plans made before revisions stay valid
        settings["dataset_revision"] = data.provenance["revision"]
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
    if path.exists() or path.is_symlink():
        return read_calibration(path)
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


def read_calibration(path: Path) -> dict[str, Any]:
    """Read and check a sweep's ``calibration.json`` (SweepStateError naming the file when it is malformed)."""
    d = read_json_file(path, "calibration")

    def bad(what: str) -> SweepStateError:
        return SweepStateError(f"{path}: {what}; delete the file to time the calibration again")

    if not isinstance(d, dict) or not isinstance(d.get("model"), dict) or not isinstance(d.get("runs"), list):
        raise bad("not a calibration (an object with 'model' and 'runs' is expected)")
    m = d["model"]
    coef = m.get("coefficients")
    if (not isinstance(coef, list) or len(coef) != len(costmodel.FEATURES)
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) and c >= 0
                       for c in coef)):
        raise bad(f"model coefficients {coef!r} must be {len(costmodel.FEATURES)} finite numbers >= 0")
    for key in ("loo_relative_error_median", "loo_relative_error_max"):
        v = m.get(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise bad(f"model {key}={v!r} must be a number")
    if not is_int(m.get("n_calibration_runs")) or not is_int(d.get("epochs_timed")):
        raise bad("model n_calibration_runs and epochs_timed must be integers")
    return d


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


@dataclass
class SweepOutcome:
    """What a run of a sweep did: whether the table exists now, and whether this run wrote it."""

    #: "written" (this run merged the table), "exists" (written before; not rewritten), "written_by_other"
    #: (another worker merged it meanwhile), "unfinished" (shards left), "not_merged" (merge=false)
    status: str
    table: Path | None
    shards_done: int
    shards: int

    def message(self) -> str:
        if self.status == "written":
            return f"table written: {self.table}"
        if self.status == "exists":
            return f"table already written before this run, not rewritten: {self.table} (overwrite_table=true rewrites it)"
        if self.status == "written_by_other":
            return f"table written by another worker: {self.table}"
        if self.status == "not_merged":
            return f"table not written (merge=false): all {self.shards} shards are done"
        return (f"table not written: {self.shards_done} of {self.shards} shards are done; rerun the same command "
                f"to continue")


def table_exists(out: Path) -> bool:
    """Whether ``out`` holds a table (a folder with a manifest); a folder that is something else is an error."""
    if not out.exists() and not out.is_symlink():
        return False
    if out.is_dir() and (out / "manifest.json").is_file():
        return True
    raise SweepStateError(f"{out} exists but is not a table (no manifest.json); remove it, or write the table "
                          f"elsewhere (tables_dir=...)")


def run_sweep(cfg: SweepConfig) -> Path | None:
    """Run (or resume) a sweep; return the table folder once merged (or found written), else None."""
    return run_sweep_outcome(cfg).table


def run_sweep_outcome(cfg: SweepConfig) -> SweepOutcome:
    """Run (or resume) a sweep; say what happened to its table (see :class:`SweepOutcome`)."""
    check_settings(cfg)  # before anything acts on a setting (threads=0 would fail inside torch)
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    sw = prepare(cfg)
    if (sw.folder / "shards").is_symlink():  # a shared sweep folder must not send this run's writes elsewhere
        raise SweepStateError(f"{sw.folder / 'shards'} is a symbolic link (to {os.readlink(sw.folder / 'shards')}); "
                              f"shards are written only inside the sweep folder. Replace it with a real folder.")
    removed = clean_stale_tmp(sw.folder)
    if removed:
        log.info("removed %d temporary file(s) left in %s by a killed process: %s", len(removed), sw.folder,
                 ", ".join(p.name for p in removed))
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
    n_done = len(done_shards(sw.folder, n))
    if n_done < n:
        return SweepOutcome("unfinished", None, n_done, n)
    if not cfg.merge:
        return SweepOutcome("not_merged", None, n_done, n)
    from .merge import merge

    out = table_folder(cfg)
    if table_exists(out) and not cfg.overwrite_table:
        log.info("table %s already written; not merging again (overwrite_table=true to rewrite it)", out)
        return SweepOutcome("exists", out, n_done, n)
    try:
        merge(sw, device=device, out=out, overwrite=cfg.overwrite_table)
    except (FileExistsError, OSError) as e:
        if out.is_dir() and (out / "manifest.json").is_file():  # another worker merged first
            log.info("table %s was written by another worker (%s)", out, e)
            return SweepOutcome("written_by_other", out, n_done, n)
        raise
    if not (out.is_dir() and (out / "manifest.json").is_file()):
        raise SweepStateError(f"the merge of {sw.folder} finished but {out} holds no table; nothing was written")
    return SweepOutcome("written", out, n_done, n)


class LauncherCheck(Callback):
    """Hydra callback (data/conf/sweep.yaml): refuse a launcher setting that would fail only inside the launcher.

    ``hydra.launcher.n_jobs`` (joblib) must be -1 (all cores) or 1..1024; joblib itself only fails on 0
    after the multirun has started. The check exits the program (SystemExit with the message), since
    Hydra reports a callback's exception only as a warning.
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        launcher = config.hydra.get("launcher") or {}
        if "n_jobs" in launcher:
            n_jobs = launcher.get("n_jobs")
            low, high = INT_LIMITS["threads"]
            if not (is_int(n_jobs) and (n_jobs == -1 or low <= n_jobs <= high)):
                # Hydra turns a callback's exception into a warning and goes on, so stop here, with the message
                raise SystemExit(f"error: hydra.launcher.n_jobs={n_jobs!r} must be -1 (all cores) or an integer "
                                 f"in {low}..{high}")


@hydra.main(config_path="conf", config_name="sweep", version_base="1.3")
def main(cfg: Any) -> None:
    sc = SweepConfig(**OmegaConf.to_container(cfg, resolve=True))
    print(run_sweep_outcome(sc).message())


if __name__ == "__main__":
    main()
