"""Shared helpers for the performance scripts: a side-by-side report, alternating medians, the load.

Every figure of ``make perf`` stands beside a baseline measured in the same run. Timings of
the two sides are taken *alternately* (ours, baseline, ours, baseline, ...; :func:`alternate`)
and the median of each side is reported, so a burst of other work on the machine falls on both;
how busy the machine was is recorded beside every figure (:func:`load_now`: runnable tasks sampled
after each call of a measure, this process included), and a figure taken at a load of :data:`UNDER_LOAD` or more
is marked "under load". Both sides run at the same
thread count (:func:`set_threads`, printed with each section).
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.io import atomic_write_json, atomic_write_text, code_version, hardware, utc_now
from runners.testing import fcnet_like_space  # noqa: F401  (re-exported for the perf scripts)

RESULTS_DIR = Path(".perf")
#: a load (:func:`load_now`) at or above this marks a figure "under load" (on any machine: one busy
#: process beside ours already slows a 2-core machine's timings)
UNDER_LOAD = 1.5
#: where third-party libraries' log lines go (Syne Tune logs every trial it starts)
THIRD_PARTY_LOG = RESULTS_DIR / "third-party.log"


def load_average() -> float:
    """The 1-minute load average (NaN where the platform has none)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return float("nan")


def runnable() -> float:
    """How many tasks are runnable this instant, this one included (Linux's /proc/loadavg; else the 1-minute
    load average). A load made on purpose shows here at once, where the 1-minute average lags a minute."""
    try:
        with open("/proc/loadavg") as fh:
            count = float(fh.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return load_average()
    # the reading process always counts itself: a 0 comes from an emulated /proc (a sandboxed kernel), not a count
    return count if count >= 1 else load_average()


def load_now(samples: int = 5, gap: float = 0.01) -> float:
    """How busy the machine is now: the median of ``samples`` :func:`runnable` counts ``gap`` seconds apart
    (this process included: 1 on an idle machine, 2 beside one busy process).

    What the page's *load* column records, after each call of a measure. The 1-minute load average lags a
    minute: after a section that ran a process pool or busy loops of its own, it still read 1.5-2.4 on a quiet
    machine, so rows measured there were marked "under load" and the training section measured one thread only.
    """
    values = []
    for i in range(samples):
        if i:
            time.sleep(gap)
        values.append(runnable())
    return float(statistics.median(values))


def under_load(load: float | None) -> bool:
    """Whether a figure taken at ``load`` (:func:`load_now`'s runnable tasks) is marked "under load"."""
    return load is not None and not math.isnan(load) and load >= UNDER_LOAD


@dataclass
class Timing:
    """The values of one measure over alternating rounds, and the load (:func:`load_now`) after each."""

    values: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))

    @property
    def load(self) -> float:
        """The median load over the rounds (NaN if unknown)."""
        known = [x for x in self.loads if not math.isnan(x)]
        return float(statistics.median(known)) if known else float("nan")


#: a measure that :func:`alternate` stops calling for being slow still has at least this many values
SLOW_ROUNDS = 3
#: the fewest rounds :func:`alternate` takes of a measure when the section's clock runs short (a median of two
#: alternating rounds still puts a burst of other work on both sides)
MIN_ROUNDS = 2


class Clock:
    """A section's time budget: how long it has left, and what it cut to stay within it.

    ``python -m perf`` gives each section a clock of its share of the run's budget (:func:`section_clock`);
    a section run any other way (``python -m perf.simulator``, a test) has an unbounded one, which cuts nothing.
    A section spends its budget in *parts* (:meth:`part`): one measurement that may take a given share of the
    section's budget, counted from when it starts, and never past the section's own end. A part that would run
    over takes fewer rounds or smaller sizes, and says so (:meth:`cut`); its report prints what was cut.
    """

    def __init__(self, seconds: float = math.inf, name: str = "") -> None:
        if isinstance(seconds, bool) or not (isinstance(seconds, (int, float)) and seconds > 0):
            raise ValueError(f"seconds={seconds!r}: give a section's budget in seconds, a number > 0")
        self.seconds = float(seconds)
        self.name = name
        self.start = time.perf_counter()
        self.cuts: list[str] = []
        #: each part's record: what it was, the seconds it took and the seconds it was allotted
        self.parts: list[dict] = []

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.seconds)

    def left(self) -> float:
        """Seconds left of the section's budget (inf when unbounded; negative once it is spent)."""
        return self.seconds - (time.perf_counter() - self.start)

    def part(self, share: float, what: str = "") -> Part:
        """A part of the section that may take ``share`` (0-1] of its budget from now, within the time left.

        Used as a context (``with clock().part(0.3, "cold load") as part:``), it records on exit what it took
        against what it was allotted (:attr:`parts`, saved with the run).
        """
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise ValueError(f"share={share!r}: give the part's fraction of the section's budget, in (0, 1]")
        now = time.perf_counter()
        return Part(self, now + min(share * self.seconds, max(self.left(), 0.0)), what, now)

    def cut(self, what: str) -> None:
        """Record that ``what`` was cut to fit the budget (printed in the section's notes)."""
        self.cuts.append(what)

    def note(self) -> str | None:
        """The cuts as one note for the section's report (None if nothing was cut)."""
        if not self.cuts:
            return None
        return (
            f"cut to fit this section's share of the budget ({self.seconds:.0f} s; the machine was slower than "
            f"the sizes assume): " + "; ".join(self.cuts)
        )


@dataclass
class Part:
    """One measurement's share of a section's :class:`Clock` (its ``deadline``, a ``time.perf_counter`` value)."""

    clock: Clock
    deadline: float
    what: str = ""
    start: float = field(default_factory=time.perf_counter)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def affords(self, seconds: float) -> bool:
        """Whether ``seconds`` more work still ends within this part's share (always, on an unbounded clock)."""
        return not self.clock.bounded or seconds <= self.left()

    def cut(self, how: str) -> None:
        """Record on the clock that this part was cut, and ``how`` ("2 of 3 rounds")."""
        self.clock.cut(f"{self.what}: {how}" if self.what else how)

    def split(self, n: int, what: str = "") -> Part:
        """A sub-part that may take an ``n``-th of the time this part has left (``n`` parts still to run)."""
        now = time.perf_counter()
        return Part(self.clock, now + max(self.deadline - now, 0.0) / max(n, 1), what, now)

    def rounds(
        self,
        n: int,
        least: int = MIN_ROUNDS,
        cut: Callable[[int], str] | None = None,
        next_round: Callable[[], float] | None = None,
    ) -> Iterator[int]:
        """``range(n)``, ending early once ``least`` rounds are done and one more would end past this part's
        share; the cut is recorded as ``cut(rounds done)`` ("2 of 3 rounds" by default). A round is expected to
        take ``next_round()`` seconds (default: the mean round so far)."""
        t0 = time.perf_counter()
        for r in range(n):
            if r >= max(least, 1) and not self.affords(
                (time.perf_counter() - t0) / r if next_round is None else next_round()
            ):
                self.cut(f"{r} of {n} rounds" if cut is None else cut(r))
                return
            yield r

    def __enter__(self) -> Part:
        return self

    def __exit__(self, *exc: object) -> None:
        self.done()

    def done(self) -> None:
        """Record on the clock what this part took against what it was allotted (on a bounded clock)."""
        if self.clock.bounded:
            self.clock.parts.append(
                {
                    "what": self.what,
                    "seconds": round(time.perf_counter() - self.start, 2),
                    "allotted": round(self.deadline - self.start, 2),
                }
            )


_CLOCK = Clock()


def clock() -> Clock:
    """The running section's clock (unbounded outside ``python -m perf``)."""
    return _CLOCK


@contextmanager
def section_clock(seconds: float, name: str = "") -> Iterator[Clock]:
    """Run a section on a clock of ``seconds`` (inf: unbounded); the clock in force before is restored after."""
    global _CLOCK
    saved, _CLOCK = _CLOCK, Clock(seconds, name)
    try:
        yield _CLOCK
    finally:
        _CLOCK = saved


def alternate(
    measures: Mapping[str, Callable[[], float]],
    rounds: int,
    slow: float | None = None,
    *,
    share: float | None = None,
    what: str = "",
) -> dict[str, Timing]:
    """Call every measure once per round, in turn, ``rounds`` times; each returns one value.

    The order within a round is the mapping's (ours first, then the baselines), so the sides
    alternate: ours, baseline, ours, baseline, ... The load (:func:`load_now`) is read after each call.
    ``slow``: a measure whose every value so far exceeds it (in the measure's own unit) is not
    called again once it has :data:`SLOW_ROUNDS` values (its median is then of those; a baseline
    hundreds of times slower than ours would otherwise take most of a section's budget).
    ``share``: the fraction of the section's budget (:func:`clock`) these rounds may take; after
    :data:`MIN_ROUNDS` rounds, a round that would end past it is not begun, and the cut is recorded
    on the clock under ``what``. Without ``share`` (or on an unbounded clock) every round is taken.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds={rounds!r}: give a whole number of rounds >= 1")
    if not measures:
        raise ValueError("alternate() needs at least one measure")
    out = {name: Timing() for name in measures}
    if share is None:
        _rounds(measures, rounds, slow, out, None)
    else:
        with clock().part(share, what or ", ".join(measures)) as part:
            _rounds(measures, rounds, slow, out, part)
    return out


def _rounds(
    measures: Mapping[str, Callable[[], float]],
    rounds: int,
    slow: float | None,
    out: dict[str, Timing],
    part: Part | None,
) -> None:
    seconds: dict[str, list[float]] = {name: [] for name in measures}  # each call's wall time

    def due(name: str) -> bool:
        done = out[name].values
        return slow is None or len(done) < SLOW_ROUNDS or min(done) <= slow

    def next_round() -> float:  # the mean call of each measure the next round calls
        return sum(statistics.fmean(seconds[n]) for n in measures if due(n) and seconds[n])

    for _ in range(rounds) if part is None else part.rounds(rounds, next_round=next_round):
        for name, fn in measures.items():
            if not due(name):
                continue
            t0 = time.perf_counter()
            value = float(fn())
            seconds[name].append(time.perf_counter() - t0)
            out[name].values.append(value)
            out[name].loads.append(load_now())


def set_threads(n: int) -> dict[str, int | None]:
    """Hold torch, numpy's BLAS and OpenMP pools and numexpr at ``n`` threads; returns what was set.

    xgboost takes its thread count per model (``n_jobs`` / ``nthread``): the scripts give it
    explicitly. A library that is not installed is reported as None.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads={n!r}: give a whole number >= 1")
    got: dict[str, int | None] = {}
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    got["torch"] = torch.get_num_threads()
    threadpool_limits(n)  # applied for the rest of the process (not used as a context)
    got["blas/openmp"] = n
    try:
        import numexpr
    except ImportError:  # optional: pandas uses it when installed
        got["numexpr"] = None
    else:
        numexpr.set_num_threads(n)
        got["numexpr"] = n
    os.environ["OMP_NUM_THREADS"] = str(n)  # for the subprocesses a script starts
    return got


def threads_text(got: Mapping[str, int | None]) -> str:
    """``set_threads``' result as one line: "threads: torch 1, blas/openmp 1, numexpr 1"."""
    return "threads: " + ", ".join(f"{k} {'-' if v is None else v}" for k, v in got.items())


@contextmanager
def third_party_to_log(*names: str, path: Path | None = None) -> Iterator[Path]:
    """Send the named loggers' records (and their children's), and anything printed, to a file.

    For the span of the context: what third-party code prints to stdout or stderr (Syne Tune
    prints its tuning status) goes to the same file, appended, instead of the terminal.
    """
    path = THIRD_PARTY_LOG if path is None else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.propagate, logger.level))
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
    try:
        with open(path, "a") as out, redirect_stdout(out), redirect_stderr(out):
            yield path
    finally:
        for logger, handlers, propagate, level in saved:
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)
        handler.close()


@dataclass
class Report:
    """Rows of (measure, ours, baseline, baseline name, target) printed side by side with their ratio.

    A row may state its ``setting`` (how the baseline, or ours, was configured) and the ``load``
    (:func:`load_now`) it was taken at; a load of :data:`UNDER_LOAD` or more prints "under load".
    """

    name: str
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        measure: str,
        ours: float,
        baseline: float | None,
        baseline_name: str,
        *,
        target: float | None = None,
        lower_is_better: bool = True,
        setting: str = "",
        load: float | None = None,
    ) -> None:
        if baseline is None or baseline != baseline:
            ratio = None
        elif lower_is_better:
            ratio = baseline / ours if ours else float("inf")
        else:
            ratio = ours / baseline if baseline else float("inf")
        ok = None if target is None else (ours <= target if lower_is_better else ours >= target)
        if load is not None and math.isnan(load):
            load = None
        self.rows.append(
            dict(
                measure=measure,
                ours=ours,
                baseline=baseline,
                baseline_name=baseline_name,
                ratio=ratio,
                target=target,
                lower_is_better=lower_is_better,
                meets_target=ok,
                setting=setting,
                load=load,
                under_load=under_load(load),
            )
        )

    def add_timing(
        self, measure: str, ours: Timing, baseline: Timing | None, baseline_name: str, **kw
    ) -> None:
        """:meth:`add` of two alternating medians, at the higher of their loads."""
        loads = [t.load for t in (ours, baseline) if t is not None and not math.isnan(t.load)]
        kw.setdefault("load", max(loads) if loads else None)
        self.add(measure, ours.median, None if baseline is None else baseline.median, baseline_name, **kw)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def print(self) -> None:
        cut = clock().note()
        if cut is not None and cut not in self.notes:
            self.notes.append(cut)
        print(
            f"\n== {self.name} ==  ({platform.processor() or platform.machine()}, "
            f"{hardware().get('cpu_count')} cores, load {load_now():.0f}, 1-minute average {load_average():.2f})"
        )
        head = f"{'measure':<50} {'ours':>10} {'baseline':>10} {'x better':>9} {'target':>10} {'load':>5}  baseline"
        print(head)
        print("-" * len(head))
        for r in self.rows:
            load = "" if r.get("load") is None else f"{r['load']:.1f}"
            base = r["baseline_name"] + (f" [{r['setting']}]" if r.get("setting") else "")
            if r.get("under_load"):
                base += " (under load)"
            print(
                f"{r['measure']:<50} {r['ours']:>10.4g} {_fmt_base(r):>10} {_fmt_ratio(r):>9} "
                f"{_fmt_target(r, ' ', ' ok', ' MISS'):>10} {load:>5}  {base}"
            )
        for n in self.notes:
            print(f"  note: {n}")
        self.save()

    def save(self) -> Path:
        path = RESULTS_DIR / f"{self.name}.json"
        atomic_write_json(
            path,
            {
                "name": self.name,
                "rows": self.rows,
                "notes": self.notes,
                "created": utc_now(),
                "code_version": code_version(),
                "hardware": hardware(),
                "load_average": load_average(),
            },
        )
        return path


def _fmt_base(r: dict) -> str:
    return "" if r["baseline"] is None else f"{r['baseline']:.4g}"


def _fmt_ratio(r: dict) -> str:
    if r["ratio"] is None:
        return ""
    # one decimal where that keeps two significant digits; below 1, two significant digits (0.013x, not 0.0x)
    return f"{r['ratio']:.1f}x" if abs(r["ratio"]) >= 1 else f"{r['ratio']:.2g}x"


def _fmt_target(r: dict, sep: str, met: str, missed: str) -> str:
    if r["target"] is None:
        return ""
    return (
        ("<=" if r["lower_is_better"] else ">=")
        + sep
        + f"{r['target']:g}"
        + (met if r["meets_target"] else missed)
    )


def load_saved(name: str) -> dict | None:
    p = RESULTS_DIR / f"{name}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def write_results(names: list[str], run: Mapping | None = None) -> Path:
    """Every saved section (``.perf/NAME.json``) and the run's own record in one ``.perf/results.json``."""
    sections = {n: s for n in names if (s := load_saved(n)) is not None}
    path = RESULTS_DIR / "results.json"
    atomic_write_json(path, {"created": utc_now(), "run": dict(run or {}), "sections": sections})
    return path


#: a busy loop that ends when the process that started it (its argument) is gone, killed without running
#: :func:`stop`: every million iterations it checks that this process is still its parent (the pid is passed, not
#: read at start, in case the parent is gone before the loop starts)
_BUSY = (
    "import os, sys\n"
    "parent = int(sys.argv[1])\n"
    "while os.getppid() == parent:\n"
    "    for _ in range(1_000_000):\n"
    "        pass\n"
)


def busy_loops(n: int = 2) -> list:
    """Start ``n`` busy-loop processes (a loaded machine, made on purpose); :func:`stop` ends them, and each
    ends by itself once this process is gone."""
    import subprocess
    import sys

    procs: list = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", _BUSY, str(os.getpid())]))
    except BaseException:
        stop(procs)
        raise
    return procs


def stop(procs: list) -> None:
    for p in procs:
        p.kill()
        p.wait()


def markdown(names: list[str], run: Mapping | None = None) -> str:
    """The saved results of sections ``names`` as one Markdown page (what docs/performance.md is)."""
    lines = [
        "# Performance",
        "",
        "Written by `make perf-report` (`python -m perf report --markdown docs/performance.md`) from the",
        "results of one `make perf` run (`.perf/*.json`); nothing on this page is edited by hand. Each",
        "measure stands beside a baseline measured in the same run on the same machine, the two timed",
        'alternately (ours, baseline, ours, ...) and each reported as its median; "x better" is the',
        "baseline's time divided by ours (or our rate divided by the baseline's). *setting* says how a",
        "baseline was configured; *load* is how many tasks were runnable (this one included: 1 on an idle",
        "machine), sampled after each call of a measure, the median; the 1-minute load average would lag a",
        f"minute behind. A figure taken at a load of {UNDER_LOAD:g} or more says *under load*. Rerun to",
        "reproduce on yours.",
    ]
    if run:
        total = run.get("total_seconds")
        lines += [
            "",
            "The run: `"
            + (
                run.get("command")
                # a record saved before runs named their command
                or f"python -m perf{' --quick' if run.get('quick') else ''}"
                + (f" --busy {run['busy_loops']}" if run.get("busy_loops") else "")
            )
            + "`"
            + (f", {total:.0f} s in all" if total is not None else "")
            + (f" (budget {run['budget_seconds']:.0f} s)" if run.get("budget_seconds") else "")
            + "; per section: "
            + ", ".join(f"{k} {v:.0f} s" for k, v in run.get("section_seconds", {}).items())
            + "."
            + (
                " Cut to fit the budget (the machine was slower than the sizes assume), in "
                + ", ".join(run["cuts"])
                + ": each section's notes say what."
                if run.get("cuts")
                else ""
            ),
        ]
    for name in names:
        saved = load_saved(name)
        if saved is None:
            continue
        hw = saved.get("hardware", {})
        lines += [
            "",
            f"## {name}",
            "",
            f"Measured {saved.get('created', '?')} with CurveBench {saved.get('code_version', '?')} on "
            f"{hw.get('cpu', '?')} ({hw.get('cpu_count', '?')} cores, {hw.get('memory_gib', '?')} GiB), "
            f"torch {hw.get('torch', '-')}" + (f", GPU {hw['gpu']}" if hw.get("gpu") else "") + ".",
            "",
            "| measure | ours | baseline | x better | target | load | baseline is | setting |",
            "|---|---:|---:|---:|---|---:|---|---|",
        ]
        for r in saved["rows"]:
            load = (
                ""
                if r.get("load") is None
                else f"{r['load']:.1f}" + (" under load" if r.get("under_load") else "")
            )
            lines.append(
                f"| {r['measure']} | {r['ours']:.4g} | {_fmt_base(r)} | {_fmt_ratio(r)} | "
                f"{_fmt_target(r, ' ', ': met', ': **missed**')} | {load} | {r['baseline_name']} | "
                f"{r.get('setting', '')} |"
            )
        for n in saved.get("notes", []):
            lines.append(f"\n- {n}")
    return "\n".join(lines) + "\n"


def write_markdown(path: str | Path, names: list[str], run: Mapping | None = None) -> Path:
    """:func:`markdown` written atomically to ``path``."""
    atomic_write_text(path, markdown(names, run))
    return Path(path)
