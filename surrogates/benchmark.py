"""SurrogateBenchmark: the Benchmark protocol answered by a fitted surrogate, for any configuration.

Differences from a table (everything else is the same protocol):

* any configuration of the space is accepted (not only those the table holds);
  an integer config_id is not (a surrogate has no rows);
* the fidelity is continuous: any value in ``[fidelity.min, fidelity.max]``;
  between two grid values of the table, metrics are interpolated linearly in
  the model's transformed space (e.g. log loss) and the cumulative cost
  linearly, so the cost still never decreases;
* ``seeds`` is None: any integer in 0..2**63-1 is a seed, ``default_seed`` is 0.
  One (config, seed) pair always gives the same curve; different seeds differ
  about as much as the table's real seeds (see :mod:`surrogates.targets`);
* ``cost_increment`` at fidelity f is ``cost(f) - cost(g)`` with g the largest
  grid value below f (0 when there is none), or ``cost(f)`` on a fidelity that is
  not incremental (a training-set size: continuing is training again);
* ``optimum(metric)`` is an estimate: the best value predicted over
  ``OPTIMUM_SAMPLES`` configurations sampled from the space with a fixed seed
  (the whole space when it is a finite grid of at most ``OPTIMUM_GRID_LIMIT``
  points, e.g. FCNet's 62,208), for
  as many seeds as the table held, at every grid fidelity. Every metric's is
  computed in one pass when the surrogate is fitted and stored in its manifest
  (``optima``, with the method: samples, seed, grid limit); loading reads them,
  and computes them only for a manifest that has none or was made by another
  method.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.io import MANIFEST, folder_checksum, shipped_surrogate_path, shipped_surrogates_dir
from benchmarks.protocol import (
    BatchResult,
    Benchmark,
    ConfigError,
    Curve,
    Evaluator,
    Fidelities,
    Result,
    Seeds,
    UnknownBenchmarkError,
)
from benchmarks.sampling import as_dicts
from benchmarks.space import choices as space_choices
from benchmarks.space import grid_size

from .store import (
    SurrogateFormatError,
    SurrogateHeader,
    build_surrogate,
    open_surrogate,
    read_header,
    read_surrogate_manifest,
)
from .surrogate import CurveSurrogate

#: how many (config, seed) curves query() and curve() keep (least recently used first out)
CACHE_SIZE = 4096
#: how many configurations optimum() predicts on
OPTIMUM_SAMPLES = 20_000
#: a finite space of at most this many points is searched whole by optimum()
OPTIMUM_GRID_LIMIT = 100_000
#: the seed of the configurations optimum() samples
OPTIMUM_SEED = 12345


def optima_method() -> dict[str, Any]:
    """How optimum() estimates (the settings above), as stored beside the optima in a surrogate's manifest."""
    return {
        "candidates": "the whole grid when finite and at most grid_limit points, else a seeded sample",
        "samples": OPTIMUM_SAMPLES,
        "seed": OPTIMUM_SEED,
        "grid_limit": OPTIMUM_GRID_LIMIT,
    }


# the path rule has one owner, benchmarks.io (the catalog needs it below the surrogates layer); these names stay
surrogates_dir = shipped_surrogates_dir
shipped_path = shipped_surrogate_path


def load_shipped(table: str, model: str = "xgboost") -> SurrogateBenchmark:
    """Catalog loader of a shipped surrogate (entries ``NAME-surrogate``)."""
    path = shipped_path(table, model)
    if not (path / "manifest.json").is_file():
        raise UnknownBenchmarkError(
            f"the {model} surrogate of {table!r} is not fitted yet ({path.parent.name}/{path.name}); "
            f"fit it with `make surrogates` or `python -m surrogates.fit benchmark={table} model={model}`"
        )
    return SurrogateBenchmark.from_path(path, name=f"{table}-surrogate", lazy=True)


class SurrogateBenchmark(Benchmark):
    """A benchmark answered by a fitted :class:`CurveSurrogate`.

    Loaded from a folder (:meth:`from_path`), it checks the manifest and every file's checksum at once but
    builds the model on its first prediction (``lazy``, the default for the catalog's shipped surrogates), so
    that describing a surrogate (``python -m benchmarks show``) needs no model; :meth:`validate` builds it now.
    """

    def __init__(
        self,
        surrogate: CurveSurrogate,
        name: str | None = None,
        provenance: Mapping[str, Any] | None = None,
        optima: Mapping[str, Any] | None = None,
    ):
        self._surrogate: CurveSurrogate | None = surrogate
        self._load: Callable[[], CurveSurrogate] | None = None
        self._describe(SurrogateHeader.of(surrogate), name, provenance, optima)

    def _describe(
        self,
        header: SurrogateHeader,
        name: str | None,
        provenance: Mapping[str, Any] | None,
        optima: Mapping[str, Any] | None,
    ) -> None:
        self.name = name or f"{header.table_name}-surrogate"
        self.space = header.space
        self.fidelity = header.fidelity
        self.metrics = dict(header.metrics)
        self.objective = header.objective
        self.test_objective = header.test_objective
        self.seeds = None
        self.default_seed = 0
        self.provenance = dict(provenance or {})
        self._table_seeds = header.table_seeds
        self._grid = np.asarray(self.fidelity.values, dtype=np.float64)
        self._grid_list = self._grid.tolist()
        self._mnames = tuple(self.metrics)
        self._optimum: dict[str, float] = {}
        if optima is not None and optima.get("method") == optima_method():
            values = optima.get("values", {})
            self._optimum = {
                m: float("nan") if v is None else float(v) for m, v in values.items() if m in self.metrics
            }
        self._candidates: pd.DataFrame | None = None
        self._cache: OrderedDict[tuple, dict[str, np.ndarray]] = OrderedDict()

    @classmethod
    def from_path(
        cls, path: str | Path, name: str | None = None, verify: bool = True, lazy: bool = False
    ) -> SurrogateBenchmark:
        """The surrogate saved in ``path``: its manifest checked and (``verify``) every file checksummed.

        ``lazy``: build the model on the first prediction (or :meth:`validate`), not now; the folder is checked
        again then, and a manifest changed in between is an error.
        """
        # built now, the model's own load checks every file (the bytes it builds from); loaded lazily, the files
        # are checked now as well, so that the benchmark's description is trusted from the start
        manifest = open_surrogate(path, verify=verify and lazy)
        header = read_header(path, manifest)
        prov = {
            **manifest.get("provenance", {}),
            "table": manifest["table"],
            "model": manifest["model"],
            "checksum": folder_checksum(manifest),
            "path": str(path),
        }
        bench = cls.__new__(cls)
        bench._surrogate = None
        bench._load = partial(_load_unchanged, Path(path), manifest, verify)
        bench._describe(header, name, prov, manifest.get("optima"))
        if not lazy:
            bench.validate()
        return bench

    @property
    def surrogate(self) -> CurveSurrogate:
        """The fitted model (built on first use when loaded lazily)."""
        if self._surrogate is None:
            assert self._load is not None
            self._surrogate = self._load()
        return self._surrogate

    def validate(self) -> None:
        """Build the model now if it is not built yet, with every check of loading (see :meth:`from_path`)."""
        self.surrogate  # noqa: B018 - the property builds and checks the model

    # ------------------------------------------------------------ helpers
    def _encode(self, configs: Any) -> np.ndarray:
        if isinstance(configs, np.ndarray):
            raise ConfigError(
                "a surrogate benchmark takes configurations as a DataFrame or mappings, not an array of ids"
            )
        return self.surrogate.encode(configs)

    def _fid_positions(self, fidelities: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid interval (lo, hi) and weight w of each fidelity (checked: see ``Benchmark.query_batch``);
        None means the maximum."""
        if fidelities is None:
            f = np.full(n, self._grid[-1])
        elif isinstance(fidelities, np.ndarray):
            f = fidelities.astype(np.float64)
        else:
            f = np.full(n, float(fidelities))
        hi = np.clip(np.searchsorted(self._grid, f, side="left"), 0, len(self._grid) - 1)
        lo = np.maximum(hi - 1, 0)
        span = self._grid[hi] - self._grid[lo]
        w = np.where(span > 0, (f - self._grid[lo]) / np.where(span > 0, span, 1.0), 1.0)
        return lo, hi, w

    def _seeds(self, seeds: int | np.ndarray | None, n: int) -> np.ndarray:
        """One seed per configuration (checked: see ``Benchmark.query_batch``); None means the default seed."""
        if seeds is None:
            return np.full(n, self.default_seed, dtype=np.int64)
        if isinstance(seeds, np.ndarray):
            return seeds.astype(np.int64)
        return np.full(n, seeds, dtype=np.int64)

    def _interp(self, name: str, curves: np.ndarray, lo, hi, w) -> np.ndarray:
        rows = np.arange(curves.shape[0])
        a, b = curves[rows, lo], curves[rows, hi]
        inner = (w > 0) & (w < 1)
        if not inner.any():  # on grid values: exactly the curve's numbers
            return np.where(w >= 1, b, a)
        if name == "cost":
            mid = (1 - w) * a + w * b
        else:
            tr = self.surrogate.blocks_[self._mnames.index(name)].transform
            mid = tr.inverse((1 - w) * tr.forward(a) + w * tr.forward(b))
        return np.where(inner, mid, np.where(w >= 1, b, a))

    # ------------------------------------------------------------ protocol
    def _predict_one(
        self, config: Mapping[str, Any], seed: int, names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Curves of one (config, seed) for ``names`` (default: every metric) and the cost, from a small cache.

        A continued trial asks for the same curve again; a simulator asks only for the objective at first,
        so the other metrics are decoded when they are asked for (the same numbers: every block's
        prediction is independent of the others).
        """
        want = self._mnames if names is None else tuple(names)
        try:
            # each value's type too: True == 1 and 2.0 == 2, so a value the encoder refuses would otherwise find
            # the cached curve of a valid one. In the mapping's order, unsorted: the same configuration with its
            # names in another order misses the cache and is predicted again (the same numbers)
            key = (tuple(config.items()), tuple(map(type, config.values())), seed)
            hash(key)
        except (TypeError, AttributeError):
            key = None
        have = self._cache.get(key) if key is not None else None
        if have is not None:
            self._cache.move_to_end(key)
            missing = [m for m in want if m not in have]
            if not missing:
                return have
        else:
            have, missing = {}, list(want)
        x = self.surrogate.encoder_.encode_one(config)
        # read-only: callers share these arrays
        pred = self.surrogate.predict_curves(
            x, seeds=seed, metrics=missing, cost="cost" not in have, readonly=True
        )
        pred = {**have, **pred}
        if key is not None:  # only configurations that passed validation get here
            self._cache[key] = pred
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return pred

    def objective_and_cost(
        self, config: Mapping[str, Any], fidelity: float | None, seed: int | None
    ) -> tuple[float, float]:
        """The objective and the cumulative cost at one point: what a simulator needs per evaluation.

        The same numbers as :meth:`query` (which decodes every metric); the others are left for
        :meth:`query_batch` over all the evaluations of a run at once.
        """
        return self._metric_and_cost(
            self.objective, self._check_config(config), self._check_fidelity(fidelity), self.check_seed(seed)
        )

    def _metric_and_cost(
        self, metric: str, config: Mapping[str, Any], f: float, s: int
    ) -> tuple[float, float]:
        """``metric`` and the cumulative cost of a checked seed and fidelity (the configuration is checked when
        it is encoded)."""
        pred = self._predict_one(config, s, (metric,))
        at = self._position(float(f))
        return self._interp_one(metric, pred[metric], at), self._interp_one("cost", pred["cost"], at)

    def _position(self, f: float) -> tuple[int, int, float]:
        """Where fidelity ``f`` lies on the grid: (lo, hi, w), as :meth:`_fid_positions` gives it for one value."""
        grid = self._grid_list
        hi = min(bisect.bisect_left(grid, f), len(grid) - 1)
        lo = max(hi - 1, 0)
        span = grid[hi] - grid[lo]
        return lo, hi, (f - grid[lo]) / span if span > 0 else 1.0

    def _interp_one(self, name: str, curve: np.ndarray, at: tuple[int, int, float]) -> float:
        """:meth:`_interp` of a (1, F) curve at one fidelity (its :meth:`_position`), in Python floats (the same
        numbers; a simulator asks this once per evaluation, where numpy's per-call overhead is most of the cost)."""
        lo, hi, w = at
        if 0 < w < 1:  # between grid values: the vectorized form (metric transforms are numpy functions)
            return float(self._interp(name, curve, np.array([lo]), np.array([hi]), np.array([w]))[0])
        return float(curve[0, hi] if w >= 1 else curve[0, lo])

    def _query(self, config: Mapping[str, Any], fidelity: float, seed: int) -> Result:
        """Every metric and the cost of ``config`` at ``fidelity`` (any value in range) for ``seed``."""
        f = float(fidelity)
        pred = self._predict_one(config, seed)
        # per value in Python floats (_interp_one: the numbers of the vectorized _interp, for less overhead)
        at = self._position(f)
        metrics = {m: self._interp_one(m, pred[m], at) for m in self._mnames}
        c = self._interp_one("cost", pred["cost"], at)
        below = bisect.bisect_left(self._grid_list, f)  # how many grid values lie below f
        # on a fidelity that is not incremental (a training-set size) continuing is training again: the whole cost
        prev = float(pred["cost"][0, below - 1]) if below and self.fidelity.incremental else 0.0
        return Result(fidelity, seed, metrics, c, c - prev, None)

    def _curve(self, config: Mapping[str, Any], seed: int) -> Curve:
        """The curve of ``config`` for ``seed`` at every grid fidelity of the table."""
        pred = self._predict_one(config, seed)
        return Curve(
            fidelities=np.asarray(self.fidelity.values),
            seed=seed,
            metrics={m: pred[m][0] for m in self._mnames},
            cost=pred["cost"][0],
            config_id=None,
        )

    def _query_batch(
        self, configs: Any, fidelities: Fidelities, seeds: Seeds, metrics: tuple[str, ...], with_cost: bool
    ) -> BatchResult:
        """Many predictions at once. ``configs``: a DataFrame (one column per hyperparameter) or mappings."""
        x = self._encode(configs)
        n = x.shape[0]
        lo, hi, w = self._fid_positions(fidelities, n)
        s = self._seeds(seeds, n)
        pred = self.surrogate.predict_curves(x, seeds=s, metrics=metrics, cost=with_cost)
        out = {m: self._interp(m, pred[m], lo, hi, w) for m in metrics}
        return BatchResult(out, self._interp("cost", pred["cost"], lo, hi, w) if with_cost else None)

    def evaluator(self, metric: str | None = None, reported: Sequence[str] = ()) -> SurrogateEvaluator:
        """Predicts only ``metric`` and the cost per evaluation (see :class:`SurrogateEvaluator`)."""
        return SurrogateEvaluator(self, self.metric(metric).name, reported)

    def optimum(self, metric: str | None = None) -> float:
        """Estimated best value of ``metric`` (see the module docstring for how it is estimated).

        The first call predicts every metric over the candidates in one pass per seed (the same
        numbers as one metric at a time) and keeps them, so the optima of all metrics cost one pass.
        """
        mt = self.metric(metric)
        if mt.name not in self._optimum:
            x = self.surrogate.encode(self.candidate_configs(), validated=True)
            todo = [self.metric(m) for m in self._mnames if m not in self._optimum]
            best: dict[str, list[float]] = {m.name: [] for m in todo}
            for s in range(max(len(self._table_seeds), 1)):
                pred = self.surrogate.predict_curves(x, seeds=s, metrics=[m.name for m in todo], cost=False)
                for m in todo:
                    c = pred[m.name]
                    best[m.name].append(np.nanmin(c) if m.direction == "minimize" else np.nanmax(c))
            for m in todo:
                self._optimum[m.name] = float(
                    min(best[m.name]) if m.direction == "minimize" else max(best[m.name])
                )
        return self._optimum[mt.name]

    def optima_record(self) -> dict[str, Any]:
        """Every metric's optimum and how it was estimated: what a surrogate's manifest stores (``optima``)."""
        values = {m: self.optimum(m) for m in self._mnames}
        return {
            "method": optima_method(),
            "values": {m: None if math.isnan(v) else v for m, v in values.items()},
        }

    def candidate_configs(self) -> pd.DataFrame:
        """The configurations :meth:`optimum` predicts on (fixed: the whole grid, or a seeded sample)."""
        if self._candidates is None:
            self._candidates = self._make_candidates()
        return self._candidates

    def _make_candidates(self) -> pd.DataFrame:
        size = grid_size(self.space)
        names = list(self.space.keys())
        if size is not None and size <= OPTIMUM_GRID_LIMIT:
            from itertools import product

            choices = [list(space_choices(self.space[n])) for n in names]
            return pd.DataFrame(list(product(*choices)), columns=names)
        space = type(self.space).from_serialized_dict(self.space.to_serialized_dict())
        space.seed(OPTIMUM_SEED)
        # as_dicts: the values of dict(c) per configuration (ConfigSpace's scalar conversion; its own vectorized
        # one rounds log-scale values differently in the last bit, which would move the optimum), 30x quicker
        return pd.DataFrame(as_dicts(space, space.sample_configuration(OPTIMUM_SAMPLES)), columns=names)


class SurrogateEvaluator(Evaluator):
    """A surrogate's evaluator: per evaluation only the metric and the cost are predicted (every metric costs a
    model evaluation); the key is a :class:`_Point`, the reported metrics decode only if an optimizer reads them,
    and :meth:`metric_columns` is one :meth:`SurrogateBenchmark.query_batch` over all the points (the same numbers).
    """

    def __init__(self, benchmark: SurrogateBenchmark, metric: str, reported: Sequence[str] = ()) -> None:
        super().__init__(benchmark, metric, reported)
        self._check_config = benchmark._check_config
        self._check_fidelity = benchmark._check_fidelity
        self._check_seed = benchmark.check_seed
        self._metric_and_cost = benchmark._metric_and_cost

    def evaluate(self, config: Any, fidelity: float, seed: int) -> tuple[_Point, float, float]:
        s = self._check_seed(seed)
        f = self._check_fidelity(fidelity)
        value, cost = self._metric_and_cost(self.metric, self._check_config(config), f, s)
        return _Point(config, fidelity, s), value, cost

    def reported(self, key: _Point) -> Mapping[str, float]:
        return _LazyMetrics(
            lambda: self._query(key.config, key.fidelity, key.seed).metrics, self.reported_names
        )

    def config_ids(self, keys: Sequence[_Point]) -> list[None]:
        return [None] * len(keys)

    def metric_columns(self, keys: Sequence[_Point]) -> dict[str, np.ndarray]:
        names = list(self.benchmark.metrics)
        if not keys:
            return {m: np.zeros(0, dtype=np.float64) for m in names}
        out = self.benchmark.query_batch(
            [k.config for k in keys],
            fidelities=np.array([k.fidelity for k in keys], dtype=np.float64),
            seeds=np.array([k.seed for k in keys], dtype=np.int64),
        )
        return {m: np.asarray(out[m], dtype=np.float64) for m in names}


@dataclass(frozen=True, slots=True)
class _Point:
    """One evaluation of a surrogate: the point its metrics are predicted at when they are asked for."""

    config: Any
    fidelity: float
    seed: int


class _LazyMetrics(Mapping):
    """Metrics computed on first access (an optimizer told them may never read them)."""

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


def surrogate_table_name(path: str | Path) -> str:
    """The name of the table a saved surrogate was fitted on (reads only its manifest)."""
    return read_surrogate_manifest(path)["table"]["name"]


def _load_unchanged(path: Path, manifest: dict[str, Any], verify: bool) -> CurveSurrogate:
    """Build the surrogate of ``path`` for a benchmark loaded lazily from ``manifest``: the folder is opened and
    checked again, and must still hold the same manifest."""
    now = open_surrogate(path, verify=False)  # the build checks the bytes it loads
    if now != manifest:
        raise SurrogateFormatError(
            f"{path / MANIFEST}: changed since the benchmark was loaded; load it again"
        )
    return build_surrogate(path, now, verify=verify)
