"""Transfer across datasets: benchmarks that hold one configuration set, and what an optimizer may learn from them.

Several families evaluate one set of configurations on many datasets (the ``lcbench-*`` tables share 500
configurations, ``fcnet-naval`` and ``fcnet-parkinsons`` 1,000). For such a benchmark:

* :func:`configuration_set` fingerprints what it holds (its space, and its configurations in ``config_id``
  order with every float value left out), and :func:`same_configuration_set` confirms two benchmarks with
  equal fingerprints hold the same configurations under the same ids, floats up to round-off (a sample
  drawn on another CPU differs in the last bits: ``benchmarks.sampling.SAMPLE_RTOL``);
* :func:`related` names the other catalog benchmarks with the same configuration set and objective (never the
  benchmark itself);
* :func:`transfer_sources` reads, from each of them, the objective at the maximum fidelity per configuration
  (the mean over the table's seeds): what a transfer method may see. Leaving the target out is the
  leave-one-dataset-out protocol: a run on ``lcbench-car`` learns from the other ``lcbench-*`` tables only;
* :func:`greedy_portfolio` orders the configurations as a zero-shot portfolio (Wistuba, Schilling and
  Schmidt-Thieme, 2015; Feurer et al., 2022, Auto-sklearn 2.0): each next configuration is the one that most
  lowers the mean over the source datasets of the best normalized regret reached so far.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import catalog
from .protocol import Benchmark, UnknownBenchmarkError
from .sampling import same_configurations
from .space import space_to_dict

__all__ = [
    "TransferSource",
    "configuration_set",
    "greedy_portfolio",
    "related",
    "same_configuration_set",
    "same_dataset",
    "shared_families",
    "transfer_sources",
]

#: the catalog kinds :func:`related` searches by default: the shipped tables (published ones are converted on
#: first use, which :func:`related` should not trigger unasked)
DEFAULT_KINDS = ("table",)


def configuration_set(bench: Benchmark) -> str | None:
    """A sha256 of ``bench``'s space and held configurations in ``config_id`` order, each float value entering as
    ``"float"`` only; None when it answers for any configuration (a surrogate), which no other benchmark can share.

    Equal fingerprints are necessary, not sufficient: :func:`same_configuration_set` compares the floats too, up
    to round-off (the same sample drawn on another CPU differs in the last bits, and any rounding of floats into
    a hash would split some such pairs at a rounding boundary)."""
    held = bench.configurations()
    if held is None:
        return None
    coarse = [{k: "float" if isinstance(v, (float, np.floating)) else v for k, v in c.items()} for c in held]
    text = json.dumps(
        {"space": space_to_dict(bench.space), "configurations": coarse}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def same_configuration_set(a: Benchmark, b: Benchmark) -> bool:
    """Whether ``a`` and ``b`` hold the same configurations under the same ids in the same space: equal
    :func:`configuration_set` fingerprints and every value equal, floats up to round-off
    (``benchmarks.sampling.same_configurations``). False when either answers for any configuration."""
    key = configuration_set(a)
    return key is not None and _holds_set(key, a, b)


def _holds_set(key: str, a: Benchmark, b: Benchmark) -> bool:
    """:func:`same_configuration_set` of ``a`` (whose fingerprint ``key`` the caller worked out once) and ``b``."""
    return configuration_set(b) == key and same_configurations(a.configurations(), b.configurations())


#: what a benchmark's name adds to its dataset's table: a training-set fraction, the data-size family, a
#: many-seed variant, a surrogate (the fallback of :func:`same_dataset` where a manifest names no dataset)
_VARIANT = re.compile(r"(-train1of\d+|-datasize|-seeds\d+|-surrogate)$")


def _base_name(name: str) -> str:
    while (short := _VARIANT.sub("", name)) != name:
        name = short
    return name


def _task(bench: Benchmark) -> dict:
    task = getattr(bench, "task", None)
    return task if isinstance(task, dict) else {}


def same_dataset(a: Benchmark, b: Benchmark) -> bool:
    """Whether ``a`` and ``b`` hold (part of) the same dataset, so that neither may be a transfer source of the
    other: the same data (checksum), the same ``task.dataset`` in their manifests (a training-set fraction of a
    table, the data-size family built of them), one listed among the other's parts, or, where a manifest names
    no dataset, the same name once variant suffixes (``-train1of3``, ``-datasize``, ...) are taken off."""
    ca, cb = getattr(a, "checksum", None), getattr(b, "checksum", None)
    if ca and ca == cb:
        return True
    ta, tb = _task(a), _task(b)
    da, db = ta.get("dataset"), tb.get("dataset")
    if da is not None and db is not None:
        if da == db:
            return True
    elif _base_name(a.name) == _base_name(b.name):
        return True
    for tx, y in ((ta, b), (tb, a)):
        parts = tx.get("parts")
        if isinstance(parts, dict) and (y.name in parts or getattr(y, "checksum", None) in parts.values()):
            return True
    return False


def related(target: str | Benchmark, kinds: Sequence[str] = DEFAULT_KINDS) -> list[str]:
    """The other available catalog benchmarks of ``kinds`` that hold the configuration set of ``target`` (a catalog
    name or a loaded benchmark) and have its objective as a metric, on another dataset than the target's
    (:func:`same_dataset`: never the target's own table, a fraction of it, or the same data under another name),
    sorted by name. Empty when there are none (or ``target`` answers anywhere)."""
    if isinstance(target, str):
        target = catalog.load(target)
    key = configuration_set(target)
    if key is None:
        return []
    out = []
    for kind in kinds:
        for other in catalog.names(kind):
            if other == target.name or not catalog.is_available(other)[0]:
                continue
            bench = catalog.load(other)
            if (
                target.objective in bench.metrics
                and _holds_set(key, target, bench)
                and not same_dataset(target, bench)
            ):
                out.append(other)
    return sorted(out)


def shared_families(kinds: Sequence[str] = DEFAULT_KINDS) -> list[str]:
    """The available catalog benchmarks of ``kinds`` that share their configuration set with another one."""
    # by fingerprint, then by the floats: each group holds one configuration set, its first benchmark stands for it
    groups: dict[str, list[list[Benchmark]]] = {}
    for kind in kinds:
        for name in catalog.names(kind):
            if not catalog.is_available(name)[0]:
                continue
            bench = catalog.load(name)
            key = configuration_set(bench)
            if key is None:
                continue
            alike = groups.setdefault(key, [])
            held = bench.configurations()
            group = next((g for g in alike if same_configurations(g[0].configurations(), held)), None)
            if group is None:
                alike.append([bench])
            else:
                group.append(bench)
    return sorted(b.name for same in groups.values() for g in same if len(g) > 1 for b in g)


@dataclass(frozen=True)
class TransferSource:
    """What a transfer method sees of one other dataset: the objective at the maximum fidelity per configuration
    (mean over the table's seeds; NaN where every seed diverged), aligned with the target's ``config_id``."""

    name: str
    checksum: str
    values: np.ndarray


def transfer_sources(target: Benchmark, names: Sequence[str] | None = None) -> list[TransferSource]:
    """The sources of ``target`` (default: every benchmark :func:`related` to it), read from the catalog.

    UnknownBenchmarkError when there is none, or when one of ``names`` does not hold ``target``'s configuration
    set or lacks its objective (its values would not line up with the target's configurations).
    """
    key = configuration_set(target)
    if key is None:
        raise UnknownBenchmarkError(
            f"{target.name} answers for any configuration; transfer needs a table whose configurations other "
            "datasets share (e.g. the lcbench-* tables)"
        )
    if names is None:
        names = related(target)
        if not names:
            raise UnknownBenchmarkError(
                f"no other catalog table holds the configurations of {target.name} (with its objective "
                f"{target.objective!r}), so there is nothing to transfer from; tables that share theirs: "
                f"{', '.join(shared_families()) or 'none available'}"
            )
    out = []
    for name in names:
        bench = catalog.load(name)
        if name == target.name or same_dataset(target, bench):
            raise UnknownBenchmarkError(
                f"{name} holds the dataset of {target.name} (the same data, dataset or a part of it); a source "
                "must be another dataset"
            )
        if target.objective not in bench.metrics or not _holds_set(key, target, bench):
            raise UnknownBenchmarkError(
                f"{name} does not hold the configurations of {target.name} with its objective "
                f"{target.objective!r}; related ones: {', '.join(related(target)) or 'none'}"
            )
        vals, _ = bench.values_at(target.objective)
        with warnings.catch_warnings():  # a configuration that diverged on every seed: NaN, no warning
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(vals, axis=1)
        out.append(TransferSource(name, getattr(bench, "checksum", ""), mean))
    return out


def greedy_portfolio(sources: Sequence[np.ndarray], direction: str) -> list[int]:
    """Every configuration index, as a zero-shot portfolio: greedily, the configuration that most lowers the mean
    over ``sources`` of the best normalized regret so far; once no configuration lowers it, the rest by their
    mean normalized regret. Ties go to the lower index.

    Each source is normalized to [0, 1] (0 its best configuration, 1 its worst; NaN counts as 1). ``direction``:
    ``"minimize"`` or ``"maximize"``.
    """
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction={direction!r}; allowed: minimize, maximize")
    if not sources:
        raise ValueError("a portfolio needs at least one source dataset")
    R = np.stack([_normalized_regret(np.asarray(s, dtype=float), direction) for s in sources])
    n = R.shape[1]
    best = np.ones(R.shape[0])
    order: list[int] = []
    free = np.ones(n, dtype=bool)
    while free.any():
        score = np.minimum(best[:, None], R).mean(axis=0)
        score[~free] = np.inf
        i = int(np.argmin(score))
        if score[i] >= best.mean():  # nothing lowers it any more
            break
        order.append(i)
        free[i] = False
        best = np.minimum(best, R[:, i])
    rest = np.flatnonzero(free)
    order.extend(rest[np.argsort(R[:, rest].mean(axis=0), kind="stable")].tolist())
    return order


def _normalized_regret(v: np.ndarray, direction: str) -> np.ndarray:
    sign = 1.0 if direction == "minimize" else -1.0
    x = sign * v
    finite = np.isfinite(x)
    if not finite.any():
        return np.ones_like(x)
    lo, hi = x[finite].min(), x[finite].max()
    r = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return np.where(finite, r, 1.0)
