"""Numeric vectors for configurations: what the KDE of BOHB and the DE of DEHB work on.

Each non-constant hyperparameter is one dimension:

* float and integer: ``[0, 1]`` between the bounds (on the log scale for log
  hyperparameters); integers are rounded when decoded;
* ordinal: the centre of its bin, ``(rank + 0.5) / n``, so a continuous value
  ``x`` in ``[0, 1]`` decodes to rank ``floor(x * n)`` (ordinals are ordered,
  so they are treated as numbers, as hpbandster asks for);
* categorical: in ``"unit"`` mode the bin centre as for ordinals (DEHB's
  hypercube); in ``"index"`` mode the choice index 0..n-1 (BOHB's KDE, whose
  categorical kernel compares indices).

An inactive hyperparameter of a conditional space is NaN; decoding drops the
values that the space's conditions make inactive. Constants are not
dimensions; decoding adds them back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import ConfigSpace as CS
import numpy as np

Mode = Literal["unit", "index"]

__all__ = ["VectorSpace"]


class VectorSpace:
    """Encodes configurations of ``space`` as float vectors and decodes vectors back."""

    def __init__(self, space: CS.ConfigurationSpace) -> None:
        self.space = space
        self.constants: dict[str, Any] = {}
        self.names: list[str] = []
        self.kinds: list[str] = []  # "num", "int", "ord", "cat"
        self.choices: list[tuple | None] = []
        self._lookup: list[dict[Any, int] | None] = []
        self._bounds: list[tuple[float, float, bool]] = []
        for name, hp in space.items():
            if isinstance(hp, CS.Constant):
                self.constants[name] = hp.value
                continue
            if isinstance(hp, (CS.CategoricalHyperparameter, CS.OrdinalHyperparameter)):
                ch = tuple(hp.choices if isinstance(hp, CS.CategoricalHyperparameter) else hp.sequence)
                if len(ch) == 1:
                    self.constants[name] = ch[0]
                    continue
                kind = "cat" if isinstance(hp, CS.CategoricalHyperparameter) else "ord"
                self.choices.append(ch)
                self._lookup.append({c: i for i, c in enumerate(ch)})
                self._bounds.append((0.0, 1.0, False))
            elif hasattr(hp, "lower") and hasattr(hp, "upper"):
                kind = "int" if "Integer" in type(hp).__name__ else "num"
                log = bool(getattr(hp, "log", False))
                lo, hi = float(hp.lower), float(hp.upper)
                if log:
                    lo, hi = math.log(lo), math.log(hi)
                self.choices.append(None)
                self._lookup.append(None)
                self._bounds.append((lo, hi, log))
            else:
                raise TypeError(f"hyperparameter {name!r} of type {type(hp).__name__} is not supported")
            self.names.append(name)
            self.kinds.append(kind)
        self.n_levels = np.array([len(c) if c is not None else 0 for c in self.choices], dtype=np.int64)
        self._conditional = bool(space.conditions)

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def categorical_levels(self) -> np.ndarray:
        """Number of choices of each categorical dimension, 0 for the others (numbers and ordinals)."""
        return np.where(self.is_categorical, self.n_levels, 0)

    @property
    def is_categorical(self) -> np.ndarray:
        """Boolean mask of the categorical (unordered) dimensions."""
        return np.array([k == "cat" for k in self.kinds], dtype=bool)

    def encode(self, configs: Sequence[Mapping[str, Any]], mode: Mode = "unit") -> np.ndarray:
        """An (n, dim) float array; NaN where a hyperparameter is absent (inactive)."""
        out = np.full((len(configs), self.dim), np.nan)
        for j, (name, kind) in enumerate(zip(self.names, self.kinds)):
            lookup = self._lookup[j]
            for i, c in enumerate(configs):
                v = c.get(name)
                if v is None:
                    continue
                if lookup is not None:
                    k = lookup.get(v)
                    if k is None:
                        raise ValueError(f"{name}={v!r} is not one of {self.choices[j]}")
                    out[i, j] = k if (mode == "index" and kind == "cat") else (k + 0.5) / len(lookup)
                else:
                    lo, hi, log = self._bounds[j]
                    x = math.log(v) if log else float(v)
                    out[i, j] = (x - lo) / (hi - lo) if hi > lo else 0.5
        return out

    def decode(self, vectors: np.ndarray, mode: Mode = "unit") -> list[dict[str, Any]]:
        """Configurations from an (n, dim) array; values are clipped into the space."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=float))
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have {vectors.shape[1]} dimensions, the space has {self.dim}")
        out = []
        for row in vectors:
            conf: dict[str, Any] = dict(self.constants)
            for j, (name, kind) in enumerate(zip(self.names, self.kinds)):
                x = row[j]
                if x != x:
                    continue
                ch = self.choices[j]
                if ch is not None:
                    n = len(ch)
                    k = int(round(x)) if (mode == "index" and kind == "cat") else int(math.floor(x * n))
                    conf[name] = ch[min(max(k, 0), n - 1)]
                else:
                    lo, hi, log = self._bounds[j]
                    v = lo + min(max(x, 0.0), 1.0) * (hi - lo)
                    v = math.exp(v) if log else v
                    hp = self.space[name]
                    if kind == "int":
                        v = int(min(max(round(v), hp.lower), hp.upper))
                    else:
                        v = float(min(max(v, hp.lower), hp.upper))
                    conf[name] = v
            out.append(self._deactivate(conf) if self._conditional else conf)
        return out

    def _deactivate(self, conf: dict[str, Any]) -> dict[str, Any]:
        """Drop hyperparameters that the space's conditions make inactive."""
        from ConfigSpace.util import deactivate_inactive_hyperparameters

        return dict(deactivate_inactive_hyperparameters(configuration=conf, configuration_space=self.space))
