"""TabularBenchmark: exact lookups in a learning-curve table, in microseconds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .protocol import BatchResult, Benchmark, ConfigError, Curve, Evaluator, Fidelities, Result, Seeds
from .space import check_config, grid_size, hp_names
from .table import Table, read_table, table_checksum


class TabularBenchmark(Benchmark):
    """A benchmark backed by a table: it answers for the configurations, seeds and fidelities it holds.

    ``query`` accepts a configuration as a mapping (dict or ConfigSpace
    ``Configuration``) or as its integer ``config_id`` in the table.
    """

    def __init__(self, table: Table, name: str | None = None) -> None:
        self.table = table
        m = table.manifest
        self.name = name or m["name"]
        self.space = table.space
        self.fidelity = table.fidelity
        self.metrics = {mt.name: mt for mt in table.metrics}
        self.objective = m["objective"]
        self.test_objective = m.get("test_objective")
        self.seeds = table.seeds
        self.default_seed = table.seeds[0]
        self.description = m.get("description", "")
        self.task = m.get("task", {})
        self.provenance = {**m.get("provenance", {}), "checksum": table_checksum(m), "path": str(table.path)}

        self._arrays = [table.arrays[m] for m in table.metric_names] + [table.cost]
        self._cost = table.cost
        self._names = hp_names(self.space)
        self._n_hp = len(self._names)
        self._plain = not self.space.conditions
        self._mnames = tuple(self.metrics)
        self._n_configs, self._n_seeds, self._n_fid = table.shape
        self._seed_index = {s: i for i, s in enumerate(self.seeds)}
        self._fid_values = np.asarray(self.fidelity.values)
        self._fid_index = {v: i for i, v in enumerate(self.fidelity.values)}
        self._fid_list = list(self.fidelity.values)
        self._max_f = self._n_fid - 1
        self._index = self._build_index(table.configs)
        self._configs_cache: list[dict[str, Any]] | None = None
        self._hint_rows: list[dict[str, Any]] | None = None
        self._grid = grid_size(self.space)
        self._optima: dict[str, float] = {}
        self._held_seeds = np.asarray(self.seeds)
        self._held_fids = np.asarray(self.fidelity.values)
        self._contiguous = {
            "seed": _is_int_range(self._held_seeds),
            "fidelity": _is_int_range(self._held_fids),
        }

    @classmethod
    def from_path(cls, path: str | Path, name: str | None = None, verify: bool = True) -> TabularBenchmark:
        return cls(read_table(path, verify=verify), name=name)

    def _build_index(self, configs: pd.DataFrame) -> dict[tuple, int]:
        cols = []
        for n in self._names:
            col = configs[n].to_numpy(dtype=object)
            mask = pd.isna(configs[n]).to_numpy()
            if mask.any():
                col = col.copy()
                col[mask] = None
            cols.append(col.tolist())
        return {key: i for i, key in enumerate(zip(*cols))}

    # ------------------------------------------------------------ lookups
    @property
    def n_configs(self) -> int:
        return self._n_configs

    @property
    def configs_frame(self) -> pd.DataFrame:
        """The table's configurations (hyperparameters and attributes), indexed by config_id."""
        return self.table.configs.set_index("config_id")

    @property
    def is_exhaustive(self) -> bool:
        """True when the table holds every configuration of a finite space."""
        return self._grid is not None and self._grid == self._n_configs

    def configurations(self) -> list[dict[str, Any]]:
        if self._configs_cache is None:
            self._configs_cache = self._config_dicts()
        return self._configs_cache

    def n_configurations(self) -> int:
        return self._n_configs

    def _config_dicts(self) -> list[dict[str, Any]]:
        """Every configuration as a dict, in table order, without the hyperparameters a row leaves unset."""
        recs = self.table.configs[list(self._names)].to_dict(orient="records")
        return [{k: v for k, v in r.items() if v is not None and v == v} for r in recs]

    def rows_for_hints(self) -> list[dict[str, Any]]:
        """The held configurations an evaluator checks a row hint against; empty when hints cannot be trusted.

        A dict equal to entry ``i`` (the same keys, equal values) has :meth:`config_id` ``i`` when no two rows
        share a configuration and, in a space without conditions, every row sets every hyperparameter; else
        the list is empty and every configuration is looked up. Built once, from the table, and never handed
        to callers (a caller changing a dict of :meth:`configurations` cannot make a hint pass).
        """
        if self._hint_rows is None:
            rows = self._config_dicts()
            exact = len(self._index) == self._n_configs and (
                not self._plain or sum(map(len, rows)) == self._n_hp * self._n_configs
            )
            self._hint_rows = rows if exact else []
        return self._hint_rows

    def config(self, config_id: int) -> dict[str, Any]:
        """The configuration with this id."""
        return dict(self.configurations()[self._check_id(config_id)])

    def config_id(self, config: Mapping[str, Any] | int) -> int:
        """The table row of ``config``; ConfigError if it is unknown, outside the space, or not in the table."""
        if (
            type(config) is not dict
            and isinstance(config, (int, np.integer))
            and not isinstance(config, bool)
        ):
            return self._check_id(config)
        try:
            key = tuple([config.get(n) for n in self._names])
        except AttributeError:
            raise ConfigError(
                f"a configuration must be a mapping or an integer config_id, got {type(config).__name__}"
            ) from None
        try:
            cid = self._index.get(key)
        except TypeError:  # an unhashable value (a list, say): not in the table; _explain_miss names it
            cid = None
        if cid is None or len(config) != (self._n_hp if self._plain else sum(v is not None for v in key)):
            self._explain_miss(config)
        return cid

    def config_ids(self, configs: pd.DataFrame | Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Vectorized ``config_id`` for many configurations at once."""
        if not isinstance(configs, pd.DataFrame):
            return np.fromiter((self.config_id(c) for c in configs), dtype=np.int64, count=len(configs))
        missing = [n for n in self._names if n not in configs.columns]
        if missing:
            raise ConfigError(
                f"configs lack hyperparameter column(s) {missing}; the space has {list(self._names)}"
            )
        ids = pd.MultiIndex.from_frame(self.table.configs[list(self._names)]).get_indexer(
            pd.MultiIndex.from_frame(configs[list(self._names)])
        )
        if (ids < 0).any():
            i = int(np.flatnonzero(ids < 0)[0])
            self._explain_miss(configs.iloc[i][list(self._names)].to_dict())
        return ids.astype(np.int64)

    def _check_id(self, config_id: int) -> int:
        if not 0 <= config_id < self._n_configs:
            raise ConfigError(f"config_id {config_id} is out of range; allowed: 0..{self._n_configs - 1}")
        return int(config_id)

    def _explain_miss(self, config: Mapping[str, Any]) -> None:
        check_config(self.space, dict(config))  # raises for unknown/missing/out-of-space values
        raise ConfigError(
            f"configuration {dict(config)} is in the space but not in table {self.name!r}, which holds "
            f"{self._n_configs} configurations; use benchmark.configurations(), or a surrogate benchmark"
        )

    # ------------------------------------------------------------ protocol
    def _check_config(self, config: Mapping[str, Any] | int) -> int:
        """A configuration's row: ``query`` and ``curve`` take a mapping or an integer config_id."""
        return self.config_id(config)

    def _query(self, config: int, fidelity: float, seed: int) -> Result:
        c, s, f = config, self._seed_index[seed], self._fid_index[fidelity]
        row = [a.item(c, s, f) for a in self._arrays]
        cost = row.pop()
        prev = self._cost.item(c, s, f - 1) if f and self.fidelity.incremental else 0.0
        return Result(self._fid_list[f], self.seeds[s], dict(zip(self._mnames, row)), cost, cost - prev, c)

    def _curve(self, config: int, seed: int) -> Curve:
        s = self._seed_index[seed]
        return Curve(
            fidelities=self._fid_values,
            seed=self.seeds[s],
            metrics={m: a[config, s] for m, a in zip(self._mnames, self._arrays)},
            cost=self._cost[config, s],
            config_id=config,
        )

    def _query_batch(
        self, configs: Any, fidelities: Fidelities, seeds: Seeds, metrics: tuple[str, ...], with_cost: bool
    ) -> BatchResult:
        """Vectorized reads. ``configs``: a 1-D integer array of config ids, a DataFrame, or a list of mappings.

        The work is done in cache-sized chunks, so temporary memory stays small whatever n is; held seeds
        and fidelities are mapped to their positions chunk by chunk (the first one not held is named).
        """
        if isinstance(configs, np.ndarray) and configs.dtype.kind in "iu":
            cid = configs
        else:
            cid = self.config_ids(configs)
        n = cid.shape[0]
        cols = [self._arrays[self._mnames.index(m)].reshape(-1) for m in metrics]
        if with_cost:
            cols.append(self._cost.reshape(-1))
        outs = [np.empty(n, dtype=np.float32) for _ in cols]
        fid = self._max_f if fidelities is None else self._index_of(fidelities, self._fid_index)
        sd = 0 if seeds is None else self._index_of(seeds, self._seed_index)
        S, F = self._n_seeds, self._n_fid
        idx_dtype = np.int32 if self._cost.size < 2**31 else np.int64
        step = 1 << 16
        flat = np.empty(min(step, n), dtype=idx_dtype)
        tmp = np.empty(min(step, n), dtype=idx_dtype)
        for i in range(0, n, step):
            j = min(i + step, n)
            k = j - i
            c = cid[i:j]
            if k and (c.min() < 0 or c.max() >= self._n_configs):
                bad = c[(c < 0) | (c >= self._n_configs)][0]
                raise ConfigError(f"config_id {bad} is out of range; allowed: 0..{self._n_configs - 1}")
            fl, tm = flat[:k], tmp[:k]
            np.multiply(c, S * F, out=fl, casting="unsafe")
            if S > 1:
                if isinstance(sd, int):
                    fl += sd * F
                else:
                    np.multiply(self._to_index(sd[i:j], "seed", tm), F, out=tm)
                    fl += tm
            if F > 1:
                if isinstance(fid, int):
                    fl += fid
                else:
                    fl += self._to_index(fid[i:j], "fidelity", tm)
            for col, out in zip(cols, outs):
                np.take(col, fl, out=out[i:j])
        return BatchResult(dict(zip(metrics, outs)), outs[-1] if with_cost else None)

    @staticmethod
    def _index_of(value: Any, index: dict) -> int | np.ndarray:
        """The position of one checked seed or fidelity (int), or the array of values to map chunk by chunk."""
        return value if isinstance(value, np.ndarray) else index[value]

    def _to_index(self, vals: np.ndarray, what: str, out: np.ndarray) -> np.ndarray:
        """Map held seed or fidelity values to their positions (into ``out``); errors name the first bad value."""
        held = self._held_seeds if what == "seed" else self._held_fids
        lo, contiguous = held[0], self._contiguous[what]
        if contiguous and vals.dtype.kind in "iu":
            # range-check the raw values first: a value past the index dtype (e.g. seed 2**32) must not wrap
            if vals.min() >= lo and vals.max() <= held[-1]:
                np.subtract(vals, lo, out=out, casting="unsafe")
                return out
        else:
            pos = np.minimum(np.searchsorted(held, vals), len(held) - 1)
            if np.array_equal(held[pos], vals):
                out[:] = pos
                return out
        for x in vals.tolist():  # slow path: name the first value not held
            index = self._seed_index if what == "seed" else self._fid_index
            if isinstance(x, bool) or x not in index:
                self.check_seed(x) if what == "seed" else self.fidelity.check(x)
        raise AssertionError("unreachable")

    def optimum(self, metric: str | None = None) -> float:
        """The best value of ``metric`` over every configuration, seed and fidelity the table holds."""
        mt = self.metric(metric)
        if mt.name not in self._optima:
            a = self.table.arrays[mt.name]
            self._optima[mt.name] = float(np.nanmin(a) if mt.direction == "minimize" else np.nanmax(a))
        return self._optima[mt.name]

    def values_at(self, metric: str | None = None, fidelity: float | None = None) -> tuple[np.ndarray, str]:
        """The protocol's :meth:`~benchmarks.protocol.Benchmark.values_at` read from the table's array: every
        configuration (in table order) and seed at one fidelity, as float64, non-finite values NaN."""
        name = self.metric(metric).name
        f = self._max_f if fidelity is None else self._fid_index[self._check_fidelity(fidelity)]
        vals = self.table.arrays[name][:, :, f].astype(np.float64)
        vals[~np.isfinite(vals)] = np.nan
        return vals, "table"

    def evaluator(self, metric: str | None = None, reported: Sequence[str] = ()) -> TableEvaluator:
        """Direct reads of the dense array (see :class:`TableEvaluator`)."""
        return TableEvaluator(self, self.metric(metric).name, reported)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["exhaustive"] = self.is_exhaustive
        d["description"] = self.description
        d["task"] = self.task
        return d


def _is_int_range(held: np.ndarray) -> bool:
    """True when ``held`` is lo, lo+1, ..., lo+n-1 (so a value's position is value - lo)."""
    return bool(np.all(np.mod(held, 1) == 0) and held[-1] - held[0] == len(held) - 1)


def _python_scalars(values: np.ndarray) -> memoryview:
    """A memoryview of the 1-D ``values`` whose items are the Python numbers ``values.item(i)`` gives.

    Indexing it costs half of ``item`` (the table's evaluator reads two to four numbers per evaluation). A
    contiguous array in native byte order is viewed, not copied; float16, which a memoryview cannot index,
    is widened to float64 first (the same numbers).
    """
    native = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))
    if native.dtype.kind == "f" and native.dtype.itemsize < 4:
        native = native.astype(np.float64)
    return memoryview(native)


class TableEvaluator(Evaluator):
    """A table's evaluator: direct reads of its dense array; the key is the flat (config, seed, fidelity) index."""

    def __init__(self, benchmark: TabularBenchmark, metric: str, reported: Sequence[str] = ()) -> None:
        super().__init__(benchmark, metric, reported)
        vals = benchmark.table.values  # (metric + cost, C, S, F)
        self._names = list(benchmark.metrics)
        self.n_rows = benchmark.n_configs
        self._S, self._F = vals.shape[2], vals.shape[3]
        self._flat = vals.reshape(vals.shape[0], -1)
        self._value = _python_scalars(self._flat[self._names.index(metric)])
        self._cost = _python_scalars(self._flat[-1])
        self._reported = tuple(
            (n, _python_scalars(self._flat[self._names.index(n)])) for n in self.reported_names
        )
        self._seed_index = {s: i for i, s in enumerate(benchmark.seeds)}
        self._fid_index = {v: i for i, v in enumerate(benchmark.fidelity.values)}
        self._config_id = benchmark.config_id
        self._rows = benchmark.rows_for_hints()
        self._n_hinted = len(self._rows)

    def evaluate(
        self, config: Any, fidelity: float, seed: int, row: int | None = None
    ) -> tuple[int, float, float]:
        """The protocol's :meth:`~benchmarks.protocol.Evaluator.evaluate`: ``row`` is used when ``config`` is a
        dict equal to the table's configuration at that row (:meth:`TabularBenchmark.rows_for_hints`), else
        the configuration is looked up (ConfigError when the table does not hold it)."""
        # True and False hash as 1 and 0, so the dicts find them: refused here (`is`: the two bools are singletons)
        fi = self._fid_index.get(fidelity)
        if fi is None or fidelity is True or fidelity is False:
            self.benchmark.fidelity.check(fidelity)  # raises FidelityError naming the allowed values
            raise AssertionError("unreachable")
        si = self._seed_index.get(seed)
        if si is None or seed is True or seed is False:
            self.benchmark.check_seed(seed)  # raises SeedError naming the held seeds
            raise AssertionError("unreachable")
        # the hint is used when config is a plain dict equal to the held configuration at that row (inline,
        # not in a helper: this runs once per simulated evaluation)
        hinted = False
        if row is not None and type(config) is dict and 0 <= row < self._n_hinted:
            try:
                hinted = config == self._rows[row]
            except (TypeError, ValueError):  # an array value: its == gives an array; not a held configuration
                hinted = False
        if not hinted:
            row = self._config_id(config)  # ConfigError for a configuration not held
        key = (row * self._S + si) * self._F + fi
        return key, self._value[key], self._cost[key]

    def evaluate_next(
        self, key: int, config: Any, fidelity: float, seed: int, row: int | None = None
    ) -> tuple[int, float, float]:
        """:meth:`evaluate` at another fidelity of the (configuration, seed) of ``key``: the flat index moves
        to that fidelity's column (the configuration was looked up and checked when ``key`` was made)."""
        fi = self._fid_index.get(fidelity)
        if fi is None or fidelity is True or fidelity is False:
            self.benchmark.fidelity.check(fidelity)  # raises FidelityError naming the allowed values
            raise AssertionError("unreachable")
        key += fi - key % self._F
        return key, self._value[key], self._cost[key]

    def reported(self, key: int) -> dict[str, float]:
        out = {}
        for name, values in self._reported:  # a loop, not a comprehension: no function object made per call
            out[name] = values[key]
        return out

    def config_ids(self, keys: Sequence[int]) -> np.ndarray:
        return np.asarray(keys, dtype=np.int64) // (self._S * self._F)

    def metric_columns(self, keys: Sequence[int]) -> dict[str, np.ndarray]:
        k = np.asarray(keys, dtype=np.int64)
        return {m: self._flat[i, k].astype(np.float64) for i, m in enumerate(self._names)}
