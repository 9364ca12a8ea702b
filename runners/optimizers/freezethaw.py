"""Freeze-thaw multi-fidelity BO in the manner of DyHPO: advance one configuration by one step at a time.

Wistuba, Kadra and Grabocka, "Supervising the Multi-Fidelity Race of Hyperparameter Configurations",
NeurIPS 2022 (DyHPO). At every step the method decides which configuration to train a little further:
one of the configurations it has trained so far and paused (a *thaw*: ``continue_trial`` resumes its
checkpoint and pays only the increment) or a new one. It ranks the candidates by the multi-fidelity
expected improvement of their value at their *next* budget under a surrogate of (configuration, budget,
curve so far), against the best value observed at that budget (the best observed at any budget where
none was observed there yet), and trains the best candidate to its next budget, where it pauses again.

What this implementation keeps and what it simplifies:

* Steps. DyHPO advances by one epoch. Here a step is a rung of a geometric ladder of the benchmark's
  held fidelities, ``max * eta**-k`` snapped to held values down to ``min_fidelity``
  (:func:`runners.optimizer.rung_fidelities`; eta 2 on the LCBench tables' 50 epochs: 2, 3, 6, 13, 25,
  50), so a configuration is decided on about ``log2(max)`` times rather than ``max`` times: the asks,
  model fits and events of a run shrink by an order of magnitude, and the decisions stay at the same
  relative spacing of budget as DyHPO's for the log-scaled budget feature.
* Surrogate. DyHPO's deep kernel GP (an MLP on the configuration and budget and a CNN embedding of the
  curve so far, trained jointly with a GP) is replaced by scikit-learn's GP of
  :class:`runners.optimizers.multiobjective.GPModel` (Matern 5/2 with ARD, white noise, hyperparameters
  refitted as the data grows by 20 %) on the features [configuration in the unit encoding, the budget as
  ``log(b / min) / log(max / min)``, the configuration's last observed loss below that budget, min-max
  scaled over the run's observed losses; ``new_value`` (default 1: as bad as the worst seen) for a
  budget with nothing below it]. The curve enters through its last value only.
* Candidates. Every paused configuration (not at the maximum, not diverged, not running on a worker) at
  its next rung, and ``n_candidates`` new configurations drawn uniformly at the first rung (on a table:
  held configurations never evaluated in the run, so no fresh trial repeats one). DyHPO scores the
  whole (finite) search space; a sample is the usual stand-in.
* Initial design: ``n_init`` random configurations at the first rung (DyHPO starts from one).
* Model data: each observation (configuration, rung, loss) is one point; beyond ``max_model_points`` the
  GP is fitted on the best half by loss and the most recent of the others. The GP is refitted only when
  the data grew (between hyperparameter refits, the posterior is one Cholesky factor with the kernel
  kept, :meth:`GPModel.posterior`); BLAS runs one thread.
* Asynchronous workers: a configuration running on a worker is never a candidate, so two trials of the
  same configuration never run at once.

Every trial is one step: ``new_trial(config, first rung)`` or ``continue_trial(previous, next rung)``;
it ends at its own fidelity (no intermediate reports), which is the pause.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..optimizer import Optimizer, TableExhausted, Trial, TrialResult, rung_fidelities
from .multiobjective import GPModel, _config_key, _Encoder, expected_improvement

__all__ = ["FreezeThaw"]


class _Curve:
    """One configuration's state: its last trial, the losses at the rungs reached, whether it is running."""

    __slots__ = ("index", "config", "x", "last", "losses", "running")

    def __init__(self, index: int, config: dict[str, Any], x: np.ndarray) -> None:
        self.index = index  # the order first asked
        self.config = config
        self.x = x
        self.last: Trial | None = None
        self.losses: list[float] = []  # loss at rungs 0, 1, ... reached
        self.running = False


class FreezeThaw(Optimizer):
    """DyHPO-style freeze-thaw: each trial advances one configuration by one rung (module docstring)."""

    name = "freeze-thaw"

    def __init__(
        self,
        *,
        eta: float = 2.0,
        min_fidelity: float | None = None,
        n_init: int = 5,
        n_candidates: int = 64,
        new_value: float = 1.0,
        max_model_points: int = 256,
        refit_growth: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(n_init, bool) or not isinstance(n_init, int) or n_init < 1:
            raise ValueError(f"n_init={n_init!r} must be an integer >= 1")
        if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or n_candidates < 1:
            raise ValueError(f"n_candidates={n_candidates!r} must be an integer >= 1")
        if (
            isinstance(max_model_points, bool)
            or not isinstance(max_model_points, int)
            or max_model_points < 4
        ):
            raise ValueError(f"max_model_points={max_model_points!r} must be an integer >= 4")
        if not refit_growth >= 0:
            raise ValueError(f"refit_growth={refit_growth!r} must be >= 0")
        self.eta = float(eta)
        self.rungs = rung_fidelities(self.fidelity, self.eta, min_fidelity)
        self.n_init = n_init
        self.n_candidates = n_candidates
        self.new_value = float(new_value)
        self.max_model_points = max_model_points
        self.refit_growth = float(refit_growth)
        lo, hi = math.log(self.rungs[0]), math.log(self.rungs[-1])
        self._budget_feature = [(math.log(r) - lo) / (hi - lo) if hi > lo else 0.0 for r in self.rungs]
        self.encoder = _Encoder(self.space, self.sampler)
        self.model = GPModel(self.encoder.dim + 2, self.refit_growth)
        #: configuration key -> its curve, in the order first asked
        self.curves: dict[Any, _Curve] = {}
        #: observations in tell order: (configuration key, rung index, loss)
        self.obs: list[tuple[Any, int, float]] = []
        self._best = np.full(len(self.rungs), np.inf)  # the best loss observed at each rung
        #: the paused curves (indices): a result in, not running, below the top rung, the last loss finite
        self._paused: set[int] = set()
        self._list: list[_Curve] = []  # the curves by index
        self._xs = np.empty((64, self.encoder.dim))  # their encodings, by index (grown as needed)
        self._last = np.empty(64)  # their last loss
        self._reached = np.empty(64, dtype=np.int64)  # the rungs they reached
        self._gp: Any = None
        self._gp_n = -1  # observations the current GP was fitted on
        self._scale = (0.0, 1.0)  # min and max of the finite losses at the last fit
        self.n_thawed = 0
        self.n_new = 0

    # -------------------------------------------------- helpers
    def _key(self, config: Mapping[str, Any]) -> Any:
        i = self.sampler.index(config) if self.sampler.is_finite else None
        return _config_key(config) if i is None else i

    def _start(self, config: dict[str, Any], how: str) -> Trial:
        trial = self.new_trial(config, self.rungs[0], rung=0, how=how)
        key = self._key(trial.config)
        curve = self.curves.get(key)
        if curve is None:
            i = len(self._list)
            curve = self.curves[key] = _Curve(i, dict(trial.config), self.encoder.encode([trial.config])[0])
            self._list.append(curve)
            if i == len(self._xs):
                self._xs = np.concatenate([self._xs, np.empty_like(self._xs)])
                self._last = np.concatenate([self._last, np.empty_like(self._last)])
                self._reached = np.concatenate([self._reached, np.empty_like(self._reached)])
            self._xs[i] = curve.x
        curve.running = True
        self._paused.discard(curve.index)
        self.n_new += 1
        return trial

    def _prev_feature(self, losses: list[float], rung: int) -> float:
        """The curve feature at ``rung``: the loss at the rung below, scaled (``new_value`` at rung 0)."""
        if rung == 0:
            return self.new_value
        lo, hi = self._scale
        v = losses[rung - 1]
        v = hi if not math.isfinite(v) else v
        return (v - lo) / (hi - lo) if hi > lo else 0.0

    def _fit(self) -> Any:
        n = len(self.obs)
        if n == self._gp_n:
            return self._gp
        y = np.array([o[2] for o in self.obs], dtype=float)
        finite = np.isfinite(y)
        if not finite.any():
            return None
        lo, hi = float(y[finite].min()), float(y[finite].max())
        self._scale = (lo, hi)
        y = np.where(finite, y, hi)  # a diverged value: as bad as the worst seen
        rows = np.arange(n)
        if n > self.max_model_points:
            half = self.max_model_points // 2
            best = np.argsort(y, kind="stable")[:half]
            rest = np.setdiff1d(rows, best)[-(self.max_model_points - half) :]
            rows = np.sort(np.concatenate([best, rest]))
        X = np.empty((len(rows), self.encoder.dim + 2))
        for j, r in enumerate(rows.tolist()):
            key, rung, _ = self.obs[r]
            curve = self.curves[key]
            X[j, :-2] = curve.x
            X[j, -2] = self._budget_feature[rung]
            X[j, -1] = self._prev_feature(curve.losses, rung)
        self._gp = self.model.posterior(X, y[rows], n)
        self._gp_n = n
        return self._gp

    # -------------------------------------------------- ask / tell
    def _ask(self) -> Trial | None:
        if len(self.curves) < self.n_init or len(self.obs) < 2:
            return self._start(self.sampler.sample_one(self.rng), "init")
        idx = np.fromiter(sorted(self._paused), dtype=np.int64, count=len(self._paused))
        paused = [self._list[i] for i in idx.tolist()]
        new = self.sampler.sample(self.n_candidates, self.rng)
        if not paused and not new:
            if self.pending:
                return None
            raise TableExhausted(
                f"freeze-thaw: no configuration is left to start or to thaw ({len(self.sampler)})"
            )
        gp = self._fit()
        if gp is None:  # nothing but diverged results so far: a new configuration, at random
            if new:
                return self._start(new[0], "random")
            return self._thaw(paused[0])
        d = self.encoder.dim
        X = np.empty((len(paused) + len(new), d + 2))
        rung_of = np.empty(len(X), dtype=np.int64)
        if paused:  # their next rung, whose curve feature is the (finite) last loss, scaled
            k = len(paused)
            r = self._reached[idx]
            lo, hi = self._scale
            X[:k, :d] = self._xs[idx]
            X[:k, d] = np.asarray(self._budget_feature)[r]
            X[:k, d + 1] = (self._last[idx] - lo) / (hi - lo) if hi > lo else 0.0
            rung_of[:k] = r
        if new:
            X[len(paused) :, :d] = self.encoder.encode(new)
            X[len(paused) :, d] = self._budget_feature[0]
            X[len(paused) :, d + 1] = self.new_value
            rung_of[len(paused) :] = 0
        # the best loss observed at each rung (the best at any rung where none was observed at it)
        best = self._best
        overall = float(best.min())
        best = np.where(np.isfinite(best), best, overall)
        mu, sd = gp.predict(X)
        ei = expected_improvement(mu, sd, best[rung_of])
        j = int(np.argmax(ei))
        if j < len(paused):
            return self._thaw(paused[j])
        return self._start(new[j - len(paused)], "ei")

    def _thaw(self, curve: _Curve) -> Trial:
        r = len(curve.losses)
        assert curve.last is not None
        trial = self.continue_trial(curve.last, self.rungs[r], rung=r, how="thaw")
        curve.running = True
        self._paused.discard(curve.index)
        self.n_thawed += 1
        return trial

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        key = self._key(trial.config)
        curve = self.curves[key]
        curve.running = False
        curve.last = trial
        r = int(trial.info["rung"])
        loss = float(result.loss)
        del curve.losses[r:]
        curve.losses.append(loss)
        i = curve.index
        self._last[i], self._reached[i] = loss, len(curve.losses)
        if len(curve.losses) < len(self.rungs) and math.isfinite(loss):
            self._paused.add(i)
        else:
            self._paused.discard(i)
        self.obs.append((key, r, loss))
        if loss < self._best[r]:
            self._best[r] = loss

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "eta": self.eta,
            "rungs": list(self.rungs),
            "n_init": self.n_init,
            "n_candidates": self.n_candidates,
            "new_value": self.new_value,
            "max_model_points": self.max_model_points,
            "refit_growth": self.refit_growth,
            "n_new": self.n_new,
            "n_thawed": self.n_thawed,
            "n_gp_fits": self.model.n_fits,
            "rule": "Wistuba et al. 2022 (DyHPO), multi-fidelity EI at the next rung; sklearn GP on "
            "[configuration, log budget, last observed loss]",
        }
