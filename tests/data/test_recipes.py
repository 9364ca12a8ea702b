"""The shipped tables are listed once (benchmarks.catalog.SHIPPED_TABLES); the recipes derive from that list."""

from __future__ import annotations

import pytest

from benchmarks.catalog import (
    DATASIZE_TABLES,
    MANY_SEED_TABLES,
    SHIPPED_NAMES,
    SHIPPED_TABLES,
    datasize_parts,
    names,
)
from data.families import FAMILIES
from data.recipes import TABLES, recipe


def test_every_shipped_table_has_one_recipe_and_nothing_else_does():
    assert sorted(SHIPPED_NAMES) == sorted(n for n, _ in SHIPPED_TABLES)
    assert sorted(TABLES) == sorted([*SHIPPED_NAMES, *DATASIZE_TABLES, *MANY_SEED_TABLES])
    assert set(MANY_SEED_TABLES) == set(names(kind="many-seed"))
    assert set(SHIPPED_NAMES) == set(names(kind="table"))
    assert set(DATASIZE_TABLES) < set(names(kind="datasize"))


def test_a_recipe_is_its_names_family_and_dataset():
    for name, r in TABLES.items():
        suffix = f"-train1of{round(1 / r['train_fraction'])}" if "train_fraction" in r else ""
        suffix += f"-seeds{len(r['seeds'])}" if len(r["seeds"]) != 2 else ""
        assert name == f"{r['family']}-{r['dataset']}{suffix}" and r["family"] in FAMILIES
    assert TABLES["fcnet-protein"]["max_train_rows"] == 10000 and TABLES["fcnet-protein"]["n_configs"] == 300
    assert list(TABLES)[0].startswith("lcbench") and list(TABLES)[-1] == "fcnet-protein"  # small ones first


def test_a_data_size_table_is_its_base_sweep_on_a_fraction_of_the_training_split():
    for name in DATASIZE_TABLES:
        base = name.rpartition("-train1of")[0]
        assert name in datasize_parts(base) and datasize_parts(base)[-1] == base
        r = dict(TABLES[name])
        assert r.pop("train_fraction") == 1 / int(name.rpartition("of")[2])
        assert r == TABLES[base]  # the same configurations, seeds and epochs as the whole-split table
    order = list(TABLES)
    assert all(order.index(p) > order.index("lcbench-vehicle") for p in DATASIZE_TABLES)


def test_a_many_seed_table_is_its_family_s_sweep_with_ten_seeds():
    for name in MANY_SEED_TABLES:
        r = TABLES[name]
        assert r["seeds"] == list(range(10)) and r["n_configs"] == 200 and r["family"] == "lcbench"


def test_an_unknown_table_is_named():
    with pytest.raises(ValueError, match="'fcnet-nope' is not a shipped table; allowed: fcnet-naval"):
        recipe("fcnet-nope")
