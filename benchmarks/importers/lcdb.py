"""Importer of LCDB 1.0: published learning curves over the training-set size (optional extra ``lcdb``).

LCDB 1.0 (Mohr et al. 2022) trained 20 scikit-learn classifiers, each with its default
hyperparameters, on about 250 OpenML datasets at growing training-set sizes ("anchors": 16, 23, 32,
45, 64, ..., about 2^(k/2), and the whole training set last), for 5 outer x 5 inner seeds (test and
validation splits), and recorded train, validation and test scores and the seconds to fit. The PyPI
package ``lcdb`` (source distribution only, MIT) ships them as CSV files inside the package, one per
score (``database-accuracy.csv``: 1,953,371 rows, 150 MB); nothing is downloaded at run time.

One table per dataset, for what an HPO user needs of it:

* the configuration space is the learner: one categorical hyperparameter ``learner`` over the 20
  learners, named as LCDB names them (``SVC_rbf``, ``sklearn.tree.DecisionTreeClassifier``, ...);
* the fidelity is the training-set size, ``train_size`` in instances, at LCDB's anchors;
* the seeds are LCDB's (outer seed, inner seed) pairs, seed ``100 * outer + inner`` (:func:`seed_of`);
* the metrics are the published train, validation and test accuracy and the published seconds to fit
  (``fit_time``), read from ``database-accuracy.csv`` (one source file, whose sha256 the table records);
* the cost at an anchor is the time to fit at that anchor, from scratch: a learner trained on more data
  is trained again, not continued, so the cost is **not** summed over the smaller anchors. The table
  format wants a cost that never decreases along the fidelity, and the published times at neighbouring
  anchors sometimes do (timer noise at small anchors, fewer solver iterations at larger ones), so the
  cost is the running maximum of the published time over the anchors up to this one; the provenance
  records how many seconds that adds. The fidelity is not incremental, so a run taken from one anchor
  to a larger one is charged the whole cost at the larger anchor, the refit it takes (docs/data.md,
  "Published tables: LCDB 1.0").

The catalog lists the datasets of :data:`DATASETS` as ``pub-lcdb-<dataset>``: those where every learner
has every seed pair at every anchor (complete curves), with at least 12 anchors (a largest training
set of at least 558 instances) and a name that no other LCDB dataset has (the dataset's name in LCDB's
``datasets.csv``, lowercased; several OpenML datasets share a name such as ``car`` or ``abalone``).

The CSV is read as plain data (pandas ``read_csv`` with fixed column types); the package itself is
never imported (its module imports scikit-learn and matplotlib): it is only located.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import sha256_file
from ..protocol import CurveBenchError, Fidelity, Metric, TableFormatError
from ..spaces import grid_space
from ..table import TableSpec, write_table
from .base import CONVERSION, SOURCE_CHECKSUM, Importer, register

#: the version of the PyPI package ``lcdb`` the optional extra pins (pyproject.toml)
LCDB_VERSION = "0.1.0"

#: the file the tables are converted from, inside the installed package
SOURCE_FILE = "database-accuracy.csv"

#: the columns the converter reads, with the types they are read as (any other column is ignored)
COLUMNS: dict[str, str] = {
    "openmlid": "int64",
    "learner": "string",
    "size_train": "int64",
    "size_test": "int64",
    "outer_seed": "int64",
    "inner_seed": "int64",
    "traintime": "float64",
    "score_train": "float64",
    "score_valid": "float64",
    "score_test": "float64",
}

#: the 20 learners of LCDB 1.0, as the CSV names them: the values of the ``learner`` hyperparameter, in order
LEARNERS: tuple[str, ...] = (
    "SVC_linear",
    "SVC_poly",
    "SVC_rbf",
    "SVC_sigmoid",
    "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
    "sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis",
    "sklearn.ensemble.ExtraTreesClassifier",
    "sklearn.ensemble.GradientBoostingClassifier",
    "sklearn.ensemble.RandomForestClassifier",
    "sklearn.linear_model.LogisticRegression",
    "sklearn.linear_model.PassiveAggressiveClassifier",
    "sklearn.linear_model.Perceptron",
    "sklearn.linear_model.RidgeClassifier",
    "sklearn.linear_model.SGDClassifier",
    "sklearn.naive_bayes.BernoulliNB",
    "sklearn.naive_bayes.MultinomialNB",
    "sklearn.neighbors.KNeighborsClassifier",
    "sklearn.neural_network.MLPClassifier",
    "sklearn.tree.DecisionTreeClassifier",
    "sklearn.tree.ExtraTreeClassifier",
)

#: the datasets in the catalog (``pub-lcdb-<dataset>``) and their OpenML ids; the module docstring says how
#: they were chosen
DATASETS: dict[str, int] = {
    "ada": 41156,
    "analcatdata_supreme": 728,
    "australian": 40981,
    "balloon": 914,
    "bioresponse": 4134,
    "christine": 41142,
    "colleges_aaup": 897,
    "colleges_usnews": 930,
    "cpu_act": 761,
    "cpu_small": 735,
    "fried": 901,
    "gina": 41158,
    "gina_prior": 1042,
    "houses": 823,
    "madeline": 41144,
    "madelon": 1485,
    "pol": 722,
    "wind": 847,
}

#: a seed pair's table seed is ``SEED_STRIDE * outer_seed + inner_seed``
SEED_STRIDE = 100

#: the rows read at a time: the CSV is filtered chunk by chunk, so memory holds one chunk and one dataset
_CHUNK_ROWS = 500_000

_METRICS: dict[str, Metric] = {
    "score_train": Metric(
        "train_accuracy",
        "maximize",
        0.0,
        1.0,
        "train",
        description="accuracy on the training instances of this anchor, as published",
    ),
    "score_valid": Metric(
        "valid_accuracy",
        "maximize",
        0.0,
        1.0,
        "valid",
        description="accuracy on the seed pair's validation split (the same at every anchor), as published",
    ),
    "score_test": Metric(
        "test_accuracy",
        "maximize",
        0.0,
        1.0,
        "test",
        description="accuracy on the outer seed's test split (the same at every anchor), as published",
    ),
    "traintime": Metric(
        "fit_time",
        "minimize",
        0.0,
        np.inf,
        None,
        unit="s",
        description="seconds to fit at this anchor, from scratch, as published (the cost is its running maximum)",
    ),
}

_CITATION = (
    "Mohr, F., Viering, T. J., Loog, M. and van Rijn, J. N. (2022). LCDB 1.0: An Extensive Learning Curves "
    "Database for Classification Tasks. ECML PKDD 2022"
)

_SEEDS_NOTE = (
    "seed = 100 * outer_seed + inner_seed: LCDB's outer seed draws the test split, its inner seed the "
    "validation split of the rest; the training instances of every anchor are the first ones of that rest"
)

_COST_NOTE = (
    "cost at an anchor = seconds to fit at that anchor alone, from scratch (not summed over smaller anchors: "
    "a learner trained on more data is fitted again). The published time (metric fit_time) is raised to its "
    "running maximum over the smaller anchors so that the cost never decreases. The fidelity is not "
    "incremental (manifest fidelity.incremental is false): continuing a run from one anchor to a larger one is "
    "charged the whole cost at the larger anchor, the refit it takes"
)


def seed_of(outer_seed: int, inner_seed: int) -> int:
    """The table seed of LCDB's (outer seed, inner seed) pair: ``100 * outer + inner``."""
    if not (0 <= outer_seed and 0 <= inner_seed < SEED_STRIDE):
        raise ValueError(
            f"LCDB seed pair (outer {outer_seed}, inner {inner_seed}) is outside the mapped range: "
            f"outer >= 0 and 0 <= inner < {SEED_STRIDE}"
        )
    return SEED_STRIDE * outer_seed + inner_seed


def seed_pair(seed: int) -> tuple[int, int]:
    """LCDB's (outer seed, inner seed) of a table seed (the inverse of :func:`seed_of`)."""
    return divmod(int(seed), SEED_STRIDE)


def installed_source() -> Path:
    """``database-accuracy.csv`` of the installed ``lcdb`` package, located without importing the package."""
    spec = importlib.util.find_spec("lcdb")
    if spec is None or not spec.submodule_search_locations:
        raise CurveBenchError(
            "the LCDB 1.0 tables come from the PyPI package lcdb, which is not installed; run "
            f"`pip install -e '.[lcdb]'` (or `pip install lcdb=={LCDB_VERSION}`: about 70 MB to download, "
            "480 MB installed)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise CurveBenchError(
            f"{path} is missing from the installed lcdb package; reinstall lcdb=={LCDB_VERSION}"
        )
    return path


def read_curves(path: Path, openml_id: int) -> pd.DataFrame:
    """The rows of OpenML dataset ``openml_id`` in LCDB's CSV ``path``, read as plain typed data.

    A file that is not LCDB's CSV (missing columns, a value that is not of its column's type, bytes that
    are not text) is a TableFormatError naming the file and what is wrong.
    """
    try:
        header = list(pd.read_csv(path, nrows=0).columns)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise TableFormatError(f"{path}: not an LCDB curves CSV ({type(e).__name__}: {e})") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise TableFormatError(
            f"{path}: not an LCDB curves CSV: column(s) {missing} missing; it has {header}, "
            f"expected {list(COLUMNS)}"
        )
    parts = []
    try:
        for chunk in pd.read_csv(path, usecols=list(COLUMNS), dtype=COLUMNS, chunksize=_CHUNK_ROWS):
            empty = chunk.isna().any(axis=1).to_numpy()
            if empty.any():
                i = int(np.flatnonzero(empty)[0])
                cols = [c for c in COLUMNS if pd.isna(chunk.iloc[i][c])]
                raise TableFormatError(
                    f"{path}: line {int(chunk.index[i]) + 2} has no value for {cols}; LCDB records every "
                    "column of every row (a truncated or damaged file?)"
                )
            parts.append(chunk[chunk["openmlid"] == openml_id])
    except TableFormatError:
        raise
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise TableFormatError(
            f"{path}: a value does not have its column's type {COLUMNS} ({type(e).__name__}: {e})"
        ) from None
    rows = pd.concat(parts, ignore_index=True)
    if rows.empty:
        raise TableFormatError(f"{path}: no rows of OpenML dataset {openml_id}")
    return rows


def _check_complete(where: str, rows: pd.DataFrame) -> tuple[list[int], list[int]]:
    """The table's (seeds, anchors) of one dataset's rows; a TableFormatError unless the curves are complete.

    Complete: only the learners of :data:`LEARNERS`, no (learner, seed pair, anchor) twice, and every learner
    has every seed pair at every anchor that the dataset has.
    """
    if rows["learner"].isna().any():
        raise TableFormatError(f"{where}: a row has no learner")
    unknown = sorted(set(rows["learner"]) - set(LEARNERS))
    if unknown:
        raise TableFormatError(f"{where}: unknown learner(s) {unknown}; allowed: {', '.join(LEARNERS)}")
    key = ["learner", "outer_seed", "inner_seed", "size_train"]
    dup = rows.duplicated(subset=key)
    if dup.any():
        raise TableFormatError(f"{where}: row {rows[dup].iloc[0][key].to_dict()} appears more than once")
    for col in ("outer_seed", "inner_seed"):
        if (rows[col] < 0).any():
            raise TableFormatError(f"{where}: negative {col} {int(rows[col].min())}")
    if (rows["inner_seed"] >= SEED_STRIDE).any():
        raise TableFormatError(
            f"{where}: inner_seed {int(rows['inner_seed'].max())} is not below {SEED_STRIDE} (seeds are "
            f"{SEED_STRIDE} * outer + inner)"
        )
    bad = ~np.isfinite(rows["traintime"].to_numpy(np.float64)) | (rows["traintime"] < 0).to_numpy(bool)
    if bad.any():
        row = rows[bad].iloc[0]
        raise TableFormatError(
            f"{where}: traintime {row['traintime']} of learner {row['learner']}, outer seed {row['outer_seed']}, "
            f"inner seed {row['inner_seed']}, size_train {row['size_train']}: a fit time is a finite number of "
            "seconds >= 0"
        )
    if (rows["size_train"] < 1).any():
        raise TableFormatError(f"{where}: training-set size {int(rows['size_train'].min())} is not positive")
    pairs = sorted({(int(o), int(i)) for o, i in zip(rows["outer_seed"], rows["inner_seed"])})
    anchors = sorted(int(a) for a in rows["size_train"].unique())
    expected = len(LEARNERS) * len(pairs) * len(anchors)
    if len(rows) != expected:
        have = set(zip(rows["learner"], rows["outer_seed"], rows["inner_seed"], rows["size_train"]))
        gap = next(
            (n, o, i, a) for n in LEARNERS for o, i in pairs for a in anchors if (n, o, i, a) not in have
        )
        raise TableFormatError(
            f"{where}: incomplete curves: {len(rows)} rows, expected {len(LEARNERS)} learners x {len(pairs)} "
            f"seed pairs x {len(anchors)} anchors = {expected}; the first missing is learner {gap[0]}, outer "
            f"seed {gap[1]}, inner seed {gap[2]}, size_train {gap[3]}"
        )
    return [seed_of(o, i) for o, i in pairs], anchors


def _cubes(rows: pd.DataFrame, n_seeds: int, n_anchors: int) -> dict[str, np.ndarray]:
    """Every read column of complete rows as a (learner, seed, anchor) array in table order."""
    order = rows.assign(
        _learner=rows["learner"].map({name: i for i, name in enumerate(LEARNERS)}).astype(np.int64)
    ).sort_values(["_learner", "outer_seed", "inner_seed", "size_train"], kind="stable")
    shape = (len(LEARNERS), n_seeds, n_anchors)
    return {col: order[col].to_numpy(np.float64).reshape(shape) for col in _METRICS}


def convert_dataset(src: Path, dataset: str, openml_id: int, out: Path, *, overwrite: bool = False) -> Path:
    """Convert OpenML dataset ``openml_id`` of LCDB's CSV ``src`` into the table ``pub-lcdb-<dataset>`` at ``out``."""
    name = f"pub-lcdb-{dataset}"
    digest = sha256_file(src)
    rows = read_curves(src, openml_id)
    where = f"{src} (OpenML {openml_id})"
    seeds, anchors = _check_complete(where, rows)
    cubes = _cubes(rows, len(seeds), len(anchors))
    fit_time = cubes["traintime"]
    cost = np.maximum.accumulate(fit_time, axis=-1)
    added = float(np.sum(cost - fit_time))
    test_sizes = sorted(int(s) for s in rows["size_test"].unique())
    try:
        version = metadata.version("lcdb")
    except metadata.PackageNotFoundError:
        version = "not installed"
    return write_table(
        out,
        TableSpec(
            name=name,
            space=grid_space(name, {"learner": LEARNERS}),
            fidelity=Fidelity("train_size", tuple(anchors), unit="instances", incremental=False),
            metrics=list(_METRICS.values()),
            objective="valid_accuracy",
            test_objective="test_accuracy",
            seeds=seeds,
            description=(
                f"LCDB 1.0 (published): learning curves over the training-set size of {len(LEARNERS)} "
                f"scikit-learn classifiers with default hyperparameters on OpenML {openml_id} ({dataset}), "
                f"{len(seeds)} outer x inner seed pairs"
            ),
            task={
                "dataset": dataset,
                "openml_id": openml_id,
                "source": "lcdb",
                "task_type": "classification",
                "test_size": test_sizes[0] if len(test_sizes) == 1 else test_sizes,
            },
            provenance={
                "generator": "benchmarks.importers.lcdb",
                "source_package": f"lcdb=={version}",
                "source_file": f"lcdb/{src.name}",
                SOURCE_CHECKSUM: digest,
                CONVERSION: LcdbImporter.conversion_revision,
                "citation": _CITATION,
                "license": "MIT (lcdb)",
                "seeds_note": _SEEDS_NOTE,
                "cost_note": _COST_NOTE,
                "cost_raised_s": round(added, 4),
                "cost_raised_fraction": round(added / max(float(np.sum(fit_time)), 1e-12), 6),
            },
        ),
        configs=pd.DataFrame({"learner": list(LEARNERS)}),
        values={m.name: cubes[col] for col, m in _METRICS.items()},
        cost=cost,
        overwrite=overwrite,
    )


class LcdbImporter(Importer):
    """The LCDB 1.0 tables, one per dataset of ``datasets`` (default :data:`DATASETS`), from ``source`` (default:
    the installed package's ``database-accuracy.csv``)."""

    name = "lcdb"
    #: 2: the training-set size is marked as a fidelity that is not incremental (a continuation pays the refit)
    conversion_revision = 2

    def __init__(self, source: Path | None = None, datasets: Mapping[str, int] | None = None) -> None:
        self.source = None if source is None else Path(source)
        self.openml_ids = dict(DATASETS if datasets is None else datasets)

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(self.openml_ids)

    def table_name(self, dataset: str) -> str:
        return f"pub-lcdb-{dataset}"

    def source_file(self, dataset: str) -> Path:
        self.check_dataset(dataset)
        if self.source is None:
            return installed_source()
        if not self.source.is_file():
            raise CurveBenchError(f"LCDB curves file {self.source} does not exist")
        return self.source

    def convert(self, dataset: str, out: Path, *, overwrite: bool = False) -> Path:
        return convert_dataset(
            self.source_file(dataset), dataset, self.openml_ids[dataset], out, overwrite=overwrite
        )


IMPORTER = register(LcdbImporter())
