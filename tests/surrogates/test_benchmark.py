"""SurrogateBenchmark: the Benchmark contract, continuous fidelity, saving/loading, the fit app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from protocol_contract import (  # the same contract tests every benchmark passes, run on a surrogate here
    test_default_fidelity_is_max_and_default_seed,
    test_metadata,
    test_optimum_is_best,
    test_query_batch_matches_query,
    test_query_matches_curve_and_repeats,
    test_values_within_bounds_and_cost_monotone,
)

from benchmarks.protocol import ConfigError, FidelityError, SeedError, UnknownBenchmarkError
from benchmarks.table import read_table
from surrogates import benchmark as sb
from surrogates import fit as fit_app
from surrogates.benchmark import SurrogateBenchmark, load_shipped, shipped_path
from surrogates.store import SurrogateFormatError, load_surrogate, save_surrogate
from surrogates.surrogate import CurveSurrogate
from surrogates.synthetic import synthetic_table

__all__ = [
    "test_default_fidelity_is_max_and_default_seed",
    "test_metadata",
    "test_optimum_is_best",
    "test_query_batch_matches_query",
    "test_query_matches_curve_and_repeats",
    "test_values_within_bounds_and_cost_monotone",
]

FAST = {
    "xgboost": {"n_estimators": 25},
    "rf": {"n_estimators": 10},
    "knn": {},
    "mlp": {"max_steps": 100, "n_members": 2, "hidden": 16},
    "gp": {"n_restarts": 0},
    "ensemble": {
        "members": ["xgboost", "gp", "mlp"],
        "xgboost": {"n_estimators": 25},
        "gp": {"n_restarts": 0},
        "mlp": {"max_steps": 100, "n_members": 2, "hidden": 16},
    },
}


@pytest.fixture(scope="module")
def table_path(tmp_path_factory) -> Path:
    return synthetic_table(tmp_path_factory.mktemp("t") / "syn", n_configs=60, n_seeds=3, n_epochs=6)


@pytest.fixture(scope="module")
def saved(table_path, tmp_path_factory) -> dict[str, Path]:
    table = read_table(table_path)
    out = {}
    for model, params in FAST.items():
        sur = CurveSurrogate(model=model, model_params=params).fit(table)
        out[model] = save_surrogate(sur, tmp_path_factory.mktemp("s") / model, table_checksum="abc")
    return out


@pytest.fixture(scope="module", params=["xgboost", "mlp", "ensemble"])
def bench(request, saved, monkeypatch_module) -> SurrogateBenchmark:
    monkeypatch_module.setattr(sb, "OPTIMUM_SAMPLES", 3000)
    return SurrogateBenchmark.from_path(saved[request.param])


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.mark.parametrize("model", list(FAST))
def test_saved_model_loads_and_predicts_identically(saved, table_path, model):
    table = read_table(table_path)
    sur = CurveSurrogate(model=model, model_params=FAST[model]).fit(table)
    loaded, manifest = load_surrogate(saved[model])
    cfgs = [dict(c) for c in table.space.sample_configuration(25)]
    a, b = sur.predict_frame(cfgs, seeds=2), loaded.predict_frame(cfgs, seeds=2)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5)
    assert manifest["model"] == model and manifest["table"]["checksum"] == "abc"
    names = set(manifest["files"])
    assert "arrays.npz" in names and all(f in {p.name for p in saved[model].iterdir()} for f in names)
    assert not any(p.suffix in (".pkl", ".pickle", ".joblib") for p in saved[model].iterdir())


def test_corrupted_or_foreign_files_are_refused(saved, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(saved["xgboost"], bad)
    f = bad / "block0.ubj.gz"
    f.write_bytes(f.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(SurrogateFormatError, match="block0.ubj.gz: checksum mismatch"):
        load_surrogate(bad)
    (bad / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(SurrogateFormatError, match="format 'something-else'"):
        load_surrogate(bad)
    with pytest.raises(SurrogateFormatError, match="missing"):
        load_surrogate(tmp_path / "nothing-here")


def test_lazy_load_describes_without_a_model_and_predicts_the_same(saved, table_path):
    """lazy=True: the manifest and checksums are checked now, the model is built on the first prediction,
    and every answer equals an eager load's."""
    eager = SurrogateBenchmark.from_path(saved["ensemble"])
    lazy = SurrogateBenchmark.from_path(saved["ensemble"], lazy=True)
    assert lazy._surrogate is None and eager._surrogate is not None
    assert lazy.describe() == eager.describe() and lazy.provenance == eager.provenance
    assert lazy.objective_metric == eager.objective_metric and lazy._surrogate is None
    cfgs = [dict(c) for c in read_table(table_path).space.sample_configuration(5)]
    for c in cfgs:
        assert lazy.query(c, seed=3) == eager.query(c, seed=3)
    assert lazy._surrogate is not None


def test_lazy_load_checks_checksums_now_and_refuses_a_folder_changed_before_the_model_is_built(
    saved, tmp_path
):
    import shutil

    folder = tmp_path / "lazy"
    shutil.copytree(saved["xgboost"], folder)
    f = folder / "block0.ubj.gz"
    good = f.read_bytes()
    f.write_bytes(good[:-10] + b"0123456789")
    with pytest.raises(SurrogateFormatError, match="block0.ubj.gz: checksum mismatch"):
        SurrogateBenchmark.from_path(folder, lazy=True)
    f.write_bytes(good)
    b = SurrogateBenchmark.from_path(folder, lazy=True)
    f.write_bytes(good[:-10] + b"0123456789")  # swapped after loading: the build checks again
    with pytest.raises(SurrogateFormatError, match="block0.ubj.gz: checksum mismatch"):
        b.validate()
    f.write_bytes(good)
    m = json.loads((folder / "manifest.json").read_text())
    m["provenance"]["note"] = "edited"
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(SurrogateFormatError, match="changed since the benchmark was loaded"):
        b.validate()
    SurrogateBenchmark.from_path(folder).validate()  # loaded afresh, the edited (consistent) folder is fine


def test_show_of_a_shipped_surrogate_builds_no_model():
    """`python -m benchmarks show` reads a shipped surrogate's description and stored optima from its manifest:
    no model is built (torch and xgboost stay unimported), which keeps it within its 2 s."""
    name = next(t for t in sorted(p.name for p in sb.surrogates_dir().iterdir()) if t.endswith("-ensemble"))
    code = (
        "import sys, io, contextlib\n"
        "from benchmarks.__main__ import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    rc = main(['show', 'name={name.removesuffix('-ensemble')}-surrogate'])\n"
        "assert rc == 0 and 'optimum' in out.getvalue(), (rc, out.getvalue())\n"
        "print(sorted(m for m in ('torch', 'xgboost', 'sklearn.ensemble') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def test_save_refuses_to_overwrite(saved, table_path):
    sur = CurveSurrogate(model="knn").fit(read_table(table_path))
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        save_surrogate(sur, saved["knn"])
    with pytest.raises(ValueError, match="not fitted"):
        save_surrogate(CurveSurrogate(), saved["knn"].parent / "new")


def test_continuous_fidelity_interpolates_between_grid_values(saved):
    b = SurrogateBenchmark.from_path(saved["xgboost"])
    assert b.fidelity.continuous and b.seeds is None and b.default_seed == 0
    c = dict(b.space.sample_configuration())
    cv = b.curve(c, seed=3)
    lo, hi = cv.fidelities[1].item(), cv.fidelities[2].item()
    mid = b.query(c, fidelity=(lo + hi) / 2, seed=3)
    r_lo, r_hi = b.query(c, fidelity=lo, seed=3), b.query(c, fidelity=hi, seed=3)
    assert r_lo.cost < mid.cost < r_hi.cost
    assert mid.cost_increment == pytest.approx(mid.cost - r_lo.cost)
    v = mid.metrics["valid_loss"]
    assert min(r_lo["valid_loss"], r_hi["valid_loss"]) <= v <= max(r_lo["valid_loss"], r_hi["valid_loss"])
    fids = np.linspace(b.fidelity.min, b.fidelity.max, 37)
    costs = b.query_batch([c] * 37, fids, 3).cost
    assert np.all(np.diff(costs) >= 0)


def test_bad_inputs_name_the_value(bench):
    """The contract's bad-input checks (its version samples one config in a way ConfigSpace answers differently)."""
    from benchmarks.protocol import MetricError

    c = dict(bench.space.sample_configuration())
    with pytest.raises(ConfigError, match="unknown hyperparameter 'no_such_hp'"):
        bench.query({**c, "no_such_hp": 1})
    name = next(iter(c))
    with pytest.raises(ConfigError, match=f"missing hyperparameter '{name}'"):
        bench.query({k: v for k, v in c.items() if k != name})
    with pytest.raises(ConfigError, match=f"{name}=.*(outside the space|not a number)"):
        bench.query({**c, name: "definitely-not-allowed"})
    with pytest.raises(FidelityError, match=r"outside the range; allowed"):
        bench.query(c, fidelity=bench.fidelity.max + 1000)
    with pytest.raises(FidelityError, match=r"outside the range"):
        bench.query(c, fidelity=bench.fidelity.min - 1000)
    with pytest.raises(SeedError, match="not an integer"):
        bench.query(c, seed="zero")
    with pytest.raises(MetricError, match="unknown metric 'nope'"):
        bench.optimum("nope")


def test_surrogate_specific_errors(saved):
    b = SurrogateBenchmark.from_path(saved["knn"])
    c = dict(b.space.sample_configuration())
    with pytest.raises(ConfigError, match="config_id 3 given"):
        b.query(3)
    with pytest.raises(
        SeedError, match=r"seed -1 is outside the allowed range; allowed: any integer in 0\.\.2\*\*63-1"
    ):
        b.query(c, seed=-1)
    with pytest.raises(FidelityError, match="outside the range; allowed: any value in"):
        b.query_batch([c, c], [1.0, 99.0])
    with pytest.raises(SeedError, match="seed -2 is outside the allowed range"):
        b.query_batch([c, c], None, [0, -2])


def test_cached_curves_are_read_only_and_do_not_skip_validation(saved):
    b = SurrogateBenchmark.from_path(saved["knn"])
    c = dict(b.space.sample_configuration())
    cv = b.curve(c, seed=1)
    assert b.query(c, seed=1)["valid_loss"] == cv["valid_loss"][-1]
    with pytest.raises(ValueError, match="read-only"):
        cv["valid_loss"][0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        cv.cost[0] = 0.0
    for m in cv.metrics:  # every metric's curve: a view of one locked buffer, or locked itself
        assert not cv.metrics[m].flags.writeable
    # the cache key keeps the mapping's order: the names in another order miss it, and get the same numbers
    n_cached = len(b._cache)
    again = b.query(dict(reversed(list(c.items()))), seed=1)
    assert len(b._cache) == n_cached + 1  # a miss: predicted again
    assert again.metrics == b.query(c, seed=1).metrics and again.cost == b.query(c, seed=1).cost
    with pytest.raises(ConfigError, match="unknown hyperparameter 'extra'"):
        b.query({**c, "extra": 1}, seed=1)


def test_query_batch_is_vectorized_over_a_dataframe(saved):
    import pandas as pd

    b = SurrogateBenchmark.from_path(saved["xgboost"])
    frame = pd.DataFrame([dict(c) for c in b.space.sample_configuration(200)])
    res = b.query_batch(frame, fidelities=b.fidelity.max, seeds=np.arange(200), metrics=["valid_loss"])
    assert set(res.metrics) == {"valid_loss"} and len(res) == 200
    one = b.query(frame.iloc[7].to_dict(), seed=7)
    assert res["valid_loss"][7] == pytest.approx(one["valid_loss"])


def test_optimum_estimate_is_cached_and_not_worse_than_samples(saved, monkeypatch):
    monkeypatch.setattr(sb, "OPTIMUM_SAMPLES", 2000)
    b = SurrogateBenchmark.from_path(saved["rf"])
    best = b.optimum()
    assert b.optimum() == best and b.optimum("valid_acc") <= 1.0
    cand = b.candidate_configs()
    assert len(cand) == 2000
    vals = b.query_batch(cand.iloc[:200], seeds=0, metrics=["valid_loss"])["valid_loss"]
    assert best <= vals.min()


def test_stored_optima_are_read_at_load_and_equal_a_fresh_estimate(saved, tmp_path, monkeypatch):
    import shutil

    from surrogates.store import store_optima

    monkeypatch.setattr(sb, "OPTIMUM_SAMPLES", 1500)
    folder = tmp_path / "s"
    shutil.copytree(saved["xgboost"], folder)
    fresh = SurrogateBenchmark.from_path(folder)
    assert not fresh._optimum  # saved without optima: estimated when asked
    record = fresh.optima_record()
    store_optima(folder, record)
    loaded = SurrogateBenchmark.from_path(folder)
    assert loaded._optimum == {m: loaded.optimum(m) for m in loaded.metrics}
    assert all(loaded.optimum(m) == fresh.optimum(m) for m in loaded.metrics)
    # stored by another method (other sample count): estimated again, not trusted
    monkeypatch.setattr(sb, "OPTIMUM_SAMPLES", 1000)
    assert not SurrogateBenchmark.from_path(folder)._optimum


def test_bad_stored_optima_are_refused(saved, tmp_path):
    import shutil

    from surrogates.store import store_optima

    folder = tmp_path / "s"
    shutil.copytree(saved["xgboost"], folder)
    with pytest.raises(SurrogateFormatError, match="names metric 'nope'"):
        store_optima(folder, {"method": sb.optima_method(), "values": {"nope": 1.0}})
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["optima"] = {"method": sb.optima_method(), "values": {"valid_loss": "0.1"}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SurrogateFormatError, match="valid_loss is '0.1'; allowed: a finite number or null"):
        load_surrogate(folder)


def test_shipped_paths_and_clear_error_when_missing():
    p = shipped_path("no-such-table", "xgboost")
    assert p.name == "no-such-table-xgboost" and p.parent.name == "surrogates"
    with pytest.raises(UnknownBenchmarkError, match="not fitted yet.*make surrogates"):
        load_shipped("no-such-table")


def test_fit_app_end_to_end(table_path, tmp_path, monkeypatch):
    out = tmp_path / "sur"
    cmd = [
        sys.executable,
        "-m",
        "surrogates.fit",
        f"benchmark={table_path}",
        "model=knn",
        f"out={out}",
        "card_folds=null",
        "card_test_size=0.3",
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "saved knn surrogate" in run.stdout
    card = json.loads((out / "card.json").read_text())
    assert card["model"] == "knn" and card["split"]["n_test_configs"] == 18
    assert (out / "card.md").read_text().startswith("# Quality card")
    b = SurrogateBenchmark.from_path(out)
    assert np.isfinite(b.query(dict(b.space.sample_configuration()))["valid_loss"])
    stored = json.loads((out / "manifest.json").read_text())["optima"]  # estimated once, at fit time
    monkeypatch.setattr(
        sb, "OPTIMUM_SAMPLES", stored["method"]["samples"]
    )  # the fit's (this module lowers it)
    b = SurrogateBenchmark.from_path(out)
    assert stored["method"] == sb.optima_method() and set(stored["values"]) == set(b.metrics)
    assert b._optimum and b.optimum() == stored["values"]["valid_loss"]
    assert SurrogateBenchmark(b.surrogate).optimum() == b.optimum()
    # again, in this process (what the app calls, with the same settings): the folder is never overwritten
    # (a misspelt key is refused before anything runs: tests/runners/test_cli_keys.py)
    with pytest.raises(FileExistsError, match="already exists"):
        fit_app.fit_benchmark(str(table_path), "knn", out=str(out), card_folds=None, card_test_size=0.3)


def test_surrogate_of_a_finite_grid_searches_the_whole_grid_for_its_optimum(tmp_path):
    from benchmarks.synthetic import make_synthetic_table

    path = make_synthetic_table(
        tmp_path / "grid", n_configs=None, space="grid", n_seeds=3, n_epochs=5, name="grid"
    )
    b = SurrogateBenchmark(CurveSurrogate(model="knn").fit(read_table(path)))
    cand = b.candidate_configs()
    assert len(cand) == 24 and not cand.duplicated().any()
    best = b.optimum()
    vals = [
        b.query_batch(cand, fidelities=f, seeds=s, metrics=[b.objective])[b.objective].min()
        for f in b.fidelity.values
        for s in range(3)
    ]
    want = min(vals) if b.objective_metric.direction == "minimize" else max(vals)
    assert best == pytest.approx(want)


def test_version_1_folders_still_load(saved, tmp_path):
    """Folders written before ensembles (format version 1: one model, one file per block) load unchanged.

    A version-2 xgboost folder is rewritten in the version-1 layout (the manifest had no
    ``regressors`` or distillation keys; each block named its own file) and must load and
    predict exactly as the original.
    """
    import shutil

    v1 = tmp_path / "v1"
    shutil.copytree(saved["xgboost"], v1)
    manifest = json.loads((v1 / "manifest.json").read_text())
    files = manifest.pop("regressors")["xgboost"]["files"]
    for key in ("distill", "distill_params", "distilled_from"):
        manifest.pop(key)
    manifest["format_version"] = 1
    for block, f in zip(manifest["blocks"], files, strict=True):
        block["file"] = f
    (v1 / "manifest.json").write_text(json.dumps(manifest))
    old, _ = load_surrogate(v1)
    new, _ = load_surrogate(saved["xgboost"])
    assert list(old.regressors_) == ["xgboost"] and len(old.regressors_["xgboost"]) == len(manifest["blocks"])
    x = new.encode([dict(c) for c in new.space_.sample_configuration(5)])
    a, b = old.predict_curves(x, seeds=1), new.predict_curves(x, seeds=1)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_simulator_fast_path_on_a_surrogate_gives_the_same_events():
    """The simulator asks a surrogate only for the objective and cost while it runs (its evaluator) and
    decodes the other metrics in one query_batch at the end: the events equal those of one full query per
    evaluation (the protocol's default evaluator), bit for bit."""
    import pandas as pd

    import benchmarks
    from benchmarks.protocol import Evaluator
    from runners.registry import OPTIMIZERS
    from runners.simulator import Budget, simulate

    b = benchmarks.load("lcbench-car-surrogate")
    assert type(b.evaluator()) is sb.SurrogateEvaluator

    class QueryOnly:  # the benchmark with the protocol's default evaluator: one query per evaluation
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def evaluator(self, metric=None, reported=()):
            return Evaluator(self._inner, self._inner.metric(metric).name, reported)

    fast = simulate(b, OPTIMIZERS["hyperband"], seed=3, n_workers=4, budget=Budget("evaluations", 20))
    slow = simulate(
        QueryOnly(b), OPTIMIZERS["hyperband"], seed=3, n_workers=4, budget=Budget("evaluations", 20)
    )
    assert len(fast.events) > 50
    pd.testing.assert_frame_equal(fast.events, slow.events)
    value, cost = b.objective_and_cost(b.space.get_default_configuration(), None, 7)
    full = b.query(dict(b.space.get_default_configuration()), None, 7)
    assert value == full.metrics[b.objective] and cost == full.cost


def test_evaluator_predicts_one_metric_and_answers_what_query_answers(saved):
    b = SurrogateBenchmark.from_path(saved["knn"])
    test = b.test_objective
    told = [m for m in b.metrics if m != test]
    ev = b.evaluator(b.objective, told)
    b.space.seed(5)
    configs = [dict(c) for c in b.space.sample_configuration(4)]
    grid = b.fidelity.values
    fids = [grid[0], 0.5 * (grid[0] + grid[1]), grid[-1]]
    keys = []
    for i, c in enumerate(configs):
        for f in fids:
            key, value, cost = ev.evaluate(c, f, i)
            r = b.query(c, f, i)
            assert (value, cost) == (r.metrics[b.objective], r.cost)
            assert dict(ev.reported(key)) == {m: r.metrics[m] for m in told}
            keys.append((key, r))
    cols = ev.metric_columns([k for k, _ in keys])
    for m in b.metrics:
        np.testing.assert_array_equal(cols[m], [r.metrics[m] for _, r in keys])
    assert ev.config_ids([k for k, _ in keys]) == [None] * len(keys) and ev.n_rows is None
    with pytest.raises(ConfigError, match="config_id 3 given"):
        ev.evaluate(3, grid[-1], 0)
    with pytest.raises(FidelityError, match="outside the range"):
        ev.evaluate(configs[0], grid[-1] + 1, 0)
    with pytest.raises(SeedError, match="outside the allowed range"):
        ev.evaluate(configs[0], grid[-1], -1)


def test_value_range_of_a_surrogate_is_a_fixed_sample(saved):
    from benchmarks.protocol import RANGE_SAMPLES, RANGE_SEED
    from benchmarks.sampling import sample_configurations

    b = SurrogateBenchmark.from_path(saved["knn"])
    vals, source = b.values_at(b.objective)
    assert source == "sample" and vals.shape == (RANGE_SAMPLES, 1)
    sample = sample_configurations(b.space, RANGE_SAMPLES, np.random.default_rng(RANGE_SEED))
    np.testing.assert_array_equal(vals[:, 0], b.query_batch(sample, metrics=[b.objective])[b.objective])
    r = b.value_range(b.objective)
    sign = b.objective_metric.sign
    finite = vals[np.isfinite(vals)]
    assert r.reference == float(np.median(finite)) and r.worst == sign * float(np.max(sign * finite))
    assert sign * r.best == min(float(np.min(sign * finite)), sign * b.optimum())
    assert r.source == "sample" and "sampled uniformly" in r.note


def test_a_dataframe_is_checked_as_each_configuration_is():
    # query refused these; query_batch of a DataFrame coerced them (a blend of 2 and 3 layers, a string read)
    import pandas as pd

    from benchmarks import catalog

    b = catalog.load("lcbench-car-surrogate")
    c = dict(catalog.load("lcbench-car").configurations()[0])
    for change, message in [
        ({"num_layers": 2.5}, "num_layers=2.5 is not an integer"),
        ({"momentum": "0.5"}, "momentum='0.5' is not a number"),
        ({"num_layers": True}, "num_layers=True is not a number"),
    ]:
        bad = {**c, **change}
        with pytest.raises(ConfigError, match=message):
            b.query_batch(pd.DataFrame([bad]))
        with pytest.raises(ConfigError):
            b.query(bad)
    b.query({**c, "num_layers": 1})  # cached: True == 1 must not find this curve
    with pytest.raises(ConfigError, match="num_layers=True is not a number"):
        b.query({**c, "num_layers": True})


def test_a_surrogate_keeps_its_tables_fidelity_kind(tmp_path):
    # a training-set size is not incremental: a continuation pays the full cost, on the surrogate as on the table
    from benchmarks.protocol import Fidelity
    from benchmarks.table import TableSpec, write_table

    t = read_table(synthetic_table(tmp_path / "syn", n_configs=30, n_seeds=2, n_epochs=4))
    spec = TableSpec(
        name="noninc",
        space=t.space,
        fidelity=Fidelity("train_size", t.fidelity.values, "instances", incremental=False),
        metrics=t.metrics,
        objective=t.manifest["objective"],
        test_objective=t.manifest.get("test_objective"),
        seeds=t.seeds,
    )
    configs = t.configs.drop(columns=["config_id"], errors="ignore")
    p = write_table(
        tmp_path / "noninc",
        spec,
        configs=configs,
        values={k: t.arrays[k] for k in t.metric_names},
        cost=t.cost,
    )
    sur = CurveSurrogate(model="xgboost", model_params=FAST["xgboost"]).fit(read_table(p))
    assert sur.fidelity_.incremental is False
    back = SurrogateBenchmark.from_path(save_surrogate(sur, tmp_path / "sur", table_checksum="abc"))
    assert back.fidelity.incremental is False


def test_a_card_is_measured_with_the_shipped_settings_and_names_the_same_code(
    table_path, tmp_path, monkeypatch
):
    # the card's fold fits used the default components and noise whatever the shipped surrogate had; and the
    # manifest and card read the code version minutes apart (a commit in between named other code)
    import json

    import surrogates.quality as quality
    from surrogates.fit import fit_benchmark

    built = []
    real = quality.CurveSurrogate

    def spy(**kw):
        built.append(kw)
        return real(**kw)

    monkeypatch.setattr(quality, "CurveSurrogate", spy)
    path, card = fit_benchmark(
        str(table_path),
        "xgboost",
        model_params=FAST["xgboost"],
        max_components=1,
        noise=False,
        out=tmp_path / "s",
        card_folds=2,
    )
    assert built and all(kw["max_components"] == 1 and kw["noise"] is False for kw in built)
    assert card["settings"]["max_components"] == 1 and card["settings"]["noise"] is False
    manifest = json.loads((path / "manifest.json").read_text())
    assert card["code_version"] == manifest["provenance"]["code_version"]
