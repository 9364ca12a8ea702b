"""Run folders: atomic files, meta.json as the completion marker, skip, resume and no overwrite."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmarks.protocol import Benchmark, UnknownBenchmarkError
from runners.optimizer import RandomSearch
from runners.results import (
    RunConflictError,
    build_meta,
    read_events,
    read_meta,
    run_dir,
    run_state,
    should_run,
    write_run,
)
from runners.results_format import CONFIG_PREFIX, EVENT_COLUMNS, EVENTS_FILE, META_FILE, METRIC_PREFIX
from runners.simulator import Budget, simulate
from runners.testing import toy_benchmark


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_benchmark(tmp_path_factory.mktemp("res") / "toy")


def finished_run(toy, path, seed=0, amount=10):
    r = simulate(toy, RandomSearch, seed=seed, n_workers=2, budget=Budget("results", amount))
    cfg = {"benchmark": {"name": "toy"}, "seed": seed, "budget": {"kind": "results", "amount": amount}}
    meta = build_meta(
        r,
        toy,
        study="s",
        benchmark_name="toy",
        optimizer_name="rs",
        run_config=cfg,
        started_utc="2000-01-01T00:00:00Z",
    )
    write_run(path, r, meta)
    return r, cfg


def test_run_dir_layout_and_labels(tmp_path):
    p = run_dir(tmp_path, "study", "fcnet-naval", "hyperband", 4, 3)
    assert p == tmp_path / "study" / "fcnet-naval" / "hyperband" / "workers-4" / "seed-3"
    for bad in ("../x", "a/b", "", ".hidden", "a b"):
        with pytest.raises(ValueError, match="cannot name a results folder"):
            run_dir(tmp_path, bad, "b", "o", 1, 0)


def test_write_then_read_roundtrip(toy, tmp_path):
    path = tmp_path / "run"
    assert run_state(path) == "missing"
    r, cfg = finished_run(toy, path)
    assert run_state(path) == "complete"
    ev = read_events(path)
    pd.testing.assert_frame_equal(ev, r.events)
    meta = read_meta(path)
    assert meta["status"] == "complete" and meta["config"] == json.loads(json.dumps(cfg))
    assert meta["summary"]["n_events"] == len(ev) == r.summary["n_events"] > 0
    assert meta["objective"]["name"] == "valid_loss" and meta["objective"]["direction"] == "minimize"
    assert meta["objective"]["optimum"] == pytest.approx(toy.optimum())
    assert meta["test_objective"]["name"] == "test_loss"
    assert meta["benchmark_info"]["checksum"] == toy.checksum
    assert {"numpy", "pandas", "pyarrow", "python"} <= set(meta["versions"]) and meta["code_version"]
    from benchmarks.io import sha256_file

    assert meta["events_sha256"] == sha256_file(path / EVENTS_FILE)


def test_finished_run_is_skipped_and_a_different_config_is_an_error(toy, tmp_path):
    path = tmp_path / "run"
    _, cfg = finished_run(toy, path)
    before = (path / EVENTS_FILE).read_bytes(), (path / META_FILE).read_bytes()
    assert should_run(path, cfg) is False
    with pytest.raises(RunConflictError, match=r"budget\.amount: 10 -> 11"):
        should_run(path, {**cfg, "budget": {"kind": "results", "amount": 11}})
    with pytest.raises(RunConflictError, match="refusing to overwrite"):
        finished_run(toy, path, amount=11)
    assert ((path / EVENTS_FILE).read_bytes(), (path / META_FILE).read_bytes()) == before


def test_a_finished_run_made_on_other_data_is_a_conflict_not_a_skip(toy, tmp_path):
    path = tmp_path / "run"
    _, cfg = finished_run(toy, path)
    assert should_run(path, cfg, benchmark=lambda: toy) is False
    rebuilt = toy_benchmark(tmp_path / "rebuilt", rng_seed=1)  # the same name and space, other numbers
    assert rebuilt.checksum != toy.checksum
    with pytest.raises(
        RunConflictError, match=f"benchmark checksum {toy.checksum[:12]} -> {rebuilt.checksum[:12]}"
    ):
        should_run(path, cfg, benchmark=lambda: rebuilt)

    def unavailable():
        raise UnknownBenchmarkError("not available here")

    assert should_run(path, cfg, benchmark=unavailable) is False  # nothing to compare with: skipped as before


def test_a_transfer_run_is_stale_once_its_sources_change():
    from benchmarks import catalog
    from benchmarks.transfer import related
    from runners.results import data_changes

    target = catalog.load("lcbench-car")
    now = {n: catalog.load(n).checksum for n in related(target)}
    assert len(now) >= 2
    meta = {"benchmark_info": {"checksum": target.checksum}, "optimizer_info": {"transfer": {"sources": now}}}
    assert data_changes(meta, target) == []
    first, second = sorted(now)[:2]
    was = {n: c for n, c in now.items() if n != first} | {second: "0" * 64, "lcbench-gone": "1" * 64}
    meta["optimizer_info"]["transfer"]["sources"] = was
    assert data_changes(meta, target) == [
        f"transfer source {first} added",
        "transfer source lcbench-gone gone",
        f"transfer source {second} checksum 000000000000 -> {now[second][:12]}",
    ]
    # a method that learns from no other dataset is not stale when one is added
    assert data_changes({"benchmark_info": {"checksum": target.checksum}, "optimizer_info": {}}, target) == []


def test_a_new_seed_beside_finished_seeds_of_other_settings_or_data_is_a_conflict(toy, tmp_path):
    # a method's seeds are one experiment: a report averages them, so a seed added with another budget (or on
    # a rebuilt table) must not land beside the finished ones
    folder = tmp_path / "s" / "toy" / "rs" / "workers-2"
    _, cfg = finished_run(toy, folder / "seed-0", seed=0)
    new = folder / "seed-1"
    assert should_run(new, {**cfg, "seed": 1}, benchmark=lambda: toy) is True
    with pytest.raises(
        RunConflictError, match=r"seed-1: the seeds finished beside it .*seed-0: budget\.amount: 10 -> 11"
    ):
        should_run(new, {**cfg, "seed": 1, "budget": {"kind": "results", "amount": 11}})
    rebuilt = toy_benchmark(tmp_path / "rebuilt", rng_seed=1)
    with pytest.raises(
        RunConflictError, match=f"other data .*checksum {toy.checksum[:12]} -> {rebuilt.checksum[:12]}"
    ):
        should_run(new, {**cfg, "seed": 1}, benchmark=lambda: rebuilt)


def test_a_conflicting_seed_whose_events_are_torn_is_redone_not_compared(toy, tmp_path):
    folder = tmp_path / "s" / "toy" / "rs" / "workers-2"
    finished_run(toy, folder / "seed-0", seed=0, amount=12)
    cfg = {"benchmark": {"name": "toy"}, "seed": 2, "budget": {"kind": "results", "amount": 10}}
    with pytest.raises(RunConflictError, match=r"seed-2: .*\(seed-0: budget\.amount: 12 -> 10\)"):
        should_run(folder / "seed-2", cfg, benchmark=lambda: toy)
    # a seed whose events no longer match their checksum is redone by its next run: not compared
    (folder / "seed-0" / EVENTS_FILE).write_bytes(b"torn")
    assert should_run(folder / "seed-2", cfg, benchmark=lambda: toy) is True


def test_a_study_folder_whose_seeds_mix_settings_is_refused_by_the_reader(toy, tmp_path):
    from runners.analysis.load import ResultsFormatError, load_study

    folder = tmp_path / "s" / "toy" / "rs" / "workers-2"
    finished_run(toy, folder / "seed-0", seed=0)
    finished_run(toy, folder / "seed-1", seed=1)  # written directly (as an older version could): no check
    load_study(tmp_path / "s", recompute=False)
    (folder / "seed-1").rename(folder / "seed-1.old")
    finished_run(toy, folder / "seed-1", seed=1, amount=12)
    with pytest.raises(
        ResultsFormatError, match=r"seed-0 and .*seed-1 are seeds of one method .*amount: 10 -> 12"
    ):
        load_study(tmp_path / "s", recompute=False)


def test_a_linked_run_folder_is_never_written_through(toy, tmp_path):
    from runners.results import set_aside

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / META_FILE).write_text('{"note": "mine"}')
    folder = tmp_path / "s" / "toy" / "rs" / "workers-2"
    folder.mkdir(parents=True)
    (folder / "seed-0").symlink_to(victim)
    assert run_state(folder / "seed-0") == "damaged"
    moved = set_aside(folder / "seed-0")  # the link itself is moved, not what it points to
    assert moved.is_symlink() and (victim / META_FILE).read_text() == '{"note": "mine"}'
    finished_run(toy, folder / "seed-0")
    assert not (folder / "seed-0").is_symlink() and (victim / META_FILE).read_text() == '{"note": "mine"}'
    # a linked parent: refused, neither written nor renamed through
    (tmp_path / "s2" / "toy" / "rs").mkdir(parents=True)
    (tmp_path / "s2" / "toy" / "rs" / "workers-2").symlink_to(victim)
    with pytest.raises(RunConflictError, match="is a symbolic link"):
        finished_run(toy, tmp_path / "s2" / "toy" / "rs" / "workers-2" / "seed-0")
    with pytest.raises(RunConflictError, match="is a symbolic link"):
        set_aside(tmp_path / "s2" / "toy" / "rs" / "workers-2" / "seed-0")
    assert sorted(p.name for p in victim.iterdir()) == [META_FILE]


def test_interrupted_run_is_redone(toy, tmp_path):
    path = tmp_path / "run"
    path.mkdir()
    (path / EVENTS_FILE).write_bytes(b"truncated parquet")
    assert run_state(path) == "partial"
    assert should_run(path, {}) is True
    r, _ = finished_run(toy, path)
    pd.testing.assert_frame_equal(read_events(path), r.events)
    # a meta.json that does not say complete is not a finished run either
    (path / META_FILE).write_text(json.dumps({"status": "running"}))
    assert run_state(path) == "partial"


def test_the_events_hold_the_format_columns_with_their_dtypes(toy, tmp_path):
    """The runner writes every fixed column of results_format.EVENT_COLUMNS, with its dtype, in its order."""
    r, _ = finished_run(toy, tmp_path / "run")
    ev = read_events(tmp_path / "run")
    fixed = [c for c in ev.columns if not c.startswith((CONFIG_PREFIX, METRIC_PREFIX))]
    assert fixed == list(EVENT_COLUMNS)
    assert {c: str(ev[c].dtype) for c in fixed} == EVENT_COLUMNS
    assert any(c.startswith(CONFIG_PREFIX) for c in ev) and any(c.startswith(METRIC_PREFIX) for c in ev)


def test_write_run_of_a_frame_adds_the_format_header(tmp_path):
    """Events given as a DataFrame (synthetic results) get the same meta.json header as the runner's."""
    ev = pd.DataFrame({"trial_id": [0], "t_end": [1.0], "objective": [0.5], "status": ["ok"]})
    write_run(tmp_path / "run", ev, {"study": "s"})
    meta = read_meta(tmp_path / "run")
    assert list(meta)[:3] == ["format", "format_version", "status"] and meta["status"] == "complete"
    assert (
        meta["study"] == "s"
        and meta["events_file"] == EVENTS_FILE
        and run_state(tmp_path / "run") == "complete"
    )
    pd.testing.assert_frame_equal(read_events(tmp_path / "run"), ev)
    with pytest.raises(RunConflictError, match="refusing to overwrite"):
        write_run(tmp_path / "run", ev, {"study": "s"})


def test_read_events_of_unfinished_run_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished run"):
        read_events(tmp_path)


# ---------------------------------------------------------------- value ranges of benchmarks without one
class _Formula:
    """A benchmark that answers anywhere in the toy space (like a surrogate) and holds no value range."""

    def __init__(self):
        from benchmarks.protocol import Fidelity, Metric
        from runners.testing import toy_space

        self.name, self.space, self.seeds, self.checksum = "formula", toy_space(), (0, 1), "formula-v1"
        self.fidelity = Fidelity("epoch", (1.0, 2.0))
        self.metrics = {"acc": Metric("acc", "maximize", 0.0, 1.0, split="valid")}
        self.calls = 0

    def metric(self, name):
        return self.metrics[name or "acc"]

    # the protocol's one value-range convention (range_info asks the benchmark), run on this stand-in
    value_range, values_at = Benchmark.value_range, Benchmark.values_at

    def values(self, configs, seed):
        import numpy as np

        lr = np.array([c["lr"] for c in configs])
        return 1.0 / (1.0 + (np.log10(lr) + 2.0) ** 2) - 0.01 * seed

    def query_batch(self, configs, fidelities=None, seeds=None, metrics=None):
        from benchmarks.protocol import BatchResult

        assert fidelities == 2.0  # the maximum
        self.calls += 1
        return BatchResult({"acc": self.values(configs, seeds)}, None)

    def optimum(self, metric=None):
        return 0.999

    def configurations(self):
        return None


def test_a_benchmark_without_a_value_range_gets_a_fixed_estimate():
    import numpy as np

    from runners.optimizer import ConfigSampler
    from runners.results import RANGE_SAMPLES, RANGE_SEED, _metric_info

    bench = _Formula()
    info = _metric_info(bench, "acc")
    sample = ConfigSampler(bench.space).sample(RANGE_SAMPLES, np.random.default_rng(RANGE_SEED))
    allv = np.concatenate([bench.values(sample, s) for s in bench.seeds])
    # maximize: best = the higher of the sample's best and the optimum; reference = the sample's median
    assert info["value_range"] == [pytest.approx(max(allv.max(), 0.999)), pytest.approx(np.median(allv))]
    assert (
        info["worst_value"] == pytest.approx(allv.min())
        and info["value_range_convention"] == "median-at-max-fidelity"
    )
    assert info["optimum"] == 0.999 and "over 1000 configurations sampled" in info["value_range_source"]
    calls = bench.calls
    again = _Formula()
    again.calls = 0
    assert _metric_info(again, "acc") == info and again.calls == 0  # once per benchmark (name and checksum)
    assert calls == len(bench.seeds)


def test_a_table_records_the_range_at_its_maximum_fidelity(tmp_path):
    import numpy as np

    from benchmarks.protocol import Fidelity, Metric
    from benchmarks.table import TableSpec, write_table
    from benchmarks.tabular import TabularBenchmark
    from runners.testing import toy_space

    # configuration 0 blows up at epoch 2 and recovers; configuration 2 diverges for good
    valid = np.array([[[1.0, 1e30, 0.5]], [[0.9, 0.8, 0.7]], [[0.6, np.nan, np.nan]]])
    configs = pd.DataFrame(
        {
            "lr": [1e-3, 1e-2, 1e-1],
            "layers": [1, 2, 3],
            "units": [16, 32, 64],
            "act": ["relu", "tanh", "relu"],
        }
    )
    path = write_table(
        tmp_path / "t",
        TableSpec(
            name="blowup",
            space=toy_space(),
            fidelity=Fidelity("epoch", (1.0, 2.0, 3.0)),
            metrics=[Metric("valid_loss", "minimize", 0.0, split="valid")],
            objective="valid_loss",
            test_objective=None,
            seeds=[0],
        ),
        configs=configs,
        values={"valid_loss": valid},
        cost=np.cumsum(np.ones((3, 1, 3)), axis=-1),
    )
    bench = TabularBenchmark.from_path(path)
    finished_run(bench, tmp_path / "run", amount=3)
    obj = read_meta(tmp_path / "run")["objective"]
    # reference: the median of the finite values at the last epoch (0.5, 0.7; the divergence is left out)
    assert obj["value_range"] == [0.5, pytest.approx(0.6)] and obj["optimum"] == 0.5  # float32 table
    assert (
        obj["worst_value"] == pytest.approx(0.7) and obj["value_range_convention"] == "median-at-max-fidelity"
    )
    assert "maximum fidelity" in obj["value_range_source"] and "median" in obj["value_range_source"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "a run's meta.json is a JSON object, got list"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # too deep to parse: an error, not a crash
    ],
)
def test_read_meta_names_a_damaged_meta_file(tmp_path, text, expected):
    run = tmp_path / "run"
    run.mkdir()
    (run / META_FILE).write_text(text)
    with pytest.raises(RunConflictError, match=expected) as info:
        read_meta(run)
    assert str(run / META_FILE) in str(info.value) and str(info.value).endswith("; the run is damaged")


def test_read_meta_of_a_run_without_meta_file_is_none(tmp_path):
    (tmp_path / "run").mkdir()
    assert read_meta(tmp_path / "run") is None


def test_meta_records_what_a_runs_numbers_depend_on(toy):
    # the libraries whose numbers enter a run, and for measured optimizer overhead the machine and its load
    metas = {}
    for overhead in ("measured", "zero"):
        r = simulate(toy, RandomSearch, seed=0, n_workers=2, budget=Budget("results", 5), overhead=overhead)
        metas[overhead] = build_meta(
            r,
            toy,
            study="s",
            benchmark_name="toy",
            optimizer_name="rs",
            run_config={},
            started_utc="2000-01-01T00:00:00Z",
        )
    assert {"numpy", "scikit-learn", "torch", "xgboost", "threadpoolctl"} <= set(metas["zero"]["versions"])
    measured = metas["measured"]["measured_on"]
    assert measured["hardware"]["cpu_count"] >= 1 and "load_average" in measured
    assert "measured_on" not in metas["zero"]
