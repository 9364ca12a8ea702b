"""From a table's curves to regression targets, and back: the curve model of a surrogate.

One *block* per metric, plus one for the cost. A block turns the (config, seed,
fidelity) array of its quantity into a few numbers per configuration, which a
regressor learns from the encoded configuration, and turns predicted numbers
back into curves:

* metric blocks: the values go through a monotone transform (the log of the
  distance to the metric's best bound when there is one, e.g. log(loss) or
  log(1 - accuracy); otherwise none); blow-ups beyond a per-fidelity fence
  are capped (:func:`cap_blowups`), and each fidelity's values are mapped to
  standard-normal scores by their distribution in the table
  (:func:`normal_scores`; surrogates saved before this step have no knots and
  skip it). A configuration whose runs all diverged (NaN) at a fidelity counts
  as the worst value there. The seed-mean curve is compressed by PCA
  over the fidelity grid to at most ``max_components`` scores (a whole curve
  from one model call); predicted mean curves stay within the range of the
  training curves at each fidelity, and a seed's curve within the range the
  table's runs reached there. The seed-to-seed spread is one more
  target: the log of the per-configuration noise amplitude (the RMS, over
  seeds and fidelities, of each seed's deviation from the seed mean).
* the cost block: cumulative cost = total cost x cumulative share. The targets
  are the seed-mean log total cost, the PCA scores of the per-step share
  (increments / total), and the log noise amplitude of the log total cost.
  Predicted shares are clipped at zero and renormalized, so the predicted
  cumulative cost never decreases with fidelity.

Seed noise: each (config, seed) row of the table gives one residual vector
(every block's deviation from the seed mean, divided by that configuration's
amplitude). A bank of these vectors is kept; a queried (config, seed) picks one
by a hash, so the same pair always gets the same curve, the metrics of one
seed stay correlated as in the table, and the spread is the amplitude times
the empirical shape. The amplitude is the regressor's prediction of the log
amplitude, exponentiated (robust to the few runs that diverged), times one
factor per block that matches the median seed-to-seed difference to the
table's (``CurveSurrogate._noise_calibration``).
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
        if not pos.size:
            eps = 1e-6
        elif np.any(dist <= 0):
            # values on the bound (e.g. an accuracy of exactly 1 on a small split): a discrete metric;
            # half its smallest step keeps the bound close to its neighbours on the log scale
            eps = 0.5 * float(pos.min())
        else:
            eps = 1e-3 * float(np.percentile(pos, 1))
        return cls(kind, bound, max(eps, _TINY))

    def forward(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.kind == "log_lower":
                return np.log(np.maximum(y - self.bound, 0.0) + self.eps)
            if self.kind == "log_upper":
                return -np.log(np.maximum(self.bound - y, 0.0) + self.eps)
        return y

    def inverse(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The inverse map; ``out=z`` works in place (no temporary arrays, for speed on big batches)."""
        z = np.asarray(z)
        if out is None:
            out = np.empty_like(z, dtype=np.result_type(z.dtype, np.float32))
        if self.kind == "identity":
            out[...] = z
            return out
        if self.kind == "log_upper":
            np.negative(z, out=out)
            np.exp(out, out=out)
        else:
            np.exp(z, out=out)
        out -= out.dtype.type(self.eps)
        np.maximum(out, 0, out=out)
        if self.kind == "log_upper":
            np.negative(out, out=out)
        out += out.dtype.type(self.bound)
        return out

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


#: values beyond the upper quartile by more than this many interquartile ranges (on the model's scale,
#: at one fidelity, on the worse side) count as blow-ups and are capped there
FENCE_IQR = 3.0


def cap_blowups(g: np.ndarray, direction: str) -> np.ndarray:
    """Cap blow-ups of (C, S, F) transformed values at a per-fidelity fence on the worse side.

    Runs that blow up reach losses like 1e30 (log 70) where typical runs have
    log losses near 0; left alone, the few of them dominate the PCA of the
    curves and the regressors' squared error. The fence at one fidelity is
    Q3 + 3 IQR of the values there (Q1 - 3 IQR when maximizing); only the
    worse side is capped, so the best values, and the optimum, are untouched.
    NaNs stay NaN.
    """
    with quiet_empty_slices():
        q1, q3 = np.nanpercentile(g, [25, 75], axis=(0, 1))
    iqr = q3 - q1
    if direction == "minimize":
        fence = np.where(np.isfinite(q3), q3 + FENCE_IQR * iqr, np.inf)
        return np.minimum(g, fence)
    fence = np.where(np.isfinite(q1), q1 - FENCE_IQR * iqr, -np.inf)
    return np.maximum(g, fence)


#: knots of the per-fidelity normal-score map (quantiles at evenly spaced probabilities)
N_KNOTS = 513


def fit_knots(g: np.ndarray, n_knots: int = N_KNOTS) -> np.ndarray:
    """(n_knots, F) quantiles of (C, S, F) values at each fidelity, at probabilities 0, 1/(K-1), ..., 1.

    NaNs are ignored; a fidelity without any value copies its nearest neighbour's knots.
    """
    p = np.linspace(0.0, 1.0, n_knots)
    with quiet_empty_slices():
        q = np.nanquantile(g.reshape(-1, g.shape[-1]), p, axis=0)
    return _fill_along(q.T, np.nanmean(g)).T if np.isnan(q).any() else q


def _knot_scores(n_knots: int) -> np.ndarray:
    """Standard-normal scores of the knots' probabilities, squeezed linearly into [1/(2K), 1 - 1/(2K)] to stay
    finite."""
    from scipy.special import ndtri

    e = 0.5 / n_knots
    return ndtri(e + (1 - 2 * e) * np.linspace(0.0, 1.0, n_knots))


def normal_scores(g: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Map (..., F) values to standard-normal scores by each fidelity's empirical distribution.

    The probability is piecewise linear between the knots, and the score its normal quantile.

    The map is monotone at each fidelity, so it keeps every rank; it spreads the crowded
    values (e.g. the many runs stuck at the class-prior loss) and squeezes the long tails,
    so that the PCA and the regressors' squared error weigh every part of the ranking alike.
    NaNs stay NaN; values beyond the table's range map to the end scores.
    """
    from scipy.special import ndtri

    K = knots.shape[0]
    p = np.linspace(0.0, 1.0, K)
    out = np.empty(g.shape, dtype=np.float64)
    for f in range(g.shape[-1]):
        out[..., f] = np.interp(g[..., f], knots[:, f], p)
    e = 0.5 / K
    out = ndtri(e + (1 - 2 * e) * out)
    out[np.isnan(g)] = np.nan
    return out


def from_normal_scores(z: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normal_scores` for (n, F) scores (float32 in, float32 out); clips to the knots' range.

    The knots sit at evenly spaced probabilities, so a score's fractional knot index is
    ndtr(score) x (K - 1): one vectorized gather, no search.
    """
    from scipy.special import ndtr

    K, F = knots.shape
    zk = _knot_scores(K)
    nan = np.isnan(z)
    e = 0.5 / K
    u = ndtr(np.clip(np.where(nan, 0, z) if nan.any() else z, zk[0], zk[-1])).astype(np.float32)
    u -= np.float32(e)
    u *= np.float32((K - 1) / (1 - 2 * e))
    np.clip(u, 0, K - 1, out=u)
    i = np.minimum(u.astype(np.int32), K - 2)
    flat = np.ascontiguousarray(knots.T, dtype=np.float32).ravel()  # row f holds fidelity f's knots
    return _interpolate_rows(flat, K, u, i, nan)


def _interpolate_rows(flat: np.ndarray, n: int, u: np.ndarray, i: np.ndarray, nan: np.ndarray) -> np.ndarray:
    """Row f of ``flat`` (``n`` values per fidelity) read at the fractional positions ``u[:, f]`` (float32),
    ``i = floor(u)`` capped at n - 2: a gather and a linear interpolation; NaN where ``nan``. ``u`` and
    ``i`` are used up (changed in place)."""
    u -= i
    i += (np.arange(u.shape[1], dtype=np.int32) * n)[None, :]
    a = flat[i]
    i += 1
    b = flat[i]
    b -= a
    b *= u
    a += b
    if nan.any():
        a[nan] = np.nan
    return a


class ScoreTable:
    """A fast inverse of :func:`normal_scores`: a lookup table on an even grid of scores, read by linear interpolation.

    The table holds the exact inverse (:func:`from_normal_scores`) at ``n`` evenly spaced scores
    between the end scores; a lookup is one multiply-add, one gather and one interpolation, several
    times faster than evaluating the normal CDF at every point. With the default 4,097 points the
    step is 0.0015 in score, below the spread of any regressor's error.
    """

    def __init__(self, z0: float, step: float, table: np.ndarray) -> None:
        self.z0, self.step, self.table = z0, step, table

    @classmethod
    def from_knots(cls, knots: np.ndarray, n: int = 4097) -> ScoreTable:
        zk = _knot_scores(knots.shape[0])
        grid = np.linspace(zk[0], zk[-1], n)
        F = knots.shape[1]
        table = from_normal_scores(np.broadcast_to(grid[:, None], (n, F)).astype(np.float32), knots).T
        return cls(
            float(zk[0]), float((zk[-1] - zk[0]) / (n - 1)), np.ascontiguousarray(table, dtype=np.float32)
        )

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """(n, F) float32 scores -> values on the transformed scale (a new float32 array); NaN stays NaN."""
        F, n = self.table.shape
        u = z - np.float32(self.z0)
        u *= np.float32(1 / self.step)
        nan = np.isnan(u)
        if nan.any():
            u[nan] = 0
        np.clip(u, 0, n - 1, out=u)
        i = u.astype(np.int32)
        np.minimum(i, n - 2, out=i)
        return _interpolate_rows(self.table.ravel(), n, u, i, nan)


#: how far predictions may go beyond the table's range, as a fraction of the interquartile range of the
#: table's values at each fidelity on the model's scale (e.g. log loss); see :class:`Extrapolation`
EXTRAPOLATION = 0.25
#: the outermost share of the knots whose slope continues the normal-score map beyond the table's range
TAIL_SHARE = 0.025


class Extrapolation:
    """How far one metric block's predictions may go beyond the range its table holds, per fidelity.

    The rule (docs/surrogates.md, "Beyond the table's range"): on the model's scale g (the log
    distance to the metric's bound, before normal scores), a predicted seed-mean curve may reach
    ``frac`` x IQR beyond the best and the worst seed-mean curve of the training configurations at
    each fidelity, and a seed's curve ``frac`` x IQR beyond the best and the worst run there; IQR is
    the interquartile range of the table's values at that fidelity (read off the stored knots). The
    metric's declared bounds (a loss >= 0, an accuracy <= 1) hold in any case. Beyond the end knots
    the normal-score map continues linearly, with the slope of its outermost ``TAIL_SHARE`` of knots
    (the tail of the table's distribution), so a score the regressor puts beyond the table's range
    maps to a value beyond it, monotonically.

    ``frac=0`` is the earlier rule (every prediction pinned inside the table's range), bit for bit.
    Everything is derived from arrays every saved surrogate holds (knots, lo/hi, seed_lo/seed_hi),
    so no refit is needed.
    """

    def __init__(self, block: MetricBlock, frac: float) -> None:
        frac = float(frac)
        if not (np.isfinite(frac) and frac >= 0):
            raise ValueError(
                f"extrapolation={frac!r}; allowed: a finite fraction >= 0 of the interquartile range"
            )
        self.frac = frac
        b = block
        if frac == 0:
            self.mean_lo, self.mean_hi, self.seed_lo, self.seed_hi = b.lo, b.hi, b.seed_lo, b.seed_hi
            self.zk0 = None
            self.margin_g = np.zeros_like(b.lo)
            self._finish(b)
            return
        if b.knots is None:  # saved before the normal scores: the model's scale is g itself, no map to extend
            self.zk0 = None
            self.margin_g = m = frac * (b.seed_hi - b.seed_lo) / 4.0  # ~ the IQR of a few hundred values
            self.mean_lo, self.mean_hi = b.lo - m, b.hi + m
            self.seed_lo, self.seed_hi = b.seed_lo - m, b.seed_hi + m
            self._finish(b)
            return
        q = np.asarray(b.knots, dtype=np.float64)  # (K, F)
        K = q.shape[0]
        zk = _knot_scores(K)
        p = np.linspace(0.0, 1.0, K)
        iqr = np.array([np.interp(0.75, p, q[:, f]) - np.interp(0.25, p, q[:, f]) for f in range(q.shape[1])])
        j = max(1, int(round(TAIL_SHARE * (K - 1))))
        z25, z75 = np.interp([0.25, 0.75], p, zk)
        fallback = iqr / (z75 - z25)
        s_lo = (q[j] - q[0]) / (zk[j] - zk[0])
        s_hi = (q[-1] - q[-1 - j]) / (zk[-1] - zk[-1 - j])
        self.s_lo = np.where(s_lo > 0, s_lo, fallback)
        self.s_hi = np.where(s_hi > 0, s_hi, fallback)
        self.q0, self.q1 = q[0], q[-1]
        self.zk0, self.zk1 = float(zk[0]), float(zk[-1])
        self.margin_g = m = frac * iqr
        # float32 copies for the prediction path
        self._f32 = [np.asarray(a, dtype=np.float32) for a in (self.q0, self.s_lo, self.q1, self.s_hi)]

        def g_of(z: np.ndarray) -> np.ndarray:  # inside the knots' range: the plain inverse
            return from_normal_scores(np.asarray(z, dtype=np.float32)[None, :], b.knots)[0].astype(np.float64)

        self.mean_lo = np.minimum(self.score(g_of(b.lo) - m, b.knots), b.lo)
        self.mean_hi = np.maximum(self.score(g_of(b.hi) + m, b.knots), b.hi)
        self.seed_lo = np.minimum(self.score(g_of(b.seed_lo) - m, b.knots), b.seed_lo)
        self.seed_hi = np.maximum(self.score(g_of(b.seed_hi) + m, b.knots), b.seed_hi)
        self._finish(b)

    def _finish(self, b: MetricBlock) -> None:
        """float32 copies of what every prediction reads (made once, not per call)."""
        self.comps32 = np.asarray(b.comps, dtype=np.float32)
        self.mu32 = np.asarray(b.mu, dtype=np.float32)
        for k in ("mean_lo", "mean_hi", "seed_lo", "seed_hi"):
            setattr(self, k + "32", np.asarray(getattr(self, k), dtype=np.float32))

    def score(self, g: np.ndarray, knots: np.ndarray) -> np.ndarray:
        """The extended normal-score map of (F,) values ``g`` (float64)."""
        z = normal_scores(np.asarray(g, dtype=np.float64)[None, :], knots)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            below = self.zk0 - (self.q0 - g) / self.s_lo
            above = self.zk1 + (g - self.q1) / self.s_hi
        return np.where(g < self.q0, below, np.where(g > self.q1, above, z))

    def extend(self, z: np.ndarray, g: np.ndarray) -> np.ndarray:
        """In ``g`` (n, F) float32, the values whose score ``z`` lies beyond the end knots, from the linear tails.

        Elementwise, so a value does not depend on the batch it came in.
        """
        if self.zk0 is None:
            return g
        q0, s_lo, q1, s_hi = self._f32
        for side in (0, 1):
            out = z < np.float32(self.zk0) if side == 0 else z > np.float32(self.zk1)
            if not out.any():
                continue
            r, c = np.nonzero(out)
            zz = z[r, c]
            if side == 0:
                g[r, c] = q0[c] - s_lo[c] * (np.float32(self.zk0) - zz)
            else:
                g[r, c] = q1[c] + s_hi[c] * (zz - np.float32(self.zk1))
        return g


def _clip_(a: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
    """Clip ``a`` in place to [lo, hi] (scalars or per-column arrays) in ``a``'s dtype.

    Two in-place ufuncs; several times faster than ``np.clip`` on big float32 batches.
    """
    np.maximum(a, np.asarray(lo, dtype=a.dtype), out=a)
    np.minimum(a, np.asarray(hi, dtype=a.dtype), out=a)
    return a


def _amp_floor(amp: np.ndarray) -> float:
    """A small positive offset so that log(amplitude + floor) is finite for noise-free configurations."""
    pos = amp[amp > 0]
    return float(1e-3 * np.median(pos)) if pos.size else 1e-12


def _amplitude(resid: np.ndarray) -> np.ndarray:
    """RMS over every axis but the first (configs)."""
    return np.sqrt(np.mean(resid.reshape(resid.shape[0], -1) ** 2, axis=1))


def _combine(scores: np.ndarray, comps: np.ndarray, mu: np.ndarray, rows: int = 4096) -> np.ndarray:
    """``scores @ comps + mu`` in float32: (n, k) x (k, F) -> (n, F).

    Written as k elementwise passes, not a matrix product: a BLAS kernel's
    rounding depends on where a row falls in the batch, so the same
    configuration queried alone or among others could differ in the last
    bit. Elementwise products and sums round the same wherever they run. The
    passes go over blocks of ``rows`` rows that stay in cache, which makes them
    faster than the matrix product was.
    """
    s = scores.astype(np.float32)
    c = comps if comps.dtype == np.float32 else comps.astype(np.float32)
    m = mu if mu.dtype == np.float32 else mu.astype(np.float32)
    out = np.empty((s.shape[0], m.shape[0]), dtype=np.float32)
    tmp = np.empty((min(rows, s.shape[0]), m.shape[0]), dtype=np.float32)
    for i in range(0, s.shape[0], rows):
        o, si = out[i : i + rows], s[i : i + rows]
        o[:] = m
        for j in range(c.shape[0]):
            t = tmp[: len(si)]
            np.multiply(si[:, j : j + 1], c[j], out=t)
            o += t
    return out


# ---------------------------------------------------------------- blocks
class MetricBlock:
    """The curve model of one metric (see the module docstring)."""

    kind = "metric"

    def __init__(
        self,
        name: str,
        transform: Transform,
        mu: np.ndarray,
        comps: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        amp_floor: float,
        seed_lo: np.ndarray | None = None,
        seed_hi: np.ndarray | None = None,
        knots: np.ndarray | None = None,
    ) -> None:
        self.name = name
        self.knots = knots
        self.transform = transform
        self.mu = mu
        self.comps = comps
        self.lo = lo
        self.hi = hi
        self.amp_floor = amp_floor
        self.seed_lo = lo if seed_lo is None else seed_lo
        self.seed_hi = hi if seed_hi is None else seed_hi
        self.set_extrapolation(EXTRAPOLATION)

    def set_extrapolation(self, frac: float) -> None:
        """Let predictions go ``frac`` x IQR beyond the table's range (see :class:`Extrapolation`; 0: pinned inside)."""
        self.extrapolation = Extrapolation(self, frac)

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
        g = cap_blowups(g, metric.direction)
        knots = fit_knots(g)
        g = normal_scores(g, knots)
        # every transform is increasing, so the worst value is the largest when minimizing
        with quiet_empty_slices():
            worst = np.nanmax(g, axis=(0, 1)) if metric.direction == "minimize" else np.nanmin(g, axis=(0, 1))
            mean = np.nanmean(g, axis=1)
        # a fidelity no run reached takes the worst value of its nearest neighbour fidelity
        worst = _fill_along(worst[None], np.nanmean(g))[0]
        # a diverged run (NaN) counts as the worst value the table holds at that fidelity; carrying its
        # last finite value forward would carry a blow-up (e.g. a loss of 1e25) to the final fidelity
        mean = np.where(np.isnan(mean), worst[None], mean)
        resid = np.nan_to_num(g - mean[:, None, :], nan=0.0)
        amp = _amplitude(resid)
        floor = _amp_floor(amp)
        mu, comps = fit_pca(mean, max_components)
        scores = (mean - mu) @ comps.T
        targets = np.column_stack([scores, np.log(amp + floor)])
        lo, hi = mean.min(axis=0), mean.max(axis=0)
        with quiet_empty_slices():
            seed_lo = np.fmin(np.nanmin(g, axis=(0, 1)), lo)
            seed_hi = np.fmax(np.nanmax(g, axis=(0, 1)), hi)
        block = cls(metric.name, transform, mu, comps, lo, hi, floor, seed_lo, seed_hi, knots)
        return block, targets, resid, amp

    def decode(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted targets (n, k+1) -> transformed mean curves (n, F) float32 and log noise amplitudes (n,).

        The mean curves are kept within the range of the training curves at each fidelity, widened by
        the extrapolation margin (:class:`Extrapolation`): a mix of principal components can otherwise
        leave it far where the regressor is unsure.
        """
        k = self.comps.shape[0]
        ex = self.extrapolation
        mean = _combine(t[:, :k], ex.comps32, ex.mu32)
        _clip_(mean, ex.mean_lo32, ex.mean_hi32)
        return mean, t[:, k]

    def curves(
        self, mean: np.ndarray, amp: np.ndarray, shape: np.ndarray | None, bounds: Metric
    ) -> np.ndarray:
        """Raw curves (n, F) float32: mean + amplitude x residual shape, transformed back, within the bounds.

        Beyond the table's range only as far as :class:`Extrapolation` allows; always within the metric's bounds.

        Works in place on ``mean`` and ``shape`` (both fresh arrays from :meth:`decode` and the noise bank).
        """
        z = mean
        ex = self.extrapolation
        if shape is not None:
            shape *= amp[:, None]
            z += shape
            # a seed's curve stays within what the table's runs reached at each fidelity (and the margin)
            _clip_(z, ex.seed_lo32, ex.seed_hi32)
        if self.knots is not None:
            if getattr(self, "_lut", None) is None:
                self._lut = ScoreTable.from_knots(self.knots)
            z = ex.extend(z, self._lut.inverse(z))
        self.transform.inverse(z, out=z)
        key = (bounds.lower, bounds.upper)
        if getattr(self, "_bounds32", (None,))[0] != key:
            f32 = np.finfo(np.float32)
            self._bounds32 = (
                key,
                np.float32(max(bounds.lower, float(f32.min))),
                np.float32(min(bounds.upper, float(f32.max))),
            )
        return _clip_(z, self._bounds32[1], self._bounds32[2])

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "kind": self.kind,
            "name": self.name,
            "transform": self.transform.to_dict(),
            "amp_floor": self.amp_floor,
        }
        arrays = {
            "mu": self.mu,
            "comps": self.comps,
            "lo": self.lo,
            "hi": self.hi,
            "seed_lo": self.seed_lo,
            "seed_hi": self.seed_hi,
        }
        if self.knots is not None:
            arrays["knots"] = self.knots
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetricBlock:
        return cls(
            meta["name"],
            Transform(**meta["transform"]),
            arrays["mu"],
            arrays["comps"],
            arrays["lo"],
            arrays["hi"],
            meta["amp_floor"],
            arrays["seed_lo"],
            arrays["seed_hi"],
            arrays.get("knots"),
        )


class CostBlock:
    """The curve model of the cumulative cost (see the module docstring)."""

    kind = "cost"
    name = "cost"

    def __init__(
        self,
        mu: np.ndarray | None,
        comps: np.ndarray | None,
        n_fid: int,
        log_range: tuple[float, float],
        amp_floor: float,
    ) -> None:
        self.mu = mu
        self.comps = comps
        self.n_fid = n_fid
        self.log_range = log_range
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
            raise TableFormatError(
                f"cost is not finite at (config row, seed index, fidelity index) {tuple(bad)}"
            )
        C, S, F = cost.shape
        total = np.maximum(cost[..., -1], _TINY)
        log_total = np.log(total)
        mean_log = log_total.mean(axis=1)
        resid = (log_total - mean_log[:, None])[..., None]
        amp = _amplitude(resid)
        cols = [mean_log[:, None]]
        mu = comps = None
        if F > 1:
            inc = np.diff(cost, axis=-1, prepend=0.0) / total[..., None]
            share = inc.mean(axis=1)
            mu, comps = fit_pca(share, max_components)
            cols.append((share - mu) @ comps.T)
        floor = _amp_floor(amp)
        cols.append(np.log(amp + floor)[:, None])
        block = cls(mu, comps, F, (float(mean_log.min()), float(mean_log.max())), floor)
        return block, np.column_stack(cols), resid, amp

    def decode(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicted targets -> log total cost (n,), cumulative share (n, F) ending at 1, log amplitude (n,)."""
        k = self.n_components
        if k:
            share = _combine(t[:, 1 : 1 + k], self.comps, self.mu)
            np.maximum(share, 0, out=share)
            cum = np.cumsum(share, axis=1, out=share)
            empty = cum[:, -1] <= 0
            if empty.any():  # no positive share predicted: spread the cost evenly
                cum[empty] = np.arange(1, self.n_fid + 1, dtype=np.float32)
            cum /= cum[:, -1:]  # ends at exactly 1 and stays non-decreasing
        else:
            cum = np.ones((t.shape[0], 1))
        return np.clip(t[:, 0], *self.log_range), cum, t[:, -1]

    def curves(
        self, log_total: np.ndarray, cum: np.ndarray, amp: np.ndarray, shape: np.ndarray | None
    ) -> np.ndarray:
        """Cumulative cost (n, F), non-decreasing along the fidelity axis."""
        lt = log_total if shape is None else log_total + amp * shape[:, 0]
        return np.exp(lt)[:, None] * cum

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {} if self.comps is None else {"mu": self.mu, "comps": self.comps}
        meta = {
            "kind": self.kind,
            "name": self.name,
            "n_fid": self.n_fid,
            "log_range": list(self.log_range),
            "amp_floor": self.amp_floor,
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> CostBlock:
        return cls(
            arrays.get("mu"), arrays.get("comps"), meta["n_fid"], tuple(meta["log_range"]), meta["amp_floor"]
        )


def block_from_state(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> MetricBlock | CostBlock:
    if meta["kind"] == "metric":
        return MetricBlock.from_state(meta, arrays)
    if meta["kind"] == "cost":
        return CostBlock.from_state(meta, arrays)
    raise ValueError(f"unknown block kind {meta['kind']!r}; allowed: 'metric', 'cost'")


class quiet_empty_slices:
    """Silence numpy's 'mean of empty slice' warning for all-NaN columns (filled right after)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)
