"""The CurveBench table format: one writer, one reader. See docs/table-format.md.

A table is one folder::

    NAME/
      manifest.json     what the table is: space, fidelity, metrics, seeds, provenance, file checksums
      configs.parquet   one row per configuration: config_id, then one typed column per hyperparameter,
                        then the per-configuration attributes (e.g. n_params)
      curves.arrow      an uncompressed Arrow IPC file (Feather v2): one row per (config_id, seed) run, sorted by
                        config_id then seed, every run present; each metric and the cumulative cost is a
                        fixed-size list<float32> over the fidelity values

Why Arrow IPC for the curves: its columns are the arrays themselves, so a table of
62,208 configurations x 4 seeds x 100 epochs x 4 metrics opens in well under a
second with no decoding and one copy in memory; pandas (``read_feather``),
pyarrow, polars and DuckDB read it as they read Parquet. The small, typed
configuration table stays Parquet.

Each file is read into memory once, and its checksum is taken of those same
bytes: a file changed on disk after the check (or swapped while it was read)
cannot change the answers, as it could through a memory map, which follows the
file (and a map of a file truncated under it kills the process). Only a file
bigger than :data:`READ_INTO_MEMORY_BYTES` (a full-grid table) is mapped, to
open in half the time; its checksum is taken of the mapped bytes.

In memory each metric (and the cost) is a read-only float32 array shaped
(config, seed, fidelity), a view of the file's bytes; a configuration's row is
found through a dict, never a scan.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from .io import (
    MANIFEST,
    atomic_dir,
    atomic_write_json,
    check_file_records,
    code_version,
    expect,
    file_record,
    folder_checksum,
    member_file,
    read_json_object,
    utc_now,
)
from .protocol import ConfigError, Fidelity, Metric, TableFormatError
from .space import check_frame, column_dtype, hp_names, space_from_dict, space_to_dict

FORMAT = "curvebench-table"
FORMAT_VERSION = 1
CONFIGS = "configs.parquet"
CURVES = "curves.arrow"
COST = "cost"
_RESERVED = {"config_id", "seed", COST}


@dataclass
class Table:
    """A table read into memory."""

    path: Path
    manifest: dict[str, Any]
    space: Any
    fidelity: Fidelity
    metrics: list[Metric]
    seeds: tuple[int, ...]
    configs: pd.DataFrame
    #: metric name (and "cost") -> read-only float32 array (n_configs, n_seeds, n_fidelities)
    arrays: dict[str, np.ndarray] = field(repr=False)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    @property
    def cost(self) -> np.ndarray:
        """(config, seed, fidelity) cumulative cost in seconds (a read-only view)."""
        return self.arrays[COST]

    def metric_values(self, name: str) -> np.ndarray:
        """(config, seed, fidelity) array of one metric (a read-only view)."""
        return self.arrays[name]

    @cached_property
    def values(self) -> np.ndarray:
        """All metrics and the cost stacked: (n_metrics + 1, C, S, F), cost last. A copy, made once."""
        return np.stack([self.arrays[m] for m in [*self.metric_names, COST]])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_configs, n_seeds, n_fidelities)."""
        return self.cost.shape

    def to_long(self) -> pd.DataFrame:
        """The table as one long DataFrame: a row per (config_id, seed, fidelity); for pandas and DuckDB users."""
        C, S, F = self.shape
        idx = pd.MultiIndex.from_product(
            [np.arange(C), list(self.seeds), list(self.fidelity.values)],
            names=["config_id", "seed", self.fidelity.name],
        )
        cols = {m: self.arrays[m].reshape(-1) for m in self.metric_names}
        cols[COST] = self.cost.reshape(-1)
        return pd.DataFrame(cols, index=idx).reset_index()


# ---------------------------------------------------------------- writer
@dataclass(frozen=True)
class TableSpec:
    """What a table is, apart from its numbers: everything its manifest records about it.

    ``metrics`` and ``seeds`` are kept as tuples; ``attributes`` names the per-configuration columns of
    ``configs`` (e.g. ``n_params``) with a description each; ``task`` and ``provenance`` are free-form
    records (the writer adds ``created`` and ``code_version`` to the provenance). A variant is
    ``dataclasses.replace(spec, name=...)``.
    """

    name: str
    space: Any
    fidelity: Fidelity
    metrics: Sequence[Metric]
    objective: str
    seeds: Sequence[int]
    test_objective: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    task: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "seeds", tuple(self.seeds))


def write_table(
    path: str | Path,
    spec: TableSpec,
    *,
    configs: pd.DataFrame,
    values: Mapping[str, np.ndarray],
    cost: np.ndarray,
    overwrite: bool = False,
    extra_files: Mapping[str, str] | None = None,
) -> Path:
    """Write one table folder atomically and return its path.

    ``spec`` says what the table is (:class:`TableSpec`); ``configs`` holds one row per configuration
    (hyperparameter columns plus the ``spec.attributes`` columns); ``values[metric]`` and ``cost`` are
    arrays shaped (n_configs, n_seeds, n_fidelities) aligned with ``configs``, ``spec.seeds`` and
    ``spec.fidelity.values``. NaN marks a value that was not recorded (e.g. after a run diverged). The
    cumulative cost must not decrease along the fidelity axis.

    ``extra_files`` maps file names to text written into the folder with the rest (a data card, say),
    so the folder never appears without them.
    """
    if not isinstance(spec, TableSpec):
        raise TypeError(f"write_table takes a TableSpec, got {type(spec).__name__}")
    name, space, fidelity = spec.name, spec.space, spec.fidelity
    path = Path(path)
    metrics = list(spec.metrics)
    names = hp_names(space)
    attributes = dict(spec.attributes)
    seeds = [int(s) for s in spec.seeds]
    mnames = [m.name for m in metrics]
    _check_names(mnames, names, attributes, spec.objective, spec.test_objective)
    _check_seeds(f"table {name}", seeds)
    C, S, F = len(configs), len(seeds), len(fidelity.values)
    if C == 0:
        raise TableFormatError(f"table {name}: no configurations")
    configs = configs.reset_index(drop=True)
    extra = [c for c in configs.columns if c not in names and c not in attributes and c != "config_id"]
    if extra:
        raise TableFormatError(
            f"table {name}: configs has column(s) {extra} that are neither hyperparameters {list(names)} "
            f"nor declared attributes {list(attributes)}"
        )
    check_configs(f"table {name}", space, configs)
    arrays: dict[str, np.ndarray] = {}
    for m in metrics:
        if m.name not in values:
            raise TableFormatError(f"table {name}: no values for metric {m.name!r}")
        a = np.asarray(values[m.name], dtype=np.float32)
        if a.shape != (C, S, F):
            raise TableFormatError(
                f"table {name}: metric {m.name!r} has shape {a.shape}, expected {(C, S, F)}"
            )
        arrays[m.name] = a
    unknown = set(values) - set(mnames)
    if unknown:
        raise TableFormatError(f"table {name}: values for undeclared metric(s) {sorted(unknown)}")
    cost = np.asarray(cost, dtype=np.float32)
    if cost.shape != (C, S, F):
        raise TableFormatError(f"table {name}: cost has shape {cost.shape}, expected {(C, S, F)}")
    check_values(f"table {name}", metrics, {**arrays, COST: cost}, seeds, fidelity)

    frame = pd.DataFrame({"config_id": np.arange(C, dtype=np.int32)})
    for n in names:
        frame[n] = configs[n].astype(column_dtype(space[n]))
    for a in attributes:
        frame[a] = configs[a].to_numpy()
    configs_tbl = pa.Table.from_pandas(frame, preserve_index=False)

    n_runs = C * S
    fields = [pa.field("config_id", pa.int32(), nullable=False), pa.field("seed", pa.int32(), nullable=False)]
    cols: list[pa.Array] = [
        pa.array(np.repeat(np.arange(C, dtype=np.int32), S)),
        pa.array(np.tile(np.asarray(seeds, dtype=np.int32), C)),
    ]
    list_type = pa.list_(pa.field("item", pa.float32(), nullable=False), F)
    for mname, a in [*arrays.items(), (COST, cost)]:
        fields.append(pa.field(mname, list_type, nullable=False))
        cols.append(pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(a).reshape(-1)), F))
    curves_tbl = pa.Table.from_arrays(cols, schema=pa.schema(fields))
    assert curves_tbl.num_rows == n_runs

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "description": spec.description,
        "task": dict(spec.task),
        "space": space_to_dict(space),
        "hyperparameters": list(names),
        "attributes": attributes,
        "fidelity": fidelity.to_dict(),
        "metrics": [m.to_dict() for m in metrics],
        "objective": spec.objective,
        "test_objective": spec.test_objective,
        "cost": {
            "name": COST,
            "unit": "seconds",
            "description": "cumulative seconds to train the configuration alone, from scratch, to this fidelity",
        },
        "seeds": seeds,
        "n_configs": C,
        "provenance": {"created": utc_now(), "code_version": code_version(), **dict(spec.provenance)},
        "files": {},
    }
    with atomic_dir(path, overwrite=overwrite) as tmp:
        pq.write_table(configs_tbl, tmp / CONFIGS, compression="zstd")
        # one record batch: every column is one contiguous buffer, memory-mappable without copies
        feather.write_feather(curves_tbl, tmp / CURVES, compression="uncompressed", chunksize=max(n_runs, 1))
        for fname, rows in [(CONFIGS, C), (CURVES, C * S)]:
            manifest["files"][fname] = file_record(tmp / fname, rows=rows)
        for fname, text in (extra_files or {}).items():
            if fname in (CONFIGS, CURVES, MANIFEST) or Path(fname).name != fname:
                raise TableFormatError(
                    f"extra file name {fname!r} must be a plain file name other than "
                    f"{CONFIGS}, {CURVES} and {MANIFEST}"
                )
            (tmp / fname).write_text(text, encoding="utf-8")
        atomic_write_json(tmp / MANIFEST, manifest)
    return path


# ---------------------------------------------------------------- the rules (one owner: writer and reader)
#: seeds are stored as int32
MAX_SEED = 2**31 - 1


def _check_seeds(where: str, seeds: Sequence[int]) -> None:
    if len(set(seeds)) != len(seeds):
        raise TableFormatError(f"{where}: duplicate seeds in {list(seeds)}")
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if bad:
        raise TableFormatError(f"{where}: seed {bad[0]} is outside the allowed range 0..{MAX_SEED}")


def check_configs(where: str, space: Any, configs: pd.DataFrame) -> None:
    """Every configuration lies in ``space`` and none repeats another (TableFormatError naming the row)."""
    try:
        check_frame(space, configs)
    except ConfigError as e:
        raise TableFormatError(f"{where}: {e}") from None
    names = list(hp_names(space))
    dup = configs.duplicated(subset=names)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise TableFormatError(
            f"{where}: config row {i} repeats an earlier configuration: {configs.iloc[i][names].to_dict()}"
        )


def check_values(
    where: str,
    metrics: Sequence[Metric],
    arrays: Mapping[str, np.ndarray],
    seeds: Sequence[int],
    fidelity: Fidelity,
) -> None:
    """The rules every table's numbers obey, checked by the writer and again by the reader.

    * cost: finite, non-negative and non-decreasing along the fidelity axis, for every run;
    * each metric: NaN (a value that was not recorded, e.g. after a run diverged) or a finite value
      within the metric's declared bounds; never +-inf.

    The error names the column, the first offending (config_id, seed, fidelity) and the rule.
    """
    fid = np.asarray(fidelity.values)
    if not np.all(np.isfinite(fid.astype(float))):
        raise TableFormatError(f"{where}: fidelity values must be finite, got {list(fidelity.values)}")

    def at(mask: np.ndarray) -> str:
        c, s, f = np.unravel_index(int(np.flatnonzero(mask.reshape(-1))[0]), mask.shape)
        return f"config_id {int(c)}, seed {seeds[s]}, {fidelity.name}={fid[f].item():g}"

    cost = arrays[COST]
    bad = ~np.isfinite(cost)
    if bad.any():
        raise TableFormatError(
            f"{where}: column {COST!r} at {at(bad)} is {cost[bad][0]}; cost must be finite"
        )
    bad = cost < 0
    if bad.any():
        raise TableFormatError(
            f"{where}: column {COST!r} at {at(bad)} is {cost[bad][0]}; negative cost is not allowed"
        )
    if cost.shape[-1] > 1:
        dec = np.diff(cost, axis=-1) < 0
        if dec.any():
            dec = np.concatenate([np.zeros_like(dec[..., :1]), dec], axis=-1)
            raise TableFormatError(
                f"{where}: column {COST!r} at {at(dec)}: cumulative cost decreases along "
                f"{fidelity.name} (it must never decrease)"
            )
    for m in metrics:
        a = arrays[m.name]
        bad = np.isinf(a)
        if bad.any():
            raise TableFormatError(
                f"{where}: metric {m.name!r} at {at(bad)} is {a[bad][0]}; values are finite, "
                "or NaN where not recorded"
            )
        with np.errstate(invalid="ignore"):
            bad = (a < m.lower) | (a > m.upper)
        if bad.any():
            finite = a[np.isfinite(a)]
            raise TableFormatError(
                f"{where}: metric {m.name!r} at {at(bad)} is {a[bad][0]}: values in [{finite.min()}, {finite.max()}], "
                f"outside its declared bounds [{m.lower}, {m.upper}]"
            )


def _check_names(mnames, hps, attributes, objective, test_objective) -> None:
    for n in mnames:
        if n in _RESERVED or n in hps:
            raise TableFormatError(f"metric name {n!r} clashes with a reserved or hyperparameter name")
    if len(set(mnames)) != len(mnames):
        raise TableFormatError(f"duplicate metric names in {mnames}")
    for a in attributes:
        if a in _RESERVED or a in hps:
            raise TableFormatError(f"attribute name {a!r} clashes with a reserved or hyperparameter name")
    if objective not in mnames:
        raise TableFormatError(f"objective {objective!r} is not a metric; metrics: {mnames}")
    if test_objective is not None and test_objective not in mnames:
        raise TableFormatError(f"test_objective {test_objective!r} is not a metric; metrics: {mnames}")


# ---------------------------------------------------------------- reader
def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read and check a table's manifest (not its data files): every field the reader uses has the right type.

    A manifest is untrusted input (tables are shared): a wrong type, a file name outside the folder or a
    malformed checksum is a TableFormatError naming the manifest and the field.
    """
    path = Path(path)
    mpath = path / MANIFEST
    if not path.is_dir():
        raise TableFormatError(f"{path}: no such table folder")
    manifest = read_json_object(mpath, TableFormatError, missing="missing manifest")
    if manifest.get("format") != FORMAT:
        raise TableFormatError(f"{mpath}: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise TableFormatError(
            f"{mpath}: format_version {manifest.get('format_version')!r} is not supported "
            f"(this reader reads {FORMAT_VERSION})"
        )
    required = [
        "name",
        "space",
        "hyperparameters",
        "fidelity",
        "metrics",
        "objective",
        "seeds",
        "n_configs",
        "files",
    ]
    missing = [k for k in required if k not in manifest]
    if missing:
        raise TableFormatError(f"{mpath}: missing field(s) {missing}")
    _check_manifest_types(mpath, manifest)
    return manifest


def _check_manifest_types(mpath: Path, m: dict[str, Any]) -> None:
    def field(value: Any, types: Any, what: str) -> Any:
        return expect(value, types, f"{mpath}: {what}", TableFormatError)

    field(m["name"], str, "'name'")
    field(m["space"], dict, "'space'")
    for i, h in enumerate(field(m["hyperparameters"], list, "'hyperparameters'")):
        field(h, str, f"'hyperparameters'[{i}]")
    fd = field(m["fidelity"], dict, "'fidelity'")
    field(fd.get("name"), str, "'fidelity.name'")
    values = field(fd.get("values"), list, "'fidelity.values'")
    if not values:
        raise TableFormatError(f"{mpath}: 'fidelity.values' is empty")
    for i, v in enumerate(values):
        field(v, (int, float), f"'fidelity.values'[{i}]")
    field(fd.get("unit", ""), str, "'fidelity.unit'")
    field(fd.get("incremental", True), bool, "'fidelity.incremental'")
    for i, md in enumerate(field(m["metrics"], list, "'metrics'")):
        field(md, dict, f"'metrics'[{i}]")
        field(md.get("name"), str, f"'metrics'[{i}].name")
        field(md.get("direction"), str, f"'metrics'[{i}].direction")
        for bound in ("lower", "upper"):
            v = md.get(bound, 0.0)
            if isinstance(v, str) and v not in ("inf", "-inf"):
                raise TableFormatError(
                    f"{mpath}: 'metrics'[{i}].{bound} is {v!r}; expected a number, 'inf' or '-inf'"
                )
            field(v, (int, float, str), f"'metrics'[{i}].{bound}")
    field(m["objective"], str, "'objective'")
    field(m.get("test_objective"), (str, type(None)), "'test_objective'")
    for i, sd in enumerate(field(m["seeds"], list, "'seeds'")):
        field(sd, int, f"'seeds'[{i}]")
    if not m["seeds"]:
        raise TableFormatError(f"{mpath}: 'seeds' is empty")
    n = field(m["n_configs"], int, "'n_configs'")
    if n < 1:
        raise TableFormatError(f"{mpath}: 'n_configs' is {n}; a table holds at least one configuration")
    attrs = field(m.get("attributes", {}), dict, "'attributes'")
    for k, v in attrs.items():
        field(v, str, f"'attributes'.{k}")
    field(m.get("provenance", {}), dict, "'provenance'")
    field(m.get("task", {}), dict, "'task'")
    field(m.get("description", ""), str, "'description'")
    files = check_file_records(mpath, m["files"], TableFormatError)
    for fname in (CONFIGS, CURVES):
        if fname not in files:
            raise TableFormatError(f"{mpath}: 'files' does not list {fname}")


def read_table(path: str | Path, *, verify: bool = True) -> Table:
    """Read a table folder, validating its schema and (unless ``verify=False``) every file's checksum.

    A missing, truncated, corrupted or mismatched file raises TableFormatError
    naming the file and what is wrong.
    """
    path = Path(path)
    manifest = read_manifest(path)
    files = manifest["files"]
    blobs = {fname: _read_member(path, fname, files[fname]["bytes"]) for fname in (CONFIGS, CURVES)}

    digests: dict[str, str] = {}
    hasher = None
    if verify:

        def _hash_all() -> None:  # the bytes that are read, not the file again (hashlib frees the GIL)
            for fname in (CONFIGS, CURVES):
                digests[fname] = hashlib.sha256(memoryview(blobs[fname])).hexdigest()

        hasher = threading.Thread(target=_hash_all, daemon=True)
        hasher.start()

    def _checksums() -> None:
        if hasher is None:
            return
        hasher.join()
        for fname in (CONFIGS, CURVES):
            if digests.get(fname) != files[fname]["sha256"]:
                raise TableFormatError(
                    f"{path / fname}: checksum mismatch (sha256 {digests.get(fname)}, manifest records "
                    f"{files[fname]['sha256']}): the file is corrupted or belongs to another table"
                )

    try:
        table = _read_data(path, manifest, blobs)
    except TableFormatError:
        _checksums()
        raise
    except Exception as e:  # noqa: BLE001 - a damaged file can make pyarrow or pandas raise anything (a flipped
        # byte in the pandas metadata gives a TypeError on an unknown dtype); the checksums say which file
        _checksums()
        raise TableFormatError(f"{path}: cannot read table data ({type(e).__name__}: {e})") from None
    _checksums()
    return table


def _manifest_objects(
    path: Path, manifest: dict[str, Any]
) -> tuple[Any, Fidelity, list[Metric], tuple[int, ...]]:
    """The space, fidelity, metrics and seeds a (type-checked) manifest declares, checked by the writer's rules."""
    mpath = path / MANIFEST
    try:
        space = space_from_dict(manifest["space"])
    except Exception as e:  # noqa: BLE001 - ConfigSpace raises many types on a malformed space
        raise TableFormatError(
            f"{mpath}: 'space' is not a valid ConfigSpace space ({type(e).__name__}: {e})"
        ) from None
    try:
        fidelity = Fidelity(
            name=manifest["fidelity"]["name"],
            values=tuple(manifest["fidelity"]["values"]),
            unit=manifest["fidelity"].get("unit", ""),
            incremental=manifest["fidelity"].get("incremental", True),
        )
        metrics = [Metric.from_dict(m) for m in manifest["metrics"]]
    except (ValueError, TypeError, KeyError) as e:
        raise TableFormatError(f"{mpath}: {e}") from None
    seeds = tuple(manifest["seeds"])
    _check_seeds(str(mpath), seeds)
    names = list(manifest["hyperparameters"])
    if names != list(hp_names(space)):
        raise TableFormatError(
            f"{mpath}: 'hyperparameters' {names} does not match the space {list(hp_names(space))}"
        )
    try:
        _check_names(
            [m.name for m in metrics],
            names,
            manifest.get("attributes", {}),
            manifest["objective"],
            manifest.get("test_objective"),
        )
    except TableFormatError as e:
        raise TableFormatError(f"{mpath}: {e}") from None
    return space, fidelity, metrics, seeds


#: a data file up to this size is read into memory; a bigger one (a full-grid table) is memory-mapped, which
#: opens it about twice as fast, but then follows the file if it is changed on disk while in use
READ_INTO_MEMORY_BYTES = 256 << 20


def _read_member(path: Path, fname: str, want: int) -> pa.Buffer:
    """The bytes of ``path / fname``, a plain file of the ``want`` bytes the manifest records: read once into
    an Arrow buffer (aligned, so the curves' columns are views of it), or mapped when it is bigger than
    :data:`READ_INTO_MEMORY_BYTES`. Its checksum is taken of these same bytes."""
    f = member_file(path, fname, TableFormatError)
    size = f.stat().st_size
    if size == want:
        if size > READ_INTO_MEMORY_BYTES:
            mapped = pa.memory_map(str(f), "r")
            size = mapped.size()
            buf = mapped.read_buffer(size)
        else:
            with pa.OSFile(str(f), "rb") as fh:
                buf = fh.read_buffer(want + 1)  # one byte more: a file that grew since stat shows it
            size = buf.size
    if size != want:
        what = "truncated" if size < want else "longer than recorded"
        raise TableFormatError(f"{f}: {what}: {size} bytes, the manifest records {want}")
    return buf


def _read_data(path: Path, manifest: dict[str, Any], blobs: Mapping[str, pa.Buffer]) -> Table:
    space, fidelity, metrics, seeds = _manifest_objects(path, manifest)
    cpath, configs = _read_configs(path, manifest, space, blobs[CONFIGS])
    upath, arrays = _read_curves(path, manifest, metrics, seeds, len(fidelity.values), blobs[CURVES])
    check_configs(str(cpath), space, configs)
    check_values(str(upath), metrics, arrays, seeds, fidelity)
    return Table(path, manifest, space, fidelity, metrics, seeds, configs, arrays)


#: configs.parquet may inflate to at most this many bytes (the full FCNet grid's: a few MiB)
MAX_CONFIGS_BYTES = 1 << 30


def _read_configs(
    path: Path, manifest: dict[str, Any], space: Any, blob: pa.Buffer
) -> tuple[Path, pd.DataFrame]:
    """configs.parquet (its bytes ``blob``) checked against the manifest: its columns, ``config_id`` 0..C-1 in
    order, and each hyperparameter's dtype (string columns as objects); returns its path and the frame."""
    names = list(manifest["hyperparameters"])
    C = int(manifest["n_configs"])
    cpath = path / CONFIGS
    # before anything is decoded: the row count, and the size the pages inflate to as the file's metadata
    # gives it (a small compressed file could otherwise ask for gigabytes)
    meta = pq.ParquetFile(pa.BufferReader(blob)).metadata
    if meta.num_rows != C:
        raise TableFormatError(f"{cpath}: {meta.num_rows} rows, expected {C} (the manifest's n_configs)")
    inflated = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if inflated > MAX_CONFIGS_BYTES:
        raise TableFormatError(
            f"{cpath}: its data inflates to {inflated:,} bytes; the limit is {MAX_CONFIGS_BYTES:,}"
        )
    configs = pq.read_table(pa.BufferReader(blob)).to_pandas()
    expected_cols = ["config_id", *names, *manifest.get("attributes", {})]
    if list(configs.columns) != expected_cols:
        raise TableFormatError(f"{cpath}: columns {list(configs.columns)}, expected {expected_cols}")
    if len(configs) != C or not np.array_equal(configs["config_id"].to_numpy(), np.arange(C)):
        raise TableFormatError(f"{cpath}: config_id must be 0..{C - 1} in order ({len(configs)} rows found)")
    for n in names:
        want = column_dtype(space[n])
        got = str(configs[n].dtype)
        if want == "string":
            configs[n] = configs[n].astype(object)
        elif not (got == want or (want == "float64" and got == "float32")):
            raise TableFormatError(f"{cpath}: column {n!r} has dtype {got}, expected {want}")
    return cpath, configs


def _read_curves(
    path: Path,
    manifest: dict[str, Any],
    metrics: list[Metric],
    seeds: tuple[int, ...],
    F: int,
    blob: pa.Buffer,
) -> tuple[Path, dict[str, np.ndarray]]:
    """curves.arrow (its bytes ``blob``) checked (schema, one row per (config_id, seed) in config-major order,
    no nulls); returns its path and each metric's and the cost's read-only (C, S, F) array."""
    C, S = int(manifest["n_configs"]), len(seeds)
    columns = [*(m.name for m in metrics), COST]
    upath = path / CURVES
    try:
        reader = pa.ipc.open_file(pa.BufferReader(blob))
    except pa.ArrowInvalid as e:
        raise TableFormatError(f"{upath}: not an Arrow IPC file ({e})") from None
    schema = reader.schema
    want_cols = ["config_id", "seed", *columns]
    if schema.names != want_cols:
        raise TableFormatError(f"{upath}: columns {schema.names}, expected {want_cols}")
    for col in columns:
        t = schema.field(col).type
        if not (pa.types.is_fixed_size_list(t) and t.list_size == F and pa.types.is_float32(t.value_type)):
            raise TableFormatError(
                f"{upath}: column {col!r} has type {t}, expected fixed_size_list<float32>[{F}]"
            )
    _check_batches(upath, blob, reader.num_record_batches, C * S)
    curves = reader.read_all()  # zero-copy views of the buffer
    if curves.num_rows != C * S:
        raise TableFormatError(f"{upath}: {curves.num_rows} rows, expected {C} configs x {S} seeds = {C * S}")
    cid = _column_numpy(curves, "config_id", upath)
    sid = _column_numpy(curves, "seed", upath)
    if not (
        np.array_equal(cid, np.repeat(np.arange(C, dtype=cid.dtype), S))
        and np.array_equal(sid, np.tile(np.asarray(seeds, dtype=sid.dtype), C))
    ):
        raise TableFormatError(f"{upath}: rows are not one per (config_id, seed) in config-major order")
    arrays: dict[str, np.ndarray] = {}
    for col in columns:
        column = curves.column(col)
        if column.null_count:
            raise TableFormatError(f"{upath}: column {col!r} has nulls (use NaN for values not recorded)")
        if column.num_chunks == 1:
            flat = column.chunk(0).flatten().to_numpy(zero_copy_only=True)
        else:  # written by another tool in several batches: one copy
            flat = np.concatenate([c.flatten().to_numpy(zero_copy_only=False) for c in column.chunks])
        if flat.size != C * S * F:
            raise TableFormatError(f"{upath}: column {col!r} holds {flat.size} values, expected {C * S * F}")
        a = flat.reshape(C, S, F)
        a.flags.writeable = False
        arrays[col] = a
    return upath, arrays


def _check_batches(upath: Path, blob: pa.Buffer, n_batches: int, rows: int) -> None:
    """Before anything is decoded: curves.arrow's record batches (as its footer lists them, which is how the
    reader finds them) hold ``rows`` rows in all and none is compressed.

    The writer never compresses (the curves are views of the file's bytes), and a compressed batch is
    inflated in full before its rows can be counted: a file of a hundred kilobytes could ask for gigabytes.
    Read from the flatbuffers of the footer and of each batch's message (Arrow's IPC format,
    format/File.fbs and Message.fbs); anything out of bounds is a TableFormatError.
    """
    data = memoryview(blob).cast("B")

    def bad(why: str) -> TableFormatError:
        return TableFormatError(f"{upath}: {why}; this reader reads the uncompressed files the writer writes")

    def table(pos: int) -> tuple[int, int, int]:  # a flatbuffer table at pos: (pos, its vtable, vtable size)
        vt = pos - struct.unpack_from("<i", data, pos)[0]
        return pos, vt, struct.unpack_from("<H", data, vt)[0]

    def field(t: tuple[int, int, int], i: int) -> int | None:  # where field i of table t is, None if absent
        pos, vt, vt_size = t
        if 4 + 2 * i + 2 > vt_size:
            return None
        off = struct.unpack_from("<H", data, vt + 4 + 2 * i)[0]
        return pos + off if off else None

    try:
        size = len(data)
        (flen,) = struct.unpack_from("<i", data, size - 10)
        start = size - 10 - flen
        if flen <= 0 or start < 8:
            raise bad("its footer is malformed")
        footer = table(start + struct.unpack_from("<I", data, start)[0])
        at = field(
            footer, 3
        )  # recordBatches: a vector of Block {offset: long, metaDataLength: int, bodyLength: long}
        if at is None:
            raise bad("its footer lists no record batches")
        vec = at + struct.unpack_from("<I", data, at)[0]
        (n,) = struct.unpack_from("<I", data, vec)
        if n != n_batches:
            raise bad(f"its footer lists {n} record batches, its reader {n_batches}")
        total = 0
        for k in range(n):
            offset, meta_len = struct.unpack_from("<qi", data, vec + 4 + 24 * k)
            if not 8 <= offset < start or meta_len <= 8:
                raise bad(f"record batch {k} is malformed")
            # the message: a continuation marker (0xFFFFFFFF), its length, then the Message flatbuffer
            pos = offset + (8 if struct.unpack_from("<I", data, offset)[0] == 0xFFFFFFFF else 4)
            msg = table(pos + struct.unpack_from("<I", data, pos)[0])
            kind, header = field(msg, 1), field(msg, 2)
            if kind is None or data[kind] != 3 or header is None:  # MessageHeader 3: RecordBatch
                raise bad(f"message {k} of the footer is not a record batch")
            batch = table(header + struct.unpack_from("<I", data, header)[0])
            if field(batch, 3) is not None:  # RecordBatch.compression
                raise bad(f"record batch {k} is compressed")
            length = field(batch, 0)
            total += struct.unpack_from("<q", data, length)[0] if length is not None else 0
            if total > rows:
                break
    except (struct.error, IndexError):
        raise bad("its footer or a record batch's header lies outside the file") from None
    if total != rows:
        held = f"more than {rows}" if total > rows else str(total)
        raise TableFormatError(f"{upath}: its record batches hold {held} rows, expected {rows}")


def _column_numpy(tbl: pa.Table, name: str, where: Path) -> np.ndarray:
    col = tbl.column(name)
    if col.null_count:
        raise TableFormatError(f"{where}: column {name!r} has nulls")
    return col.to_numpy()


def table_checksum(manifest: Mapping[str, Any]) -> str:
    """One digest for a whole table: its manifest (every field but provenance and description), whose
    ``files`` entry holds the data files' sha256s. Runs record it; see :func:`benchmarks.io.folder_checksum`."""
    return folder_checksum(manifest)
