"""Learning-curve extrapolation: given epochs 1..k of held-out configurations, predict the rest.

Command line (``--help`` lists every key)::

    python -m runners.lc_task [run] [benchmarks=[lcbench-car,fcnet-naval]] [predictors=[last-value,knn,parametric]]
        [out=reports/lc-task] [seed=0] [cuts=[0.1,0.2,0.4]] [pool=10] [keep=0.05] [neighbors=10] [scale=auto]
        [progress=true]

The one command-line style (:func:`benchmarks.cli.parse_command`): the action (``run``, the only one) may be
left out, every other argument is ``key=value``; a bad key or value prints ``error: <message>`` and exits 2.
The output folder (written in one step, replaced only when it holds ``lc-task.json``) holds ``lc-task.csv``,
``lc-task.md`` and ``lc-task.json`` (the settings, and each table's split with its checksum).

The task, on a table (docs/lc-extrapolation.md says all of it):

* **curves**: the objective (validation metric) per epoch, sign-adjusted so that lower is better, one curve per
  (configuration, seed): a learning curve is one training run, so seeds are not averaged. A curve with a
  non-finite value at any epoch (a diverged run) is left out. Predictors model and are scored on the *model
  scale*: ``log`` of the loss for a loss bounded below by 0 (``scale=auto``: cross-entropy, MSE, whose values
  span decades), the sign-adjusted value otherwise;
* **split** (:func:`split`): a fixed 80/20 split of the configuration ids into train (context) and test
  (held-out) configurations, by a salted sha256 of each id, so every seed of a configuration falls on one side
  and tables that hold the same configurations (the ``lcbench-*`` family) have the same split; recorded with the
  table's checksum and a digest of the test ids;
* **cut points**: the largest held epochs at 10 %, 20 % and 40 % of the maximum epoch (5, 10, 20 of 50;
  10, 20, 40 of 100); a predictor sees epochs up to and including the cut and predicts every later one;
* **predictors** (:data:`PREDICTORS`, one interface :class:`Predictor`): ``last-value``, ``knn``,
  ``parametric`` (the stand-in for LC-PFN, Adriaensen et al. NeurIPS 2023, whose package pins numpy < 2 and
  cannot be installed beside this project's numpy 2);
* **scores** (:func:`score`): Gaussian CRPS (closed form, Gneiting and Raftery 2007) and Gaussian
  log-likelihood of the true final value and of the whole remaining curve; and the **stopping regret at equal
  cost** (:func:`pool_regret`): of a pool of ``pool`` test curves of one seed trained to the cut, the predictor
  continues the one of best predicted final value, an oracle the one of best true final value (equal cost: the
  same epochs, every pool curve to the cut and one curve to the last epoch); the regret is the difference of
  their true final losses, its exact expectation over every pool, normalized by the table's median minus best
  final loss. The same with the top-``keep`` fraction of all a seed's test curves (:func:`stopping_regret`) is
  in the CSV.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls
from scipy.special import comb, ndtr

from benchmarks.catalog import MANY_SEED_TABLES, SHIPPED_NAMES, entry, load
from benchmarks.cli import UsageError, key_field, parse_command, usage_status
from benchmarks.io import atomic_dir, atomic_write_json, atomic_write_text, code_version, utc_now
from benchmarks.protocol import Benchmark, CurveBenchError

__all__ = [
    "CUT_FRACTIONS",
    "FAMILIES",
    "KEEP_FRACTION",
    "MIN_STD",
    "POOL",
    "PREDICTORS",
    "Family",
    "KNNPredictor",
    "LCTaskCommand",
    "LastValuePredictor",
    "ParametricPredictor",
    "Prediction",
    "Predictor",
    "Split",
    "TaskCurves",
    "calibrate_std",
    "evaluate",
    "fit_family",
    "gaussian_crps",
    "gaussian_logpdf",
    "main",
    "make_predictor",
    "pool_regret",
    "run_task",
    "score",
    "split",
    "stopping_regret",
    "task_curves",
]

#: the salt of the split's hash: changing it changes every split (and every published number)
SPLIT_SALT = "curvebench-lc-task-v1"
#: the fraction of a table's configurations held out as test configurations
TEST_FRACTION = 0.2
#: the cut points, as fractions of the maximum epoch (each snapped down to a held epoch)
CUT_FRACTIONS = (0.1, 0.2, 0.4)
#: the pool of the main stopping decision: one curve of every POOL trained to the cut is continued
POOL = 10
#: the fraction of all test curves (per seed) the second stopping decision continues to the last epoch
KEEP_FRACTION = 0.05
#: the smallest predictive standard deviation on the model scale (keeps a score finite when a rule is exact
#: on the train curves)
MIN_STD = 1e-4
#: the floor of a loss before its log is taken (``scale=log``)
LOG_FLOOR = 1e-12
#: the default benchmarks of the command: every shipped table with an epoch curve (the generated tables and the
#: many-seed ones; the published ones hold their last epoch only)
DEFAULT_BENCHMARKS = (*SHIPPED_NAMES, *MANY_SEED_TABLES)
#: what the command writes; its presence marks a folder the command may replace
MARKER = "lc-task.json"


# ---------------------------------------------------------------- the split
@dataclass(frozen=True)
class Split:
    """A table's fixed split: train (context) and test (held-out) configuration ids, and the cut points.

    ``cuts``: the epochs (held fidelity values) a predictor sees up to; ``observed``: how many held epochs that
    is (the ``k`` of :meth:`Predictor.predict`).
    """

    benchmark: str
    checksum: str
    seed: int
    train_ids: np.ndarray
    test_ids: np.ndarray
    cuts: tuple[float, ...]
    observed: tuple[int, ...]

    @property
    def test_digest(self) -> str:
        """sha256 of the sorted test ids, written as comma-separated integers: compares two splits in one word."""
        return hashlib.sha256(",".join(map(str, sorted(self.test_ids.tolist()))).encode()).hexdigest()

    def record(self) -> dict[str, Any]:
        """The split as written in ``lc-task.json``: enough to rebuild and check it."""
        return {
            "benchmark": self.benchmark,
            "checksum": self.checksum,
            "seed": self.seed,
            "salt": SPLIT_SALT,
            "test_fraction": TEST_FRACTION,
            "n_train": len(self.train_ids),
            "n_test": len(self.test_ids),
            "test_ids": self.test_ids.tolist(),
            "test_ids_sha256": self.test_digest,
            "cuts": list(self.cuts),
            "observed_epochs": list(self.observed),
        }


def split(benchmark: Benchmark, seed: int = 0, cut_fractions: Sequence[float] = CUT_FRACTIONS) -> Split:
    """The fixed split of ``benchmark`` (a table): its configuration ids ordered by
    ``sha256(f"{SPLIT_SALT}:{seed}:{config_id}")``; the first ``round(TEST_FRACTION * n)`` are the test ids, the
    rest the train ids (each sorted). It depends on nothing but the ids and ``seed`` (no random generator whose
    stream could change with numpy), so tables that hold the same configuration set share it.

    Cut points: for each fraction f, the largest held epoch <= f x the maximum epoch (the first held epoch when
    none is), dropping repeats and the maximum itself (nothing would be left to predict).
    CurveBenchError for a benchmark that holds no configuration list (a surrogate) or fewer than two epochs.
    """
    held = benchmark.configurations()
    if held is None:
        raise CurveBenchError(f"{benchmark.name} answers for any configuration; the task needs a table")
    n = len(held)
    if n < 5:
        raise CurveBenchError(f"{benchmark.name} holds {n} configurations; the task needs at least 5")
    fids = np.asarray(benchmark.fidelity.values if benchmark.fidelity.values else [], dtype=float)
    if fids.size < 2:
        raise CurveBenchError(
            f"{benchmark.name} holds {fids.size} fidelity; the task needs a learning curve (at least 2 epochs)"
        )
    keys = [hashlib.sha256(f"{SPLIT_SALT}:{seed}:{i}".encode()).hexdigest() for i in range(n)]
    order = np.array(sorted(range(n), key=keys.__getitem__), dtype=np.int64)
    n_test = max(1, round(TEST_FRACTION * n))
    cuts: list[float] = []
    for f in cut_fractions:
        if not 0 < f < 1:
            raise CurveBenchError(f"cut fraction {f} is not in (0, 1)")
        below = fids[fids <= f * fids[-1]]
        cut = float(below[-1] if below.size else fids[0])
        if cut < fids[-1] and cut not in cuts:
            cuts.append(cut)
    return Split(
        benchmark=benchmark.name,
        checksum=str(getattr(benchmark, "provenance", {}).get("checksum", "")),
        seed=int(seed),
        train_ids=np.sort(order[n_test:]),
        test_ids=np.sort(order[:n_test]),
        cuts=tuple(cuts),
        observed=tuple(int(np.searchsorted(fids, c)) + 1 for c in cuts),
    )


# ---------------------------------------------------------------- the curves
@dataclass
class TaskCurves:
    """A table's curves for the task, config-major: ``model`` and ``loss`` (configurations, seeds, epochs), ``cost``
    likewise (seconds from scratch to each epoch), ``finite`` (configurations, seeds): the curve has no
    non-finite value. ``loss`` is the sign-adjusted objective (lower is better); ``model`` its model scale."""

    epochs: np.ndarray
    loss: np.ndarray
    model: np.ndarray
    cost: np.ndarray
    finite: np.ndarray
    scale: str

    def rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The finite curves of configurations ``ids`` on the model scale (curves, epochs), and their (config, seed)
        pairs (curves, 2), config-major."""
        c, s = np.nonzero(self.finite[ids])
        return self.model[ids[c], s], np.stack([ids[c], s], axis=1)


def model_scale(benchmark: Benchmark, scale: str = "auto") -> str:
    """``log`` or ``raw``: ``auto`` is ``log`` for an objective minimized with lower bound 0 (a loss), else ``raw``."""
    if scale not in ("auto", "log", "raw"):
        raise CurveBenchError(f"scale={scale!r}; allowed: auto, log, raw")
    if scale != "auto":
        return scale
    mt = benchmark.objective_metric
    return "log" if mt.direction == "minimize" and mt.lower == 0 else "raw"


def task_curves(benchmark: Benchmark, scale: str = "auto") -> TaskCurves:
    """Every curve of ``benchmark``'s objective, read in one :meth:`~benchmarks.protocol.Benchmark.query_batch`."""
    mt = benchmark.objective_metric
    held = benchmark.configurations()
    fids = np.asarray(benchmark.fidelity.values, dtype=float)
    seeds = np.asarray(benchmark.seeds, dtype=np.int64)
    C, S, F = len(held), len(seeds), len(fids)
    ids = np.repeat(np.arange(C, dtype=np.int64), S * F)
    res = benchmark.query_batch(
        ids, fidelities=np.tile(fids, C * S), seeds=np.tile(np.repeat(seeds, F), C), metrics=[mt.name]
    )
    loss = mt.sign * np.asarray(res.metrics[mt.name], dtype=np.float64).reshape(C, S, F)
    cost = np.asarray(res.cost, dtype=np.float64).reshape(C, S, F)
    finite = np.isfinite(loss).all(axis=2)
    scale = model_scale(benchmark, scale)
    if scale == "log" and (loss[finite] < 0).any():
        raise CurveBenchError(
            f"scale=log: {benchmark.name}'s {mt.name} (sign-adjusted: lower is better) takes negative values; "
            "use scale=raw"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        model = np.log(np.maximum(loss, LOG_FLOOR)) if scale == "log" else loss.copy()
    finite &= np.isfinite(model).all(axis=2)
    return TaskCurves(fids, loss, model, cost, finite, scale)


# ---------------------------------------------------------------- predictors
@dataclass
class Prediction:
    """A Gaussian per remaining epoch: ``mean`` and ``std`` (curves, epochs after the cut), on the model scale."""

    mean: np.ndarray
    std: np.ndarray


class Predictor:
    """One interface: ``fit(train_curves, epochs, groups)`` once, then ``predict(partial_curves, k)`` per cut k.

    ``train_curves``: (n, F) whole curves of the train configurations on the model scale; ``epochs``: the F
    epoch values (default 1..F); ``groups``: the configuration of each train curve (optional: a predictor that
    calibrates itself on the train curves leaves a whole configuration out). ``partial_curves``: (m, >= k)
    curves of which the first ``k`` epochs are read (later columns, when given, are never looked at); the
    prediction (:class:`Prediction`) covers epochs k+1..F.
    """

    name = "predictor"

    def fit(
        self, train_curves: np.ndarray, epochs: np.ndarray | None = None, groups: np.ndarray | None = None
    ) -> Predictor:
        self.train = np.asarray(train_curves, dtype=np.float64)
        if self.train.ndim != 2 or self.train.shape[0] < 2 or not np.isfinite(self.train).all():
            raise ValueError("train_curves must be a finite (n >= 2, epochs) array")
        F = self.train.shape[1]
        self.epochs = np.arange(1.0, F + 1) if epochs is None else np.asarray(epochs, dtype=np.float64)
        self._cache: dict[int, Any] = {}
        return self

    def predict(self, partial_curves: np.ndarray, k: int) -> Prediction:
        raise NotImplementedError

    def _check(self, partial_curves: np.ndarray, k: int) -> np.ndarray:
        F = self.train.shape[1]
        if not 1 <= k < F:
            raise ValueError(f"k={k}: the cut must leave an epoch to predict (1 <= k < {F})")
        x = np.asarray(partial_curves, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] < k:
            raise ValueError(f"partial_curves must be (curves, >= {k}), got shape {x.shape}")
        return x[:, :k]

    def _residual_std(self, k: int) -> np.ndarray:
        """Per remaining epoch, the std fitted (:func:`calibrate_std`) to the errors of this predictor's mean on the
        train curves cut at k (the train curves' own prefixes: the spread of the same rule at the same cut)."""
        if k not in self._cache:
            err = self._mean(self.train[:, :k], k) - self.train[:, k:]
            self._cache[k] = np.maximum(calibrate_std(err), MIN_STD)
        return self._cache[k]

    def _mean(self, prefix: np.ndarray, k: int) -> np.ndarray:
        raise NotImplementedError


def calibrate_std(err: np.ndarray, spread: np.ndarray | None = None, n_grid: int = 48) -> np.ndarray:
    """Per column (remaining epoch) of ``err`` (curves, epochs: predicted minus true), the tau that minimizes the
    mean Gaussian CRPS of N(0, spread^2 + tau^2) at the errors, among 0 and ``n_grid - 1`` log-spaced values
    from MIN_STD to the largest root mean square error of a column. The CRPS, not the likelihood, chooses it:
    it grows with the error, not its square, so a few curves the rule misses by far (a late divergence) do not
    widen every prediction. ``spread``: the predictor's own per-curve std (default 0)."""
    err = np.asarray(err, dtype=np.float64)
    spread = np.zeros_like(err) if spread is None else np.asarray(spread, dtype=np.float64)
    top = max(float(np.sqrt(np.mean(err**2, axis=0)).max()), 2 * MIN_STD)
    taus = np.concatenate([[0.0], np.geomspace(MIN_STD, top, n_grid - 1)])
    loss = np.empty((len(taus), err.shape[1]))
    for i, t in enumerate(taus):
        sd = np.maximum(np.sqrt(spread**2 + t**2), MIN_STD)
        loss[i] = gaussian_crps(0.0, sd, err).mean(axis=0)
    return taus[np.argmin(loss, axis=0)]


class LastValuePredictor(Predictor):
    """The last observed value persists: mean = the value at the cut at every later epoch; std per remaining
    epoch fitted (:func:`calibrate_std`) to the errors of that rule on the train curves at the same cut."""

    name = "last-value"

    def _mean(self, prefix: np.ndarray, k: int) -> np.ndarray:
        return np.repeat(prefix[:, -1:], self.train.shape[1] - k, axis=1)

    def predict(self, partial_curves: np.ndarray, k: int) -> Prediction:
        prefix = self._check(partial_curves, k)
        mean = self._mean(prefix, k)
        return Prediction(mean, np.broadcast_to(self._residual_std(k), mean.shape).copy())


class KNNPredictor(Predictor):
    """The ``neighbors`` train curves nearest on the observed prefix (Euclidean distance over epochs 1..k, model
    scale) as a predictive distribution: each neighbour's continuation, shifted so that the mean of its last
    ``min(3, k)`` observed epochs equals the target curve's, is one sample. The mean is the samples' mean per
    epoch; the std is ``sqrt(spread^2 + tau^2)``, spread the samples' standard deviation (ddof 1) and tau, per
    remaining epoch, fitted by :func:`calibrate_std` to the train curves' continuations, each predicted from
    the other configurations' train curves (``groups``: leave one configuration out, so another seed of the
    same configuration is never its neighbour). Ties go to the lower train row."""

    name = "knn"
    #: the observed epochs whose mean aligns a neighbour's continuation with the target curve
    ALIGN = 3

    def __init__(self, neighbors: int = 10) -> None:
        if neighbors < 2:
            raise ValueError(f"neighbors={neighbors}; at least 2 (a spread needs two samples)")
        self.neighbors = neighbors

    def fit(
        self, train_curves: np.ndarray, epochs: np.ndarray | None = None, groups: np.ndarray | None = None
    ) -> KNNPredictor:
        super().fit(train_curves, epochs)
        n = self.train.shape[0]
        self.groups = np.arange(n) if groups is None else np.asarray(groups)
        if self.groups.shape != (n,):
            raise ValueError(
                f"groups must hold one label per train curve ({n}), got shape {self.groups.shape}"
            )
        return self

    def _samples(
        self, prefix: np.ndarray, k: int, groups: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        """Mean and spread of the neighbours' aligned continuations; ``groups``: the prefixes' own labels (their
        train curves of the same label are never neighbours)."""
        train = self.train
        nn = min(self.neighbors, train.shape[0] - 1)
        w = min(self.ALIGN, k)
        mean = np.empty((prefix.shape[0], train.shape[1] - k))
        spread = np.empty_like(mean)
        sq_train = np.sum(train[:, :k] ** 2, axis=1)
        step = 256
        for i in range(0, prefix.shape[0], step):
            p = prefix[i : i + step]
            d = np.sum(p**2, axis=1)[:, None] + sq_train[None, :] - 2 * p @ train[:, :k].T
            if groups is not None:
                d[groups[i : i + step, None] == self.groups[None, :]] = np.inf
            idx = np.argsort(d, axis=1, kind="stable")[:, :nn]
            level = p[:, None, -w:].mean(axis=2, keepdims=True) - train[idx, k - w : k].mean(
                axis=2, keepdims=True
            )
            samples = train[idx, k:] + level
            mean[i : i + step] = samples.mean(axis=1)
            spread[i : i + step] = samples.std(axis=1, ddof=1)
        return mean, spread

    def _tau(self, k: int) -> np.ndarray:
        if k not in self._cache:
            mean, spread = self._samples(self.train[:, :k], k, self.groups)
            self._cache[k] = calibrate_std(mean - self.train[:, k:], spread)
        return self._cache[k]

    def predict(self, partial_curves: np.ndarray, k: int) -> Prediction:
        prefix = self._check(partial_curves, k)
        mean, spread = self._samples(prefix, k)
        return Prediction(mean, np.maximum(np.sqrt(spread**2 + self._tau(k) ** 2), MIN_STD))


@dataclass(frozen=True)
class Family:
    """A parametric curve family written ``y = c + a g(x; theta)``: c and a by exact least squares, theta (all
    positive) by a search on a log-spaced grid (``grid``: per parameter, its first and last value and how many)
    refined around each curve's best point (:func:`fit_family`)."""

    name: str
    #: (epochs x, last epoch X, theta (..., d)) -> (..., len(x))
    g: Callable[[np.ndarray, float, np.ndarray], np.ndarray]
    grid: tuple[tuple[float, float, int], ...]


def _pow3(x: np.ndarray, X: float, th: np.ndarray) -> np.ndarray:
    return x ** -th[..., :1]


def _exp3(x: np.ndarray, X: float, th: np.ndarray) -> np.ndarray:
    return np.exp(-th[..., :1] * x / X)


def _ilog2(x: np.ndarray, X: float, th: np.ndarray) -> np.ndarray:
    return np.broadcast_to(1.0 / np.log(x + 1.0), (*th.shape[:-1], len(x)))


def _mmf(x: np.ndarray, X: float, th: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + (th[..., :1] * x / X) ** th[..., 1:2])


#: the families of the ``parametric`` predictor, after Domhan, Springenberg and Hutter (IJCAI 2015), Table 1,
#: each with the sign of its amplitude free (so it fits falling loss curves and rising accuracy curves alike);
#: x is the epoch, X the last epoch of the table
FAMILIES = (
    Family("pow3", _pow3, ((0.02, 4.0, 32),)),  # c - a x^-alpha
    Family("exp3", _exp3, ((0.25, 200.0, 32),)),  # c - a exp(-beta x / X): their exp4 with shape exponent 1
    Family("ilog2", _ilog2, ((1.0, 1.0, 1),)),  # c - a / log(x + 1): their ilog2, shifted so x = 1 is finite
    # c - a / (1 + (kappa x / X)^delta): their MMF, which is their log power a / (1 + (x / e^b)^c) plus an asymptote
    Family("mmf", _mmf, ((0.05, 20.0, 12), (0.25, 4.0, 8))),
)
#: rounds of the local refinement of theta, and points per parameter in each
REFINE_ROUNDS, REFINE_POINTS = 3, 7


def _least_squares(y: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For curves y (m, k) and bases G (m, T, k): per curve and basis, the gain of the fit ``c + a g`` (the sum of
    squares it removes: the larger, the smaller the residual), a and c."""
    gm = G.mean(axis=2, keepdims=True)
    gc = G - gm
    var = np.sum(gc**2, axis=2)
    ym = y.mean(axis=1)
    cov = np.einsum("mtk,mk->mt", gc, y - ym[:, None])
    ok = var > 1e-12
    safe = np.where(ok, var, 1.0)
    a = np.where(ok, cov / safe, 0.0)
    return np.where(ok, cov**2 / safe, -1.0), a, ym[:, None] - a * gm[..., 0]


def fit_family(family: Family, y: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Least squares of ``y ~ c + a g(x; theta)`` on the first ``y.shape[1]`` epochs, per curve: theta the best
    of the family's log-spaced grid, then REFINE_ROUNDS rounds of REFINE_POINTS points per parameter around it
    (each round a third as wide), c and a exact for each theta. Returns the fitted values at every epoch (m, F)."""
    m, k = y.shape
    x = np.asarray(epochs, dtype=np.float64)
    axes = [np.geomspace(lo, hi, n) for lo, hi, n in family.grid]
    theta = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))  # (T, d)
    X = float(x[-1])
    G = np.broadcast_to(family.g(x[:k], X, theta), (m, len(theta), k))
    gain, a, c = _least_squares(y, G)
    best = np.argmax(gain, axis=1)
    th = theta[best]  # (m, d)
    coef = a[np.arange(m), best], c[np.arange(m), best]
    width = np.array([math.log(hi / lo) / max(n - 1, 1) for lo, hi, n in family.grid])
    offsets = np.stack(
        np.meshgrid(*[np.linspace(-1, 1, REFINE_POINTS) if w > 0 else [0.0] for w in width], indexing="ij"),
        axis=-1,
    ).reshape(-1, len(width))  # (P, d)
    for _ in range(REFINE_ROUNDS if width.any() else 0):
        cand = th[:, None, :] * np.exp(offsets[None] * width)  # (m, P, d)
        gain, a, c = _least_squares(y, family.g(x[:k], X, cand))
        best = np.argmax(gain, axis=1)
        th = cand[np.arange(m), best]
        coef = a[np.arange(m), best], c[np.arange(m), best]
        width = width / 3
    return coef[1][:, None] + coef[0][:, None] * family.g(x, X, th)


class ParametricPredictor(Predictor):
    """An ensemble of parametric curve families (:data:`FAMILIES`) fitted by least squares to the observed
    prefix of each curve, after Domhan, Springenberg and Hutter, "Speeding up automatic hyperparameter
    optimization of deep neural networks by extrapolation of learning curves", IJCAI 2015.

    Weights: per cut, the non-negative least-squares combination of the families' extrapolations that best
    fits the train curves' continuations (each family fitted to the train curves' own prefixes), normalized to
    sum 1 (equal weights if all are 0); Domhan et al. weight theirs by MCMC per curve, which is too slow for
    thousands of curves. Each extrapolation is clipped to the range the train curves take at that epoch. The
    std per remaining epoch is fitted (:func:`calibrate_std`) to the errors of the ensemble mean on the train
    curves at that cut.

    The stand-in for LC-PFN (Adriaensen, Rakotoarison, Müller and Hutter, "Efficient Bayesian learning curve
    extrapolation using prior-data fitted networks", NeurIPS 2023): its package pins numpy < 2, which cannot be
    installed beside this project's numpy 2 (pyarrow needs it).
    """

    name = "parametric"

    def fit(
        self, train_curves: np.ndarray, epochs: np.ndarray | None = None, groups: np.ndarray | None = None
    ) -> ParametricPredictor:
        super().fit(train_curves, epochs)
        self.lo, self.hi = self.train.min(axis=0), self.train.max(axis=0)
        self.weights: dict[int, np.ndarray] = {}
        return self

    def _extrapolations(self, prefix: np.ndarray, k: int) -> np.ndarray:
        """(families, curves, remaining epochs): each family's clipped extrapolation."""
        out = []
        for fam in FAMILIES:
            fitted = fit_family(fam, prefix, self.epochs)
            out.append(np.clip(fitted[:, k:], self.lo[k:], self.hi[k:]))
        return np.stack(out)

    def _weights(self, k: int) -> np.ndarray:
        if k not in self.weights:
            ex = self._extrapolations(self.train[:, :k], k)
            A = ex.reshape(len(ex), -1).T
            w, _ = nnls(A, self.train[:, k:].reshape(-1))
            self.weights[k] = w / w.sum() if w.sum() > 0 else np.full(len(ex), 1.0 / len(ex))
        return self.weights[k]

    def family_weights(self, k: int) -> dict[str, float]:
        """The families' weights at cut k (fitted on first use)."""
        return {fam.name: w for fam, w in zip(FAMILIES, self._weights(k).tolist())}

    def _mean(self, prefix: np.ndarray, k: int) -> np.ndarray:
        return np.tensordot(self._weights(k), self._extrapolations(prefix, k), axes=1)

    def predict(self, partial_curves: np.ndarray, k: int) -> Prediction:
        prefix = self._check(partial_curves, k)
        mean = self._mean(prefix, k)
        return Prediction(mean, np.broadcast_to(self._residual_std(k), mean.shape).copy())


#: the predictors by name: each a factory taking the command's ``neighbors``
PREDICTORS: dict[str, Callable[..., Predictor]] = {
    "last-value": lambda **kw: LastValuePredictor(),
    "knn": lambda neighbors=10, **kw: KNNPredictor(neighbors),
    "parametric": lambda **kw: ParametricPredictor(),
}


def make_predictor(name: str, **kw: Any) -> Predictor:
    if name not in PREDICTORS:
        raise CurveBenchError(f"unknown predictor {name!r}; allowed: {', '.join(PREDICTORS)}")
    return PREDICTORS[name](**kw)


# ---------------------------------------------------------------- scores
def gaussian_crps(mean: Any, std: Any, y: Any) -> np.ndarray:
    """CRPS of N(mean, std^2) at y, closed form (Gneiting and Raftery, JASA 2007, eq. 21):
    std * (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)), z = (y - mean) / std. Lower is better; 0 only for a point
    mass at y."""
    mean, std, y = (np.asarray(v, dtype=np.float64) for v in (mean, std, y))
    z = (y - mean) / std
    pdf = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    return std * (z * (2 * ndtr(z) - 1) + 2 * pdf - 1 / math.sqrt(math.pi))


def gaussian_logpdf(mean: Any, std: Any, y: Any) -> np.ndarray:
    """log N(y; mean, std^2) in nats."""
    mean, std, y = (np.asarray(v, dtype=np.float64) for v in (mean, std, y))
    z = (y - mean) / std
    return -0.5 * z**2 - np.log(std) - 0.5 * math.log(2 * math.pi)


def stopping_regret(
    predicted: np.ndarray, final: np.ndarray, keep: float = KEEP_FRACTION
) -> tuple[float, int]:
    """The stopping regret at equal cost of one seed's test curves under the top-``keep`` rule, and how many
    curves are continued.

    ``predicted``: the predicted final values (any increasing function of the loss), ``final``: the true final
    losses (lower is better). The ``n = max(1, ceil(keep x len))`` curves of best predicted value (ties to the
    lower index) are continued; the regret is the best true final value among them minus the best among the n
    that an oracle continues (those of best true final value, so the best of all): >= 0, and 0 when the
    predictor's choice holds the best curve.
    """
    n = max(1, math.ceil(keep * len(final) - 1e-9))
    chosen = np.argsort(predicted, kind="stable")[:n]
    return float(final[chosen].min() - final.min()), n


def _best_of_pool(N: int, pool: int) -> np.ndarray:
    """Per position r (0-based) of an order of N items, the probability that a pool of ``pool`` of them drawn
    uniformly without replacement holds the item at r and none before it: C(N - 1 - r, pool - 1) / C(N, pool)."""
    return comb(N - 1 - np.arange(N), pool - 1) / comb(N, pool)


def pool_regret(predicted: np.ndarray, final: np.ndarray, pool: int) -> tuple[float, float]:
    """The expected stopping regret, at equal cost, of continuing one curve of a pool: ``pool`` of the curves drawn
    uniformly without replacement are trained to the cut, the one of best predicted final value (ties to the
    lower index) is trained to the end, and its true final loss is compared with the best true final loss of the
    pool (what an oracle that continues one curve of the same pool obtains). Exact: the expectation over every
    pool, each curve weighted by the probability that it is the pool's first by prediction (or by truth).

    Returns the expected regret and that of a uniformly random choice (the pool's mean minus its best). A pool
    larger than the curves is the whole set.
    """
    final = np.asarray(final, dtype=np.float64)
    pool = min(pool, len(final))
    w = _best_of_pool(len(final), pool)
    by_pred = final[np.argsort(predicted, kind="stable")]
    best = float(np.sum(w * np.sort(final)))
    return float(np.sum(w * by_pred) - best), float(final.mean() - best)


def score(
    predictor: Predictor,
    curves: TaskCurves,
    sp: Split,
    k: int,
    *,
    keep: float = KEEP_FRACTION,
    pool: int = POOL,
    scale: float = 1.0,
) -> dict[str, float]:
    """The scores of ``predictor`` (fitted) on the test curves of ``sp`` cut at ``k`` observed epochs.

    On the model scale: ``crps_final`` and ``ll_final``, mean over the test curves at the last epoch;
    ``crps_curve``, mean over test curves and remaining epochs; ``ll_curve``, the log-likelihood of the whole
    remaining curve under the predictor's independent Gaussians divided by the number of remaining epochs
    (nats per epoch), mean over test curves; ``rmse_final``.

    Stopping decisions, on the loss (sign-adjusted objective) divided by ``scale`` (the table's median minus best
    final loss), per seed and then the mean over seeds: ``regret`` (:func:`pool_regret`: one of ``pool``
    continued) and ``regret_random`` (the same for a random choice); ``regret_keep`` (:func:`stopping_regret`:
    the ``keep`` fraction of all the seed's test curves continued, ``n_continued`` of them) and ``cost_ratio``
    (the seconds, from the table's cost column, of those continued curves' epochs past the cut over the
    oracle's: equal cost counts epochs, and this says how far apart the seconds are).
    """
    y, pairs = curves.rows(sp.test_ids)
    pred = predictor.predict(y[:, :k], k)
    rest = y[:, k:]
    crps = gaussian_crps(pred.mean, pred.std, rest)
    ll = gaussian_logpdf(pred.mean, pred.std, rest)
    out: dict[str, list[float]] = {"regret": [], "regret_random": [], "regret_keep": [], "cost_ratio": []}
    n = 0
    for s in np.unique(pairs[:, 1]):
        rows = np.flatnonzero(pairs[:, 1] == s)
        cfg = pairs[rows, 0]
        final = curves.loss[cfg, s, -1]
        guess = pred.mean[rows, -1]
        r, rr = pool_regret(guess, final, pool)
        out["regret"].append(r)
        out["regret_random"].append(rr)
        r, n = stopping_regret(guess, final, keep)
        out["regret_keep"].append(r)
        extra = curves.cost[cfg, s, -1] - curves.cost[cfg, s, k - 1]
        mine = extra[np.argsort(guess, kind="stable")[:n]].sum()
        oracle = extra[np.argsort(final, kind="stable")[:n]].sum()
        out["cost_ratio"].append(float(mine / oracle) if oracle > 0 else math.nan)
    return {
        "n_test_curves": int(len(y)),
        "crps_final": float(crps[:, -1].mean()),
        "crps_curve": float(crps.mean()),
        "ll_final": float(ll[:, -1].mean()),
        "ll_curve": float(ll.mean()),
        "rmse_final": float(np.sqrt(np.mean((pred.mean[:, -1] - rest[:, -1]) ** 2))),
        "regret": float(np.mean(out["regret"]) / scale),
        "regret_random": float(np.mean(out["regret_random"]) / scale),
        "regret_keep": float(np.mean(out["regret_keep"]) / scale),
        "n_continued": int(n),
        "cost_ratio": float(np.mean(out["cost_ratio"])),
    }


def evaluate(
    benchmark: Benchmark,
    predictors: Mapping[str, Predictor] | Sequence[str],
    *,
    seed: int = 0,
    cut_fractions: Sequence[float] = CUT_FRACTIONS,
    keep: float = KEEP_FRACTION,
    pool: int = POOL,
    scale: str = "auto",
    neighbors: int = 10,
) -> tuple[pd.DataFrame, Split]:
    """Every predictor at every cut of ``benchmark``'s split: one row each (benchmark, predictor, cut, observed
    epochs, the :func:`score` columns, fit_s: seconds spent fitting and predicting). ``predictors``: names of
    :data:`PREDICTORS`, or instances by name (each is fitted here on the train curves, with their
    configurations as ``groups``). The regrets are divided by the median minus the best final loss of every
    finite curve of the table (every configuration and seed)."""
    if not 0 < keep < 1:
        raise CurveBenchError(f"keep={keep} is not in (0, 1)")
    if pool < 2:
        raise CurveBenchError(f"pool={pool}; a stopping decision needs at least 2 curves")
    sp = split(benchmark, seed, cut_fractions)
    curves = task_curves(benchmark, scale)
    train, train_pairs = curves.rows(sp.train_ids)
    final = curves.loss[:, :, -1][curves.finite]
    norm = float(np.median(final) - final.min())
    norm = norm if norm > 0 else 1.0
    if not isinstance(predictors, Mapping):
        predictors = {name: make_predictor(name, neighbors=neighbors) for name in predictors}
    rows = []
    for name, pred in predictors.items():
        t0 = time.perf_counter()
        pred.fit(train, curves.epochs, groups=train_pairs[:, 0])
        for cut, k in zip(sp.cuts, sp.observed):
            t1 = time.perf_counter()
            sc = score(pred, curves, sp, k, keep=keep, pool=pool, scale=norm)
            fit_s = time.perf_counter() - t1 + (t1 - t0 if cut == sp.cuts[0] else 0.0)
            rows.append(
                {
                    "order": (cut, len(rows)),
                    "benchmark": benchmark.name,
                    "predictor": name,
                    "cut": cut,
                    "observed": k,
                    "epochs": len(curves.epochs),
                    "scale": curves.scale,
                    **sc,
                    "fit_s": round(fit_s, 3),
                }
            )
    rows.sort(key=lambda r: r.pop("order"))  # by cut, then predictor in the order given
    return pd.DataFrame(rows), sp


# ---------------------------------------------------------------- output
#: the columns of the Markdown table, and their headers
MD_COLUMNS = {
    "benchmark": "benchmark",
    "cut": "cut",
    "predictor": "predictor",
    "crps_final": "CRPS final",
    "crps_curve": "CRPS curve",
    "ll_final": "LL final",
    "ll_curve": "LL curve/epoch",
    "regret": "stop regret",
    "regret_random": "random",
}


def markdown_table(df: pd.DataFrame) -> str:
    """The results as a Markdown table (numbers to 3 significant digits)."""
    cols = list(MD_COLUMNS)
    lines = ["| " + " | ".join(MD_COLUMNS[c] for c in cols) + " |"]
    lines.append("|" + "|".join("---" if c in ("benchmark", "predictor") else "---:" for c in cols) + "|")
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c in ("benchmark", "predictor"):
                cells.append(f"`{v}`")
            elif c == "cut":
                cells.append(f"{v:g}/{r['epochs']}")
            else:
                cells.append(f"{v:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _bold_min(at: pd.DataFrame, col: str, preds: Sequence[str]) -> list[str]:
    """``at[col]`` of each predictor to 3 significant digits, the lowest bold."""
    best = at[col].min()
    return [f"**{at.loc[p, col]:.3g}**" if at.loc[p, col] == best else f"{at.loc[p, col]:.3g}" for p in preds]


def summary_table(df: pd.DataFrame) -> str:
    """One row per benchmark at its middle cut: each predictor's CRPS of the final value and its stop regret, and
    the random choice's regret, as a Markdown table (3 significant digits; the best predictor's figures bold)."""
    preds = list(dict.fromkeys(df["predictor"]))
    head = ["benchmark", "cut", *(f"CRPS final `{p}`" for p in preds), *(f"stop regret `{p}`" for p in preds)]
    lines = ["| " + " | ".join([*head, "random"]) + " |", "|---|" + "---:|" * len(head)]
    for name, g in df.groupby("benchmark", sort=False):
        cuts = sorted(g["cut"].unique())
        at = g[g["cut"] == cuts[len(cuts) // 2]].set_index("predictor")
        first = at.iloc[0]
        row = [
            f"`{name}`",
            f"{first['cut']:g}/{first['epochs']}",
            *_bold_min(at, "crps_final", preds),
            *_bold_min(at, "regret", preds),
        ]
        lines.append("| " + " | ".join([*row, f"{first['regret_random']:.3g}"]) + " |")
    return "\n".join(lines) + "\n"


def run_task(
    names: Sequence[str],
    predictors: Sequence[str],
    out: str | Path,
    *,
    seed: int = 0,
    cut_fractions: Sequence[float] = CUT_FRACTIONS,
    keep: float = KEEP_FRACTION,
    pool: int = POOL,
    scale: str = "auto",
    neighbors: int = 10,
    progress: bool = True,
    command: str = "",
) -> pd.DataFrame:
    """Evaluate ``predictors`` on each benchmark of ``names`` and write ``out`` (CSV, Markdown, JSON) in one step."""
    from tqdm.auto import tqdm

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not an output folder; refusing to replace it")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise FileExistsError(f"{out} exists and is not an lc-task output folder (no {MARKER}); refusing it")
    frames, splits = [], []
    bar = tqdm(names, desc="lc-task", unit="table", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    for name in bar:
        bar.set_postfix_str(name, refresh=False)
        df, sp = evaluate(
            load(name),
            predictors,
            seed=seed,
            cut_fractions=cut_fractions,
            keep=keep,
            pool=pool,
            scale=scale,
            neighbors=neighbors,
        )
        frames.append(df)
        splits.append(sp.record())
    bar.close()
    df = pd.concat(frames, ignore_index=True)
    settings = {
        "seed": seed,
        "cut_fractions": list(cut_fractions),
        "keep": keep,
        "pool": pool,
        "scale": scale,
        "neighbors": neighbors,
        "test_fraction": TEST_FRACTION,
        "min_std": MIN_STD,
    }
    md = (
        "# Learning-curve extrapolation task\n\n"
        f"Generated {utc_now()} by CurveBench {code_version()}"
        + (f" with `{command}`" if command else "")
        + ". CRPS and LL on the model scale (docs/lc-extrapolation.md): CRPS lower is better, LL (nats) higher "
        f"is better. Stop regret: of each pool of {pool} test curves trained to the cut, the one of best predicted "
        "final value is continued, against the one of best true final value (exact mean over every pool, mean "
        "over seeds), divided by the table's median minus best final loss; `random`: the same for a random "
        f"choice. The top-{keep:g} rule's regret (`regret_keep`) and the other columns are in lc-task.csv.\n\n"
        "## Every benchmark at its middle cut\n\n"
        + summary_table(df)
        + "\n## Every cut\n\n"
        + markdown_table(df)
    )
    with atomic_dir(out, overwrite=True) as tmp:
        atomic_write_text(tmp / "lc-task.csv", df.to_csv(index=False))
        atomic_write_text(tmp / "lc-task.md", md)
        atomic_write_json(
            tmp / MARKER,
            {
                "format": "curvebench-lc-task",
                "format_version": 1,
                "generated_utc": utc_now(),
                "code_version": code_version(),
                "command": command,
                "settings": settings,
                "predictors": list(predictors),
                "splits": splits,
            },
        )
    return df


# ---------------------------------------------------------------- command line
ACTIONS = {"run": "score the predictors on each benchmark's fixed split and write CSV and Markdown"}


@dataclass
class LCTaskCommand:
    """``python -m runners.lc_task``'s keys."""

    benchmarks: list[str] = key_field(list(DEFAULT_BENCHMARKS), "the tables (catalog names)", positional=True)
    predictors: list[str] = key_field(list(PREDICTORS), "the predictors", choices=list(PREDICTORS))
    out: str = key_field("reports/lc-task", "the output folder (replaced only when it holds lc-task.json)")
    seed: int = key_field(0, "the split's seed (0 is the published split)")
    cuts: list[float] = key_field(
        list(CUT_FRACTIONS), "the cut points as fractions of the last epoch, in (0, 1)"
    )
    pool: int = key_field(
        POOL, "the main stopping decision continues one curve of every pool of this many, >= 2"
    )
    keep: float = key_field(
        KEEP_FRACTION, "the second one continues this fraction of all test curves (per seed), in (0, 1)"
    )
    neighbors: int = key_field(10, "knn: the number of neighbours, at least 2")
    scale: str = key_field(
        "auto",
        "the model scale: auto (log for a loss bounded by 0), log, raw",
        choices=["auto", "log", "raw"],
    )
    progress: bool = key_field(True, "a progress bar over the benchmarks")


def parse_args(argv: Sequence[str] | None) -> LCTaskCommand:
    _, args = parse_command(
        argv,
        LCTaskCommand,
        module="runners.lc_task",
        description=__doc__.splitlines()[0],
        actions=ACTIONS,
        default_action="run",
    )
    if not args.benchmarks:
        raise UsageError("benchmarks=[] names no table")
    if not args.predictors:
        raise UsageError("predictors=[] names no predictor")
    if any(not 0 < c < 1 for c in args.cuts) or not args.cuts:
        raise UsageError(f"cuts={args.cuts}: each must be in (0, 1)")
    if not 0 < args.keep < 1:
        raise UsageError(f"keep={args.keep} is not in (0, 1)")
    if args.pool < 2:
        raise UsageError(f"pool={args.pool}; at least 2")
    if args.neighbors < 2:
        raise UsageError(f"neighbors={args.neighbors}; at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m runners.lc_task``: a bad key or value, or an unknown benchmark, prints ``error: <message>`` and
    returns 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_args(argv)
        for name in args.benchmarks:
            entry(name)  # an unknown name fails here, naming close matches, before any work
        df = run_task(
            args.benchmarks,
            args.predictors,
            args.out,
            seed=args.seed,
            cut_fractions=args.cuts,
            keep=args.keep,
            pool=args.pool,
            scale=args.scale,
            neighbors=args.neighbors,
            progress=args.progress,
            command=" ".join(["python -m runners.lc_task", *argv]),
        )
    except (CurveBenchError, FileExistsError) as e:
        return usage_status(e)
    print(summary_table(df), end="")
    print(f"written: {Path(args.out) / 'lc-task.csv'}, {Path(args.out) / 'lc-task.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
