"""Counter-based random numbers, so that a run's randomness does not depend on the runs trained beside it.

Every run has a 32-bit key (:func:`run_key`, from its configuration and seed).
Initial weights come from a ``torch.Generator`` seeded by the key, minibatch
order from a NumPy generator seeded by (key, epoch), and dropout masks from a
stateless hash of (key, counter, element index) computed for a whole group in
one vectorized call. A configuration trained in a group therefore sees exactly
the same random numbers as when trained alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

_M32 = 0xFFFFFFFF
_MIX = 0x45D9F3B
_GOLDEN = 0x9E3779B9


def run_key(config: Mapping[str, Any], seed: int) -> int:
    """A 31-bit key for one (configuration, seed) run, stable across processes and machines."""
    canon = json.dumps({k: _plain(v) for k, v in sorted(config.items())}, sort_keys=True)
    digest = hashlib.sha256(f"{canon}|seed={int(seed)}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float):
        return float(repr(v)) if v == v else "nan"
    return v


def hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixing function on int64 tensors holding values in [0, 2**32)."""
    x = ((x >> 16) ^ x) * _MIX & _M32
    x = ((x >> 16) ^ x) * _MIX & _M32
    return (x >> 16) ^ x


def _hash32_int(x: int) -> int:
    """:func:`hash32` of one Python integer (same values, no tensor)."""
    x = ((x >> 16) ^ x) * _MIX & _M32
    x = ((x >> 16) ^ x) * _MIX & _M32
    return (x >> 16) ^ x


_IDX: dict[tuple[int, str], torch.Tensor] = {}


def _golden_index(n: int, device: torch.device) -> torch.Tensor:
    key = (n, str(device))
    t = _IDX.get(key)
    if t is None:
        if len(_IDX) > 64:
            _IDX.clear()
        t = _IDX[key] = torch.arange(n, dtype=torch.int64, device=device) * _GOLDEN
    return t


def uniform(keys: torch.Tensor, counter: int, n: int) -> torch.Tensor:
    """(G, n) float32 uniforms in [0, 1): row g depends only on (keys[g], counter, column index)."""
    c = _hash32_int(counter & _M32)
    base = hash32((keys ^ c) & _M32)
    bits = hash32((base[:, None] + _golden_index(n, keys.device)[None, :]) & _M32)
    return (bits >> 8).to(torch.float32) * (1.0 / (1 << 24))


def permutation(key: int, epoch: int, n: int) -> np.ndarray:
    """The minibatch order of run ``key`` in ``epoch``."""
    return np.random.default_rng([key, epoch]).permutation(n)
