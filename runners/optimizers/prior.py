"""Prior-aware baselines: random search and Hyperband drawing their configurations from a prior.

The runner passes every optimizer class that names a ``priors`` parameter the four priors of the benchmark
(:func:`benchmarks.priors.priors`: good, medium, bad, misleading, each with its measured quality); the hyperparameter
``prior`` picks one (default ``good``). The optimizer then draws new configurations from it
(:class:`PriorSampler`) instead of uniformly, and is otherwise the method it extends: ``rs-prior`` is random search
and ``hyperband-prior`` Hyperband (Li et al. 2018) with prior sampling, the prior-sampling baselines of PriorBand
(Mallik et al., NeurIPS 2023, "random search and Hyperband with prior-based sampling"). The prior used, with its
mode and measured quality, is recorded in the run's meta.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmarks.priors import STRENGTHS, Prior

from ..optimizer import ConfigSampler, RandomSearch, TableExhausted
from .bohb import BOHB
from .hyperband import Hyperband

__all__ = ["PriorBOHB", "PriorHyperband", "PriorRandomSearch", "PriorSampler"]

#: below every fidelity a table holds: a projection to "never evaluated in this run" (``reached`` is -inf there)
_NEVER = float(np.nextafter(-np.inf, 0))


class PriorSampler(ConfigSampler):
    """A :class:`ConfigSampler` whose draws come from ``prior`` (:meth:`benchmarks.priors.Prior.sample`).

    On a table each draw is projected onto the nearest held configuration not yet trained in this run (to
    ``fidelity`` when given, else never evaluated), one at a time, so a batch holds distinct configurations; a
    batch is shorter when the table runs out. In a continuous space the draws are clipped to the bounds. Every
    other method is the uniform sampler's (projection, the run's record).
    """

    def __init__(self, base: ConfigSampler, prior: Prior) -> None:
        super().__init__(base.space, base.configurations)
        self.prior = prior

    def sample(self, n: int, rng: np.random.Generator, fidelity: float | None = None) -> list[dict[str, Any]]:
        if n < 0:
            raise ValueError(f"n={n} must be >= 0")
        draws = self.prior.sample(n, rng)
        if self.configurations is None:
            return [self._clip(c) for c in draws]
        limit = _NEVER if fidelity is None else fidelity
        held: list[tuple[int, float]] = []  # (index, its reached) of the configurations taken in this batch
        try:
            for c in draws:
                try:
                    i = self.index(self.project(c, limit))
                except TableExhausted:
                    break
                if i is None:
                    continue
                held.append((i, self.reached[i]))
                self.reached[i] = self._reached[i] = np.inf  # out of reach of this batch's next projections
        finally:
            for i, r in held:
                self.reached[i] = self._reached[i] = r
        return [dict(self.configurations[i]) for i, _ in held]

    def sample_uniform_one(self, rng: np.random.Generator, fidelity: float | None = None) -> dict[str, Any]:
        """One uniform draw (the base sampler's rule) on this sampler's record of the run, for a method that
        mixes prior and uniform draws (:class:`TableExhausted` when a finite sampler has none left)."""
        out = ConfigSampler.sample(self, 1, rng, fidelity)
        if not out:
            raise self.exhausted(fidelity)
        return out[0]


def _prior(priors: Mapping[str, Prior] | None, prior: str, name: str) -> Prior:
    if prior not in STRENGTHS:
        raise ValueError(f"prior={prior!r}; allowed: {', '.join(STRENGTHS)}")
    if not priors:
        raise ValueError(
            f"{name} needs the benchmark's priors (the runner passes them: benchmarks.priors.priors)"
        )
    return priors[prior]


def _record(p: Prior) -> dict[str, Any]:
    return {**p.describe(), "defined": "benchmarks.priors (docs/priors.md)"}


class PriorRandomSearch(RandomSearch):
    """Random search at the maximum fidelity, each configuration drawn from the prior (one at a time)."""

    name = "rs-prior"

    def __init__(
        self, *, prior: str = "good", priors: Mapping[str, Prior] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(batch=1, **kwargs)
        self.prior = _prior(priors, prior, self.name)
        self.sampler = PriorSampler(self.sampler, self.prior)
        self.sampler.reset(float(self.fidelity.max))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "prior": _record(self.prior)}


class PriorHyperband(Hyperband):
    """Hyperband whose brackets draw their configurations from the prior."""

    name = "hyperband-prior"

    def __init__(
        self, *, prior: str = "good", priors: Mapping[str, Prior] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.prior = _prior(priors, prior, self.name)
        self.sampler = PriorSampler(self.sampler, self.prior)
        self.sampler.reset(float(self.fidelity.max))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "prior": _record(self.prior)}


class PriorBOHB(BOHB):
    """BOHB with the prior, the piBO way (Hvarfner et al., "piBO: Augmenting acquisition functions with
    user beliefs for Bayesian optimization", ICLR 2022): its random configurations are drawn from the prior, and a
    model-based one maximizes BOHB's acquisition ``good / bad`` times ``prior(x) ** (beta / n)``, n the number of
    model-based proposals so far (this one included; SMAC's ``PriorAcquisitionFunction`` counts BO iterations
    alike), so the prior's pull fades as the model learns. ``beta`` is fixed (piBO's experiments set it to a tenth
    of the BO iterations); how far the pull has faded by the end depends on how many model-based proposals a run
    makes, so on the benchmark and the budget.
    """

    name = "bohb-prior"

    def __init__(
        self,
        *,
        prior: str = "good",
        priors: Mapping[str, Prior] | None = None,
        beta: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise ValueError(f"beta={beta!r} must be a number >= 0")
        self.beta = float(beta)
        self.prior = _prior(priors, prior, self.name)
        self.sampler = PriorSampler(self.sampler, self.prior)
        self.sampler.reset(float(self.fidelity.max))

    def new_config(self, bracket: Any, fidelity: float) -> dict[str, Any]:
        power = self.beta / (self.n_model_based + 1)
        proposal = self.model.propose(self.rng, (self.prior.log_density, power))
        if proposal is None:
            return self.sampler.sample_one(self.rng, fidelity)
        self.n_model_based += 1
        return self.sampler.project(proposal, fidelity)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "beta": self.beta, "prior": _record(self.prior)}
