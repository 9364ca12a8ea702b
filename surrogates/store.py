"""Save a fitted CurveSurrogate to a folder of portable files, and load it back without retraining.

A surrogate folder::

    manifest.json    what it is: format, model and parameters, the table it was fitted on (name and
                     checksum), space, fidelity, metrics, the curve blocks, provenance, every file's sha256
    arrays.npz       the numbers of the curve model (PCA means and directions, ranges, target scaling, noise banks);
                     read with allow_pickle=False
    block<j>.<ext>   one regressor per block (metric or cost): .ubj.gz (gzipped XGBoost UBJSON), .skops (scikit-learn),
                     .pt (torch state_dict, loaded with weights_only=True)
    joint.<ext>      a joint model (gp, mlp): one regressor for every block (.npz arrays for gp)
                     (an ensemble writes each member's files as <member>.block<j>.<ext> or <member>.joint.<ext>)
    card.json/.md    the quality card, when one was made (see surrogates.quality)

Loading checks every file against the manifest's checksums first, so a
truncated or foreign file is an error naming it, never a silently wrong model.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.io import (
    MANIFEST,
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    check_file_records,
    code_version,
    expect,
    file_record,
    hardware,
    member_file,
    member_path,
    npz_headers,
    read_json_object,
    sha256_bytes,
    sha256_file,
    utc_now,
)
from benchmarks.protocol import CurveBenchError, Fidelity, Metric
from benchmarks.space import space_from_dict, space_to_dict

from .encoding import SpaceEncoder
from .models import DEFAULTS, ENSEMBLE_MEMBER_DEFAULTS, SUFFIX, load_regressor, save_regressor
from .surrogate import CurveSurrogate
from .targets import block_from_state

FORMAT = "curvebench-surrogate"
FORMAT_VERSION = 2
#: versions this reader reads (1: one model, one file per block)
READS = (1, 2)
ARRAYS = "arrays.npz"
#: the most that a surrogate's arrays may hold, decompressed (the shipped ones hold a few MiB): a folder
#: whose arrays.npz would inflate beyond this is refused before it is decompressed
MAX_ARRAYS_BYTES = 1 << 30
#: the arrays of a surrogate's arrays.npz: block j's as ``block<j>.<name>``, then the noise calibration
_ARRAY_NAME = re.compile(r"block(0|[1-9][0-9]*)\.[a-z_]+|noise_calibration")


class SurrogateFormatError(CurveBenchError, ValueError):
    """A surrogate folder whose files are missing, corrupted or of another format."""


def save_surrogate(
    sur: CurveSurrogate,
    path: str | Path,
    *,
    table_checksum: str = "",
    extra: dict[str, Any] | None = None,
    optima: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``sur`` to the folder ``path`` atomically (an existing folder needs ``overwrite=True``).

    ``optima`` (:meth:`surrogates.benchmark.SurrogateBenchmark.optima_record`): every metric's estimated
    optimum and how it was estimated, stored so that loading the surrogate never recomputes them.
    """
    path = Path(path)
    if not hasattr(sur, "regressors_"):
        raise ValueError("this CurveSurrogate is not fitted yet; call fit(table) first")
    arrays: dict[str, np.ndarray] = {}
    blocks_meta = []
    fitted = sur.fitted_params()
    files = {
        name: _regressor_files(name, len(sur.blocks_), len(fitted) > 1, sur.joint_[name]) for name in fitted
    }
    for j, b in enumerate(sur.blocks_):
        meta, arr = b.state()
        meta["n_targets"] = int(len(sur.target_mean_[j]))
        blocks_meta.append(meta)
        for k, v in arr.items():
            arrays[f"block{j}.{k}"] = v
        arrays[f"block{j}.target_mean"] = sur.target_mean_[j]
        arrays[f"block{j}.target_std"] = sur.target_std_[j]
        arrays[f"block{j}.bank"] = sur.bank_[j]
    arrays["noise_calibration"] = sur.noise_calibration_
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": sur.model,
        "model_params": _full_params(sur),
        "regressors": {
            name: {"params": p, "joint": sur.joint_[name], "files": files[name]} for name, p in fitted.items()
        },
        "distill": sur.distill,
        "distill_params": sur.distill_params,
        "distilled_from": sur.distilled_from_,
        "max_components": sur.max_components,
        "noise": sur.noise,
        "random_state": sur.random_state,
        "table": {
            "name": sur.table_name_,
            "checksum": table_checksum,
            "seeds": list(sur.table_seeds_),
            "n_train_configs": sur.n_train_configs_,
        },
        "space": space_to_dict(sur.space_),
        "fidelity": sur.fidelity_.to_dict(),
        "metrics": [m.to_dict() for m in sur.metrics_.values()],
        "objective": sur.objective_,
        "test_objective": sur.test_objective_,
        "noise_scale": sur.noise_scale_,
        "n_features": sur.n_features_in_,
        "blocks": blocks_meta,
        "provenance": {
            "created": utc_now(),
            "code_version": code_version(),
            "hardware": hardware(),
            "fit_seconds": round(sur.fit_seconds_, 3),
            **(extra or {}),
        },
        "files": {},
    }
    if optima is not None:
        manifest["optima"] = optima
    with atomic_dir(path, overwrite=overwrite) as tmp:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(tmp / ARRAYS, buf.getvalue())
        for name, regs in sur.regressors_.items():
            for reg, fname in zip(regs, files[name], strict=True):
                save_regressor(name, reg, tmp / fname)
        for f in sorted(tmp.iterdir()):
            manifest["files"][f.name] = file_record(f)
        atomic_write_json(tmp / MANIFEST, manifest)
    return path


def _regressor_files(name: str, n_blocks: int, prefixed: bool, joint: bool) -> list[str]:
    pre = f"{name}." if prefixed else ""
    if joint:
        return [f"{pre}joint{SUFFIX[name]}"]
    return [f"{pre}block{j}{SUFFIX[name]}" for j in range(n_blocks)]


def _full_params(sur: CurveSurrogate) -> dict[str, Any]:
    if sur.model == "ensemble":
        return {"members": list(sur.members()), **{n: {**DEFAULTS[n], **p} for n, p in sur.members().items()}}
    return {**DEFAULTS[sur.model], **(sur.model_params or {})}


def _overrides(model: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The model_params that differ from the defaults (what the surrogate was constructed with)."""
    if model == "ensemble":
        out: dict[str, Any] = {"members": params["members"]}
        for n in params["members"]:
            base = {**DEFAULTS[n], **ENSEMBLE_MEMBER_DEFAULTS.get(n, {})}
            diff = {k: v for k, v in params.get(n, {}).items() if base.get(k) != v}
            if diff:
                out[n] = diff
        return None if out == DEFAULTS["ensemble"] else out
    return {k: v for k, v in params.items() if DEFAULTS[model].get(k) != v} or None


#: the top-level manifest fields the reader uses, and their JSON types
_FIELDS: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "model_params": (dict,),
    "max_components": (int,),
    "noise": (bool,),
    "random_state": (int, type(None)),
    "table": (dict,),
    "space": (dict,),
    "fidelity": (dict,),
    "metrics": (list,),
    "objective": (str,),
    "noise_scale": (int, float),
    "n_features": (int,),
    "blocks": (list,),
    "files": (dict,),
}
#: a probe of this many configurations is predicted at load time and checked against the writer's rules
PROBE_CONFIGS = 8


def read_surrogate_manifest(path: str | Path) -> dict[str, Any]:
    """Read and check a surrogate's manifest: field types, and every file it names a plain name inside the folder.

    A shared manifest is untrusted: a regressor file that the ``files`` checksums do not cover, a name
    outside the folder or a field of the wrong type is a SurrogateFormatError naming the manifest and field.
    """
    path = Path(path)
    mpath = path / MANIFEST
    manifest = read_json_object(
        mpath,
        SurrogateFormatError,
        missing="missing (not a surrogate folder; fit one with python -m surrogates.fit)",
    )
    if manifest.get("format") != FORMAT or manifest.get("format_version") not in READS:
        raise SurrogateFormatError(
            f"{mpath}: format {manifest.get('format')!r} version {manifest.get('format_version')!r}; "
            f"this reader reads {FORMAT!r} versions {', '.join(map(str, READS))}"
        )

    def field(value: Any, types: Any, what: str) -> Any:
        return expect(value, types, f"{mpath}: {what}", SurrogateFormatError)

    missing = [k for k in _FIELDS if k not in manifest]
    if missing:
        raise SurrogateFormatError(f"{mpath}: missing field(s) {missing}")
    for k, types in _FIELDS.items():
        field(manifest[k], types, repr(k))
    field(manifest.get("provenance", {}), dict, "'provenance'")
    field(manifest.get("description", ""), str, "'description'")
    files = check_file_records(mpath, manifest["files"], SurrogateFormatError)
    if ARRAYS not in files:
        raise SurrogateFormatError(f"{mpath}: 'files' does not list {ARRAYS}")
    for j, b in enumerate(manifest["blocks"]):
        field(b, dict, f"'blocks'[{j}]")
        field(b.get("n_targets"), int, f"'blocks'[{j}].n_targets")
        _check_block(mpath, j, b)
    seeds = field(manifest["table"].get("seeds"), list, "'table'.seeds")
    if not seeds or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds):
        raise SurrogateFormatError(f"{mpath}: 'table'.seeds is {seeds!r}; expected a list of integers >= 0")
    if manifest["format_version"] == 1:  # one model, one file per block
        manifest["regressors"] = {
            manifest["model"]: {
                "params": manifest["model_params"],
                "joint": False,
                "files": [b.get("file") for b in manifest["blocks"]],
            }
        }
    for name, rec in field(manifest.get("regressors"), dict, "'regressors'").items():
        field(rec, dict, f"'regressors'.{name}")
        field(rec.get("params"), dict, f"'regressors'.{name}.params")
        field(rec.get("joint"), bool, f"'regressors'.{name}.joint")
        for fname in field(rec.get("files"), list, f"'regressors'.{name}.files"):
            member_path(path, fname, what=f"{mpath}: 'regressors'.{name}.files", error=SurrogateFormatError)
            if fname not in files:
                raise SurrogateFormatError(
                    f"{mpath}: regressor file {fname!r} is not listed (with its checksum) under 'files'; "
                    "every file a surrogate loads must be checksummed"
                )
    if "optima" in manifest:
        check_optima(mpath, manifest["optima"], [m.get("name") for m in manifest["metrics"]])
    return manifest


#: the transforms a metric block may name (surrogates.targets.Transform)
_TRANSFORMS = ("log_lower", "log_upper", "identity")


def _check_block(mpath: Path, j: int, b: dict[str, Any]) -> None:
    """A block's settings as its writer makes them (a wrong one would otherwise decode silently to other curves:
    an unknown transform read as another, a negative noise floor, numbers given as strings)."""
    where = f"{mpath}: 'blocks'[{j}]"

    def number(v: Any, what: str, positive: bool = False, at_least_zero: bool = False) -> float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or (positive and v <= 0) or (at_least_zero and v < 0):
            rule = " > 0" if positive else " >= 0" if at_least_zero else ""
            raise SurrogateFormatError(f"{where}.{what} is {v!r}; expected a finite number{rule}")
        return float(v)

    kind = b.get("kind")
    if kind not in ("metric", "cost"):
        raise SurrogateFormatError(f"{where}.kind is {kind!r}; allowed: 'metric', 'cost'")
    expect(b.get("name"), str, f"{where}.name", SurrogateFormatError)
    number(b.get("amp_floor"), "amp_floor", at_least_zero=True)
    if kind == "metric":
        tr = expect(b.get("transform"), dict, f"{where}.transform", SurrogateFormatError)
        if set(tr) - {"kind", "bound", "eps"} or tr.get("kind") not in _TRANSFORMS:
            raise SurrogateFormatError(
                f"{where}.transform is {tr!r}; expected {{kind, bound, eps}} with kind one of {', '.join(_TRANSFORMS)}"
            )
        number(tr.get("bound", 0.0), "transform.bound")
        number(tr.get("eps", 0.0), "transform.eps", positive=tr["kind"] != "identity", at_least_zero=True)
    else:
        n_fid = b.get("n_fid")
        if not isinstance(n_fid, int) or isinstance(n_fid, bool) or n_fid < 1:
            raise SurrogateFormatError(f"{where}.n_fid is {n_fid!r}; expected an integer >= 1")
        lr = b.get("log_range")
        if not isinstance(lr, list) or len(lr) != 2:
            raise SurrogateFormatError(
                f"{where}.log_range is {lr!r}; expected two finite numbers [low, high]"
            )
        lo, hi = number(lr[0], "log_range[0]"), number(lr[1], "log_range[1]")
        if lo > hi:
            raise SurrogateFormatError(f"{where}.log_range is {lr!r}; its low end is above its high end")


def store_optima(path: str | Path, optima: dict[str, Any]) -> None:
    """Add (or replace) the ``optima`` of a saved surrogate's manifest, atomically; nothing else changes.

    For surrogates saved before optima were stored at fit time (``python -m surrogates.build optima``).
    """
    path = Path(path)
    manifest = read_surrogate_manifest(path)  # checked first: a foreign folder is refused, never rewritten
    check_optima(path / MANIFEST, optima, [m.get("name") for m in manifest["metrics"]])
    raw = read_json_object(path / MANIFEST, SurrogateFormatError, missing="missing")
    raw["optima"] = optima
    atomic_write_json(path / MANIFEST, raw)


def check_optima(mpath: Path, optima: Any, metrics: list[Any]) -> None:
    """A manifest's stored optima: ``{"method": {...}, "values": {metric: number or null}}`` over its metrics."""

    def field(value: Any, types: Any, what: str) -> Any:
        return expect(value, types, f"{mpath}: {what}", SurrogateFormatError)

    field(optima, dict, "'optima'")
    field(optima.get("method"), dict, "'optima'.method")
    values = field(optima.get("values"), dict, "'optima'.values")
    for name, v in values.items():
        if name not in metrics:
            raise SurrogateFormatError(
                f"{mpath}: 'optima'.values names metric {name!r}; the surrogate's metrics are {metrics}"
            )
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise SurrogateFormatError(
                f"{mpath}: 'optima'.values.{name} is {v!r}; allowed: a finite number or null"
            )


@dataclass(frozen=True)
class SurrogateHeader:
    """What a saved surrogate is, read from its manifest alone (no model is loaded): enough to describe it."""

    space: Any
    fidelity: Fidelity
    metrics: dict[str, Metric]
    objective: str
    test_objective: str | None
    table_name: str
    table_seeds: tuple[int, ...]

    @classmethod
    def of(cls, sur: CurveSurrogate) -> SurrogateHeader:
        """The header of a fitted surrogate (what a manifest written from it reads back as)."""
        return cls(
            sur.space_,
            sur.fidelity_,
            dict(sur.metrics_),
            sur.objective_,
            sur.test_objective_,
            sur.table_name_,
            tuple(sur.table_seeds_),
        )


def read_header(path: str | Path, manifest: dict[str, Any]) -> SurrogateHeader:
    """The header of a checked manifest (:func:`open_surrogate`); the objectives must name its metrics."""
    mpath = Path(path) / MANIFEST
    try:
        fd = manifest["fidelity"]
        metrics = {m["name"]: Metric.from_dict(m) for m in manifest["metrics"]}
        header = SurrogateHeader(
            space=space_from_dict(manifest["space"]),
            fidelity=Fidelity(
                fd["name"],
                tuple(fd["values"]),
                fd.get("unit", ""),
                continuous=True,
                incremental=fd.get("incremental", True),
            ),
            metrics=metrics,
            objective=manifest["objective"],
            test_objective=manifest.get("test_objective"),
            table_name=manifest["table"]["name"],
            table_seeds=tuple(manifest["table"]["seeds"]),
        )
    except SurrogateFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise SurrogateFormatError(f"{mpath}: cannot read this surrogate ({type(e).__name__}: {e})") from None
    if header.objective not in metrics:
        raise SurrogateFormatError(
            f"{mpath}: objective {header.objective!r} is not a metric; metrics: {list(metrics)}"
        )
    if header.test_objective is not None and header.test_objective not in metrics:
        raise SurrogateFormatError(f"{mpath}: test_objective {header.test_objective!r} is not a metric")
    return header


def open_surrogate(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """Read a surrogate's manifest and check it and (``verify``) every file against its checksums.

    What loading does before it builds anything: enough to trust the folder's description
    (:func:`read_header`); :func:`build_surrogate` then loads the model.
    """
    path = Path(path)
    manifest = read_surrogate_manifest(path)
    for fname, rec in manifest["files"].items():
        f = member_file(path, fname, SurrogateFormatError)
        if verify and (f.stat().st_size != rec["bytes"] or sha256_file(f) != rec["sha256"]):
            raise SurrogateFormatError(
                f"{f}: checksum mismatch with the manifest: the file is corrupted or foreign"
            )
    return manifest


def load_surrogate(path: str | Path, *, verify: bool = True) -> tuple[CurveSurrogate, dict[str, Any]]:
    """Read a folder written by :func:`save_surrogate`; return the fitted surrogate and its manifest.

    Nothing in the folder can run code: the manifest and arrays are plain data, regressors load
    through formats that hold no code (XGBoost UBJSON, torch weights only, skops with an exact type
    allow-list). The surrogate is then checked against the writer's rules on a small probe.
    """
    manifest = open_surrogate(path, verify=False)  # the build checks the bytes it loads
    return build_surrogate(path, manifest, verify=verify), manifest


def build_surrogate(path: str | Path, manifest: dict[str, Any], *, verify: bool = True) -> CurveSurrogate:
    """The fitted surrogate of a folder whose manifest :func:`open_surrogate` returned, checked on a probe.

    Every file the manifest lists is read once into memory and (``verify``) checked against its size and
    sha256 there; the model is built from those bytes, so what was checked is what loads (a file replaced
    in the folder after its check cannot slip in).
    """
    path = Path(path)
    blobs = {fname: _read_member(path, fname, rec, verify) for fname, rec in manifest["files"].items()}
    arrays = _read_arrays(blobs[ARRAYS], path / ARRAYS, len(manifest["blocks"]))
    try:
        sur = _build(path, manifest, arrays, blobs)
    except SurrogateFormatError:
        raise
    except (
        KeyError,
        TypeError,
        ValueError,
        IndexError,
        AttributeError,
        RuntimeError,
        EOFError,
        OSError,
        zipfile.BadZipFile,
    ) as e:
        raise SurrogateFormatError(f"{path}: cannot load this surrogate ({type(e).__name__}: {e})") from None
    check_surrogate(path, sur)
    return sur


def _read_member(path: Path, fname: str, rec: dict[str, Any], verify: bool) -> bytes:
    """The bytes of ``path / fname``, a plain file (opened without following a link), and (``verify``) checked
    against the size and sha256 the manifest records for it."""
    f = member_file(path, fname, SurrogateFormatError)
    try:
        fd = os.open(f, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise SurrogateFormatError(f"{f}: cannot open ({type(e).__name__}: {e})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise SurrogateFormatError(f"{f}: not a plain file (the manifest lists it)")
        # one byte more than recorded: a file that is longer shows it without reading all of it
        data = fh.read(rec["bytes"] + 1) if verify else fh.read()
    if verify and (len(data) != rec["bytes"] or sha256_bytes(data) != rec["sha256"]):
        raise SurrogateFormatError(
            f"{f}: checksum mismatch with the manifest: the file is corrupted or foreign"
        )
    return data


def _read_arrays(data: bytes, apath: Path, n_blocks: int) -> dict[str, np.ndarray]:
    """arrays.npz (``data``, read from ``apath``) as untrusted data: only the writer's array names (of blocks
    0..n_blocks-1), each ``.npy`` header checked and MAX_ARRAYS_BYTES in all before anything is decompressed,
    nothing unpickled."""
    try:
        with io.BytesIO(data) as fh:
            with zipfile.ZipFile(fh) as z:
                headers = npz_headers(z, MAX_ARRAYS_BYTES)
            odd = sorted(
                k
                for k in headers
                if not (m := _ARRAY_NAME.fullmatch(k))
                or (m.group(1) is not None and int(m.group(1)) >= n_blocks)
            )
            if odd:
                raise ValueError(
                    f"array(s) {odd[:5]} are not a surrogate's: allowed are block<j>.<name> for the manifest's "
                    f"{n_blocks} blocks (j = 0..{n_blocks - 1}) and noise_calibration"
                )
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, MemoryError) as e:
        raise SurrogateFormatError(f"{apath}: cannot read ({type(e).__name__}: {e})") from None


def _build(
    path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray], blobs: dict[str, bytes]
) -> CurveSurrogate:
    mpath = path / MANIFEST
    sur = CurveSurrogate(
        model=manifest["model"],
        model_params=_overrides(manifest["model"], manifest["model_params"]),
        max_components=manifest["max_components"],
        noise=manifest["noise"],
        random_state=manifest["random_state"],
        distill=manifest.get("distill", 0),
        distill_params=manifest.get("distill_params"),
    )
    sur.distilled_from_ = manifest.get("distilled_from")
    h = read_header(path, manifest)
    sur.space_, sur.fidelity_, sur.metrics_ = h.space, h.fidelity, h.metrics
    sur.objective_, sur.test_objective_ = h.objective, h.test_objective
    sur.table_name_, sur.table_seeds_ = h.table_name, h.table_seeds
    sur.encoder_ = SpaceEncoder(sur.space_)
    sur.n_train_configs_ = manifest["table"].get("n_train_configs", 0)
    sur.noise_scale_ = float(manifest["noise_scale"])
    sur.n_features_in_ = int(manifest["n_features"])
    sur.fit_seconds_ = float(manifest["provenance"].get("fit_seconds", 0.0))
    sur.noise_calibration_ = arrays["noise_calibration"]
    sur.blocks_, sur.target_mean_, sur.target_std_, sur.bank_ = [], [], [], []
    for j, meta in enumerate(manifest["blocks"]):
        prefix = f"block{j}."
        own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        sur.blocks_.append(block_from_state(meta, own))
        sur.target_mean_.append(own["target_mean"])
        sur.target_std_.append(own["target_std"])
        sur.bank_.append(own["bank"])
    n_targets = [int(meta["n_targets"]) for meta in manifest["blocks"]]
    sur.block_columns_ = np.cumsum([0, *n_targets])
    sur.regressors_ = {}
    sur.joint_ = {name: bool(rec["joint"]) for name, rec in manifest["regressors"].items()}
    for name, rec in manifest["regressors"].items():
        outs = [sum(n_targets)] if sur.joint_[name] else n_targets
        sur.regressors_[name] = [
            load_regressor(name, path / f, rec["params"], sur.n_features_in_, k, data=blobs[f])
            for f, k in zip(rec["files"], outs, strict=True)
        ]
    _check_parts(mpath, sur, arrays)
    return sur


def _check_parts(mpath: Path, sur: CurveSurrogate, arrays: dict[str, np.ndarray]) -> None:
    """The pieces fit together as the writer made them (one block per metric, then the cost; finite numbers)."""
    names = [b.name for b in sur.blocks_]
    want = [*sur.metrics_, "cost"]
    if names != want:
        raise SurrogateFormatError(f"{mpath}: blocks {names} do not match the metrics and cost {want}")
    if not (np.isfinite(sur.noise_scale_) and sur.noise_scale_ >= 0):
        raise SurrogateFormatError(f"{mpath}: noise_scale {sur.noise_scale_} must be finite and non-negative")
    if sur.n_features_in_ != sur.encoder_.n_features:
        raise SurrogateFormatError(
            f"{mpath}: n_features {sur.n_features_in_} does not match the space, which encodes to "
            f"{sur.encoder_.n_features} features"
        )
    for key, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise SurrogateFormatError(
                f"{mpath.parent / ARRAYS}: array {key!r} has dtype {a.dtype}; numbers expected"
            )
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise SurrogateFormatError(f"{mpath.parent / ARRAYS}: array {key!r} holds NaN or infinite values")
    for j, (mean, std) in enumerate(zip(sur.target_mean_, sur.target_std_, strict=True)):
        if mean.shape != std.shape or not np.all(std > 0):
            raise SurrogateFormatError(f"{mpath.parent / ARRAYS}: block {j}: target scaling is malformed")


def check_surrogate(path: Path, sur: CurveSurrogate) -> None:
    """Predict a fixed probe of configurations and check the writer's rules on the answers.

    Every metric finite (or NaN nowhere) and within its declared bounds; cost finite, non-negative and
    non-decreasing along the fidelity grid. A surrogate that breaks them is a SurrogateFormatError.
    """
    space = type(sur.space_).from_serialized_dict(sur.space_.to_serialized_dict())
    space.seed(0)
    probe = [dict(c) for c in space.sample_configuration(PROBE_CONFIGS)]
    try:
        X = sur.encode(probe)
        curves = sur.predict_curves(X, seeds=np.arange(PROBE_CONFIGS, dtype=np.int64))
    except Exception as e:  # noqa: BLE001 - any failure of a foreign model is a bad folder
        raise SurrogateFormatError(
            f"{path}: the surrogate fails on a probe query ({type(e).__name__}: {e})"
        ) from None
    F = len(sur.fidelity_.values)
    for name, a in curves.items():
        if a.shape != (PROBE_CONFIGS, F):
            raise SurrogateFormatError(
                f"{path}: {name} predictions have shape {a.shape}, expected {(PROBE_CONFIGS, F)}"
            )
        if not np.all(np.isfinite(a)):
            raise SurrogateFormatError(f"{path}: {name} predictions on the probe are not all finite")
        if name == "cost":
            if np.any(a < 0) or np.any(np.diff(a, axis=1) < 0):
                raise SurrogateFormatError(
                    f"{path}: predicted cost is negative or decreases along the fidelity"
                )
        else:
            m = sur.metrics_[name]
            if np.any(a < m.lower) or np.any(a > m.upper):
                raise SurrogateFormatError(
                    f"{path}: {name} predictions in [{a.min()}, {a.max()}] leave its bounds [{m.lower}, {m.upper}]"
                )
