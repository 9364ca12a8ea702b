"""The DEHB package (automl/DEHB) through its ask/tell interface.

``DEHB(cs=space, min_fidelity, max_fidelity, eta, n_workers=1, seed)`` proposes
jobs (configuration, fidelity, bookkeeping ids); each becomes a CurveBench
trial and its loss and cost go back with ``tell``. DEHB's fidelities
``max * eta**-k`` are rounded to held values; its configurations are projected
with the sampler onto what the benchmark holds: on a table, a fresh trial goes
to the nearest held configuration not yet trained to its fidelity in the run
(no repeats). When the projection moved the proposal, the package is told the
configuration evaluated: before ``tell``, the vector stored for the job's
``config_id`` in its config repository (which ``tell`` reads back and puts into
the population) is replaced by the evaluated configuration's vector, as the
package's own ``tell(..., replay=True)`` does. A configuration DEHB asks for
again at a higher fidelity (its first-iteration promotions) continues the
earlier trial when one is available, paying only the increment.

DEHB writes a log file into an output folder and reconfigures the global
``loguru`` logger; the adapter gives it a temporary folder (removed with the
optimizer) and level ERROR.

On a benchmark with one fidelity (or ``min_fidelity`` equal to the maximum)
the package's DEHB refuses to run (it needs min < max and points to its plain
DE instead). The adapter then runs the package's ``DE`` (same strategy,
mutation factor and crossover) asynchronously at that fidelity: a random
population of ``pop_size`` (the package's default, 20) is evaluated first;
afterwards each trial is one ``rand1_bin`` step on the next member (round
robin) and replaces it when not worse. ``describe()`` records the mode.
"""

from __future__ import annotations

import copy
import functools
import warnings
from typing import Any

import numpy as np

from ..optimizer import Optimizer, Trial, TrialResult, snap_fidelity
from ._common import library_version, require, scratch_dir

__all__ = ["DEHBLibrary"]


def _quiet(method: Any) -> Any:
    """``method`` with the dehb package's DeprecationWarnings (its calls of older ConfigSpace APIs) silenced."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"dehb(\.|$)")
            return method(*args, **kwargs)

    return wrapper


class DEHBLibrary(Optimizer):
    """The ``dehb`` package's DEHB (defaults: rand1_bin, mutation 0.5, crossover 0.5, eta 3).

    ``pop_size`` is used only with one fidelity, where the package's DE runs instead (see the module docstring).
    """

    name = "dehb-lib"

    @_quiet
    def __init__(
        self,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        mutation_factor: float = 0.5,
        crossover_prob: float = 0.5,
        pop_size: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        dehb = require("dehb", "dehb", "DEHB")
        lo = self.fidelity.min if min_fidelity is None else self.fidelity.check(min_fidelity)
        self.eta, self.mutation_factor, self.crossover_prob = eta, mutation_factor, crossover_prob
        self.pop_size = int(pop_size)
        self._dir = scratch_dir(self, "curvebench-dehb-")
        space = copy.deepcopy(self.space)
        # the package's promotions continue the trial of the config_id it promotes (DEHB itself trains every
        # job from scratch; a checkpoint is this harness's saving, for promotions only): its latest finished
        # trial, by the package's config_id. A new DE offspring always trains from scratch, even where a table
        # snaps it onto a configuration trained before
        self._finished: dict[int, Trial] = {}
        self._jobs: dict[int, dict[str, Any]] = {}
        self._de: _OneFidelityDE | None = None
        self.n_moved = 0  # proposals the projection moved (the package is told the evaluated configuration)
        if not lo < self.fidelity.max:  # DEHB needs min < max; its own advice for one fidelity is plain DE
            self._de = _OneFidelityDE(
                dehb, space, self.pop_size, mutation_factor, crossover_prob, self.seed, self._dir
            )
            self.dehb = None
            return
        self.dehb = dehb.DEHB(
            cs=space,
            f=None,
            dimensions=len(list(space.keys())),
            min_fidelity=float(lo),
            max_fidelity=float(self.fidelity.max),
            eta=eta,
            mutation_factor=mutation_factor,
            crossover_prob=crossover_prob,
            n_workers=1,
            seed=self.seed,
            output_path=self._dir,
            log_level="ERROR",
            save_freq="end",
        )

    @_quiet
    def _ask(self) -> Trial:
        if self._de is not None:
            key, config = self._de.ask()
            fid = self.fidelity.max
            trial = self.new_trial(self.sampler.project(config, fid if self.sampler.is_finite else None), fid)
            self._jobs[trial.trial_id] = {"de_key": key, "asked": config}
            return trial
        job = self.dehb.ask()
        proposal = dict(job["config"])
        fid = snap_fidelity(self.fidelity, float(job["fidelity"]))
        prev = self._finished.get(job["config_id"])
        if prev is not None and prev.fidelity < fid:  # a promotion: the package asks for this config_id again
            del self._finished[job["config_id"]]
            trial = self.continue_trial(prev, fid)
        else:
            trial = self.new_trial(
                self.sampler.project(proposal, fid if self.sampler.is_finite else None), fid
            )
        self._jobs[trial.trial_id] = {**job, "asked": proposal}
        return trial

    def _vector(self, config: dict[str, Any]) -> np.ndarray:
        """The package's [0, 1] vector of a configuration (to tell it the configuration evaluated)."""
        import ConfigSpace as CS

        de = self._de.de if self._de is not None else self.dehb
        return de.configspace_to_vector(CS.Configuration(de.cs, values=config))

    @_quiet
    def _tell(self, trial: Trial, result: TrialResult) -> None:
        job = self._jobs.pop(trial.trial_id)
        evaluated = dict(trial.config)
        moved = evaluated != job.pop("asked")
        if self._de is not None:
            self._de.tell(job["de_key"], float(result.loss), self._vector(evaluated) if moved else None)
            return
        if moved:
            # the package learns from the vector it stored for this config_id (its tell reads it back from its
            # config repository, as its own replay does): store the evaluated configuration's vector there
            self.dehb.config_repository.configs[job["config_id"]].config = self._vector(evaluated)
            self.n_moved += 1
        self.dehb.tell(job, {"fitness": float(result.loss), "cost": float(result.cost)})
        self._finished[job["config_id"]] = trial

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "library": library_version("dehb"),
            "eta": self.eta,
            "mutation_factor": self.mutation_factor,
            "crossover_prob": self.crossover_prob,
            "told": "the evaluated configuration (its vector replaces the proposal's in the package's records)",
            "n_moved": self.n_moved,
            "mode": "DEHB" if self._de is None else f"DE at the single fidelity (pop_size {self.pop_size})",
        }


class _OneFidelityDE:
    """The package's DE (``dehb.DE``, rand1_bin) driven asynchronously, for a benchmark with one fidelity.

    ``ask`` returns (member index, configuration): first each member of the
    random initial population, then offspring of the members in turn. ``tell``
    puts an offspring in its member's place when its loss is not worse.
    """

    def __init__(
        self,
        dehb: Any,
        space: Any,
        pop_size: int,
        mutation_factor: float,
        crossover_prob: float,
        seed: int,
        output_path: str,
    ) -> None:
        if pop_size < 4:
            raise ValueError(f"pop_size={pop_size!r}: DE's rand1 mutation needs at least 4 members")
        self.de = dehb.DE(
            cs=space,
            f=None,
            dimensions=len(list(space.keys())),
            pop_size=pop_size,
            mutation_factor=mutation_factor,
            crossover_prob=crossover_prob,
            strategy="rand1_bin",
            seed=seed,
            output_path=output_path,
        )
        self.de.population = self.de.init_population(pop_size)
        self.de.fitness = np.full(pop_size, np.inf)
        self._next = 0
        self._vectors: dict[int, tuple[int, np.ndarray]] = {}
        self._n_asked = 0

    def ask(self) -> tuple[int, dict[str, Any]]:
        de = self.de
        j = self._next
        self._next = (j + 1) % de.pop_size
        if self._n_asked < de.pop_size:  # evaluate the initial population first
            vector = de.population[j].copy()
        else:
            mutant = de.mutation(current=de.population[j], best=None, alt_pop=None)
            vector = de.boundary_check(de.crossover(de.population[j].copy(), mutant))
        self._n_asked += 1
        self._vectors[self._n_asked] = (j, vector)
        return self._n_asked, dict(de.vector_to_configspace(vector))

    def tell(self, key: int, loss: float, evaluated: np.ndarray | None = None) -> None:
        """The result of offspring ``key``; ``evaluated``: the vector of the configuration evaluated when the
        projection moved the proposal (it then enters the population instead)."""
        j, vector = self._vectors.pop(key)
        if evaluated is not None:
            vector = evaluated
        if loss <= self.de.fitness[j]:
            self.de.population[j] = vector
            self.de.fitness[j] = loss
