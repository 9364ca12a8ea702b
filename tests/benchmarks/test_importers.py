"""The importer interface: a new source of published tables is three methods; caching, re-conversion when the
source changes, and loading are shared."""

from __future__ import annotations

from pathlib import Path

import ConfigSpace as CS
import numpy as np
import pandas as pd
import pytest

from benchmarks.importers import Importer, get, load, names, register
from benchmarks.importers.base import SOURCE_CHECKSUM
from benchmarks.io import sha256_file
from benchmarks.protocol import CurveBenchError, Fidelity, Metric
from benchmarks.table import TableSpec, read_manifest, write_table


class CsvImporter(Importer):
    """A published table as a CSV of (lr, seed, epoch, loss, seconds): the smallest honest importer."""

    name = "toy-csv"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conversions = 0

    @property
    def datasets(self) -> tuple[str, ...]:
        return ("a",)

    def table_name(self, dataset: str) -> str:
        return f"pub-toy-{dataset}"

    def source_file(self, dataset: str) -> Path:
        self.check_dataset(dataset)
        return self.root / f"{dataset}.csv"

    def convert(self, dataset: str, out: Path, *, overwrite: bool = False) -> Path:
        self.conversions += 1
        src = self.source_file(dataset)
        df = pd.read_csv(src)
        lrs, seeds, epochs = sorted(df.lr.unique()), sorted(df.seed.unique()), sorted(df.epoch.unique())
        cube = df.set_index(["lr", "seed", "epoch"]).sort_index()
        values = cube["loss"].to_numpy(np.float32).reshape(len(lrs), len(seeds), len(epochs))
        cost = cube["seconds"].to_numpy(np.float32).reshape(len(lrs), len(seeds), len(epochs))
        space = CS.ConfigurationSpace(name=self.table_name(dataset))
        space.add(CS.OrdinalHyperparameter("lr", [float(x) for x in lrs]))
        return write_table(
            out,
            TableSpec(
                name=self.table_name(dataset),
                space=space,
                fidelity=Fidelity("epoch", tuple(int(e) for e in epochs), unit="epochs"),
                metrics=[Metric("valid_loss", "minimize", 0.0, np.inf, "valid")],
                objective="valid_loss",
                test_objective=None,
                seeds=[int(s) for s in seeds],
                description="toy published table",
                provenance={"generator": "tests.test_importers", SOURCE_CHECKSUM: sha256_file(src)},
            ),
            configs=pd.DataFrame({"lr": [float(x) for x in lrs]}),
            values={"valid_loss": values},
            cost=cost,
            overwrite=overwrite,
        )


def _csv(path: Path, shift: float = 0.0) -> None:
    rows = [
        (lr, s, e, 1.0 / e + lr + shift + 0.01 * s, 0.5 * e)
        for lr in (0.1, 0.01)
        for s in (0, 1)
        for e in (1, 2, 3)
    ]
    pd.DataFrame(rows, columns=["lr", "seed", "epoch", "loss", "seconds"]).to_csv(path, index=False)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("CURVEBENCH_CACHE", str(tmp_path / "cache"))
    _csv(tmp_path / "a.csv")
    imp = CsvImporter(tmp_path)
    from benchmarks.importers import base

    monkeypatch.setitem(base._REGISTRY, imp.name, imp)
    return imp


def test_a_registered_importer_converts_once_caches_and_loads(toy):
    assert "toy-csv" in names() and get("toy-csv") is toy
    b = load("toy-csv", "a")
    assert b.name == "pub-toy-a" and len(b.table.configs) == 2 and toy.conversions == 1
    assert toy.cached_path("a").parent.parent.name == "cache"
    load("toy-csv", "a")
    assert toy.conversions == 1  # cached
    np.testing.assert_allclose(b.query({"lr": 0.1}, fidelity=3, seed=0)["valid_loss"], 1 / 3 + 0.1, rtol=1e-6)


def test_a_changed_source_file_is_converted_again(toy, tmp_path):
    load("toy-csv", "a")
    _csv(tmp_path / "a.csv", shift=1.0)
    b = load("toy-csv", "a")
    assert toy.conversions == 2
    assert read_manifest(toy.cached_path("a"))["provenance"][SOURCE_CHECKSUM] == sha256_file(
        tmp_path / "a.csv"
    )
    np.testing.assert_allclose(b.query({"lr": 0.1}, fidelity=3, seed=0)["valid_loss"], 1 / 3 + 1.1, rtol=1e-6)


def test_bad_names_and_incomplete_importers_are_refused(toy):
    with pytest.raises(CurveBenchError, match=r"unknown toy-csv dataset 'b'; allowed: a"):
        load("toy-csv", "b")
    with pytest.raises(CurveBenchError, match=r"unknown published source 'nope'; allowed: .*hpolib"):
        get("nope")
    with pytest.raises(ValueError, match="already registered"):
        register(CsvImporter(Path(".")))

    class Half(Importer):
        name = "half"

    with pytest.raises(TypeError, match="abstract"):
        Half()


def test_the_shipped_published_sources_are_importers():
    assert {"hpolib", "hpobench", "nasbench201"} <= set(names())
    assert get("hpolib").table_name("naval_propulsion") == "pub-fcnet-naval"
    assert "naval_propulsion" in get("hpolib").datasets
