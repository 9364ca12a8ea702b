"""Build the report of a study: figures, tables and one self-contained HTML page.

Command line (``make report STUDY=name`` runs the first form; ``--help`` lists every key)::

    python -m runners.report [build] study=NAME [results_root=results] [out=reports/NAME]
        [baseline=rs] [fractions=[0.1,0.5,1]] [grid=200] [alpha=0.05] [progress=true]
    python -m runners.report study_dir=PATH out=PATH

The one command-line style (:func:`benchmarks.cli.parse_command`): the action
(``build``, the only one) may be left out, every other argument is
``key=value`` in Hydra's override grammar, checked against :class:`ReportCommand`.
A bad key or value prints ``error: <message>`` and exits 2.

From Python (``make bench`` does this after its runs)::

    from runners.report import build_report
    index_html = build_report("results/bench", "reports/bench")

The output folder holds ``index.html`` (open it in any browser, offline),
``report.md``, ``figures/*.png|svg``, ``tables/*.csv|md`` and ``report.json``
(what was built, from which runs, with which conventions). An existing output
folder is replaced only when it is itself a report (it holds ``report.json``).
See docs/report.md for every convention.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cli import UsageError, hint, key_field, parse_command, usage_status
from benchmarks.io import (
    atomic_dir,
    atomic_write_json,
    atomic_write_text,
    code_version,
    read_json_object,
    utc_now,
)
from benchmarks.protocol import CurveBenchError
from runners.analysis.load import ResultsFormatError, load_study
from runners.analysis.render import Section, render_html, render_markdown
from runners.analysis.sections import (
    ReportContext,
    ReportOptions,
    adastop_section,
    aggregate_section,
    benchmarks_section,
    cd_section,
    conventions_section,
    cross_section,
    final_section,
    over_time_section,
    relative_path,
    repeats_section,
    rs_expected_section,
    runs_section,
    scaling_section,
    speedup_section,
    summary_section,
    validity_section,
)
from runners.analysis.sections.multiobjective import mo_sections

MARKER = "report.json"
#: the format its marker records
REPORT_FORMAT = "curvebench-report"

__all__ = [
    "MARKER",
    "ReportCommand",
    "ReportOptions",
    "build_report",
    "main",
    "parse_args",
    "report_sections",
]


def build_report(
    study_dir: str | Path, out_dir: str | Path, options: ReportOptions | None = None, **kw: Any
) -> Path:
    """Read the study under ``study_dir``, write its report into ``out_dir``, return the path of ``index.html``.

    Keyword arguments are :class:`ReportOptions` fields. The report is built in
    a temporary folder and moved into place in one step.
    """
    opts = options or ReportOptions(**kw)
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    study = load_study(study_dir, progress=opts.progress)
    with atomic_dir(out_dir, overwrite=True) as tmp:
        write_report(ReportContext(study, tmp, opts))
        _check_replaceable(out_dir)  # again just before the swap: reading the study can take minutes
    return out_dir / "index.html"


def _check_replaceable(out_dir: Path) -> None:
    """FileExistsError unless ``out_dir`` is missing, an empty folder, or a CurveBench report (its MARKER
    says so): a report replaces the whole folder, so a folder of anything else is never taken for one."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder; refusing to replace it with a report")
    if not any(out_dir.iterdir()):
        return
    try:
        marker = read_json_object(
            out_dir / MARKER, FileExistsError, missing="no marker", what="a report marker"
        )
    except FileExistsError:
        marker = {}
    if marker.get("format") != REPORT_FORMAT:
        raise FileExistsError(
            f"{out_dir} exists and is not a CurveBench report (no {MARKER} of format {REPORT_FORMAT!r}); "
            "refusing to replace it: choose another out= or empty that folder yourself"
        )


# ---------------------------------------------------------------- the report
def report_sections(ctx: ReportContext) -> list[Section]:
    """Every section of the report, in its order; those that do not apply to the study are left out.

    They are built in this order (the summary last, shown first), which is the order their figures and tables
    are written and listed in ``report.json``.
    """
    s = ctx.study
    sections = [runs_section(ctx), *mo_sections(ctx)]
    if len(s.events):
        sections += [
            over_time_section(ctx),
            aggregate_section(ctx),
            cross_section(ctx),
            final_section(ctx),
            speedup_section(ctx),
            cd_section(ctx),
        ]
        if s.varies_workers:
            sections.append(scaling_section(ctx))
        sections += [rs_expected_section(ctx), repeats_section(ctx), validity_section(ctx)]
    adaptive = adastop_section(ctx)
    if adaptive is not None:
        sections.append(adaptive)
    sections += [conventions_section(ctx), benchmarks_section(ctx)]
    return [summary_section(ctx), *sections]


def write_report(ctx: ReportContext) -> None:
    """Render every section into ``report.md`` and ``index.html`` in ``ctx.out``, then write ``report.json``."""
    s = ctx.study
    sections = report_sections(ctx)
    title = f"CurveBench study report: {s.name}"
    meta_line = f"Generated {utc_now()} by CurveBench {code_version()} from the results of study `{s.name}`."
    atomic_write_text(ctx.out / "report.md", render_markdown(title, meta_line, sections))
    atomic_write_text(ctx.out / "index.html", render_html(title, meta_line, sections, ctx.out))
    runs = s.runs.assign(path=s.runs["path"].map(lambda p: relative_path(p, s.root)))
    atomic_write_json(
        ctx.out / MARKER,
        {
            "format": REPORT_FORMAT,
            "format_version": 1,
            "study": s.name,
            "generated_utc": utc_now(),
            "code_version": code_version(),
            "options": {**ctx.opts.__dict__, "baseline": ctx.baseline},
            "benchmarks": s.benchmarks,
            "methods": s.methods,
            **ctx.written,
            "runs": json.loads(runs.to_json(orient="records")),
        },
    )


# ---------------------------------------------------------------- command line
#: the actions of ``python -m runners.report``
ACTIONS = {"build": "read a study's results and write its report (index.html, report.md, figures, tables)"}


@dataclass
class ReportCommand:
    """``python -m runners.report``'s keys: which study, where the report goes, and :class:`ReportOptions`."""

    study: str | None = key_field(None, "the study: its results are <results_root>/<study>", positional=True)
    study_dir: str | None = key_field(None, "the study's results folder, in place of study and results_root")
    results_root: str = key_field("results", "the folder that holds the studies' results")
    out: str | None = key_field(None, "the report's folder (default: reports/<study>)")
    baseline: str = key_field("rs", "the optimizer that speedups and ratios are measured against")
    fractions: list[float] = key_field(
        [0.1, 0.5, 1.0],
        "budget fractions of the critical-difference diagrams and rank tables, each in (0, 1]",
    )
    grid: int = key_field(200, "log-spaced points of the time grid of the curves, at least 2")
    alpha: float = key_field(0.05, "the significance level of every test, in (0, 1)")
    progress: bool = key_field(True, "a progress bar while the runs are read")


def parse_args(argv: Sequence[str] | None) -> ReportCommand:
    """``[build] key=value ...`` -> the command's settings (:class:`ReportCommand`); UsageError if not.

    ``--help`` prints every key and exits. Either ``study`` or ``study_dir`` is needed.
    """
    _, args = parse_command(
        argv,
        ReportCommand,
        module="runners.report",
        description=__doc__.splitlines()[0],
        actions=ACTIONS,
        default_action="build",
        what="the report",
    )
    if not args.study and not args.study_dir:
        raise UsageError("which study? pass study=NAME (results under results_root) or study_dir=PATH")
    return args


def report_options(args: ReportCommand) -> ReportOptions:
    """The :class:`ReportOptions` of a command line; UsageError naming the bad value and what is allowed."""
    try:
        return ReportOptions(
            baseline=args.baseline,
            fractions=tuple(float(f) for f in args.fractions),
            grid=args.grid,
            alpha=args.alpha,
            progress=args.progress,
        )
    except ValueError as e:
        raise UsageError(str(e)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m runners.report`` (and ``curvebench-report``): a bad key or value, a study folder that is not there
    or holds no runs, or an output folder that is not a report, prints ``error: <message>`` and returns 2
    (``CURVEBENCH_TRACEBACK=1`` raises it, traceback and all)."""
    try:
        args = parse_args(argv)
        opts = report_options(args)
        study_dir = Path(args.study_dir) if args.study_dir else Path(args.results_root) / str(args.study)
        if not study_dir.is_dir():
            root = study_dir.parent
            there = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
            raise UsageError(
                f"no study folder {study_dir} (results_root={root}, study={study_dir.name})."
                f"{hint(study_dir.name, there)} Studies there: {', '.join(there) or 'none'}"
            )
        out = Path(args.out) if args.out else Path("reports") / (args.study or study_dir.name)
        index = build_report(study_dir, out, opts)
    except (CurveBenchError, ResultsFormatError, FileExistsError) as e:
        return usage_status(e)
    print(f"report written: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
