"""Two fidelities: one sweep on nested training fractions, served along the fraction or along epochs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from datasize_tables import DIVISORS, digits_datasize_parts

from benchmarks import catalog
from benchmarks.datasize import AXIS, DataSizeBenchmark, table_fraction
from benchmarks.protocol import FidelityError, TableFormatError
from benchmarks.tabular import TabularBenchmark


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return digits_datasize_parts(tmp_path_factory.mktemp("datasize"))


@pytest.fixture(scope="module")
def bench(parts):
    return DataSizeBenchmark(parts, name="digits-datasize")


def test_the_fraction_axis_reads_each_fraction_s_table_at_the_last_epoch(parts, bench):
    assert [p.name for p in parts] == [
        "lcbench-digits-train1of27",
        "lcbench-digits-train1of9",
        "lcbench-digits-train1of3",
        "lcbench-digits",
    ]
    assert [table_fraction(p) for p in parts] == [1 / k for k in DIVISORS]
    f = bench.fidelity
    assert (f.name, f.values, f.incremental) == (AXIS, tuple(1 / k for k in DIVISORS), False)
    assert set(bench.fidelity_axes) == {AXIS, "epoch"} and bench.fidelity_axes["epoch"].incremental
    for i, part in enumerate(parts):
        for cid in range(4):
            for seed in bench.seeds:
                got, want = bench.query(cid, f.values[i], seed), part.query(cid, 3.0, seed)
                assert got.metrics == want.metrics
                assert (
                    got.cost >= want.cost
                )  # the cost is the fraction's, raised only where a smaller one was slower
    assert np.all(np.diff(bench.table.cost, axis=-1) >= 0)
    # the training rows grow with the fraction (the card's numbers), valid and test stay whole
    rows = [p.task["rows"] for p in parts]
    assert [r["train"] for r in rows] == sorted(r["train"] for r in rows) and len(
        {r["valid"] for r in rows}
    ) == 1
    assert bench.checksum not in {p.checksum for p in parts}
    assert bench.task["parts"] == {p.name: p.checksum for p in parts}


def test_along_either_axis(parts, bench):
    assert bench.along(AXIS) is bench
    assert bench.along("epoch", data_fraction=1 / 9) is parts[1]
    assert bench.along("epoch") is parts[-1]  # the other axis at its maximum
    early = bench.along(AXIS, epoch=1.0)
    assert early.fidelity.values == bench.fidelity.values and early.checksum != bench.checksum
    assert early.query(2, 1 / 3, 0).metrics == parts[2].query(2, 1.0, 0).metrics
    with pytest.raises(FidelityError, match="no fidelity axis 'size'; allowed: data_fraction, epoch"):
        bench.along("size")
    with pytest.raises(
        FidelityError, match=r"data_fraction=0.5 is not held by this table; allowed: one of 0.037"
    ) as err:
        bench.along("epoch", data_fraction=0.5)
    # the values the error lists can be typed back (not rounded to 0.037037, which is not held)
    listed = [float(v) for v in str(err.value).split("allowed: one of ")[1].split(", ")]
    assert listed == list(bench.fidelity.values)
    with pytest.raises(FidelityError, match="can fix epoch, not seed"):
        bench.along(AXIS, seed=1)
    # a benchmark with one axis answers along it, and names it otherwise
    assert parts[0].along("epoch") is parts[0] and parts[0].fidelity_axes == {"epoch": parts[0].fidelity}
    with pytest.raises(FidelityError, match="no fidelity axis 'data_fraction'; allowed: epoch"):
        parts[0].along(AXIS)


def test_parts_of_different_sweeps_are_refused_naming_the_difference(parts):
    with pytest.raises(TableFormatError, match="strictly increasing training fractions"):
        DataSizeBenchmark([parts[1], parts[0], parts[3]])
    one_seed = TabularBenchmark(
        dataclasses.replace(
            parts[0].table,
            seeds=(0,),
            arrays={k: v[:, :1] for k, v in parts[0].table.arrays.items()},
        ),
        name="one-seed",
    )
    with pytest.raises(TableFormatError, match="one-seed differs from lcbench-digits in its seeds"):
        DataSizeBenchmark([one_seed, parts[3]])
    with pytest.raises(TableFormatError, match="at least two fractions"):
        DataSizeBenchmark([parts[3]])
    # the same draws a few ulps apart (sampled on another CPU) are the same configurations; 1e-9 apart are not
    hps = parts[3].table.manifest["hyperparameters"]
    col = next(h for h in hps if parts[0].table.configs[h].dtype.kind == "f")

    def nudged(scale):
        configs = parts[0].table.configs.copy()
        configs.loc[::5, col] *= scale
        return TabularBenchmark(dataclasses.replace(parts[0].table, configs=configs), name="nudged")

    DataSizeBenchmark([nudged(1 + 4 * np.finfo(float).eps), parts[3]])
    with pytest.raises(TableFormatError, match="nudged differs from lcbench-digits in its configurations"):
        DataSizeBenchmark([nudged(1 + 1e-9), parts[3]])


def test_the_catalog_serves_the_shipped_families_when_generated():
    for base in catalog.DATASIZE_BASES:
        name = f"{base}-datasize"
        e = catalog.entry(name)
        assert e.kind == "datasize" and e.kwargs["parts"] == catalog.datasize_parts(base)
        ok, why = catalog.is_available(name)
        if not ok:
            assert "not generated yet" in why and "make tables" in why
            continue
        b = catalog.load(name)
        assert b.fidelity.values == tuple(1 / k for k in DIVISORS)
        assert b.along("epoch", data_fraction=1 / 3).name == f"{base}-train1of3"
