"""CQR: Bayesian optimization with conformalized quantile regression, single-fidelity and on ASHA.

Salinas, Golebiowski, Klein, Seeger and Archambeau, "Optimizing Hyperparameters with Conformal Quantile
Regression", ICML 2023; the reference implementation is Syne Tune's (version 0.16: ``baselines.CQR`` and
``baselines.ASHACQR``, ``searchers/conformal/``), read for every default below.

* :class:`CQR` (``cqr``): single-fidelity, every trial at the maximum fidelity.
* :class:`CQRASHA` (``cqr-asha``): :class:`~runners.optimizers.asha.ASHA` schedules (rungs, promotions,
  continuations: exactly those of ``asha``), and CQR chooses each new configuration for the bottom rung.

The method, and what this implementation keeps:

* **Quantile regression.** ``n_quantiles`` (5) gradient-boosted quantile regressors, one per level
  ``k / (n_quantiles + 1)``, k = 1..n_quantiles (1/6, 1/3, 1/2, 2/3, 5/6; Syne Tune rounds the same levels
  to 0.17, 0.33, 0.5, 0.67, 0.83). The target is the loss as observed (``TrialResult.loss``: Syne Tune
  fits the metric signed for minimization, untransformed; no ranking or normalization); a diverged result
  (loss ``+inf``, which Syne Tune does not handle) counts as the worst finite loss seen.
* **Conformal correction** (split conformal quantile regression, Romano, Patterson and Candes, NeurIPS 2019,
  which the paper builds on; Syne Tune's ``SymmetricConformalizedGradientBoostingQuantileRegressor``).
  Once there are more than ``min_samples_to_conformalize`` (32) observations, a random ``valid_fraction``
  (10 %, rounded up as scikit-learn's ``train_test_split`` does) is held out; the regressors are fitted on
  the rest; for each symmetric pair of levels (a, 1 - a) the conformity scores of the held-out points are
  ``E_i = max(q_a(x_i) - y_i, y_i - q_{1-a}(x_i))`` and the correction ``c`` is the
  ``ceil((n + 1)(1 - 2a))``-th smallest of the n scores (capped at the largest): ``q_a - c`` and
  ``q_{1-a} + c`` cover a fresh point with probability at least ``1 - 2a`` under exchangeability
  (:func:`conformal_shifts`). The median is not corrected. Up to 32 observations the regressors are fitted
  on everything and not corrected (Syne Tune's threshold). Departure: Syne Tune takes
  ``np.quantile(E, (1 - 2a) / (1 + 1/n))``, a level slightly *below* the nominal coverage; here it is
  the finite-sample-valid order statistic of Romano et al.
* **Acquisition** (the paper's Thompson-sampling-like rule; Syne Tune's ``QuantileRegressionSurrogateModel``
  sampler). ``n_candidates`` (2,000) random configurations are drawn when the model is fitted; at each
  proposal every candidate draws one of the ``n_quantiles`` conformalized quantiles uniformly and
  independently of the other candidates, and the candidate with the lowest drawn value is proposed
  (:func:`pick_by_sampled_quantiles`). On a table the candidates are held configurations not yet trained to
  the fidelity of the trial (never evaluated in the run, in practice), so no proposal is a repeat.
* **Initial design**: random configurations while fewer than ``n_init`` (5) configurations have a result
  (Syne Tune's ``num_init_random_draws``; with asynchronous workers, the configurations started before the
  fifth result are random as well).
* **Multi-fidelity** (the paper's multi-fidelity section; Syne Tune's ``ASHACQR`` = ASHA with the
  ``LastValueMultiFidelitySearcher`` around the CQR searcher): one model over every configuration with a
  result, whose target is the configuration's *last observed* loss, i.e. at the highest rung it reached;
  the fidelity is not an input and no rung is singled out. ASHA's early-stopped configurations thereby
  enter with their (typically worse) low-fidelity values. An observation is a configuration: a promotion
  updates its target but does not count as a new observation for the initial design and the refit rule.

What is simplified:

* **Boosting.** Syne Tune fits scikit-learn's ``GradientBoostingRegressor(loss="quantile")`` with its
  defaults (100 trees of depth 3, learning rate 0.1, leaves of at least one sample, no subsampling).
  Here the same settings are fitted by scikit-learn's histogram-based
  ``HistGradientBoostingRegressor(loss="quantile")`` (``max_iter=100``, ``learning_rate=0.1``,
  ``max_depth=3``, ``min_samples_leaf=1``, no early stopping, no L2 penalty), four to five times faster
  here on one thread; its split search is exact where a feature takes at most 255 distinct values (every
  table's and fewer than 256 observations' case), binned otherwise. Features: the configuration's
  [0, 1] encoding (``VectorSpace``, log scale for log hyperparameters; an inactive value -0.5), with
  categorical hyperparameters of more than two choices one-hot encoded, as Syne Tune's pipeline does
  (trees are invariant to Syne Tune's standardization of numbers). One thread (BLAS and OpenMP).
* **Refits.** Syne Tune refits after every new observation (``update_frequency=1``) and draws its
  candidates at each fit. Here the model is refitted when the number of observations has grown by
  ``refit_growth`` (20 %, at least one) since the last fit (0: after every new one, as Syne Tune), and
  the candidates are drawn at each fit; between fits each proposal draws new quantiles for the remaining
  candidates (a proposed candidate leaves the pool; Syne Tune keeps it, ``replace_config=False``, and may
  propose it again to the next worker). A pool used up before the next fit is drawn again. On a
  continuous space, candidates equal to a configuration proposed before are dropped.
* No ``max_fit_samples`` subsampling (Syne Tune's default: none either) and no ``points_to_evaluate``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..optimizer import Optimizer, TableExhausted, Trial, TrialResult
from .asha import ASHA
from .multiobjective import _config_key, _Encoder

__all__ = [
    "BOOSTING",
    "CQR",
    "CQRASHA",
    "CQRSearcher",
    "ConformalQuantileRegressor",
    "conformal_shifts",
    "pick_by_sampled_quantiles",
    "quantile_levels",
]

#: the boosted regressor of each quantile: Syne Tune's GradientBoostingRegressor defaults, histogram-fitted
BOOSTING: dict[str, Any] = {
    "max_iter": 100,
    "learning_rate": 0.1,
    "max_depth": 3,
    "max_leaf_nodes": None,
    "min_samples_leaf": 1,
    "l2_regularization": 0.0,
    "early_stopping": False,
}


# ---------------------------------------------------------------- the model
def quantile_levels(n_quantiles: int) -> np.ndarray:
    """The levels ``k / (n_quantiles + 1)``, k = 1..n_quantiles: symmetric about the median (n odd)."""
    return np.arange(1, n_quantiles + 1, dtype=np.float64) / (n_quantiles + 1)


def conformal_shifts(predictions: np.ndarray, y: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Split-conformal corrections of symmetric quantile pairs (Romano et al. 2019), one shift per level.

    ``predictions``: (n, m) predicted quantiles of ``levels`` (ascending, symmetric: ``levels[j] +
    levels[m-1-j] = 1``) at n held-out points whose observed values are ``y``. For the pair (j, m-1-j) of
    nominal coverage ``1 - 2 a`` (``a = levels[j]``) the scores are ``max(pred_j - y, y - pred_{m-1-j})``
    and ``c`` is their ``ceil((n + 1)(1 - 2 a))``-th smallest (the largest when that exceeds n). Returns the
    (m,) shifts to add to the predictions: ``-c`` at level j, ``+c`` at level m-1-j, 0 at the median. A
    negative ``c`` narrows an interval that was too wide.
    """
    p = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    lv = np.asarray(levels, dtype=np.float64)
    m = lv.size
    if p.ndim != 2 or p.shape != (y.size, m):
        raise ValueError(f"predictions of shape {p.shape} do not match {y.size} values and {m} levels")
    if y.size == 0:
        raise ValueError("conformal_shifts needs at least one held-out point")
    if not np.allclose(lv + lv[::-1], 1.0) or np.any(np.diff(lv) <= 0):
        raise ValueError(f"levels {lv.tolist()} must be ascending and symmetric about 0.5")
    n = y.size
    shifts = np.zeros(m)
    for j in range(m // 2):
        hi = m - 1 - j
        scores = np.sort(np.maximum(p[:, j] - y, y - p[:, hi]))
        k = min(math.ceil((n + 1) * (lv[hi] - lv[j]) - 1e-9), n)
        c = float(scores[max(k, 1) - 1])
        shifts[j], shifts[hi] = -c, c
    return shifts


def _one_thread() -> Any:
    """A context in which BLAS and OpenMP (the boosting's histograms) run one thread: the fits are small,
    and threads competing with parallel runs only slow them down (and make float sums order-dependent)."""
    global _POOL
    if _POOL is None:
        try:
            from threadpoolctl import ThreadpoolController

            _POOL = ThreadpoolController()
        except Exception:  # noqa: BLE001 - threadpoolctl missing or failing: leave the threads alone
            _POOL = False
    if _POOL is False:
        return contextlib.nullcontext()
    return _POOL.limit(limits=1)


_POOL: Any = None


class ConformalQuantileRegressor:
    """One boosted quantile regressor per level, conformalized on a held-out split (module docstring).

    ``min_samples_to_conformalize=None`` never conformalizes (plain quantile regression, the paper's "QR"
    ablation); otherwise the correction applies once there are more than that many observations.
    """

    def __init__(
        self,
        levels: Sequence[float],
        valid_fraction: float = 0.1,
        min_samples_to_conformalize: int | None = 32,
        boosting: Mapping[str, Any] | None = None,
    ) -> None:
        self.levels = np.asarray(levels, dtype=np.float64)
        self.valid_fraction = float(valid_fraction)
        self.min_samples_to_conformalize = min_samples_to_conformalize
        self.boosting = dict(BOOSTING if boosting is None else boosting)
        self.models: list[Any] = []
        self.shifts = np.zeros(self.levels.size)
        self.conformalized = False
        self.n_valid = 0

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> ConformalQuantileRegressor:
        """Fit on ``(X, y)``; the held-out split (when conformalizing) is drawn from ``rng``."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).ravel()
        n = y.size
        if n < 1:
            raise ValueError("ConformalQuantileRegressor.fit needs at least one observation")
        m = self.min_samples_to_conformalize
        self.conformalized = m is not None and n > m and n >= 2
        if self.conformalized:
            n_valid = min(max(math.ceil(self.valid_fraction * n - 1e-9), 1), n - 1)
            perm = rng.permutation(n)
            valid, train = perm[:n_valid], perm[n_valid:]
        else:
            n_valid, valid, train = 0, None, np.arange(n)
        from sklearn.ensemble import HistGradientBoostingRegressor

        with _one_thread():
            self.models = [
                HistGradientBoostingRegressor(loss="quantile", quantile=float(q), **self.boosting).fit(
                    X[train], y[train]
                )
                for q in self.levels
            ]
        self.n_valid = n_valid
        if valid is None:
            self.shifts = np.zeros(self.levels.size)
        else:
            self.shifts = conformal_shifts(self.predict_raw(X[valid]), y[valid], self.levels)
        return self

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """(n, m) quantile predictions before the conformal correction."""
        X = np.asarray(X, dtype=np.float64)
        with _one_thread():
            return np.column_stack([mdl.predict(X) for mdl in self.models])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n, m) conformalized quantile predictions, one column per level."""
        return self.predict_raw(X) + self.shifts


def pick_by_sampled_quantiles(
    quantiles: np.ndarray, rng: np.random.Generator, alive: np.ndarray | None = None
) -> int:
    """Index of the candidate with the lowest sampled quantile: each row of ``quantiles`` ((n, m), one row
    per candidate) draws one of its m columns uniformly, independently of the others (the paper's
    Thompson-sampling-like acquisition); rows where ``alive`` is False are left out. Ties: the first row."""
    q = np.asarray(quantiles, dtype=np.float64)
    n, m = q.shape
    draw = rng.integers(m, size=n)
    values = q[np.arange(n), draw]
    if alive is not None:
        values = np.where(alive, values, np.inf)
    return int(np.argmin(values))


# ---------------------------------------------------------------- the searcher
def _check_int(name: str, value: Any, low: int, rule: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low} ({rule})")
    return int(value)


class CQRSearcher:
    """The model-based proposals of :class:`CQR` and :class:`CQRASHA`: observations, refits, candidates.

    ``observe(config, fidelity, loss)`` records a result; a configuration's target is its loss at the highest
    fidelity observed (its last value under ASHA; its only value in single-fidelity runs).
    ``propose(fidelity)`` returns ``(configuration, how)``, ``how`` being ``"random"`` or ``"model"``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        n_init: int,
        n_quantiles: int,
        n_candidates: int,
        valid_fraction: float,
        min_samples_to_conformalize: int | None,
        refit_growth: float,
    ) -> None:
        self.n_init = _check_int("n_init", n_init, 1, "Syne Tune's num_init_random_draws: 5")
        n_quantiles = _check_int("n_quantiles", n_quantiles, 1, "an odd number; Syne Tune's default: 5")
        if n_quantiles % 2 == 0:
            raise ValueError(f"n_quantiles={n_quantiles!r} must be odd (symmetric pairs around the median)")
        self.n_candidates = _check_int("n_candidates", n_candidates, 1, "Syne Tune's default: 2000")
        if isinstance(valid_fraction, bool) or not isinstance(valid_fraction, (int, float)):
            raise ValueError(f"valid_fraction={valid_fraction!r} must be a number in (0, 1)")
        if not 0 < valid_fraction < 1:
            raise ValueError(
                f"valid_fraction={valid_fraction!r} must be in (0, 1) (Syne Tune's default: 0.1)"
            )
        if min_samples_to_conformalize is not None:
            min_samples_to_conformalize = _check_int(
                "min_samples_to_conformalize",
                min_samples_to_conformalize,
                0,
                "or null: never conformalize; Syne Tune's default: 32",
            )
        if isinstance(refit_growth, bool) or not isinstance(refit_growth, (int, float)):
            raise ValueError(f"refit_growth={refit_growth!r} must be a number >= 0")
        if not (refit_growth >= 0 and math.isfinite(refit_growth)):
            raise ValueError(
                f"refit_growth={refit_growth!r} must be a finite number >= 0 (0: refit every time)"
            )
        self.n_quantiles = n_quantiles
        self.levels = quantile_levels(n_quantiles)
        self.valid_fraction = float(valid_fraction)
        self.min_samples_to_conformalize = min_samples_to_conformalize
        self.refit_growth = float(refit_growth)
        self.sampler = optimizer.sampler
        self.rng = optimizer.rng
        self.encoder = _Encoder(optimizer.space, optimizer.sampler)
        vs = self.encoder.vspace
        #: (dimension, number of choices) of the categorical dimensions one-hot encoded (more than 2 choices)
        self._onehot = [
            (j, int(n)) for j, (k, n) in enumerate(zip(vs.kinds, vs.n_levels)) if k == "cat" and n > 2
        ]
        hot = {j for j, _ in self._onehot}
        self._plain = [j for j in range(vs.dim) if j not in hot]
        self._table_features: np.ndarray | None = None
        #: configuration key -> its row in X / y / fidelity
        self.rows: dict[Any, int] = {}
        self.X: list[np.ndarray] = []
        self.y: list[float] = []
        self.fid: list[float] = []
        self.model: ConformalQuantileRegressor | None = None
        self.n_at_fit = 0  #: observations at the last fit
        self.n_fits = 0
        self.n_conformalized_fits = 0
        self.n_model = 0  #: proposals chosen by the model
        self.n_random = 0  #: random proposals (initial design, or no finite loss yet)
        # the candidate pool of the current fit: configurations (None on a table), table rows, quantiles, alive
        self._pool_configs: list[dict[str, Any]] | None = None
        self._pool_rows: np.ndarray | None = None
        self._pool_q: np.ndarray | None = None
        self._alive: np.ndarray | None = None
        self._seen: set[tuple] = (
            set()
        )  # continuous samplers: configurations proposed (a table's sampler knows)

    # -------------------------------------------------- data
    def features(self, unit: np.ndarray) -> np.ndarray:
        """The regressors' inputs of encoded configurations: categorical dimensions of more than two choices
        one-hot (an inactive value: all zeros), the others as encoded."""
        unit = np.atleast_2d(np.asarray(unit, dtype=np.float64))
        if not self._onehot:
            return unit
        parts = [unit[:, self._plain]]
        for j, n in self._onehot:
            code = np.floor(unit[:, j] * n)
            parts.append((code[:, None] == np.arange(n)[None, :]).astype(np.float64))
        return np.hstack(parts)

    def _key(self, config: Mapping[str, Any]) -> Any:
        i = self.sampler.index(config) if self.sampler.is_finite else None
        return _config_key(config) if i is None else i

    def observe(self, config: Mapping[str, Any], fidelity: float, loss: float) -> None:
        """Record a result: the configuration's target becomes ``loss`` unless a higher fidelity was observed."""
        key = self._key(config)
        r = self.rows.get(key)
        if r is None:
            self.rows[key] = len(self.y)
            self.X.append(self.features(self.encoder.encode([config]))[0])
            self.y.append(float(loss))
            self.fid.append(float(fidelity))
        elif fidelity >= self.fid[r]:
            self.y[r] = float(loss)
            self.fid[r] = float(fidelity)

    @property
    def n_obs(self) -> int:
        """Configurations with at least one result."""
        return len(self.y)

    def targets(self) -> np.ndarray:
        """The model's targets: each configuration's last loss; a diverged one (inf) as the worst finite."""
        y = np.asarray(self.y, dtype=np.float64)
        bad = ~np.isfinite(y)
        if bad.any() and (~bad).any():
            y = np.where(bad, y[~bad].max(), y)
        return y

    # -------------------------------------------------- model
    def _refit_due(self) -> bool:
        n = self.n_obs
        if self.model is None:
            return True
        return n >= max(self.n_at_fit + 1, math.ceil(self.n_at_fit * (1 + self.refit_growth) - 1e-9))

    def fit_model(self, X: np.ndarray, y: np.ndarray) -> ConformalQuantileRegressor:
        """A conformalized quantile regressor fitted on ``(X, y)`` (tests replace it by an oracle)."""
        return ConformalQuantileRegressor(
            self.levels, self.valid_fraction, self.min_samples_to_conformalize
        ).fit(X, y, self.rng)

    def _fit(self) -> None:
        y = self.targets()
        if not np.isfinite(y).any():
            self.model = None
            return
        self.model = self.fit_model(np.vstack(self.X), y)
        self.n_at_fit = self.n_obs
        self.n_fits += 1
        self.n_conformalized_fits += bool(getattr(self.model, "conformalized", False))
        self._pool_q = None  # new model, new candidates

    def _table_feats(self) -> np.ndarray:
        if self._table_features is None:
            self._table_features = self.features(self.encoder.table())
        return self._table_features

    def _draw_pool(self, fidelity: float) -> None:
        """``n_candidates`` random candidates not trained to ``fidelity`` yet and their predicted quantiles."""
        assert self.model is not None
        if self.sampler.is_finite:
            reached = self.sampler.reached_array()
            open_ = np.flatnonzero(reached < fidelity)
            if open_.size == 0:
                raise TableExhausted(
                    f"cqr: every one of the {len(self.sampler)} configurations was trained to fidelity {fidelity:g}"
                )
            k = min(self.n_candidates, open_.size)
            rows = open_[self.rng.choice(open_.size, size=k, replace=False)]
            self._pool_rows, self._pool_configs = rows, None
            feats = self._table_feats()[rows]
        else:
            configs, keys = [], set()
            for c in self.sampler.sample(self.n_candidates, self.rng):
                key = _config_key(c)
                if key not in keys and key not in self._seen:
                    keys.add(key)
                    configs.append(c)
            if not configs:  # a small discrete space whose draws were all proposed before: one at random
                configs = self.sampler.sample(1, self.rng)
            self._pool_rows, self._pool_configs = None, configs
            feats = self.features(self.encoder.encode(configs))
        self._pool_q = self.model.predict(feats)
        self._alive = np.ones(len(self._pool_q), dtype=bool)

    def _random(self, fidelity: float) -> dict[str, Any]:
        config = self.sampler.sample_one(self.rng, fidelity)
        self.n_random += 1
        if not self.sampler.is_finite:
            self._seen.add(_config_key(config))
        return config

    def propose(self, fidelity: float) -> tuple[dict[str, Any], str]:
        """The next configuration to evaluate at ``fidelity``: ``(config, "random" or "model")``."""
        if self.n_obs < self.n_init:
            return self._random(fidelity), "random"
        if self._refit_due():
            self._fit()
        if self.model is None:  # nothing but diverged results: random
            return self._random(fidelity), "random"
        for _ in range(2):
            if self._pool_q is None or not self._alive.any():
                self._draw_pool(fidelity)
            assert self._alive is not None and self._pool_q is not None
            if self._pool_rows is not None:  # a table: candidates trained to the fidelity meanwhile leave
                self._alive &= self.sampler.reached_array()[self._pool_rows] < fidelity
                if not self._alive.any():
                    continue
            j = pick_by_sampled_quantiles(self._pool_q, self.rng, self._alive)
            self._alive[j] = False
            if self._pool_rows is not None:
                config = dict(self.sampler.configurations[int(self._pool_rows[j])])
            else:
                config = dict(self._pool_configs[j])
                self._seen.add(_config_key(config))
            self.n_model += 1
            return config, "model"
        return self._random(fidelity), "random"  # unreachable on a table with open rows (drawn above)

    def describe(self) -> dict[str, Any]:
        return {
            "n_init": self.n_init,
            "n_quantiles": self.n_quantiles,
            "quantile_levels": [round(float(q), 6) for q in self.levels],
            "n_candidates": self.n_candidates,
            "valid_fraction": self.valid_fraction,
            "min_samples_to_conformalize": self.min_samples_to_conformalize,
            "refit_growth": self.refit_growth,
            "n_fits": self.n_fits,
            "n_conformalized_fits": self.n_conformalized_fits,
            "n_model": self.n_model,
            "n_random": self.n_random,
            "model": "sklearn HistGradientBoostingRegressor(loss='quantile', "
            + ", ".join(f"{k}={v}" for k, v in BOOSTING.items())
            + ") per level, split-conformal symmetric correction (Romano et al. 2019)",
        }


# ---------------------------------------------------------------- the optimizers
class CQR(Optimizer):
    """Single-fidelity CQR (Salinas et al., ICML 2023): every trial at the maximum fidelity (module docstring)."""

    name = "cqr"

    def __init__(
        self,
        *,
        n_init: int = 5,
        n_quantiles: int = 5,
        n_candidates: int = 2000,
        valid_fraction: float = 0.1,
        min_samples_to_conformalize: int | None = 32,
        refit_growth: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fidelity_value = float(self.fidelity.max)
        self.searcher = CQRSearcher(
            self,
            n_init=n_init,
            n_quantiles=n_quantiles,
            n_candidates=n_candidates,
            valid_fraction=valid_fraction,
            min_samples_to_conformalize=min_samples_to_conformalize,
            refit_growth=refit_growth,
        )

    def _ask(self) -> Trial:
        config, how = self.searcher.propose(self.fidelity_value)
        return self.new_trial(config, self.fidelity_value, how=how)

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        self.searcher.observe(trial.config, result.fidelity, result.loss)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "fidelity_value": self.fidelity_value,
            **self.searcher.describe(),
            "rule": "Salinas et al. 2023 (CQR): boosted quantile regressors, split-conformal correction, "
            "a uniformly drawn quantile per candidate, the lowest drawn value proposed",
        }


class CQRASHA(ASHA):
    """ASHA whose new configurations come from CQR fitted on every configuration's last observed loss
    (Salinas et al., ICML 2023, multi-fidelity; Syne Tune's ``ASHACQR``). Promotions are ASHA's."""

    name = "cqr-asha"

    def __init__(
        self,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        n_init: int = 5,
        n_quantiles: int = 5,
        n_candidates: int = 2000,
        valid_fraction: float = 0.1,
        min_samples_to_conformalize: int | None = 32,
        refit_growth: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(eta=eta, min_fidelity=min_fidelity, **kwargs)
        self.searcher = CQRSearcher(
            self,
            n_init=n_init,
            n_quantiles=n_quantiles,
            n_candidates=n_candidates,
            valid_fraction=valid_fraction,
            min_samples_to_conformalize=min_samples_to_conformalize,
            refit_growth=refit_growth,
        )

    def new_config(self) -> dict[str, Any]:
        """A configuration for the bottom rung, proposed by CQR (random during the initial design)."""
        return self.searcher.propose(self.rungs[0])[0]

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        super()._tell(trial, result)
        self.searcher.observe(trial.config, result.fidelity, result.loss)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            **self.searcher.describe(),
            "target": "each configuration's last observed loss (its highest rung), fidelity not an input",
            "rule": "Salinas et al. 2023 (CQR+ASHA): ASHA's promotions; new configurations by CQR",
        }
