"""Priors over a benchmark's search space at documented strengths, each with its measured quality.

A prior is what a user believes before optimizing: a *mode* (one configuration) and a *spread* around it. Prior-aware
methods (piBO, PriorBand, NePS) are judged by how they use good priors and recover from bad ones, so a suite must
say how good each prior is; :func:`priors` builds four for any benchmark, deterministically:

=========== ============================================ ======= =================================================
strength    mode: the configuration at this rank          spread  meaning
            percentile of the objective (0 = best)
=========== ============================================ ======= =================================================
good        0.02 (among the best 2 %)                     0.15    an expert's near-optimal default
medium      0.25                                          0.25    a reasonable default
bad         0.75                                          0.25    a poor default, held loosely
misleading  0.98 (among the worst 2 %)                    0.05    a poor default, held with confidence
=========== ============================================ ======= =================================================

The rank percentile is over the configurations :meth:`Benchmark.values_at` ranks: every configuration of a table,
or ``RANGE_SAMPLES`` uniform samples of a space for a benchmark that answers anywhere (a surrogate), by the
objective at the maximum fidelity, the mean over seeds. The mode is the configuration whose percentile is nearest
the target (the lower id on a tie). Each prior records its measured quality: the mode's rank percentile and its
normalized regret (:meth:`Benchmark.value_range`), so a study can say how good the prior it used was.

:meth:`Prior.sample` draws around the mode in ConfigSpace's unit space: a numerical hyperparameter (its log scale
when it has one; an ordinal one by its position) from a normal of standard deviation ``spread`` truncated to
[0, 1]; a categorical one keeps the mode's value with probability ``1 - spread`` and otherwise takes a uniform
value. On a table the draws are not held configurations: a sampler projects them (``runners.optimizer``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ConfigSpace.hyperparameters import CategoricalHyperparameter, OrdinalHyperparameter

from .protocol import RANGE_SAMPLES, RANGE_SEED, Benchmark
from .sampling import sample_configurations

__all__ = ["STRENGTHS", "Prior", "priors"]

#: strength -> (target rank percentile of the mode, spread): the table of the module docstring
STRENGTHS: dict[str, tuple[float, float]] = {
    "good": (0.02, 0.15),
    "medium": (0.25, 0.25),
    "bad": (0.75, 0.25),
    "misleading": (0.98, 0.05),
}


@dataclass(frozen=True)
class Prior:
    """A prior over ``space``: its ``mode``, its ``spread`` and its measured quality."""

    strength: str
    mode: dict[str, Any]
    spread: float
    percentile: float
    regret: float
    space: Any = field(repr=False, compare=False)

    def sample(self, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
        """``n`` configurations drawn around the mode (see the module docstring), from ``rng``'s stream."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n={n!r} must be an integer >= 0")
        out: list[dict[str, Any]] = [{} for _ in range(int(n))]
        for name, hp in self.space.items():
            if name not in self.mode:
                continue
            values = _draw(hp, self.mode[name], self.spread, int(n), rng)
            for conf, v in zip(out, values, strict=True):
                conf[name] = v
        if self.space.conditions:  # lazy: ConfigSpace's helper only for conditional spaces
            from ConfigSpace.util import deactivate_inactive_hyperparameters

            out = [dict(deactivate_inactive_hyperparameters(c, self.space)) for c in out]
        return out

    def log_density(self, configs: list[dict[str, Any]]) -> np.ndarray:
        """The log density of :meth:`sample` at each configuration, up to one constant (what piBO's weighting
        needs): per numerical hyperparameter the normal's log density in the unit space (its truncation to
        [0, 1] is a constant), per categorical one the log probability of the value."""
        out = np.zeros(len(configs))
        for name, hp in self.space.items():
            if name not in self.mode:
                continue
            mode = self.mode[name]
            vals = [c.get(name) for c in configs]
            if isinstance(hp, CategoricalHyperparameter):
                k = len(hp.choices)
                hit = np.array([v == mode for v in vals])
                out += np.where(hit, np.log(1.0 - self.spread + self.spread / k), np.log(self.spread / k))
                continue
            if isinstance(hp, OrdinalHyperparameter):
                seq = list(hp.sequence)
                top = max(len(seq) - 1, 1)
                u = np.array([seq.index(v) / top if v is not None else np.nan for v in vals])
                mu = seq.index(mode) / top
            elif hasattr(hp, "lower"):
                u = np.array([float(hp.to_vector(v)) if v is not None else np.nan for v in vals])
                mu = float(hp.to_vector(mode))
            else:
                continue
            out += np.where(np.isnan(u), 0.0, -0.5 * ((u - mu) / self.spread) ** 2)
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "strength": self.strength,
            "mode": dict(self.mode),
            "spread": self.spread,
            "percentile": self.percentile,
            "regret": self.regret,
        }


def priors(bench: Benchmark) -> dict[str, Prior]:
    """The four priors of ``bench`` (good, medium, bad, misleading), with their measured quality."""
    mt = bench.objective_metric
    vals, _ = bench.values_at(mt.name)
    with warnings.catch_warnings():  # a configuration that diverged on every seed: NaN, ranked last
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(vals, axis=1)
    signed = mt.sign * np.where(np.isfinite(mean), mean, np.nan)
    signed = np.where(np.isnan(signed), np.inf, signed)
    order = np.argsort(signed, kind="stable")
    pct = np.empty(len(order))
    pct[order] = np.arange(len(order)) / max(len(order) - 1, 1)
    held = bench.configurations()
    configs = held if held is not None else _sampled(bench)
    value_range = bench.value_range(mt.name)
    out = {}
    for strength, (target, spread) in STRENGTHS.items():
        i = int(np.argmin(np.abs(pct - target)))  # the first of the nearest: the lower position on a tie
        regret = (
            value_range.normalized_regret(float(mean[i]), mt.sign) if np.isfinite(mean[i]) else float("nan")
        )
        out[strength] = Prior(strength, dict(configs[i]), spread, float(pct[i]), regret, bench.space)
    return out


def _sampled(bench: Benchmark) -> list[dict[str, Any]]:
    """The configurations :meth:`Benchmark.values_at` samples for a benchmark that answers anywhere."""
    return sample_configurations(bench.space, RANGE_SAMPLES, np.random.default_rng(RANGE_SEED))


def _draw(hp: Any, mode: Any, spread: float, n: int, rng: np.random.Generator) -> list[Any]:
    if isinstance(hp, CategoricalHyperparameter):
        choices = list(hp.choices)
        keep = rng.random(n) < 1.0 - spread
        other = rng.integers(0, len(choices), n)
        return [mode if k else choices[j] for k, j in zip(keep.tolist(), other.tolist(), strict=True)]
    if isinstance(hp, OrdinalHyperparameter):
        seq = list(hp.sequence)
        top = max(len(seq) - 1, 1)
        u = _truncated_normal(seq.index(mode) / top, spread, n, rng)
        return [seq[int(round(x * top))] for x in u.tolist()]
    if not hasattr(hp, "lower"):  # a constant
        return [mode] * n
    u = _truncated_normal(float(hp.to_vector(mode)), spread, n, rng)
    return [_plain(hp.to_value(np.float64(x))) for x in u.tolist()]


def _truncated_normal(mu: float, sigma: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws of a normal (mu, sigma) truncated to [0, 1], by rejection (vectorized)."""
    out = np.empty(n)
    filled = 0
    while filled < n:
        x = rng.normal(mu, sigma, 2 * (n - filled) + 8)
        x = x[(x >= 0.0) & (x <= 1.0)][: n - filled]
        out[filled : filled + len(x)] = x
        filled += len(x)
    return out


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
