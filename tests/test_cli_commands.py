"""Every command converted to the one command-line style (benchmarks.cli.parse_command) refuses a misspelt key
with one line ``error: <message>`` first, exit status 2 and no traceback; prints its actions and keys for
``--help``; and answers an old-style argument with the ``key=value`` form."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SWITCHES = ("HYDRA_FULL_ERROR", "CURVEBENCH_TRACEBACK")

# (module, arguments with a misspelt key, what the first line must say)
BAD_KEYS = [
    (
        "benchmarks",
        ["show", "name=fcnet-naval", "jsn=true"],
        "unknown key 'jsn' in benchmarks show's settings. Did you mean 'json'?",
    ),
    (
        "runners.lc_task",
        ["run", "predictor=[knn]"],
        "unknown key 'predictor' in runners.lc_task run's settings. Did you mean 'predictors'?",
    ),
    (
        "data.datasets",
        ["verify", "nams=[naval]"],
        "unknown key 'nams' in data.datasets verify's settings. Did you mean 'names'?",
    ),
    (
        "data.build",
        ["status", "tabels=[fcnet-naval]"],
        "unknown key 'tabels' in data.build status's settings. Did you mean 'tables'?",
    ),
    (
        "data.verify",
        ["table=data/tables/lcbench-car", "config=3"],
        "unknown key 'config' in data.verify's settings. Did you mean 'configs'?",
    ),
    (
        "data.merge",
        ["name=lcbench-car", "card_onl=true"],
        "unknown key 'card_onl' in data.merge's settings. Did you mean 'card_only'?",
    ),
    (
        "data.faithfulness",
        ["tables=[fcnet-naval]", "retrian=2"],
        "unknown key 'retrian' in data.faithfulness's settings. Did you mean 'retrain'?",
    ),
    (
        "surrogates.build",
        ["modle=xgboost"],
        "unknown key 'modle' in surrogates.build fit's settings. Did you mean 'model'?",
    ),
    (
        "runners.card_study",
        ["seed=3"],
        "unknown key 'seed' in runners.card_study's settings. Did you mean 'seeds'?",
    ),
    (
        "runners.study",
        ["status", "study=bench", "n_job=2"],
        "unknown key 'n_job' in the study. Did you mean 'n_jobs'?",
    ),
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


@pytest.mark.parametrize("module, args, message", BAD_KEYS, ids=[c[0] for c in BAD_KEYS])
def test_a_misspelt_key_returns_2_with_the_message_first(monkeypatch, capsys, module, args, message):
    for switch in SWITCHES:
        monkeypatch.delenv(switch, raising=False)
    monkeypatch.chdir(ROOT)
    main = importlib.import_module("benchmarks.__main__" if module == "benchmarks" else module).main
    assert main(args) == 2  # an exception (a traceback) would fail the test here
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and message in err.splitlines()[0], err[-3000:]
    assert len(err.strip().splitlines()) == 1 and out == "", err[-3000:]


@pytest.mark.parametrize(
    "module, args, message", [BAD_KEYS[0], BAD_KEYS[-1]], ids=["benchmarks", "runners.study"]
)
def test_a_misspelt_key_exits_2_with_the_message_first(module, args, message):
    """The same as a process: ``python -m`` exits 2, one line on stderr, no traceback (two commands; the
    others share the code path tested in-process above)."""
    assert _one_error_line(module, args, message).stdout == ""


def _one_error_line(module: str, args: list[str], message: str) -> subprocess.CompletedProcess:
    """Run ``python -m module args``: it must exit 2 with one ``error:`` line holding ``message``, no traceback."""
    p = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2, p.stderr[-3000:]
    assert p.stderr.startswith("error: ") and message in p.stderr.splitlines()[0], p.stderr[-3000:]
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr[-3000:]
    return p


# (module, the main function's old-style arguments, the start of the message)
OLD_STYLE = [
    ("runners.lc_task", ["--seed", "3"], "--seed is not key=value; use seed=3"),
    (
        "benchmarks.__main__",
        ["show", "fcnet-naval", "--json"],
        "'fcnet-naval' is not key=value; use name=fcnet-naval",
    ),
    ("benchmarks.__main__", ["list", "--json"], "--json is not key=value; use json=true"),
    (
        "benchmarks.__main__",
        ["verify", "target=x", "--expect", "ab12"],
        "--expect is not key=value; use expect=ab12",
    ),
    (
        "data.datasets",
        ["download", "naval", "protein"],
        "'naval protein' is not key=value; use names=[naval,protein]",
    ),
    (
        "data.build",
        ["--status"],
        "--status is not key=value; status is an action, written first: python -m data.build status",
    ),
    ("data.build", ["--no-progress"], "--no-progress is not key=value; use progress=false"),
    ("data.build", ["--threads", "2"], "--threads is not key=value; use threads=2"),
    (
        "data.verify",
        ["data/tables/lcbench-car"],
        "'data/tables/lcbench-car' is not key=value; use table=data/tables/lcbench-car",
    ),
    ("data.merge", ["lcbench-car", "--card-only"], "'lcbench-car' is not key=value; use name=lcbench-car"),
    ("data.merge", ["name=lcbench-car", "--overwrite"], "--overwrite is not key=value; use overwrite=true"),
    (
        "data.faithfulness",
        ["tables=[fcnet-naval]", "--retrain", "4"],
        "--retrain is not key=value; use retrain=4",
    ),
    (
        "surrogates.build",
        ["--beyond-range"],
        "--beyond-range is not key=value; beyond-range is an action, written first",
    ),
    (
        "surrogates.build",
        ["fcnet-naval", "--force"],
        "'fcnet-naval' is not key=value; use tables=[fcnet-naval]",
    ),
    ("runners.card_study", ["--seeds", "5"], "--seeds is not key=value; use seeds=5"),
    ("runners.study", ["status", "bench"], "'bench' is not key=value; use study=bench"),
]


@pytest.mark.parametrize(
    "module, argv, message", OLD_STYLE, ids=[f"{c[0]} {' '.join(c[1])}" for c in OLD_STYLE]
)
def test_an_old_style_argument_is_answered_with_the_new_form(module, argv, message, capsys, monkeypatch):
    for switch in SWITCHES:
        monkeypatch.delenv(switch, raising=False)
    assert importlib.import_module(module).main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}"), err


HELP = [
    ("runners.lc_task", ["run", "predictors=[last-value,knn,parametric]", "pool=10", "progress=true"]),
    ("benchmarks.__main__", ["list", "show", "verify", "import", "name=(required)", "expect=null"]),
    ("data.datasets", ["list", "download", "verify", "names=(required)", "names=[]"]),
    ("data.build", ["build", "status", "threads=1", "device=auto", "progress=true"]),
    ("data.verify", ["table=(required)", "configs=3", "epochs=null", "tolerance=0.001"]),
    ("data.merge", ["name=(required)", "overwrite=false", "card_only=false"]),
    ("data.faithfulness", ["tables=(required)", "published=null", "json=false", "retrain=0"]),
    ("surrogates.build", ["fit", "beyond-range", "tables=[]", "model=null", "force=false"]),
    (
        "runners.card_study",
        ["optimizers=[rs,hyperband,asha,bohb,dehb]", "seeds=10", "workers=4", "budget=20.0"],
    ),
    ("runners.study", ["run", "status", "study=(required)", "budget.amount=100.0", "n_jobs=1"]),
]


@pytest.mark.parametrize("module, shown", HELP, ids=[c[0] for c in HELP])
def test_help_lists_the_actions_and_keys(module, shown, capsys):
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m {module.removesuffix('.__main__')} ")
    words = out.split()
    for item in shown:
        assert item in words, (item, out)


def test_help_into_a_pipe_closed_early_ends_quietly():
    """``python -m benchmarks --help | head -1``: the reader leaves after one line; the command exits 0
    without a BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=_env(),
    )
    assert proc.stdout.readline().startswith(b"usage: python -m benchmarks")
    proc.stdout.close()  # the reader leaves before the rest is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in err, err


@pytest.mark.parametrize(
    "module, args, message",
    [
        (
            "data.sweep",
            ["family=lcbench", "dataset=car", "n_configs=abc"],
            "n_configs='abc' must be an integer",
        ),
        ("surrogates.fit", ["benchmark=lcbench-car", "seed=abc"], "seed='abc' must be an integer"),
    ],
    ids=["data.sweep", "surrogates.fit"],
)
def test_a_hydra_command_names_a_plain_value_of_the_wrong_kind(module, args, message):
    """The Hydra commands answer a value of the wrong kind with one line, not Hydra's page, before anything runs."""
    _one_error_line(module, args, message)


def test_benchmarks_list_takes_every_kind_it_prints(capsys):
    """``python -m benchmarks list kind=K`` accepts every kind the catalog has (the listing prints them all) and
    lists exactly that kind's entries."""
    from benchmarks import catalog
    from benchmarks.__main__ import main

    assert {e.kind for e in catalog.CATALOG.values()} == set(catalog.KINDS)
    for kind in catalog.KINDS:
        assert main(["list", f"kind={kind}", "json=true"]) == 0
        listed = json.loads(capsys.readouterr().out)
        names = {row["name"] for row in listed} if isinstance(listed, list) else set(listed)
        assert names and names <= set(catalog.names(kind)), kind
