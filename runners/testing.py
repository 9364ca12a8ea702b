"""Synthetic tables and timings for tests, examples and the performance scripts.

The tables come from the one generator, :func:`benchmarks.synthetic.write_synthetic_table`: the toy
tables (``"toy"`` preset, numbers that can be checked by hand, see there) and stand-ins shaped like the
shipped tables (``"fcnet-standin"``, ``"lcbench-standin"``).
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

from benchmarks.protocol import Fidelity, Metric
from benchmarks.spaces import fcnet_space, lcbench_space, toy_space
from benchmarks.synthetic import PRESETS, write_synthetic_table
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
    """Write a toy table (the ``"toy"`` preset of :mod:`benchmarks.synthetic`) and return its path.

    ``diverged`` lists configuration indices whose validation loss is NaN at
    every fidelity from the second one on (as after a divergence).
    """
    return write_synthetic_table(
        path,
        "toy",
        n_configs=n_configs,
        seeds=seeds,
        fidelities=fidelities,
        seed=rng_seed,
        name=name,
        cost_per_unit=cost_per_unit,
        diverged=diverged,
    )


def toy_benchmark(path: str | Path, **kwargs) -> TabularBenchmark:
    """Write a toy table at ``path`` (unless one is there) and load it."""
    path = Path(path)
    if not (path / "manifest.json").exists():
        write_toy_table(path, **kwargs)
    return TabularBenchmark.from_path(path)


# ---------------------------------------------------------------- stand-ins for the shipped tables
def fcnet_like_space() -> CS.ConfigurationSpace:
    """The FCNet grid's space (:func:`benchmarks.spaces.fcnet_space`) under the name ``fcnet-like``."""
    return fcnet_space("fcnet-like")


def lcbench_like_space() -> CS.ConfigurationSpace:
    """LCBench's space (:func:`benchmarks.spaces.lcbench_space`) under the name ``lcbench-like``."""
    return lcbench_space("lcbench-like")


#: shape of a stand-in table: (configurations, seeds, epochs), as the shipped tables are planned
STANDIN_SHAPES = {
    family: tuple(len(x) if isinstance(x, tuple) else x for x in PRESETS[f"{family}-standin"].shape)
    for family in ("fcnet", "lcbench")
}


def write_standin_tables(root: str | Path, *, n_fcnet: int = 3, n_lcbench: int = 3) -> list[dict[str, str]]:
    """Synthetic tables shaped like the shipped ones, for timing a study before those exist.

    ``n_fcnet`` FCNet-like tables (1,000 draws from the FCNet grid, the few
    repeated ones dropped, x 2 seeds x 100 epochs) and ``n_lcbench``
    LCBench-like ones (500 x 2 x 50): the ``"fcnet-standin"`` and
    ``"lcbench-standin"`` presets of :mod:`benchmarks.synthetic` with seed k,
    named ``standin-fcnet-<k>`` / ``standin-lcbench-<k>`` under ``root``
    (existing ones are reused). Returns study entries ``{name, path}``. The
    curves are synthetic: only their shape is realistic.
    """
    root = Path(root)
    out = []
    for family, n in (("fcnet", n_fcnet), ("lcbench", n_lcbench)):
        for k in range(n):
            name = f"standin-{family}-{k}"
            path = root / name
            if not (path / "manifest.json").is_file():
                write_synthetic_table(path, f"{family}-standin", seed=k, name=name)
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
    deadline: float | None = None,
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

    ``deadline`` (a :func:`time.time` value): the run stops once it has passed (checked every
    1,024 results), with ``stop="deadline"``; only the checkpoints whose every block was timed
    are reported.

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
        if deadline is not None and not told & 1023 and told < n_total and time.time() > deadline:
            stop = "deadline"
            break
    times: dict[int, dict[str, float]] = {}
    for c, m in marks.items():
        if len(m) < (n_blocks + 1 if stop == "deadline" else 2):
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
