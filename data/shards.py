"""A sweep's plan and its shards: the on-disk state that makes a sweep resumable.

A sweep folder (``data/sweeps/<table>/``) holds:

* ``plan.json``: the sweep's settings, its sampled configurations, and the
  shards, each a list of groups, each group a list of (config_id, seed) runs
  trained together. Written once; a rerun with other settings is refused.
* ``shards/shard-NNNNN.npz``: one finished shard's curves, written atomically
  (a temporary file renamed into place), so a shard file is either complete or
  absent. A rerun trains only the shards whose file is absent.
* ``calibration.json``: the solo timings and the fitted cost model.
"""

from __future__ import annotations

import io
import json
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.io import atomic_write_bytes, atomic_write_json

PLAN_VERSION = 1


class SweepStateError(RuntimeError):
    """A sweep folder that does not match the settings asked for, or holds inconsistent shards."""


@dataclass
class Plan:
    settings: dict[str, Any]
    configs: pd.DataFrame  # one row per config_id, in config_id order
    shards: list[list[list[tuple[int, int]]]]  # shard -> groups -> runs (config_id, seed)

    @property
    def n_runs(self) -> int:
        return sum(len(g) for s in self.shards for g in s)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_version": PLAN_VERSION,
            "settings": self.settings,
            "configs": self.configs.to_dict(orient="records"),
            "shards": [[[list(r) for r in g] for g in s] for s in self.shards],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Plan:
        if d.get("plan_version") != PLAN_VERSION:
            raise SweepStateError(f"plan_version {d.get('plan_version')!r} is not supported (expected {PLAN_VERSION})")
        shards = [[[(int(c), int(s)) for c, s in g] for g in sh] for sh in d["shards"]]
        return cls(dict(d["settings"]), pd.DataFrame(d["configs"]), shards)


def make_plan(settings: Mapping[str, Any], configs: pd.DataFrame, group_keys: Sequence[Any],
              order_keys: Sequence[tuple], seeds: Sequence[int], *, max_group: int, shard_runs: int,
              weights: Sequence[float] | None = None, shard_weight: float = float("inf")) -> Plan:
    """Group runs by ``group_keys[config_id]`` and pack them into shards.

    A group is cut into chunks of at most ``max_group`` runs and at most
    ``shard_weight`` total weight (``weights[config_id]``: a rough estimate of a
    run's seconds, so that no shard takes hours); chunks are packed into shards
    of at most ``shard_runs`` runs and ``shard_weight`` weight.
    """
    if max_group < 1 or shard_runs < 1:
        raise ValueError(f"max_group ({max_group}) and shard_runs ({shard_runs}) must be >= 1")
    w = list(weights) if weights is not None else [0.0] * len(configs)
    by_key: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for cid in range(len(configs)):
        for s in seeds:
            by_key[repr(group_keys[cid])].append((cid, int(s)))
    groups: list[list[tuple[int, int]]] = []
    for key in sorted(by_key):
        runs = sorted(by_key[key], key=lambda r: (order_keys[r[0]], r[0], r[1]))
        chunk: list[tuple[int, int]] = []
        weight = 0.0
        for r in runs:
            if chunk and (len(chunk) >= max_group or weight + w[r[0]] > shard_weight):
                groups.append(chunk)
                chunk, weight = [], 0.0
            chunk.append(r)
            weight += w[r[0]]
        if chunk:
            groups.append(chunk)
    shards: list[list[list[tuple[int, int]]]] = []
    current: list[list[tuple[int, int]]] = []
    size, weight = 0, 0.0
    for g in groups:
        gw = sum(w[r[0]] for r in g)
        if current and (size + len(g) > shard_runs or weight + gw > shard_weight):
            shards.append(current)
            current, size, weight = [], 0, 0.0
        current.append(g)
        size += len(g)
        weight += gw
    if current:
        shards.append(current)
    return Plan(dict(settings), configs.reset_index(drop=True), shards)


def load_or_write_plan(folder: Path, plan: Plan) -> Plan:
    """Write ``plan`` if the folder has none; else check the stored one has the same settings and configs."""
    path = folder / "plan.json"
    if not path.exists():
        atomic_write_json(path, plan.to_json())
        return plan
    stored = Plan.from_json(json.loads(path.read_text()))
    want = json.loads(json.dumps(plan.settings, default=str))
    if stored.settings != want:
        diff = {k: (stored.settings.get(k), want.get(k)) for k in set(stored.settings) | set(want)
                if stored.settings.get(k) != want.get(k)}
        raise SweepStateError(
            f"{path} was planned with other settings (stored vs asked: {diff}); finish it with the same "
            f"settings, or give this sweep another name (name=...)"
        )
    stored_rows, want_rows = (json.loads(json.dumps(p.configs.to_dict(orient="records"), default=str))
                              for p in (stored, plan))
    if stored_rows != want_rows:
        same_prefix = min(len(stored_rows), len(want_rows))  # where they differ when one only adds rows
        first = next((i for i, (a, b) in enumerate(zip(stored_rows, want_rows)) if a != b), same_prefix)
        raise SweepStateError(f"{path}: the stored configurations differ from the ones these settings sample "
                              f"(first at config_id {first}); the sampling code changed. Use another name or "
                              f"remove the folder.")
    if stored.shards != plan.shards:
        raise SweepStateError(f"{path}: the stored shards differ from the ones these settings give; "
                              f"the code that groups runs changed. Use another name or remove the folder.")
    return stored


def shard_path(folder: Path, index: int) -> Path:
    return folder / "shards" / f"shard-{index:05d}.npz"


def write_shard(folder: Path, index: int, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> bool:
    """Write one finished shard atomically; never replace one that exists.

    The file appears whole or not at all (written to a temporary file, then
    hard-linked into place, which fails if the name exists). Returns False,
    writing nothing, when another process wrote the same shard first: its rows
    are kept, not silently replaced.
    """
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.array(json.dumps(meta, default=str)), **arrays)
    path = shard_path(folder, index)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    atomic_write_bytes(tmp, buf.getvalue())
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: check, then rename (not atomic against a racing writer)
        if path.exists():
            return False
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def read_shard(path: Path, *, arrays: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A shard's arrays and metadata; ``arrays=False`` reads the metadata alone (the arrays come back empty)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files if k != "meta"} if arrays else {}
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError) as e:
        raise SweepStateError(f"{path}: unreadable shard ({e}); delete it and rerun the sweep to redo it") from None
    return data, meta


def done_shards(folder: Path, n_shards: int) -> set[int]:
    return {i for i in range(n_shards) if shard_path(folder, i).is_file()}
