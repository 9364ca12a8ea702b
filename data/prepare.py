"""What a sweep is before anything trains: its settings, their checks, its folders, plan and cost calibration.

:mod:`data.sweep` (the driver) and :mod:`data.merge` both build on this; neither imports the other's
internals, so the driver can call the merge without an import cycle.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.io import atomic_write_json, hardware, utc_now

from . import costmodel
from .checks import (
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
from .engine import train_group
from .families import Family, get_family
from .rng import run_key
from .shards import Plan, SweepStateError, load_or_write_plan, make_plan, read_json_file

log = logging.getLogger("data.sweep")


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
    #: train on this fraction of the training split (the data-size fidelity: nested, stratified subsets, see
    #: data.datasets.nested_train_subset); null or 1 keeps all. The default name gains "-train1of<k>"
    train_fraction: float | None = None
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
    #: print the sweep's projected compute (FLOPs, GPU hours, the measured rate of finished shards: data.projection)
    #: and exit, training and writing nothing
    project: bool = False


def train_fraction(cfg: SweepConfig) -> float | None:
    """The sweep's training-set fraction, None when it trains on the whole split (unset or 1)."""
    if cfg.train_fraction is None:
        return None
    f = check_float("train_fraction", cfg.train_fraction, 0.0, 1.0, low_open=True)
    return None if f == 1.0 else f


def fraction_label(fraction: float) -> str:
    """``1of27`` for 1/27 (a fraction whose inverse is a whole number), else the fraction itself (``0.25``)."""
    inv = 1.0 / fraction
    return f"1of{round(inv)}" if abs(inv - round(inv)) <= 1e-4 * inv else f"{fraction:g}"


def sweep_name(cfg: SweepConfig) -> str:
    """The sweep's folder and table name (``name``, else "<family>-<dataset>", with "-train1of<k>" for a training
    fraction 1/k), refused unless a safe folder name."""
    if cfg.name:
        return check_name("name", cfg.name)
    f = train_fraction(cfg)
    suffix = "" if f is None else f"-train{fraction_label(f)}"
    return check_name(
        f"name (default from family={cfg.family!r}, dataset={cfg.dataset!r})",
        f"{cfg.family}-{cfg.dataset}{suffix}",
    )


def sweep_folder(cfg: SweepConfig) -> Path:
    return Path(cfg.sweeps_dir or PACKAGE_DIR / "sweeps") / sweep_name(cfg)


def table_folder(cfg: SweepConfig) -> Path:
    return Path(cfg.tables_dir or PACKAGE_DIR / "tables") / sweep_name(cfg)


def check_settings(cfg: SweepConfig) -> None:
    """Refuse any setting outside what is allowed, naming the value and the allowed range (SettingsError).

    Every integer has a documented upper limit (``data.checks.INT_LIMITS``, docs/data.md), and the
    sweep's name, which becomes a folder name, may not hold path separators or '..'.
    """
    for key in (
        "n_configs",
        "sample_seed",
        "split_seed",
        "max_group",
        "shard_runs",
        "worker",
        "n_workers",
        "threads",
        "calib_configs",
        "calib_epochs",
    ):
        check_limit(key, getattr(cfg, key))
    for key in ("epochs", "max_train_rows", "max_shards"):
        check_limit(key, getattr(cfg, key), nullable=True)
    for key in ("family", "dataset", "device"):
        check_str(key, getattr(cfg, key))
    for key in ("data_root", "sweeps_dir", "tables_dir"):
        check_str(key, getattr(cfg, key), nullable=True)
    for key in ("merge", "overwrite_table", "progress", "project"):
        if not isinstance(getattr(cfg, key), bool):
            raise SettingsError(f"{key}={getattr(cfg, key)!r} must be true or false")
    seeds = cfg.seeds
    if (
        not isinstance(seeds, (list, tuple))
        or not 1 <= len(seeds) <= MAX_SEEDS
        or len(set(map(repr, seeds))) != len(seeds)
        or not all(is_int(s) and SEED_RANGE[0] <= s <= SEED_RANGE[1] for s in seeds)
    ):
        raise SettingsError(
            f"seeds={seeds!r} must be a non-empty list of at most {MAX_SEEDS} "
            f"distinct integers in {SEED_RANGE[0]}..{SEED_RANGE[1]}"
        )
    if cfg.n_configs * len(seeds) > MAX_RUNS:
        raise SettingsError(
            f"n_configs={cfg.n_configs} x {len(seeds)} seeds = {cfg.n_configs * len(seeds)} runs is "
            f"too many: a sweep may hold at most {MAX_RUNS} runs"
        )
    if not cfg.worker < cfg.n_workers:
        raise SettingsError(
            f"worker={cfg.worker} must be an integer in 0..{cfg.n_workers - 1} "
            f"(below n_workers={cfg.n_workers})"
        )
    check_float("shard_seconds", cfg.shard_seconds, 0.0, MAX_SHARD_SECONDS, low_open=True)
    train_fraction(cfg)
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


def prepare(cfg: SweepConfig, *, write: bool = True) -> Sweep:
    """Load the data, sample the configurations and write (or check) the plan (``write=False``: check a plan
    already there, write none)."""
    check_settings(cfg)
    if cfg.data_root:  # through the environment, so that every loader (and any child process) sees it
        root = Path(cfg.data_root).expanduser().resolve()
        if not root.is_dir():
            raise SettingsError(f"data_root={cfg.data_root} must be an existing folder holding the datasets")
        os.environ["CURVEBENCH_DATA_ROOT"] = str(root)
    family = get_family(cfg.family)
    fraction = train_fraction(cfg)
    data = load_splits(
        cfg.dataset,
        split_seed=cfg.split_seed,
        max_train_rows=cfg.max_train_rows,
        train_fraction=fraction,
        **family.preprocessing,
    )
    family.check_data(data)
    epochs = int(cfg.epochs or family.epochs)
    configs = family.sample(cfg.n_configs, cfg.sample_seed)
    records = configs.to_dict(orient="records")
    settings = {
        "family": cfg.family,
        "dataset": cfg.dataset,
        "name": sweep_name(cfg),
        "n_configs": cfg.n_configs,
        "seeds": list(cfg.seeds),
        "epochs": epochs,
        "sample_seed": cfg.sample_seed,
        "split_seed": cfg.split_seed,
        "max_train_rows": cfg.max_train_rows,
        # recorded only when set, so that the plans of sweeps on the whole training split stay as they were
        **({} if fraction is None else {"train_fraction": fraction}),
        "max_group": cfg.max_group,
        "shard_runs": cfg.shard_runs,
        "shard_seconds": cfg.shard_seconds,
        "dataset_files": data.provenance["files"],
    }
    if (
        data.provenance["revision"] != 1
    ):  # recorded from revision 2 on: plans made before revisions stay valid
        settings["dataset_revision"] = data.provenance["revision"]
    plan = make_plan(
        settings,
        configs,
        [family.group_key(r, data) for r in records],
        [family.within_group_order(r) for r in records],
        cfg.seeds,
        max_group=cfg.max_group,
        shard_runs=cfg.shard_runs,
        weights=[epochs * costmodel.rough_seconds(family.workload(r, data)) for r in records],
        shard_weight=cfg.shard_seconds,
    )
    folder = sweep_folder(cfg)
    if write or (folder / "plan.json").exists():
        plan = load_or_write_plan(folder, plan)
    return Sweep(cfg, family, data, plan, folder, epochs)


def train_runs(
    sw: Sweep, runs: list[tuple[int, int]], device: torch.device, *, epochs: int | None = None, on_epoch=None
):
    """Train one group of runs (config_id, seed) together; returns the engine's GroupResult."""
    configs = [sw.config(c) for c, _ in runs]
    keys = [run_key(c, s) for c, (_, s) in zip(configs, runs)]
    spec = sw.family.build(configs, keys, sw.data, epochs=epochs or sw.epochs, device=device)
    return train_group(spec, sw.data, device=device, on_epoch=on_epoch)


def calibrate(sw: Sweep, device: torch.device) -> dict[str, Any]:
    """Time a spread of configurations alone and fit the cost model (once per sweep folder)."""
    path = sw.folder / "calibration.json"
    epochs = min(sw.cfg.calib_epochs, sw.epochs)
    if path.exists() or path.is_symlink():
        done = read_calibration(path)
        asked = {"calib_configs": sw.cfg.calib_configs, "calib_epochs": sw.cfg.calib_epochs}
        had = done.get("settings")  # recorded since CurveBench recorded them; before, the epochs timed tell
        if (had != asked) if isinstance(had, dict) else (done["epochs_timed"] != epochs):
            log.warning(
                "%s was timed with other settings (%s; now asked: %s); it is kept: delete it to time the "
                "calibration again with these",
                path,
                had if isinstance(had, dict) else f"{done['epochs_timed']} epochs timed",
                asked,
            )
        if done["model"].get("fit") != costmodel.FIT:
            done = _refit(path, done)
        return done
    records = [sw.config(c) for c in range(len(sw.plan.configs))]
    work = [sw.family.workload(r, sw.data) for r in records]
    picks = costmodel.pick_calibration(sw.plan.configs, work, sw.cfg.calib_configs)
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
        "settings": {"calib_configs": sw.cfg.calib_configs, "calib_epochs": sw.cfg.calib_epochs},
        "runs": [
            {"config_id": int(i), "seconds_per_epoch": s, **asdict(work[i])} for i, s in zip(picks, seconds)
        ],
        "model": model,
        "compute_seconds": time.perf_counter() - t0,
    }
    atomic_write_json(path, out)
    log.info(
        "calibration of %s done: %d configurations timed alone in %.0f s; cost model leave-one-out median "
        "relative error %.1f%%",
        sw.folder.name,
        len(picks),
        out["compute_seconds"],
        100 * model["loo_relative_error_median"],
    )
    return out


def _refit(path: Path, done: dict[str, Any]) -> dict[str, Any]:
    """Bring a calibration fitted another way (before relative-error fits: least squares on seconds) to
    the current fit, from its recorded timings; the old model is kept in the file under ``refitted``."""
    old = done["model"]
    out = {
        **done,
        "model": costmodel.refit(done["runs"]),
        "refitted": {
            "at": utc_now(),
            "why": f"recorded with another fit ({old.get('fit') or 'least squares on absolute seconds per epoch'}); "
            f"refitted from the same timed runs with {costmodel.FIT!r}",
            "previous_model": old,
        },
    }
    atomic_write_json(path, out)
    log.warning(
        "%s: cost model refitted from its %d timed runs (%s); leave-one-out median relative error %.1f%% -> %.1f%%",
        path,
        len(done["runs"]),
        costmodel.FIT,
        100 * old["loo_relative_error_median"],
        100 * out["model"]["loo_relative_error_median"],
    )
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
    if (
        not isinstance(coef, list)
        or len(coef) != len(costmodel.FEATURES)
        or not all(
            isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) and c >= 0
            for c in coef
        )
    ):
        raise bad(f"model coefficients {coef!r} must be {len(costmodel.FEATURES)} finite numbers >= 0")
    for key in ("loo_relative_error_median", "loo_relative_error_max"):
        v = m.get(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise bad(f"model {key}={v!r} must be a number")
    if not is_int(m.get("n_calibration_runs")) or not is_int(d.get("epochs_timed")):
        raise bad("model n_calibration_runs and epochs_timed must be integers")
    if len(d["runs"]) < 2 or len(d["runs"]) != m["n_calibration_runs"]:
        raise bad(
            f"{len(d['runs'])} recorded runs for model n_calibration_runs={m['n_calibration_runs']}; a cost model "
            "is fitted on at least 2"
        )
    names = list(costmodel.Workload.__dataclass_fields__)
    for i, r in enumerate(d["runs"]):
        sec = r.get("seconds_per_epoch") if isinstance(r, dict) else None
        if (
            not isinstance(r, dict)
            or not all(is_int(r.get(k)) and r[k] >= 0 for k in names)
            or not isinstance(sec, (int, float))
            or isinstance(sec, bool)
            or not (math.isfinite(sec) and sec > 0)
        ):
            raise bad(
                f"runs[{i}]={r!r} must hold integers >= 0 for {', '.join(names)} and a finite "
                "seconds_per_epoch > 0"
            )
    return d


def table_exists(out: Path) -> bool:
    """Whether ``out`` holds a table (a folder with a manifest); a folder that is something else is an error."""
    if not out.exists() and not out.is_symlink():
        return False
    if out.is_dir() and (out / "manifest.json").is_file():
        return True
    raise SweepStateError(
        f"{out} exists but is not a table (no manifest.json); remove it, or write the table "
        f"elsewhere (tables_dir=...)"
    )
