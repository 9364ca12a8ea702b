"""What a model family is: a search space, a sampler, a grouping rule, and how to build a group for the engine.

See docs/data.md ("Adding a model family") for a worked example.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import ConfigSpace as CS
import numpy as np
import pandas as pd
import torch

from benchmarks.protocol import Metric
from benchmarks.space import choices

from ..costmodel import Workload
from ..datasets import Splits
from ..engine import GroupSpec
from ..metrics import metrics_for

#: the configurations of one group, and their runs' keys (seeds), as ``Family.build`` takes them
Configs = Sequence[Mapping[str, Any]]
Keys = Sequence[int]
Device = torch.device


class Family(ABC):
    """A model family: one module per family under ``data/families/``."""

    #: the name used on the command line (``family=NAME``) and in table names
    name: str
    #: the task it trains: "regression" or "classification"
    task: str
    #: the default (and maximum) number of epochs, the fidelity axis
    epochs: int
    #: the metric the tables optimize, and its test counterpart
    objective: str
    test_objective: str
    description: str = ""
    #: keyword arguments for data.datasets.load_splits (e.g. {"raw_features": True} for image layouts)
    preprocessing: dict = {}
    #: what the runs of one group share (:meth:`group_key`), for the error of :meth:`check_group`
    group_shares: str = "batch size and widths"

    @abstractmethod
    def space(self) -> CS.ConfigurationSpace:
        """The search space (the table's manifest records it)."""

    @abstractmethod
    def sample(self, n: int, seed: int) -> pd.DataFrame:
        """``n`` distinct configurations, fixed by ``seed``, one per row (columns in space order)."""

    def sampling_description(self) -> str:
        """How :meth:`sample` draws, in words, for the data card (override when a family samples otherwise)."""
        space = self.space()
        if all(
            isinstance(hp, (CS.OrdinalHyperparameter, CS.CategoricalHyperparameter)) for hp in space.values()
        ):
            total = int(np.prod([len(choices(hp)) for hp in space.values()]))
            return f"drawn uniformly without replacement from the {total:,}-configuration grid of the {self.name} space"
        return "drawn independently per hyperparameter (uniform, log-uniform where the space says log)"

    @abstractmethod
    def group_key(self, config: Mapping[str, Any], data: Splits) -> Hashable:
        """Runs with equal keys have the same network shape and batch size, so they can train together."""

    @abstractmethod
    def build(self, configs: Configs, keys: Keys, data: Splits, *, epochs: int, device: Device) -> GroupSpec:
        """The batched network, optimizer and schedule of G runs (one config and key per run); a family's
        ``build`` starts with :meth:`check_group`."""

    def layer_sizes(self, config: Mapping[str, Any], data: Splits) -> list[int]:
        """Input, hidden and output widths of an MLP family's network (used by :meth:`workload`)."""
        raise NotImplementedError(f"family {self.name!r} must define layer_sizes or workload")

    def within_group_order(self, config: Mapping[str, Any]) -> tuple:
        """Sort key of runs inside a group (e.g. by activation, so that equal ones sit side by side)."""
        return ()

    def workload(self, config: Mapping[str, Any], data: Splits) -> Workload:
        """What one epoch of this configuration does, for the cost model."""
        sizes = self.layer_sizes(config, data)
        n = len(data.y_train)
        return Workload(
            steps=-(-n // int(config["batch_size"])),
            layers=len(sizes) - 1,
            params=int(sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))),
            macs=int(sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))),
            train_rows=n,
            eval_rows=n + len(data.y_valid) + len(data.y_test),
        )

    def metrics(self) -> list[Metric]:
        return metrics_for(self.task)

    def check_group(self, configs: Configs, data: Splits) -> Hashable:
        """Check ``data`` (:meth:`check_data`) and that ``configs`` are one group (one :meth:`group_key`); the key."""
        self.check_data(data)
        shape = {self.group_key(c, data) for c in configs}
        if len(shape) != 1:
            raise ValueError(f"one group must share {self.group_shares}, got {sorted(shape)}")
        return shape.pop()

    def check_data(self, data: Splits) -> None:
        if data.task != self.task:
            raise ValueError(
                f"family {self.name!r} trains {self.task} models, but dataset {data.name!r} is a "
                f"{data.task} task"
            )

    def attributes(self) -> dict[str, str]:
        return {"n_params": "number of trainable parameters of the network"}


def sample_grid(space: CS.ConfigurationSpace, n: int, seed: int) -> pd.DataFrame:
    """``n`` distinct configurations drawn uniformly without replacement from a finite grid space."""
    values = [list(choices(hp)) for hp in space.values()]
    sizes = [len(v) for v in values]
    total = int(np.prod(sizes))
    if not 1 <= n <= total:
        raise ValueError(f"n_configs={n} must be between 1 and the grid size {total}")
    flat = np.random.default_rng(seed).choice(total, size=n, replace=False)
    cols = {}
    for name, ch, size in zip(reversed(list(space.keys())), reversed(values), reversed(sizes)):
        cols[name] = [ch[i] for i in flat % size]
        flat = flat // size
    return pd.DataFrame({k: cols[k] for k in space.keys()})
