"""``make bench`` (runners.bench): summary, loud skipping of missing benchmarks, stand-in tables, time budget."""

from __future__ import annotations

import time

import pytest
import yaml

from runners import bench
from runners.study import load_study
from runners.testing import STANDIN_SHAPES, write_standin_tables, write_toy_table


def test_bench_runs_what_exists_and_names_what_is_missing(tmp_path, capsys):
    toy = write_toy_table(tmp_path / "toy-a", name="toy-a")
    study = tmp_path / "mini.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "benchmarks": [
                    {"name": "toy-a", "path": str(toy)},
                    {"name": "toy-missing", "path": str(tmp_path / "no")},
                ],
                "optimizers": ["rs", "asha"],
                "seeds": [0, 1],
                "n_workers": [2],
                "budget": {"kind": "evaluations", "amount": 3},
                "n_jobs": 1,
                "results_dir": str(tmp_path / "results"),
                "report_dir": str(tmp_path / "reports"),
            }
        )
    )
    assert bench.main([f"study={study}"]) == 0
    out, err = capsys.readouterr()
    assert "SKIPPING benchmark toy-missing" in err
    assert "8 runs = 2 benchmarks x 2 optimizers x 2 seeds" in out
    assert "ran 4, already finished 0, failed 0, not run (benchmark or optimizer not available) 4" in out
    assert "MISSING BENCHMARKS (1 of 2): toy-missing" in out
    assert (tmp_path / "reports" / "mini" / "index.html").is_file()
    # a second call redoes only the report
    assert bench.main([f"study={study}"]) == 0
    assert "ran 0, already finished 4" in capsys.readouterr().out


def test_bench_shows_one_progress_bar_and_sends_library_logging_to_the_study_log(
    tmp_path, capsys, monkeypatch
):
    """The runs' bar is the command's only bar (the report reads without one) and library logging goes to study.log."""
    import logging

    import runners.study as study_mod

    toy = write_toy_table(tmp_path / "toy-a", name="toy-a")
    study = tmp_path / "one.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "benchmarks": [{"name": "toy-a", "path": str(toy)}],
                "optimizers": ["rs"],
                "seeds": [0, 1],
                "n_workers": [1],
                "budget": {"kind": "evaluations", "amount": 3},
                "results_dir": str(tmp_path / "results"),
                "report_dir": str(tmp_path / "reports"),
            }
        )
    )
    execute = study_mod._execute

    def chatty(config):  # a library that logs while a run is on
        logging.getLogger("optuna").warning("a library message")
        return execute(config)

    monkeypatch.setattr(study_mod, "_execute", chatty)
    assert bench.main([f"study={study}"]) == 0
    out, err = capsys.readouterr()
    bars = {line.split(":")[0].strip() for line in err.replace("\r", "\n").splitlines() if "|" in line}
    assert bars == {"runs"}, err
    assert "reading" not in err and "writing the report" in err  # the one bar says what comes after the runs
    assert "a library message" not in err + out
    assert "a library message" in (tmp_path / "results" / "one" / "study.log").read_text()
    assert (tmp_path / "reports" / "one" / "index.html").is_file() and "report:" in out


def test_bench_bad_key_or_study_prints_the_message_and_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CURVEBENCH_TRACEBACK", raising=False)
    assert bench.main(["out_dir=/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "out_dir" in err and "report_dir" in err and "Traceback" not in err
    assert bench.main(["study=no-such-study"]) == 2
    assert "known studies" in capsys.readouterr().err
    monkeypatch.setenv("CURVEBENCH_TRACEBACK", "1")
    with pytest.raises(Exception, match="out_dir"):
        bench.main(["out_dir=/x"])


def test_bench_fails_when_nothing_is_available(tmp_path, capsys):
    assert (
        bench.main(
            [
                f"results_dir={tmp_path}",
                f"report_dir={tmp_path}",
                f"benchmarks=[{{name: x, path: {tmp_path / 'none'}}}]",
            ]
        )
        == 1
    )
    assert "none of its benchmarks is available here" in capsys.readouterr().err


def test_standin_tables_have_the_shapes_of_the_shipped_ones(tmp_path):
    from benchmarks.tabular import TabularBenchmark

    entries = write_standin_tables(tmp_path, n_fcnet=1, n_lcbench=1)
    assert [e["name"] for e in entries] == ["standin-fcnet-0", "standin-lcbench-0"]
    for e, family in zip(entries, ("fcnet", "lcbench")):
        b = TabularBenchmark.from_path(e["path"])
        C, S, F = STANDIN_SHAPES[family]
        assert 0.98 * C <= b.n_configs <= C  # draws of the FCNet grid that repeat are dropped
        assert (len(b.seeds), len(b.fidelity.values)) == (S, F)
    assert write_standin_tables(tmp_path, n_fcnet=1, n_lcbench=1) == entries  # reused, not rewritten
    cfg = bench._configure([f"standin={tmp_path}", "seeds=[0]"])
    assert cfg.name == "bench-standin" and len(cfg.benchmarks) == 6 and list(cfg.seeds) == [0]


def test_the_bench_study_keeps_its_promised_size():
    cfg = load_study("bench")
    assert len(cfg.optimizers) >= 6 and len(cfg.benchmarks) >= 4 and len(cfg.seeds) >= 5
    assert list(cfg.n_workers) == [4] and cfg.report


@pytest.mark.slow
def test_bench_on_standin_tables_fits_in_ten_minutes(tmp_path):
    """The whole default study (runs and report) on tables shaped like the shipped ones: at most 10 minutes."""
    t0 = time.perf_counter()
    code = bench.main(
        [
            f"standin={tmp_path / 'tables'}",
            f"results_dir={tmp_path / 'results'}",
            f"report_dir={tmp_path / 'reports'}",
        ]
    )
    assert code == 0
    assert time.perf_counter() - t0 < 600
    assert (tmp_path / "reports" / "bench-standin" / "index.html").is_file()
