"""Uniform sampling of a search space from a numpy Generator, as plain dicts.

The one place that turns ConfigSpace's sampling into reproducible plain configurations for the
``benchmarks`` layer (the protocol's value ranges of benchmarks that answer anywhere sample here).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ConfigSpace.hyperparameters import FloatHyperparameter
from ConfigSpace.hyperparameters.hp_components import ROUND_PLACES

__all__ = [
    "SAMPLE_RTOL",
    "as_dicts",
    "draw",
    "same_configuration",
    "same_configurations",
    "sample_configurations",
]

#: the relative difference two sampled float values may have and still be the same draw: numpy's exp and log are
#: not correctly rounded and differ in the last bit between CPUs (SIMD paths) and versions, so a sample drawn on one
#: machine is drawn again on another up to a few ulps (about 2e-16 each) apart
SAMPLE_RTOL = 1e-12


def _same_value(x: Any, y: Any) -> bool:
    if x == y:
        return True
    if isinstance(x, (float, np.floating)) and isinstance(y, (float, np.floating)):
        if x != x and y != y:  # NaN (an inactive hyperparameter) on both sides
            return True
        return math.isclose(float(x), float(y), rel_tol=SAMPLE_RTOL, abs_tol=0.0)
    return False


def same_configuration(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two sampled configurations are the same draw: the same names, equal values (NaN equal to NaN),
    floats up to :data:`SAMPLE_RTOL`."""
    return a.keys() == b.keys() and all(_same_value(x, b[k]) for k, x in a.items())


def same_configurations(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> bool:
    """Whether two lists of configurations are the same draws in the same order (:func:`same_configuration`)."""
    return len(a) == len(b) and all(map(same_configuration, a, b))


def sample_configurations(space: Any, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` configurations drawn uniformly from ``space`` (ConfigSpace's sampling) out of ``rng``'s stream.

    ``space`` is left untouched (a copy draws); the same ``rng`` state gives the same configurations, the
    same values as ``runners.optimizer.ConfigSampler(space).sample(n, rng)`` of a continuous space.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n={n!r} must be an integer >= 0")
    if n == 0:
        return []
    return draw(copy.deepcopy(space), int(n), rng)


def draw(space: Any, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n >= 1`` configurations drawn from ``space`` itself out of ``rng``'s stream (the space's random state is
    replaced: pass a copy the caller owns; :func:`sample_configurations` makes one)."""
    # ConfigSpace draws from a RandomState; one over ``rng``'s own bit generator (no seeding, which costs more
    # than the draw) makes every draw come from ``rng``'s stream
    space.random = np.random.RandomState(rng.bit_generator)
    # ConfigSpace deprecates size=1 (it will return a list); without a size it returns one configuration
    out = [space.sample_configuration()] if n == 1 else space.sample_configuration(n)
    return as_dicts(space, out)


def as_dicts(space: Any, configs: Sequence[Any]) -> list[dict[str, Any]]:
    """``[dict(c) for c in configs]`` for ConfigSpace configurations, one vectorized conversion per hyperparameter.

    The same values as ``dict(c)`` (inactive hyperparameters left out, floats rounded as ConfigSpace rounds
    them), in plain Python types.
    """
    if not configs:
        return []
    if (
        len(configs) == 1
    ):  # one configuration: ConfigSpace's own conversion is quicker than the vectorized one
        return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in dict(configs[0]).items()}]
    vectors = np.stack([c.get_array() for c in configs])
    out: list[dict[str, Any]] = [{} for _ in configs]
    for i, hp in enumerate(space.values()):
        col = vectors[:, i]
        rows = np.flatnonzero(~np.isnan(col))
        if not rows.size:
            continue
        values = np.asarray(hp.to_value(col[rows]))
        if isinstance(hp, FloatHyperparameter):
            values = np.round(values.astype(np.float64), ROUND_PLACES)
        for r, v in zip(rows.tolist(), values.tolist()):
            out[r][hp.name] = v
    return out
