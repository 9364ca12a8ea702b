"""Merge a finished sweep's shards into a CurveBench table (the one recipe every generated table goes through).

Checks that every planned (config_id, seed) run is present exactly once, turns
the cost model's per-epoch seconds into cumulative cost, and writes the table
with :func:`benchmarks.table.write_table` plus a provenance manifest (code
version, dataset checksums, split seed, hardware, torch version, compute spent,
the cost model and its error) and a data card (CARD.md).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.cli import key_field, parse_command, usage_status
from benchmarks.io import atomic_write_text, hardware, sha256_bytes
from benchmarks.protocol import CurveBenchError, Fidelity
from benchmarks.table import TableSpec, read_manifest, write_table

from . import costmodel, inference
from .prepare import Sweep, SweepConfig, calibrate, prepare, read_calibration, table_folder
from .recipes import TABLES, cost_pool
from .shards import SweepStateError, done_shards, read_plan, read_shard, shard_path

#: what a pooled calibration must share with the sweep's own (``hardware``: its CPU and torch version): timings
#: taken another way, or on another machine, are not pooled
_POOL_SAME = ("device", "threads", "epochs_timed")
_POOL_SAME_HARDWARE = ("cpu", "torch")


#: the settings that make a sweep's plan and calibration: a sweep is its table's shipped recipe when they match
_RECIPE_FIELDS = (
    "family",
    "dataset",
    "n_configs",
    "seeds",
    "sample_seed",
    "split_seed",
    "max_train_rows",
    "train_fraction",
    "max_group",
    "shard_runs",
    "shard_seconds",
    "calib_configs",
    "calib_epochs",
)


def _is_recipe(sw: Sweep) -> bool:
    """Whether ``sw`` is its table's shipped recipe (data/recipes.py), not another sweep of the same name."""
    name = sw.folder.name
    if name not in TABLES:
        return False
    ref = SweepConfig(name=name, **TABLES[name])
    same = all(getattr(sw.cfg, k) == getattr(ref, k) for k in _RECIPE_FIELDS)
    return same and sw.epochs == int(ref.epochs or sw.family.epochs)


def _sibling_calibration(sw: Sweep, name: str) -> Path:
    """The calibration file of ``name``, a sweep of ``sw``'s data-size family beside it, which must be the same
    sweep on another fraction (its plan's settings are this one's but for the name and the fraction): else
    SweepStateError naming what differs, or what is missing. Nothing is timed here (``make tables`` runs a
    family's sweeps before it merges their tables)."""
    folder = sw.folder.parent / name
    path = folder / "calibration.json"
    if not path.is_file():
        raise SweepStateError(
            f"{sw.folder.name}: its cost model is fitted on the calibrations of its data-size family "
            f"({', '.join(cost_pool(sw.folder.name))}), and {path} is missing; start that sweep first (its "
            "worker 0 times its calibration before training)"
        )
    skip = {"name", "train_fraction"}
    ours = {k: v for k, v in sw.plan.settings.items() if k not in skip}
    theirs = {k: v for k, v in read_plan(folder / "plan.json").settings.items() if k not in skip}
    if ours != theirs:
        diff = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        raise SweepStateError(
            f"{folder}: not the same sweep as {sw.folder} on another fraction (settings differ: "
            f"{', '.join(diff)}); its calibration is not pooled. Give one of them another name= ."
        )
    return path


def _with_pool(sw: Sweep, calib: dict[str, Any]) -> dict[str, Any]:
    """``calib`` with its model fitted on the runs of every sweep :func:`recipes.cost_pool` names, in that order
    (this one's from ``calib``, the others' from their ``calibration.json`` beside this sweep's folder, read,
    never timed again: :func:`_sibling_calibration`), the other sweeps' checksums and this one's own model
    recorded under ``pooled``; ``calib`` itself for a table that pools nothing, and for a sweep that is not its
    table's shipped recipe (another sweep of the same name, e.g. fewer configurations: it has no family to pool
    with)."""
    names = cost_pool(sw.folder.name) if _is_recipe(sw) else ()
    if not names:
        return calib
    runs: list[dict[str, Any]] = []
    sources = []
    for name in names:
        if name == sw.folder.name:
            runs += [{**r, "sweep": name} for r in calib["runs"]]
            continue
        path = _sibling_calibration(sw, name)
        raw = path.read_bytes()
        other = read_calibration(path)
        pairs = [(k, other.get(k), calib.get(k)) for k in _POOL_SAME] + [
            (f"hardware.{k}", (other.get("hardware") or {}).get(k), (calib.get("hardware") or {}).get(k))
            for k in _POOL_SAME_HARDWARE
        ]
        for k, theirs, ours in pairs:
            if theirs != ours:
                raise SweepStateError(
                    f"{path}: {k}={theirs!r}, but {sw.folder / 'calibration.json'} has {ours!r}; calibrations "
                    "timed another way or on another machine are not pooled"
                )
        runs += [{**r, "sweep": name} for r in other["runs"]]
        sources.append({"sweep": name, "sha256": sha256_bytes(raw), "n_runs": len(other["runs"])})
    return {
        **calib,
        "model": costmodel.refit(runs),
        "runs": runs,
        "pooled": {"own_model": calib["model"], "own_runs": len(calib["runs"]), "sweeps": sources},
    }


def _calibration_of(sw: Sweep, out: Path, prov: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep's calibration as it is (never refitted here; pooled as a merge pools it), which must be the
    cost model ``out``'s costs were made with: a card rewritten alone may not describe another model than its
    table's."""
    calib = _with_pool(sw, read_calibration(sw.folder / "calibration.json"))
    used = (prov.get("cost_model") or {}).get("coefficients")
    if used != calib["model"]["coefficients"]:
        raise SweepStateError(
            f"{out}: its costs were made with another cost model than {sw.folder / 'calibration.json'} holds "
            f"(coefficients {used} against {calib['model']['coefficients']}); re-merge it (overwrite=true) "
            "rather than rewrite its card alone"
        )
    return calib


def _fit_text(calib: Mapping[str, Any]) -> str:
    """How the cost model was fitted: its record says so since relative-error fits; older ones fitted seconds
    (and a calibration refitted from its timings says when)."""
    fit = calib["model"].get("fit")
    text = (
        str(fit) if fit else "least squares on absolute seconds per epoch, the fit before relative-error fits"
    )
    refit = calib.get("refitted")
    if isinstance(refit, dict):
        text += f"; refitted on {str(refit.get('at', '?'))[:10]} from the same timed runs, first fitted on seconds"
    pooled = calib.get("pooled")
    if isinstance(pooled, dict):
        others = ", ".join(f"`{p['sweep']}`" for p in pooled["sweeps"])
        text += (
            f"; pooled: this sweep's {pooled['own_runs']} timed runs and those of its data-size family's other "
            f"sweeps ({others}), so one model, the same for every fraction, costs them all"
        )
    return text


def _timed_text(calib: Mapping[str, Any]) -> str:
    """What the cost model was fitted on: configurations timed alone (a pooled calibration: runs, some of
    them the same configuration at several fractions)."""
    n = calib["model"]["n_calibration_runs"]
    if "pooled" not in calib:
        return f"{n} configurations timed alone"
    k = len({int(r["config_id"]) for r in calib["runs"]})
    return f"{n} runs timed alone ({k} configurations, some of them at several fractions)"


def _cpu_text(got: Mapping[str, Any]) -> str:
    """The card's CPU time, where the shards recorded it (shards written before CurveBench timed CPU did not)."""
    have, n = got["shards_with_cpu"]
    if not have:
        return ""
    hours = f"{got['train_cpu_seconds'] / 3600:.2f} h of CPU time"
    return f" ({hours})" if have == n else f" ({hours} in the {have} of {n} shards that recorded it)"


def collect(sw: Sweep) -> dict[str, Any]:
    """Read every shard into dense (config, seed, epoch) arrays; refuse missing or repeated runs."""
    plan = sw.plan
    n = len(plan.shards)
    missing = sorted(set(range(n)) - done_shards(sw.folder, n))
    if missing:
        raise SweepStateError(
            f"{sw.folder}: {len(missing)} of {n} shards are not done yet "
            f"(first: {shard_path(sw.folder, missing[0]).name}); rerun the sweep to finish them"
        )
    metric_names = [m.name for m in sw.family.metrics()]
    seeds = [int(s) for s in plan.settings["seeds"]]
    C, S, E = len(plan.configs), len(seeds), int(plan.settings["epochs"])
    values = np.full((len(metric_names), C, S, E), np.nan, dtype=np.float32)
    seen = np.zeros((C, S), dtype=np.int32)
    n_params = np.zeros(C, dtype=np.int64)
    plan_digest = plan.digest()
    numerics: set[tuple[str, Any]] = set()
    diverged = []
    wall, group_seconds, hw, devices, threads, versions = 0.0, 0.0, set(), set(), set(), set()
    cpu, n_cpu = 0.0, 0
    seed_pos = {s: i for i, s in enumerate(seeds)}
    for i in range(n):
        a, meta = read_shard(shard_path(sw.folder, i))
        if meta.get("metric_names") != metric_names:
            raise SweepStateError(f"shard {i}: metrics {meta.get('metric_names')} differ from {metric_names}")
        if a["metrics"].shape[2] != E:
            raise SweepStateError(
                f"{shard_path(sw.folder, i)}: {a['metrics'].shape[2]} epochs, the plan has {E}; "
                f"delete it and rerun"
            )
        digest = meta.get("plan_digest")  # shards written before it was recorded have none
        if digest is not None and digest != plan_digest:
            raise SweepStateError(
                f"{shard_path(sw.folder, i)}: was trained for another plan (plan_digest {digest[:12]}, this "
                f"sweep's plan.json is {plan_digest[:12]}); it was copied in, or the plan replaced. Delete it and rerun"
            )
        planned = sorted(r for g in plan.shards[i] for r in g)
        got = sorted(zip(a["config_id"].tolist(), a["seed"].tolist()))
        if planned != got:
            raise SweepStateError(
                f"{shard_path(sw.folder, i)}: holds runs that differ from its plan; delete it and rerun"
            )
        for r, (cid, seed) in enumerate(zip(a["config_id"].tolist(), a["seed"].tolist())):
            s = seed_pos[seed]
            seen[cid, s] += 1
            values[:, cid, s, :] = a["metrics"][r]
            n_params[cid] = a["n_params"][r]
            if a["diverged_epoch"][r] >= 0:
                diverged.append({"config_id": cid, "seed": seed, "epoch": int(a["diverged_epoch"][r]) + 1})
        wall += float(meta["wall_seconds"])
        if meta.get("cpu_seconds") is not None:
            cpu += float(meta["cpu_seconds"])
            n_cpu += 1
        group_seconds += float(a["group_epoch_seconds"].sum())
        hw.add(meta["hardware"].get("cpu", "")), devices.add(meta["device"])
        threads.add(meta.get("threads")), versions.add(meta.get("code_version"))
        numerics.add((meta["device"], meta.get("threads")))
    kinds = {(str(d).split(":")[0], t) for d, t in numerics}
    if len(kinds) > 1:
        raise SweepStateError(
            f"{sw.folder}: its shards were trained with different devices or thread counts "
            f"({', '.join(f'{d}, {t} thread(s)' for d, t in sorted(kinds, key=str))}), which round differently: a "
            "table cannot mix them. Delete the shards of one kind and rerun them like the others"
        )
    if (seen != 1).any():
        bad = np.argwhere(seen != 1)[0]
        raise SweepStateError(f"run config_id={bad[0]} seed={seeds[bad[1]]} appears {seen[tuple(bad)]} times")
    return {
        "values": values,
        "metric_names": metric_names,
        "n_params": n_params,
        "diverged": diverged,
        "train_wall_seconds": wall,
        "train_cpu_seconds": cpu if n_cpu else None,
        "shards_with_cpu": (n_cpu, n),
        "group_seconds": group_seconds,
        "cpus": sorted(hw),
        "devices": sorted(devices),
        "threads": sorted(t for t in threads if t is not None),
        "code_versions": sorted(v for v in versions if v),
    }


def merge(
    sw: Sweep, *, device: torch.device, out: Path, overwrite: bool = False, progress: bool = False
) -> Path:
    """Write the table of a finished sweep to ``out`` (and its CARD.md); return ``out``."""
    got = collect(sw)
    shard_types = sorted({d.split(":")[0] for d in got["devices"]})
    if not (sw.folder / "calibration.json").exists() and shard_types != [device.type]:
        raise SweepStateError(
            f"{sw.folder}: the shards trained on {shard_types} but the cost model would be "
            f"calibrated on {device.type}; merge on the device the sweep ran on"
        )
    calib = _with_pool(sw, calibrate(sw, device))
    records = [sw.config(c) for c in range(len(sw.plan.configs))]
    per_epoch = costmodel.predict(calib["model"], [sw.family.workload(r, sw.data) for r in records])
    per_epoch = np.maximum(per_epoch, 1e-6)
    seeds = [int(s) for s in sw.plan.settings["seeds"]]
    E = int(sw.plan.settings["epochs"])
    cost = np.broadcast_to(
        per_epoch[:, None, None] * np.arange(1, E + 1)[None, None, :], (len(records), len(seeds), E)
    ).astype(np.float32)
    configs = sw.plan.configs.copy()
    configs["n_params"] = got["n_params"]
    timing = inference.measure(sw, device, threads=int(calib.get("threads") or 1), progress=progress)
    configs[inference.ATTRIBUTE] = inference.seconds_per_sample(timing)
    attributes = {**sw.family.attributes(), inference.ATTRIBUTE: inference.describe(timing)}
    predicted_alone = float(per_epoch.sum() * len(seeds) * E)
    provenance = {
        "generator": "data.sweep (CurveBench data-generation pipeline)",
        "family": sw.family.name,
        "dataset": sw.data.provenance,
        "sweep": sw.plan.settings,
        "sampling": _sampling_text(sw),
        "hardware": hardware(),
        # the thread count the shards trained with (one, unless shards of an older sweep mixed them)
        "recording_hardware": {
            "cpus": got["cpus"],
            "devices": got["devices"],
            "threads": got["threads"][0] if len(got["threads"]) == 1 else got["threads"],
        },
        "shard_code_versions": got["code_versions"],
        "torch_version": torch.__version__,
        "compute_seconds": {
            "training": got["train_wall_seconds"],
            "training_cpu": got["train_cpu_seconds"],
            "calibration": calib.get("compute_seconds"),
            "inference_timing": timing.get("compute_seconds"),
            "sum_of_predicted_solo_cost": predicted_alone,
        },
        "cost_model": {
            "what": "cost = seconds to train the configuration alone to that epoch, from a model fitted on "
            "configurations timed alone (data/costmodel.py); groups trained together were not timed "
            "per configuration",
            **calib["model"],
            "calibration_runs": calib["runs"],
            "calibration_hardware": calib.get("hardware"),
            **({"refitted": calib["refitted"]} if "refitted" in calib else {}),
            **({"pooled": calib["pooled"]} if "pooled" in calib else {}),
        },
        "diverged_runs": got["diverged"],
        "inference_timing": {k: v for k, v in timing.items() if k != "seconds_per_sample"},
    }
    fam = sw.family
    write_table(
        out,
        TableSpec(
            name=out.name,
            space=fam.space(),
            fidelity=Fidelity("epoch", tuple(float(e) for e in range(1, E + 1)), unit="epochs"),
            metrics=fam.metrics(),
            objective=fam.objective,
            test_objective=fam.test_objective,
            seeds=seeds,
            attributes=attributes,
            description=f"{fam.description} on {sw.data.name}",
            task={
                "dataset": sw.data.name,
                "type": sw.data.task,
                "n_features": sw.data.n_features,
                "n_classes": sw.data.n_classes,
                "rows": sw.data.provenance["rows"],
                **(
                    {"train_fraction": sw.data.provenance["train_fraction"]}
                    if "train_fraction" in sw.data.provenance
                    else {}
                ),
            },
            provenance=provenance,
        ),
        configs=configs,
        values={m: got["values"][i] for i, m in enumerate(got["metric_names"])},
        cost=cost,
        overwrite=overwrite,
        extra_files={"CARD.md": card(sw, got, calib, provenance)},
    )
    return out


def _sampling_text(sw: Sweep) -> str:
    s = sw.plan.settings
    how = sw.family.sampling_description()
    return (
        f"{s['n_configs']} configurations {how} with numpy seed {s['sample_seed']}; "
        f"each trained with seeds {s['seeds']} for {s['epochs']} epochs"
    )


def _names(names: list[str], shown: int = 12) -> str:
    """Feature names for a card: all of them up to ``shown``, else the count and the first ones (manifest.json
    keeps the full list)."""
    if not names:
        return "none"
    if len(names) <= shown:
        return ", ".join(names)
    return f"{len(names)}: {', '.join(names[:shown])}, ...; all in manifest.json"


def _preprocessing_text(d: dict[str, Any]) -> str:
    if d.get("raw_features"):
        return f"{d['n_features']} features fed as stored (no standardization)."
    dropped = _names(d["dropped_constant_features"])
    onehot = _names(d["one_hot_features"])
    target = " The target is standardized the same way." if d["task"] == "regression" else ""
    return (
        f"{d['n_features']} features after dropping constant ones ({dropped}) and one-hot encoding "
        f"integer-coded categoricals ({onehot}); standardized with the training split's mean and std.{target}"
    )


def card(sw: Sweep, got: dict[str, Any], calib: dict[str, Any], prov: dict[str, Any]) -> str:
    """The data card of a generated table (Markdown)."""
    s, d, m = sw.plan.settings, sw.data.provenance, calib["model"]
    objective = got["values"][got["metric_names"].index(sw.family.objective)]
    final = objective[:, :, -1]
    rows = d["rows"]
    timing = prov.get("inference_timing")
    attrs = "attributes `n_params`, `infer_seconds`" if timing else "attribute `n_params`"
    infer = (
        f"\n\n`infer_seconds` is the seconds per sample of the configuration's forward pass in evaluation mode, "
        f"timed when the table was merged (batch of {timing['batch_rows']} test rows, median of "
        f"{timing['repeats']} passes after {timing['warmup']} untimed ones; {inference.where(timing)}; "
        f"{timing['compute_seconds']:.0f} s for all configurations; "
        "`data/inference.py`)."
        if timing
        else ""
    )
    sub = (
        f" The training split was subsampled to {s['max_train_rows']} rows (fixed by the split seed) to fit the "
        f"CPU budget; valid and test are whole."
        if s.get("max_train_rows")
        else ""
    )
    frac_arg = f" train_fraction={s['train_fraction']!r}" if s.get("train_fraction") else ""
    if list(s.get("seeds", [0, 1])) != [0, 1]:
        frac_arg += f" 'seeds=[{','.join(str(x) for x in s['seeds'])}]'"
    default_name = f"{s['family']}-{s['dataset']}"
    if s["name"] != default_name and not s["name"].startswith(default_name + "-train"):
        frac_arg += f" name={s['name']}"
    if s.get("train_fraction"):
        sub += (
            f" Trained on {s['train_fraction']:.6g} of the training split ({rows['train']} rows: a fixed, "
            f"class-stratified order of the split, cut at that fraction, so the subsets of smaller fractions lie "
            f"inside those of larger ones; the data-size fidelity). Valid and test are whole; features are "
            f"standardized on the rows kept."
        )
    return f"""# {s["name"]}

{sw.family.description} on the {d["dataset"]} dataset, generated by CurveBench's data pipeline
(`python -m data.sweep family={s["family"]} dataset={s["dataset"]} n_configs={s["n_configs"]}{frac_arg}`).

## What it holds
- Configurations: {prov["sampling"]}.
- Fidelity: epoch 1..{s["epochs"]}. Metrics per epoch: {", ".join(got["metric_names"])}.
- Objective: `{sw.family.objective}` (test counterpart `{sw.family.test_objective}`); {attrs}.
- Diverged runs (loss or outputs NaN/inf; metrics NaN from that epoch on): {len(got["diverged"])}.
- Final-epoch {sw.family.objective}: median {np.nanmedian(final):.4g}, best {np.nanmin(final):.4g}.

## Data
- Source: {d["source"]} ({d["licence"]}).
- Files and sha256: {", ".join(f"`{k}` {v}" for k, v in d["files"].items()) or "bundled with scikit-learn"}.
- Split: seed {d["split_seed"]}, fractions {d["split_fractions"]} (train/valid/test rows \
{rows["train"]}/{rows["valid"]}/{rows["test"]}).{sub}
- Preprocessing: {_preprocessing_text(d)}

## Cost
`cost` is the seconds to train the configuration alone, from scratch, to that epoch, evaluating its train, \
validation and test metrics after each epoch as the sweep did, on the recording
hardware ({", ".join(got["cpus"])}; device {", ".join(got["devices"])}; \
{prov["recording_hardware"]["threads"]} thread(s)). Runs were trained
in groups that share kernels, so cost comes from a model fitted ({_fit_text(calib)}) on {_timed_text(calib)} \
({calib["epochs_timed"]} epochs each, \
{"warm-up epoch left out" if calib["epochs_timed"] > 1 else "the one epoch timed, warm-up included"}): \
leave-one-out relative error median
{100 * m["loo_relative_error_median"]:.1f}%, max {100 * m["loo_relative_error_max"]:.1f}%. Timings were taken on a
shared machine and carry that noise. Compute spent: {got["train_wall_seconds"] / 3600:.2f} h of training wall \
time{_cpu_text(got)}.{infer}

## Known limits
Details the original protocol does not publish are chosen openly in the family's module docstring
(`data/families/{s["family"]}.py`). Provenance (code version, torch version, hardware) is in manifest.json.
"""


@dataclass
class MergeArgs:
    """``python -m data.merge``'s keys."""

    name: str = key_field(help="the shipped table (data/recipes.py)", choices=sorted(TABLES), positional=True)
    overwrite: bool = key_field(False, "rewrite an existing table")
    card_only: bool = key_field(False, "only rewrite CARD.md of an existing table")


def main(argv: list[str] | None = None) -> int:
    """``python -m data.merge name=NAME``: merge a shipped table's finished sweep (or only rewrite its CARD.md)."""
    try:
        _, args = parse_command(argv, MergeArgs, module="data.merge", description=main.__doc__)
    except CurveBenchError as e:
        return usage_status(e)
    cfg = SweepConfig(name=args.name, **TABLES[args.name])
    sw = prepare(cfg)
    out = table_folder(cfg)
    try:
        if args.card_only:
            prov = read_manifest(out)["provenance"]
            atomic_write_text(out / "CARD.md", card(sw, collect(sw), _calibration_of(sw, out, prov), prov))
        else:
            merge(sw, device=torch.device("cpu"), out=out, overwrite=args.overwrite)
    except (SweepStateError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
