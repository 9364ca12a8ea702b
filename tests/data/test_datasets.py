"""Datasets: splits, preprocessing, checksums, clear errors for missing files, the download helper."""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error
import zipfile

import numpy as np
import pandas as pd
import pytest

from data import datasets as ds
from data.datasets import DataFile, DatasetError, DatasetMissingError, DatasetSpec, load_splits


def test_split_sizes_standardization_and_determinism():
    a = load_splits("diabetes", split_seed=3)
    n = 442
    assert (len(a.y_train), len(a.y_valid), len(a.y_test)) == (265, 88, 89)
    assert len(a.y_train) + len(a.y_valid) + len(a.y_test) == n
    np.testing.assert_allclose(a.x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(a.x_train.std(0), 1, atol=1e-4)
    assert abs(a.y_train.mean()) < 1e-5 and abs(a.y_train.std() - 1) < 1e-4
    b = load_splits("diabetes", split_seed=3)
    np.testing.assert_array_equal(a.x_valid, b.x_valid)
    c = load_splits("diabetes", split_seed=4)
    assert not np.array_equal(a.y_test, c.y_test)


def test_classification_split_is_stratified():
    d = load_splits("breast_cancer", split_seed=0)
    assert d.n_classes == 2 and d.y_train.dtype == np.int64
    rates = [np.mean(y) for y in (d.y_train, d.y_valid, d.y_test)]
    assert max(rates) - min(rates) < 0.03


def _fake_root(tmp_path, monkeypatch, files: dict[str, bytes]) -> None:
    for rel, payload in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(payload)
    monkeypatch.setenv("CURVEBENCH_DATA_ROOT", str(tmp_path))


def test_missing_file_names_file_and_remedy(tmp_path, monkeypatch):
    monkeypatch.setenv("CURVEBENCH_DATA_ROOT", str(tmp_path))
    with pytest.raises(DatasetMissingError) as e:
        load_splits("naval")
    msg = str(e.value)
    assert "uci/naval-propulsion-plant.txt.gz" in msg and str(tmp_path) in msg
    assert "python -m data.datasets download names=naval" in msg and "CURVEBENCH_DATA_ROOT" in msg


def test_wrong_checksum_is_refused(tmp_path, monkeypatch):
    _fake_root(tmp_path, monkeypatch, {"uci/naval-propulsion-plant.txt.gz": gzip.compress(b"1 2 3\n")})
    with pytest.raises(DatasetError, match="sha256"):
        load_splits("naval")


def _pmlb_like(tmp_path, monkeypatch) -> DatasetSpec:
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "cat": rng.integers(0, 4, n),
            "bin": rng.integers(0, 2, n),
            "const": np.ones(n),
            "target": rng.integers(0, 3, n) * 5,
        }
    )
    data = gzip.compress(df.to_csv(sep="\t", index=False).encode(), mtime=0)
    meta = (
        b"features:\n  - name: num\n    type: continuous\n  - name: cat\n    type: categorical\n"
        b"  - name: bin\n    type: categorical\n  - name: const\n    type: continuous\n"
    )
    _fake_root(tmp_path, monkeypatch, {"fake/fake.tsv.gz": data, "fake/metadata.yaml": meta})
    spec = DatasetSpec(
        "fake",
        "classification",
        (
            DataFile("fake/fake.tsv.gz", hashlib.sha256(data).hexdigest(), "https://example.org/f"),
            DataFile("fake/metadata.yaml", hashlib.sha256(meta).hexdigest(), "https://example.org/m"),
        ),
        ds._read_pmlb,
        ds._pmlb_categorical,
    )
    monkeypatch.setitem(ds.DATASETS, "fake", spec)
    return spec


def test_integer_coded_categoricals_are_one_hot(tmp_path, monkeypatch):
    _pmlb_like(tmp_path, monkeypatch)
    d = load_splits("fake", split_seed=0)
    assert d.n_classes == 3 and set(np.unique(d.y_train)) == {0, 1, 2}  # labels 0, 5, 10 -> 0, 1, 2
    assert [f for f in d.feature_names if f.startswith("cat=")] == ["cat=0", "cat=1", "cat=2", "cat=3"]
    assert "bin" in d.feature_names and "const" not in d.feature_names
    assert d.provenance["dropped_constant_features"] == ["const"]


def test_download_verifies_and_fails_clearly_offline(tmp_path, monkeypatch):
    spec = _pmlb_like(tmp_path, monkeypatch)
    good = {f.url: (tmp_path / f.path).read_bytes() for f in spec.files}
    for f in spec.files:
        (tmp_path / f.path).unlink()

    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    with pytest.raises(DatasetMissingError, match="could not download https://example.org/f"):
        ds.download("fake", opener=offline)

    def serve(payloads):
        def opener(url, timeout):
            return io.BytesIO(payloads[url])

        return opener

    bad = {**good, "https://example.org/f": b"tampered"}
    with pytest.raises(DatasetError, match="sha256"):
        ds.download("fake", opener=serve(bad))
    assert not (tmp_path / "fake/fake.tsv.gz").exists()  # nothing written
    paths = ds.download("fake", opener=serve(good))
    assert [p.read_bytes() for p in paths] == list(good.values())
    assert load_splits("fake").n_classes == 3


def test_download_unpacks_a_zip_member_and_checks_its_content(tmp_path, monkeypatch):
    content = b"1 2 3\n4 5 6\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("folder/data.txt", content)
    stored = gzip.compress(content, mtime=0)
    f = DataFile(
        "z/data.txt.gz",
        hashlib.sha256(stored).hexdigest(),
        "https://example.org/z.zip",
        source="zip:folder/data.txt",
        content_sha256=hashlib.sha256(content).hexdigest(),
    )
    monkeypatch.setitem(
        ds.DATASETS, "zipped", DatasetSpec("zipped", "regression", (f,), ds._read_whitespace([0, 1], 2))
    )
    monkeypatch.setenv("CURVEBENCH_DATA_ROOT", str(tmp_path))
    ds.download("zipped", opener=lambda url, timeout: io.BytesIO(buf.getvalue()))
    assert gzip.decompress((tmp_path / "z/data.txt.gz").read_bytes()) == content
    x, y, _ = ds.load_raw("zipped")
    np.testing.assert_array_equal(y, [3, 6])
    # a source that changed shape (not a zip, or the member gone) is a clear error, and nothing is written
    (tmp_path / "z/data.txt.gz").unlink()
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("folder/renamed.txt", content)
    for payload in (b"<html>moved</html>", other.getvalue()):
        with pytest.raises(DatasetError, match="https://example.org/z.zip is not what 'zip:folder/data.txt'"):
            ds.download("zipped", opener=lambda url, timeout, p=payload: io.BytesIO(p))
        assert not (tmp_path / "z/data.txt.gz").exists()


def test_casp_conversion_moves_target_last():
    raw = b"RMSD,F1,F2\n17.284,13558.3,4305.35\n6.021,6191.96,1623.16\n"
    assert ds._to_content("casp", raw) == b"13558.3 4305.35 17.284\n6191.96 1623.16 6.021\n"


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(DatasetError, match="unknown dataset 'nope'; known: protein, naval"):
        load_splits("nope")


def test_training_fractions_are_nested_stratified_and_fixed():
    full = load_splits("digits", split_seed=3)
    subsets = {}
    for k in (27, 9, 3):
        s = load_splits("digits", split_seed=3, train_fraction=1 / k)
        again = load_splits("digits", split_seed=3, train_fraction=1 / k)
        np.testing.assert_array_equal(s.x_train, again.x_train)
        # valid and test are whole and unchanged; only the training rows shrink
        np.testing.assert_array_equal(s.y_valid, full.y_valid)
        np.testing.assert_array_equal(s.y_test, full.y_test)
        assert s.provenance["rows"]["train"] == round(len(full.y_train) / k)
        assert s.provenance["train_fraction"] == pytest.approx(1 / k)
        # each class holds its share of the rows, up to one row
        share = np.bincount(s.y_train, minlength=10) / len(s.y_train)
        expect = np.bincount(full.y_train, minlength=10) / len(full.y_train)
        assert np.all(np.abs(share - expect) * len(s.y_train) <= 1 + 1e-9)
        subsets[k] = set(
            ds.nested_train_subset(
                np.arange(len(full.y_train)), 1 / k, split_seed=3, strata=full.y_train
            ).tolist()
        )
    assert subsets[27] < subsets[9] < subsets[3]
    other = ds.nested_train_subset(np.arange(len(full.y_train)), 1 / 9, split_seed=4, strata=full.y_train)
    assert set(other.tolist()) != subsets[9]  # another split seed draws another order
    with pytest.raises(DatasetError, match=r"train_fraction=1.5 must be in \(0, 1\]"):
        ds.nested_train_subset(np.arange(10), 1.5, split_seed=0)
