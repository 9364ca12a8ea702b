"""A small CNN on 28x28 grey images (MNIST 5k): the worked example of adding a family (docs/data.md).

Network: Conv(3x3, n_filters_1) -> ReLU -> MaxPool(2) -> Conv(3x3, n_filters_2) -> ReLU -> MaxPool(2)
-> Dropout(dropout) -> Linear(n_classes). Adam with a constant learning rate, 20 epochs.
Pixels are fed as stored (scaled to [0, 1]); nothing is standardized.

G runs train together as one grouped convolution: run g owns channel block g,
so ``conv2d(..., groups=G)`` applies every run's own filters in one call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import ConfigSpace as CS
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from benchmarks.spaces import cnn_space

from .. import rng
from ..costmodel import Workload
from ..datasets import Splits
from ..engine import GroupSpec
from ..optim import BatchedAdam
from .base import Configs, Device, Family, Keys, sample_grid

SIDE = 28


class BatchedCNN:
    """G two-layer CNNs of one shape; parameters stacked along a leading run axis."""

    def __init__(
        self,
        f1: int,
        f2: int,
        n_out: int,
        *,
        keys: Sequence[int],
        dropout: np.ndarray,
        device: torch.device | str = "cpu",
    ):
        self.G, self.f1, self.f2, self.n_out = len(keys), f1, f2, n_out
        self.keys = torch.tensor(list(keys), dtype=torch.int64, device=device)
        p = np.asarray(dropout, dtype=np.float64).reshape(self.G)
        # (G, 1): the integer form of `uniform >= p` (data/rng.py) and the kept units' multiplier
        self._keep = rng.keep_threshold(torch.tensor(p, dtype=torch.float32, device=device).view(-1, 1))
        self._scale = torch.tensor(
            np.where(p < 1, 1 / np.maximum(1 - p, 1e-12), 0.0), dtype=torch.float32, device=device
        ).view(-1, 1)
        self.flat = f2 * (SIDE // 4) ** 2
        shapes = [(f1, 1, 3, 3), (f1,), (f2, f1, 3, 3), (f2,), (self.flat, n_out), (1, n_out)]
        fans = [9, 9, 9 * f1, 9 * f1, self.flat, self.flat]
        per_run = []
        for k in keys:  # torch's default init: uniform(+-1/sqrt(fan_in)), from each run's own generator
            g = torch.Generator().manual_seed(int(k))
            per_run.append(
                [(torch.rand(s, generator=g) * 2 - 1) / math.sqrt(f) for s, f in zip(shapes, fans)]
            )
        self.params = [torch.stack([r[i] for r in per_run]).to(device).requires_grad_(True) for i in range(6)]

    def forward(self, x: torch.Tensor, *, train: bool, counter: int = 0) -> torch.Tensor:
        G = self.G
        if x.dim() == 2:  # rows shared by all runs
            x = x.unsqueeze(0).expand(G, *x.shape)
        B = x.shape[1]
        h = x.reshape(G, B, SIDE, SIDE).transpose(0, 1)  # (B, G, 28, 28): run g is channel g
        w1, b1, w2, b2, w3, b3 = self.params
        h = F.max_pool2d(
            F.relu(F.conv2d(h, w1.reshape(G * self.f1, 1, 3, 3), b1.reshape(-1), padding=1, groups=G)), 2
        )
        h = F.max_pool2d(
            F.relu(F.conv2d(h, w2.reshape(G * self.f2, self.f1, 3, 3), b2.reshape(-1), padding=1, groups=G)),
            2,
        )
        h = h.reshape(B, G, self.flat).transpose(0, 1)  # (G, B, flat)
        if train:
            mask = rng.dropout_multiplier(self.keys, counter * 8, B * self.flat, self._keep, self._scale)
            h = h * mask.view(G, B, self.flat)
        return torch.baddbmm(b3, h, w3)

    def n_params(self) -> np.ndarray:
        return np.full(self.G, sum(int(np.prod(p.shape[1:])) for p in self.params), dtype=np.int64)

    def macs_per_sample(self) -> int:
        return 9 * self.f1 * SIDE**2 + 9 * self.f1 * self.f2 * (SIDE // 2) ** 2 + self.flat * self.n_out


class CNN(Family):
    name = "cnn"
    task = "classification"
    epochs = 20
    objective = "valid_cross_entropy"
    test_objective = "test_cross_entropy"
    description = "small CNN (2 conv layers), Adam, 20 epochs"
    group_shares = "batch size and filter counts"
    preprocessing = {"raw_features": True}

    def space(self) -> CS.ConfigurationSpace:
        return cnn_space()

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        return sample_grid(self.space(), n, seed)

    def check_data(self, data: Splits) -> None:
        super().check_data(data)
        if data.n_features != SIDE * SIDE:
            raise ValueError(
                f"family 'cnn' needs {SIDE}x{SIDE} images ({SIDE * SIDE} features); "
                f"dataset {data.name!r} has {data.n_features}"
            )

    def group_key(self, config: Mapping[str, Any], data: Splits):
        return (int(config["batch_size"]), int(config["n_filters_1"]), int(config["n_filters_2"]))

    def workload(self, config: Mapping[str, Any], data: Splits) -> Workload:
        f1, f2 = int(config["n_filters_1"]), int(config["n_filters_2"])
        macs = 9 * f1 * SIDE**2 + 9 * f1 * f2 * (SIDE // 2) ** 2 + f2 * 49 * data.n_classes
        params = 10 * f1 + (9 * f1 + 1) * f2 + (f2 * 49 + 1) * data.n_classes
        n = len(data.y_train)
        return Workload(
            steps=-(-n // int(config["batch_size"])),
            layers=3,
            params=params,
            macs=macs,
            train_rows=n,
            eval_rows=n + len(data.y_valid) + len(data.y_test),
        )

    def build(self, configs: Configs, keys: Keys, data: Splits, *, epochs: int, device: Device) -> GroupSpec:
        self.check_group(configs, data)
        c0 = configs[0]
        model = BatchedCNN(
            int(c0["n_filters_1"]),
            int(c0["n_filters_2"]),
            data.n_classes,
            keys=keys,
            dropout=np.array([float(c["dropout"]) for c in configs]),
            device=device,
        )
        lr = np.array([[float(c["learning_rate"])] * epochs for c in configs])
        return GroupSpec(model, BatchedAdam(model.params), lr, int(c0["batch_size"]), list(keys))
