"""ASHA: asynchronous successive halving (Li et al., MLSys 2020)."""

from __future__ import annotations

from typing import Any

from ..optimizer import Optimizer, Trial, TrialResult
from .brackets import AshaRungs, rung_ladder

__all__ = ["ASHA"]


class ASHA(Optimizer):
    """Asynchronous successive halving, never waiting for a rung to fill.

    When a worker frees up, ASHA looks from the top rung (below the maximum)
    down for a configuration in the best ``floor(|rung| / eta)`` of its rung that
    was not promoted yet, and continues it to the next rung; otherwise it starts
    a new configuration (uniformly from the sampler) at the bottom rung. Rungs
    are ``max * eta**-k`` down to ``min_fidelity`` (default: the smallest held
    fidelity), rounded to held values. Runs until the simulator's budget is spent.
    """

    name = "asha"

    def __init__(self, *, eta: float = 3, min_fidelity: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eta = float(eta)
        self.rungs = rung_ladder(self.fidelity, eta, min_fidelity)
        self.asha = AshaRungs(self.rungs, self.eta)

    def _ask(self) -> Trial:
        promo = self.asha.next_promotion()
        if promo is not None:
            k, entry = promo
            self.asha.mark_promoted(k, entry)
            return self.continue_trial(entry.trial, self.rungs[k + 1], rung=k + 1)
        return self.new_trial(self.new_config(), self.rungs[0], rung=0)

    def new_config(self) -> dict[str, Any]:
        """A configuration for the bottom rung (uniform; model-based variants override this).

        On a table: one never evaluated in this run (or else not yet trained to the bottom rung).
        """
        return self.sampler.sample_one(self.rng, self.rungs[0])

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        self.asha.record(trial.info["rung"], trial, result.loss)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "eta": self.eta, "rungs": list(self.rungs)}
