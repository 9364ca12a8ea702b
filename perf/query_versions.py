"""One unseen-configuration query on two checkouts of CurveBench, alternating: what a change of the code did.

    git worktree add /tmp/before COMMIT
    python -m perf.query_versions /tmp/before [AFTER_DIR] [--rounds N] [--queries N] [NAME ...]

Each round runs, for every surrogate NAME (default: ``perf.surrogates.QUERY_SURROGATES``), one fresh
process on each checkout in turn (before, after, before, ...), with this Python and that checkout first
on its path: it loads the surrogate benchmark, answers 100 configurations to warm up, then times
``query`` of ``--queries`` (2,000) configurations it has not asked before (ConfigSpace draws, seed 11:
the same configurations on both sides). It prints the median wall and CPU time per query of each side
over the rounds (``--rounds``, default 7), and their ratio. AFTER_DIR defaults to this checkout. The
machine's own speed can change by more than a change of the code does between two runs minutes apart;
the two sides alternate so that such a change falls on both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from .common import load_average
from .surrogates import QUERY_SURROGATES

#: run in a fresh process on one checkout: print [wall ms, CPU ms] per query
_CHILD = r"""
import json, sys, time
from surrogates.benchmark import SurrogateBenchmark, surrogates_dir
name, n = sys.argv[1], int(sys.argv[2])
bench = SurrogateBenchmark.from_path(surrogates_dir() / name)
sp = type(bench.space).from_serialized_dict(bench.space.to_serialized_dict())
sp.seed(11)
cfgs = [dict(c) for c in sp.sample_configuration(n + 100)]
for c in cfgs[:100]:
    bench.query(c)
t0, c0 = time.perf_counter(), time.process_time()
for c in cfgs[100:]:
    bench.query(c)
print(json.dumps([(time.perf_counter() - t0) / n * 1e3, (time.process_time() - c0) / n * 1e3]))
"""


def _one(checkout: Path, name: str, n: int) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    p = subprocess.run(
        [sys.executable, "-c", _CHILD, name, str(n)], cwd=checkout, env=env, capture_output=True, text=True
    )
    if p.returncode != 0:
        raise SystemExit(f"{checkout}: querying {name} failed:\n{p.stderr.strip()}")
    wall, cpu = json.loads(p.stdout.strip().splitlines()[-1])
    return wall, cpu


def _value(argv: list[str], flag: str, default: int) -> tuple[list[str], int]:
    if flag not in argv:
        return argv, default
    i = argv.index(flag)
    v = argv[i + 1] if i + 1 < len(argv) else ""
    if not v.isdigit() or int(v) < 1:
        raise SystemExit(f"{flag} {v!r}: give a whole number of at least 1")
    return argv[:i] + argv[i + 2 :], int(v)


def main(argv: list[str]) -> int:
    argv, rounds = _value(argv, "--rounds", 7)
    argv, n = _value(argv, "--queries", 2000)
    dirs = [Path(a) for a in argv if Path(a).is_dir()]
    names = [a for a in argv if not Path(a).is_dir()]
    if not dirs or len(dirs) > 2:
        raise SystemExit(
            "give the checkout to compare (a folder), and optionally the second one (default: this one), "
            "e.g. python -m perf.query_versions /tmp/before"
        )
    before = dirs[0].resolve()
    after = dirs[1].resolve() if len(dirs) > 1 else Path(__file__).resolve().parents[1]
    names = names or list(QUERY_SURROGATES)
    got: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in range(rounds):
        for name in names:
            for side, checkout in (("before", before), ("after", after)):
                got.setdefault((side, name), []).append(_one(checkout, name, n))
        print(f"round {r + 1}/{rounds}: load average (1 min) {load_average():.2f}", flush=True)
    print(f"\nbefore: {before}\nafter:  {after}\nmedians of {rounds} alternating rounds of {n:,} queries")
    for name in names:
        b = np.median(got[("before", name)], axis=0)
        a = np.median(got[("after", name)], axis=0)
        print(
            f"{name}: before {b[0]:.3f} ms (CPU {b[1]:.3f}), after {a[0]:.3f} ms (CPU {a[1]:.3f}), "
            f"{b[0] / a[0]:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
