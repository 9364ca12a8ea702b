"""Turn configurations of a ConfigSpace space into model inputs, and hash them for seeded noise.

Every hyperparameter becomes one column in [0, 1] (``benchmarks.space.encode_frame``:
log scales respected, ordinals by rank); a categorical with more than two
unordered choices adds one indicator column per choice, so that distance-based
models (k-nearest neighbours, MLPs) do not read an order into it. Inactive
values of a conditional space are encoded as -0.5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import ConfigSpace as CS
import numpy as np
import pandas as pd

from benchmarks.protocol import ConfigError
from benchmarks.space import check_config, check_frame, column_dtype, encode_frame, hp_names

INACTIVE = -0.5
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class SpaceEncoder:
    """Encodes configurations of ``space`` as a float64 matrix (one row per configuration)."""

    def __init__(self, space: CS.ConfigurationSpace) -> None:
        self.space = space
        self.names = hp_names(space)
        self.onehot = {
            n: tuple(hp.choices)
            for n, hp in space.items()
            if isinstance(hp, CS.CategoricalHyperparameter) and len(hp.choices) > 2
        }

        self._plain = not space.conditions
        self._cols = []  # per hyperparameter: ("choice", {value: scaled index}) or ("num", log, lo, hi)
        # encode_one's quick check: per hyperparameter its choices, or (lower, upper, integer-valued)
        self._quick: list[tuple[str, bool, Any]] = []
        for name, hp in space.items():
            choices = getattr(hp, "choices", None) or getattr(hp, "sequence", None)
            if isinstance(hp, CS.Constant):
                choices = (hp.value,)
            if choices is not None:
                denom = max(len(choices) - 1, 1)
                self._cols.append(("choice", {c: np.float64(i) / denom for i, c in enumerate(choices)}))
                self._quick.append((name, True, tuple(choices)))
            else:
                log = bool(getattr(hp, "log", False))
                lo, hi = float(hp.lower), float(hp.upper)
                self._cols.append(("num", log, np.log(lo) if log else lo, np.log(hi) if log else hi))
                self._quick.append((name, False, (hp.lower, hp.upper, column_dtype(hp) == "int64")))
        # the numeric columns of encode_one as arrays: (x - lo) / (hi - lo), log first where the scale is; the
        # log-scaled columns come first (one slice takes their log)
        num = [j for j, c in enumerate(self._cols) if c[0] == "num"]
        self._num = sorted(num, key=lambda j: not self._cols[j][1])
        self._num_names = [self.names[j] for j in self._num]
        self._num_back = np.argsort(self._num)  # where each column's value lies in that order
        self._n_log = sum(1 for j in self._num if self._cols[j][1])
        self._num_lo = np.array([self._cols[j][2] for j in self._num], dtype=np.float64)
        self._num_flat = np.array([not self._cols[j][3] > self._cols[j][2] for j in self._num], dtype=bool)
        self._any_flat = bool(self._num_flat.any())
        self._num_span = np.array([self._cols[j][3] - self._cols[j][2] for j in self._num], dtype=np.float64)
        self._num_span[self._num_flat] = 1.0  # a one-point range encodes as 0 (set after the division)
        self._choice = [
            (j, self.names[j], self._cols[j][1]) for j, c in enumerate(self._cols) if c[0] == "choice"
        ]

    def _plainly_valid(self, config: Mapping[str, Any]) -> bool:
        """True when ``config`` holds exactly the space's names, each with a plainly legal value.

        A quick form of :func:`benchmarks.space.check_config` for the common case: a float or int
        within the bounds (integral where the column is), or one of the choices. Anything else
        (another type, None, a missing or an unknown name) answers False, and the caller runs the
        full check, which names the problem; this never accepts what the full check refuses.
        """
        if len(config) != len(self._quick):
            return False
        for name, is_choice, rule in self._quick:
            if name not in config:
                return False
            v = config[name]
            if is_choice:
                if v is None or v not in rule:
                    return False
                continue
            lo, hi, integral = rule
            if type(v) is not float and type(v) is not int:
                return False
            if not (math.isfinite(v) and lo <= v <= hi) or (integral and float(v) != int(v)):
                return False
        return True

    def encode_one(self, config: Any) -> np.ndarray:
        """(1, n_features) inputs of one configuration, validated; bit-identical to :meth:`encode` of that row.

        A fast path for single queries (no DataFrame); conditional spaces take the general path.
        """
        if not self._plain or not isinstance(config, Mapping):
            return self.encode([config] if isinstance(config, Mapping) else config)
        if not self._plainly_valid(config):
            check_config(self.space, config)
        if self._num:  # encode_frame's elementwise arithmetic, on every numeric column at once
            a = np.array([config[n] for n in self._num_names], dtype=np.float64)
            if self._n_log:
                np.log(a[: self._n_log], out=a[: self._n_log])
            a -= self._num_lo
            a /= self._num_span
            if self._any_flat:
                a[self._num_flat] = 0.0
        if self._num and not self._choice:  # every column numeric: back in the space's order, one gather
            row = a.take(self._num_back).reshape(1, -1)
        else:
            row = np.empty((1, len(self.names)), dtype=np.float64)
            if self._num:
                row[0, self._num] = a
        for j, name, index in self._choice:
            row[0, j] = index[config[name]]
        if not self.onehot:
            return row
        extra = [np.array([[float(config[n] == c) for c in choices]]) for n, choices in self.onehot.items()]
        return np.concatenate([row, *extra], axis=1)

    @property
    def n_features(self) -> int:
        return len(self.names) + sum(len(c) for c in self.onehot.values())

    def frame(self, configs: Any) -> pd.DataFrame:
        """Validate ``configs`` (a DataFrame, one mapping, or a sequence of mappings) and return a DataFrame.

        Raises ConfigError naming the first unknown, missing or out-of-space value.
        """
        if isinstance(configs, pd.DataFrame):
            unknown = [c for c in configs.columns if c not in self.space]
            if unknown:
                raise ConfigError(f"unknown hyperparameter {unknown[0]!r}; allowed: {', '.join(self.names)}")
            check_frame(self.space, configs)
            return configs
        if isinstance(configs, Mapping):
            configs = [configs]
        if not isinstance(configs, Sequence) or isinstance(configs, (str, bytes)):
            raise ConfigError(
                f"configurations must be a mapping, a sequence of mappings or a DataFrame, got {type(configs).__name__}"
            )
        rows = []
        for c in configs:
            if not isinstance(c, Mapping):
                raise ConfigError(f"a configuration must be a mapping, got {type(c).__name__}: {c!r}")
            c = dict(c)
            check_config(self.space, c)
            rows.append(c)
        return pd.DataFrame(rows, columns=list(self.names))

    def encode(self, configs: Any, *, validated: bool = False) -> np.ndarray:
        """(n, n_features) float64 inputs for ``configs`` (validated first unless ``validated``)."""
        frame = configs if validated else self.frame(configs)
        x = encode_frame(self.space, frame)
        x[~np.isfinite(x) | (x < 0)] = INACTIVE
        if not self.onehot:
            return x
        extra = [
            (frame[n].to_numpy(dtype=object)[:, None] == np.asarray(choices, dtype=object)[None, :]).astype(
                np.float64
            )
            for n, choices in self.onehot.items()
        ]
        return np.concatenate([x, *extra], axis=1)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, vectorized (uint64 arithmetic wraps modulo 2**64)."""
    h = h ^ (h >> np.uint64(30))
    h = h * _M1
    h = h ^ (h >> np.uint64(27))
    h = h * _M2
    return h ^ (h >> np.uint64(31))


_MASK64 = (1 << 64) - 1
_M1_INT, _M2_INT, _GOLDEN_INT = int(_M1), int(_M2), int(_GOLDEN)


def _mix_int(h: int) -> int:
    """:func:`_mix` on one Python int (modulo 2**64)."""
    h ^= h >> 30
    h = (h * _M1_INT) & _MASK64
    h ^= h >> 27
    h = (h * _M2_INT) & _MASK64
    return h ^ (h >> 31)


def _hash_one(row: list[float], seed: int, salt: int) -> int:
    """:func:`config_seed_hash` of one encoded row and seed, in Python ints."""
    mask, m1, m2 = _MASK64, _M1_INT, _M2_INT
    h = (salt * _GOLDEN_INT + _GOLDEN_INT) & mask
    for v in row:
        # np.round (half to even) of the same float64 product, then int64 -> uint64 (two's complement); then
        # _mix_int, written out (one query hashes every column: the calls cost more than the arithmetic)
        h ^= round(v * 1e9) & mask
        h ^= h >> 30
        h = (h * m1) & mask
        h ^= h >> 27
        h = (h * m2) & mask
        h ^= h >> 31
    return _mix_int(h ^ _mix_int((seed + _GOLDEN_INT) & mask))


def seed_hash_one(row: list[float], seed: int) -> int:
    """:func:`config_seed_hash` of one encoded row (as a list of floats) and one seed, as a Python int."""
    return _hash_one(row, seed, 0)


def config_seed_hash(x: np.ndarray, seeds: np.ndarray, salt: int = 0) -> np.ndarray:
    """A 64-bit hash of each (encoded configuration, seed) pair: same inputs, same hash, on any machine.

    ``x`` is the encoded configuration matrix; values are quantized to 1e-9
    before hashing, so a configuration given as a dict or as a DataFrame row
    hashes alike.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] == 1 and np.ndim(seeds) <= 1 and np.size(seeds) == 1:
        # one row (a single query): the same arithmetic on Python ints, about 20x quicker than numpy on 1-element
        # arrays (tested equal to the vectorized form)
        seed = int(np.asarray(seeds, dtype=np.int64).reshape(-1)[0])
        return np.array([_hash_one(x[0].tolist(), seed, salt)], dtype=np.uint64)
    q = np.round(x * 1e9).astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(q.shape[0], np.uint64(salt) * _GOLDEN + _GOLDEN, dtype=np.uint64)
        for j in range(q.shape[1]):
            h = _mix(h ^ q[:, j])
        s = np.asarray(seeds, dtype=np.int64).astype(np.uint64)
        return _mix(h ^ _mix(s + _GOLDEN))
