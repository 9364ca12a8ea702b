"""BOHB: Hyperband brackets with a TPE-style pair of KDEs proposing new configurations (Falkner et al., ICML 2018).

The model follows hpbandster's ``config_generators/bohb.py`` with its defaults:

* every result at a budget (fidelity) is kept; diverged results count as the worst;
* at a budget with ``n`` results, the best ``n_good = max(min_points_in_model,
  top_n_percent * n // 100)`` form the "good" set and the next
  ``max(min_points_in_model, (100 - top_n_percent) * n // 100)`` the "bad" set;
  both KDEs are fitted only when each set holds more points than dimensions,
  i.e. at least ``min_points_in_model = d + 1`` (so the first model at a budget
  needs ``n >= 2 (d + 1)`` results);
* a new configuration is random with probability ``random_fraction`` and
  always while no model exists; otherwise the model of the largest budget that
  has one draws ``num_samples`` candidates from the good KDE (continuous
  dimensions: truncated normal around a good point with bandwidth
  ``bandwidth_factor * max(bw, min_bandwidth)``; categorical: keep the point's
  category with probability ``1 - bw``, else uniform) and returns the candidate
  with the smallest ``g(x) / l(x)``.

Proposals go through the :class:`~runners.optimizer.ConfigSampler`'s
``project(proposal, fidelity)``, so on a table that holds part of its space
BOHB proposes the nearest configuration the table holds that was not yet
trained to that fidelity in the run, and the KDEs are fitted on the
configurations evaluated (``trial.config``), not on the proposals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ..optimizer import Trial, TrialResult
from .brackets import SyncBracket
from .encoding import VectorSpace
from .hyperband import Hyperband
from .kde import KDE

__all__ = ["BOHB", "KDEModel"]


class KDEModel:
    """hpbandster's BOHB config generator: observations per budget, the good/bad KDE pair, proposals."""

    def __init__(
        self,
        vspace: VectorSpace,
        *,
        min_points_in_model: int | None = None,
        top_n_percent: int = 15,
        num_samples: int = 64,
        random_fraction: float = 1 / 3,
        bandwidth_factor: float = 3.0,
        min_bandwidth: float = 1e-3,
    ) -> None:
        d = vspace.dim
        if min_points_in_model is None:
            min_points_in_model = d + 1
        if min_points_in_model < d + 1:
            raise ValueError(f"min_points_in_model={min_points_in_model} must be at least d + 1 = {d + 1}")
        if not 0 < top_n_percent < 100:
            raise ValueError(f"top_n_percent={top_n_percent!r} must be in (0, 100)")
        if num_samples < 1:
            raise ValueError(f"num_samples={num_samples!r} must be >= 1")
        if not 0.0 <= random_fraction <= 1.0:
            raise ValueError(f"random_fraction={random_fraction!r} must be in [0, 1]")
        if not bandwidth_factor > 0 or not min_bandwidth > 0:
            raise ValueError("bandwidth_factor and min_bandwidth must be > 0")
        self.vspace = vspace
        self.min_points_in_model = int(min_points_in_model)
        self.top_n_percent = int(top_n_percent)
        self.num_samples = int(num_samples)
        self.random_fraction = float(random_fraction)
        self.bandwidth_factor = float(bandwidth_factor)
        self.min_bandwidth = float(min_bandwidth)
        self.observations: dict[float, tuple[list[np.ndarray], list[float]]] = {}
        self.models: dict[float, tuple[KDE, KDE]] = {}

    @property
    def model_budget(self) -> float | None:
        """The largest budget that has a fitted model (None: no model yet)."""
        return max(self.models) if self.models else None

    def observe(self, config: dict[str, Any], budget: float, loss: float, rng: np.random.Generator) -> None:
        """Add a result; refit the KDEs of ``budget`` if it is at least the largest modelled budget."""
        loss = loss if np.isfinite(loss) else np.inf
        xs, ys = self.observations.setdefault(budget, ([], []))
        xs.append(self.vspace.encode([config], mode="index")[0])
        ys.append(loss)
        mb = self.model_budget
        if mb is not None and mb > budget:
            return
        n = len(xs)
        if n < self.min_points_in_model:
            return
        n_good = max(self.min_points_in_model, (self.top_n_percent * n) // 100)
        n_bad = max(self.min_points_in_model, ((100 - self.top_n_percent) * n) // 100)
        order = np.argsort(np.asarray(ys), kind="stable")
        data = np.asarray(xs)
        good = self._impute(data[order[:n_good]], rng)
        bad = self._impute(data[order[n_good : n_good + n_bad]], rng)
        d = self.vspace.dim
        if good.shape[0] <= d or bad.shape[0] <= d:
            return
        self.models[budget] = (
            KDE(good, self.vspace.categorical_levels, self.min_bandwidth),
            KDE(bad, self.vspace.categorical_levels, self.min_bandwidth),
        )

    def _impute(self, array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Fill inactive (NaN) values from a random row where that dimension is active (hpbandster's rule)."""
        if not np.isnan(array).any():
            return array
        out = array.copy()
        for i in range(out.shape[0]):
            for j in np.flatnonzero(np.isnan(out[i])):
                valid = np.flatnonzero(~np.isnan(array[:, j]))
                if valid.size:
                    out[i, j] = array[rng.choice(valid), j]
                elif self.vspace.categorical_levels[j] > 0:
                    out[i, j] = rng.integers(self.vspace.categorical_levels[j])
                else:
                    out[i, j] = rng.random()
        return out

    def propose(self, rng: np.random.Generator) -> dict[str, Any] | None:
        """A model-based configuration, or None when the caller should sample at random."""
        if not self.models or rng.random() < self.random_fraction:
            return None
        good, bad = self.models[max(self.models)]
        m = self.num_samples
        idx = rng.integers(0, good.data.shape[0], size=m)
        centers = good.data[idx]
        bw = np.maximum(good.bw, self.min_bandwidth)
        cand = np.empty_like(centers)
        cat = good.categorical
        cont = ~cat
        if cont.any():
            h = np.broadcast_to(self.bandwidth_factor * bw[cont], (m, int(cont.sum())))
            mu = centers[:, cont]
            a, b = (0.0 - mu) / h, (1.0 - mu) / h
            cand[:, cont] = stats.truncnorm.rvs(a, b, loc=mu, scale=h, random_state=rng)
        if cat.any():
            keep = rng.random((m, int(cat.sum()))) < (1.0 - bw[cat])
            levels = self.vspace.categorical_levels[cat]
            rand = np.floor(rng.random((m, int(cat.sum()))) * levels)
            cand[:, cat] = np.where(keep, centers[:, cat], rand)
        ratio = np.maximum(bad.pdf(cand), 1e-32) / np.maximum(good.pdf(cand), 1e-32)
        best = int(np.argmin(ratio))
        return self.vspace.decode(cand[best : best + 1], mode="index")[0]


class BOHB(Hyperband):
    """BOHB: :class:`~runners.optimizers.hyperband.Hyperband` brackets whose new configurations come from
    hpbandster's KDE model (see the module docstring for the defaults and sources)."""

    name = "bohb"

    def __init__(
        self,
        *,
        min_points_in_model: int | None = None,
        top_n_percent: int = 15,
        num_samples: int = 64,
        random_fraction: float = 1 / 3,
        bandwidth_factor: float = 3.0,
        min_bandwidth: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vspace = VectorSpace(self.space)
        self.model = KDEModel(
            self.vspace,
            min_points_in_model=min_points_in_model,
            top_n_percent=top_n_percent,
            num_samples=num_samples,
            random_fraction=random_fraction,
            bandwidth_factor=bandwidth_factor,
            min_bandwidth=min_bandwidth,
        )
        self.n_model_based = 0

    def new_config(self, bracket: SyncBracket, fidelity: float) -> dict[str, Any]:
        proposal = self.model.propose(self.rng)
        if proposal is None:
            return self.sampler.sample_one(self.rng, fidelity)
        self.n_model_based += 1
        # on a table: the nearest configuration not yet trained to this fidelity; the model learns from
        # trial.config (observe), i.e. the configuration evaluated, not the proposal
        return self.sampler.project(proposal, fidelity)

    def observe(self, trial: Trial, result: TrialResult) -> None:
        self.model.observe(dict(trial.config), trial.fidelity, result.loss, self.rng)

    def describe(self) -> dict[str, Any]:
        m = self.model
        return {
            **super().describe(),
            "min_points_in_model": m.min_points_in_model,
            "top_n_percent": m.top_n_percent,
            "num_samples": m.num_samples,
            "random_fraction": m.random_fraction,
            "bandwidth_factor": m.bandwidth_factor,
            "min_bandwidth": m.min_bandwidth,
        }
