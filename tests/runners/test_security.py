"""Integrity and security of the runner: study and run files are data, not code; results never tear.

One regression test per fault of the issue "shared files must never run code,
results must never tear", with crafted payloads whose only effect, if they ever
ran, would be a harmless marker file under tmp_path; plus fuzz tests (hypothesis)
of the key=value overrides and of the results readers.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

import runners.run as run_mod
from runners.checks import (
    MAX_BUDGET,
    MAX_N_JOBS,
    MAX_N_WORKERS,
    RunConfigError,
    UnsafeConfigError,
    calls_resolver,
)
from runners.results import (
    RunConflictError,
    is_locked,
    lock_path,
    read_events,
    read_meta,
    run_lock,
    run_state,
    verify_run,
)
from runners.results_format import EVENTS_FILE, META_FILE
from runners.run import check_task_overrides, execute
from runners.study import load_study, main, plan, run_study, status
from runners.testing import write_toy_table

#: a target that really writes something when instantiated: the payloads below would create ``path`` if they ran
LIVE_TARGET = "runners.testing.write_toy_table"


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_toy_table(tmp_path_factory.mktemp("sec-table") / "toy-a", name="toy-a", rng_seed=1)


def study_file(tmp_path, table, name="mini", **extra):
    d = {
        "name": name,
        "benchmarks": [{"name": table.name, "path": str(table)}],
        "optimizers": ["rs", "asha"],
        "seeds": [0, 1],
        "n_workers": [2],
        "budget": {"kind": "evaluations", "amount": 4},
        "results_dir": str(tmp_path / "results"),
        "report": False,
        **extra,
    }
    f = tmp_path / f"study-{abs(hash(json.dumps([name, extra], sort_keys=True, default=str))) % 10**8}.yaml"
    f.write_text(yaml.safe_dump(d))
    return f


def cfg_with(*overrides):
    with initialize_config_module(config_module="runners.conf", version_base="1.3"):
        return compose("run", overrides=list(overrides))


def run_overrides(table, tmp_path, *extra):
    return [
        "benchmark=table",
        f"benchmark.path={table}",
        "benchmark.name=toy-a",
        "optimizer=rs",
        "budget.kind=results",
        "budget.amount=6",
        f"results_dir={tmp_path / 'res'}",
        "study=t",
        "n_workers=2",
        *extra,
    ]


def test_the_payload_target_is_live(tmp_path):
    """The payloads below are meaningful: instantiated by Hydra, LIVE_TARGET writes the marker."""
    from hydra.utils import instantiate

    instantiate({"_target_": LIVE_TARGET, "path": str(tmp_path / "marker")})
    assert (tmp_path / "marker").exists()


# ---------------------------------------------------------------- 2. study and run files are data, not code
@pytest.mark.parametrize(
    "where",
    ["top", "budget", "benchmark_entry", "deep_list", "partial", "args", "recursive", "convert"],
)
def test_study_file_with_instantiation_keys_is_refused(tmp_path, table, where):
    marker = tmp_path / "marker"
    payload = {"_target_": LIVE_TARGET, "path": str(marker)}
    extra: dict = {}
    if where == "top":
        f = study_file(tmp_path, table)
        d = yaml.safe_load(f.read_text())
        d["_target_"] = LIVE_TARGET
        f.write_text(yaml.safe_dump(d))
        key = "_target_"
    else:
        if where == "budget":
            extra["budget"] = {"kind": "evaluations", "amount": 4, **payload}
            key = "budget._target_"
        elif where == "benchmark_entry":
            extra["benchmarks"] = [{"name": "toy-a", "path": str(table), **payload}]
            key = "benchmarks[0]._target_"
        elif where == "deep_list":
            extra["description"] = [{"a": [{"b": payload}]}]
            key = "description[0].a[0].b._target_"
        else:
            k = {
                "partial": "_partial_",
                "args": "_args_",
                "recursive": "_recursive_",
                "convert": "_convert_",
            }[where]
            extra["budget"] = {"kind": "evaluations", "amount": 4, k: True}
            key = f"budget.{k}"
        f = study_file(tmp_path, table, **extra)
    with pytest.raises(UnsafeConfigError) as e:
        load_study(str(f))
    assert key in str(e.value) and str(f) in str(e.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "override",
    [
        "optimizer.eta={{_target_: {t}, path: {m}}}",
        "optimizer._target_={t}",
        "optimizer.eta=[1, {{x: {{_target_: {t}, path: {m}}}}}]",
        "+optimizer._args_=[{m}]",
        "optimizer.eta='${{oc.create:\"{{_target_: {t}, path: {m}}}\"}}'",
        "++optimizer._recursive_=true",
    ],
)
def test_study_overrides_cannot_name_code(tmp_path, table, override):
    marker = tmp_path / "marker"
    ov = override.format(t=LIVE_TARGET, m=marker)
    f = study_file(tmp_path, table, overrides=[ov])
    with pytest.raises(UnsafeConfigError, match=r"_target_|_args_|_recursive_") as e:
        cfg = load_study(str(f))
        run_study(cfg, progress=False)
    assert "overrides" in str(e.value)
    assert not marker.exists()


def test_study_command_line_overrides_cannot_name_code(tmp_path, table):
    marker = tmp_path / "marker"
    f = study_file(tmp_path, table)
    for bad in [
        f"budget={{kind: time, amount: 5, _target_: {LIVE_TARGET}, path: {marker}}}",
        f"budget._target_={LIVE_TARGET}",
        f"overrides=['optimizer.eta={{_target_: {LIVE_TARGET}, path: {marker}}}']",
    ]:
        with pytest.raises(UnsafeConfigError, match="_target_"):
            run_study(load_study(str(f), [bad]), progress=False)
    assert not marker.exists()


def test_an_interpolation_that_builds_a_target_is_refused(tmp_path, table):
    marker = tmp_path / "marker"
    f = study_file(tmp_path, table)
    text = f.read_text() + 'description: \'${oc.create:"{_tar${oc.decode:\\"get_\\"}: x}"}\'\n'
    f.write_text(text)
    with pytest.raises(RunConfigError):
        load_study(str(f))
    assert not marker.exists()


def test_a_study_file_cannot_read_the_environment(tmp_path, table, monkeypatch):
    monkeypatch.setenv("CURVEBENCH_TEST_SECRET", "s3cret")
    f = study_file(tmp_path, table)
    f.write_text(f.read_text() + "description: 'leak ${oc.env:CURVEBENCH_TEST_SECRET}'\n")
    with pytest.raises(UnsafeConfigError, match=r"`description` calls a resolver .*oc.env"):
        load_study(str(f))
    f.write_text(study_file(tmp_path, table).read_text() + "description: 'study ${name}'\n")
    assert load_study(str(f)).description.startswith("study ")  # its own keys may still be interpolated


@pytest.mark.parametrize(
    "value",
    [
        "token=${oc.${report_dir}:CURVEBENCH_TEST_SECRET}",  # the resolver's name an interpolation
        "token=${${report_dir}:CURVEBENCH_TEST_SECRET}",
        "${ oc.env : CURVEBENCH_TEST_SECRET }",
        "ok ${name} then ${oc.env:CURVEBENCH_TEST_SECRET}",
    ],
)
def test_a_study_file_cannot_read_the_environment_through_a_computed_resolver_name(
    tmp_path, table, monkeypatch, value
):
    monkeypatch.setenv("CURVEBENCH_TEST_SECRET", "s3cret")
    f = study_file(tmp_path, table, report_dir="oc.env")
    f.write_text(f.read_text() + f"description: '{value}'\n")
    with pytest.raises(UnsafeConfigError, match="`description` calls a resolver"):
        load_study(str(f))


@pytest.mark.parametrize("text", ["plain", "${name}", "a ${x.y} b", "\\${oc.env:HOME}", "${[0]}"])
def test_plain_interpolations_call_no_resolver(text):
    assert not calls_resolver(text)


@pytest.mark.parametrize("key", ["results_dir", "report_dir"])
def test_a_folder_must_be_plain_as_written_not_only_once_resolved(tmp_path, table, key):
    # cfg[key] comes resolved: the check reads the value as written
    f = study_file(tmp_path, table, description=str(tmp_path / "elsewhere"), **{key: "${description}"})
    with pytest.raises(RunConfigError, match=f"{key}=.*must be a plain folder path"):
        load_study(str(f))


def test_a_benchmark_path_must_be_plain_as_written(tmp_path, table):
    f = study_file(tmp_path, table, description=str(table))
    text = f.read_text().replace(f"path: {table}", "path: ${description}")
    assert "${description}" in text
    f.write_text(text)
    with pytest.raises(RunConfigError, match="must be a plain folder path"):
        load_study(str(f))


def test_a_study_override_cannot_read_the_environment_through_hydra_escapes(tmp_path, table, monkeypatch):
    # Hydra undoes \\{ \\: \\} before composing: the raw text shows no resolver, the value does
    monkeypatch.setenv("CURVEBENCH_TEST_SECRET", "s3cret")
    f = study_file(tmp_path, table)
    escaped = "optimizer.sizing=$\\{oc.env\\:CURVEBENCH_TEST_SECRET\\}"
    f.write_text(f.read_text() + f"overrides: ['{escaped}']\n")
    with pytest.raises(
        UnsafeConfigError, match=r"calls a resolver \('\$\{oc\.env:CURVEBENCH_TEST_SECRET\}'\)"
    ):
        load_study(str(f))


@pytest.mark.parametrize(
    "override, match",
    [
        ("hydra.searchpath=[file:///tmp]", "Hydra's settings"),
        ("hydra/launcher=joblib", "Hydra's settings"),
        ("optimizer=asha", "only optimizer hyperparameters"),
        ("budget.amount=50", "only optimizer hyperparameters"),
        ("results_dir=/elsewhere", "only optimizer hyperparameters"),
        ("optimizer@benchmark=rs", "only optimizer hyperparameters"),
        ("+n_worker=2", "only optimizer hyperparameters"),
        ("optimizer.name=../../x", "only optimizer hyperparameters"),
        ("not an override ===", "not a valid Hydra override"),
    ],
)
def test_study_overrides_may_only_set_optimizer_hyperparameters(tmp_path, table, override, match):
    with pytest.raises(RunConfigError, match=match) as e:
        load_study(str(study_file(tmp_path, table, overrides=[override])))
    assert repr(override) in str(e.value)


def test_optimizer_hyperparameter_overrides_still_work_in_a_study(tmp_path, table):
    f = study_file(tmp_path, table, optimizers=["asha"], seeds=[0], overrides=["optimizer.eta=2"])
    out = run_study(load_study(str(f)), progress=False)
    assert out["ran"] == 1
    meta = read_meta(tmp_path / "results" / "mini" / "toy-a" / "asha" / "workers-2" / "seed-0")
    assert meta["config"]["optimizer"]["eta"] == 2


def test_run_command_line_overrides_cannot_name_code(tmp_path, table):
    marker = tmp_path / "marker"
    for bad in [
        f"optimizer.eta={{_target_: {LIVE_TARGET}, path: {marker}}}",
        f"optimizer._target_={LIVE_TARGET}",
        f"benchmark._target_={LIVE_TARGET}",
        f"+optimizer.x._target_={LIVE_TARGET}",
    ]:
        with pytest.raises(UnsafeConfigError, match="_target_") as e:
            check_task_overrides([bad])
        assert "command line" in str(e.value)
    assert not marker.exists()


def test_run_config_with_nested_target_is_refused_after_composition(tmp_path, table):
    """Defence in depth: whatever produced it, a composed config with a nested target never runs."""
    marker = tmp_path / "marker"
    cfg = OmegaConf.to_container(cfg_with(*run_overrides(table, tmp_path)))
    bad_opt = {**cfg, "optimizer": {**cfg["optimizer"], "x": {"_target_": LIVE_TARGET, "path": str(marker)}}}
    with pytest.raises(UnsafeConfigError, match=r"optimizer\.x\._target_"):
        execute(bad_opt, quiet=True)
    bad_bench = {**cfg, "benchmark": {**cfg["benchmark"], "_target_": LIVE_TARGET, "path": str(marker)}}
    with pytest.raises(UnsafeConfigError, match=r"benchmark\._target_"):
        execute(bad_bench, quiet=True)
    callable_target = {
        **cfg,
        "optimizer": {"_target_": LIVE_TARGET, "_partial_": True, "name": "evil", "path": str(marker)},
    }
    with pytest.raises(RunConfigError, match="not a runners.optimizer.Optimizer subclass"):
        execute(callable_target, quiet=True)
    assert not marker.exists()
    assert not (tmp_path / "res").exists()


def test_cli_payload_fails_without_running_it(tmp_path, table):
    marker = tmp_path / "marker"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "runners.run",
            *run_overrides(table, tmp_path),
            f"+optimizer.x={{_target_:{LIVE_TARGET},path:{marker}}}",
        ],
        cwd=Path(run_mod.__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode != 0 and "_target_" in p.stderr and "command line" in p.stderr
    assert not marker.exists()


CUSTOM = '''
from runners.optimizer import RandomSearch

class MyRS(RandomSearch):
    """A user's own optimizer (random search under another name)."""
'''


@pytest.mark.parametrize("form", ["my_sec_opt:MyRS", "my_sec_opt.MyRS"])
def test_own_optimizer_through_the_users_search_path_still_works(tmp_path, table, monkeypatch, form):
    (tmp_path / "my_sec_opt.py").write_text(CUSTOM)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "conf" / "optimizer").mkdir(parents=True)
    (tmp_path / "conf" / "optimizer" / "myrs.yaml").write_text(
        f"_target_: {form}\n_partial_: true\nname: myrs\n"
    )
    ov = [o if o != "optimizer=rs" else "optimizer=myrs" for o in run_overrides(table, tmp_path)]
    out = execute(cfg_with(f"hydra.searchpath=[file://{tmp_path / 'conf'}]", *ov), quiet=True)
    assert out["state"] == "ran" and read_meta(out["path"])["config"]["optimizer"]["_target_"] == form


def test_own_group_with_a_non_optimizer_target_is_refused(tmp_path, table):
    marker = tmp_path / "marker"
    (tmp_path / "conf" / "optimizer").mkdir(parents=True)
    (tmp_path / "conf" / "optimizer" / "evil.yaml").write_text(
        f"_target_: {LIVE_TARGET}\n_partial_: true\nname: evil\npath: {marker}\n"
    )
    ov = [o if o != "optimizer=rs" else "optimizer=evil" for o in run_overrides(table, tmp_path)]
    with pytest.raises(RunConfigError, match="not a runners.optimizer.Optimizer subclass"):
        execute(cfg_with(f"hydra.searchpath=[file://{tmp_path / 'conf'}]", *ov), quiet=True)
    assert not marker.exists()


def test_names_that_become_folders_are_labels(tmp_path, table):
    for extra in (
        {"optimizers": ["../../x"]},
        {"benchmarks": ["../x"]},
        {"name": "a/b"},
        {"benchmarks": [{"name": "..", "path": str(table)}]},
    ):
        with pytest.raises(ValueError, match="cannot name a results folder"):
            load_study(str(study_file(tmp_path, table, **extra)))


# ---------------------------------------------------------------- 5. bad inputs and limits
@pytest.mark.parametrize(
    "override, match",
    [
        ("n_jobs=0", r"n_jobs=0 is out of range: allowed 1 to"),
        (f"n_jobs={MAX_N_JOBS + 1}", "n_jobs"),
        ("n_workers=[0]", r"n_workers entry=0 .*allowed 1 to"),
        (f"n_workers=[{MAX_N_WORKERS + 1}]", "n_workers entry"),
        ("seeds=[-1]", r"seeds entry=-1 .*allowed 0 to"),
        (f"seeds=[{2**32}]", "seeds entry"),
        ("budget.amount=0", r"budget.amount=0.0 must be a finite number > 0"),
        ("budget.amount=-3", "must be a finite number > 0"),
        ("budget.amount=.inf", "must be a finite number > 0"),
        ("budget.amount=.nan", "must be a finite number > 0"),
        (f"budget.amount={MAX_BUDGET['evaluations'] * 10}", "over the limit for budget kind evaluations"),
        ("n_worker=[2]", r"unknown key 'n_worker'.*Did you mean 'n_workers'.*Allowed:"),
        ("+n_worker=[2]", r"unknown key 'n_worker'.*Did you mean 'n_workers'.*Allowed:"),
        (
            "++budget.amountt=3",
            r"unknown key 'amountt' in budget.*Did you mean 'amount'.*Allowed: kind, amount",
        ),
        ("adastop.alphaa=0.1", r"unknown key 'alphaa' in adastop.*Did you mean 'alpha'"),
    ],
)
def test_bad_study_values_name_the_value_and_what_is_allowed(tmp_path, table, override, match):
    with pytest.raises(RunConfigError, match=match):
        load_study(str(study_file(tmp_path, table)), [override])


def test_time_budget_limit(tmp_path, table):
    with pytest.raises(RunConfigError, match="over the limit for budget kind time"):
        load_study(
            str(study_file(tmp_path, table)), ["budget.kind=time", f"budget.amount={MAX_BUDGET['time'] * 2}"]
        )


@pytest.mark.parametrize(
    "extra, match",
    [
        ("+n_worker=2", r"unknown key 'n_worker'.*Did you mean 'n_workers'.*Allowed:"),
        ("n_workers=0", r"n_workers=0 is out of range: allowed 1 to"),
        (f"n_workers={MAX_N_WORKERS + 1}", "n_workers"),
        ("seed=-2", "seed=-2 is out of range"),
        ("budget.amount=0", "must be a finite number > 0"),
        (f"budget.amount={MAX_BUDGET['results'] + 1}", "over the limit"),
        ("+budget.extra=1", r"unknown key 'extra' in budget"),
        ("+benchmark.evil=1", r"unknown key 'evil' in benchmark"),
        ("~budget", "has no `budget`"),
    ],
)
def test_bad_run_values_name_the_value(tmp_path, table, extra, match):
    with pytest.raises(RunConfigError, match=match):
        execute(cfg_with(*run_overrides(table, tmp_path), extra), quiet=True)
    assert not (tmp_path / "res").exists()


def test_cli_unknown_plus_key_fails(tmp_path, table):
    p = subprocess.run(
        [sys.executable, "-m", "runners.run", *run_overrides(table, tmp_path), "+n_worker=2"],
        cwd=Path(run_mod.__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode != 0 and "n_worker" in p.stderr and "Allowed" in p.stderr


def test_study_cli_reports_bad_input_without_a_traceback(tmp_path, table, capsys, monkeypatch):
    for switch in ("CURVEBENCH_TRACEBACK", "HYDRA_FULL_ERROR"):
        monkeypatch.delenv(switch, raising=False)
    assert main(["run", f"study={study_file(tmp_path, table)}", "n_jobs=0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "n_jobs=0" in err and "Traceback" not in err


# ---------------------------------------------------------------- 3. torn, damaged and concurrent runs
def _finish(tmp_path, table, **extra):
    f = study_file(tmp_path, table, **extra)
    cfg = load_study(str(f))
    out = run_study(cfg, progress=False)
    assert out["failed"] == 0
    return cfg, tmp_path / "results" / "mini" / "toy-a"


def test_torn_folder_is_damaged_listed_and_redone_never_skipped(tmp_path, table, capsys):
    """The old fault: meta.json of one budget beside the events of another was called complete."""
    cfg, root = _finish(tmp_path, table, optimizers=["rs"])
    other = tmp_path / "other"
    other.mkdir()
    _finish(other, table, optimizers=["rs"], budget={"kind": "evaluations", "amount": 7})
    victim = root / "rs" / "workers-2" / "seed-1"
    twin = other / "results" / "mini" / "toy-a" / "rs" / "workers-2" / "seed-1"
    (victim / EVENTS_FILE).write_bytes((twin / EVENTS_FILE).read_bytes())  # torn: events of the other budget
    state, why = verify_run(victim)
    assert state == "damaged" and "checksum" in why
    counts = status(cfg)
    out = capsys.readouterr().out
    assert counts == {"complete": 1, "damaged": 1} and "damaged   1" in out and str(victim) in out
    res = run_study(cfg, progress=False)
    assert (res["ran"], res["skipped"], res["failed"]) == (1, 1, 0)
    assert "moved aside" in res["redone_damaged"][0]
    assert run_state(victim) == "complete"
    aside = list(victim.parent.glob("seed-1.damaged-*"))
    assert len(aside) == 1 and (aside[0] / EVENTS_FILE).read_bytes() == (twin / EVENTS_FILE).read_bytes()
    with pytest.raises(FileNotFoundError, match="no finished run"):
        read_events(aside[0])


def test_truncated_events_and_bad_meta_are_damaged(tmp_path, table):
    cfg, root = _finish(tmp_path, table, optimizers=["rs"])
    a, b = root / "rs" / "workers-2" / "seed-0", root / "rs" / "workers-2" / "seed-1"
    data = (a / EVENTS_FILE).read_bytes()
    (a / EVENTS_FILE).write_bytes(data[: len(data) // 2])
    (b / META_FILE).write_text("{not json")
    assert verify_run(a)[0] == "damaged" and verify_run(b)[0] == "damaged"
    with pytest.raises(FileNotFoundError, match="checksum"):
        read_events(a)
    assert {r.state for r in plan(cfg)} == {"damaged"}
    out = run_study(cfg, progress=False)
    assert out["ran"] == 2 and all(run_state(p) == "complete" for p in (a, b))
    assert (a / EVENTS_FILE).read_bytes() == data  # deterministic redo


def test_stale_tmp_files_are_removed_by_the_next_run(tmp_path, table):
    cfg = load_study(str(study_file(tmp_path, table, optimizers=["rs"], seeds=[0])))
    victim = tmp_path / "results" / "mini" / "toy-a" / "rs" / "workers-2" / "seed-0"
    victim.mkdir(parents=True)
    stale = [victim / ".events.parquet.k1l2m3.tmp", victim / ".meta.json.x9y8.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    out = run_study(cfg, progress=False)
    assert out["ran"] == 1 and not any(p.exists() for p in stale)
    assert sorted(p.name for p in victim.iterdir()) == [EVENTS_FILE, META_FILE]


def _hold_lock(path, ready, release):
    with run_lock(path):
        ready.set()
        release.wait(60)


def test_a_run_held_by_another_process_is_taken_not_failed(tmp_path, table, capsys):
    cfg = load_study(str(study_file(tmp_path, table, optimizers=["rs"], seeds=[0, 1])))
    held = tmp_path / "results" / "mini" / "toy-a" / "rs" / "workers-2" / "seed-1"
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(held, ready, release))
    p.start()
    try:
        assert ready.wait(30)
        assert is_locked(held)
        assert status(cfg).get("running") == 1
        out = run_study(cfg, progress=False)
        assert (out["ran"], out["taken"], out["failed"]) == (1, 1, 0)
        assert "taken by another process" in capsys.readouterr().err
        assert not held.exists()
    finally:
        release.set()
        p.join(30)
    assert lock_path(held).parent == held.parent and not is_locked(held)
    assert run_study(cfg, progress=False)["ran"] == 1


def _study_in_child(f, barrier, queue, delay):
    import runners.run as rm

    real = rm.simulate

    def slow(*a, **kw):
        time.sleep(delay)
        return real(*a, **kw)

    rm.simulate = slow
    cfg = load_study(str(f))
    barrier.wait(60)
    out = run_study(cfg, progress=False)
    queue.put(
        {k: out[k] for k in ("ran", "skipped", "taken", "failed", "conflicts", "failures")}
        | {
            "ran_paths": sorted(
                p.relative_to(Path(out["study_dir"])).as_posix()
                for p in Path(out["study_dir"]).rglob(META_FILE)
                if read_meta(p.parent)["budget"]["amount"] == cfg.budget.amount
            )
        }
    )


def _run_two(files, delay=0.15):
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(len(files)), ctx.Queue()
    procs = [ctx.Process(target=_study_in_child, args=(f, barrier, queue, delay)) for f in files]
    for p in procs:
        p.start()
    outs = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return outs


def test_two_identical_studies_at_once_run_every_run_exactly_once(tmp_path, table):
    f = study_file(tmp_path, table, seeds=[0, 1, 2])  # 6 runs
    a, b = _run_two([f, f])
    assert a["failed"] == b["failed"] == 0 and not a["conflicts"] and not b["conflicts"]
    assert a["ran"] + b["ran"] == 6  # never twice
    for o in (a, b):
        assert o["ran"] + o["skipped"] + o["taken"] == 6
    cfg = load_study(str(f))
    assert {r.state for r in plan(cfg)} == {"complete"}
    root = tmp_path / "results" / "mini"
    assert not list(root.rglob("*.damaged-*")) and not list(root.rglob(".*.tmp"))


def test_two_studies_with_different_budgets_never_tear_a_folder(tmp_path, table):
    fa = study_file(tmp_path, table, seeds=[0, 1, 2])
    fb = study_file(tmp_path, table, seeds=[0, 1, 2], budget={"kind": "evaluations", "amount": 5})
    a, b = _run_two([fa, fb])
    assert a["failed"] == b["failed"] == 0
    for o in (a, b):
        assert o["ran"] + len(o["conflicts"]) + o["taken"] == 6
        assert all("RunConflictError" in c["error"] for c in o["conflicts"])
    assert not set(a["ran_paths"]) & set(b["ran_paths"])  # never run twice
    for o in (a, b):  # every run a study ran holds its result still (none overwritten by the other)
        assert len(o["ran_paths"]) == o["ran"]
    # every run is run by one of them, or refused by one with a conflict: a run one study claimed and then
    # found in conflict with the other's finished seeds (which saw it taken meanwhile) is run by neither
    ran = {Path(p).parent.as_posix() for p in a["ran_paths"] + b["ran_paths"]}
    refused = " ".join(c["error"] for o in (a, b) for c in o["conflicts"])
    for r in plan(load_study(str(fa))):
        rel = r.path.relative_to(tmp_path / "results" / "mini").as_posix()
        assert rel in ran or f"{r.path}:" in refused or f"{r.path} holds" in refused, rel
    root = tmp_path / "results" / "mini"
    for m in root.rglob(META_FILE):
        assert run_state(m.parent) == "complete"  # meta and events of one and the same run
        meta = read_meta(m.parent)
        assert meta["summary"]["n_events"] == len(read_events(m.parent))
    # the loser sees the conflict before running anything next time
    with pytest.raises(RunConflictError):
        run_study(load_study(str(fb if a["ran"] >= b["ran"] else fa)), progress=False)


# ---------------------------------------------------------------- 6. fuzz: overrides and readers
ALLOWED = (RunConfigError, HydraException, OmegaConfBaseException, FileNotFoundError)
_KEYS = [
    "name",
    "seeds",
    "n_workers",
    "n_jobs",
    "budget.kind",
    "budget.amount",
    "overrides",
    "results_dir",
    "optimizers",
    "benchmarks",
    "_target_",
    "budget._target_",
    "+n_worker",
    "hydra.searchpath",
    "x.y._args_",
]
_VALUES = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "[0,1]",
            "[]",
            f"{{_target_: {LIVE_TARGET}}}",
            "[optimizer.eta=2]",
            "${oc.env:HOME}",
            "['optimizer._target_=os.getcwd']",
            "time",
            "null",
            "{a: {b: [1, {_convert_: all}]}}",
            "'${oc.create:\"{_target_: x}\"}'",
            "[hydra/launcher=joblib]",
        ]
    ),
    st.text(max_size=20),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.one_of(st.sampled_from(_KEYS), st.text(max_size=12)), value=_VALUES)
def test_fuzz_study_overrides_compose_or_fail_clearly(tmp_path, table, key, value):
    f = study_file(tmp_path, table)
    try:
        cfg = load_study(str(f), [f"{key}={value}"])
    except ALLOWED:
        return
    except ValueError as e:  # the existing checks (empty lists, labels) are ValueErrors with a message
        assert str(e)
        return
    assert "_target_" not in json.dumps(OmegaConf.to_container(cfg, resolve=True))


_RUN_KEYS = [
    "seed",
    "n_workers",
    "budget.amount",
    "budget.kind",
    "optimizer.eta",
    "+n_worker",
    "optimizer._target_",
    "+optimizer.x",
    "benchmark.name",
    "study",
    "overhead",
    "~budget",
    "++optimizer.y",
    "optimizer",
    "hydra.job.name",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.one_of(st.sampled_from(_RUN_KEYS), st.text(max_size=10)), value=_VALUES)
def test_fuzz_run_overrides_compose_or_fail_clearly(tmp_path, table, key, value):
    marker = tmp_path / "marker"
    override = f"{key}={value}" if not key.startswith("~") else key
    base = run_overrides(table, tmp_path)
    try:
        check_task_overrides([override])
        cfg = cfg_with(*base, override)
        c = run_mod._to_container(cfg)
        from runners.checks import check_composed

        check_composed(c)
        run_mod.check_optimizer_config(c["optimizer"])
    except ALLOWED:
        pass
    except ValueError as e:
        assert str(e)
    assert not marker.exists()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, table):
    tmp = tmp_path_factory.mktemp("finished")
    f = study_file(tmp, table, optimizers=["rs"], seeds=[0])
    run_study(load_study(str(f)), progress=False)
    return tmp / "results" / "mini"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.sampled_from([META_FILE, EVENTS_FILE, "study.json"]),
    data=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
            max_leaves=8,
        ).map(lambda x: json.dumps(x).encode()),
    ),
)
def test_fuzz_results_readers_fail_clearly(tmp_path, finished, which, data):
    import shutil

    from runners.analysis.load import ResultsFormatError
    from runners.analysis.load import load_study as load_results

    root = tmp_path / "copy" / "mini"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(finished, root)
    run = root / "toy-a" / "rs" / "workers-2" / "seed-0"
    target = root / "study.json" if which == "study.json" else run / which
    target.write_bytes(data)
    state, why = verify_run(run)
    if which != "study.json":
        assert state in ("damaged", "partial") and why
        with pytest.raises(FileNotFoundError, match=str(run)):
            read_events(run)
    try:
        s = load_results(root)
    except ResultsFormatError as e:
        assert str(target) in str(e)
        return
    if which != "study.json":
        row = s.runs[s.runs.seed == 0].iloc[0]
        assert row["status"] != "complete" and row["note"]


def test_a_run_finished_by_another_study_meanwhile_is_a_conflict_not_a_failure(tmp_path, table, monkeypatch):
    """Study B planned before study A (other budget) finished the same folders: B reports conflicts, writes nothing."""
    import runners.study as study_mod

    fa = study_file(tmp_path, table, optimizers=["rs"])
    fb = study_file(tmp_path, table, optimizers=["rs"], budget={"kind": "evaluations", "amount": 5})
    stale = plan(load_study(str(fb)))
    assert {r.state for r in stale} == {"missing"}
    run_study(load_study(str(fa)), progress=False)
    before = {
        p: p.read_bytes() for p in (tmp_path / "results").rglob("*") if p.is_file() and p.name != "study.json"
    }
    monkeypatch.setattr(study_mod, "plan", lambda cfg: stale)
    out = run_study(load_study(str(fb)), progress=False)
    assert (out["ran"], out["failed"], len(out["conflicts"])) == (0, 0, 2)
    assert "different configuration" in out["conflicts"][0]["error"]
    assert {p: p.read_bytes() for p in before} == before
    monkeypatch.undo()
    with pytest.raises(RunConflictError):
        run_study(load_study(str(fb)), progress=False)


def test_a_run_stops_at_the_event_limit_whatever_its_budget(table, monkeypatch):
    import runners.simulator as sim
    from benchmarks.tabular import TabularBenchmark
    from runners.optimizer import RandomSearch

    class Repeating(RandomSearch):  # a small table would otherwise end the run first ("table_exhausted")
        repeats = "allow"

    monkeypatch.setattr(sim, "MAX_EVENTS", 25)
    bench = TabularBenchmark.from_path(table)
    out = sim.simulate(bench, Repeating, seed=0, n_workers=2, budget=sim.Budget("time", MAX_BUDGET["time"]))
    assert out.summary["stop_reason"] == "event_limit" and out.summary["n_events"] == 25
