"""Synthetic learning-curve tables, for tests, examples and performance measurements: one generator, named presets.

:func:`write_synthetic_table` writes every synthetic table of the project; a *preset* says which kind:

* ``"mixed"``, ``"grid"``: curves with the structure of real ones (a per-configuration quality smooth in the
  hyperparameters, exponential decay over epochs, seed noise, a cost that grows with width and epochs) on
  a small mixed or finite-grid space (:func:`synthetic_curves`); any other space can be given;
* ``"fcnet-standin"``, ``"lcbench-standin"``: the same curves on the FCNet and LCBench spaces, shaped as the
  shipped tables are (1,000 x 2 x 100 and 500 x 2 x 50), for timing a study before those exist;
* ``"mlp"``: power-law curves towards a floor set by an MLP's learning rate, weight decay, width, dropout
  and activation, with seed noise smooth along the curve (what a surrogate must reproduce);
* ``"toy"``: numbers that can be checked by hand: configuration ``c`` costs ``cost_per_unit[c]`` seconds
  per fidelity unit (default ``c + 1``); ``valid_loss`` falls with fidelity towards a per-configuration
  floor and carries the seed's index in its last digits (``+ 1e-3 * index``); ``test_loss = valid_loss
  + 0.5``, ``train_loss = valid_loss - 0.5``; ``diverged`` configurations are NaN from the second fidelity on.

The same preset, shape and ``seed`` give the same numbers. None of these tables is a benchmark of
anything; the catalog never lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, Literal

import ConfigSpace as CS
import numpy as np
import pandas as pd

from .protocol import Fidelity, Metric
from .space import choices, encode_frame
from .spaces import (
    fcnet_space,
    lcbench_space,
    synthetic_grid_space,
    synthetic_mixed_space,
    synthetic_mlp_space,
    toy_space,
)
from .table import TableSpec, write_table

#: (configurations, values by metric, cumulative cost): what a preset's curve model makes
Made = tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]


# ---------------------------------------------------------------- the decay model ("mixed", "grid", stand-ins)
def synthetic_configs(space: CS.ConfigurationSpace, n: int | None, seed: int = 0) -> pd.DataFrame:
    """``n`` distinct configurations sampled from ``space`` (all of a finite grid when ``n`` is None)."""
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


def _decay(
    space: CS.ConfigurationSpace,
    n_configs: int | Literal["all"],
    seeds: Sequence[int],
    fidelities: Sequence[float],
    seed: int,
    *,
    n_metrics: int = 3,
    noise: float = 0.03,
) -> Made:
    """The decay model: :func:`synthetic_configs` (``n_configs="all"``: the whole grid), then
    :func:`synthetic_curves` (1 to 4 metrics)."""
    configs = synthetic_configs(space, None if n_configs == "all" else n_configs, seed)
    values, cost = synthetic_curves(
        space, configs, len(seeds), len(fidelities), seed, noise=noise, n_metrics=n_metrics
    )
    return configs, values, cost


_DECAY_METRICS = {
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


# ---------------------------------------------------------------- the power-law MLP model ("mlp")
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


def _power_law(
    space: CS.ConfigurationSpace,
    n_configs: int,
    seeds: Sequence[int],
    fidelities: Sequence[float],
    seed: int,
    *,
    noise: float = 0.03,
) -> Made:
    """The MLP model: power-law curves to a configuration's floor, a per-seed offset and wiggle, jitter."""
    rng = np.random.default_rng(seed)
    configs = pd.DataFrame([dict(c) for c in space.sample_configuration(n_configs)])
    configs = configs.drop_duplicates().reset_index(drop=True)
    C, S, F = len(configs), len(seeds), len(fidelities)
    epochs = np.asarray(fidelities, dtype=float)
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
    return configs, {"valid_loss": valid, "test_loss": test, "train_loss": train, "valid_acc": acc}, cost


_MLP_METRICS = {
    "valid_loss": Metric("valid_loss", "minimize", 0.0, np.inf, "valid"),
    "test_loss": Metric("test_loss", "minimize", 0.0, np.inf, "test"),
    "train_loss": Metric("train_loss", "minimize", 0.0, np.inf, "train"),
    "valid_acc": Metric("valid_acc", "maximize", 0.0, 1.0, "valid"),
}


# ---------------------------------------------------------------- the hand-checkable model ("toy")
def _toy(
    space: CS.ConfigurationSpace,
    n_configs: int,
    seeds: Sequence[int],
    fidelities: Sequence[float],
    seed: int,
    *,
    cost_per_unit: Sequence[float] | None = None,
    diverged: Sequence[int] = (),
) -> Made:
    """The toy model (see the module docstring): every number follows from the configuration and seed index."""
    rng = np.random.default_rng(seed)
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
    per_unit = (
        np.arange(1, C + 1, dtype=np.float64) if cost_per_unit is None else np.asarray(cost_per_unit, float)
    )
    if per_unit.shape != (C,):
        raise ValueError(f"cost_per_unit has {per_unit.shape[0]} values for {C} configurations")
    cost = np.broadcast_to(per_unit[:, None, None] * fid[None, None, :], (C, S, F)).copy()
    return configs, {"valid_loss": valid, "train_loss": valid - 0.5, "test_loss": valid + 0.5}, cost


_TOY_METRICS = {
    "valid_loss": Metric("valid_loss", "minimize", 0.0, split="valid"),
    "train_loss": Metric("train_loss", "minimize", -1.0, split="train"),
    "test_loss": Metric("test_loss", "minimize", 0.0, split="test"),
}


# ---------------------------------------------------------------- presets and the one writer
@dataclass(frozen=True)
class Preset:
    """One kind of synthetic table: its space, curve model, metrics, default shape and manifest text."""

    #: the space from the generator's seed (only the decay model takes another space)
    space: Callable[[int], CS.ConfigurationSpace]
    #: (space, n_configs, seeds, fidelities, seed, **options) -> (configs, values, cost)
    model: Callable[..., Made]
    #: every metric the model can make, by name (a table declares those the model made, in its order)
    metrics: Mapping[str, Metric]
    #: default (configurations, seeds, fidelities); an int count of seeds means 0..n-1, of fidelities 1..n
    shape: tuple[int, int | Sequence[int], int | Sequence[float]]
    #: the type of the fidelity values (the decay tables have integer epochs)
    fidelity_type: type = float
    name: str = "synthetic"
    description: str = "synthetic learning curves (not a benchmark of anything)"
    task: Mapping[str, Any] | None = None
    any_space: bool = False


_DECAY = {"model": _decay, "metrics": _DECAY_METRICS, "fidelity_type": int, "any_space": True}

PRESETS: dict[str, Preset] = {
    "mixed": Preset(
        lambda seed: synthetic_mixed_space(), shape=(50, 2, 10), task={"dataset": "synthetic"}, **_DECAY
    ),
    "grid": Preset(
        lambda seed: synthetic_grid_space(), shape=(50, 2, 10), task={"dataset": "synthetic"}, **_DECAY
    ),
    "fcnet-standin": Preset(
        lambda seed: fcnet_space("fcnet-like"), shape=(1000, 2, 100), task={"dataset": "synthetic"}, **_DECAY
    ),
    "lcbench-standin": Preset(
        lambda seed: lcbench_space("lcbench-like"),
        shape=(500, 2, 50),
        task={"dataset": "synthetic"},
        **_DECAY,
    ),
    "mlp": Preset(
        synthetic_mlp_space,
        _power_law,
        _MLP_METRICS,
        shape=(200, 3, 20),
        description="synthetic learning curves (not real data)",
    ),
    "toy": Preset(
        lambda seed: toy_space(),
        _toy,
        _TOY_METRICS,
        shape=(6, (0, 1), (1, 2, 3, 4)),
        name="toy",
        description="synthetic table for tests",
    ),
}


def preset(name: str) -> Preset:
    """The preset called ``name`` (ValueError naming the known ones otherwise)."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown synthetic-table preset {name!r}; allowed: {', '.join(PRESETS)}") from None


def _seeds(seeds: int | Sequence[int]) -> list[int]:
    return list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]


def _fidelities(p: Preset, fidelities: int | Sequence[float]) -> tuple:
    if isinstance(fidelities, (int, np.integer)):
        fidelities = range(1, int(fidelities) + 1)
    out = tuple(p.fidelity_type(f) for f in fidelities)
    if any(a != b for a, b in zip(out, fidelities)):
        raise ValueError(
            f"fidelities {list(fidelities)}: this preset's fidelities are {p.fidelity_type.__name__}s"
        )
    return out


def write_synthetic_table(
    path: str | Path,
    preset_name: str = "mixed",
    *,
    n_configs: int | Literal["all"] | None = None,
    seeds: int | Sequence[int] | None = None,
    fidelities: int | Sequence[float] | None = None,
    seed: int = 0,
    space: CS.ConfigurationSpace | None = None,
    name: str | None = None,
    overwrite: bool = False,
    **options: Any,
) -> Path:
    """Write a synthetic table of the preset ``preset_name`` and return its folder.

    ``n_configs``, ``seeds`` (a count n: 0..n-1, or the seeds) and ``fidelities`` (a count n: 1..n, or the
    values) default to the preset's shape; ``n_configs="all"`` takes the whole of a finite grid (decay
    presets). ``seed`` fixes every draw; ``space`` replaces the preset's space (decay presets only);
    ``options`` go to the curve model (``n_metrics``, ``noise``; ``noise`` for ``"mlp"``;
    ``cost_per_unit``, ``diverged`` for ``"toy"``).
    """
    p = preset(preset_name)
    if space is not None and not p.any_space:
        raise ValueError(f"preset {preset_name!r} makes its own space; only {_any_space()} take another")
    n0, s0, f0 = p.shape
    space = p.space(seed) if space is None else space
    seeds = _seeds(s0 if seeds is None else seeds)
    fidelities = _fidelities(p, f0 if fidelities is None else fidelities)
    n = n0 if n_configs is None else n_configs
    configs, values, cost = p.model(space, n, seeds, fidelities, seed, **options)
    spec = TableSpec(
        name=p.name if name is None else name,
        space=space,
        fidelity=Fidelity("epoch", fidelities, unit="epochs"),
        metrics=[p.metrics[m] for m in values],
        objective="valid_loss",
        test_objective="test_loss" if "test_loss" in values else None,
        seeds=seeds,
        description=p.description,
        task=p.task or {},
        provenance={"generator": "benchmarks.synthetic", "preset": preset_name, "seed": seed},
    )
    return write_table(path, spec, configs=configs, values=values, cost=cost, overwrite=overwrite)


def _any_space() -> str:
    return ", ".join(repr(n) for n, p in PRESETS.items() if p.any_space)


# ---------------------------------------------------------------- the shorthand most tests use
def synthetic_space(kind: str = "mixed") -> CS.ConfigurationSpace:
    """The space of the decay preset ``kind``: ``"grid"`` (finite, FCNet-like) or ``"mixed"``."""
    if kind not in ("grid", "mixed"):
        raise ValueError(f"unknown synthetic space kind {kind!r}; allowed: 'grid', 'mixed'")
    return PRESETS[kind].space(0)


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
    """A decay-model table (``space`` ``"mixed"``, ``"grid"`` or a space; ``n_configs=None``: the whole grid)."""
    kind, own = (space, None) if isinstance(space, str) else ("mixed", space)
    if kind not in ("grid", "mixed"):
        raise ValueError(f"unknown synthetic space kind {kind!r}; allowed: 'grid', 'mixed' or a space")
    return write_synthetic_table(
        path,
        kind,
        n_configs="all" if n_configs is None else n_configs,
        seeds=n_seeds,
        fidelities=n_epochs,
        seed=seed,
        space=own,
        name=name,
        overwrite=overwrite,
        n_metrics=n_metrics,
    )
