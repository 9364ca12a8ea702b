"""Tiny synthetic learning-curve tables for tests, examples and the simulator's performance script.

The numbers are made so that results can be checked by hand:

* configuration ``c`` costs ``cost_per_unit[c]`` seconds per fidelity unit on
  every seed (default ``c + 1``), so its cumulative cost at fidelity ``f`` is
  ``cost_per_unit[c] * f``;
* ``valid_loss`` decreases with fidelity towards a per-configuration floor and
  carries the seed in its last digits (``+ 1e-3 * seed_index``), so a test can
  read which seed produced a value;
* ``test_loss = valid_loss + 0.5`` and ``train_loss = valid_loss - 0.5``.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ConfigSpace as CS
import numpy as np
import pandas as pd

from benchmarks.protocol import Fidelity, Metric
from benchmarks.table import write_table
from benchmarks.tabular import TabularBenchmark

from .optimizer import ConfigSampler, Optimizer, TrialResult
from .registry import OPTIMIZERS

__all__ = [
    "toy_space",
    "write_toy_table",
    "toy_benchmark",
    "fcnet_like_space",
    "lcbench_like_space",
    "write_standin_tables",
    "time_ask_tell",
]


def toy_space() -> CS.ConfigurationSpace:
    """A small mixed space: a log-scaled float, an integer, an ordinal and a categorical."""
    space = CS.ConfigurationSpace(seed=0)
    space.add(
        [
            CS.UniformFloatHyperparameter("lr", 1e-4, 1.0, log=True),
            CS.UniformIntegerHyperparameter("layers", 1, 8),
            CS.OrdinalHyperparameter("units", [16, 32, 64, 128]),
            CS.CategoricalHyperparameter("act", ["relu", "tanh"]),
        ]
    )
    return space


def write_toy_table(
    path: str | Path,
    *,
    n_configs: int = 6,
    fidelities: Sequence[float] = (1, 2, 3, 4),
    seeds: Sequence[int] = (0, 1),
    cost_per_unit: Sequence[float] | None = None,
    diverged: Sequence[int] = (),
    rng_seed: int = 0,
    name: str = "toy",
) -> Path:
    """Write a synthetic table (see the module docstring) and return its path.

    ``diverged`` lists configuration indices whose validation loss is NaN at
    every fidelity from the second one on (as after a divergence).
    """
    rng = np.random.default_rng(rng_seed)
    space = toy_space()
    configs = pd.DataFrame(
        {
            "lr": np.round(10 ** rng.uniform(-4, 0, n_configs), 8),
            "layers": rng.integers(1, 9, n_configs),
            "units": rng.choice([16, 32, 64, 128], n_configs),
            "act": rng.choice(["relu", "tanh"], n_configs),
        }
    )
    C, S, F = n_configs, len(seeds), len(fidelities)
    fid = np.asarray(fidelities, dtype=np.float64)
    floor = rng.uniform(0.1, 1.0, C)
    curve = floor[:, None, None] + 1.0 / fid[None, None, :] + 1e-3 * np.arange(S)[None, :, None]
    valid = np.broadcast_to(curve, (C, S, F)).copy()
    for c in diverged:
        valid[c, :, 1:] = np.nan
    per_unit = (
        np.arange(1, C + 1, dtype=np.float64) if cost_per_unit is None else np.asarray(cost_per_unit, float)
    )
    if per_unit.shape != (C,):
        raise ValueError(f"cost_per_unit has {per_unit.shape[0]} values for {C} configurations")
    cost = np.broadcast_to(per_unit[:, None, None] * fid[None, None, :], (C, S, F)).copy()
    metrics = [
        Metric("valid_loss", "minimize", 0.0, split="valid"),
        Metric("train_loss", "minimize", -1.0, split="train"),
        Metric("test_loss", "minimize", 0.0, split="test"),
    ]
    return write_table(
        path,
        name=name,
        space=space,
        fidelity=Fidelity("epoch", tuple(float(f) for f in fidelities), unit="epochs"),
        metrics=metrics,
        objective="valid_loss",
        test_objective="test_loss",
        seeds=list(seeds),
        configs=configs,
        values={"valid_loss": valid, "train_loss": valid - 0.5, "test_loss": valid + 0.5},
        cost=cost,
        description="synthetic table for tests",
    )


def toy_benchmark(path: str | Path, **kwargs) -> TabularBenchmark:
    """Write a toy table at ``path`` (unless one is there) and load it."""
    path = Path(path)
    if not (path / "manifest.json").exists():
        write_toy_table(path, **kwargs)
    return TabularBenchmark.from_path(path)


# ---------------------------------------------------------------- stand-ins for the shipped tables
def fcnet_like_space() -> CS.ConfigurationSpace:
    """The FCNet grid's space (names and values of Klein & Hutter 2019; 62,208 points)."""
    grid = {
        "n_units_1": [16, 32, 64, 128, 256, 512],
        "n_units_2": [16, 32, 64, 128, 256, 512],
        "dropout_1": [0.0, 0.3, 0.6],
        "dropout_2": [0.0, 0.3, 0.6],
        "activation_fn_1": ["tanh", "relu"],
        "activation_fn_2": ["tanh", "relu"],
        "init_lr": [5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1],
        "lr_schedule": ["cosine", "const"],
        "batch_size": [8, 16, 32, 64],
    }
    space = CS.ConfigurationSpace(name="fcnet-like")
    for name, choices in grid.items():
        kind = CS.CategoricalHyperparameter if isinstance(choices[0], str) else CS.OrdinalHyperparameter
        space.add(kind(name, choices))
    return space


def lcbench_like_space() -> CS.ConfigurationSpace:
    """LCBench's seven hyperparameters and ranges (Zimmer et al. 2021)."""
    space = CS.ConfigurationSpace(name="lcbench-like")
    space.add(
        [
            CS.UniformIntegerHyperparameter("batch_size", 16, 512, log=True),
            CS.UniformFloatHyperparameter("learning_rate", 1e-4, 1e-1, log=True),
            CS.UniformFloatHyperparameter("momentum", 0.1, 0.99),
            CS.UniformFloatHyperparameter("weight_decay", 1e-5, 1e-1),
            CS.UniformIntegerHyperparameter("num_layers", 1, 5),
            CS.UniformIntegerHyperparameter("max_units", 64, 1024, log=True),
            CS.UniformFloatHyperparameter("max_dropout", 0.0, 1.0),
        ]
    )
    return space


#: shape of a stand-in table: (configurations, seeds, epochs), as the shipped tables are planned
STANDIN_SHAPES = {"fcnet": (1000, 2, 100), "lcbench": (500, 2, 50)}


def write_standin_tables(root: str | Path, *, n_fcnet: int = 3, n_lcbench: int = 3) -> list[dict[str, str]]:
    """Synthetic tables shaped like the shipped ones, for timing a study before those exist.

    ``n_fcnet`` FCNet-like tables (1,000 draws from the FCNet grid, the few
    repeated ones dropped, x 2 seeds x 100 epochs) and ``n_lcbench``
    LCBench-like ones (500 x 2 x 50),
    named ``standin-fcnet-<k>`` / ``standin-lcbench-<k>`` under ``root``
    (existing ones are reused). Returns study entries ``{name, path}``. The
    curves are synthetic (:mod:`benchmarks.synthetic`): only their shape is realistic.
    """
    from benchmarks.synthetic import make_synthetic_table

    root = Path(root)
    out = []
    for family, n, space in (
        ("fcnet", n_fcnet, fcnet_like_space),
        ("lcbench", n_lcbench, lcbench_like_space),
    ):
        C, S, F = STANDIN_SHAPES[family]
        for k in range(n):
            name = f"standin-{family}-{k}"
            path = root / name
            if not (path / "manifest.json").is_file():
                make_synthetic_table(
                    path, n_configs=C, n_seeds=S, n_epochs=F, space=space(), seed=k, name=name
                )
            out.append({"name": name, "path": str(path)})
    return out


# ---------------------------------------------------------------- cost per ask and tell at a growing history
_UNITS_LOSS = {16: 0.3, 32: 0.1, 64: 0.0, 128: 0.05}
_ACT_LOSS = {"relu": 0.0, "tanh": 0.1}


def _synthetic_loss(config: Any, fidelity: float, trial_id: int) -> float:
    """A smooth loss over :func:`toy_space` that falls with fidelity, plus a small per-trial jitter."""
    return (
        (math.log10(config["lr"]) + 2.0) ** 2 / 4
        + 0.05 * abs(config["layers"] - 4)
        + _UNITS_LOSS[config["units"]]
        + _ACT_LOSS[config["act"]]
        + 1.0 / fidelity
        + ((trial_id * 2654435761) % 1000) * 1e-7
    )


def time_ask_tell(
    optimizer: str | Callable[..., Optimizer],
    n_results: int,
    checkpoints: Sequence[int] = (),
    *,
    block: int = 2048,
    n_blocks: int = 5,
    n_workers: int = 4,
    seed: int = 0,
    fidelities: Sequence[float] = tuple(float(f) for f in range(1, 82)),
    **hyperparameters: Any,
) -> dict[str, Any]:
    """Drive an optimizer by ask and tell to ``n_results`` results; time its ask + tell at each checkpoint.

    The optimizer (a name of :data:`~runners.registry.OPTIMIZERS` or a
    factory) works on :func:`toy_space` with an unbounded sampler (no table to
    exhaust, so a run can go to millions of results), fidelities 1..81 by
    default (five rungs at eta = 3), and ``n_workers`` asynchronous workers as in
    the simulator: a trial takes ``fidelity increment x (1 + layers / 8)``
    simulated seconds, results are told in finishing order, idle workers ask
    until the optimizer answers None. The loss is a smooth synthetic function
    of the configuration and the fidelity. Nothing else runs in the loop, so
    the times are the optimizer's own.

    At each checkpoint h (results told so far), the next ``n_blocks`` blocks of
    ``block`` results are timed (process CPU time of the ask and tell calls
    alone); the median over blocks of the mean per result is reported, so a
    block disturbed by the machine's other work, or by a garbage collection,
    does not move it. The run goes on until every window is complete.

    Returns ``{"n_results", "stop", "cpu_seconds", "wall_seconds", "times"}``;
    ``times[h]`` is ``{"ask_tell", "ask", "tell"}`` in seconds per result.
    """
    space = toy_space()
    factory = OPTIMIZERS[optimizer] if isinstance(optimizer, str) else optimizer
    opt = factory(
        space=space,
        fidelity=Fidelity("epoch", tuple(float(f) for f in fidelities), unit="epochs"),
        objective=Metric("valid_loss", "minimize"),
        seed=seed,
        sampler=ConfigSampler(space),
        **hyperparameters,
    )
    cps = sorted(set(int(c) for c in checkpoints))
    window = block * n_blocks
    n_total = max([int(n_results)] + [c + window for c in cps])
    clock = time.process_time
    wall0, cpu0 = time.perf_counter(), clock()
    heap: list[tuple[float, int, Any]] = []
    reached: dict[int, float] = {}  # trial id -> fidelity it trained to (the start of its continuation)
    pending = opt.pending
    seq, now, told = 0, 0.0, 0
    ask_s = tell_s = 0.0  # cumulative seconds inside ask and tell
    #: results told -> checkpoints that take a mark (the cumulative seconds) there: h, h + block, ...
    due: dict[int, list[int]] = {}
    for c in cps:
        for j in range(n_blocks + 1):
            due.setdefault(c + j * block, []).append(c)
    marks: dict[int, list[tuple[float, float]]] = {c: [] for c in cps}
    stop = "n_results"
    while told < n_total:
        while len(pending) < n_workers:
            a = clock()
            trial = opt.ask()
            ask_s += clock() - a
            if trial is None:
                break
            start = 0.0 if trial.continues is None else reached.pop(trial.continues)
            heapq.heappush(
                heap, (now + (trial.fidelity - start) * (1 + trial.config["layers"] / 8), seq, trial)
            )
            seq += 1
        if not heap:
            stop = "exhausted" if opt.exhausted else "done"
            break
        now, _, trial = heapq.heappop(heap)
        reached[trial.trial_id] = trial.fidelity
        loss = _synthetic_loss(trial.config, trial.fidelity, trial.trial_id)
        result = TrialResult(trial, loss, loss, {}, 1.0, now)
        a = clock()
        opt.tell(trial, result)
        tell_s += clock() - a
        told += 1
        if told in due:
            for c in due.pop(told):
                marks[c].append((ask_s, tell_s))
    times: dict[int, dict[str, float]] = {}
    for c, m in marks.items():
        if len(m) < 2:
            continue
        asks = [(b[0] - a[0]) / block for a, b in zip(m, m[1:])]
        tells = [(b[1] - a[1]) / block for a, b in zip(m, m[1:])]
        both = [x + y for x, y in zip(asks, tells)]
        times[c] = {
            "ask_tell": float(np.median(both)),
            "ask": float(np.median(asks)),
            "tell": float(np.median(tells)),
        }
    return {
        "n_results": told,
        "stop": stop,
        "cpu_seconds": clock() - cpu0,
        "wall_seconds": time.perf_counter() - wall0,
        "times": times,
    }
