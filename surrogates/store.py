"""Save a fitted CurveSurrogate to a folder of portable files, and load it back without retraining.

A surrogate folder::

    manifest.json    what it is: format, model and parameters, the table it was fitted on (name and
                     checksum), space, fidelity, metrics, the curve blocks, provenance, every file's sha256
    arrays.npz       the numbers of the curve model (PCA means and directions, ranges, target scaling, noise banks);
                     read with allow_pickle=False
    block<j>.<ext>   one regressor per block (metric or cost): .ubj.gz (gzipped XGBoost UBJSON), .skops (scikit-learn),
                     .pt (torch state_dict, loaded with weights_only=True)
    card.json/.md    the quality card, when one was made (see surrogates.quality)

Loading checks every file against the manifest's checksums first, so a
truncated or foreign file is an error naming it, never a silently wrong model.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.io import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    code_version,
    hardware,
    sha256_file,
    utc_now,
)
from benchmarks.protocol import Fidelity, Metric
from benchmarks.space import space_from_dict, space_to_dict

from .encoding import SpaceEncoder
from .models import DEFAULTS, SUFFIX, load_regressor, save_regressor
from .surrogate import CurveSurrogate
from .targets import block_from_state

FORMAT = "curvebench-surrogate"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"


class SurrogateFormatError(ValueError):
    """A surrogate folder whose files are missing, corrupted or of another format."""


def save_surrogate(
    sur: CurveSurrogate,
    path: str | Path,
    *,
    table_checksum: str = "",
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``sur`` to the folder ``path`` atomically (an existing folder needs ``overwrite=True``)."""
    path = Path(path)
    if not hasattr(sur, "regressors_"):
        raise ValueError("this CurveSurrogate is not fitted yet; call fit(table) first")
    arrays: dict[str, np.ndarray] = {}
    blocks_meta = []
    for j, b in enumerate(sur.blocks_):
        meta, arr = b.state()
        meta["n_targets"] = int(len(sur.target_mean_[j]))
        meta["file"] = f"block{j}{SUFFIX[sur.model]}"
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
        "model_params": {**DEFAULTS[sur.model], **(sur.model_params or {})},
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
    with atomic_dir(path, overwrite=overwrite) as tmp:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(tmp / ARRAYS, buf.getvalue())
        for j, meta in enumerate(blocks_meta):
            save_regressor(sur.model, sur.regressors_[j], tmp / meta["file"])
        for f in sorted(tmp.iterdir()):
            manifest["files"][f.name] = {"sha256": sha256_file(f), "bytes": f.stat().st_size}
        atomic_write_json(tmp / MANIFEST, manifest)
    return path


def read_surrogate_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise SurrogateFormatError(f"{mpath}: missing (not a surrogate folder; fit one with python -m surrogates.fit)")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SurrogateFormatError(f"{mpath}: not valid JSON ({e})") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise SurrogateFormatError(
            f"{mpath}: format {manifest.get('format')!r} version {manifest.get('format_version')!r}; "
            f"this reader reads {FORMAT!r} version {FORMAT_VERSION}"
        )
    return manifest


def load_surrogate(path: str | Path, *, verify: bool = True) -> tuple[CurveSurrogate, dict[str, Any]]:
    """Read a folder written by :func:`save_surrogate`; return the fitted surrogate and its manifest."""
    path = Path(path)
    manifest = read_surrogate_manifest(path)
    for fname, rec in manifest["files"].items():
        f = path / fname
        if not f.is_file():
            raise SurrogateFormatError(f"{f}: missing (the manifest lists it)")
        if verify and (f.stat().st_size != rec["bytes"] or sha256_file(f) != rec["sha256"]):
            raise SurrogateFormatError(f"{f}: checksum mismatch with the manifest: the file is corrupted or foreign")
    with np.load(path / ARRAYS, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}

    sur = CurveSurrogate(
        model=manifest["model"],
        model_params={k: v for k, v in manifest["model_params"].items() if DEFAULTS[manifest["model"]].get(k) != v}
        or None,
        max_components=manifest["max_components"],
        noise=manifest["noise"],
        random_state=manifest["random_state"],
    )
    sur.space_ = space_from_dict(manifest["space"])
    sur.encoder_ = SpaceEncoder(sur.space_)
    fd = manifest["fidelity"]
    sur.fidelity_ = Fidelity(fd["name"], tuple(fd["values"]), fd.get("unit", ""), continuous=True)
    sur.metrics_ = {m["name"]: Metric.from_dict(m) for m in manifest["metrics"]}
    sur.objective_ = manifest["objective"]
    sur.test_objective_ = manifest.get("test_objective")
    sur.table_name_ = manifest["table"]["name"]
    sur.table_seeds_ = tuple(manifest["table"]["seeds"])
    sur.n_train_configs_ = manifest["table"].get("n_train_configs", 0)
    sur.noise_scale_ = float(manifest["noise_scale"])
    sur.n_features_in_ = int(manifest["n_features"])
    sur.fit_seconds_ = float(manifest["provenance"].get("fit_seconds", 0.0))
    sur.noise_calibration_ = arrays["noise_calibration"]
    sur.blocks_, sur.target_mean_, sur.target_std_, sur.bank_, sur.regressors_ = [], [], [], [], []
    for j, meta in enumerate(manifest["blocks"]):
        prefix = f"block{j}."
        own = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        sur.blocks_.append(block_from_state(meta, own))
        sur.target_mean_.append(own["target_mean"])
        sur.target_std_.append(own["target_std"])
        sur.bank_.append(own["bank"])
        sur.regressors_.append(
            load_regressor(sur.model, path / meta["file"], manifest["model_params"], sur.n_features_in_, meta["n_targets"])
        )
    return sur, manifest
