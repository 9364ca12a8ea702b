"""The optimizer interface: ask/tell trials that carry a configuration, a fidelity and a continuation.

An optimizer proposes :class:`Trial` objects (``ask``) and learns from
:class:`TrialResult` objects (``tell``). The simulator in
:mod:`runners.simulator` drives it with N asynchronous workers on a simulated
clock; nothing here knows about workers or time.

Writing an optimizer: subclass :class:`Optimizer` and implement ``_ask`` and
``_tell``. Create trials only through :meth:`Optimizer.new_trial` (a fresh
configuration) and :meth:`Optimizer.continue_trial` (resume a finished trial of
the same configuration at a higher fidelity, paying only the extra cost)::

    class GreedyFidelity(Optimizer):
        def _ask(self):
            return self.new_trial(self.sampler.sample_one(self.rng), self.fidelity.max)

        def _tell(self, trial, result):
            pass

The base class assigns trial ids, keeps the pending trials (``self.pending``,
trial id -> Trial, in the order they were asked) and checks that every told
trial was pending. See docs/runner.md for the full contract.
"""

from __future__ import annotations

import collections
import copy
import math
import operator
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from benchmarks.protocol import Benchmark, Fidelity, FidelityError, Metric
from benchmarks.sampling import draw
from benchmarks.space import choices, encode_frame, hp_names

Status = Literal["ok", "diverged"]

#: a continuous-space :class:`ConfigSampler` asked for one configuration draws this many from the rng at once
SINGLE_BATCH = 32

__all__ = [
    "ConfigSampler",
    "Optimizer",
    "OptimizerError",
    "REPEAT_POLICIES",
    "REPORT_DECISIONS",
    "RandomSearch",
    "Status",
    "TableExhausted",
    "Trial",
    "TrialResult",
    "rung_fidelities",
    "snap_fidelity",
]


class OptimizerError(RuntimeError):
    """An optimizer broke the ask/tell contract (e.g. told a trial it never asked, or stalled)."""


class TableExhausted(RuntimeError):
    """A finite sampler holds no configuration for a fresh trial at the asked fidelity.

    Every held configuration was already trained (or is being trained) to that
    fidelity in this run. :meth:`Optimizer.ask` turns it into the end of the
    run (the simulator's ``stop_reason = "table_exhausted"``).
    """


#: what :meth:`Optimizer.ask` does with a fresh trial of a configuration already trained to its fidelity
REPEAT_POLICIES: tuple[str, ...] = ("avoid", "allow")
#: what a trial does after an intermediate report (:meth:`Optimizer.report`)
REPORT_DECISIONS: tuple[str, ...] = ("continue", "stop", "pause")


# ---------------------------------------------------------------- records
@dataclass(frozen=True, eq=False, slots=True)
class Trial:
    """One unit of work for a worker: train ``config`` up to ``fidelity``.

    ``continues`` is the ``trial_id`` of an earlier, finished trial of the same
    configuration that this trial resumes (None: train from scratch). A
    continued trial is charged only ``cost(fidelity) - cost(previous fidelity)``
    and keeps the earlier trial's benchmark seed. A trial can be continued at
    most once (its checkpoint is consumed). ``info`` is free-form bookkeeping
    for the optimizer (bracket, rung, ...); it is not stored in results.

    Trials compare and hash by identity; use ``trial_id`` as a key.

    ``_row`` is not set by optimizers: :meth:`Optimizer.ask`, the one writer,
    sets it before it hands the trial out, to the row of ``config`` among its
    finite sampler's configurations (None: not held, or a sampler of a
    continuous space). The simulator passes it to the benchmark's evaluator as
    a hint that saves a second lookup of the configuration; the evaluator
    checks it against the configuration before using it.
    """

    trial_id: int
    config: Mapping[str, Any]
    fidelity: float
    continues: int | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    #: the fidelities below ``fidelity`` at which the trial reports as it trains (None: only at the end); each
    #: report reaches :meth:`Optimizer.report`, which may stop or pause the trial there (docs/runner.md)
    reports: tuple[float, ...] | None = None
    _row: int | None = field(default=None, init=False, repr=False)


@dataclass(frozen=True, eq=False, slots=True)
class TrialResult:
    """What an optimizer learns when a trial finishes. Validation information only.

    * ``value``: the objective metric as the benchmark stores it (may be NaN).
    * ``loss``: ``sign * value`` so that lower is better for every objective;
      ``+inf`` when the value is NaN (status ``"diverged"``), so sorting works.
    * ``metrics``: every metric except test-split ones (and never the test objective).
    * ``cost``: seconds charged for this trial so far (the increment if it continued another).
    * ``time``: the simulated time at which the trial finished (or reported).
    * ``reached``: the fidelity of this result when it is not the trial's own: an intermediate report, or
      the end of a trial stopped or paused at a report (None: the trial's fidelity); read ``fidelity``.
    """

    trial: Trial
    value: float
    loss: float
    metrics: Mapping[str, float]
    cost: float
    time: float
    status: Status = "ok"
    reached: float | None = None

    @property
    def trial_id(self) -> int:
        return self.trial.trial_id

    @property
    def config(self) -> Mapping[str, Any]:
        return self.trial.config

    @property
    def fidelity(self) -> float:
        """The fidelity this result was measured at."""
        return self.trial.fidelity if self.reached is None else self.reached


# Trial and TrialResult are made once per evaluation, in the simulator's per-evaluation path. A frozen
# dataclass's __init__ assigns each field through object.__setattr__ (about 2 us for a Trial, most of it
# Python-level calls). make_trial and make_result build the same objects several times faster: the object
# starts as an instance of a twin class with the same slots and no frozen __setattr__, so each assignment
# is a plain slot write, and its last step turns it into the frozen class (Python allows the change of
# __class__ because the two layouts are the same). From then on it is as frozen as any other instance:
# assigning a field raises FrozenInstanceError.
class _TrialUnderConstruction:
    """The twin of :class:`Trial` that :func:`make_trial` builds and turns into a Trial (see the comment above)."""

    __slots__ = Trial.__slots__

    def __init__(
        self,
        trial_id: int,
        config: Mapping[str, Any],
        fidelity: float,
        continues: int | None,
        info: Any,
        reports: tuple[float, ...] | None = None,
    ) -> None:
        self.trial_id = trial_id
        self.config = config
        self.fidelity = fidelity
        self.continues = continues
        self.info = info
        self.reports = reports
        self._row = None
        self.__class__ = Trial


class _TrialResultUnderConstruction:
    """The twin of :class:`TrialResult` that :func:`make_result` builds and turns into one (see above)."""

    __slots__ = TrialResult.__slots__

    def __init__(
        self,
        trial: Trial,
        value: float,
        loss: float,
        metrics: Mapping[str, float],
        cost: float,
        time: float,
        status: Status,
        reached: float | None = None,
    ) -> None:
        self.trial = trial
        self.value = value
        self.loss = loss
        self.metrics = metrics
        self.cost = cost
        self.time = time
        self.status = status
        self.reached = reached
        self.__class__ = TrialResult


#: ``make_trial(trial_id, config, fidelity, continues, info[, reports])``: ``Trial(...)`` of the same arguments,
#: made faster
make_trial: Callable[..., Trial] = _TrialUnderConstruction
#: ``make_result(trial, value, loss, metrics, cost, time, status[, reached])``: ``TrialResult(...)``, made faster
make_result: Callable[..., TrialResult] = _TrialResultUnderConstruction

#: sets :attr:`Trial._row`, which :meth:`Optimizer.ask` alone writes (a slot write past the frozen __setattr__)
_set_row = Trial.__dict__["_row"].__set__


def loss_of(value: float, objective: Metric) -> float:
    """``sign * value`` (lower is better); ``+inf`` for NaN."""
    return math.inf if value != value else objective.sign * value


# ---------------------------------------------------------------- fidelity helpers
def snap_fidelity(fidelity: Fidelity, value: float) -> float:
    """The held fidelity value nearest to ``value`` (ties go to the larger one); clipped for continuous axes."""
    if value != value:
        raise FidelityError(f"fidelity {fidelity.name}=nan is not a number")
    if fidelity.continuous:
        return float(min(max(value, fidelity.min), fidelity.max))
    held = np.asarray(fidelity.values, dtype=float)
    i = int(np.searchsorted(held, value))
    if i <= 0:
        return fidelity.values[0]
    if i >= len(held):
        return fidelity.values[-1]
    lo, hi = held[i - 1], held[i]
    return fidelity.values[i - 1] if value - lo < hi - value else fidelity.values[i]


def rung_fidelities(fidelity: Fidelity, eta: float, min_fidelity: float | None = None) -> list[float]:
    """Successive-halving rungs ``max * eta**-k`` down to ``min_fidelity``, snapped to held values.

    Returned ascending and without duplicates; the last rung is always the
    maximum fidelity. ``min_fidelity`` defaults to the smallest held value.
    """
    if not eta > 1:
        raise ValueError(f"eta={eta!r} must be > 1")
    lo = fidelity.min if min_fidelity is None else float(min_fidelity)
    if not fidelity.min <= lo <= fidelity.max:
        raise FidelityError(
            f"min_fidelity={min_fidelity!r} is outside [{fidelity.min:g}, {fidelity.max:g}] of {fidelity.name}"
        )
    rungs: list[float] = []
    r = float(fidelity.max)
    while r >= lo * (1 - 1e-9):
        s = snap_fidelity(fidelity, r)
        if s >= lo and s not in rungs:
            rungs.append(s)
        r /= eta
    return sorted(rungs)


# ---------------------------------------------------------------- sampling
#: (id of a configurations list, names) -> (the list, its exact-match index); the list is kept so its id stays unique
_IDS_CACHE: dict[tuple, tuple[list, dict[tuple, int]]] = {}


class ConfigSampler:
    """Draws configurations, and maps proposals onto what the benchmark can answer.

    * For a benchmark that holds a finite set of configurations (a table), both
      :meth:`sample` and :meth:`project` stay inside that set: sampling is
      uniform over the table's configurations (for an exhaustive table this is
      uniform over the space), and ``project`` returns the nearest table
      configuration in the [0, 1] encoding of :func:`benchmarks.space.encode_frame`.
    * Otherwise (surrogates) sampling is ConfigSpace's uniform sampling, and
      ``project`` clips numbers into their bounds and rounds integers.

    Every draw comes from the ``rng`` the caller passes, so runs are reproducible.
    Returned configurations are fresh dicts the caller may modify.

    A finite sampler also keeps the run's record of what was evaluated: per
    held configuration, the highest fidelity it has been (or is being) trained
    to, across trials (:meth:`note`, called by :meth:`Optimizer.ask` for every
    trial it hands out; :meth:`reset` empties it at the start of a run). With
    the record, :meth:`sample` draws only configurations never evaluated in the
    run (without replacement across the run), and ``project(config, fidelity)``
    returns the nearest held configuration not yet trained to ``fidelity``.
    When nothing is left, :meth:`sample` returns fewer configurations (possibly
    none), and :meth:`sample_one` and ``project(config, fidelity)`` raise
    :class:`TableExhausted`.
    """

    def __init__(self, space: Any, configurations: Sequence[Mapping[str, Any]] | None = None) -> None:
        self.space = space
        self.names = hp_names(space)
        self._values_of = _values_getter(self.names)
        self.configurations = list(configurations) if configurations is not None else None
        self._source = configurations if isinstance(configurations, list) else None
        self._tree: Any = None
        self._encoder: _RowEncoder | None = None
        self._held: dict[tuple, int] = {}
        self._ids: dict[tuple, int] = {}
        self._ids_built = False
        self._cs: Any = None
        self.reset()

    # -------------------------------------------------- the run's record (finite samplers)
    def reset(self, top_fidelity: float | None = None) -> None:
        """Forget every evaluation (a new run). ``top_fidelity``: the fidelity that counts as "fully trained"."""
        self.top_fidelity = top_fidelity
        self._batch: collections.deque = collections.deque()  # continuous spaces: drawn, not handed out yet
        self._batch_rng: Any = None
        if self.configurations is None:
            return
        n = len(self.configurations)
        #: per held configuration: the highest fidelity a trial of this run trains it to (-inf: never evaluated);
        #: a list, read per trial in plain Python (``reached_array`` gives it as an array)
        self.reached: list[float] = [-math.inf] * n
        self._reached = np.full(n, -np.inf)  # the same numbers as an array, kept in step by note()
        self._free = list(range(n))  # never-evaluated configurations: the first _n_free entries
        self._pos = list(range(n))  # position of each configuration in _free
        self._n_free = n
        self.n_evaluated = 0  #: configurations evaluated at least once
        self.n_at_top = 0  #: configurations trained to ``top_fidelity``

    def index(self, config: Mapping[str, Any]) -> int | None:
        """The index of ``config`` among the held configurations (exact match), or None (finite samplers)."""
        if self.configurations is None:
            return None
        if self._ids_built is False:
            self._build_ids()
        if (
            type(config) is dict
        ):  # a plain dict: indexing and get agree (no __missing__, no other mapping's rules)
            try:
                key = self._values_of(config)
            except KeyError:  # a hyperparameter left unset: None in its place, as in the index
                key = tuple(map(config.get, self.names))
        else:
            key = tuple(map(config.get, self.names))
        try:
            i = self._ids.get(key)
        except TypeError:
            return None
        if i is None:  # e.g. NaN values, which never compare equal: an exact match in the encoding
            if self._tree is None:
                self._build_index()
            assert self._encoder is not None
            d, j = self._tree.query(self._encoder.encode(config), k=1)
            if d == 0.0 and self.configurations[int(j)] == dict(config):
                i = int(j)
        return i

    def note(self, config: Mapping[str, Any], fidelity: float, index: int | None = None) -> int | None:
        """Record that a trial trains ``config`` to ``fidelity``; returns its index (None: not held / infinite).

        ``index``: the configuration's :meth:`index` when the caller knows it already.
        """
        i = self.index(config) if index is None else index
        if i is None:
            return None
        old = self.reached[i]
        if old == -math.inf:
            # swap-remove from the never-evaluated list
            p, last = self._pos[i], self._n_free - 1
            j = self._free[last]
            self._free[p], self._free[last] = j, i
            self._pos[j], self._pos[i] = p, last
            self._n_free = last
            self.n_evaluated += 1
        if fidelity > old:
            self.reached[i] = fidelity
            self._reached[i] = fidelity
            top = self.top_fidelity
            if top is not None and old < top <= fidelity:
                self.n_at_top += 1
        return i

    def fidelity_reached(self, config: Mapping[str, Any]) -> float:
        """The highest fidelity ``config`` was trained to in this run (-inf: never; also for unheld configurations)."""
        i = self.index(config)
        return -math.inf if i is None else self.reached[i]

    def reached_array(self) -> np.ndarray:
        """:attr:`reached` as a float array (a copy)."""
        return self._reached.copy()

    def unevaluated(self) -> list[int]:
        """Indices (ascending) of the held configurations no trial of this run has trained yet (finite samplers)."""
        if self.configurations is None:
            raise TypeError("unevaluated needs a finite sampler (a table's configurations)")
        return sorted(self._free[: self._n_free])

    @property
    def n_unevaluated(self) -> int:
        """How many held configurations no trial of this run has trained yet."""
        return self._n_free

    @classmethod
    def for_benchmark(cls, benchmark: Benchmark) -> ConfigSampler:
        return cls(benchmark.space, benchmark.configurations())

    @property
    def is_finite(self) -> bool:
        """True when sampling and projection are restricted to a finite list of configurations."""
        return self.configurations is not None

    def __len__(self) -> int:
        if self.configurations is None:
            raise TypeError("this sampler draws from a continuous space; it has no length")
        return len(self.configurations)

    def sample_ids(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` indices into :attr:`configurations`, uniformly with replacement (finite samplers only)."""
        if self.configurations is None:
            raise TypeError("sample_ids needs a finite sampler (a table's configurations)")
        return rng.integers(0, len(self.configurations), size=n)

    def sample_rows(self, n: int, rng: np.random.Generator, fidelity: float | None = None) -> list[int]:
        """What :meth:`sample` draws on a finite sampler, as indices into :attr:`configurations` (the same draws
        from ``rng``)."""
        if self.configurations is None:
            raise TypeError("sample_rows needs a finite sampler (a table's configurations)")
        if n < 0:
            raise ValueError(f"n={n} must be >= 0")
        nf = self._n_free
        free = self._free
        if n == 1 and nf:
            return [free[int(rng.integers(nf))]]
        k = min(n, nf)
        ids = [free[j] for j in rng.choice(nf, size=k, replace=False).tolist()] if k else []
        if k < n and fidelity is not None:
            reached = self._reached
            rest = np.flatnonzero((reached > -np.inf) & (reached < fidelity))
            if rest.size:
                ids += rest[rng.choice(rest.size, size=min(n - k, rest.size), replace=False)].tolist()
        return ids

    def sample(self, n: int, rng: np.random.Generator, fidelity: float | None = None) -> list[dict[str, Any]]:
        """``n`` configurations drawn uniformly.

        Finite samplers: ``n`` distinct configurations drawn uniformly among
        those never evaluated in this run (see :meth:`note`). When fewer are
        left and ``fidelity`` is given, the rest is drawn uniformly among the
        configurations evaluated only to lower fidelities. The list is shorter
        than ``n`` when the table holds no more (empty: nothing left).
        Infinite samplers: ConfigSpace's uniform sampling from ``rng``'s stream, ``fidelity`` ignored;
        single configurations are drawn :data:`SINGLE_BATCH` at a time from the same ``rng`` and handed
        out in order (a run's draws depend only on its seed and its sequence of calls).
        """
        if n < 0:
            raise ValueError(f"n={n} must be >= 0")
        if self.configurations is not None:
            confs = self.configurations
            return [dict(confs[i]) for i in self.sample_rows(n, rng, fidelity)]
        if n == 0:
            return []
        if self._cs is None:
            self._cs = copy.deepcopy(self.space)
        if n == 1:
            # one at a time (Hyperband's brackets, ASHA): drawn SINGLE_BATCH at a time from ``rng``'s stream and
            # handed out in order; ConfigSpace's per-call cost is most of the cost of one configuration
            if rng is not self._batch_rng or not self._batch:
                self._batch = collections.deque(self._draw(SINGLE_BATCH, rng))
                self._batch_rng = rng
            return [self._batch.popleft()]
        return self._draw(n, rng)

    def _draw(self, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
        return draw(self._cs, n, rng)

    def sample_one(self, rng: np.random.Generator, fidelity: float | None = None) -> dict[str, Any]:
        """One configuration (:meth:`sample`); :class:`TableExhausted` when a finite sampler has none left."""
        out = self.sample(1, rng, fidelity)
        if not out:
            raise self.exhausted(fidelity)
        return out[0]

    def exhausted(self, fidelity: float | None = None) -> TableExhausted:
        """The error a finite sampler raises when no configuration is left (to ``fidelity``, when given)."""
        return TableExhausted(
            f"every one of the {len(self)} configurations was already evaluated"
            + ("" if fidelity is None else f" to fidelity {fidelity:g}")
        )

    def project(self, config: Mapping[str, Any], fidelity: float | None = None) -> dict[str, Any]:
        """The configuration the benchmark can answer that is nearest to ``config``.

        With ``fidelity`` (finite samplers): the nearest held configuration that
        no trial of this run has trained to ``fidelity`` or beyond (a fresh trial
        of it is not a repeat); :class:`TableExhausted` when there is none.
        """
        if self.configurations is None:
            return self._clip(config)
        i = self._nearest(config)
        if fidelity is not None and not self.reached[i] < fidelity:
            i = self._nearest_open(config, fidelity)
        return dict(self.configurations[i])

    def _nearest_open(self, config: Mapping[str, Any], fidelity: float) -> int:
        """The nearest held configuration with ``reached < fidelity``: k-d tree queries with growing k.

        Only the neighbours a query returns are checked (against the array of
        :attr:`reached`), so a call costs O(k log n) for the k it needed, not
        O(n): while a fraction p of the table is open, k is about 1 / p.
        """
        assert self._encoder is not None
        reached = self._reached
        x = self._encoder.encode(config)
        n = reached.size
        k = 16
        while True:
            k = min(k, n)
            if k == 0:
                raise TableExhausted("the table holds no configuration")
            _, idx = self._tree.query(x, k=k)
            idx = np.atleast_1d(idx)
            hit = np.flatnonzero(reached[idx] < fidelity)
            if hit.size:
                return int(idx[hit[0]])
            if k == n:  # the full query found none: every configuration is trained that far
                raise TableExhausted(
                    f"every one of the {len(self)} configurations was already trained to fidelity {fidelity:g}"
                )
            k *= 8

    def project_many(
        self, configs: Sequence[Mapping[str, Any]], fidelity: float | None = None
    ) -> list[dict[str, Any]]:
        """:meth:`project` for each of ``configs`` (independently: the results may coincide)."""
        if self.configurations is None:
            return [self._clip(c) for c in configs]
        return [self.project(c, fidelity) for c in configs]

    def _nearest(self, config: Mapping[str, Any]) -> int:
        """Index of the held configuration nearest to ``config`` in the [0, 1] encoding.

        A held configuration asked for as is comes from a dict; anything else is
        encoded in plain Python and looked up in a k-d tree built once. The
        dict holds only configurations whose encoding no other one shares, so
        it answers exactly what the tree would.
        """
        if self._tree is None:
            self._build_index()
        try:
            i = self._held.get(tuple(config.get(n) for n in self.names))
        except TypeError:  # an unhashable value: not a held configuration
            i = None
        if i is None:
            assert self._encoder is not None
            _, i = self._tree.query(self._encoder.encode(config), k=1)
        return int(i)

    def _build_index(self) -> None:
        from scipy.spatial import cKDTree

        frame = pd.DataFrame.from_records(self.configurations, columns=list(self.names))
        x = np.nan_to_num(encode_frame(self.space, frame), nan=-1.0)
        self._tree = cKDTree(x)
        self._encoder = _RowEncoder(self.space)
        rows = [r.tobytes() for r in x]
        shared = {r for r, n in Counter(rows).items() if n > 1}
        self._held = {}
        for i, (c, r) in enumerate(zip(self.configurations or [], rows)):
            if r not in shared:
                try:
                    self._held[tuple(c.get(n) for n in self.names)] = i
                except TypeError:
                    pass

    def _build_ids(self) -> None:
        """The exact-match index of :meth:`index` (a dict; no k-d tree, which random search never needs).

        Shared by the samplers of one list of configurations (each run of a
        benchmark builds a sampler over the benchmark's cached list).
        """
        src = self._source
        key = (id(src), tuple(self.names))
        hit = _IDS_CACHE.get(key)
        if hit is not None and hit[0] is src and len(src) == len(self.configurations or []):
            self._ids = hit[1]
        else:
            ids: dict[tuple, int] = {}
            for i, c in enumerate(self.configurations or []):
                try:
                    ids.setdefault(tuple(map(c.get, self.names)), i)
                except TypeError:
                    pass
            self._ids = ids
            if src is not None:
                _IDS_CACHE[key] = (src, ids)
                while len(_IDS_CACHE) > 16:
                    _IDS_CACHE.pop(next(iter(_IDS_CACHE)))
        self._ids_built = True

    def _clip(self, config: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(config)
        for name in self.names:
            hp = self.space[name]
            v = out.get(name)
            if v is None or not hasattr(hp, "lower"):
                continue
            v = min(max(v, hp.lower), hp.upper)
            if "Integer" in type(hp).__name__:
                v = int(round(v))
            out[name] = v
        return out


def _values_getter(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple]:
    """A function giving a plain dict's values of ``names`` as a tuple (KeyError for one left unset).

    ``tuple(map(config.get, names))`` for a dict that sets every name, at a quarter of its cost:
    :meth:`ConfigSampler.index` runs once per trial.
    """
    if len(names) >= 2:
        return operator.itemgetter(*names)  # a tuple for two names or more (for one: the bare value)
    return lambda config: tuple(config[name] for name in names)


class _RowEncoder:
    """One configuration -> the row :func:`benchmarks.space.encode_frame` gives it, with NaN as -1.

    The same numbers as ``np.nan_to_num(encode_frame(space, one_row_frame), nan=-1.0)``
    (a test checks it), computed in plain Python: a projection costs
    microseconds instead of the milliseconds of building a one-row DataFrame.
    Choices map through a dict (a value outside them gets code -1, as in
    ``pd.Categorical``); numbers are scaled to [0, 1] (log scale for log
    hyperparameters); a value that is not a number encodes as -1, an infinite
    one (0 on a log scale) as -/+1e150, where ``encode_frame`` gives no neighbour at all.
    """

    def __init__(self, space: Any) -> None:
        #: per hyperparameter: (name, {choice: code / (n - 1)}) or (name, (lo, span, log)) in encoded units
        self.columns: list[tuple[str, dict[Any, float] | tuple[float, float, bool]]] = []
        for name in hp_names(space):
            hp = space[name]
            held = choices(hp)
            if held is not None:
                scale = max(len(held) - 1, 1)
                self.columns.append((name, {c: k / scale for k, c in enumerate(held)}))
                continue
            log = bool(getattr(hp, "log", False))
            lo, hi = float(hp.lower), float(hp.upper)
            if log:
                lo, hi = math.log(lo), math.log(hi)
            self.columns.append((name, (lo, hi - lo, log)))

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        row = []
        for name, how in self.columns:
            v = config.get(name)
            if isinstance(how, dict):
                try:
                    row.append(how.get(v, -1.0))
                except TypeError:  # an unhashable value is not one of the choices
                    row.append(-1.0)
                continue
            lo, span, log = how
            x = _to_float(v)
            if log:
                x = math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
            x = (x - lo) / span if span > 0 else 0.0
            row.append(-1.0 if x != x else x)
        # an infinite coordinate (0 on a log scale) would leave the k-d tree without a neighbour: make it huge
        return np.nan_to_num(np.array(row), nan=-1.0, posinf=1e150, neginf=-1e150)


def _to_float(value: Any) -> float:
    """A value as ``pd.to_numeric(..., errors="coerce")`` reads it: NaN when it is not a number."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def budget_in_evaluations(budget: Any, max_fidelity: float) -> float | None:
    """A run budget in full-fidelity-equivalent evaluations (None: unknown, e.g. a time budget).

    ``budget`` is a :class:`runners.simulator.Budget`, a mapping with ``kind``
    and ``amount``, or None. ``evaluations``: the amount; ``fidelity``: amount /
    max fidelity; ``results``: the amount (one result per evaluation; an upper
    bound for multi-fidelity optimizers); ``time``: None.
    """
    if budget is None:
        return None
    kind = budget["kind"] if isinstance(budget, Mapping) else budget.kind
    amount = float(budget["amount"] if isinstance(budget, Mapping) else budget.amount)
    if kind == "evaluations" or kind == "results":
        return amount
    if kind == "fidelity":
        return amount / max_fidelity if max_fidelity > 0 else None
    return None


# ---------------------------------------------------------------- the base class
class Optimizer:
    """Base class of every optimizer. Subclasses implement ``_ask`` and ``_tell``.

    Constructor arguments (keyword-only, all given by the runner):

    * ``space``: the ConfigSpace search space;
    * ``fidelity``: the benchmark's :class:`~benchmarks.protocol.Fidelity` axis;
    * ``objective``: the :class:`~benchmarks.protocol.Metric` to optimize (its
      direction is in ``objective.direction``; or use ``TrialResult.loss``);
    * ``seed``: the run seed; ``self.rng`` is a ``numpy.random.Generator`` seeded with it;
    * ``sampler``: a :class:`ConfigSampler` (default: uniform over the space);
    * ``budget``: the run's :class:`runners.simulator.Budget` (or None when
      unknown). ``self.budget_evaluations`` is it in full-fidelity-equivalent
      evaluations (None for a time budget); optimizers whose defaults are scaled
      to the budget read it (docs/optimizers.md, "Defaults scaled to the budget").

    Subclass hyperparameters go after these as keyword arguments with defaults,
    so Hydra can build the optimizer with ``_partial_: true``.

    Repeats. On a finite sampler (a table) a *repeat* is a fresh trial
    (:meth:`new_trial`) of a configuration that a trial of this run already
    trained (or is training) to its fidelity or beyond. (A continuation that
    takes a configuration to a fidelity another trial already took it to is
    counted as a repeat by the simulator, ``summary.n_repeated``, but not
    prevented: it is the optimizer's promotion decision.) With ``repeats = "avoid"`` (the default, a class or instance
    attribute) :meth:`ask` moves such a trial to the nearest held configuration
    not yet trained to that fidelity (``sampler.project(config, fidelity)``),
    so no optimizer spends budget re-training silently. An optimizer that keeps
    its own record of its proposals should project with the fidelity itself
    and learn from ``trial.config`` (the configuration evaluated); the built-in
    ones and the adapters do. ``repeats = "allow"`` lets repeats happen (e.g. to
    average seeds); the simulator counts them (``summary.n_repeated``). The
    policy is recorded by :meth:`describe`. When no configuration is left for
    a fresh trial (:class:`TableExhausted`) or every one was trained to the
    maximum fidelity, ``exhausted`` is set: from then on :meth:`ask` still
    gives the trials that *continue* earlier ones (a multi-fidelity method's
    promotions are not repeats, and finishing them is what the table is for),
    and None where the optimizer wants a fresh configuration; once nothing is
    running and nothing can be continued, the simulator ends the run with
    ``stop_reason = "table_exhausted"``.

    ``done`` may be set to True by an optimizer that has nothing left to do
    ever; the simulator then ends the run once pending trials finish. Returning
    None from ``_ask`` while nothing is pending and ``done`` is False is a bug.
    """

    #: a short name used in logs
    name: ClassVar[str] = "optimizer"
    #: what :meth:`ask` does with a repeat (see the class docstring): "avoid" or "allow"
    repeats: str = "avoid"

    def __init__(
        self,
        *,
        space: Any,
        fidelity: Fidelity,
        objective: Metric,
        seed: int,
        sampler: ConfigSampler | None = None,
        budget: Any = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        self.space = space
        self.fidelity = fidelity
        self.objective = objective
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.sampler = sampler if sampler is not None else ConfigSampler(space)
        self.sampler.reset(float(fidelity.max))
        self.budget = budget
        self.budget_evaluations = budget_in_evaluations(budget, float(fidelity.max))
        #: hyperparameter -> (value, rule) for every default this optimizer scaled to the budget (see describe)
        self.scaled: dict[str, dict[str, Any]] = {}
        self.pending: dict[int, Trial] = {}
        self.done = False
        #: True once a finite sampler has nothing left for a fresh trial (the run ends: "table_exhausted")
        self.exhausted = False
        #: fresh trials :meth:`ask` moved to another configuration because they would have repeated one
        self.n_redirected = 0
        #: trial id -> the fidelity a trial ended at when it was stopped or paused below its own (set by tell)
        self.reached_at: dict[int, float] = {}
        self._next_id = 0
        #: (trial, row): the trial an ``_ask`` of this class made from the finite sampler's row ``row``, so that
        #: :meth:`ask` need not look the configuration up again (used only when :meth:`ask` gets that very trial).
        #: The row drawn is the row :meth:`ConfigSampler.index` finds whenever the configurations are distinct,
        #: as a table's are (benchmarks.table refuses duplicates)
        self._row_hint: tuple[Trial, int] | None = None

    # -------------------------------------------------- public API (called by the simulator)
    def ask(self) -> Trial | None:
        """The next trial to start, or None to wait until a pending trial finishes (once the table is
        exhausted: None for every fresh trial, continuations still go ahead)."""
        try:
            trial = self._ask()
        except TableExhausted:
            self.exhausted = True
            return None
        if trial is not None:
            if trial.trial_id in self.pending or trial.trial_id >= self._next_id:
                raise OptimizerError(
                    f"{type(self).__name__}._ask returned trial {trial.trial_id}, which was not made by "
                    "new_trial/continue_trial or is already pending"
                )
            sampler = self.sampler
            if sampler.configurations is not None:  # a finite sampler (is_finite, without a property call)
                hint = self._row_hint
                if hint is not None and hint[0] is trial:  # _ask made this very trial from row hint[1]
                    i = hint[1]
                    self._row_hint = None
                else:
                    i = sampler.index(trial.config)
                fid = trial.fidelity
                avoid = self.repeats != "allow"
                if i is not None and avoid and trial.continues is None and not sampler.reached[i] < fid:
                    try:
                        moved = sampler.project(trial.config, fid)
                    except TableExhausted:
                        self.exhausted = True
                        return None
                    trial = make_trial(trial.trial_id, moved, fid, None, trial.info, trial.reports)
                    i = sampler.index(moved)
                    self.n_redirected += 1
                sampler.note(trial.config, fid, i)
                _set_row(trial, i)  # the row hint (see Trial); set here only, before the trial is handed out
                if avoid and sampler.n_at_top >= len(sampler):
                    self.exhausted = True  # every configuration trained to the maximum: nothing left to ask
            self.pending[trial.trial_id] = trial
        return trial

    def tell(self, trial: Trial, result: TrialResult) -> None:
        """Report the result of a pending trial."""
        if self.pending.pop(trial.trial_id, None) is None:
            raise OptimizerError(
                f"trial {trial.trial_id} was told to {type(self).__name__} but is not pending"
            )
        if result.reached is not None:
            self.reached_at[trial.trial_id] = result.reached
        self._tell(trial, result)

    def report(self, trial: Trial, result: TrialResult) -> str:
        """An intermediate result of a pending trial that asked for reports (``result.fidelity`` is below the
        trial's); returns what the trial does next: one of :data:`REPORT_DECISIONS`. ``"stop"`` and ``"pause"``
        end the trial at this fidelity (the simulator then tells it with this result, and frees its worker);
        its checkpoint stays, so :meth:`continue_trial` can resume a paused trial later (a thaw)."""
        if trial.trial_id not in self.pending:
            raise OptimizerError(
                f"trial {trial.trial_id} reported to {type(self).__name__} but is not pending"
            )
        decision = self._report(trial, result)
        if decision not in REPORT_DECISIONS:
            raise OptimizerError(
                f"{type(self).__name__}._report returned {decision!r} for trial {trial.trial_id}; "
                f"allowed: {', '.join(REPORT_DECISIONS)}"
            )
        return decision

    # -------------------------------------------------- to implement
    def _ask(self) -> Trial | None:
        raise NotImplementedError

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        raise NotImplementedError

    def _report(self, trial: Trial, result: TrialResult) -> str:
        """Decide at an intermediate report (override in a method that stops or pauses trials): continue."""
        return "continue"

    # -------------------------------------------------- helpers for subclasses
    def new_trial(
        self, config: Mapping[str, Any], fidelity: float | None = None, *, reports: Any = None, **info: Any
    ) -> Trial:
        """A trial that trains ``config`` from scratch to ``fidelity`` (default: the maximum).

        ``reports``: where it reports as it trains, each report reaching :meth:`report` (None: only at the
        end; ``"every"``: at every fidelity the benchmark holds below ``fidelity``; or a list of fidelities)."""
        tid = self._next_id
        self._next_id = tid + 1
        fid = self.fidelity.max if fidelity is None else fidelity
        if reports is None:  # the common case, on the simulator's per-evaluation path
            return make_trial(tid, config, fid, None, info)
        return make_trial(tid, config, fid, None, info, self._report_points(reports, 0.0, fid))

    def continue_trial(self, previous: Trial, fidelity: float, *, reports: Any = None, **info: Any) -> Trial:
        """A trial that resumes the finished (or stopped, or paused) trial ``previous`` up to the higher
        ``fidelity``; ``reports`` as for :meth:`new_trial`, above the fidelity ``previous`` reached."""
        reached = (
            previous.fidelity
            if previous.trial_id not in self.reached_at
            else self.reached_at[previous.trial_id]
        )
        if not fidelity > reached:
            raise OptimizerError(
                f"cannot continue trial {previous.trial_id} at fidelity {fidelity!r}: it already reached "
                f"{reached!r}"
            )
        tid = self._next_id
        self._next_id = tid + 1
        return make_trial(
            tid,
            previous.config,
            fidelity,
            previous.trial_id,
            info,
            self._report_points(reports, reached, fidelity),
        )

    def _report_points(self, reports: Any, low: float, high: float) -> tuple[float, ...] | None:
        """The intermediate report fidelities of a trial from ``low`` to ``high``: those strictly between."""
        if reports is None:
            return None
        if not self.fidelity.incremental:
            raise FidelityError(
                f"reports as a trial trains need a fidelity that training continues along; {self.fidelity.name} "
                "is not incremental (a run at a larger value trains again from scratch, as on a training-set "
                "size), so there is nothing to report on the way: run this method on an epoch fidelity"
            )
        if isinstance(reports, str):
            if reports != "every":
                raise ValueError(f"reports={reports!r}: give None, 'every' or a list of fidelities")
            if self.fidelity.continuous:
                raise ValueError(
                    f"reports='every' needs held fidelities; {self.fidelity.name} is continuous: give a list"
                )
            points = self.fidelity.values
        else:
            points = [self.fidelity.check(float(f)) for f in reports]
        out = tuple(sorted({float(f) for f in points if low < float(f) < high}))
        return out or None

    @property
    def n_trials(self) -> int:
        """How many trials were created so far."""
        return self._next_id

    def describe(self) -> dict[str, Any]:
        """The optimizer's settings, recorded in the run's meta.json (override to add hyperparameters).

        Always: the class, the repeat policy and, when a default was scaled to
        the budget, ``scaled_to_budget`` (hyperparameter -> value and rule).
        """
        d: dict[str, Any] = {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "repeats": self.repeats,
        }
        if self.scaled:
            d["scaled_to_budget"] = {k: dict(v) for k, v in self.scaled.items()}
        return d

    def scale_default(self, name: str, given: Any, value: Any, rule: str, paper: Any) -> Any:
        """``given`` when the user set it (not None); else ``value`` (scaled to the budget by ``rule``), recorded.

        Without a known budget (``budget_evaluations is None``) the default is
        ``paper`` (the published setting), recorded with the reason.
        """
        if given is not None:
            return given
        if self.budget_evaluations is None:
            self.scaled[name] = {"value": paper, "rule": f"{rule}; budget unknown: the published default"}
            return paper
        self.scaled[name] = {"value": value, "rule": rule, "budget_evaluations": self.budget_evaluations}
        return value


# ---------------------------------------------------------------- random search
class RandomSearch(Optimizer):
    """Random search at one fidelity (default: the maximum): the reference every method is compared with.

    Draws configurations uniformly with :class:`ConfigSampler`, in batches of
    ``batch`` (the draws depend on it; it is recorded). On a table: without
    replacement across the run (a random permutation of the table), so the run
    ends when every configuration was evaluated (``table_exhausted``). With
    ``repeats="allow"`` (an instance attribute, or a subclass) it draws with
    replacement instead, as before version 2 of the interface (docs/runner.md).
    """

    name = "rs"

    def __init__(self, *, fidelity_value: float | None = None, batch: int = 1024, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fidelity_value = (
            self.fidelity.max if fidelity_value is None else self.fidelity.check(fidelity_value)
        )
        if batch < 1:
            raise ValueError(f"batch={batch!r} must be >= 1")
        self.batch = int(batch)
        # rows of a finite sampler, else configurations (_buffer_rows says which)
        self._buffer: list[Any] = []
        self._buffer_rows = False

    def _ask(self) -> Trial:
        sampler = self.sampler
        if not self._buffer:
            self._buffer, self._buffer_rows = self._draw_batch(sampler)
            self._buffer.reverse()
        if not self._buffer_rows:
            return self.new_trial(self._buffer.pop(), self.fidelity_value)
        row = self._buffer.pop()
        trial = self.new_trial(dict(sampler.configurations[row]), self.fidelity_value)
        self._row_hint = (trial, row)  # ask() need not look the configuration up
        return trial

    def _draw_batch(self, sampler: ConfigSampler) -> tuple[list[Any], bool]:
        """The next batch of draws, and whether they are rows of the finite sampler (else configurations).

        Rows wherever the draws are ConfigSampler's own, so that ask need not look each configuration up; a
        sampler of its own draws (a prior's) gives configurations when repeats are avoided.
        """
        if self.repeats != "allow" and sampler.is_finite:
            # a batch of distinct configurations not evaluated yet, in random order; only this optimizer
            # evaluates, so they stay unevaluated until popped (a subclass that interleaves other trials
            # would have a popped one moved by ask, which never lets a repeat through)
            rows = type(sampler).sample is ConfigSampler.sample
            n = min(self.batch, sampler.n_unevaluated)
            batch = sampler.sample_rows(n, self.rng) if rows else sampler.sample(n, self.rng)
            if not batch:
                raise TableExhausted(f"random search drew every one of the {len(sampler)} configurations")
            return batch, rows
        # drawn in batches for speed (the draws depend on ``batch``; it is recorded in meta.json)
        if sampler.is_finite:  # repeats allowed: uniformly with replacement
            return sampler.sample_ids(self.batch, self.rng).tolist(), True
        return sampler.sample(self.batch, self.rng), False

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "fidelity_value": self.fidelity_value, "batch": self.batch}
