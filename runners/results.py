"""Result storage: one folder per run, an events Parquet file and meta.json (written last).

Layout and columns are specified in docs/runner.md, "Results format". The
rules that make studies resumable and safe:

* ``events.parquet`` and ``meta.json`` are each written atomically, meta.json
  last: a folder is a finished run exactly when meta.json exists with
  ``"status": "complete"``;
* a finished run is skipped when it is requested again with the same run
  configuration, and is an error (:class:`RunConflictError`) when the request
  differs: a result is never silently overwritten;
* a folder without a complete meta.json is an interrupted run; it is redone from
  scratch (its events file is replaced), which is correct because runs are
  deterministic.
"""

from __future__ import annotations

import functools
import json
import platform
import re
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.io import atomic_path, atomic_write_json, code_version, sha256_file, utc_now
from benchmarks.protocol import Benchmark

from .simulator import RunResult

FORMAT = "curvebench-run"
FORMAT_VERSION = 1
EVENTS_FILE = "events.parquet"
META_FILE = "meta.json"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")

RunState = Literal["complete", "partial", "missing"]

__all__ = [
    "EVENTS_FILE",
    "META_FILE",
    "RunConflictError",
    "build_meta",
    "read_events",
    "read_meta",
    "run_dir",
    "run_state",
    "should_run",
    "write_run",
]


class RunConflictError(RuntimeError):
    """A finished run exists in the requested folder but was made with a different configuration."""


def check_label(kind: str, value: str) -> str:
    """A path component (study, benchmark or optimizer name) must be a plain, safe name."""
    if not isinstance(value, str) or not _LABEL.match(value) or value in (".", ".."):
        raise ValueError(
            f"{kind} name {value!r} cannot name a results folder: use letters, digits and _ . + = - "
            "(starting with a letter or digit)"
        )
    return value


def run_dir(root: str | Path, study: str, benchmark: str, optimizer: str, n_workers: int, seed: int) -> Path:
    """``<root>/<study>/<benchmark>/<optimizer>/workers-<n>/seed-<k>``."""
    return (
        Path(root)
        / check_label("study", study)
        / check_label("benchmark", benchmark)
        / check_label("optimizer", optimizer)
        / f"workers-{int(n_workers)}"
        / f"seed-{int(seed)}"
    )


def read_meta(path: str | Path) -> dict[str, Any] | None:
    """The run's meta.json, or None when there is none."""
    f = Path(path) / META_FILE
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise RunConflictError(f"{f} is not valid JSON ({e}); inspect and remove it by hand") from None


def run_state(path: str | Path) -> RunState:
    """``"complete"`` (meta.json says so), ``"partial"`` (folder without it) or ``"missing"``."""
    path = Path(path)
    meta = read_meta(path)
    if meta is not None and meta.get("status") == "complete":
        return "complete"
    return "partial" if path.exists() else "missing"


def _canonical(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def config_diff(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two nested configurations."""
    out = []
    for k in sorted(set(a) | set(b)):
        key = f"{prefix}{k}"
        if k not in a:
            out.append(f"{key}: absent -> {b[k]!r}")
        elif k not in b:
            out.append(f"{key}: {a[k]!r} -> absent")
        elif isinstance(a[k], Mapping) and isinstance(b[k], Mapping):
            out.extend(config_diff(a[k], b[k], key + "."))
        elif a[k] != b[k]:
            out.append(f"{key}: {a[k]!r} -> {b[k]!r}")
    return out


def should_run(path: str | Path, run_config: Mapping[str, Any]) -> bool:
    """False when a finished run with the same configuration is there (skip it); True when it must run.

    Raises :class:`RunConflictError` when a finished run there has a different configuration.
    """
    path = Path(path)
    if run_state(path) != "complete":
        return True
    meta = read_meta(path) or {}
    old, new = _canonical(meta.get("config", {})), _canonical(dict(run_config))
    if old != new:
        diff = "; ".join(config_diff(old, new)[:8])
        raise RunConflictError(
            f"{path} holds a finished run made with a different configuration ({diff}). Results are never "
            "overwritten: use another study name or optimizer name, or move that folder away yourself."
        )
    return False


@functools.cache
def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("curvebench", "numpy", "pandas", "pyarrow", "scipy", "ConfigSpace", "hydra-core", "omegaconf"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


@functools.cache
def _code_version() -> str:
    return code_version()


#: Normalized regret needs a fixed range per benchmark and metric. The runner records one convention for every
#: benchmark: from the optimum (the best value the benchmark holds, what regret is measured against) to the worst
#: finite value at the maximum fidelity on every seed, over every configuration of a table, or, for a benchmark
#: that answers anywhere (a surrogate), over RANGE_SAMPLES configurations sampled uniformly with RANGE_SEED.
#: The worst value of a table at *any* fidelity is useless as a reference: a run that blows up early in training
#: has a validation loss of 1e37 there.
RANGE_SAMPLES = 1000
RANGE_SEED = 0
RANGE_NOTE_TABLE = "optimum to the worst value at the maximum fidelity over every configuration and seed of the table"
RANGE_NOTE_SAMPLE = (
    f"estimated: optimum to the worst value at the maximum fidelity over {RANGE_SAMPLES} configurations "
    f"sampled uniformly (seed {RANGE_SEED}), every seed"
)
_RANGES: dict[tuple, tuple[float, float, str]] = {}


def value_range(benchmark: Benchmark, name: str) -> tuple[float, float, str]:
    """(best, worst, how it was obtained) of metric ``name``, by the convention above.

    Computed once per benchmark (type, name and checksum) and metric in a process.
    """
    key = (type(benchmark).__name__, benchmark.name, benchmark.checksum, name)
    if key not in _RANGES:
        import numpy as np

        m = benchmark.metric(name)
        held = benchmark.configurations()
        if held is not None:
            n = getattr(benchmark, "n_configs", None)
            configs: Any = np.arange(n) if isinstance(n, int) and n == len(held) else held
            how = RANGE_NOTE_TABLE
        else:
            from .optimizer import ConfigSampler

            configs = ConfigSampler(benchmark.space).sample(RANGE_SAMPLES, np.random.default_rng(RANGE_SEED))
            how = RANGE_NOTE_SAMPLE
        seeds = list(benchmark.seeds) if benchmark.seeds else [None]
        vals = np.concatenate(
            [
                np.asarray(benchmark.query_batch(configs, fidelities=benchmark.fidelity.max, seeds=s, metrics=[name])[name],
                           dtype=float)
                for s in seeds
            ]
        )
        loss = m.sign * vals[np.isfinite(vals)]
        if not loss.size:
            raise ValueError(f"benchmark {benchmark.name}: no finite value of {name} at the maximum fidelity")
        best, worst = float(loss.min()), float(loss.max())
        try:
            best = min(best, m.sign * float(benchmark.optimum(name)))
        except (NotImplementedError, AttributeError):
            pass
        _RANGES[key] = (m.sign * best, m.sign * worst, how)
    return _RANGES[key]


def _metric_info(benchmark: Benchmark, name: str | None) -> dict[str, Any] | None:
    """Name, direction, optimum and value range (with how the range was obtained) of one metric."""
    if not name:
        return None
    m = benchmark.metric(name)
    info: dict[str, Any] = {"name": m.name, "direction": m.direction}
    try:
        info["optimum"] = float(benchmark.optimum(name))
    except (NotImplementedError, AttributeError):
        info["optimum"] = None
    best, worst, how = value_range(benchmark, name)
    info["value_range"] = [best, worst]
    info["value_range_source"] = how
    return info


def build_meta(
    result: RunResult,
    benchmark: Benchmark,
    *,
    study: str,
    benchmark_name: str,
    optimizer_name: str,
    run_config: Mapping[str, Any],
    started_utc: str,
    extra_versions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """meta.json for a finished run (fields in docs/runner.md)."""
    configs = benchmark.configurations()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "status": "complete",
        "study": study,
        "benchmark": benchmark_name,
        "optimizer": optimizer_name,
        "seed": result.seed,
        "n_workers": result.n_workers,
        "budget": result.budget.to_dict(),
        "overhead": result.overhead,
        "objective": _metric_info(benchmark, benchmark.objective),
        "test_objective": _metric_info(benchmark, benchmark.test_objective),
        "metrics": [m.to_dict() for m in benchmark.metrics.values()],
        "hyperparameters": list(benchmark.space.keys()),
        "fidelity": benchmark.fidelity.to_dict(),
        "benchmark_info": {
            "checksum": benchmark.checksum,
            "type": type(benchmark).__name__,
            "n_configs": len(configs) if configs is not None else None,
            "seeds": list(benchmark.seeds) if benchmark.seeds is not None else None,
        },
        "optimizer_info": result.optimizer.describe(),
        "config": _canonical(dict(run_config)),
        "versions": {**_versions(), **dict(extra_versions or {})},
        "code_version": _code_version(),
        "events_file": EVENTS_FILE,
        "summary": {**result.summary, "started_utc": started_utc, "finished_utc": utc_now()},
    }


def write_run(path: str | Path, result: RunResult, meta: Mapping[str, Any]) -> Path:
    """Write ``events.parquet`` then ``meta.json`` (each atomically) into the run folder ``path``.

    Refuses to write over a complete run (check with :func:`should_run` first).
    """
    path = Path(path)
    if run_state(path) == "complete":
        raise RunConflictError(f"{path} already holds a finished run; refusing to overwrite it")
    path.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(result.events, preserve_index=False)
    with atomic_path(path / EVENTS_FILE) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    meta = {**meta, "events_sha256": sha256_file(path / EVENTS_FILE)}
    atomic_write_json(path / META_FILE, meta)
    return path


def read_events(path: str | Path) -> Any:
    """The events of a finished run as a pandas DataFrame."""
    path = Path(path)
    if run_state(path) != "complete":
        raise FileNotFoundError(f"{path} holds no finished run (no complete {META_FILE})")
    return pq.read_table(path / EVENTS_FILE).to_pandas()
