"""Adaptive studies (AdaStop) and sharded studies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from runners.adaptive import Comparison, Group, decisions_table, read_decisions, run_score
from runners.checks import RunConfigError
from runners.report import build_report
from runners.results import run_lock, write_run
from runners.results_format import ADASTOP_FILE, META_FILE, PLAN_FILE, ResultsFormatError
from runners.study import load_study, run_study
from runners.testing import write_toy_table

pytest.importorskip("adastop")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("adaptive-tables")
    return [
        write_toy_table(root / "toy-a", name="toy-a", rng_seed=1),
        write_toy_table(root / "toy-b", name="toy-b", rng_seed=2, n_configs=9),
    ]


def study_file(tmp_path, tables, name="ada", **extra):
    d = {
        "name": name,
        "benchmarks": [{"name": p.name, "path": str(p)} for p in tables],
        "optimizers": ["rs", "asha"],
        "seeds": list(range(6)),
        "n_workers": [2],
        "budget": {"kind": "evaluations", "amount": 4},
        "results_dir": str(tmp_path / "results"),
        "report": False,
        **extra,
    }
    f = tmp_path / f"{name}.yaml"
    f.write_text(yaml.safe_dump(d))
    return f


CONF = {"alpha": 0.05, "batch": 5, "n_interims": 4, "permutations": 10_000, "metric": "valid"}


def test_a_clearly_worse_method_is_decided_at_the_first_interim_and_gets_no_more_seeds():
    rng = np.random.default_rng(0)
    c = Comparison(Group("b", 1, ["good", "bad", "also-good"]), CONF, seed=0)
    assert c.active() == ["good", "bad", "also-good"]
    scores = {"good": rng.normal(0, 1, 5), "bad": rng.normal(20, 1, 5), "also-good": rng.normal(0, 1, 5)}
    c.add(0, scores, seeds=range(5))
    rows = {(d["method"], d["other"]): d for d in c.decisions()}
    assert rows[("good", "bad")]["decision"] == "better" and rows[("good", "bad")]["interim"] == 0
    assert rows[("bad", "also-good")]["decision"] == "worse"
    assert (
        rows[("good", "also-good")]["decision"] == "undecided"
        and rows[("good", "also-good")]["interim"] is None
    )
    assert c.active() == ["good", "also-good"]  # the bad method is out of every open comparison
    for k in range(1, 4):
        c.add(k, {m: rng.normal(0, 1, 5) for m in c.active()}, seeds=range(5 * k, 5 * k + 5))
    final = {(d["method"], d["other"]): d for d in c.decisions()}
    assert final[("good", "also-good")]["decision"] == "equal"  # undecided at the last interim: equal
    assert final[("good", "also-good")]["n_seeds"] == 20 and final[("good", "bad")]["n_seeds_other"] == 5


def test_the_same_scores_give_the_same_decisions():
    rng = np.random.default_rng(3)
    batches = [{m: rng.normal(mu, 1, 5) for m, mu in (("a", 0), ("b", 0.8), ("c", 1.5))} for _ in range(3)]

    def decide():
        c = Comparison(
            Group("x", 1, ["a", "b", "c"]), {**CONF, "n_interims": 3, "permutations": 2000}, seed=11
        )
        for k, b in enumerate(batches):
            c.add(k, {m: b[m] for m in c.active()}, seeds=range(5 * k, 5 * k + 5))
        return c.decisions()

    assert decide() == decide()


def test_bad_adastop_settings_name_the_value(tmp_path, tables):
    f = study_file(tmp_path, tables)
    with pytest.raises(RunConfigError, match=r"needs 20 seeds; the study lists 6"):
        load_study(str(f), ["stopping=adastop", "adastop.n_interims=4"])
    with pytest.raises(RunConfigError, match=r"adastop.alpha=1.5"):
        load_study(str(f), ["stopping=adastop", "adastop.alpha=1.5"])
    with pytest.raises(RunConfigError, match=r"adastop.metric='best'"):
        load_study(str(f), ["stopping=adastop", "adastop.metric=best"])
    with pytest.raises(RunConfigError, match=r"stopping='sometimes'"):
        load_study(str(f), ["stopping=sometimes"])
    with pytest.raises(RunConfigError, match=r"n_shards=2 is not allowed"):
        load_study(str(f), ["stopping=adastop", "n_shards=2"])
    with pytest.raises(RunConfigError, match=r"shard"):
        load_study(str(f), ["shard=3", "n_shards=2"])


def test_an_adaptive_study_runs_interims_writes_its_decisions_and_replays_on_rerun(tmp_path, tables, capsys):
    cfg = load_study(
        str(study_file(tmp_path, tables)), ["stopping=adastop", "adastop.batch=3", "adastop.permutations=200"]
    )
    out = run_study(cfg, progress=False)
    assert out["failed"] == 0 and out["adastop"]
    data = read_decisions(tmp_path / "results" / "ada")
    # the last line says what was decided, not only what is left undecided
    [last] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("adastop finished")]
    verdicts = Counter(d["decision"] for g in data["groups"] for d in g["decisions"])
    counts = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
    assert last.startswith(f"adastop finished: 2 pair(s) of methods, {counts} (")
    assert data["status"] == "finished" and data["settings"]["n_interims"] == 2
    assert [g["benchmark"] for g in data["groups"]] == ["toy-a", "toy-b"]
    for g in data["groups"]:
        assert g["interims"][0]["seeds"] == [0, 1, 2]
        assert set(g["seeds"]) == {"rs", "asha"}
        [d] = g["decisions"]
        assert d["decision"] in ("better", "worse", "equal")
        for m, seeds in g["seeds"].items():  # every score is the run's own final incumbent
            for s, v in zip(seeds, g["scores"][m], strict=True):
                path = tmp_path / "results" / "ada" / g["benchmark"] / m / "workers-2" / f"seed-{s}"
                assert run_score(path) == v
    # the plan lists exactly the runs AdaStop took
    plan = json.loads((tmp_path / "results" / "ada" / PLAN_FILE).read_text())
    taken = {(g["benchmark"], m, s) for g in data["groups"] for m, ss in g["seeds"].items() for s in ss}
    assert {(r["benchmark"], r["optimizer"], r["seed"]) for r in plan["runs"]} == taken
    assert out["ran"] == len(taken)
    table = decisions_table(data)
    assert len(table) == 2 and {"benchmark", "method", "other", "decision", "n_seeds"} <= set(table.columns)
    # a rerun runs nothing and decides the same
    again = run_study(cfg, progress=False)
    assert again["ran"] == 0
    assert read_decisions(tmp_path / "results" / "ada")["groups"] == data["groups"]
    assert (tmp_path / "results" / "ada" / ADASTOP_FILE).is_file()
    # the report shows the decisions beside the fixed-seed statistics
    build_report(tmp_path / "results" / "ada", tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Adaptive stopping (AdaStop)" in md and "rs vs asha" in md and "rank-sum p" in md
    assert (tmp_path / "report" / "tables" / "adastop_decisions.csv").is_file()
    # run again with every seed (no stopping): the old decisions stay on disk but no longer describe the study
    fixed = run_study(load_study(str(study_file(tmp_path, tables))), progress=False)
    assert fixed["failed"] == 0 and (tmp_path / "results" / "ada" / ADASTOP_FILE).is_file()
    assert read_decisions(tmp_path / "results" / "ada") is None
    build_report(tmp_path / "results" / "ada", tmp_path / "report-fixed")
    assert "Adaptive stopping" not in (tmp_path / "report-fixed" / "report.md").read_text()


def test_shards_split_the_runs_without_overlap_and_together_cover_the_study(tmp_path, tables):
    f = study_file(tmp_path, tables, name="sharded", seeds=[0, 1, 2])
    ran = 0
    for i in range(3):
        out = run_study(load_study(str(f), [f"shard={i}", "n_shards=3"]), progress=False)
        assert out["failed"] == 0 and out["report"] is None
        ran += out["ran"]
        assert (tmp_path / "results" / "sharded" / f"shard-{i}-of-3.json").is_file()
    assert ran == 2 * 2 * 3  # benchmarks x optimizers x seeds, each run once
    whole = run_study(load_study(str(f)), progress=False)
    assert whole["ran"] == 0 and whole["skipped"] == 12


def test_a_shard_checks_only_its_own_runs_on_disk(tmp_path, tables, monkeypatch):
    import runners.study as study_mod

    f = study_file(tmp_path, tables, name="slice", seeds=[0, 1, 2])
    run_study(load_study(str(f)), progress=False)  # 12 runs, all finished
    checked = []
    real = study_mod.verify_run
    monkeypatch.setattr(study_mod, "verify_run", lambda p: (checked.append(p), real(p))[1])
    runs = study_mod.plan(load_study(str(f), ["shard=1", "n_shards=3"]))
    assert len(runs) == 12 and len(checked) == 4
    assert [r.state for r in runs] == ["other-shard", "complete", "other-shard"] * 4
    assert set(checked) == {r.path for r in runs[1::3]}


def _shard_cmd(study, launcher, n=2):
    return [
        sys.executable,
        "-m",
        "runners.shard",
        "--multirun",
        f"study={study}",
        f"n_shards={n}",
        f"shard=range({n})",
        f"hydra/launcher={launcher}",
        "hydra.sweep.dir=multirun/shards",
    ]


@pytest.mark.slow  # a launcher array end to end; sharding itself is tested fast
def test_the_shard_app_runs_every_shard_through_a_hydra_launcher(tmp_path, tables):
    f = study_file(tmp_path, tables, name="launched", seeds=[0, 1])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        _shard_cmd(f, "joblib"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "shard 0 of 2:" in out.stdout and "shard 1 of 2:" in out.stdout
    whole = run_study(load_study(str(f)), progress=False)
    assert whole["ran"] == 0 and whole["skipped"] == 8


def test_the_shard_app_refuses_shard_settings_inside_set(tmp_path, tables):
    f = study_file(tmp_path, tables, name="refused")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "runners.shard", f"study={f}", 'set="n_shards=4"'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "sets n_shards" in out.stderr


@pytest.mark.slow
def test_a_submitit_local_array_runs_every_shard(tmp_path, tables):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    f = study_file(tmp_path, tables, name="submitted", seeds=[0, 1])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        _shard_cmd(f, "submitit_local"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    whole = run_study(load_study(str(f)), progress=False)
    assert whole["ran"] == 0 and whole["skipped"] == 8


def test_study_seeds_take_hydra_style_ranges_and_nothing_else_is_evaluated(tmp_path, tables):
    f = study_file(tmp_path, tables, name="ranges")
    assert list(load_study(str(f), ["seeds=range(12)"]).seeds) == list(range(12))
    assert list(load_study(str(f), ["seeds=range(3, 9, 2)"]).seeds) == [3, 5, 7]
    with pytest.raises(RunConfigError, match=r"range\(5, 5\) gives 0 seeds"):
        load_study(str(f), ["seeds=range(5, 5)"])
    with pytest.raises(RunConfigError, match="step must not be zero"):
        load_study(str(f), ["seeds=range(0, 5, 0)"])
    with pytest.raises(RunConfigError):
        load_study(str(f), ["seeds=range(__import__('os').getpid())"])


@pytest.mark.parametrize(
    ("text", "message"), [("[1]", "a JSON object, got list"), ('{"format": ', "not valid JSON")]
)
def test_a_damaged_decisions_file_is_an_error_naming_it(tmp_path, text, message):
    from runners.results_format import ResultsFormatError

    (tmp_path / ADASTOP_FILE).write_text(text)
    with pytest.raises(ResultsFormatError, match=rf"{ADASTOP_FILE}: .*{message}"):
        read_decisions(tmp_path)


def _scored_run(path, objective):
    ev = pd.DataFrame(
        {"t_end": [1.0, 2.0], "objective": [0.2, 0.8], "test_objective": [0.3, 0.7], "status": ["ok", "ok"]}
    )
    write_run(path, ev, {"study": "s", **({} if objective is None else {"objective": objective})})
    return path


def test_a_run_is_scored_in_the_direction_its_meta_names_and_no_other(tmp_path):
    assert run_score(_scored_run(tmp_path / "min", {"name": "loss", "direction": "minimize"})) == 0.2
    assert run_score(_scored_run(tmp_path / "max", {"name": "acc", "direction": "maximize"})) == -0.8
    for i, direction in enumerate(["MAXIMIZE", "max", None, ""]):  # each was scored as minimize, silently
        path = _scored_run(tmp_path / f"bad-{i}", {"name": "acc", "direction": direction})
        with pytest.raises(
            ResultsFormatError, match=rf"bad-{i}/{META_FILE}: .*direction {direction!r} .*minimize"
        ):
            run_score(path)
    for i, objective in enumerate([None, "acc"]):  # no objective (was a bare KeyError), or not an object
        path = _scored_run(tmp_path / f"none-{i}", objective)
        with pytest.raises(ResultsFormatError, match=rf"none-{i}/{META_FILE}: objective must be an object"):
            run_score(path)


class _HeldRun:
    """Another process runs one run of the study: a thread holds its lock (each acquisition opens the lock file
    anew, so a thread excludes the study as a process would) until released, then puts ``finished`` (a copy
    of the finished run) in its place, if given, before letting go."""

    def __init__(self, path, finished=None):
        self.path, self.finished = path, finished
        self.ready, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self):
        with run_lock(self.path):
            self.ready.set()
            self.release.wait(60)
            if self.finished is not None:
                time.sleep(1)  # still running it a while after the study got "taken" back
                shutil.copytree(self.finished, self.path)

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(30)


def _small_adaptive(tmp_path, tables, results):
    f = study_file(tmp_path, tables[:1], seeds=[0, 1, 2], results_dir=str(tmp_path / results))
    return load_study(str(f), ["stopping=adastop", "adastop.batch=3", "adastop.permutations=200", "n_jobs=1"])


def test_adastop_waits_for_a_run_another_process_holds_and_scores_it_once_finished(
    tmp_path, tables, monkeypatch
):
    import runners.study as study_mod

    done = run_study(_small_adaptive(tmp_path, tables, "elsewhere"), progress=False)
    assert done["failed"] == 0
    expected = read_decisions(tmp_path / "elsewhere" / "ada")["groups"]
    assert not expected[0]["error"] and expected[0]["decisions"]
    last = Path("toy-a/asha/workers-2/seed-2")  # the interim's last run: scored right after it comes back
    held = _HeldRun(tmp_path / "results" / "ada" / last, finished=tmp_path / "elsewhere" / "ada" / last)
    real = study_mod._execute

    def execute(config):  # the held run comes back taken: only then does the other process finish it
        out = real(config)
        if out["state"] == "taken":
            held.release.set()
        return out

    monkeypatch.setattr(study_mod, "_execute", execute)
    with held:
        out = run_study(_small_adaptive(tmp_path, tables, "results"), progress=False)
    assert (out["ran"], out["taken"], out["failed"]) == (5, 1, 0)
    assert read_decisions(tmp_path / "results" / "ada")["groups"] == expected


def test_a_run_held_past_the_wait_fails_the_study_and_keeps_decisions_another_process_wrote(
    tmp_path, tables, monkeypatch, capsys
):
    import runners.adaptive as adaptive

    run_study(_small_adaptive(tmp_path, tables, "elsewhere"), progress=False)
    completed = (tmp_path / "elsewhere" / "ada" / ADASTOP_FILE).read_text()
    study_dir = tmp_path / "results" / "ada"
    study_dir.mkdir(parents=True)
    (study_dir / ADASTOP_FILE).write_text(completed)  # another process ran this study to the end
    monkeypatch.setattr(adaptive, "TAKEN_WAIT_SECONDS", 0.3)
    with _HeldRun(study_dir / "toy-a" / "rs" / "workers-2" / "seed-1"):  # ... and still holds one run
        out = run_study(_small_adaptive(tmp_path, tables, "results"), progress=False)
    # the comparison ended without decisions here: the run is a failure of the study (it exits non-zero), not
    # "taken" and "0 failed"
    assert (out["taken"], out["failed"]) == (0, 1)
    [failure] = out["failures"]
    assert (failure["optimizer"], failure["seed"]) == ("rs", 1)
    assert "still held by another process" in failure["error"] and ".seed-1.lock" in failure["error"]
    assert "stopped without decisions" in capsys.readouterr().out
    # the decisions the other process completed are not replaced by this process's error
    assert json.loads((study_dir / ADASTOP_FILE).read_text())["groups"] == json.loads(completed)["groups"]
