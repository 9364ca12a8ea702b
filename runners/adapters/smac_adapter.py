"""SMAC3 (v2) through its ask/tell interface: random-forest BO, and SMAC's multi-fidelity Hyperband.

* ``SMACBO``: ``HyperparameterOptimizationFacade`` (random forest, log-scaled
  costs, Sobol initial design), every trial at the maximum fidelity.
* ``SMACHyperband``: ``MultiFidelityFacade`` with its Hyperband intensifier
  (``eta``), budgets between the minimum and the maximum fidelity, rounded to
  held values; a configuration SMAC runs again at a higher budget continues the
  earlier trial when one is available, paying only the increment.

With one fidelity (or ``min_fidelity`` equal to the maximum) Hyperband has
nothing to schedule (SMAC's multi-fidelity facade needs min < max budget):
``SMACHyperband`` then runs the HPO facade at that fidelity, i.e. what
``SMACBO`` does, and records ``multi_fidelity: false`` and the reason in its
``describe()``.

The scenario is deterministic (one evaluation per configuration and budget),
seeded with the run seed, and writes SMAC's files into a temporary folder that
is removed with the optimizer. SMAC's random forest cannot take infinite costs,
so a diverged result is told as the worst finite loss seen so far (1e6 before
any finite one). On tables, a fresh trial's proposal goes to the nearest held
configuration not yet trained to its fidelity in the run (no repeats), and SMAC
is still told that configuration's loss for the configuration it proposed:
its intensifier (racing, successive halving) tracks the trials it asked, and
telling another configuration would leave them running forever. This is the
one adapter whose model does not learn the evaluated configuration
(``describe()["told"]``; docs/optimizers.md, open problems).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from ..optimizer import Optimizer, Trial, TrialResult, snap_fidelity
from ._common import Checkpoints, library_version, require, scratch_dir

__all__ = ["SMACBO", "SMACHyperband", "SMACOptimizer"]

#: the cost told for a diverged result before any finite loss was seen
DIVERGED_COST = 1e6


class SMACOptimizer(Optimizer):
    """SMAC3 as a CurveBench optimizer; ``multi_fidelity`` picks the facade (see the module docstring)."""

    name = "smac"

    def __init__(
        self,
        *,
        multi_fidelity: bool = False,
        eta: float = 3,
        min_fidelity: float | None = None,
        n_trials: int = 1_000_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        smac = require("smac", "smac", "SMAC3")
        self._dir = scratch_dir(self, "curvebench-smac-")
        space = copy.deepcopy(self.space)
        lo = self.fidelity.min if min_fidelity is None else self.fidelity.check(min_fidelity)
        self.multi_fidelity = bool(multi_fidelity) and lo < self.fidelity.max
        #: why a multi-fidelity request runs single-fidelity (one fidelity to run at), else None
        self.fallback = (
            f"one fidelity ({lo:g} = max): SMAC's HPO facade at that fidelity"
            if multi_fidelity and not self.multi_fidelity
            else None
        )
        self.eta = eta
        common = dict(deterministic=True, n_trials=int(n_trials), seed=self.seed, output_directory=Path(self._dir) / "smac")
        if self.multi_fidelity:
            scenario = smac.Scenario(space, min_budget=float(lo), max_budget=float(self.fidelity.max), **common)
            facade = smac.MultiFidelityFacade
            self.smac = facade(
                scenario,
                target_function=_never_called_mf,
                intensifier=facade.get_intensifier(scenario, eta=eta),
                overwrite=True,
                logging_level=40,
            )
        else:
            scenario = smac.Scenario(space, **common)
            self.smac = smac.HyperparameterOptimizationFacade(
                scenario, target_function=_never_called, overwrite=True, logging_level=40
            )
        from smac.runhistory.dataclasses import TrialValue

        self._TrialValue = TrialValue
        self.checkpoints = Checkpoints()
        self._infos: dict[int, Any] = {}
        self._worst = -math.inf
        #: proposals the projection moved; SMAC is told their result under the proposed configuration
        self.n_moved = 0

    def _ask(self) -> Trial:
        info = self.smac.ask()
        proposal = dict(info.config)
        if self.multi_fidelity and info.budget is not None:
            fid = snap_fidelity(self.fidelity, float(info.budget))
        else:
            fid = self.fidelity.max
        trial = self.checkpoints.trial_for(self, self.sampler.project(proposal), fid, proposal)
        if dict(trial.config) != proposal:
            self.n_moved += 1
        self._infos[trial.trial_id] = info
        return trial

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        info = self._infos.pop(trial.trial_id)
        loss = float(result.loss)
        if math.isfinite(loss):
            self._worst = max(self._worst, loss)
        else:
            loss = self._worst if math.isfinite(self._worst) else DIVERGED_COST
        self.smac.tell(info, self._TrialValue(cost=loss, time=float(result.cost)))
        self.checkpoints.add(trial)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "library": library_version("smac"),
            "multi_fidelity": self.multi_fidelity,
            "eta": self.eta,
            "told": "the proposed configuration (SMAC's intensifier tracks the configurations it asked)",
            "n_moved": self.n_moved,
            **({"fallback": self.fallback} if self.fallback else {}),
        }


def _never_called(config: Any, seed: int = 0) -> float:
    """SMAC checks its target function's signature; driven through ask/tell, it never calls it."""
    raise RuntimeError("SMAC is driven through ask/tell here; its target function is never called")


def _never_called_mf(config: Any, seed: int = 0, budget: float | None = None) -> float:
    """As :func:`_never_called`, with the budget argument of SMAC's multi-fidelity facade."""
    raise RuntimeError("SMAC is driven through ask/tell here; its target function is never called")


class SMACBO(SMACOptimizer):
    """SMAC3's random-forest BO (HPO facade) at the maximum fidelity."""

    name = "smac-bo"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("multi_fidelity", False)
        super().__init__(**kwargs)


class SMACHyperband(SMACOptimizer):
    """SMAC3's multi-fidelity facade (random forest + Hyperband intensifier)."""

    name = "smac-hyperband"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("multi_fidelity", True)
        super().__init__(**kwargs)
