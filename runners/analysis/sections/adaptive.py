"""The report section of an adaptive study (``stopping=adastop``): AdaStop's decisions."""

from __future__ import annotations

from ..adastop import adastop_section as _decisions
from ..render import Section
from .context import ReportContext


def adastop_section(ctx: ReportContext) -> Section | None:
    """AdaStop's decision per pair of methods and benchmark beside the fixed-seed test; None when the study was
    not adaptive."""
    return _decisions(ctx.study.root, ctx.table, ctx.opts.alpha)
