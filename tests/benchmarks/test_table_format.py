"""The table format: one writer, one reader, and clear errors for broken files."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.protocol import Fidelity, Metric, TableFormatError
from benchmarks.synthetic import make_synthetic_table, synthetic_configs, synthetic_curves, synthetic_space
from benchmarks.table import CONFIGS, CURVES, MANIFEST, TableSpec, read_manifest, read_table, write_table


def _copy(src, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def test_roundtrip_values_and_manifest(tmp_path):
    space = synthetic_space("mixed")
    configs = synthetic_configs(space, 25, seed=1)
    values, cost = synthetic_curves(space, configs, 3, 7, seed=1)
    metrics = [Metric(m, "minimize", 0.0, np.inf, "valid") for m in values]
    path = write_table(
        tmp_path / "t",
        TableSpec(
            name="t",
            space=space,
            fidelity=Fidelity("epoch", tuple(range(1, 8))),
            metrics=metrics,
            objective="valid_loss",
            test_objective="test_loss",
            seeds=[5, 6, 9],
            provenance={"dataset_sha256": "abc"},
        ),
        configs=configs,
        values=values,
        cost=cost,
    )
    t = read_table(path)
    assert t.seeds == (5, 6, 9)
    assert t.fidelity.values == tuple(range(1, 8))
    for i, m in enumerate(values):
        np.testing.assert_array_equal(t.values[i], values[m])
    np.testing.assert_array_equal(t.cost, cost)
    for col in configs:
        np.testing.assert_array_equal(t.configs[col].to_numpy(), configs[col].to_numpy())
    m = read_manifest(path)
    assert m["format_version"] == 1 and m["provenance"]["dataset_sha256"] == "abc"
    assert m["provenance"]["code_version"] and m["provenance"]["created"]
    assert set(m["files"]) == {CONFIGS, CURVES}
    long = t.to_long()
    assert len(long) == 25 * 3 * 7 and list(long.columns[:3]) == ["config_id", "seed", "epoch"]


def test_writer_refuses_to_overwrite(tmp_path):
    p = make_synthetic_table(tmp_path / "t", n_configs=5, n_seeds=1, n_epochs=2)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        make_synthetic_table(p, n_configs=5, n_seeds=1, n_epochs=2)
    make_synthetic_table(p, n_configs=6, n_seeds=1, n_epochs=2, overwrite=True)
    assert read_table(p).configs.shape[0] == 6


def test_truncated_file_names_file(synthetic_table_path, tmp_path):
    p = _copy(synthetic_table_path, tmp_path)
    data = (p / CURVES).read_bytes()
    (p / CURVES).write_bytes(data[: len(data) // 2])
    with pytest.raises(TableFormatError, match=r"curves\.arrow: truncated"):
        read_table(p)


def test_corrupted_file_checksum(synthetic_table_path, tmp_path):
    p = _copy(synthetic_table_path, tmp_path)
    data = bytearray((p / CURVES).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (p / CURVES).write_bytes(bytes(data))
    with pytest.raises(TableFormatError, match=r"curves\.arrow"):
        read_table(p)


def test_a_file_changed_on_disk_after_reading_does_not_change_the_answers(synthetic_table_path, tmp_path):
    # the table holds the bytes it checked: rewriting the file in place (as cp over it does) changes nothing
    p = _copy(synthetic_table_path, tmp_path)
    t = read_table(p)
    before = [a.copy() for a in t.values], t.cost.copy()
    size = (p / CURVES).stat().st_size
    with open(p / CURVES, "r+b") as f:
        f.write(b"\0" * size)
    for a, b in zip(t.values, before[0], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(t.cost, before[1])
    with pytest.raises(TableFormatError, match=r"curves\.arrow"):
        read_table(p)  # and the next read sees the change


def test_a_file_past_the_in_memory_size_is_mapped_and_checked_the_same(
    synthetic_table_path, tmp_path, monkeypatch
):
    import benchmarks.table as table

    p = _copy(synthetic_table_path, tmp_path)
    want = read_table(p)
    monkeypatch.setattr(table, "READ_INTO_MEMORY_BYTES", 0)
    got = read_table(p)
    for a, b in zip(got.values, want.values, strict=True):
        np.testing.assert_array_equal(a, b)
    data = bytearray((p / CURVES).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (p / CURVES).write_bytes(bytes(data))
    with pytest.raises(TableFormatError, match=r"curves\.arrow"):
        read_table(p)


def test_mismatched_file_from_another_table(tmp_path):
    a = make_synthetic_table(tmp_path / "a", n_configs=10, n_seeds=2, n_epochs=3, seed=1)
    b = make_synthetic_table(tmp_path / "b", n_configs=10, n_seeds=2, n_epochs=3, seed=2)
    shutil.copy(b / CONFIGS, a / CONFIGS)
    # same schema, maybe even same size: the checksum tells them apart
    man = json.loads((a / MANIFEST).read_text())
    man["files"][CONFIGS]["bytes"] = (a / CONFIGS).stat().st_size
    (a / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(TableFormatError, match=r"configs\.parquet: checksum mismatch"):
        read_table(a)


def test_missing_file_and_bad_manifest(synthetic_table_path, tmp_path):
    p = _copy(synthetic_table_path, tmp_path)
    (p / CONFIGS).unlink()
    with pytest.raises(TableFormatError, match=r"configs\.parquet: missing"):
        read_table(p)
    (p / MANIFEST).write_text("{not json")
    with pytest.raises(TableFormatError, match="not valid JSON"):
        read_table(p)
    with pytest.raises(TableFormatError, match="no such table folder"):
        read_table(tmp_path / "nope")


def test_unsupported_format_version(synthetic_table_path, tmp_path):
    p = _copy(synthetic_table_path, tmp_path)
    man = json.loads((p / MANIFEST).read_text())
    man["format_version"] = 99
    (p / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(TableFormatError, match="format_version 99 is not supported"):
        read_table(p)


def _args(tmp_path):
    """A table's path, spec and arrays (the grid space, all 24 configurations, 2 seeds, 4 epochs)."""
    space = synthetic_space("grid")
    configs = synthetic_configs(space, None)
    values, cost = synthetic_curves(space, configs, 2, 4)
    spec = TableSpec(
        name="t",
        space=space,
        fidelity=Fidelity("epoch", (1, 2, 3, 4)),
        metrics=[Metric(m, "minimize", 0.0, 10.0) for m in values],
        objective="valid_loss",
        test_objective=None,
        seeds=[0, 1],
    )
    return tmp_path / "t", spec, dict(configs=configs, values=values, cost=cost)


def test_writer_validates_inputs(tmp_path):
    path, spec, kw = _args(tmp_path)
    bad_cost = kw["cost"].copy()
    bad_cost[0, 0, 2] = 0.0
    with pytest.raises(TableFormatError, match="cumulative cost decreases"):
        write_table(path, spec, **{**kw, "cost": bad_cost})
    with pytest.raises(TableFormatError, match="objective 'nope' is not a metric"):
        write_table(path, replace(spec, objective="nope"), **kw)
    vals = dict(kw["values"])
    vals["valid_loss"] = vals["valid_loss"] * 100
    with pytest.raises(TableFormatError, match="outside its declared bounds"):
        write_table(path, spec, **{**kw, "values": vals})
    dup = kw["configs"].copy()
    dup.iloc[1] = dup.iloc[0]
    with pytest.raises(TableFormatError, match="repeats an earlier configuration"):
        write_table(path, spec, **{**kw, "configs": dup})
    out = kw["configs"].copy()
    out.loc[0, "n_units"] = 17
    with pytest.raises(Exception, match="n_units=17 is outside the space"):
        write_table(path, spec, **{**kw, "configs": out})
    with pytest.raises(TableFormatError, match="shape"):
        write_table(path, spec, **{**kw, "cost": kw["cost"][:, :1]})
    with pytest.raises(TypeError, match="write_table takes a TableSpec, got dict"):
        write_table(path, {"name": "t"}, **kw)
    assert not path.exists()  # nothing half-written


def test_nan_marks_unrecorded_values(tmp_path):
    path, spec, kw = _args(tmp_path)
    vals = {k: v.copy() for k, v in kw["values"].items()}
    vals["valid_loss"][3, 1, 2:] = np.nan  # a run that diverged after epoch 2
    t = read_table(write_table(path, spec, **{**kw, "values": vals}))
    assert np.isnan(t.metric_values("valid_loss")[3, 1, 2:]).all()
    assert np.isfinite(t.metric_values("valid_loss")[3, 1, :2]).all()
