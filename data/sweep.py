"""The sweep driver (a Hydra app): train sampled configurations of one family on one dataset, shard by shard.

    python -m data.sweep family=fcnet dataset=naval n_configs=1000 seeds=[0,1]
    python -m data.sweep --multirun family=lcbench dataset=australian,vehicle worker=0,1 n_workers=2 \\
        hydra/launcher=joblib
    python -m data.sweep --multirun ... hydra/launcher=slurm          # submitit on a Slurm cluster
    python -m data.sweep family=fcnet dataset=naval n_configs=62208 seeds=[0,1,2,3] project=true   # its cost first

Work is planned once (``plan.json`` in the sweep folder) and split into small
shards, each written atomically when done; rerunning the same command skips
finished shards, so a killed sweep resumes with no run lost or repeated. When
every shard is done the sweep merges them into a table (see :mod:`data.merge`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.config_store import ConfigStore
from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from benchmarks.cli import (
    check_config_keys,
    check_override_keys,
    cli_errors,
    hydra_job_errors,
    hydra_overrides,
)
from benchmarks.io import atomic_write_bytes, code_version, hardware, utc_now
from benchmarks.protocol import CurveBenchError

from . import projection
from .checks import (
    INT_LIMITS,
    SettingsError,
    is_int,
)
from .engine import resolve_device
from .merge import merge
from .prepare import (  # noqa: F401 - the sweep's names, as callers have always imported them from here
    PACKAGE_DIR,
    Sweep,
    SweepConfig,
    calibrate,
    check_settings,
    prepare,
    read_calibration,
    sweep_folder,
    sweep_name,
    table_exists,
    table_folder,
    train_runs,
)
from .shards import (
    SweepStateError,
    clean_stale_tmp,
    done_shards,
    read_json_file,
    read_shard,
    shard_path,
    write_shard,
)

log = logging.getLogger(__name__)
ConfigStore.instance().store(name="sweep_schema", node=SweepConfig)


def _progress(bar, step: float):
    return None if bar is None else (lambda epoch: bar.update(step))


def run_shard(sw: Sweep, index: int, device: torch.device, bar=None) -> None:
    """Train every group of one shard and write the shard file."""
    groups = sw.plan.shards[index]
    metric_names = [m.name for m in sw.family.metrics()]
    rows, metrics, diverged, n_params, group_of, group_seconds = [], [], [], [], [], []
    started, t0, c0 = utc_now(), time.perf_counter(), time.process_time()
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
    meta = {
        "shard": index,
        "metric_names": metric_names,
        "started": started,
        "finished": utc_now(),
        "wall_seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time()
        - c0,  # the process's CPU time: wall time counts a busy machine too
        "device": str(device),
        "threads": torch.get_num_threads(),
        "hardware": hardware(),
        "code_version": code_version(),
        "plan_digest": sw.plan.digest(),
    }
    if not write_shard(sw.folder, index, arrays, meta):
        log.warning(
            "shard %d of %s was written by another process meanwhile; its file is kept, this one dropped",
            index,
            sw.folder.name,
        )


NUMERICS = "numerics.json"


def _check_same_numerics(sw: Sweep, done: list[int], device: torch.device) -> None:
    """Refuse to resume on another device type or thread count than the finished shards used, or than the
    sweep's first worker recorded in ``numerics.json`` (so workers started together cannot mix them either).

    Both change the floating-point rounding, so a table mixing them could not be re-run row by row.
    """
    for i in done:
        meta = read_shard(shard_path(sw.folder, i), arrays=False)[1]
        was_device, was_threads = str(meta.get("device", "")).split(":")[0], meta.get("threads")
        if was_device != device.type or was_threads != torch.get_num_threads():
            raise SweepStateError(
                f"{sw.folder}: shard {i} was trained with device={was_device} threads={was_threads}, this run "
                f"has device={device.type} threads={torch.get_num_threads()}; resume with the same device and "
                f"threads (mixing them changes the rounding row by row), or sweep into another sweeps_dir"
            )
    want = {"device": device.type, "threads": torch.get_num_threads()}
    path = sw.folder / NUMERICS
    if not path.exists() and not path.is_symlink():
        tmp = path.with_name(f".{NUMERICS}.{os.getpid()}.tmp")
        atomic_write_bytes(tmp, json.dumps(want).encode())
        try:
            os.link(tmp, path)  # fails if another worker recorded its numerics first: compared below
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    was = read_json_file(path, "record of the sweep's device and threads")
    if was != want:
        raise SweepStateError(
            f"{path}: this sweep trains with {was}, this worker has {want}; start every worker with the same "
            f"device and threads (mixing them changes the rounding row by row), or sweep into another sweeps_dir"
        )


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
            return (
                f"table already written before this run, not rewritten: {self.table} "
                "(overwrite_table=true rewrites it)"
            )
        if self.status == "written_by_other":
            return f"table written by another worker: {self.table}"
        if self.status == "not_merged":
            return f"table not written (merge=false): all {self.shards} shards are done"
        return (
            f"table not written: {self.shards_done} of {self.shards} shards are done; rerun the same command "
            f"to continue"
        )


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
        raise SweepStateError(
            f"{sw.folder / 'shards'} is a symbolic link (to {os.readlink(sw.folder / 'shards')}); "
            f"shards are written only inside the sweep folder. Replace it with a real folder."
        )
    removed = clean_stale_tmp(sw.folder)
    if removed:
        log.info(
            "removed %d temporary file(s) left in %s by a killed process: %s",
            len(removed),
            sw.folder,
            ", ".join(p.name for p in removed),
        )
    n = len(sw.plan.shards)
    mine = [i for i in range(n) if i % cfg.n_workers == cfg.worker]
    done = done_shards(sw.folder, n)
    todo = [i for i in mine if i not in done]
    if cfg.max_shards is not None:
        todo = todo[: cfg.max_shards]
    if todo:
        _check_same_numerics(sw, sorted(done), device)
    log.info(
        "sweep %s: %d shards (%d runs); this worker: %d shards, %d left",
        sw.folder.name,
        n,
        sw.plan.n_runs,
        len(mine),
        len(todo),
    )
    if cfg.worker == 0 and todo:
        calibrate(sw, device)
    bar = _progress_bar(sw, mine, done) if cfg.progress else None
    try:
        for i in todo:
            if shard_path(
                sw.folder, i
            ).is_file():  # another process (a second worker, a rerun) finished it meanwhile
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
    return _merge_outcome(cfg, sw, device, n_done, n)


def _progress_bar(sw: Sweep, mine: list[int], done: set[int]) -> Any:
    """A tqdm bar over this worker's runs, started at the runs of its shards already done."""
    from tqdm import tqdm

    runs_in = lambda ids: sum(len(g) for i in ids for g in sw.plan.shards[i])  # noqa: E731
    return tqdm(
        total=runs_in(mine),
        initial=runs_in([i for i in mine if i in done]),
        unit="run",
        desc=sw.folder.name,
        dynamic_ncols=True,
        smoothing=0.05,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total} runs [{elapsed}<{remaining}, {rate_fmt}]",
    )


def _merge_outcome(cfg: SweepConfig, sw: Sweep, device: torch.device, n_done: int, n: int) -> SweepOutcome:
    """Merge a finished sweep into its table unless the table is there (and not to be overwritten) or another
    worker wrote it first; the :class:`SweepOutcome` saying which."""
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
        raise SweepStateError(
            f"the merge of {sw.folder} finished but {out} holds no table; nothing was written"
        )
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
                raise SystemExit(
                    f"error: hydra.launcher.n_jobs={n_jobs!r} must be -1 (all cores) or an integer "
                    f"in {low}..{high}"
                )


#: what the settings are called in an error message
WHAT = "the sweep's settings"


@hydra.main(config_path="conf", config_name="sweep", version_base="1.3")
def main(cfg: Any) -> None:
    with hydra_job_errors(CurveBenchError):
        check_config_keys(
            cfg, SweepConfig, what=WHAT, source="sweep config", error=SettingsError
        )  # `+key` too
        sc = SweepConfig(**OmegaConf.to_container(cfg, resolve=True))
        if sc.project:
            check_settings(sc)
            print(projection.describe(projection.project(prepare(sc, write=False))))
            return
        outcome = run_sweep_outcome(sc)
    print(outcome.message())


def cli() -> None:
    """``python -m data.sweep``: every key of the command line must be a setting of :class:`SweepConfig`
    (``+key`` and ``++key`` too), else ``error: <message>`` and exit 2 before anything runs."""
    with cli_errors(CurveBenchError):
        check_override_keys(hydra_overrides(), SweepConfig, what=WHAT, error=SettingsError)
    main()


if __name__ == "__main__":
    cli()
