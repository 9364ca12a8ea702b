"""One synthetic-table generator with presets: the shorthands are the presets, bad settings are named."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.spaces import toy_space
from benchmarks.synthetic import PRESETS, write_synthetic_table
from benchmarks.table import read_manifest, read_table, table_checksum
from runners.testing import write_toy_table
from surrogates.synthetic import synthetic_table


def test_the_shorthands_write_the_presets_tables(tmp_path):
    a = write_toy_table(tmp_path / "a", n_configs=5, seeds=(0, 3), rng_seed=2)
    b = write_synthetic_table(tmp_path / "b", "toy", n_configs=5, seeds=(0, 3), seed=2)
    assert table_checksum(read_manifest(a)) == table_checksum(read_manifest(b))
    c = synthetic_table(tmp_path / "c", n_configs=20, n_seeds=2, n_epochs=4, seed=1)
    d = write_synthetic_table(tmp_path / "d", "mlp", n_configs=20, seeds=2, fidelities=4, seed=1)
    assert table_checksum(read_manifest(c)) == table_checksum(read_manifest(d))


def test_toy_numbers_follow_the_rule(tmp_path):
    t = read_table(write_synthetic_table(tmp_path / "t", "toy", fidelities=(1, 2), cost_per_unit=[2.0] * 6))
    assert t.fidelity.values == (1.0, 2.0) and t.seeds == (0, 1)
    np.testing.assert_allclose(t.cost[:, :, 1], 4.0)
    v = t.metric_values("valid_loss")
    np.testing.assert_allclose(v[:, 1] - v[:, 0], 1e-3, atol=1e-6)  # the seed index in the last digits


def test_every_preset_writes_a_readable_table(tmp_path):
    for name in PRESETS:
        t = read_table(write_synthetic_table(tmp_path / name, name, n_configs=4, seeds=1, fidelities=2))
        assert t.shape[1:] == (1, 2) and t.manifest["provenance"]["preset"] == name


def test_bad_settings_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown synthetic-table preset 'nope'; allowed: mixed, grid"):
        write_synthetic_table(tmp_path / "x", "nope")
    with pytest.raises(ValueError, match="preset 'toy' makes its own space"):
        write_synthetic_table(tmp_path / "x", "toy", space=toy_space())
    with pytest.raises(ValueError, match=r"fidelities \[1.5\]: this preset's fidelities are ints"):
        write_synthetic_table(tmp_path / "x", "mixed", fidelities=[1.5])
    assert not (tmp_path / "x").exists()
