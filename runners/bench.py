"""``make bench``: the default study (runners/conf/studies/bench.yaml), then its report.

    python -m runners.bench                         # results/bench, reports/bench
    python -m runners.bench seeds=[0,1] n_jobs=1    # any study key can be overridden
    python -m runners.bench standin=DIR             # the same study on synthetic stand-in tables (timing check)

A bad study key or value prints ``error: <message>`` and exits 2 (``CURVEBENCH_TRACEBACK=1`` or
``HYDRA_FULL_ERROR=1`` shows the traceback).

Benchmarks of the study that are not available here (a shipped table not
generated yet) are skipped with a loud message at the start and again in the
summary; their runs stay in the study plan, so the report lists them as
missing. If none is available the command fails. Finished runs are skipped, so
a second call only redoes the report. One progress bar shows the runs and then
that the report is being written; the libraries' warnings and logging go to the
study's log file (results/<study>/study.log), not the terminal. One summary line
at the end gives the counts, the time spent and where everything is; failures, a
missing report and missing benchmarks follow it, loudly.

``standin=DIR`` writes (or reuses) six synthetic tables shaped like the shipped
ones (3 FCNet-like: 1,000 configurations x 2 seeds x 100 epochs; 3 LCBench-like:
500 x 2 x 50; :func:`runners.testing.write_standin_tables`) under DIR and runs
the bench study on them as study ``bench-standin``: the way to check how long
``make bench`` takes before the real tables exist.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from benchmarks.cli import key_field, override_value, read_command, traceback_wanted
from benchmarks.protocol import CurveBenchError

from .checks import RunConfigError
from .study import StudyConf, entry_optimizers, load_study, run_study
from .testing import write_standin_tables

STUDY = "bench"


@dataclass
class BenchCommand(StudyConf):
    """``python -m runners.bench``'s keys: the study (default: bench), a stand-in folder, and any key of
    :class:`~runners.study.StudyConf`, which overrides the study file's."""

    study: str = key_field(default=STUDY, help="a study YAML in runners/conf/studies, or the path of one")
    standin: str | None = key_field(
        default=None,
        help="write (or reuse) synthetic stand-in tables in this folder and run the study on them",
    )


def _configure(argv: Sequence[str]) -> DictConfig:
    """The study a command line asks for (the one style: :func:`benchmarks.cli.read_command`)."""
    _, parsed = read_command(
        argv,
        BenchCommand,
        module="runners.bench",
        description=__doc__.splitlines()[0],
        what="the bench study",
        error=RunConfigError,
    )
    study, standin, rest = STUDY, None, []
    for ov in parsed:
        key = str(ov.key_or_group)
        if key == "study":
            study = override_value(ov, str, RunConfigError)
        elif key == "standin":
            standin = override_value(ov, str, RunConfigError)
        else:
            rest.append(str(ov.input_line))
    extra = [f"name={study}-standin"] if standin else []
    cfg = load_study(study, ["skip_unavailable=true", *extra, *rest])
    if standin:
        cfg.benchmarks = write_standin_tables(standin)
    return cfg


def _summary(cfg: DictConfig, out: dict[str, Any], seconds: float) -> str:
    """One line: the study's shape, what ran, the time and where the report is; then only what needs a look
    (failures, a missing report, benchmarks or optimizers not available here), each on its own line."""
    b, o = len(cfg.benchmarks), len(cfg.optimizers)
    pairs = sum(len(entry_optimizers(item, cfg)) for item in cfg.benchmarks)
    shape = (
        f"{b} benchmarks x {o} optimizers"
        if pairs == b * o
        else f"{pairs} (benchmark, optimizer) pairs on {b} benchmarks"
    )
    line = (
        f"{cfg.name}: {out['n_runs']} runs = {shape} x {len(cfg.seeds)} seeds x workers {list(cfg.n_workers)}, "
        f"{cfg.budget.amount:g} {_kind(cfg)} each: "
        f"ran {out['ran']}, already finished {out['skipped']}, failed {out['failed']}, "
        f"not run (benchmark or optimizer not available) {out['n_unavailable_runs']}"
        + (f", taken by another process {out['taken']}" if out.get("taken") else "")
        + (
            f", conflicting with runs another study finished {len(out['conflicts'])}"
            if out.get("conflicts")
            else ""
        )
        + f"; {seconds:.0f} s (runs {out['seconds_runs']:.0f} s, report {out['seconds_report']:.0f} s); "
        + f"results: {out['study_dir']}"
        + (f", report: {out['report']}" if out["report"] else "")
    )
    lines = [line]
    if not out["report"] and out["report_error"]:
        lines.append(f"  NO REPORT: {out['report_error']}")
    for f in out["failures"][:10]:
        lines.append(
            f"  FAILED: {f['benchmark']} / {f['optimizer']} / {f['n_workers']} workers / seed {f['seed']}: "
            f"{f['error']}"
        )
    if len(out["failures"]) > 10:
        lines.append(f"  ... and {len(out['failures']) - 10} more failures (listed in the report)")
    missing_b = [u for u in out["unavailable"] if u["kind"] == "benchmark"]
    missing_o = [u for u in out["unavailable"] if u["kind"] == "optimizer"]
    if missing_b or missing_o:
        bar = "!" * 100
        lines.append(bar)
        if missing_b:
            lines += [
                f"! MISSING BENCHMARKS ({len(missing_b)} of {b}): {', '.join(u['name'] for u in missing_b)}",
                "!   not available here (a shipped table not generated yet?). Generate them with `make tables`,",
                "!   then run `make bench` again (finished runs are kept).",
            ]
        for u in missing_o:
            lines.append(f"! MISSING OPTIMIZER {u['name']}: {u['reason']}")
        lines += ["! Their runs are listed as missing in the report.", bar]
    return "\n".join(lines)


def _kind(cfg: DictConfig) -> str:
    kind = cfg.budget.kind
    kind = kind.value if hasattr(kind, "value") else str(kind)
    return {"evaluations": "full-fidelity evaluations", "time": "simulated seconds"}.get(kind, kind)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        cfg = _configure(list(sys.argv[1:] if argv is None else argv))
    except (CurveBenchError, FileNotFoundError, ValueError) as e:
        if traceback_wanted():
            raise
        print(f"error: {e}", file=sys.stderr)  # the message first: a bad key or value is the user's to fix
        return 2
    print(f"{cfg.name}: {OmegaConf.select(cfg, 'description') or ''}".rstrip(": "), flush=True)
    t0 = time.perf_counter()
    try:
        out = run_study(cfg)
    except CurveBenchError as e:
        if traceback_wanted():
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"make bench: {e}", file=sys.stderr)
        return 1
    print(_summary(cfg, out, time.perf_counter() - t0), flush=True)
    return 1 if out["failed"] or out.get("conflicts") or out["report_error"] else 0


if __name__ == "__main__":
    sys.exit(main())
