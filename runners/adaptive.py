"""Adaptive studies: seeds in interim batches, each comparison stopped when AdaStop decides it.

    python -m runners.study run study=bench stopping=adastop                    # 10 seeds: 2 interims of 5
    python -m runners.study run study=bench stopping=adastop adastop.alpha=0.01 seeds=[0,1,...,19]

AdaStop (Mathieu et al., "AdaStop: adaptive statistical testing for sound
comparisons of deep reinforcement learning agents", TMLR 2024; the ``adastop``
package, an optional extra) is a group-sequential permutation test over every
pair of methods with family-wise error control at level ``alpha``. Per benchmark
(and number of workers), interim ``k`` runs seeds ``seeds[k*batch:(k+1)*batch]``
of every method still in an undecided comparison; after each interim the test
decides the pairs it can, and a method whose comparisons are all decided gets no
more seeds. At the last interim the undecided pairs are declared equal (the
package's rule). The score of a run is its final incumbent's validation value
(``metric=valid``), or the test value of that incumbent (``metric=test``), as a
loss (the sign makes lower better for maximized metrics), so AdaStop's
"smaller" means better.

Determinism: the runs are the study's runs (fixed folders, the same seeds give
the same results) and each comparator draws its permutations from a seed derived
from the study, benchmark and number of workers, so the same study gives the
same decisions; a rerun replays the interims on the finished runs and runs
nothing new. The decisions are written to ``<study folder>/adastop.json``
(atomically, after every interim); the report shows them beside the fixed-seed
statistics.
"""

from __future__ import annotations

import json
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.io import atomic_write_json, read_json_object, utc_now

from .checks import RunConfigError, check_int
from .results import RunTakenError, lock_path, run_lock, verify_run
from .results_format import ADASTOP_FILE, EVENTS_FILE, META_FILE, PLAN_FILE, ResultsFormatError

ADASTOP_FORMAT = "curvebench-adastop"
METRICS = ("valid", "test")
MAX_PERMUTATIONS = 1_000_000


@dataclass
class AdaStopConf:
    """AdaStop's settings in a study (``adastop.KEY=VALUE``)."""

    #: family-wise significance level over every pair of methods of a benchmark
    alpha: float = 0.05
    #: seeds per method per interim (AdaStop's ``n``)
    batch: int = 5
    #: number of interims (AdaStop's ``K``); null: len(seeds) // batch
    n_interims: int | None = None
    #: random permutations approximating the permutation distribution (AdaStop's ``B``)
    permutations: int = 10_000
    #: the score of a run: final incumbent's validation value, or its test value
    metric: str = "valid"


def settings(cfg: Any, source: str = "study") -> dict[str, Any]:
    """The checked AdaStop settings of a study config, with ``n_interims`` resolved and the seed pool."""
    a = cfg.adastop
    alpha = a.alpha
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < float(alpha) < 1:
        raise RunConfigError(f"{source}: adastop.alpha={alpha!r} must be a number in (0, 1)")
    batch = check_int("adastop.batch", a.batch, 1, 1000, source)
    seeds = [int(s) for s in cfg.seeds]
    k = a.n_interims if a.n_interims is not None else len(seeds) // batch
    k = check_int("adastop.n_interims", k, 1, 100, source)
    if k * batch > len(seeds):
        raise RunConfigError(
            f"{source}: stopping=adastop with adastop.n_interims={k} x adastop.batch={batch} needs {k * batch} seeds; "
            f"the study lists {len(seeds)} (seeds={seeds}). Pass more seeds, or a smaller n_interims or batch"
        )
    perms = check_int("adastop.permutations", a.permutations, 100, MAX_PERMUTATIONS, source)
    if a.metric not in METRICS:
        raise RunConfigError(f"{source}: adastop.metric={a.metric!r}; allowed: {', '.join(METRICS)}")
    return {
        "alpha": float(alpha),
        "batch": batch,
        "n_interims": k,
        "permutations": perms,
        "metric": str(a.metric),
        "seeds": seeds[: k * batch],
    }


def comparator_seed(study: str, benchmark: str, n_workers: int) -> int:
    """The seed of one comparator's permutations: stable across processes and Python versions."""
    return zlib.crc32(f"{study}/{benchmark}/workers-{n_workers}".encode())


def run_score(path: str | Path, metric: str = "valid") -> float:
    """A finished run's score for AdaStop: its final incumbent's value as a loss (lower is better).

    The incumbent is the evaluation with the best finite validation value (the
    earliest on a tie, in finish order), as in the report; ``metric="test"``
    scores that incumbent's test value. Raises ValueError naming the run when it
    is not complete (checksum verified) or has no finite value.
    """
    path = Path(path)
    state, why = verify_run(path)
    if state != "complete":
        raise ValueError(
            f"run {path} is {state}" + (f" ({why})" if why else "") + "; AdaStop needs finished runs"
        )
    sign = -1.0 if _direction(path / META_FILE) == "maximize" else 1.0
    ev = pd.read_parquet(path / EVENTS_FILE, columns=["t_end", "objective", "test_objective", "status"])
    ok = np.isfinite(ev["objective"].to_numpy(float)) & (ev["status"].astype(str) == "ok").to_numpy()
    ev = ev.loc[ok]
    if not len(ev):
        raise ValueError(f"run {path} has no evaluation with a finite validation value")
    loss = sign * ev["objective"].to_numpy(float)
    order = np.argsort(ev["t_end"].to_numpy(float), kind="stable")
    best = order[np.argmin(loss[order])]  # argmin returns the first minimum: the earliest in finish order
    if metric == "valid":
        return float(loss[best])
    test = ev["test_objective"].to_numpy(float)[best]
    if not np.isfinite(test):
        raise ValueError(
            f"run {path}: its incumbent has no test value (adastop.metric=test needs a test objective)"
        )
    return float(sign * test)


def _direction(meta_file: Path) -> str:
    """The direction of a run's objective as its meta.json records it: ``minimize`` or ``maximize``.

    Anything else (another spelling, no value, no objective) is a :class:`ResultsFormatError` naming the file and
    the value: a run scored in the wrong direction would turn AdaStop's decisions around.
    """
    meta = read_json_object(meta_file, ResultsFormatError, missing="missing", what=f"a run's {META_FILE}")
    objective = meta.get("objective")
    if not isinstance(objective, Mapping):
        raise ResultsFormatError(
            f"{meta_file}: objective must be an object with a name and a direction, got {objective!r:.100}"
        )
    direction = objective.get("direction")
    if direction not in ("minimize", "maximize"):
        raise ResultsFormatError(
            f"{meta_file}: objective direction {direction!r:.100} is not allowed; allowed: minimize, maximize"
        )
    return str(direction)


@dataclass
class Group:
    """One benchmark (at one number of workers) and the methods compared on it."""

    benchmark: str
    n_workers: int
    methods: list[str]


class Comparison:
    """AdaStop over one group's methods, interim by interim."""

    def __init__(self, group: Group, conf: Mapping[str, Any], seed: int):
        from adastop import MultipleAgentsComparator

        self.group = group
        self.conf = conf
        self.seed = seed
        self.scores: dict[str, list[float]] = {m: [] for m in group.methods}
        self.seeds: dict[str, list[int]] = {m: [] for m in group.methods}
        self.interims: list[dict[str, Any]] = []
        self.finished = len(group.methods) < 2
        self.error = ""
        if not self.finished:
            self.cmp = MultipleAgentsComparator(
                n=conf["batch"],
                K=conf["n_interims"],
                B=conf["permutations"],
                alpha=conf["alpha"],
                beta=0,
                seed=seed,
            )

    def active(self) -> list[str]:
        """The methods that take part in an undecided comparison (all of them before the first interim)."""
        if self.finished:
            return []
        if not self.interims:
            return list(self.group.methods)
        idx = sorted({int(i) for pair in self.cmp.current_comparisons for i in pair})
        return [self.group.methods[i] for i in idx]

    def add(self, k: int, scores: Mapping[str, Sequence[float]], seeds: Sequence[int]) -> None:
        """Interim ``k``: the new scores of the active methods (one per seed), then AdaStop's decisions."""
        import contextlib
        import io

        for m, v in scores.items():
            self.scores[m].extend(float(x) for x in v)
            self.seeds[m].extend(int(s) for s in seeds)
        values = {m: np.asarray(self.scores[m], dtype=float) for m in self.group.methods}
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints its steps
            self.cmp.partial_compare(values, verbose=False)
        still = [] if self.cmp.is_finished else [self._pair(p) for p in self.cmp.current_comparisons]
        self.interims.append(
            {
                "interim": k,
                "seeds": [int(s) for s in seeds],
                "methods_run": sorted(scores),
                "undecided": still,
            }
        )
        self.finished = bool(self.cmp.is_finished) or k == self.conf["n_interims"] - 1

    def decisions(self) -> list[dict[str, Any]]:
        """One row per pair of methods: the decision, when it was taken, the seeds and means of each side."""
        if len(self.group.methods) < 2 or not self.interims:
            return []
        rows = []
        decided_at = self._decided_at()
        for pair in self.cmp.comparisons:
            i, j = int(pair[0]), int(pair[1])
            a, b = self.group.methods[i], self.group.methods[j]
            raw = self.cmp.decisions[str(pair)]
            verdict = {"smaller": "better", "larger": "worse", "equal": "equal"}.get(raw, "undecided")
            rows.append(
                {
                    "method": a,
                    "other": b,
                    "decision": verdict,
                    "adastop": raw,
                    "interim": decided_at.get(str(pair)),
                    # AdaStop compares the first (k+1)*batch seeds of each side at interim k
                    "seeds_at_decision": self._seeds_at(decided_at.get(str(pair)), a),
                    "n_seeds": len(self.scores[a]),
                    "n_seeds_other": len(self.scores[b]),
                    "mean": float(np.mean(self.scores[a])),
                    "mean_other": float(np.mean(self.scores[b])),
                }
            )
        return rows

    def _seeds_at(self, interim: int | None, method: str) -> int:
        n = len(self.scores[method])
        return n if interim is None else min(n, (interim + 1) * int(self.conf["batch"]))

    def _pair(self, pair: Any) -> str:
        return f"{self.group.methods[int(pair[0])]} vs {self.group.methods[int(pair[1])]}"

    def _decided_at(self) -> dict[str, int | None]:
        """Interim at which each pair left the undecided set (None: still undecided)."""
        out: dict[str, int | None] = {}
        for pair in self.cmp.comparisons:
            name = self._pair(pair)
            out[str(pair)] = next((r["interim"] for r in self.interims if name not in r["undecided"]), None)
        return out

    def record(self) -> dict[str, Any]:
        return {
            "benchmark": self.group.benchmark,
            "n_workers": self.group.n_workers,
            "methods": self.group.methods,
            "comparator_seed": self.seed,
            "error": self.error,
            "interims": self.interims,
            "seeds": {m: s for m, s in self.seeds.items()},
            "scores": {m: s for m, s in self.scores.items()},
            "decisions": self.decisions(),
        }


def run_adaptive(
    cfg: Any,
    runs: Sequence[Any],
    execute: Callable[[list[Any]], dict[tuple, dict[str, Any]]],
    *,
    study_dir: Path,
    echo: Callable[[str], None] = print,
    wait: float | None = None,
) -> dict[str, Any]:
    """Run a study's seeds interim by interim under AdaStop; return (and write) the decisions.

    ``runs`` are the study's planned runs over the seed pool (objects with
    ``benchmark``, ``optimizer``, ``n_workers``, ``seed``, ``path``, ``state``);
    ``execute`` runs a list of them (skipping finished ones) and returns their
    outcomes by key. Groups whose runs are unavailable are left out.

    A run that came back taken (another process runs it now) is waited for, up to ``wait`` seconds per interim
    (:data:`TAKEN_WAIT_SECONDS` when None), before it is scored. A run that cannot be scored (not finished
    then, failed, no finite value) ends its comparison without decisions, and its outcome is ``failed`` with
    the reason, so the study reports a failure; the returned runs include it.
    """
    wait = TAKEN_WAIT_SECONDS if wait is None else float(wait)
    conf = settings(cfg)
    pool = conf["seeds"]
    by_key = {(r.benchmark, r.optimizer, r.n_workers, r.seed): r for r in runs if r.seed in pool}
    groups: dict[tuple[str, int], list[str]] = {}
    for r in runs:
        if r.state == "unavailable":
            continue
        ms = groups.setdefault((r.benchmark, r.n_workers), [])
        if r.optimizer not in ms:
            ms.append(r.optimizer)
    comps = [
        Comparison(Group(b, w, ms), conf, comparator_seed(str(cfg.name), b, w))
        for (b, w), ms in groups.items()
    ]
    outcomes: dict[tuple, dict[str, Any]] = {}
    out_file = Path(study_dir) / ADASTOP_FILE
    unscored: list[Any] = []  # runs whose comparison ended because they could not be scored
    for k in range(conf["n_interims"]):
        seeds = pool[k * conf["batch"] : (k + 1) * conf["batch"]]
        todo = [
            by_key[(c.group.benchmark, m, c.group.n_workers, s)]
            for c in comps
            for m in c.active()
            for s in seeds
        ]
        if not todo:
            break
        echo(
            f"adastop interim {k + 1}/{conf['n_interims']}: seeds {seeds[0]}-{seeds[-1]}, {len(todo)} runs "
            f"({sum(bool(c.active()) for c in comps)} benchmark(s) undecided)"
        )
        outcomes.update(execute(todo))
        deadline = time.monotonic() + wait
        for c in comps:
            active = c.active()
            if not active:
                continue
            scores: dict[str, list[float]] = {m: [] for m in active}
            try:
                for m in active:
                    for s in seeds:
                        key = (c.group.benchmark, m, c.group.n_workers, s)
                        if outcomes.get(key, {}).get("state") == "taken":  # another process runs it now
                            _wait_for(by_key[key].path, deadline)
                        scores[m].append(run_score(by_key[key].path, conf["metric"]))
            except (ValueError, OSError, KeyError) as e:  # TimeoutError (the wait ran out) is an OSError
                c.error, c.finished = f"{type(e).__name__}: {e}", True
                _failed(outcomes, key, by_key.get(key), c.error)
                unscored += [by_key[key]] if key in by_key else []
                echo(f"adastop: {c.group.benchmark} stopped without decisions: {c.error}")
                continue
            c.add(k, scores, seeds)
        write_decisions(out_file, cfg, conf, comps, status="running", echo=echo)
    write_decisions(out_file, cfg, conf, comps, status="finished", echo=echo)
    verdicts = Counter(row["decision"] for c in comps for row in c.decisions())
    echo(
        f"adastop finished: {sum(verdicts.values())} pair(s) of methods, "
        + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
        + f" (better/worse: the first method against the second); every decision is in {out_file}"
    )
    return {
        "file": str(out_file),
        "outcomes": outcomes,
        "groups": [c.record() for c in comps],
        "runs": [
            by_key[(c.group.benchmark, m, c.group.n_workers, s)]
            for c in comps
            for m in c.group.methods
            for s in c.seeds[m]
        ]
        + unscored,
    }


#: seconds AdaStop waits, per interim, for the runs another process holds (it runs them now) to be finished
TAKEN_WAIT_SECONDS = 3600.0


def _wait_for(path: str | Path, deadline: float) -> None:
    """Wait until no process holds the run's lock (its run is finished or given up), at the latest until
    ``deadline`` (``time.monotonic()``); TimeoutError naming the run and its lock file when it is still held."""
    left = max(0.0, deadline - time.monotonic())
    try:
        with run_lock(path, timeout=left):
            pass
    except RunTakenError:
        raise TimeoutError(
            f"run {path} was still held by another process (it holds {lock_path(path)}) when AdaStop's wait for "
            f"it ran out; run the study again once that process is done"
        ) from None


def _failed(outcomes: dict[tuple, dict[str, Any]], key: tuple, run: Any, error: str) -> None:
    """Record a run AdaStop could not score as failed (the study counts it and exits non-zero), unless its own
    outcome already says failed or conflicting (already counted, with the run's own error)."""
    if outcomes.get(key, {}).get("state") in ("failed", "conflict"):
        return
    outcomes[key] = {
        "path": str(run.path) if run is not None else None,
        "state": "failed",
        "error": f"AdaStop could not score it, so its comparison stopped without decisions: {error}",
        "trace": "",
    }


#: seconds a study waits for another process to finish writing ``adastop.json`` before it gives up
DECISIONS_LOCK_SECONDS = 120.0


def write_decisions(
    path: Path,
    cfg: Any,
    conf: Mapping[str, Any],
    comps: Sequence[Comparison],
    *,
    status: str,
    echo: Callable[[str], None] = print,
) -> None:
    """Write ``adastop.json`` atomically: the settings, and per group its interims, seeds, scores and decisions.

    Several processes may run one adaptive study. A group whose comparison ended in an error here does not
    replace the same group written without an error by another process (the same study and settings): that
    record is kept. The read and the write hold the file's lock (``.adastop.json.lock``).
    """
    groups = [c.record() for c in comps]
    with run_lock(path, timeout=DECISIONS_LOCK_SECONDS):
        if any(c.error for c in comps):
            done = _completed_groups(path, cfg, conf)
            for i, c in enumerate(comps):
                old = done.get((c.group.benchmark, c.group.n_workers))
                if c.error and old is not None and old.get("methods") == c.group.methods:
                    groups[i] = old
                    if status == "finished":
                        echo(
                            f"adastop: {c.group.benchmark} (workers {c.group.n_workers}): kept the decisions "
                            f"another process wrote in {path}; this one could not finish the comparison"
                        )
        atomic_write_json(
            path,
            {
                "format": ADASTOP_FORMAT,
                "format_version": 1,
                "study": str(cfg.name),
                "status": status,
                "written_utc": utc_now(),
                "settings": {k: v for k, v in conf.items()},
                "method": "AdaStop (Mathieu et al., TMLR 2024), the adastop package's MultipleAgentsComparator, "
                "two-sided, beta=0; scores are final incumbent values as losses (lower is better)",
                "groups": groups,
            },
        )


def _completed_groups(path: Path, cfg: Any, conf: Mapping[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """The groups of the decisions file at ``path`` that ended without an error, by (benchmark, workers), when
    it was written for the same study with the same settings; empty otherwise (none, unreadable, or other)."""
    try:
        data = read_json_object(path, ResultsFormatError, missing="missing", what="an AdaStop decisions file")
    except (ResultsFormatError, OSError):
        return {}
    if data.get("format") != ADASTOP_FORMAT or data.get("study") != str(cfg.name):
        return {}
    if data.get("settings") != json.loads(json.dumps(dict(conf))):
        return {}
    out = {}
    for g in data.get("groups") or []:
        if isinstance(g, dict) and not g.get("error") and g.get("interims"):
            out[(g.get("benchmark"), g.get("n_workers"))] = g
    return out


def read_decisions(study_dir: str | Path) -> dict[str, Any] | None:
    """A study's AdaStop decisions (``adastop.json``), or None when the study was not adaptive.

    None too when the study's plan (``study.json``) says its last run was not adaptive: a fixed-seed rerun
    of an adaptive study leaves the old decisions on disk, but they no longer describe the study's runs.
    """
    f = Path(study_dir) / ADASTOP_FILE
    if not f.is_file():
        return None
    plan = Path(study_dir) / PLAN_FILE
    if plan.is_file():  # the study was run again without stopping=adastop since: these decisions are not its
        recorded = read_json_object(plan, ResultsFormatError, missing="missing", what="a study plan")
        if recorded.get("stopping", "none") != "adastop":
            return None
    data = read_json_object(f, ResultsFormatError, missing="missing", what="an AdaStop decisions file")
    if data.get("format") != ADASTOP_FORMAT:
        raise ResultsFormatError(f"{f} is not an AdaStop decisions file (format {data.get('format')!r})")
    return data


def decisions_table(data: Mapping[str, Any]) -> pd.DataFrame:
    """Every decision of an ``adastop.json`` as one row: benchmark, workers, the pair, the verdict, the seeds."""
    rows = []
    for g in data.get("groups", []):
        for d in g.get("decisions", []):
            rows.append({"benchmark": g["benchmark"], "n_workers": g["n_workers"], **d})
        if g.get("error"):
            rows.append(
                {
                    "benchmark": g["benchmark"],
                    "n_workers": g["n_workers"],
                    "method": "",
                    "other": "",
                    "decision": f"not decided: {g['error']}",
                }
            )
    return pd.DataFrame(rows)
