"""Batched networks: G independent networks of one shape whose parameters are stacked along a leading axis.

A forward pass is one batched matrix product per layer (``torch.baddbmm``), so
G configurations share each kernel launch; each run keeps its own activation
function, dropout rate and random stream. Nothing mixes across the G axis, so
run g computes exactly what it would compute alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import torch

from . import rng

Init = Literal["glorot_uniform", "torch_default"]


class BatchedModel(Protocol):
    """What the training engine needs from a model family's network."""

    params: list[torch.Tensor]  # each shaped (G, ...); requires_grad

    def forward(self, x: torch.Tensor, *, train: bool, counter: int) -> torch.Tensor:
        """x: (G, B, ...) per-run inputs, or (N, ...) shared by all runs; returns (G, B or N, n_outputs)."""

    def n_params(self) -> np.ndarray:
        """(G,) trainable parameters per run."""

    def macs_per_sample(self) -> int:
        """Multiply-accumulates of one forward pass of one sample (for the cost model and FLOP counts)."""


_ACT = {"relu": torch.relu, "tanh": torch.tanh}


def _blocks(acts: list[str]) -> list[tuple[int, int, str]]:
    """Runs of equal activation as (start, stop, name)."""
    out: list[tuple[int, int, str]] = []
    for g, a in enumerate(acts):
        if out and out[-1][2] == a:
            out[-1] = (out[-1][0], g + 1, a)
        else:
            out.append((g, g + 1, a))
    return out


class BatchedMLP:
    """G fully connected networks ``in -> widths[0] -> ... -> widths[-1] -> n_out`` with per-run settings.

    ``activations`` is (G, L) of "relu"/"tanh", ``dropout`` (G, L) rates applied
    after each hidden layer's activation (inverted dropout, as in Keras and torch).
    """

    def __init__(self, n_in: int, widths: Sequence[int], n_out: int, *, keys: Sequence[int],
                 activations: Sequence[Sequence[str]], dropout: np.ndarray, init: Init,
                 device: torch.device | str = "cpu"):
        self.sizes = [int(n_in), *[int(w) for w in widths], int(n_out)]
        self.G = len(keys)
        self.device = torch.device(device)
        acts = np.asarray(activations, dtype=object).reshape(self.G, len(widths))
        bad = set(acts.ravel()) - {"relu", "tanh"}
        if bad:
            raise ValueError(f"unknown activation(s) {sorted(bad)}; allowed: relu, tanh")
        # each layer's runs as contiguous blocks of one activation (callers sort runs by activation)
        self._blocks = [_blocks(list(acts[:, i])) for i in range(len(widths))]
        p = np.asarray(dropout, dtype=np.float64).reshape(self.G, len(widths))
        if np.any((p < 0) | (p > 1)):
            raise ValueError(f"dropout rates must lie in [0, 1], got {p[(p < 0) | (p > 1)][:3]}")
        self._p = [torch.tensor(p[:, i], dtype=torch.float32, device=self.device).view(-1, 1, 1) for i in range(len(widths))]
        scale = np.where(p < 1, 1.0 / np.maximum(1.0 - p, 1e-12), 0.0)
        self._scale = [torch.tensor(scale[:, i], dtype=torch.float32, device=self.device).view(-1, 1, 1)
                       for i in range(len(widths))]
        self._any_dropout = [bool((p[:, i] > 0).any()) for i in range(len(widths))]
        self.keys = torch.tensor(list(keys), dtype=torch.int64, device=self.device)
        self.params = self._init(list(keys), init)

    def _init(self, keys: list[int], init: Init) -> list[torch.Tensor]:
        per_run = []
        for k in keys:
            g = torch.Generator().manual_seed(int(k))
            tensors = []
            for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:]):
                if init == "glorot_uniform":  # Keras Dense default: Glorot-uniform weights, zero biases
                    a = math.sqrt(6.0 / (fan_in + fan_out))
                    w = (torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * a
                    b = torch.zeros(1, fan_out)
                elif init == "torch_default":  # torch.nn.Linear default
                    a = 1.0 / math.sqrt(fan_in)
                    w = (torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * a
                    b = (torch.rand(1, fan_out, generator=g) * 2 - 1) * a
                else:
                    raise ValueError(f"unknown init {init!r}; allowed: glorot_uniform, torch_default")
                tensors += [w, b]
            per_run.append(tensors)
        return [torch.stack([run[i] for run in per_run]).to(self.device).requires_grad_(True)
                for i in range(len(per_run[0]))]

    def forward(self, x: torch.Tensor, *, train: bool, counter: int = 0) -> torch.Tensor:
        n_hidden = len(self.sizes) - 2
        h = x
        for i in range(n_hidden + 1):
            w, b = self.params[2 * i], self.params[2 * i + 1]
            if w.shape[-1] == 1:
                # a one-column product takes another kernel (gemv) when G == 1, which rounds differently;
                # a zero second column keeps grouped and solo runs bit-identical
                w = torch.cat([w, torch.zeros_like(w)], dim=-1)
                b = torch.cat([b, torch.zeros_like(b)], dim=-1)
                h = (torch.baddbmm(b, h, w) if h.dim() == 3 else torch.matmul(h, w) + b)[..., :1]
            else:
                h = torch.baddbmm(b, h, w) if h.dim() == 3 else torch.matmul(h, w) + b
            if i == n_hidden:
                break
            blocks = self._blocks[i]
            if len(blocks) == 1:
                h = _ACT[blocks[0][2]](h)
            else:
                h = torch.cat([_ACT[a](h[lo:hi]) for lo, hi, a in blocks])
            if train and self._any_dropout[i]:
                G, B, H = h.shape
                u = rng.uniform(self.keys, counter * 8 + i, B * H).view(G, B, H)
                h = h * ((u >= self._p[i]).to(h.dtype) * self._scale[i])
        return h

    def n_params(self) -> np.ndarray:
        n = sum((a + 1) * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        return np.full(self.G, n, dtype=np.int64)

    def macs_per_sample(self) -> int:
        return int(sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])))
