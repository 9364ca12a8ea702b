"""What a sweep will cost before it runs: ``python -m data.sweep ... project=true``.

Three figures, each labelled with where it comes from:

* **FLOPs**, counted from each run's workload (:class:`data.costmodel.Workload`): per epoch, forward and
  backward over the training rows (3 x 2 x MACs per row) and the forward evaluation of every split
  (2 x MACs per row). Elementwise work (activations, dropout, Adam) is not counted; it is memory-bound
  and small next to the matrix products at these widths. ``perf.training --flops`` checks this count
  against torch's ``FlopCounterMode`` on the FCNet grid.
* **GPU time** at :data:`GPU_TFLOPS` x :data:`GPU_EFFICIENCY` sustained: an H100-class GPU's FP32 peak
  (about 60 TFLOP/s without tensor cores) at a quarter of it, a fair rate for many small batched
  matrix products. A projection, not a measurement.
* **Measured**, once shards are done: the runs per second the finished shards took (their recorded wall
  time), on the device they ran on, applied to the runs left. This is the figure to trust.

With a calibration (``calibration.json``, written when a sweep starts) it also gives the solo cost the
table will record: the sum over runs of the calibrated seconds per epoch, the CPU time of training every
run alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import costmodel
from .prepare import Sweep, read_calibration
from .shards import done_shards, read_shard, shard_path

#: the projection's GPU: FP32 peak of an H100-class GPU without tensor cores, TFLOP/s
GPU_TFLOPS = 60.0
#: the fraction of that peak small batched matrix products sustain
GPU_EFFICIENCY = 0.25


def epoch_flops(w: costmodel.Workload) -> float:
    """FLOPs of one epoch of one run: forward and backward on the training rows, forward on every split."""
    return 6.0 * w.macs * w.train_rows + 2.0 * w.macs * w.eval_rows


def project(sw: Sweep) -> dict[str, Any]:
    """The sweep's projected compute (see the module docstring); nothing is trained or written."""
    seeds = len(sw.cfg.seeds)
    work = [sw.family.workload(sw.config(c), sw.data) for c in range(len(sw.plan.configs))]
    per_config = np.array([epoch_flops(w) for w in work]) * sw.epochs
    flops = float(per_config.sum() * seeds)
    out: dict[str, Any] = {
        "name": sw.folder.name,
        "runs": sw.plan.n_runs,
        "epochs": sw.epochs,
        "shards": len(sw.plan.shards),
        "flops": flops,
        "flops_per_run_epoch_mean": flops / max(1, sw.plan.n_runs * sw.epochs),
        "gpu_tflops": GPU_TFLOPS,
        "gpu_efficiency": GPU_EFFICIENCY,
        "gpu_hours": flops / (GPU_TFLOPS * 1e12 * GPU_EFFICIENCY) / 3600,
    }
    calib = sw.folder / "calibration.json"
    if calib.is_file():
        c = read_calibration(calib)
        solo = costmodel.predict(c["model"], work) * sw.epochs
        out["solo_hours"] = float(solo.sum() * seeds / 3600)
        out["solo_device"] = c.get("device", "")
    done = sorted(done_shards(sw.folder, len(sw.plan.shards)))
    if done:
        runs_done, seconds, devices = 0, 0.0, set()
        for i in done:
            meta = read_shard(shard_path(sw.folder, i), arrays=False)[1]
            runs_done += sum(len(g) for g in sw.plan.shards[i])
            seconds += float(meta.get("wall_seconds", 0.0))
            devices.add(str(meta.get("device", "")))
        left = sw.plan.n_runs - runs_done
        out["measured"] = {
            "shards_done": len(done),
            "runs_done": runs_done,
            "wall_hours": seconds / 3600,
            "devices": sorted(devices),
            "hours_left": (seconds / runs_done * left / 3600) if runs_done else None,
        }
    return out


def describe(p: dict[str, Any]) -> str:
    """The projection as the lines ``project=true`` prints."""
    lines = [
        f"sweep {p['name']}: {p['runs']:,} runs x {p['epochs']} epochs in {p['shards']:,} shards",
        f"  FLOPs (counted from the workloads): {p['flops']:.3g} in all, {p['flops_per_run_epoch_mean']:.3g} per "
        f"run-epoch",
        f"  projected GPU time at {p['gpu_tflops']:g} TFLOP/s x {p['gpu_efficiency']:.0%} sustained: "
        f"{p['gpu_hours']:.2f} h (a projection, not a measurement)",
    ]
    if "solo_hours" in p:
        lines.append(
            f"  solo cost the table will record (calibrated on {p['solo_device'] or 'this machine'}): "
            f"{p['solo_hours']:.1f} h of training every run alone"
        )
    m = p.get("measured")
    if m:
        left = "done" if not m["hours_left"] else f"{m['hours_left']:.2f} h left at that rate"
        lines.append(
            f"  measured: {m['shards_done']} shards ({m['runs_done']:,} runs) took {m['wall_hours']:.2f} h on "
            f"{', '.join(m['devices'])}: {left}"
        )
    else:
        lines.append("  measured: no shard done yet (run the sweep, or max_shards=1, for the real rate)")
    return "\n".join(lines)
