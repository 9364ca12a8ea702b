"""Studies: benchmarks x optimizers x seeds (x numbers of workers), run in-process, resumable.

    python -m runners.study run study=bench                 # run what is missing, then the report
    python -m runners.study status study=bench              # what is complete, partial, missing or conflicting
    python -m runners.study run study=bench seeds=[0,1] n_jobs=1 budget.amount=50

A study is a YAML file in runners/conf/studies/ (or a path to one), merged onto
:class:`StudyConf`, then command-line ``key=value`` overrides (Hydra's override
grammar on the command line, :func:`parse_args`; OmegaConf dotlist syntax in
:func:`load_study`). Every run is composed from the same Hydra config tree as
``python -m runners.run`` and lands in its fixed folder, so an interrupted
study resumes where it stopped and a finished run is never redone.

A study file is data, not code: it may not hold ``_target_`` or Hydra's other
instantiation keys at any depth, nor may its overrides (which can only set
optimizer hyperparameters); names that become folders must be plain labels, and
every size has a limit (:mod:`runners.checks`, docs/runner.md "Limits").
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import re
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

import benchmarks
from benchmarks.catalog import entry as catalog_entry
from benchmarks.cli import check_key, hint, key_field, override_value, read_command, traceback_wanted
from benchmarks.io import atomic_write_json, clean_stale_tmp, utc_now
from benchmarks.objectives import objective_metrics
from benchmarks.protocol import CurveBenchError, UnknownBenchmarkError
from benchmarks.tabular import TabularBenchmark

from . import conf_schema
from .adapters._common import missing_library
from .adaptive import AdaStopConf, run_adaptive
from .adaptive import settings as adastop_settings
from .analysis.load import read_plan, run_key
from .checks import (
    BENCHMARK_LOADER,
    MAX_N_JOBS,
    MAX_N_WORKERS,
    MAX_SEED,
    MAX_STUDY_FILE_BYTES,
    MAX_STUDY_RUNS,
    RunConfigError,
    check_budget,
    check_composed,
    check_data,
    check_int,
    check_keys,
    check_no_resolvers,
    check_override,
)
from .conf_schema import CONF_DIR, BudgetConf, Overhead
from .registry import optimizer_choices
from .report import build_report
from .results import RunConflictError, check_label, is_locked, run_dir, run_lock, should_run, verify_run
from .results_format import PLAN_FILE, PLAN_FORMAT, ResultsFormatError, shard_outcome, study_log
from .run import _to_container, check_optimizer_key, execute, load_benchmark, run_config

log = logging.getLogger(__name__)


@dataclass
class StudyConf:
    """A study: every combination of ``benchmarks`` x ``optimizers`` x ``n_workers`` x ``seeds``.

    ``benchmarks`` items are catalog names or ``{name: ..., path: ...}`` for a table folder outside the catalog;
    an item may also say ``optimizers: [...]``, which then run on that benchmark
    in place of the study's list (e.g. only the one-fidelity methods on a table
    of final values). ``optimizers`` items are names of YAMLs in conf/optimizer. ``overrides``
    are extra Hydra overrides applied to every run.
    """

    name: str = MISSING
    benchmarks: list[Any] = MISSING
    optimizers: list[str] = MISSING
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    n_workers: list[int] = field(default_factory=lambda: [4])
    budget: BudgetConf = field(default_factory=BudgetConf)
    overhead: Overhead = Overhead.zero
    results_dir: str = "results"
    #: a multi-objective study: the objectives of every run (``objective`` names each benchmark's own)
    objectives: Optional[list[str]] = None  # noqa: UP045 - OmegaConf's structured configs need Optional
    overrides: list[str] = field(default_factory=list)
    #: processes running runs side by side (1: in this process)
    n_jobs: int = 1
    #: skip (loudly) catalog benchmarks that are not available here instead of failing
    skip_unavailable: bool = False
    #: write the study report at the end (runners.report) into <report_dir>/<name>
    report: bool = True
    report_dir: str = "reports"
    description: str = ""
    #: ``none``: every seed of every pair; ``adastop``: seeds in interims until AdaStop decides (runners.adaptive)
    stopping: str = "none"
    adastop: AdaStopConf = field(default_factory=AdaStopConf)
    #: run only the runs whose index in the plan is ``shard`` modulo ``n_shards`` (no report; see docs/runner.md)
    shard: int = 0
    n_shards: int = 1


# ---------------------------------------------------------------- loading
def load_study(name_or_path: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The study config: a study YAML merged onto :class:`StudyConf`, then ``key=value`` overrides.

    Both are checked as data (no instantiation keys at any depth, only the keys
    of :class:`StudyConf`, only optimizer hyperparameters in ``overrides``) and
    every value against its limits: :class:`RunConfigError` names the key, the
    value and where it came from.
    """
    p = Path(name_or_path)
    f = p if p.suffix in (".yaml", ".yml") else CONF_DIR / "studies" / f"{name_or_path}.yaml"
    if not f.is_file():
        known = sorted(x.stem for x in (CONF_DIR / "studies").glob("*.yaml"))
        raise FileNotFoundError(
            f"unknown study {name_or_path!r}; known studies: {', '.join(known)} (or a YAML path)"
        )
    size = f.stat().st_size
    if size > MAX_STUDY_FILE_BYTES:
        raise RunConfigError(f"study file {f} has {size:,} bytes; the limit is {MAX_STUDY_FILE_BYTES:,}")
    fields = list(StudyConf.__dataclass_fields__)
    src = f"study file {f}"
    try:
        raw = OmegaConf.load(f)
    except Exception as e:  # noqa: BLE001 - yaml and OmegaConf raise several types
        raise RunConfigError(f"{src} is not a valid YAML mapping ({type(e).__name__}: {e})") from None
    if not isinstance(raw, DictConfig):
        raise RunConfigError(f"{src} must be a YAML mapping of study keys ({', '.join(fields)})")
    check_data(raw, src)
    check_no_resolvers(raw, src)
    check_keys(raw, fields, "the study", src)
    cli = []
    for o in overrides:
        where = f"command-line override {o!r}"
        if not isinstance(o, str) or "=" not in o:
            raise RunConfigError(f"{where} is not key=value")
        key, value = o.split("=", 1)
        # `+key=value` / `++key=value` (Hydra's add / force-add) set a study key like `key=value`; the key
        # must still be one of the schema's, at every depth (budget.amount, adastop.alpha)
        key = key.strip().removeprefix("++").removeprefix("+").strip()
        check_data({k: None for k in key.split(".")}, where)
        check_key(key, StudyConf, what="the study", source=where, error=RunConfigError)
        if key == "seeds":
            value = _seed_range(value, where)
        try:
            parsed = OmegaConf.from_dotlist([f"{key}={value}"])
        except Exception as e:  # noqa: BLE001
            raise RunConfigError(f"{where} cannot be parsed ({type(e).__name__}: {_one_line(e)})") from None
        check_data(parsed, where)
        cli.append(parsed)
    base = OmegaConf.structured(StudyConf)
    try:
        cfg = OmegaConf.merge(base, raw, *cli)
        resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    except RunConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - OmegaConf validation errors name the key; keep them, add the source
        raise RunConfigError(
            f"{src} (with overrides {list(overrides)}): {type(e).__name__}: {_one_line(e)}"
        ) from None
    assert isinstance(cfg, DictConfig)
    check_data(resolved, f"{src} after resolving interpolations")
    if OmegaConf.is_missing(cfg, "name"):
        cfg.name = f.stem
    for key in ("benchmarks", "optimizers", "seeds", "n_workers"):
        if OmegaConf.is_missing(cfg, key) or len(cfg[key]) == 0:
            raise ValueError(f"study {cfg.name}: `{key}` is empty; it needs at least one value")
    check_study(cfg, src)
    return cfg


_RANGE = re.compile(r"\s*range\(\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?(?:,\s*(-?\d+)\s*)?\)\s*")


def _seed_range(value: str, where: str) -> str:
    """``seeds=range(n)`` (or ``range(a, b)``, ``range(a, b, step)``, as on Hydra's command line) as a list;
    anything else unchanged. Only integer literals are read: nothing is evaluated."""
    m = _RANGE.fullmatch(value)
    if not m:
        return value
    args = [int(g) for g in m.groups() if g is not None]
    if len(args) == 3 and args[2] == 0:
        raise RunConfigError(f"{where}: range() step must not be zero")
    seeds = list(range(*args))
    if not seeds or len(seeds) > 100_000:
        raise RunConfigError(f"{where}: {value} gives {len(seeds)} seeds; allowed: 1 to 100,000")
    return "[" + ",".join(map(str, seeds)) + "]"


def _one_line(e: BaseException) -> str:
    """An OmegaConf error's message and the key it is about, on one line."""
    lines = str(e).strip().splitlines() or [type(e).__name__]
    key = getattr(e, "full_key", None)
    return f"{lines[0].strip()} (key {key})" if key else " ".join(" ".join(lines).split())


#: the values of ``stopping``
STOPPING = ("none", "adastop")
#: the most shards a study may be split into
MAX_SHARDS = 100_000

#: the keys of a benchmark entry given as a mapping
ENTRY_KEYS = {"name", "path", "optimizers"}
ENTRY_FORM = "{name: ..., path: ..., optimizers: [...]} (path and optimizers optional)"


def entry_optimizers(item: Any, cfg: DictConfig, source: str = "study") -> list[str]:
    """The optimizers that run on benchmark entry ``item``: its own ``optimizers`` list, else the study's."""
    own = item.get("optimizers") if isinstance(item, (DictConfig, dict)) else None
    if own is None:
        return [str(o) for o in cfg.optimizers]
    if isinstance(own, str) or not hasattr(own, "__iter__") or len(own) == 0:
        raise RunConfigError(
            f"{source}: benchmark entry {item.get('name')!r}: optimizers={own!r} must be a non-empty list"
        )
    out = [str(o) for o in own]
    for o in out:
        check_label("optimizer", o)
    if len(set(out)) != len(out):
        raise RunConfigError(
            f"{source}: benchmark entry {item.get('name')!r} lists an optimizer twice: {out}"
        )
    return out


def check_study(cfg: DictConfig, source: str = "study") -> None:
    """Labels, overrides and limits of a merged study config (RunConfigError naming the value and the rule)."""
    check_label("study", cfg.name)
    n_pairs = 0
    for entry in cfg.benchmarks:
        _check_benchmark_entry(entry, source)
        n_pairs += len(entry_optimizers(entry, cfg, source))
    for o in cfg.optimizers:
        check_label("optimizer", o)
    used = list(
        dict.fromkeys(
            [str(o) for o in cfg.optimizers]
            + [o for item in cfg.benchmarks for o in entry_optimizers(item, cfg, source)]
        )
    )
    check_optimizer_names(used, source)
    for x in cfg.seeds:
        check_int("seeds entry", x, 0, MAX_SEED, source)
    for x in cfg.n_workers:
        check_int("n_workers entry", x, 1, MAX_N_WORKERS, source)
    check_int("n_jobs", cfg.n_jobs, 1, MAX_N_JOBS, source)
    n_shards = check_int("n_shards", cfg.n_shards, 1, MAX_SHARDS, source)
    check_int("shard", cfg.shard, 0, n_shards - 1, source)
    if cfg.stopping not in STOPPING:
        raise RunConfigError(f"{source}: stopping={cfg.stopping!r}; allowed: {', '.join(STOPPING)}")
    if cfg.stopping == "adastop":
        adastop_settings(cfg, source)
        if n_shards > 1:
            raise RunConfigError(
                f"{source}: stopping=adastop decides after each interim from every run of it, so it "
                f"runs in one process pool; n_shards={n_shards} is not allowed with it (use n_jobs)"
            )
    check_budget(cfg.budget.kind, cfg.budget.amount, source)
    unresolved = OmegaConf.to_container(cfg, resolve=False)  # as written: cfg[key] would come resolved
    for key in ("results_dir", "report_dir"):
        v = unresolved[key]
        if not isinstance(v, str) or not v or "${" in v:
            raise RunConfigError(f"{source}: {key}={v!r} must be a plain folder path")
    n = n_pairs * len(cfg.seeds) * len(cfg.n_workers)
    if n > MAX_STUDY_RUNS:
        raise RunConfigError(f"{source}: the study has {n:,} runs; the limit is {MAX_STUDY_RUNS:,} per study")
    for o in cfg.overrides:
        ov = check_override(o, f"{source}, `overrides`", study=True)
        check_study_hyperparameter(
            str(ov.key_or_group).split(".")[1], used, f"{source}, `overrides` entry {o!r}"
        )


def _check_benchmark_entry(entry: Any, source: str) -> None:
    """One entry of a study's ``benchmarks``: a name or the ``{name, path}`` form, a plain folder path, a label
    that can name a folder and, for a catalog name, one the catalog has (a misspelt one fails here, naming the
    nearest, before anything runs)."""
    item = entry
    if isinstance(item, (DictConfig, dict)):
        item = dict(item)
        if set(item) - ENTRY_KEYS or "name" not in item:
            raise RunConfigError(f"{source}: benchmark entry {item} must be a name or {ENTRY_FORM}")
        if isinstance(entry, DictConfig):  # as written (item["path"] would come resolved)
            item["path"] = OmegaConf.to_container(entry, resolve=False).get("path")
        if item.get("path") is not None and (not isinstance(item["path"], str) or "${" in item["path"]):
            raise RunConfigError(f"{source}: benchmark path {item['path']!r} must be a plain folder path")
        has_path = item.get("path") is not None
        item = item["name"]
    else:
        has_path = False
    check_label("benchmark", item)
    if not has_path:
        try:
            catalog_entry(str(item))
        except UnknownBenchmarkError as e:
            raise RunConfigError(f"{source}: {e}") from None


def check_optimizer_names(names: Sequence[str], source: str = "study") -> None:
    """Every optimizer a study names must be a config of runners/conf/optimizer (RunConfigError with the nearest)."""
    known = optimizer_choices()
    for o in names:
        if o not in known:
            raise RunConfigError(
                f"{source}: unknown optimizer {o!r}.{hint(o, known)} Known: {', '.join(known)} "
                "(runners/conf/optimizer/NAME.yaml)"
            )


def check_study_hyperparameter(key: str, optimizers: Sequence[str], source: str) -> None:
    """A study's ``overrides:`` entry ``optimizer.KEY=...`` applies to every run: KEY must be a hyperparameter of
    every optimizer of the study (RunConfigError naming the optimizer and its hyperparameters)."""
    check_optimizer_key(key, optimizers, source)


@dataclass
class PlannedRun:
    """One run of a study: its resolved config and its folder."""

    benchmark: str
    optimizer: str
    n_workers: int
    seed: int
    config: dict[str, Any]
    path: Path
    state: str = "missing"  # complete | damaged | partial | missing | conflict | unavailable
    note: str = ""

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.benchmark, self.optimizer, self.n_workers, self.seed)


def _benchmark_node(item: Any) -> tuple[str, list[str], dict[str, Any]]:
    """(name, the benchmark group choice, the benchmark node to set after composing)."""
    if isinstance(item, (DictConfig, dict)):
        item = dict(item)
        unknown = set(item) - ENTRY_KEYS
        if unknown or "name" not in item:
            raise ValueError(f"benchmark entry {item} must be a name or {ENTRY_FORM}")
        if item.get("path"):
            name = check_label("benchmark", item["name"])
            return (
                name,
                ["benchmark=table"],
                {"_target_": BENCHMARK_LOADER, "name": name, "path": str(item["path"])},
            )
        item = item["name"]
    name = check_label("benchmark", str(item))
    catalog_entry(name)  # UnknownBenchmarkError with suggestions
    return (
        name,
        [f"benchmark={name}"],
        {},
    )  # the benchmark group holds every catalog name (conf_schema.register)


def available(item: Any) -> tuple[bool, str]:
    """Whether a study's benchmark entry can be loaded here (tables outside the catalog: their folder exists)."""
    if isinstance(item, (DictConfig, dict)) and item.get("path"):
        ok = Path(item["path"]).is_dir()
        return ok, "" if ok else f"no table folder at {item['path']}"

    return benchmarks.is_available(_benchmark_name(item))


def _check_objectives(cfg: DictConfig, names: list[str]) -> None:
    """A study's ``objectives`` must be metrics of every benchmark of it that loads here (MetricError naming the
    benchmark and what is allowed), found before any run instead of in every run's failure."""
    for item in cfg.benchmarks:
        ok, _ = available(item)
        if not ok:
            continue
        if isinstance(item, (DictConfig, dict)) and item.get("path"):
            bench = TabularBenchmark.from_path(str(item["path"]), name=_benchmark_name(item))
        else:
            bench = benchmarks.load(_benchmark_name(item))
        objective_metrics(bench, names)


#: the state of a planned run that belongs to another shard (not checked by this one)
OTHER_SHARD = "other-shard"


def plan(cfg: DictConfig) -> list[PlannedRun]:
    """Every run of the study with its state, composing each (benchmark, optimizer) config once.

    With ``n_shards > 1`` only this shard's runs (plan positions ``shard``, ``shard + n_shards``, ...)
    are checked on disk; the others get the state ``other-shard``, so that a shard's start-up reads
    its own slice of the results folder, not the whole study's.
    """
    from hydra import compose, initialize_config_module

    conf_schema.register()
    check_study(cfg)
    n_shards, shard = int(cfg.n_shards), int(cfg.shard)
    runs: list[PlannedRun] = []
    # the study's own values are set on the composed config, never pasted into override strings
    common = {
        "study": str(cfg.name),
        "budget": {
            "kind": str(getattr(cfg.budget.kind, "value", cfg.budget.kind)),
            "amount": float(cfg.budget.amount),
        },
        "overhead": str(getattr(cfg.overhead, "value", cfg.overhead)),
        "results_dir": str(cfg.results_dir),
    }
    if cfg.get("objectives") is not None:
        common["objectives"] = [str(n) for n in cfg.objectives]
        _check_objectives(cfg, common["objectives"])
    composed: dict[tuple[str, ...], dict[str, Any]] = {}  # table entries share one composition per optimizer
    with _own_hydra(), initialize_config_module(config_module="runners.conf", version_base="1.3"):
        for item in cfg.benchmarks:
            bname, bover, bnode = _benchmark_node(item)
            for oname in entry_optimizers(item, cfg):
                overrides = (*bover, f"optimizer={oname}", *cfg.overrides)
                if overrides not in composed:
                    composed[overrides] = _to_container(compose("run", overrides=list(overrides)))
                base = copy.deepcopy(composed[overrides])
                base.update(common)
                if bnode:
                    base["benchmark"] = dict(bnode)
                for n in cfg.n_workers:
                    for seed in cfg.seeds:
                        c = {**base, "n_workers": int(n), "seed": int(seed)}
                        check_composed(c, f"study {cfg.name}, {bname} x {oname}")
                        path = run_dir(c["results_dir"], c["study"], bname, c["optimizer"]["name"], n, seed)
                        pr = PlannedRun(bname, c["optimizer"]["name"], int(n), int(seed), c, path)
                        if len(runs) % n_shards != shard:  # another shard's run: its shard checks it
                            pr.state = OTHER_SHARD
                            runs.append(pr)
                            continue
                        state, why = verify_run(path)
                        if state == "complete":
                            try:
                                should_run(
                                    path,
                                    run_config(c),
                                    benchmark=functools.partial(
                                        load_benchmark, bname, c["benchmark"].get("path")
                                    ),
                                )
                            except RunConflictError as e:
                                state, why = "conflict", str(e)
                        pr.state = state
                        pr.note = why if state in ("damaged", "conflict") else ""
                        runs.append(pr)
    return runs


@contextlib.contextmanager
def _own_hydra() -> Iterator[None]:
    """Compose a study's runs inside another Hydra app (runners.shard): set its GlobalHydra aside meanwhile."""
    from hydra.core.global_hydra import GlobalHydra

    gh = GlobalHydra.instance()
    outer = gh.hydra
    gh.clear()
    try:
        yield
    finally:
        gh.clear()
        if outer is not None:
            gh.initialize(outer)


# ---------------------------------------------------------------- running
def _execute(config: dict[str, Any]) -> dict[str, Any]:
    """One run, in this process or a joblib worker; errors come back as data, not exceptions."""
    logging.getLogger("runners").setLevel(logging.WARNING)
    try:
        return execute(config, quiet=True)
    except RunConflictError as e:  # another study finished this run with other settings meanwhile
        return {"path": None, "state": "conflict", "error": f"{type(e).__name__}: {e}", "trace": ""}
    except Exception as e:  # noqa: BLE001 - reported per run at the end of the study
        return {
            "path": None,
            "state": "failed",
            "error": f"{type(e).__name__}: {e}",
            # a CurveBench error names what is wrong itself; a traceback is for the unexpected
            "trace": "" if isinstance(e, CurveBenchError) else traceback.format_exc(),
        }


def _benchmark_name(item: Any) -> str:
    return str(item["name"] if isinstance(item, (DictConfig, dict)) else item)


def unavailable_parts(cfg: DictConfig, runs: Sequence[PlannedRun]) -> list[dict[str, str]]:
    """The study's benchmarks and optimizers that cannot run here: ``{kind, name, reason}`` each.

    A benchmark is unavailable when it cannot be loaded (a shipped table not
    generated yet); an optimizer when it needs an optional library that is not installed.
    """
    out = []
    for item in cfg.benchmarks:
        ok, why = available(item)
        if not ok:
            out.append({"kind": "benchmark", "name": _benchmark_name(item), "reason": why})
    seen = set()
    for r in runs:
        if r.optimizer not in seen:
            seen.add(r.optimizer)
            why = missing_library(str(r.config["optimizer"].get("_target_", "")))
            if why:
                out.append({"kind": "optimizer", "name": r.optimizer, "reason": why})
    return out


def write_plan(
    cfg: DictConfig,
    runs: Sequence[PlannedRun],
    *,
    unavailable: Sequence[dict[str, str]] = (),
    failures: Sequence[dict[str, Any]] = (),
    status: str = "running",
    settled: Iterable[tuple[str, str, int, int]] = (),
    withdrawn: Iterable[tuple[str, str, int, int]] = (),
) -> Path:
    """Write ``<results_dir>/<study>/study.json``: every planned run, written atomically (docs/runner.md).

    The report reads it to list planned runs that never started (or failed) as
    missing. ``status`` is ``"running"`` before the runs and ``"finished"`` after them.

    The runs and failures are merged into the plan already on disk, never put in its place: a run that an
    earlier request of the study planned stays planned (a rerun with fewer seeds does not hide the seeds it
    left out), an entry of this request replaces the one of the same run (benchmark, optimizer, workers,
    seed), and a failure recorded before stays until the run is ``settled`` (keys of the runs this request
    ran or found finished) or fails again. ``withdrawn`` names runs this request planned and then decided
    not to run (AdaStop stopped first): they leave the plan. The other fields describe the latest request.
    The merge and the write hold the plan's lock (``.study.json.lock``), so shards writing side by side
    lose nothing; a plan on disk that cannot be read stops the study (nothing is written over it).
    """
    study_dir = Path(cfg.results_dir) / cfg.name
    budget = OmegaConf.to_container(cfg.budget, enum_to_str=True)
    plan = {
        "format": PLAN_FORMAT,
        "format_version": 1,
        "study": cfg.name,
        "description": cfg.description,
        "status": status,
        "written_utc": utc_now(),
        "benchmarks": [_benchmark_name(b) for b in cfg.benchmarks],
        "optimizers": list(dict.fromkeys(r.optimizer for r in runs)),
        "n_workers": [int(n) for n in cfg.n_workers],
        "seeds": [int(x) for x in cfg.seeds],
        "budget": budget,
        "overhead": cfg.overhead.value if hasattr(cfg.overhead, "value") else str(cfg.overhead),
        "stopping": str(cfg.stopping),
        "unavailable": list(unavailable),
        "runs": [
            {
                "benchmark": r.benchmark,
                "optimizer": r.optimizer,
                "n_workers": r.n_workers,
                "seed": r.seed,
                "path": r.path.relative_to(study_dir).as_posix(),
                **({"note": r.note} if r.state == "unavailable" else {}),
            }
            for r in runs
        ],
        "failures": list(failures),
    }
    with run_lock(study_dir / PLAN_FILE, timeout=PLAN_LOCK_SECONDS):
        _clean_old_tmp(study_dir)
        old = _read_old_plan(study_dir)
        if old is not None:
            plan["runs"], plan["failures"] = _merged_plan(
                old, plan["runs"], plan["failures"], set(settled), set(withdrawn)
            )
        atomic_write_json(study_dir / PLAN_FILE, plan)
    return study_dir / PLAN_FILE


#: seconds a study waits for another process (a shard) to finish writing the plan before it gives up
PLAN_LOCK_SECONDS = 120.0


def _read_old_plan(study_dir: Path) -> dict[str, Any] | None:
    """The plan already in ``study_dir`` (validated by the report's reader), or None when there is none.

    A plan that cannot be read raises :class:`RunConfigError` naming it: writing over it would lose the runs
    it lists."""
    try:
        return read_plan(study_dir)
    except ResultsFormatError as e:
        raise RunConfigError(
            f"{e}; it lists the runs earlier requests of the study planned, so it is not written over: "
            f"move it aside (e.g. to {PLAN_FILE}.damaged) and run the study again"
        ) from None


def _merged_plan(
    old: Mapping[str, Any],
    runs: list[dict[str, Any]],
    failures: list[dict[str, Any]],
    settled: set[tuple[str, str, int, int]],
    withdrawn: set[tuple[str, str, int, int]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(runs, failures) of the plan on disk merged with this request's (see :func:`write_plan`)."""
    new = {run_key(r): r for r in runs}
    merged = {k: dict(r) for r in old["runs"] if (k := run_key(r)) not in withdrawn}
    merged.update(new)  # an entry of this request replaces the earlier one of the same run, in place
    failed = {run_key(f) for f in failures}
    kept = [
        dict(f)
        for f in old.get("failures", [])
        if (k := run_key(f)) not in settled and k not in failed and k not in withdrawn
    ]
    return list(merged.values()), kept + list(failures)


#: a temporary file of the plan older than this was left by a killed process (a live write takes milliseconds)
STALE_TMP_SECONDS = 3600


def _clean_old_tmp(study_dir: Path) -> None:
    """Remove ``.study.json.<random>.tmp`` files that a killed study left (older than STALE_TMP_SECONDS)."""
    clean_stale_tmp(study_dir, older_than=STALE_TMP_SECONDS, pattern=rf"\.{re.escape(PLAN_FILE)}\..+\.tmp")


def _skip_unavailable(cfg: DictConfig, runs: list[PlannedRun]) -> list[dict[str, str]]:
    """The study's benchmarks and optimizers not available here (:func:`unavailable_parts`), each announced
    loudly, their runs marked ``unavailable``; RuntimeError when no run is left."""
    unavailable = unavailable_parts(cfg, runs)
    skip = {(u["kind"], u["name"]): u["reason"] for u in unavailable}
    for u in unavailable:
        _loud(f"SKIPPING {u['kind']} {u['name']}: {u['reason']}")
    for r in runs:
        for kind, name in (("benchmark", r.benchmark), ("optimizer", r.optimizer)):
            if (kind, name) in skip:
                r.state, r.note = "unavailable", f"{kind} not available here: {skip[(kind, name)]}"
    if runs and all(r.state == "unavailable" for r in runs):
        total = {"benchmark": len({r.benchmark for r in runs}), "optimizer": len({r.optimizer for r in runs})}
        none = [k for k, n in total.items() if sum(u["kind"] == k for u in unavailable) == n]
        what = " and ".join(f"none of its {k}s is available here" for k in none)
        raise RuntimeError(f"study {cfg.name}: {what} (see the messages above)")
    return unavailable


def run_study(cfg: DictConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run every run of the study that is not finished yet; then write the report (``cfg.report``).

    Writes the plan (``study.json``) before the first run and again, with the
    failures, after the last. With ``skip_unavailable`` the runs of benchmarks
    and optimizers not available here are skipped loudly and stay in the plan
    (the report lists them as missing). The report is written even when runs
    failed; it lists them.
    """
    runs = plan(cfg)
    unavailable = _skip_unavailable(cfg, runs) if cfg.skip_unavailable else []
    conflicts = [r for r in runs if r.state == "conflict"]
    if conflicts:
        raise RunConflictError(
            f"{len(conflicts)} finished run(s) conflict with this study: {conflicts[0].note}"
        )
    todo = [r for r in runs if r.state not in ("complete", "unavailable", OTHER_SHARD)]
    n_done = sum(r.state == "complete" for r in runs)
    damaged = [r for r in runs if r.state == "damaged"]
    if damaged:
        _loud(
            f"{len(damaged)} damaged run(s) will be redone; each damaged folder is kept beside it as "
            f"seed-<k>.damaged-<UTC time>. First: {damaged[0].path}: {damaged[0].note}"
        )
    # a shard's slice (plan positions shard, shard + n_shards, ...) is already all that todo and n_done hold:
    # plan() marks the other shards' runs OTHER_SHARD
    n_shards, shard = int(cfg.n_shards), int(cfg.shard)
    adaptive = cfg.stopping == "adastop"
    finished = {r.key for r in runs if r.state == "complete"}  # an earlier failure of theirs is settled
    write_plan(cfg, runs, unavailable=unavailable, settled=finished)
    print(
        f"study {cfg.name}: {len(runs)} runs planned, {n_done} already finished, "
        + (
            f"up to {len(todo)} to run (stopping=adastop: seeds in interims until AdaStop decides)"
            if adaptive
            else f"{len(todo)} to run"
        )
        + (f" in shard {shard} of {n_shards}" if n_shards > 1 else "")
        + (f" ({len(damaged)} of them damaged)" if damaged else "")
        + (f", {len(runs) - n_done - len(todo)} skipped (not available here)" if unavailable else ""),
        flush=True,
    )
    t0 = time.perf_counter()
    study_dir = Path(cfg.results_dir) / cfg.name
    log_name = study_log(shard, n_shards)
    bar = _progress_bar(len(todo), progress)
    planned = [r.key for r in runs]
    with _warnings_to_file(study_dir / log_name), _logs_to_file(study_dir / log_name):
        outcomes, runs, adastop = _run_todo(cfg, runs, todo, study_dir, bar)
    # the runs AdaStop did not take leave the plan; every other run planned stays in it
    withdrawn = set(planned) - {r.key for r in runs}
    t_runs = time.perf_counter() - t0
    if bar.total != bar.n:  # AdaStop stopped before every seed: the bar ends where the runs did
        bar.total = bar.n
        bar.refresh()

    failed = {k: o for k, o in outcomes.items() if o["state"] == "failed"}
    for o in list(failed.values())[:5]:
        print(f"FAILED run: {o['error']}\n{o['trace']}", file=sys.stderr)
    conflicted = {k: o for k, o in outcomes.items() if o["state"] == "conflict"}
    for o in list(conflicted.values())[:3]:
        print(f"CONFLICT: {o['error']}", file=sys.stderr)
    taken = sorted(k for k, o in outcomes.items() if o["state"] == "taken")
    if taken:
        print(
            f"study {cfg.name}: {len(taken)} run(s) were taken by another process (it runs them now); "
            "not counted as failures: see `python -m runners.study status` later",
            file=sys.stderr,
        )

    def rows(d: dict[tuple, dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"benchmark": b, "optimizer": o, "n_workers": w, "seed": s, "error": d[(b, o, w, s)]["error"]}
            for (b, o, w, s) in sorted(d)
        ]

    failures, conflicts = rows(failed), rows(conflicted)
    if n_shards > 1:  # the shards share study.json; each writes its own outcome beside it
        atomic_write_json(
            study_dir / shard_outcome(shard, n_shards),
            {
                "study": cfg.name,
                "shard": shard,
                "n_shards": n_shards,
                "written_utc": utc_now(),
                "ran": sum(o["state"] == "ran" for o in outcomes.values()),
                "failures": failures + conflicts,
            },
        )
    else:
        write_plan(
            cfg,
            runs,
            unavailable=unavailable,
            failures=failures + conflicts,
            status="finished",
            settled=finished | {k for k, o in outcomes.items() if o["state"] in ("ran", "skipped")},
            withdrawn=withdrawn,
        )
    counts = Counter(o["state"] for o in outcomes.values())
    out: dict[str, Any] = {
        "study_dir": str(study_dir),
        "n_runs": len(runs),
        "ran": counts.get("ran", 0),
        "skipped": n_done + counts.get("skipped", 0),
        "taken": len(taken),
        "conflicts": conflicts,
        "redone_damaged": [o["note"] for o in outcomes.values() if o.get("note") and o["state"] == "ran"],
        "unavailable": list(unavailable),
        "n_unavailable_runs": sum(r.state == "unavailable" for r in runs),
        "failed": len(failed),
        "failures": failures,
        "report": None,
        "report_error": None,
        "seconds_runs": t_runs,
        "seconds_report": 0.0,
        "adastop": adastop["file"] if adastop else None,
    }
    if cfg.report and n_shards > 1:
        print(
            f"shard {shard} of {n_shards} done; no report from a shard: once every shard is done, "
            f"`python -m runners.report study={cfg.name}` writes it",
            flush=True,
        )
    elif cfg.report:
        t0 = time.perf_counter()
        bar.set_postfix_str("writing the report")  # the runs' bar stays the one bar of the command
        try:
            out["report"] = write_report(study_dir, Path(cfg.report_dir) / cfg.name)
        except Exception as e:  # noqa: BLE001 - the runs are safe on disk; say why the report is missing
            out["report_error"] = f"{type(e).__name__}: {e}"
        out["seconds_report"] = time.perf_counter() - t0
    bar.close()
    if out["report_error"]:
        _loud(f"the report of study {cfg.name} could not be written: {out['report_error']}")
    return out


def _run_todo(
    cfg: DictConfig, runs: list[PlannedRun], todo: list[PlannedRun], study_dir: Path, bar: Any
) -> tuple[dict[tuple, dict[str, Any]], list[PlannedRun], dict[str, Any] | None]:
    """Run what is missing: every run of ``todo``, or AdaStop's interims; (outcomes, the runs of the plan, AdaStop).

    ``bar`` (:func:`_progress_bar`) counts the runs of every interim."""
    if cfg.stopping != "adastop":
        return dict(_run_all({r.key: r.config for r in todo}, int(cfg.n_jobs), bar)), runs, None

    def run_batch(batch: Sequence[PlannedRun]) -> dict[tuple, dict[str, Any]]:
        return dict(
            _run_all(
                {r.key: r.config for r in batch if r.state not in ("complete", "unavailable")},
                int(cfg.n_jobs),
                bar,
            )
        )

    adastop = run_adaptive(cfg, runs, run_batch, study_dir=study_dir, echo=lambda m: print(m, flush=True))
    ran = {r.key for r in adastop["runs"]}
    runs = [
        r for r in runs if r.key in ran or r.state == "unavailable"
    ]  # the plan lists the runs AdaStop took
    return adastop["outcomes"], runs, adastop


@contextlib.contextmanager
def _warnings_to_file(path: Path) -> Iterator[None]:
    """Send Python warnings (the libraries' and joblib's) to ``path`` instead of the console, for the duration.

    The console keeps the progress bar and the study's own messages; the file
    (appended to, one entry per warning with its UTC time) keeps everything else.
    Warnings are written by replacing ``warnings.showwarning`` (restored after),
    so no logging configuration applied meanwhile (Hydra's, a library's) can
    drop them.
    """
    import warnings

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{utc_now()} {warnings.formatwarning(message, category, filename, lineno, line)}")

    before = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = before


#: the libraries whose logging a study sends to its log file (their loggers' names)
LIBRARY_LOGGERS = ("hydra", "optuna", "syne_tune", "smac", "dehb", "ConfigSpace", "joblib", "numexpr")


@contextlib.contextmanager
def _logs_to_file(path: Path) -> Iterator[None]:
    """Send the libraries' logging (:data:`LIBRARY_LOGGERS`) to ``path`` instead of the console, for the duration.

    Each logger gets one handler appending to ``path`` and stops passing records to the console's
    handlers; its own handlers, level and propagation are restored after.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    saved = []
    for name in LIBRARY_LOGGERS:
        lg = logging.getLogger(name)
        saved.append((lg, lg.handlers[:], lg.propagate))
        lg.handlers[:] = [handler]
        lg.propagate = False
    try:
        yield
    finally:
        for lg, handlers, propagate in saved:
            lg.handlers[:] = handlers
            lg.propagate = propagate
        handler.close()


def _progress_bar(total: int, progress: bool) -> Any:
    """The study's one progress bar (on stderr): its runs, then the report; a no-op when ``progress`` is false."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc="runs",
        unit="run",
        disable=not progress or not total,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def _run_all(
    configs: dict[tuple, dict[str, Any]], n_jobs: int, bar: Any
) -> Iterable[tuple[tuple, dict[str, Any]]]:
    """Run every config (keyed by run), yielding ``(key, outcome)`` as runs finish; ``bar`` counts them."""
    n_failed = 0

    def done(key: tuple, out: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        nonlocal n_failed
        n_failed += out["state"] == "failed"
        bar.set_postfix_str(
            f"{key[0]} {key[1]}" + (f", {n_failed} failed" if n_failed else ""), refresh=False
        )
        bar.update()
        return key, out

    if n_jobs == 1 or len(configs) <= 1:
        for key, c in configs.items():
            yield done(key, _execute(c))
    else:
        from joblib import Parallel, delayed

        par = Parallel(n_jobs=n_jobs, return_as="generator_unordered", batch_size=1)
        for key, out in par(delayed(_keyed)(key, c) for key, c in configs.items()):
            yield done(key, out)


def _keyed(key: tuple, config: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
    return key, _execute(config)


def write_report(study_dir: Path, out_dir: Path) -> str:
    """The study's report (runners.report) in ``out_dir``; returns the path of its index.html.

    The runs are read without a progress bar of their own: the study's bar says the report is being written.
    """
    return str(build_report(study_dir, out_dir, progress=False))


def _loud(msg: str) -> None:
    bar = "!" * min(100, len(msg) + 4)
    print(f"{bar}\n! {msg}\n{bar}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- status
def status(cfg: DictConfig, *, show: int = 20) -> dict[str, int]:
    """Print what the study holds: counts per state and the first runs that are not complete.

    States: complete (verified against its checksum), damaged (meta.json
    unreadable, or the events file missing or changed; redone by the next
    ``run``, the damaged folder kept aside), running (a partial run whose lock
    another process holds), partial, missing, conflict.
    """
    runs = plan(cfg)
    for r in runs:
        if r.state in ("partial", "missing") and is_locked(r.path):
            r.state, r.note = "running", "taken by another process (it holds the run's lock)"
    counts = Counter(r.state for r in runs)
    print(f"study {cfg.name} in {Path(cfg.results_dir) / cfg.name}: {len(runs)} runs")
    for state in ("complete", "damaged", "running", "partial", "missing", "conflict"):
        print(f"  {state:9s} {counts.get(state, 0)}")
    order = {"damaged": 0, "conflict": 1, "running": 2, "partial": 3, "missing": 4}
    pending = sorted((r for r in runs if r.state != "complete"), key=lambda r: order.get(r.state, 9))
    for r in pending[:show]:
        print(f"  {r.state:9s} {r.path}" + (f"  ({r.note})" if r.note else ""))
    if len(pending) > show:
        print(f"  ... and {len(pending) - show} more")
    return dict(counts)


# ---------------------------------------------------------------- command line
#: the actions of ``python -m runners.study``
ACTIONS = {
    "run": "run what is missing, then the report",
    "status": "what is complete, partial, missing or conflicting",
}


@dataclass
class StudyCommand(StudyConf):
    """``python -m runners.study``'s keys: ``study``, the study file, and any key of :class:`StudyConf`, which
    overrides the file's (a key shown as ??? comes from the file)."""

    study: str = key_field(help="a study YAML in runners/conf/studies, or the path of one", positional=True)


def parse_args(argv: Sequence[str]) -> tuple[str, str, list[str]]:
    """``[run|status] study=NAME key=value ...`` -> (action, study, overrides); RunConfigError if not.

    The one command-line style (:func:`benchmarks.cli.read_command`): Hydra's override grammar, every key one
    of :class:`StudyCommand`'s, ``--help`` lists them. The overrides go to :func:`load_study` as written.
    """
    action, parsed = read_command(
        argv,
        StudyCommand,
        module="runners.study",
        description=__doc__.splitlines()[0],
        actions=ACTIONS,
        default_action="run",
        what="the study",
        error=RunConfigError,
    )
    study = None
    rest = []
    for ov in parsed:
        if str(ov.key_or_group) == "study":
            study = override_value(ov, str, RunConfigError)
        else:
            rest.append(str(ov.input_line))
    if not study:
        raise RunConfigError(
            "which study? pass study=NAME (a YAML in runners/conf/studies) or study=PATH.yaml"
        )
    return action, study, rest


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m runners.study``: a bad argument, key or value prints ``error: <message>`` and returns 2
    (``CURVEBENCH_TRACEBACK=1`` or ``HYDRA_FULL_ERROR=1`` raises it, traceback and all)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        action, study, overrides = parse_args(sys.argv[1:] if argv is None else argv)
        cfg = load_study(study, overrides)
    except (CurveBenchError, FileNotFoundError, ValueError) as e:
        if traceback_wanted():
            raise
        print(f"error: {e}", file=sys.stderr)  # the message first: a bad key or value is the user's to fix
        return 2
    try:
        if action == "status":
            status(cfg)
            return 0
        out = run_study(cfg)
    except CurveBenchError as e:  # found while planning: an unknown benchmark, a conflicting finished run
        if traceback_wanted():
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"study {out['study_dir']}: {out['ran']} ran, {out['skipped']} already finished, {out['failed']} failed"
        + (f", {out['taken']} taken by another process" if out["taken"] else "")
        + (
            f", {len(out['conflicts'])} conflict(s) with finished runs of other settings or data"
            if out["conflicts"]
            else ""
        )
    )
    if out["report"]:
        print(f"report: {out['report']}")
    return 1 if out["failed"] or out["conflicts"] or out["report_error"] else 0


if __name__ == "__main__":
    sys.exit(main())
