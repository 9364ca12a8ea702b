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
any finite one).

On tables (a finite sampler) SMAC chooses among the configurations the table
holds that no trial of the run has evaluated yet: its configuration space is the
benchmark's with a ``sample_configuration`` that draws from those (its random
configurations, interleaved random configurations and initial design), and its
acquisition function is maximized over all of them (:class:`HeldCandidates`,
instead of its local search in the whole space). So a proposal is a held,
unevaluated configuration: it is evaluated as proposed, SMAC's model learns the
configuration evaluated, and no budget goes to repeats. (A proposal the sampler
would still move is counted in ``describe()["n_moved"]``; the tests hold it at
0.)

The initial design has SMAC's own size rule, ``min(10 x hyperparameters, 0.25 x
n_trials)``; for the HPO facade (every trial a full evaluation) ``n_trials`` is
the run's budget in full evaluations when it is known, so that at 100
evaluations the model is fitted after 25, not after 90 random ones (recorded in
``scaled_to_budget``). The multi-fidelity facade keeps its 10 per
hyperparameter: they run at the lowest budget.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from ..optimizer import Optimizer, TableExhausted, Trial, TrialResult, snap_fidelity
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
        self.on_table = self.sampler.is_finite
        if self.on_table:
            space = _held_space(space, self.sampler)
        common = dict(
            deterministic=True,
            n_trials=int(n_trials),
            seed=self.seed,
            output_directory=Path(self._dir) / "smac",
        )
        n_hps = len(list(space.values()))
        if self.multi_fidelity:
            scenario = smac.Scenario(
                space, min_budget=float(lo), max_budget=float(self.fidelity.max), **common
            )
            facade = smac.MultiFidelityFacade
            n_init = max(1, min(10 * n_hps, int(0.25 * int(n_trials))))
            extra = dict(intensifier=facade.get_intensifier(scenario, eta=eta))
            target = _never_called_mf
        else:
            scenario = smac.Scenario(space, **common)
            facade = smac.HyperparameterOptimizationFacade
            trials = int(n_trials)
            if self.budget_evaluations is not None and self.budget_evaluations < trials:
                trials = max(1, int(self.budget_evaluations))
                rule = "min(10 x hyperparameters, 0.25 x budget in full evaluations) (SMAC's rule, n_trials = budget)"
            else:
                rule = None
            n_init = max(1, min(10 * n_hps, int(0.25 * trials)))
            if rule is not None:
                self.scaled["initial_design"] = {"value": n_init, "rule": rule}
            extra = {}
            target = _never_called
        if self.on_table:
            # the initial design from the held, unevaluated configurations (SMAC's Sobol points are not in a table),
            # drawn from the space seeded by the run's seed (SMAC seeds it only later, inside the facade; unseeded,
            # ConfigSpace draws from the operating system's entropy: another design in every process)
            space.seed(self.seed)
            drawn = space.sample_configuration(n_init)
            extra["initial_design"] = facade.get_initial_design(
                scenario, n_configs=0, additional_configs=list(drawn)
            )
            extra["acquisition_maximizer"] = HeldCandidates(space, seed=self.seed)
        else:
            extra["initial_design"] = facade.get_initial_design(scenario, n_configs=n_init)
        self.n_initial = n_init
        self.smac = facade(scenario, target_function=target, overwrite=True, logging_level=40, **extra)
        from smac.runhistory.dataclasses import TrialValue

        self._TrialValue = TrialValue
        self.checkpoints = Checkpoints()
        self._infos: dict[int, Any] = {}
        self._worst = -math.inf
        #: proposals the projection still moved (0 on tables: SMAC proposes held, unevaluated configurations);
        #: SMAC is told their result under the proposed configuration
        self.n_moved = 0

    def _ask(self) -> Trial:
        info = self.smac.ask()
        proposal = dict(info.config)
        if self.multi_fidelity and info.budget is not None:
            fid = snap_fidelity(self.fidelity, float(info.budget))
        else:
            fid = self.fidelity.max
        trial = self.checkpoints.trial_for(self, self.sampler.project(proposal), fid, proposal)
        if not _same_config(trial.config, proposal):
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
            "initial_design": self.n_initial,
            "told": (
                "the configuration evaluated (on a table SMAC proposes held, unevaluated configurations)"
                if self.on_table
                else "the configuration evaluated (the benchmark answers for every configuration of the space)"
            ),
            "n_moved": self.n_moved,
            **({"fallback": self.fallback} if self.fallback else {}),
        }


def _same_config(a: Any, b: Any) -> bool:
    """Equal configurations up to ConfigSpace's rounding of floats (to 13 significant digits when read)."""
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if isinstance(x, float) or isinstance(y, float):
            if not math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif x != y:
            return False
    return True


def _held_space(space: Any, sampler: Any) -> Any:
    """``space`` whose ``sample_configuration`` draws held configurations no trial of the run evaluated yet.

    SMAC samples its random configurations (first proposals, interleaved random ones, the initial design) from
    its scenario's space; this one keeps them inside the table. Draws use the space's own ``random`` (SMAC seeds
    it), without replacement within a call. When every configuration was evaluated it raises
    :class:`TableExhausted` (the run then ends as a table run does).
    """
    held = copy.deepcopy(space)
    held.__class__ = type("HeldConfigurationSpace", (type(space),), {"sample_configuration": _sample_held})
    held._held_sampler = sampler
    return held


def _sample_held(self: Any, size: int | None = None) -> Any:
    from ConfigSpace import Configuration

    free = self._held_sampler.unevaluated()
    if not free:
        raise TableExhausted("every configuration of the table was evaluated in this run")
    n = 1 if size is None else int(size)
    ids = self.random.choice(len(free), size=min(n, len(free)), replace=False)
    out = [Configuration(self, values=self._held_sampler.configurations[free[i]]) for i in ids.tolist()]
    return out[0] if size is None else out


class HeldCandidates:
    """SMAC acquisition maximizer over every held, unevaluated configuration of a table (no local search).

    Built lazily as a subclass of SMAC's ``AbstractAcquisitionMaximizer`` (SMAC is optional).
    """

    def __new__(cls, space: Any, seed: int) -> Any:
        from smac.acquisition.maximizer.abstract_acquisition_maximizer import AbstractAcquisitionMaximizer

        class _HeldCandidates(AbstractAcquisitionMaximizer):
            def _maximize(self, previous_configs: Any, n_points: int) -> list[tuple[float, Any]]:
                candidates = self._configspace.sample_configuration(
                    len(self._configspace._held_sampler.unevaluated())
                )
                for c in candidates:
                    c.origin = "Acquisition Function Maximizer: held configurations"
                return self._sort_by_acquisition_value(candidates)[:n_points]

        return _HeldCandidates(space, seed=seed)


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
