"""Inference cost per sample: each configuration's forward pass timed when its table is generated.

Training cost tells what a configuration costs to find; inference cost tells what it costs to use. The
merge of a sweep (:mod:`data.merge`) times, for every configuration, the family's network in evaluation
mode (no dropout, no gradients) on ``BATCH_ROWS`` rows of the dataset's test split: ``WARMUP`` untimed
passes, then the median of ``REPEATS`` timed ones, divided by the rows. The network's weights are those of
its initialization (a forward pass costs the same whatever the weights), built by the family exactly as
for training, on the device and thread count the cost model was calibrated with (one thread on a CPU).

The timings are written once per sweep folder, to ``inference.json`` (hardware, device, threads, batch,
repeats, seconds per sample per configuration), and every later merge of the sweep reads them back, so
merging a sweep twice writes the same table. The table gains the per-configuration attribute
``infer_seconds``; :mod:`benchmarks.objectives` offers it as the objective ``infer_cost``. Tables merged
before this existed lack the column (their docs say so).

Timings on a shared machine carry its noise; the median of repeats and one thread keep it small, and the
file records the load average when it was measured.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmarks.io import atomic_write_json, hardware, utc_now
from benchmarks.objectives import INFER_ATTRIBUTE

from .prepare import Sweep
from .shards import SweepStateError, read_json_file

__all__ = [
    "ATTRIBUTE",
    "BATCH_ROWS",
    "REPEATS",
    "describe",
    "measure",
    "where",
    "read_inference",
    "seconds_per_sample",
]

log = logging.getLogger(__name__)

#: the table attribute that holds the timings (benchmarks.objectives reads it as the objective infer_cost)
ATTRIBUTE = INFER_ATTRIBUTE
#: rows of one timed forward pass (fewer when the test split is smaller)
BATCH_ROWS = 256
#: untimed passes before the timed ones
WARMUP = 2
#: timed passes; their median is the figure
REPEATS = 7
#: the sweep folder's file
FILE = "inference.json"


def describe(info: dict[str, Any]) -> str:
    """The attribute's description in a table's manifest."""
    return (
        f"seconds per sample of one forward pass in evaluation mode (batch of {info['batch_rows']} test rows, "
        f"median of {info['repeats']} passes) on {where(info)}"
    )


def where(info: dict[str, Any]) -> str:
    hw = info.get("hardware")
    cpu = hw.get("cpu") if isinstance(hw, dict) else None
    return f"{cpu or 'unrecorded hardware'}, device {info['device']}, {info['threads']} thread(s)"


def _time_one(sw: Sweep, config_id: int, x: torch.Tensor, device: torch.device) -> float:
    record = sw.config(config_id)
    spec = sw.family.build([record], [0], sw.data, epochs=1, device=device)
    model = spec.model
    times = []
    with torch.inference_mode():
        for i in range(WARMUP + REPEATS):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            model.forward(x, train=False)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= WARMUP:
                times.append(time.perf_counter() - t0)
    return float(np.median(times)) / x.shape[0]


def measure(sw: Sweep, device: torch.device, threads: int = 1, progress: bool = False) -> dict[str, Any]:
    """Time every configuration of ``sw`` (once per sweep folder: a second call reads ``inference.json``)."""
    path = sw.folder / FILE
    if path.exists() or path.is_symlink():
        return read_inference(path, len(sw.plan.configs))
    x_np = np.asarray(sw.data.x_test[:BATCH_ROWS])
    x = torch.as_tensor(x_np, device=device)
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    t0 = time.perf_counter()
    try:
        ids = tqdm(
            range(len(sw.plan.configs)),
            desc=f"inference timing {sw.folder.name}",
            unit="config",
            disable=not progress,
        )
        seconds = [_time_one(sw, i, x, device) for i in ids]
    finally:
        torch.set_num_threads(before)
    out = {
        "created": utc_now(),
        "hardware": hardware(),
        "device": str(device),
        "threads": int(threads),
        "batch_rows": int(x.shape[0]),
        "warmup": WARMUP,
        "repeats": REPEATS,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "seconds_per_sample": seconds,
        "compute_seconds": time.perf_counter() - t0,
    }
    atomic_write_json(path, out)
    log.info(
        "inference timing of %s: %d configurations in %.0f s",
        sw.folder.name,
        len(seconds),
        out["compute_seconds"],
    )
    return out


def read_inference(path: Path, n_configs: int) -> dict[str, Any]:
    """Read and check a sweep's ``inference.json`` (an untrusted file: SweepStateError naming what is wrong)."""
    d = read_json_file(path, "inference timing")

    def bad(what: str) -> SweepStateError:
        return SweepStateError(f"{path}: {what}; delete the file to time the inference again")

    if not isinstance(d, dict):
        raise bad("not an inference timing (an object is expected)")
    s = d.get("seconds_per_sample")
    if not isinstance(s, list) or len(s) != n_configs:
        raise bad(f"'seconds_per_sample' must be a list of {n_configs} numbers (one per configuration)")
    for i, v in enumerate(s):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise bad(f"'seconds_per_sample'[{i}] = {v!r} must be a finite number > 0")
    for key in ("batch_rows", "repeats", "threads"):
        v = d.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise bad(f"{key!r} = {v!r} must be an integer >= 1")
    if not isinstance(d.get("device"), str):
        raise bad(f"'device' = {d.get('device')!r} must be a string")
    return d


def seconds_per_sample(info: dict[str, Any]) -> np.ndarray:
    """The per-configuration column, in config_id order."""
    return np.asarray(info["seconds_per_sample"], dtype=np.float64)
