"""Early stopping on the learning curve as it grows: the median stopping rule.

Golovin, Solnik, Moitra, Kochanski, Karro and Sculley, "Google Vizier: A Service for Black-Box
Optimization", KDD 2017, section 3.2.2: "a pending trial is stopped at step s if the trial's best
objective value by step s is strictly worse than the median value of the running averages of all
completed trials' objectives reported up to step s."

Here a *step* is a fidelity the benchmark holds (an epoch): every trial is a fresh configuration drawn
uniformly (random search) trained towards the maximum fidelity with a report at every held fidelity
(``reports="every"``, docs/runner.md "Reports as a trial trains"). At each report the rule compares the
trial's best loss so far with the median, over the completed trials (those that reached the maximum
fidelity), of the mean of their losses at the fidelities up to this one. Nothing is stopped before
``min_samples`` trials have completed or below the fidelity ``grace``: by default 3 completed trials (Ray
Tune's ``MedianStoppingRule`` default, ``min_samples_required=3``; Syne Tune's waits for
``grace_population=5`` values at a resource) and a grace of one step (Syne Tune's ``grace_time=1``).
A diverged report ends its trial (the simulator's rule); its loss is +inf, worse than any median.
"""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from ..optimizer import Optimizer, Trial, TrialResult

__all__ = ["MedianStopping"]


class MedianStopping(Optimizer):
    """Random search whose trials report every epoch and stop by the median stopping rule (module docstring)."""

    name = "median-stopping"

    def __init__(self, *, grace: float | None = None, min_samples: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ValueError(f"min_samples={min_samples!r} must be an integer >= 1")
        self.min_samples = min_samples
        self.grace = float(self.fidelity.min if grace is None else self.fidelity.check(grace))
        self._steps = np.asarray(self.fidelity.values, dtype=float)
        #: trial id -> losses at the held fidelities reached so far, in order
        self._curves: dict[int, list[float]] = {}
        #: per completed trial, the cumulative sums of its losses over the held fidelities
        self._done_cumsum: list[np.ndarray] = []
        self.n_stopped = 0

    def _ask(self) -> Trial:
        trial = self.new_trial(self.sampler.sample_one(self.rng, self.fidelity.max), reports="every")
        self._curves[trial.trial_id] = []
        return trial

    def _record(self, trial: Trial, result: TrialResult) -> list[float]:
        curve = self._curves[trial.trial_id]
        curve.append(result.loss)
        return curve

    def _report(self, trial: Trial, result: TrialResult) -> str:
        curve = self._record(trial, result)
        step = result.fidelity
        if step < self.grace or len(self._done_cumsum) < self.min_samples:
            return "continue"
        k = bisect.bisect_right(self._steps, step)  # how many held fidelities up to this one
        running = [c[k - 1] / k for c in self._done_cumsum]
        if min(curve) > float(np.median(running)):
            self.n_stopped += 1
            return "stop"
        return "continue"

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        if result.reached is None:  # reached the maximum fidelity: a completed trial
            curve = self._record(trial, result)
            if len(curve) == len(self._steps):
                self._done_cumsum.append(np.cumsum(curve))
        del self._curves[trial.trial_id]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "grace": self.grace,
            "min_samples": self.min_samples,
            "n_stopped": self.n_stopped,
            "rule": "Golovin et al. 2017 (Vizier), median of completed trials' running averages",
        }
