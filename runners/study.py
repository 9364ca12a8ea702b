"""Studies: benchmarks x optimizers x seeds (x numbers of workers), run in-process, resumable.

    python -m runners.study run study=bench                 # run what is missing, then the report
    python -m runners.study status study=bench              # what is complete, partial, missing or conflicting
    python -m runners.study run study=bench seeds=[0,1] n_jobs=1 budget.amount=50

A study is a YAML file in runners/conf/studies/ (or a path to one), merged onto
:class:`StudyConf`, then command-line ``key=value`` overrides (OmegaConf
dotlist syntax). Every run is composed from the same Hydra config tree as
``python -m runners.run`` and lands in its fixed folder, so an interrupted
study resumes where it stopped and a finished run is never redone.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from . import conf_schema
from .conf_schema import BudgetConf, Overhead
from .results import RunConflictError, run_dir, run_state, should_run

log = logging.getLogger(__name__)
CONF_DIR = Path(__file__).resolve().parent / "conf"


@dataclass
class StudyConf:
    """A study: every combination of ``benchmarks`` x ``optimizers`` x ``n_workers`` x ``seeds``.

    ``benchmarks`` items are names (a YAML in conf/benchmark, or any catalog
    name) or ``{name: ..., path: ...}`` for a table folder outside the catalog.
    ``optimizers`` items are names of YAMLs in conf/optimizer. ``overrides``
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
    overrides: list[str] = field(default_factory=list)
    #: processes running runs side by side (1: in this process)
    n_jobs: int = 1
    #: skip (loudly) catalog benchmarks that are not available here instead of failing
    skip_unavailable: bool = False
    #: write the study report at the end (runners.report) into <report_dir>/<name>
    report: bool = True
    report_dir: str = "reports"
    description: str = ""


# ---------------------------------------------------------------- loading
def load_study(name_or_path: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The study config: a study YAML merged onto :class:`StudyConf`, then ``key=value`` overrides."""
    p = Path(name_or_path)
    f = p if p.suffix in (".yaml", ".yml") else CONF_DIR / "studies" / f"{name_or_path}.yaml"
    if not f.is_file():
        known = sorted(x.stem for x in (CONF_DIR / "studies").glob("*.yaml"))
        raise FileNotFoundError(f"unknown study {name_or_path!r}; known studies: {', '.join(known)} (or a YAML path)")
    base = OmegaConf.structured(StudyConf)
    cfg = OmegaConf.merge(base, OmegaConf.load(f), OmegaConf.from_dotlist(list(overrides)))
    assert isinstance(cfg, DictConfig)
    if OmegaConf.is_missing(cfg, "name"):
        cfg.name = f.stem
    for key in ("benchmarks", "optimizers", "seeds", "n_workers"):
        if OmegaConf.is_missing(cfg, key) or len(cfg[key]) == 0:
            raise ValueError(f"study {cfg.name}: `{key}` is empty; it needs at least one value")
    return cfg


@dataclass
class PlannedRun:
    """One run of a study: its resolved config and its folder."""

    benchmark: str
    optimizer: str
    n_workers: int
    seed: int
    config: dict[str, Any]
    path: Path
    state: str = "missing"  # complete | partial | missing | conflict
    note: str = ""


def _benchmark_overrides(item: Any) -> tuple[str, list[str]]:
    if isinstance(item, (DictConfig, dict)):
        item = dict(item)
        unknown = set(item) - {"name", "path"}
        if unknown or "name" not in item:
            raise ValueError(f"benchmark entry {item} must be a name or {{name: ..., path: ...}}")
        if item.get("path"):
            return item["name"], ["benchmark=table", f"benchmark.name={item['name']}", f"benchmark.path={item['path']}"]
        item = item["name"]
    name = str(item)
    if (CONF_DIR / "benchmark" / f"{name}.yaml").is_file():
        return name, [f"benchmark={name}"]
    from benchmarks.catalog import entry

    entry(name)  # UnknownBenchmarkError with suggestions
    return name, ["benchmark=schema", f"benchmark.name={name}"]


def available(item: Any) -> tuple[bool, str]:
    """Whether a study's benchmark entry can be loaded here (tables outside the catalog: their folder exists)."""
    if isinstance(item, (DictConfig, dict)) and item.get("path"):
        ok = Path(item["path"]).is_dir()
        return ok, "" if ok else f"no table folder at {item['path']}"
    import benchmarks

    name = item["name"] if isinstance(item, (DictConfig, dict)) else str(item)
    return benchmarks.is_available(name)


def plan(cfg: DictConfig) -> list[PlannedRun]:
    """Every run of the study with its state, composing each (benchmark, optimizer) config once."""
    from hydra import compose, initialize_config_module

    from .run import _to_container, run_config

    conf_schema.register()
    runs: list[PlannedRun] = []
    common = [
        f"study={cfg.name}",
        f"budget.kind={cfg.budget.kind.value if hasattr(cfg.budget.kind, 'value') else cfg.budget.kind}",
        f"budget.amount={cfg.budget.amount}",
        f"overhead={cfg.overhead.value if hasattr(cfg.overhead, 'value') else cfg.overhead}",
        f"results_dir={cfg.results_dir}",
    ]
    with initialize_config_module(config_module="runners.conf", version_base="1.3"):
        for item in cfg.benchmarks:
            bname, bover = _benchmark_overrides(item)
            for oname in cfg.optimizers:
                composed = compose("run", overrides=[*bover, f"optimizer={oname}", *common, *cfg.overrides])
                base = _to_container(composed)
                for n in cfg.n_workers:
                    for seed in cfg.seeds:
                        c = {**base, "n_workers": int(n), "seed": int(seed)}
                        path = run_dir(c["results_dir"], c["study"], bname, c["optimizer"]["name"], n, seed)
                        pr = PlannedRun(bname, c["optimizer"]["name"], int(n), int(seed), c, path)
                        state = run_state(path)
                        if state == "complete":
                            try:
                                should_run(path, run_config(c))
                            except RunConflictError as e:
                                state, pr.note = "conflict", str(e)
                        pr.state = state
                        runs.append(pr)
    return runs


# ---------------------------------------------------------------- running
def _execute(config: dict[str, Any]) -> dict[str, Any]:
    """One run, in this process or a joblib worker; errors come back as data, not exceptions."""
    from .run import execute

    logging.getLogger("runners").setLevel(logging.WARNING)
    try:
        return execute(config, quiet=True)
    except Exception as e:  # noqa: BLE001 - reported per run at the end of the study
        return {"path": None, "state": "failed", "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}


def run_study(cfg: DictConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run every run of the study that is not finished yet; then write the report (``cfg.report``)."""
    items = list(cfg.benchmarks)
    if cfg.skip_unavailable:
        keep = []
        for item in items:
            ok, why = available(item)
            if ok:
                keep.append(item)
            else:
                name = item["name"] if isinstance(item, (DictConfig, dict)) else item
                _loud(f"SKIPPING benchmark {name}: {why}")
        if not keep:
            raise RuntimeError(f"study {cfg.name}: none of its benchmarks is available here")
        cfg = OmegaConf.merge(cfg, {"benchmarks": keep})  # type: ignore[assignment]
    runs = plan(cfg)
    conflicts = [r for r in runs if r.state == "conflict"]
    if conflicts:
        raise RunConflictError(f"{len(conflicts)} finished run(s) conflict with this study: {conflicts[0].note}")
    todo = [r for r in runs if r.state != "complete"]
    print(f"study {cfg.name}: {len(runs)} runs, {len(runs) - len(todo)} already finished, {len(todo)} to run", flush=True)
    outcomes = list(_run_all([r.config for r in todo], int(cfg.n_jobs), progress))
    failed = [o for o in outcomes if o["state"] == "failed"]
    for o in failed[:5]:
        print(f"FAILED run: {o['error']}\n{o['trace']}", file=sys.stderr)
    counts = Counter(o["state"] for o in outcomes)
    study_dir = Path(cfg.results_dir) / cfg.name
    report = None
    if cfg.report and not failed:
        report = write_report(study_dir, Path(cfg.report_dir) / cfg.name)
    return {"study_dir": str(study_dir), "n_runs": len(runs), "ran": counts.get("ran", 0),
            "skipped": len(runs) - len(todo) + counts.get("skipped", 0), "failed": len(failed), "report": report}


def _run_all(configs: list[dict[str, Any]], n_jobs: int, progress: bool) -> Iterable[dict[str, Any]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(configs), desc="runs", unit="run", disable=not progress or not configs, file=sys.stderr)
    if n_jobs == 1 or len(configs) <= 1:
        for c in configs:
            out = _execute(c)
            bar.update()
            yield out
    else:
        from joblib import Parallel, delayed

        par = Parallel(n_jobs=n_jobs, return_as="generator_unordered", batch_size=1)
        for out in par(delayed(_execute)(c) for c in configs):
            bar.update()
            yield out
    bar.close()


def write_report(study_dir: Path, out_dir: Path) -> str | None:
    """The study's report through runners.report; None (with a loud message) if that module is unavailable."""
    try:
        from .report import build_report
    except ImportError as e:
        _loud(f"no report: runners.report.build_report cannot be imported ({e})")
        return None
    return str(build_report(study_dir, out_dir))


def _loud(msg: str) -> None:
    bar = "!" * min(100, len(msg) + 4)
    print(f"{bar}\n! {msg}\n{bar}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- status
def status(cfg: DictConfig, *, show: int = 20) -> dict[str, int]:
    """Print what the study holds: counts per state and the first runs that are not complete."""
    runs = plan(cfg)
    counts = Counter(r.state for r in runs)
    print(f"study {cfg.name} in {Path(cfg.results_dir) / cfg.name}: {len(runs)} runs")
    for state in ("complete", "partial", "missing", "conflict"):
        print(f"  {state:9s} {counts.get(state, 0)}")
    pending = [r for r in runs if r.state != "complete"]
    for r in pending[:show]:
        print(f"  {r.state:9s} {r.path}" + (f"  ({r.note})" if r.note else ""))
    if len(pending) > show:
        print(f"  ... and {len(pending) - show} more")
    return dict(counts)


# ---------------------------------------------------------------- command line
def parse_args(argv: Sequence[str]) -> tuple[str, str, list[str]]:
    """``[run|status] study=NAME key=value ...`` -> (action, study, overrides)."""
    args = list(argv)
    action = "run"
    if args and "=" not in args[0]:
        action = args.pop(0)
    if action not in ("run", "status"):
        raise SystemExit(f"unknown action {action!r}; use `run` or `status`")
    study = None
    rest = []
    for a in args:
        if "=" not in a:
            raise SystemExit(f"argument {a!r} is not key=value")
        if a.startswith("study="):
            study = a.split("=", 1)[1]
        else:
            rest.append(a)
    if not study:
        raise SystemExit("which study? pass study=NAME (a YAML in runners/conf/studies) or study=PATH.yaml")
    return action, study, rest


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    action, study, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = load_study(study, overrides)
    if action == "status":
        status(cfg)
        return 0
    out = run_study(cfg)
    print(f"study {out['study_dir']}: {out['ran']} ran, {out['skipped']} already finished, {out['failed']} failed")
    if out["report"]:
        print(f"report: {out['report']}")
    return 1 if out["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
