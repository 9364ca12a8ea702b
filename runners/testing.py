"""Tiny synthetic learning-curve tables for tests, examples and the simulator's performance script.

The numbers are made so that results can be checked by hand:

* configuration ``c`` costs ``cost_per_unit[c]`` seconds per fidelity unit on
  every seed (default ``c + 1``), so its cumulative cost at fidelity ``f`` is
  ``cost_per_unit[c] * f``;
* ``valid_loss`` decreases with fidelity towards a per-configuration floor and
  carries the seed in its last digits (``+ 1e-3 * seed_index``), so a test can
  read which seed produced a value;
* ``test_loss = valid_loss + 0.5`` and ``train_loss = valid_loss - 0.5``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ConfigSpace as CS
import numpy as np
import pandas as pd

from benchmarks.protocol import Fidelity, Metric
from benchmarks.table import write_table
from benchmarks.tabular import TabularBenchmark

__all__ = ["toy_space", "write_toy_table", "toy_benchmark", "fcnet_like_space", "lcbench_like_space", "write_standin_tables"]


def toy_space() -> CS.ConfigurationSpace:
    """A small mixed space: a log-scaled float, an integer, an ordinal and a categorical."""
    space = CS.ConfigurationSpace(seed=0)
    space.add(
        [
            CS.UniformFloatHyperparameter("lr", 1e-4, 1.0, log=True),
            CS.UniformIntegerHyperparameter("layers", 1, 8),
            CS.OrdinalHyperparameter("units", [16, 32, 64, 128]),
            CS.CategoricalHyperparameter("act", ["relu", "tanh"]),
        ]
    )
    return space


def write_toy_table(
    path: str | Path,
    *,
    n_configs: int = 6,
    fidelities: Sequence[float] = (1, 2, 3, 4),
    seeds: Sequence[int] = (0, 1),
    cost_per_unit: Sequence[float] | None = None,
    diverged: Sequence[int] = (),
    rng_seed: int = 0,
    name: str = "toy",
) -> Path:
    """Write a synthetic table (see the module docstring) and return its path.

    ``diverged`` lists configuration indices whose validation loss is NaN at
    every fidelity from the second one on (as after a divergence).
    """
    rng = np.random.default_rng(rng_seed)
    space = toy_space()
    configs = pd.DataFrame(
        {
            "lr": np.round(10 ** rng.uniform(-4, 0, n_configs), 8),
            "layers": rng.integers(1, 9, n_configs),
            "units": rng.choice([16, 32, 64, 128], n_configs),
            "act": rng.choice(["relu", "tanh"], n_configs),
        }
    )
    C, S, F = n_configs, len(seeds), len(fidelities)
    fid = np.asarray(fidelities, dtype=np.float64)
    floor = rng.uniform(0.1, 1.0, C)
    curve = floor[:, None, None] + 1.0 / fid[None, None, :] + 1e-3 * np.arange(S)[None, :, None]
    valid = np.broadcast_to(curve, (C, S, F)).copy()
    for c in diverged:
        valid[c, :, 1:] = np.nan
    per_unit = np.arange(1, C + 1, dtype=np.float64) if cost_per_unit is None else np.asarray(cost_per_unit, float)
    if per_unit.shape != (C,):
        raise ValueError(f"cost_per_unit has {per_unit.shape[0]} values for {C} configurations")
    cost = np.broadcast_to(per_unit[:, None, None] * fid[None, None, :], (C, S, F)).copy()
    metrics = [
        Metric("valid_loss", "minimize", 0.0, split="valid"),
        Metric("train_loss", "minimize", -1.0, split="train"),
        Metric("test_loss", "minimize", 0.0, split="test"),
    ]
    return write_table(
        path,
        name=name,
        space=space,
        fidelity=Fidelity("epoch", tuple(float(f) for f in fidelities), unit="epochs"),
        metrics=metrics,
        objective="valid_loss",
        test_objective="test_loss",
        seeds=list(seeds),
        configs=configs,
        values={"valid_loss": valid, "train_loss": valid - 0.5, "test_loss": valid + 0.5},
        cost=cost,
        description="synthetic table for tests",
    )


def toy_benchmark(path: str | Path, **kwargs) -> TabularBenchmark:
    """Write a toy table at ``path`` (unless one is there) and load it."""
    path = Path(path)
    if not (path / "manifest.json").exists():
        write_toy_table(path, **kwargs)
    return TabularBenchmark.from_path(path)


# ---------------------------------------------------------------- stand-ins for the shipped tables
def fcnet_like_space() -> CS.ConfigurationSpace:
    """The FCNet grid's space (names and values of Klein & Hutter 2019; 62,208 points)."""
    grid = {
        "n_units_1": [16, 32, 64, 128, 256, 512],
        "n_units_2": [16, 32, 64, 128, 256, 512],
        "dropout_1": [0.0, 0.3, 0.6],
        "dropout_2": [0.0, 0.3, 0.6],
        "activation_fn_1": ["tanh", "relu"],
        "activation_fn_2": ["tanh", "relu"],
        "init_lr": [5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1],
        "lr_schedule": ["cosine", "const"],
        "batch_size": [8, 16, 32, 64],
    }
    space = CS.ConfigurationSpace(name="fcnet-like")
    for name, choices in grid.items():
        kind = CS.CategoricalHyperparameter if isinstance(choices[0], str) else CS.OrdinalHyperparameter
        space.add(kind(name, choices))
    return space


def lcbench_like_space() -> CS.ConfigurationSpace:
    """LCBench's seven hyperparameters and ranges (Zimmer et al. 2021)."""
    space = CS.ConfigurationSpace(name="lcbench-like")
    space.add(
        [
            CS.UniformIntegerHyperparameter("batch_size", 16, 512, log=True),
            CS.UniformFloatHyperparameter("learning_rate", 1e-4, 1e-1, log=True),
            CS.UniformFloatHyperparameter("momentum", 0.1, 0.99),
            CS.UniformFloatHyperparameter("weight_decay", 1e-5, 1e-1),
            CS.UniformIntegerHyperparameter("num_layers", 1, 5),
            CS.UniformIntegerHyperparameter("max_units", 64, 1024, log=True),
            CS.UniformFloatHyperparameter("max_dropout", 0.0, 1.0),
        ]
    )
    return space


#: shape of a stand-in table: (configurations, seeds, epochs), as the shipped tables are planned
STANDIN_SHAPES = {"fcnet": (1000, 2, 100), "lcbench": (500, 2, 50)}


def write_standin_tables(root: str | Path, *, n_fcnet: int = 3, n_lcbench: int = 3) -> list[dict[str, str]]:
    """Synthetic tables shaped like the shipped ones, for timing a study before those exist.

    ``n_fcnet`` FCNet-like tables (1,000 draws from the FCNet grid, the few
    repeated ones dropped, x 2 seeds x 100 epochs) and ``n_lcbench``
    LCBench-like ones (500 x 2 x 50),
    named ``standin-fcnet-<k>`` / ``standin-lcbench-<k>`` under ``root``
    (existing ones are reused). Returns study entries ``{name, path}``. The
    curves are synthetic (:mod:`benchmarks.synthetic`): only their shape is realistic.
    """
    from benchmarks.synthetic import make_synthetic_table

    root = Path(root)
    out = []
    for family, n, space in (("fcnet", n_fcnet, fcnet_like_space), ("lcbench", n_lcbench, lcbench_like_space)):
        C, S, F = STANDIN_SHAPES[family]
        for k in range(n):
            name = f"standin-{family}-{k}"
            path = root / name
            if not (path / "manifest.json").is_file():
                make_synthetic_table(path, n_configs=C, n_seeds=S, n_epochs=F, space=space(), seed=k, name=name)
            out.append({"name": name, "path": str(path)})
    return out
