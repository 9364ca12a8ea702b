"""The report's sections: each a function of the loaded study (:class:`ReportContext`) returning a
:class:`~runners.analysis.render.Section`, writing its figures and tables into the report's folder.

* :mod:`.overview`: summary, runs, conventions, benchmarks (what was run and how it is read)
* :mod:`.performance`: regret over time, averages over benchmarks, final tables, speedup over random search,
  critical differences, parallel scaling, the cross-benchmark summary
* :mod:`.trust`: random search against its exact expectation, repeated evaluations, validity of each benchmark
* :mod:`.adaptive`: AdaStop's decisions (adaptive studies only)

:mod:`runners.report` composes them in the report's order and renders them. One section alone::

    ctx = ReportContext(load_study("results/bench"), "some/folder")
    section = final_section(ctx)
"""

from __future__ import annotations

from .adaptive import adastop_section
from .context import BASELINE_ALIASES, ReportContext, ReportOptions, relative_path, resolve_baseline
from .overview import benchmarks_section, conventions_section, runs_section, summary_section
from .performance import (
    aggregate_section,
    cd_section,
    cross_section,
    final_section,
    over_time_section,
    scaling_section,
    speedup_section,
)
from .trust import repeats_section, rs_expected_section, validity_section

__all__ = [
    "BASELINE_ALIASES",
    "ReportContext",
    "ReportOptions",
    "adastop_section",
    "aggregate_section",
    "benchmarks_section",
    "cd_section",
    "conventions_section",
    "cross_section",
    "final_section",
    "over_time_section",
    "relative_path",
    "repeats_section",
    "resolve_baseline",
    "rs_expected_section",
    "runs_section",
    "scaling_section",
    "speedup_section",
    "summary_section",
    "validity_section",
]
