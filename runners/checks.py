"""Input checks of the runner: study and run files are data, not code, and every size has a limit.

Hydra's ``instantiate`` calls whatever a ``_target_`` names, recursively. The
runner therefore accepts ``_target_`` (and Hydra's other instantiation keys,
:data:`RESERVED_KEYS`) only where the project's own config groups put them:

* a study file, its ``overrides:`` list and the study's command-line
  ``key=value`` overrides may not hold one at any depth, in a key or in a
  value (``optimizer.eta={_target_: ...}``);
* a run's command-line overrides (``python -m runners.run ...``) may not either;
  the user may still add their own config group folder with
  ``hydra.searchpath=[file://DIR]`` on their own command line (docs/runner.md);
* after composition the only such keys left may be ``optimizer._target_``,
  ``optimizer._partial_`` and ``benchmark._target_`` (which must name the
  project's loader); the runner then builds the optimizer itself, with no
  recursive instantiation, from a class that must subclass
  :class:`runners.optimizer.Optimizer`.

The limits below are documented in docs/runner.md ("Limits"). Every error is a
:class:`RunConfigError` (a ``ValueError``) naming the key, the value, where it
came from and what is allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from benchmarks.cli import schema_fields, unknown_key_message
from benchmarks.protocol import CurveBenchError

from .conf_schema import BenchmarkConf, BudgetConf, RunConf

#: Hydra's instantiation keys: never accepted from a study file or an override
RESERVED_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")
#: the one loader a benchmark node may name (it is called directly, never through instantiate)
BENCHMARK_LOADER = "runners.run.load_benchmark"

# ---------------------------------------------------------------- limits (docs/runner.md, "Limits")
MAX_N_WORKERS = 10_000
MAX_SEED = 2**32 - 1
MAX_N_JOBS = 256
#: upper limit of budget.amount per budget kind
MAX_BUDGET = {
    "evaluations": 10_000_000.0,  # full-fidelity-equivalent evaluations
    "results": 10_000_000.0,  # recorded evaluations (rows)
    "fidelity": 1_000_000_000.0,  # fidelity units trained (e.g. epochs)
    "time": 10 * 365 * 86_400.0,  # simulated seconds: ten years
}
#: runs in one study (benchmarks x optimizers x n_workers x seeds)
MAX_STUDY_RUNS = 100_000
#: bytes of a study file
MAX_STUDY_FILE_BYTES = 1 << 20
#: keys of a composed run config, of its budget and of its benchmark: the schema's (runners/conf_schema.py)
RUN_KEYS = tuple(schema_fields(RunConf))
BUDGET_KEYS = tuple(schema_fields(BudgetConf))
BENCHMARK_KEYS = tuple(schema_fields(BenchmarkConf))


class RunConfigError(CurveBenchError, ValueError):
    """A run or study configuration that cannot work or is not allowed (names the key, the value and the rule)."""


class UnsafeConfigError(RunConfigError):
    """A study file or override that tries to name code to call (``_target_`` and the like)."""


# ---------------------------------------------------------------- instantiation keys
def reserved_paths(obj: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every key of :data:`RESERVED_KEYS` in a nested mapping/list (DictConfig too), any depth."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(obj, (DictConfig, ListConfig)):
        obj = OmegaConf.to_container(obj, resolve=False)
    out: list[str] = []
    stack: list[tuple[str, Any]] = [(prefix, obj)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, Mapping):
            for k, v in node.items():
                path = f"{where}.{k}" if where else str(k)
                if str(k) in RESERVED_KEYS:
                    out.append(path)
                stack.append((path, v))
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                stack.append((f"{where}[{i}]", v))
    return sorted(out)


def _refuse(source: str, key: str) -> UnsafeConfigError:
    return UnsafeConfigError(
        f"{source}: key `{key}` is not allowed. Study files, run files and overrides are data, not code: "
        f"{', '.join(RESERVED_KEYS)} are accepted only from the config groups in runners/conf (to run your own "
        "optimizer, write a config-group YAML for it: docs/runner.md, 'Plugging in your own optimizer')"
    )


def check_data(obj: Any, source: str) -> None:
    """Refuse any instantiation key at any depth of ``obj`` (a study file's content, an override's value)."""
    bad = reserved_paths(obj)
    if bad:
        raise _refuse(source, bad[0])


def calls_resolver(text: str) -> bool:
    """Whether OmegaConf would call a resolver when it resolves ``text``: any ``${name:...}``, a name that is
    itself an interpolation included (``${oc.${x}:HOME}``, ``${${x}:HOME}``). Read with OmegaConf's own
    grammar, as it reads a value, not with a pattern; text it cannot parse counts as a call (refused, not
    guessed at)."""
    if "${" not in text:
        return False
    from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser
    from omegaconf.grammar_parser import parse

    try:
        tree = parse(text)
    except Exception:  # noqa: BLE001 - the grammar raises several types
        return True
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, OmegaConfGrammarParser.InterpolationResolverContext):
            return True
        stack.extend(getattr(node, "children", None) or ())
    return False


def check_no_resolvers(obj: Any, source: str) -> None:
    """Refuse OmegaConf resolver calls (``${oc.env:HOME}``, ``${oc.create:...}``) anywhere in a shared file.

    Plain interpolations (``${name}``, a reference to another key of the same file) stay allowed;
    a resolver could read the environment (a secret into study.json) or build new nodes.
    """
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(obj, (DictConfig, ListConfig)):
        obj = OmegaConf.to_container(obj, resolve=False)
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, Mapping):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in node.items())
        elif isinstance(node, (list, tuple)):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(node))
        elif isinstance(node, str) and calls_resolver(node):
            raise UnsafeConfigError(
                f"{source}: `{where}` calls a resolver ({node!r}); a study file may interpolate its own keys "
                "(${name}) but may not call resolvers such as oc.env or oc.create"
            )


def _mentions_reserved(text: str) -> str | None:
    return next((k for k in RESERVED_KEYS if k in text), None)


def parse_override(text: str, source: str) -> Any:
    """A Hydra override (``key=value``, ``+key=value``, ``~key``, ...) parsed, or RunConfigError naming it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not isinstance(text, str):
        raise RunConfigError(f"{source}: override {text!r} is not a string `key=value`")
    try:
        return OverridesParser.create().parse_override(text)
    except Exception as e:  # noqa: BLE001 - Hydra raises several types for a malformed override
        raise RunConfigError(f"{source}: override {text!r} is not a valid Hydra override ({e})") from None


def _override_values(value: Any) -> Iterable[Any]:
    """Every scalar, key and nested value of a parsed override value (sweeps and ranges included)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Mapping):
            for k, x in v.items():
                yield k
                stack.append(x)
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif hasattr(v, "list") and isinstance(v.list, list):  # ChoiceSweep
            stack.extend(v.list)
        else:
            yield v


def check_override(text: str, source: str, *, study: bool) -> Any:
    """Refuse an override that names code to call; in a study, only ``optimizer.<hyperparameter>`` may be set.

    ``study=True``: an entry of a study's ``overrides:`` list (from the file or
    the command line): the study's own keys set the benchmark, optimizer,
    seeds, workers, budget, overhead and results folder, so only an
    optimizer's hyperparameters may be overridden, and never ``hydra``.
    ``study=False``: a ``python -m runners.run`` command-line override given by
    the user (``hydra.searchpath`` and the like stay allowed there).
    Returns the parsed override.
    """
    hit = _mentions_reserved(text) if isinstance(text, str) else None
    if hit:  # anywhere in it: key, value, quoted string or interpolation
        raise _refuse(f"{source}: override {text!r}", hit)
    ov = parse_override(text, source)
    key = str(ov.key_or_group)
    parts = [p for seg in key.split("/") for p in seg.split(".")]
    pkg = str(ov.package or "")
    for p in [*parts, *pkg.split(".")]:
        if p in RESERVED_KEYS:
            raise _refuse(f"{source}: override {text!r}", key)
    if ov.value_type is not None:
        for v in _override_values(ov.value()):
            hit = _mentions_reserved(str(v))
            if hit:
                raise _refuse(f"{source}: the value of override {text!r}", hit)
            if study and calls_resolver(str(v)):  # as Hydra reads it: escapes such as $\{oc.env\:X\} undone
                raise UnsafeConfigError(
                    f"{source}: the value of override {text!r} calls a resolver ({str(v)!r}); a study may not "
                    "call resolvers such as oc.env or oc.create"
                )
    if study:
        if parts[0] == "hydra":
            raise UnsafeConfigError(
                f"{source}: override {text!r} is not allowed in a study: a study may not change Hydra's settings "
                "(hydra.searchpath, launchers, ...); only optimizer hyperparameters (optimizer.NAME=VALUE)"
            )
        if pkg or len(parts) < 2 or parts[0] != "optimizer" or parts[1] == "name" or "/" in key:
            raise RunConfigError(
                f"{source}: override {text!r} is not allowed in a study's `overrides`: only optimizer "
                "hyperparameters (optimizer.NAME=VALUE) can be overridden there; benchmarks, optimizers, seeds, "
                "n_workers, budget, overhead and results_dir are the study's own keys"
            )
    return ov


_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")


def check_label(kind: str, value: str) -> str:
    """A path component (study, benchmark or optimizer name) must be a plain, safe name."""
    if not isinstance(value, str) or not _LABEL.match(value) or value in (".", ".."):
        raise RunConfigError(
            f"{kind} name {value!r} cannot name a results folder: use letters, digits and _ . + = - "
            "(starting with a letter or digit)"
        )
    return value


# ---------------------------------------------------------------- values
def check_int(name: str, value: Any, lo: int, hi: int, source: str = "") -> int:
    """An integer in [lo, hi] (bools refused), or RunConfigError naming the value and the range."""
    where = f"{source}: " if source else ""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            ok = float(value).is_integer()
        except (TypeError, ValueError, OverflowError):
            ok = False
        if isinstance(value, bool) or not ok:
            raise RunConfigError(f"{where}{name}={value!r} must be an integer from {lo} to {hi}")
        value = int(float(value))
    if not lo <= value <= hi:
        raise RunConfigError(f"{where}{name}={value!r} is out of range: allowed {lo} to {hi:,}")
    return int(value)


def check_budget(kind: Any, amount: Any, source: str = "") -> tuple[str, float]:
    """A budget kind of :data:`MAX_BUDGET` and a finite amount in (0, limit of that kind]."""
    where = f"{source}: " if source else ""
    kind = getattr(kind, "value", kind)
    if kind not in MAX_BUDGET:
        raise RunConfigError(
            f"{where}budget.kind={kind!r} is not allowed: use one of {', '.join(MAX_BUDGET)}"
        )
    try:
        a = float(amount)
    except (TypeError, ValueError, OverflowError):
        a = math.nan
    if isinstance(amount, bool) or not math.isfinite(a) or a <= 0:
        raise RunConfigError(
            f"{where}budget.amount={amount!r} must be a finite number > 0 (budget kind {kind})"
        )
    if a > MAX_BUDGET[kind]:
        raise RunConfigError(
            f"{where}budget.amount={amount!r} is over the limit for budget kind {kind}: at most {MAX_BUDGET[kind]:,g}"
        )
    return kind, a


def check_keys(node: Any, allowed: Sequence[str], what: str, source: str = "") -> None:
    """Every key of ``node`` in ``allowed`` (a key added with ``+key=...`` included)."""
    where = f"{source}: " if source else ""
    if not isinstance(node, Mapping):
        raise RunConfigError(f"{where}{what} must be a mapping with keys {', '.join(allowed)}, got {node!r}")
    for k in node:
        if k not in allowed:
            raise RunConfigError(unknown_key_message(str(k), list(allowed), what, source))


def check_composed(c: Mapping[str, Any], source: str = "run config") -> None:
    """Check a composed and resolved run config (plain containers) before anything runs.

    Unknown keys (``+n_worker=2``), instantiation keys anywhere but where the
    project's config groups put them, a benchmark loader other than the
    project's, labels that cannot name folders, and values outside the limits.
    """
    check_keys(c, RUN_KEYS, "the run config", source)
    for k in RUN_KEYS:
        if k not in c:
            raise RunConfigError(f"{source}: the run config has no `{k}` (was it removed with ~{k}?)")
    allowed = {"optimizer._target_", "optimizer._partial_", "benchmark._target_"}
    for p in reserved_paths(c):
        if p not in allowed:
            raise _refuse(source, p)
    bench, opt, budget = c["benchmark"], c["optimizer"], c["budget"]
    check_keys(bench, BENCHMARK_KEYS, "benchmark", source)
    missing = [f"benchmark.{k}" for k in ("name", "path") if bench.get(k) == "???"]
    if missing:  # a config group that needs values of the command line (benchmark=table)
        raise RunConfigError(
            f"{source}: {' and '.join(missing)} must be given: benchmark=table needs "
            "benchmark.path=FOLDER (a table folder) and benchmark.name=NAME (its name in the results)"
        )
    if bench.get("_target_", BENCHMARK_LOADER) != BENCHMARK_LOADER:
        raise _refuse(
            f"{source}: benchmark._target_={bench['_target_']!r} (only {BENCHMARK_LOADER})",
            "benchmark._target_",
        )
    if not isinstance(opt, Mapping):
        raise RunConfigError(f"{source}: optimizer must be an optimizer config (a mapping), got {opt!r}")
    if not isinstance(opt.get("_target_"), str):
        raise RunConfigError(
            f"{source}: optimizer._target_ must be a class path string, got {opt.get('_target_')!r}"
        )
    if opt.get("_partial_", True) is not True:
        raise RunConfigError(
            f"{source}: optimizer._partial_ must be true (the runner passes space, seed, ... at run time)"
        )
    for kind, v in (("study", c["study"]), ("benchmark", bench.get("name")), ("optimizer", opt.get("name"))):
        check_label(kind, v)
    if bench.get("path") is not None and not isinstance(bench["path"], str):
        raise RunConfigError(f"{source}: benchmark.path={bench['path']!r} must be a folder path (a string)")
    if not isinstance(c["results_dir"], str) or not c["results_dir"]:
        raise RunConfigError(f"{source}: results_dir={c['results_dir']!r} must be a folder path (a string)")
    check_keys(budget, BUDGET_KEYS, "budget", source)
    check_budget(budget.get("kind"), budget.get("amount"), source)
    check_int("seed", c["seed"], 0, MAX_SEED, source)
    check_int("n_workers", c["n_workers"], 1, MAX_N_WORKERS, source)
    if getattr(c["overhead"], "value", c["overhead"]) not in ("zero", "measured"):
        raise RunConfigError(f"{source}: overhead={c['overhead']!r} is not allowed: use zero or measured")
