"""Optuna through its ask/tell API: TPE alone, TPE with a successive-halving or Hyperband pruner, and the
multi-objective NSGA-II and MOTPE.

The ConfigSpace space maps to Optuna distributions: categorical ->
``CategoricalDistribution``; ordinal -> ``IntDistribution`` over the ranks (so
TPE sees the order); float and integer -> ``FloatDistribution`` /
``IntDistribution`` with their bounds and log scale; constants are fixed. In a
conditional space every hyperparameter is sampled and the inactive ones are
dropped afterwards.

Multi-fidelity (``pruner`` set): an Optuna trial starts at the lowest rung of
the ladder ``max * eta**-k``; after each result it reports the loss as an
intermediate value at step ``eta**k`` (rung k) and asks the pruner; a trial
that is not pruned continues to the next rung (a continued CurveBench trial,
paying only the increment); one pruned is told ``PRUNED``; one that reaches the
maximum fidelity is told its final loss. Continuations go before new trials.

The values Optuna sees are CurveBench losses (lower is better, +inf for a
diverged result). On a table the proposal is projected onto the nearest held
configuration not yet trained to the trial's fidelity in the run
(``sampler.project(config, fidelity)``: no repeats). When that moves it, the
study must learn the configuration evaluated, not the proposal: the asked
Optuna trial is told ``FAIL`` (TPE ignores failed trials; it is a proposal that
was never evaluated), the evaluated parameters are put in the queue with
``study.enqueue_trial`` and asked again, and that trial (with exactly the
evaluated parameters) is the one that reports, is pruned or is told its loss.
So every COMPLETE or PRUNED trial of the study is a configuration that was
evaluated, with its own result. On surrogates (no projection) nothing changes.
The study is in memory, named after the seed, and every draw is seeded, so a
run is reproducible.

``n_startup_trials`` (TPE's random start; Optuna's default 10) is scaled to the
budget when not set: ``min(10, max(2, round(B / 10)))`` with B the budget in
full-fidelity evaluations, i.e. at most a tenth of the budget (10 for the
default study's B = 100).

Multi-objective (``OptunaNSGAII``, ``OptunaMOTPE``; the run's :class:`~runners.multiobjective.MultiObjective`
as ``objectives``): the study has ``directions=["minimize"] * k`` and each COMPLETE trial is told the vector
``objectives.losses(result)`` (lower is better in every objective), every trial at the maximum fidelity:
Optuna's pruners do not support multi-objective studies (``Trial.report`` and ``Trial.should_prune`` raise
``NotImplementedError`` there). A vector with a non-finite entry (a diverged result: NaN metric, loss
``+inf``) is told ``FAIL`` with the user attribute ``diverged``, as Optuna's docs do for a failed trial: Optuna
would accept ``inf``, but a diverged configuration that is cheap would then be non-dominated (nothing is
cheaper) and become an NSGA-II parent (with an infinite crowding distance at the boundary) or one of MOTPE's
"good" trials; failed trials are in no population and no density of either sampler. NSGA-II's generations
are Optuna's bookkeeping (``BaseGASampler``: a trial's generation is a system attribute, and a generation is
complete after ``population_size`` COMPLETE trials); Optuna sets it while sampling, which a re-asked trial
with every parameter fixed (a projected proposal, above) never does, so the adapter sets it there
(``get_trial_generation``) or the evaluated configurations would belong to no generation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any, Literal

import ConfigSpace as CS
import numpy as np

from benchmarks.transfer import TransferSource

from ..multiobjective import MultiObjective
from ..optimizer import Optimizer, Trial, TrialResult
from ..optimizers.brackets import rung_ladder
from ..optimizers.portfolio import portfolio_order, transfer_record
from ._common import require

__all__ = [
    "OptunaHyperband",
    "OptunaMOTPE",
    "OptunaNSGAII",
    "OptunaOptimizer",
    "OptunaReportPruned",
    "OptunaSHA",
    "OptunaTPE",
    "OptunaTPEWarm",
    "optuna_distributions",
]

Pruner = Literal["none", "sha", "hyperband"]


def _optuna():
    return require("optuna", "optuna", "Optuna")


def optuna_distributions(space: CS.ConfigurationSpace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(name -> Optuna distribution, name -> constant value) for a ConfigSpace space."""
    optuna = _optuna()
    D = optuna.distributions
    dists: dict[str, Any] = {}
    consts: dict[str, Any] = {}
    for name, hp in space.items():
        if isinstance(hp, CS.Constant):
            consts[name] = hp.value
        elif isinstance(hp, CS.CategoricalHyperparameter):
            dists[name] = D.CategoricalDistribution([_plain(c) for c in hp.choices])
        elif isinstance(hp, CS.OrdinalHyperparameter):
            dists[name] = D.IntDistribution(0, len(hp.sequence) - 1)
        elif isinstance(hp, CS.UniformIntegerHyperparameter):
            dists[name] = D.IntDistribution(int(hp.lower), int(hp.upper), log=bool(hp.log))
        elif isinstance(hp, CS.UniformFloatHyperparameter):
            dists[name] = D.FloatDistribution(float(hp.lower), float(hp.upper), log=bool(hp.log))
        else:
            raise TypeError(
                f"hyperparameter {name!r} of type {type(hp).__name__} has no Optuna distribution here; "
                "supported: categorical, ordinal, uniform float/integer, constant"
            )
    return dists, consts


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


@contextmanager
def _quiet(optuna, level: str = "WARNING"):
    """Optuna logs every finished trial at INFO; keep it to warnings (or ``level``) while the adapter works."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(getattr(optuna.logging, level))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


class OptunaOptimizer(Optimizer):
    """Optuna's ask/tell API as a CurveBench optimizer (see the module docstring).

    ``optuna_sampler``: ``"tpe"`` (``TPESampler(seed=...)``, Optuna's defaults), ``"random"`` or ``"nsga2"``
    (``NSGAIISampler(population_size=..., seed=...)``, Optuna's defaults otherwise).
    ``multi_objective``: a :class:`~runners.multiobjective.MultiObjective` makes the study multi-objective
    (module docstring; ``pruner`` must be ``"none"``); None (the default): single-objective on the loss.
    ``pruner``: ``"none"`` (every trial at the maximum fidelity), ``"sha"``
    (``SuccessiveHalvingPruner(min_resource=1, reduction_factor=eta)``) or
    ``"hyperband"`` (``HyperbandPruner(min_resource=1, max_resource=eta**s_max,
    reduction_factor=eta)``); steps are ``eta**k`` at rung k, so ``eta`` must be an integer.
    """

    name = "optuna"
    #: where each trial reports as it trains (None: only at its fidelity; OptunaReportPruned: "every")
    reports: str | None = None

    def __init__(
        self,
        *,
        optuna_sampler: Literal["tpe", "random", "nsga2"] = "tpe",
        pruner: Pruner = "none",
        eta: int = 3,
        min_fidelity: float | None = None,
        n_startup_trials: int | None = None,
        population_size: int = 50,
        multi_objective: MultiObjective | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        optuna = _optuna()
        if optuna_sampler not in ("tpe", "random", "nsga2"):
            raise ValueError(f"optuna_sampler={optuna_sampler!r} is not one of 'tpe', 'random', 'nsga2'")
        if pruner not in ("none", "sha", "hyperband"):
            raise ValueError(f"pruner={pruner!r} is not one of 'none', 'sha', 'hyperband'")
        if multi_objective is not None and pruner != "none":
            raise ValueError(
                f"pruner={pruner!r}: Optuna's pruners do not support multi-objective studies "
                "(Trial.report and Trial.should_prune raise NotImplementedError there); use pruner='none'"
            )
        if n_startup_trials is not None and (
            isinstance(n_startup_trials, bool)
            or not isinstance(n_startup_trials, int)
            or n_startup_trials < 0
        ):
            raise ValueError(
                f"n_startup_trials={n_startup_trials!r} must be an integer >= 0 (or null: scaled to the budget)"
            )
        b = self.budget_evaluations
        self.n_startup_trials: int | None = None
        if optuna_sampler != "nsga2":  # NSGA-II has no random start but its first generation
            self.n_startup_trials = int(
                self.scale_default(
                    "n_startup_trials",
                    n_startup_trials,
                    None if b is None else int(min(10, max(2, round(b / 10)))),
                    "min(10, max(2, round(B / 10))), B = budget in full-fidelity evaluations",
                    10,
                )
            )
        #: the run's objectives when the study is multi-objective (run.py records them in meta.json)
        self.objectives = multi_objective
        #: proposals moved by the projection (told FAIL, the evaluated parameters asked again)
        self.n_moved = 0
        #: multi-objective results with a non-finite objective (told FAIL, module docstring)
        self.n_diverged = 0
        self._optuna = optuna
        if isinstance(eta, bool) or not float(eta).is_integer() or eta < 2:
            raise ValueError(f"eta={eta!r} must be an integer >= 2 (Optuna's pruners count integer steps)")
        self.optuna_sampler, self.pruner_name, self.eta = optuna_sampler, pruner, int(eta)
        self.rungs = (
            rung_ladder(self.fidelity, self.eta, min_fidelity) if pruner != "none" else (self.fidelity.max,)
        )
        self.distributions, self.constants = optuna_distributions(self.space)
        seed = self.seed
        self.population_size = int(population_size) if optuna_sampler == "nsga2" else None
        if optuna_sampler == "tpe":
            samp = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials)
        elif optuna_sampler == "nsga2":
            samp = optuna.samplers.NSGAIISampler(population_size=self.population_size, seed=seed)
        else:
            samp = optuna.samplers.RandomSampler(seed=seed)
        top = self.eta ** (len(self.rungs) - 1)
        if pruner == "sha":
            prun = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=self.eta)
        elif pruner == "hyperband":
            prun = optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=max(top, 1), reduction_factor=self.eta
            )
        else:
            prun = optuna.pruners.NopPruner()
        k = 1 if multi_objective is None else len(multi_objective)
        with _quiet(optuna):
            self.study = optuna.create_study(
                study_name=f"curvebench-{seed}", sampler=samp, pruner=prun, directions=["minimize"] * k
            )
        self._live: dict[int, Any] = {}  # optuna trial number -> optuna Trial
        self._next: deque[tuple[Trial, int]] = deque()  # (finished CurveBench trial, next rung)

    def _ask(self) -> Trial:
        if self._next:
            prev, k = self._next.popleft()
            return self.continue_trial(prev, self.rungs[k], optuna=prev.info["optuna"], rung=k)
        fid = self.rungs[0]
        with _quiet(self._optuna):
            ot = self.study.ask(self.distributions)
            config = self.sampler.project(self._to_config(ot.params), fid if self.sampler.is_finite else None)
            if self.sampler.is_finite:
                params = self._to_params(config)
                if params != ot.params:
                    # tell the study what is evaluated: the proposal was not; the evaluated parameters are
                    self._fail(ot)
                    self.study.enqueue_trial(params)
                    ot = self.study.ask(self.distributions)
                    self.n_moved += 1
                    samp = self.study.sampler
                    if isinstance(samp, self._optuna.samplers.BaseGASampler):
                        # every parameter fixed: Optuna sampled nothing, so it set no generation (docstring)
                        samp.get_trial_generation(
                            self.study, self.study.get_trials(deepcopy=False)[ot.number]
                        )
        self._live[ot.number] = ot
        return self.new_trial(config, fid, reports=self.reports, optuna=ot.number, rung=0)

    def _fail(self, ot: Any) -> None:
        """Tell ``ot`` FAIL without Optuna's "trial failed" warning line."""
        with _quiet(self._optuna, "ERROR"):
            self.study.tell(ot, state=self._optuna.trial.TrialState.FAIL)

    def _to_params(self, config: dict[str, Any]) -> dict[str, Any]:
        """The Optuna parameters of a configuration (the inverse of :meth:`_to_config`; inactive ones absent)."""
        out: dict[str, Any] = {}
        for name in self.distributions:
            if name not in config or config[name] is None:
                continue
            hp = self.space[name]
            v = config[name]
            if isinstance(hp, CS.OrdinalHyperparameter):
                v = list(hp.sequence).index(v)
            out[name] = _plain(v)
        return out

    def _to_config(self, params: dict[str, Any]) -> dict[str, Any]:
        conf = dict(self.constants)
        for name, v in params.items():
            hp = self.space[name]
            conf[name] = hp.sequence[v] if isinstance(hp, CS.OrdinalHyperparameter) else v
        if self.space.conditions:
            from ConfigSpace.util import deactivate_inactive_hyperparameters

            conf = dict(
                deactivate_inactive_hyperparameters(configuration=conf, configuration_space=self.space)
            )
        return conf

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        if self.objectives is not None:  # no pruner: every trial at the maximum fidelity
            self._tell_vector(self._live.pop(trial.info["optuna"]), result)
            return
        ot = self._live[trial.info["optuna"]]
        k = trial.info["rung"]
        loss = float(result.loss)
        with _quiet(self._optuna):
            if self.pruner_name != "none":
                ot.report(loss, step=self.eta**k)
                if k < len(self.rungs) - 1:
                    if ot.should_prune():
                        self.study.tell(ot, state=self._optuna.trial.TrialState.PRUNED)
                        del self._live[ot.number]
                    else:
                        self._next.append((trial, k + 1))
                    return
            self.study.tell(ot, loss)
        del self._live[ot.number]

    def _tell_vector(self, ot: Any, result: TrialResult) -> None:
        """Multi-objective: tell ``ot`` the objective vector of ``result``, or FAIL when it is not finite."""
        values = self.objectives.losses(result)  # type: ignore[union-attr]  # once per result, in tell order
        if np.isfinite(values).all():
            with _quiet(self._optuna):
                self.study.tell(ot, values.tolist())
        else:  # diverged (module docstring)
            ot.set_user_attr("diverged", True)
            self._fail(ot)
            self.n_diverged += 1

    def describe(self) -> dict[str, Any]:
        d = {
            **super().describe(),
            "library": f"optuna {self._optuna.__version__}",
            "optuna_sampler": self.optuna_sampler,
            "pruner": self.pruner_name,
            "n_startup_trials": self.n_startup_trials,
            "told": "the evaluated configuration (a moved proposal is told FAIL and re-asked via enqueue_trial)",
            "n_moved": self.n_moved,
            "eta": self.eta,
            "rungs": list(self.rungs),
        }
        if self.population_size is not None:
            d["population_size"] = self.population_size
        if self.objectives is not None:
            d["objectives"] = list(self.objectives.names)
            d["directions"] = ["minimize"] * len(self.objectives)
            d["diverged"] = "a non-finite objective vector is told FAIL (user attribute 'diverged')"
            d["n_diverged"] = self.n_diverged
        return d


class OptunaTPE(OptunaOptimizer):
    """Optuna's TPE at the maximum fidelity."""

    name = "optuna-tpe"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("pruner", "none")
        super().__init__(**kwargs)


class OptunaSHA(OptunaOptimizer):
    """Optuna's TPE with the (asynchronous) successive-halving pruner."""

    name = "optuna-sha"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("pruner", "sha")
        super().__init__(**kwargs)


class OptunaHyperband(OptunaOptimizer):
    """Optuna's TPE with the Hyperband pruner."""

    name = "optuna-hyperband"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("pruner", "hyperband")
        super().__init__(**kwargs)


class OptunaTPEWarm(OptunaOptimizer):
    """TPE whose random start is the zero-shot portfolio of the other datasets: a transfer method.

    Meta-learned initialization (Feurer, Springenberg and Hutter, "Initializing Bayesian hyperparameter
    optimization via meta-learning", AAAI 2015): the first ``n_startup_trials`` configurations, which plain TPE
    draws at random, are the first ones of the greedy portfolio of the other datasets of the benchmark's
    configuration set (:class:`~runners.optimizers.portfolio.Portfolio`, leave-one-dataset-out), put in
    the study's queue (``study.enqueue_trial``); TPE models everything evaluated from then on, as ``optuna-tpe``.
    Feurer et al. pick the initial design from the most similar datasets by meta-features; with one
    configuration set and a handful of datasets here, the portfolio over all of them takes that place.
    """

    name = "optuna-tpe-warm"

    def __init__(self, *, transfer: Sequence[TransferSource] | None = None, **kwargs: Any) -> None:
        super().__init__(optuna_sampler="tpe", pruner="none", **kwargs)
        self.sources = list(transfer or ())
        configs = self.sampler.configurations
        order = portfolio_order(self, self.sources)
        self.warm = order[: self.n_startup_trials]
        for i in self.warm:
            self.study.enqueue_trial(self._to_params(dict(configs[i])))

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "transfer": transfer_record(self.sources),
            "warm_start": f"the first {len(self.warm)} configurations of the greedy portfolio, then TPE",
        }


class OptunaNSGAII(OptunaOptimizer):
    """Optuna's NSGA-II (Deb et al., IEEE TEVC 2002) on the run's objectives, at the maximum fidelity.

    ``NSGAIISampler`` with Optuna's defaults, seeded: ``population_size`` 50 (uniform crossover with
    probability 0.9, swapping probability 0.5, mutation probability ``1 / n_params``); the first generation
    is random. ``population_size`` is not scaled to the budget: neither the paper nor Optuna's docs give a
    rule, and Optuna recommends NSGA-II for budgets of 100 to 10,000 trials, so the default study's
    B = 100 (a random generation, then one generation of offspring) is the low end of its documented range.
    """

    name = "optuna-nsga2"

    def __init__(self, *, objectives: MultiObjective, population_size: int = 50, **kwargs: Any) -> None:
        super().__init__(
            optuna_sampler="nsga2",
            pruner="none",
            population_size=population_size,
            multi_objective=objectives,
            **kwargs,
        )


class OptunaMOTPE(OptunaOptimizer):
    """Optuna's TPE in its multi-objective mode (MOTPE: Ozaki et al., GECCO 2020 and JAIR 2022), at the
    maximum fidelity.

    ``TPESampler`` with Optuna's defaults on a study with several directions (Optuna merged
    ``MOTPESampler`` into it: the "good" trials are the best non-dominated fronts, the last one cut by
    hypervolume subset selection), ``n_startup_trials`` scaled as ``optuna-tpe``'s:
    ``min(10, max(2, round(B / 10)))``.
    """

    name = "optuna-motpe"

    def __init__(self, *, objectives: MultiObjective, **kwargs: Any) -> None:
        super().__init__(optuna_sampler="tpe", pruner="none", multi_objective=objectives, **kwargs)


class OptunaReportPruned(OptunaOptimizer):
    """TPE whose trials report every epoch to Optuna's own pruner as they train (``trial.report(loss, step)``,
    then ``trial.should_prune()``), stopped where it says so: Optuna's pruning as its users run it, not
    emulated by rungs. A step is the position of the fidelity among those the benchmark holds (1 = the
    lowest; epochs on the shipped tables). ``pruner``: ``"median"`` (``MedianPruner()``, Optuna's defaults:
    ``n_startup_trials=5``, ``n_warmup_steps=0``) or ``"hyperband"`` (``HyperbandPruner(min_resource=1,
    max_resource=<number of steps>, reduction_factor=eta)``). A pruned trial is told ``PRUNED`` at its
    last report (Optuna's convention); a trial that reaches the maximum fidelity is told its loss; one that
    diverged (the simulator ends it at a NaN report) is told ``FAIL``.
    """

    name = "optuna-pruned"
    reports = "every"

    def __init__(
        self, *, pruner: Literal["median", "hyperband"] = "median", eta: int = 3, **kwargs: Any
    ) -> None:
        if pruner not in ("median", "hyperband"):
            raise ValueError(f"pruner={pruner!r} is not one of 'median', 'hyperband'")
        super().__init__(pruner="none", eta=eta, **kwargs)
        if self.fidelity.continuous:
            raise ValueError(
                f"{self.name} needs held fidelities to report at; {self.fidelity.name} is continuous"
            )
        optuna = self._optuna
        self._steps = {float(f): i + 1 for i, f in enumerate(self.fidelity.values)}
        if pruner == "median":
            prun = optuna.pruners.MedianPruner()
        else:
            prun = optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=len(self._steps), reduction_factor=self.eta
            )
        with _quiet(optuna):
            self.study = optuna.create_study(
                study_name=f"curvebench-{self.seed}", sampler=self.study.sampler, pruner=prun
            )
        self.pruner_name = pruner
        self.n_pruned = 0

    def _report(self, trial: Trial, result: TrialResult) -> str:
        ot = self._live[trial.info["optuna"]]
        with _quiet(self._optuna):
            ot.report(float(result.loss), step=self._steps[float(result.fidelity)])
            if ot.should_prune():
                self.study.tell(ot, state=self._optuna.trial.TrialState.PRUNED)
                del self._live[ot.number]
                self.n_pruned += 1
                return "stop"
        return "continue"

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        ot = self._live.pop(trial.info["optuna"], None)
        if ot is None:  # pruned at its last report: already told
            return
        if result.reached is not None:  # ended at a report without a decision: it diverged
            self._fail(ot)
            return
        with _quiet(self._optuna):
            self.study.tell(ot, float(result.loss))

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"pruner": self.pruner_name, "reports": "every", "n_pruned": self.n_pruned})
        if self.pruner_name == "median":
            d.pop("eta", None)
        d.pop("rungs", None)
        return d
