"""LCBench-style (Zimmer et al. 2021): a funnel-shaped MLP classifier, SGD with momentum, cosine annealing, 50 epochs.

Space: :func:`benchmarks.spaces.lcbench_space` (batch_size 16-512 log integer, learning_rate 1e-4-1e-1
log, momentum 0.1-0.99, weight_decay 1e-5-1e-1, num_layers 1-5, max_units 64-1024 log integer,
max_dropout 0-1).

The network follows Auto-PyTorch's ShapedMlpNet with the "funnel" shape, which
LCBench used: ``num_layers - 1`` hidden Linear+ReLU+Dropout layers whose widths
fall linearly from max(max_units, n_features) towards the number of classes,
then a linear output layer (so num_layers=1 is a linear model); dropout falls
the same way from max_dropout in the first hidden layer. SGD as in
``torch.optim.SGD`` (L2 weight decay, no Nesterov); the learning rate of epoch e
(0-based) is learning_rate/2 * (1 + cos(pi*e/50)) (cosine annealing to zero over
the 50 epochs); torch's default Linear initialization. Not published, chosen
openly: no input embedding beyond one-hot categoricals, no batch normalization,
the last minibatch of an epoch may be smaller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import ConfigSpace as CS
import numpy as np
import pandas as pd
import torch

from benchmarks.architectures import funnel
from benchmarks.spaces import lcbench_space

from ..datasets import Splits
from ..engine import GroupSpec
from ..nets import BatchedMLP
from ..optim import BatchedSGD
from .base import Configs, Device, Family, Keys


def architecture(config: Mapping[str, Any], n_features: int, n_classes: int) -> tuple[list[int], list[float]]:
    """Hidden widths and dropout rates of one configuration."""
    L = int(config["num_layers"])
    widths = funnel(n_features, n_classes, int(config["max_units"]), L)[: L - 1]
    drops = [d / 1000 * float(config["max_dropout"]) for d in funnel(0, 0, 1000, L)[: L - 1]]
    return widths, drops


def learning_rates(lr: float, epochs: int) -> np.ndarray:
    e = np.arange(epochs)
    return lr / 2 * (1 + np.cos(math.pi * e / epochs))


class LCBench(Family):
    name = "lcbench"
    task = "classification"
    epochs = 50
    objective = "valid_cross_entropy"
    test_objective = "test_cross_entropy"
    description = "LCBench-style funnel MLP, SGD with momentum, cosine annealing, 50 epochs"

    def space(self) -> CS.ConfigurationSpace:
        return lcbench_space()

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        """Independent draws per hyperparameter (uniform, or log-uniform where the space says log)."""
        rng = np.random.default_rng(seed)
        cols = {}
        for name, hp in self.space().items():
            lo, hi = float(hp.lower), float(hp.upper)
            if isinstance(hp, CS.UniformIntegerHyperparameter):
                if hp.log:
                    v = np.exp(rng.uniform(np.log(lo - 0.5), np.log(hi + 0.5), n))
                else:
                    v = rng.uniform(lo - 0.5, hi + 0.5, n)
                cols[name] = np.clip(np.rint(v), lo, hi).astype(np.int64)
            else:
                cols[name] = (
                    np.exp(rng.uniform(np.log(lo), np.log(hi), n)) if hp.log else rng.uniform(lo, hi, n)
                )
        df = pd.DataFrame(cols)
        if df.duplicated().any():  # continuous draws: practically never
            raise ValueError(f"sampling seed {seed} drew a duplicate configuration; use another seed")
        return df

    def group_key(self, config: Mapping[str, Any], data: Splits):
        widths, _ = architecture(config, data.n_features, data.n_classes)
        return (int(config["batch_size"]), tuple(widths))

    def layer_sizes(self, config: Mapping[str, Any], data: Splits) -> list[int]:
        widths, _ = architecture(config, data.n_features, data.n_classes)
        return [data.n_features, *widths, data.n_classes]

    def build(self, configs: Configs, keys: Keys, data: Splits, *, epochs: int, device: Device) -> GroupSpec:
        self.check_group(configs, data)
        widths, _ = architecture(configs[0], data.n_features, data.n_classes)
        drops = np.array(
            [architecture(c, data.n_features, data.n_classes)[1] for c in configs], dtype=np.float64
        ).reshape(len(configs), len(widths))
        model = BatchedMLP(
            data.n_features,
            widths,
            data.n_classes,
            keys=keys,
            activations=[["relu"] * len(widths) for _ in configs],
            dropout=drops,
            init="torch_default",
            device=device,
        )
        opt = BatchedSGD(
            model.params,
            momentum=torch.tensor([float(c["momentum"]) for c in configs], device=device),
            weight_decay=torch.tensor([float(c["weight_decay"]) for c in configs], device=device),
        )
        lr = np.stack([learning_rates(float(c["learning_rate"]), epochs) for c in configs])
        return GroupSpec(model, opt, lr, int(configs[0]["batch_size"]), list(keys))
