"""Studies: planning, running, resuming, status, skipping unavailable benchmarks, conflicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from runners.checks import RunConfigError
from runners.results import RunConflictError, read_meta
from runners.results_format import META_FILE
from runners.study import load_study, main, plan, run_study, status
from runners.testing import write_toy_table


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("study-tables")
    return [
        write_toy_table(root / "toy-a", name="toy-a", rng_seed=1),
        write_toy_table(root / "toy-b", name="toy-b", rng_seed=2, n_configs=9),
    ]


def study_file(tmp_path, tables, **extra):
    d = {
        "name": "mini",
        "benchmarks": [{"name": p.name, "path": str(p)} for p in tables],
        "optimizers": ["rs", "asha"],
        "seeds": [0, 1],
        "n_workers": [2],
        "budget": {"kind": "evaluations", "amount": 4},
        "results_dir": str(tmp_path / "results"),
        "report": False,
        **extra,
    }
    f = tmp_path / "mini.yaml"
    f.write_text(yaml.safe_dump(d))
    return f


def test_study_runs_every_combination_then_skips(tmp_path, tables):
    cfg = load_study(str(study_file(tmp_path, tables)))
    out = run_study(cfg, progress=False)
    assert (out["n_runs"], out["ran"], out["failed"]) == (8, 8, 0)
    root = tmp_path / "results" / "mini"
    for b in ("toy-a", "toy-b"):
        for o in ("rs", "asha"):
            for s in (0, 1):
                meta = read_meta(root / b / o / "workers-2" / f"seed-{s}")
                assert meta["status"] == "complete" and meta["study"] == "mini" and meta["seed"] == s
    again = run_study(cfg, progress=False)
    assert (again["ran"], again["skipped"]) == (0, 8)


def test_interrupted_study_resumes_only_missing_runs(tmp_path, tables, capsys):
    cfg = load_study(str(study_file(tmp_path, tables)))
    run_study(cfg, progress=False)
    victim = tmp_path / "results" / "mini" / "toy-b" / "asha" / "workers-2" / "seed-1"
    events_before = (victim / "events.parquet").read_bytes()
    (victim / META_FILE).unlink()  # as if the process died between the two writes
    counts = status(cfg)
    assert counts == {"complete": 7, "partial": 1}
    assert str(victim) in capsys.readouterr().out
    out = run_study(cfg, progress=False)
    assert (out["ran"], out["skipped"]) == (1, 7)
    assert (victim / "events.parquet").read_bytes() == events_before  # deterministic redo


def test_changed_study_settings_conflict_before_running(tmp_path, tables):
    run_study(load_study(str(study_file(tmp_path, tables))), progress=False)
    cfg = load_study(str(study_file(tmp_path, tables)), ["budget.amount=5"])
    assert {r.state for r in plan(cfg)} == {"conflict"}
    with pytest.raises(RunConflictError, match="conflict"):
        run_study(cfg, progress=False)


def test_parallel_study_matches_serial(tmp_path, tables):
    serial = tmp_path / "serial"
    par = tmp_path / "par"
    serial.mkdir()
    par.mkdir()
    run_study(load_study(str(study_file(serial, tables[:1]))), progress=False)
    out = run_study(load_study(str(study_file(par, tables[:1], n_jobs=2))), progress=False)
    assert out["ran"] == 4
    for f in sorted((serial / "results").rglob("events.parquet")):
        twin = par / "results" / f.relative_to(serial / "results")
        assert twin.read_bytes() == f.read_bytes()


def test_unavailable_benchmarks_are_skipped_loudly(tmp_path, tables, capsys):
    missing = {"name": "toy-missing", "path": str(tmp_path / "nowhere")}
    f = study_file(tmp_path, tables[:1])
    cfg = load_study(str(f), ["skip_unavailable=true", "seeds=[0]", "optimizers=[rs]"])
    cfg.benchmarks.append(missing)
    out = run_study(cfg, progress=False)
    assert out["ran"] == 1
    assert "SKIPPING benchmark toy-missing" in capsys.readouterr().err
    cfg.benchmarks = [missing]
    with pytest.raises(RuntimeError, match="none of its benchmarks is available here"):
        run_study(cfg, progress=False)


def test_study_config_errors(tmp_path, tables):
    f = study_file(tmp_path, tables)
    with pytest.raises(Exception, match="sedes"):
        load_study(str(f), ["sedes=[1]"])
    with pytest.raises(FileNotFoundError, match="known studies: .*bench"):
        load_study("no-such-study")
    with pytest.raises(ValueError, match="seeds"):
        load_study(str(f), ["seeds=[]"])
    with pytest.raises(RunConfigError, match="unknown optimizer 'no-such-optimizer'.*Known: asha"):
        load_study(
            str(f), ["optimizers=[no-such-optimizer]"]
        )  # found when the study is loaded, not when planned
    with pytest.raises(RunConfigError, match="unknown optimizer 'rss'. Did you mean 'rs'"):
        load_study(str(f), ["optimizers=[rs]", "benchmarks=[{name: x, path: /x, optimizers: [rss]}]"])


def test_a_benchmark_entry_can_name_its_own_optimizers(tmp_path, tables):
    a, b = tables
    entries = [{"name": a.name, "path": str(a)}, {"name": b.name, "path": str(b), "optimizers": ["rs", "re"]}]
    cfg = load_study(str(study_file(tmp_path, tables, benchmarks=entries)))
    pairs = {(r.benchmark, r.optimizer) for r in plan(cfg)}
    assert pairs == {("toy-a", "rs"), ("toy-a", "asha"), ("toy-b", "rs"), ("toy-b", "re")}
    out = run_study(cfg, progress=False)
    assert (out["n_runs"], out["ran"], out["failed"]) == (8, 8, 0)
    for bad, match in (
        ([], "non-empty list"),
        (["rs", "rs"], "twice"),
        ("rs", "non-empty list"),
        (["../x"], "optimizer"),
    ):
        entries[1]["optimizers"] = bad
        with pytest.raises(Exception, match=match):
            load_study(str(study_file(tmp_path, tables, benchmarks=entries)))
    entries[1]["optimizers"] = ["rs"]
    entries[1]["seeds"] = [3]
    with pytest.raises(Exception, match="optimizers"):  # the error names the keys an entry may have
        load_study(str(study_file(tmp_path, tables, benchmarks=entries)))


def test_shipped_study_files_load():
    cfg = load_study("bench")
    assert len(cfg.optimizers) >= 6 and len(cfg.benchmarks) >= 4 and len(cfg.seeds) >= 5
    assert list(cfg.n_workers) == [4]
    load_study("published")


def test_cli_status_and_run(tmp_path, tables, capsys):
    f = study_file(tmp_path, tables[:1], optimizers=["rs"], seeds=[3])
    assert main(["status", f"study={f}"]) == 0
    assert "missing   1" in capsys.readouterr().out
    assert main(["run", f"study={f}"]) == 0
    assert main(["status", f"study={f}"]) == 0
    assert "complete  1" in capsys.readouterr().out
    assert main(["run"]) == 2
    assert capsys.readouterr().err.startswith("error: which study? pass study=NAME")


def test_report_is_written_at_the_end(tmp_path, tables):
    pytest.importorskip("runners.report")
    f = study_file(tmp_path, tables[:1], report=True, report_dir=str(tmp_path / "reports"), seeds=[0, 1, 2])
    out = run_study(load_study(str(f)), progress=False)
    assert out["report"] and Path(out["report"]).is_file()


# ---------------------------------------------------------------- the plan file, failures, unavailable parts
def _plan(tmp_path):
    import json

    return json.loads((tmp_path / "results" / "mini" / "study.json").read_text())


def test_plan_is_written_before_the_first_run_and_completed_after(tmp_path, tables, monkeypatch):
    import runners.study as study_mod

    seen = {}
    original = study_mod._run_all

    def spy(configs, n_jobs, progress):
        seen["plan"] = _plan(tmp_path)  # the plan must exist before any run starts
        seen["folders"] = list((tmp_path / "results" / "mini").rglob("meta.json"))
        yield from original(configs, n_jobs, progress)

    monkeypatch.setattr(study_mod, "_run_all", spy)
    run_study(load_study(str(study_file(tmp_path, tables))), progress=False)
    before, after = seen["plan"], _plan(tmp_path)
    assert seen["folders"] == [] and before["status"] == "running" and after["status"] == "finished"
    planned = {(r["benchmark"], r["optimizer"], r["n_workers"], r["seed"]) for r in before["runs"]}
    assert planned == {(b, o, 2, s) for b in ("toy-a", "toy-b") for o in ("rs", "asha") for s in (0, 1)}
    assert before["budget"] == {"kind": "evaluations", "amount": 4.0} and after["failures"] == []
    for r in after["runs"]:
        assert read_meta(tmp_path / "results" / "mini" / r["path"])["status"] == "complete"


def test_failed_runs_are_recorded_and_the_report_is_still_written(tmp_path, tables, monkeypatch):
    import json

    import runners.study as study_mod

    real = study_mod.execute

    def flaky(config, quiet=False):
        if config["seed"] == 1 and config["optimizer"]["name"] == "asha":
            raise ValueError("boom on purpose")
        return real(config, quiet=quiet)

    monkeypatch.setattr(study_mod, "execute", flaky)  # the name the study's runs call
    f = study_file(tmp_path, tables[:1], report=True, report_dir=str(tmp_path / "reports"))
    out = run_study(load_study(str(f)), progress=False)
    assert (out["ran"], out["failed"]) == (3, 1)
    assert out["failures"] == [
        {
            "benchmark": "toy-a",
            "optimizer": "asha",
            "n_workers": 2,
            "seed": 1,
            "error": "ValueError: boom on purpose",
        }
    ]
    assert _plan(tmp_path)["failures"] == out["failures"]
    assert out["report"] and Path(out["report"]).is_file()
    runs = json.loads((tmp_path / "reports" / "mini" / "report.json").read_text())["runs"]
    bad = [r for r in runs if r["status"] != "complete"]
    assert len(bad) == 1 and bad[0]["method"] == "asha" and bad[0]["seed"] == 1
    assert "run failed: ValueError: boom on purpose" in bad[0]["note"]
    assert main(["run", f"study={f}"]) == 1  # failures make the command fail (here: the run fails again)


def test_unavailable_parts_stay_in_the_plan_and_the_report_lists_their_runs(
    tmp_path, tables, capsys, monkeypatch
):
    import json

    from runners.adapters import _common

    monkeypatch.setitem(
        _common.LIBRARIES, "runners.adapters.optuna_adapter", ("curvebench_no_such_lib", "optuna")
    )
    missing = {"name": "toy-missing", "path": str(tmp_path / "nowhere")}
    f = study_file(
        tmp_path,
        tables[:1],
        report=True,
        report_dir=str(tmp_path / "reports"),
        optimizers=["rs", "optuna-tpe"],
        seeds=[0, 1, 2],
    )
    cfg = load_study(str(f), ["skip_unavailable=true"])
    cfg.benchmarks.append(missing)
    out = run_study(cfg, progress=False)
    err = capsys.readouterr().err
    assert "SKIPPING benchmark toy-missing" in err and "SKIPPING optimizer optuna-tpe" in err
    assert "pip install 'curvebench[optuna]'" in err
    assert (out["ran"], out["n_runs"], out["n_unavailable_runs"]) == (3, 12, 9)
    plan_file = _plan(tmp_path)
    assert {u["name"] for u in plan_file["unavailable"]} == {"toy-missing", "optuna-tpe"}
    assert len(plan_file["runs"]) == 12
    runs = json.loads((tmp_path / "reports" / "mini" / "report.json").read_text())["runs"]
    missing_runs = [r for r in runs if r["status"] == "missing"]
    assert len(missing_runs) == 9
    assert all("not available here" in r["note"] for r in missing_runs)
    assert {r["benchmark"] for r in missing_runs} == {"toy-a", "toy-missing"}


def test_a_rerun_with_fewer_seeds_keeps_every_planned_run_and_the_report_lists_the_missing(tmp_path, tables):
    import shutil

    from runners.analysis.load import load_study as load_results

    f = study_file(tmp_path, tables[:1], seeds=[0, 1, 2, 3])
    run_study(load_study(str(f)), progress=False)
    study_dir = tmp_path / "results" / "mini"
    for s in (1, 2, 3):  # stands in for a study interrupted before these runs
        shutil.rmtree(study_dir / "toy-a" / "asha" / "workers-2" / f"seed-{s}")
    run_study(load_study(str(f), ["seeds=[0]"]), progress=False)
    planned = {(r["optimizer"], r["seed"]) for r in _plan(tmp_path)["runs"]}
    assert planned == {(o, s) for o in ("rs", "asha") for s in (0, 1, 2, 3)}
    st = load_results(study_dir).runs.set_index(["method", "seed"])
    assert (st["status"] == "complete").sum() == 5
    assert [st.at[("asha", s), "status"] for s in (1, 2, 3)] == ["missing"] * 3


def test_a_failure_stays_in_the_plan_until_its_run_succeeds(tmp_path, tables, monkeypatch):
    import runners.study as study_mod

    real = study_mod.execute
    broken = {"on": True}

    def flaky(config, quiet=False):
        if broken["on"] and config["seed"] == 1 and config["optimizer"]["name"] == "asha":
            raise ValueError("boom on purpose")
        return real(config, quiet=quiet)

    monkeypatch.setattr(study_mod, "execute", flaky)
    f = study_file(tmp_path, tables[:1])
    run_study(load_study(str(f)), progress=False)
    run_study(load_study(str(f), ["seeds=[0]"]), progress=False)  # does not touch seed 1: its failure stays
    assert [(x["optimizer"], x["seed"]) for x in _plan(tmp_path)["failures"]] == [("asha", 1)]
    broken["on"] = False
    out = run_study(load_study(str(f)), progress=False)
    assert out["ran"] == 1 and _plan(tmp_path)["failures"] == []


def test_the_plan_is_merged_under_its_lock_and_an_unreadable_plan_is_never_written_over(
    tmp_path, tables, monkeypatch
):
    import threading

    import runners.study as study_mod
    from runners.results import RunTakenError, run_lock

    cfg = load_study(str(study_file(tmp_path, tables[:1])))
    runs = plan(cfg)
    plan_file = tmp_path / "results" / "mini" / "study.json"
    monkeypatch.setattr(study_mod, "PLAN_LOCK_SECONDS", 0.2)
    held, release = threading.Event(), threading.Event()

    def hold():
        with run_lock(plan_file):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        held.wait(10)
        with pytest.raises(RunTakenError, match=r"study\.json is taken by another process"):
            study_mod.write_plan(cfg, runs)
    finally:
        release.set()
        t.join()
    assert not plan_file.exists()
    study_mod.write_plan(cfg, runs)
    assert len(_plan(tmp_path)["runs"]) == 4
    plan_file.write_text("{not json")
    with pytest.raises(RunConfigError, match=r"study\.json is not a readable study plan .* not written over"):
        study_mod.write_plan(cfg, runs)
    assert plan_file.read_text() == "{not json"


def test_missing_library_is_found_without_importing_it(monkeypatch):
    from runners.adapters import _common

    assert _common.missing_library("runners.optimizer.RandomSearch") is None
    assert _common.missing_library("runners.adapters.optuna_adapter:OptunaTPE") is None  # installed here
    monkeypatch.setitem(
        _common.LIBRARIES, "runners.adapters.smac_adapter", ("curvebench_no_such_lib", "smac")
    )
    why = _common.missing_library("runners.adapters.smac_adapter.SMACBO")
    assert "curvebench_no_such_lib" in why and "curvebench[smac]" in why


def test_library_warnings_during_a_study_go_to_its_log_file_not_the_console(tmp_path, capsys, monkeypatch):
    import logging
    import warnings

    from runners.study import _warnings_to_file

    # as after a logging configuration with disable_existing_loggers (what Hydra's job logging applies)
    monkeypatch.setattr(logging.getLogger("py.warnings"), "disabled", True)

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # whatever filters earlier tests or libraries left
        with _warnings_to_file(tmp_path / "s" / "study.log"):
            warnings.warn(
                "A worker stopped while some jobs were given to the executor.", UserWarning, stacklevel=1
            )
        warnings.warn("after the study", UserWarning, stacklevel=1)  # outside: back to normal handling
    err = capsys.readouterr().err
    assert "A worker stopped" not in err
    assert "A worker stopped" in (tmp_path / "s" / "study.log").read_text()
    assert "after the study" not in (tmp_path / "s" / "study.log").read_text()
