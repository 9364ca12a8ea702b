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
_LOW16 = 0xFFFF
_LOW24 = 0xFFFFFF


def _to_int32(x: torch.Tensor) -> torch.Tensor:
    """int64 values in [0, 2**32) as the int32 tensor with the same 32 bits."""
    return torch.where(x >= 2**31, x - 2**32, x).to(torch.int32)


def _golden_index(n: int, device: torch.device) -> torch.Tensor:
    """(n,) int32: the 32 low bits of ``arange(n) * _GOLDEN``, cached."""
    key = (n, str(device))
    t = _IDX.get(key)
    if t is None:
        if len(_IDX) > 64:
            _IDX.clear()
        t = _IDX[key] = _to_int32(torch.arange(n, dtype=torch.int64, device=device) * _GOLDEN & _M32)
    return t


def _hash32_inplace(x: torch.Tensor, tmp: torch.Tensor) -> torch.Tensor:
    """:func:`hash32` on int32 tensors holding the same 32 bits, in place (``tmp``: scratch of x's shape).

    int32 products wrap modulo 2**32 and an arithmetic shift masked to its low
    16 bits is the logical shift, so every step gives the bits of the int64
    version, with half the memory traffic and no temporaries.
    """
    for _ in range(2):
        torch.bitwise_right_shift(x, 16, out=tmp).bitwise_and_(_LOW16)
        x.bitwise_xor_(tmp).mul_(_MIX)  # _MIX < 2**31: the same constant as an int32
    torch.bitwise_right_shift(x, 16, out=tmp).bitwise_and_(_LOW16)
    return x.bitwise_xor_(tmp)


def bits24(keys: torch.Tensor, counter: int, n: int) -> torch.Tensor:
    """(G, n) int32 in [0, 2**24): the random bits behind :func:`uniform` (row g from keys[g], counter, column)."""
    c = _hash32_int(counter & _M32)
    base = _to_int32(hash32((keys.to(torch.int64) ^ c) & _M32))
    x = base[:, None] + _golden_index(n, keys.device)[None, :]  # wraps modulo 2**32, as the int64 sum masked
    _hash32_inplace(x, torch.empty_like(x))
    return torch.bitwise_right_shift(x, 8, out=x).bitwise_and_(_LOW24)


def uniform(keys: torch.Tensor, counter: int, n: int) -> torch.Tensor:
    """(G, n) float32 uniforms in [0, 1): row g depends only on (keys[g], counter, column index)."""
    return bits24(keys, counter, n).to(torch.float32) * (1.0 / (1 << 24))


def keep_threshold(p: torch.Tensor) -> torch.Tensor:
    """int32 thresholds t with ``bits24 >= t`` exactly when ``uniform >= p`` (p float32 in [0, 1])."""
    return torch.ceil(p.to(torch.float32) * float(1 << 24)).to(torch.int32)


def dropout_multiplier(
    keys: torch.Tensor, counter: int, n: int, threshold: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """(G, n) inverted-dropout multipliers: ``scale[g]`` where ``uniform >= p[g]``, else 0.

    The same numbers as ``(uniform(keys, counter, n) >= p[:, None]).float() * scale[:, None]``,
    compared in integers (``threshold = keep_threshold(p)``; uniforms are k / 2**24 exactly),
    which saves the float conversion and two passes. ``threshold`` and ``scale`` are (G, 1).
    """
    k = bits24(keys, counter, n)
    return torch.where(k >= threshold, scale, 0.0)


def permutation(key: int, epoch: int, n: int) -> np.ndarray:
    """The minibatch order of run ``key`` in ``epoch``."""
    return np.random.default_rng([key, epoch]).permutation(n)
