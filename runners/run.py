"""One simulated run from the Hydra config tree in runners/conf.

    python -m runners.run benchmark=fcnet-naval optimizer=hyperband seed=3 n_workers=4 \\
        budget.kind=evaluations budget.amount=200
    python -m runners.run --multirun hydra/launcher=joblib optimizer=rs,asha seed=0,1,2

Each run writes ``<results_dir>/<study>/<benchmark>/<optimizer>/workers-<n>/seed-<k>/``
(docs/runner.md). A finished run with the same configuration is skipped; one
with a different configuration is an error, never an overwrite. One process at
a time writes a run folder (a lock beside it); a damaged run is moved aside and
redone. Command-line overrides are data: ``_target_`` and Hydra's other
instantiation keys come only from the config groups (:mod:`runners.checks`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

import benchmarks
from benchmarks.cli import (
    check_override_keys,
    cli_errors,
    hint,
    hydra_job_errors,
    hydra_overrides,
)
from benchmarks.io import utc_now
from benchmarks.protocol import Benchmark, CurveBenchError
from benchmarks.tabular import TabularBenchmark

from . import conf_schema
from .checks import RunConfigError, check_composed, check_override
from .conf_schema import CONF_DIR, RunConf
from .multiobjective import MultiObjective
from .optimizer import Optimizer
from .registry import (
    META_KEYS,
    check_hyperparameters,
    check_optimizer_config,
    missing_extra_error,
    optimizer_choices,
    optimizer_factory,
    optimizer_hyperparameters,
)
from .results import (
    RunTakenError,
    build_meta,
    check_siblings,
    clean_stale_tmp,
    run_dir,
    run_lock,
    seeds_lock,
    set_aside,
    should_run,
    verify_run,
    write_run,
)
from .simulator import Budget, make_optimizer, simulate

log = logging.getLogger(__name__)

conf_schema.register()

__all__ = ["RunConfigError", "check_cli", "check_optimizer_config", "execute", "load_benchmark", "run_config"]


# ---------------------------------------------------------------- building blocks
def load_benchmark(name: str, path: str | None = None) -> Benchmark:
    """A catalog benchmark, or the table at ``path`` under ``name``."""
    if path is None:
        return benchmarks.load(name)

    return _load_table(str(Path(path).resolve()), name)


@functools.lru_cache(maxsize=8)
def _load_table(path: str, name: str) -> Benchmark:
    return TabularBenchmark.from_path(path, name=name)


def _default_choice(group: str) -> str | None:
    """The default of a config group in run.yaml's defaults list (``optimizer: rs``)."""
    for d in OmegaConf.load(CONF_DIR / "run.yaml").get("defaults", []):
        if isinstance(d, Mapping) and group in d:
            return str(d[group])
    return None


def _chosen_optimizers(parsed: list[tuple[str, Any]]) -> list[str]:
    """The optimizers a command line chooses (``optimizer=a,b``, ``glob(...)`` expanded), else run.yaml's default;
    ``parsed`` holds each override's text and its parsed form."""
    from hydra.core.override_parser.types import Glob

    group = "optimizer"
    chosen: list[str] | None = None
    for _, ov in parsed:
        if str(ov.key_or_group) != group or ov.package is not None or ov.is_delete():
            continue
        value = ov.value()
        if isinstance(value, Glob):
            chosen = value.filter(optimizer_choices())
        elif ov.is_sweep_override():
            chosen = [str(v) for v in ov.sweep_string_iterator()]
        else:
            chosen = [ov.get_value_element_as_str()]
    if chosen is None:
        default = _default_choice(group)
        chosen = [default] if default else []
    return chosen


def check_optimizer_key(key: str, optimizers: Sequence[str], source: str) -> None:
    """``optimizer.KEY`` set for every one of ``optimizers``: KEY must be a hyperparameter of each (RunConfigError
    naming the optimizer and its hyperparameters); Hydra's own keys (``_target_``, ``name``, ...) pass."""
    if key in META_KEYS:
        return
    for choice in optimizers:
        known = optimizer_hyperparameters(choice)
        if known is not None:
            node, params = known
            check_hyperparameters([key], str(node.get("name", choice)), str(node["_target_"]), params, source)


def _check_group_choices(parsed: list[tuple[str, Any]]) -> None:
    """``benchmark=NAME`` must name a catalog benchmark (or ``table``), ``optimizer=NAME`` an optimizer of
    runners/conf/optimizer (unless the command line adds a search path of its own): RunConfigError naming the
    value, the nearest choice and the choices, instead of Hydra's page of config search paths."""
    own_path = any(str(ov.key_or_group).startswith("hydra.searchpath") for _, ov in parsed)
    allowed = {
        "benchmark": sorted({*benchmarks.names(), "table"}),
        "optimizer": None if own_path else optimizer_choices(),
    }
    for group, choices in allowed.items():
        if choices is None:
            continue
        for text, ov in parsed:
            if str(ov.key_or_group) != group or ov.package is not None or ov.is_delete():
                continue
            if ov.is_sweep_override():
                if not hasattr(ov.value(), "list"):  # a glob or range: Hydra expands and checks it
                    continue
                values = [str(v) for v in ov.sweep_string_iterator()]
            else:
                values = [ov.get_value_element_as_str()]
            for v in values:
                why = benchmarks.catalog.withheld_surrogate(v) if group == "benchmark" else ""
                if v not in choices and why:
                    raise RunConfigError(f"command line, override {text!r}: {why}")
                if v not in choices:
                    raise RunConfigError(
                        f"command line, override {text!r}: unknown {group} {v!r}.{hint(v, choices)} "
                        f"Allowed: {', '.join(choices)}"
                    )


#: the run config's keys of one plain value: what each must be (for the one error line Hydra does not give)
_VALUES: dict[str, tuple[str, Callable[[str], bool]]] = {
    "seed": ("an integer", lambda v: v.lstrip("-").isdigit()),
    "n_workers": ("an integer", lambda v: v.lstrip("-").isdigit()),
    "budget.amount": ("a number", lambda v: _is_number(v)),
    "budget.kind": (
        "one of " + ", ".join(k.value for k in conf_schema.BudgetKind),
        lambda v: v in {k.value for k in conf_schema.BudgetKind},
    ),
    "overhead": (
        "one of " + ", ".join(o.value for o in conf_schema.Overhead),
        lambda v: v in {o.value for o in conf_schema.Overhead},
    ),
}


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _check_simple_values(parsed: list[tuple[str, Any]]) -> None:
    """A plain value of the wrong kind (``seed=abc``, ``budget.kind=foo``): RunConfigError naming the key, the
    value and what it must be (Hydra's own message is a page); ranges are checked on the composed config."""
    for text, ov in parsed:
        key = str(ov.key_or_group)
        if key not in _VALUES or ov.is_delete() or ov.is_sweep_override() or ov.value_type is None:
            continue
        value = ov.get_value_element_as_str()
        what, ok = _VALUES[key]
        if not ok(value):
            raise RunConfigError(f"command line, override {text!r}: {key}={value!r} must be {what}")


def check_cli(overrides: list[str]) -> None:
    """Check a ``python -m runners.run`` command line before Hydra composes it.

    No override may name code to call (:func:`runners.checks.check_override`);
    every key must be one of the run schema's (:class:`runners.conf_schema.RunConf`),
    whether set, added with ``+``/``++`` or deleted with ``~``; an
    ``optimizer.KEY`` must be a hyperparameter of every optimizer the command
    line chooses (``optimizer=hyperband``, ``optimizer=rs,asha``, the default).
    The composed config is checked again before the run (:func:`execute`).
    """
    parsed = [(o, check_override(o, "command line", study=False)) for o in overrides]  # each parsed once here
    _check_group_choices(parsed)
    _check_simple_values(parsed)
    optimizers: list[str] | None = None

    def open_key(path: list[str], rest: list[str], text: str) -> None:
        nonlocal optimizers
        if path != ["optimizer"]:
            return
        if optimizers is None:
            optimizers = _chosen_optimizers(parsed)
        check_optimizer_key(rest[0], optimizers, f"command line, override {text!r}")

    check_override_keys(
        overrides,
        RunConf,
        what="the run config",
        source="command line",
        error=RunConfigError,
        groups=("benchmark", "optimizer"),
        open_key=open_key,
    )


def run_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a resolved config that identifies a run's results (not where they are written)."""
    keep = ("study", "benchmark", "optimizer", "seed", "n_workers", "budget", "overhead")
    out = {k: cfg[k] for k in keep}
    if cfg.get("objectives") is not None:  # a multi-objective run; one-objective runs keep their identity
        out["objectives"] = list(cfg["objectives"])
    bench = dict(out["benchmark"])
    if bench.get("path") is None:
        bench.pop("path", None)
    out["benchmark"] = bench
    return out


def _to_container(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(cfg, DictConfig):
        cont = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    else:
        cont = OmegaConf.to_container(OmegaConf.create(dict(cfg)), resolve=True, enum_to_str=True)
    cont.pop("hydra", None)
    return cont


# ---------------------------------------------------------------- one run
#: seconds a run waits for its lock before it reports the run taken: ``study status`` (results.is_locked) takes
#: the lock for an instant to see whether a run is held, which must not make a running study skip that run
LOCK_GRACE_SECONDS = 1.0


def execute(cfg: DictConfig | Mapping[str, Any], *, quiet: bool = False) -> dict[str, Any]:
    """Run (or skip) one configured run.

    Returns ``{"path", "state", "summary"}`` with state ``"ran"``, ``"skipped"``
    (finished with the same configuration, verified) or ``"taken"`` (another
    process holds the run's lock: it runs it now); ``"note"`` says when a
    damaged folder was moved aside. Raises :class:`RunConflictError` when a
    finished run there, or a finished seed of the same method beside it (checked
    again, under the method's lock, right before the write), has a different
    configuration, :class:`RunConfigError` for a configuration that is not allowed.
    """
    c = _to_container(cfg)
    check_composed(c)
    ident = run_config(c)
    bname = c["benchmark"]["name"]
    oname = c["optimizer"]["name"]
    path = run_dir(c["results_dir"], c["study"], bname, oname, c["n_workers"], c["seed"])
    data = functools.partial(load_benchmark, bname, c["benchmark"].get("path"))
    if not should_run(path, ident, benchmark=data):
        if not quiet:
            log.info("skip %s (finished with the same configuration)", path)
        return {"path": str(path), "state": "skipped", "summary": None}

    factory = optimizer_factory(c["optimizer"])
    try:
        with run_lock(path, timeout=LOCK_GRACE_SECONDS):
            # another process may have finished (or damaged) it between the check above and the lock
            if not should_run(path, ident, benchmark=data):
                return {"path": str(path), "state": "skipped", "summary": None}
            note = ""
            state, why = verify_run(path)
            if state == "damaged":
                moved = set_aside(path)
                note = f"damaged run ({why}) moved aside to {moved.name} and redone"
                log.warning("%s: %s", path, note)
            clean_stale_tmp(path)
            result, meta = _simulate(c, factory, ident)
            with seeds_lock(path):
                # another seed of this method may have finished while this one ran (the run lock covers this seed
                # only): compared again, and written, under the lock of the method's seeds
                check_siblings(path, ident, data)
                write_run(path, result, meta)
    except RunTakenError as e:
        if not quiet:
            log.info("%s", e)
        return {"path": str(path), "state": "taken", "summary": None, "note": str(e)}
    if not quiet:
        s = result.summary
        log.info(
            "%s: %d evaluations, %d trials, simulated %.1f s, stop: %s",
            path,
            s["n_events"],
            s["n_trials"],
            s["end_time"],
            s["stop_reason"],
        )
    out = {"path": str(path), "state": "ran", "summary": result.summary}
    if note:
        out["note"] = note
    return out


def _simulate(
    c: dict[str, Any], factory: Callable[..., Optimizer], ident: dict[str, Any]
) -> tuple[Any, dict]:
    bench = load_benchmark(
        c["benchmark"]["name"], c["benchmark"].get("path")
    )  # never a configurable _target_
    budget = Budget(c["budget"]["kind"], float(c["budget"]["amount"]))
    started = utc_now()
    objectives = MultiObjective(bench, c["objectives"]) if c.get("objectives") is not None else None
    try:
        try:
            opt = make_optimizer(bench, factory, int(c["seed"]), None, budget, objectives=objectives)
        except (ValueError, TypeError) as e:  # a hyperparameter value the class refuses: the message alone
            if isinstance(e, CurveBenchError):
                raise
            raise RunConfigError(f"optimizer {c['optimizer']['name']}: {e}") from e
        result = simulate(
            bench,
            opt,
            seed=int(c["seed"]),
            n_workers=int(c["n_workers"]),
            budget=budget,
            overhead=c["overhead"],
        )
    except ModuleNotFoundError as e:
        missing = missing_extra_error(c["optimizer"]["name"], e)
        if missing is not None:
            raise missing from e
        raise
    meta = build_meta(
        result,
        bench,
        study=c["study"],
        benchmark_name=c["benchmark"]["name"],
        optimizer_name=c["optimizer"]["name"],
        run_config=ident,
        started_utc=started,
    )
    objectives = getattr(result.optimizer, "objectives", None) or objectives
    if isinstance(objectives, MultiObjective):
        meta["objectives"] = objectives.describe()
    meta["resolved_config"] = c
    return result, meta


def check_task_overrides(overrides: list[str]) -> None:
    """Refuse command-line overrides that name code to call (``optimizer._target_=...``, ``x={_target_: ...}``)."""
    for o in overrides:
        check_override(o, "command line", study=False)


@hydra.main(config_path="conf", config_name="run", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    with hydra_job_errors(CurveBenchError):
        check_task_overrides(list(HydraConfig.get().overrides.task))
        out = execute(cfg)
    print(f"{out['state']}: {out['path']}" + (f" ({out['note']})" if out.get("note") else ""))


def cli() -> None:
    """``python -m runners.run``: check the command line's keys (:func:`check_cli`), then run Hydra's app.

    A misspelt or unknown key, also with ``+`` or ``++``, prints ``error: <message>`` and exits 2 before
    Hydra composes anything (in a multirun too, before any job starts).
    """
    with cli_errors(CurveBenchError):
        check_cli(hydra_overrides())
    main()


if __name__ == "__main__":
    # run the task from the module imported under its own name, not from __main__: launchers that pickle the
    # task (joblib, submitit) then refer to runners.run's functions, which every worker process can import
    from runners.run import cli as _cli

    _cli()
