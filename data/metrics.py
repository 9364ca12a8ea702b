"""The per-epoch metrics of the two tasks, declared once (name, direction, bounds, split) and computed batched."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from benchmarks.protocol import Metric

INF = math.inf

REGRESSION = [
    Metric(
        "train_loss",
        "minimize",
        0.0,
        INF,
        "train",
        description="mean minibatch MSE over the epoch, in training mode (dropout on), standardized target",
    ),
    Metric(
        "train_mse",
        "minimize",
        0.0,
        INF,
        "train",
        description="MSE on the whole training split after the epoch, evaluation mode, standardized target",
    ),
    Metric(
        "valid_loss",
        "minimize",
        0.0,
        INF,
        "valid",
        description="the loss (MSE) on the validation split after the epoch; equal to valid_mse "
        "because the loss is the MSE (kept for the FCNet schema)",
    ),
    Metric(
        "valid_mse",
        "minimize",
        0.0,
        INF,
        "valid",
        description="MSE on the validation split after the epoch, standardized target",
    ),
    Metric(
        "test_mse",
        "minimize",
        0.0,
        INF,
        "test",
        description="MSE on the test split after the epoch, standardized target",
    ),
]

CLASSIFICATION = [
    m
    for split in ("train", "valid", "test")
    for m in (
        Metric(
            f"{split}_cross_entropy",
            "minimize",
            0.0,
            INF,
            split,
            description=f"mean cross-entropy (nats) on the whole {split} split after the epoch, evaluation mode",
        ),
        Metric(
            f"{split}_accuracy",
            "maximize",
            0.0,
            1.0,
            split,
            description=f"accuracy on the {split} split after the epoch",
        ),
        Metric(
            f"{split}_balanced_accuracy",
            "maximize",
            0.0,
            1.0,
            split,
            description=f"balanced accuracy (mean per-class recall) on the {split} split after the epoch",
        ),
    )
]


def metrics_for(task: str) -> list[Metric]:
    if task == "regression":
        return list(REGRESSION)
    if task == "classification":
        return list(CLASSIFICATION)
    raise ValueError(f"unknown task {task!r}; allowed: regression, classification")


def batch_loss(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(G,) mean loss of each run on its minibatch: out (G, B, k), y (G, B)."""
    if task == "regression":
        return (out.squeeze(-1) - y).pow(2).mean(dim=1)
    G, B, K = out.shape
    return F.cross_entropy(out.reshape(G * B, K), y.reshape(-1), reduction="none").view(G, B).mean(dim=1)


class SplitAccumulator:
    """Accumulates one split's evaluation over row chunks; ``result`` gives (G,) tensors per statistic."""

    def __init__(self, task: str, n_classes: int):
        self.task, self.K = task, n_classes
        self.sq = self.ce = self.correct = self.per_class = None
        self.n = 0

    def add(self, out: torch.Tensor, y: torch.Tensor) -> None:
        """out (G, N, k) for rows shared by all runs, y (N,)."""
        G, N, _ = out.shape
        self.n += N
        if self.task == "regression":
            s = (out.squeeze(-1) - y).pow(2).sum(dim=1, dtype=torch.float64)
            self.sq = s if self.sq is None else self.sq + s
            return
        logp = torch.log_softmax(out, dim=-1)
        ce = -logp.gather(2, y.view(1, N, 1).expand(G, N, 1)).squeeze(-1).sum(dim=1, dtype=torch.float64)
        hit = (out.argmax(dim=-1) == y).to(torch.float64)  # (G, N)
        onehot = F.one_hot(y, self.K).to(torch.float64)  # (N, K)
        pc = hit @ onehot  # (G, K) correct per class
        self.ce = ce if self.ce is None else self.ce + ce
        self.correct = hit.sum(1) if self.correct is None else self.correct + hit.sum(1)
        self.per_class = pc if self.per_class is None else self.per_class + pc

    def result(self, class_counts: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if self.task == "regression":
            return {"mse": self.sq / self.n}
        present = class_counts > 0
        recall = self.per_class[:, present] / class_counts[present].to(torch.float64)
        return {
            "cross_entropy": self.ce / self.n,
            "accuracy": self.correct / self.n,
            "balanced_accuracy": recall.mean(dim=1),
        }
