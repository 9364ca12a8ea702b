"""A synthetic learning-curve table with a realistic structure, for tests, demos and timings.

The curves follow a power law that falls with epochs towards a floor set by
the configuration (learning rate, width, dropout, an activation), plus
seed-to-seed noise that is smooth along the curve (a per-seed offset and a
per-seed wiggle) and a little per-epoch jitter. The cost grows with width and
batch count and never decreases with epochs. Nothing here is real data: it is
only a stand-in with the shapes a surrogate must reproduce.
"""

from __future__ import annotations

from pathlib import Path

import ConfigSpace as CS
import numpy as np
import pandas as pd

from benchmarks.protocol import Fidelity, Metric
from benchmarks.table import write_table


def synthetic_space(seed: int = 0) -> CS.ConfigurationSpace:
    """A mixed space: two log floats, an integer, an ordinal and a categorical."""
    return CS.ConfigurationSpace(
        name="synthetic-mlp",
        seed=seed,
        space=[
            CS.UniformFloatHyperparameter("learning_rate", 1e-4, 1e-1, log=True),
            CS.UniformFloatHyperparameter("weight_decay", 1e-6, 1e-2, log=True),
            CS.UniformIntegerHyperparameter("width", 16, 512, log=True),
            CS.OrdinalHyperparameter("dropout", [0.0, 0.25, 0.5]),
            CS.CategoricalHyperparameter("activation", ["relu", "tanh", "elu"]),
        ],
    )


def _floor_and_rate(configs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    lr = np.log10(configs["learning_rate"].to_numpy(float))
    wd = np.log10(configs["weight_decay"].to_numpy(float))
    width = np.log2(configs["width"].to_numpy(float))
    drop = configs["dropout"].to_numpy(float)
    act = configs["activation"].map({"relu": 0.0, "tanh": 0.08, "elu": 0.03}).to_numpy(float)
    floor = (
        0.08
        + 0.05 * (lr + 2.2) ** 2
        + 0.02 * (wd + 4) ** 2 / 4
        + 0.1 / width
        + 0.15 * (drop - 0.2) ** 2
        + act
    )
    rate = 0.4 + 0.25 * (lr + 4) + 0.05 * width
    return floor, rate


def synthetic_table(
    path: str | Path,
    *,
    n_configs: int = 200,
    n_seeds: int = 3,
    n_epochs: int = 20,
    seed: int = 0,
    noise: float = 0.03,
    name: str = "synthetic",
    overwrite: bool = False,
) -> Path:
    """Write a synthetic table of ``n_configs`` random configurations x ``n_seeds`` x ``n_epochs`` and return its path.

    Metrics: ``valid_loss`` (objective), ``test_loss``, ``train_loss``, all
    minimized and non-negative, and ``valid_acc`` in [0, 1], maximized.
    """
    rng = np.random.default_rng(seed)
    space = synthetic_space(seed)
    configs = pd.DataFrame([dict(c) for c in space.sample_configuration(n_configs)])
    configs = configs.drop_duplicates().reset_index(drop=True)
    C, S, F = len(configs), n_seeds, n_epochs
    epochs = np.arange(1, F + 1, dtype=float)
    floor, rate = _floor_and_rate(configs)
    t = epochs[None, None, :]
    base = floor[:, None, None] + 2.0 * (1 + t) ** (-rate[:, None, None])
    scale = noise * (1 + 2 * configs["dropout"].to_numpy(float))[:, None, None]
    offset = rng.normal(size=(C, S, 1)) * scale
    wiggle = rng.normal(size=(C, S, 1)) * scale * np.sin(np.pi * t / F)
    jitter = rng.normal(size=(C, S, F)) * scale * 0.3
    valid = base * np.exp(offset + wiggle + jitter)
    test = valid * np.exp(0.02 + rng.normal(size=(C, S, F)) * scale * 0.3)
    train = base * 0.7 * np.exp(offset * 0.5)
    acc = np.clip(1.0 - valid / (1.0 + valid), 0.0, 1.0)
    width = configs["width"].to_numpy(float)
    per_epoch = 0.5 + width / 64.0
    step = per_epoch[:, None, None] * np.exp(
        rng.normal(size=(C, S, 1)) * 0.05 + rng.normal(size=(C, S, F)) * 0.02
    )
    cost = np.cumsum(step, axis=-1)
    metrics = [
        Metric("valid_loss", "minimize", 0.0, np.inf, "valid"),
        Metric("test_loss", "minimize", 0.0, np.inf, "test"),
        Metric("train_loss", "minimize", 0.0, np.inf, "train"),
        Metric("valid_acc", "maximize", 0.0, 1.0, "valid"),
    ]
    return write_table(
        path,
        name=name,
        space=space,
        fidelity=Fidelity("epoch", tuple(float(e) for e in epochs), unit="epochs"),
        metrics=metrics,
        objective="valid_loss",
        test_objective="test_loss",
        seeds=list(range(S)),
        configs=configs,
        values={"valid_loss": valid, "test_loss": test, "train_loss": train, "valid_acc": acc},
        cost=cost,
        description="synthetic learning curves (not real data)",
        provenance={"generator": "surrogates.synthetic", "seed": seed},
        overwrite=overwrite,
    )
