"""Regularized (aging) evolution (Real et al., AAAI 2019), as run on FCNet by Klein & Hutter 2019."""

from __future__ import annotations

from collections import deque
from typing import Any

import ConfigSpace as CS
import numpy as np

from ..optimizer import Optimizer, Trial, TrialResult

__all__ = ["RegularizedEvolution", "mutate_one"]


def mutate_one(config: dict[str, Any], space: CS.ConfigurationSpace, rng: np.random.Generator) -> dict[str, Any]:
    """Change one hyperparameter of ``config``, chosen uniformly among those that can change.

    Categorical and ordinal hyperparameters take a different choice, uniformly
    (as in Klein & Hutter's ``mutate_arch``). Numbers take a new value drawn
    uniformly in their range (on the log scale for log hyperparameters).
    Conditional spaces: the changed value must leave the configuration legal;
    inactive hyperparameters are not mutated.
    """
    names = [
        n for n in space.keys()
        if n in config and config[n] is not None and not isinstance(space[n], CS.Constant) and _n_values(space[n]) != 1
    ]
    if not names:
        raise ValueError("no hyperparameter of the space can be mutated")
    name = names[int(rng.integers(len(names)))]
    hp = space[name]
    child = dict(config)
    if isinstance(hp, (CS.CategoricalHyperparameter, CS.OrdinalHyperparameter)):
        choices = list(hp.choices if isinstance(hp, CS.CategoricalHyperparameter) else hp.sequence)
        choices.remove(config[name])
        child[name] = choices[int(rng.integers(len(choices)))]
    else:
        lo, hi, log = float(hp.lower), float(hp.upper), bool(getattr(hp, "log", False))
        u = rng.uniform(np.log(lo), np.log(hi)) if log else rng.uniform(lo, hi)
        v = float(np.exp(u)) if log else float(u)
        if "Integer" in type(hp).__name__:
            v = int(min(max(round(v), hp.lower), hp.upper))
        child[name] = v
    if space.conditions:
        from ConfigSpace.util import deactivate_inactive_hyperparameters

        filled = {**dict(space.get_default_configuration()), **child}
        child = dict(deactivate_inactive_hyperparameters(configuration=filled, configuration_space=space))
    return child


def _n_values(hp: Any) -> int | None:
    if isinstance(hp, CS.CategoricalHyperparameter):
        return len(hp.choices)
    if isinstance(hp, CS.OrdinalHyperparameter):
        return len(hp.sequence)
    return None


class RegularizedEvolution(Optimizer):
    """Regularized evolution: tournament selection, mutate one hyperparameter, remove the oldest.

    The first ``population_size`` trials are random configurations. After that,
    each new trial mutates the winner (lowest loss) of a tournament of
    ``sample_size`` members drawn uniformly without replacement from the
    population; each finished trial joins the population and, beyond
    ``population_size`` members, the oldest one leaves. With asynchronous
    workers the population holds the finished trials only; while it is empty,
    trials are random, and tournaments use ``min(sample_size, |population|)``.
    Every trial runs at ``fidelity_value`` (default: the maximum). On a table
    the child is projected onto held configurations; if the projection gives
    back the parent, the mutation is redrawn (up to ``max_retries`` times).
    Defaults (P = 100, S = 10) as in the FCNet paper.
    """

    name = "re"

    def __init__(
        self,
        *,
        population_size: int = 100,
        sample_size: int = 10,
        fidelity_value: float | None = None,
        max_retries: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if population_size < 1 or sample_size < 1:
            raise ValueError(f"population_size={population_size!r} and sample_size={sample_size!r} must be >= 1")
        if sample_size > population_size:
            raise ValueError(f"sample_size={sample_size} must not exceed population_size={population_size}")
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)
        self.fidelity_value = self.fidelity.max if fidelity_value is None else self.fidelity.check(fidelity_value)
        self.max_retries = int(max_retries)
        #: (config, loss), oldest first
        self.population: deque[tuple[dict[str, Any], float]] = deque()

    def _ask(self) -> Trial:
        if self.n_trials < self.population_size or not self.population:
            return self.new_trial(self.sampler.sample_one(self.rng), self.fidelity_value)
        parent = self.tournament()
        child = parent
        for _ in range(self.max_retries + 1):
            child = self.sampler.project(mutate_one(parent, self.space, self.rng))
            if child != parent:
                break
        return self.new_trial(child, self.fidelity_value)

    def tournament(self) -> dict[str, Any]:
        """The best of ``min(sample_size, |population|)`` members drawn uniformly without replacement."""
        k = min(self.sample_size, len(self.population))
        idx = self.rng.choice(len(self.population), size=k, replace=False)
        best = min(idx.tolist(), key=lambda i: (self.population[i][1], i))
        return dict(self.population[best][0])

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        self.population.append((dict(trial.config), result.loss))
        if len(self.population) > self.population_size:
            self.population.popleft()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "population_size": self.population_size,
            "sample_size": self.sample_size,
            "fidelity_value": self.fidelity_value,
        }
