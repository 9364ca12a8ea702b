"""The Benchmark protocol: one typed way to query tables and surrogates alike.

Every benchmark in CurveBench, whether a published table, a table this project
generated, or a fitted surrogate, answers the same calls:

* ``query(config, fidelity=None, seed=None) -> Result``
* ``curve(config, seed=None) -> Curve``
* ``query_batch(configs, fidelities=None, seeds=None, metrics=None) -> BatchResult``
* ``optimum(metric) -> float``

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
continuing a paused run costs. Cost never decreases with fidelity.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Direction = Literal["minimize", "maximize"]

#: the largest seed a benchmark that takes any seed (a surrogate) accepts: seeds are hashed as 64-bit integers
MAX_SEED = 2**63 - 1


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
    """

    name: str
    values: tuple[float, ...]
    unit: str = ""
    continuous: bool = False

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"fidelity {self.name!r} holds no values")
        if list(self.values) != sorted(self.values) or len(set(self.values)) != len(self.values):
            raise ValueError(f"fidelity {self.name!r}: values must be strictly increasing, got {self.values}")

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
        return f"one of {_fmt(self.values[0])}, {_fmt(self.values[1])}, ..., {_fmt(self.values[-1])} ({len(self.values)} values)"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": list(self.values), "unit": self.unit}


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


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


# ---------------------------------------------------------------- protocol
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

    @abstractmethod
    def query(
        self, config: Mapping[str, Any], fidelity: float | None = None, seed: int | None = None
    ) -> Result:
        """Every metric and the cost of ``config`` at ``fidelity`` (default: max) for ``seed``."""

    @abstractmethod
    def curve(self, config: Mapping[str, Any], seed: int | None = None) -> Curve:
        """The whole learning curve of ``config`` for ``seed`` at every fidelity the benchmark holds."""

    @abstractmethod
    def query_batch(
        self,
        configs: Any,
        fidelities: Any = None,
        seeds: Any = None,
        metrics: Sequence[str] | None = None,
    ) -> BatchResult:
        """Many queries at once; ``fidelities`` and ``seeds`` broadcast against the configs."""

    @abstractmethod
    def optimum(self, metric: str | None = None) -> float:
        """The best value of ``metric`` (default: the objective) the benchmark holds, for regret."""

    def configurations(self) -> list[dict[str, Any]] | None:
        """The finite set of configurations a table holds, or None for benchmarks that answer anywhere."""
        return None

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

    def describe(self) -> dict[str, Any]:
        """A plain summary, as printed by ``python -m benchmarks show NAME``."""
        configs = self.configurations()
        return {
            "name": self.name,
            "type": type(self).__name__,
            "fidelity": self.fidelity.describe(),
            "n_configs": len(configs) if configs is not None else None,
            "seeds": list(self.seeds) if self.seeds is not None else "any",
            "objective": self.objective,
            "test_objective": self.test_objective,
            "metrics": {m.name: m.to_dict() for m in self.metrics.values()},
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.fidelity.describe()})"
