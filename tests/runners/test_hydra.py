"""The Hydra config tree of the runner: composition, schemas, optimizer checks, one run through the API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

import runners.run as run_mod
from benchmarks.catalog import CATALOG
from runners.results import RunConflictError, read_meta, run_state
from runners.run import RunConfigError, check_optimizer_config, execute
from runners.testing import write_toy_table

CONF = Path(run_mod.__file__).parent / "conf"
BUILTIN = ["rs", "sh", "hyperband", "asha", "bohb", "dehb", "re", "topk"]
ADAPTERS = ["optuna-tpe", "optuna-sha", "optuna-hyperband", "dehb-lib", "smac", "smac-hyperband"]


def cfg_with(*overrides: str):
    with initialize_config_module(config_module="runners.conf", version_base="1.3"):
        return compose("run", overrides=list(overrides))


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return write_toy_table(tmp_path_factory.mktemp("hydra") / "toy")


def test_default_config_composes():
    cfg = cfg_with()
    assert cfg.benchmark.name == "fcnet-naval" and cfg.optimizer.name == "rs"
    assert cfg.n_workers == 4 and cfg.seed == 0 and cfg.budget.kind.value == "evaluations"


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_catalog_name_composes_as_a_benchmark(name):
    cfg = cfg_with(f"benchmark={name}")
    assert cfg.benchmark.name == name
    assert set(cfg.benchmark) == {"_target_", "name", "path"}  # only the name: the space lives in the table


def test_the_benchmark_group_is_the_catalog():
    # no YAML per benchmark: the catalog owns the list (runners.conf_schema.register stores one node per name)
    assert sorted(p.stem for p in (CONF / "benchmark").glob("*.yaml")) == ["table"]
    with pytest.raises(Exception, match="no-such-bench"):
        cfg_with("benchmark=no-such-bench")
    # what `--help` lists as benchmark=... options: the catalog and table, nothing else (the schema is not one)
    with initialize_config_module(config_module="runners.conf", version_base="1.3"):
        compose("run")  # registers the catalog's nodes
        options = GlobalHydra.instance().config_loader().get_group_options("benchmark")
    assert sorted(options) == sorted([*CATALOG, "table"])


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_optimizer_configs_match_their_classes(name):
    cfg = cfg_with(f"optimizer={name}")
    assert cfg.optimizer.name == name and cfg.optimizer._partial_ is True
    check_optimizer_config(OmegaConf.to_container(cfg.optimizer))


@pytest.mark.parametrize("name", ADAPTERS)
def test_adapter_configs_compose_and_match_their_classes(name):
    cfg = cfg_with(f"optimizer={name}")
    assert cfg.optimizer.name == name and cfg.optimizer._target_.startswith("runners.adapters.")
    check_optimizer_config(OmegaConf.to_container(cfg.optimizer))  # importing an adapter needs no extra


@pytest.mark.parametrize(
    "override",
    [
        "n_worker=3",
        "budget.knd=time",
        "budget.kind=days",
        "seed=abc",
        "overhead=wall",
        "optimizer.etaa=2",
        "benchmark.nmae=x",
        "benchmark=no-such-benchmark",
        "optimizer=no-such-optimizer",
    ],
)
def test_misspelt_or_bad_values_fail_at_composition(override):
    with pytest.raises((ConfigCompositionException, ValidationError, ConfigKeyError)):
        cfg_with("optimizer=asha", override)


def test_misspelt_key_in_a_benchmark_yaml_fails(tmp_path):
    (tmp_path / "benchmark").mkdir()
    (tmp_path / "benchmark" / "typo.yaml").write_text(
        "defaults:\n  - schema\n  - _self_\nnmae: fcnet-naval\n"
    )
    with pytest.raises((ConfigCompositionException, ValidationError, ConfigKeyError)):
        cfg_with(f"hydra.searchpath=[file://{tmp_path}]", "benchmark=typo")


def test_misspelt_optimizer_hyperparameter_is_named():
    node = {"_target_": "runners.optimizers.asha.ASHA", "_partial_": True, "name": "asha", "etta": 2}
    with pytest.raises(RunConfigError, match="unknown hyperparameter 'etta'.*Did you mean 'eta'"):
        check_optimizer_config(node)
    with pytest.raises(RunConfigError, match="set by the runner"):
        check_optimizer_config({"_target_": "runners.optimizers.asha.ASHA", "name": "asha", "seed": 3})
    with pytest.raises(RunConfigError, match="no `name`"):
        check_optimizer_config({"_target_": "runners.optimizer.RandomSearch"})
    with pytest.raises(RunConfigError, match="no_such_module"):
        check_optimizer_config({"_target_": "runners.no_such_module.X", "name": "x"})


def test_missing_optional_library_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "fake_adapter_mod.py").write_text("import optuna\nclass X: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if optuna were not installed
    with pytest.raises(RunConfigError, match=r"pip install 'curvebench\[optuna\]'"):
        check_optimizer_config({"_target_": "fake_adapter_mod.X", "name": "x"})


def test_execute_through_compose_runs_then_skips(toy_path, tmp_path):
    overrides = [
        "benchmark=table",
        f"benchmark.path={toy_path}",
        "benchmark.name=toy",
        "optimizer=asha",
        "budget.kind=fidelity",
        "budget.amount=30",
        f"results_dir={tmp_path}",
        "study=t",
        "seed=2",
        "n_workers=3",
    ]
    out = execute(cfg_with(*overrides), quiet=True)
    path = Path(out["path"])
    assert out["state"] == "ran" and path == tmp_path / "t" / "toy" / "asha" / "workers-3" / "seed-2"
    assert run_state(path) == "complete"
    meta = read_meta(path)
    assert meta["config"]["optimizer"]["eta"] == 3 and meta["optimizer_info"]
    assert meta["budget"] == {"kind": "fidelity", "amount": 30.0} and meta["n_workers"] == 3
    assert execute(cfg_with(*overrides), quiet=True)["state"] == "skipped"
    with pytest.raises(Exception, match="different configuration"):
        execute(cfg_with(*overrides, "optimizer.eta=2"), quiet=True)


def _seed_overrides(toy_path, tmp_path, seed, amount):
    return [
        "benchmark=table",
        f"benchmark.path={toy_path}",
        "benchmark.name=toy",
        "optimizer=rs",
        "budget.kind=evaluations",
        f"budget.amount={amount}",
        f"results_dir={tmp_path}",
        "study=t",
        f"seed={seed}",
        "n_workers=2",
    ]


def test_a_seed_finished_with_other_settings_while_another_ran_stops_its_write(
    toy_path, tmp_path, monkeypatch
):
    # two processes run seeds 0 and 1 of one method with different budgets; each seed's lock covers that seed
    # only, so both passed the check of the finished seeds before either was written. Here seed 0 finishes while
    # seed 1 is simulated: seed 1 must then be refused, not written beside it
    real = run_mod._simulate
    inner = {}

    def simulate_and_finish_seed_0(c, factory, ident):
        out = real(c, factory, ident)
        if c["seed"] == 1:
            inner["seed-0"] = execute(cfg_with(*_seed_overrides(toy_path, tmp_path, 0, 6)), quiet=True)
        return out

    monkeypatch.setattr(run_mod, "_simulate", simulate_and_finish_seed_0)
    with pytest.raises(
        RunConflictError, match=r"seed-1: the seeds finished beside it .*seed-0: budget\.amount"
    ):
        execute(cfg_with(*_seed_overrides(toy_path, tmp_path, 1, 5)), quiet=True)
    folder = tmp_path / "t" / "toy" / "rs" / "workers-2"
    assert inner["seed-0"]["state"] == "ran" and run_state(folder / "seed-0") == "complete"
    assert run_state(folder / "seed-1") != "complete" and read_meta(folder / "seed-1") is None


def test_a_run_is_written_only_under_the_lock_of_its_methods_seeds(toy_path, tmp_path, monkeypatch):
    import runners.results as results

    monkeypatch.setattr(results, "SEEDS_LOCK_TIMEOUT", 0.2)
    overrides = _seed_overrides(toy_path, tmp_path, 1, 5)
    seed_1 = tmp_path / "t" / "toy" / "rs" / "workers-2" / "seed-1"
    with results.seeds_lock(seed_1) as held:  # another process checks and writes a seed of this method now
        assert held == seed_1.parent / ".seeds.lock"
        with pytest.raises(TimeoutError, match=r"held .*workers-2/\.seeds\.lock .*not written"):
            execute(cfg_with(*overrides), quiet=True)
        assert read_meta(seed_1) is None
    assert execute(cfg_with(*overrides), quiet=True)["state"] == "ran"


def test_a_lock_held_for_an_instant_does_not_make_the_run_taken(toy_path, tmp_path, monkeypatch):
    # `study status` beside a running study takes a run's lock for an instant to see whether it is held
    # (results.is_locked): the study must not skip that run as taken by another process
    import threading

    from runners.results import run_lock

    overrides = _seed_overrides(toy_path, tmp_path, 0, 5)
    path = tmp_path / "t" / "toy" / "rs" / "workers-2" / "seed-0"
    held, release = threading.Event(), threading.Event()

    def probe():
        with run_lock(path):
            held.set()
            release.wait(0.3)

    real = run_mod.should_run

    def should_run_then_probe(*args, **kwargs):
        out = real(*args, **kwargs)
        if not held.is_set():  # the status probe takes the lock right before the run does
            threading.Thread(target=probe, daemon=True).start()
            assert held.wait(30)
        return out

    monkeypatch.setattr(run_mod, "should_run", should_run_then_probe)
    assert execute(cfg_with(*overrides), quiet=True)["state"] == "ran"
    assert run_state(path) == "complete"


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "runners.run", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_cli_misspelt_key_fails(tmp_path):
    p = _cli("n_worker=3", cwd=tmp_path)
    assert p.returncode != 0 and "n_worker" in p.stderr


def test_cli_run_that_conflicts_with_a_finished_one_is_one_error_line(toy_path, tmp_path):
    """Asking a finished run's folder for other settings: ``error: ...`` naming the difference, exit 2, no
    traceback (a conflict is the user's to resolve, not a crash)."""
    common = ["benchmark=table", f"benchmark.path={toy_path}", "benchmark.name=toy", "optimizer=hyperband"]
    common += ["budget.amount=5", f"results_dir={tmp_path / 'res'}", f"hydra.run.dir={tmp_path / 'out'}"]
    assert _cli(*common, cwd=tmp_path).returncode == 0
    p = _cli(*common, "optimizer.eta=2", cwd=tmp_path)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr and p.stderr.startswith("error: ")
    assert "different configuration" in p.stderr and "eta" in p.stderr


@pytest.mark.slow  # a launcher's end-to-end run; the run's own tests stay fast
def test_multirun_with_joblib_launcher(toy_path, tmp_path):
    p = _cli(
        "--multirun",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "benchmark=table",
        f"benchmark.path={toy_path}",
        "benchmark.name=toy",
        "optimizer=rs,hyperband",
        "seed=0,1",
        "budget.amount=5",
        f"results_dir={tmp_path / 'res'}",
        "study=multi",
        f"hydra.sweep.dir={tmp_path / 'mr'}",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    for opt in ("rs", "hyperband"):
        for seed in (0, 1):
            assert (
                run_state(tmp_path / "res" / "multi" / "toy" / opt / "workers-4" / f"seed-{seed}")
                == "complete"
            )


@pytest.mark.slow
def test_multirun_with_submitit_local_launcher(toy_path, tmp_path):
    p = _cli(
        "--multirun",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=5",
        "benchmark=table",
        f"benchmark.path={toy_path}",
        "benchmark.name=toy",
        "optimizer=rs",
        "seed=0,1",
        "budget.amount=5",
        f"results_dir={tmp_path / 'res'}",
        "study=sub",
        f"hydra.sweep.dir={tmp_path / 'mr'}",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    for seed in (0, 1):
        assert run_state(tmp_path / "res" / "sub" / "toy" / "rs" / "workers-4" / f"seed-{seed}") == "complete"


def test_slurm_launcher_config_composes():
    cfg_text = (CONF / "hydra" / "launcher" / "slurm.yaml").read_text()
    assert "submitit_slurm" in cfg_text
    with initialize_config_module(config_module="runners.conf", version_base="1.3"):
        cfg = compose("run", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    assert "SlurmLauncher" in cfg.hydra.launcher._target_ and cfg.hydra.launcher.cpus_per_task == 1


def test_a_bad_run_prints_the_message_alone():
    """One run from the command line: `error: <message>` and exit 2, no traceback (HYDRA_FULL_ERROR=1 keeps it)."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "runners.run", "+n_worker=2", "hydra.run.dir=/tmp/curvebench-test-hydra"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2])
    assert p.returncode == 2 and p.stderr.startswith(
        "error: command line, override '+n_worker=2': unknown key 'n_worker'"
    )
    assert "Traceback" not in p.stderr
    p = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={**env, "HYDRA_FULL_ERROR": "1"},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_help_page_shows_examples_and_lists_the_catalog_as_benchmarks(tmp_path):
    p = _cli("--help", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "== Examples ==" in p.stdout and "python -m runners.run benchmark=" in p.stdout
    line = next(x for x in p.stdout.splitlines() if x.startswith("benchmark: "))
    assert sorted(line[len("benchmark: ") :].split(", ")) == sorted([*CATALOG, "table"])
