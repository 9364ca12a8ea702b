"""``python -m perf [NAME ...] [--quick] [--busy N] [--markdown FILE]``; ``python -m perf report [--markdown FILE]``.

Runs the performance scripts (all by default). Each prints its measures beside a baseline
measured in the same run and saves them under ``.perf/NAME.json``; the run as a whole is
recorded in ``.perf/results.json`` (every section, each section's wall time against its
budget) and written as Markdown to ``.perf/performance.md`` (``--markdown FILE``: there
instead). ``report`` runs nothing: it writes ``results.json`` and the Markdown page again from
the saved sections (``make perf-report`` writes docs/performance.md this way).

Budget: the full run (``make perf``) is sized to finish within :data:`TOTAL_BUDGET_S` on a
2-core machine even under load; each section has its share (:data:`BUDGET_S`), and a section
that overran it is named at the end. ``--quick`` (``make perf-quick``) is the CI smoke test:
every section at small sizes, one or two minutes in all. ``--busy N`` runs the whole measurement beside
``N`` busy-loop processes started for it (a machine under load, made the same way on any machine:
``--busy 2`` on a 2-core machine leaves each process about two thirds of a core); the run's record
and the Markdown page say so.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

from .common import RESULTS_DIR, busy_loops, stop, write_markdown, write_results

SCRIPTS = [
    "tables",
    "simulator",
    "optimizers",
    "scaling",
    "training",
    "surrogates",
    "studies",
    "multiobjective",
]
#: each section's share of the full run's wall time (seconds; 2-core machines beside two busy loops took 31-126 s
#: per section and 553-590 s in all, ``python -m perf --busy 2``)
BUDGET_S = {
    "tables": 55,
    "simulator": 50,
    "optimizers": 105,
    "scaling": 110,
    "training": 35,
    "surrogates": 135,
    "studies": 60,
    "multiobjective": 50,
}
#: the full run's budget (``make perf``): 10 minutes
TOTAL_BUDGET_S = 600
#: the quick run's budget (``make perf-quick``)
QUICK_BUDGET_S = 150


def _busy_arg(argv: list[str]) -> tuple[list[str], int]:
    if "--busy" not in argv:
        return argv, 0
    i = argv.index("--busy")
    value = argv[i + 1] if i + 1 < len(argv) else ""
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise SystemExit(f"--busy {value!r}: give the number of busy-loop processes, a whole number 1-64")
    return argv[:i] + argv[i + 2 :], int(value)


def _markdown_arg(argv: list[str]) -> tuple[list[str], str | None]:
    if "--markdown" not in argv:
        return argv, None
    i = argv.index("--markdown")
    if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
        raise SystemExit("--markdown needs a file name, e.g. --markdown docs/performance.md")
    return argv[:i] + argv[i + 2 :], argv[i + 1]


def _write(run: dict, markdown: str | None) -> None:
    print(f"written: {write_results(SCRIPTS, run)}")
    print(f"written: {write_markdown(markdown or RESULTS_DIR / 'performance.md', SCRIPTS, run)}")


def report(markdown: str | None) -> int:
    """``python -m perf report``: results.json and the Markdown page from the saved sections."""
    saved = RESULTS_DIR / "results.json"
    run = json.loads(saved.read_text()).get("run", {}) if saved.is_file() else {}
    _write(run, markdown)
    return 0


def _run_sections(names: list[str], quick: bool, failed: list[str], seconds: dict[str, float]) -> None:
    """Run each section in turn; one that fails is named in ``failed`` and the others still run."""
    for name in names:
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(f"perf.{name}")
        except ImportError as e:
            print(f"\n== {name} ==  skipped: {e}")
            failed.append(name)
            continue
        try:
            mod.main(quick=quick)
        except Exception as e:  # keep measuring the others, report at the end
            print(f"\n== {name} ==  FAILED: {type(e).__name__}: {e}")
            failed.append(name)
        seconds[name] = round(time.perf_counter() - t0, 1)


def main(argv: list[str]) -> int:
    argv, markdown = _markdown_arg(argv)
    if argv[:1] == ["report"]:
        return report(markdown)
    argv, busy = _busy_arg(argv)
    quick = "--quick" in argv
    flags = [a for a in argv if a.startswith("-") and a != "--quick"]
    if flags:
        print(f"unknown option(s) {flags}; allowed: --quick, --busy N, --markdown FILE", file=sys.stderr)
        return 2
    names = [a for a in argv if not a.startswith("-")] or SCRIPTS
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        print(f"unknown perf script(s) {unknown}; allowed: {', '.join(SCRIPTS)}, report", file=sys.stderr)
        return 2
    failed, seconds = [], {}
    procs = busy_loops(busy) if busy else []
    if busy:
        print(f"perf: beside {busy} busy-loop process(es), started for this run")
    t_all = time.perf_counter()
    try:
        _run_sections(names, quick, failed, seconds)
    finally:
        stop(procs)
    total = time.perf_counter() - t_all
    over = [n for n, s in seconds.items() if not quick and s > BUDGET_S[n]]
    budget = (
        QUICK_BUDGET_S if quick else TOTAL_BUDGET_S if names == SCRIPTS else sum(BUDGET_S[n] for n in names)
    )
    print(
        f"\nperf: {total:.0f} s in all (budget {budget} s); per section: "
        + ", ".join(
            f"{n} {s:.0f} s" + (f" (over its {BUDGET_S[n]} s)" if n in over else "")
            for n, s in seconds.items()
        )
    )
    print(f"perf results saved under .perf/ ({', '.join(n for n in names if n not in failed)})")
    run = {
        "quick": quick,
        "sections": names,
        "section_seconds": seconds,
        "total_seconds": round(total, 1),
        "budget_seconds": budget,
        "over_budget": over + (["total"] if total > budget else []),
        "failed": failed,
        "busy_loops": busy,
    }
    _write(run, markdown)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
