"""The training engine: trains a group of configurations at once, epoch by epoch, and records their curves.

A model family turns G runs (configuration, seed) into a :class:`GroupSpec`: a
batched network, a batched optimizer, a per-run learning-rate schedule and one
batch size. :func:`train_group` then runs the usual loop (shuffle, minibatch
steps, evaluate every split after every epoch) for all G runs together. A run
whose loss or outputs become NaN or infinite is marked diverged at that epoch:
its metrics from then on are NaN, its parameters are zeroed (it still rides through the group's
kernels, so it saves no time), and the other runs go on unaffected. Gradients come from autograd, except
for MLP regressors (FCNet), whose hand-written step (:class:`nets.MSEStep`)
gives the same bits faster; ``GroupSpec.backward`` can force either.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from . import rng
from .checks import SettingsError
from .datasets import Splits
from .metrics import SplitAccumulator, batch_loss, metrics_for
from .nets import BatchedModel, MSEStep


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` means CUDA when torch sees a GPU, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        d = torch.device(device)
    except RuntimeError:
        raise SettingsError(f"unknown device {device!r}; allowed: auto, cpu, cuda, cuda:N") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(
            f"device {device!r} asked for, but torch sees no CUDA GPU here; use device=auto or cpu"
        )
    return d


@dataclass
class GroupSpec:
    """Everything the engine needs to train G runs together."""

    model: BatchedModel
    optimizer: object  # BatchedAdam or BatchedSGD
    lr: np.ndarray  # (G, epochs) learning rate of each run in each epoch
    batch_size: int
    keys: list[int]  # per-run random keys (data/rng.py)
    # how gradients are computed: "manual" is the hand-written step of nets.MSEStep (BatchedMLP regressors
    # only; bitwise the same numbers, faster), "autograd" is loss.sum().backward(), "auto" the first that applies
    backward: Literal["auto", "manual", "autograd"] = "auto"

    @property
    def epochs(self) -> int:
        return int(self.lr.shape[1])


@dataclass
class GroupResult:
    metrics: dict[str, np.ndarray]  # name -> (G, epochs) float64; NaN from the diverged epoch on
    diverged_epoch: np.ndarray  # (G,) index of the epoch where the run diverged, -1 if it never did
    epoch_seconds: np.ndarray  # (epochs,) wall seconds the whole group spent in each epoch
    n_params: np.ndarray  # (G,)
    macs_per_sample: int
    device: str = ""
    extra: dict = field(default_factory=dict)


#: steps per epoch the dropout counter (epoch * this + step) can tell apart
_STEPS_PER_EPOCH_MAX = 65536
_EPOCH_GATHER_BYTES = 64 * 2**20


def _eval_chunk(G: int, width: int) -> int:
    """Rows per evaluation chunk: keep the (G, rows, width) activations near cache size (about 4 MB)."""
    return int(max(64, min(4096, 2**20 // max(1, G * width))))


def _manual_step(spec: GroupSpec, task: str, grads: list[torch.Tensor]) -> MSEStep | None:
    """The hand-written training step when ``spec.backward`` asks for it or leaves it to us and it applies,
    else None."""
    if spec.backward not in ("auto", "manual", "autograd"):
        raise ValueError(f"backward={spec.backward!r}; allowed: auto, manual, autograd")
    fits = task == "regression" and MSEStep.supports(spec.model)
    if spec.backward == "manual" and not fits:
        raise ValueError("backward='manual' needs a regression task and a BatchedMLP with one output")
    return MSEStep(spec.model, grads) if fits and spec.backward != "autograd" else None


def _epoch_stats(
    model: BatchedModel,
    data: Splits,
    xs: dict[str, torch.Tensor],
    ys: dict[str, torch.Tensor],
    counts: dict[str, torch.Tensor | None],
    chunk: int,
    train_loss: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Every split's metrics of the G runs after an epoch, evaluated in chunks of ``chunk`` rows; the running
    ``train_loss`` kept for regression (also as ``valid_loss``, the validation MSE), dropped for
    classification."""
    task = data.task
    stats: dict[str, torch.Tensor] = {"train_loss": train_loss}
    with torch.no_grad():
        for split in ("train", "valid", "test"):
            acc = SplitAccumulator(task, data.n_classes)
            x, y = xs[split], ys[split]
            for i in range(0, x.shape[0], chunk):
                acc.add(model.forward(x[i : i + chunk], train=False), y[i : i + chunk])
            for k, v in acc.result(counts[split]).items():
                stats[f"{split}_{k}"] = v
    if task == "regression":
        stats["valid_loss"] = stats["valid_mse"]
    else:
        del stats["train_loss"]
    return stats


def _stop_diverged(
    model: BatchedModel,
    opt: Any,  # BatchedAdam or BatchedSGD
    stats: dict[str, torch.Tensor],
    alive: torch.Tensor,
    diverged: np.ndarray,
    epoch: int,
) -> None:
    """Runs whose metrics turned non-finite this epoch: recorded in ``diverged``, cleared from ``alive`` (in
    place), their parameters zeroed and their optimizer state reset."""
    finite = torch.stack([torch.isfinite(v) for v in stats.values()]).all(dim=0)
    newly = alive & ~finite
    if bool(newly.any()):
        diverged[newly.cpu().numpy()] = epoch
        alive &= ~newly  # in place: the caller's mask
        with torch.no_grad():
            for p in model.params:
                p[newly] = 0
        opt.reset(newly)


def train_group(
    spec: GroupSpec,
    data: Splits,
    *,
    device: torch.device | str = "cpu",
    on_epoch: Callable[[int], None] | None = None,
) -> GroupResult:
    """Train the G runs of ``spec`` on ``data``; ``on_epoch(e)`` is called after each epoch."""
    device = torch.device(device)
    model, opt, task = spec.model, spec.optimizer, data.task
    G, E, B = len(spec.keys), spec.epochs, int(spec.batch_size)
    if B < 1:
        raise ValueError(f"batch_size must be >= 1, got {B}")
    xs = {s: torch.as_tensor(getattr(data, f"x_{s}"), device=device) for s in ("train", "valid", "test")}
    ys = {s: torch.as_tensor(getattr(data, f"y_{s}"), device=device) for s in ("train", "valid", "test")}
    counts = {
        s: torch.bincount(ys[s], minlength=data.n_classes) if task == "classification" else None for s in ys
    }
    n = xs["train"].shape[0]
    steps = -(-n // B)
    if steps > _STEPS_PER_EPOCH_MAX:  # the dropout counter packs (epoch, step); more steps would reuse masks
        raise ValueError(
            f"{steps} steps per epoch (training rows {n}, batch size {B}) exceed the "
            f"{_STEPS_PER_EPOCH_MAX} the dropout stream allows; use a larger batch size or max_train_rows"
        )
    lr_all = torch.as_tensor(spec.lr, dtype=torch.float32, device=device)
    alive = torch.ones(G, dtype=torch.bool, device=device)
    names = [m.name for m in metrics_for(task)]
    out = {m: np.full((G, E), np.nan) for m in names}
    diverged = np.full(G, -1, dtype=np.int64)
    seconds = np.zeros(E)
    width = max(getattr(model, "sizes", [64]))
    chunk = _eval_chunk(G, width)

    # persistent gradient buffers, so the optimizer can keep views of them instead of slicing fresh tensors
    # each step: the manual step writes them; autograd accumulates into them as p.grad, zeroed after every step
    grads = [torch.zeros_like(p) for p in model.params]
    manual = _manual_step(spec, task, grads)
    if manual is None:
        for p, gr in zip(model.params, grads):
            p.grad = gr
    zero = torch.zeros((), device=device)
    for epoch in range(E):
        t0 = time.perf_counter()
        perm = torch.as_tensor(np.stack([rng.permutation(k, epoch, n) for k in spec.keys]), device=device)
        lr = lr_all[:, epoch]
        running = torch.zeros(G, dtype=torch.float64, device=device)
        # gather the epoch's shuffled copy once when it is small, else per step
        whole = G * n * xs["train"][0].numel() * 4 <= _EPOCH_GATHER_BYTES
        x_ep, y_ep = (xs["train"][perm], ys["train"][perm]) if whole else (None, None)
        for s in range(steps):
            idx = perm[:, s * B : (s + 1) * B]
            if whole:
                xb, yb = x_ep[:, s * B : (s + 1) * B], y_ep[:, s * B : (s + 1) * B]
            else:
                xb, yb = xs["train"][idx], ys["train"][idx]
            counter = epoch * _STEPS_PER_EPOCH_MAX + s
            if manual is not None:
                loss = manual(xb, yb, alive, counter=counter)
                opt.step(grads, lr)
            else:
                pred = model.forward(xb, train=True, counter=counter)
                loss = torch.where(alive, batch_loss(task, pred, yb), zero)
                loss.sum().backward()  # each run's gradient is its own: the runs share no parameter
                opt.step(grads, lr)
                for gr in grads:
                    gr.zero_()
            running += loss.detach().to(torch.float64) * idx.shape[1]
        stats = _epoch_stats(model, data, xs, ys, counts, chunk, running / n)
        _stop_diverged(model, opt, stats, alive, diverged, epoch)
        host = {k: v.cpu().numpy() for k, v in stats.items()}
        a = alive.cpu().numpy()
        for m in names:
            out[m][a, epoch] = host[m][a]
        seconds[epoch] = time.perf_counter() - t0
        if on_epoch is not None:
            on_epoch(epoch)
    return GroupResult(out, diverged, seconds, model.n_params(), model.macs_per_sample(), str(device))
