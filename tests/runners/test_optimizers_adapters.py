"""Adapters to Optuna, the DEHB package and SMAC3: each runs on a real catalog benchmark and on a
multi-fidelity table, through the simulator; each skips with the reason when its library is missing."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import ConfigSpace as CS
import pytest

import benchmarks
from benchmarks.catalog import is_available
from benchmarks.synthetic import make_synthetic_table
from benchmarks.tabular import TabularBenchmark
from runners.adapters import Checkpoints, MissingExtraError, require
from runners.registry import optimizer_node, resolve_target
from runners.simulator import Budget, simulate

REAL = "pub-fcnet-naval"  # one fidelity (the published final epoch), 62,208 configurations
REAL_MF = "lcbench-credit_g"  # a shipped multi-fidelity table (50 epochs, 500 configurations)


def needs(module: str):
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None,
        reason=f"optional library {module!r} is not installed (pip install 'curvebench[{module}]')",
    )


def adapter(name: str):
    return resolve_target(optimizer_node(name)["_target_"])


@pytest.fixture(scope="module")
def real():
    ok, why = is_available(REAL)
    if not ok:
        pytest.skip(f"{REAL} is not available here: {why}")
    return benchmarks.load(REAL)


@pytest.fixture(scope="module")
def multi_fidelity(tmp_path_factory):
    """A shipped multi-fidelity table when it exists here, else a synthetic grid table."""
    ok, _ = is_available(REAL_MF)
    if ok:
        return benchmarks.load(REAL_MF)
    path = make_synthetic_table(
        tmp_path_factory.mktemp("adapters") / "grid",
        n_configs=None,
        space="grid",
        n_seeds=2,
        n_epochs=9,
        name="grid",
    )
    return TabularBenchmark.from_path(path)


def run(bench, name: str, seed: int = 0, n: float = 10, workers: int = 2, **kw):
    cls = adapter(name)
    return simulate(
        bench, lambda **a: cls(**kw, **a), seed=seed, n_workers=workers, budget=Budget("evaluations", n)
    )


def same(a, b) -> bool:
    cols = ["trial_id", "continues", "config_id", "fidelity", "t_end"]
    return a.events[cols].equals(b.events[cols])


# ---------------------------------------------------------------- shared pieces
def test_missing_library_names_the_extra():
    with pytest.raises(MissingExtraError, match=r"pip install 'curvebench\[nope\]'"):
        require("curvebench_no_such_library", "nope", "Nope")


def test_missing_optuna_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "optuna", None)  # makes `import optuna` fail
    bench = TabularBenchmark.from_path(
        make_synthetic_table(tmp_path / "s", n_configs=10, n_seeds=1, n_epochs=3)
    )
    from runners.adapters.optuna_adapter import OptunaTPE

    with pytest.raises(MissingExtraError, match="curvebench\\[optuna\\]"):
        simulate(bench, OptunaTPE, seed=0, n_workers=1, budget=Budget("evaluations", 1))


def test_checkpoints_give_back_the_highest_lower_fidelity_trial_once():
    from runners.optimizer import Trial

    cp = Checkpoints()
    a, b, c = Trial(0, {"x": 1}, 1.0), Trial(1, {"x": 1}, 3.0), Trial(2, {"x": 2}, 3.0)
    for t in (a, b, c):
        cp.add(t)
    assert cp.take({"x": 1}, 3.0) is a  # b is not below 3
    assert cp.take({"x": 1}, 9.0) is b
    assert cp.take({"x": 1}, 9.0) is None  # both were taken
    assert cp.take({"x": 3}, 9.0) is None


# ---------------------------------------------------------------- Optuna
@needs("optuna")
def test_optuna_distributions_cover_the_space():
    import optuna

    from runners.adapters.optuna_adapter import optuna_distributions

    space = CS.ConfigurationSpace()
    space.add(CS.UniformFloatHyperparameter("lr", 1e-4, 1.0, log=True))
    space.add(CS.UniformIntegerHyperparameter("n", 1, 8))
    space.add(CS.OrdinalHyperparameter("units", [16, 32, 64]))
    space.add(CS.CategoricalHyperparameter("act", ["relu", "tanh"]))
    space.add(CS.Constant("k", 3))
    dists, consts = optuna_distributions(space)
    D = optuna.distributions
    assert dists["lr"] == D.FloatDistribution(1e-4, 1.0, log=True)
    assert dists["n"] == D.IntDistribution(1, 8)
    assert dists["units"] == D.IntDistribution(0, 2)
    assert dists["act"] == D.CategoricalDistribution(["relu", "tanh"])
    assert consts == {"k": 3}


@needs("optuna")
def test_a_negative_number_of_startup_trials_is_refused_naming_it(real):
    with pytest.raises(ValueError, match=r"n_startup_trials=-5 must be an integer >= 0"):
        run(real, "optuna-tpe", seed=0, n=2, n_startup_trials=-5)


@needs("optuna")
def test_optuna_tpe_on_the_real_benchmark_is_reproducible(real):
    a, b = run(real, "optuna-tpe", seed=1), run(real, "optuna-tpe", seed=1)
    assert len(a.events) == 10 and same(a, b)
    states = [t.state.name for t in a.optimizer.study.trials]
    assert states.count("COMPLETE") == 10 and states.count("RUNNING") == a.summary["n_cancelled"]


@needs("optuna")
@pytest.mark.parametrize("name", ["optuna-sha", "optuna-hyperband"])
def test_optuna_pruners_continue_or_prune_trials(name, multi_fidelity):
    r = run(multi_fidelity, name, seed=2, n=12, workers=3)
    ev = r.events
    assert ev["continues"].notna().any(), "no trial was continued to a higher rung"
    assert (ev["fidelity"] == multi_fidelity.fidelity.max).any()
    states = {t.state.name for t in r.optimizer.study.trials}
    assert "PRUNED" in states and "COMPLETE" in states
    # every continuation resumes its own Optuna trial
    by_tid = ev.set_index("trial_id")
    for _, row in ev[ev["continues"].notna()].iterrows():
        assert by_tid.loc[int(row["continues"]), "config_id"] == row["config_id"]
    assert same(r, run(multi_fidelity, name, seed=2, n=12, workers=3))


@needs("optuna")
def test_optuna_pruner_on_the_one_fidelity_real_benchmark_runs_as_plain_tpe(real):
    r = run(real, "optuna-sha", seed=0, n=5)
    assert set(r.events["fidelity"]) == {100}


# ---------------------------------------------------------------- the DEHB package
@needs("dehb")
def test_dehb_package_runs_and_continues_promotions(multi_fidelity):
    r = run(multi_fidelity, "dehb-lib", seed=0, n=15, workers=3)
    ev = r.events
    assert ev["continues"].notna().any() and (ev["fidelity"] == multi_fidelity.fidelity.max).any()
    assert same(r, run(multi_fidelity, "dehb-lib", seed=0, n=15, workers=3))


@needs("dehb")
def test_dehb_package_continues_only_its_promotions_never_a_new_offspring(multi_fidelity, monkeypatch):
    # the DEHB package trains every new DE offspring from scratch: one a table snaps onto a configuration trained
    # before must not resume that checkpoint (it did, about 8% of a run's epochs free); promotions (the package
    # asking for a config_id it evaluated) do
    cls = adapter("dehb-lib")
    seen: list[tuple[int, bool, bool]] = []
    asked: set[int] = set()
    ask = cls._ask

    def logged(self):
        trial = ask(self)
        cid = self._jobs[trial.trial_id]["config_id"]
        seen.append((cid, trial.continues is not None, cid in asked))
        asked.add(cid)
        return trial

    monkeypatch.setattr(cls, "_ask", logged)
    run(multi_fidelity, "dehb-lib", seed=0, n=40, workers=3)
    continued = [(cid, again) for cid, cont, again in seen if cont]
    assert continued and all(again for _, again in continued)


@needs("dehb")
def test_dehb_package_on_a_one_fidelity_benchmark_runs_its_de(real):
    # the published FCNet table holds the final epoch only; the DEHB class needs min < max, so the package's DE runs
    r = run(real, "dehb-lib", seed=0, n=30, workers=2)
    assert len(r.events) == 30 and set(r.events["fidelity"]) == {real.fidelity.max}
    assert r.events["continues"].isna().all()
    assert "DE at the single fidelity" in r.optimizer.describe()["mode"]
    assert same(r, run(real, "dehb-lib", seed=0, n=30, workers=2))
    assert not same(r, run(real, "dehb-lib", seed=1, n=30, workers=2))


# ---------------------------------------------------------------- SMAC3
@needs("smac")
@pytest.mark.slow  # SMAC's random forest on a real benchmark, twice; the adapter's contract is tested fast
def test_smac_bo_on_the_real_benchmark_is_reproducible(real):
    a = run(real, "smac", seed=3, n=6, workers=1)
    assert len(a.events) == 6
    assert same(a, run(real, "smac", seed=3, n=6, workers=1))


@needs("smac")
def test_smac_on_a_table_does_not_depend_on_the_spaces_random_state(multi_fidelity):
    # the initial design was drawn from the benchmark space's own random state, which ConfigSpace seeds from the
    # operating system: the same run seed gave another run in every process
    runs = []
    for state in (1, 2):
        multi_fidelity.space.seed(state)
        runs.append(run(multi_fidelity, "smac-hyperband", seed=0, n=3, workers=2))
    assert same(*runs)


@needs("smac")
def test_smac_hyperband_runs_on_a_multi_fidelity_table(multi_fidelity):
    r = run(multi_fidelity, "smac-hyperband", seed=0, n=4, workers=2)
    ev = r.events
    assert ev["fidelity"].nunique() > 1
    assert r.optimizer.describe()["multi_fidelity"] is True
    # with one fidelity SMAC's Hyperband has nothing to schedule: the HPO facade runs at that fidelity
    one = run(
        multi_fidelity, "smac-hyperband", seed=0, n=3, workers=1, min_fidelity=multi_fidelity.fidelity.max
    )
    assert set(one.events["fidelity"]) == {multi_fidelity.fidelity.max}
    assert (
        one.optimizer.describe()["multi_fidelity"] is False
        and "one fidelity" in one.optimizer.describe()["fallback"]
    )
