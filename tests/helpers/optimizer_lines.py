"""Helpers for the optimizer tests (no tests here): a tiny one-dimensional table and a hand-driven ask/tell loop."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ConfigSpace as CS
import numpy as np
import pandas as pd

from benchmarks.protocol import Fidelity, Metric
from benchmarks.table import TableSpec, write_table
from benchmarks.tabular import TabularBenchmark
from runners.optimizer import ConfigSampler, Optimizer, Trial, TrialResult

#: x = 0..N-1 with quality q(x) = |x - 7| / N (best at x = 7)
N_X = 30


def line_space(n: int = N_X) -> CS.ConfigurationSpace:
    return CS.ConfigurationSpace({"x": CS.OrdinalHyperparameter("x", list(range(n)))})


def quality(x: int, n: int = N_X) -> float:
    return abs(x - 7) / n


def write_line_table(
    path: Path,
    direction: str = "minimize",
    fidelities: Sequence[float] = (1, 3, 9, 27),
    diverged: Sequence[int] = (),
) -> TabularBenchmark:
    """A table over ``x`` whose error at fidelity f is ``q(x) + 1/f`` (accuracy ``1 - error`` for maximize)."""
    fid = np.asarray(fidelities, dtype=float)
    err = np.array([[[quality(x) + 1.0 / f for f in fid]] for x in range(N_X)])
    for x in diverged:
        err[x] = np.nan
    value = err if direction == "minimize" else 1.0 - err
    name = "err" if direction == "minimize" else "acc"
    write_table(
        path,
        TableSpec(
            name=f"line-{direction}",
            space=line_space(),
            fidelity=Fidelity("epoch", tuple(float(f) for f in fid)),
            metrics=[Metric(name, direction, split="valid")],
            objective=name,
            test_objective=None,
            seeds=[0],
        ),
        configs=pd.DataFrame({"x": np.arange(N_X)}),
        values={name: value},
        cost=np.broadcast_to(fid, (N_X, 1, len(fid))).copy(),
    )
    return TabularBenchmark.from_path(path)


def make(
    cls: type[Optimizer], space: CS.ConfigurationSpace | None = None, fidelities=(1, 3, 9, 27), seed=0, **kw
):
    """An optimizer over ``fidelities`` and ``space`` (default: the line space, sampled over its N_X values)."""
    configs = [{"x": x} for x in range(N_X)] if space is None else None
    space = line_space() if space is None else space
    return cls(
        space=space,
        fidelity=Fidelity("epoch", tuple(float(f) for f in fidelities)),
        objective=Metric("err", "minimize"),
        seed=seed,
        sampler=ConfigSampler(space, configs),
        **kw,
    )


def result(trial: Trial, loss: float) -> TrialResult:
    return TrialResult(
        trial, loss, loss if loss == loss else math.inf, {}, 1.0, 0.0, "ok" if loss == loss else "diverged"
    )


def line_loss(trial: Trial) -> float:
    return quality(trial.config["x"]) + 1.0 / trial.fidelity


def drive(
    opt: Optimizer,
    loss: Callable[[Trial], float] = line_loss,
    n_results: int = 100,
    n_workers: int = 1,
) -> list[Trial]:
    """Ask/tell with ``n_workers`` slots, finishing trials first-in first-out; returns the told trials in order."""
    running: list[Trial] = []
    told: list[Trial] = []
    while len(told) < n_results and not opt.done:
        while len(running) < n_workers:
            t = opt.ask()
            if t is None:
                break
            running.append(t)
        if not running:
            break
        t = running.pop(0)
        opt.tell(t, result(t, loss(t)))
        told.append(t)
    return told


def by_fidelity(trials: Sequence[Trial]) -> dict[float, list[Any]]:
    out: dict[float, list[Any]] = {}
    for t in trials:
        out.setdefault(t.fidelity, []).append(t.config["x"])
    return out
