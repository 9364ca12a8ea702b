"""The DEHB package (automl/DEHB) through its ask/tell interface.

``DEHB(cs=space, min_fidelity, max_fidelity, eta, n_workers=1, seed)`` proposes
jobs (configuration, fidelity, bookkeeping ids); each becomes a CurveBench
trial and its loss and cost go back with ``tell``. DEHB's fidelities
``max * eta**-k`` are rounded to held values; its configurations are projected
with the sampler onto what the benchmark holds. A configuration DEHB asks for
again at a higher fidelity (its first-iteration promotions) continues the
earlier trial when one is available, paying only the increment.

DEHB writes a log file into an output folder and reconfigures the global
``loguru`` logger; the adapter gives it a temporary folder (removed with the
optimizer) and level ERROR.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import weakref
from typing import Any

from ..optimizer import Optimizer, Trial, TrialResult, snap_fidelity
from ._common import Checkpoints, require

__all__ = ["DEHBLibrary"]


class DEHBLibrary(Optimizer):
    """The ``dehb`` package's DEHB (defaults: rand1_bin, mutation 0.5, crossover 0.5, eta 3)."""

    name = "dehb-lib"

    def __init__(
        self,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        mutation_factor: float = 0.5,
        crossover_prob: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        dehb = require("dehb", "dehb", "DEHB")
        lo = self.fidelity.min if min_fidelity is None else self.fidelity.check(min_fidelity)
        if not lo < self.fidelity.max:
            raise ValueError(
                f"the DEHB package needs a minimum fidelity below the maximum {self.fidelity.max:g}; got {lo:g}"
            )
        self._dir = tempfile.mkdtemp(prefix="curvebench-dehb-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        space = copy.deepcopy(self.space)
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
        self.eta, self.mutation_factor, self.crossover_prob = eta, mutation_factor, crossover_prob
        self.checkpoints = Checkpoints()
        self._jobs: dict[int, dict[str, Any]] = {}

    def _ask(self) -> Trial:
        job = self.dehb.ask()
        config = self.sampler.project(dict(job["config"]))
        fid = snap_fidelity(self.fidelity, float(job["fidelity"]))
        prev = self.checkpoints.take(config, fid)
        trial = self.continue_trial(prev, fid) if prev is not None else self.new_trial(config, fid)
        self._jobs[trial.trial_id] = job
        return trial

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        job = self._jobs.pop(trial.trial_id)
        self.dehb.tell(job, {"fitness": float(result.loss), "cost": float(result.cost)})
        self.checkpoints.add(trial)

    def describe(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            **super().describe(),
            "library": f"dehb {version('dehb')}",
            "eta": self.eta,
            "mutation_factor": self.mutation_factor,
            "crossover_prob": self.crossover_prob,
        }
