"""Optimizers over stacked parameters, each run with its own learning rate (and momentum, weight decay).

They follow ``torch.optim.Adam`` and ``torch.optim.SGD`` (no Nesterov, L2 weight
decay added to the gradient) step for step; a test checks both against torch's
own optimizers on a single run.
"""

from __future__ import annotations

import torch


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


class BatchedAdam:
    """Adam over stacked parameters with a learning rate per run (betas, eps as torch's defaults).

    Uses torch's fused CPU/GPU Adam kernel (one pass over each run's tensors, called
    once per distinct learning rate) when this torch has it, else plain tensor ops.
    Each run's slice is updated by itself, so grouping never changes a run's numbers.
    """

    def __init__(
        self,
        params: list[torch.Tensor],
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        fused: bool | None = None,
    ):
        self.params, self.b1, self.b2, self.eps = params, betas[0], betas[1], eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0
        self.fused = hasattr(torch, "_fused_adam_") if fused is None else fused
        if self.fused:
            G = params[0].shape[0]
            self._pv = [[p.detach()[g] for p in params] for g in range(G)]
            self._mv = [[m[g] for m in self.m] for g in range(G)]
            self._vv = [[v[g] for v in self.v] for g in range(G)]
            self._step = torch.zeros(
                (), dtype=torch.float32, device=params[0].device
            )  # shared: all runs step together

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        self.t += 1
        if self.fused:
            self._fused_step(grads, lr)
            return
        c1 = 1 - self.b1**self.t
        c2 = 1 - self.b2**self.t
        # p -= lr/c1 * m / (sqrt(v/c2) + eps), written as lr*sqrt(c2)/c1 * m / (sqrt(v) + eps*sqrt(c2))
        step = lr * (c2**0.5 / c1)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.lerp_(g, 1 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            denom = v.sqrt().add_(self.eps * c2**0.5)
            p.addcdiv_(m * _col(step, p), denom, value=-1.0)

    def _grad_views(self, grads: list[torch.Tensor]) -> list[list[torch.Tensor]]:
        """Per-run views of the gradient tensors, kept while the engine reuses the same buffers."""
        if getattr(self, "_gsrc", None) is None or any(a is not b for a, b in zip(self._gsrc, grads)):
            self._gsrc = list(grads)
            self._gv = [[gr[g] for gr in grads] for g in range(len(self._pv))]
        return self._gv

    def _fused_step(self, grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        self._step += (
            1  # the fused kernel reads the step count; torch.optim.Adam increments it before the call
        )
        gv = self._grad_views(grads)
        by_lr: dict[float, list[int]] = {}
        for g, value in enumerate(lr.tolist()):
            by_lr.setdefault(value, []).append(g)
        for value, runs in by_lr.items():
            torch._fused_adam_(
                [t for g in runs for t in self._pv[g]],
                [t for g in runs for t in gv[g]],
                [t for g in runs for t in self._mv[g]],
                [t for g in runs for t in self._vv[g]],
                [],
                [self._step] * (len(runs) * len(self.params)),
                lr=value,
                beta1=self.b1,
                beta2=self.b2,
                weight_decay=0.0,
                eps=self.eps,
                amsgrad=False,
                maximize=False,
            )

    @torch.no_grad()
    def reset(self, mask: torch.Tensor) -> None:
        """Zero the state of the runs where ``mask`` is True (diverged runs)."""
        for m, v in zip(self.m, self.v):
            m[mask] = 0
            v[mask] = 0


class BatchedSGD:
    def __init__(self, params: list[torch.Tensor], *, momentum: torch.Tensor, weight_decay: torch.Tensor):
        self.params, self.momentum, self.wd = params, momentum, weight_decay
        self.buf = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        first = self.t == 0
        self.t += 1
        for p, g, b in zip(self.params, grads, self.buf):
            d = g + _col(self.wd, p) * p
            if first:  # torch.optim.SGD starts the buffer at the first gradient
                b.copy_(d)
            else:
                b.mul_(_col(self.momentum, p)).add_(d)
            p.sub_(_col(lr, p) * b)

    @torch.no_grad()
    def reset(self, mask: torch.Tensor) -> None:
        for b in self.buf:
            b[mask] = 0
