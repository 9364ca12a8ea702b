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
  deterministic;
* a finished run is verified before it is skipped: meta.json parses, says
  complete, and events.parquet exists with the checksum meta.json records.
  Otherwise the run is *damaged*: it is never skipped and never written over;
  the next run of it moves the folder aside (``seed-<k>.damaged-<UTC time>``)
  and redoes it;
* one process at a time writes a run folder: a lock file beside it
  (``.seed-<k>.lock``, :func:`run_lock`) is held from the last completion
  check to the write of meta.json. A process that finds it held reports the run
  as taken by another process (:class:`RunTakenError`), not as failed;
* a method's seeds are one experiment: a run is written only when every finished
  seed beside it has its settings and data (:func:`check_siblings`). One process at
  a time makes that check and writes its run's meta.json, holding the method's lock
  (``.seeds.lock`` in the ``workers-<n>`` folder, :func:`seeds_lock`), so two seeds
  run with different settings at once cannot both be written.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import catalog
from benchmarks.io import (
    atomic_path,
    atomic_write_json,
    code_version,
    hardware,
    read_json_object,
    sha256_file,
    utc_now,
)
from benchmarks.io import clean_stale_tmp as clean_tmp
from benchmarks.protocol import RANGE_CONVENTION, Benchmark, CurveBenchError

# re-exported: the range's sample size and seed, where readers of runs look for them
from benchmarks.protocol import RANGE_SAMPLES as RANGE_SAMPLES
from benchmarks.protocol import RANGE_SEED as RANGE_SEED
from benchmarks.transfer import related

from .checks import check_label
from .results_format import DAMAGED_INFIX, EVENTS_FILE, FORMAT, FORMAT_VERSION, LOCK_SUFFIX, META_FILE
from .simulator import RunResult

RunState = Literal["complete", "damaged", "partial", "missing"]

__all__ = [
    "RunConflictError",
    "RunTakenError",
    "build_meta",
    "check_siblings",
    "data_changes",
    "read_events",
    "read_meta",
    "run_dir",
    "run_lock",
    "run_state",
    "seeds_lock",
    "verify_run",
    "should_run",
    "write_run",
]


class RunConflictError(CurveBenchError, RuntimeError):
    """A finished run exists in the requested folder but was made with a different configuration."""


class RunTakenError(RuntimeError):
    """Another process holds the run folder's lock (it is running or writing that run right now)."""


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
    """The run's meta.json, or None when there is none.

    A meta.json that is not valid JSON, or not a JSON object, raises :class:`RunConflictError` naming the
    file and saying the run is damaged (read by :func:`benchmarks.io.read_json_object`).
    """
    f = Path(path) / META_FILE
    if not f.is_file():
        return None
    try:
        return read_json_object(f, RunConflictError, missing="missing", what=f"a run's {META_FILE}")
    except RunConflictError as e:
        raise RunConflictError(f"{e}; the run is damaged") from None


def verify_run(path: str | Path) -> tuple[RunState, str]:
    """The state of a run folder and, unless complete or missing, why.

    ``complete``: meta.json parses, says ``"status": "complete"``, and events.parquet
    exists with the sha256 meta.json records. ``damaged``: meta.json is unreadable,
    or it says complete but the events file is missing or differs. ``partial``: the
    folder exists without a complete meta.json (an interrupted run, or one running
    now). ``missing``: no folder.
    """
    path = Path(path)
    link = _linked(path)
    if link is not None:  # a shared results folder is untrusted: a link could send a run's files anywhere
        return "damaged", f"{link} is a symbolic link; a results folder holds plain folders only"
    if not path.exists():
        return "missing", ""
    try:
        meta = read_meta(path)
    except RunConflictError as e:
        return "damaged", str(e)
    except OSError as e:
        return "damaged", f"{path / META_FILE} cannot be read ({e})"
    if meta is None:
        return "partial", f"no {META_FILE}: interrupted, or running now"
    if meta.get("status") != "complete":
        return "partial", f"{META_FILE} says status {meta.get('status')!r}"
    events = path / EVENTS_FILE
    if not events.is_file():
        return "damaged", f"{META_FILE} says complete but {events} is missing"
    want = meta.get("events_sha256")
    if not isinstance(want, str):
        return "damaged", f"{path / META_FILE} records no events_sha256"
    try:
        have = sha256_file(events)
    except OSError as e:
        return "damaged", f"{events} cannot be read ({e})"
    if have != want:
        return (
            "damaged",
            f"{events} does not match the checksum in {META_FILE} (changed or torn after the run)",
        )
    return "complete", ""


def _linked(path: Path) -> Path | None:
    """The run folder or one of its own parents (``workers-n``, the optimizer's, the benchmark's) that is a
    symbolic link, if any. The study folder and the results folder above it may be links (a user's choice)."""
    for p in (path, *list(path.parents)[:3]):
        if p.is_symlink():
            return p
    return None


def run_state(path: str | Path) -> RunState:
    """``complete`` (verified), ``damaged``, ``partial`` (folder without a complete meta.json) or ``missing``."""
    return verify_run(path)[0]


def lock_path(path: str | Path) -> Path:
    """The lock file of a run folder: ``.<folder name>.lock`` beside it."""
    path = Path(path)
    return path.parent / f".{path.name}{LOCK_SUFFIX}"


@contextmanager
def run_lock(path: str | Path, *, timeout: float = 0) -> Iterator[Path]:
    """Hold the run folder's lock (``filelock``); :class:`RunTakenError` when another process holds it.

    ``timeout`` seconds to wait for it (0: do not wait). The lock file is left in
    place afterwards (removing it would race with a process waiting for it).
    """
    path = Path(path)
    lp = lock_path(path)
    with _held(lp, timeout, lambda: RunTakenError(f"{path} is taken by another process (it holds {lp})")):
        yield lp


#: the name of a method's lock file, in its ``workers-<n>`` folder beside the seeds' folders (:func:`seeds_lock`)
SEEDS_LOCK = f".seeds{LOCK_SUFFIX}"

#: seconds a run waits for its method's lock before giving up (the lock is held only to check and write one run)
SEEDS_LOCK_TIMEOUT = 300.0


@contextmanager
def seeds_lock(path: str | Path, *, timeout: float | None = None) -> Iterator[Path]:
    """Hold the lock of the method a run folder belongs to: every seed of one study, benchmark, optimizer and
    number of workers (``.seeds.lock`` in the ``workers-<n>`` folder).

    Held from the last check of the finished seeds beside a run (:func:`check_siblings`) to the write of its
    meta.json, so that two seeds run at once with different settings cannot both be written. Waits up to
    ``timeout`` seconds (:data:`SEEDS_LOCK_TIMEOUT` when None), then raises TimeoutError naming the lock file.
    """
    path = Path(path)
    lp = path.parent / SEEDS_LOCK
    wait = SEEDS_LOCK_TIMEOUT if timeout is None else timeout
    with _held(
        lp,
        wait,
        lambda: TimeoutError(
            f"{path}: another process held {lp} (the lock of this method's seeds) for over {wait:g} s; "
            "the run was not written. Run it again"
        ),
    ):
        yield lp


@contextmanager
def _held(lp: Path, timeout: float, error: Callable[[], Exception]) -> Iterator[None]:
    """Hold the lock file ``lp`` (``filelock``), waiting up to ``timeout`` seconds; ``error()`` when it is not had.

    Each call opens the file anew, so two threads of one process exclude each other as two processes do.
    """
    from filelock import FileLock, Timeout

    lp.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lp), timeout=timeout, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise error() from None
    try:
        yield
    finally:
        lock.release()


def is_locked(path: str | Path) -> bool:
    """Whether another process holds the run folder's lock right now.

    It takes the lock for an instant to find out; a run waits a moment for its lock
    (runners.run.LOCK_GRACE_SECONDS) before it reports the run taken, so this probe does not make it skip one.
    """
    if not lock_path(path).exists():
        return False
    try:
        with run_lock(path):
            return False
    except RunTakenError:
        return True


def clean_stale_tmp(path: str | Path) -> list[Path]:
    """Remove the temporary files an interrupted write left in a run folder (``.<name>.<random>.tmp``).

    Call only while holding the folder's lock: no other writer can be using them then.
    """
    return clean_tmp(path, older_than=0)


def set_aside(path: str | Path) -> Path:
    """Rename a (damaged) run folder to ``<name>.damaged-<UTC time>`` beside it; return the new path."""
    path = Path(path)
    link = _linked(path)
    if link is not None and link != path:  # renaming through a linked parent would change another folder
        raise RunConflictError(f"{link} is a symbolic link; refusing to move {path.name} aside through it")
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for i in range(1000):
        dest = path.with_name(f"{path.name}{DAMAGED_INFIX}{stamp}" + (f"-{i}" if i else ""))
        if not dest.exists():
            os.replace(path, dest)
            return dest
    raise RuntimeError(f"cannot find a free name to move {path} aside")  # pragma: no cover


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


@functools.lru_cache(maxsize=64)
def _source_checksums(benchmark: Benchmark) -> dict[str, str]:
    """The checksum of each catalog table :func:`related` to ``benchmark`` (once per loaded benchmark: a study
    checks every finished transfer run of it against the same sources)."""
    return {n: catalog.load(n).checksum for n in related(benchmark)}


def data_changes(meta: Mapping[str, Any], benchmark: Benchmark) -> list[str]:
    """How the data a finished run was made on (its meta.json) differs from ``benchmark`` as it is now: the
    benchmark's checksum, and for a transfer method the other datasets it learned from and their checksums
    (a table rebuilt, or a dataset added to the configuration set, since). Empty when nothing changed."""
    out = []
    old = (meta.get("benchmark_info") or {}).get("checksum")
    if old is not None and old != benchmark.checksum:
        out.append(f"benchmark checksum {old[:12]} -> {benchmark.checksum[:12]}")
    transfer = (meta.get("optimizer_info") or {}).get("transfer")
    if isinstance(transfer, Mapping) and isinstance(transfer.get("sources"), Mapping):
        was = dict(transfer["sources"])
        now = _source_checksums(benchmark)
        out += [f"transfer source {n} added" for n in sorted(now.keys() - was.keys())]
        out += [f"transfer source {n} gone" for n in sorted(was.keys() - now.keys())]
        out += [
            f"transfer source {n} checksum {was[n][:12]} -> {now[n][:12]}"
            for n in sorted(was.keys() & now.keys())
            if was[n] != now[n]
        ]
    return out


def should_run(
    path: str | Path, run_config: Mapping[str, Any], *, benchmark: Callable[[], Benchmark] | None = None
) -> bool:
    """False when a finished run with the same configuration is there (skip it); True when it must run.

    Raises :class:`RunConflictError` when a finished run there has a different configuration, or, with
    ``benchmark`` (called only for a finished run, so a fresh study loads nothing), was made on other data than
    the benchmark holds now (:func:`data_changes`): results made on other data are never mixed in silently.
    """
    path = Path(path)
    if run_state(path) != "complete":
        # missing, partial or damaged: it must run (a damaged folder is moved aside first), with the settings and
        # on the data of the other seeds already finished beside it, which a report reads as one method
        check_siblings(path, run_config, benchmark)
        return True
    meta = read_meta(path) or {}
    diff, changed = _differences(meta, run_config, benchmark, seed=True)
    _refuse(
        diff,
        changed,
        settings=lambda d: (
            f"{path} holds a finished run made with a different configuration ({d}). Results are "
            "never overwritten: use another study name or optimizer name, or move that folder away yourself."
        ),
        data=lambda d: (
            f"{path} holds a finished run made on other data than the benchmark holds now ({d}). "
            "Results are never overwritten or mixed: use another study name, or move that folder away yourself to "
            "redo it."
        ),
    )
    return False


def _refuse(
    diff: list[str], changed: list[str], *, settings: Callable[[str], str], data: Callable[[str], str]
) -> None:
    """RunConflictError with ``settings(d)`` (other settings: ``diff``) or ``data(d)`` (other data: ``changed``),
    ``d`` the first eight differences; nothing when both are empty."""
    for found, message in ((diff, settings), (changed, data)):
        if found:
            raise RunConflictError(message("; ".join(found[:8])))


_SEED_DIR = re.compile(r"seed-\d+")


def _without_seed(config: Mapping[str, Any]) -> dict[str, Any]:
    out = _canonical(dict(config))
    out.pop("seed", None)
    return out


def experiment_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """How two finished runs (their meta.json) differ as seeds of one experiment: their settings, the seed
    aside, and the benchmark's checksum. Empty when they belong together."""
    out = config_diff(_without_seed(a.get("config", {})), _without_seed(b.get("config", {})))
    ca, cb = ((m.get("benchmark_info") or {}).get("checksum") for m in (a, b))
    if ca != cb:
        out.append(f"benchmark checksum {str(ca)[:12]} -> {str(cb)[:12]}")
    return out


def _differences(
    meta: Mapping[str, Any],
    run_config: Mapping[str, Any],
    benchmark: Callable[[], Benchmark] | None,
    *,
    seed: bool,
) -> tuple[list[str], list[str]]:
    """How a finished run (its meta.json) differs from ``run_config`` (the seed compared too only if ``seed``),
    and, when the settings agree and ``benchmark`` is given, from the data the benchmark holds now
    (:func:`data_changes`; a benchmark not loadable here, no data root say, has nothing to compare with)."""
    norm = _canonical if seed else _without_seed
    diff = config_diff(norm(dict(meta.get("config", {}))), norm(dict(run_config)))
    if diff:
        return diff, []
    try:
        now = benchmark() if benchmark is not None else None
    except CurveBenchError:
        now = None
    return [], (data_changes(meta, now) if now is not None else [])


def check_siblings(
    path: str | Path, run_config: Mapping[str, Any], benchmark: Callable[[], Benchmark] | None = None
) -> None:
    """RunConflictError when a finished run of another seed beside ``path`` (the same study, benchmark, method
    and worker count) was made with other settings than ``run_config`` (its seed aside) or, with
    ``benchmark``, on other data than the benchmark holds now: a method's seeds must be one experiment.

    The first finished seed that agrees stands for all of them: each was compared, under :func:`seeds_lock`,
    with those finished before it when it was written, so they agree among themselves (a folder whose seeds
    disagree, made by hand or by an older version, is refused by the report's reader, naming both). That
    keeps the check at one or two meta.json reads per run however many seeds a method has. A seed whose
    meta.json is unreadable or not complete, or that conflicts but whose events fail their checksum, is
    redone by its next run, so it is not compared. Call it holding :func:`seeds_lock` right before writing
    the run, or the seeds written meanwhile are not seen.
    """
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        return
    loaded: list[Benchmark] = []

    def now() -> Benchmark:  # loaded once for all the seeds, and only when one of them is compared on data
        if not loaded:
            loaded.append(benchmark())
        return loaded[0]

    for sib in sorted(parent.iterdir()):
        if sib == path or not _SEED_DIR.fullmatch(sib.name):
            continue
        try:
            meta = read_meta(sib)
        except (RunConflictError, OSError):
            continue  # damaged: moved aside and redone by its next run
        if not meta or meta.get("status") != "complete":
            continue
        diff, changed = _differences(meta, run_config, now if benchmark is not None else None, seed=False)
        if not (diff or changed):
            return  # one agreeing finished seed stands for all (see above)
        if run_state(sib) == "complete":  # the checksum is verified only for a conflict
            _refuse(
                diff,
                changed,
                settings=lambda d, s=sib.name: (
                    f"{path}: the seeds finished beside it were run with other settings ({s}: "
                    f"{d}); a report would read them as one method. Use another study or optimizer name for "
                    "these settings, or move the finished seeds away yourself."
                ),
                data=lambda d, s=sib.name: (
                    f"{path}: the seeds finished beside it were made on other data than the benchmark "
                    f"holds now ({s}: {d}). Use another study name, or move them away yourself."
                ),
            )


def _machine_now() -> dict[str, Any]:
    """The hardware and the 1-minute load average now: what a run with measured optimizer overhead depends on."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"hardware": hardware(), "load_average": load}


@functools.cache
def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in (  # every library a run's numbers can depend on (an adapter records its own library too)
        "curvebench",
        "numpy",
        "pandas",
        "pyarrow",
        "scipy",
        "scikit-learn",
        "torch",
        "xgboost",
        "threadpoolctl",
        "ConfigSpace",
        "hydra-core",
        "omegaconf",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


@functools.cache
def _code_version() -> str:
    return code_version()


#: Normalized regret's range has one convention and one owner, the Benchmark protocol (``Benchmark.value_range``,
#: RANGE_CONVENTION in benchmarks.protocol, imported above): from the optimum to the median finite value at the
#: maximum fidelity, over a table's every configuration or a fixed-seed sample of a benchmark that answers anywhere.
_RANGES: dict[tuple, dict[str, Any]] = {}


def range_info(benchmark: Benchmark, name: str) -> dict[str, Any]:
    """The benchmark's :meth:`~benchmarks.protocol.Benchmark.value_range` of metric ``name``, as recorded with runs.

    Keys: ``best`` (the better of the optimum and the best value seen), ``median`` (the reference), ``worst``
    (each in the metric's own units and direction), ``source`` (how the configurations were chosen, a sentence).
    Computed once per benchmark (type, name and checksum) and metric in a process.
    """
    key = (type(benchmark).__name__, benchmark.name, benchmark.checksum, name)
    if key not in _RANGES:
        r = benchmark.value_range(name)
        _RANGES[key] = {"best": r.best, "median": r.reference, "worst": r.worst, "source": r.note}
    return dict(_RANGES[key])


def value_range(benchmark: Benchmark, name: str) -> tuple[float, float, str]:
    """(best, reference, how it was obtained) of metric ``name``: the range of normalized regret.

    The reference is the median at the maximum fidelity (RANGE_CONVENTION), no longer the worst value.
    """
    r = range_info(benchmark, name)
    return r["best"], r["median"], r["source"]


def _metric_info(benchmark: Benchmark, name: str | None) -> dict[str, Any] | None:
    """Name, direction, optimum and value range (with how and by which convention it was obtained) of one metric."""
    if not name:
        return None
    m = benchmark.metric(name)
    info: dict[str, Any] = {"name": m.name, "direction": m.direction}
    try:
        info["optimum"] = float(benchmark.optimum(name))
    except (NotImplementedError, AttributeError):
        info["optimum"] = None
    r = range_info(benchmark, name)
    info["value_range"] = [r["best"], r["median"]]
    info["value_range_source"] = r["source"]
    info["value_range_convention"] = RANGE_CONVENTION
    info["worst_value"] = r["worst"]
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
        # measured optimizer seconds enter the simulated clock: the run depends on the machine and its load
        **({"measured_on": _machine_now()} if result.overhead == "measured" else {}),
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


def write_run(path: str | Path, events: RunResult | Any, meta: Mapping[str, Any]) -> Path:
    """Write ``events.parquet`` then ``meta.json`` (each atomically) into the run folder ``path``.

    ``events``: the run's events (a DataFrame with the columns of docs/runner.md) or the
    :class:`~runners.simulator.RunResult` holding them. meta.json is ``meta`` with the format's
    header where ``meta`` lacks it (``format``, ``format_version``, ``"status": "complete"``,
    ``events_file``) and the events file's ``events_sha256`` last. Refuses to write over a complete
    run (check with :func:`should_run` first) or a damaged one (move it aside with :func:`set_aside`).
    """
    path = Path(path)
    state, why = verify_run(path)
    if state == "complete":
        raise RunConflictError(f"{path} already holds a finished run; refusing to overwrite it")
    if state == "damaged":
        raise RunConflictError(f"{path} holds a damaged run ({why}); move it aside first (set_aside)")
    frame = events.events if isinstance(events, RunResult) else events
    path.mkdir(parents=True, exist_ok=True)
    link = _linked(path)  # made since verify_run: still never written through
    if link is not None:
        raise RunConflictError(f"{link} is a symbolic link; refusing to write a run through it")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(path / EVENTS_FILE) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "status": "complete"}
    meta = {
        **header,
        **meta,
        "events_file": EVENTS_FILE,
        "events_sha256": sha256_file(path / EVENTS_FILE),
    }
    atomic_write_json(path / META_FILE, meta)
    return path


def read_events(path: str | Path) -> Any:
    """The events of a finished run as a pandas DataFrame."""
    path = Path(path)
    state, why = verify_run(path)
    if state != "complete":
        raise FileNotFoundError(
            f"{path} holds no finished run (no complete {META_FILE})" + (f": {why}" if why else "")
        )
    return pq.read_table(path / EVENTS_FILE).to_pandas()
