"""The LCDB 1.0 importer: learning curves over the training-set size, the learner as the configuration.

The converter is tested on a small CSV written here in LCDB's layout, so it runs without the optional
package; the tests of the real curves run where the extra ``lcdb`` is installed and skip with the reason
otherwise.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import benchmarks
from benchmarks import catalog
from benchmarks.importers import base, get, load
from benchmarks.importers.base import SOURCE_CHECKSUM
from benchmarks.importers.lcdb import (
    COLUMNS,
    DATASETS,
    LEARNERS,
    LcdbImporter,
    convert_dataset,
    installed_source,
    seed_of,
    seed_pair,
)
from benchmarks.io import sha256_file
from benchmarks.protocol import CurveBenchError, TableFormatError
from benchmarks.table import read_manifest, read_table

ANCHORS = (16, 23, 40)
PAIRS = ((0, 0), (1, 3))
OPENML_ID = 7

HAVE_LCDB = importlib.util.find_spec("lcdb") is not None
needs_lcdb = pytest.mark.skipif(
    not HAVE_LCDB,
    reason="the optional extra lcdb (the LCDB 1.0 curves) is not installed: pip install -e '.[lcdb]'",
)


def _score(j: int, outer: int, inner: int, anchor: int, split: int) -> float:
    return round(0.5 + 0.01 * j + 0.001 * (outer + inner) + anchor / 1000 - 0.01 * split, 4)


def _time(j: int, outer: int, inner: int, anchor: int) -> float:
    # learner 1 fits faster at the second anchor than at the first: the cost must not follow it down
    return 0.02 if (j == 1 and anchor == 23) else round(0.001 * (j + 1) * anchor + 0.0001 * outer, 4)


def _rows(openml_id: int = OPENML_ID) -> list[dict]:
    return [
        {
            "openmlid": openml_id,
            "learner": learner,
            "size_train": anchor,
            "size_test": 50,
            "outer_seed": outer,
            "inner_seed": inner,
            "traintime": _time(j, outer, inner, anchor),
            "score_train": _score(j, outer, inner, anchor, 0),
            "score_valid": _score(j, outer, inner, anchor, 1),
            "score_test": _score(j, outer, inner, anchor, 2),
        }
        for j, learner in enumerate(LEARNERS)
        for outer, inner in PAIRS
        for anchor in ANCHORS
    ]


def _write(path: Path, rows: list[dict]) -> Path:
    # LCDB's CSV, rows shuffled (the converter must not depend on the file's order), and another dataset's rows
    frame = pd.DataFrame([*rows, *_rows(openml_id=99)[:5]], columns=list(COLUMNS))
    frame.sample(frac=1.0, random_state=0).to_csv(path, index=False)
    return path


@pytest.fixture
def csv_file(tmp_path) -> Path:
    return _write(tmp_path / "database-accuracy.csv", _rows())


@pytest.fixture
def toy(tmp_path, csv_file, monkeypatch) -> LcdbImporter:
    """The fixture CSV as the registered LCDB source, caching into a temporary folder."""
    monkeypatch.setenv("CURVEBENCH_CACHE", str(tmp_path / "cache"))
    imp = LcdbImporter(source=csv_file, datasets={"toy": OPENML_ID})
    monkeypatch.setitem(base._REGISTRY, "lcdb", imp)
    return imp


def test_conversion_gives_the_learner_space_the_train_size_fidelity_and_the_seed_pairs(tmp_path, csv_file):
    t = read_table(convert_dataset(csv_file, "toy", OPENML_ID, tmp_path / "t"))
    assert t.name == "pub-lcdb-toy"
    assert list(t.space) == ["learner"]
    assert list(t.space["learner"].choices) == list(LEARNERS)
    assert list(t.configs["learner"]) == list(LEARNERS)
    assert (t.fidelity.name, t.fidelity.values, t.fidelity.unit) == ("train_size", ANCHORS, "instances")
    assert t.fidelity.incremental is False  # a learner fitted on more data is fitted again
    assert t.seeds == (0, 103)
    assert t.metric_names == ["train_accuracy", "valid_accuracy", "test_accuracy", "fit_time"]
    m = t.manifest
    assert (m["objective"], m["test_objective"]) == ("valid_accuracy", "test_accuracy")
    assert m["task"] == {
        "dataset": "toy",
        "openml_id": OPENML_ID,
        "source": "lcdb",
        "task_type": "classification",
        "test_size": 50,
    }
    assert m["provenance"][SOURCE_CHECKSUM] == sha256_file(csv_file)
    assert "not summed over smaller anchors" in m["provenance"]["cost_note"]
    assert "100 * outer_seed + inner_seed" in m["provenance"]["seeds_note"]


def test_every_value_is_the_csv_row_of_its_learner_seed_pair_and_anchor(tmp_path, csv_file):
    t = read_table(convert_dataset(csv_file, "toy", OPENML_ID, tmp_path / "t"))
    for j in range(len(LEARNERS)):
        for s, (outer, inner) in enumerate(PAIRS):
            for f, anchor in enumerate(ANCHORS):
                got = [t.metric_values(name)[j, s, f] for name in t.metric_names]
                want = [
                    *(_score(j, outer, inner, anchor, k) for k in range(3)),
                    _time(j, outer, inner, anchor),
                ]
                np.testing.assert_allclose(got, want, rtol=1e-6)


def test_the_cost_is_the_fit_time_at_the_anchor_never_summed_and_never_decreasing(tmp_path, csv_file):
    t = read_table(convert_dataset(csv_file, "toy", OPENML_ID, tmp_path / "t"))
    fit = t.metric_values("fit_time")
    # learner 0: the fit time grows with the anchor, and the cost is that time (not the sum over anchors)
    np.testing.assert_allclose(t.cost[0, 0], fit[0, 0], rtol=1e-6)
    np.testing.assert_allclose(t.cost[0, 0], [0.016, 0.023, 0.040], rtol=1e-6)
    # learner 1 fitted faster at 23 than at 16: the cost keeps the running maximum, fit_time the published value
    np.testing.assert_allclose(fit[1, 0], [0.032, 0.02, 0.08], rtol=1e-6)
    np.testing.assert_allclose(t.cost[1, 0], [0.032, 0.032, 0.08], rtol=1e-6)
    assert np.all(np.diff(t.cost, axis=-1) >= 0)
    assert np.all(t.cost >= fit)
    raised = read_manifest(t.path)["provenance"]["cost_raised_s"]
    assert raised == pytest.approx(float(np.sum(t.cost - fit)), abs=1e-4)


def test_a_decreasing_fit_time_raises_the_cost_to_its_running_maximum(tmp_path):
    rows = _rows()
    for r in rows:  # learner 2, seed pair (0, 0): fitting on 23 instances takes less than on 16
        if r["learner"] == LEARNERS[2] and (r["outer_seed"], r["inner_seed"]) == (0, 0):
            r["traintime"] = {16: 0.5, 23: 0.2, 40: 0.7}[r["size_train"]]
    src = _write(tmp_path / "d.csv", rows)
    t = read_table(convert_dataset(src, "toy", OPENML_ID, tmp_path / "t"))
    np.testing.assert_allclose(t.metric_values("fit_time")[2, 0], [0.5, 0.2, 0.7], rtol=1e-6)
    np.testing.assert_allclose(t.cost[2, 0], [0.5, 0.5, 0.7], rtol=1e-6)
    # 0.3 s here, and 0.012 s for each of learner 1's two seed pairs (the fixture's own dip)
    assert read_manifest(t.path)["provenance"]["cost_raised_s"] == pytest.approx(0.324, abs=1e-4)


def test_the_registered_importer_converts_on_first_use_and_loads_with_checksums(toy):
    b = load("lcdb", "toy")
    assert b.name == "pub-lcdb-toy" and toy.cached_path("toy").is_dir()
    r = b.query({"learner": "SVC_rbf"}, fidelity=40, seed=103)
    j = LEARNERS.index("SVC_rbf")
    assert r.metrics["valid_accuracy"] == pytest.approx(_score(j, 1, 3, 40, 1), rel=1e-6)
    assert r.cost == pytest.approx(_time(j, 1, 3, 40), rel=1e-6)
    again = load("lcdb", "toy")
    assert (
        again.table.manifest["provenance"]["created"] == b.table.manifest["provenance"]["created"]
    )  # cached


def test_a_table_cached_by_an_earlier_conversion_is_converted_again(toy, monkeypatch):
    first = load("lcdb", "toy").table.manifest["provenance"]
    assert first["conversion_revision"] == LcdbImporter.conversion_revision
    monkeypatch.setattr(LcdbImporter, "conversion_revision", LcdbImporter.conversion_revision + 1)
    again = load("lcdb", "toy").table.manifest["provenance"]
    assert again["conversion_revision"] == LcdbImporter.conversion_revision
    assert load("lcdb", "toy").table.manifest["provenance"]["created"] == again["created"]  # cached again


def test_seeds_map_to_lcdb_seed_pairs_and_back():
    assert seed_of(0, 0) == 0 and seed_of(3, 4) == 304 and seed_of(2, 24) == 224
    assert all(seed_pair(seed_of(o, i)) == (o, i) for o in range(5) for i in range(25))
    with pytest.raises(ValueError, match=r"inner 100\) is outside the mapped range"):
        seed_of(0, 100)
    with pytest.raises(ValueError, match=r"outer -1"):
        seed_of(-1, 0)


# ---------------------------------------------------------------- bad input
def test_a_foreign_csv_is_refused_naming_the_missing_columns(tmp_path):
    src = tmp_path / "other.csv"
    pd.DataFrame({"lr": [0.1], "seed": [0], "epoch": [1], "loss": [0.5]}).to_csv(src, index=False)
    with pytest.raises(
        TableFormatError, match=r"other.csv: not an LCDB curves CSV: column\(s\) \['openmlid'"
    ):
        convert_dataset(src, "toy", OPENML_ID, tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_a_corrupted_csv_is_refused(tmp_path, csv_file):
    text = csv_file.read_text().splitlines()
    fields = text[3].split(",")
    fields[list(COLUMNS).index("size_train")] = "sixteen"
    (tmp_path / "bad.csv").write_text("\n".join([*text[:3], ",".join(fields), *text[4:]]) + "\n")
    with pytest.raises(TableFormatError, match=r"bad.csv: a value does not have its column's type"):
        convert_dataset(tmp_path / "bad.csv", "toy", OPENML_ID, tmp_path / "t")
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(TableFormatError, match=r"bin.csv: not an LCDB curves CSV"):
        convert_dataset(tmp_path / "bin.csv", "toy", OPENML_ID, tmp_path / "t")
    cut = "\n".join(text)
    (tmp_path / "cut.csv").write_text(cut[: cut.rindex(",")])  # truncated inside the last row
    with pytest.raises(
        TableFormatError, match=rf"^\S+cut.csv: line {len(text)} has no value for \['score_test'\]"
    ):
        convert_dataset(tmp_path / "cut.csv", "toy", OPENML_ID, tmp_path / "t")


def test_incomplete_duplicated_and_unknown_rows_are_named(tmp_path):
    rows = _rows()
    gone = next(i for i, r in enumerate(rows) if r["learner"] == "SVC_poly" and r["size_train"] == 23)
    src = _write(tmp_path / "gap.csv", rows[:gone] + rows[gone + 1 :])
    with pytest.raises(
        TableFormatError,
        match=r"incomplete curves: 119 rows, expected 20 learners x 2 seed pairs x 3 anchors = 120; the first "
        r"missing is learner SVC_poly, outer seed 0, inner seed 0, size_train 23",
    ):
        convert_dataset(src, "toy", OPENML_ID, tmp_path / "t")
    src = _write(tmp_path / "dup.csv", [*rows, rows[5]])
    with pytest.raises(TableFormatError, match=r"appears more than once"):
        convert_dataset(src, "toy", OPENML_ID, tmp_path / "t")
    src = _write(tmp_path / "new.csv", [*rows, {**rows[0], "learner": "xgboost.XGBClassifier"}])
    with pytest.raises(
        TableFormatError, match=r"unknown learner\(s\) \['xgboost.XGBClassifier'\]; allowed: SVC_linear"
    ):
        convert_dataset(src, "toy", OPENML_ID, tmp_path / "t")
    src = _write(tmp_path / "neg.csv", [{**r, "traintime": -1.0} if r is rows[7] else r for r in rows])
    with pytest.raises(TableFormatError, match=r"traintime -1.0 of learner .*a fit time is a finite number"):
        convert_dataset(src, "toy", OPENML_ID, tmp_path / "t")
    src = _write(tmp_path / "acc.csv", [{**r, "score_valid": 1.5} if r is rows[7] else r for r in rows])
    with pytest.raises(TableFormatError, match=r"valid_accuracy.*outside its declared bounds \[0.0, 1.0\]"):
        convert_dataset(src, "toy", OPENML_ID, tmp_path / "t")
    with pytest.raises(TableFormatError, match=r"no rows of OpenML dataset 12345"):
        convert_dataset(tmp_path / "acc.csv", "toy", 12345, tmp_path / "t")


def test_unknown_datasets_and_a_missing_source_are_named(toy, tmp_path):
    with pytest.raises(CurveBenchError, match=r"unknown lcdb dataset 'nope'; allowed: toy"):
        load("lcdb", "nope")
    with pytest.raises(CurveBenchError, match=r"LCDB curves file .*missing.csv does not exist"):
        LcdbImporter(source=tmp_path / "missing.csv", datasets={"toy": 1}).source_file("toy")


def test_without_the_package_the_source_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "lcdb" else real(name, *a)
    )
    with pytest.raises(
        CurveBenchError, match=r"PyPI package lcdb, which is not installed; run `pip install -e '\.\[lcdb\]'`"
    ):
        installed_source()
    ok, why = catalog.is_available("pub-lcdb-australian")
    assert not ok and "pip install -e '.[lcdb]'" in why
    assert catalog.is_available("pub-fcnet-naval")[0]


# ---------------------------------------------------------------- the catalog
def test_the_catalog_lists_every_lcdb_dataset_with_the_importer_loader():
    lcdb_names = {n for n in catalog.names("published") if n.startswith("pub-lcdb-")}
    assert lcdb_names == {f"pub-lcdb-{d}" for d in DATASETS}
    assert len(DATASETS) == 18 and len(set(DATASETS.values())) == 18
    for d in DATASETS:
        e = catalog.entry(f"pub-lcdb-{d}")
        assert e.target == "benchmarks.importers:load" and e.kind == "published"
        assert dict(e.kwargs) == {"source": "lcdb", "dataset": d}
        assert e.requires == ("lcdb", "lcdb")
    assert get("lcdb").table_name("fried") == "pub-lcdb-fried"


# ---------------------------------------------------------------- the real curves (optional extra lcdb)
@needs_lcdb
def test_a_real_table_converts_loads_verified_and_answers_the_csv_row(tmp_path, monkeypatch):
    monkeypatch.setenv("CURVEBENCH_CACHE", str(tmp_path / "cache"))
    src = installed_source()
    b = benchmarks.load(
        "pub-lcdb-australian", cache=False
    )  # converted now, read back with checksums verified
    m = b.table.manifest
    assert m["provenance"][SOURCE_CHECKSUM] == sha256_file(src)
    assert m["task"]["openml_id"] == 40981 and len(b.table.configs) == 20 and len(b.seeds) == 25
    assert b.fidelity.name == "train_size" and b.fidelity.values[0] == 16
    prefix = "40981,sklearn.ensemble.RandomForestClassifier,128,"
    with open(src, newline="") as f:
        header = next(csv.reader(f))
        lines = (line for line in f if line.startswith(prefix))
        row = next(
            r
            for r in csv.DictReader(lines, fieldnames=header)
            if (r["outer_seed"], r["inner_seed"]) == ("2", "3")
        )
    res = b.query({"learner": "sklearn.ensemble.RandomForestClassifier"}, fidelity=128, seed=seed_of(2, 3))
    for col, metric in [
        ("score_train", "train_accuracy"),
        ("score_valid", "valid_accuracy"),
        ("score_test", "test_accuracy"),
        ("traintime", "fit_time"),
    ]:
        assert res.metrics[metric] == pytest.approx(float(row[col]), rel=1e-6)
    assert res.cost >= float(row["traintime"]) - 1e-6


@needs_lcdb
def test_the_catalog_datasets_are_the_complete_uniquely_named_ones_with_twelve_anchors():
    src = installed_source()
    usecols = ["openmlid", "learner", "size_train", "outer_seed", "inner_seed"]
    df = pd.read_csv(src, usecols=usecols)
    names = pd.read_csv(src.parent / "datasets.csv", usecols=["openmlid", "Name"]).dropna()
    names["key"] = names["Name"].str.lower().str.replace(r"[^a-z0-9_]", "_", regex=True)
    unique = names[~names["key"].duplicated(keep=False)].set_index("openmlid")["key"]
    g = df.groupby("openmlid")
    stats = pd.DataFrame(
        {
            "rows": g.size(),
            "learners": g["learner"].nunique(),
            "anchors": g["size_train"].nunique(),
            "pairs": g[["outer_seed", "inner_seed"]].apply(lambda d: len(d.drop_duplicates())),
        }
    )
    complete = stats[
        (stats.learners == len(LEARNERS))
        & (stats.rows == stats.learners * stats.anchors * stats.pairs)
        & (stats.anchors >= 12)
    ]
    chosen = {unique[i]: int(i) for i in complete.index if i in unique.index}
    assert chosen == DATASETS
