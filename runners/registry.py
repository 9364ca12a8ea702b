"""The optimizer registry: the YAML files of runners/conf/optimizer, and nothing else.

``optimizer=NAME`` on a command line, a study's ``optimizers:`` list and the Python API all
read the same file, ``runners/conf/optimizer/NAME.yaml``: its ``_target_`` (an
:class:`~runners.optimizer.Optimizer` subclass, built-in or an adapter of another library)
and its hyperparameters. :data:`OPTIMIZERS` is the view of the built-in ones (those that
need no optional library) as factories ``OPTIMIZERS["asha"](space=..., fidelity=..., ...)``
with the YAML's hyperparameters bound; :func:`make_optimizer` gives any one, with
overrides. Nothing registers itself at import: adding an optimizer is adding its YAML
(docs/where-code-goes.md).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

from omegaconf import OmegaConf

from benchmarks.cli import hint

from .checks import RunConfigError
from .conf_schema import CONF_DIR
from .optimizer import Optimizer

#: optional libraries and the extra of the curvebench distribution that installs each
OPTIONAL_EXTRAS = {"optuna": "optuna", "dehb": "dehb", "smac": "smac", "syne_tune": "perf"}
#: keys of an optimizer node that are not constructor arguments
META_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_", "name")
#: arguments the runner passes at run time (``transfer``, ``priors``, ``objectives`` only to a class that names them)
RUNTIME_ARGS = (
    "space",
    "fidelity",
    "objective",
    "seed",
    "sampler",
    "budget",
    "transfer",
    "priors",
    "objectives",
)
#: the packages whose optimizers need no optional library
BUILTIN_PACKAGES = ("runners.optimizer.", "runners.optimizers.")


def missing_extra(exc: BaseException) -> str | None:
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


def missing_extra_error(optimizer: str, exc: BaseException) -> RunConfigError | None:
    """The error saying which extra to install, when ``exc`` comes from a missing optional library."""
    lib = missing_extra(exc)
    if lib is None:
        return None
    return RunConfigError(
        f"optimizer {optimizer} needs the optional library {lib!r}: pip install 'curvebench[{OPTIONAL_EXTRAS[lib]}]'"
    )


def resolve_target(target: str) -> Callable[..., Any]:
    """Import ``package.module.Attr`` (or ``package.module:Attr``)."""
    path = target.replace(":", ".")
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:i])
        try:
            obj: Any = importlib.import_module(module)
        except ModuleNotFoundError as e:
            missing = missing_extra_error(target, e)
            if missing is not None:
                raise missing from e
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
    cls = resolve_target(str(node["_target_"]))
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise RunConfigError(
            f"optimizer _target_ {node['_target_']!r} is not a runners.optimizer.Optimizer subclass "
            f"(it is {type(cls).__name__} {getattr(cls, '__qualname__', cls)!r}); only optimizer classes are allowed"
        )
    params = _accepted_params(cls)
    if params is not None:
        check_hyperparameters(
            [k for k in node if k not in META_KEYS], str(node["name"]), str(node["_target_"]), params
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
        if k in RUNTIME_ARGS:
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
        params = _accepted_params(resolve_target(node["_target_"]))
    except RunConfigError:
        return None
    return (node, params) if params is not None else None


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
            return names - set(RUNTIME_ARGS)
    return None


def optimizer_factory(node: Mapping[str, Any]) -> Callable[..., Optimizer]:
    """The optimizer class of a checked node with its hyperparameters bound (no recursive instantiation)."""
    cls = check_optimizer_config(node)
    params = {k: v for k, v in node.items() if k not in META_KEYS}
    return functools.partial(cls, **params)


def optimizer_node(name: str) -> dict[str, Any]:
    """The node of ``runners/conf/optimizer/NAME.yaml``; RunConfigError naming the known ones if there is none."""
    f = CONF_DIR / "optimizer" / f"{name}.yaml"
    if not f.is_file():
        known = optimizer_choices()
        raise RunConfigError(f"unknown optimizer {name!r}.{hint(name, known)} Allowed: {', '.join(known)}")
    node = OmegaConf.to_container(OmegaConf.load(f), resolve=False)
    if not isinstance(node, dict):
        raise RunConfigError(f"{f}: not a mapping")
    return node


def make_optimizer(name: str, **overrides: Any) -> Callable[..., Optimizer]:
    """The factory ``optimizer=NAME`` runs, with ``overrides`` replacing hyperparameters of its YAML."""
    node = optimizer_node(name)
    node.update(overrides)
    return optimizer_factory(node)


#: what the simulator gives a class that names it, from the benchmark: the other datasets of its configuration
#: set (benchmarks.transfer), its priors (benchmarks.priors) and the run's objectives (runners.multiobjective)
BENCHMARK_DATA = ("transfer", "priors", "objectives")


def runtime_needs(name: str) -> set[str]:
    """Which of :data:`BENCHMARK_DATA` the class of optimizer ``name`` names (the simulator fills them in)."""
    try:
        params = inspect.signature(resolve_target(optimizer_node(name)["_target_"])).parameters
    except (TypeError, ValueError):
        return set()
    return {k for k in BENCHMARK_DATA if k in params}


def needs_transfer(name: str) -> bool:
    """True when optimizer ``name`` is a transfer method: its class names a ``transfer`` parameter, which the
    runner fills with the other datasets of the benchmark's configuration set (benchmarks.transfer)."""
    return "transfer" in runtime_needs(name)


class _BuiltinOptimizers(Mapping[str, Callable[..., Optimizer]]):
    """Name -> factory of the built-in optimizers of the registry (read when first used): the transfer methods
    (``transfer=True``) or the others, which run on any benchmark."""

    def __init__(self, transfer: bool) -> None:
        self.transfer = transfer

    @functools.cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(
            n
            for n in optimizer_choices()
            if str(optimizer_node(n)["_target_"]).startswith(BUILTIN_PACKAGES)
            and needs_transfer(n) == self.transfer
        )

    def __getitem__(self, name: str) -> Callable[..., Optimizer]:
        if name not in self._names:
            raise KeyError(name)
        return make_optimizer(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


#: the built-in optimizers (no optional library needed) that run on any benchmark, as factories with their YAML
#: hyperparameters
OPTIMIZERS: Mapping[str, Callable[..., Optimizer]] = _BuiltinOptimizers(transfer=False)
#: the built-in transfer methods (they need a table whose configuration set other datasets share)
TRANSFER_OPTIMIZERS: Mapping[str, Callable[..., Optimizer]] = _BuiltinOptimizers(transfer=True)
