"""benchmarks.transfer: shared configuration sets, related tables, transfer sources and the greedy portfolio."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import catalog
from benchmarks.io import shipped_tables_dir
from benchmarks.protocol import UnknownBenchmarkError
from benchmarks.tabular import TabularBenchmark
from benchmarks.transfer import (
    configuration_set,
    greedy_portfolio,
    related,
    same_configuration_set,
    shared_families,
    transfer_sources,
)

#: the shipped LCBench-style tables: one configuration set on several datasets
LCBENCH = sorted(n for n in catalog.SHIPPED_NAMES if n.startswith("lcbench-"))


def test_the_lcbench_tables_share_one_configuration_set_and_fcnet_protein_none():
    keys = {n: configuration_set(catalog.load(n)) for n in [*LCBENCH, "fcnet-naval", "fcnet-protein"]}
    assert len({keys[n] for n in LCBENCH}) == 1
    assert keys["fcnet-naval"] != keys["lcbench-car"] and keys["fcnet-protein"] != keys["fcnet-naval"]
    assert related("lcbench-car") == [n for n in LCBENCH if n != "lcbench-car"]
    assert related(catalog.load("fcnet-naval")) == ["fcnet-parkinsons"]
    assert related("fcnet-protein") == [] and related("lcbench-car-surrogate") == []
    assert set(LCBENCH) | {"fcnet-naval", "fcnet-parkinsons"} <= set(shared_families())
    assert "fcnet-protein" not in shared_families()


def test_a_configuration_set_changes_with_any_configuration_or_their_order():
    b = catalog.load("lcbench-car")
    key = configuration_set(b)
    held = b.configurations()
    swapped = type(
        "Swapped", (), {"space": b.space, "configurations": lambda self: [held[1], held[0], *held[2:]]}
    )
    changed = type(
        "Changed",
        (),
        {"space": b.space, "configurations": lambda self: [{**held[0], "num_layers": 99}, *held[1:]]},
    )
    assert configuration_set(swapped()) != key and configuration_set(changed()) != key


def test_a_configuration_set_drawn_again_on_another_cpu_is_the_same_set_and_a_changed_float_is_not():
    """numpy's exp and log differ in the last bits between CPUs: the same draws a few ulps apart are one set;
    a learning rate changed at the 1e-9 level is another (the coarse fingerprint alone cannot tell)."""
    b = catalog.load("lcbench-car")
    held = b.configurations()

    def variant(scale):
        rows = [dict(c) for c in held]
        for c in rows[::7]:
            c["learning_rate"] = c["learning_rate"] * scale
        return type("Variant", (), {"space": b.space, "configurations": lambda self: rows})()

    ulps = variant(1 + 4 * np.finfo(float).eps)
    assert any(u["learning_rate"] != h["learning_rate"] for u, h in zip(ulps.configurations(), held))
    assert configuration_set(ulps) == configuration_set(b) and same_configuration_set(ulps, b)
    other = variant(1 + 1e-9)
    assert configuration_set(other) == configuration_set(b) and not same_configuration_set(other, b)


def test_transfer_sources_leave_the_target_out_and_line_up_with_its_configurations():
    target = catalog.load("lcbench-car")
    sources = transfer_sources(target)
    assert [s.name for s in sources] == related("lcbench-car")
    for s in sources:
        vals, _ = catalog.load(s.name).values_at(target.objective)
        np.testing.assert_allclose(s.values, np.nanmean(vals, axis=1))
        assert s.values.shape == (target.n_configurations(),) and len(s.checksum) == 64
    with pytest.raises(
        UnknownBenchmarkError, match="nothing to transfer from; tables that share theirs: .*lcbench"
    ):
        transfer_sources(catalog.load("fcnet-protein"))
    with pytest.raises(UnknownBenchmarkError, match="answers for any configuration"):
        transfer_sources(catalog.load("lcbench-car-surrogate"))
    with pytest.raises(
        UnknownBenchmarkError, match="fcnet-naval does not hold the configurations of lcbench-car"
    ):
        transfer_sources(target, ["fcnet-naval"])
    with pytest.raises(UnknownBenchmarkError, match="lcbench-car holds the dataset of lcbench-car"):
        transfer_sources(target, ["lcbench-car"])


def test_a_target_never_learns_from_its_own_dataset_under_another_name_or_a_part_of_it(tmp_path):
    # leave-one-dataset-out leaves the dataset out, not only the name: the data-size family built of a table,
    # a training-set fraction of it, and the same table loaded from its folder under another name
    datasize = catalog.load("lcbench-kr_vs_kp-datasize")
    assert "lcbench-kr_vs_kp" not in related(datasize)
    assert related(datasize) and all(not n.startswith("lcbench-kr_vs_kp") for n in related(datasize))
    part = catalog.load("lcbench-kr_vs_kp-train1of3")
    wide = related(part, kinds=("table", "datasize"))
    assert wide and not any(n.startswith("lcbench-kr_vs_kp") for n in wide)
    copy = TabularBenchmark.from_path(shipped_tables_dir() / "lcbench-car", name="my-car")
    assert copy.name == "my-car" and "lcbench-car" not in related(copy)
    assert related(copy) == related("lcbench-car")
    with pytest.raises(
        UnknownBenchmarkError, match="lcbench-kr_vs_kp holds the dataset of lcbench-kr_vs_kp-train1of3"
    ):
        transfer_sources(part, ["lcbench-kr_vs_kp"])


def test_the_greedy_portfolio_picks_complements_not_the_best_on_average():
    # normalized regrets: A = [0, 1, .4, .1], B = [1, 0, .4, .5]; by mean: 3, 2, then 0 and 1
    a, b = np.array([0.0, 10, 4, 1]), np.array([10.0, 0, 4, 5])
    assert greedy_portfolio([a, b], "minimize") == [3, 1, 0, 2]
    assert greedy_portfolio([-a, -b], "maximize") == [3, 1, 0, 2]
    # a configuration that diverged (NaN) counts as the worst; ties go to the lower index
    assert greedy_portfolio([np.array([np.nan, 1.0, 1.0])], "minimize") == [1, 2, 0]
    with pytest.raises(ValueError, match="direction='up'"):
        greedy_portfolio([a], "up")
    with pytest.raises(ValueError, match="at least one source"):
        greedy_portfolio([], "minimize")


def test_the_portfolio_of_the_other_lcbench_tables_starts_among_the_targets_best():
    """Transfer works on real curves: the portfolio's first five configurations, chosen from the other
    datasets alone, are all in the best tenth of lcbench-car (random picks would be there one time in ten)."""
    target = catalog.load("lcbench-car")
    order = greedy_portfolio([s.values for s in transfer_sources(target)], "minimize")
    assert sorted(order) == list(range(target.n_configurations()))
    vals = np.nanmean(target.values_at(target.objective)[0], axis=1)
    pct = [(vals < vals[i]).mean() for i in order[:5]]
    assert max(pct) < 0.1, pct
