"""Objectives as a list: a benchmark's metrics plus the derived ones, each with its direction and bounds.

A multi-objective run names its objectives (``objectives=[valid_cross_entropy,cost]`` in Hydra). Each is
one of the benchmark's metrics that an optimizer may see (not a test-split one; ``objective`` names the
benchmark's own objective, so one list serves benchmarks whose metrics differ) or one of two derived
metrics every result carries implicitly (the third where it was measured):

* ``cost``: the cumulative training cost of the configuration to the result's fidelity, in solo
  seconds (the table's cost column; for a continued trial the cost of all its epochs, not the increment),
  minimize, bounded below by 0. On every benchmark.
* ``n_params``: the trainable parameter count of the configuration's network, minimize. On the
  generated families (LCBench-style and FCNet tables, their surrogates and data-size families), from
  the family's layer widths (:mod:`benchmarks.architectures`) and the dataset's input and output sizes
  recorded in the table's provenance. Absent elsewhere (the published tables do not record their
  networks' input sizes): asking for it there is an error naming the benchmark.

* ``infer_cost``: seconds per sample of the configuration's forward pass, minimize. Tables merged by the
  pipeline since it times inference (``data/inference.py``: every configuration's network in evaluation
  mode, on a batch of test rows, on the recording hardware) carry it as the attribute ``infer_seconds``;
  on such a table it is that measurement. On a surrogate of such a table, or a data-size family whose
  full table has it, it is a non-negative least-squares model of those measurements on the network's
  size (``[1, Linear layers, multiply-accumulates per sample]``; :class:`InferenceCost`), fitted over the
  table's configurations. Absent for tables generated before (their cards say so; ``n_params`` is the
  proxy there: an MLP's forward pass costs about 2 x n_params FLOPs) and for the published tables.

:func:`reference_bounds` gives each objective's documented normalization for hypervolume: 0 at its
best over the benchmark's configurations at the maximum fidelity, 1 at their median (the suite's
normalized-regret convention, :meth:`~benchmarks.protocol.Benchmark.value_range`), so the reference
point is (1, ..., 1): a result counts towards the hypervolume only where it beats the median
configuration on every objective.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls

from .architectures import FAMILY_LAYERS, mlp_params
from .catalog import is_available, load
from .protocol import RANGE_SAMPLES, RANGE_SEED, Benchmark, ConfigError, Metric, MetricError
from .sampling import sample_configurations

__all__ = [
    "COST",
    "INFER_ATTRIBUTE",
    "INFER_COST",
    "N_PARAMS",
    "Architecture",
    "InferenceCost",
    "architecture_of",
    "derived_metrics",
    "inference_cost_of",
    "objective_metrics",
    "reference_bounds",
]

COST = "cost"
#: in an objectives list, the benchmark's own objective (so one list serves benchmarks of different metrics)
OBJECTIVE_ALIAS = "objective"
N_PARAMS = "n_params"
INFER_COST = "infer_cost"
#: the per-configuration table attribute the data pipeline writes inference timings to (data/inference.py)
INFER_ATTRIBUTE = "infer_seconds"
#: at most this many objectives in one run
MAX_OBJECTIVES = 4

_COST_METRIC = Metric(
    COST,
    "minimize",
    lower=0.0,
    unit="s",
    description="cumulative training cost of the configuration to this fidelity (solo seconds)",
)
_PARAMS_METRIC = Metric(
    N_PARAMS,
    "minimize",
    lower=0.0,
    unit="parameters",
    description="trainable parameters of the configuration's network",
)

_INFER_METRIC = Metric(
    INFER_COST,
    "minimize",
    lower=0.0,
    unit="s/sample",
    description="seconds per sample of the configuration's forward pass, timed when the table was generated",
)


@dataclass(frozen=True)
class Architecture:
    """A generated family's network sizes for one benchmark: which family, and its input and output widths."""

    family: str
    n_features: int
    n_classes: int

    def widths(self, config: Mapping[str, Any]) -> list[int]:
        return FAMILY_LAYERS[self.family](config, self.n_features, self.n_classes)

    def n_params(self, config: Mapping[str, Any]) -> int:
        return mlp_params(self.widths(config))

    def size_features(self, config: Mapping[str, Any]) -> list[float]:
        """[1, Linear layers, multiply-accumulates per sample]: what a forward pass's time grows with."""
        w = self.widths(config)
        return [1.0, float(len(w) - 1), float(sum(a * b for a, b in zip(w[:-1], w[1:])))]


def _from_provenance(prov: Mapping[str, Any]) -> Architecture | None:
    family, ds = prov.get("family"), prov.get("dataset")
    if family not in FAMILY_LAYERS or not isinstance(ds, Mapping):
        return None
    n_features = ds.get("n_features")
    if not isinstance(n_features, int):
        return None
    n_classes = ds.get("n_classes")
    return Architecture(str(family), n_features, int(n_classes) if isinstance(n_classes, int) else 1)


def architecture_of(bench: Benchmark) -> Architecture | None:
    """The network sizes behind ``bench`` when it is a generated family's table, a data-size family (its full
    table's sizes) or a surrogate of such a table (the table's sizes); None elsewhere."""
    prov = bench.provenance
    found = _from_provenance(prov)
    if found is not None:
        return found
    parts = prov.get("parts")
    if isinstance(parts, Mapping) and parts:
        return _from_provenance(list(parts.values())[-1])
    table = prov.get("table")
    if isinstance(table, Mapping) and isinstance(table.get("name"), str):
        return _table_architecture(table["name"])
    return None


@functools.lru_cache(maxsize=64)
def _table_architecture(name: str) -> Architecture | None:
    ok, _ = is_available(name)
    if not ok:
        return None
    return _from_provenance(load(name).provenance)


class InferenceCost:
    """Inference seconds per sample of any configuration of a generated family whose table timed it.

    A configuration held by the table gets its measurement; any other (a surrogate's) gets the prediction of
    a non-negative least-squares fit (scipy's ``nnls``) of the table's measurements on
    :meth:`Architecture.size_features`, whose relative error over the table is ``fit_error`` (median)."""

    def __init__(self, table: Benchmark, arch: Architecture) -> None:
        frame = table.configs_frame  # type: ignore[attr-defined]
        self.table = table
        self.arch = arch
        self.measured = frame[INFER_ATTRIBUTE].to_numpy(dtype=np.float64)
        X = np.array([arch.size_features(c) for c in table.configurations()], dtype=np.float64)
        scale = X.max(axis=0)
        scale[scale <= 0] = 1.0
        coef, _ = nnls(X / scale, self.measured)
        self.coef = coef / scale
        self.fit_error = float(np.median(np.abs(X @ self.coef / self.measured - 1.0)))

    def __call__(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        out = np.empty(len(configs), dtype=np.float64)
        for i, c in enumerate(configs):
            try:
                out[i] = self.measured[self.table.config_id(c)]  # type: ignore[attr-defined]
            except ConfigError:
                out[i] = max(float(np.dot(self.coef, self.arch.size_features(c))), 0.0)
        return out


def _timed_table(bench: Benchmark) -> Benchmark | None:
    """``bench`` itself, or the table behind it (a surrogate's, a data-size family's full one), when it is a
    generated table with the inference attribute; else None."""
    frame = getattr(bench, "configs_frame", None)
    if frame is not None:
        return bench if INFER_ATTRIBUTE in frame.columns else None
    prov = bench.provenance
    name = None
    table = prov.get("table")
    if isinstance(table, Mapping) and isinstance(table.get("name"), str):
        name = table["name"]
    parts = prov.get("parts")
    if isinstance(parts, Mapping) and parts:
        name = str(list(parts)[-1])
    return _timed_table_named(name) if name else None


@functools.lru_cache(maxsize=64)
def _timed_table_named(name: str) -> Benchmark | None:
    ok, _ = is_available(name)
    if not ok:
        return None
    b = load(name)
    frame = getattr(b, "configs_frame", None)
    return b if frame is not None and INFER_ATTRIBUTE in frame.columns else None


def inference_cost_of(bench: Benchmark) -> InferenceCost | None:
    """The inference cost of ``bench``'s configurations, or None where it was not measured."""
    arch = architecture_of(bench)
    if arch is None:
        return None
    table = _timed_table(bench)
    return _inference_cost(table, arch) if table is not None else None


@functools.lru_cache(maxsize=64)
def _inference_cost(table: Benchmark, arch: Architecture) -> InferenceCost:
    return InferenceCost(table, arch)


def derived_metrics(bench: Benchmark) -> dict[str, Metric]:
    """The derived metrics ``bench`` offers: ``cost`` always, ``n_params`` where its networks are known,
    ``infer_cost`` where its table timed them."""
    out = {COST: _COST_METRIC}
    if architecture_of(bench) is not None:
        out[N_PARAMS] = _PARAMS_METRIC
        if _timed_table(bench) is not None:
            out[INFER_COST] = _INFER_METRIC
    return out


def objective_metrics(bench: Benchmark, names: Sequence[str]) -> tuple[Metric, ...]:
    """The :class:`Metric` of each name in ``names``, checked: 1 to MAX_OBJECTIVES distinct names, each a
    metric of ``bench`` an optimizer may see or a derived one (MetricError naming what is allowed)."""
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise MetricError(f"objectives must be a list of metric names, got {names!r}")
    names = [bench.objective if str(n) == OBJECTIVE_ALIAS else str(n) for n in names]
    derived = derived_metrics(bench)
    test = bench.test_objective
    visible = [n for n, m in bench.metrics.items() if m.split != "test" and n != test]
    allowed = ", ".join([*visible, *derived])
    if not 1 <= len(names) <= MAX_OBJECTIVES:
        raise MetricError(
            f"objectives {names} must name 1 to {MAX_OBJECTIVES} metrics; allowed for {bench.name}: {allowed}"
        )
    if len(set(names)) != len(names):
        raise MetricError(f"objectives {names} name a metric twice; allowed for {bench.name}: {allowed}")
    out = []
    for n in names:
        if n in derived:
            out.append(derived[n])
        elif n in visible:
            out.append(bench.metrics[n])
        elif n == N_PARAMS:
            raise MetricError(
                f"objective {n!r} is not available for {bench.name}: its networks' sizes are not recorded "
                f"(n_params exists for the generated LCBench-style and FCNet families); allowed: {allowed}"
            )
        elif n == INFER_COST:
            raise MetricError(
                f"objective {n!r} is not available for {bench.name}: its table records no inference timings "
                f"(tables merged with data/inference.py's timings have the attribute {INFER_ATTRIBUTE!r}); "
                f"allowed: {allowed}"
            )
        elif n in bench.metrics:
            raise MetricError(
                f"objective {n!r} of {bench.name} is a test metric, which optimizers never see; allowed: {allowed}"
            )
        else:
            raise MetricError(f"unknown objective {n!r} for {bench.name}; allowed: {allowed}")
    return tuple(out)


def objective_columns(
    bench: Benchmark,
    objectives: Sequence[Metric],
    metric_values: Mapping[str, np.ndarray],
    cumulative_cost: np.ndarray,
    configs: Sequence[Mapping[str, Any]] | None = None,
) -> np.ndarray:
    """An (n, k) array of the ``k`` objectives' raw values at ``n`` points: metric columns by name,
    ``cost`` from ``cumulative_cost``, ``n_params`` from ``configs`` (needed only when it is asked)."""
    n = len(cumulative_cost)
    out = np.empty((n, len(objectives)), dtype=np.float64)
    arch = None
    for j, m in enumerate(objectives):
        if m.name == COST:
            out[:, j] = cumulative_cost
        elif m.name == N_PARAMS:
            arch = arch or architecture_of(bench)
            if arch is None or configs is None:
                raise MetricError(f"objective 'n_params' is not available for {bench.name}")
            out[:, j] = [arch.n_params(c) for c in configs]
        elif m.name == INFER_COST:
            infer = inference_cost_of(bench)
            if infer is None or configs is None:
                raise MetricError(f"objective 'infer_cost' is not available for {bench.name}")
            out[:, j] = infer(configs)
        else:
            out[:, j] = metric_values[m.name]
    return out


def reference_bounds(bench: Benchmark, objectives: Sequence[Metric]) -> tuple[np.ndarray, np.ndarray]:
    """(best, median) of each objective over the benchmark's configurations at the maximum fidelity, in
    "lower is better" form (``sign * value``): the normalization of hypervolume (module docstring).

    Metric objectives use :meth:`Benchmark.values_at` (every configuration and seed of a table; 1,000
    uniform draws of a surrogate's space at its default seed); ``cost`` is the cost at the maximum fidelity
    of the same configurations (the default seed), ``n_params`` their parameter counts and ``infer_cost``
    their inference seconds. A median equal to the best (a constant objective) is widened by 1 so the scale
    stays finite.
    """
    configs = bench.configurations()
    if configs is None:  # the configurations values_at ranks
        configs = sample_configurations(bench.space, RANGE_SAMPLES, np.random.default_rng(RANGE_SEED))
    best = np.empty(len(objectives))
    mid = np.empty(len(objectives))
    for j, m in enumerate(objectives):
        if m.name == COST:
            v = _max_fidelity_costs(bench, configs)
        elif m.name == N_PARAMS:
            arch = architecture_of(bench)
            if arch is None:
                raise MetricError(f"objective 'n_params' is not available for {bench.name}")
            v = np.array([arch.n_params(c) for c in configs], dtype=np.float64)
        elif m.name == INFER_COST:
            infer = inference_cost_of(bench)
            if infer is None:
                raise MetricError(f"objective 'infer_cost' is not available for {bench.name}")
            v = infer(configs)
        else:
            v, _ = bench.values_at(m.name)
            v = np.asarray(v, dtype=np.float64)
        v = m.sign * v[np.isfinite(v)]
        if not len(v):
            raise MetricError(f"objective {m.name!r} has no finite value on {bench.name}")
        best[j], mid[j] = float(np.min(v)), float(np.median(v))
        if not mid[j] > best[j]:
            mid[j] = best[j] + 1.0
    return best, mid


def _max_fidelity_costs(bench: Benchmark, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    batch = bench.query_batch(configs, fidelities=bench.fidelity.max, seeds=bench.default_seed)
    cost = np.asarray(batch.cost, dtype=np.float64)
    return np.where(np.isfinite(cost), cost, math.nan)
