"""Batched networks: G independent networks of one shape whose parameters are stacked along a leading axis.

A forward pass is one batched matrix product per layer (``torch.baddbmm``), so
G configurations share each kernel launch; each run keeps its own activation
function, dropout rate and random stream. Nothing mixes across the G axis, so
run g computes exactly what it would compute alone.

:class:`MSEStep` is the regressors' training step (forward, MSE loss, backward)
written out by hand: autograd's own operations in autograd's order, so the same
bits, but into buffers kept across steps and without a graph.
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

    def __init__(
        self,
        n_in: int,
        widths: Sequence[int],
        n_out: int,
        *,
        keys: Sequence[int],
        activations: Sequence[Sequence[str]],
        dropout: np.ndarray,
        init: Init,
        device: torch.device | str = "cpu",
    ):
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
        scale = np.where(p < 1, 1.0 / np.maximum(1.0 - p, 1e-12), 0.0)
        # per layer, (G, 1): the integer form of `uniform >= p` (data/rng.py) and the kept units' multiplier
        self._keep = [
            rng.keep_threshold(torch.tensor(p[:, i], dtype=torch.float32, device=self.device).view(-1, 1))
            for i in range(len(widths))
        ]
        self._scale = [
            torch.tensor(scale[:, i], dtype=torch.float32, device=self.device).view(-1, 1)
            for i in range(len(widths))
        ]
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
        return [
            torch.stack([run[i] for run in per_run]).to(self.device).requires_grad_(True)
            for i in range(len(per_run[0]))
        ]

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
                h = h * self.dropout_mask(i, h.shape[1], counter)
        return h

    def dropout_mask(self, i: int, rows: int, counter: int) -> torch.Tensor:
        """(G, rows, widths[i]) inverted-dropout multiplier of hidden layer i: 0 or 1/(1-p), from (key, counter, i)."""
        H = self.sizes[i + 1]
        return rng.dropout_multiplier(
            self.keys, counter * 8 + i, rows * H, self._keep[i], self._scale[i]
        ).view(self.G, rows, H)

    def n_params(self) -> np.ndarray:
        n = sum((a + 1) * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        return np.full(self.G, n, dtype=np.int64)

    def macs_per_sample(self) -> int:
        return int(sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])))


class _RowBuffers:
    """The activation and gradient buffers of one minibatch size (an epoch has at most two: B and the remainder).

    Also keeps the views the step takes of them every time (per-activation blocks, column 0 of the
    padded output), which saves a few microseconds of Python per step on small networks.
    """

    def __init__(self, model: BatchedMLP, rows: int):
        G, dtype, dev = model.G, model.params[0].dtype, model.device
        hidden = model.sizes[1:-1]
        self.z = [torch.empty(G, rows, H, dtype=dtype, device=dev) for H in hidden]  # activation outputs
        self.dropped = [
            torch.empty(G, rows, H, dtype=dtype, device=dev) if model._any_dropout[i] else None
            for i, H in enumerate(hidden)
        ]  # activation outputs after dropout
        self.grad_h = [torch.empty(G, rows, H, dtype=dtype, device=dev) for H in hidden]  # gradient at each
        # (lo:hi slice of z, of grad_h, activation) per block of runs of one activation
        self.blocks = [
            [(z[lo:hi], gh[lo:hi], a) for lo, hi, a in model._blocks[i]]
            for i, (z, gh) in enumerate(zip(self.z, self.grad_h))
        ]
        self.out = torch.empty(G, rows, 2, dtype=dtype, device=dev)  # padded network output
        self.pred = self.out[..., :1].squeeze(-1)  # (G, rows) view: the real output column
        self.grad_out = torch.zeros(G, rows, 2, dtype=dtype, device=dev)  # its gradient; column 1 stays zero
        self.grad_pred = self.grad_out[..., 0]


class MSEStep:
    """The forward and backward pass of a :class:`BatchedMLP` regressor under the MSE loss, written out by hand.

    ``step(x, y, alive, counter=c)`` returns the (G,) minibatch losses
    ``torch.where(alive, batch_loss("regression", model.forward(x, train=True, counter=c), y), 0)`` and
    writes the gradients of their sum into ``grads`` -- what autograd's ``loss.sum().backward()``
    accumulates into zeroed ``p.grad`` buffers, but without its costs: every weight gradient is one
    ``torch.bmm(..., out=grads[k])`` into its preallocated buffer (autograd allocates a fresh
    (G, fan_in, fan_out) tensor per layer and step, then adds it into ``p.grad``, which must be zeroed
    again), activations live in buffers reused across steps, and there is no graph to record.

    Bitwise equality with the autograd path (sweeps resume across the switch) is the point, so each
    step performs autograd's own operations, with the same operands, shapes and strides (so the same
    kernels and the same summation orders), as a trace of ``backward()`` under a
    ``TorchDispatchMode`` shows and torch's derivatives.yaml / FunctionsManual.cpp define them:

    * sum -> where -> mean(dim=1): the output gradient ``where(alive, 1, 0)`` spread over the rows
      and *divided* by their count (``mean_backward``; the last minibatch of an epoch may be smaller);
    * pow(2): ``grad * (2.0 * d)`` (``pow_backward``), in that order of rounding;
    * ``[..., :1]`` of the padded last layer: the padded output's gradient has a zero second column
      (``slice_backward``); the weight and bias gradients are column 0 of the padded products;
    * baddbmm: ``grad.bmm(w.transpose(1, 2))`` for the layer input, ``h.transpose(1, 2).bmm(grad)``
      for the weight, ``grad.sum([1], keepdim=True)`` for the broadcast bias (the engine's ``sum_to``);
    * dropout: ``grad * mask`` with the forward's mask tensor; relu: ``threshold_backward(grad,
      result, 0)``; tanh: ``tanh_backward(grad, result)``, each on the same per-activation blocks of
      runs as the forward (cat's backward hands each block its slice of the gradient).

    Elementwise steps run in place on the buffers (same kernel, same values). The one thing that can
    differ is the sign of a zero gradient: autograd adds each gradient into a zeroed buffer (and
    merges activation blocks by adding zero-padded slices), and ``0.0 + -0.0`` is ``+0.0``. A zero's
    sign changes no nonzero result downstream, and it never reaches Adam's state (FCNet's optimizer):
    the moments start at +0, and ``m + (1 - beta1) * (g - m)`` and ``g * g`` give the same bits for
    either zero, so the moments and the parameters stay bitwise equal (tests/data/test_engine.py).
    """

    def __init__(self, model: BatchedMLP, grads: list[torch.Tensor]):
        if not self.supports(model):
            raise ValueError("MSEStep needs a BatchedMLP with one output and hidden layers wider than 1")
        self.model, self.grads = model, grads
        G, K = model.G, model.sizes[-2]
        dtype, dev = model.params[0].dtype, model.device
        # the padded last layer (forward's torch.cat with zeros): column 0 is refreshed every step, column 1 stays 0
        self._w2 = torch.zeros(G, K, 2, dtype=dtype, device=dev)
        self._b2 = torch.zeros(G, 1, 2, dtype=dtype, device=dev)
        self._grad_w2 = torch.empty_like(self._w2)
        self._grad_b2 = torch.empty_like(self._b2)
        self._w2_col, self._b2_col = self._w2[..., :1], self._b2[..., :1]
        self._grad_w2_col, self._grad_b2_col = self._grad_w2[..., :1], self._grad_b2[..., :1]
        self._zero = torch.zeros((), dtype=dtype, device=dev)
        self._rows: dict[int, _RowBuffers] = {}

    @staticmethod
    def supports(model: object) -> bool:
        """Whether ``model`` is the network this step is written for (forward pads exactly the last layer)."""
        return (
            isinstance(model, BatchedMLP) and model.sizes[-1] == 1 and all(w > 1 for w in model.sizes[1:-1])
        )

    @torch.no_grad()
    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, alive: torch.Tensor, *, counter: int
    ) -> torch.Tensor:
        """x (G, B, n_in) and y (G, B) one minibatch per run, alive (G,) bool; returns the (G,) losses."""
        m, grads, params = self.model, self.grads, self.model.params
        L = len(m.sizes) - 2
        rows = x.shape[1]
        buf = self._rows.get(rows)
        if buf is None:
            buf = self._rows[rows] = _RowBuffers(m, rows)

        # forward, as BatchedMLP.forward(train=True); inputs[i] is what layer i multiplies (its batch1)
        inputs, masks = [x], [None] * L
        for i in range(L):
            z = torch.baddbmm(params[2 * i + 1], inputs[i], params[2 * i], out=buf.z[i])
            for zb, _, a in buf.blocks[i]:
                (torch.relu_ if a == "relu" else torch.tanh_)(zb)
            if m._any_dropout[i]:
                masks[i] = m.dropout_mask(i, rows, counter)
                inputs.append(torch.mul(z, masks[i], out=buf.dropped[i]))
            else:
                inputs.append(z)
        self._w2_col.copy_(params[-2])
        self._b2_col.copy_(params[-1])
        torch.baddbmm(self._b2, inputs[L], self._w2, out=buf.out)
        d = buf.pred - y  # metrics.batch_loss("regression"): (out.squeeze(-1) - y).pow(2).mean(dim=1)
        loss = torch.where(alive, d.pow(2).mean(dim=1), self._zero)

        # backward: sum, where and mean give each row 1/rows (0 for dead runs); pow(2) multiplies by 2d
        grad_mean = alive.to(d.dtype).unsqueeze(1) / rows
        torch.mul(grad_mean, d * 2.0, out=buf.grad_pred)
        g = buf.grad_out
        torch.sum(g, dim=[1], keepdim=True, out=self._grad_b2)
        grads[-1].copy_(self._grad_b2_col)
        torch.bmm(inputs[L].transpose(1, 2), g, out=self._grad_w2)
        grads[-2].copy_(self._grad_w2_col)
        for i in reversed(range(L)):
            w_next = self._w2 if i == L - 1 else params[2 * (i + 1)]
            gh = torch.bmm(g, w_next.transpose(1, 2), out=buf.grad_h[i])
            if masks[i] is not None:
                gh.mul_(masks[i])
            for zb, gb, a in buf.blocks[i]:
                if a == "relu":
                    torch.ops.aten.threshold_backward.grad_input(gb, zb, 0, grad_input=gb)
                else:
                    torch.ops.aten.tanh_backward.grad_input(gb, zb, grad_input=gb)
            torch.bmm(inputs[i].transpose(1, 2), gh, out=grads[2 * i])
            torch.sum(gh, dim=[1], keepdim=True, out=grads[2 * i + 1])
            g = gh
        return loss
