"""The data pipeline and untrusted files: shards, plans, calibrations, downloads, tables and settings.

Crafted payloads use harmless markers only: a pickle whose loading would create an empty marker file,
an archive member named ``../marker``. Each test checks the marker is never written.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from benchmarks.protocol import CurveBenchError, SeedError, TableFormatError
from benchmarks.table import read_table
from data import build, verify
from data import datasets as ds
from data.checks import INT_LIMITS, SettingsError
from data.datasets import DataFile, DatasetError, DatasetSpec
from data.shards import (
    SHARD_ARRAYS,
    Plan,
    SweepStateError,
    clean_stale_tmp,
    read_plan,
    read_shard,
    shard_path,
    write_shard,
)
from data.sweep import (
    LauncherCheck,
    SweepConfig,
    check_settings,
    read_calibration,
    run_sweep_outcome,
    sweep_folder,
    table_folder,
)

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "data" / "conf"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Marker:
    """Unpickling this creates (empty) ``path``: the harmless proof that a loader ran code from a file."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _cfg(tmp: Path, **kw) -> SweepConfig:
    base = dict(
        family="fcnet",
        dataset="diabetes",
        n_configs=4,
        epochs=2,
        shard_runs=2,
        max_group=2,
        calib_configs=2,
        calib_epochs=2,
        progress=False,
        sweeps_dir=str(tmp / "sweeps"),
        tables_dir=str(tmp / "tables"),
    )
    return SweepConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A finished tiny sweep and its table (a few seconds of training, once for the module)."""
    tmp = tmp_path_factory.mktemp("tiny")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = run_sweep_outcome(_cfg(tmp))
    finally:
        torch.set_num_threads(n)
    assert out.status == "written"
    return tmp


def _copy_sweep(tiny: Path, tmp: Path) -> Path:
    shutil.copytree(tiny / "sweeps", tmp / "sweeps")
    return tmp


def _valid_arrays(n=2, m=5, e=2):
    return {
        "config_id": np.arange(n, dtype=np.int32),
        "seed": np.zeros(n, np.int32),
        "metrics": np.zeros((n, m, e), np.float32),
        "diverged_epoch": np.full(n, -1, np.int32),
        "n_params": np.ones(n, np.int64),
        "group": np.zeros(n, np.int32),
        "group_epoch_seconds": np.ones((1, e)),
    }


META = {
    "shard": 0,
    "metric_names": ["a", "b", "c", "d", "e"],
    "wall_seconds": 1.0,
    "device": "cpu",
    "threads": 1,
    "hardware": {},
    "code_version": "x",
}


def _npz(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("cpu", [-1.0, float("nan"), "3", True])
def test_a_shard_with_a_bad_cpu_time_is_refused_naming_it(tmp_path, cpu):
    path = _npz(
        shard_path(tmp_path, 0), meta=np.array(json.dumps({**META, "cpu_seconds": cpu})), **_valid_arrays()
    )
    with pytest.raises(SweepStateError, match="cpu_seconds="):
        read_shard(path)


# ---------------------------------------------------------------- shards never run code, never tear
def test_a_shard_holding_a_pickle_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "marker"
    evil = np.empty(1, dtype=object)
    evil[0] = Marker(marker)
    path = _npz(
        shard_path(tmp_path, 0), meta=np.array(json.dumps(META)), **{**_valid_arrays(), "config_id": evil}
    )
    with pytest.raises(SweepStateError, match=f"{path}: unreadable shard.*pickled"):
        read_shard(path)
    # a bare pickle file under a shard's name
    import pickle

    path.write_bytes(pickle.dumps(Marker(marker)))
    with pytest.raises(SweepStateError, match=str(path)):
        read_shard(path)
    with pytest.raises(SweepStateError, match=str(path)):
        read_shard(path, arrays=False)
    assert not marker.exists()


def test_a_shard_announcing_a_huge_array_is_refused_before_allocating(tmp_path):
    path = _npz(shard_path(tmp_path, 0), meta=np.array(json.dumps(META)), **_valid_arrays())
    # rewrite metrics.npy's header to claim 10**12 floats (4 TB) over the same few bytes of data
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(hdr, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    members["metrics.npy"] = hdr.getvalue() + b"\0" * 80
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    t0 = time.perf_counter()
    with pytest.raises(SweepStateError, match="header announces"):
        read_shard(path)
    assert time.perf_counter() - t0 < 2


@pytest.mark.parametrize(
    "change",
    [
        "extra member",
        "traversal member",
        "wrong dtype",
        "short seeds",
        "metric count",
        "diverged range",
        "meta index",
        "meta not json",
        "no meta",
    ],
)
def test_a_shard_is_checked_against_the_writers_rules(tmp_path, change):
    arrays, meta = _valid_arrays(), dict(META)
    extra = {}
    if change == "extra member":
        extra = {"payload": np.zeros(3)}
    elif change == "traversal member":
        extra = {"../evil": np.zeros(3)}
    elif change == "wrong dtype":
        arrays["metrics"] = arrays["metrics"].astype(np.float64)
    elif change == "short seeds":
        arrays["seed"] = arrays["seed"][:1]
    elif change == "metric count":
        meta["metric_names"] = ["a"]
    elif change == "diverged range":
        arrays["diverged_epoch"][0] = 7
    elif change == "meta index":
        meta["shard"] = 3
    path = shard_path(tmp_path, 0)
    if change == "meta not json":
        _npz(path, meta=np.array("{not json"), **arrays)
    elif change == "no meta":
        _npz(path, **arrays)
    else:
        _npz(path, meta=np.array(json.dumps(meta)), **arrays, **extra)
    with pytest.raises(SweepStateError, match=f"{path}: unreadable shard"):
        read_shard(path)
    assert not (tmp_path / "evil.npy").exists()


def test_a_valid_shard_reads_back_exactly(tmp_path):
    arrays = _valid_arrays(3, 5, 4)
    arrays["metrics"] = np.random.default_rng(0).random((3, 5, 4), dtype=np.float32)
    assert write_shard(tmp_path, 0, arrays, META)
    got, meta = read_shard(shard_path(tmp_path, 0))
    assert meta == META and set(got) == set(SHARD_ARRAYS)
    for k, v in arrays.items():
        assert got[k].dtype == v.dtype and np.array_equal(got[k], v)


def test_shipped_sweep_files_pass_the_checks():
    """The committed sweep folders (shards from another machine) satisfy the reader's rules; one shard each."""
    folders = sorted(p for p in (ROOT / "data" / "sweeps").iterdir() if (p / "plan.json").is_file())
    assert folders
    for folder in folders:
        plan = read_plan(folder / "plan.json")
        if (folder / "calibration.json").exists():  # a sweep in progress has one once worker 0 has started
            read_calibration(folder / "calibration.json")
        for i in (0, len(plan.shards) - 1):
            if shard_path(folder, i).is_file():
                read_shard(shard_path(folder, i))


def test_a_merge_refuses_a_shard_with_other_epochs(tiny, tmp_path):
    """A shard with one epoch would broadcast into every epoch of the table; the merge refuses it instead."""
    tmp = _copy_sweep(tiny, tmp_path)
    cfg = _cfg(tmp)
    p0 = shard_path(sweep_folder(cfg), 0)
    a, meta = read_shard(p0)
    a["metrics"], a["group_epoch_seconds"] = a["metrics"][:, :, :1], a["group_epoch_seconds"][:, :1]
    p0.unlink()
    write_shard(sweep_folder(cfg), 0, a, meta)
    with pytest.raises(SweepStateError, match=f"{p0}: 1 epochs, the plan has 2"):
        run_sweep_outcome(cfg)
    assert not table_folder(cfg).exists()


def test_a_merge_refuses_a_shard_trained_for_another_plan(tiny, tmp_path):
    tmp = _copy_sweep(tiny, tmp_path)
    cfg = _cfg(tmp)
    p0 = shard_path(sweep_folder(cfg), 0)
    a, meta = read_shard(p0)
    assert len(meta["plan_digest"]) == 64
    p0.unlink()
    write_shard(sweep_folder(cfg), 0, a, {**meta, "plan_digest": "0" * 64})  # copied in from another sweep
    with pytest.raises(SweepStateError, match=f"{p0}: was trained for another plan"):
        run_sweep_outcome(cfg)
    assert not table_folder(cfg).exists()


def test_shards_without_their_plan_are_never_given_a_new_one(tiny, tmp_path):
    # a plan.json lost (or removed) beside finished shards: a new plan with other settings would take them in
    tmp = _copy_sweep(tiny, tmp_path)
    (sweep_folder(_cfg(tmp)) / "plan.json").unlink()
    with pytest.raises(SweepStateError, match=r"holds \d+ shard\(s\) .* but no plan\.json"):
        run_sweep_outcome(_cfg(tmp, split_seed=1))


def test_a_merge_refuses_shards_of_mixed_thread_counts(tiny, tmp_path):
    tmp = _copy_sweep(tiny, tmp_path)
    cfg = _cfg(tmp)
    p1 = shard_path(sweep_folder(cfg), 1)
    a, meta = read_shard(p1)
    p1.unlink()
    write_shard(sweep_folder(cfg), 1, a, {**meta, "threads": 2})
    with pytest.raises(
        SweepStateError, match=r"different devices or thread counts \(cpu, 1 thread\(s\), cpu, 2"
    ):
        run_sweep_outcome(cfg)


def test_workers_of_one_sweep_must_share_device_and_threads(tmp_path):
    # the first worker records its numerics; a worker started beside it with other threads is refused at once
    cfg = _cfg(tmp_path, n_workers=2, worker=0, max_shards=0, merge=False)
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        from data.engine import resolve_device
        from data.sweep import _check_same_numerics, prepare

        sw = prepare(cfg)
        _check_same_numerics(sw, [], resolve_device("cpu"))
        assert json.loads((sw.folder / "numerics.json").read_text()) == {"device": "cpu", "threads": 1}
        torch.set_num_threads(2)
        with pytest.raises(
            SweepStateError, match=r"numerics\.json: this sweep trains .*'threads': 1.*'threads': 2"
        ):
            _check_same_numerics(sw, [], resolve_device("cpu"))
    finally:
        torch.set_num_threads(n)


def test_a_dataset_file_changed_with_its_size_and_mtime_kept_is_caught_in_the_same_process(
    tmp_path, monkeypatch
):
    src = Path(os.environ.get("CURVEBENCH_DATA_ROOT", "")) / "pmlb" / "australian"
    if not (src / "metadata.yaml").is_file():
        pytest.skip("the australian dataset is not under the data root")
    dst = tmp_path / "pmlb" / "australian"
    shutil.copytree(src, dst)
    monkeypatch.setenv("CURVEBENCH_DATA_ROOT", str(tmp_path))
    ds.dataset_files("australian")  # checked, and its checksum cached
    f = dst / "metadata.yaml"
    st = f.stat()
    text = f.read_bytes()
    f.write_bytes(text.replace(b"categorical", b"continuous!", 1)[: len(text)].ljust(len(text), b" "))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same size and mtime: only the ctime tells
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    with pytest.raises(DatasetError, match=r"metadata\.yaml has sha256 .*, expected 5ca9eb51"):
        ds.dataset_files("australian")


# ---------------------------------------------------------------- plan and calibration files
def test_malformed_plan_and_calibration_files_name_the_file(tiny, tmp_path):
    tmp = _copy_sweep(tiny, tmp_path)
    folder = sweep_folder(_cfg(tmp))
    plan, calib = folder / "plan.json", folder / "calibration.json"
    good_plan, good_calib = json.loads(plan.read_text()), json.loads(calib.read_text())
    for text in [
        "",
        "{",
        "[" * 100_000,
        "null",
        "[]",
        json.dumps({**good_plan, "shards": [[[["0", 1]]]]}),
        json.dumps({**good_plan, "configs": 5}),
        "\udcff",
    ]:
        plan.write_text(text, errors="surrogateescape")
        with pytest.raises(SweepStateError, match=str(plan)):
            run_sweep_outcome(_cfg(tmp))
    plan.write_text(json.dumps(good_plan))
    for bad in [
        {},
        {**good_calib, "model": {**good_calib["model"], "coefficients": ["1e9"] * 5}},
        {**good_calib, "model": {**good_calib["model"], "coefficients": [-1.0] * 5}},
        {**good_calib, "epochs_timed": "3"},
        {**good_calib, "runs": [{"config_id": 0, "seconds_per_epoch": 0.1}]},
        {**good_calib, "runs": [{**r, "seconds_per_epoch": float("nan")} for r in good_calib["runs"]]},
        {**good_calib, "runs": [{**r, "steps": 1.5} for r in good_calib["runs"]]},
        {**good_calib, "runs": good_calib["runs"][:1]},  # fewer runs than the model says, and below 2
    ]:
        calib.write_text(json.dumps(bad))
        with pytest.raises(SweepStateError, match=str(calib)):
            run_sweep_outcome(_cfg(tmp))
    assert not table_folder(_cfg(tmp)).exists()


def test_a_calibration_fitted_the_old_way_is_refitted_from_its_timings_before_a_merge(tiny, tmp_path):
    """A calibration recorded before relative-error fits (no ``fit``; least squares on seconds) gets the
    current fit from its own timed runs, not a new timing; the table's costs follow it, the card says so,
    and the old model is kept beside the new one."""
    from data import costmodel

    tmp = _copy_sweep(tiny, tmp_path)
    path = sweep_folder(_cfg(tmp)) / "calibration.json"
    good = json.loads(path.read_text())
    old_model = {k: v for k, v in good["model"].items() if k != "fit"}
    old_model["coefficients"] = [c * 3.0 for c in old_model["coefficients"]]  # not what the timings give
    path.write_text(json.dumps({**good, "model": old_model}))
    assert run_sweep_outcome(_cfg(tmp)).status == "written"
    now = read_calibration(path)
    assert now["model"] == costmodel.refit(good["runs"]) and now["model"]["fit"] == costmodel.FIT
    assert now["refitted"]["previous_model"] == old_model and now["runs"] == good["runs"]
    np.testing.assert_allclose(now["model"]["coefficients"], good["model"]["coefficients"], rtol=1e-9)
    out = table_folder(_cfg(tmp))
    t = read_table(out)
    per_epoch = t.cost[:, 0, 0]
    again = read_table(table_folder(_cfg(tiny)))
    np.testing.assert_allclose(per_epoch, again.cost[:, 0, 0], rtol=1e-6)  # the refit, not 3x the old model
    assert t.manifest["provenance"]["cost_model"]["refitted"]["previous_model"] == old_model
    assert "refitted on " in (out / "CARD.md").read_text()


def test_a_card_rewritten_alone_describes_the_cost_model_its_table_used(tiny, tmp_path):
    """``data.merge card_only=true`` reads the calibration as it is (no refit) and refuses one that is not
    the model the table's costs were made with, instead of a card that contradicts its table."""
    from data.merge import _calibration_of
    from data.prepare import prepare

    tmp = _copy_sweep(tiny, tmp_path)
    out = table_folder(_cfg(tiny))
    prov = read_table(out).manifest["provenance"]
    sw = prepare(_cfg(tmp))
    path = sw.folder / "calibration.json"
    assert _calibration_of(sw, out, prov)["model"]["coefficients"] == prov["cost_model"]["coefficients"]
    good = json.loads(path.read_text())
    old = {k: v for k, v in good["model"].items() if k != "fit"}  # recorded with the older fit
    path.write_text(
        json.dumps({**good, "model": {**old, "coefficients": [c * 2 for c in old["coefficients"]]}})
    )
    before = path.read_bytes()
    with pytest.raises(SweepStateError, match="another cost model.*re-merge it"):
        _calibration_of(sw, out, prov)
    assert path.read_bytes() == before  # not refitted behind the card's back


def test_malformed_inference_timings_name_the_file(tiny, tmp_path):
    """inference.json is read back at every merge: anything but one finite positive number per configuration
    (and the settings it records) is refused, naming the file, and no table is written."""
    tmp = _copy_sweep(tiny, tmp_path)
    path = sweep_folder(_cfg(tmp)) / "inference.json"
    good = json.loads(path.read_text())
    n = len(good["seconds_per_sample"])
    for bad in [
        "[]",
        json.dumps({**good, "seconds_per_sample": good["seconds_per_sample"][:-1]}),
        json.dumps({**good, "seconds_per_sample": [-1.0] * n}),
        json.dumps({**good, "seconds_per_sample": ["1e-6"] * n}),
        json.dumps({**good, "seconds_per_sample": [True] * n}),
        json.dumps({**good, "repeats": 0}),
        json.dumps({**good, "device": None}),
    ]:
        path.write_text(bad)
        with pytest.raises(SweepStateError, match=str(path)):
            run_sweep_outcome(_cfg(tmp))
    assert not table_folder(_cfg(tmp)).exists()


# ---------------------------------------------------------------- downloads: archives and sizes
def _zipped_spec(monkeypatch, tmp_path, archive: bytes, content: bytes) -> None:
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
    monkeypatch.setenv("CURVEBENCH_DATA_ROOT", str(tmp_path / "root"))


@pytest.mark.parametrize(
    "evil",
    [
        "../marker",
        "../../marker",
        "/tmp/curvebench-marker-{pid}",
        "folder/../../marker",
        "..\\marker",
        "C:/marker",
    ],
)
def test_an_archive_with_a_member_outside_its_folder_is_refused(tmp_path, monkeypatch, evil):
    evil = evil.format(pid=os.getpid())
    content = b"1 2 3\n4 5 6\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("folder/data.txt", content)
        z.writestr(evil, b"marker")
    _zipped_spec(monkeypatch, tmp_path, buf.getvalue(), content)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="point outside the archive's folder.*Nothing was written"):
        ds.download("zipped", opener=lambda url, timeout: io.BytesIO(buf.getvalue()))
    assert not (tmp_path / "root" / "z" / "data.txt.gz").exists()
    assert not list(tmp_path.rglob("marker")) and not (tmp_path.parent / "marker").exists()
    assert not Path(f"/tmp/curvebench-marker-{os.getpid()}").exists()


def test_downloads_and_unpacked_members_have_size_limits(tmp_path, monkeypatch):
    content = b"1 2 3\n" * 1000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("folder/data.txt", content)
    _zipped_spec(monkeypatch, tmp_path, buf.getvalue(), content)
    serve = lambda url, timeout: io.BytesIO(buf.getvalue())  # noqa: E731
    monkeypatch.setattr(ds, "MAX_CONTENT_BYTES", 1000)
    with pytest.raises(DatasetError, match="unpacks to 6000 bytes, more than the 1000 allowed"):
        ds.download("zipped", opener=serve)
    monkeypatch.setattr(ds, "MAX_DOWNLOAD_BYTES", 50)
    with pytest.raises(DatasetError, match="larger than the 50 bytes"):
        ds.download("zipped", opener=serve)
    assert not (tmp_path / "root" / "z" / "data.txt.gz").exists()


# ---------------------------------------------------------------- settings and names
@pytest.mark.parametrize(
    "name", ["../..", "..", "a/b", "/tmp/evil", "a\\b", ".hidden", "x..y", "", " ", "a b", "nul\x00", "é"]
)
def test_a_sweep_name_that_is_not_a_plain_folder_name_is_refused(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    cfg = _cfg(tmp_path / "in", name=name)
    if name == "":  # empty means the default name
        check_settings(cfg)
        return
    with pytest.raises(SettingsError, match=r"name=.* must be a safe folder name: .*A-Z a-z 0-9 \. _ -") as e:
        run_sweep_outcome(cfg)
    assert repr(name) in str(e.value)
    assert not list(tmp_path.iterdir())  # nothing written anywhere


def test_a_default_name_from_a_crafted_dataset_is_refused(tmp_path):
    with pytest.raises(SettingsError, match=r"default from family='fcnet', dataset='../../x'"):
        run_sweep_outcome(_cfg(tmp_path, dataset="../../x"))
    assert not (tmp_path / "sweeps").exists()


@pytest.mark.parametrize("threads", [0, -1, 10**6, True, 2.5])
def test_bad_thread_counts_are_refused_before_torch_sees_them(tmp_path, threads):
    before = torch.get_num_threads()
    with pytest.raises(SettingsError, match=rf"threads={threads!r} must be an integer in 1\.\.1024"):
        run_sweep_outcome(_cfg(tmp_path, threads=threads))
    assert torch.get_num_threads() == before
    with pytest.raises(SettingsError, match=r"threads=.* must be an integer in 1\.\.1024"):
        verify.retrain(ROOT / "data" / "tables" / "lcbench-australian", 0, 0, threads=threads)


@pytest.mark.parametrize(
    "key,value",
    [(k, INT_LIMITS[k][1] + 1) for k in INT_LIMITS]
    + [
        ("n_configs", 0),
        ("epochs", 0),
        ("seeds", []),
        ("seeds", [0, 0]),
        ("seeds", [2**31]),
        ("seeds", [-1, 0]),  # a table holds seeds 0..2**31-1: refused before any training, not at the merge
        ("seeds", list(range(1001))),
        ("shard_seconds", float("nan")),
        ("shard_seconds", 1e9),
        ("split_seed", -1),
        ("sample_seed", -1),
        ("device", ""),
        ("merge", "yes"),
    ],
)
def test_every_setting_has_limits_and_errors_name_the_value(tmp_path, key, value):
    kw = {key: value}
    if key == "worker":
        kw["n_workers"] = INT_LIMITS["n_workers"][1]
    with pytest.raises(SettingsError, match=f"{key}="):
        check_settings(_cfg(tmp_path, **kw))
    with pytest.raises(SettingsError, match="runs is too many"):
        check_settings(_cfg(tmp_path, n_configs=100_000, seeds=list(range(11))))


def test_build_and_verify_cli_refuse_bad_counts(capsys):
    for value in ("0", "-3", "99999"):
        assert build.main([f"threads={value}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: threads={value} must be an integer in 1..1024"), err
    assert build.main(["threads=two"]) == 2
    assert "'threads=two'" in capsys.readouterr().err
    table = "table=" + str(ROOT / "data" / "tables" / "lcbench-australian")
    for arg, message in (
        ("configs=-2", "configs=-2 must be a whole number in 1..500"),
        ("configs=0", "configs=0 must be a whole number in 1..500"),
        ("configs=1.5", "'configs=1.5': configs=1.5 must be an integer"),
        ("configs=501", "configs=501 must be a whole number in 1..500"),
        ("epochs=0", "epochs=0 must be a whole number in 1..50"),
        ("epochs=51", "epochs=51 must be a whole number in 1..50"),
        ("tolerance=nan", "tolerance=nan must be a finite number >= 0"),
    ):
        assert verify.main([table, arg]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, err


def test_verify_checks_a_tables_recorded_settings(tiny, tmp_path):
    src = table_folder(_cfg(tiny))
    for where, value in [
        (("sweep", "family"), "os.system"),
        (("sweep", "dataset"), "../../etc/passwd"),
        (("sweep", "epochs"), 10**9),
        (("sweep", "split_seed"), -1),
        (("recording_hardware", "threads"), 0),
        (("recording_hardware", "threads"), 10**6),
    ]:
        dst = tmp_path / f"t{abs(hash((where, value)))}"
        shutil.copytree(src, dst)
        m = json.loads((dst / "manifest.json").read_text())
        m["provenance"][where[0]][where[1]] = value
        (dst / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(TableFormatError, match=f"{dst}: .*{where[1]}={value!r}"):
            verify.retrain(dst, 0, 0, epochs=1)
    with pytest.raises(SettingsError, match=r"config_id=-1 must be an integer in 0\.\.3"):
        verify.retrain(src, -1, 0)
    with pytest.raises(SeedError, match="seed=5 is not one of the table's seeds"):
        verify.retrain(src, 0, 5)
    with pytest.raises(SettingsError, match=r"n=-2 must be an integer in 1\.\.4"):
        verify.cheapest_rows(src, -2)


def test_joblib_n_jobs_zero_is_refused_before_launching(capsys):
    for bad in (0, -2, 5000, "x"):
        with pytest.raises(
            SystemExit, match=rf"hydra.launcher.n_jobs={bad!r} must be -1 \(all cores\) or an integer"
        ):
            LauncherCheck().on_multirun_start(
                config=OmegaConf.create({"hydra": {"launcher": {"n_jobs": bad}}})
            )
    for ok in (-1, 1, 2):
        LauncherCheck().on_multirun_start(config=OmegaConf.create({"hydra": {"launcher": {"n_jobs": ok}}}))
    LauncherCheck().on_multirun_start(config=OmegaConf.create({"hydra": {"launcher": {"partition": None}}}))


# ---------------------------------------------------------------- truthful messages, stale temporary files
def test_table_written_is_said_only_when_this_run_wrote_it(tiny, tmp_path):
    tmp = _copy_sweep(tiny, tmp_path)
    out = run_sweep_outcome(_cfg(tmp, merge=False))
    assert out.status == "not_merged" and "table not written (merge=false)" in out.message()
    table_folder(_cfg(tmp)).mkdir(parents=True)  # a folder that is not a table (a killed copy, a typo)
    with pytest.raises(SweepStateError, match="exists but is not a table"):
        run_sweep_outcome(_cfg(tmp))
    table_folder(_cfg(tmp)).rmdir()
    out = run_sweep_outcome(_cfg(tmp))
    assert out.status == "written" and out.message() == f"table written: {table_folder(_cfg(tmp))}"
    again = run_sweep_outcome(_cfg(tmp))
    assert again.status == "exists" and "table written:" not in again.message()
    # an unfinished sweep says how far it is
    fresh = tmp_path / "fresh"
    cfg = _cfg(fresh, merge=True, max_shards=0, n_configs=2, calib_configs=2)
    out = run_sweep_outcome(cfg)
    assert out.status == "unfinished" and out.message().startswith("table not written: 0 of ")
    assert not table_folder(cfg).exists()


def test_stale_tmp_files_are_removed_when_a_sweep_resumes(tiny, tmp_path):
    tmp = _copy_sweep(tiny, tmp_path)
    folder = sweep_folder(_cfg(tmp))
    old = time.time() - 3600
    stale = [
        folder / "shards" / ".shard-00001.npz.4242.tmp",
        folder / "shards" / "..shard-00001.npz.4242.tmp.ab_c12x9.tmp",
        folder / ".plan.json.k2j4h5g6.tmp",
        folder / ".calibration.json.zz99yy88.tmp",
    ]
    young = folder / "shards" / ".shard-00000.npz.77.tmp"  # maybe another worker's write in progress
    kept = [
        folder / "shards" / "notes.tmp",
        folder / "shards" / ".shard-00002.npz",
        tmp / ".outside.abcdefgh.tmp",
        tmp / "sweeps" / ".other.abcdefgh.tmp",
    ]
    for p in [*stale, young, *kept]:
        p.write_bytes(b"x")
    (folder / "shards" / ".dir.abcdefgh.tmp").mkdir()
    for p in [*stale, *kept, folder / "shards" / ".dir.abcdefgh.tmp"]:
        os.utime(p, (old, old))
    out = run_sweep_outcome(_cfg(tmp, merge=False))
    assert out.status == "not_merged"
    assert not any(p.exists() for p in stale)
    assert (
        young.exists()
        and all(p.exists() for p in kept)
        and (folder / "shards" / ".dir.abcdefgh.tmp").is_dir()
    )
    # a symbolic link to a folder is never followed
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / ".victim.abcdefgh.tmp").write_bytes(b"x")
    os.utime(outside / ".victim.abcdefgh.tmp", (old, old))
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "shards").symlink_to(outside)
    assert clean_stale_tmp(linked) == [] and (outside / ".victim.abcdefgh.tmp").exists()


# ---------------------------------------------------------------- fuzz: settings, overrides, readers
_KEYS = [f for f in SweepConfig.__dataclass_fields__]
_values = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.lists(st.integers(-(2**33), 2**33), max_size=4),
)


@FAST
@given(st.dictionaries(st.sampled_from(_KEYS), _values, max_size=4))
def test_fuzz_settings_are_accepted_or_refused_naming_the_value(tmp_path_factory, kw):
    tmp = tmp_path_factory.mktemp("fz")
    base = {"sweeps_dir": str(tmp / "sweeps"), "tables_dir": str(tmp / "tables")}
    cfg = SweepConfig(**{**base, **kw})
    try:
        check_settings(cfg)
    except SettingsError as e:
        assert "=" in str(e) and "must be" in str(e)
        return
    folder, table = sweep_folder(cfg).resolve(), table_folder(cfg).resolve()
    from data.prepare import PACKAGE_DIR  # None (allowed) means the package's own folders

    assert folder.parent == Path(cfg.sweeps_dir or PACKAGE_DIR / "sweeps").resolve()
    assert table.parent == Path(cfg.tables_dir or PACKAGE_DIR / "tables").resolve()
    assert not list(tmp.iterdir())  # checking writes nothing


_override_values = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.sampled_from(
        [
            "null",
            "true",
            "[0,1]",
            "[]",
            "../..",
            "/abs",
            "a/b",
            "0.5",
            "nan",
            "inf",
            "-1",
            "[0,0]",
            "${oc.env:HOME}",
            "'x'",
            "{a:1}",
            "1e400",
        ]
    ),
    st.text(alphabet="abc./_-0123456789[],", max_size=8),
)


@pytest.fixture(scope="module")
def hydra_conf():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from([*_KEYS, "n_config", "hydra.launcher._target_", "foo"]), _override_values),
        max_size=3,
    )
)
def test_fuzz_key_value_overrides_fail_clearly_or_pass_the_checks(hydra_conf, tmp_path_factory, pairs):
    tmp = tmp_path_factory.mktemp("ov")
    overrides = [f"{k}={v}" for k, v in pairs] + [f"sweeps_dir={tmp / 's'}", f"tables_dir={tmp / 't'}"]
    try:
        cfg = compose(config_name="sweep", overrides=overrides)
        sc = SweepConfig(**OmegaConf.to_container(cfg, resolve=True))
    except (ConfigCompositionException, HydraException, OmegaConfBaseException):
        return  # Hydra's own clear error on a type or key it refuses
    try:
        check_settings(sc)
    except SettingsError as e:
        assert "must be" in str(e)
        return
    assert sweep_folder(sc).resolve().parent == (tmp / "s").resolve()
    assert not list(tmp.iterdir())


@FAST
@given(st.data())
def test_fuzz_shard_reader_on_truncated_and_corrupted_files(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("sh")
    arrays = _valid_arrays(3, 5, 4)
    write_shard(tmp, 0, arrays, META)
    path = shard_path(tmp, 0)
    raw = bytearray(path.read_bytes())
    how = data.draw(st.sampled_from(["truncate", "flip", "random", "splice"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    elif how == "random":
        raw = bytearray(data.draw(st.binary(max_size=2000)))
    else:
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=64))
    path.write_bytes(bytes(raw))
    for only_meta in (False, True):
        try:
            got, meta = read_shard(path, arrays=not only_meta)
        except SweepStateError as e:
            assert str(path) in str(e)
            continue
        # a change that still reads back (e.g. in an unused zip field) must give the writer's arrays
        assert meta == META
        for k, v in got.items():
            assert np.array_equal(v, arrays[k])


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=5)),
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)),
    max_leaves=20,
)


@FAST
@given(
    st.one_of(
        _json,
        st.fixed_dictionaries(
            {"plan_version": st.just(1), "settings": _json, "configs": _json, "shards": _json}
        ),
    )
)
def test_fuzz_plan_reader(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("pl") / "plan.json"
    path.write_text(json.dumps(doc))
    try:
        plan = read_plan(path)
    except SweepStateError as e:
        assert str(path) in str(e)
        return
    assert isinstance(plan, Plan) and all(
        type(c) is int for sh in plan.shards for g in sh for r in g for c in r
    )


def test_errors_are_curvebench_errors():
    for cls in (SettingsError, SweepStateError, DatasetError):
        assert issubclass(cls, CurveBenchError) and issubclass(
            cls, ValueError if cls is not SweepStateError else RuntimeError
        )


def test_a_shards_link_in_a_shared_sweep_folder_is_refused(tiny, tmp_path):
    """A sweep folder from elsewhere whose shards/ points outside would send this run's writes there."""
    tmp = _copy_sweep(tiny, tmp_path)
    folder = sweep_folder(_cfg(tmp))
    outside = tmp_path / "outside"
    shutil.move(folder / "shards", outside)
    (folder / "shards").symlink_to(outside)
    before = sorted(p.name for p in outside.iterdir())
    with pytest.raises(SweepStateError, match="is a symbolic link"):
        run_sweep_outcome(_cfg(tmp, overwrite_table=True))
    assert sorted(p.name for p in outside.iterdir()) == before


def test_a_data_size_fraction_is_costed_by_its_family_s_pooled_calibration(tiny, tmp_path):
    """A fraction table of a shipped data-size family fits its cost model on every timed run of the family
    (its own and its sibling sweeps', read, not timed again), in one order, so every fraction gets the same
    model bit for bit; the siblings are recorded with their checksums. A sibling missing, or timed another
    way or on another machine, is refused by name; any other table keeps its own calibration."""
    from types import SimpleNamespace

    from benchmarks.io import sha256_file
    from data import costmodel
    from data.merge import _with_pool
    from data.recipes import TABLES, cost_pool

    good = json.loads((sweep_folder(_cfg(tiny)) / "calibration.json").read_text())
    family = cost_pool("lcbench-kr_vs_kp-train1of9")
    assert family == (
        "lcbench-kr_vs_kp-train1of27",
        "lcbench-kr_vs_kp-train1of9",
        "lcbench-kr_vs_kp-train1of3",
        "lcbench-kr_vs_kp",
    )
    assert cost_pool("lcbench-kr_vs_kp-train1of3") == family
    assert cost_pool("lcbench-kr_vs_kp") == () and cost_pool("lcbench-car") == ()
    root = tmp_path / "sweeps"
    plan = json.loads((sweep_folder(_cfg(tiny)) / "plan.json").read_text())
    for k, n in enumerate(family):  # each sweep: the same configurations on more training rows, timed slower
        runs = [
            {**r, "train_rows": r["train_rows"] * 3**k, "seconds_per_epoch": r["seconds_per_epoch"] * (1 + k)}
            for r in good["runs"]
        ]
        (root / n).mkdir(parents=True)
        (root / n / "calibration.json").write_text(json.dumps({**good, "runs": runs}))
        frac = None if n == "lcbench-kr_vs_kp" else 1 / 3 ** (3 - k)
        settings = {**plan["settings"], "name": n, "train_fraction": frac}
        (root / n / "plan.json").write_text(json.dumps({**plan, "settings": settings}))
    own = {n: read_calibration(root / n / "calibration.json") for n in family}

    def recipe_sweep(n, **changes):
        """The parts of a Sweep that _with_pool reads, with the shipped recipe's settings."""
        cfg = SweepConfig(name=n, **{**TABLES[n], **changes})
        return SimpleNamespace(
            folder=root / n,
            cfg=cfg,
            epochs=50,
            family=SimpleNamespace(epochs=50),
            plan=read_plan(root / n / "plan.json"),
        )

    pooled = {n: _with_pool(recipe_sweep(n), own[n]) for n in family[:-1]}
    everything = [r for n in family for r in own[n]["runs"]]
    for n, p in pooled.items():
        assert p["model"] == costmodel.refit(everything)  # the same model for every fraction, bit for bit
        assert p["model"]["n_calibration_runs"] == len(p["runs"]) == 4 * len(good["runs"])
        assert p["pooled"]["own_model"] == own[n]["model"] and p["pooled"]["own_runs"] == len(good["runs"])
        assert [(q["sweep"], q["sha256"]) for q in p["pooled"]["sweeps"]] == [
            (m, sha256_file(root / m / "calibration.json")) for m in family if m != n
        ]
    assert _with_pool(recipe_sweep("lcbench-kr_vs_kp"), good) is good
    # another sweep of the same name (here 2 configurations, as a quick trial would): no family to pool with
    assert _with_pool(recipe_sweep(family[0], n_configs=2), own[family[0]]) is own[family[0]]

    sw = recipe_sweep(family[0])
    other = root / family[2] / "calibration.json"
    for bad, what in [
        ({**good, "threads": 2}, "threads=2"),
        ({**good, "hardware": {**good["hardware"], "cpu": "another CPU"}}, "hardware.cpu='another CPU'"),
    ]:
        other.write_text(json.dumps(bad))
        with pytest.raises(SweepStateError, match=f"{other}: {what}.*not pooled"):
            _with_pool(sw, own[family[0]])
    other.write_text(json.dumps(good))
    # a sibling folder holding another sweep of that name (other settings than this one's, but the fraction)
    sibling_plan = root / family[2] / "plan.json"
    kept = sibling_plan.read_text()
    changed = json.loads(kept)
    changed["settings"]["n_configs"] = changed["settings"]["n_configs"] + 1
    sibling_plan.write_text(json.dumps(changed))
    with pytest.raises(SweepStateError, match=f"{root / family[2]}: not the same sweep.*n_configs"):
        _with_pool(sw, own[family[0]])
    sibling_plan.write_text(kept)
    other.unlink()
    with pytest.raises(SweepStateError, match=f"{family[2]}.*{other} is missing"):
        _with_pool(sw, own[family[0]])  # nothing is timed here: make tables runs the family's sweeps first


def test_make_tables_merges_a_data_size_fraction_after_its_family_s_sweeps(monkeypatch):
    """A fraction's cost model pools its family's calibrations, so ``data.build`` runs every sweep first (a
    fraction's unmerged) and merges the fractions after: their siblings are calibrated by then."""
    from types import SimpleNamespace

    calls = []

    def fake_run(cfg):
        calls.append((cfg.name, cfg.merge))
        return SimpleNamespace(message=lambda: "ok")

    monkeypatch.setattr(build, "run_sweep_outcome", fake_run)
    monkeypatch.setattr(build, "table_exists", lambda folder: False)
    names = ["lcbench-kr_vs_kp-train1of27", "lcbench-car", "lcbench-kr_vs_kp-train1of9"]
    assert build.main([f"tables=[{','.join(names)}]", "progress=false"]) == 0
    assert calls == [
        ("lcbench-kr_vs_kp-train1of27", False),
        ("lcbench-car", True),
        ("lcbench-kr_vs_kp-train1of9", False),
        ("lcbench-kr_vs_kp-train1of27", True),
        ("lcbench-kr_vs_kp-train1of9", True),
    ]
