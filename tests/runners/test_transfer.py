"""Transfer methods in the runner: leave-one-dataset-out sources reach the optimizer and are recorded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks import catalog
from benchmarks.transfer import greedy_portfolio, transfer_sources
from runners.optimizers.portfolio import Portfolio
from runners.registry import OPTIMIZERS, TRANSFER_OPTIMIZERS, make_optimizer, optimizer_hyperparameters
from runners.simulator import Budget, simulate

#: the datasets lcbench-car's runs learn from: the other shipped LCBench-style tables
OTHER_LCBENCH = sorted(n for n in catalog.SHIPPED_NAMES if n.startswith("lcbench-") and n != "lcbench-car")


def test_the_transfer_methods_are_registered_apart():
    assert (
        "portfolio" in TRANSFER_OPTIMIZERS
        and "portfolio" not in OPTIMIZERS
        and "rs" not in TRANSFER_OPTIMIZERS
    )
    assert "transfer" not in optimizer_hyperparameters("portfolio")[1]  # filled by the runner, never set


def test_a_portfolio_run_evaluates_the_greedy_order_of_the_other_datasets_at_the_maximum_fidelity():
    bench = catalog.load("lcbench-car")
    r = simulate(bench, make_optimizer("portfolio"), seed=0, n_workers=1, budget=Budget("evaluations", 12))
    want = greedy_portfolio([s.values for s in transfer_sources(bench)], "minimize")[:12]
    assert r.events["config_id"].tolist() == want
    assert set(r.events["fidelity"]) == {bench.fidelity.max}
    again = simulate(
        bench, make_optimizer("portfolio"), seed=0, n_workers=1, budget=Budget("evaluations", 12)
    )
    assert again.events.equals(r.events)


def test_the_portfolio_refuses_what_it_cannot_use():
    bench = catalog.load("lcbench-car")
    kw = dict(space=bench.space, fidelity=bench.fidelity, objective=bench.objective_metric, seed=0)
    with pytest.raises(ValueError, match="portfolio needs other datasets"):
        Portfolio(**kw)
    short = transfer_sources(catalog.load("fcnet-naval"))
    from runners.optimizer import ConfigSampler

    with pytest.raises(
        ValueError, match=r"\['fcnet-parkinsons'\] do not hold this table's 500 configurations"
    ):
        Portfolio(transfer=short, sampler=ConfigSampler.for_benchmark(bench), **kw)


def test_the_command_line_records_the_sources_and_refuses_a_table_without_any(tmp_path):
    def run(bench: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "runners.run",
                f"benchmark={bench}",
                "optimizer=portfolio",
                "budget.kind=evaluations",
                "budget.amount=5",
                f"results_dir={tmp_path / 'res'}",
                f"hydra.run.dir={tmp_path / 'h'}",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    ok = run("lcbench-car")
    assert ok.returncode == 0, ok.stderr[-3000:]
    meta = json.loads(next((tmp_path / "res").rglob("meta.json")).read_text())
    sources = meta["optimizer_info"]["transfer"]["sources"]
    assert sorted(sources) == OTHER_LCBENCH
    assert sources["lcbench-vehicle"] == catalog.load("lcbench-vehicle").checksum
    bad = run("fcnet-protein")
    assert bad.returncode == 2 and bad.stderr.startswith("error: no other catalog table holds"), bad.stderr
    assert "Traceback" not in bad.stderr


def test_warm_started_tpe_starts_with_the_portfolio_then_models():
    pytest.importorskip("optuna")
    bench = catalog.load("lcbench-car")
    budget = Budget("evaluations", 30)
    r = simulate(bench, make_optimizer("optuna-tpe-warm"), seed=1, n_workers=1, budget=budget)
    cold = simulate(bench, make_optimizer("optuna-tpe"), seed=1, n_workers=1, budget=budget)
    order = greedy_portfolio([s.values for s in transfer_sources(bench)], "minimize")
    n_start = r.optimizer.n_startup_trials
    assert n_start == cold.optimizer.n_startup_trials == 3  # min(10, max(2, round(30 / 10)))
    ids = r.events["config_id"].tolist()
    assert ids[:n_start] == order[:n_start] == r.optimizer.warm
    assert cold.events["config_id"].tolist()[:n_start] != order[:n_start]
    assert len(set(ids)) == len(ids) == 30 and ids[n_start:] != order[n_start:30]  # then TPE's own proposals
    info = r.optimizer.describe()
    assert sorted(info["transfer"]["sources"]) == OTHER_LCBENCH
    with pytest.raises(ValueError, match="optuna-tpe-warm needs other datasets"):
        make_optimizer("optuna-tpe-warm")(
            space=bench.space, fidelity=bench.fidelity, objective=bench.objective_metric, seed=0
        )


def test_the_transfer_study_runs_only_where_every_benchmark_has_sources():
    from runners.study import load_study

    study = load_study("transfer")
    assert {"portfolio", "optuna-tpe-warm", "rs", "optuna-tpe"} == set(study.optimizers)
    for name in study.benchmarks:
        assert len(transfer_sources(catalog.load(name))) >= 1, name
