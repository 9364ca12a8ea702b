"""FCNet (Klein & Hutter 2019): a two-hidden-layer MLP regressor, Adam, MSE, 100 epochs.

Space: :func:`benchmarks.spaces.fcnet_space` (6*6*3*3*2*2*6*2*4 = 62,208 configurations).
Network: Dense(n_units_1, act_1) -> Dropout(dropout_1) -> Dense(n_units_2, act_2)
-> Dropout(dropout_2) -> Dense(1). Adam(init_lr); the cosine schedule sets the
learning rate of epoch e (0-based) to init_lr/2 * (1 + cos(pi*e/100)).

Choices the paper does not publish (made openly here): Keras' default
initialization (Glorot-uniform weights, zero biases), since the original code
used Keras; Adam's betas (0.9, 0.999) and eps 1e-8; the last minibatch of an
epoch may be smaller; the schedule is scaled to the number of epochs trained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import ConfigSpace as CS
import numpy as np
import pandas as pd

from benchmarks.spaces import FCNET_GRID, fcnet_space

from ..datasets import Splits
from ..engine import GroupSpec
from ..nets import BatchedMLP
from ..optim import BatchedAdam
from .base import Configs, Device, Family, Keys, sample_grid

#: the grid's values, for code that needs them (the schedules; perf/training.py's shapes)
UNITS = list(FCNET_GRID["n_units_1"])
BATCH_SIZES = list(FCNET_GRID["batch_size"])
SCHEDULES = list(FCNET_GRID["lr_schedule"])


def learning_rates(init_lr: float, schedule: str, epochs: int) -> np.ndarray:
    """The learning rate of each epoch (0-based) under the FCNet schedules."""
    e = np.arange(epochs)
    if schedule == "cosine":
        return init_lr / 2 * (1 + np.cos(math.pi * e / epochs))
    if schedule == "const":
        return np.full(epochs, float(init_lr))
    raise ValueError(f"lr_schedule={schedule!r}; allowed: {', '.join(SCHEDULES)}")


class FCNet(Family):
    name = "fcnet"
    task = "regression"
    epochs = 100
    objective = "valid_mse"
    test_objective = "test_mse"
    description = "FCNet protocol (Klein & Hutter 2019): 2-layer MLP, Adam, MSE, 100 epochs"

    def space(self) -> CS.ConfigurationSpace:
        return fcnet_space()

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        return sample_grid(self.space(), n, seed)

    def sampling_description(self) -> str:
        return "drawn uniformly without replacement from the 62,208-configuration FCNet grid"

    def group_key(self, config: Mapping[str, Any], data: Splits):
        return (int(config["batch_size"]), int(config["n_units_1"]), int(config["n_units_2"]))

    def layer_sizes(self, config: Mapping[str, Any], data: Splits) -> list[int]:
        return [data.n_features, int(config["n_units_1"]), int(config["n_units_2"]), 1]

    def within_group_order(self, config: Mapping[str, Any]) -> tuple:
        return (config["activation_fn_1"], config["activation_fn_2"])

    def build(self, configs: Configs, keys: Keys, data: Splits, *, epochs: int, device: Device) -> GroupSpec:
        self.check_group(configs, data)
        c0 = configs[0]
        model = BatchedMLP(
            data.n_features,
            [int(c0["n_units_1"]), int(c0["n_units_2"])],
            1,
            keys=keys,
            activations=[[c["activation_fn_1"], c["activation_fn_2"]] for c in configs],
            dropout=np.array([[c["dropout_1"], c["dropout_2"]] for c in configs], dtype=np.float64),
            init="glorot_uniform",
            device=device,
        )
        lr = np.stack([learning_rates(float(c["init_lr"]), c["lr_schedule"], epochs) for c in configs])
        return GroupSpec(model, BatchedAdam(model.params), lr, int(c0["batch_size"]), list(keys))
