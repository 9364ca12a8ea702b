"""What every report section reads: the loaded study, the report's options and what is derived from them once.

:class:`ReportContext` holds the study (:class:`~runners.analysis.load.Study`),
the options (:class:`ReportOptions`), the baseline, the colours, the regret
curves on the report's grid, and the report's output folder; its
:meth:`~ReportContext.figure` and :meth:`~ReportContext.table` write a figure
or a table there and return the block a section shows. What several sections
need (a benchmark's values at the maximum fidelity, random search's exact
expectation) is computed once, on first use, and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.cli import UsageError, hint

from .. import plots, validity
from .. import trajectory as tr
from ..load import Study, load_benchmark
from ..render import FigureBlock, TableBlock, write_table

#: names under which a study may hold random search, the default baseline, in the order they are tried
BASELINE_ALIASES = ("rs", "random_search", "random-search", "randomsearch", "random")


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of a report; the defaults are the project's conventions."""

    baseline: str = "rs"
    fractions: tuple[float, ...] = (0.1, 0.5, 1.0)
    grid: int = 200
    alpha: float = 0.05
    progress: bool = False

    def __post_init__(self) -> None:
        if not self.fractions or any(not (0 < f <= 1) for f in self.fractions):
            raise ValueError(f"fractions={self.fractions!r}: each must be in (0, 1]")
        if self.grid < 2:
            raise ValueError(f"grid={self.grid!r}: need at least 2 points")
        if not (0 < self.alpha < 1):
            raise ValueError(f"alpha={self.alpha!r}: must be in (0, 1)")


class ReportContext:
    """The loaded study and what the sections derive from it, plus the writers of figures and tables.

    ``out`` is the report's folder: ``figures/`` and ``tables/`` are made in it.
    ``written`` lists, in order, the figures and tables written so far.
    """

    def __init__(self, study: Study, out: str | Path, opts: ReportOptions | None = None) -> None:
        opts = opts or ReportOptions()
        self.study, self.out, self.opts = study, Path(out), opts
        (self.out / "figures").mkdir(parents=True, exist_ok=True)
        (self.out / "tables").mkdir(exist_ok=True)
        self.baseline = resolve_baseline(study, opts.baseline)
        self.palette = plots.Palette.for_methods(study.complete_runs(), self.baseline)
        self.steps = tr.all_steps(study)
        grid = tr.log_fraction_grid(study, self.steps, opts.grid)
        self.grid = np.unique(np.concatenate([grid, [f for f in opts.fractions if f >= grid[0]]]))
        self.curves = tr.regret_curves(study, self.steps, self.grid)
        self.has_test = any(t.test is not None for t in study.tasks.values())
        self.metrics = ["valid", "test"] if self.has_test else ["valid"]
        self.written: dict[str, list[str]] = {"figures": [], "tables": []}
        self._tables: dict[str, dict | None] = {}
        self._rs_expected: dict[str, tuple[np.ndarray, bool] | None] = {}
        #: why random search's exact expectation was not computed, per benchmark (too large)
        self.rs_skipped: dict[str, str] = {}

    # ------------------------------------------------------------ writers
    def figure(self, fig: Any, name: str, caption: str, half: bool = False) -> FigureBlock:
        """Save ``fig`` as ``figures/<name>.png|svg`` and return its block."""
        plots.save_figure(fig, self.out / "figures", name)
        self.written["figures"].append(name)
        return FigureBlock(name, caption, half)

    def table(
        self, name: str, display: pd.DataFrame, caption: str, data: pd.DataFrame | None = None
    ) -> TableBlock:
        """Write ``tables/<name>.csv|md`` (``data`` in the CSV when given, else ``display``) and return its block."""
        t = TableBlock(name, display, caption, data)
        write_table(t, self.out)
        self.written["tables"].append(name)
        return t

    # ------------------------------------------------------------ words
    @staticmethod
    def label(metric: str) -> str:
        """``validation`` or ``test``, the word for a metric key."""
        return "validation" if metric == "valid" else "test"

    @property
    def headline(self) -> str:
        """The metric cross-benchmark summaries and the validity checks use: test when the study has one."""
        return "test" if self.has_test else "valid"

    # ------------------------------------------------------------ computed once
    def table_data(self, bench: str) -> dict | None:
        """The benchmark's objective at the maximum fidelity and at Hyperband's rungs (loaded once), or None.

        None when the benchmark cannot be loaded here with the checksum its runs recorded. ``top``: losses
        (sign * value) at the maximum fidelity, (configurations, seeds); ``rungs``: fidelity -> losses;
        ``exhaustive``: whether the configurations are the benchmark's own (a table) or a fixed sample.
        """
        if bench not in self._tables:
            metas = [m for (b, _, _), m in self.study.metas.items() if b == bench]
            b = load_benchmark(bench, metas)
            out = None
            if b is not None:
                try:
                    task = self.study.tasks[bench]
                    name, sign = task.valid.name, task.valid.sign
                    fids = validity.rung_fidelities(b.fidelity.values)
                    rungs = {f: sign * b.values_at(name, f)[0] for f in fids}
                    top, how = b.values_at(name)
                    out = {
                        "top": sign * top,
                        "rungs": rungs,
                        "exhaustive": how == "table",
                        "n_configs": top.shape[0],
                        "n_seeds": top.shape[1],
                    }
                except Exception as e:  # noqa: BLE001 - a benchmark that cannot answer: stated, not fatal
                    out = {"error": f"{type(e).__name__}: {e}"}
            self._tables[bench] = out
        return self._tables[bench]

    def baseline_runs(self, bench: str) -> pd.DataFrame:
        """The complete runs of the baseline optimizer on ``bench``."""
        runs = self.study.complete_runs()
        return runs[(runs["benchmark"] == bench) & (runs["optimizer"] == self.baseline)]

    def rs_expected(self, bench: str) -> tuple[np.ndarray, bool] | None:
        """(exact expected validation regret after k = 1..n evaluations, drawn without replacement?) or None."""
        data = self.table_data(bench)
        base = self.baseline_runs(bench) if self.baseline else pd.DataFrame()
        if not data or "top" not in data or not data["exhaustive"] or not len(base):
            return None
        n = int(base["n_events"].max())
        if n < 1:
            return None
        cache = self._rs_expected
        if bench in cache:
            return cache[bench]
        metas = [self.study.metas.get((bench, m, sd)) or {} for m, sd in zip(base["method"], base["seed"])]
        without = any(validity.draws_without_replacement(m.get("optimizer_info")) for m in metas)
        task = self.study.tasks[bench]
        try:
            loss = validity.expected_rs_curve(data["top"], n, without_replacement=without)
        except validity.TooLargeForExact as e:
            self.rs_skipped[bench] = f"not computed: {e}"
            cache[bench] = None
            return None
        cache[bench] = (loss - task.valid.sign * task.valid.optimum, without)
        return cache[bench]


def resolve_baseline(study: Study, wanted: str) -> str | None:
    """The optimizer the report compares with: ``wanted`` if the study ran it, else the first random-search
    alias it ran when ``wanted`` is one, else None (a study without random search: no ratios). Any other name the
    study did not run is a UsageError naming it and the study's optimizers (a misspelt baseline would otherwise
    leave every ratio out without a word)."""
    opts = set(study.complete_runs()["optimizer"])
    if wanted in opts:
        return wanted
    if wanted in BASELINE_ALIASES:
        return next((a for a in BASELINE_ALIASES if a in opts), None)
    ran = sorted(opts)
    raise UsageError(
        f"baseline={wanted!r} is not an optimizer of this study's finished runs.{hint(wanted, ran)} "
        f"Allowed: {', '.join(ran) or 'none (no finished run)'}"
    )


def relative_path(p: str, root: Path) -> str:
    """``p`` relative to ``root`` when it lies under it, else as given ('' for none)."""
    if not p:
        return ""
    try:
        return str(Path(p).relative_to(root))
    except ValueError:
        return p
