"""MOBSTER: asynchronous successive halving whose new configurations come from a Gaussian process.

Klein, Tiao, Lienart, Archambeau and Seeger, "Model-based Asynchronous Hyperparameter and Neural
Architecture Search", arXiv 2003.10865, 2020; the reference implementation is Syne Tune's ``MOBSTER``
(``HyperbandScheduler`` with ``searcher="bayesopt"``, i.e. ``GPMultiFidelitySearcher``). Scheduling is
ASHA's; only the choice of each *new* configuration changes: a GP over (configuration, resource),
conditioned on every observation at every rung and on fantasies of the evaluations still running,
scores candidates by expected improvement at one resource level ``r_acq``.

What this implementation keeps (the Syne Tune defaults named in brackets are its ``search_options``):

* Scheduling: the promotion type (ASHA, Li et al. 2020: a free worker promotes the best not yet
  promoted configuration of the top ``1 / eta`` of a rung, top rung first, else starts a new one at the
  lowest rung), reusing :class:`runners.optimizers.asha.ASHA` and its :class:`AshaRungs` unchanged, eta 3.
  The paper evaluates both a stopping and a promotion variant; Syne Tune's ``HyperbandScheduler``
  defaults to ``type="stopping"``. Promotion is the type of this repository's ``asha``, so the two differ
  only in the searcher. Rungs are the repository's ladder ``max * eta**-k`` snapped to held fidelities
  (:func:`runners.optimizers.brackets.rung_ladder`, the same as ``asha``); Syne Tune's is
  ``grace_period * eta**k`` plus ``max_t``.
* Data: every observed (configuration, rung, loss) is one GP point (``searcher_data="rungs"``), a
  diverged result counted as the worst loss seen. Beyond ``max_model_points`` the data are capped as
  Syne Tune's ``cap_size_tuning_job_state`` does: configurations that reached the highest rungs keep all
  their points, filled top-down, and the level where the cap is hit is subsampled at random, lowest rungs
  first (Syne Tune's ``max_size_data_for_model`` is 500; 256 here, for speed).
* Acquisition fidelity: ``r_acq`` is the largest rung with at least ``acq_threshold`` observations, the
  lowest rung if none has that many (``resource_acq="bohb"``, ``ResourceForAcquisitionBOHB``; its
  shipped default ``resource_acq_bohb_threshold`` is 3; the searcher's docstring, and its fallback when
  the option is absent, use the dimension of the encoded configuration instead).
* Acquisition: expected improvement at ``r_acq`` against the incumbent of Syne Tune's
  ``current_best``: the smallest posterior mean over the configurations in the model data observed (or
  pending) at ``r_acq``, computed per fantasy sample; EI is averaged over the fantasy samples.
* Pending evaluations are fantasized: each running trial is a pending point (its configuration, the rung
  it is training to: the first rung for a new configuration, the next rung for a promotion);
  ``n_fantasies`` joint samples of their (noisy) values are drawn from the posterior given the
  observations, and the GP, with its hyperparameters kept, is conditioned on each
  (``num_fantasy_samples`` 20). With ``fantasize=False`` pending trials are ignored
  (``no_fantasizing=True``).
* Initial design: the first ``n_init`` new configurations are random (``num_init_random``, 6 for the
  Hyperband searchers), and new configurations stay random until two finite results are in.

What is simplified:

* Surrogate (``kernel``). ``"exp-decay-sum"`` is Syne Tune's default ``gp_resource_kernel``: a Matern
  5/2 ARD kernel on the configuration plus the exponential-decay "freeze-thaw" kernel of Swersky et al.
  over the resource r (mapped linearly to [0, 1], as Syne Tune does), here
  ``C1 * Matern52_ARD(x) + C2 * (beta / (r + r' + beta))**alpha + White``
  (:func:`surrogate_kernel`, :class:`ExpDecayResourceKernel`) in scikit-learn's GP of
  :class:`runners.optimizers.multiobjective.GPModel` (``normalize_y``). Syne Tune centres the resource
  kernel and puts ``gamma * kappa(r)`` into the mean function with a point estimate of gamma; the
  uncentred kernel here is that model with gamma integrated out under a zero-mean Gaussian prior, which
  a zero-mean GP can fit. ``"matern52"`` is one Matern 5/2 ARD kernel over [configuration, resource],
  the resource as ``log(r / r_min) / log(r_max / r_min)`` (a fixed warping in place of the learned one of
  ``"matern52-res-warp"``; Syne Tune's ``"matern52"`` is linear in r). Kernel hyperparameters are type-II
  maximum likelihood point estimates (one L-BFGS start from the previous fit), refitted when the data
  grew by ``refit_growth`` (20 %), rather than at every new point for the first 150
  (``opt_skip_init_length``) with two starts (``opt_nstarts``); in between, the GP is conditioned on the
  new data with the kernel kept.
* Search for the maximizer. Syne Tune scores ``num_init_candidates`` = 250 random configurations by
  independent Thompson samples and runs L-BFGS on EI from the best one. Here the 250 random candidates
  (on a table: held configurations never evaluated in the run) are scored by EI itself, and the local
  search is ``n_local`` Gaussian perturbations (sd ``local_sd`` in the unit encoding) of the best of them,
  mapped to configurations the benchmark answers that were not evaluated yet; the best EI of all is
  started. No ``points_to_evaluate`` (Syne Tune's first configuration is the space's midpoint).
* One bracket (``brackets=1``, Syne Tune's default), no stopping variant, no cost model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.gaussian_process.kernels import ConstantKernel, Hyperparameter, Kernel, Matern, WhiteKernel

from ..optimizer import TableExhausted, Trial, TrialResult
from .asha import ASHA
from .multiobjective import (
    GPModel,
    Posterior,
    _config_key,
    _Encoder,
    _one_blas_thread,
    _worst_for_nonfinite,
    expected_improvement,
)

__all__ = ["KERNELS", "MOBSTER", "ExpDecayResourceKernel"]

#: the surrogate kernels over [configuration, resource] (Syne Tune's ``gp_resource_kernel`` names)
KERNELS: tuple[str, ...] = ("exp-decay-sum", "matern52")


class ExpDecayResourceKernel(Kernel):
    """Swersky et al.'s freeze-thaw kernel over the last input column, a resource r >= 0:
    ``k(r, r') = (beta / (r + r' + beta)) ** alpha``, the covariance of ``exp(-lambda r)`` over
    ``lambda ~ Gamma(alpha, beta)`` (every other column is ignored).

    Syne Tune's ``ExponentialDecayResourcesKernelFunction`` (delta = 0) uses the centred kernel
    ``k(r, r') - kappa(r) kappa(r')`` with ``kappa(r) = (beta / (r + beta)) ** alpha`` and a mean function
    ``mu + gamma kappa(r)`` whose gamma is a point estimate; the uncentred kernel here equals that model
    with gamma integrated out under a zero-mean Gaussian prior, so scikit-learn's zero-mean GP can use it.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 0.5,
        alpha_bounds: Any = (1e-2, 250.0),
        beta_bounds: Any = (1e-3, 1e2),
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.alpha_bounds = alpha_bounds
        self.beta_bounds = beta_bounds

    @property
    def hyperparameter_alpha(self) -> Hyperparameter:
        return Hyperparameter("alpha", "numeric", self.alpha_bounds)

    @property
    def hyperparameter_beta(self) -> Hyperparameter:
        return Hyperparameter("beta", "numeric", self.beta_bounds)

    def __call__(self, X: np.ndarray, Y: np.ndarray | None = None, eval_gradient: bool = False) -> Any:
        # the resource takes a few values (the rungs): the kernel is computed on the distinct sums r + r'
        # and spread out by indexing, which costs much less than a power of every entry
        ra, ia = np.unique(np.asarray(X, dtype=float)[:, -1], return_inverse=True)
        if Y is None:
            rb, ib = ra, ia
        elif eval_gradient:
            raise ValueError("the gradient is only available when Y is None")
        else:
            rb, ib = np.unique(np.asarray(Y, dtype=float)[:, -1], return_inverse=True)
        alpha, beta = float(self.alpha), float(self.beta)
        s = ra[:, None] + rb[None, :]
        logbase = math.log(beta) - np.log(s + beta)
        k = np.exp(alpha * logbase)
        rows, cols = ia.reshape(-1, 1), ib.reshape(1, -1)
        K = k[rows, cols]
        if not eval_gradient:
            return K
        grads = []  # with respect to log(alpha) and log(beta), the hyperparameters not fixed, in name order
        if not self.hyperparameter_alpha.fixed:
            grads.append((alpha * k * logbase)[rows, cols])
        if not self.hyperparameter_beta.fixed:
            grads.append((alpha * k * s / (s + beta))[rows, cols])
        return K, (np.stack(grads, axis=2) if grads else np.empty(K.shape + (0,)))

    def diag(self, X: np.ndarray) -> np.ndarray:
        r = np.asarray(X, dtype=float)[:, -1]
        return (self.beta / (2 * r + self.beta)) ** self.alpha

    def is_stationary(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"ExpDecayResource(alpha={self.alpha:.3g}, beta={self.beta:.3g})"


def surrogate_kernel(name: str, dim: int) -> Any:
    """The GP kernel ``name`` (one of :data:`KERNELS`) over ``dim`` configuration columns and a resource column.

    * ``"exp-decay-sum"``: ``C1 * Matern52_ARD(x) + C2 * ExpDecayResourceKernel(r) + White``, Syne Tune's
      default additive freeze-thaw kernel (the Matern's length scale of the resource column is pinned at
      1e5, so it sees the configuration only);
    * ``"matern52"``: ``C * Matern52_ARD([x, r]) + White``.
    """
    bounds = np.array([(1e-2, 1e2)] * dim + [(1e-2, 1e2)])
    scale = np.ones(dim + 1)
    if name == "matern52":
        return ConstantKernel(1.0, (1e-3, 1e3)) * Matern(scale, bounds, nu=2.5) + WhiteKernel(
            1e-3, (1e-6, 1e-1)
        )
    bounds[-1] = (1e5, 1e5)
    scale[-1] = 1e5
    return (
        ConstantKernel(1.0, (1e-3, 1e3)) * Matern(scale, bounds, nu=2.5)
        + ConstantKernel(1.0, (1e-3, 1e3)) * ExpDecayResourceKernel()
        + WhiteKernel(1e-3, (1e-6, 1e-1))
    )


class MOBSTER(ASHA):
    """ASHA (promotion type) whose new configurations maximize a GP's fantasized EI at ``r_acq``
    (module docstring)."""

    name = "mobster"

    def __init__(
        self,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        kernel: str = "exp-decay-sum",
        n_init: int = 6,
        acq_threshold: int = 3,
        n_candidates: int = 250,
        n_local: int = 32,
        local_sd: float = 0.05,
        fantasize: bool = True,
        n_fantasies: int = 20,
        max_model_points: int = 256,
        refit_growth: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(eta=eta, min_fidelity=min_fidelity, **kwargs)
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r} is not one of {', '.join(KERNELS)}")
        _check_int("n_init", n_init, 0)
        _check_int("acq_threshold", acq_threshold, 1)
        _check_int("n_candidates", n_candidates, 1)
        _check_int("n_local", n_local, 0)
        _check_int("n_fantasies", n_fantasies, 1)
        _check_int("max_model_points", max_model_points, 4)
        if (
            isinstance(local_sd, bool)
            or not isinstance(local_sd, (int, float))
            or not 0 < local_sd < math.inf
        ):
            raise ValueError(
                f"local_sd={local_sd!r} must be a finite number > 0 (a standard deviation in [0, 1] units)"
            )
        if not isinstance(fantasize, bool):
            raise ValueError(f"fantasize={fantasize!r} must be true or false")
        if (
            isinstance(refit_growth, bool)
            or not isinstance(refit_growth, (int, float))
            or not refit_growth >= 0
        ):
            raise ValueError(f"refit_growth={refit_growth!r} must be a number >= 0")
        self.kernel = kernel
        self.n_init = n_init
        self.acq_threshold = acq_threshold
        self.n_candidates = n_candidates
        self.n_local = n_local
        self.local_sd = float(local_sd)
        self.fantasize = fantasize
        self.n_fantasies = n_fantasies
        self.max_model_points = max_model_points
        self.refit_growth = float(refit_growth)
        lo, hi = self.rungs[0], self.rungs[-1]
        if kernel == "matern52" and lo > 0 and hi > lo:  # log scale: a fixed warping of the resource
            span = math.log(hi / lo)
            self.resource_feature = tuple(math.log(r / lo) / span for r in self.rungs)
        else:  # linear in [0, 1], as Syne Tune maps the resource
            self.resource_feature = tuple((r - lo) / (hi - lo) if hi > lo else 0.0 for r in self.rungs)
        self.encoder = _Encoder(self.space, self.sampler)
        self.model = GPModel(
            self.encoder.dim + 1, self.refit_growth, surrogate_kernel(kernel, self.encoder.dim)
        )
        #: observations in tell order: the encoded configuration, its configuration's index in ``_keys``, the
        #: rung index and the loss
        self._obs_x: list[np.ndarray] = []
        self._obs_key: list[int] = []
        self._obs_rung: list[int] = []
        self._obs_loss: list[float] = []
        self._keys: dict[Any, int] = {}
        self._x_of: dict[Any, np.ndarray] = {}  # configuration key -> its encoding
        self._n_per_rung = [0] * len(self.rungs)
        self._n_finite = 0
        self._seen: set[tuple] = set()  # continuous samplers: configurations asked (a table's sampler knows)
        #: the model fitted on the observations: (number of observations, posterior, its inputs, rung per row)
        self._fit: tuple[int, Posterior, np.ndarray, np.ndarray] | None = None
        self._y = np.zeros((0, 1))
        self.n_new = 0
        self.n_model = 0
        self.n_random = 0
        self.last_r_acq: float | None = None

    # -------------------------------------------------- helpers
    def _key(self, config: Mapping[str, Any]) -> Any:
        i = self.sampler.index(config) if self.sampler.is_finite else None
        return _config_key(config) if i is None else i

    def _encode(self, config: Mapping[str, Any]) -> np.ndarray:
        key = self._key(config)
        x = self._x_of.get(key)
        if x is None:
            x = self._x_of[key] = self.encoder.encode([config])[0]
        return x

    def _inputs(self, xs: np.ndarray, rung: int | np.ndarray) -> np.ndarray:
        """GP inputs: encoded configurations (rows) with the resource feature of ``rung`` appended."""
        feat = np.asarray(self.resource_feature)[np.asarray(rung)]
        return np.column_stack([xs, np.broadcast_to(feat, (len(xs),))])

    def acquisition_rung(self) -> int:
        """Index of ``r_acq``: the largest rung with at least ``acq_threshold`` observations (the lowest
        rung holding any when none has that many; 0 before any observation)."""
        counts = self._n_per_rung
        ok = [k for k, n in enumerate(counts) if n >= self.acq_threshold]
        if ok:
            return ok[-1]
        held = [k for k, n in enumerate(counts) if n > 0]
        return held[0] if held else 0

    def model_rows(self) -> np.ndarray:
        """Indices of the observations the GP is fitted on: all, or beyond ``max_model_points`` Syne Tune's
        cap (module docstring): configurations by the highest rung they reached, top-down, all their points
        kept; where the cap is hit, their points at the lowest rungs go first and the rest of the level
        where it fits is subsampled at random."""
        n, cap = len(self._obs_rung), self.max_model_points
        if n <= cap:
            return np.arange(n)
        rung = np.asarray(self._obs_rung)
        key = np.asarray(self._obs_key)
        top = np.full(len(self._keys), -1)
        np.maximum.at(top, key, rung)
        top_of = top[key]
        chosen: list[np.ndarray] = []
        size = 0
        for level in sorted(set(rung.tolist()), reverse=True):
            nxt = np.flatnonzero(top_of == level)
            gap = cap - size
            if len(nxt) > gap:
                for low in range(level + 1):
                    if low < level:
                        sample, nxt = nxt[rung[nxt] == low], nxt[rung[nxt] > low]
                    else:
                        sample, nxt = nxt, nxt[:0]
                    want = gap - len(nxt)
                    if want > 0:
                        pick = self.rng.choice(len(sample), size=want, replace=False)
                        nxt = np.concatenate([nxt, sample[np.sort(pick)]])
                        break
            chosen.append(nxt)
            size += len(nxt)
            if size >= cap:
                break
        return np.sort(np.concatenate(chosen))

    def _fitted(self) -> tuple[Posterior, np.ndarray, np.ndarray] | None:
        """The GP on the (capped) observations, refitted only when observations were added; None while
        every result diverged."""
        n = len(self._obs_loss)
        if self._fit is not None and self._fit[0] == n:
            return self._fit[1:]
        if self._n_finite == 0:
            return None
        rows = self.model_rows()
        y = _worst_for_nonfinite(np.asarray(self._obs_loss)[rows])
        rung = np.asarray(self._obs_rung)[rows]
        X = self._inputs(np.vstack([self._obs_x[i] for i in rows.tolist()]), rung)
        # hyperparameters refitted by GPModel's growth rule; in between, its last kernel (no scikit-learn fit)
        kernel = self.model.fit(X, y, n).kernel_ if self.model.refit_due(n) else self.model.kernel
        mean = float(y.mean())
        std = float(y.std())
        std = std if std > 1e-12 else 1.0  # as scikit-learn's normalize_y
        self._y = ((y - mean) / std)[:, None]  # the normalized targets of the model data
        with _one_blas_thread():
            post = Posterior(kernel, X, self._y)
        self._fit = (n, post, X, rung)
        return post, X, rung

    def _candidates(self) -> list[dict[str, Any]]:
        """``n_candidates`` random configurations never evaluated (on a table) or never asked (otherwise)."""
        if self.sampler.is_finite:
            cands = self.sampler.sample(self.n_candidates, self.rng, self.rungs[0])
            if not cands:
                raise TableExhausted(
                    f"mobster: every one of the {len(self.sampler)} configurations was already evaluated"
                )
            return cands
        return self._dedup(self.sampler.sample(self.n_candidates, self.rng), set())

    def _dedup(self, configs: list[dict[str, Any]], keys: set) -> list[dict[str, Any]]:
        """Configurations whose keys are not in ``keys`` (updated) nor asked before, in order."""
        out = []
        for c in configs:
            k = self._key(c)
            if k in keys or k in self._seen:
                continue
            keys.add(k)
            out.append(c)
        return out

    def _local(self, center: np.ndarray, keys: set) -> list[dict[str, Any]]:
        """``n_local`` Gaussian perturbations of ``center`` (unit space), mapped to configurations the
        benchmark answers that were not evaluated yet, without those of ``keys``."""
        if self.n_local == 0:
            return []
        base = np.where(center < 0, self.rng.random(center.shape), center)  # inactive: anywhere
        vectors = np.clip(base + self.rng.normal(0.0, self.local_sd, (self.n_local, len(center))), 0.0, 1.0)
        try:
            configs = self.encoder.nearest_open(vectors, self.rungs[0])
        except TableExhausted:
            return []
        return self._dedup(configs, keys)

    # -------------------------------------------------- the searcher
    def propose(self) -> tuple[dict[str, Any], str]:
        """A new configuration for the lowest rung and how it was chosen (``"random"`` or ``"ei"``)."""
        if self.n_new < self.n_init or self._n_finite < 2:
            return self.sampler.sample_one(self.rng, self.rungs[0]), "random"
        fitted = self._fitted()
        if fitted is None:
            return self.sampler.sample_one(self.rng, self.rungs[0]), "random"
        post, X, rung = fitted
        r = self.acquisition_rung()
        self.last_r_acq = self.rungs[r]
        cands = self._candidates()
        if not cands:  # a continuous sampler whose draws were all asked before
            return self.sampler.sample_one(self.rng, self.rungs[0]), "random"
        keys = {self._key(c) for c in cands}
        with _one_blas_thread():
            post, X_best = self._conditioned(post, X, rung, r)
            best = post.mean(X_best).min(axis=0)  # the incumbent per fantasy sample
            xs = self.encoder.encode(cands)
            ei = self._ei(post, xs, r, best)
            j = int(np.argmax(ei))
            local = self._local(xs[j], keys)
            if local:
                xl = self.encoder.encode(local)
                el = self._ei(post, xl, r, best)
                if el.max() > ei[j]:
                    return local[int(np.argmax(el))], "ei"
        return cands[j], "ei"

    def _ei(self, post: Posterior, xs: np.ndarray, r: int, best: np.ndarray) -> np.ndarray:
        mu, sd = post.mean_sd(self._inputs(xs, r))
        return expected_improvement(mu, sd[:, None], best[None, :]).mean(axis=1)

    def _conditioned(
        self, post: Posterior, X: np.ndarray, rung: np.ndarray, r: int
    ) -> tuple[Posterior, np.ndarray]:
        """The posterior given the observations and fantasies of the pending trials (when fantasizing),
        and the inputs at ``r`` over which the incumbent is taken (observed and pending)."""
        at_r = X[rung == r]
        if not len(at_r):  # no model point at r_acq (a cap kept only higher rungs): its configurations there
            at_r = self._inputs(X[:, :-1], r)
        pending = list(self.pending.values()) if self.fantasize else []
        if not pending:
            return post, at_r
        xp = np.vstack([self._encode(t.config) for t in pending])
        rp = np.asarray([int(t.info["rung"]) for t in pending])
        Xp = self._inputs(xp, rp)
        fantasies = post.sample(Xp, self.n_fantasies, self.rng)
        y_obs = np.repeat(self._y, self.n_fantasies, axis=1)
        full = Posterior(post.kernel, np.vstack([X, Xp]), np.vstack([y_obs, fantasies]))
        return full, np.vstack([at_r, Xp[rp == r]])

    # -------------------------------------------------- ask / tell
    def _ask(self) -> Trial:
        promo = self.asha.next_promotion()
        if promo is not None:
            k, entry = promo
            self.asha.mark_promoted(k, entry)
            return self.continue_trial(entry.trial, self.rungs[k + 1], rung=k + 1)
        config, how = self.propose()
        if not self.sampler.is_finite:
            self._seen.add(_config_key(config))
        self.n_new += 1
        if how == "ei":
            self.n_model += 1
        else:
            self.n_random += 1
        return self.new_trial(config, self.rungs[0], rung=0, how=how)

    def new_config(self) -> dict[str, Any]:
        """A configuration for the bottom rung: the searcher's (:meth:`propose`)."""
        return self.propose()[0]

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        super()._tell(trial, result)
        k = int(trial.info["rung"])
        key = self._key(trial.config)
        idx = self._keys.setdefault(key, len(self._keys))
        self._obs_x.append(self._encode(trial.config))
        self._obs_key.append(idx)
        self._obs_rung.append(k)
        loss = float(result.loss)
        self._obs_loss.append(loss)
        self._n_per_rung[k] += 1
        self._n_finite += math.isfinite(loss)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "type": "promotion",
            "kernel": self.kernel,
            "n_init": self.n_init,
            "acq_threshold": self.acq_threshold,
            "n_candidates": self.n_candidates,
            "n_local": self.n_local,
            "local_sd": self.local_sd,
            "fantasize": self.fantasize,
            "n_fantasies": self.n_fantasies,
            "max_model_points": self.max_model_points,
            "refit_growth": self.refit_growth,
            "n_new": self.n_new,
            "n_model": self.n_model,
            "n_random": self.n_random,
            "n_gp_fits": self.model.n_fits,
            "last_r_acq": self.last_r_acq,
            "model": f"sklearn GaussianProcessRegressor, {self.model.kernel!r}, normalize_y",
            "rule": "Klein et al. 2020 (MOBSTER), Syne Tune's GPMultiFidelitySearcher: EI at the largest rung "
            "with >= acq_threshold observations, pending trials fantasized",
        }


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
