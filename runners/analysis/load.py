"""Read a study's results folder into tidy tables, listing every incomplete or missing run.

A study folder holds one folder per run (see docs/runner.md, "Results format")::

    <study>/<benchmark>/<optimizer>/workers-<n>/seed-<k>/events.parquet   one row per recorded evaluation
    <study>/<benchmark>/<optimizer>/workers-<n>/seed-<k>/meta.json        written last: the run is complete

:func:`load_study` returns a :class:`Study`: the runs (complete, partial or
missing), the events of the complete runs in a fixed column layout, and per
benchmark the objective's direction, optimum and value range used for regret.
Nothing is dropped silently: a run without ``meta.json`` (or whose meta.json
records no ``"status": "complete"``, names another run than its folder, or is
a symbolic link) is *partial*, a (benchmark, method, seed) cell that other
methods have but this one lacks is *missing*, and both are listed in
:attr:`Study.runs` with a note. When the study folder holds the plan that
``runners.study`` writes before its runs (``study.json``), the plan defines the
grid instead, together with the run folders it does not list (their seeds are
expected of every method of their benchmark): every planned run without a
folder is *missing*, with the reason the plan gives (its benchmark or optimizer
was not available, the run failed with the error recorded in the plan or in a
shard's ``shard-<i>-of-<n>.json``, or it never started). Symbolic links are
never followed: a run folder reached through one is not read.
"""

from __future__ import annotations

import io
import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import catalog
from benchmarks.io import sha256_bytes

from ..results import experiment_diff, range_info
from ..results_format import EVENTS_FILE, META_FILE, PLAN_FILE, ResultsFormatError
from ..simulator import MAX_EVENTS, repeated_mask

_SEED_DIR = re.compile(r"^seed-(\d+)$")
_WORKERS_DIR = re.compile(r"^workers-(\d+)$")

#: the columns of :attr:`Study.events`: the events of every complete run, renamed for the analysis
STUDY_EVENT_COLUMNS = [
    "benchmark",
    "optimizer",
    "n_workers",
    "method",
    "seed",
    "t_end",
    "valid",
    "test",
    "fidelity",
    "trial_id",
    "draw",
]

#: per-run counts of repeated evaluations and of the table drawn, computed from events.parquet
#: (see :func:`repeat_counts`)
REPEAT_COLUMNS = ["n_repeated", "n_distinct_configs", "n_distinct_configs_max", "n_configs"]

#: the columns the analysis reads from events.parquet (runners.results_format.EVENT_COLUMNS), under its names
_FROM_EVENTS: dict[str, str] = {
    "t_end": "t_end",
    "valid": "objective",
    "test": "test_objective",
    "fidelity": "fidelity",
    "trial_id": "trial_id",
    "status": "status",
}
#: the columns every events.parquet must hold
_REQUIRED = ("t_end", "valid")


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What regret needs to know about one metric of one benchmark.

    ``best`` and ``worst`` fix the range of normalized regret; ``optimum`` is
    the reference of (raw) regret. ``*_source`` says where each number came
    from: ``"meta"`` (the benchmark, recorded by the runner) or ``"study"``
    (observed over every complete run of this study: a fallback, stated in the report).
    """

    name: str
    direction: str
    optimum: float
    best: float
    worst: float
    optimum_source: str = "meta"
    range_source: str = "meta"
    #: which reference ``worst`` is: ``median-at-max-fidelity`` (the current convention),
    #: ``worst-at-max-fidelity`` (results recorded before it changed), ``study`` (observed in this study's runs)
    convention: str = "median-at-max-fidelity"

    @property
    def sign(self) -> float:
        """+1 for minimize, -1 for maximize: ``sign * value`` is a loss (lower is better)."""
        return 1.0 if self.direction == "minimize" else -1.0

    @property
    def span(self) -> float:
        """``|worst - best|``, the denominator of normalized regret (1 when the range is empty)."""
        s = abs(self.worst - self.best)
        return s if s > 0 and math.isfinite(s) else 1.0


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """One benchmark of the study: its validation and test objective and the time horizon of its runs."""

    benchmark: str
    valid: MetricInfo
    test: MetricInfo | None
    horizon: float
    horizon_source: str


@dataclass
class Study:
    """Everything the report needs, read once from a study folder."""

    name: str
    root: Path
    #: one row per (benchmark, method, seed): status complete / partial / missing, counts and notes
    runs: pd.DataFrame
    #: events of complete runs, columns :data:`STUDY_EVENT_COLUMNS` (``test`` NaN when the study has no test objective)
    events: pd.DataFrame
    tasks: dict[str, TaskInfo]
    #: meta.json of every complete run, keyed by (benchmark, method, seed)
    metas: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)

    @property
    def benchmarks(self) -> list[str]:
        """Benchmarks with at least one finished evaluation in a complete run."""
        return sorted(self.tasks)

    @property
    def methods(self) -> list[str]:
        """Methods with at least one complete run."""
        return sorted(self.complete_runs()["method"].unique())

    @property
    def varies_workers(self) -> bool:
        return self.runs["n_workers"].dropna().nunique() > 1

    def complete_runs(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "complete"]


# ---------------------------------------------------------------- reading
def load_study(study_dir: str | Path, *, progress: bool = False, recompute: bool = True) -> Study:
    """Read every run under ``study_dir``; see the module docstring for the layout and the rules.

    ``recompute``: when the runs of a benchmark recorded their value range by an older convention (the worst value
    at the maximum fidelity) and the benchmark can be loaded here with the checksum the runs recorded, the range is
    recomputed from it by the current convention (:func:`runners.results.range_info`); otherwise the recorded range
    is used and :attr:`MetricInfo.convention` says which convention it follows.
    """
    root = Path(study_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"study folder {root} does not exist")
    links: list[Path] = []
    run_dirs = sorted(_find_run_dirs(root, links))
    plan = read_plan(root)
    failures = read_failures(root, plan)
    if not run_dirs and not plan:
        raise ResultsFormatError(
            f"no run folders under {root}; expected <benchmark>/<optimizer>/seed-<k>/ holding {EVENTS_FILE} "
            f"and {META_FILE}"
        )
    it: Iterable[tuple[str, str, float, int, Path]] = run_dirs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(run_dirs, desc=f"reading {root.name}", unit="run", leave=False)

    rows: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    metas: dict[tuple[str, str, float, int], dict[str, Any]] = {}
    first: dict[tuple[str, str, float], tuple[Path, dict[str, Any]]] = {}
    for bench, opt, workers, seed, path in it:
        try:
            row, ev, meta = _read_run(bench, opt, workers, seed, path)
        except ResultsFormatError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError) as e:  # malformed values past the checks
            raise ResultsFormatError(f"{path}: cannot be read as a run ({type(e).__name__}: {e})") from None
        rows.append(row)
        if ev is not None:
            frames.append(ev)
            metas[(bench, opt, _wkey(row["n_workers"]), seed)] = meta  # re-keyed by method below
            _check_one_experiment(first, (bench, opt, _wkey(row["n_workers"])), path, meta)

    rows = _add_planned(rows, plan, failures)
    if plan:
        rows = _add_off_plan(rows, plan)
    runs = pd.DataFrame(rows)
    runs["method"] = _method_labels(runs)
    label_of = dict(
        zip(zip(runs.benchmark, runs.optimizer, runs.n_workers.map(_wkey), runs.seed), runs.method)
    )
    events = pd.concat(frames, ignore_index=True) if frames else _empty_events()
    events["method"] = [
        label_of[(b, o, _wkey(w), s)]
        for b, o, w, s in zip(events.benchmark, events.optimizer, events.n_workers, events.seed)
    ]
    events = events[STUDY_EVENT_COLUMNS]
    metas = {(b, label_of[(b, o, w, s)], s): m for (b, o, w, s), m in metas.items()}
    if not plan:  # without a plan the grid is inferred from the folders present
        runs = _add_missing(runs)
    runs = _note_links(runs, root, links)
    tasks = {
        b: _task_info(
            b,
            [m for (bb, _, _), m in metas.items() if bb == b],
            events[events.benchmark == b],
            recompute=recompute,
        )
        for b in sorted(events["benchmark"].unique())
    }
    runs = runs.sort_values(["benchmark", "method", "seed"], kind="stable").reset_index(drop=True)
    return Study(
        name=root.name, root=root, runs=runs, events=events.reset_index(drop=True), tasks=tasks, metas=metas
    )


def _read_json(path: Path) -> tuple[Any, str]:
    """The JSON value in ``path`` and ``""``, or ``(None, "ErrorType: message")`` when it cannot be read or parsed
    (JSONDecodeError and UnicodeDecodeError are ValueErrors; a file nested too deep, a RecursionError)."""
    try:
        return json.loads(path.read_bytes()), ""
    except (OSError, ValueError, RecursionError) as e:
        return None, f"{type(e).__name__}: {e}"


def read_plan(root: str | Path) -> dict[str, Any] | None:
    """The study plan ``<root>/study.json`` (see docs/runner.md), or None when the study has none."""
    f = Path(root) / PLAN_FILE
    if not f.is_file():
        return None
    plan, why = _read_json(f)
    if why:
        raise ResultsFormatError(f"{f} is not a readable study plan ({why})")
    if not isinstance(plan, Mapping) or not isinstance(plan.get("runs"), list):
        raise ResultsFormatError(f"{f} is not a study plan: it has no list of `runs`")
    for key in ("runs", "failures"):
        _check_run_list(f, key, plan.get(key, []))
    return dict(plan)


#: the outcome file of one shard of a sharded study (runners.results_format.shard_outcome)
_SHARD_FILE = re.compile(r"^shard-(\d+)-of-(\d+)\.json$")
#: the fields that name one run in a plan's ``runs`` and ``failures`` and a shard's ``failures``
_RUN_FIELDS = ("benchmark", "optimizer", "n_workers", "seed")


def _check_run_list(f: Path, key: str, items: Any) -> None:
    """ResultsFormatError naming ``f``, the entry and the value unless ``items`` is a list of objects that name a
    run (:data:`_RUN_FIELDS`: benchmark and optimizer strings, n_workers and seed integers)."""
    if not isinstance(items, list):
        raise ResultsFormatError(f"{f}: `{key}` must be a list, got {type(items).__name__}")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or any(k not in item for k in _RUN_FIELDS):
            raise ResultsFormatError(
                f"{f}: {key}[{i}] must be an object with {', '.join(_RUN_FIELDS)}; got {item!r:.200}"
            )
        for k in ("n_workers", "seed"):
            v = item[k]
            if isinstance(v, bool) or not isinstance(v, int):
                raise ResultsFormatError(f"{f}: {key}[{i}].{k} must be an integer, got {v!r:.100}")
        for k in ("benchmark", "optimizer"):
            if not isinstance(item[k], str):
                raise ResultsFormatError(f"{f}: {key}[{i}].{k} must be a string, got {item[k]!r:.100}")


def read_failures(
    root: str | Path, plan: Mapping[str, Any] | None = None
) -> dict[tuple[str, str, int, int], str]:
    """The recorded error of every failed run of the study, keyed by (benchmark, optimizer, n_workers, seed).

    Read from the plan's ``failures`` and from the outcome of every shard of a sharded study
    (``shard-<i>-of-<n>.json`` beside the plan, which only the shards write their failures to), each checked like
    the plan (ResultsFormatError naming the file and the bad value). Different errors recorded for one run are all
    kept, joined by ``"; "``. A shard file that is a symbolic link is not read (a warning says so).
    """
    root = Path(root)
    errors: dict[tuple[str, str, int, int], list[str]] = {}
    sources: list[tuple[Path, list[Any]]] = [(root / PLAN_FILE, list((plan or {}).get("failures", [])))]
    for f in sorted(p for p in root.iterdir() if _SHARD_FILE.match(p.name)):
        if f.is_symlink() or not f.is_file():
            warnings.warn(
                f"{f} is a symbolic link or not a file; not read (a shard's outcome is a plain file in the study "
                "folder), so the failures it may list are not in the report",
                stacklevel=2,
            )
            continue
        data, why = _read_json(f)
        if why:
            raise ResultsFormatError(f"{f} is not a readable shard outcome ({why})")
        if not isinstance(data, Mapping):
            raise ResultsFormatError(
                f"{f} is not a shard outcome: a JSON {type(data).__name__}, not an object"
            )
        items = data.get("failures", [])
        _check_run_list(f, "failures", items)
        sources.append((f, items))
    for _, items in sources:
        for item in items:
            error = str(item.get("error", ""))
            have = errors.setdefault(run_key(item), [])
            if error not in have:
                have.append(error)
    return {k: "; ".join(e for e in v if e) for k, v in errors.items()}


def _add_planned(
    rows: list[dict[str, Any]],
    plan: Mapping[str, Any] | None,
    failures: Mapping[tuple[str, str, int, int], str] | None = None,
) -> list[dict[str, Any]]:
    """Rows plus a ``missing`` row for every planned run without a folder; failures (:func:`read_failures`)
    noted on their rows. A failed run without a folder is missing even when no plan lists it."""
    failures = dict(failures or {})
    if not plan and not failures:
        return rows
    have = {(r["benchmark"], r["optimizer"], _wkey(r["n_workers"]), int(r["seed"])): r for r in rows}
    out = list(rows)
    expected = {run_key(p): p for p in (plan or {}).get("runs", [])}
    for b, o, w, s in failures:  # a shard's failed run that no plan lists
        expected.setdefault((b, o, w, s), {"benchmark": b, "optimizer": o, "n_workers": w, "seed": s})
    for key, p in expected.items():
        error = failures.get(key)
        row = have.get(key)
        if row is not None:
            if error and row["status"] != "complete":
                row["note"] = f"run failed: {error}" + (f"; {row['note']}" if row["note"] else "")
            continue
        if error:
            note = f"run failed: {error}"
        elif p.get("note"):
            note = str(p["note"])
        else:
            note = f"planned in {PLAN_FILE}, never started (or interrupted before its folder was made)"
        out.append(
            {
                "benchmark": key[0],
                "optimizer": key[1],
                "seed": key[3],
                "n_workers": float(key[2]),
                "status": "missing",
                "n_events": 0,
                "n_failed": 0,
                "t_last": np.nan,
                "path": "",
                "note": note,
            }
        )
        have[key] = out[-1]
    return out


def _add_off_plan(rows: list[dict[str, Any]], plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows plus a ``missing`` row for every run that the run folders found beside the plan imply.

    A run folder that the plan does not list (a plan written by an older version, which each request replaced
    with its own, e.g. a rerun with fewer seeds) counts as planned, and so does its seed for every method of its
    benchmark and worker count (in the plan or on disk): the grid is the union of the plan and the folders.
    """
    planned = {run_key(p) for p in plan["runs"]}
    key = {id(r): (r["benchmark"], r["optimizer"], _wkey(r["n_workers"]), int(r["seed"])) for r in rows}
    have = set(key.values())
    methods: dict[tuple[str, int], set[str]] = {}
    for b, o, w, _ in (*planned, *have):
        methods.setdefault((b, w), set()).add(o)
    seeds: dict[tuple[str, int], set[int]] = {}
    for r in rows:
        b, _, w, s = key[id(r)]
        if r["path"] and key[id(r)] not in planned and w >= 0:
            seeds.setdefault((b, w), set()).add(s)
    out = list(rows)
    for (b, w), ss in sorted(seeds.items()):
        for s in sorted(ss):
            for o in sorted(methods[(b, w)]):
                if (b, o, w, s) in have:
                    continue
                out.append(
                    {
                        "benchmark": b,
                        "optimizer": o,
                        "seed": s,
                        "n_workers": float(w),
                        "status": "missing",
                        "n_events": 0,
                        "n_failed": 0,
                        "t_last": np.nan,
                        "path": "",
                        "note": (
                            f"no run folder; seed {s} has run folders on this benchmark that {PLAN_FILE} does "
                            "not list (planned by an earlier request of the study), so every method is expected "
                            "at it"
                        ),
                    }
                )
                have.add((b, o, w, s))
    return out


def _note_links(runs: pd.DataFrame, root: Path, links: list[Path]) -> pd.DataFrame:
    """Name, on every missing run whose folder would lie under one of ``links`` (benchmark, optimizer or
    ``workers-<n>`` folders that are symbolic links, not followed), the link; and warn of every link."""
    if not links:
        return runs
    runs = runs.copy()
    for link in links:
        parts = link.relative_to(root).parts
        under = runs["status"].eq("missing") & runs["benchmark"].eq(parts[0])
        if len(parts) > 1:
            under &= runs["optimizer"].eq(parts[1])
        if len(parts) > 2:
            m = _WORKERS_DIR.match(parts[2])
            under &= runs["n_workers"].eq(float(m.group(1))) if m else False
        why = f"its folder lies under {link}, a symbolic link that is not followed"
        runs.loc[under, "note"] = [f"{why}; {n}" if n else why for n in runs.loc[under, "note"]]
        warnings.warn(
            f"{link} is a symbolic link; the report does not follow it (a results folder holds plain folders "
            f"only), so no run under it is read ({int(under.sum())} planned or expected run(s) there are missing)",
            stacklevel=2,
        )
    return runs


def run_key(item: Mapping[str, Any]) -> tuple[str, str, int, int]:
    """(benchmark, optimizer, n_workers, seed) of a checked plan or failure entry."""
    return (str(item["benchmark"]), str(item["optimizer"]), int(item["n_workers"]), int(item["seed"]))


def _find_run_dirs(root: Path, links: list[Path]) -> Iterable[tuple[str, str, float, int, Path]]:
    """Yield (benchmark, optimizer, n_workers or NaN, seed, folder) for every seed folder.

    Symbolic links are never followed (a shared results folder is untrusted: a link would pull runs from
    outside it into the report): a seed folder that is a link is yielded all the same, and :func:`_read_run`
    lists it as damaged; a benchmark, optimizer or ``workers-<n>`` folder that is a link is appended to
    ``links`` instead (its runs are unknown), and :func:`_note_links` names it."""
    for bench_dir in _subdirs(root, links):
        for opt_dir in _subdirs(bench_dir, links):
            for sub in _subdirs(opt_dir, links, keep=_SEED_DIR):
                m = _SEED_DIR.match(sub.name)
                if m:  # a layout without the workers level
                    yield bench_dir.name, opt_dir.name, math.nan, int(m.group(1)), sub
                    continue
                w = _WORKERS_DIR.match(sub.name)
                if not w:
                    continue
                for seed_dir in _subdirs(sub, None, keep=_SEED_DIR):
                    m = _SEED_DIR.match(seed_dir.name)
                    if m:
                        yield bench_dir.name, opt_dir.name, float(w.group(1)), int(m.group(1)), seed_dir


def _wkey(w: float) -> int:
    """A dict key for a worker count that may be NaN (unknown): -1."""
    return -1 if w != w else int(w)


def _subdirs(path: Path, links: list[Path] | None, keep: re.Pattern[str] | None = None) -> list[Path]:
    """The folders in ``path`` (not hidden), never through a symbolic link: a link whose name ``keep`` matches is
    returned (its run is listed as damaged), any other link is appended to ``links`` (when given) and skipped."""
    out = []
    for p in path.iterdir():
        if p.name.startswith((".", "_")):
            continue
        if p.is_symlink():
            if keep is not None and keep.match(p.name):
                out.append(p)
            elif links is not None and p.is_dir():
                links.append(p)
        elif p.is_dir():
            out.append(p)
    return sorted(out)


def _check_one_experiment(
    first: dict[tuple[str, str, float], tuple[Path, dict[str, Any]]],
    key: tuple[str, str, float],
    path: Path,
    meta: dict[str, Any],
) -> None:
    """ResultsFormatError when a finished run's settings (its seed aside) or benchmark data differ from those of
    the first seed read of the same benchmark, method and worker count: they would be averaged as one method."""
    if key not in first:
        first[key] = (path, meta)
        return
    other, was = first[key]
    diff = experiment_diff(was, meta)
    if diff:
        raise ResultsFormatError(
            f"{other} and {path} are seeds of one method made with other settings or data "
            f"({'; '.join(diff[:8])}); a report would average them as one. Move one set to another study "
            "folder (or rename its optimizer folder) first."
        )


def _read_run(
    bench: str, opt: str, workers: float, seed: int, path: Path
) -> tuple[dict[str, Any], pd.DataFrame | None, dict]:
    """One run folder -> (summary row, events in the standard layout or None, meta)."""
    row: dict[str, Any] = {
        "benchmark": bench,
        "optimizer": opt,
        "seed": seed,
        "n_workers": workers,
        "status": "partial",
        "n_events": 0,
        "n_failed": 0,
        "t_last": np.nan,
        "path": str(path),
        "note": "",
        **{c: np.nan for c in REPEAT_COLUMNS},
    }
    meta_path, events_path = path / META_FILE, path / EVENTS_FILE
    for p in (path, meta_path, events_path):
        if p.is_symlink():  # a shared results folder is untrusted: a link could pull in a file from anywhere
            row["note"] = (
                f"damaged: {p} is a symbolic link, not followed (a results folder holds plain folders and "
                "files only); left out of every statistic"
            )
            return row, None, {}
    meta: dict[str, Any] = {}
    if meta_path.exists():
        meta, note = _read_meta(meta_path, bench, opt, workers, seed)
        if row["n_workers"] != row["n_workers"]:
            row["n_workers"] = _num(meta.get("n_workers"))
        if note:
            row["note"] = note
            return row, None, {}
    if not events_path.exists():
        row["note"] = f"no {EVENTS_FILE}" + (
            "" if meta else f" and no {META_FILE} (run started, nothing recorded)"
        )
        return row, None, {}
    # read once: the events checked against their checksum are the events the statistics use (a file replaced
    # between the check and a second read would slip in)
    data = _events_bytes(events_path)
    if isinstance(data, str):
        row["note"] = data
        return row, None, {}
    want = meta.get("events_sha256")
    if want:
        if sha256_bytes(data) != want:
            row["note"] = (
                f"damaged: {events_path} does not match the checksum in {META_FILE} (changed after the run)"
            )
            return row, None, {}
    elif meta:
        row["note"] = f"damaged: {meta_path} records no events_sha256; the events cannot be verified"
        return row, None, {}
    raw = _read_events_file(events_path, data)
    if isinstance(raw, str):
        row["note"] = raw
        return row, None, {}
    ev = _standard_events(raw, events_path)
    # position of each evaluation in the order the optimizer asked for them (trial_id, then file order), counting
    # every evaluation, diverged ones included: the x axis of random search's exact expectation
    ask = ev["trial_id"].to_numpy(float)
    ev["draw"] = (
        np.argsort(np.argsort(np.where(np.isfinite(ask), ask, np.inf), kind="stable"), kind="stable") + 1
    ).astype(float)
    row.update(repeat_counts(raw, _max_fidelity(meta)))
    n_cfg = _num((meta.get("benchmark_info") or {}).get("n_configs")) if meta else None
    row["n_configs"] = n_cfg if n_cfg is not None else np.nan
    ok = np.isfinite(ev["valid"].to_numpy(float))
    if "status" in ev:
        ok &= (ev["status"].astype(str) == "ok").to_numpy()
    row["n_events"] = len(ev)
    row["n_failed"] = int((~ok).sum())
    row["t_last"] = float(ev["t_end"].max()) if len(ev) else np.nan
    if not meta:
        row["note"] = f"no {META_FILE}: interrupted or still running; left out of every statistic"
        return row, None, {}
    row["status"] = "complete"
    if not ok.any():
        row["note"] = "no evaluation with a finite validation value"
    ev = ev.loc[ok, ["t_end", "valid", "test", "fidelity", "trial_id", "draw"]].copy()
    ev.insert(0, "seed", seed)
    ev.insert(0, "n_workers", row["n_workers"])
    ev.insert(0, "optimizer", opt)
    ev.insert(0, "benchmark", bench)
    return row, ev, meta


def _read_meta(
    meta_path: Path, bench: str, opt: str, workers: float, seed: int
) -> tuple[dict[str, Any], str]:
    """A run's meta.json and, when the run cannot count as complete by it, why (else ``""``): unreadable, not
    an object, of another run than its folder names (:func:`_identity_mismatch`), or without ``"status":
    "complete"`` (as :func:`runners.results.verify_run`: a meta.json with no status is no finished run)."""
    meta, why = _read_json(meta_path)
    if why:
        return {}, f"damaged: {meta_path} unreadable ({why})"
    if not isinstance(meta, dict):
        return {}, f"damaged: {meta_path} holds a JSON {type(meta).__name__}, not an object"
    mismatch = _identity_mismatch(meta, bench, opt, workers, seed)
    if mismatch:
        return meta, (
            f"damaged: {meta_path} is of another run ({'; '.join(mismatch)}): a run folder copied or moved "
            "from elsewhere (the folder must be <benchmark>/<optimizer>/workers-<n>/seed-<k>); left out of "
            "every statistic"
        )
    if "status" not in meta:
        return meta, (
            f"{META_FILE} records no status (a finished run's says 'complete'); left out of every statistic"
        )
    if meta["status"] != "complete":
        return meta, f"{META_FILE} says status {meta['status']!r:.100}; left out of every statistic"
    return meta, ""


def _identity_mismatch(meta: Mapping[str, Any], bench: str, opt: str, workers: float, seed: int) -> list[str]:
    """How the run that ``meta`` names (its benchmark, optimizer, n_workers and seed, where it records them)
    differs from the run its folder path names, one phrase each; empty when they agree."""
    out = []
    for key, want in (("benchmark", bench), ("optimizer", opt)):
        if key in meta and meta[key] != want:
            out.append(f"{key} {meta[key]!r:.100}, but the folder is of {key} {want!r}")
    for key, want in (("n_workers", workers), ("seed", seed)):
        if key not in meta or want != want:  # NaN: a layout without the workers level names no count
            continue
        v = meta[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != want:
            out.append(f"{key} {v!r:.100}, but the folder is of {key} {int(want)}")
    return out


def _events_bytes(path: Path) -> bytes | str:
    """The bytes of a run's events file, or why it cannot be read (a damaged run); ResultsFormatError for a file
    of more events than any run records, refused (from its metadata) before the rest of it is read."""
    try:
        n_rows = pq.ParquetFile(path).metadata.num_rows
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a truncated file
        return f"{path} unreadable ({type(e).__name__}: {e})"
    if n_rows > MAX_EVENTS:
        raise ResultsFormatError(f"{path}: {n_rows:,} events, more than the {MAX_EVENTS:,} a run can record")
    try:
        return path.read_bytes()
    except OSError as e:
        return f"{path} unreadable ({type(e).__name__}: {e})"


def _read_events_file(path: Path, data: bytes) -> pd.DataFrame | str:
    """A run's events from ``data``, the bytes read from ``path`` (:func:`_events_bytes`), or why they cannot be
    read (a damaged run); ResultsFormatError for more events than any run records."""
    try:
        n_rows = pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows
        if n_rows > MAX_EVENTS:
            raise ResultsFormatError(
                f"{path}: {n_rows:,} events, more than the {MAX_EVENTS:,} a run can record"
            )
        return pd.read_parquet(io.BytesIO(data))
    except ResultsFormatError:
        raise
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a truncated file
        return f"{path} unreadable ({type(e).__name__}: {e})"


def _standard_events(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = {}
    for col, name in _FROM_EVENTS.items():
        if name in raw.columns:
            out[col] = raw[name]
        elif col in _REQUIRED:
            raise ResultsFormatError(
                f"{path}: no column {name!r} (required: {', '.join(_FROM_EVENTS[c] for c in _REQUIRED)}); "
                f"columns present: {', '.join(map(str, raw.columns))}"
            )
    ev = pd.DataFrame(out)
    for col in ("t_end", "valid", "test", "fidelity", "trial_id"):
        if col not in ev:
            ev[col] = np.nan
            continue
        try:
            ev[col] = ev[col].astype(float)
        except (TypeError, ValueError) as e:
            raise ResultsFormatError(
                f"{path}: column for {col!r} is not numeric ({type(e).__name__}: {e})"
            ) from None
    # what the runner writes, checked: a NaN or infinite time would move the horizon or drop an evaluation
    # from every statistic, a negative one put it before the run started (NaN metric values stay: failures)
    t = ev["t_end"].to_numpy(float)
    bad = ~(np.isfinite(t) & (t >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ResultsFormatError(f"{path}: t_end must be finite and >= 0; row {i} holds {float(t[i])!r}")
    for col, what in (("trial_id", "a whole number >= 0 (or missing)"), ("fidelity", "finite (or missing)")):
        v = ev[col].to_numpy(float)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(v) if col == "fidelity" else np.isfinite(v) & (v >= 0) & (v == np.floor(v))
        bad = ~(ok | np.isnan(v))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ResultsFormatError(f"{path}: {col} must be {what}; row {i} holds {float(v[i])!r}")
    return ev


def _max_fidelity(meta: Mapping[str, Any]) -> float | None:
    f = (meta or {}).get("fidelity")
    if isinstance(f, Mapping):
        vals = f.get("values")
        if isinstance(vals, list) and vals:
            nums = [v for v in (_num(x) for x in vals) if v is not None]
            return max(nums) if nums else None
        return _num(f.get("max"))
    return None


def _row_codes(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """One int code per distinct row of ``frame[cols]`` (missing values equal each other): each column factorized
    on its own, then the codes combined pairwise and factorized again (never beyond len(frame)**2)."""
    codes = np.zeros(len(frame), dtype=np.int64)
    for c in cols:
        col, uniques = pd.factorize(frame[c].to_numpy(dtype=object), use_na_sentinel=False)
        codes = pd.factorize(codes * max(len(uniques), 1) + col)[0].astype(np.int64)
    return codes


def repeat_counts(raw: pd.DataFrame, max_fidelity: float | None = None) -> dict[str, float]:
    """Repeated evaluations and distinct configurations of one run, from its events.

    A configuration is its ``config_id`` (tables) or, where that is missing, the tuple of its ``config.*`` columns
    (surrogates). An evaluation is *repeated* when an earlier trial of the run (lower ``trial_id``: asked before;
    ``t_end`` order for events without trial ids) had trained the same configuration to the same fidelity or
    beyond, any seed: a fresh trial, or a continuation whose configuration another trial had already taken that
    far. A continuation of a configuration to a fidelity no trial reached before (freeze-thaw, a promotion) is
    not a repeat. The runner counts the same way (``summary.n_repeated``, :func:`runners.simulator._coverage`).
    Returns ``n_repeated``, ``n_distinct_configs`` (at any fidelity) and
    ``n_distinct_configs_max`` (evaluated at ``max_fidelity``, default the run's highest); NaN when the events name
    no configuration.
    """
    nan = {"n_repeated": np.nan, "n_distinct_configs": np.nan, "n_distinct_configs_max": np.nan}
    if not len(raw):
        return {**nan, "n_repeated": 0.0, "n_distinct_configs": 0.0, "n_distinct_configs_max": 0.0}
    if "config_id" in raw and raw["config_id"].notna().all():
        key = pd.Series(pd.factorize(raw["config_id"].astype("int64"))[0], index=raw.index)
    else:
        cols = sorted(c for c in raw.columns if str(c).startswith("config."))
        if not cols:
            return nan
        key = pd.Series(_row_codes(raw, cols), index=raw.index)
    fid = raw["fidelity"].astype(float) if "fidelity" in raw else pd.Series(0.0, index=raw.index)
    if "trial_id" in raw and raw["trial_id"].notna().all():
        order = raw["trial_id"].to_numpy(np.int64)
    elif "t_end" in raw:
        order = np.argsort(np.argsort(raw["t_end"].to_numpy(float), kind="stable"), kind="stable")
    else:
        order = np.arange(len(raw))
    pairs = pd.DataFrame({"c": key.to_numpy(), "f": fid.to_numpy()})
    top = (
        max_fidelity
        if max_fidelity is not None
        else (np.nanmax(pairs["f"]) if pairs["f"].notna().any() else np.nan)
    )
    return {
        "n_repeated": float(repeated_mask(pairs["c"].to_numpy(), pairs["f"].to_numpy(), order).sum()),
        "n_distinct_configs": float(pairs["c"].nunique()),
        "n_distinct_configs_max": float(pairs.loc[pairs["f"] == top, "c"].nunique()),
    }


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype=object if c in ("benchmark", "optimizer", "method") else float)
            for c in STUDY_EVENT_COLUMNS
        }
    )


def _method_labels(runs: pd.DataFrame) -> pd.Series:
    """The optimizer name, plus the worker count when the study runs one optimizer with several counts."""
    varies = runs.groupby("optimizer")["n_workers"].transform(lambda s: s.dropna().nunique() > 1)
    if not varies.any():
        return runs["optimizer"].astype(str)
    w = runs["n_workers"].map(lambda x: "? workers" if x != x else f"{int(x)} worker{'' if x == 1 else 's'}")
    return runs["optimizer"].astype(str).where(~varies, runs["optimizer"].astype(str) + " (" + w + ")")


def _add_missing(runs: pd.DataFrame) -> pd.DataFrame:
    """Add a ``missing`` row for every (benchmark, method, seed) that the study's own grid implies but lacks.

    The grid is every benchmark x every method x every seed seen anywhere in
    the study; a cell with no run folder at all is missing.
    """
    have = set(zip(runs.benchmark, runs.method, runs.seed))
    extra = []
    for b in sorted(runs.benchmark.unique()):
        for meth in sorted(runs.method.unique()):
            sub = runs[runs.method == meth]
            for s in sorted(runs.seed.unique()):
                if (b, meth, s) not in have:
                    extra.append(
                        {
                            "benchmark": b,
                            "optimizer": sub.optimizer.iat[0],
                            "method": meth,
                            "seed": s,
                            "n_workers": sub.n_workers.iat[0],
                            "status": "missing",
                            "n_events": 0,
                            "n_failed": 0,
                            "t_last": np.nan,
                            "path": "",
                            "note": "no run folder",
                        }
                    )
    return pd.concat([runs, pd.DataFrame(extra)], ignore_index=True) if extra else runs


# ---------------------------------------------------------------- per-benchmark metadata
def _task_info(
    bench: str, metas: list[Mapping[str, Any]], events: pd.DataFrame, *, recompute: bool = True
) -> TaskInfo:
    fresh = None
    if recompute and any(
        _metric_spec(m, k).get("range") is not None and _metric_spec(m, k).get("convention") != CONVENTION
        for m in metas
        for k in ("objective", "test_objective")
    ):
        fresh = _recomputed_ranges(bench, metas)
    valid = _metric_info(bench, metas, events["valid"].to_numpy(float), test=False, fresh=fresh)
    test_vals = events["test"].to_numpy(float)
    has_test = np.isfinite(test_vals).any()
    test = (
        _metric_info(bench, metas, test_vals[np.isfinite(test_vals)], test=True, fallback=valid, fresh=fresh)
        if has_test
        else None
    )
    budgets = [b for b in (_budget_seconds(m) for m in metas) if b is not None]
    ends = [e for e in (_num((m.get("summary") or {}).get("end_time")) for m in metas) if e is not None]
    if budgets:
        horizon, src = max(budgets), "time budget"
    elif ends:
        horizon, src = max(max(ends), float(events["t_end"].max())), "latest run end"
    else:
        horizon, src = float(events["t_end"].max()), "latest evaluation"
    if not (horizon > 0 and math.isfinite(horizon)):
        horizon, src = 1.0, "none"
    return TaskInfo(bench, valid, test, horizon, src)


def _metric_info(
    bench: str,
    metas: list[Mapping[str, Any]],
    values: np.ndarray,
    *,
    test: bool,
    fallback: MetricInfo | None = None,
    fresh: Mapping[str, Mapping[str, Any]] | None = None,
) -> MetricInfo:
    key = "test_objective" if test else "objective"
    specs = [_metric_spec(m, key) for m in metas]
    names = {s["name"] for s in specs if s.get("name")}
    directions = {s["direction"] for s in specs if s.get("direction")}
    if len(directions) > 1:
        raise ResultsFormatError(
            f"benchmark {bench}: runs disagree on the direction of {key}: {sorted(directions)}"
        )
    direction = directions.pop() if directions else (fallback.direction if fallback else None)
    if direction not in ("minimize", "maximize"):
        raise ResultsFormatError(
            f"benchmark {bench}: {META_FILE} gives no direction for {key} "
            f"(got {direction!r}; allowed: minimize, maximize)"
        )
    sign = 1.0 if direction == "minimize" else -1.0
    finite = values[np.isfinite(values)]
    seen_best = float(finite[np.argmin(sign * finite)]) if finite.size else math.nan
    seen_worst = float(finite[np.argmax(sign * finite)]) if finite.size else math.nan

    optimum = _consensus(bench, key, "optimum", [s.get("optimum") for s in specs])
    # runs may hold ranges by different conventions (a study resumed after the convention changed): the current
    # convention wins; each convention's runs must agree among themselves
    conventions = {s.get("convention") for s in specs if s.get("range") is not None}
    convention = CONVENTION if CONVENTION in conventions or not conventions else sorted(conventions)[0]
    rng = [s.get("range") if s.get("convention") == convention else None for s in specs]
    best = _consensus(bench, key, "best", [r[0] if r else None for r in rng])
    worst = _consensus(bench, key, "worst", [r[1] if r else None for r in rng])
    opt_src = rng_src = "meta"
    if optimum is None:
        optimum, opt_src = (best, "meta") if best is not None else (seen_best, "study")
    new = (fresh or {}).get(next(iter(names)) if len(names) == 1 else "")
    if new is not None and convention != CONVENTION:
        best, worst, convention = new["best"], new["median"], CONVENTION
        rng_src = (
            f"recomputed from the benchmark (same checksum as the runs, which recorded the older "
            f"{convention_label(sorted(conventions)[0])} range): {new['source']}"
        )
    elif best is None or worst is None:
        best, worst, rng_src, convention = seen_best, seen_worst, "study", "study"
    else:
        # the runner says how it got a range that the benchmark does not hold (e.g. estimated for a surrogate)
        how = sorted(
            {
                str(s["range_source"])
                for s in specs
                if s.get("range_source") not in (None, "benchmark") and s.get("convention") == convention
            }
        )
        if how:
            rng_src = "runner, " + "; ".join(how)
    # a value better than the recorded optimum (a surrogate can predict one): regret would turn negative, so the
    # best value seen becomes the reference, and the report says so
    if finite.size and sign * seen_best < sign * optimum - 1e-9 * max(abs(optimum), 1e-12):
        optimum, opt_src = seen_best, "study (beats the recorded optimum)"
        if sign * seen_best < sign * best:
            best = seen_best
    name = names.pop() if len(names) == 1 else (fallback.name if fallback else key)
    return MetricInfo(
        name, direction, float(optimum), float(best), float(worst), opt_src, rng_src, convention
    )


#: the current convention of the normalized-regret range (runners.results.RANGE_CONVENTION)
CONVENTION = "median-at-max-fidelity"
CONVENTION_WORST = "worst-at-max-fidelity"


def convention_label(convention: str) -> str:
    """A short phrase for a range convention, as the report prints it."""
    return {
        CONVENTION: "optimum to median at max fidelity",
        CONVENTION_WORST: "optimum to worst at max fidelity (older convention)",
        "study": "best to worst seen in this study's runs",
    }.get(convention, convention)


def _convention_of(spec: Mapping[str, Any]) -> str | None:
    """The convention of a recorded range: the field ``value_range_convention``, else read from its source sentence."""
    if spec.get("range") is None:
        return None
    c = spec.get("range_convention")
    if isinstance(c, str) and c:
        return c
    src = str(spec.get("range_source") or "")
    return CONVENTION if "median" in src else CONVENTION_WORST


_BENCHMARKS: dict[tuple[str, str], Any] = {}


def load_benchmark(bench: str, metas: Iterable[Mapping[str, Any]]) -> Any | None:
    """The benchmark ``bench`` from the catalog when it loads here with the checksum the runs recorded, else None.

    Never raises: a benchmark that is unknown, not generated here, or different from the one the runs used gives
    None. Kept for the process (a table is read once).
    """
    sums = {str((m.get("benchmark_info") or {}).get("checksum")) for m in metas}
    sums.discard("None")
    if len(sums) != 1:
        return None
    key = (bench, sums.pop())
    if key not in _BENCHMARKS:
        try:
            ok, _ = catalog.is_available(bench)
            b = catalog.load(bench) if ok else None
            _BENCHMARKS[key] = b if b is not None and str(b.checksum) == key[1] else None
        except Exception:  # noqa: BLE001 - any failure means: not comparable here
            _BENCHMARKS[key] = None
    return _BENCHMARKS[key]


def _recomputed_ranges(bench: str, metas: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """Per metric name, :func:`runners.results.range_info` of the benchmark, when it can be loaded (else None)."""
    b = load_benchmark(bench, metas)
    if b is None:
        return None
    out = {}
    try:
        for name in (b.objective, b.test_objective):
            if name:
                out[name] = range_info(b, name)
    except Exception:  # noqa: BLE001 - a benchmark that cannot answer leaves the recorded range
        return None
    return out


def _metric_spec(meta: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Pull name, direction, optimum and (best, worst) for ``key`` out of one meta.json."""
    spec = meta.get(key)
    out: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        out["name"] = spec.get("name")
        out["direction"] = spec.get("direction")
        out["optimum"] = _num(spec.get("optimum"))
        out["range"] = _range(spec.get("value_range", spec.get("range")))
        out["range_source"] = spec.get("value_range_source")
        out["range_convention"] = spec.get("value_range_convention")
    else:
        out["name"] = spec if isinstance(spec, str) else None
        out["direction"] = meta.get(f"{key}_direction", meta.get("direction") if key == "objective" else None)
        out["optimum"] = _num(meta.get(f"{key}_optimum", meta.get("optimum") if key == "objective" else None))
        out["range"] = _range(
            meta.get(f"{key}_value_range", meta.get("value_range") if key == "objective" else None)
        )
    out["convention"] = _convention_of(out)
    return out


def _range(r: Any) -> tuple[float, float] | None:
    if isinstance(r, Mapping):
        r = (r.get("best"), r.get("worst"))
    if isinstance(r, (list, tuple)) and len(r) == 2:
        a, b = _num(r[0]), _num(r[1])
        if a is not None and b is not None:
            return (a, b)
    return None


def _budget_seconds(meta: Mapping[str, Any]) -> float | None:
    """The simulated-time budget in seconds, when the run had one (``budget: {kind: time, amount}``)."""
    b = meta.get("budget")
    if isinstance(b, Mapping) and b.get("kind") == "time":
        return _num(b.get("amount"))
    return None


def _consensus(bench: str, key: str, what: str, values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    if not np.allclose(vals, vals[0], rtol=1e-9, atol=0):
        raise ResultsFormatError(
            f"benchmark {bench}: runs disagree on the {what} of {key} ({min(vals)} vs {max(vals)});"
            " were they made with different versions of the benchmark?"
        )
    return float(vals[0])


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
