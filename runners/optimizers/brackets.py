"""Bracket logic shared by every multi-fidelity optimizer: rungs, bracket sizes, SH and ASHA bookkeeping.

Written once here and reused by successive halving, Hyperband, BOHB, DEHB,
the one-epoch top-K baseline and ASHA.

* :func:`rung_ladder`: the fidelities ``max * eta**-k`` down to the minimum,
  rounded to values the benchmark holds.
* :func:`successive_halving_sizes` and :func:`hyperband_brackets`: how many
  configurations each round of a bracket holds. Hyperband follows Li et al.
  (JMLR 2018), Algorithm 1, by default; ``sizing="hpbandster"`` gives the
  sizes of hpbandster, BOHB and DEHB's reference code (see docs/optimizers.md).
* :class:`SyncBracket` and :class:`BracketScheduler`: synchronous successive
  halving driven by asynchronous workers. A bracket's next rung starts once
  every result of its current rung is in; while a bracket waits, the next
  bracket starts (as hpbandster does), so no worker idles while work exists.
* :class:`AshaRungs`: ASHA's asynchronous promotion rule (Li et al., MLSys 2020).

Losses are "lower is better" (``TrialResult.loss``); a diverged (NaN) result
has loss ``+inf`` and so ranks last. Ties are broken by the order in which the
results arrived, so every decision is deterministic.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from benchmarks.protocol import Fidelity

from ..optimizer import Trial, rung_fidelities

Sizing = Literal["li", "hpbandster"]
SIZINGS: tuple[str, ...] = ("li", "hpbandster")

__all__ = [
    "SIZINGS",
    "AshaRungs",
    "BracketScheduler",
    "Entry",
    "SyncBracket",
    "hyperband_brackets",
    "rung_ladder",
    "successive_halving_sizes",
]


# ---------------------------------------------------------------- geometry
def check_eta(eta: float) -> float:
    """``eta`` as a float, or ValueError unless it is a number > 1."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not eta > 1 or not math.isfinite(eta):
        raise ValueError(f"eta={eta!r} must be a finite number > 1")
    return float(eta)


def rung_ladder(fidelity: Fidelity, eta: float, min_fidelity: float | None = None) -> tuple[float, ...]:
    """The successive-halving rungs ``max * eta**-k`` (k = 0, 1, ...) down to ``min_fidelity``, ascending.

    Each rung is rounded to the nearest fidelity the benchmark holds (ties go to
    the larger one) and repeated values are dropped, so a coarse table may give
    fewer rungs than ``floor(log_eta(max / min)) + 1``. The last rung is always
    the maximum fidelity. ``min_fidelity`` defaults to the smallest held value.
    """
    return tuple(rung_fidelities(fidelity, check_eta(eta), min_fidelity))


def _floor_div_pow(n: int, eta: float, i: int) -> int:
    """``floor(n * eta**-i)``, exact for integer eta and robust to float error otherwise."""
    if float(eta).is_integer():
        return n // int(eta) ** i
    return math.floor(n * eta**-i + 1e-9)


def successive_halving_sizes(n: int, n_rounds: int, eta: float) -> tuple[int, ...]:
    """Sizes of the rounds of one SH bracket: ``max(1, floor(n * eta**-i))`` for i = 0..n_rounds-1.

    Each round keeps the best ``floor(|previous round| / eta)``; a round never
    shrinks below one configuration, so the maximum fidelity is always reached.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} configurations must be an integer >= 1")
    if n_rounds < 1:
        raise ValueError(f"n_rounds={n_rounds!r} must be >= 1")
    eta = check_eta(eta)
    return tuple(max(1, _floor_div_pow(n, eta, i)) for i in range(n_rounds))


def hyperband_brackets(s_max: int, eta: float, sizing: Sizing = "li") -> list[tuple[int, ...]]:
    """Round sizes of the Hyperband brackets s = s_max, s_max-1, ..., 0 (in that order).

    ``sizing="li"`` (default), Li et al. 2018, Algorithm 1 with ``B = (s_max + 1) R``:
    bracket s starts ``n = ceil((s_max + 1) / (s + 1) * eta**s)`` configurations
    and its round i holds ``floor(n * eta**-i)``.

    ``sizing="hpbandster"``, as in hpbandster (BOHB) and the DEHB package:
    ``n = floor((s_max + 1) / (s + 1)) * eta**s`` and ``max(1, int(n * eta**-i))``.

    Bracket s has ``s + 1`` rounds, on the top ``s + 1`` rungs of the ladder.
    """
    if isinstance(s_max, bool) or not isinstance(s_max, int) or s_max < 0:
        raise ValueError(f"s_max={s_max!r} must be an integer >= 0")
    if sizing not in SIZINGS:
        raise ValueError(f"sizing={sizing!r} is not one of {', '.join(SIZINGS)}")
    eta = check_eta(eta)
    out = []
    for s in range(s_max, -1, -1):
        if sizing == "li":
            if eta.is_integer():
                n = math.ceil(Fraction((s_max + 1) * int(eta) ** s, s + 1))
            else:
                n = math.ceil((s_max + 1) / (s + 1) * eta**s - 1e-9)
        else:
            n = int(((s_max + 1) // (s + 1)) * eta**s + 1e-9)
        out.append(tuple(max(1, _floor_div_pow(n, eta, i)) for i in range(s + 1)))
    return out


# ---------------------------------------------------------------- synchronous successive halving
@dataclass(slots=True)
class Entry:
    """A finished trial in a rung: its loss and the order in which it arrived (the tie-break)."""

    loss: float
    order: int
    trial: Trial

    @property
    def key(self) -> tuple[float, int]:
        return (self.loss, self.order)


@dataclass
class SyncBracket:
    """Bookkeeping of one synchronous successive-halving bracket.

    Round ``i`` trains ``sizes[i]`` configurations to ``fidelities[i]``. Round
    ``i + 1`` may start only when all ``sizes[i]`` results of round ``i`` are in;
    it then holds the best ``sizes[i + 1]`` of them, in rank order.
    """

    bracket_id: int
    sizes: tuple[int, ...]
    fidelities: tuple[float, ...]
    rung: int = 0
    started: list[int] = field(default_factory=list)
    results: list[list[Entry]] = field(default_factory=list)
    _ranked: dict[int, list[Entry]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.sizes) != len(self.fidelities) or not self.sizes:
            raise ValueError(f"bracket sizes {self.sizes} and fidelities {self.fidelities} must match")
        if any(b > a for a, b in zip(self.sizes, self.sizes[1:])) or min(self.sizes) < 1:
            raise ValueError(f"bracket sizes {self.sizes} must be >= 1 and non-increasing")
        if any(b <= a for a, b in zip(self.fidelities, self.fidelities[1:])):
            raise ValueError(f"bracket fidelities {self.fidelities} must increase")
        self.started = [0] * len(self.sizes)
        self.results = [[] for _ in self.sizes]

    @property
    def n_rungs(self) -> int:
        return len(self.sizes)

    def has_slot(self) -> bool:
        """True when the current round still has a configuration to start."""
        return self.started[self.rung] < self.sizes[self.rung]

    def take_slot(self) -> tuple[int, int]:
        """Register the start of one job in the current round; returns (round, index in the round)."""
        if not self.has_slot():
            raise RuntimeError(f"bracket {self.bracket_id}: round {self.rung} has no free slot")
        i = self.started[self.rung]
        self.started[self.rung] += 1
        return self.rung, i

    def record(self, rung: int, trial: Trial, loss: float, order: int) -> None:
        """Store one finished trial of round ``rung``; the next round opens when this one is complete."""
        if len(self.results[rung]) >= self.started[rung]:
            raise RuntimeError(f"bracket {self.bracket_id}: more results than jobs in round {rung}")
        self.results[rung].append(Entry(loss, order, trial))
        while self.is_complete(self.rung) and self.rung < self.n_rungs - 1:
            self.rung += 1

    def is_complete(self, rung: int) -> bool:
        return len(self.results[rung]) == self.sizes[rung]

    def shrink(self, eta: float) -> None:
        """End round 0 at the configurations it started (a finite table has no new one left), and size the later
        rounds as successive halving does, the best ``1 / eta`` of each (at least one, at most as planned), so
        that the bracket still promotes instead of waiting for results that can never come."""
        n = self.started[0]
        if n < 1 or self.rung > 0:
            raise RuntimeError(f"bracket {self.bracket_id}: only a started round 0 can be shrunk")
        sizes = [n]
        for planned in self.sizes[1:]:
            sizes.append(max(1, min(planned, int(sizes[-1] // eta))))
        self.sizes = tuple(sizes)
        while self.is_complete(self.rung) and self.rung < self.n_rungs - 1:
            self.rung += 1

    @property
    def is_done(self) -> bool:
        return self.is_complete(self.n_rungs - 1)

    def ranked(self, rung: int) -> list[Entry]:
        """The finished trials of a complete round, best first (ties: earlier result first)."""
        if not self.is_complete(rung):
            raise RuntimeError(f"bracket {self.bracket_id}: round {rung} is not complete")
        if rung not in self._ranked:
            self._ranked[rung] = sorted(self.results[rung], key=lambda e: e.key)
        return self._ranked[rung]

    def promotion(self, rung: int, index: int) -> Entry:
        """The ``index``-th configuration promoted into round ``rung`` (the index-th best of round rung-1)."""
        if rung < 1:
            raise ValueError("round 0 takes new configurations, not promotions")
        return self.ranked(rung - 1)[index]


class BracketScheduler:
    """Runs synchronous brackets one after another, with as much overlap as asynchronous workers need.

    ``plan(k)`` gives ``(sizes, fidelities)`` of the k-th bracket. When a worker
    asks, the oldest active bracket with a free slot in its current round gets
    it; if every active bracket waits for results, a new bracket starts (unless
    ``max_brackets`` were started already, then the worker waits).
    """

    def __init__(
        self,
        plan: Callable[[int], tuple[Sequence[int], Sequence[float]]],
        max_brackets: int | None = None,
    ) -> None:
        if max_brackets is not None and (isinstance(max_brackets, bool) or max_brackets < 1):
            raise ValueError(f"max_brackets={max_brackets!r} must be None or an integer >= 1")
        self.plan = plan
        self.max_brackets = max_brackets
        self.active: list[SyncBracket] = []
        self.brackets: dict[int, SyncBracket] = {}
        self.n_started = 0
        self._order = 0

    def next_slot(self) -> tuple[SyncBracket, int, int] | None:
        """(bracket, round, index in round) for the next job, or None when the worker must wait."""
        for b in self.active:
            if b.has_slot():
                return (b, *b.take_slot())
        if self.max_brackets is not None and self.n_started >= self.max_brackets:
            return None
        sizes, fids = self.plan(self.n_started)
        b = SyncBracket(self.n_started, tuple(int(s) for s in sizes), tuple(fids))
        self.n_started += 1
        self.active.append(b)
        self.brackets[b.bracket_id] = b
        return (b, *b.take_slot())

    def exhausted(self, bracket: SyncBracket, eta: float) -> None:
        """A finite table had no new configuration for the round-0 slot just taken in ``bracket``: the slot is
        given back, no new bracket starts, and the bracket goes on with what it started (:meth:`SyncBracket.shrink`;
        one that started nothing is dropped)."""
        bracket.started[0] -= 1
        self.max_brackets = self.n_started
        if bracket.started[0] == 0:
            self.active.remove(bracket)
            del self.brackets[bracket.bracket_id]
        else:
            bracket.shrink(eta)
            if bracket.is_done:
                self.active.remove(bracket)
                del self.brackets[bracket.bracket_id]

    def record(self, bracket_id: int, rung: int, trial: Trial, loss: float) -> SyncBracket:
        """Store a result; a finished bracket leaves the active list."""
        b = self.brackets[bracket_id]
        b.record(rung, trial, loss, self._order)
        self._order += 1
        if b.is_done:
            self.active.remove(b)
            del self.brackets[bracket_id]
        return b

    @property
    def finished(self) -> bool:
        """True when ``max_brackets`` brackets were started and all of them are done."""
        return self.max_brackets is not None and self.n_started >= self.max_brackets and not self.active


# ---------------------------------------------------------------- asynchronous successive halving
class AshaRungs:
    """ASHA's rungs and promotion rule (Li et al., MLSys 2020, Algorithm 2).

    ``next_promotion`` looks from the top rung (below the maximum) down for a
    configuration in the best ``floor(|rung| / eta)`` of its rung that was not
    promoted yet; None means "start a new configuration at the bottom rung".
    It never waits for a rung to fill.

    Cost: O(log n) per :meth:`record` and amortized per :meth:`next_promotion`
    (n: the results in a rung), with no scan of a rung. Each rung is split into
    its best ``floor(|rung| / eta)`` entries (a max-heap) and the others (a
    min-heap), and keeps a min-heap of its entries not yet promoted. The first
    not-promoted entry of the rung's top in rank order is the best not-promoted
    entry of the whole rung when that one is in the top, and there is none
    otherwise (everything ranked before it was promoted): the same entry a scan
    of the ranked top would find, ties broken by arrival as before.
    """

    def __init__(self, fidelities: Sequence[float], eta: float) -> None:
        self.fidelities = tuple(fidelities)
        if not self.fidelities:
            raise ValueError("ASHA needs at least one rung")
        self.eta = check_eta(eta)
        n = len(self.fidelities)
        self.promoted: list[set[int]] = [set() for _ in range(n)]
        self._size = [0] * n
        #: per rung: its best n_top entries as a max-heap of (-loss, -order, entry)
        self._top: list[list[tuple[float, int, Entry]]] = [[] for _ in range(n)]
        #: per rung: the other entries as a min-heap of (loss, order, entry)
        self._rest: list[list[tuple[float, int, Entry]]] = [[] for _ in range(n)]
        #: per rung: the entries not promoted yet (promoted ones leave lazily) as a min-heap of (loss, order, entry)
        self._open: list[list[tuple[float, int, Entry]]] = [[] for _ in range(n)]
        self._order = 0

    def record(self, rung: int, trial: Trial, loss: float) -> None:
        order = self._order
        e = Entry(loss, order, trial)
        self._order = order + 1
        self._size[rung] += 1
        top, rest = self._top[rung], self._rest[rung]
        if top and (loss, order) < (-top[0][0], -top[0][1]):
            heapq.heappush(top, (-loss, -order, e))
        else:
            heapq.heappush(rest, (loss, order, e))
        want = self.n_top(rung)
        while len(top) > want:
            _, _, m = heapq.heappop(top)
            heapq.heappush(rest, (m.loss, m.order, m))
        while len(top) < want and rest:
            _, _, m = heapq.heappop(rest)
            heapq.heappush(top, (-m.loss, -m.order, m))
        heapq.heappush(self._open[rung], (loss, order, e))

    def n_top(self, rung: int) -> int:
        """``floor(|rung| / eta)``: how many of a rung's configurations may be promoted."""
        return math.floor(self._size[rung] / self.eta + 1e-9)

    def ranked(self, rung: int) -> list[Entry]:
        """Every entry of ``rung``, best first (ties: earlier result first); O(n log n), for inspection."""
        return sorted((t[2] for t in self._top[rung] + self._rest[rung]), key=lambda e: e.key)

    def next_promotion(self) -> tuple[int, Entry] | None:
        """(rung, entry) of the configuration to promote to rung + 1, or None."""
        for k in range(len(self.fidelities) - 2, -1, -1):
            top = self._top[k]
            if not top:
                continue
            done, open_ = self.promoted[k], self._open[k]
            while open_ and open_[0][2].trial.trial_id in done:
                heapq.heappop(open_)
            if open_:
                loss, order, e = open_[0]
                if (loss, order) <= (-top[0][0], -top[0][1]):
                    return k, e
        return None

    def mark_promoted(self, rung: int, entry: Entry) -> None:
        self.promoted[rung].add(entry.trial.trial_id)
