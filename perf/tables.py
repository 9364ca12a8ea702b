"""Table performance: query latency, batch throughput and cold load, each beside a pandas baseline.

Run with ``make perf`` (or ``python -m perf tables``). Everything is measured in
this run, on a synthetic table the size of the full FCNet grid: 62,208
configurations x 4 seeds x 100 epochs x 4 metrics (plus the cost); ``--quick`` draws 8,192
configurations from the grid (about 7,700 distinct: duplicates are dropped).

Baselines, measured on the same data in the same run:
* "pandas scan": a long DataFrame (a row per config, seed, epoch) filtered with a
  boolean mask per query, as some suites do;
* "pandas index": the same DataFrame with a (config_id, seed, epoch) MultiIndex, ``.loc`` per query
  (the fair, fast way to use pandas); for batches ``index.get_indexer`` of the keys and a take,
  shown both *warm* (the index's hash engine built before the timing, as in a long-lived process)
  and *cold* (the first call on a fresh copy of the index, which builds the engine);
* cold load: ``pandas.read_parquet`` of the long table in a fresh process.

Every pair is timed alternately (ours, pandas, ours, pandas, ...) and each side reported as its
median, with the load (:func:`perf.common.alternate`); both sides run at one thread
(pandas and our lookups are single-threaded; BLAS, OpenMP and numexpr are held at 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.synthetic import make_synthetic_table
from benchmarks.tabular import TabularBenchmark

from .common import Report, alternate, fcnet_like_space, set_threads, threads_text

N_SEEDS, N_EPOCHS, N_METRICS = 4, 100, 4
#: --quick (a smoke test): draws from the grid (duplicates dropped: about 7,700 distinct) instead of all 62,208
#: (building the full table and its long copy took 20-40 s of the quick run; the size-bound targets are not set)
QUICK_CONFIGS = 8_192

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
    out = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the load measurement failed in its subprocess: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(quick: bool = False) -> Report:
    from tqdm.auto import tqdm

    report = Report("tables")
    report.note(threads_text(set_threads(1)))
    with tempfile.TemporaryDirectory(prefix="curvebench-perf-") as tmp:
        steps = tqdm(total=5, desc="perf tables", leave=False)
        path = make_synthetic_table(
            Path(tmp) / "fcnet-sized",
            n_configs=QUICK_CONFIGS if quick else None,
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

        # -------- cold load (fresh processes, alternating, medians)
        ours, theirs = [], []

        def load_ours() -> float:
            ours.append(_subprocess_json(_LOAD_OURS, str(path)))
            return ours[-1]["seconds"]

        def load_pandas() -> float:
            theirs.append(_subprocess_json(_LOAD_PANDAS, str(long_path)))
            return theirs[-1]["seconds"]

        t = alternate(
            {"ours": load_ours, "pandas": load_pandas}, 2 if quick else 3, share=0.5, what="cold load"
        )
        raw = ours[0]["raw_mib"]
        mem = max(r["rss_mib"] for r in ours)
        report.add_timing(
            f"cold load (s), {C:,}x{S}x{F}x{N_METRICS}",
            t["ours"],
            t["pandas"],
            "pandas read_parquet",
            target=None if quick else 1.0,  # for the full-size table
            setting="each in a fresh process (imports outside the timing)",
        )
        report.add(
            "cold load memory / raw array size",
            mem / raw,
            max(r["rss_mib"] for r in theirs) / raw,
            "pandas read_parquet",
            # the target is for the full-size table: on --quick's smaller one a few MiB of fixed cost weigh more
            target=None if quick else 1.5,
            lower_is_better=True,
            setting="resident set after touching every value",
        )
        if quick:
            report.note(f"--quick: {C:,} configurations drawn from the grid (the full run loads all 62,208)")
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
        q = b.query
        clock = time.perf_counter_ns
        indexed = long.set_index(["config_id", "seed", "epoch"]).sort_index()
        n_idx = 500 if quick else 2000
        n_scan = 5 if quick else 10
        cid, sd, ep = long["config_id"].to_numpy(), long["seed"].to_numpy(), long["epoch"].to_numpy()
        indexed.loc[(int(ids[0]), seeds[0], fids[0])]  # the index's engine is built here, outside the timing
        lat_all: list[np.ndarray] = []

        def ours_lat() -> float:
            lat = np.empty(n_q)
            for k in range(n_q):
                c, f, s = configs[k], fids[k], seeds[k]
                t0 = clock()
                q(c, fidelity=f, seed=s)
                lat[k] = clock() - t0
            lat_all.append(lat)
            return float(np.median(lat)) / 1e3

        def loc_lat() -> float:
            lat = np.empty(n_idx)
            for k in range(n_idx):
                key = (int(ids[k]), seeds[k], fids[k])
                t0 = clock()
                indexed.loc[key]
                lat[k] = clock() - t0
            return float(np.median(lat)) / 1e3

        def scan_lat() -> float:
            lat = np.empty(n_scan)
            for k in range(n_scan):
                t0 = clock()
                long[(cid == ids[k]) & (sd == seeds[k]) & (ep == fids[k])]
                lat[k] = clock() - t0
            return float(np.median(lat)) / 1e3

        t = alternate(
            {"ours": ours_lat, "loc": loc_lat, "scan": scan_lat}, 3, share=0.1, what="single-query latency"
        )
        report.add_timing(
            "single query, median (us)",
            t["ours"],
            t["loc"],
            "pandas MultiIndex .loc",
            target=10.0,
            setting="warm: index built before the timing",
        )
        report.add_timing(
            "single query, median (us)",
            t["ours"],
            t["scan"],
            "pandas boolean scan",
            target=10.0,
            setting="a boolean mask per query",
        )
        report.note(
            f"single query p99: {np.percentile(np.concatenate(lat_all), 99) / 1e3:.1f} us "
            "(config given as a dict, validated)"
        )
        steps.update()

        # -------- batch throughput
        n_b = 5_000_000 if quick else 20_000_000
        bid = rng.integers(0, C, n_b, dtype=np.int64)
        bseed = rng.integers(0, S, n_b, dtype=np.int64)
        bfid = rng.integers(1, F + 1, n_b, dtype=np.int64)
        b.query_batch(bid[:1000], bfid[:1000], bseed[:1000], metrics=[b.objective])
        n_pd = 1_000_000
        keys = pd.MultiIndex.from_arrays([bid[:n_pd], bseed[:n_pd], bfid[:n_pd]])
        col = indexed[b.objective]
        values = col.to_numpy()
        col.index.get_indexer(keys[:1000])  # warm: the engine exists before the timing
        outs: dict[str, np.ndarray] = {}

        def ours_rate() -> float:
            t0 = time.perf_counter()
            outs["ours"] = b.query_batch(bid, bfid, bseed, metrics=[b.objective], with_cost=False)[
                b.objective
            ]
            return n_b / (time.perf_counter() - t0) / 1e6

        def pandas_rate(cold: bool) -> float:
            index = col.index.copy(deep=True) if cold else col.index  # a fresh copy has no engine yet
            t0 = time.perf_counter()
            idx = index.get_indexer(keys)
            out = np.where(idx >= 0, values[idx], np.nan)
            dt = time.perf_counter() - t0
            outs["pandas"] = out
            return n_pd / dt / 1e6

        t = alternate(
            {"ours": ours_rate, "warm": lambda: pandas_rate(False), "cold": lambda: pandas_rate(True)},
            2 if quick else 3,
            share=0.15,
            what="batch throughput",
        )
        if not np.allclose(outs["pandas"], outs["ours"][:n_pd], equal_nan=True):
            raise AssertionError("query_batch disagrees with the pandas baseline")
        report.add_timing(
            "batch throughput (M values/s, 1 metric)",
            t["ours"],
            t["warm"],
            "pandas MultiIndex get_indexer + take",
            target=20.0,
            lower_is_better=False,
            setting=f"warm: hash engine built before the timing; {n_pd:,} keys",
        )
        report.add_timing(
            "batch throughput (M values/s, 1 metric)",
            t["ours"],
            t["cold"],
            "pandas MultiIndex get_indexer + take",
            target=20.0,
            lower_is_better=False,
            setting=f"cold: the first call, building the hash engine; {n_pd:,} keys",
        )
        t0 = time.perf_counter()
        b.query_batch(bid, bfid, bseed)
        all_rate = n_b / (time.perf_counter() - t0)
        report.note(
            f"batch throughput with all {N_METRICS} metrics and the cost: {all_rate / 1e6:.1f} M "
            "(config, seed, fidelity) per s"
        )
        steps.update()
        steps.close()
    report.print()
    return report


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
