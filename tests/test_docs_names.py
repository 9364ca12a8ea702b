"""Names the docs give exist: `make help` lists every target, and the optimizer table names the real configs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m for m in re.findall(r"^([a-z][a-z-]*):", text, flags=re.M) if m != "help"}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_target():
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"make ([a-z][a-z-]*)", out))
    assert _targets() <= listed, f"missing from `make help`: {sorted(_targets() - listed)}"


def test_the_optimizer_table_names_the_optimizer_configs_and_their_classes():
    table = [line for line in (ROOT / "docs" / "optimizers.md").read_text().splitlines()
             if re.match(r"^\| `[a-z0-9-]+` \| `runners\.", line)]
    assert table
    configs = {p.stem: p.read_text() for p in (ROOT / "runners" / "conf" / "optimizer").glob("*.yaml")}
    for line in table:
        name, target = re.findall(r"`([^`]+)`", line)[:2]
        assert name in configs, f"docs/optimizers.md names `{name}`; configs: {sorted(configs)}"
        assert f"_target_: {target}" in configs[name], f"{name}: docs say {target}"
    assert {re.findall(r"`([^`]+)`", line)[0] for line in table} == set(configs)
