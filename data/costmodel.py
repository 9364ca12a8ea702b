"""Honest cost: seconds per epoch of a configuration trained alone, from a model calibrated on solo timings.

Configurations trained together in a group share kernels, so the group's wall
time says little about one configuration's cost. Instead a handful of sampled
configurations (spread over batch sizes and network sizes) are each trained
alone for a few epochs and timed; a non-negative linear model of the per-epoch
seconds is fitted on them, with features that follow how the work scales:

* 1 (fixed per-epoch work: shuffling, launching the evaluation),
* steps * layers (per-step overhead of each layer's kernels),
* steps * params (the optimizer's elementwise update, once per step),
* train_rows * MACs (forward and backward compute of one epoch),
* eval_rows * MACs (evaluating every split after the epoch).

The model's leave-one-out relative error on the calibration set is recorded in
the table's manifest. Timing on a shared CPU is noisy; the first epoch of each
timed run (warm-up) is left out and the median of the others used.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls

FEATURES = ["per_epoch", "steps_x_layers", "steps_x_params", "train_rows_x_macs", "eval_rows_x_macs"]
#: how :func:`fit` fits; a calibration recorded with another fit is refitted from its timings (:func:`refit`)
FIT = "non-negative least squares on relative error"


@dataclass(frozen=True)
class Workload:
    """What one run's epoch does, for the cost model."""

    steps: int
    layers: int
    params: int
    macs: int
    train_rows: int
    eval_rows: int

    def features(self) -> np.ndarray:
        return np.array(
            [
                1.0,
                self.steps * self.layers,
                self.steps * self.params,
                self.train_rows * self.macs,
                self.eval_rows * self.macs,
            ],
            dtype=np.float64,
        )


#: a rough a-priori model (one CPU core), used only to size shards before anything is timed
ROUGH = np.array([5e-3, 1e-4, 3e-9, 3e-10, 1e-10])


def rough_seconds(w: Workload) -> float:
    """A rough guess of one epoch's seconds, for planning only (never recorded as cost)."""
    return float(w.features() @ ROUGH)


def _nnls_relative(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative coefficients minimizing the squared *relative* error sum(((X c - y) / y)**2)."""
    W = X / y[:, None]
    scale = W.max(axis=0)
    scale[scale == 0] = 1.0
    c, _ = nnls(W / scale, np.ones_like(y))
    return c / scale


def fit(workloads: Sequence[Workload], seconds: Sequence[float]) -> dict[str, Any]:
    """Fit the model (least squares on relative error, so small and large configurations count alike);
    return its coefficients and leave-one-out relative error as a JSON-able dict."""
    X = np.stack([w.features() for w in workloads])
    y = np.asarray(seconds, dtype=np.float64)
    if len(y) < 2:
        raise ValueError(
            f"the cost model needs at least 2 timed configurations (for its leave-one-out error), got {len(y)}"
        )
    if np.any(y <= 0):
        raise ValueError(f"timed seconds must be positive, got {y[y <= 0][:3]}")
    coef = _nnls_relative(X, y)
    loo = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        c = _nnls_relative(X[keep], y[keep])
        loo.append((float(X[i] @ c) - y[i]) / y[i])
    loo = np.abs(np.asarray(loo)) if loo else np.array([np.nan])
    fitted = X @ coef
    return {
        "features": FEATURES,
        "fit": FIT,
        "coefficients": coef.tolist(),
        "n_calibration_runs": int(len(y)),
        "fit_relative_error_median": float(np.median(np.abs(fitted - y) / y)),
        "loo_relative_error_median": float(np.median(loo)),
        "loo_relative_error_max": float(np.max(loo)),
    }


def refit(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The model :func:`fit` gives on a calibration's recorded runs (each a workload and its
    ``seconds_per_epoch``): how a calibration fitted another way is brought to the current fit
    without timing anything again."""
    names = list(Workload.__dataclass_fields__)
    return fit(
        [Workload(**{k: int(r[k]) for k in names}) for r in runs],
        [float(r["seconds_per_epoch"]) for r in runs],
    )


def predict(model: Mapping[str, Any], workloads: Sequence[Workload]) -> np.ndarray:
    """Seconds per epoch of each workload trained alone."""
    X = np.stack([w.features() for w in workloads])
    return X @ np.asarray(model["coefficients"], dtype=np.float64)


def pick_calibration(configs: pd.DataFrame, workloads: Sequence[Workload], n: int) -> list[int]:
    """Row positions of about ``n`` configurations spread over batch size (steps) and compute (MACs)."""
    steps = np.array([w.steps for w in workloads])
    work = np.array([w.macs for w in workloads], dtype=np.float64)
    order_steps = np.argsort(steps, kind="stable")
    n_bins = max(1, min(4, n // 3))
    picks: list[int] = []
    for part in np.array_split(order_steps, n_bins):
        if len(part) == 0:
            continue
        by_work = part[np.argsort(work[part], kind="stable")]
        k = max(1, n // n_bins)
        for q in np.linspace(0, len(by_work) - 1, k):
            i = int(by_work[int(round(q))])
            if i not in picks:
                picks.append(i)
    return picks


def time_alone(train_one, epochs: int) -> float:
    """Median seconds of the epochs after the first, from ``train_one(epochs) -> per-epoch seconds``."""
    t0 = time.perf_counter()
    per_epoch = np.asarray(train_one(epochs), dtype=np.float64)
    if per_epoch.size == 0:
        return time.perf_counter() - t0
    return float(np.median(per_epoch[1:] if per_epoch.size > 1 else per_epoch))
