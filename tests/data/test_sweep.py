"""The sweep driver: plans, shards, resuming after a kill, Hydra composition and launchers, merging."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from benchmarks.table import read_table
from data import verify
from data.shards import SweepStateError
from data.sweep import SweepConfig, prepare, run_sweep, train_runs
from data.verify import compare

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "data" / "conf"
TINY = [
    "family=fcnet",
    "dataset=diabetes",
    "n_configs=6",
    "epochs=3",
    "shard_runs=2",
    "max_group=2",
    "calib_configs=3",
    "calib_epochs=2",
    "progress=false",
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _cfg(tmp: Path, **kw) -> SweepConfig:
    base = dict(
        family="fcnet",
        dataset="diabetes",
        n_configs=6,
        epochs=3,
        shard_runs=2,
        max_group=2,
        calib_configs=3,
        calib_epochs=2,
        progress=False,
        sweeps_dir=str(tmp / "sweeps"),
        tables_dir=str(tmp / "tables"),
    )
    return SweepConfig(**{**base, **kw})


def _sweep_cmd(tmp: Path, *extra: str, multirun: bool = False) -> list[str]:
    flags = ["--multirun"] if multirun else []
    return [
        sys.executable,
        "-m",
        "data.sweep",
        *flags,
        *TINY,
        f"sweeps_dir={tmp / 'sweeps'}",
        f"tables_dir={tmp / 'tables'}",
        *extra,
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def test_sweep_writes_a_readable_table(tmp_path, monkeypatch):
    path = run_sweep(_cfg(tmp_path))
    t = read_table(path)
    assert t.values.shape == (6, 6, 2, 3)  # 5 metrics + cost, 6 configs, 2 seeds, 3 epochs
    assert np.isfinite(t.values).all()
    assert (np.diff(t.cost, axis=-1) > 0).all()
    prov = t.manifest["provenance"]
    assert prov["dataset"]["split_seed"] == 0 and prov["torch_version"] == torch.__version__
    assert "loo_relative_error_median" in prov["cost_model"]
    # CPU time as well as wall time, per shard and on the card (a busy machine stretches only the wall time)
    cpu = prov["compute_seconds"]["training_cpu"]
    assert 0 < cpu <= 1.5 * prov["compute_seconds"]["training"]
    assert f"({cpu / 3600:.2f} h of CPU time)" in (path / "CARD.md").read_text()
    assert set(t.configs["n_params"]) and (t.configs["n_params"] > 0).all()
    # a table row equals a live re-run of that configuration (through the sweep, and from the table alone)
    sw = prepare(_cfg(tmp_path))
    res = train_runs(sw, [(4, 1)], torch.device("cpu"))
    np.testing.assert_allclose(t.metric_values("valid_mse")[4, 1], res.metrics["valid_mse"][0], rtol=1e-5)
    assert compare(path, 2, 0) < 1e-5
    assert compare(path, 5, 1, epochs=2) < 1e-5
    # the re-run trains at the table's recorded thread count and gives the caller's back
    recorded = t.manifest["provenance"]["recording_hardware"]["threads"]
    seen = []
    real = verify._retrain
    monkeypatch.setattr(
        verify, "_retrain", lambda *a, **k: seen.append(torch.get_num_threads()) or real(*a, **k)
    )
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(recorded + 1)
        verify.retrain(path, 2, 0, epochs=1)
        verify.retrain(path, 2, 0, epochs=1, threads=recorded + 1)
        assert seen == [recorded, recorded + 1] and torch.get_num_threads() == recorded + 1
    finally:
        torch.set_num_threads(before)
    # a re-run that diverges where the table did not (or the reverse) is a mismatch, not a match
    live = verify.retrain(path, 2, 0, epochs=2)
    live["valid_mse"][0, 1] = np.nan
    monkeypatch.setattr(verify, "retrain", lambda *a, **k: live)
    assert compare(path, 2, 0, epochs=2) == float("inf")


def test_merge_times_inference_once_and_writes_it_as_an_attribute(tmp_path, monkeypatch):
    from data import inference
    from data.merge import merge

    path = run_sweep(_cfg(tmp_path))
    t = read_table(path)
    col = t.configs["infer_seconds"].to_numpy()
    assert (col > 0).all() and np.isfinite(col).all()
    assert (
        "infer_seconds" in t.manifest["attributes"]
        and "forward pass" in t.manifest["attributes"]["infer_seconds"]
    )
    assert t.manifest["provenance"]["inference_timing"]["batch_rows"] >= 1
    assert "`infer_seconds` is the seconds per sample" in (path / "CARD.md").read_text()
    sw = prepare(_cfg(tmp_path))
    saved = inference.read_inference(sw.folder / inference.FILE, 6)
    np.testing.assert_array_equal(col, saved["seconds_per_sample"])
    # a second merge reads the timings back instead of timing again: the same table
    monkeypatch.setattr(inference, "_time_one", lambda *a, **k: pytest.fail("timed again"))
    again = merge(sw, device=torch.device("cpu"), out=tmp_path / "again")
    np.testing.assert_array_equal(read_table(again).configs["infer_seconds"].to_numpy(), col)


def test_rerun_with_other_settings_is_refused(tmp_path, monkeypatch):
    run_sweep(_cfg(tmp_path, merge=False, max_shards=1))
    with pytest.raises(SweepStateError, match="other settings"):
        prepare(_cfg(tmp_path, epochs=4))
    # resuming at another thread count would mix rounding between rows: refused, naming both
    before = torch.get_num_threads()
    try:
        with pytest.raises(SweepStateError, match="threads=1, this run has device=cpu threads=2"):
            run_sweep(_cfg(tmp_path, merge=False, threads=2))
    finally:
        torch.set_num_threads(before)
    run_sweep(_cfg(tmp_path, merge=False, max_shards=1))  # the same settings resume
    # the same settings but sampling code that now draws other configurations: refused, not mixed
    from data.families import get_family

    fam = type(get_family("fcnet"))
    real_sample = fam.sample
    monkeypatch.setattr(fam, "sample", lambda self, n, seed: real_sample(self, n, seed + 1))
    with pytest.raises(SweepStateError, match="stored configurations differ"):
        prepare(_cfg(tmp_path))


def test_killed_sweep_resumes_without_lost_or_repeated_runs(tmp_path):
    shards = tmp_path / "sweeps" / "fcnet-diabetes" / "shards"
    proc = subprocess.Popen(
        _sweep_cmd(tmp_path), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (shards / "shard-00001.npz").exists():
        if proc.poll() is not None:
            pytest.fail(f"sweep ended early: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sorted(p.name for p in shards.glob("shard-*.npz"))
    assert 2 <= len(done_before) < 6, done_before  # killed mid-sweep
    assert not (tmp_path / "tables" / "fcnet-diabetes").exists()
    mtimes = {p.name: p.stat().st_mtime_ns for p in shards.glob("shard-*.npz")}
    out = subprocess.run(
        _sweep_cmd(tmp_path), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    # finished shards were not redone, and the table holds every run once (merge checks it)
    assert all(p.stat().st_mtime_ns == mtimes[p.name] for p in shards.glob("shard-*.npz") if p.name in mtimes)
    t = read_table(tmp_path / "tables" / "fcnet-diabetes")
    assert np.isfinite(t.values).all()
    # and equals an uninterrupted sweep
    fresh = read_table(run_sweep(_cfg(tmp_path / "fresh")))
    np.testing.assert_allclose(t.values[:-1], fresh.values[:-1], rtol=1e-5)


def test_a_shard_is_never_replaced(tmp_path):
    """Two processes that run the same shard: the first file stays, the second is dropped with a warning."""
    from data.shards import read_shard, shard_path, write_shard

    def arrays(n):
        return {
            "config_id": np.arange(n, dtype=np.int32),
            "seed": np.zeros(n, np.int32),
            "metrics": np.zeros((n, 2, 3), np.float32),
            "diverged_epoch": np.full(n, -1, np.int32),
            "n_params": np.ones(n, np.int64),
            "group": np.zeros(n, np.int32),
            "group_epoch_seconds": np.ones((1, 3)),
        }

    meta = {
        "shard": 3,
        "metric_names": ["a", "b"],
        "wall_seconds": 1.0,
        "device": "cpu",
        "threads": 1,
        "hardware": {},
    }
    assert write_shard(tmp_path, 3, arrays(3), {**meta, "by": "first"})
    assert not write_shard(tmp_path, 3, arrays(5), {**meta, "by": "second"})
    got, meta = read_shard(shard_path(tmp_path, 3))
    assert meta["by"] == "first" and got["config_id"].tolist() == [0, 1, 2]
    assert [p.name for p in shard_path(tmp_path, 3).parent.iterdir()] == [
        shard_path(tmp_path, 3).name
    ]  # no temporary file left


def test_sweep_skips_a_shard_another_worker_finished(tmp_path, monkeypatch, caplog):
    import data.sweep as ds

    cfg = _cfg(tmp_path, merge=False)
    sw = prepare(cfg)
    real = ds.run_shard
    done = []

    def run_and_steal_next(sw_, i, device, bar=None):  # while shard i runs, "another worker" finishes i + 1
        real(sw_, i, device, bar)
        done.append(i)
        nxt = ds.shard_path(sw.folder, i + 1)
        if i == 0 and not nxt.exists():
            nxt.write_bytes(ds.shard_path(sw.folder, 0).read_bytes())

    monkeypatch.setattr(ds, "run_shard", run_and_steal_next)
    with caplog.at_level("INFO", logger=ds.log.name):
        run_sweep(cfg)
    assert 1 not in done and "shard 1 of" in caplog.text and "already done by another process" in caplog.text


def test_hydra_config_composes_and_rejects_typos():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="sweep", overrides=["family=lcbench", "dataset=wine", "seeds=[0,1,2]"])
        assert cfg.family == "lcbench" and list(cfg.seeds) == [0, 1, 2]
        with pytest.raises(ConfigCompositionException):
            compose(config_name="sweep", overrides=["n_config=5"])
        with pytest.raises(ConfigCompositionException):
            compose(config_name="sweep", overrides=["n_configs=many"])
        slurm = compose(config_name="sweep", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
        assert slurm.hydra.launcher._target_.endswith("SlurmLauncher")


def test_bad_settings_name_the_value(tmp_path):
    with pytest.raises(ValueError, match="unknown family 'mlp'"):
        prepare(_cfg(tmp_path, family="mlp"))
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        prepare(_cfg(tmp_path, dataset="mnist"))
    with pytest.raises(ValueError, match="classification"):
        prepare(_cfg(tmp_path, dataset="wine"))  # fcnet is a regression family
    with pytest.raises(ValueError, match="worker=2"):
        prepare(_cfg(tmp_path, worker=2, n_workers=2))
    for key, bad in [
        ("max_train_rows", 0),
        ("max_shards", -1),
        ("calib_configs", 1),
        ("calib_epochs", 0),
        ("shard_runs", 0),
        ("shard_seconds", 0.0),
        ("data_root", str(tmp_path / "nowhere")),
    ]:
        with pytest.raises(ValueError, match=f"{key}={bad} must be"):
            prepare(_cfg(tmp_path, **{key: bad}))


@pytest.mark.slow  # a launcher end to end; the sweep's resume and sharding tests stay fast
def test_multirun_with_joblib_launcher(tmp_path):
    cmd = _sweep_cmd(
        tmp_path,
        "worker=0,1",
        "n_workers=2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
        multirun=True,
    )
    out = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    t = read_table(tmp_path / "tables" / "fcnet-diabetes")
    assert t.values.shape[1:] == (6, 2, 3) and np.isfinite(t.values).all()


@pytest.mark.slow
def test_multirun_with_submitit_local_launcher(tmp_path):
    cmd = _sweep_cmd(
        tmp_path,
        "worker=0,1",
        "n_workers=2",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
        multirun=True,
    )
    out = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    # each job merges when it sees every shard done; at least the last one does
    t = read_table(tmp_path / "tables" / "fcnet-diabetes")
    assert np.isfinite(t.values).all()


def test_lcbench_sweep_on_bundled_classification_data(tmp_path):
    path = run_sweep(_cfg(tmp_path, family="lcbench", dataset="wine", n_configs=4, epochs=2))
    t = read_table(path)
    acc = t.metric_values("valid_accuracy")
    assert ((acc >= 0) & (acc <= 1)).all()
    assert t.manifest["objective"] == "valid_cross_entropy"


def test_training_fraction_sweep_is_named_recorded_and_checked(tmp_path):
    from data.prepare import sweep_name

    assert sweep_name(_cfg(tmp_path, train_fraction=1 / 27)) == "fcnet-diabetes-train1of27"
    assert sweep_name(_cfg(tmp_path, train_fraction=0.25)) == "fcnet-diabetes-train1of4"
    assert sweep_name(_cfg(tmp_path, train_fraction=0.3)) == "fcnet-diabetes-train0.3"
    assert sweep_name(_cfg(tmp_path, train_fraction=1.0)) == "fcnet-diabetes"  # the whole split
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match=rf"train_fraction={bad} must be a finite number in \(0, 1\]"):
            prepare(_cfg(tmp_path, train_fraction=bad))
    # a whole-split sweep plans exactly as one without the setting (finished plans resume unchanged)
    whole = prepare(_cfg(tmp_path, train_fraction=1.0)).plan.settings
    assert "train_fraction" not in whole
    sw = prepare(_cfg(tmp_path, train_fraction=1 / 3))
    assert sw.plan.settings["train_fraction"] == pytest.approx(1 / 3)
    assert sw.data.provenance["rows"]["train"] == round(
        prepare(_cfg(tmp_path)).data.provenance["rows"]["train"] / 3
    )
    path = run_sweep(_cfg(tmp_path, train_fraction=1 / 3))
    t = read_table(path)
    assert t.manifest["task"]["train_fraction"] == pytest.approx(1 / 3)
    assert "train_fraction=" in (path / "CARD.md").read_text()
    # a row of the table equals a live re-run, which reads the fraction from the table
    assert compare(path, 1, 0) < 1e-5
