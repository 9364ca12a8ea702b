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

:meth:`Prior.sample` draws around the mode in a unit space: a float hyperparameter (its log scale when it has one)
in ConfigSpace's, from a normal of standard deviation ``spread`` truncated to [0, 1]; a discrete one, ordinal or
integer, the same way over equal-width bins, one per value (an ordinal one's positions; an integer one's range
widened by half a unit each side, on its log scale when it has one, then rounded, as NePS samples integers), so
that every value, the end ones included, has a bin of the same width, centred on it; a categorical one keeps the
mode's value with probability ``1 - spread`` and otherwise takes a uniform value. :meth:`Prior.log_density` is the
density of exactly these draws: the normal's for a float, the bin's mass for a discrete value. On a table the draws
are not held configurations: a sampler projects them (``runners.optimizer``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    OrdinalHyperparameter,
    UniformIntegerHyperparameter,
)
from scipy.special import ndtr

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
        needs): per float hyperparameter the normal's log density in the unit space (its truncation to [0, 1]
        is a constant), per discrete one the log of its bin's mass under that normal (the probability
        :meth:`sample` draws the value with, up to the same constant), per categorical one the log probability
        of the value."""
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
            bins = _bins(hp)
            if bins is not None:
                edges, mu = bins
                lo_hi = np.array([edges(v) if v is not None else (np.nan, np.nan) for v in vals], dtype=float)
                cdf = ndtr((lo_hi - mu(mode)) / self.spread)  # both edges of every bin in one step
                mass = cdf[:, 1] - cdf[:, 0]
                # a bin far in the tail has a mass below float's range: floored, so that its log stays finite
                # (piBO raises the density to a power that reaches 0)
                out += np.where(np.isnan(lo_hi[:, 0]), 0.0, np.log(np.maximum(mass, _TINY)))
                continue
            if not hasattr(hp, "lower"):
                continue
            u = np.array([float(hp.to_vector(v)) if v is not None else np.nan for v in vals])
            mu_f = float(hp.to_vector(mode))
            out += np.where(np.isnan(u), 0.0, -0.5 * ((u - mu_f) / self.spread) ** 2)
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
        k = len(seq)
        u = _truncated_normal((seq.index(mode) + 0.5) / k, spread, n, rng)
        return [seq[min(int(x * k), k - 1)] for x in u.tolist()]
    if isinstance(hp, UniformIntegerHyperparameter):
        to_unit, to_value = _int_scale(hp)
        u = _truncated_normal(float(to_unit(float(mode))), spread, n, rng)
        v = np.clip(np.rint(to_value(u)), hp.lower, hp.upper).astype(np.int64)
        return [int(x) for x in v.tolist()]
    if not hasattr(hp, "lower"):  # a constant
        return [mode] * n
    u = _truncated_normal(float(hp.to_vector(mode)), spread, n, rng)
    return [_plain(hp.to_value(np.float64(x))) for x in u.tolist()]


#: the least bin mass :meth:`Prior.log_density` gives (exp(-690)): a finite log far in the tail
_TINY = 1e-300


def _int_scale(hp: UniformIntegerHyperparameter) -> tuple[Any, Any]:
    """(value -> unit, unit -> value) over an integer hyperparameter's range widened by half a unit each side, on
    its log scale when it has one: every integer's bin [v - 1/2, v + 1/2) is then one stretch of [0, 1]."""
    lo, hi = float(hp.lower) - 0.5, float(hp.upper) + 0.5
    if getattr(hp, "log", False):
        a, b = np.log(lo), np.log(hi)
        return (lambda x: (np.log(x) - a) / (b - a)), (lambda u: np.exp(a + np.asarray(u) * (b - a)))
    return (lambda x: (x - lo) / (hi - lo)), (lambda u: lo + np.asarray(u) * (hi - lo))


def _bins(hp: Any) -> tuple[Any, Any] | None:
    """For a discrete hyperparameter drawn over bins (ordinal, integer): (value -> its bin's (start, end) in the
    unit space, value -> the centre a mode there draws around); None for any other."""
    if isinstance(hp, OrdinalHyperparameter):
        seq = list(hp.sequence)
        k = len(seq)
        return (lambda v: (seq.index(v) / k, (seq.index(v) + 1) / k)), (lambda v: (seq.index(v) + 0.5) / k)
    if isinstance(hp, UniformIntegerHyperparameter):
        to_unit, _ = _int_scale(hp)
        return (
            (lambda v: (float(to_unit(float(v) - 0.5)), float(to_unit(float(v) + 0.5)))),
            (lambda v: float(to_unit(float(v)))),
        )
    return None


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
