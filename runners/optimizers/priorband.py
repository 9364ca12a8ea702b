"""PriorBand: Hyperband with an ensemble sampling policy over the prior, the incumbent and the uniform
distribution (Mallik et al., "PriorBand: Practical Hyperparameter Optimization in the Age of Deep Learning",
NeurIPS 2023), with the defaults of its reference implementation (NePS, ``multi_fidelity_prior/priorband.py``):

* brackets, rungs and promotions are :class:`~runners.optimizers.hyperband.Hyperband`'s (eta = 3);
* the first configuration of the run is the prior's mode (NePS ``sample_prior_first=True``);
* a new configuration for a bracket whose first rung is rung ``r`` of the ladder (0 = the lowest) comes
  from the uniform distribution with weight ``1`` and from the prior with weight ``eta ** r`` (the
  "geometric" weighting: equal at the lowest rung, the prior dominant in the brackets that start high,
  where few configurations are tried);
* once the finished evaluations have used the resources of one full bracket of the lowest rung (promotions
  charged their increment) and a configuration has reached the maximum fidelity, the incumbent joins:
  the prior's weight is split between prior and incumbent by the "dynamic" rule: at the highest rung
  with at least ``eta`` results, the best ``max(n // eta, eta)`` configurations, weighted by rank
  (the best ``k``, the next ``k - 1``, ...), are scored by their density under the prior and under the
  same distribution centred on the incumbent; the shares are the two weighted sums over their total.
  Until a rung has ``eta`` results the split is ``eta : 1`` (prior : incumbent);
* incumbent sampling is NePS's local mutation: each hyperparameter of the incumbent is redrawn with
  probability ``inc_mutation_rate`` (0.5) from a truncated normal of standard deviation
  ``inc_mutation_std`` (0.25) around it in the unit space (a categorical one: kept with probability
  ``1 - inc_mutation_std``, else a uniform choice), :meth:`benchmarks.priors.Prior.sample`'s draw;
* the incumbent is the configuration with the best loss at the highest fidelity it was evaluated at.

One addition bounds the cost per configuration however long the run: the dynamic split scores at most
``max_scored`` (256) of the top configurations, at evenly spaced ranks with their ranks' weights, when the
top set is larger (NePS scores all of them; the two agree up to 256, i.e. up to 768 results at the scored
rung). A rung's results are kept ranked as they arrive, each density is computed once (the incumbent's again
only when the incumbent changes), and the split is recomputed only when the scored rung has a new result.

The densities are :meth:`benchmarks.priors.Prior.log_density` (up to the truncation's normalizer, which
differs little between the two centres); the incumbent's distribution has the prior's spread, as NePS scores
both with the prior's confidence. On a table each draw is projected onto the nearest held configuration not
yet trained to the bracket's fidelity (:meth:`~runners.optimizer.ConfigSampler.project`). The number of
configurations drawn from each source is kept in :attr:`PriorBand.drawn` and the weights last used in
:attr:`PriorBand.weights`.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

import numpy as np
from ConfigSpace import Configuration
from sortedcontainers import SortedList

from benchmarks.priors import Prior

from ..optimizer import Trial, TrialResult
from .brackets import SyncBracket
from .hyperband import Hyperband
from .prior import PriorSampler, _prior, _record

__all__ = ["PriorBand"]

SOURCES = ("random", "prior", "incumbent")


def _key(config: Mapping[str, Any]) -> tuple:
    """A hashable key of a configuration."""
    return tuple(sorted((k, repr(v)) for k, v in config.items()))


class PriorBand(Hyperband):
    """PriorBand (see the module docstring for the policy, its defaults and sources)."""

    name = "priorband"

    def __init__(
        self,
        *,
        prior: str = "good",
        priors: Mapping[str, Prior] | None = None,
        inc_mutation_rate: float = 0.5,
        inc_mutation_std: float = 0.25,
        max_scored: int = 256,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for key, v in (("inc_mutation_rate", inc_mutation_rate), ("inc_mutation_std", inc_mutation_std)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
                raise ValueError(f"{key}={v!r} must be a number in (0, 1]")
        self.inc_mutation_rate = float(inc_mutation_rate)
        self.inc_mutation_std = float(inc_mutation_std)
        if isinstance(max_scored, bool) or not isinstance(max_scored, int) or max_scored < 1:
            raise ValueError(f"max_scored={max_scored!r} must be an integer >= 1")
        self.max_scored = max_scored
        self.prior = _prior(priors, prior, self.name)
        # one sampler keeps the run's record for the prior, uniform and incumbent draws alike
        self.sampler = PriorSampler(self.sampler, self.prior)
        self.sampler.reset(float(self.fidelity.max))
        #: rung index -> (configs, losses) of the results at that rung, in arrival order
        self.rung_history: dict[int, tuple[list[dict[str, Any]], list[float]]] = {}
        #: configuration key -> (rung index, loss, configuration, sequence number) of its result at the highest
        #: rung it reached; the heap holds (loss, sequence number, key) of those results (stale ones lazily)
        self.latest: dict[tuple, tuple[int, float, dict[str, Any], int]] = {}
        self._inc_heap: list[tuple[float, int, tuple]] = []
        self._seq = 0
        self._split_cache: tuple[tuple, tuple[float, float]] | None = None
        #: rung -> its results ranked as (loss, index in the rung's history), kept as they arrive
        self._ranked: dict[int, SortedList] = {}
        #: (rung, index) -> the density of that result's configuration under the prior / the incumbent's
        self._prior_scores: dict[tuple[int, int], float] = {}
        self._inc_scores: dict[tuple[int, int], float] = {}
        self._scored_for: tuple | None = None  # the incumbent the second dict is for
        self.resources_used = 0.0
        sizes, fids = self.plan(0)  # the bracket of the lowest rung
        self.first_bracket_resources = float(
            sum(n * (f - (fids[i - 1] if i else 0.0)) for i, (n, f) in enumerate(zip(sizes, fids)))
        )
        self.drawn = dict.fromkeys(SOURCES, 0)
        self.weights: dict[str, float] = {"random": 0.0, "prior": 1.0, "incumbent": 0.0}
        self._first = True

    # ------------------------------------------------------------ the policy
    def incumbent_active(self) -> bool:
        """One full lowest-rung bracket's resources used by finished evaluations, and a result at the top rung."""
        top = len(self.rungs) - 1
        at_top = bool(self.rung_history.get(top, ([],))[0])
        return self.resources_used >= self.first_bracket_resources and at_top

    def incumbent(self) -> dict[str, Any] | None:
        """The configuration with the best loss at the highest rung it reached (None: no result yet; the earliest
        result among equal losses). A heap of those results, stale ones dropped lazily: O(log n) amortized."""
        heap = self._inc_heap
        while heap and self.latest[heap[0][2]][3] != heap[0][1]:  # superseded by a higher rung's result
            heapq.heappop(heap)
        return dict(self.latest[heap[0][2]][2]) if heap else None

    def prior_incumbent_split(self, incumbent: dict[str, Any]) -> tuple[float, float]:
        """(prior share, incumbent share) of the prior's weight: the "dynamic" rule of the module docstring.

        Cached until the rung it scores has a new result or the incumbent changes, so its cost (the rung's
        top third scored) is paid once per result at the top rungs, not once per new configuration.
        """
        eta = self.eta
        rung = len(self.rungs) - 1
        while rung > 0 and len(self.rung_history.get(rung, ([],))[0]) < eta:
            rung -= 1
        configs, losses = self.rung_history.get(rung, ([], []))
        if len(configs) < eta:
            return eta / (1 + eta), 1 / (1 + eta)
        key = (rung, len(configs), _key(incumbent))
        if self._split_cache is not None and self._split_cache[0] == key:
            return self._split_cache[1]
        self._split_cache = (key, self._split(rung, configs, losses, incumbent))
        return self._split_cache[1]

    def _split(
        self, rung: int, configs: list[dict[str, Any]], losses: list[float], incumbent: dict[str, Any]
    ) -> tuple[float, float]:
        eta = self.eta
        n = len(configs)
        top_n = min(n, max(n // int(eta), int(eta)))
        ranked = self._ranked.get(rung)
        if ranked is None or len(ranked) != n:  # (a history set from outside: rank it here)
            order = np.argsort(np.asarray(losses), kind="stable")
            ranked = SortedList(zip(np.asarray(losses)[order].tolist(), order.tolist()))
        if top_n <= self.max_scored:
            positions = np.arange(top_n)
            rows = [i for _, i in ranked.islice(0, top_n)]
        else:  # a rank-stratified subsample, each point keeping its rank's weight
            positions = ((np.arange(self.max_scored) + 0.5) * top_n / self.max_scored).astype(np.int64)
            rows = [ranked[int(p)][1] for p in positions]
        inc_key = _key(incumbent)
        if self._scored_for != inc_key:  # a new incumbent: its densities are recomputed as needed
            self._inc_scores.clear()
            self._scored_for = inc_key
        new = [i for i in rows if (rung, i) not in self._inc_scores]
        if new:
            centred = Prior(
                "incumbent", incumbent, self.prior.spread, float("nan"), float("nan"), self.prior.space
            )
            batch = [configs[i] for i in new]
            fresh = [i for i in new if (rung, i) not in self._prior_scores]
            if fresh:
                dens = np.exp(self.prior.log_density([configs[i] for i in fresh]))
                self._prior_scores.update({(rung, i): float(d) for i, d in zip(fresh, dens)})
            dens = np.exp(centred.log_density(batch))
            self._inc_scores.update({(rung, i): float(d) for i, d in zip(new, dens)})
        scores = np.array([[self._prior_scores[(rung, i)], self._inc_scores[(rung, i)]] for i in rows])
        weights = (top_n - positions).astype(float)[:, None]  # the best weighted most: top_n, ..., 1
        prior_score, inc_score = (scores * weights).sum(axis=0)
        total = prior_score + inc_score
        if not total > 0:
            return eta / (1 + eta), 1 / (1 + eta)
        return float(prior_score / total), float(inc_score / total)

    def sampling_weights(self, rung: int) -> tuple[dict[str, float], dict[str, Any] | None]:
        """The weights of the three sources for a bracket starting at rung ``rung``, and the incumbent (or None)."""
        w_prior = self.eta**rung
        w_random = 1.0
        p_prior, p_random = w_prior / (w_prior + w_random), w_random / (w_prior + w_random)
        if not self.incumbent_active():
            return {"random": p_random, "prior": p_prior, "incumbent": 0.0}, None
        inc = self.incumbent()
        share_prior, share_inc = self.prior_incumbent_split(inc)
        return {"random": p_random, "prior": p_prior * share_prior, "incumbent": p_prior * share_inc}, inc

    def mutate(self, incumbent: dict[str, Any]) -> dict[str, Any]:
        """NePS's local mutation of the incumbent (module docstring)."""
        local = Prior(
            "incumbent", incumbent, self.inc_mutation_std, float("nan"), float("nan"), self.prior.space
        )
        (draw,) = local.sample(1, self.rng)
        keep = self.rng.random(len(draw)) >= self.inc_mutation_rate
        mixed = {k: (incumbent[k] if k in incumbent and kp else v) for (k, v), kp in zip(draw.items(), keep)}
        if self.space.conditions:  # a mutated parent may change which children are active
            try:
                Configuration(self.space, values=mixed).check_valid_configuration()
            except (ValueError, KeyError):
                return draw
        return mixed

    def new_config(self, bracket: SyncBracket, fidelity: float) -> dict[str, Any]:
        if self._first:  # the prior's mode first (NePS sample_prior_first)
            self._first = False
            self.drawn["prior"] += 1
            return self.sampler.project(dict(self.prior.mode), fidelity)
        rung = self.rungs.index(fidelity)
        self.weights, inc = self.sampling_weights(rung)
        p = np.array([self.weights[s] for s in SOURCES])
        source = SOURCES[int(self.rng.choice(len(SOURCES), p=p / p.sum()))]
        self.drawn[source] += 1
        if source == "random":
            return self.sampler.sample_uniform_one(self.rng, fidelity)
        if source == "prior":
            return self.sampler.sample_one(self.rng, fidelity)
        return self.sampler.project(self.mutate(inc), fidelity)

    # ------------------------------------------------------------ the record it keeps
    def observe(self, trial: Trial, result: TrialResult) -> None:
        rung = self.rungs.index(trial.fidelity)
        loss = result.loss if np.isfinite(result.loss) else np.inf
        configs, losses = self.rung_history.setdefault(rung, ([], []))
        configs.append(dict(trial.config))
        losses.append(loss)
        self._ranked.setdefault(rung, SortedList()).add((loss, len(losses) - 1))
        start = float(self.rungs[rung - 1]) if trial.continues is not None and rung > 0 else 0.0
        self.resources_used += float(trial.fidelity) - start  # a promotion pays its increment
        key = _key(trial.config)
        held = self.latest.get(key)
        if held is None or rung >= held[0]:
            self._seq += 1
            self.latest[key] = (rung, loss, dict(trial.config), self._seq)
            heapq.heappush(self._inc_heap, (loss, self._seq, key))

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "prior": _record(self.prior),
            "inc_mutation_rate": self.inc_mutation_rate,
            "inc_mutation_std": self.inc_mutation_std,
            "prior_weight": "geometric",
            "incumbent_split": "dynamic",
            "max_scored": self.max_scored,
        }
