"""DEHB: differential evolution inside Hyperband brackets (Awad, Mallik & Hutter, IJCAI 2021).

Follows the DEHB package (``dehb/optimizers/dehb.py``, v0.1) on the shared
bracket logic:

* one DE subpopulation per rung of the ladder, of size the largest number of
  configurations any bracket runs at that rung, initialized at random
  (fitness +inf);
* the first Hyperband iteration (the first ``s_max + 1`` brackets) is vanilla
  Hyperband: the very first bracket evaluates the random initial population at
  its bottom rung, other brackets' bottom rungs get DE offspring, and every
  higher round takes the best configurations of the bracket's previous round
  (these promotions continue the earlier trial);
* afterwards each job is one DE step ``rand1_bin``: the target is the next
  member (round robin) of the subpopulation at the job's rung, the mutant is
  ``r1 + F (r2 - r3)`` with r1, r2, r3 drawn without replacement from the
  "parent pool", the best ``n_i`` members of the subpopulation one rung lower
  (the population passed up across budgets; at a bracket's bottom rung, its own
  subpopulation), filled up with mutants of the global population when it has
  fewer than 3 members; binomial crossover with probability ``CR`` (at least
  one dimension from the mutant); out-of-bounds values redrawn uniformly;
* selection: the evaluated configuration replaces its target when its loss is
  not worse.

DE offspring are new configurations, trained from scratch at their rung (as in
DEHB). On tables, offspring (and the random initial population) are projected
with ``sampler.project(child, fidelity)`` onto the nearest configuration the
table holds that was not yet trained to that fidelity in the run; the
configuration evaluated (``trial.config``) is what enters the population.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..optimizer import Trial, TrialResult
from .encoding import VectorSpace
from .hyperband import Hyperband

__all__ = ["DEHB", "boundary_fix", "crossover_bin", "mutation_rand1"]

BoundaryFix = Literal["random", "clip"]


def mutation_rand1(pool: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """``r1 + factor * (r2 - r3)`` for three distinct members r1, r2, r3 of ``pool`` (rows)."""
    if pool.shape[0] < 3:
        raise ValueError(f"rand1 mutation needs at least 3 individuals, got {pool.shape[0]}")
    r1, r2, r3 = pool[rng.choice(pool.shape[0], 3, replace=False)]
    return r1 + factor * (r2 - r3)


def crossover_bin(
    target: np.ndarray, mutant: np.ndarray, prob: float, rng: np.random.Generator
) -> np.ndarray:
    """Binomial crossover: each dimension from the mutant with probability ``prob``, at least one always."""
    cross = rng.random(target.shape[0]) < prob
    if not cross.any():
        cross[rng.integers(0, target.shape[0])] = True
    return np.where(cross, mutant, target)


def boundary_fix(vector: np.ndarray, rng: np.random.Generator, kind: BoundaryFix = "random") -> np.ndarray:
    """Values outside [0, 1] redrawn uniformly (``"random"``, DEHB's default) or clipped (``"clip"``)."""
    out = np.array(vector, dtype=float)
    bad = (out < 0) | (out > 1)
    if bad.any():
        if kind == "random":
            out[bad] = rng.uniform(0.0, 1.0, size=int(bad.sum()))
        elif kind == "clip":
            out[bad] = np.clip(out[bad], 0.0, 1.0)
        else:
            raise ValueError(f"boundary fix {kind!r} is not one of 'random', 'clip'")
    return out


class DEHB(Hyperband):
    """DEHB with the package's defaults: ``rand1_bin``, mutation factor 0.5, crossover probability 0.5, eta 3."""

    name = "dehb"

    def __init__(
        self,
        *,
        mutation_factor: float = 0.5,
        crossover_prob: float = 0.5,
        boundary_fix_type: BoundaryFix = "random",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0 < mutation_factor <= 2:
            raise ValueError(f"mutation_factor={mutation_factor!r} must be in (0, 2]")
        if not 0 <= crossover_prob <= 1:
            raise ValueError(f"crossover_prob={crossover_prob!r} must be in [0, 1]")
        if boundary_fix_type not in ("random", "clip"):
            raise ValueError(f"boundary_fix_type={boundary_fix_type!r} is not one of 'random', 'clip'")
        self.mutation_factor = float(mutation_factor)
        self.crossover_prob = float(crossover_prob)
        self.boundary_fix_type: BoundaryFix = boundary_fix_type
        self.vspace = VectorSpace(self.space)
        if self.vspace.dim == 0:
            raise ValueError("DEHB needs at least one non-constant hyperparameter")
        # subpopulation sizes: the most configurations any bracket runs at each rung
        sizes = [0] * len(self.rungs)
        for b in self.bracket_sizes:
            for i, n in enumerate(b):
                g = len(self.rungs) - len(b) + i
                sizes[g] = max(sizes[g], n)
        self.pop_configs: list[list[dict[str, Any]]] = [self._initial(n) for n in sizes]
        self.population: list[np.ndarray] = [self._encode(c) for c in self.pop_configs]
        self.fitness: list[np.ndarray] = [np.full(n, np.inf) for n in sizes]
        self._parent = [0] * len(self.rungs)

    def _initial(self, n: int) -> list[dict[str, Any]]:
        """``n`` random configurations; on a table smaller than ``n``, padded with draws with replacement (the
        projection at ask time then moves each onto one not yet evaluated)."""
        out = self.sampler.sample(n, self.rng)
        if len(out) < n and self.sampler.is_finite:
            confs = self.sampler.configurations
            out += [dict(confs[i]) for i in self.sampler.sample_ids(n - len(out), self.rng).tolist()]
        return out

    def _encode(self, configs: list[dict[str, Any]]) -> np.ndarray:
        x = self.vspace.encode(configs, mode="unit")
        return np.nan_to_num(x, nan=0.5)  # inactive values: the middle of the range (any value is legal)

    def _next_parent(self, g: int) -> int:
        p = self._parent[g]
        self._parent[g] = (p + 1) % len(self.fitness[g])
        return p

    def _ask(self) -> Trial | None:
        slot = self._next_slot()
        if slot is None:
            return None
        bracket, rung, index, fid = slot
        g = self.rungs.index(fid)
        parent = self._next_parent(g)
        info = {"bracket": bracket.bracket_id, "rung": rung, "g": g, "parent": parent}
        first_iteration = bracket.bracket_id <= self.s_max
        if first_iteration and rung > 0:
            return self.continue_trial(bracket.promotion(rung, index).trial, fid, **info)
        if bracket.bracket_id == 0:
            return self.new_trial(self.sampler.project(self.pop_configs[g][parent], fid), fid, **info)
        g_low = self.rungs.index(bracket.fidelities[max(rung - 1, 0)])
        return self.new_trial(self._offspring(g, g_low, parent, bracket.sizes[rung], fid), fid, **info)

    def _offspring(self, g: int, g_low: int, parent: int, n_pool: int, fidelity: float) -> dict[str, Any]:
        """One rand1_bin step for the target ``parent`` of subpopulation ``g``, parents from rung ``g_low``."""
        order = np.argsort(self.fitness[g_low], kind="stable")[:n_pool]
        pool = self.population[g_low][order]
        if pool.shape[0] < 3:
            everyone = np.concatenate(self.population)
            if everyone.shape[0] < 3:  # tiny ladders (one or two rungs): pad with random individuals
                everyone = np.concatenate([everyone, self.rng.random((3, self.vspace.dim))])
            filler = [
                mutation_rand1(everyone, self.mutation_factor, self.rng) for _ in range(3 - pool.shape[0] + 1)
            ]
            pool = np.concatenate([pool, np.asarray(filler)])
        mutant = mutation_rand1(pool, self.mutation_factor, self.rng)
        child = crossover_bin(self.population[g][parent], mutant, self.crossover_prob, self.rng)
        child = boundary_fix(child, self.rng, self.boundary_fix_type)
        return self.sampler.project(self.vspace.decode(child[None, :], mode="unit")[0], fidelity)

    def observe(self, trial: Trial, result: TrialResult) -> None:
        g, parent = trial.info["g"], trial.info["parent"]
        if result.loss <= self.fitness[g][parent]:
            config = dict(trial.config)
            self.pop_configs[g][parent] = config
            self.population[g][parent] = self._encode([config])[0]
            self.fitness[g][parent] = result.loss

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "strategy": "rand1_bin",
            "mutation_factor": self.mutation_factor,
            "crossover_prob": self.crossover_prob,
            "boundary_fix_type": self.boundary_fix_type,
            "population_sizes": [len(f) for f in self.fitness],
        }
