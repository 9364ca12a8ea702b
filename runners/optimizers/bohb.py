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

One addition keeps a long run's cost per ask flat: once the good or the bad
set holds more than ``max_points_in_model`` points (default 1,024; reached
after about 1,200 results at one budget, beyond any published BOHB
experiment), its KDE is fitted on ``max_points_in_model`` points at evenly
spaced ranks of that set (a rank-stratified subsample: the middle rank of
each of ``max_points_in_model`` equal slices) instead of on all of them. The
results of a budget are kept ranked as they arrive (a sorted list, O(log n)
per result), so a fit costs O(max_points_in_model log n) and a proposal
O(num_samples x max_points_in_model): bounded however long the run. Up to
the cap the model is hpbandster's exactly; ``max_points_in_model=None``
keeps every point (the published method, whose ask grows linearly).

Proposals go through the :class:`~runners.optimizer.ConfigSampler`'s
``project(proposal, fidelity)``, so on a table that holds part of its space
BOHB proposes the nearest configuration the table holds that was not yet
trained to that fidelity in the run, and the KDEs are fitted on the
configurations evaluated (``trial.config``), not on the proposals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats
from sortedcontainers import SortedList

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
        min_points_in_model: int | None,
        top_n_percent: int,
        num_samples: int,
        random_fraction: float,
        bandwidth_factor: float,
        min_bandwidth: float,
        max_points_in_model: int | None = None,
    ) -> None:
        """The settings are :class:`BOHB`'s hyperparameters, whose constructor holds their (published) defaults."""
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
        if max_points_in_model is not None and max_points_in_model < min_points_in_model:
            raise ValueError(
                f"max_points_in_model={max_points_in_model!r} must be None (no cap) or at least "
                f"min_points_in_model = {min_points_in_model}"
            )
        self.vspace = vspace
        self.min_points_in_model = int(min_points_in_model)
        self.top_n_percent = int(top_n_percent)
        self.num_samples = int(num_samples)
        self.random_fraction = float(random_fraction)
        self.bandwidth_factor = float(bandwidth_factor)
        self.min_bandwidth = float(min_bandwidth)
        self.max_points_in_model = None if max_points_in_model is None else int(max_points_in_model)
        self.observations: dict[float, tuple[list[np.ndarray], list[float]]] = {}
        #: budget -> how many of its observations (the first ones) its current model is fitted on
        self.fitted_on: dict[float, int] = {}
        self._fits: dict[float, tuple[int, tuple[KDE, KDE]]] = {}  # budget -> (n, the KDE pair fitted on n)
        self._arrays: dict[float, tuple[np.ndarray, np.ndarray, int]] = {}  # budget -> (X, y, rows filled)
        self._has_nan: set[float] = set()  # budgets with an inactive (NaN) value among their observations
        #: budget -> its observations ranked, as (loss, arrival index): the order of a stable argsort of the losses
        self._ranked: dict[float, SortedList] = {}

    @property
    def model_budget(self) -> float | None:
        """The largest budget that has a fitted model (None: no model yet)."""
        return max(self.fitted_on) if self.fitted_on else None

    @property
    def models(self) -> dict[float, tuple[KDE, KDE]]:
        """budget -> (good KDE, bad KDE), every budget that has a model (fitted now where it is not yet)."""
        return {b: self.model(b) for b in self.fitted_on}

    def _sizes(self, n: int) -> tuple[int, int]:
        """(n_good, n_bad) at a budget with ``n`` results."""
        return (
            max(self.min_points_in_model, (self.top_n_percent * n) // 100),
            max(self.min_points_in_model, ((100 - self.top_n_percent) * n) // 100),
        )

    def observe(self, config: dict[str, Any], budget: float, loss: float, rng: np.random.Generator) -> None:
        """Add a result; refit the KDEs of ``budget`` if it is at least the largest modelled budget.

        hpbandster refits at every such result. The fit here is deferred to the
        first proposal that uses it (:meth:`model`), which fits on the same
        observations, so a result costs O(1) and a budget is fitted at most once
        per proposal. One exception keeps the random stream: a budget whose
        observations hold an inactive (NaN) value is refitted here at once, as
        its fit imputes those values with draws from ``rng`` (hpbandster's rule).
        """
        loss = loss if np.isfinite(loss) else np.inf
        xs, ys = self.observations.setdefault(budget, ([], []))
        x = self.vspace.encode([config], mode="index")[0]
        xs.append(x)
        ys.append(loss)
        if self.max_points_in_model is not None:
            self._ranked.setdefault(budget, SortedList()).add((loss, len(ys) - 1))
        if budget not in self._has_nan and np.isnan(x).any():
            self._has_nan.add(budget)
        mb = self.model_budget
        if mb is not None and mb > budget:
            return
        n = len(xs)
        if n < self.min_points_in_model:
            return
        n_good, n_bad = self._sizes(n)
        d = self.vspace.dim
        if budget in self._has_nan:  # imputation draws from rng: fit now, as hpbandster does
            rows_good, rows_bad = self._rows(budget, n)
            good = self._impute(np.asarray([xs[i] for i in rows_good]).reshape(-1, d), rng)
            bad = self._impute(np.asarray([xs[i] for i in rows_bad]).reshape(-1, d), rng)
            if good.shape[0] <= d or bad.shape[0] <= d:
                return
            self.fitted_on[budget] = n
            self._fits[budget] = (n, self._kdes(good, bad))
            return
        # the row counts of the good and bad sets do not depend on the data: decide now, fit when used
        if min(n_good, n) <= d or max(0, min(n, n_good + n_bad) - n_good) <= d:
            return
        self.fitted_on[budget] = n

    def _kdes(self, good: np.ndarray, bad: np.ndarray) -> tuple[KDE, KDE]:
        return (
            KDE(good, self.vspace.categorical_levels, self.min_bandwidth),
            KDE(bad, self.vspace.categorical_levels, self.min_bandwidth),
        )

    def model(self, budget: float) -> tuple[KDE, KDE]:
        """(good KDE, bad KDE) of ``budget``, fitted on its first ``fitted_on[budget]`` observations.

        Cached: refitted only when observations that the model takes in arrived
        since the last fit. A fit costs O(n log n) in the budget's n observations
        (the ranking) and O(n d) (the KDEs), as in hpbandster.
        """
        n = self.fitted_on[budget]
        hit = self._fits.get(budget)
        if hit is not None and hit[0] == n:
            return hit[1]
        xs, ys = self.observations[budget]
        if self._capped(n) and len(ys) == n:
            rows_good, rows_bad = self._rows(budget, n)
            kdes = self._kdes(np.asarray([xs[i] for i in rows_good]), np.asarray([xs[i] for i in rows_bad]))
            self._fits[budget] = (n, kdes)
            return kdes
        # the observations as arrays, grown by doubling: each observation is copied O(1) times
        X, y, filled = self._arrays.get(budget, (np.empty((0, self.vspace.dim)), np.empty(0), 0))
        if X.shape[0] < n:
            cap = max(n, 2 * X.shape[0], 64)
            X2, y2 = np.empty((cap, self.vspace.dim), dtype=X.dtype), np.empty(cap)
            X2[:filled], y2[:filled] = X[:filled], y[:filled]
            X, y = X2, y2
        if filled < n:
            X[filled:n] = xs[filled:n]
            y[filled:n] = ys[filled:n]
            filled = n
        self._arrays[budget] = (X, y, filled)
        n_good, n_bad = self._sizes(n)
        order = np.argsort(y[:n], kind="stable")
        # no inactive value among these n observations (a budget's first one makes observe fit it at once):
        # nothing to impute, so no draws from the rng
        kdes = self._kdes(X[order[:n_good]], X[order[n_good : n_good + n_bad]])
        self._fits[budget] = (n, kdes)
        return kdes

    def _capped(self, n: int) -> bool:
        """Whether the good or the bad set of a budget with ``n`` results exceeds ``max_points_in_model``."""
        cap = self.max_points_in_model
        return cap is not None and max(self._sizes(n)) > cap

    def _subsample(self, ranked: SortedList, start: int, stop: int) -> list[int]:
        """The arrival indices of the set at ranks ``[start, stop)``: all of them, or ``max_points_in_model``
        at evenly spaced ranks (the middle of each of that many equal slices) when the set is larger."""
        size = stop - start
        cap = self.max_points_in_model
        if cap is None or size <= cap:
            return [i for _, i in ranked.islice(start, stop)]
        ranks = start + ((np.arange(cap) + 0.5) * size / cap).astype(np.int64)
        return [ranked[int(r)][1] for r in ranks]

    def _rows(self, budget: float, n: int) -> tuple[list[int], list[int]]:
        """The arrival indices of the good and the bad set of ``budget``'s first ``n`` results, each capped
        at ``max_points_in_model`` (the ranking of a stable argsort of the losses)."""
        n_good, n_bad = self._sizes(n)
        ranked = self._ranked.get(budget)
        if not self._capped(n) or ranked is None or len(ranked) != n:
            ys = self.observations[budget][1]
            order = np.argsort(np.asarray(ys[:n]), kind="stable")
            ranked = SortedList(zip(np.asarray(ys[:n])[order].tolist(), order.tolist()))
        stop = min(n, n_good + n_bad)
        return self._subsample(ranked, 0, min(n_good, n)), self._subsample(ranked, min(n_good, n), stop)

    def _impute(self, array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Fill inactive (NaN) values from a random row where that dimension is active (hpbandster's rule).

        Cells are filled row by row, dimensions in order within a row, one draw each (the order of the
        draws is the published rule's); the rows a dimension can be drawn from are found once per
        dimension, so a call costs O(n d) plus one draw per inactive value.
        """
        nan = np.isnan(array)
        if not nan.any():
            return array
        out = array.copy()
        levels = self.vspace.categorical_levels
        valid: dict[int, np.ndarray] = {}
        rows, cols = np.nonzero(nan)  # row-major: the order of the published loop
        for i, j in zip(rows.tolist(), cols.tolist()):
            v = valid.get(j)
            if v is None:
                v = valid[j] = np.flatnonzero(~nan[:, j])
            if v.size:
                out[i, j] = array[rng.choice(v), j]
            elif levels[j] > 0:
                out[i, j] = rng.integers(levels[j])
            else:
                out[i, j] = rng.random()
        return out

    def propose(
        self,
        rng: np.random.Generator,
        weight: tuple[Callable[[list[dict[str, Any]]], np.ndarray], float] | None = None,
    ) -> dict[str, Any] | None:
        """A model-based configuration, or None when the caller should sample at random.

        ``weight`` (``(log_density, power)``, for piBO): the candidate that minimizes
        ``log(bad / good) - power * log_density(candidate)`` instead of ``bad / good`` alone.
        """
        if not self.fitted_on or rng.random() < self.random_fraction:
            return None
        good, bad = self.model(max(self.fitted_on))
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
        if weight is None:
            best = int(np.argmin(ratio))
            return self.vspace.decode(cand[best : best + 1], mode="index")[0]
        log_density, power = weight
        configs = self.vspace.decode(cand, mode="index")
        best = int(np.argmin(np.log(ratio) - power * log_density(configs)))
        return configs[best]


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
        max_points_in_model: int | None = 1024,
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
            max_points_in_model=max_points_in_model,
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
            "max_points_in_model": m.max_points_in_model,
        }
