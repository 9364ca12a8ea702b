"""The shipped tables are listed once (benchmarks.catalog.SHIPPED_TABLES); the recipes derive from that list."""

from __future__ import annotations

import pytest

from benchmarks.catalog import SHIPPED_NAMES, SHIPPED_TABLES, names
from data.families import FAMILIES
from data.recipes import TABLES, recipe


def test_every_shipped_table_has_one_recipe_and_nothing_else_does():
    assert sorted(TABLES) == sorted(SHIPPED_NAMES) == sorted(n for n, _ in SHIPPED_TABLES)
    assert set(SHIPPED_NAMES) == set(names(kind="table"))


def test_a_recipe_is_its_names_family_and_dataset():
    for name, r in TABLES.items():
        assert name == f"{r['family']}-{r['dataset']}" and r["family"] in FAMILIES
    assert TABLES["fcnet-protein"]["max_train_rows"] == 10000 and TABLES["fcnet-protein"]["n_configs"] == 300
    assert list(TABLES)[0].startswith("lcbench") and list(TABLES)[-1] == "fcnet-protein"  # small ones first


def test_an_unknown_table_is_named():
    with pytest.raises(ValueError, match="'fcnet-nope' is not a shipped table; allowed: fcnet-naval"):
        recipe("fcnet-nope")
