"""Regularized (aging) evolution (Real et al., AAAI 2019), as run on FCNet by Klein & Hutter 2019."""

from __future__ import annotations

from collections import deque
from typing import Any

import ConfigSpace as CS
import numpy as np

from ..optimizer import Optimizer, Trial, TrialResult

__all__ = ["RegularizedEvolution", "mutate_one"]


def mutate_one(
    config: dict[str, Any], space: CS.ConfigurationSpace, rng: np.random.Generator
) -> dict[str, Any]:
    """Change one hyperparameter of ``config``, chosen uniformly among those that can change.

    Categorical and ordinal hyperparameters take a different choice, uniformly
    (as in Klein & Hutter's ``mutate_arch``). Numbers take a new value drawn
    uniformly in their range (on the log scale for log hyperparameters).
    Conditional spaces: the changed value must leave the configuration legal;
    inactive hyperparameters are not mutated.
    """
    names = [
        n
        for n in space.keys()
        if n in config
        and config[n] is not None
        and not isinstance(space[n], CS.Constant)
        and _n_values(space[n]) != 1
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
    the child is projected onto the nearest held configuration; if that is the
    parent or a configuration already trained to ``fidelity_value`` in the run,
    the mutation is redrawn (up to ``max_retries`` times), and then the child
    goes to the nearest configuration not yet trained to it
    (``sampler.project(child, fidelity)``). The population holds the
    configurations evaluated (``trial.config``).

    Defaults scaled to the budget (docs/optimizers.md): the FCNet paper's
    P = 100, S = 10 need thousands of evaluations; with B full-fidelity
    evaluations, ``population_size = min(100, max(10, round(B / 10)))`` and
    ``sample_size = max(2, round(P / 10))`` (the paper's S/P = 1/10, at least a
    binary tournament), so that B = 100 gives P = 10, S = 2 (90 mutations
    after 10 random configurations) and B >= 1000 gives the paper's values.
    A value set explicitly is kept; without a known budget the paper's values
    are used. ``describe()`` records values and rules (``scaled_to_budget``).
    """

    name = "re"

    def __init__(
        self,
        *,
        population_size: int | None = None,
        sample_size: int | None = None,
        fidelity_value: float | None = None,
        max_retries: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        b = self.budget_evaluations
        population_size = self.scale_default(
            "population_size",
            population_size,
            None if b is None else int(min(100, max(10, round(b / 10)))),
            "min(100, max(10, round(B / 10))), B = budget in full-fidelity evaluations",
            100,
        )
        if sample_size is None:  # relative to the population, whatever set it
            sample_size = min(int(population_size), max(2, round(population_size / 10)))
            self.scaled["sample_size"] = {
                "value": sample_size,
                "rule": "min(population_size, max(2, round(population_size / 10))) (the paper's S/P = 10/100)",
            }
        if population_size < 1 or sample_size < 1:
            raise ValueError(
                f"population_size={population_size!r} and sample_size={sample_size!r} must be >= 1"
            )
        if sample_size > population_size:
            raise ValueError(f"sample_size={sample_size} must not exceed population_size={population_size}")
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)
        self.fidelity_value = (
            self.fidelity.max if fidelity_value is None else self.fidelity.check(fidelity_value)
        )
        self.max_retries = int(max_retries)
        #: (config, loss), oldest first
        self.population: deque[tuple[dict[str, Any], float]] = deque()

    def _ask(self) -> Trial:
        fid = self.fidelity_value
        sampler = self.sampler
        if self.n_trials < self.population_size or not self.population:
            return self.new_trial(sampler.sample_one(self.rng, fid), fid)
        parent = self.tournament()
        child = parent
        for _ in range(self.max_retries + 1):
            raw = mutate_one(parent, self.space, self.rng)
            child = sampler.project(raw)
            if child != parent and (not sampler.is_finite or sampler.fidelity_reached(child) < fid):
                return self.new_trial(child, fid)
        if (
            sampler.is_finite
        ):  # every retry hit the parent or an evaluated configuration: the nearest open one
            child = sampler.project(raw, fid)
        return self.new_trial(child, fid)

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
