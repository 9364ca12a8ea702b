"""Every command of the docs runs: 72 command lines in the fenced code blocks of README.md, docs/*.md and
data/README.md (``bash``, ``sh``, ``console``, ``shell`` and unlabeled blocks), each one test case (id
``FILE:LINE``), run in a subprocess in a temporary folder with small budgets.

A command line starts with ``python -m``, ``.venv/bin/python -m`` (the README's equivalent), ``curvebench``
(an entry point: run as its module) or ``make``, after a leading ``$ `` is stripped; lines ending in a backslash
are joined and a trailing ``# comment`` is dropped. How each one runs is decided by the rule table below
(:data:`RULES`, keyed on the module); a command no rule covers fails :func:`test_every_command_has_a_rule`
(fast), so a new command in the docs needs a rule here. The fast tests (extraction, the rule table, the count
above) run in ``make test``; the command cases are ``slow`` (5 min 35 s wall, 3.6 CPU-minutes, on 2 cores
under a load of 4-5 from other work) and run with ``make test-docs``. ``python tests/test_docs_commands.py``
prints every case with what it runs.

Rule table (``{tmp}`` is the case's temporary folder, its working directory; ``{python}`` sys.executable):

================== ======================================================================================
module             how it runs
================== ======================================================================================
runners.run        real run: ``budget.amount`` cut to 3 evaluations (or the documented amount when smaller;
                   other budget kinds keep theirs up to a small cap), ``seed`` sweeps (``seed=range(10)``,
                   ``seed=0,1,2``) cut to ``seed=0``, ``results_dir={tmp}/results``; the launcher (joblib,
                   submitit_local) is kept. ``hydra/launcher=slurm`` or ``submitit_slurm`` needs a cluster:
                   ``--cfg hydra`` instead of ``--multirun``, sweeps cut to their first value (Hydra composes
                   the launcher config with every key and value of the line, prints it and runs nothing).
runners.study      ``status``: as documented (with ``results_dir``). ``run``: first ``status`` with the
                   documented settings as written (every key and value must load), then the run
                   with ``seeds=[0] budget.amount=2 n_jobs=1 report=false results_dir={tmp}/results``;
                   ``stopping=adastop``: ``adastop.batch=1 adastop.n_interims=2 seeds=[0,1]`` (AdaStop takes
                   n_interims x batch seeds). ``study=bench`` (1,290 runs; 129 even with one seed, 90 s
                   here) runs, and loads for ``status``, with ``benchmarks=[fcnet-naval]
                   optimizers=[rs,hyperband]`` (``status study=bench`` as documented plans all of it).
runners.shard      slurm: ``--cfg hydra`` as for runners.run; joblib: real, its study settings extended
                   with ``set="seeds=[0] budget.amount=2 n_jobs=1 results_dir={tmp}/results"``.
runners.report     real, on a finished tiny study copied into ``{tmp}/results`` first (the tiny study below,
                   or study=bench cut as above, run once per module with one seed).
benchmarks         ``list``, ``show``, ``priors``, ``verify``: as documented.
data.sweep         real, small: ``n_configs=2 epochs=1 seeds=[0] calib_configs=2 calib_epochs=1
                   progress=false sweeps_dir={tmp}/sweeps tables_dir={tmp}/tables``; skipped, naming the
                   dataset, when the data root lacks it; slurm: ``--cfg hydra`` as for runners.run.
data.build         ``status`` with the documented ``tables`` (a build trains for CPU-hours).
data.merge         ``--help`` (a real run rewrites the shipped table's folder in the checkout).
data.verify        real: a ``table`` path relative to the checkout made absolute, ``epochs=1`` added (the
                   first epoch agrees on any CPU, docs/data.md); skipped when the data root lacks the dataset.
data.faithfulness  real, without ``retrain`` (it compares two tables in seconds).
surrogates.fit     real, small: ``card=false noise=false max_components=2`` and ``model_params`` of a few
                   trees or steps (the documented value when smaller); ``out`` into {tmp} (the default is
                   data/surrogates/ in the checkout).
surrogates.build   ``--help`` (it refits every shipped surrogate, CPU-hours, in the checkout).
runners.lc_task    real, as documented, with ``progress=false`` (its output folder is relative: in {tmp}).
perf               ``--quick`` for one script (the first one named, else ``tables``); ``--markdown`` into {tmp}.
make TARGET        ``make -n TARGET`` in the checkout (a dry run: the target exists and what it would run).
================== ======================================================================================

Placeholders (:data:`PLACEHOLDERS`): ``NAME`` (a study) is ``tiny``, a 2-run study file written into {tmp}
(``tiny.yaml``: fcnet-naval x rs, hyperband, seed 0); ``PATH/TO/TABLE``, ``PATH/TO/FOLDER`` and
``path/to/a/table/folder`` a 40-configuration synthetic table, ``SHA256`` its checksum; ``PATH/TO/STUDY``
the finished tiny study; ``PATH/TO/REPORT`` a folder in {tmp}; ``PARTITION`` ``debug`` (only under
``--cfg hydra``); ``[key=value ...]`` dropped and ``[key=value]`` (an optional argument) kept; a bare
``...`` (data.sweep: the settings of the line above) ``family=fcnet dataset=naval``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *([ROOT / "data" / "README.md"] if (ROOT / "data" / "README.md").is_file() else []),
]
#: fenced code blocks whose command lines are extracted
SHELL_LANGS = {"", "bash", "sh", "console", "shell"}
#: what a command line starts with (after a leading `$ `)
COMMAND_START = re.compile(r"^(?:python -m |\.venv/bin/python -m |curvebench|make )")
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
#: the entry points (pyproject.toml) as the module `python -m` runs
SCRIPT_MODULES = {name: target.split(":")[0].removesuffix(".__main__") for name, target in SCRIPTS.items()}


# ---------------------------------------------------------------- extraction
@dataclass(frozen=True)
class Command:
    where: str  # FILE:LINE of the command's first line
    text: str  # the command as documented: continuation lines joined, the trailing comment dropped


def extract(paths: list[Path] = DOC_FILES) -> list[Command]:
    """Every command line of the shell (and unlabeled) fenced code blocks of ``paths``."""
    out = []
    for path in paths:
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        lines = path.read_text(encoding="utf-8").splitlines()
        fence = None  # the open fence's backticks and language
        i = 0
        while i < len(lines):
            line = lines[i]
            m = re.match(r"^\s*(`{3,})\s*([\w+-]*)", line)
            if m and (fence is None or (m.group(1) == fence[0] and not m.group(2))):
                fence = None if fence else (m.group(1), m.group(2).lower())
                i += 1
                continue
            start = i
            if fence is not None and fence[1] in SHELL_LANGS:
                text = line.strip().removeprefix("$ ")
                while text.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    text = text[:-1].rstrip() + " " + lines[i].strip()
                if COMMAND_START.match(text):
                    out.append(Command(f"{rel}:{start + 1}", _drop_comment(text)))
            i += 1
    return out


def _drop_comment(text: str) -> str:
    """The line without a trailing ``# comment`` (a ``#`` after a space, outside quotes)."""
    quote = None
    for j, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (j == 0 or text[j - 1].isspace()):
            return text[:j].rstrip()
    return text.rstrip()


# ---------------------------------------------------------------- placeholders
#: documented placeholder -> the value a test uses (``{...}`` fields are filled in per case)
PLACEHOLDERS = {
    "PATH/TO/TABLE": "{toy_table}",
    "PATH/TO/FOLDER": "{toy_table}",
    "path/to/a/table/folder": "{toy_table}",
    "SHA256": "{toy_checksum}",
    "PATH/TO/STUDY": "results/tiny",
    "PATH/TO/REPORT": "reports/tiny-elsewhere",
    "PARTITION": "debug",
    "NAME": "tiny",
}
#: the tiny study that stands for NAME (written into each case's folder as tiny.yaml)
TINY_STUDY = """\
description: the docs test's stand-in for study=NAME
benchmarks: [fcnet-naval]
optimizers: [rs, hyperband]
seeds: [0]
n_workers: [2]
budget: {kind: evaluations, amount: 2}
n_jobs: 1
"""
#: study=bench cut down for a run (its 1,290 runs are 129 even with one seed)
BENCH_CUT = ["benchmarks=[fcnet-naval]", "optimizers=[rs,hyperband]"]


def substitute(text: str) -> str:
    """The command with its placeholders replaced (see the module docstring)."""
    text = text.replace("[key=value ...]", " ")
    text = re.sub(r"(?<!\S)\[([^\[\]\s]+)\](?!\S)", r"\1", text)  # [key=value] -> key=value
    text = re.sub(r"(?<!\S)\.\.\.(?!\S)", "family=fcnet dataset=naval", text)
    for name, value in PLACEHOLDERS.items():
        text = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", value, text)
    return text


# ---------------------------------------------------------------- the plan of a case
@dataclass
class Plan:
    """What a case runs: one or more argv lists (``{...}`` fields filled in at run time) and how."""

    how: str  # "real run", "--cfg hydra", "make -n", "--help", "status"
    steps: list[list[str]]
    cwd: str = "tmp"  # or "root" (make -n)
    needs: set[str] = field(default_factory=set)  # tiny_study, toy_table, finished:<study>
    datasets: tuple[str, ...] = ()  # skipped unless the data root holds them
    timeout: float = 300.0
    xfail_after: tuple[float, str] | None = None  # (seconds, reason): slower than that is a known open point
    expect: int = 0  # the exit status
    results: bool = False  # a real run of runners.run: results/ must hold a finished run afterwards


class RuleError(Exception):
    pass


def _key(token: str) -> str | None:
    """``+key=value`` / ``key=value`` -> key; anything else None."""
    if "=" not in token or token.startswith("-"):
        return None
    return token.split("=", 1)[0].lstrip("+~")


def _get(args: list[str], key: str) -> str | None:
    for a in args:
        if _key(a) == key:
            return a.split("=", 1)[1]
    return None


def _set(args: list[str], key: str, value: str) -> list[str]:
    """``args`` with ``key=value`` in place of the token that sets ``key``, or appended."""
    out, done = [], False
    for a in args:
        if _key(a) == key:
            prefix = a.split("=", 1)[0]
            out.append(f"{prefix}={value}")
            done = True
        else:
            out.append(a)
    return out if done else [*out, f"{key}={value}"]


def _is_sweep(value: str) -> bool:
    """A Hydra sweep: `a,b,c` (outside brackets) or `range(...)`, `choice(...)`, `glob(...)`."""
    if re.match(r"^(range|choice|glob|interval)\(", value):
        return True
    depth = 0
    for ch in value:
        depth += ch in "[{("
        depth -= ch in "]})"
        if ch == "," and depth == 0:
            return True
    return False


def _first(value: str) -> str:
    """The first value of a sweep."""
    m = re.match(r"^range\(\s*(-?\d+)\s*(,|\))", value)
    if m:
        return m.group(1) if m.group(2) == "," else "0"
    m = re.match(r"^choice\((.*)\)$", value)
    if m:
        value = m.group(1)
    return value.split(",", 1)[0].strip()


def _first_values(args: list[str]) -> list[str]:
    out = []
    for a in args:
        k = _key(a)
        if k and not k.startswith("hydra/") and _is_sweep(a.split("=", 1)[1]):
            out.append(f"{a.split('=', 1)[0]}={_first(a.split('=', 1)[1])}")
        else:
            out.append(a)
    return out


def _launcher(args: list[str]) -> str | None:
    return _get(args, "hydra/launcher")


def _cfg_hydra(module: str, args: list[str]) -> Plan:
    """A Slurm multirun as ``--cfg hydra``: the launcher config composes with every key of the line, nothing runs."""
    rest = _first_values([a for a in args if a not in ("--multirun", "-m")])
    return Plan("--cfg hydra", [["{python}", "-m", module, *rest, "--cfg", "hydra"]])


CLUSTER_LAUNCHERS = {"slurm", "submitit_slurm"}
#: the most of each budget kind a runners.run case runs (the documented amount when smaller)
SMALL_BUDGET = {"evaluations": 3, "results": 20, "fidelity": 300, "time": 36_000}


def _rule_run(module: str, args: list[str]) -> Plan:
    if _launcher(args) in CLUSTER_LAUNCHERS:
        return _cfg_hydra(module, args)
    kind = _get(args, "budget.kind") or "evaluations"
    if kind not in SMALL_BUDGET:
        raise RuleError(f"budget.kind={kind}: no small amount known for it (SMALL_BUDGET)")
    amount = _get(args, "budget.amount")
    try:
        small = amount is not None and float(amount) <= SMALL_BUDGET[kind]
    except ValueError:
        small = False
    if not small:
        args = _set(_set(args, "budget.kind", kind), "budget.amount", str(SMALL_BUDGET[kind]))
    seed = _get(args, "seed")
    if seed is not None and _is_sweep(seed):
        args = _set(args, "seed", _first(seed))
    args = _set(args, "results_dir", "{tmp}/results")
    needs = {"toy_table"} if any("{toy_table}" in a for a in args) else set()
    return Plan("real run", [["{python}", "-m", module, *args]], needs=needs, results=True)


def _study_file(args: list[str]) -> tuple[list[str], set[str]]:
    """``study=tiny`` -> the tiny study file written into the case's folder."""
    if _get(args, "study") == "tiny":
        return _set(args, "study", "tiny.yaml"), {"tiny_study"}
    return args, set()


def _rule_study(module: str, args: list[str]) -> Plan:
    action = args[0] if args and "=" not in args[0] else "run"
    rest = args[1:] if args and "=" not in args[0] else args
    rest, needs = _study_file(rest)
    rest = _set(rest, "results_dir", "{tmp}/results")
    if action == "status":
        return Plan("real run", [["{python}", "-m", module, "status", *rest]], needs=needs)
    if action != "run":
        raise RuleError(f"runners.study {action}: no rule")
    cut = BENCH_CUT if _get(rest, "study") == "bench" else []  # the whole plan of bench: `status study=bench`
    as_written = ["{python}", "-m", module, "status", *rest, *cut]
    small = rest + cut
    small = _set(_set(_set(small, "budget.amount", "2"), "n_jobs", "1"), "report", "false")
    if _get(rest, "stopping") == "adastop":
        small = _set(_set(_set(small, "adastop.batch", "1"), "adastop.n_interims", "2"), "seeds", "[0,1]")
    else:
        small = _set(small, "seeds", "[0]")
    return Plan(
        "status as written, then a real run",
        [as_written, ["{python}", "-m", module, "run", *small]],
        needs=needs,
    )


def _rule_shard(module: str, args: list[str]) -> Plan:
    args, needs = _study_file(args)
    if _launcher(args) in CLUSTER_LAUNCHERS:
        plan = _cfg_hydra(module, args)
        plan.needs = needs
        return plan
    ours = "seeds=[0] budget.amount=2 n_jobs=1 results_dir={tmp}/results"
    given = _get(args, "set")
    args = _set(args, "set", f'"{given.strip(chr(34))} {ours}"' if given else f'"{ours}"')
    return Plan("real run", [["{python}", "-m", module, *args]], needs=needs)


def _rule_report(module: str, args: list[str]) -> Plan:
    study = _get(args, "study") or Path(_get(args, "study_dir") or "").name
    if study not in ("tiny", "bench"):
        raise RuleError(f"runners.report: no finished study {study!r} to report on (tiny or bench)")
    return Plan("real run", [["{python}", "-m", module, *args]], needs={f"finished:{study}"})


def _rule_benchmarks(module: str, args: list[str]) -> Plan:
    if not args or args[0] not in ("list", "show", "priors", "verify"):
        raise RuleError(f"python -m benchmarks {' '.join(args[:1])}: no rule")
    return Plan(
        "real run",
        [["{python}", "-m", module, *args]],
        needs={"toy_table"} if any("{toy_" in a for a in args) else set(),
    )


def _datasets(args: list[str]) -> tuple[str, ...]:
    value = _get(args, "dataset") or "naval"
    return tuple(value.split(",")) if _is_sweep(value) else (value,)


def _rule_sweep(module: str, args: list[str]) -> Plan:
    if _launcher(args) in CLUSTER_LAUNCHERS:
        return _cfg_hydra(module, args)
    for key, value in [
        ("n_configs", "2"),
        ("epochs", "1"),
        ("seeds", "[0]"),
        ("calib_configs", "2"),
        ("calib_epochs", "1"),
        ("progress", "false"),
        ("sweeps_dir", "{tmp}/sweeps"),
        ("tables_dir", "{tmp}/tables"),
    ]:
        args = _set(args, key, value)
    return Plan("real run", [["{python}", "-m", module, *args]], datasets=_datasets(args))


def _rule_build(module: str, args: list[str]) -> Plan:
    tables = [a for a in args if _key(a) == "tables"]
    return Plan("status", [["{python}", "-m", module, "status", *tables]])


def _rule_help(module: str, args: list[str]) -> Plan:
    return Plan("--help", [["{python}", "-m", module, "--help"]])


def _rule_verify(module: str, args: list[str]) -> Plan:
    from data.recipes import TABLES

    table = _get(args, "table") or ""
    path = table if Path(table).is_absolute() else str(ROOT / table)
    args = _set(args, "table", path)
    if _get(args, "epochs") is None:
        args = _set(args, "epochs", "1")
    name = Path(table).name
    return Plan(
        "real run",
        [["{python}", "-m", module, *args]],
        datasets=(TABLES[name]["dataset"],) if name in TABLES else (),
    )


def _rule_faithfulness(module: str, args: list[str]) -> Plan:
    args = [a for a in args if _key(a) != "retrain"]
    return Plan("real run", [["{python}", "-m", module, *args]])


#: model_params that make a fit take seconds, per model (unless the line sets that key itself)
SMALL_MODEL = {
    "xgboost": {"n_estimators": "10"},
    "rf": {"n_estimators": "5"},
    "mlp": {"max_steps": "20", "n_members": "1"},
    "knn": {},
    "gp": {"max_train": "200"},
    "ensemble": None,
}


def _rule_fit(module: str, args: list[str]) -> Plan:
    model = _get(args, "model") or "xgboost"
    if SMALL_MODEL.get(model) is None:
        raise RuleError(f"surrogates.fit model={model}: no small settings known (SMALL_MODEL)")
    for key, value in SMALL_MODEL[model].items():
        given = _get(args, f"model_params.{key}")
        if given is None:
            args = [*args, f"+model_params.{key}={value}"]
        elif float(given) > float(value):
            args = _set(args, f"model_params.{key}", value)
    out = _get(args, "out")
    if out is None or Path(out).is_absolute():
        args = _set(args, "out", "{tmp}/surrogate")
    for key, value in [("card", "false"), ("noise", "false"), ("max_components", "2")]:
        args = _set(args, key, value)
    return Plan(
        "real run",
        [["{python}", "-m", module, *args]],
        needs={"toy_table"} if any("{toy_table}" in a for a in args) else set(),
    )


def _rule_perf(module: str, args: list[str]) -> Plan:
    from perf.__main__ import SCRIPTS as PERF_SCRIPTS

    names = [a for a in args if a in PERF_SCRIPTS] or ["tables"]
    rest = ["--markdown", "{tmp}/perf.md"] if "--markdown" in args else []
    return Plan("--quick", [["{python}", "-m", module, names[0], "--quick", *rest]])


def _rule_make(args: list[str]) -> Plan:
    if not args or args[0].startswith("-"):
        raise RuleError("make without a target: no rule")
    return Plan("make -n", [["make", "-n", *args]], cwd="root", timeout=60.0)


#: module -> rule (see the module docstring's table)
RULES: dict[str, Callable[[str, list[str]], Plan]] = {
    "runners.run": _rule_run,
    "runners.study": _rule_study,
    "runners.shard": _rule_shard,
    "runners.report": _rule_report,
    "benchmarks": _rule_benchmarks,
    "data.sweep": _rule_sweep,
    "data.build": _rule_build,
    "data.merge": _rule_help,
    "data.verify": _rule_verify,
    "data.faithfulness": _rule_faithfulness,
    "surrogates.fit": _rule_fit,
    "surrogates.build": _rule_help,
    "perf": _rule_perf,
    "runners.lc_task": lambda module, args: Plan(
        "real run", [["{python}", "-m", module, *args, "progress=false"]]
    ),
}
#: a command documented as an error example: its text -> the exit status it documents
EXPECTED_STATUS: dict[str, int] = {}


def plan(cmd: Command) -> Plan:
    """How a documented command runs in the test (RuleError when no rule covers it)."""
    words = shlex.split(substitute(cmd.text))
    if words[0] == "make":
        p = _rule_make(words[1:])
    else:
        if words[0] in ("python", ".venv/bin/python") and words[1:2] == ["-m"]:
            module, args = words[2], words[3:]
        elif words[0] in SCRIPT_MODULES:
            module, args = SCRIPT_MODULES[words[0]], words[1:]
        else:
            raise RuleError(f"{words[0]}: not `python -m MODULE`, an entry point or make")
        if module not in RULES:
            raise RuleError(f"no rule for module {module} (add one to RULES)")
        p = RULES[module](module, args)
    if cmd.text in EXPECTED_STATUS:
        p = replace(p, expect=EXPECTED_STATUS[cmd.text])
    return p


COMMANDS = extract()


# ---------------------------------------------------------------- fast tests: extraction and rules
def test_the_docstring_counts_every_command():
    documented = int(re.search(r"(\d+) command lines", __doc__).group(1))
    assert documented == len(COMMANDS), (
        f"the module docstring says {documented}; the docs hold {len(COMMANDS)}"
    )


def test_every_command_has_a_rule():
    bad = []
    for cmd in COMMANDS:
        try:
            plan(cmd)
        except RuleError as e:
            bad.append(f"{cmd.where}: {cmd.text}\n    {e}")
    assert not bad, "documented commands without a rule in tests/test_docs_commands.py:\n" + "\n".join(bad)


def test_extraction_joins_lines_strips_prompts_and_comments_and_skips_other_blocks(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("""
```bash
python -m runners.run seed=3   # a comment
$ make test
echo not a command
```

```yaml
python -m not.extracted
```

```
python -m runners.run a=1 \\
    b=2 'set="c=3 d=4"'
curvebench list
```

```python
python -m not.this.either
```
""")
    got = [(c.where.rsplit(":", 1)[1], c.text) for c in extract([doc])]
    assert got == [
        ("3", "python -m runners.run seed=3"),
        ("4", "make test"),
        ("13", "python -m runners.run a=1 b=2 'set=\"c=3 d=4\"'"),
        ("15", "curvebench list"),
    ]


def test_the_rules_rewrite_as_documented():
    def argv(text):
        return plan(Command("x:1", text)).steps

    assert argv(
        "python -m runners.run --multirun optimizer=rs,dehb 'seed=range(10)' hydra/launcher=joblib"
    ) == [
        [
            "{python}",
            "-m",
            "runners.run",
            "--multirun",
            "optimizer=rs,dehb",
            "seed=0",
            "hydra/launcher=joblib",
            "budget.kind=evaluations",
            "budget.amount=3",
            "results_dir={tmp}/results",
        ]
    ]
    assert argv("python -m runners.run budget.kind=evaluations budget.amount=2")[0][3:5] == [
        "budget.kind=evaluations",
        "budget.amount=2",
    ]
    assert argv(
        "python -m runners.run --multirun hydra/launcher=slurm hydra.launcher.partition=PARTITION "
        "optimizer=rs,asha seed=0,1,2"
    ) == [
        [
            "{python}",
            "-m",
            "runners.run",
            "hydra/launcher=slurm",
            "hydra.launcher.partition=debug",
            "optimizer=rs",
            "seed=0",
            "--cfg",
            "hydra",
        ]
    ]
    p = plan(
        Command(
            "x:1", "python -m runners.study run study=NAME stopping=adastop adastop.batch=4 'seeds=range(20)'"
        )
    )
    assert p.needs == {"tiny_study"}
    assert p.steps[0][3:] == [
        "status",
        "study=tiny.yaml",
        "stopping=adastop",
        "adastop.batch=4",
        "seeds=range(20)",
        "results_dir={tmp}/results",
    ]
    assert p.steps[1][4:] == [
        "study=tiny.yaml",
        "stopping=adastop",
        "adastop.batch=1",
        "seeds=[0,1]",
        "results_dir={tmp}/results",
        "budget.amount=2",
        "n_jobs=1",
        "report=false",
        "adastop.n_interims=2",
    ]
    assert argv(
        "python -m runners.shard --multirun study=NAME n_shards=2 'shard=range(2)' hydra/launcher=joblib"
    ) == [
        [
            "{python}",
            "-m",
            "runners.shard",
            "--multirun",
            "study=tiny.yaml",
            "n_shards=2",
            "shard=range(2)",
            "hydra/launcher=joblib",
            'set="seeds=[0] budget.amount=2 n_jobs=1 results_dir={tmp}/results"',
        ]
    ]
    assert argv("python -m runners.report study=NAME [results_root=results] [key=value ...]") == [
        ["{python}", "-m", "runners.report", "study=tiny", "results_root=results"]
    ]
    assert argv("make report STUDY=bench") == [["make", "-n", "report", "STUDY=bench"]]
    assert argv("curvebench show name=fcnet-naval") == [
        ["{python}", "-m", "benchmarks", "show", "name=fcnet-naval"]
    ]
    assert argv("curvebench-tables tables=fcnet-naval threads=2") == [
        ["{python}", "-m", "data.build", "status", "tables=fcnet-naval"]
    ]
    assert argv("python -m data.verify table=data/tables/lcbench-car configs=3") == [
        [
            "{python}",
            "-m",
            "data.verify",
            f"table={ROOT / 'data/tables/lcbench-car'}",
            "configs=3",
            "epochs=1",
        ]
    ]
    assert argv("python -m data.faithfulness tables=fcnet-naval retrain=4") == [
        ["{python}", "-m", "data.faithfulness", "tables=fcnet-naval"]
    ]
    assert argv("python -m perf simulator --markdown docs/performance.md") == [
        ["{python}", "-m", "perf", "simulator", "--quick", "--markdown", "{tmp}/perf.md"]
    ]
    assert plan(
        Command("x:1", "python -m data.sweep --multirun family=fcnet dataset=naval,parkinsons")
    ).datasets == ("naval", "parkinsons")
    for bad in ("python -m runners.nothing", "pip install x", "python -m benchmarks import-all", "make"):
        with pytest.raises(RuleError):
            plan(Command("x:1", bad))


# ---------------------------------------------------------------- the command cases (slow)
def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("PYTHONHASHSEED", "0")
    env["MPLBACKEND"] = "Agg"
    return env


def _run(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _tail(p: subprocess.CompletedProcess, n: int = 4000) -> str:
    return f"stdout:\n{p.stdout[-n:]}\nstderr:\n{p.stderr[-n:]}"


@pytest.fixture(scope="module")
def toy_table(tmp_path_factory) -> tuple[Path, str]:
    from benchmarks.synthetic import make_synthetic_table
    from benchmarks.tabular import TabularBenchmark

    path = make_synthetic_table(
        tmp_path_factory.mktemp("docs-table") / "toy", n_configs=40, n_seeds=2, n_epochs=10, name="toy"
    )
    return path, TabularBenchmark.from_path(path).checksum


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Callable[[str], Path]:
    """The results folder of a finished study (tiny, or bench cut as its runs are), each made once per module."""
    root = tmp_path_factory.mktemp("docs-finished")
    (root / "tiny.yaml").write_text(TINY_STUDY)
    made: dict[str, Path] = {}

    def get(study: str) -> Path:
        if study not in made:
            target = "tiny.yaml" if study == "tiny" else study
            extra = BENCH_CUT + ["seeds=[0]", "budget.amount=2", "n_jobs=1"] if study == "bench" else []
            p = _run(
                [
                    sys.executable,
                    "-m",
                    "runners.study",
                    "run",
                    f"study={target}",
                    *extra,
                    "report=false",
                    f"results_dir={root / 'results'}",
                ],
                root,
                300,
            )
            assert p.returncode == 0, f"the finished study {study} for the report cases failed\n{_tail(p)}"
            made[study] = root / "results" / study
        return made[study]

    return get


def _fill(argv: list[str], values: dict[str, str]) -> list[str]:
    return [a.format_map(values) if "{" in a else a for a in argv]


@pytest.mark.slow
@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.where for c in COMMANDS])
def test_documented_command_runs(cmd: Command, tmp_path, request):
    p = plan(cmd)
    if shutil.which("make") is None and p.cwd == "root":
        pytest.skip("make is not installed")
    for name in p.datasets:
        from data.datasets import DATASETS, data_root

        if name not in DATASETS:
            pytest.fail(f"{cmd.where}: unknown dataset {name!r}")
        if not all((data_root() / f.path).is_file() for f in DATASETS[name].files):
            pytest.skip(f"dataset {name!r} is not under the data root {data_root()} (CURVEBENCH_DATA_ROOT)")
    values = {"python": sys.executable, "tmp": str(tmp_path), "root": str(ROOT)}
    if "toy_table" in p.needs:
        table, checksum = request.getfixturevalue("toy_table")
        values.update(toy_table=str(table), toy_checksum=checksum)
    if "tiny_study" in p.needs:
        (tmp_path / "tiny.yaml").write_text(TINY_STUDY)
    for need in p.needs:
        if need.startswith("finished:"):
            study = need.split(":", 1)[1]
            shutil.copytree(request.getfixturevalue("finished")(study), tmp_path / "results" / study)
    cwd = ROOT if p.cwd == "root" else tmp_path
    for argv in p.steps:
        argv = _fill(argv, values)
        timeout = p.xfail_after[0] if p.xfail_after else p.timeout
        try:
            out = _run(argv, cwd, timeout)
        except subprocess.TimeoutExpired:
            if p.xfail_after:
                pytest.xfail(f"took more than {timeout:.0f} s ({p.xfail_after[1]})")
            raise
        assert out.returncode == p.expect, (
            f"{cmd.where}: {cmd.text}\nran ({p.how}): {shlex.join(argv)}\nexit status {out.returncode}, "
            f"expected {p.expect}\n{_tail(out)}"
        )
    if p.results:
        metas = list((tmp_path / "results").rglob("meta.json"))
        assert metas, f"{cmd.where}: exit status 0 but no finished run under {tmp_path / 'results'}"


if __name__ == "__main__":  # print every case and what it runs
    for c in COMMANDS:
        try:
            pl = plan(c)
            print(
                f"{c.where}: {c.text}\n    [{pl.how}] " + "\n    then ".join(shlex.join(s) for s in pl.steps)
            )
        except RuleError as e:
            print(f"{c.where}: {c.text}\n    NO RULE: {e}")
    print(f"{len(COMMANDS)} commands")
