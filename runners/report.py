"""Build the report of a study: figures, tables and one self-contained HTML page.

Command line (``make report STUDY=name`` runs the first form)::

    python -m runners.report study=NAME [results_root=results] [out=reports/NAME]
        [baseline=rs] [fractions=0.1,0.5,1] [grid=200] [alpha=0.05]
    python -m runners.report study_dir=PATH out=PATH

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
from pathlib import Path
from typing import Any

from benchmarks.io import atomic_dir, atomic_write_json, atomic_write_text, code_version, utc_now
from runners.analysis.load import load_study
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

MARKER = "report.json"

__all__ = ["MARKER", "ReportOptions", "build_report", "main", "report_sections"]


def build_report(
    study_dir: str | Path, out_dir: str | Path, options: ReportOptions | None = None, **kw: Any
) -> Path:
    """Read the study under ``study_dir``, write its report into ``out_dir``, return the path of ``index.html``.

    Keyword arguments are :class:`ReportOptions` fields. The report is built in
    a temporary folder and moved into place in one step.
    """
    opts = options or ReportOptions(**kw)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise FileExistsError(
            f"{out_dir} exists and is not a CurveBench report (no {MARKER}); refusing to replace it"
        )
    study = load_study(study_dir, progress=opts.progress)
    with atomic_dir(out_dir, overwrite=True) as tmp:
        write_report(ReportContext(study, tmp, opts))
    return out_dir / "index.html"


# ---------------------------------------------------------------- the report
def report_sections(ctx: ReportContext) -> list[Section]:
    """Every section of the report, in its order; those that do not apply to the study are left out.

    They are built in this order (the summary last, shown first), which is the order their figures and tables
    are written and listed in ``report.json``.
    """
    s = ctx.study
    sections = [runs_section(ctx)]
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
            "format": "curvebench-report",
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
_USAGE = __doc__.split("From Python")[0].strip()
_KEYS = {"study", "study_dir", "results_root", "out", "baseline", "fractions", "grid", "alpha", "progress"}


def parse_args(argv: Sequence[str]) -> dict[str, str]:
    """``key=value`` arguments (the Hydra-style override syntax) into a dict; unknown keys are an error."""
    args: dict[str, str] = {}
    for a in argv:
        key, sep, value = a.partition("=")
        key = key.lstrip("+-")
        if not sep or key not in _KEYS:
            raise SystemExit(
                f"bad argument {a!r}; expected key=value with key one of {', '.join(sorted(_KEYS))}\n\n"
                + _USAGE
            )
        args[key] = value
    if "study" not in args and "study_dir" not in args:
        raise SystemExit("missing study=NAME (or study_dir=PATH)\n\n" + _USAGE)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help", "help") for a in argv):
        print(_USAGE)
        return 0
    args = parse_args(argv)
    if "study_dir" in args:
        study_dir = Path(args["study_dir"])
    else:
        study_dir = Path(args.get("results_root", "results")) / args["study"]
    out = Path(args.get("out", Path("reports") / (args.get("study") or study_dir.name)))
    try:
        opts = ReportOptions(
            baseline=args.get("baseline", "rs"),
            fractions=tuple(float(x) for x in args["fractions"].split(","))
            if "fractions" in args
            else (0.1, 0.5, 1.0),
            grid=int(args.get("grid", 200)),
            alpha=float(args.get("alpha", 0.05)),
            progress=args.get("progress", "true").lower() not in ("0", "false", "no"),
        )
    except ValueError as e:
        raise SystemExit(f"bad option: {e}") from None
    if not study_dir.is_dir():
        raise SystemExit(
            f"no study folder {study_dir} (results_root={study_dir.parent}, study={study_dir.name})"
        )
    index = build_report(study_dir, out, opts)
    print(f"report written: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
