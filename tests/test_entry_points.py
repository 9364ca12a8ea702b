"""The console scripts of pyproject.toml point at the same functions as ``python -m MODULE``."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_entry_point_names_a_callable_of_a_module_the_readme_documents(name):
    module, func = SCRIPTS[name].split(":")
    assert callable(getattr(importlib.import_module(module), func))
    readme = (ROOT / "README.md").read_text()
    assert f"`{name}`" in readme, f"{name} is not in the README"


def test_an_entry_point_runs_like_its_module(tmp_path):
    """``curvebench-run`` refuses a misspelt key exactly as ``python -m runners.run`` does (no run starts)."""
    exe = Path(sys.executable).parent / "curvebench-run"
    if not exe.is_file():
        pytest.skip("the console scripts are not installed in this environment (pip install -e .)")
    a = subprocess.run(
        [str(exe), "+budgt.amount=3"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    b = subprocess.run(
        [sys.executable, "-m", "runners.run", "+budgt.amount=3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert a.returncode == b.returncode == 2
    assert a.stderr.strip().splitlines()[0] == b.stderr.strip().splitlines()[0]
    assert "unknown key 'budgt'" in a.stderr


@pytest.mark.parametrize(
    "script, module, args",
    [
        ("curvebench", "benchmarks.__main__", ["show", "name=fcnet-naval", "jsn=true"]),
        ("curvebench-tables", "data.build", ["status", "tabels=[fcnet-naval]"]),
        ("curvebench-surrogates", "surrogates.build", ["--force"]),
    ],
)
def test_a_converted_command_runs_like_its_module(tmp_path, capsys, script, module, args):
    """The one-style commands behind entry points refuse a bad key or an old-style flag exactly as the module's
    ``main`` (what ``python -m`` runs; called here in this process)."""
    exe = Path(sys.executable).parent / script
    if not exe.is_file():
        pytest.skip("the console scripts are not installed in this environment (pip install -e .)")
    a = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    capsys.readouterr()
    status = importlib.import_module(module).main(args)
    out, err = capsys.readouterr()
    assert a.returncode == status == 2
    assert a.stderr == err and err.startswith("error: ") and a.stdout == out == "", (a.stderr, err)
