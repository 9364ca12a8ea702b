"""Misspelt keys never run silently: every command-line app refuses a key its schema does not know.

Also with Hydra's ``+key`` / ``++key`` (which add a key to a struct config without a check), with the
message first, one line ``error: ...``, exit status 2 and no traceback (HYDRA_FULL_ERROR=1 or
CURVEBENCH_TRACEBACK=1 keeps it). Optimizer hyperparameters are open per optimizer: a key its class does
not accept fails too, naming the optimizer and its hyperparameters.
"""

from __future__ import annotations

import enum
import importlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.cli import UnknownKeyError, check_config_keys, check_key, check_override_keys, hydra_overrides
from runners.checks import RunConfigError
from runners.conf_schema import RunConf
from runners.run import CONF_DIR, check_cli, optimizer_choices, optimizer_hyperparameters
from runners.study import load_study

ROOT = Path(__file__).resolve().parents[2]
SWITCHES = ("HYDRA_FULL_ERROR", "CURVEBENCH_TRACEBACK")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return {**env, **extra}


def _app(module: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


# ---------------------------------------------------------------- every app, in a subprocess
CASES = [
    # (app, arguments, what the message must say)
    ("runners.run", ["benchmark=nope"], "unknown benchmark 'nope'. Allowed: fcnet-naval"),
    (
        "runners.run",
        ["optimizer=hyperbnd"],
        "unknown optimizer 'hyperbnd'. Did you mean 'hyperband'? Allowed:",
    ),
    ("runners.run", ["optimizer=rs,nope"], "unknown optimizer 'nope'"),
    ("benchmarks.__main__", ["verify", "target=/no/such/folder"], "target=/no/such/folder: no such folder"),
    ("runners.run", ["+optimizer.etaa=3"], "unknown hyperparameter 'etaa' for optimizer rs"),
    (
        "runners.run",
        ["optimizer=dehb", "++optimizer.etaa=3"],
        "unknown hyperparameter 'etaa' for optimizer dehb (runners.optimizers.dehb.DEHB). Did you mean 'eta'? Allowed:",
    ),
    (
        "runners.run",
        ["+budgt.amount=5"],
        "unknown key 'budgt' in the run config. Did you mean 'budget'? Allowed:",
    ),
    (
        "runners.run",
        ["+benchmark.nmae=x"],
        "unknown key 'nmae' in benchmark. Did you mean 'name'? Allowed: _target_",
    ),
    (
        "runners.run",
        ["budget.amountt=5"],
        "unknown key 'amountt' in budget. Did you mean 'amount'? Allowed: kind",
    ),
    ("runners.run", ["--multirun", "seed=0,1", "++budgt.amount=5"], "unknown key 'budgt' in the run config"),
    ("runners.shard", ["study=bench", "+studyy=x"], "unknown key 'studyy' in runners.shard's settings"),
    ("runners.study", ["status", "study=bench", "+budgt.amount=5"], "unknown key 'budgt' in the study"),
    (
        "runners.study",
        ["status", "study=bench", "overrides=['+optimizer.etaa=3']"],
        "unknown hyperparameter 'etaa' for optimizer rs",
    ),
    (
        "runners.study",
        ["status", "study=bench", "overrides=[+optimizer.etaa=3]"],
        "is not a valid Hydra override (quote a value that holds '=' or spaces: key='...';",
    ),
    ("runners.bench", ["++budget.amountt=5"], "unknown key 'amountt' in budget"),
    (
        "data.sweep",
        ["+n_config=3"],
        "unknown key 'n_config' in the sweep's settings. Did you mean 'n_configs'?",
    ),
    (
        "surrogates.fit",
        ["benchmark=fcnet-naval", "+modle=knn"],
        "unknown key 'modle' in surrogates.fit's settings",
    ),
    ("data.datasets", ["download", "names=navel"], "unknown dataset 'navel'. Did you mean 'naval'?"),
    ("data.datasets", ["download", "names=[]"], "download needs names=[...]"),
    ("surrogates.build", ["fit", "tables=[nope]"], "'nope' is not a table of the catalog"),
    ("runners.run", ["seed=abc"], "seed='abc' must be an integer"),
    (
        "runners.run",
        ["budget.kind=foo"],
        "budget.kind='foo' must be one of time, fidelity, evaluations, results",
    ),
]


def _in_process(module: str, args: list[str], cwd: Path, monkeypatch, capsys) -> tuple[Any, str, str]:
    """Run ``python -m module args`` in this process (its command-line entry, ``cli`` or ``main``, with
    ``sys.argv`` set): the exit status, stdout and stderr. An exception other than SystemExit fails the test."""
    mod = importlib.import_module(module)
    entry = getattr(mod, "cli", None) or mod.main
    monkeypatch.setattr(sys, "argv", [module, *args])
    monkeypatch.chdir(cwd)
    for s in SWITCHES:
        monkeypatch.delenv(s, raising=False)
    capsys.readouterr()
    try:
        status = entry()
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def _check_refused(status: Any, out: str, err: str, message: str, cwd: Path) -> None:
    assert status == 2, err[-3000:]
    assert err.startswith("error: ") and message in err.splitlines()[0], err[-3000:]
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err[-3000:]
    assert out == ""
    assert list(cwd.iterdir()) == []  # nothing ran: no Hydra output folder, no results


@pytest.mark.parametrize("app, args, message", CASES, ids=[f"{c[0]} {' '.join(c[1])}" for c in CASES])
def test_a_misspelt_key_fails_with_the_message_alone(tmp_path, monkeypatch, capsys, app, args, message):
    """Every case through the app's own command-line entry, in this process (a second each otherwise)."""
    _check_refused(*_in_process(app, args, tmp_path, monkeypatch, capsys), message, tmp_path)


#: the cases also run as processes: the exit status and stderr the shell sees (a Hydra app and a study)
AS_PROCESS = [CASES[6], CASES[12]]


@pytest.mark.parametrize(
    "app, args, message", AS_PROCESS, ids=[f"{c[0]} {' '.join(c[1])}" for c in AS_PROCESS]
)
def test_a_misspelt_key_fails_the_process_with_the_message_alone(tmp_path, app, args, message):
    p = _app(app, *args, cwd=tmp_path)
    _check_refused(p.returncode, p.stdout, p.stderr, message, tmp_path)


@pytest.mark.parametrize("switch", SWITCHES)
def test_a_switch_keeps_the_traceback(tmp_path, switch):
    p = _app("runners.run", "+budgt.amount=5", cwd=tmp_path, **{switch: "1"})
    assert p.returncode != 0 and "Traceback" in p.stderr and "unknown key 'budgt'" in p.stderr


def test_a_study_switch_keeps_the_traceback(tmp_path):
    p = _app("runners.study", "status", "study=bench", "+budgt.amount=5", cwd=tmp_path, HYDRA_FULL_ERROR="1")
    assert p.returncode != 0 and "Traceback" in p.stderr and "unknown key 'budgt'" in p.stderr


def test_a_bad_value_inside_the_run_prints_the_message_alone(tmp_path):
    """Errors found after composing (here a value over its limit) are printed the same way."""
    p = _app(
        "runners.run",
        "budget.amount=-1",
        f"results_dir={tmp_path / 'res'}",
        f"hydra.run.dir={tmp_path / 'h'}",
        cwd=tmp_path,
    )
    assert p.returncode == 2 and p.stderr.startswith("error: ") and "budget.amount=-1.0" in p.stderr
    assert "Traceback" not in p.stderr


#: refused inside the Hydra app, once it has composed its settings (its output folder may exist by then)
IN_APP = [
    ("surrogates.fit", [], "which table? pass benchmark=NAME"),
    (
        "surrogates.fit",
        ["benchmark=lcbench-car", "max_components=0"],
        "max_components=0 must be an integer >= 1",
    ),
    ("runners.shard", [], "which study? pass study=NAME"),
]


@pytest.mark.parametrize("app, args, message", IN_APP, ids=[f"{c[0]} {' '.join(c[1])}" for c in IN_APP])
def test_a_missing_or_bad_setting_in_an_app_is_one_error_line(tmp_path, app, args, message):
    p = _app(app, *args, f"hydra.run.dir={tmp_path / 'h'}", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith("error: ") and message in p.stderr, p.stderr[-2000:]
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_a_table_benchmark_without_its_folder_or_name_names_what_to_give(tmp_path):
    p = _app(
        "runners.run",
        "benchmark=table",
        "benchmark.path=/some/folder",
        f"results_dir={tmp_path / 'res'}",
        f"hydra.run.dir={tmp_path / 'h'}",
        cwd=tmp_path,
    )
    assert p.returncode == 2 and "benchmark.name must be given: benchmark=table needs" in p.stderr
    assert "'???'" not in p.stderr and "Traceback" not in p.stderr


def test_a_study_objective_that_a_benchmark_lacks_is_refused_before_any_run(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(
        "name: tiny\nbenchmarks: [lcbench-car]\noptimizers: [mo-rs]\nseeds: [0]\nn_workers: [1]\n"
        f"budget: {{kind: evaluations, amount: 2}}\nresults_dir: {tmp_path / 'res'}\nreport: false\n"
    )
    p = _app("runners.study", "run", f"study={study}", "objectives=[foo]", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith(
        "error: unknown objective 'foo' for lcbench-car; allowed:"
    )
    assert "Traceback" not in p.stderr and not (tmp_path / "res").exists()


# ---------------------------------------------------------------- the checks themselves (in process)
@dataclass
class Inner:
    alpha: float = 0.1
    beta: int | None = None


@dataclass
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    params: dict[str, Any] = field(default_factory=dict)
    anything: Any = None
    seeds: list[int] = field(default_factory=list)


def test_check_key_walks_the_schema():
    assert check_key("inner.alpha", Outer, what="t") == (["inner", "alpha"], [])
    assert check_key("params.n_estimators", Outer, what="t") == (["params"], ["n_estimators"])
    assert check_key("anything.x.y", Outer, what="t") == (["anything"], ["x", "y"])
    with pytest.raises(
        UnknownKeyError, match=r"unknown key 'alpah' in inner. Did you mean 'alpha'\? Allowed: alpha, beta"
    ):
        check_key("inner.alpah", Outer, what="t")
    with pytest.raises(UnknownKeyError, match=r"src: unknown key 'nmae' in t. Did you mean 'name'\?"):
        check_key("nmae", Outer, what="t", source="src")
    with pytest.raises(UnknownKeyError, match=r"seeds is a value, not a mapping"):
        check_key("seeds.x", Outer, what="t")
    with pytest.raises(RunConfigError):
        check_key("zzz", Outer, what="t", error=RunConfigError)


def test_check_config_keys_at_every_depth():
    check_config_keys(
        {"name": "a", "inner": {"alpha": 1}, "params": {"free": 1}, "hydra": {}}, Outer, what="t"
    )
    with pytest.raises(UnknownKeyError, match="unknown key 'gamma' in inner"):
        check_config_keys({"inner": {"gamma": 1}}, Outer, what="t")
    seen = []
    check_config_keys(
        {"params": {"k": 1}}, Outer, what="t", open_key=lambda path, node: seen.append((path, dict(node)))
    )
    assert seen == [(["params"], {"k": 1})]


@pytest.mark.parametrize(
    "override", ["+nmae=x", "++nmae=x", "nmae=x", "~nmae", "+inner.alpah=1", "inner={alpah: 1}"]
)
def test_check_override_keys_every_form(override):
    with pytest.raises(UnknownKeyError, match="alpah|nmae"):
        check_override_keys([override], Outer, what="t")


class _Kind(enum.Enum):
    A = "a"
    B = "b"  # a value unlike its name: OmegaConf reads the name


@dataclass
class Plain:
    n: int = 1
    x: float = 0.5
    flag: bool = False
    maybe: int | None = None
    kind: _Kind = _Kind.A
    inner: Inner = field(default_factory=Inner)
    seeds: list[int] = field(default_factory=list)


@pytest.mark.parametrize(
    "override, message",
    [
        ("n=abc", "n='abc' must be an integer"),
        ("n=1.5", "n=1.5 must be an integer"),
        ("n=true", "n=True must be an integer"),
        ("x=fast", "x='fast' must be a number"),
        ("flag=maybe", "flag='maybe' must be true or false"),
        ("maybe=abc", "maybe='abc' must be an integer or null"),
        ("kind=c", "kind='c' must be one of A, B"),
        ("kind=b", "kind='b' must be one of A, B"),  # OmegaConf takes an Enum's names, not its values
        ("inner.beta=two", "inner.beta='two' must be an integer or null"),
        ("+inner.alpha=high", "inner.alpha='high' must be a number"),
        ("seeds=abc", "seeds='abc' must be a list of integers ([a,b,...]) or an integer"),
        ("seeds=[1,x]", "seeds=[1, 'x'] must be a list of integers ([a,b,...]) or an integer"),
    ],
)
def test_a_plain_value_of_the_wrong_kind_is_named(override, message):
    """One error line naming the key, the value and what it must be, instead of Hydra's page."""
    with pytest.raises(UnknownKeyError, match=re.escape(f"override {override!r}: {message}")):
        check_override_keys([override], Plain, what="t")


def test_plain_values_that_omegaconf_converts_pass():
    """The check refuses only what the composed config would: OmegaConf's own conversions pass (a quoted
    number, yes/on/1 for a bool, an Enum's name), and so do interpolations, alone or inside a list."""
    check_override_keys(
        [
            "n=3",
            "n='3'",
            "n=-4",
            "x=2",
            "x=1e-3",
            "x='0.5'",
            "flag=true",
            "flag=yes",
            "flag=1",
            "maybe=null",
            "maybe=4",
            "kind=B",
            "n=${x}",
            "inner.beta=null",
            "seeds=[1,2]",
            "seeds=[]",
            "seeds=5",
            "seeds=['1']",
            "seeds=[0,${n}]",
            "seeds=range(3)",
        ],
        Plain,
        what="t",
    )


def test_check_override_keys_leaves_hydra_and_groups_alone():
    check_override_keys(
        [
            "hydra.run.dir=x",
            "hydra/launcher=joblib",
            "+hydra.job.name=n",
            "inner=small",
            "name=x",
            "+params.free=1",
            "inner.alpha=0.2",
            "seeds=[1,2]",
        ],
        Outer,
        what="t",
        groups=("inner",),
    )


def test_hydra_overrides_leave_the_flags_out():
    assert hydra_overrides(["--multirun", "-cn", "run", "a=1", "+b=2"]) == ["a=1", "+b=2"]


def test_run_command_lines_that_are_valid_pass():
    check_cli(
        [
            "benchmark=table",
            "benchmark.path=/x",
            "benchmark.name=t",
            "optimizer=hyperband",
            "optimizer.eta=2",
            "optimizer.name=hb2",
            "seed=3",
            "n_workers=2",
            "budget.kind=time",
            "budget.amount=5",
            "study=s",
            "overhead=measured",
            "results_dir=r",
            "hydra.run.dir=x",
            "hydra/launcher=joblib",
        ]
    )
    check_cli(["optimizer=hyperband,asha,sh", "+optimizer.min_fidelity=2"])  # every chosen optimizer has it
    check_cli(
        ["optimizer=glob(*hyperband*)", "optimizer.eta=2"]
    )  # hyperband, optuna-hyperband, smac-hyperband


def test_a_hyperparameter_must_fit_every_chosen_optimizer():
    with pytest.raises(RunConfigError, match="unknown hyperparameter 'eta' for optimizer rs"):
        check_cli(["optimizer=hyperband,rs", "optimizer.eta=2"])
    with pytest.raises(RunConfigError, match="unknown hyperparameter 'eta' for optimizer rs"):
        check_cli(["optimizer.eta=2"])  # the default optimizer (run.yaml) is rs
    with pytest.raises(RunConfigError, match="set by the runner at run time"):
        check_cli(["+optimizer.seed=2"])


@pytest.mark.parametrize("name", optimizer_choices())
def test_every_optimizer_yaml_key_passes_and_a_misspelt_one_fails(name):
    known = optimizer_hyperparameters(name)
    if known is None:
        pytest.skip(f"{name}: its class cannot be imported here")
    node = yaml.safe_load((CONF_DIR / "optimizer" / f"{name}.yaml").read_text())
    keys = [k for k in node if not k.startswith("_") and k != "name"]
    check_cli([f"optimizer={name}", *(f"optimizer.{k}=1" for k in keys)])
    with pytest.raises(
        RunConfigError, match=rf"unknown hyperparameter 'zzz_typo' for optimizer {name} .*Allowed:"
    ):
        check_cli([f"optimizer={name}", "+optimizer.zzz_typo=1"])


def test_the_run_schema_keys_are_the_checks_keys():
    from runners.checks import BENCHMARK_KEYS, BUDGET_KEYS, RUN_KEYS

    assert RUN_KEYS == tuple(RunConf.__dataclass_fields__)
    assert set(BUDGET_KEYS) == {"kind", "amount"} and set(BENCHMARK_KEYS) == {"_target_", "name", "path"}


def test_a_study_takes_plus_keys_it_knows(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("benchmarks: [fcnet-naval]\noptimizers: [hyperband, asha]\n")
    cfg = load_study(str(f), ["+budget.amount=7", "++seeds=[1]", "overrides=[optimizer.eta=2]"])
    assert cfg.budget.amount == 7 and list(cfg.seeds) == [1]
    with pytest.raises(RunConfigError, match="unknown hyperparameter 'etaa' for optimizer hyperband"):
        load_study(str(f), ["overrides=[+optimizer.etaa=2]"])
    with pytest.raises(RunConfigError, match="unknown hyperparameter 'batch' for optimizer hyperband"):
        load_study(str(f), ["optimizers=[rs, hyperband]", "overrides=[optimizer.batch=2]"])
