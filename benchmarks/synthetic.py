"""Synthetic learning-curve tables, for tests, examples and performance measurements.

The curves have the structure of real ones: a per-configuration quality that
depends smoothly on the hyperparameters, exponential-decay curves over epochs,
seed noise, and a cost that grows with model width and epochs. They are *not*
benchmarks of anything; the catalog never lists them.
"""

from __future__ import annotations

from pathlib import Path

import ConfigSpace as CS
import numpy as np
import pandas as pd

from .protocol import Fidelity, Metric
from .table import write_table


def synthetic_space(kind: str = "mixed") -> CS.ConfigurationSpace:
    """A small space: ``"grid"`` (finite, FCNet-like) or ``"mixed"`` (continuous, integer and categorical)."""
    if kind == "grid":
        return CS.ConfigurationSpace(
            {
                "n_units": CS.OrdinalHyperparameter("n_units", [16, 32, 64, 128]),
                "lr": CS.OrdinalHyperparameter("lr", [1e-3, 1e-2, 1e-1]),
                "activation": CS.CategoricalHyperparameter("activation", ["relu", "tanh"]),
            }
        )
    if kind == "mixed":
        space = CS.ConfigurationSpace()
        space.add(CS.UniformFloatHyperparameter("lr", 1e-4, 1e-1, log=True))
        space.add(CS.UniformIntegerHyperparameter("width", 16, 512, log=True))
        space.add(CS.UniformFloatHyperparameter("dropout", 0.0, 0.8))
        space.add(CS.CategoricalHyperparameter("activation", ["relu", "tanh"]))
        return space
    raise ValueError(f"unknown synthetic space kind {kind!r}; allowed: 'grid', 'mixed'")


def synthetic_configs(space: CS.ConfigurationSpace, n: int | None, seed: int = 0) -> pd.DataFrame:
    """``n`` distinct configurations sampled from ``space`` (all of a finite grid when ``n`` is None)."""
    from itertools import product

    from .space import choices

    if n is None:
        grids = [list(choices(hp)) for hp in space.values()]
        return pd.DataFrame(list(product(*grids)), columns=list(space.keys()))
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for name, hp in space.items():
        ch = choices(hp)
        if ch is not None:
            cols[name] = np.asarray(ch, dtype=object)[rng.integers(0, len(ch), n)]
            if not isinstance(ch[0], str):
                cols[name] = cols[name].astype(type(ch[0]))
        elif isinstance(hp, CS.UniformIntegerHyperparameter):
            lo, hi = np.log(hp.lower), np.log(hp.upper + 1)
            cols[name] = np.clip(np.floor(np.exp(rng.uniform(lo, hi, n))), hp.lower, hp.upper).astype(
                np.int64
            )
        else:
            if hp.log:
                cols[name] = np.exp(rng.uniform(np.log(hp.lower), np.log(hp.upper), n))
            else:
                cols[name] = rng.uniform(hp.lower, hp.upper, n)
    frame = pd.DataFrame(cols).drop_duplicates().reset_index(drop=True)
    return frame


def synthetic_curves(
    space: CS.ConfigurationSpace,
    configs: pd.DataFrame,
    n_seeds: int,
    n_epochs: int,
    seed: int = 0,
    noise: float = 0.03,
    n_metrics: int = 4,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(values by metric, cumulative cost), each shaped (configs, seeds, epochs), float32."""
    from .space import encode_frame

    rng = np.random.default_rng(seed)
    X = encode_frame(space, configs)
    w = rng.normal(size=X.shape[1])
    quality = 1.0 / (1.0 + np.exp(-(X - 0.5) @ w * 2.0))  # in (0, 1), smooth in the config
    final = 0.05 + 0.5 * quality
    rate = 0.05 + 0.3 * (1 - X[:, 0])
    C, S, F = len(configs), n_seeds, n_epochs
    t = np.arange(1, F + 1, dtype=np.float32)
    base = final[:, None] + (1.0 - final[:, None]) * np.exp(-rate[:, None] * t[None, :])  # (C, F)
    seed_fx = rng.normal(scale=noise, size=(C, S, 1)).astype(np.float32)
    eps = rng.normal(scale=noise / 3, size=(C, S, F)).astype(np.float32)
    valid = np.clip(base[:, None, :] * (1 + seed_fx) + eps, 1e-4, None).astype(np.float32)
    values = {"valid_loss": valid}
    names = ["train_loss", "test_loss", "valid_error"]
    for k in range(min(n_metrics, 4) - 1):
        shift = (0.9, 1.05, 0.8)[k]
        values[names[k]] = np.clip(
            valid * shift + rng.normal(scale=noise / 3, size=(C, S, F)), 1e-4, None
        ).astype(np.float32)
    width = X[:, 1] if X.shape[1] > 1 else np.ones(C)
    per_epoch = (0.5 + 4.0 * width)[:, None, None] * rng.uniform(0.9, 1.1, size=(C, S, 1))
    cost = np.cumsum(np.broadcast_to(per_epoch, (C, S, F)), axis=-1).astype(np.float32)
    return values, cost


_METRICS = {
    "valid_loss": Metric(
        "valid_loss", "minimize", 0.0, np.inf, "valid", description="synthetic validation loss"
    ),
    "train_loss": Metric(
        "train_loss", "minimize", 0.0, np.inf, "train", description="synthetic training loss"
    ),
    "test_loss": Metric("test_loss", "minimize", 0.0, np.inf, "test", description="synthetic test loss"),
    "valid_error": Metric(
        "valid_error", "minimize", 0.0, np.inf, "valid", description="synthetic validation error"
    ),
}


def make_synthetic_table(
    path: str | Path,
    *,
    n_configs: int | None = 50,
    n_seeds: int = 2,
    n_epochs: int = 10,
    space: CS.ConfigurationSpace | str = "mixed",
    seed: int = 0,
    n_metrics: int = 3,
    name: str = "synthetic",
    overwrite: bool = False,
) -> Path:
    """Write a synthetic table and return its folder (``n_configs=None`` with a grid space: the whole grid)."""
    space = synthetic_space(space) if isinstance(space, str) else space
    configs = synthetic_configs(space, n_configs, seed)
    values, cost = synthetic_curves(space, configs, n_seeds, n_epochs, seed, n_metrics=n_metrics)
    metrics = [_METRICS[m] for m in values]
    return write_table(
        path,
        name=name,
        space=space,
        fidelity=Fidelity("epoch", tuple(range(1, n_epochs + 1)), unit="epochs"),
        metrics=metrics,
        objective="valid_loss",
        test_objective="test_loss" if "test_loss" in values else None,
        seeds=list(range(n_seeds)),
        configs=configs,
        values=values,
        cost=cost,
        description="synthetic learning curves (not a benchmark of anything)",
        task={"dataset": "synthetic"},
        provenance={"generator": "benchmarks.synthetic", "seed": seed},
        overwrite=overwrite,
    )
