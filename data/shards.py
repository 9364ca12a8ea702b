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
import math
import os
import re
import stat
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.io import STALE_TMP_SECONDS, atomic_write_bytes, atomic_write_json, npz_headers, sha256_bytes
from benchmarks.io import clean_stale_tmp as clean_tmp
from benchmarks.protocol import CurveBenchError
from benchmarks.sampling import same_configuration

PLAN_VERSION = 1
#: the largest plan.json or calibration.json read (a 100,000-configuration plan is about 40 MB)
MAX_JSON_BYTES = 512 * 2**20
#: the largest shard file read, and the most its arrays may hold uncompressed
MAX_SHARD_BYTES = 1 * 2**30
#: the arrays a shard holds (besides ``meta``), with their dtypes and number of dimensions
SHARD_ARRAYS = {
    "config_id": ("int32", 1),
    "seed": ("int32", 1),
    "metrics": ("float32", 3),
    "diverged_epoch": ("int32", 1),
    "n_params": ("int64", 1),
    "group": ("int32", 1),
    "group_epoch_seconds": ("float64", 2),
}
#: temporary files of atomic writes (``.<name>.<random>.tmp``) older than this are a killed process's leftovers
_SHARD_RE = re.compile(r"shard-(\d{5,})\.npz")


class SweepStateError(CurveBenchError, RuntimeError):
    """A sweep folder that does not match the settings asked for, or holds inconsistent or malformed files."""


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

    def digest(self) -> str:
        """sha256 of the plan as canonical JSON: recorded in every shard, so a shard of another plan (the plan
        file replaced, a shard copied from another sweep) is never merged into this one's table."""
        return sha256_bytes(json.dumps(self.to_json(), sort_keys=True, default=str).encode())

    @classmethod
    def from_json(cls, d: Mapping[str, Any], *, source: str = "plan") -> Plan:
        """A plan from its JSON form, checked against what :meth:`to_json` writes (SweepStateError naming
        ``source``)."""
        if not isinstance(d, Mapping):
            raise SweepStateError(f"{source}: not a plan (a JSON object is expected, got {type(d).__name__})")
        if d.get("plan_version") != PLAN_VERSION:
            raise SweepStateError(
                f"{source}: plan_version {d.get('plan_version')!r} is not supported (expected {PLAN_VERSION})"
            )
        settings, configs, raw = d.get("settings"), d.get("configs"), d.get("shards")
        if not isinstance(settings, Mapping):
            raise SweepStateError(f"{source}: 'settings' must be an object")
        if not isinstance(configs, list) or not all(isinstance(c, Mapping) for c in configs):
            raise SweepStateError(f"{source}: 'configs' must be a list of objects")
        if not isinstance(raw, list):
            raise SweepStateError(f"{source}: 'shards' must be a list")
        shards = []
        for i, sh in enumerate(raw):
            ok = isinstance(sh, list) and all(
                isinstance(g, list)
                and all(isinstance(r, list) and len(r) == 2 and all(type(v) is int for v in r) for r in g)
                for g in sh
            )
            if not ok:
                raise SweepStateError(
                    f"{source}: shard {i} must be a list of groups of [config_id, seed] integer pairs"
                )
            shards.append([[(c, s) for c, s in g] for g in sh])
        return cls(dict(settings), pd.DataFrame(configs), shards)


def make_plan(
    settings: Mapping[str, Any],
    configs: pd.DataFrame,
    group_keys: Sequence[Any],
    order_keys: Sequence[tuple],
    seeds: Sequence[int],
    *,
    max_group: int,
    shard_runs: int,
    weights: Sequence[float] | None = None,
    shard_weight: float = float("inf"),
) -> Plan:
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
    """Write ``plan`` if the folder has none; else check the stored one has the same settings and configs (floats up
    to round-off, :func:`benchmarks.sampling.same_configuration`) and return the stored one."""
    path = folder / "plan.json"
    if not path.exists() and not path.is_symlink():
        trained = sorted(folder.glob("shards/shard-*.npz"))
        if trained:
            raise SweepStateError(
                f"{folder} holds {len(trained)} shard(s) ({trained[0].name}, ...) but no plan.json: they cannot be "
                "matched to a plan. Restore its plan.json, or remove the folder to start over."
            )
        atomic_write_json(path, plan.to_json())
        return plan
    stored = read_plan(path)
    want = json.loads(json.dumps(plan.settings, default=str))
    if stored.settings != want:
        diff = {
            k: (stored.settings.get(k), want.get(k))
            for k in set(stored.settings) | set(want)
            if stored.settings.get(k) != want.get(k)
        }
        raise SweepStateError(
            f"{path} was planned with other settings (stored vs asked: {diff}); finish it with the same "
            f"settings, or give this sweep another name (name=...)"
        )
    stored_rows, want_rows = (
        json.loads(json.dumps(p.configs.to_dict(orient="records"), default=str)) for p in (stored, plan)
    )
    first = next(
        (i for i, (a, b) in enumerate(zip(stored_rows, want_rows)) if not same_configuration(a, b)), None
    )
    if first is None and len(stored_rows) != len(want_rows):
        first = min(len(stored_rows), len(want_rows))  # the same prefix: one only adds rows
    if first is not None:
        raise SweepStateError(
            f"{path}: the stored configurations differ from the ones these settings sample "
            f"(first at config_id {first}, beyond floating-point round-off); the sampling code changed. Use "
            f"another name or remove the folder."
        )
    if stored.shards != plan.shards:
        raise SweepStateError(
            f"{path}: the stored shards differ from the ones these settings give; "
            f"the code that groups runs changed. Use another name or remove the folder."
        )
    return stored


def read_json_file(path: Path, what: str) -> Any:
    """A JSON file of a sweep folder (which may come from another machine): SweepStateError naming it if bad."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise SweepStateError(f"{path}: the {what} is not a regular file")
        if st.st_size > MAX_JSON_BYTES:
            raise SweepStateError(
                f"{path}: the {what} has {st.st_size} bytes, more than the {MAX_JSON_BYTES} allowed"
            )
        with open(path, "rb") as f:
            return json.loads(f.read(MAX_JSON_BYTES + 1).decode("utf-8"))
    except SweepStateError:
        raise
    except (OSError, ValueError, RecursionError) as e:  # ValueError: bad JSON or bad UTF-8
        raise SweepStateError(
            f"{path}: unreadable {what} ({type(e).__name__}: {str(e)[:200]}); delete the sweep "
            f"folder to start over, or use another name"
        ) from None


def read_plan(path: Path) -> Plan:
    """Read and check a sweep's ``plan.json`` (SweepStateError naming the file when it is not a valid plan)."""
    return Plan.from_json(read_json_file(path, "plan"), source=str(path))


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
    except (
        OSError
    ):  # a file system without hard links: check, then rename (not atomic against a racing writer)
        if path.exists():
            return False
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _check_zip(path: Path, z: zipfile.ZipFile, arrays: bool) -> None:
    """Refuse a shard archive whose members are not the writer's, or whose arrays would not fit the limits.

    Each member's ``.npy`` header is read first (:func:`benchmarks.io.npz_headers`), so a header that
    announces a huge array (numpy would allocate it before noticing the data is missing) or a pickled
    object array is refused before anything is allocated.
    """
    names = [i.filename for i in z.infolist()]
    want = {"meta", *SHARD_ARRAYS} if arrays else {"meta"}
    have = {n[:-4] for n in names}
    if arrays and have != want:
        raise ValueError(f"arrays {sorted(have)} differ from the writer's {sorted(want)}")
    if "meta" not in have:
        raise ValueError("no 'meta' array")
    npz_headers(z, MAX_SHARD_BYTES)


def _meta_checked(meta: Any, index: int | None) -> dict[str, Any]:
    """The shard's metadata, checked against what :func:`data.sweep.run_shard` writes."""
    if not isinstance(meta, dict):
        raise ValueError("its metadata is not a JSON object")
    need = {
        "shard": int,
        "metric_names": list,
        "wall_seconds": (int, float),
        "device": str,
        "threads": int,
        "hardware": dict,
    }
    for key, typ in need.items():
        if key not in meta or not isinstance(meta[key], typ) or isinstance(meta[key], bool):
            raise ValueError(f"metadata {key}={meta.get(key)!r} is missing or of the wrong type")
    if index is not None and meta["shard"] != index:
        raise ValueError(f"metadata says shard {meta['shard']!r}, the file name says {index}")
    if not meta["metric_names"] or not all(isinstance(m, str) for m in meta["metric_names"]):
        raise ValueError(f"metadata metric_names={meta['metric_names']!r} must be a non-empty list of names")
    if not (math.isfinite(meta["wall_seconds"]) and meta["wall_seconds"] >= 0):
        raise ValueError(f"metadata wall_seconds={meta['wall_seconds']!r} must be a finite number >= 0")
    cpu = meta.get("cpu_seconds")  # recorded by shards written since CurveBench timed CPU too
    if cpu is not None and (
        isinstance(cpu, bool) or not isinstance(cpu, (int, float)) or not (math.isfinite(cpu) and cpu >= 0)
    ):
        raise ValueError(f"metadata cpu_seconds={cpu!r} must be a finite number >= 0")
    if not 1 <= meta["threads"] <= 1024:
        raise ValueError(f"metadata threads={meta['threads']!r} must be in 1..1024")
    for key in ("code_version", "started", "finished"):
        if key in meta and not isinstance(meta[key], str):
            raise ValueError(f"metadata {key}={meta[key]!r} must be a string")
    digest = meta.get("plan_digest")  # recorded by shards written since CurveBench recorded it
    if digest is not None and not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise ValueError(f"metadata plan_digest={digest!r} must be 64 hex digits (a sha256)")
    return meta


def _arrays_checked(a: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """The writer's rules for a shard's arrays: dtypes, dimensions, matching lengths and value ranges."""
    for key, (dtype, ndim) in SHARD_ARRAYS.items():
        if a[key].dtype != np.dtype(dtype) or a[key].ndim != ndim:
            raise ValueError(
                f"array {key} is {a[key].dtype} with {a[key].ndim} dimension(s), expected {dtype} with {ndim}"
            )
    n, m, e = a["metrics"].shape
    if n < 1 or e < 1 or m != len(meta["metric_names"]):
        raise ValueError(
            f"array metrics has shape {a['metrics'].shape}; expected (runs >= 1, "
            f"{len(meta['metric_names'])} metrics, epochs >= 1)"
        )
    for key in ("config_id", "seed", "diverged_epoch", "n_params", "group"):
        if a[key].shape != (n,):
            raise ValueError(f"array {key} has shape {a[key].shape}, expected ({n},) like metrics")
    g = a["group_epoch_seconds"].shape[0]
    if a["group_epoch_seconds"].shape != (g, e) or g < 1:
        raise ValueError(
            f"array group_epoch_seconds has shape {a['group_epoch_seconds'].shape}, expected (groups, {e})"
        )
    if (a["config_id"] < 0).any() or (a["n_params"] < 0).any():
        raise ValueError("negative config_id or n_params")
    if ((a["diverged_epoch"] < -1) | (a["diverged_epoch"] >= e)).any():
        raise ValueError(f"diverged_epoch outside -1..{e - 1}")
    if ((a["group"] < 0) | (a["group"] >= g)).any():
        raise ValueError(f"group outside 0..{g - 1}")
    if not (np.isfinite(a["group_epoch_seconds"]).all() and (a["group_epoch_seconds"] >= 0).all()):
        raise ValueError("group_epoch_seconds holds negative or non-finite times")


def read_shard(path: Path, *, arrays: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A shard's arrays and metadata; ``arrays=False`` reads the metadata alone (the arrays come back empty).

    A shard may come from another machine (a sweep resumed elsewhere), so it is
    read as untrusted: never unpickled, its archive members and ``.npy`` headers
    checked before any array is allocated, and its arrays and metadata checked
    against the writer's rules. Anything else raises SweepStateError naming the file.
    """
    path = Path(path)
    m = _SHARD_RE.fullmatch(path.name)
    index = int(m.group(1)) if m else None
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if st.st_size > MAX_SHARD_BYTES:
            raise ValueError(f"{st.st_size} bytes, more than the {MAX_SHARD_BYTES} a shard may have")
        with open(path, "rb") as fh:
            with zipfile.ZipFile(fh) as z:
                _check_zip(path, z, arrays)
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as npz:
                meta_arr = npz["meta"]
                if meta_arr.dtype.kind != "U" or meta_arr.shape != ():
                    raise ValueError("its metadata is not one JSON string")
                meta = _meta_checked(json.loads(str(meta_arr)), index)
                data = {k: npz[k] for k in SHARD_ARRAYS} if arrays else {}
        if arrays:
            _arrays_checked(data, meta)
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        RecursionError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        NotImplementedError,
        RuntimeError,
        OverflowError,
        MemoryError,
    ) as e:
        raise SweepStateError(
            f"{path}: unreadable shard ({type(e).__name__}: {str(e)[:300]}); delete it and "
            f"rerun the sweep to redo it"
        ) from None
    return data, meta


def clean_stale_tmp(
    folder: Path, *, older_than: float = STALE_TMP_SECONDS, now: float | None = None
) -> list[Path]:
    """Remove the temporary files a killed process left in a sweep folder; return what was removed.

    Only names of the atomic writes' pattern (``.<name>.<random>.tmp``, and the
    shard writer's ``.shard-NNNNN.npz.<pid>.tmp``), only directly in ``folder``
    and ``folder/shards`` (never through a symbolic link to a folder, never
    recursing), and only files older than ``older_than`` seconds: a younger one may
    be another worker's write in progress on the same folder.
    """
    return [p for d in (folder, folder / "shards") for p in clean_tmp(d, older_than=older_than, now=now)]


def done_shards(folder: Path, n_shards: int) -> set[int]:
    return {i for i in range(n_shards) if shard_path(folder, i).is_file()}
