"""Property tests (hypothesis) for the table reader and the query paths."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.protocol import Fidelity, Metric, TableFormatError
from benchmarks.synthetic import synthetic_configs, synthetic_space
from benchmarks.table import CONFIGS, CURVES, TableSpec, read_table, write_table
from benchmarks.tabular import TabularBenchmark

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tables(draw):
    n_configs = draw(st.integers(1, 12))
    n_seeds = draw(st.integers(1, 3))
    n_fid = draw(st.integers(1, 6))
    seeds = sorted(draw(st.sets(st.integers(0, 1000), min_size=n_seeds, max_size=n_seeds)))
    start = draw(st.integers(1, 5))
    step = draw(st.sampled_from([1, 2, 3]))
    fids = tuple(range(start, start + step * n_fid, step))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    nan_frac = draw(st.sampled_from([0.0, 0.2]))
    shape = (n_configs, n_seeds, n_fid)
    vals = rng.uniform(0, 1, size=(2, *shape)).astype(np.float32)
    vals[rng.random(vals.shape) < nan_frac] = np.nan
    cost = np.cumsum(rng.uniform(0, 5, size=shape), axis=-1).astype(np.float32)
    return n_configs, seeds, fids, vals, cost, draw(st.integers(0, 10_000))


def _write(tmp: Path, spec) -> Path:
    n_configs, seeds, fids, vals, cost, cfg_seed = spec
    space = synthetic_space("mixed")
    configs = synthetic_configs(space, n_configs, seed=cfg_seed)
    n = len(configs)  # duplicates dropped: keep arrays aligned
    return write_table(
        tmp / "t",
        TableSpec(
            name="prop",
            space=space,
            fidelity=Fidelity("epoch", fids),
            metrics=[
                Metric("valid_loss", "minimize", 0, 1, "valid"),
                Metric("test_acc", "maximize", 0, 1, "test"),
            ],
            objective="valid_loss",
            test_objective="test_acc",
            seeds=seeds,
        ),
        configs=configs,
        values={"valid_loss": vals[0][:n], "test_acc": vals[1][:n]},
        cost=cost[:n],
    )


@SETTINGS
@given(tables())
def test_roundtrip_and_queries(spec):
    with tempfile.TemporaryDirectory() as d:
        path = _write(Path(d), spec)
        _, seeds, fids, vals, cost, _ = spec
        t = read_table(path)
        n = t.values.shape[1]
        np.testing.assert_array_equal(t.values[0], vals[0][:n])
        np.testing.assert_array_equal(t.values[1], vals[1][:n])
        np.testing.assert_array_equal(t.cost, cost[:n])
        b = TabularBenchmark(t)
        rng = np.random.default_rng(0)
        cid = rng.integers(0, n, 20)
        sid = rng.integers(0, len(seeds), 20)
        fid = rng.integers(0, len(fids), 20)
        batch = b.query_batch(cid, np.asarray(fids)[fid], np.asarray(seeds)[sid])
        for k in range(20):
            c, s, f = int(cid[k]), int(sid[k]), int(fid[k])
            r = b.query(b.config(c), fidelity=fids[f], seed=seeds[s])
            assert r.config_id == c
            np.testing.assert_equal(r.metrics["valid_loss"], float(vals[0][c, s, f]))
            np.testing.assert_equal(r.metrics["test_acc"], float(vals[1][c, s, f]))
            assert r.cost == float(cost[c, s, f])
            prev = float(cost[c, s, f - 1]) if f else 0.0
            assert r.cost_increment == pytest.approx(r.cost - prev)
            np.testing.assert_equal(batch["valid_loss"][k], vals[0][c, s, f])
            assert batch.cost[k] == cost[c, s, f]
            cv = b.curve(c, seed=seeds[s])
            np.testing.assert_array_equal(cv["test_acc"], vals[1][c, s])


@SETTINGS
@given(tables(), st.sampled_from([CONFIGS, CURVES]), st.floats(0.0, 0.999), st.integers(1, 255))
def test_any_corruption_is_a_table_format_error(spec, fname, where, xor):
    with tempfile.TemporaryDirectory() as d:
        path = _write(Path(d), spec)
        f = path / fname
        data = bytearray(f.read_bytes())
        data[int(where * len(data))] ^= xor
        f.write_bytes(bytes(data))
        with pytest.raises(TableFormatError, match=fname.replace(".", r"\.")):
            read_table(path)


@SETTINGS
@given(tables(), st.sampled_from([CONFIGS, CURVES]), st.floats(0.0, 0.99))
def test_any_truncation_is_a_table_format_error(spec, fname, keep):
    with tempfile.TemporaryDirectory() as d:
        path = _write(Path(d), spec)
        f = path / fname
        data = f.read_bytes()
        f.write_bytes(data[: int(keep * len(data))])
        with pytest.raises(TableFormatError, match="truncated"):
            read_table(path)
        shutil.rmtree(path)


@SETTINGS
@given(st.integers(-5, 60), st.integers(-3, 8))
def test_batch_rejects_what_query_rejects(synthetic_bench, cid, fid):
    b = synthetic_bench
    ok_c = 0 <= cid < b.n_configs
    ok_f = fid in b.fidelity.values
    if ok_c and ok_f:
        r = b.query(cid, fidelity=fid)
        assert b.query_batch(np.array([cid]), np.array([fid])).metrics[b.objective][0] == np.float32(
            r[b.objective]
        )
    else:
        with pytest.raises(ValueError):
            b.query(cid, fidelity=fid)
        with pytest.raises(ValueError):
            b.query_batch(np.array([cid]), np.array([fid]))


def test_any_exception_while_reading_a_damaged_file_is_a_table_format_error(tmp_path, monkeypatch):
    """Found by the property above: a flipped byte in configs.parquet's pandas metadata ('int32' -> 'jnt32') made
    pandas raise a TypeError. Whatever a parser raises on a damaged file, the reader answers with a
    TableFormatError naming the file (from the checksums)."""
    import benchmarks.table as table_mod
    from benchmarks.synthetic import make_synthetic_table

    path = make_synthetic_table(tmp_path / "t", n_configs=12, n_seeds=1, n_epochs=2)
    f = path / CONFIGS
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 1
    f.write_bytes(bytes(data))

    def parser_fails(*a, **k):
        raise TypeError("data type 'jnt32' not understood")

    monkeypatch.setattr(table_mod, "_read_data", parser_fails)
    with pytest.raises(TableFormatError, match=r"configs\.parquet: checksum mismatch"):
        read_table(path)
