"""A discrete-event simulator of N asynchronous workers on a simulated clock.

Standalone on purpose: a heap of worker-finish events over the Benchmark
protocol, nothing else. The exact semantics (event order, continuation
charging, seeds, overhead policy, budgets, what happens to running trials when
the budget is spent) are specified in docs/runner.md, "Simulator semantics".
"""

from __future__ import annotations

import heapq
import inspect
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from benchmarks.protocol import Benchmark
from benchmarks.space import column_dtype, hp_names
from benchmarks.tabular import TabularBenchmark

from .optimizer import ConfigSampler, Optimizer, OptimizerError, Trial, TrialResult

BudgetKind = Literal["time", "fidelity", "evaluations", "results"]
BUDGET_KINDS: tuple[str, ...] = ("time", "fidelity", "evaluations", "results")
OVERHEAD_POLICIES: tuple[str, ...] = ("zero", "measured")
#: with a time budget, this many evaluations finishing at one simulated instant means the clock is stuck
MAX_EVENTS_AT_ONE_TIME = 1_000_000
#: a run stops after this many evaluations whatever its budget (stop_reason "event_limit"): a budget within
#: its limits (a ten-year time budget on a benchmark of cheap evaluations) cannot run for ever or fill memory
MAX_EVENTS = 10_000_000

__all__ = ["BUDGET_KINDS", "OVERHEAD_POLICIES", "Budget", "RunResult", "simulate"]


@dataclass(frozen=True, slots=True)
class Budget:
    """How much a run may spend.

    * ``time``: simulated seconds;
    * ``fidelity``: total fidelity units trained (sum of increments, e.g. epochs);
    * ``evaluations``: full-fidelity-equivalent evaluations (``fidelity`` budget / max fidelity);
    * ``results``: number of recorded evaluations.
    """

    kind: BudgetKind
    amount: float

    def __post_init__(self) -> None:
        if self.kind not in BUDGET_KINDS:
            raise ValueError(f"budget kind {self.kind!r} is not one of {', '.join(BUDGET_KINDS)}")
        a = self.amount
        if (
            isinstance(a, bool)
            or not isinstance(a, (int, float, np.integer, np.floating))
            or not (math.isfinite(a) and a > 0)
        ):
            raise ValueError(f"budget amount {a!r} must be a finite number > 0 ({self.kind})")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "amount": float(self.amount)}


@dataclass
class RunResult:
    """The outcome of one simulated run."""

    events: pd.DataFrame
    summary: dict[str, Any]
    optimizer: Optimizer
    budget: Budget
    overhead: str
    n_workers: int
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)


OptimizerFactory = Callable[..., Optimizer]


def _takes_budget(factory: Callable[..., Any]) -> bool:
    """True when ``factory`` accepts a ``budget`` keyword (explicitly or through ``**kwargs``)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.kind is p.VAR_KEYWORD or (p.name == "budget" and p.kind is not p.POSITIONAL_ONLY) for p in params
    )


def make_optimizer(
    benchmark: Benchmark,
    optimizer: Optimizer | OptimizerFactory,
    seed: int,
    sampler: ConfigSampler | None = None,
    budget: Budget | None = None,
) -> Optimizer:
    """Build the optimizer for ``benchmark``.

    A factory gets space, fidelity, objective, seed and sampler, and ``budget``
    when it accepts that keyword (every :class:`Optimizer` subclass does, through
    its base class), so defaults can be scaled to the run's budget.
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if not callable(optimizer):
        raise TypeError(
            f"optimizer must be an Optimizer or a factory callable, got {type(optimizer).__name__}"
        )
    extra = {"budget": budget} if budget is not None and _takes_budget(optimizer) else {}
    opt = optimizer(
        space=benchmark.space,
        fidelity=benchmark.fidelity,
        objective=benchmark.objective_metric,
        seed=seed,
        sampler=sampler if sampler is not None else ConfigSampler.for_benchmark(benchmark),
        **extra,
    )
    if not isinstance(opt, Optimizer):
        raise TypeError(
            f"the optimizer factory returned {type(opt).__name__}, not a runners.optimizer.Optimizer"
        )
    return opt


def _seed_stream(benchmark: Benchmark, seed: int) -> Callable[[], int]:
    """A function drawing one benchmark seed per fresh trial, reproducibly from the run seed."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5EED,)))
    held = benchmark.seeds
    if held is not None and len(held) == 1:
        only = int(held[0])
        return lambda: only
    buf: list[int] = []

    def draw() -> int:
        if not buf:
            if held is None:
                buf.extend(rng.integers(0, 2**31 - 1, size=4096).tolist()[::-1])
            else:
                buf.extend(
                    np.asarray(held, dtype=np.int64)[rng.integers(0, len(held), size=4096)].tolist()[::-1]
                )
        return buf.pop()

    return draw


def simulate(
    benchmark: Benchmark,
    optimizer: Optimizer | OptimizerFactory,
    *,
    seed: int,
    n_workers: int,
    budget: Budget,
    overhead: str = "zero",
    sampler: ConfigSampler | None = None,
) -> RunResult:
    """Run ``optimizer`` on ``benchmark`` with ``n_workers`` asynchronous workers until ``budget`` is spent.

    ``optimizer`` is an :class:`Optimizer` or a factory called with keyword
    arguments ``space``, ``fidelity``, ``objective``, ``seed`` and ``sampler``.
    """
    if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
        raise ValueError(f"n_workers={n_workers!r} must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    if overhead not in OVERHEAD_POLICIES:
        raise ValueError(f"overhead policy {overhead!r} is not one of {', '.join(OVERHEAD_POLICIES)}")
    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a runners.simulator.Budget, got {type(budget).__name__}")
    seed, n_workers = int(seed), int(n_workers)
    wall0 = time.perf_counter()
    opt = make_optimizer(benchmark, optimizer, seed, sampler, budget)
    measured = overhead == "measured"

    obj_sign = benchmark.objective_metric.sign
    draw_seed = _seed_stream(benchmark, seed)
    table = _TableLookup(benchmark) if isinstance(benchmark, TabularBenchmark) else _GenericLookup(benchmark)
    lookup, objective_of, visible_of = table.lookup, table.objective, table.visible
    fmax = float(benchmark.fidelity.max)

    # budget meter
    kind = budget.kind
    amount = float(budget.amount)
    if kind == "evaluations":
        kind, amount = "fidelity", amount * fmax
    time_budget = kind == "time"
    meter = 0.0

    # per-trial state: trial_id -> (config, fidelity, seed, cumulative cost)
    finished: dict[int, tuple[Any, float, int, float]] = {}
    continued: set[int] = set()

    # event columns, filled once per recorded evaluation; metrics are looked up once at the end
    c_tid: list[int] = []
    c_cont: list[int | None] = []
    c_worker: list[int] = []
    c_config: list[Any] = []
    c_ffrom: list[float] = []
    c_fid: list[float] = []
    c_seed: list[int] = []
    c_t0: list[float] = []
    c_t1: list[float] = []
    c_key: list[Any] = []
    c_opt_s: list[float] = []

    # heap entries: (t_end, start order, worker, trial, lookup key, cumulative cost, fidelity_from, t_start,
    #                benchmark seed, seconds of the ask that made the trial)
    heap: list[tuple] = []
    idle: list[int] = list(range(n_workers))  # kept sorted ascending
    seq = 0
    opt_seconds = 0.0
    n_started = 0
    perf = time.perf_counter
    push, pop = heapq.heappush, heapq.heappop

    def start(trial: Trial, worker: int, t: float, ask_s: float) -> None:
        nonlocal seq, n_started
        cont = trial.continues
        fid = trial.fidelity
        if cont is None:
            s = draw_seed()
            key, cum = lookup(trial.config, fid, s)
            ffrom, prev_cost = 0.0, 0.0
        else:
            prev = finished.get(cont)
            if prev is None:
                why = "is still running" if cont in opt.pending else "has not finished (or does not exist)"
                raise OptimizerError(f"trial {trial.trial_id} continues trial {cont}, which {why}")
            if cont in continued:
                raise OptimizerError(
                    f"trial {trial.trial_id} continues trial {cont}, which was already continued once"
                )
            pconf, ffrom, s, prev_cost = prev
            if trial.config is not pconf and dict(trial.config) != dict(pconf):
                raise OptimizerError(
                    f"trial {trial.trial_id} continues trial {cont} with a different configuration "
                    f"({dict(trial.config)} != {dict(pconf)})"
                )
            if not fid > ffrom:
                raise OptimizerError(
                    f"trial {trial.trial_id} continues trial {cont} at fidelity {fid!r}, not above {ffrom!r}"
                )
            continued.add(cont)
            key, cum = lookup(trial.config, fid, s)
        cost = cum - prev_cost
        if cost < 0:
            raise OptimizerError(
                f"{benchmark.name}: cost decreased from {prev_cost} to {cum} between fidelities "
                f"{ffrom} and {fid} (trial {trial.trial_id}); the benchmark breaks the cost policy"
            )
        push(heap, (t + cost, seq, worker, trial, key, cum, ffrom, t, s, ask_s))
        seq += 1
        n_started += 1

    def fill(t: float) -> float:
        """Every idle worker asks, lowest id first, until the optimizer answers None. Returns the optimizer clock."""
        nonlocal opt_seconds
        while idle:
            a0 = perf()
            trial = opt.ask()
            dt = perf() - a0
            opt_seconds += dt
            if measured:
                t = t + dt
            if trial is None:
                return t
            start(trial, idle.pop(0), t, dt)
        return t

    stop_reason = "budget"
    max_events = MAX_EVENTS
    opt_clock = fill(0.0)
    end_time = 0.0
    n_cancelled = 0
    stuck = 0
    while True:
        if not heap:
            if opt.exhausted:
                stop_reason = "table_exhausted"
                break
            if opt.done:
                stop_reason = "optimizer_done"
                break
            raise OptimizerError(
                f"{type(opt).__name__}.ask() returned None while no trial is pending: the run would stall "
                f"(after {len(c_tid)} evaluations). An optimizer that is finished must set `done = True`."
            )
        t, _, worker, trial, key, cum, ffrom, t0, s, ask_s = pop(heap)
        if time_budget:
            if t > amount:
                n_cancelled = 1  # this one, plus those still in the heap
                end_time = amount
                break
            if t == end_time:
                stuck += 1
                if stuck > MAX_EVENTS_AT_ONE_TIME:
                    raise OptimizerError(
                        f"{MAX_EVENTS_AT_ONE_TIME:,} evaluations finished at simulated time {t} without the clock "
                        f"advancing (zero-cost evaluations of {benchmark.name}); a time budget cannot end this run"
                    )
            else:
                stuck = 0
        tid = trial.trial_id
        fid = trial.fidelity
        c_tid.append(tid)
        c_cont.append(trial.continues)
        c_worker.append(worker)
        c_config.append(trial.config)
        c_ffrom.append(ffrom)
        c_fid.append(fid)
        c_seed.append(s)
        c_t0.append(t0)
        c_t1.append(t)
        c_key.append(key)
        finished[tid] = (trial.config, fid, s, cum)
        end_time = t

        value = objective_of(key)
        ok = value == value
        result = TrialResult(
            trial,
            value,
            obj_sign * value if ok else math.inf,
            visible_of(key),
            t - t0,
            t,
            "ok" if ok else "diverged",
        )
        tell_t = max(t, opt_clock) if measured else t
        a0 = perf()
        opt.tell(trial, result)
        dt = perf() - a0
        opt_seconds += dt
        if measured:
            tell_t += dt
            c_opt_s.append(ask_s + dt)

        if not time_budget:
            meter += 1.0 if kind == "results" else fid - ffrom
            if meter >= amount:
                break
        if len(c_tid) >= max_events:
            stop_reason = "event_limit"
            break
        # the freed worker joins the idle ones (kept sorted), then idle workers ask
        idle.append(worker)
        if len(idle) > 1 and worker < idle[-2]:
            idle.sort()
        opt_clock = fill(tell_t)

    n_cancelled += len(heap)
    if time_budget:
        meter = end_time
    events = _build_frame(
        benchmark,
        table,
        c_tid,
        c_cont,
        c_worker,
        c_config,
        c_ffrom,
        c_fid,
        c_seed,
        c_t0,
        c_t1,
        c_key,
        c_opt_s if measured else None,
    )
    summary = {
        "n_events": len(events),
        "n_trials": n_started,
        "n_cancelled": n_cancelled,
        "n_diverged": int(events["status"].eq("diverged").sum()),
        "end_time": float(end_time),
        "budget_used": float(meter / fmax if budget.kind == "evaluations" else meter),
        "stop_reason": stop_reason,
        **_coverage(benchmark, opt, events, table),
        "optimizer_seconds": opt_seconds,
        "wall_seconds": time.perf_counter() - wall0,
    }
    return RunResult(events, summary, opt, budget, overhead, n_workers, seed)


def repeated_mask(ids: np.ndarray, fidelity: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Which evaluations are repeats: an earlier one (smaller ``order``, e.g. the trial id) of the same
    configuration (equal ``ids``) reached the same fidelity or beyond. Vectorized; the one definition the
    runner's summary and the report's counts share."""
    ids = np.asarray(ids, dtype=np.int64)
    fid = np.asarray(fidelity, dtype=np.float64)
    n = ids.size
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    idx = np.lexsort((np.asarray(order), ids))
    g, f = ids[idx], fid[idx]
    # the highest fidelity reached by the earlier evaluations of the same configuration (exclusive running max)
    span = float(np.nanmax(np.abs(f))) * 2 + 2
    key = (g - g.min()).astype(np.float64) * span + f
    run = np.maximum.accumulate(key)
    prev = np.empty_like(run)
    prev[0] = -np.inf
    prev[1:] = run[:-1]
    same = np.zeros(n, dtype=bool)
    same[1:] = g[1:] == g[:-1]
    out[idx] = same & (prev - (g - g.min()) * span >= f - 1e-9 * span)
    return out


def _coverage(benchmark: Benchmark, opt: Optimizer, events: pd.DataFrame, table: Any) -> dict[str, Any]:
    """``n_repeated``, ``n_distinct_configs``, ``table_fraction`` and ``n_redirected`` of a run's events.

    A repeat is an evaluation of a configuration to a fidelity that an earlier
    trial (lower trial id: asked before) of the same configuration had been
    trained to, or beyond: a fresh trial (``continues`` null), or a continuation
    whose configuration another trial had already taken that far (a
    multi-fidelity method promoting a configuration that another of its brackets
    trained, or is training, at that rung). Configurations are identified by
    ``config_id`` on a table, else by the values of their hyperparameters.
    ``n_repeated_fresh`` counts the fresh ones alone (what the ``avoid`` policy
    prevents on a table).
    """
    n = len(events)
    if n == 0:
        ids = np.zeros(0, dtype=np.int64)
    elif isinstance(table, _TableLookup):
        ids = events["config_id"].to_numpy(dtype=np.int64)
    else:
        cols = [c for c in events.columns if c.startswith("config.")]
        hashed = pd.util.hash_pandas_object(events[cols].astype(object), index=False).to_numpy()
        ids = pd.factorize(hashed)[0].astype(np.int64)
    n_distinct = int(np.unique(ids).size)
    n_repeated = n_repeated_fresh = 0
    if n:
        rep = repeated_mask(ids, events["fidelity"].to_numpy(dtype=np.float64), events["trial_id"].to_numpy())
        n_repeated = int(rep.sum())
        n_repeated_fresh = int((events["continues"].isna().to_numpy() & rep).sum())
    if isinstance(table, _TableLookup):
        size: int | None = int(table.b.n_configs)
    elif opt.sampler.is_finite:
        size = len(opt.sampler)
    else:
        size = None
    return {
        "n_repeated": n_repeated,
        "n_repeated_fresh": n_repeated_fresh,
        "n_distinct_configs": n_distinct,
        "table_fraction": (n_distinct / size) if size else None,
        "n_redirected": int(opt.n_redirected),
    }


# ---------------------------------------------------------------- benchmark lookups
class _GenericLookup:
    """Any Benchmark: one ``query`` per started trial; the key is the Result.

    A benchmark with ``objective_and_cost(config, fidelity, seed)`` (a surrogate, whose every metric
    costs a model evaluation) is asked only for the objective and the cost while the run goes on; the
    key is then a :class:`_Point`, the metrics the optimizer is told decode only if it reads them, and
    the events' metric columns come from one ``query_batch`` over the whole run (the same numbers).
    """

    def __init__(self, benchmark: Benchmark) -> None:
        self.b = benchmark
        self.query = benchmark.query
        self.fast = getattr(benchmark, "objective_and_cost", None)
        self.obj = benchmark.objective
        test = benchmark.test_objective
        self.vis = tuple(n for n, m in benchmark.metrics.items() if m.split != "test" and n != test)
        self.metric_names = list(benchmark.metrics)

    def lookup(self, config: Any, fidelity: float, seed: int) -> tuple[Any, float]:
        if self.fast is not None:
            value, cost = self.fast(config, fidelity, seed)
            return _Point(config, fidelity, seed, value), cost
        res = self.query(config, fidelity, seed)
        return res, res.cost

    def objective(self, key: Any) -> float:
        if isinstance(key, _Point):
            return key.value
        return float(key.metrics[self.obj])

    def visible(self, key: Any) -> Mapping[str, float]:
        if isinstance(key, _Point):
            return _LazyMetrics(lambda: self.query(key.config, key.fidelity, key.seed).metrics, self.vis)
        m = key.metrics
        return {k: m[k] for k in self.vis}

    def config_ids(self, keys: list[Any]) -> list[int | None]:
        return [None if isinstance(r, _Point) else r.config_id for r in keys]

    def metric_columns(self, keys: list[Any]) -> dict[str, np.ndarray]:
        n = len(keys)
        if n and all(isinstance(k, _Point) for k in keys):
            out = self.b.query_batch(
                [k.config for k in keys],
                fidelities=np.array([k.fidelity for k in keys], dtype=np.float64),
                seeds=np.array([k.seed for k in keys], dtype=np.int64),
            )
            return {m: np.asarray(out[m], dtype=np.float64) for m in self.metric_names}
        frame = pd.DataFrame.from_records([r.metrics for r in keys], columns=self.metric_names, nrows=n)
        return {m: frame[m].to_numpy(dtype=np.float64) for m in self.metric_names}


@dataclass(frozen=True, slots=True)
class _Point:
    """One evaluation of a benchmark answered through ``objective_and_cost``."""

    config: Any
    fidelity: float
    seed: int
    value: float


class _LazyMetrics(Mapping):
    """The metrics told to an optimizer, computed on first access (no optimizer in this package reads them)."""

    def __init__(self, compute: Any, names: tuple[str, ...]) -> None:
        self._compute, self._names, self._values = compute, names, None

    def _get(self) -> Mapping[str, float]:
        if self._values is None:
            m = self._compute()
            self._values = {k: m[k] for k in self._names}
        return self._values

    def __getitem__(self, k: str) -> float:
        return self._get()[k]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class _TableLookup:
    """A TabularBenchmark: direct reads of its dense array; the key is the flat (config, seed, fidelity) index."""

    def __init__(self, benchmark: TabularBenchmark) -> None:
        self.b = benchmark
        vals = benchmark.table.values  # (metric + cost, C, S, F)
        self.metric_names = list(benchmark.metrics)
        self.S, self.F = vals.shape[2], vals.shape[3]
        self.flat = vals.reshape(vals.shape[0], -1)
        self.obj_flat = self.flat[self.metric_names.index(benchmark.objective)]
        self.cost_flat = self.flat[-1]
        test = benchmark.test_objective
        vis = [n for n, m in benchmark.metrics.items() if m.split != "test" and n != test]
        self.vis = tuple((n, self.flat[self.metric_names.index(n)]) for n in vis)
        self.seed_index = {s: i for i, s in enumerate(benchmark.seeds)}
        self.fid_index = {v: i for i, v in enumerate(benchmark.fidelity.values)}

    def lookup(self, config: Any, fidelity: float, seed: int) -> tuple[int, float]:
        fi = self.fid_index.get(fidelity)
        if fi is None or isinstance(fidelity, bool):
            self.b.fidelity.check(fidelity)  # raises FidelityError naming the allowed values
            raise AssertionError("unreachable")
        c = self.b.config_id(config)  # raises ConfigError for anything the table does not hold
        key = (c * self.S + self.seed_index[seed]) * self.F + fi
        return key, self.cost_flat.item(key)

    def objective(self, key: int) -> float:
        return self.obj_flat.item(key)

    def visible(self, key: int) -> dict[str, float]:
        return {n: a.item(key) for n, a in self.vis}

    def config_ids(self, keys: list[int]) -> np.ndarray:
        return np.asarray(keys, dtype=np.int64) // (self.S * self.F)

    def metric_columns(self, keys: list[int]) -> dict[str, np.ndarray]:
        k = np.asarray(keys, dtype=np.int64)
        return {m: self.flat[i, k].astype(np.float64) for i, m in enumerate(self.metric_names)}


def _build_frame(
    benchmark: Benchmark, table: Any, tid, cont, worker, configs, ffrom, fid, seed, t0, t1, keys, opt_s
) -> pd.DataFrame:
    """The events table of docs/runner.md, built once at the end of a run."""
    names = hp_names(benchmark.space)
    n = len(tid)
    cols: dict[str, Any] = {
        "trial_id": np.asarray(tid, dtype=np.int64),
        "continues": pd.array(cont, dtype="Int64"),
        "worker": np.asarray(worker, dtype=np.int64),
        "config_id": pd.array(table.config_ids(keys), dtype="Int64"),
    }
    cfg = (
        pd.DataFrame.from_records(configs, columns=list(names), nrows=n)
        if n
        else pd.DataFrame(columns=list(names))
    )
    for name in names:
        cols[f"config.{name}"] = _typed(cfg[name], column_dtype(benchmark.space[name]))
    start = np.asarray(t0, dtype=np.float64)
    end = np.asarray(t1, dtype=np.float64)
    cols["fidelity_from"] = np.asarray(ffrom, dtype=np.float64)
    cols["fidelity"] = np.asarray(fid, dtype=np.float64)
    cols["seed"] = np.asarray(seed, dtype=np.int64)
    cols["t_start"] = start
    cols["t_end"] = end
    cols["cost"] = end - start
    met = table.metric_columns(keys)
    obj = met[benchmark.objective]
    cols["objective"] = obj
    cols["test_objective"] = met[benchmark.test_objective] if benchmark.test_objective else np.full(n, np.nan)
    for m, v in met.items():
        cols[f"metric.{m}"] = v
    cols["status"] = pd.array(np.where(np.isnan(obj), "diverged", "ok"), dtype="string")
    if opt_s is not None:
        cols["optimizer_seconds"] = np.asarray(opt_s, dtype=np.float64)
    return pd.DataFrame(cols)


def _typed(col: pd.Series, dtype: str) -> Any:
    """A hyperparameter column with the dtype of ``configs.parquet`` (nullable when some rows lack it)."""
    has_na = bool(col.isna().any())
    if dtype == "int64":
        return pd.array(col, dtype="Int64") if has_na else col.to_numpy(dtype=np.int64)
    if dtype == "bool":
        return pd.array(col, dtype="boolean") if has_na else col.to_numpy(dtype=bool)
    if dtype == "string":
        return pd.array(col.astype(object).where(col.notna(), None), dtype="string")
    return col.to_numpy(dtype=np.float64)
