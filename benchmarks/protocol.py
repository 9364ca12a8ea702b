"""The Benchmark protocol: one typed way to query tables and surrogates alike.

Every benchmark in CurveBench, whether a published table, a table this project
generated, or a fitted surrogate, answers the same calls:

* ``query(config, fidelity=None, seed=None) -> Result``
* ``curve(config, seed=None) -> Curve``
* ``query_batch(configs, fidelities=None, seeds=None, metrics=None) -> BatchResult``
* ``optimum(metric) -> float``
* ``value_range(metric) -> ValueRange`` (the range of normalized regret, one convention for all)
* ``evaluator(metric, reported) -> Evaluator`` (what a simulator asks per evaluation, as fast as it can)

``query``, ``curve`` and ``query_batch`` are template methods: the protocol checks the seed, the
fidelity, the metrics and the shape of the configuration once, then calls ``_query``, ``_curve`` and
``_query_batch``, which a benchmark implements with what is specific to it (a table maps a
configuration to its row, a surrogate encodes it; both raise ConfigError naming the bad value).

Seed policy (the same for every benchmark)
------------------------------------------
``seed=None`` means ``benchmark.default_seed``: the first seed the benchmark
holds (``benchmark.seeds[0]``) for tables, and 0 for surrogates. Results are
never averaged over seeds behind the caller's back. A seed the benchmark does
not hold raises :class:`SeedError` naming the seeds it does hold.

Fidelity policy
---------------
``fidelity=None`` means the maximum fidelity. A table answers only at the
fidelity values it holds (``benchmark.fidelity.values``); a surrogate answers
at any value in ``[fidelity.min, fidelity.max]``. Anything else raises
:class:`FidelityError`.

Cost policy
-----------
``Result.cost`` is the number of seconds that training the configuration
alone, from scratch, to that fidelity took (or is predicted to take) on the
recording hardware. ``Result.cost_increment`` is the extra seconds from the
previous fidelity the benchmark holds (from zero at the first one), i.e. what
continuing a paused run costs, on an incremental fidelity (epochs); on one that
is not (a training-set size), continuing is training again from scratch, and the
increment is the whole cost. Cost never decreases with fidelity.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .sampling import sample_configurations

Direction = Literal["minimize", "maximize"]

#: the largest seed a benchmark that takes any seed (a surrogate) accepts: seeds are hashed as 64-bit integers
MAX_SEED = 2**63 - 1

#: Normalized regret needs a fixed range per benchmark and metric: ``(y - y*) / (y_ref - y*)``. One convention for
#: every benchmark (RANGE_CONVENTION, :meth:`Benchmark.value_range`): from the optimum y* (the best value the
#: benchmark holds, what regret is measured against) to the *median* finite value at the maximum fidelity on every
#: seed, over every configuration of a table, or, for a benchmark that answers anywhere (a surrogate), over
#: RANGE_SAMPLES configurations sampled uniformly with RANGE_SEED. The median is what one random configuration
#: trained to the end reaches half the time (random search's median first incumbent): normalized regret 1 means
#: "no better than a typical random configuration", 0 the optimum. The earlier convention (RANGE_CONVENTION_WORST,
#: results made before it changed) used the *worst* finite value at the maximum fidelity; that value is a divergence
#: on FCNet (standardized MSE in the tens to tens of thousands), which made FCNet's normalized regrets 1e-5 ... 1e-9
#: and let the benchmark with the narrowest range decide every cross-benchmark average. The worst value is still
#: given (``ValueRange.worst``) for information. The worst value at *any* fidelity would be worse still: a run that
#: blows up early in training has a validation loss of 1e37 there.
RANGE_SAMPLES = 1000
RANGE_SEED = 0
RANGE_CONVENTION = "median-at-max-fidelity"
RANGE_CONVENTION_WORST = "worst-at-max-fidelity"
RANGE_NOTE_TABLE = (
    "optimum to the median finite value at the maximum fidelity over every configuration and seed "
    "of the table"
)
RANGE_NOTE_SAMPLE = (
    f"estimated: optimum to the median finite value at the maximum fidelity over {RANGE_SAMPLES} configurations "
    f"sampled uniformly (seed {RANGE_SEED}), at each seed the benchmark holds (its default seed when it takes any)"
)


# ---------------------------------------------------------------- errors
class CurveBenchError(Exception):
    """Base class of every error CurveBench raises on bad input or bad files."""


class UnknownBenchmarkError(CurveBenchError, LookupError):
    """A benchmark name that is not in the catalog."""


class ConfigError(CurveBenchError, ValueError):
    """An unknown hyperparameter, a missing one, or a value outside the space."""


class FidelityError(CurveBenchError, ValueError):
    """A fidelity outside the range, or not among the values a table holds."""


class SeedError(CurveBenchError, ValueError):
    """A seed the benchmark does not hold."""


class MetricError(CurveBenchError, KeyError):
    """An unknown metric name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class TableFormatError(CurveBenchError, ValueError):
    """A table folder whose files are missing, truncated, corrupted or inconsistent."""


# ---------------------------------------------------------------- metadata
@dataclass(frozen=True, slots=True)
class Metric:
    """A metric with its direction and bounds, declared once per benchmark."""

    name: str
    direction: Direction
    lower: float = -math.inf
    upper: float = math.inf
    split: Literal["train", "valid", "test"] | None = None
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.direction not in ("minimize", "maximize"):
            raise ValueError(
                f"metric {self.name!r}: direction {self.direction!r} is not one of 'minimize', 'maximize'"
            )
        if not self.lower <= self.upper:
            raise ValueError(f"metric {self.name!r}: lower bound {self.lower} > upper bound {self.upper}")

    @property
    def sign(self) -> float:
        """+1 for minimize, -1 for maximize: ``sign * value`` is always "lower is better"."""
        return 1.0 if self.direction == "minimize" else -1.0

    def is_better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b``."""
        return a < b if self.direction == "minimize" else a > b

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "direction": self.direction,
            "lower": _num_to_json(self.lower),
            "upper": _num_to_json(self.upper),
            "split": self.split,
            "unit": self.unit,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Metric:
        return cls(
            name=d["name"],
            direction=d["direction"],
            lower=_num_from_json(d.get("lower", "-inf")),
            upper=_num_from_json(d.get("upper", "inf")),
            split=d.get("split"),
            unit=d.get("unit", ""),
            description=d.get("description", ""),
        )


def _num_to_json(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _num_from_json(x: float | str) -> float:
    return float(x)


@dataclass(frozen=True, slots=True)
class Fidelity:
    """The fidelity axis: its name, unit and the values a benchmark holds.

    ``values`` is sorted ascending. ``continuous`` benchmarks (surrogates)
    accept any value in ``[min, max]``; tables accept only ``values``.
    ``incremental``: whether a run at a higher value continues one at a lower value (epochs: training resumes
    from the checkpoint, and a continuation pays the cost increment), or starts again from scratch (the
    training-set size: a model fitted on more data is fitted again, and a continuation pays the whole cost).
    """

    name: str
    values: tuple[float, ...]
    unit: str = ""
    continuous: bool = False
    incremental: bool = True
    #: the values as a set, for :meth:`check`'s membership test (derived from ``values``)
    _held: frozenset = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"fidelity {self.name!r} holds no values")
        if list(self.values) != sorted(self.values) or len(set(self.values)) != len(self.values):
            raise ValueError(f"fidelity {self.name!r}: values must be strictly increasing, got {self.values}")
        object.__setattr__(self, "_held", frozenset(self.values))

    @property
    def min(self) -> float:
        return self.values[0]

    @property
    def max(self) -> float:
        return self.values[-1]

    def __len__(self) -> int:
        return len(self.values)

    def describe(self) -> str:
        if len(self.values) == 1:
            return f"{self.name}={_fmt(self.values[0])} (one fidelity)"
        return f"{self.name} in [{_fmt(self.min)}, {_fmt(self.max)}] ({len(self.values)} values)"

    def check(self, value: float) -> float:
        """Return ``value`` if a benchmark on this axis can answer at it, else raise FidelityError."""
        kind = type(value)
        if (kind is float or kind is int) and (  # the common case first: a plain number inside the range
            value in self._held or (self.continuous and self.values[0] <= value <= self.values[-1])
        ):
            return value
        if (
            value is None
            or isinstance(value, bool)
            or not isinstance(value, (int, float, np.integer, np.floating))
        ):
            raise FidelityError(f"fidelity {self.name}={value!r} is not a number; allowed: {self._allowed()}")
        if not (self.min <= value <= self.max):
            raise FidelityError(
                f"fidelity {self.name}={value!r} is outside the range; allowed: {self._allowed()}"
            )
        if not self.continuous and value not in self.values:
            raise FidelityError(
                f"fidelity {self.name}={value!r} is not held by this table; allowed: {self._allowed()}"
            )
        return value

    def _allowed(self) -> str:
        if self.continuous:
            return f"any value in [{_fmt(self.min)}, {_fmt(self.max)}]"
        if len(self.values) <= 12:
            return "one of " + ", ".join(_fmt(v) for v in self.values)
        v = self.values
        return f"one of {_fmt(v[0])}, {_fmt(v[1])}, ..., {_fmt(v[-1])} ({len(v)} values)"

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "values": list(self.values), "unit": self.unit}
        if (
            not self.incremental
        ):  # written only when false: the manifests (and checksums) of epoch tables keep
            d["incremental"] = False  # the form they had before the field existed
        return d


def _fmt(v: float) -> str:
    """A fidelity value as it can be typed back: the integer, or the shortest repr that reads as the same float
    (1/27 is 0.037037037037037035, not 0.037037, which a query would refuse)."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


# ---------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class Result:
    """One answer: every metric at one (config, fidelity, seed), and its cost."""

    fidelity: float
    seed: int
    metrics: Mapping[str, float]
    cost: float
    cost_increment: float
    config_id: int | None = None

    def __getitem__(self, metric: str) -> float:
        return self.metrics[metric]


@dataclass(frozen=True, slots=True)
class Curve:
    """A whole learning curve: arrays over ``fidelities`` for every metric and the cost."""

    fidelities: np.ndarray
    seed: int
    metrics: Mapping[str, np.ndarray]
    cost: np.ndarray
    config_id: int | None = None

    def __len__(self) -> int:
        return len(self.fidelities)

    def __getitem__(self, metric: str) -> np.ndarray:
        return self.metrics[metric]

    def at(self, i: int) -> Result:
        """The i-th point of the curve as a Result."""
        prev = float(self.cost[i - 1]) if i > 0 else 0.0
        return Result(
            fidelity=self.fidelities[i].item(),
            seed=self.seed,
            metrics={k: float(v[i]) for k, v in self.metrics.items()},
            cost=float(self.cost[i]),
            cost_increment=float(self.cost[i]) - prev,
            config_id=self.config_id,
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Answers for n queries at once: ``metrics[name]`` and ``cost`` are arrays of length n."""

    metrics: Mapping[str, np.ndarray]
    cost: np.ndarray | None

    def __len__(self) -> int:
        return len(next(iter(self.metrics.values()))) if self.metrics else len(self.cost)

    def __getitem__(self, metric: str) -> np.ndarray:
        return self.metrics[metric]


@dataclass(frozen=True, slots=True)
class ValueRange:
    """The range of normalized regret of one metric, by RANGE_CONVENTION (each value in the metric's units).

    ``best``: the better of the optimum and the best value at the maximum fidelity; ``reference``: the median
    finite value there; ``worst``: the worst finite value there (for information); ``source``: ``"table"``
    (every configuration the benchmark holds) or ``"sample"`` (RANGE_SAMPLES configurations drawn with RANGE_SEED).
    """

    best: float
    reference: float
    worst: float
    source: Literal["table", "sample"]

    @property
    def note(self) -> str:
        """How the range was obtained, as a sentence (recorded with every run as ``value_range_source``)."""
        return RANGE_NOTE_TABLE if self.source == "table" else RANGE_NOTE_SAMPLE

    def normalized_regret(self, value: float, sign: float) -> float:
        """``sign * (value - best) / |reference - best|`` (the denominator 1 when the range is empty): 0 at the
        optimum, 1 at the median configuration. ``sign``: the metric's (+1 minimize, -1 maximize)."""
        span = abs(self.reference - self.best)
        return sign * (value - self.best) / (span if span > 0 and math.isfinite(span) else 1.0)


# ---------------------------------------------------------------- protocol
#: what :meth:`Benchmark._query_batch` receives after the protocol's checks: None, one value, or one per configuration
Fidelities = float | np.ndarray | None
Seeds = int | np.ndarray | None


class Benchmark(ABC):
    """What every CurveBench benchmark provides. See the module docstring for the policies."""

    name: str
    #: the search space (a ConfigSpace ``ConfigurationSpace``)
    space: Any
    fidelity: Fidelity
    #: every metric by name, in a fixed order
    metrics: Mapping[str, Metric]
    #: the main validation metric optimizers see, and its test counterpart
    objective: str
    test_objective: str | None
    #: the seeds the benchmark holds (None: any integer in 0..MAX_SEED)
    seeds: tuple[int, ...] | None
    default_seed: int
    #: where the numbers come from (code version, data checksum, hardware, citation, ...)
    provenance: Mapping[str, Any]

    # ------------------------------------------------------------ template methods: checks once, then the hooks
    def query(
        self, config: Mapping[str, Any], fidelity: float | None = None, seed: int | None = None
    ) -> Result:
        """Every metric and the cost of ``config`` at ``fidelity`` (default: max) for ``seed``."""
        return self._query(self._check_config(config), self._check_fidelity(fidelity), self.check_seed(seed))

    def curve(self, config: Mapping[str, Any], seed: int | None = None) -> Curve:
        """The whole learning curve of ``config`` for ``seed`` at every fidelity the benchmark holds."""
        return self._curve(self._check_config(config), self.check_seed(seed))

    def query_batch(
        self,
        configs: Any,
        fidelities: Any = None,
        seeds: Any = None,
        metrics: Sequence[str] | None = None,
        with_cost: bool = True,
    ) -> BatchResult:
        """Many queries at once; ``fidelities`` and ``seeds`` broadcast against the configs.

        ``configs``: a DataFrame (one column per hyperparameter) or a sequence of mappings (a table also takes
        a 1-D integer array of config ids). ``fidelities`` and ``seeds``: scalars or arrays of one value per
        configuration (None: the maximum fidelity, the default seed). ``metrics`` picks the metrics to return
        (default: all); ``with_cost=False`` skips the cost (``BatchResult.cost`` is then None).
        """
        n = self._batch_size(configs)
        return self._query_batch(
            configs,
            self._batch_fidelities(fidelities, n),
            self._batch_seeds(seeds, n),
            self._metric_names(metrics),
            with_cost,
        )

    @abstractmethod
    def _query(self, config: Any, fidelity: float, seed: int) -> Result:
        """:meth:`query` of a checked seed and fidelity; ``config`` is what :meth:`_check_config` returned."""

    @abstractmethod
    def _curve(self, config: Any, seed: int) -> Curve:
        """:meth:`curve` of a checked seed; ``config`` is what :meth:`_check_config` returned."""

    @abstractmethod
    def _query_batch(
        self, configs: Any, fidelities: Fidelities, seeds: Seeds, metrics: tuple[str, ...], with_cost: bool
    ) -> BatchResult:
        """:meth:`query_batch` after the protocol's checks.

        ``fidelities``: None (the maximum), one checked value, or a numeric array of one value per
        configuration, each in ``[fidelity.min, fidelity.max]`` (whether a table holds it is the table's
        check). ``seeds``: None (the default seed), one checked seed, or an integer array of one seed per
        configuration (each in range when the benchmark takes any seed; whether a table holds it is the
        table's check). ``metrics``: known metric names.
        """

    # ------------------------------------------------------------ the checks
    def _check_config(self, config: Any) -> Any:
        """A configuration the benchmark can look up: the mapping itself here (its values are checked where the
        benchmark reads them); a table overrides this to return the configuration's row."""
        if isinstance(config, Mapping):
            return config
        if isinstance(config, (int, np.integer)) and not isinstance(config, bool):
            raise ConfigError(
                f"config_id {config} given, but {self.name} has no table rows; pass the configuration itself"
            )
        raise ConfigError(
            f"a configuration must be a mapping of hyperparameter names to values, got {type(config).__name__}"
        )

    def _check_fidelity(self, fidelity: float | None) -> float:
        """``fidelity`` if the benchmark answers at it (None: the maximum), else FidelityError."""
        return self.fidelity.max if fidelity is None else self.fidelity.check(fidelity)

    def _batch_size(self, configs: Any) -> int:
        """How many configurations ``configs`` holds; ConfigError for a single configuration or a non-sequence."""
        if isinstance(configs, (Mapping, str, bytes)):
            raise ConfigError(
                f"query_batch takes many configurations (a DataFrame or a sequence of mappings), got one "
                f"{type(configs).__name__}; use query for one"
            )
        if isinstance(configs, np.ndarray) and configs.ndim != 1:
            raise ConfigError(f"config ids must be a 1-D array; got shape {configs.shape}")
        try:
            return len(configs)
        except TypeError:
            raise ConfigError(
                f"query_batch takes a DataFrame or a sequence of configurations, got {type(configs).__name__}"
            ) from None

    def _batch_fidelities(self, fidelities: Any, n: int) -> float | np.ndarray | None:
        """None, one checked fidelity, or an (n,) numeric array inside the fidelity range (else FidelityError)."""
        if fidelities is None:
            return None
        arr = np.asarray(fidelities)
        if arr.ndim == 0:
            return self.fidelity.check(arr.item())
        if arr.shape != (n,):
            raise FidelityError(
                f"fidelity values have shape {arr.shape}; expected a scalar or ({n},), one per configuration"
            )
        if arr.dtype.kind not in "iuf":
            raise FidelityError(f"fidelity values must be numbers; got dtype {arr.dtype}")
        if n and not (arr.min() >= self.fidelity.min and arr.max() <= self.fidelity.max):  # NaN fails too
            inside = (arr >= self.fidelity.min) & (arr <= self.fidelity.max)
            self.fidelity.check(arr[~inside][0].item())
        return arr

    def _batch_seeds(self, seeds: Any, n: int) -> int | np.ndarray | None:
        """None, one checked seed, or an (n,) integer array (in range when any seed is allowed; else SeedError)."""
        if seeds is None:
            return None
        arr = np.asarray(seeds)
        if arr.ndim == 0:
            return self.check_seed(arr.item())
        if arr.shape != (n,):
            raise SeedError(
                f"seed values have shape {arr.shape}; expected a scalar or ({n},), one per configuration"
            )
        if arr.dtype.kind not in "iu" or (
            self.seeds is None and n and (arr.min() < 0 or arr.max() > MAX_SEED)
        ):
            bad = next((s for s in arr.tolist() if not isinstance(s, int) or not 0 <= s <= MAX_SEED), None)
            self.check_seed(arr.tolist()[0] if bad is None else bad)
        return arr

    def _metric_names(self, metrics: Sequence[str] | None) -> tuple[str, ...]:
        """The metric names asked for (default: every metric); MetricError naming an unknown one."""
        if metrics is None:
            return tuple(self.metrics)
        if isinstance(metrics, str):
            metrics = (metrics,)
        return tuple(self.metric(m).name for m in metrics)

    @abstractmethod
    def optimum(self, metric: str | None = None) -> float:
        """The best value of ``metric`` (default: the objective) the benchmark holds, for regret."""

    def configurations(self) -> list[dict[str, Any]] | None:
        """The finite set of configurations a table holds, or None for benchmarks that answer anywhere."""
        return None

    def n_configurations(self) -> int | None:
        """How many configurations :meth:`configurations` lists (None: any of the space); a table overrides it
        to count without building the list."""
        configs = self.configurations()
        return None if configs is None else len(configs)

    # ------------------------------------------------------------ value range (normalized regret)
    def value_range(self, metric: str | None = None) -> ValueRange:
        """The range of normalized regret of ``metric`` (default: the objective), by RANGE_CONVENTION.

        From :meth:`values_at` at the maximum fidelity and :meth:`optimum`; ValueError when no value there is
        finite. Computed on each call (callers that need it often keep it: ``runners.results.range_info``).
        """
        mt = self.metric(metric)
        vals, source = self.values_at(mt.name)
        loss = mt.sign * vals[np.isfinite(vals)]
        if not loss.size:
            raise ValueError(f"benchmark {self.name}: no finite value of {mt.name} at the maximum fidelity")
        best, median, worst = float(loss.min()), float(np.median(loss)), float(loss.max())
        try:
            best = min(best, mt.sign * float(self.optimum(mt.name)))
        except NotImplementedError:
            pass
        return ValueRange(mt.sign * best, mt.sign * median, mt.sign * worst, source)

    def values_at(self, metric: str | None = None, fidelity: float | None = None) -> tuple[np.ndarray, str]:
        """Metric values at the maximum fidelity (or ``fidelity``): an array (configurations, seeds), and how the
        configurations were chosen (``"table"`` or ``"sample"``).

        The configurations the benchmark holds, in its order; for a benchmark that answers anywhere,
        RANGE_SAMPLES configurations sampled uniformly with RANGE_SEED. Columns are the benchmark's seeds (one
        column, the default seed, when it takes any). Non-finite values (divergence) are NaN.
        """
        name = self.metric(metric).name
        held = self.configurations()
        if held is not None:
            configs: Any = held
            source = "table"
        else:
            configs = sample_configurations(self.space, RANGE_SAMPLES, np.random.default_rng(RANGE_SEED))
            source = "sample"
        f = self.fidelity.max if fidelity is None else fidelity
        seeds = list(self.seeds) if self.seeds else [None]
        cols = [
            np.asarray(self.query_batch(configs, fidelities=f, seeds=s, metrics=[name])[name], dtype=float)
            for s in seeds
        ]
        vals = np.stack(cols, axis=1)
        vals[~np.isfinite(vals)] = np.nan
        return vals, source

    # ------------------------------------------------------------ several fidelity axes
    @property
    def fidelity_axes(self) -> dict[str, Fidelity]:
        """Every fidelity axis the benchmark holds, by name. Most hold one, :attr:`fidelity`; a benchmark with
        several (the training-set fraction and the epoch: :mod:`benchmarks.datasize`) answers along one at a
        time (JAHS-Bench-201's convention), and :attr:`fidelity` is the one it answers along."""
        return {self.fidelity.name: self.fidelity}

    def along(self, axis: str, **at: float) -> Benchmark:
        """This benchmark along fidelity axis ``axis``, every other axis fixed at ``at`` (default: its maximum).

        FidelityError names the axes the benchmark holds when it has no axis ``axis``."""
        if axis == self.fidelity.name and not at:
            return self
        if axis == self.fidelity.name:
            raise FidelityError(
                f"{self.name} has one fidelity axis, {axis!r}: nothing to fix ({', '.join(at)})"
            )
        raise FidelityError(
            f"{self.name} has no fidelity axis {axis!r}; allowed: {', '.join(self.fidelity_axes)}"
        )

    # ------------------------------------------------------------ the simulator's hook
    def evaluator(self, metric: str | None = None, reported: Sequence[str] = ()) -> Evaluator:
        """What a simulator asks per evaluation: ``metric`` (default: the objective) and the cost at one point,
        and the ``reported`` metrics an optimizer is told. This one answers through :meth:`query`; a table
        reads its arrays, a surrogate predicts only the metric asked for."""
        return Evaluator(self, self.metric(metric).name, reported)

    @property
    def checksum(self) -> str:
        """A digest that identifies the exact numbers behind this benchmark (recorded with results)."""
        return str(self.provenance.get("checksum", ""))

    @property
    def objective_metric(self) -> Metric:
        return self.metrics[self.objective]

    def metric(self, name: str | None) -> Metric:
        name = self.objective if name is None else name
        try:
            return self.metrics[name]
        except KeyError:
            raise MetricError(
                f"unknown metric {name!r} for {self.name}; allowed: {', '.join(self.metrics)}"
            ) from None

    def check_seed(self, seed: int | None) -> int:
        if seed is None:
            return self.default_seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise SeedError(f"seed {seed!r} is not an integer; {self._seed_help()}")
        if self.seeds is None:
            if not 0 <= seed <= MAX_SEED:
                raise SeedError(f"seed {seed!r} is outside the allowed range; {self._seed_help()}")
            return int(seed)
        if seed not in self.seeds:
            raise SeedError(f"seed {seed!r} is not held by {self.name}; {self._seed_help()}")
        return int(seed)

    def _seed_help(self) -> str:
        if self.seeds is None:
            return f"allowed: any integer in 0..2**63-1 ({MAX_SEED})"
        return f"allowed: one of {', '.join(map(str, self.seeds))} (None means {self.default_seed})"

    def validate(self) -> None:  # noqa: B027 - a hook with nothing to do by default, not an abstract method
        """Run every check that loading deferred (a surrogate loaded lazily builds and probes its model on first
        use); raise CurveBenchError on a failure. By default loading checks everything and there is nothing left."""

    def describe(self) -> dict[str, Any]:
        """A plain summary, as printed by ``python -m benchmarks show NAME``."""
        return {
            "name": self.name,
            "type": type(self).__name__,
            "fidelity": self.fidelity.describe(),
            "n_configs": self.n_configurations(),
            "seeds": list(self.seeds) if self.seeds is not None else "any",
            "objective": self.objective,
            "test_objective": self.test_objective,
            "metrics": {m.name: m.to_dict() for m in self.metrics.values()},
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.fidelity.describe()})"


class Evaluator:
    """Answers one metric and the cost at (config, fidelity, seed) as fast as a benchmark can (the simulator's hook).

    Made by :meth:`Benchmark.evaluator`. :meth:`evaluate` returns a key for the point, the metric's value and
    the cumulative cost; the other calls take keys. This one, the default, asks :meth:`Benchmark.query` (the key
    is the Result); a table's and a surrogate's are faster, with the same numbers.
    """

    #: how many rows the benchmark holds when :meth:`config_ids` gives them (a table), else None
    n_rows: int | None = None

    def __init__(self, benchmark: Benchmark, metric: str, reported: Sequence[str] = ()) -> None:
        self.benchmark = benchmark
        self.metric = metric
        self.reported_names = tuple(benchmark.metric(m).name for m in reported)
        self._query = benchmark.query

    def evaluate(
        self, config: Any, fidelity: float, seed: int, row: int | None = None
    ) -> tuple[Any, float, float]:
        """(key, value of the metric, cumulative cost) at one point; the protocol's errors for bad input.

        ``row``: a hint, the index of ``config`` in :meth:`Benchmark.configurations` when the caller knows it
        (the simulator passes the one its optimizer's sampler found, to an evaluator whose ``evaluate`` takes
        ``row``). An evaluator may use it in place of its own lookup only after checking that it names this
        configuration; a wrong hint costs time, never a wrong answer. This one ignores it.
        """
        res = self._query(config, fidelity, seed)
        return res, float(res.metrics[self.metric]), res.cost

    def evaluate_next(
        self, key: Any, config: Any, fidelity: float, seed: int, row: int | None = None
    ) -> tuple[Any, float, float]:
        """:meth:`evaluate` of the configuration and seed of the point ``key`` (which this evaluator returned for
        ``config`` and ``seed``) at another ``fidelity``: what the simulator asks as a trial that reports
        continues to its next report. This one calls :meth:`evaluate`; a table's moves along the key instead of
        looking the configuration up again. The same numbers either way; the protocol's errors for a fidelity
        not held. The simulator uses an override only where it comes with its ``evaluate`` (defined by the
        class that defines ``evaluate``, or a subclass of it); otherwise it calls ``evaluate``."""
        return self.evaluate(config, fidelity, seed)

    def reported(self, key: Any) -> Mapping[str, float]:
        """The reported metrics at the point ``key`` names."""
        m = key.metrics
        return {k: m[k] for k in self.reported_names}

    def config_ids(self, keys: Sequence[Any]) -> Sequence[int | None]:
        """The table row of each point (None where the benchmark has no rows)."""
        return [r.config_id for r in keys]

    def metric_columns(self, keys: Sequence[Any]) -> dict[str, np.ndarray]:
        """Every metric at every point, as float64 arrays in the order of ``keys``."""
        return {
            m: np.fromiter((r.metrics.get(m, math.nan) for r in keys), dtype=np.float64, count=len(keys))
            for m in self.benchmark.metrics
        }
