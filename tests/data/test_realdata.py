"""Tests on the real datasets and the shipped tables (marked realdata; skipped where the data root lacks them)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.io import data_root, shipped_tables_dir
from benchmarks.table import read_table
from data.datasets import DATASETS, dataset_files, load_splits
from data.recipes import TABLES
from data.verify import cheapest_rows, compare, on_recording_cpu

pytestmark = pytest.mark.realdata


def _present(name: str) -> bool:
    return all((data_root() / f.path).is_file() for f in DATASETS[name].files)


def _need(name: str) -> None:
    if not _present(name):
        pytest.skip(
            f"dataset {name!r} is not under the data root {data_root()} "
            f"(set CURVEBENCH_DATA_ROOT, or fetch it: python -m data.datasets download names={name})"
        )


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize(
    "name,features,train_rows",
    [
        # naval: 16 columns, x8 dropped as constant; x11 (also constant) survives float rounding (docs/data.md)
        ("naval", 15, 7160),
        ("parkinsons", 20, 3525),
        ("protein", 9, 27438),
    ],
)
def test_fcnet_datasets_load_as_in_the_paper(name, features, train_rows):
    _need(name)
    d = load_splits(name, split_seed=0)
    assert d.n_features == features and len(d.y_train) == train_rows
    assert np.isfinite(d.x_train).all() and abs(float(d.y_train.mean())) < 1e-4


@pytest.mark.parametrize("name", [n for n, s in DATASETS.items() if s.files])
def test_every_real_file_matches_its_pinned_checksum(name):
    _need(name)
    assert len(dataset_files(name)) == len(DATASETS[name].files)


@pytest.mark.parametrize("name", ["australian", "credit_g", "vehicle", "mnist_5k"])
def test_classification_sets_load(name):
    _need(name)
    d = load_splits(name, split_seed=0)
    assert d.n_classes >= 2 and set(np.unique(d.y_train)) == set(range(d.n_classes))


def _table_or_skip(name: str):
    path = shipped_tables_dir() / name
    if not (path / "manifest.json").is_file():
        pytest.skip(f"table {name} is not generated yet (python -m data.build tables={name})")
    _need(TABLES[name]["dataset"])
    return path


@pytest.mark.parametrize("name", [n for n in TABLES if n.startswith("lcbench")])
def test_lcbench_table_rows_match_a_live_rerun(name):
    path = _table_or_skip(name)
    seed = read_table(path, verify=False).seeds[0]
    for cid in cheapest_rows(path, 2):
        assert compare(path, cid, seed) < 1e-3


@pytest.mark.parametrize("name", [n for n in TABLES if n.startswith("fcnet")])
def test_fcnet_table_rows_match_a_live_rerun_first_epoch(name):
    """On any CPU: the first epoch re-trained live matches the table (same data, split, init, dropout, steps)."""
    path = _table_or_skip(name)
    seed = read_table(path, verify=False).seeds[0]
    for cid in cheapest_rows(path, 2):
        assert compare(path, cid, seed, epochs=1) < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in TABLES if n.startswith("fcnet")])
def test_fcnet_table_rows_match_a_live_rerun(name):
    """On the recording CPU: all 100 epochs re-trained live match the table."""
    path = _table_or_skip(name)
    same, here, cpus = on_recording_cpu(path)
    if not same:
        pytest.skip(
            f"{name} was recorded on {cpus}, this CPU is {here!r}: a 100-epoch FCNet run reproduces to "
            f"float rounding only on the recording CPU (the first epoch is checked everywhere)"
        )
    seed = read_table(path, verify=False).seeds[0]
    for cid in cheapest_rows(path, 2):
        assert compare(path, cid, seed) < 1e-3


def test_naval_revision_2_predicts_the_compressor_decay_as_the_published_fcnet_tables():
    """Revision 2 reads column 17 (GT compressor decay), revision 1 the last column (GT turbine decay).

    The published FCNet naval table was trained on the compressor coefficient: on its best configurations
    our protocol matches it only with that target (docs/data.md, 'Faithfulness to the published FCNet tables').
    """
    _need("naval")
    raw = np.loadtxt(dataset_files("naval")[0])
    new, old = load_splits("naval"), load_splits("naval", revision=1)
    assert new.provenance["revision"] == 2 and old.provenance["revision"] == 1
    assert "compressor" in new.provenance["source"] and "turbine" in old.provenance["source"]
    from data.datasets import split_indices

    train = split_indices(len(raw), split_seed=0)[0]
    for splits, col in ((new, 16), (old, 17)):
        ts = splits.provenance["target_standardization"]
        y = splits.y_train.astype(np.float64) * ts["std"] + ts["mean"]
        np.testing.assert_allclose(y, raw[train, col], atol=1e-6)
        assert np.abs(y - raw[train, 33 - col]).max() > 1e-3  # not the other coefficient
    np.testing.assert_array_equal(new.x_train, old.x_train)  # the features are the same


def test_a_table_is_retrained_on_the_dataset_revision_it_records_and_none_means_revision_1():
    """fcnet-naval: revision 1 (turbine target) and revision 2 (compressor) train differently from the first epoch,
    so the re-run of a table's first row matches the table only on the revision the table records."""
    import copy

    from data.verify import retrain, sweep_settings

    path = _table_or_skip("fcnet-naval")
    _need("naval")
    table = read_table(path)
    recorded = sweep_settings(table).get("dataset_revision", 1)
    seed = table.seeds[0]
    stored = table.arrays["valid_mse"][0, 0, 0]
    got = retrain(table, 0, seed, epochs=1)
    np.testing.assert_allclose(got["valid_mse"][..., 0].reshape(-1)[0], stored, rtol=1e-4)
    other = copy.copy(table)  # the same table, its recorded revision flipped: 1 <-> 2 (no key means 1)
    other.manifest = copy.deepcopy(table.manifest)
    sweep = other.manifest["provenance"]["sweep"]
    if recorded == 1:
        sweep["dataset_revision"] = 2
    else:
        sweep.pop("dataset_revision")
    flipped = retrain(other, 0, seed, epochs=1)["valid_mse"][..., 0].reshape(-1)[0]
    assert abs(flipped - stored) > 1e-3 * abs(stored), "the other revision trained to the same value"
