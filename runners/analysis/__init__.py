"""Analysis of study results: reading runs, incumbent trajectories, regret, statistics, figures.

Pure functions on pandas DataFrames, used by :mod:`runners.report`:

* :mod:`.load`: read a study folder (complete, partial and missing runs; per-benchmark regret references)
* :mod:`.trajectory`: incumbent step functions, regret and normalized regret on a log-spaced time grid
* :mod:`.stats`: means and standard errors, ranks over time, final tables with tests, speedup over
  random search, critical differences (autorank), parallel scaling
* :mod:`.plots` and :mod:`.render`: figures and the HTML / Markdown report
* :mod:`.sections`: the report's sections, each a function of the loaded study (:class:`.sections.ReportContext`)
* :mod:`.synthetic`: synthetic results in the runner's format, for tests and demos
"""

from .load import MetricInfo, ResultsFormatError, Study, TaskInfo, load_study

__all__ = ["MetricInfo", "ResultsFormatError", "Study", "TaskInfo", "load_study"]
