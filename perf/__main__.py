"""``python -m perf [NAME ...] [--quick] [--busy N] [--budget SECONDS] [--markdown FILE]``; ``... report``.

Runs the performance scripts (all by default). Each prints its measures beside a baseline
measured in the same run and saves them under ``.perf/NAME.json``; the run as a whole is
recorded in ``.perf/results.json`` (every section, each section's wall time against its
budget) and written as Markdown to ``.perf/performance.md`` (``--markdown FILE``: there
instead). ``python -m perf report [--markdown FILE]`` runs nothing: it writes ``results.json`` and
the Markdown page again from the saved sections (``make perf-report`` writes docs/performance.md this way).

Budget: the full run (``make perf``) must finish within :data:`TOTAL_BUDGET_S` on a 2-core machine even
under load (``--budget SECONDS``: another). Each section runs on a clock (:class:`perf.common.Clock`): its
share of the time left, split in proportion to :data:`BUDGET_S`, so a section that ends early leaves its spare
time to the ones after it and one that overran takes its excess from them. A section spends its clock in parts,
each allotted a fraction of it; on a machine slower than the sizes assume, a part takes fewer alternating rounds
(never under two, the single query's never under three), fewer seeds, or stops a run at a smaller size, and says
what it cut in its notes, in the run's record (``.perf/results.json``: ``cuts``, and each part's seconds against
its allotment under ``parts``) and at the end of the run. A section run alone (``make perf-simulator``) gets its
own share; ``python -m perf.simulator`` and the other modules run directly have no clock and cut nothing.
``--quick`` (``make perf-quick``) is the CI smoke test: every section at small sizes, unclocked (the same work
on any machine), a few minutes in all. ``--busy N`` runs the whole measurement beside ``N`` busy-loop processes
started for it (a machine under load, made the same way on any machine: ``--busy 2`` on a 2-core machine leaves
each process about two thirds of a core); the run's record and the Markdown page say so.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

from .common import RESULTS_DIR, Clock, busy_loops, section_clock, stop, write_markdown, write_results

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
#: each section's share of the full run's wall time (seconds), in proportion to what each took on a quiet 2-core
#: machine in a slow spell of its host (527 s in all; the run of docs/performance.md took 546 s), the simulator's
#: with room for its 1,000,000-trial round; beside two busy loops the same sections took 760-960 s before they ran
#: on clocks
BUDGET_S = {
    "tables": 60,
    "simulator": 55,
    "optimizers": 120,
    "scaling": 95,
    "training": 35,
    "surrogates": 135,
    "studies": 60,
    "multiobjective": 40,
}
#: the baseline libraries of the optional extra ``perf``: a section whose baseline is missing is skipped, not
#: failed (the simulator leaves out its Syne Tune comparison itself; the multi-objective section needs pymoo)
OPTIONAL_BASELINES = ("syne_tune", "pymoo", "huggingface_hub")
#: the full run's budget (``make perf``): 10 minutes
TOTAL_BUDGET_S = 600
#: the quick run's budget (``make perf-quick``; unclocked: 205 s on a 2-core machine in a slow spell of its host)
QUICK_BUDGET_S = 240


def _option(argv: list[str], flag: str) -> tuple[list[str], str | None]:
    """``argv`` without ``flag VALUE``, and VALUE ("" when the flag ends ``argv``; None when it is absent)."""
    if flag not in argv:
        return argv, None
    i = argv.index(flag)
    return argv[:i] + argv[i + 2 :], argv[i + 1] if i + 1 < len(argv) else ""


def _busy_arg(argv: list[str]) -> tuple[list[str], int]:
    rest, value = _option(argv, "--busy")
    if value is None:
        return argv, 0
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise SystemExit(f"--busy {value!r}: give the number of busy-loop processes, a whole number 1-64")
    return rest, int(value)


def _budget_arg(argv: list[str]) -> tuple[list[str], float | None]:
    rest, value = _option(argv, "--budget")
    if value is None:
        return argv, None
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 10 <= seconds <= 86_400:
        raise SystemExit(f"--budget {value!r}: give the run's budget in seconds, a number from 10 to 86400")
    return rest, seconds


def _markdown_arg(argv: list[str]) -> tuple[list[str], str | None]:
    rest, value = _option(argv, "--markdown")
    if value is None:
        return argv, None
    if not value or value.startswith("-"):
        raise SystemExit("--markdown needs a file name, e.g. --markdown docs/performance.md")
    return rest, value


def _command(names: list[str], quick: bool, busy: int, budget: float | None) -> str:
    """The command line of a run, as the page names it: the sections when not all, and every option that changes
    what is measured (``--markdown``, which only says where the page goes, is left out)."""
    return " ".join(
        ["python -m perf"]
        + (names if names != SCRIPTS else [])
        + (["--quick"] if quick else [])
        + ([f"--busy {busy}"] if busy else [])
        + ([f"--budget {budget:g}"] if budget is not None else [])
    )


def _write(run: dict, markdown: str | None) -> None:
    print(f"written: {write_results(SCRIPTS, run)}")
    print(f"written: {write_markdown(markdown or RESULTS_DIR / 'performance.md', SCRIPTS, run)}")


def report(markdown: str | None) -> int:
    """``python -m perf report``: results.json and the Markdown page from the saved sections."""
    saved = RESULTS_DIR / "results.json"
    run = json.loads(saved.read_text()).get("run", {}) if saved.is_file() else {}
    _write(run, markdown)
    return 0


def shares(names: list[str], total: float, spent: float = 0.0) -> dict[str, float]:
    """Each section's clock (seconds) when ``spent`` of ``total`` is gone: its share of the time left.

    The time left is split in proportion to :data:`BUDGET_S`, so a section that ends early leaves its spare time
    to the ones after it, and one that overran takes its excess from them.
    """
    weight = sum(BUDGET_S[n] for n in names)
    left = max(total - spent, 0.0)
    # a section always gets a tenth of its nominal share at least: its minimum rounds are run whatever is left
    return {n: max(BUDGET_S[n] * left / weight, BUDGET_S[n] / 10) for n in names}


def _run_sections(
    names: list[str], quick: bool, failed: list[str], seconds: dict[str, float], budget: float
) -> dict[str, Clock]:
    """Run each section in turn on its clock; one that fails is named in ``failed`` and the others still run.

    ``budget``: the seconds for all of ``names`` (inf: no clock, every round and size is run, as ``--quick``).
    Returns each section's clock (its budget, its cuts and its parts' records).
    """
    clocks: dict[str, Clock] = {}
    t_all = time.perf_counter()
    for k, name in enumerate(names):
        share = (
            shares(names[k:], budget, time.perf_counter() - t_all)[name] if budget < float("inf") else budget
        )
        with section_clock(share, name) as clocks[name]:
            _run_one(name, quick, failed, seconds)
    return clocks


def _run_one(name: str, quick: bool, failed: list[str], seconds: dict[str, float]) -> None:
    t0 = time.perf_counter()
    try:
        importlib.import_module(f"perf.{name}").main(quick=quick)
    except Exception as e:  # keep measuring the others, report at the end
        if isinstance(e, ImportError) and (e.name or "").split(".")[0] in OPTIONAL_BASELINES:
            # a baseline of the optional extra is missing: nothing to compare against, not a failure
            print(f"\n== {name} ==  skipped: {e} (the optional extra 'perf': pip install 'curvebench[perf]')")
        else:
            print(f"\n== {name} ==  FAILED: {type(e).__name__}: {e}")
            failed.append(name)
    seconds[name] = round(time.perf_counter() - t0, 1)


def main(argv: list[str]) -> int:
    argv, markdown = _markdown_arg(argv)
    if argv[:1] == ["report"]:
        return report(markdown)
    argv, busy = _busy_arg(argv)
    argv, given = _budget_arg(argv)
    quick = "--quick" in argv
    flags = [a for a in argv if a.startswith("-") and a != "--quick"]
    if flags:
        print(
            f"unknown option(s) {flags}; allowed: --quick, --busy N, --budget SECONDS, --markdown FILE",
            file=sys.stderr,
        )
        return 2
    names = [a for a in argv if not a.startswith("-")] or SCRIPTS
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        print(f"unknown perf script(s) {unknown}; allowed: {', '.join(SCRIPTS)}, report", file=sys.stderr)
        return 2
    if quick and given is not None:
        print(
            f"--budget {given:g} with --quick: the quick run is unclocked (its fixed small sizes, the same work on "
            "any machine); give --budget to a full run",
            file=sys.stderr,
        )
        return 2
    if given is not None:
        budget = given
    else:
        budget = (
            QUICK_BUDGET_S
            if quick
            else TOTAL_BUDGET_S
            if names == SCRIPTS
            else sum(BUDGET_S[n] for n in names)
        )
    failed, seconds = [], {}
    procs = busy_loops(busy) if busy else []
    if busy:
        print(f"perf: beside {busy} busy-loop process(es), started for this run")
    t_all = time.perf_counter()
    try:
        # --quick runs its fixed small sizes unclocked (a smoke test runs the same work everywhere)
        ran = _run_sections(names, quick, failed, seconds, float("inf") if quick else budget)
    finally:
        stop(procs)
    total = time.perf_counter() - t_all
    clocks = {n: c.seconds for n, c in ran.items() if c.bounded}
    cuts = {n: c.cuts for n, c in ran.items() if c.cuts}
    parts = {n: c.parts for n, c in ran.items() if c.parts}
    over = [n for n, s in seconds.items() if n in clocks and s > clocks[n]]
    print(
        f"\nperf: {total:.0f} s in all (budget {budget:.0f} s); per section: "
        + ", ".join(
            f"{n} {s:.0f} s" + (f" (over its {clocks[n]:.0f} s)" if n in over else "")
            for n, s in seconds.items()
        )
    )
    if cuts:
        print(
            "perf: cut to fit the budget (the machine was slower than the sizes assume): "
            + "; ".join(f"{n}: {', '.join(c)}" for n, c in cuts.items())
        )
    print(f"perf results saved under .perf/ ({', '.join(n for n in names if n not in failed)})")
    run = {
        "command": _command(names, quick, busy, given),
        "quick": quick,
        "sections": names,
        "section_seconds": seconds,
        "section_budget_seconds": {n: round(c, 1) for n, c in clocks.items()},
        "total_seconds": round(total, 1),
        "budget_seconds": budget,
        "over_budget": over + (["total"] if total > budget else []),
        "cuts": cuts,
        "parts": parts,
        "failed": failed,
        "busy_loops": busy,
    }
    _write(run, markdown)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
