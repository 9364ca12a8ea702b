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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from benchmarks.priors import priors
from benchmarks.protocol import Benchmark, Evaluator
from benchmarks.space import column_dtype, hp_names
from benchmarks.transfer import transfer_sources

from .multiobjective import MultiObjective
from .optimizer import ConfigSampler, Optimizer, OptimizerError, Trial, make_result

BudgetKind = Literal["time", "fidelity", "evaluations", "results"]
BUDGET_KINDS: tuple[str, ...] = ("time", "fidelity", "evaluations", "results")
OVERHEAD_POLICIES: tuple[str, ...] = ("zero", "measured")
#: with a time budget, this many evaluations finishing at one simulated instant means the clock is stuck
MAX_EVENTS_AT_ONE_TIME = 1_000_000
#: a run stops after this many evaluations whatever its budget (stop_reason "event_limit"): a budget within
#: its limits (a ten-year time budget on a benchmark of cheap evaluations) cannot run for ever or fill memory
MAX_EVENTS = 10_000_000


def default_objectives(benchmark: Benchmark) -> list[str]:
    """The objectives of a multi-objective method run without ``objectives=[...]``: the benchmark's and cost."""
    return [benchmark.objective, "cost"]


__all__ = [
    "BUDGET_KINDS",
    "OVERHEAD_POLICIES",
    "Budget",
    "EventLog",
    "RunResult",
    "default_objectives",
    "simulate",
]


@dataclass(frozen=True, slots=True)
class Budget:
    """How much a run may spend.

    * ``time``: simulated seconds;
    * ``fidelity``: total fidelity units trained (sum of increments, e.g. epochs; on a fidelity that is not
      incremental, such as a training-set size, a continuation trains its whole fidelity again);
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
    return _takes(factory, "budget", through_kwargs=True)


def _takes(factory: Callable[..., Any], keyword: str, through_kwargs: bool) -> bool:
    """True when ``factory`` names the parameter ``keyword`` (or, with ``through_kwargs``, takes ``**kwargs``)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        (through_kwargs and p.kind is p.VAR_KEYWORD)
        or (p.name == keyword and p.kind is not p.POSITIONAL_ONLY)
        for p in params
    )


def _evaluate_with_row(
    evaluator: Evaluator,
) -> Callable[[Any, float, int, int | None], tuple[Any, float, float]]:
    """``evaluator.evaluate`` called as ``(config, fidelity, seed, row)``: the row hint of
    :meth:`~benchmarks.protocol.Evaluator.evaluate` reaches an ``evaluate`` whose fourth parameter is ``row``
    (a table's), and is left out for one that has no such parameter (one written before the hint existed)."""
    evaluate = evaluator.evaluate
    try:
        params = list(inspect.signature(evaluate).parameters.values())
    except (TypeError, ValueError):
        params = []
    if len(params) >= 4 and params[3].name == "row" and params[3].kind is params[3].POSITIONAL_OR_KEYWORD:
        return evaluate
    return lambda config, fidelity, seed, row: evaluate(config, fidelity, seed)


def _owner(cls: type, name: str) -> type | None:
    """The class in ``cls``'s method resolution order that defines ``name``."""
    return next((c for c in cls.__mro__ if name in c.__dict__), None)


def _fast_next(evaluator: Any) -> Callable[..., tuple[Any, float, float]] | None:
    """The evaluator's ``evaluate_next`` where it is a fast path that belongs with its ``evaluate``: defined
    below :class:`~benchmarks.protocol.Evaluator`, by the class that defines ``evaluate`` or a subclass of it.
    A subclass that overrides ``evaluate`` alone (to count calls, add noise, inject failures) gets None: the
    simulator then calls its ``evaluate`` for every report, as it always did."""
    cls = type(evaluator)
    nxt, ev = _owner(cls, "evaluate_next"), _owner(cls, "evaluate")
    if nxt is None or ev is None or nxt is Evaluator or not issubclass(nxt, ev):
        return None
    return evaluator.evaluate_next


def make_optimizer(
    benchmark: Benchmark,
    optimizer: Optimizer | OptimizerFactory,
    seed: int,
    sampler: ConfigSampler | None = None,
    budget: Budget | None = None,
    *,
    objectives: MultiObjective | Sequence[str] | None = None,
) -> Optimizer:
    """Build the optimizer for ``benchmark``.

    A factory gets space, fidelity, objective, seed and sampler, and ``budget``
    when it accepts that keyword (every :class:`Optimizer` subclass does, through
    its base class), so defaults can be scaled to the run's budget. A factory that names a ``transfer``
    parameter (a transfer method, e.g. ``portfolio``) gets the other datasets of the benchmark's configuration
    set (:func:`benchmarks.transfer.transfer_sources`: leave-one-dataset-out); one that names ``priors`` (a
    prior-aware method, e.g. ``rs-prior``) the benchmark's priors (:func:`benchmarks.priors.priors`); one that
    names ``objectives`` (a multi-objective method) the run's :class:`~runners.multiobjective.MultiObjective`
    (``objectives``, names or built; default: the benchmark's objective and ``cost``).
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if not callable(optimizer):
        raise TypeError(
            f"optimizer must be an Optimizer or a factory callable, got {type(optimizer).__name__}"
        )
    extra: dict[str, Any] = {"budget": budget} if budget is not None and _takes_budget(optimizer) else {}
    if _takes(optimizer, "transfer", through_kwargs=False):
        extra["transfer"] = transfer_sources(benchmark)
    if _takes(optimizer, "priors", through_kwargs=False):
        extra["priors"] = priors(benchmark)
    if _takes(optimizer, "objectives", through_kwargs=False):
        if objectives is None:
            objectives = default_objectives(benchmark)
        if not isinstance(objectives, MultiObjective):
            objectives = MultiObjective(benchmark, objectives)
        extra["objectives"] = objectives
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
    objectives: MultiObjective | Sequence[str] | None = None,
) -> RunResult:
    """Run ``optimizer`` on ``benchmark`` with ``n_workers`` asynchronous workers until ``budget`` is spent.

    ``optimizer`` is an :class:`Optimizer` or a factory called with keyword
    arguments ``space``, ``fidelity``, ``objective``, ``seed`` and ``sampler``.
    """
    _check_run_arguments(seed, n_workers, budget, overhead)
    seed, n_workers = int(seed), int(n_workers)
    wall0 = time.perf_counter()
    opt = make_optimizer(benchmark, optimizer, seed, sampler, budget, objectives=objectives)
    sim = _Simulation(benchmark, opt, seed, n_workers, budget, overhead == "measured")
    stop_reason = sim.run()
    events = sim.log.to_frame(benchmark, sim.evaluator)
    summary = {
        "n_events": len(events),
        "n_trials": sim.seq,
        "n_cancelled": sim.n_cancelled,
        **(
            {"n_reports": sim.n_reports, "n_stopped": sim.n_stopped, "n_paused": sim.n_paused}
            if sim.n_reports
            else {}
        ),
        "n_diverged": int(events["status"].eq("diverged").sum()),
        "end_time": float(sim.end_time),
        "budget_used": sim.budget_used(),
        "stop_reason": stop_reason,
        **_coverage(benchmark, opt, events, sim.evaluator),
        "optimizer_seconds": sim.opt_seconds,
        "wall_seconds": time.perf_counter() - wall0,
    }
    return RunResult(events, summary, opt, budget, overhead, n_workers, seed)


def _check_run_arguments(seed: Any, n_workers: Any, budget: Any, overhead: Any) -> None:
    """ValueError or TypeError naming a bad argument of :func:`simulate` and what is allowed."""
    if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
        raise ValueError(f"n_workers={n_workers!r} must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    if overhead not in OVERHEAD_POLICIES:
        raise ValueError(f"overhead policy {overhead!r} is not one of {', '.join(OVERHEAD_POLICIES)}")
    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a runners.simulator.Budget, got {type(budget).__name__}")


class EventLog:
    """The evaluations of a run in the order they finished, one row each; :meth:`to_frame` makes the events table.

    Per evaluation, ``append(row)`` takes one tuple ``(trial_id, continues, worker, fidelity_from, fidelity,
    seed, t_start, t_end, key, optimizer_seconds)`` and ``append_config(config)`` its configuration; ``key`` is
    the benchmark evaluator's key of the point (its metrics are read once, at the end, for every row at once)
    and ``optimizer_seconds`` None unless the overhead is measured. Two list appends per evaluation: the
    simulator's per-evaluation path stays short. The configuration is kept apart so that a row holds numbers
    only (a table's key is an int): the garbage collector stops tracking such a tuple the first time it
    sees it, so a long run does not make every full collection walk all its rows.
    """

    __slots__ = ("append", "append_config", "configs", "measured", "rows")

    def __init__(self, measured: bool) -> None:
        self.rows: list[tuple] = []
        self.configs: list[Mapping[str, Any]] = []
        self.append = self.rows.append
        self.append_config = self.configs.append
        self.measured = measured

    def __len__(self) -> int:
        return len(self.rows)

    def to_frame(self, benchmark: Benchmark, evaluator: Evaluator) -> pd.DataFrame:
        """The events table of docs/runner.md (its columns, dtypes and order)."""
        n = len(self.rows)
        tid, cont, worker, ffrom, fid, seed, t0, t1, keys, opt_s = (
            map(list, zip(*self.rows)) if n else ([] for _ in range(10))
        )
        configs = self.configs
        names = list(hp_names(benchmark.space))
        cols: dict[str, Any] = {
            "trial_id": np.asarray(tid, dtype=np.int64),
            "continues": _nullable_int64(cont),
            "worker": np.asarray(worker, dtype=np.int64),
            "config_id": pd.array(evaluator.config_ids(keys), dtype="Int64"),
        }
        for name in names:
            cols[f"config.{name}"] = _typed(
                _config_column(configs, name), column_dtype(benchmark.space[name])
            )
        start = np.asarray(t0, dtype=np.float64)
        end = np.asarray(t1, dtype=np.float64)
        cols["fidelity_from"] = np.asarray(ffrom, dtype=np.float64)
        cols["fidelity"] = np.asarray(fid, dtype=np.float64)
        cols["seed"] = np.asarray(seed, dtype=np.int64)
        cols["t_start"] = start
        cols["t_end"] = end
        cols["cost"] = end - start
        met = evaluator.metric_columns(keys)
        obj = met[benchmark.objective]
        cols["objective"] = obj
        test = benchmark.test_objective
        cols["test_objective"] = met[test] if test else np.full(n, np.nan)
        for m, v in met.items():
            cols[f"metric.{m}"] = v
        cols["status"] = pd.array(np.where(np.isnan(obj), "diverged", "ok"), dtype="string")
        if self.measured:
            cols["optimizer_seconds"] = np.asarray(opt_s, dtype=np.float64)
        return pd.DataFrame(cols)


class _Simulation:
    """The state of one simulated run: N workers, a heap of running trials, the budget meter, the event log.

    Heap entries: ``(t_end, start order, worker, trial, evaluator key, objective value, cumulative cost,
    fidelity_from, t_start, benchmark seed, seconds of the ask that made the trial)``.
    """

    def __init__(
        self, benchmark: Benchmark, opt: Optimizer, seed: int, n_workers: int, budget: Budget, measured: bool
    ) -> None:
        self.benchmark, self.opt, self.measured = benchmark, opt, measured
        test = benchmark.test_objective
        told = tuple(n for n, m in benchmark.metrics.items() if m.split != "test" and n != test)
        self.evaluator = benchmark.evaluator(benchmark.objective, told)
        self.evaluate = _evaluate_with_row(self.evaluator)
        self.evaluate_next = _fast_next(self.evaluator)
        self.obj_sign = benchmark.objective_metric.sign
        self.draw_seed = _seed_stream(benchmark, seed)
        self.fmax = float(benchmark.fidelity.max)
        self.incremental = benchmark.fidelity.incremental
        self.budget = budget
        self.kind, self.amount = budget.kind, float(budget.amount)
        if self.kind == "evaluations":
            self.kind, self.amount = "fidelity", self.amount * self.fmax
        self.meter = 0.0
        #: per finished trial: trial_id -> (fidelity, seed, cumulative cost), and its configuration (kept apart:
        #: a tuple of numbers is one the garbage collector stops tracking, see EventLog)
        self.finished: dict[int, tuple[float, int, float]] = {}
        self.finished_configs: dict[int, Mapping[str, Any]] = {}
        self.continued: set[int] = set()
        self.log = EventLog(measured)
        self.heap: list[tuple] = []
        self.idle: list[int] = list(range(n_workers))  # kept sorted ascending
        self.seq = 0  # trials started: each one's start order (ties of the heap's end times go to the first)
        self.n_cancelled = 0
        #: intermediate reports, and the trials the optimizer stopped or paused at one
        self.n_reports = self.n_stopped = self.n_paused = 0
        self.opt_seconds = 0.0
        self.end_time = 0.0

    # ------------------------------------------------------------ continuations
    def _continuation(self, trial: Trial) -> tuple[float, int, float]:
        """(fidelity_from, seed, cumulative cost) of the trial ``trial`` continues; OptimizerError when it cannot."""
        cont = trial.continues
        prev = self.finished.get(cont)
        if prev is None:
            why = "is still running" if cont in self.opt.pending else "has not finished (or does not exist)"
            raise OptimizerError(f"trial {trial.trial_id} continues trial {cont}, which {why}")
        if cont in self.continued:
            raise OptimizerError(
                f"trial {trial.trial_id} continues trial {cont}, which was already continued once"
            )
        ffrom, s, prev_cost = prev
        pconf = self.finished_configs[cont]
        if trial.config is not pconf and dict(trial.config) != dict(pconf):
            raise OptimizerError(
                f"trial {trial.trial_id} continues trial {cont} with a different configuration "
                f"({dict(trial.config)} != {dict(pconf)})"
            )
        if not trial.fidelity > ffrom:
            raise OptimizerError(
                f"trial {trial.trial_id} continues trial {cont} at fidelity {trial.fidelity!r}, not above {ffrom!r}"
            )
        self.continued.add(cont)
        # a fidelity that is not trained incrementally (a training-set size) fits the model again from scratch
        return ffrom, s, prev_cost if self.incremental else 0.0

    # ------------------------------------------------------------ the event loop
    def run(self) -> str:
        """Start trials on idle workers, pop the first to finish, tell and record it, until the budget or the
        optimizer ends the run. Returns the stop reason.

        One loop with every per-evaluation step inline, in this order: idle workers ask, lowest id first,
        until none is idle or the optimizer answers None, and each trial asked is evaluated and scheduled;
        the first trial to finish is popped (a time budget stops at it), told and recorded; the budget
        meter and the event limit are checked; its worker becomes idle. The loop is the simulator's whole
        cost per evaluation (perf/simulator.py holds it to 4x a bare event loop), so the state it changes
        lives in locals, written back when the run stops.
        """
        heap, idle, rows, finished = self.heap, self.idle, self.log.rows, self.finished
        push, pop, perf = heapq.heappush, heapq.heappop, time.perf_counter
        ask, tell, record, record_config = (
            self.opt.ask,
            self.opt.tell,
            self.log.append,
            self.log.append_config,
        )
        finished_configs = self.finished_configs
        #: trial id -> [index of its current segment among its reports, cumulative cost when it started]
        live: dict[int, list] = {}
        evaluate, draw_seed, reported = self.evaluate, self.draw_seed, self.evaluator.reported
        evaluate_next, opt_report, n_reports = self.evaluate_next, self.opt.report, self.n_reports
        obj_sign, measured, incremental = self.obj_sign, self.measured, self.incremental
        time_budget, per_result, amount = self.kind == "time", self.kind == "results", self.amount
        end_time, meter, seq, opt_seconds = self.end_time, self.meter, self.seq, self.opt_seconds
        stuck = 0
        # when the idle workers ask: the last finish (a measured overhead adds the optimizer's seconds)
        clock = 0.0
        try:
            while True:
                while idle:  # start a trial on each idle worker that gets one
                    a0 = perf()
                    trial = ask()
                    ask_s = perf() - a0
                    opt_seconds += ask_s
                    if measured:
                        clock += ask_s
                    if trial is None:
                        break
                    fid = trial.fidelity
                    if trial.continues is None:  # a fresh trial: a new benchmark seed
                        s = draw_seed()
                        ffrom = prev_cost = 0.0
                    else:  # a continuation: its trial's seed, charged the increment (the whole cost when the
                        # fidelity is not incremental)
                        ffrom, s, prev_cost = self._continuation(trial)
                    if (
                        trial.reports is not None
                    ):  # reports as it trains: its first segment, to the first report
                        live[trial.trial_id] = [0, prev_cost]
                        fid = trial.reports[0]
                    key, value, cum = evaluate(trial.config, fid, s, trial._row)
                    cost = cum - prev_cost
                    if cost < 0:
                        raise self._cost_decreased(trial, ffrom, prev_cost, cum)
                    push(
                        heap, (clock + cost, seq, idle.pop(0), trial, key, value, cum, ffrom, clock, s, ask_s)
                    )
                    seq += 1
                opt_clock = clock
                if not heap:
                    return self._stop_without_pending()
                t, _, worker, trial, key, value, cum, ffrom, t0, s, ask_s = pop(heap)
                if time_budget:
                    if t > amount:
                        self.n_cancelled = 1 + len(heap)  # this one, plus those still in the heap
                        end_time = amount
                        return "budget"
                    stuck = stuck + 1 if t == end_time else 0
                    if stuck > MAX_EVENTS_AT_ONE_TIME:
                        raise self._stuck_clock(t)
                fid = trial.fidelity
                end_time = t
                ok = value == value  # NaN: diverged
                if trial.reports is None:
                    result = make_result(
                        trial,
                        value,
                        obj_sign * value if ok else math.inf,
                        reported(key),
                        t - t0,
                        t,
                        "ok" if ok else "diverged",
                    )
                    clock = max(t, opt_clock) if measured else t
                    a0 = perf()
                    tell(trial, result)
                    dt = perf() - a0
                else:  # a trial that reports as it trains: an intermediate report, or its end
                    seg = live[trial.trial_id]
                    i = seg[0]
                    reps = trial.reports
                    n_reps = len(reps)
                    inner = i < n_reps  # an intermediate report (else the trial's end)
                    if inner:
                        fid = reps[i]
                    result = make_result(
                        trial,
                        value,
                        obj_sign * value if ok else math.inf,
                        reported(key),
                        cum - seg[1],
                        t,
                        "ok" if ok else "diverged",
                        fid if inner else None,
                    )
                    clock = max(t, opt_clock) if measured else t
                    a0 = perf()
                    decision = "done"
                    if inner:
                        n_reports += 1
                        # a diverged trial ends here; otherwise the optimizer decides
                        decision = opt_report(trial, result) if ok else "stop"
                    if decision == "continue":
                        dt = perf() - a0
                        i += 1
                        seg[0] = i
                        nf = reps[i] if i < n_reps else trial.fidelity
                        if evaluate_next is None:
                            key2, value2, cum2 = evaluate(trial.config, nf, s, trial._row)
                        else:  # the same configuration and seed at the next fidelity
                            key2, value2, cum2 = evaluate_next(key, trial.config, nf, s, trial._row)
                        if cum2 < cum:
                            raise self._cost_decreased(trial, fid, cum, cum2)
                        clock += dt if measured else 0.0
                        opt_seconds += dt
                        record(
                            (trial.trial_id, trial.continues, worker, ffrom, fid, s, t0, t, key, ask_s + dt)
                        )
                        record_config(trial.config)
                        push(
                            heap,
                            (clock + cum2 - cum, seq, worker, trial, key2, value2, cum2, fid, clock, s, 0.0),
                        )
                        seq += 1
                        if not time_budget:
                            meter += 1.0 if per_result else (fid - ffrom if incremental else fid)
                            if meter >= amount:
                                self.n_cancelled = len(heap)
                                return "budget"
                        if len(rows) >= MAX_EVENTS:
                            self.n_cancelled = len(heap)
                            return "event_limit"
                        continue
                    if decision == "stop":
                        self.n_stopped += 1
                    elif decision == "pause":
                        self.n_paused += 1
                    del live[trial.trial_id]
                    tell(trial, result)
                    dt = perf() - a0
                finished[trial.trial_id] = (fid, s, cum)
                finished_configs[trial.trial_id] = trial.config
                opt_seconds += dt
                if measured:
                    clock += dt
                record((trial.trial_id, trial.continues, worker, ffrom, fid, s, t0, t, key, ask_s + dt))
                record_config(trial.config)
                if not time_budget:
                    meter += 1.0 if per_result else (fid - ffrom if incremental else fid)
                    if meter >= amount:
                        self.n_cancelled = len(heap)
                        return "budget"
                if len(rows) >= MAX_EVENTS:
                    self.n_cancelled = len(heap)
                    return "event_limit"
                # the freed worker joins the idle ones (kept sorted)
                idle.append(worker)
                if len(idle) > 1 and worker < idle[-2]:
                    idle.sort()
        finally:
            self.end_time, self.meter, self.seq, self.opt_seconds = end_time, meter, seq, opt_seconds
            self.n_reports = n_reports

    def _cost_decreased(self, trial: Trial, ffrom: float, prev_cost: float, cum: float) -> OptimizerError:
        """The error of a continuation whose cumulative cost is below its trial's (the cost policy is broken)."""
        return OptimizerError(
            f"{self.benchmark.name}: cost decreased from {prev_cost} to {cum} between fidelities "
            f"{ffrom} and {trial.fidelity} (trial {trial.trial_id}); the benchmark breaks the cost policy"
        )

    def _stuck_clock(self, t: float) -> OptimizerError:
        """The error of a time budget that cannot end: too many evaluations finish at one simulated time."""
        return OptimizerError(
            f"{MAX_EVENTS_AT_ONE_TIME:,} evaluations finished at simulated time {t} without the clock "
            f"advancing (zero-cost evaluations of {self.benchmark.name}); a time budget cannot end this run"
        )

    def _stop_without_pending(self) -> str:
        """The stop reason when no trial is running and the optimizer asked for none; OptimizerError for a stall."""
        if self.opt.exhausted:
            return "table_exhausted"
        if self.opt.done:
            return "optimizer_done"
        raise OptimizerError(
            f"{type(self.opt).__name__}.ask() returned None while no trial is pending: the run would stall "
            f"(after {len(self.log)} evaluations). An optimizer that is finished must set `done = True`."
        )

    def budget_used(self) -> float:
        """How much of the budget the run spent, in the budget's own units."""
        used = self.end_time if self.kind == "time" else self.meter
        return float(used / self.fmax if self.budget.kind == "evaluations" else used)


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


def _coverage(
    benchmark: Benchmark, opt: Optimizer, events: pd.DataFrame, evaluator: Evaluator
) -> dict[str, Any]:
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
    elif evaluator.n_rows is not None:
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
    if evaluator.n_rows is not None:
        size: int | None = int(evaluator.n_rows)
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


def _config_column(configs: list[Mapping[str, Any]], name: str) -> pd.Series:
    """One hyperparameter's values across ``configs`` as an object column, NaN where a configuration lacks it:
    what ``DataFrame.from_records`` makes of the dicts before its type inference (``_typed`` sets the type),
    at a third of its cost."""
    nan = math.nan
    return pd.Series(
        np.fromiter([c.get(name, nan) for c in configs], dtype=object, count=len(configs)), dtype=object
    )


def _nullable_int64(values: list[int | None]) -> Any:
    """``pd.array(values, dtype="Int64")``; a list of Nones alone (no trial continued another) built directly,
    where pandas would look at every element."""
    n = len(values)
    if values.count(None) == n:  # 1 under the mask, as pandas fills it
        return pd.arrays.IntegerArray(np.ones(n, dtype=np.int64), np.ones(n, dtype=bool))
    return pd.array(values, dtype="Int64")


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
