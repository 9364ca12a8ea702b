"""From a table's curves to regression targets, and back: the curve model of a surrogate.

One *block* per metric, plus one for the cost. A block turns the (config, seed,
fidelity) array of its quantity into a few numbers per configuration, which a
regressor learns from the encoded configuration, and turns predicted numbers
back into curves:

* metric blocks: the values go through a monotone transform (the log of the
  distance to the metric's best bound when there is one, e.g. log(loss) or
  log(1 - accuracy); otherwise none). The seed-mean curve is compressed by PCA
  over the fidelity grid to at most ``max_components`` scores (a whole curve
  from one model call). The seed-to-seed spread is one more target: the log of
  the per-configuration noise amplitude (the RMS, over seeds and fidelities, of
  each seed's deviation from the seed mean).
* the cost block: cumulative cost = total cost x cumulative share. The targets
  are the seed-mean log total cost, the PCA scores of the per-step share
  (increments / total), and the log noise amplitude of the log total cost.
  Predicted shares are clipped at zero and renormalized, so the predicted
  cumulative cost never decreases with fidelity.

Seed noise: each (config, seed) row of the table gives one residual vector
(every block's deviation from the seed mean, divided by that configuration's
amplitude). A bank of these vectors is kept; a queried (config, seed) picks one
by a hash, so the same pair always gets the same curve, the metrics of one
seed stay correlated as in the table, and the spread is the predicted
amplitude times the empirical shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.protocol import Metric, TableFormatError

_TINY = 1e-12


# ---------------------------------------------------------------- transforms
@dataclass(frozen=True)
class Transform:
    """A monotone map of a metric to the space where its curves are modelled.

    ``kind``: "log_lower" (log(y - bound + eps), for minimized metrics with a
    finite lower bound), "log_upper" (-log(bound - y + eps), for maximized
    metrics with a finite upper bound) or "identity".
    """

    kind: str
    bound: float = 0.0
    eps: float = 0.0

    @classmethod
    def for_metric(cls, metric: Metric, values: np.ndarray) -> Transform:
        finite = values[np.isfinite(values)]
        if metric.direction == "minimize" and np.isfinite(metric.lower):
            kind, bound, dist = "log_lower", float(metric.lower), finite - metric.lower
        elif metric.direction == "maximize" and np.isfinite(metric.upper):
            kind, bound, dist = "log_upper", float(metric.upper), metric.upper - finite
        else:
            return cls("identity")
        pos = dist[dist > 0]
        eps = 1e-3 * float(np.percentile(pos, 1)) if pos.size else 1e-6
        return cls(kind, bound, max(eps, _TINY))

    def forward(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.kind == "log_lower":
                return np.log(np.maximum(y - self.bound, 0.0) + self.eps)
            if self.kind == "log_upper":
                return -np.log(np.maximum(self.bound - y, 0.0) + self.eps)
        return y

    def inverse(self, z: np.ndarray) -> np.ndarray:
        if self.kind == "log_lower":
            return self.bound + np.maximum(np.exp(z) - self.eps, 0.0)
        if self.kind == "log_upper":
            return self.bound - np.maximum(np.exp(-z) - self.eps, 0.0)
        return z

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "bound": self.bound, "eps": self.eps}


# ---------------------------------------------------------------- helpers
def fit_pca(m: np.ndarray, max_components: int, tol: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and the leading principal directions (k, F) of the rows of ``m``.

    k is the fewest directions that keep ``1 - tol`` of the variance, at most
    ``max_components``, at least one.
    """
    mu = m.mean(axis=0)
    if m.shape[1] == 1:
        return mu, np.ones((1, 1))
    _, s, vt = np.linalg.svd(m - mu, full_matrices=False)
    var = s**2
    total = var.sum()
    if total <= 0:
        return mu, vt[:1]
    k = int(np.searchsorted(np.cumsum(var) / total, 1 - tol) + 1)
    return mu, vt[: max(1, min(k, max_components))]


def _fill_along(a: np.ndarray, worst: np.ndarray) -> np.ndarray:
    """Fill NaNs in (n, F) rows from the last finite value before them, else the first after, else ``worst``."""
    a = a.copy()
    n, f = a.shape
    for j in range(1, f):
        bad = np.isnan(a[:, j])
        a[bad, j] = a[bad, j - 1]
    for j in range(f - 2, -1, -1):
        bad = np.isnan(a[:, j])
        a[bad, j] = a[bad, j + 1]
    bad = np.isnan(a)
    if bad.any():
        a[bad] = np.broadcast_to(worst, a.shape)[bad]
    return a


def _amplitude(resid: np.ndarray) -> np.ndarray:
    """RMS over every axis but the first (configs)."""
    return np.sqrt(np.mean(resid.reshape(resid.shape[0], -1) ** 2, axis=1))


# ---------------------------------------------------------------- blocks
class MetricBlock:
    """The curve model of one metric (see the module docstring)."""

    kind = "metric"

    def __init__(self, name: str, transform: Transform, mu: np.ndarray, comps: np.ndarray, amp_floor: float) -> None:
        self.name = name
        self.transform = transform
        self.mu = mu
        self.comps = comps
        self.amp_floor = amp_floor

    @property
    def n_targets(self) -> int:
        return self.comps.shape[0] + 1

    @classmethod
    def fit(cls, metric: Metric, values: np.ndarray, max_components: int):
        """Fit on (C, S, F) raw values; return (block, targets (C, k+1), residuals (C, S, F), amplitudes (C,))."""
        values = np.where(np.isfinite(values), values, np.nan)
        transform = Transform.for_metric(metric, values)
        g = transform.forward(values)
        g[~np.isfinite(g)] = np.nan
        if np.isnan(g).all():
            raise TableFormatError(f"metric {metric.name!r} holds no finite value")
        # every transform is increasing, so the worst value is the largest when minimizing
        with _quiet():
            worst = np.nanmax(g, axis=(0, 1)) if metric.direction == "minimize" else np.nanmin(g, axis=(0, 1))
            worst = np.where(np.isnan(worst), np.nanmean(g), worst)
            mean = np.nanmean(g, axis=1)
        mean = _fill_along(mean, worst)
        resid = np.nan_to_num(g - mean[:, None, :], nan=0.0)
        amp = _amplitude(resid)
        floor = max(1e-6 * float(np.std(mean)), _TINY)
        mu, comps = fit_pca(mean, max_components)
        scores = (mean - mu) @ comps.T
        targets = np.column_stack([scores, np.log(amp + floor)])
        return cls(metric.name, transform, mu, comps, floor), targets, resid, amp

    def decode(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted targets (n, k+1) -> transformed mean curves (n, F) and noise amplitudes (n,)."""
        k = self.comps.shape[0]
        mean = self.mu + t[:, :k] @ self.comps
        amp = np.maximum(np.exp(t[:, k]) - self.amp_floor, 0.0)
        return mean, amp

    def curves(self, mean: np.ndarray, amp: np.ndarray, shape: np.ndarray | None, bounds: Metric) -> np.ndarray:
        """Raw curves (n, F): mean + amplitude x residual shape, transformed back and kept within the bounds."""
        z = mean if shape is None else mean + amp[:, None] * shape
        return np.clip(self.transform.inverse(z), bounds.lower, bounds.upper)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"kind": self.kind, "name": self.name, "transform": self.transform.to_dict(), "amp_floor": self.amp_floor}
        return meta, {"mu": self.mu, "comps": self.comps}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetricBlock:
        return cls(meta["name"], Transform(**meta["transform"]), arrays["mu"], arrays["comps"], meta["amp_floor"])


class CostBlock:
    """The curve model of the cumulative cost (see the module docstring)."""

    kind = "cost"
    name = "cost"

    def __init__(self, mu: np.ndarray | None, comps: np.ndarray | None, n_fid: int, amp_floor: float) -> None:
        self.mu = mu
        self.comps = comps
        self.n_fid = n_fid
        self.amp_floor = amp_floor

    @property
    def n_components(self) -> int:
        return 0 if self.comps is None else self.comps.shape[0]

    @property
    def n_targets(self) -> int:
        return 2 + self.n_components

    @classmethod
    def fit(cls, cost: np.ndarray, max_components: int):
        """Fit on (C, S, F) cumulative cost; return (block, targets, residuals (C, S, 1), amplitudes (C,))."""
        cost = np.asarray(cost, dtype=np.float64)
        if not np.isfinite(cost).all():
            bad = np.argwhere(~np.isfinite(cost))[0]
            raise TableFormatError(f"cost is not finite at (config row, seed index, fidelity index) {tuple(bad)}")
        C, S, F = cost.shape
        total = np.maximum(cost[..., -1], _TINY)
        log_total = np.log(total)
        mean_log = log_total.mean(axis=1)
        resid = (log_total - mean_log[:, None])[..., None]
        amp = _amplitude(resid)
        floor = 1e-6
        cols = [mean_log[:, None]]
        mu = comps = None
        if F > 1:
            inc = np.diff(cost, axis=-1, prepend=0.0) / total[..., None]
            share = inc.mean(axis=1)
            mu, comps = fit_pca(share, max_components)
            cols.append((share - mu) @ comps.T)
        cols.append(np.log(amp + floor)[:, None])
        return cls(mu, comps, F, floor), np.column_stack(cols), resid, amp

    def decode(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicted targets -> log total cost (n,), cumulative share (n, F) ending at 1, amplitude (n,)."""
        k = self.n_components
        if k:
            share = np.maximum(self.mu + t[:, 1 : 1 + k] @ self.comps, 0.0)
            tot = share.sum(axis=1, keepdims=True)
            share = np.where(tot > 0, share / np.where(tot > 0, tot, 1.0), 1.0 / self.n_fid)
            cum = np.cumsum(share, axis=1)
            cum[:, -1] = 1.0
        else:
            cum = np.ones((t.shape[0], 1))
        amp = np.maximum(np.exp(t[:, -1]) - self.amp_floor, 0.0)
        return t[:, 0], cum, amp

    def curves(self, log_total: np.ndarray, cum: np.ndarray, amp: np.ndarray, shape: np.ndarray | None) -> np.ndarray:
        """Cumulative cost (n, F), non-decreasing along the fidelity axis."""
        lt = log_total if shape is None else log_total + amp * shape[:, 0]
        return np.exp(lt)[:, None] * cum

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {} if self.comps is None else {"mu": self.mu, "comps": self.comps}
        return {"kind": self.kind, "name": self.name, "n_fid": self.n_fid, "amp_floor": self.amp_floor}, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> CostBlock:
        return cls(arrays.get("mu"), arrays.get("comps"), meta["n_fid"], meta["amp_floor"])


def block_from_state(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetricBlock | CostBlock:
    if meta["kind"] == "metric":
        return MetricBlock.from_state(meta, arrays)
    if meta["kind"] == "cost":
        return CostBlock.from_state(meta, arrays)
    raise ValueError(f"unknown block kind {meta['kind']!r}; allowed: 'metric', 'cost'")


class _quiet:
    """Silence numpy's 'mean of empty slice' warning for all-NaN columns (filled right after)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)
