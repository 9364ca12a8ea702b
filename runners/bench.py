"""``make bench``: the default study (runners/conf/studies/bench.yaml), then its report.

    python -m runners.bench                         # results/bench, reports/bench
    python -m runners.bench seeds=[0,1] n_jobs=1    # any study key can be overridden

Benchmarks of the study that are not available here (a shipped table not
generated yet) are skipped with a loud message; if none is available the
command fails. Finished runs are skipped, so a second call only redoes the report.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence

from .study import load_study, run_study

STUDY = "bench"


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args = list(sys.argv[1:] if argv is None else argv)
    study = STUDY
    rest = []
    for a in args:
        if a.startswith("study="):
            study = a.split("=", 1)[1]
        else:
            rest.append(a)
    cfg = load_study(study, ["skip_unavailable=true", *rest])
    t0 = time.perf_counter()
    try:
        out = run_study(cfg)
    except RuntimeError as e:
        print(f"make bench: {e}", file=sys.stderr)
        return 1
    print(
        f"bench: {out['n_runs']} runs ({out['ran']} ran, {out['skipped']} already finished, {out['failed']} failed) "
        f"in {time.perf_counter() - t0:.0f} s; results in {out['study_dir']}"
    )
    if out["report"]:
        print(f"report: {out['report']}")
    return 1 if out["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
