"""Table performance: query latency, batch throughput and cold load, each beside a pandas baseline.

Run with ``make perf`` (or ``python -m perf tables``). Everything is measured in
this run, on a synthetic table the size of the full FCNet grid: 62,208
configurations x 4 seeds x 100 epochs x 4 metrics (plus the cost).

Baselines, measured on the same data in the same run:
* "pandas scan": a long DataFrame (a row per config, seed, epoch) filtered with a
  boolean mask per query, as some suites do;
* "pandas index": the same DataFrame with a (config_id, seed, epoch) MultiIndex, ``.loc`` per query
  and ``reindex`` for batches (the fair, fast way to use pandas);
* cold load: ``pandas.read_parquet`` of the long table in a fresh process.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import Report, fcnet_like_space

N_SEEDS, N_EPOCHS, N_METRICS = 4, 100, 4

_RSS = """
import os
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
"""

# memory is the resident set after loading AND touching every value (so mapped pages count in full)
_LOAD_OURS = (
    _RSS
    + """
import json, sys, time
from benchmarks.tabular import TabularBenchmark
r0 = rss_mib()
t = time.perf_counter()
b = TabularBenchmark.from_path(sys.argv[1])
dt = time.perf_counter() - t
for m in b.metrics:
    b.optimum(m)
float(b.table.cost.sum())
r1 = rss_mib()
print(json.dumps({"seconds": dt, "rss_mib": r1 - r0, "raw_mib": sum(a.nbytes for a in b._arrays) / 2**20}))
"""
)

_LOAD_PANDAS = (
    _RSS
    + """
import json, sys, time
import pandas as pd
r0 = rss_mib()
t = time.perf_counter()
df = pd.read_parquet(sys.argv[1])
dt = time.perf_counter() - t
r1 = rss_mib()
print(json.dumps({"seconds": dt, "rss_mib": r1 - r0}))
"""
)


def _subprocess_json(code: str, arg: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(quick: bool = False) -> Report:
    from tqdm.auto import tqdm

    from benchmarks.synthetic import make_synthetic_table
    from benchmarks.tabular import TabularBenchmark

    report = Report("tables")
    with tempfile.TemporaryDirectory(prefix="curvebench-perf-") as tmp:
        steps = tqdm(total=5, desc="perf tables", leave=False)
        path = make_synthetic_table(
            Path(tmp) / "fcnet-sized",
            n_configs=None,
            space=fcnet_like_space(),
            n_seeds=N_SEEDS,
            n_epochs=N_EPOCHS,
            n_metrics=N_METRICS,
            name="fcnet-sized",
        )
        steps.update()
        b = TabularBenchmark.from_path(path)
        C, S, F = b.table.shape
        long = b.table.to_long()
        long_path = Path(tmp) / "long.parquet"
        long.to_parquet(long_path)
        steps.update()

        # -------- cold load (fresh processes, median of 3)
        ours = [_subprocess_json(_LOAD_OURS, str(path)) for _ in range(3)]
        theirs = [_subprocess_json(_LOAD_PANDAS, str(long_path)) for _ in range(1 if quick else 2)]
        t_ours = statistics.median(r["seconds"] for r in ours)
        t_pd = statistics.median(r["seconds"] for r in theirs)
        raw = ours[0]["raw_mib"]
        mem = max(r["rss_mib"] for r in ours)
        report.add(
            "cold load (s), 62,208x4x100x4",
            t_ours,
            t_pd,
            "pandas read_parquet",
            target=1.0,
            lower_is_better=True,
        )
        report.add(
            "cold load memory / raw array size",
            mem / raw,
            max(r["rss_mib"] for r in theirs) / raw,
            "pandas read_parquet",
            target=1.5,
            lower_is_better=True,
        )
        steps.update()

        # -------- single-query latency (median over many queries, each timed alone)
        rng = np.random.default_rng(0)
        n_q = 5_000 if quick else 20_000
        ids = rng.integers(0, C, n_q)
        configs = [b.config(int(i)) for i in ids]
        seeds = rng.integers(0, S, n_q).tolist()
        fids = rng.integers(1, F + 1, n_q).tolist()
        for k in range(200):  # warm up
            b.query(configs[k], fidelity=fids[k], seed=seeds[k])
        lat = np.empty(n_q)
        q = b.query
        clock = time.perf_counter_ns
        for k in range(n_q):
            c, f, s = configs[k], fids[k], seeds[k]
            t0 = clock()
            q(c, fidelity=f, seed=s)
            lat[k] = clock() - t0
        ours_us = float(np.median(lat)) / 1e3

        indexed = long.set_index(["config_id", "seed", "epoch"]).sort_index()
        n_idx = 500 if quick else 2000
        lat_idx = np.empty(n_idx)
        for k in range(n_idx):
            key = (int(ids[k]), seeds[k], fids[k])
            t0 = clock()
            indexed.loc[key]
            lat_idx[k] = clock() - t0
        n_scan = 10 if quick else 20
        lat_scan = np.empty(n_scan)
        cid, sd, ep = long["config_id"].to_numpy(), long["seed"].to_numpy(), long["epoch"].to_numpy()
        for k in range(n_scan):
            t0 = clock()
            long[(cid == ids[k]) & (sd == seeds[k]) & (ep == fids[k])]
            lat_scan[k] = clock() - t0
        report.add(
            "single query, median (us)",
            ours_us,
            float(np.median(lat_idx)) / 1e3,
            "pandas MultiIndex .loc",
            target=10.0,
            lower_is_better=True,
        )
        report.add(
            "single query, median (us)",
            ours_us,
            float(np.median(lat_scan)) / 1e3,
            "pandas boolean scan",
            target=10.0,
            lower_is_better=True,
        )
        report.note(
            f"single query p99: {np.percentile(lat, 99) / 1e3:.1f} us (config given as a dict, validated)"
        )
        steps.update()

        # -------- batch throughput
        n_b = 5_000_000 if quick else 20_000_000
        bid = rng.integers(0, C, n_b, dtype=np.int64)
        bseed = rng.integers(0, S, n_b, dtype=np.int64)
        bfid = rng.integers(1, F + 1, n_b, dtype=np.int64)
        b.query_batch(bid[:1000], bfid[:1000], bseed[:1000], metrics=[b.objective])
        reps = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = b.query_batch(bid, bfid, bseed, metrics=[b.objective], with_cost=False)
            reps.append(time.perf_counter() - t0)
        ours_rate = n_b / min(reps)
        t0 = time.perf_counter()
        b.query_batch(bid, bfid, bseed)
        all_rate = n_b / (time.perf_counter() - t0)
        n_pd = 1_000_000
        t0 = time.perf_counter()
        ref = (
            indexed[b.objective]
            .reindex(__import__("pandas").MultiIndex.from_arrays([bid[:n_pd], bseed[:n_pd], bfid[:n_pd]]))
            .to_numpy()
        )
        pd_rate = n_pd / (time.perf_counter() - t0)
        if not np.allclose(ref, out[b.objective][:n_pd], equal_nan=True):
            raise AssertionError("query_batch disagrees with the pandas baseline")
        report.add(
            "batch throughput (M values/s, 1 metric)",
            ours_rate / 1e6,
            pd_rate / 1e6,
            "pandas MultiIndex reindex",
            target=20.0,
            lower_is_better=False,
        )
        report.note(
            f"batch throughput with all {N_METRICS} metrics and the cost: {all_rate / 1e6:.1f} M (config, seed, fidelity) per s"
        )
        steps.update()
        steps.close()
    report.print()
    return report


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
