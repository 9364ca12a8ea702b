"""Study throughput: a study's runs per second on one core, beside the same runs one process per run.

    python -m perf studies                        # part of make perf: the throughput on one core
    python -m perf.studies --full --n-shards 2    # the 10,000-run study, its shards side by side, wall time

Workload: synthetic tables (``benchmarks.synthetic``, 100 configurations x 1 seed x 27 epochs,
the mixed space) x five built-in optimizers (rs, sh, hyperband, asha, re) x seeds, 4 workers, a
budget of 20 full-fidelity evaluations; every run writes its results folder as in any study.

* ours: ``runners.study`` in one process with ``n_jobs=1`` (one core): plan, then every run;
* baseline: the same runs, each as its own ``python -m runners.run`` process, one after another
  (what one cluster job or one array task per run costs before any scheduler latency).

``--full`` writes a study of 10,000 runs (20 tables x 5 optimizers x 100 seeds) and runs it as N
shards (``shard=i n_shards=N``), one process each, side by side; it prints the wall time and
runs per second. Both results are saved under ``.perf/`` (``studies.json``, ``studies-full.json``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.synthetic import make_synthetic_table

from .common import Report, clock

OPTIMIZERS = ["rs", "sh", "hyperband", "asha", "re"]
BUDGET = 20
N_CONFIGS, N_EPOCHS = 100, 27


def _tables(root: Path, n: int) -> list[dict]:
    return [
        {
            "name": f"synth-{i}",
            "path": str(
                make_synthetic_table(
                    root / f"synth-{i}",
                    n_configs=N_CONFIGS,
                    n_seeds=1,
                    n_epochs=N_EPOCHS,
                    space="mixed",
                    seed=i,
                    name=f"synth-{i}",
                )
            ),
        }
        for i in range(n)
    ]


def _study_file(root: Path, name: str, tables: list[dict], seeds: int) -> Path:
    spec = {
        "name": name,
        "benchmarks": tables,
        "optimizers": OPTIMIZERS,
        "seeds": list(range(seeds)),
        "n_workers": [4],
        "budget": {"kind": "evaluations", "amount": BUDGET},
        "n_jobs": 1,
        "results_dir": str(root / "results"),
        "report": False,
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _env() -> dict[str, str]:
    # one core each: no library may spread a run over threads
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }


def _study(path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "runners.study", "run", f"study={path}", *extra],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(map(str, proc.args))} exited {proc.returncode}:\n{out[-2000:]}")
    return out


def _count_runs(results: Path) -> int:
    return sum(1 for _ in results.rglob("meta.json"))


def throughput(quick: bool = False) -> Report:
    """Runs per second of one in-process study (one core) against one process per run."""
    report = Report("studies")
    n_seeds = 4 if quick else 10
    n_single = 5  # each its own process: five give the per-process cost (one per optimizer)
    with tempfile.TemporaryDirectory(prefix="curvebench-perf-") as tmp:
        root = Path(tmp)
        tables = _tables(root, 2)
        n_runs = len(tables) * len(OPTIMIZERS) * n_seeds
        load0 = os.getloadavg()[0]
        ours, theirs = [], []
        reps = 1 if quick else 3
        part = clock().part(0.9, "study against one process per run")
        for rep in part.rounds(reps):  # alternate ours and the baseline, take medians
            sub = root / f"rep{rep}"
            sub.mkdir()
            path = _study_file(sub, "throughput", tables, n_seeds)
            t = time.perf_counter()
            _wait(_study(path))
            ours.append(n_runs / (time.perf_counter() - t))
            if _count_runs(sub / "results") != n_runs:
                raise RuntimeError(f"the study wrote {_count_runs(sub / 'results')} runs, expected {n_runs}")
            t = time.perf_counter()
            for k in range(n_single):
                tb = tables[k % len(tables)]
                cmd = [
                    sys.executable,
                    "-m",
                    "runners.run",
                    "benchmark=table",
                    f"benchmark.name={tb['name']}",
                    f"benchmark.path={tb['path']}",
                    f"optimizer={OPTIMIZERS[k % len(OPTIMIZERS)]}",
                    f"seed={100 + k}",
                    "n_workers=4",
                    "budget.kind=evaluations",
                    f"budget.amount={BUDGET}",
                    "study=single",
                    f"results_dir={sub / 'single'}",
                ]
                subprocess.run(cmd, env=_env(), check=True, capture_output=True)
            theirs.append(n_single / (time.perf_counter() - t))
        part.done()
        load1 = os.getloadavg()[0]
    report.add(
        "study runs per second, one core",
        statistics.median(ours),
        statistics.median(theirs),
        "one `python -m runners.run` process per run",
        lower_is_better=False,
    )
    report.note(
        f"{n_runs} runs per study ({len(tables)} synthetic tables of {N_CONFIGS} configurations x "
        f"{N_EPOCHS} epochs x {len(OPTIMIZERS)} optimizers x {n_seeds} seeds, 4 workers, {BUDGET} "
        f"evaluations each), n_jobs=1, one thread; baseline: {n_single} runs, each its own process; "
        f"median of {len(ours)} alternating repetitions; load average (1 min) {load0:.2f} at start, "
        f"{load1:.2f} at end, on {os.cpu_count()} CPUs"
    )
    report.print()
    return report


def full(n_shards: int, n_tables: int = 20, n_seeds: int = 100, keep: Path | None = None) -> Report:
    """The 10,000-run study as ``n_shards`` shard processes side by side; wall time and runs per second."""
    report = Report("studies-full")
    with tempfile.TemporaryDirectory(prefix="curvebench-perf-") as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        tables = _tables(root, n_tables)
        path = _study_file(root, "scale", tables, n_seeds)
        n_runs = n_tables * len(OPTIMIZERS) * n_seeds
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        procs = [_study(path, f"shard={i}", f"n_shards={n_shards}") for i in range(n_shards)]
        for p in procs:
            _wait(p)
        wall = time.perf_counter() - t
        load1 = os.getloadavg()[0]
        done = _count_runs(root / "results")
        if done != n_runs:
            raise RuntimeError(f"{done} of {n_runs} runs finished")
        # a rerun of every shard finds nothing to do: restarts are idempotent
        t = time.perf_counter()
        procs = [_study(path, f"shard={i}", f"n_shards={n_shards}") for i in range(n_shards)]
        outs = [_wait(p) for p in procs]
        rerun = time.perf_counter() - t
        if _count_runs(root / "results") != n_runs:
            raise RuntimeError("the rerun changed the number of finished runs")
    report.add(f"{n_runs:,}-run study, {n_shards} shards: wall time (s)", wall, None, "")
    report.add(
        f"{n_runs:,}-run study, {n_shards} shards: runs per second",
        n_runs / wall,
        None,
        "",
        lower_is_better=False,
    )
    report.add("rerun of every shard, nothing missing (s)", rerun, None, "")
    report.note(
        f"{n_tables} synthetic tables x {len(OPTIMIZERS)} optimizers x {n_seeds} seeds, 4 workers, "
        f"{BUDGET} evaluations each; {n_shards} shard processes (n_jobs=1, one thread each) side by side "
        f"on {os.cpu_count()} CPUs; load average (1 min) {load0:.2f} at start, {load1:.2f} at end"
    )
    report.note("last line of shard 0's rerun: " + (outs[0].strip().splitlines() or [""])[-1][:200])
    report.print()
    return report


def main(quick: bool = False) -> Report:
    return throughput(quick)


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m perf.studies", description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true", help="run the 10,000-run study in shards instead")
    p.add_argument("--n-shards", type=int, default=2, metavar="N")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.n_shards < 1:
        p.error(f"--n-shards must be >= 1, got {a.n_shards}")
    full(a.n_shards) if a.full else throughput(a.quick)
