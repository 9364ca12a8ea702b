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
import inspect
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from benchmarks.cli import (
    check_override_keys,
    cli_errors,
    hint,
    hydra_job_errors,
    hydra_overrides,
    parse_override,
)
from benchmarks.io import utc_now
from benchmarks.protocol import Benchmark

from . import conf_schema
from .checks import RunConfigError, check_composed, check_override
from .conf_schema import RunConf
from .optimizer import Optimizer
from .results import (
    RunTakenError,
    build_meta,
    clean_stale_tmp,
    run_dir,
    run_lock,
    set_aside,
    should_run,
    verify_run,
    write_run,
)
from .simulator import Budget, simulate

log = logging.getLogger(__name__)

#: optional libraries and the extra of the curvebench distribution that installs each
OPTIONAL_EXTRAS = {"optuna": "optuna", "dehb": "dehb", "smac": "smac", "syne_tune": "perf"}
#: keys of an optimizer node that are not constructor arguments
_META_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_", "name")
#: arguments the runner passes to every optimizer at run time
_RUNTIME_ARGS = ("space", "fidelity", "objective", "seed", "sampler", "budget")
#: the runner's Hydra config tree
CONF_DIR = Path(__file__).resolve().parent / "conf"

conf_schema.register()

__all__ = ["RunConfigError", "check_cli", "check_optimizer_config", "execute", "load_benchmark", "run_config"]


# ---------------------------------------------------------------- building blocks
def load_benchmark(name: str, path: str | None = None) -> Benchmark:
    """A catalog benchmark, or the table at ``path`` under ``name``."""
    if path is None:
        import benchmarks

        return benchmarks.load(name)

    return _load_table(str(Path(path).resolve()), name)


@functools.lru_cache(maxsize=8)
def _load_table(path: str, name: str) -> Benchmark:
    from benchmarks.tabular import TabularBenchmark

    return TabularBenchmark.from_path(path, name=name)


def _missing_extra(exc: BaseException) -> str | None:
    """The name of the optional library whose absence caused ``exc``, if any."""
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ModuleNotFoundError) and e.name:
            root = e.name.split(".")[0]
            if root in OPTIONAL_EXTRAS:
                return root
        e = e.__cause__ or e.__context__
    return None


def _resolve_target(target: str) -> Callable[..., Any]:
    """Import ``package.module.Attr`` (or ``package.module:Attr``)."""
    import importlib

    path = target.replace(":", ".")
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:i])
        try:
            obj: Any = importlib.import_module(module)
        except ModuleNotFoundError as e:
            lib = _missing_extra(e)
            if lib is not None:
                raise RunConfigError(
                    f"optimizer {target} needs the optional library {lib!r}: "
                    f"pip install 'curvebench[{OPTIONAL_EXTRAS[lib]}]'"
                ) from e
            if e.name and (module == e.name or module.startswith(e.name + ".")):
                continue  # this prefix is not a module; try a shorter one
            raise RunConfigError(f"cannot import optimizer target {target!r}: {e}") from e
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            raise RunConfigError(
                f"optimizer target {target!r}: {module} has no {'.'.join(parts[i:])}"
            ) from None
        return obj
    raise RunConfigError(f"cannot import optimizer target {target!r}: no such module")


def check_optimizer_config(node: Mapping[str, Any]) -> Callable[..., Any]:
    """Check an optimizer node against its class; return the class.

    Unknown hyperparameters (misspelt keys) are an error naming the allowed ones.
    The target must be a class that subclasses :class:`runners.optimizer.Optimizer`
    (``package.module.Class`` or ``package.module:Class``); no other callable is called.
    """
    if "_target_" not in node:
        raise RunConfigError(f"optimizer config has no _target_: {dict(node)}")
    if "name" not in node:
        raise RunConfigError(
            f"optimizer config for {node['_target_']} has no `name` (the results folder label)"
        )
    cls = _resolve_target(str(node["_target_"]))
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise RunConfigError(
            f"optimizer _target_ {node['_target_']!r} is not a runners.optimizer.Optimizer subclass "
            f"(it is {type(cls).__name__} {getattr(cls, '__qualname__', cls)!r}); only optimizer classes are allowed"
        )
    params = _accepted_params(cls)
    if params is not None:
        check_hyperparameters(
            [k for k in node if k not in _META_KEYS], str(node["name"]), str(node["_target_"]), params
        )
    return cls


def check_hyperparameters(
    keys: Iterable[str], name: str, target: str, params: Collection[str], source: str = ""
) -> None:
    """Every key a hyperparameter of the optimizer (``params``: its constructor's keywords), or RunConfigError.

    The error names the key, the optimizer, its class, the nearest hyperparameter and every allowed one.
    """
    where = f"{source}: " if source else ""
    for k in keys:
        if k in _RUNTIME_ARGS:
            raise RunConfigError(
                f"{where}optimizer key {k!r} is set by the runner at run time; remove it from the config"
            )
        if k not in params:
            raise RunConfigError(
                f"{where}unknown hyperparameter {k!r} for optimizer {name} ({target}).{hint(k, sorted(params))} "
                f"Allowed: {', '.join(sorted(params)) or '(none)'}"
            )


def optimizer_choices() -> list[str]:
    """The names of the optimizer group (runners/conf/optimizer/NAME.yaml)."""
    return sorted(p.stem for p in (CONF_DIR / "optimizer").glob("*.yaml"))


def optimizer_hyperparameters(choice: str) -> tuple[dict[str, Any], set[str]] | None:
    """The node of ``optimizer=<choice>`` and the hyperparameters its class accepts.

    None when the check cannot be made here: no such YAML in runners/conf/optimizer
    (a group of the user's own search path), a class that takes any keyword, or
    one whose optional library is not installed (the run says so itself).
    """
    f = CONF_DIR / "optimizer" / f"{choice}.yaml"
    if not f.is_file():
        return None
    node = OmegaConf.to_container(OmegaConf.load(f), resolve=False)
    if not isinstance(node, dict) or not isinstance(node.get("_target_"), str):
        return None
    try:
        params = _accepted_params(_resolve_target(node["_target_"]))
    except RunConfigError:
        return None
    return (node, params) if params is not None else None


def _default_choice(group: str) -> str | None:
    """The default of a config group in run.yaml's defaults list (``optimizer: rs``)."""
    for d in OmegaConf.load(CONF_DIR / "run.yaml").get("defaults", []):
        if isinstance(d, Mapping) and group in d:
            return str(d[group])
    return None


def _chosen_optimizers(overrides: list[str]) -> list[str]:
    """The optimizers a command line chooses (``optimizer=a,b``, ``glob(...)`` expanded), else run.yaml's default."""
    from hydra.core.override_parser.types import Glob

    group = "optimizer"
    chosen: list[str] | None = None
    for text in overrides:
        ov = parse_override(text, "command line", RunConfigError)
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
    if key in _META_KEYS:
        return
    for choice in optimizers:
        known = optimizer_hyperparameters(choice)
        if known is not None:
            node, params = known
            check_hyperparameters([key], str(node.get("name", choice)), str(node["_target_"]), params, source)


def check_cli(overrides: list[str]) -> None:
    """Check a ``python -m runners.run`` command line before Hydra composes it.

    No override may name code to call (:func:`runners.checks.check_override`);
    every key must be one of the run schema's (:class:`runners.conf_schema.RunConf`),
    whether set, added with ``+``/``++`` or deleted with ``~``; an
    ``optimizer.KEY`` must be a hyperparameter of every optimizer the command
    line chooses (``optimizer=hyperband``, ``optimizer=rs,asha``, the default).
    The composed config is checked again before the run (:func:`execute`).
    """
    for o in overrides:
        check_override(o, "command line", study=False)
    optimizers: list[str] | None = None

    def open_key(path: list[str], rest: list[str], text: str) -> None:
        nonlocal optimizers
        if path != ["optimizer"]:
            return
        if optimizers is None:
            optimizers = _chosen_optimizers(overrides)
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


def _accepted_params(cls: Callable[..., Any]) -> set[str] | None:
    """Keyword arguments accepted by ``cls`` through its MRO (None when it takes arbitrary keywords)."""
    names: set[str] = set()
    targets = [c.__init__ for c in cls.__mro__ if "__init__" in vars(c)] if isinstance(cls, type) else [cls]
    for fn in targets:
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return None
        var_kw = False
        for p in sig.parameters.values():
            if p.kind is p.VAR_KEYWORD:
                var_kw = True
            elif p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self":
                names.add(p.name)
        if not var_kw:
            return names - set(_RUNTIME_ARGS)
    return None


def run_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a resolved config that identifies a run's results (not where they are written)."""
    keep = ("study", "benchmark", "optimizer", "seed", "n_workers", "budget", "overhead")
    out = {k: cfg[k] for k in keep}
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
def optimizer_factory(node: Mapping[str, Any]) -> Callable[..., Optimizer]:
    """The optimizer class of a checked node with its hyperparameters bound (no recursive instantiation)."""
    cls = check_optimizer_config(node)
    params = {k: v for k, v in node.items() if k not in _META_KEYS}
    return functools.partial(cls, **params)


def execute(cfg: DictConfig | Mapping[str, Any], *, quiet: bool = False) -> dict[str, Any]:
    """Run (or skip) one configured run.

    Returns ``{"path", "state", "summary"}`` with state ``"ran"``, ``"skipped"``
    (finished with the same configuration, verified) or ``"taken"`` (another
    process holds the run's lock: it runs it now); ``"note"`` says when a
    damaged folder was moved aside. Raises :class:`RunConflictError` when a
    finished run there has a different configuration, :class:`RunConfigError`
    for a configuration that is not allowed.
    """
    c = _to_container(cfg)
    check_composed(c)
    ident = run_config(c)
    bname = c["benchmark"]["name"]
    oname = c["optimizer"]["name"]
    path = run_dir(c["results_dir"], c["study"], bname, oname, c["n_workers"], c["seed"])
    if not should_run(path, ident):
        if not quiet:
            log.info("skip %s (finished with the same configuration)", path)
        return {"path": str(path), "state": "skipped", "summary": None}

    factory = optimizer_factory(c["optimizer"])
    try:
        with run_lock(path):
            # another process may have finished (or damaged) it between the check above and the lock
            if not should_run(path, ident):
                return {"path": str(path), "state": "skipped", "summary": None}
            note = ""
            state, why = verify_run(path)
            if state == "damaged":
                moved = set_aside(path)
                note = f"damaged run ({why}) moved aside to {moved.name} and redone"
                log.warning("%s: %s", path, note)
            clean_stale_tmp(path)
            result, meta = _simulate(c, factory, ident)
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
    try:
        result = simulate(
            bench,
            factory,
            seed=int(c["seed"]),
            n_workers=int(c["n_workers"]),
            budget=budget,
            overhead=c["overhead"],
        )
    except ModuleNotFoundError as e:
        lib = _missing_extra(e)
        if lib is not None:
            raise RunConfigError(
                f"optimizer {c['optimizer']['name']} needs the optional library {lib!r}: "
                f"pip install 'curvebench[{OPTIONAL_EXTRAS[lib]}]'"
            ) from e
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
    meta["resolved_config"] = c
    return result, meta


def check_task_overrides(overrides: list[str]) -> None:
    """Refuse command-line overrides that name code to call (``optimizer._target_=...``, ``x={_target_: ...}``)."""
    for o in overrides:
        check_override(o, "command line", study=False)


@hydra.main(config_path="conf", config_name="run", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from benchmarks.protocol import CurveBenchError

    with hydra_job_errors(CurveBenchError):
        check_task_overrides(list(HydraConfig.get().overrides.task))
        out = execute(cfg)
    print(f"{out['state']}: {out['path']}" + (f" ({out['note']})" if out.get("note") else ""))


def cli() -> None:
    """``python -m runners.run``: check the command line's keys (:func:`check_cli`), then run Hydra's app.

    A misspelt or unknown key, also with ``+`` or ``++``, prints ``error: <message>`` and exits 2 before
    Hydra composes anything (in a multirun too, before any job starts).
    """
    from benchmarks.protocol import CurveBenchError

    with cli_errors(CurveBenchError):
        check_cli(hydra_overrides())
    main()


if __name__ == "__main__":
    # run the task from the module imported under its own name, not from __main__: launchers that pickle the
    # task (joblib, submitit) then refer to runners.run's functions, which every worker process can import
    from runners.run import cli as _cli

    _cli()
