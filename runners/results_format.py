"""The results format's names, in one place: the files of a run and of a study folder, and the events' columns.

Every writer (:mod:`runners.results`, :mod:`runners.study`, :mod:`runners.adaptive`,
:mod:`runners.analysis.synthetic`) and every reader (:mod:`runners.analysis.load`,
the report) imports them from here. docs/runner.md, "Results format", describes
the layout::

    <results root>/<study>/
        study.json                      the plan (PLAN_FILE), written before the first run and after the last
        study.log                       warnings and library logging of the runs (STUDY_LOG; shard_log for a shard)
        shard-<i>-of-<n>.json           what one shard ran (shard_outcome; a sharded study only)
        adastop.json                    AdaStop's decisions of an adaptive study (ADASTOP_FILE)
        .study.json.lock, .adastop.json.lock   held while the plan or the decisions are merged and written
        <benchmark>/<optimizer>/workers-<n>/
            seed-<k>/events.parquet     one row per recorded evaluation (EVENTS_FILE, EVENT_COLUMNS)
            seed-<k>/meta.json          written last: the run is finished (META_FILE)
            .seed-<k>.lock              the run's lock file (LOCK_SUFFIX)
            .seeds.lock                 the method's lock: its seeds compared and a run written (results.SEEDS_LOCK)
            seed-<k>.damaged-<time>/    a damaged run moved aside (DAMAGED_INFIX)
"""

from __future__ import annotations

#: ``format`` and ``format_version`` of a run's meta.json
FORMAT = "curvebench-run"
FORMAT_VERSION = 1
#: ``format`` of a study's plan (study.json)
PLAN_FORMAT = "curvebench-study"

EVENTS_FILE = "events.parquet"
META_FILE = "meta.json"
#: a study's plan, in its results folder (written by runners.study)
PLAN_FILE = "study.json"
#: AdaStop's decisions, in the results folder of an adaptive study (runners.adaptive)
ADASTOP_FILE = "adastop.json"
#: where a study's runs send warnings and the libraries' logging, in its results folder
STUDY_LOG = "study.log"

#: lock files live beside the run folder: ``<workers-n>/.seed-<k>.lock``
LOCK_SUFFIX = ".lock"
#: how a damaged run folder is renamed before the run is redone: ``seed-<k>.damaged-<UTC time>``
DAMAGED_INFIX = ".damaged-"

#: the fixed columns of events.parquet and their pandas dtypes, in the order the runner writes them
#: (between ``config_id`` and ``fidelity_from`` come the ``config.<hp>`` columns, between ``test_objective``
#: and ``status`` the ``metric.<name>`` ones, last ``optimizer_seconds`` when measured)
EVENT_COLUMNS: dict[str, str] = {
    "trial_id": "int64",
    "continues": "Int64",
    "worker": "int64",
    "config_id": "Int64",
    "fidelity_from": "float64",
    "fidelity": "float64",
    "seed": "int64",
    "t_start": "float64",
    "t_end": "float64",
    "cost": "float64",
    "objective": "float64",
    "test_objective": "float64",
    "status": "string",
}
#: written only with ``overhead="measured"``: real seconds of the ask and tell of each trial
OPTIMIZER_SECONDS = "optimizer_seconds"
#: prefix of the one column per hyperparameter (``config.<hp>``)
CONFIG_PREFIX = "config."
#: prefix of the one column per metric of the benchmark (``metric.<name>``)
METRIC_PREFIX = "metric."
#: ``status`` of an evaluation with a finite objective
STATUS_OK = "ok"


def shard_outcome(shard: int, n_shards: int) -> str:
    """What one shard of a study ran and which of its runs failed, beside the plan: ``shard-<i>-of-<n>.json``."""
    return f"shard-{int(shard)}-of-{int(n_shards)}.json"


def shard_log(shard: int, n_shards: int) -> str:
    """The log file of one shard of a study (the shards of a study run side by side): ``shard-<i>-of-<n>.log``."""
    return f"shard-{int(shard)}-of-{int(n_shards)}.log"


def study_log(shard: int = 0, n_shards: int = 1) -> str:
    """The log file of a study's runs: :data:`STUDY_LOG`, or :func:`shard_log` for a shard."""
    return shard_log(shard, n_shards) if n_shards > 1 else STUDY_LOG


class ResultsFormatError(ValueError):
    """A results folder that cannot be read: missing columns, unreadable files, contradictory metadata."""
