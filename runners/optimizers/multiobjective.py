"""Native multi-objective optimizers: random search, MOASHA, ParEGO and a cost-aware Pareto-front search.

Each class names an ``objectives`` parameter, so the simulator gives it the run's
:class:`~runners.multiobjective.MultiObjective` (``objectives=[...]``; default: the benchmark's objective
and ``cost``). Every told result is turned into its objective vector once, in tell order
(:meth:`MultiObjective.normalized`: lower is better, 0 at the benchmark's best configuration and 1 at its
median), so the objectives share a scale. Without a ``MultiObjective`` (a class built by hand) the
vector is ``(loss, cumulative cost)``, not normalized.

* :class:`MORandomSearch` (``mo-rs``): random configurations at the maximum fidelity; the reference.
* :class:`MOASHA` (``moasha``): asynchronous successive halving whose promotions rank a rung by
  non-dominated sorting with an epsilon-net (default) or NSGA-II's crowding distance within fronts
  (Schmucker et al. 2021; Syne Tune's ``MOASHA``).
* :class:`ParEGO` (``parego``): a Gaussian process on a random augmented-Chebyshev scalarization per
  proposal, expected improvement (Knowles, IEEE TEC 2006).
* :class:`CostPareto` (``cost-pareto``): local search around the (loss, cost) Pareto front with a loss
  GP and a log-cost GP, in the spirit of CARBS (Fetterman et al. 2023); not CARBS itself.

Non-dominated sorting comes from moocore (:func:`runners.multiobjective.pareto_ranks`,
:func:`~runners.multiobjective.nondominated`). The GPs are scikit-learn's ``GaussianProcessRegressor``.
docs/optimizers.md, "Multi-objective optimizers", states the defaults and departures from the papers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky, solve_triangular
from scipy.special import ndtr

from ..multiobjective import MultiObjective, nondominated, pareto_ranks
from ..optimizer import Optimizer, RandomSearch, Trial, TrialResult
from .brackets import check_eta, rung_ladder
from .encoding import VectorSpace

__all__ = [
    "FRONT_PICKS",
    "RANKINGS",
    "CostPareto",
    "MOASHA",
    "MORandomSearch",
    "ParEGO",
    "augmented_chebyshev",
    "crowding_distance",
    "eps_net_order",
    "knowles_divisions",
    "multiobjective_order",
    "weight_lattice",
]

#: MOASHA's rankings within a non-dominated front
RANKINGS: tuple[str, ...] = ("eps_net", "crowding")
#: how CostPareto picks the front member it searches around
FRONT_PICKS: tuple[str, ...] = ("uniform", "sparse")
#: the value an inactive hyperparameter (NaN in VectorSpace's encoding) takes in a GP's input
_INACTIVE = -0.5


# ---------------------------------------------------------------- objective vectors
class ObjectiveVectors:
    """One told result -> its objective vector, lower is better (see the module docstring).

    With a :class:`MultiObjective`: :meth:`MultiObjective.normalized`. Without one: ``(result.loss,
    cumulative cost)``, the cumulative cost remembered per trial id as MultiObjective does. Call it once
    per told result, in tell order.
    """

    def __init__(self, objectives: MultiObjective | None, incremental: bool) -> None:
        self.objectives = objectives
        self.incremental = bool(incremental)
        self._cum: dict[int, float] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.objectives.names) if self.objectives is not None else ("loss", "cost")

    def __len__(self) -> int:
        return len(self.names)

    def cumulative_cost(self, result: TrialResult) -> float:
        """The result's cumulative training cost (its cost plus, on an incremental fidelity, the continued one's)."""
        trial = result.trial
        cum = float(result.cost)
        if trial.continues is not None and self.incremental:
            cum += self._cum.get(trial.continues, 0.0)
        self._cum[trial.trial_id] = cum
        return cum

    def __call__(self, result: TrialResult) -> np.ndarray:
        if self.objectives is not None:
            return np.asarray(self.objectives.normalized(result), dtype=np.float64)
        return np.array([result.loss, self.cumulative_cost(result)], dtype=np.float64)

    def describe(self) -> list[str] | str:
        if self.objectives is not None:
            return list(self.objectives.names)
        return "none given: (loss, cumulative cost), not normalized"


# ---------------------------------------------------------------- rankings (MOASHA)
def eps_net_order(points: np.ndarray, first: int = 0) -> np.ndarray:
    """Indices of ``points`` (one front) in epsilon-net order: the point with the lowest value of objective
    ``first``, then repeatedly the point whose Euclidean distance to the nearest point already picked is
    largest (Clarkson's greedy epsilon-net, as Syne Tune's ``NonDominatedPriority`` with ``dim=0``).
    Ties go to the lower index."""
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = [int(np.argmin(pts[:, first]))]
    picked = np.zeros(n, dtype=bool)
    picked[order[0]] = True
    dist = np.linalg.norm(pts - pts[order[0]], axis=1)
    for _ in range(n - 1):
        masked = np.where(picked, -np.inf, dist)
        j = int(np.argmax(masked))
        order.append(j)
        picked[j] = True
        np.minimum(dist, np.linalg.norm(pts - pts[j], axis=1), out=dist)
    return np.asarray(order, dtype=np.int64)


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each point of one front (Deb et al., IEEE TEC 2002): per objective,
    the boundary points get infinity and the others the gap between their two neighbours divided by the
    objective's range, summed over objectives."""
    pts = np.asarray(points, dtype=np.float64)
    n, k = pts.shape
    out = np.zeros(n)
    if n <= 2:
        out[:] = np.inf
        return out
    for m in range(k):
        order = np.argsort(pts[:, m], kind="stable")
        v = pts[order, m]
        out[order[0]] = out[order[-1]] = np.inf
        span = v[-1] - v[0]
        if span > 0:
            out[order[1:-1]] += (v[2:] - v[:-2]) / span
    return out


def multiobjective_order(
    points: np.ndarray, ranking: str = "eps_net", limit: int | None = None
) -> np.ndarray:
    """Indices of ``points`` (rows, minimized) best first: non-dominated fronts in order (moocore), each
    front ordered by ``ranking`` (``"eps_net"``: :func:`eps_net_order`; ``"crowding"``: decreasing
    :func:`crowding_distance`, ties to the lower index); rows with a non-finite value come last, in index
    order. ``limit``: stop after the front that reaches ``limit`` indices (the rest is left out)."""
    if ranking not in RANKINGS:
        raise ValueError(f"ranking={ranking!r} is not one of {', '.join(RANKINGS)}")
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    finite = np.flatnonzero(np.all(np.isfinite(pts), axis=1))
    out: list[np.ndarray] = []
    count = 0
    if len(finite):
        ranks = pareto_ranks(pts[finite])
        for r in range(int(ranks.max()) + 1):
            if limit is not None and count >= limit:
                break
            members = finite[ranks == r]
            if ranking == "eps_net":
                within = eps_net_order(pts[members])
            else:
                within = np.argsort(-crowding_distance(pts[members]), kind="stable")
            out.append(members[within])
            count += len(members)
    if limit is None or count < limit:
        out.append(np.setdiff1d(np.arange(n), finite))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


# ---------------------------------------------------------------- scalarization (ParEGO)
def weight_lattice(divisions: int, k: int) -> np.ndarray:
    """The ``C(divisions + k - 1, k - 1)`` weight vectors ``(l_1, ..., l_k) / divisions`` with non-negative
    integers ``l_i`` summing to ``divisions`` (Knowles 2006), as rows in lexicographic order of ``l``."""
    if isinstance(divisions, bool) or not isinstance(divisions, (int, np.integer)) or divisions < 1:
        raise ValueError(f"divisions={divisions!r} must be an integer >= 1")
    if k < 1:
        raise ValueError(f"k={k!r} objectives must be >= 1")
    rows = []
    # stars and bars: the k - 1 bar positions among divisions + k - 1 slots
    for bars in combinations(range(divisions + k - 1), k - 1):
        edges = (-1, *bars, divisions + k - 1)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(k)])
    w = np.asarray(rows, dtype=np.float64) / divisions
    return w[np.lexsort(w.T[::-1])]


def knowles_divisions(k: int) -> int:
    """Knowles's ParEGO code's lattice size per number of objectives: s = 10 for 2 (11 vectors), 4 for 3
    (15 vectors), 3 for 4 (20 vectors); 1 objective: 1 (the single weight 1)."""
    return {1: 1, 2: 10, 3: 4, 4: 3}.get(int(k), 3)


def augmented_chebyshev(f: np.ndarray, w: np.ndarray, rho: float = 0.05) -> np.ndarray:
    """``max_i(w_i f_i) + rho * sum_i(w_i f_i)`` per row of ``f`` (the ideal point is 0: ``f`` normalized).
    A row with a non-finite value gives ``+inf``."""
    f = np.atleast_2d(np.asarray(f, dtype=np.float64))
    bad = ~np.all(np.isfinite(f), axis=1)
    wf = np.where(bad[:, None], 0.0, f) * np.asarray(w, dtype=np.float64)
    out = wf.max(axis=1) + rho * wf.sum(axis=1)
    out[bad] = np.inf
    return out


def _worst_for_nonfinite(y: np.ndarray) -> np.ndarray:
    """``y`` with non-finite values replaced by the largest finite one (a diverged result counts as the
    worst seen; all non-finite: 0)."""
    y = np.asarray(y, dtype=np.float64).copy()
    bad = ~np.isfinite(y)
    if bad.any():
        y[bad] = float(y[~bad].max()) if (~bad).any() else 0.0
    return y


# ---------------------------------------------------------------- GP helpers
_BLAS: Any = None


def _one_blas_thread() -> Any:
    """A context in which BLAS runs one thread: a GP's matrices (at most a few hundred rows) are far
    slower with threads competing for the cores of parallel runs."""
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        except Exception:  # noqa: BLE001 - threadpoolctl missing or failing: leave the threads alone
            _BLAS = False
    if _BLAS is False:
        import contextlib

        return contextlib.nullcontext()
    return _BLAS.limit(limits=1, user_api="blas")


#: added to the diagonal of a kernel matrix (scikit-learn's ``alpha`` default)
_JITTER = 1e-10


class Posterior:
    """The GP posterior given inputs ``X`` and targets ``Y`` (n, S): one column per fantasy sample.

    ``kernel`` is a fitted scikit-learn kernel that includes the white noise (``kernel(X)`` adds it to the
    diagonal, ``kernel(A, B)`` does not), so this is scikit-learn's ``predict`` for each column, sharing one
    Cholesky factor: the fantasies change the targets of the pending points, not the covariance.
    """

    __slots__ = ("kernel", "X", "L", "alpha")

    def __init__(self, kernel: Any, X: np.ndarray, Y: np.ndarray) -> None:
        self.kernel = kernel
        self.X = X
        K = kernel(X)
        K[np.diag_indices_from(K)] += _JITTER
        self.L = cholesky(K, lower=True, check_finite=False)
        self.alpha = cho_solve((self.L, True), Y, check_finite=False)

    def mean(self, Xq: np.ndarray) -> np.ndarray:
        """Posterior means at ``Xq``, shape (m, S)."""
        return self.kernel(Xq, self.X) @ self.alpha

    def mean_sd(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means (m, S) and the predictive standard deviation (m,) of a noisy value at ``Xq``."""
        Ks = self.kernel(Xq, self.X)
        v = solve_triangular(self.L, Ks.T, lower=True, check_finite=False)
        var = self.kernel.diag(Xq) - np.einsum("ij,ij->j", v, v)
        return Ks @ self.alpha, np.sqrt(np.maximum(var, 1e-24))

    def sample(self, Xq: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` joint samples (m, n) of noisy values at ``Xq`` given the first target column."""
        Ks = self.kernel(Xq, self.X)
        v = solve_triangular(self.L, Ks.T, lower=True, check_finite=False)
        mu = Ks @ self.alpha[:, 0]
        cov = self.kernel(Xq) - v.T @ v
        cov = 0.5 * (cov + cov.T)
        try:
            root = cholesky(cov + _JITTER * np.eye(len(cov)), lower=True, check_finite=False)
        except LinAlgError:  # numerically indefinite: the symmetric square root of its positive part
            w, U = np.linalg.eigh(cov)
            root = U * np.sqrt(np.maximum(w, 0.0))
        return mu[:, None] + root @ rng.standard_normal((len(Xq), n))


class GPModel:
    """scikit-learn's ``GaussianProcessRegressor`` with ``C * Matern(nu=2.5, ARD) + White`` (or a given kernel) and
    ``normalize_y``, whose hyperparameters are fitted by maximum likelihood (scikit-learn's L-BFGS-B, no
    restarts, started at the previous fit) when the data has grown by ``refit_growth`` (a fraction, at
    least one point) since the last fit, and kept fixed in between."""

    def __init__(self, dim: int, refit_growth: float = 0.2, kernel: Any = None) -> None:
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        #: the kernel (its hyperparameters: the last fit's); ``kernel`` replaces the default one
        self.kernel = (
            ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(max(dim, 1)), (1e-2, 1e2), nu=2.5)
            + WhiteKernel(1e-3, (1e-6, 1e-1))
            if kernel is None
            else kernel
        )
        self.refit_growth = float(refit_growth)
        self.n_at_fit = 0  #: data points seen at the last hyperparameter fit
        self.n_fits = 0  #: hyperparameter fits so far

    def refit_due(self, n_seen: int) -> bool:
        """Whether :meth:`fit` with ``n_seen`` data seen refits the hyperparameters (else :attr:`kernel`,
        the last fit's, is kept: a caller that only needs the kernel may then skip the fit)."""
        return n_seen >= max(self.n_at_fit + 1, math.ceil(self.n_at_fit * (1 + self.refit_growth)))

    def fit(self, X: np.ndarray, y: np.ndarray, n_seen: int) -> Any:
        """A GP fitted on ``(X, y)``; ``n_seen``: the data seen so far (decides a hyperparameter refit)."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        refit = self.refit_due(n_seen)
        gp = GaussianProcessRegressor(
            self.kernel,
            normalize_y=True,
            optimizer="fmin_l_bfgs_b" if refit else None,
            n_restarts_optimizer=0,
            copy_X_train=False,
        )
        with _one_blas_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(X, y)
        if refit:
            self.kernel = gp.kernel_
            self.n_at_fit = int(n_seen)
            self.n_fits += 1
        return gp

    def posterior(self, X: np.ndarray, y: np.ndarray, n_seen: int) -> FittedGP:
        """The GP on ``(X, y)`` as :meth:`fit` gives it (hyperparameters refitted by the same rule), computed
        without a scikit-learn fit when no refit is due: one Cholesky factor of the kernel kept from the last
        refit, where scikit-learn's ``fit`` factors it twice (once more for the log marginal likelihood)."""
        kernel = self.fit(X, y, n_seen).kernel_ if self.refit_due(n_seen) else self.kernel
        y = np.asarray(y, dtype=np.float64)
        mean, std = float(y.mean()), float(y.std())
        std = std if std > 10 * np.finfo(np.float64).eps else 1.0  # scikit-learn's _handle_zeros_in_scale
        with _one_blas_thread():
            post = Posterior(kernel, X, ((y - mean) / std)[:, None])
        return FittedGP(post, mean, std)

    @staticmethod
    def predict(gp: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with _one_blas_thread():
            mu, sd = gp.predict(X, return_std=True)
        return np.asarray(mu, dtype=np.float64), np.maximum(np.asarray(sd, dtype=np.float64), 1e-12)


class FittedGP:
    """A :class:`Posterior` on targets standardized by their ``mean`` and ``std`` (scikit-learn's
    ``normalize_y``), predicting on the targets' own scale."""

    __slots__ = ("post", "mean", "std")

    def __init__(self, post: Posterior, mean: float, std: float) -> None:
        self.post, self.mean, self.std = post, mean, std

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive means and standard deviations (of a noisy value, at least 1e-12) at ``X``."""
        with _one_blas_thread():
            mu, sd = self.post.mean_sd(X)
        return mu[:, 0] * self.std + self.mean, np.maximum(sd * self.std, 1e-12)


def expected_improvement(mu: np.ndarray, sd: np.ndarray, target: np.ndarray | float) -> np.ndarray:
    """``E[max(target - Y, 0)]`` for ``Y ~ N(mu, sd^2)`` (minimization)."""
    z = (target - mu) / sd
    return (target - mu) * ndtr(z) + sd * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def probability_of_improvement(mu: np.ndarray, sd: np.ndarray, target: np.ndarray | float) -> np.ndarray:
    """``P(Y < target)`` for ``Y ~ N(mu, sd^2)``."""
    return ndtr((target - mu) / sd)


class _Encoder:
    """Configurations -> VectorSpace unit vectors (inactive values: -0.5); a table's rows encoded once."""

    #: a table's neighbours of a vector looked at for one not trained yet before the sampler's own search
    NEIGHBOURS = 16

    def __init__(self, space: Any, sampler: Any) -> None:
        self.vspace = VectorSpace(space)
        self.sampler = sampler
        self._conditional = bool(space.conditions)
        self._table: np.ndarray | None = None
        self._tree: Any = None

    @property
    def dim(self) -> int:
        return self.vspace.dim

    def encode(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        sampler = self.sampler
        if sampler.is_finite and configs:
            idx = [sampler.index(c) for c in configs]
            if all(i is not None for i in idx):
                return self.table()[np.asarray(idx, dtype=np.int64)]
        return self._raw(configs)

    def table(self) -> np.ndarray:
        """The encoded rows of a finite sampler's configurations (built once)."""
        if self._table is None:
            self._table = self._raw(self.sampler.configurations)
        return self._table

    def _raw(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        x = self.vspace.encode(list(configs), mode="unit")
        return np.where(np.isnan(x), _INACTIVE, x).reshape(len(configs), self.vspace.dim)

    def decode(self, vectors: np.ndarray) -> list[dict[str, Any]]:
        return self.vspace.decode(np.clip(vectors, 0.0, 1.0), mode="unit")

    def nearest_open(self, vectors: np.ndarray, fidelity: float) -> list[dict[str, Any]]:
        """Per row of ``vectors`` (unit space): on a table, the held configuration nearest to it in this
        encoding that no trial of the run has trained to ``fidelity`` (one batched k-d tree query of
        :attr:`NEIGHBOURS` neighbours; beyond them, ``sampler.project(decoded, fidelity)``); on a
        continuous space, ``sampler.project`` of its decoding (clipped, integers rounded)."""
        sampler = self.sampler
        if not sampler.is_finite:
            return [sampler.project(c) for c in self.decode(vectors)]
        if self._conditional:  # inactive values as the table's rows hold them
            vectors = self._raw(self.decode(vectors))
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.table())
        reached = sampler.reached_array()
        k = min(self.NEIGHBOURS, len(reached))
        _, idx = self._tree.query(vectors, k=k)
        idx = np.asarray(idx, dtype=np.int64).reshape(len(vectors), k)
        ok = reached[idx] < fidelity
        confs = sampler.configurations
        out = []
        for v, row, good in zip(vectors, idx, ok):
            hit = np.flatnonzero(good)
            if hit.size:
                out.append(dict(confs[int(row[hit[0]])]))
            else:
                out.append(sampler.project(self.decode(v[None, :])[0], fidelity))
        return out


def _config_key(config: Mapping[str, Any]) -> tuple:
    """A hashable key of a configuration (its items by name; values by ``repr`` when unhashable)."""
    try:
        key = tuple(sorted(config.items()))
        hash(key)
        return key
    except TypeError:
        return tuple(sorted((str(k), repr(v)) for k, v in config.items()))


# ---------------------------------------------------------------- mo-rs
class MORandomSearch(RandomSearch):
    """Random search at the maximum fidelity for multi-objective runs (``mo-rs``): the reference.

    The same draws as :class:`~runners.optimizer.RandomSearch` (``rs``) for the same seed; it takes the
    run's ``objectives`` so that they are recorded with the run (``describe()``), and ignores them.
    """

    name = "mo-rs"

    def __init__(self, *, objectives: MultiObjective | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.objectives = objectives
        self._vectors = ObjectiveVectors(objectives, self.fidelity.incremental)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "objectives": self._vectors.describe()}


# ---------------------------------------------------------------- MOASHA
class MOASHA(Optimizer):
    """Multi-objective asynchronous successive halving (Schmucker et al. 2021; Syne Tune's ``MOASHA``).

    The rung ladder and the promotion rule are our single-objective ``asha``'s (Li et al., MLSys 2020,
    Algorithm 2): when a worker frees up, look from the top rung (below the maximum) down for a
    configuration among the best ``floor(n / eta)`` of its rung's ``n`` results that was not promoted yet
    and continue it to the next rung; otherwise start a new configuration (uniformly from the sampler) at
    the bottom rung. "Best" is the multi-objective order of :func:`multiobjective_order` on the results'
    normalized objective vectors (:class:`ObjectiveVectors`): non-dominated fronts first, within a front
    the epsilon-net order (``ranking="eps_net"``, Syne Tune's default: start at the best point on the
    first objective, then the point farthest from those picked) or NSGA-II's crowding distance
    (``ranking="crowding"``). Results with a non-finite objective (diverged) rank last. Costs are
    cumulative: a promoted configuration's cost in a rung includes its lower rungs. The ranking of a rung
    is recomputed (only) when the rung has received a result since the last ask.
    """

    name = "moasha"

    def __init__(
        self,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        ranking: str = "eps_net",
        objectives: MultiObjective | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if ranking not in RANKINGS:
            raise ValueError(f"ranking={ranking!r} is not one of {', '.join(RANKINGS)}")
        self.eta = check_eta(eta)
        self.ranking = ranking
        self.rungs = rung_ladder(self.fidelity, self.eta, min_fidelity)
        self.objectives = objectives
        self._vectors = ObjectiveVectors(objectives, self.fidelity.incremental)
        n = len(self.rungs)
        #: per rung: the told trials and their objective vectors, in arrival order
        self.trials: list[list[Trial]] = [[] for _ in range(n)]
        self.points: list[list[np.ndarray]] = [[] for _ in range(n)]
        #: per rung: trial ids promoted from it
        self.promoted: list[set[int]] = [set() for _ in range(n)]
        self._top: list[tuple[int, list[int]]] = [(-1, []) for _ in range(n)]

    def n_top(self, rung: int) -> int:
        """``floor(|rung| / eta)``: how many of a rung's configurations may be promoted."""
        return math.floor(len(self.trials[rung]) / self.eta + 1e-9)

    def top(self, rung: int) -> list[int]:
        """Positions (arrival order) in ``rung`` of its best ``n_top`` results, best first."""
        size = len(self.trials[rung])
        cached_size, cached = self._top[rung]
        if cached_size == size:
            return cached
        k = self.n_top(rung)
        top: list[int] = []
        if k:
            order = multiobjective_order(np.vstack(self.points[rung]), self.ranking, limit=k)
            top = order[:k].tolist()
        self._top[rung] = (size, top)
        return top

    def ranked(self, rung: int) -> list[Trial]:
        """Every told trial of ``rung``, best first (for inspection)."""
        if not self.trials[rung]:
            return []
        order = multiobjective_order(np.vstack(self.points[rung]), self.ranking)
        return [self.trials[rung][i] for i in order.tolist()]

    def next_promotion(self) -> tuple[int, Trial] | None:
        """(rung, trial) of the configuration to promote to rung + 1, or None."""
        for k in range(len(self.rungs) - 2, -1, -1):
            done = self.promoted[k]
            for i in self.top(k):
                t = self.trials[k][i]
                if t.trial_id not in done:
                    return k, t
        return None

    def _ask(self) -> Trial:
        promo = self.next_promotion()
        if promo is not None:
            k, trial = promo
            self.promoted[k].add(trial.trial_id)
            return self.continue_trial(trial, self.rungs[k + 1], rung=k + 1)
        return self.new_trial(self.sampler.sample_one(self.rng, self.rungs[0]), self.rungs[0], rung=0)

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        vec = self._vectors(result)
        k = int(trial.info["rung"])
        self.trials[k].append(trial)
        self.points[k].append(vec)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "eta": self.eta,
            "rungs": list(self.rungs),
            "ranking": self.ranking,
            "objectives": self._vectors.describe(),
        }


# ---------------------------------------------------------------- model-based base
class _ModelBased(Optimizer):
    """Shared by ParEGO and CostPareto: the initial design, the encoder, candidate generation."""

    def __init__(
        self,
        *,
        n_init: int | None,
        max_model_points: int,
        refit_growth: float,
        objectives: MultiObjective | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fidelity_value = float(self.fidelity.max)
        self.objectives = objectives
        self._vectors = ObjectiveVectors(objectives, self.fidelity.incremental)
        self.encoder = _Encoder(self.space, self.sampler)
        d = self.encoder.dim
        b = self.budget_evaluations
        n_init = self.scale_default(
            "n_init",
            n_init,
            None if b is None else int(min(11 * d - 1, max(5, round(b / 10)))),
            "min(11 d - 1, max(5, round(B / 10))), d = encoded dimensions, B = budget in full-fidelity "
            "evaluations",
            max(11 * d - 1, 1),
        )
        if isinstance(n_init, bool) or int(n_init) < 1:
            raise ValueError(f"n_init={n_init!r} must be an integer >= 1")
        if int(max_model_points) < 4:
            raise ValueError(f"max_model_points={max_model_points!r} must be >= 4")
        if not refit_growth >= 0:
            raise ValueError(f"refit_growth={refit_growth!r} must be >= 0")
        self.n_init = int(n_init)
        self.max_model_points = int(max_model_points)
        self.refit_growth = float(refit_growth)
        #: the evaluated configurations (``trial.config``), their encodings and trial ids, in tell order
        self.configs: list[dict[str, Any]] = []
        self.X: list[np.ndarray] = []
        self.told_ids: list[int] = []
        self._seen: set[tuple] = set()  # continuous samplers: configurations asked (a table's sampler knows)

    # -------------------------------------------------- helpers
    def _random_trial(self, **info: Any) -> Trial:
        return self._fresh(self.sampler.sample_one(self.rng, self.fidelity_value), **info)

    def _fresh(self, config: dict[str, Any], **info: Any) -> Trial:
        if not self.sampler.is_finite:
            self._seen.add(_config_key(config))
        return self.new_trial(config, self.fidelity_value, **info)

    def _in_init(self) -> bool:
        return self.n_trials < self.n_init or len(self.X) < 2

    def _perturbed(self, centers: np.ndarray, n: int, sd: float) -> list[dict[str, Any]]:
        """``n`` configurations: Gaussian perturbations (``sd`` in unit space) of ``centers`` in turn, mapped
        to configurations the benchmark answers that were not asked yet in this run (on a table: the nearest
        held configuration not trained to the maximum fidelity)."""
        if n <= 0 or len(centers) == 0:
            return []
        base = centers[np.arange(n) % len(centers)]
        base = np.where(base == _INACTIVE, self.rng.random(base.shape), base)
        vectors = np.clip(base + self.rng.normal(0.0, sd, size=base.shape), 0.0, 1.0)
        return self.encoder.nearest_open(vectors, self.fidelity_value)

    def _dedup(self, configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Distinct configurations, those already asked (continuous samplers) left out, order kept."""
        out, keys = [], set()
        finite = self.sampler.is_finite
        for c in configs:
            key = self.sampler.index(c) if finite else None
            if key is None:
                key = _config_key(c)
            if key in keys or key in self._seen:
                continue
            keys.add(key)
            out.append(c)
        return out

    def _record(self, trial: Trial) -> None:
        self.configs.append(dict(trial.config))
        self.X.append(self.encoder.encode([trial.config])[0])
        self.told_ids.append(trial.trial_id)

    def _model_rows(self, y: np.ndarray) -> np.ndarray:
        """Indices of the points the GP is fitted on: all, or beyond ``max_model_points`` the best half by
        ``y`` and the most recent of the others."""
        n = len(y)
        if n <= self.max_model_points:
            return np.arange(n)
        half = self.max_model_points // 2
        best = np.argsort(y, kind="stable")[:half]
        rest = np.setdiff1d(np.arange(n), best)[-(self.max_model_points - half) :]
        return np.sort(np.concatenate([best, rest]))


# ---------------------------------------------------------------- ParEGO
class ParEGO(_ModelBased):
    """ParEGO (Knowles, IEEE TEC 2006) at the maximum fidelity.

    The first ``n_init`` trials are random configurations (default scaled to the budget:
    ``min(11 d - 1, max(5, round(B / 10)))``; Knowles uses ``11 d - 1``, a Latin hypercube). Then, per
    proposal:

    1. draw a weight vector uniformly from the simplex lattice of ``divisions`` (s) divisions,
       ``C(s + k - 1, k - 1)`` vectors for k objectives (default: Knowles's s = 10 for 2 objectives,
       11 vectors; 4 for 3, 15 vectors; 3 for 4, 20 vectors), among the vectors no pending trial uses
       (all of them when every vector is in use), so asynchronous workers get different weights;
    2. scalarize every result's normalized objective vector with the augmented Chebyshev function
       ``max_i(w_i f_i) + rho * sum_i(w_i f_i)``, rho = 0.05 (a diverged result counts as the worst value);
    3. fit a GP (:class:`GPModel`: Matern 5/2 with ARD length scales, constant amplitude, white noise,
       ``normalize_y``) on the encoded configurations (VectorSpace unit vectors) of at most
       ``max_model_points`` results (the best half by the scalarization and the most recent others);
    4. return the candidate of highest expected improvement over the best scalarized value among
       ``n_candidates`` random configurations (on a table: distinct ones not evaluated yet) and
       ``n_mutations`` Gaussian perturbations (sd ``mutation_sd`` in unit space) of the five best
       results under this scalarization (in turn), projected onto configurations not evaluated yet.

    Kernel hyperparameters are fitted when the data has grown by ``refit_growth`` (20 %, at least one
    result) since the last fit and kept in between (Knowles refits every iteration; with the 20 % rule a
    100-evaluation run fits them about 13 times), which keeps an ask at a few milliseconds; EI is maximized
    over candidates, not by Knowles's genetic algorithm over the continuous space.
    """

    name = "parego"

    def __init__(
        self,
        *,
        n_init: int | None = None,
        divisions: int | None = None,
        rho: float = 0.05,
        n_candidates: int = 256,
        n_mutations: int = 64,
        mutation_sd: float = 0.1,
        max_model_points: int = 256,
        refit_growth: float = 0.2,
        objectives: MultiObjective | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            n_init=n_init,
            max_model_points=max_model_points,
            refit_growth=refit_growth,
            objectives=objectives,
            **kwargs,
        )
        k = len(self._vectors)
        self.divisions_rule = "given"
        if divisions is None:
            divisions = knowles_divisions(k)
            self.divisions_rule = "Knowles's code by number of objectives: 10 for 2, 4 for 3, 3 for 4"
        if not rho >= 0 or n_candidates < 0 or n_mutations < 0 or n_candidates + n_mutations < 1:
            raise ValueError(
                f"rho={rho!r} must be >= 0 and n_candidates={n_candidates!r} + n_mutations={n_mutations!r} >= 1"
            )
        if not mutation_sd > 0:
            raise ValueError(f"mutation_sd={mutation_sd!r} must be > 0")
        self.divisions = int(divisions)
        self.weights = weight_lattice(self.divisions, k)
        self.rho = float(rho)
        self.n_candidates = int(n_candidates)
        self.n_mutations = int(n_mutations)
        self.mutation_sd = float(mutation_sd)
        self.F: list[np.ndarray] = []  #: normalized objective vectors, in tell order
        self.gp = GPModel(self.encoder.dim, self.refit_growth)

    def draw_weight(self) -> int:
        """Index into :attr:`weights` of a vector drawn uniformly among those no pending trial uses."""
        used = {t.info.get("weight") for t in self.pending.values()}
        free = [i for i in range(len(self.weights)) if i not in used]
        pool = free if free else list(range(len(self.weights)))
        return pool[int(self.rng.integers(len(pool)))]

    def _ask(self) -> Trial:
        if self._in_init():
            return self._random_trial()
        wi = self.draw_weight()
        w = self.weights[wi]
        y_all = _worst_for_nonfinite(augmented_chebyshev(np.vstack(self.F), w, self.rho))
        rows = self._model_rows(y_all)
        X, y = np.vstack(self.X)[rows], y_all[rows]
        gp = self.gp.fit(X, y, len(y_all))
        best5 = rows[np.argsort(y, kind="stable")[:5]]
        candidates = self.sampler.sample(self.n_candidates, self.rng, self.fidelity_value)
        candidates += self._perturbed(np.vstack(self.X)[best5], self.n_mutations, self.mutation_sd)
        candidates = self._dedup(candidates)
        if not candidates:
            return self._random_trial(weight=wi)
        mu, sd = GPModel.predict(gp, self.encoder.encode(candidates))
        ei = expected_improvement(mu, sd, float(y.min()))
        return self._fresh(candidates[int(np.argmax(ei))], weight=wi)

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        self.F.append(self._vectors(result))
        self._record(trial)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "objectives": self._vectors.describe(),
            "fidelity_value": self.fidelity_value,
            "n_init": self.n_init,
            "divisions": self.divisions,
            "divisions_rule": self.divisions_rule,
            "n_weights": len(self.weights),
            "rho": self.rho,
            "n_candidates": self.n_candidates,
            "n_mutations": self.n_mutations,
            "mutation_sd": self.mutation_sd,
            "max_model_points": self.max_model_points,
            "refit_growth": self.refit_growth,
            "model": "sklearn GaussianProcessRegressor, C * Matern(nu=2.5, ARD) + White, normalize_y",
        }


# ---------------------------------------------------------------- cost-pareto
class CostPareto(_ModelBased):
    """A cost-aware search around the (loss, cost) Pareto front, in the spirit of CARBS (Fetterman et al.
    2023, "Tune As You Scale"); not CARBS (see docs/optimizers.md for the differences).

    Objectives: the run's first objective other than ``cost`` (the performance; its "lower is better"
    value, ``+inf`` when diverged) and the cumulative training cost of the result (whether or not
    ``cost`` is among the run's objectives). Every trial runs at the maximum fidelity. The first
    ``n_init`` trials are random (the rule of :class:`ParEGO`). Then, per proposal:

    1. the Pareto front of the results' (loss, cost) (moocore; diverged results left out); pick one member
       uniformly (``front_pick="uniform"``) or with probability proportional to the gap in log cost
       between its neighbours on the front (``"sparse"``: less-explored cost levels first);
    2. ``n_candidates`` Gaussian perturbations (sd ``perturbation_sd`` in unit space) of its encoded
       configuration, projected onto configurations not evaluated yet;
    3. two GPs (:class:`GPModel`) on the results: the loss (diverged: the worst loss seen) and the log cost;
    4. the target of a candidate is the front's loss at the candidate's predicted cost (linear in log
       cost between front members, flat beyond the cheapest and the most expensive member); return the
       candidate of highest expected improvement (``acquisition="ei"``) or probability of improvement
       (``"pi"``) of its loss over that target. The cost prediction's uncertainty is not used.

    ``trial.info["center"]`` is the trial id of the front member a proposal was drawn around.
    """

    name = "cost-pareto"

    def __init__(
        self,
        *,
        n_init: int | None = None,
        n_candidates: int = 64,
        perturbation_sd: float = 0.15,
        front_pick: str = "uniform",
        acquisition: str = "ei",
        max_model_points: int = 256,
        refit_growth: float = 0.2,
        objectives: MultiObjective | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            n_init=n_init,
            max_model_points=max_model_points,
            refit_growth=refit_growth,
            objectives=objectives,
            **kwargs,
        )
        if front_pick not in FRONT_PICKS:
            raise ValueError(f"front_pick={front_pick!r} is not one of {', '.join(FRONT_PICKS)}")
        if acquisition not in ("ei", "pi"):
            raise ValueError(f"acquisition={acquisition!r} is not one of ei, pi")
        if int(n_candidates) < 1 or not perturbation_sd > 0:
            raise ValueError(
                f"n_candidates={n_candidates!r} must be >= 1 and perturbation_sd={perturbation_sd!r} > 0"
            )
        self.n_candidates = int(n_candidates)
        self.perturbation_sd = float(perturbation_sd)
        self.front_pick = front_pick
        self.acquisition = acquisition
        self.performance = self._performance_metric()
        self.loss: list[float] = []  #: the performance objective's loss per told result
        self.cost: list[float] = []  #: the cumulative cost per told result
        self.loss_gp = GPModel(self.encoder.dim, self.refit_growth)
        self.cost_gp = GPModel(self.encoder.dim, self.refit_growth)

    def _performance_metric(self) -> Any:
        """The run's first objective that is not ``cost`` (None: the benchmark's objective, ``result.loss``)."""
        if self.objectives is None:
            return None
        others = [m for m in self.objectives.metrics if m.name != "cost"]
        if len(others) > 1:  # a two-objective method: refuse rather than leave objectives out unseen
            raise ValueError(
                f"cost-pareto searches the trade-off of one performance objective with cost; objectives="
                f"{list(self.objectives.names)} names {len(others)} others ({', '.join(m.name for m in others)}). "
                "Allowed: one metric, with or without cost"
            )
        return others[0] if others else None

    def front(self) -> np.ndarray:
        """Positions (tell order) of the non-dominated (loss, cost) results with a finite loss, by cost."""
        loss, cost = np.asarray(self.loss), np.asarray(self.cost)
        ok = np.flatnonzero(np.isfinite(loss) & np.isfinite(cost))
        if not len(ok):
            return ok
        members = ok[nondominated(np.column_stack([loss[ok], cost[ok]]))]
        return members[np.lexsort((loss[members], cost[members]))]

    def pick(self, members: np.ndarray) -> int:
        """A position among the front ``members`` (sorted by cost) to search around."""
        if self.front_pick == "uniform" or len(members) < 2:
            return int(members[int(self.rng.integers(len(members)))])
        lc = np.log(np.maximum(np.asarray(self.cost)[members], 1e-12))
        padded = np.concatenate([[2 * lc[0] - lc[1]], lc, [2 * lc[-1] - lc[-2]]])
        gaps = padded[2:] - padded[:-2]
        p = gaps / gaps.sum() if gaps.sum() > 0 else np.full(len(members), 1 / len(members))
        return int(members[int(self.rng.choice(len(members), p=p))])

    def _ask(self) -> Trial:
        if self._in_init():
            return self._random_trial()
        members = self.front()
        if not len(members):
            return self._random_trial()
        center = self.pick(members)
        X_all = np.vstack(self.X)
        candidates = self._dedup(self._perturbed(X_all[[center]], self.n_candidates, self.perturbation_sd))
        if not candidates:
            return self._random_trial()
        loss = _worst_for_nonfinite(np.asarray(self.loss))
        logc = np.log(np.maximum(np.asarray(self.cost), 1e-12))
        rows = self._model_rows(loss)
        n = len(loss)
        loss_gp = self.loss_gp.fit(X_all[rows], loss[rows], n)
        cost_gp = self.cost_gp.fit(X_all[rows], logc[rows], n)
        Xc = self.encoder.encode(candidates)
        mu, sd = GPModel.predict(loss_gp, Xc)
        mu_c, _ = GPModel.predict(cost_gp, Xc)
        target = np.interp(mu_c, logc[members], np.asarray(self.loss)[members])
        if self.acquisition == "ei":
            score = expected_improvement(mu, sd, target)
        else:
            score = probability_of_improvement(mu, sd, target)
        return self._fresh(candidates[int(np.argmax(score))], center=self.told_ids[center])

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        cum = self._vectors.cumulative_cost(result)
        if self.objectives is not None:  # once per result, in tell order (it remembers costs per trial)
            losses = self.objectives.losses(result)
            perf = self.performance
            j = None if perf is None else list(self.objectives.names).index(perf.name)
            loss = float(result.loss) if j is None else float(losses[j])
        else:
            loss = float(result.loss)
        self.loss.append(loss)
        self.cost.append(cum)
        self._record(trial)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "objectives": self._vectors.describe(),
            "performance": None if self.performance is None else self.performance.name,
            "fidelity_value": self.fidelity_value,
            "n_init": self.n_init,
            "n_candidates": self.n_candidates,
            "perturbation_sd": self.perturbation_sd,
            "front_pick": self.front_pick,
            "acquisition": self.acquisition,
            "max_model_points": self.max_model_points,
            "refit_growth": self.refit_growth,
            "model": "two sklearn GaussianProcessRegressors (loss, log cost), C * Matern(nu=2.5, ARD) + White",
        }
