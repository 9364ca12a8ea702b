"""Early stopping by learning-curve extrapolation (Domhan, Springenberg and Hutter, "Speeding up automatic
hyperparameter optimization of deep neural networks by extrapolation of learning curves", IJCAI 2015), the
stand-in for LC-PFN (Adriaensen et al., NeurIPS 2023), whose package pins numpy < 2.

Domhan et al. fit an ensemble of parametric curve families to the partial learning curve of a running training,
and stop it when the predicted probability that its final value beats the best final value seen so far is below
delta = 0.05 ("predictive termination criterion"). Here the optimizer is random search (a fresh configuration
drawn uniformly, trained towards the maximum fidelity) whose trials report every held fidelity
(``reports="every"``, docs/runner.md "Reports as a trial trains"), and the rule is theirs with the predictor of the
learning-curve task (:class:`runners.lc_task.ParametricPredictor`: the families pow3, exp3, ilog2 and MMF after their
Table 1, each fitted by least squares to the observed prefix):

* **checks**: at the fidelity ``grace`` (default: the largest held fidelity at most 10 % of the maximum, and at
  least the third held one, so a family of three parameters sees three points) and every ``check_every`` held
  fidelities after it; between checks a report only stores its value;
* **the predictive distribution** of the final value, on the model scale of the task (``log`` of a loss bounded
  below by 0, such as a cross-entropy; the sign-adjusted value otherwise): Gaussian, its mean the ensemble's
  extrapolation (clipped, as the task's predictor does, to the range the completed curves take at each epoch)
  and its variance the ensemble's own spread (how much the families' extrapolations of this curve disagree)
  plus a term calibrated (CRPS) on the errors of the same rule on the completed curves at the same cut
  (:class:`EnsemblePredictor`). Weights and calibration are fitted on the curves this run has completed (trials
  that reached the maximum fidelity), not on other data; Domhan et al. sample per curve the posterior over
  eleven families' parameters and weights by MCMC instead, which costs seconds per check;
* **the rule**: stop when ``P(final < best) = Phi((best - mean) / std) < threshold`` (lower is better),
  ``best`` the best final value among the completed trials; nothing is stopped before ``min_samples`` trials
  completed (the predictor needs completed curves to fit its weights and spread; Domhan et al. likewise
  need a best value seen so far).

Cost: the predictor is refitted (its weights and spreads, lazily per cut) when the number of completed curves has
grown by the factor ``refit_growth`` since the last fit, so fits are rare as a run goes on; a check fits the four
families to one curve (about a millisecond). A diverged report ends its trial (the simulator's rule).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import ndtr

from ..lc_task import LOG_FLOOR, MIN_STD, ParametricPredictor, calibrate_std
from ..optimizer import Optimizer, Trial, TrialResult

__all__ = ["EnsemblePredictor", "LCExtrapolation"]

SCALES = ("auto", "log", "raw")


class EnsemblePredictor(ParametricPredictor):
    """:class:`~runners.lc_task.ParametricPredictor` with the ensemble's own spread in its predictive std.

    The mean is the parent's (the families' clipped extrapolations, weighted by non-negative least squares on
    the train curves' continuations at the same cut). The std per remaining epoch is ``sqrt(spread^2 + tau^2)``:
    ``spread`` the weighted standard deviation of the families' extrapolations of this curve (they disagree
    where the prefix says little, as the posterior over models of Domhan et al. does), ``tau`` fitted by
    :func:`~runners.lc_task.calibrate_std` to the errors of the mean on the train curves at that cut, given
    their spreads (as the ``knn`` predictor's std).
    """

    name = "parametric-spread"

    def _mean_spread(self, prefix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ex = self._extrapolations(prefix, k)  # (families, curves, remaining epochs)
        w = self._weights(k)
        mean = np.tensordot(w, ex, axes=1)
        return mean, np.sqrt(np.tensordot(w, (ex - mean) ** 2, axes=1))

    def fit(
        self, train_curves: np.ndarray, epochs: np.ndarray | None = None, groups: np.ndarray | None = None
    ) -> EnsemblePredictor:
        super().fit(train_curves, epochs, groups)
        self._taus: dict[int, np.ndarray] = {}
        return self

    def _tau(self, k: int) -> np.ndarray:
        if k not in self._taus:
            mean, spread = self._mean_spread(self.train[:, :k], k)
            self._taus[k] = calibrate_std(mean - self.train[:, k:], spread)
        return self._taus[k]

    def final(self, partial_curve: np.ndarray, k: int) -> tuple[float, float]:
        """Mean and std of the predicted value at the last epoch of a curve observed up to epoch ``k``."""
        prefix = self._check(np.asarray(partial_curve, dtype=np.float64).reshape(1, -1), k)
        mean, spread = self._mean_spread(prefix, k)
        tau = self._tau(k)[-1]
        return float(mean[0, -1]), max(math.sqrt(float(spread[0, -1]) ** 2 + float(tau) ** 2), MIN_STD)


class LCExtrapolation(Optimizer):
    """Random search whose trials report every epoch and stop by Domhan et al.'s rule (module docstring)."""

    name = "lc-extrapolation"

    def __init__(
        self,
        *,
        threshold: float = 0.05,
        grace: float | None = None,
        check_every: int = 5,
        min_samples: int = 3,
        refit_growth: float = 1.5,
        scale: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(threshold, bool) or not 0 <= threshold < 1:
            raise ValueError(f"threshold={threshold!r} must be in [0, 1)")
        if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
            raise ValueError(f"check_every={check_every!r} must be an integer >= 1")
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 2:
            raise ValueError(
                f"min_samples={min_samples!r} must be an integer >= 2 (the predictor needs two curves)"
            )
        if isinstance(refit_growth, bool) or not refit_growth >= 1:
            raise ValueError(f"refit_growth={refit_growth!r} must be >= 1")
        if scale not in SCALES:
            raise ValueError(f"scale={scale!r}; allowed: {', '.join(SCALES)}")
        if self.fidelity.continuous or not self.fidelity.values:
            raise ValueError(
                f"{type(self).__name__} needs held fidelities; {self.fidelity.name} is continuous"
            )
        self.threshold = float(threshold)
        self.check_every = check_every
        self.min_samples = min_samples
        self.refit_growth = float(refit_growth)
        obj = self.objective
        self.scale = (
            ("log" if obj.direction == "minimize" and obj.lower == 0 else "raw") if scale == "auto" else scale
        )
        self._steps = np.asarray(self.fidelity.values, dtype=float)
        F = len(self._steps)
        if grace is None:
            below = self._steps[self._steps <= 0.1 * self._steps[-1]]
            grace = float(max(below[-1] if below.size else self._steps[0], self._steps[min(2, F - 1)]))
        self.grace = float(self.fidelity.check(grace))
        #: the number of observed epochs k (1-based) at which the rule checks: grace, then every check_every
        k0 = int(np.searchsorted(self._steps, self.grace)) + 1
        self.check_at = frozenset(range(k0, F, check_every))
        #: trial id -> its values on the model scale at the held fidelities reached so far, in order
        self._curves: dict[int, list[float]] = {}
        self._done: list[list[float]] = []  #: completed curves (model scale), in order of completion
        self.best = math.inf  #: the best final value of a completed trial (model scale)
        self._predictor: EnsemblePredictor | None = None
        self._fitted_on, self._fitted_best = 0, math.inf
        self.n_stopped = 0
        self.n_checks = 0
        self.n_fits = 0

    # -------------------------------------------------- the curves
    def _model(self, loss: float) -> float:
        if self.scale == "log":
            return math.log(max(loss, LOG_FLOOR)) if loss == loss and loss < math.inf else math.inf
        return loss

    def predictor(self) -> EnsemblePredictor | None:
        """The ensemble fitted on the completed curves, or None before ``min_samples`` trials completed.

        Refitted when the completed curves grew by ``refit_growth`` since the last fit, and whenever the best
        final value improved: the predictor clips its extrapolations to the range of its train curves, so the
        curve of the best final value must be among them (else no prediction could reach it)."""
        n = len(self._done)
        if n < self.min_samples:
            return None
        if (
            self._predictor is None
            or n >= self.refit_growth * self._fitted_on
            or self.best < self._fitted_best
        ):
            self._predictor = EnsemblePredictor().fit(np.asarray(self._done), self._steps)
            self._fitted_on, self._fitted_best = n, self.best
            self.n_fits += 1
        return self._predictor

    def probability_better(self, curve: list[float]) -> float | None:
        """``P(final < best)`` for a partial curve (model scale) under the fitted ensemble; None before
        ``min_samples`` trials completed."""
        p = self.predictor()
        if p is None or not math.isfinite(self.best):
            return None
        mean, std = p.final(np.asarray(curve, dtype=float), len(curve))
        return float(ndtr((self.best - mean) / std))

    # -------------------------------------------------- ask/tell
    def _ask(self) -> Trial:
        trial = self.new_trial(self.sampler.sample_one(self.rng, self.fidelity.max), reports="every")
        self._curves[trial.trial_id] = []
        return trial

    def _report(self, trial: Trial, result: TrialResult) -> str:
        curve = self._curves[trial.trial_id]
        curve.append(self._model(result.loss))
        if len(curve) not in self.check_at or not math.isfinite(curve[-1]):
            return "continue"
        p = self.probability_better(curve)
        if p is None:
            return "continue"
        self.n_checks += 1
        if p < self.threshold:
            self.n_stopped += 1
            return "stop"
        return "continue"

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        curve = self._curves.pop(trial.trial_id)
        if result.reached is not None:  # stopped at a report (or diverged there): not a completed curve
            return
        curve.append(self._model(result.loss))
        if len(curve) == len(self._steps) and all(map(math.isfinite, curve)):
            self._done.append(curve)
            self.best = min(self.best, curve[-1])

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "threshold": self.threshold,
            "grace": self.grace,
            "check_every": self.check_every,
            "check_fidelities": [float(self._steps[k - 1]) for k in sorted(self.check_at)],
            "min_samples": self.min_samples,
            "refit_growth": self.refit_growth,
            "scale": self.scale,
            "predictor": "runners.lc_task.ParametricPredictor fitted on the run's completed curves",
            "rule": "Domhan et al. 2015: stop when P(final better than the best final so far) < threshold",
            "n_completed": len(self._done),
            "n_fits": self.n_fits,
            "n_checks": self.n_checks,
            "n_stopped": self.n_stopped,
        }
