"""Iterative deepening Hyperband (Brandt, Wever, Iliadis, Bengs and Hüllermeier, "Iterative Deepening
Hyperband", arXiv 2302.00511, 2023), the efficient variant.

Hyperband needs its maximum budget R in advance. Iterative deepening runs Hyperband with a small R first and
raises R by the factor eta afterwards, as often as needed; each deeper Hyperband *continues* the previous one
instead of restarting it. The authors' reference code (``idhb.py`` of github.com/mwever/incremental-successive-
halving, classes ``IDHyperband`` and ``EfficientSuccessiveHalving``) does it as follows, and so does this module:

* Hyperband with maximum R and minimum r has brackets s = s_max, ..., 0 (``s_max = log_eta(R / r)``); bracket s
  starts at the rung ``R eta^-s``. Raising R to ``eta R`` keeps every bracket's first rung: the bracket that
  started at rung ``r_m`` becomes the bracket s + 1 of the deeper Hyperband (one more round, on top, at the new
  R), and one new bracket (s = 0, random search at the new R) is added.
* The deeper bracket is *pre-filled* with what its predecessor evaluated: every configuration the predecessor
  held in a round is in the same round again, with its result. Its first round is topped up with new
  configurations to Hyperband's size for the new R (``n = ceil((s_max + 1) / (s + 1) eta^s)``, Li et al. 2018).
* Promotions (the *efficient* rule): the configurations the predecessor promoted to round i + 1 stay promoted
  (they are never re-evaluated: their result is there already); the remaining places of round i + 1 go to the
  best configurations of round i not promoted yet, each continued from its checkpoint at round i's fidelity, so
  only the increment is paid. At the new top rung nothing was promoted before: the predecessor's winners (its
  top round) compete for it, and the best are continued from R to ``eta R``.

So every deeper bracket holds exactly the configurations (and round sizes) of Hyperband at its R, and a
configuration's chain of trials is one training run: each configuration is trained from scratch once, and the
iterations together pay no more epochs than one Hyperband iteration at the final R (the efficient variant wastes
nothing; the paper's other variants re-rank the predecessor's promotions and may discard results).

Here the ladder of rungs is Hyperband's (``rung_ladder(fidelity, eta, min_fidelity)``, anchored at the
benchmark's maximum fidelity), the first Hyperband iteration has its maximum ``deepenings`` rungs below the top
(default: all the way down, R = r: a single configuration at the lowest rung), and each iteration raises R by one
rung until the benchmark's maximum; the budget not spent by then goes to plain Hyperband iterations at the
maximum (fresh brackets, as :class:`~runners.optimizers.hyperband.Hyperband` cycles), up to ``max_iterations``.

Workers: brackets are synchronous successive halving (a round's promotions wait for the round's results), as in
:mod:`runners.optimizers.brackets`. A deeper bracket starts only when its predecessor is done (it needs every one
of its results); while it waits, the other brackets of the iteration may start; the next iteration is planned
once every bracket of the current one has started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..optimizer import Optimizer, Trial, TrialResult
from .brackets import SIZINGS, Sizing, check_eta, hyperband_brackets, rung_ladder

__all__ = ["DeepBracket", "IDHyperband", "Member"]


@dataclass(slots=True)
class Member:
    """A configuration in a round: its loss at the round's fidelity, the order of that result (the tie-break),
    the trial that reached the round's fidelity (a checkpoint to continue), and ``root``, the id of the trial
    that started its chain (the configuration's identity across rounds and iterations)."""

    root: int
    loss: float
    order: int
    trial: Trial

    @property
    def key(self) -> tuple[float, int]:
        return (self.loss, self.order)


class DeepBracket:
    """One successive-halving bracket of an iteration, pre-filled with its predecessor's rounds (or none).

    Round ``i`` holds ``sizes[i]`` configurations at ``fidelities[i]`` (``sizes``: Hyperband's, raised to what
    the predecessor holds there if that were more, which the sizes of ``hyperband_brackets`` never need). The
    work of the current round is :attr:`todo`: None for a new configuration (round 0), a :class:`Member` of the
    previous round to continue (later rounds).
    """

    def __init__(
        self,
        bracket_id: int,
        iteration: int,
        first_rung: int,
        sizes: tuple[int, ...],
        fidelities: tuple[float, ...],
        predecessor: DeepBracket | None = None,
    ) -> None:
        if len(sizes) != len(fidelities) or not sizes:
            raise ValueError(f"bracket sizes {sizes} and fidelities {fidelities} must match")
        self.bracket_id = bracket_id
        self.iteration = iteration
        self.first_rung = first_rung
        self.fidelities = tuple(fidelities)
        self.rounds: list[list[Member]] = [[] for _ in sizes]
        if predecessor is not None:
            if predecessor.fidelities != self.fidelities[: len(predecessor.fidelities)]:
                raise ValueError(
                    f"bracket {bracket_id}: predecessor rungs {predecessor.fidelities} are not a prefix of "
                    f"{self.fidelities}"
                )
            for i, held in enumerate(predecessor.rounds):
                self.rounds[i] = list(held)
        #: per round, how many of its members the predecessor gave (they are its first entries)
        self.carried = tuple(len(r) for r in self.rounds)
        #: how many results the bracket took over from its predecessor
        self.n_carried = sum(self.carried)
        self.sizes = tuple(max(int(n), len(r)) for n, r in zip(sizes, self.rounds))
        self.rung = 0
        self.todo: list[Member | None] = [None] * (self.sizes[0] - len(self.rounds[0]))
        #: continuations of a configuration the predecessor evaluated (its winners, continued deeper)
        self.n_carried_promotions = 0
        self._advance()

    @property
    def n_rounds(self) -> int:
        return len(self.sizes)

    def is_complete(self, i: int) -> bool:
        return len(self.rounds[i]) >= self.sizes[i]

    @property
    def is_done(self) -> bool:
        return self.rung == self.n_rounds - 1 and self.is_complete(self.rung)

    def take(self) -> tuple[int, Member | None]:
        """The next piece of work of the current round: (round, None for a new configuration or the member to
        continue)."""
        return self.rung, self.todo.pop(0)

    def record(self, i: int, member: Member) -> None:
        if i != self.rung:
            raise RuntimeError(
                f"bracket {self.bracket_id}: a result of round {i} while round {self.rung} runs"
            )
        self.rounds[i].append(member)
        self._advance()

    def _advance(self) -> None:
        """Open the next round while the current one is complete: keep what was promoted already, fill the rest
        with the best of this round not yet promoted (the efficient rule)."""
        while self.rung < self.n_rounds - 1 and self.is_complete(self.rung) and not self.todo:
            i = self.rung
            above = {m.root for m in self.rounds[i + 1]}
            open_ = sorted((m for m in self.rounds[i] if m.root not in above), key=lambda m: m.key)
            promoted = open_[: self.sizes[i + 1] - len(self.rounds[i + 1])]
            carried = {m.root for m in self.rounds[i][: self.carried[i]]}
            self.n_carried_promotions += sum(m.root in carried for m in promoted)
            self.todo = list(promoted)
            self.rung = i + 1


class IDHyperband(Optimizer):
    """Iterative deepening Hyperband, the efficient variant (module docstring).

    ``eta``, ``min_fidelity`` and ``sizing`` as :class:`~runners.optimizers.hyperband.Hyperband`.
    ``deepenings``: how many times the maximum budget is raised (by one rung, the factor eta) before it reaches
    the benchmark's maximum (None: start at the lowest rung, so every rung is the maximum once; clipped to the
    ladder). ``max_iterations``: Hyperband iterations in all, the deepening ones included (None: until the
    simulator's budget is spent; iterations after the last deepening are plain Hyperband at the maximum).
    """

    name = "id-hyperband"

    def __init__(
        self,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        sizing: Sizing = "li",
        deepenings: int | None = None,
        max_iterations: int | None = None,
        **kwargs: Any,
    ) -> None:
        if sizing not in SIZINGS:
            raise ValueError(f"sizing={sizing!r} is not one of {', '.join(SIZINGS)}")
        if deepenings is not None and (
            isinstance(deepenings, bool) or not isinstance(deepenings, int) or deepenings < 0
        ):
            raise ValueError(f"deepenings={deepenings!r} must be None or an integer >= 0")
        if max_iterations is not None and (
            isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 1
        ):
            raise ValueError(f"max_iterations={max_iterations!r} must be None or an integer >= 1")
        super().__init__(**kwargs)
        self.eta = check_eta(eta)
        self.sizing = sizing
        self.rungs = rung_ladder(self.fidelity, self.eta, min_fidelity)
        self.min_fidelity = self.rungs[0]
        top = len(self.rungs) - 1
        self.deepenings_asked = deepenings
        #: the deepenings this ladder allows: the first iteration's maximum is rungs[top - deepenings]
        self.deepenings = top if deepenings is None else min(deepenings, top)
        self.initial_max = self.rungs[top - self.deepenings]
        self.max_iterations = max_iterations
        #: per s_max, Hyperband's round sizes of its brackets, in the order s = s_max, ..., 0
        self._sizes: dict[int, list[tuple[int, ...]]] = {}
        self.active: list[DeepBracket] = []
        self.brackets: dict[int, DeepBracket] = {}
        #: (iteration, first rung) of the planned brackets not started yet, in plan order
        self.queue: list[tuple[int, int]] = []
        #: finished brackets a deeper iteration will continue, by (iteration, first rung)
        self.finished: dict[tuple[int, int], DeepBracket] = {}
        self.n_iterations = 0  # iterations planned
        self.n_brackets = 0
        self._order = 0
        self.n_carried = 0  #: results taken over by deeper brackets (never re-evaluated)
        self.n_carried_promotions = 0  #: continuations of configurations a previous iteration evaluated

    # -------------------------------------------------- the plan
    def top_rung(self, iteration: int) -> int:
        """The index in :attr:`rungs` of the maximum budget R of an iteration."""
        return min(len(self.rungs) - 1 - self.deepenings + iteration, len(self.rungs) - 1)

    def is_deepening(self, iteration: int) -> bool:
        """True when ``iteration`` raised R (it continues the previous iteration's brackets)."""
        return 1 <= iteration <= self.deepenings

    def bracket_plan(self, iteration: int, first_rung: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
        """Hyperband's round sizes and fidelities of the bracket of ``iteration`` that starts at ``first_rung``."""
        top = self.top_rung(iteration)
        if top not in self._sizes:
            self._sizes[top] = hyperband_brackets(top, self.eta, self.sizing)
        return self._sizes[top][first_rung], self.rungs[first_rung : top + 1]

    def _plan_iteration(self) -> bool:
        if self.max_iterations is not None and self.n_iterations >= self.max_iterations:
            return False
        t = self.n_iterations
        self.queue = [(t, m) for m in range(self.top_rung(t) + 1)]
        self.n_iterations += 1
        return True

    def _predecessor_key(self, iteration: int, first_rung: int) -> tuple[int, int] | None:
        if self.is_deepening(iteration) and first_rung <= self.top_rung(iteration - 1):
            return (iteration - 1, first_rung)
        return None

    def _start_bracket(self) -> DeepBracket | None:
        """Start the first planned bracket whose predecessor is done (planning the next iteration when every
        bracket of this one started); None when each waits for its predecessor or nothing is left."""
        if not self.queue and not self._plan_iteration():
            return None
        for j, (t, m) in enumerate(self.queue):
            key = self._predecessor_key(t, m)
            if key is not None and key not in self.finished:
                continue
            del self.queue[j]
            pred = self.finished.pop(key) if key is not None else None
            sizes, fids = self.bracket_plan(t, m)
            b = DeepBracket(self.n_brackets, t, m, sizes, fids, pred)
            self.n_brackets += 1
            self.n_carried += b.n_carried
            self.brackets[b.bracket_id] = b
            self.active.append(b)
            return b
        return None

    # -------------------------------------------------- ask/tell
    def _ask(self) -> Trial | None:
        while True:
            for b in self.active:
                if b.todo:
                    return self._trial(b)
            b = self._start_bracket()
            if b is None:
                return None
            if b.is_done:  # wholly pre-filled (never with Hyperband's sizes): nothing to run
                self._retire(b)

    def _trial(self, b: DeepBracket) -> Trial:
        i, member = b.take()
        fid = b.fidelities[i]
        info: Mapping[str, Any] = {"bracket": b.bracket_id, "iteration": b.iteration, "rung": i}
        if member is None:
            return self.new_trial(self.sampler.sample_one(self.rng, fid), fid, **info)
        return self.continue_trial(member.trial, fid, root=member.root, **info)

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        b = self.brackets[trial.info["bracket"]]
        root = trial.info.get("root", trial.trial_id)
        b.record(trial.info["rung"], Member(root, result.loss, self._order, trial))
        self._order += 1
        if b.is_done:
            self._retire(b)
        if self.max_iterations is not None and not self.active and not self.queue and not self.pending:
            self.done = self.n_iterations >= self.max_iterations

    def _retire(self, b: DeepBracket) -> None:
        self.active.remove(b)
        del self.brackets[b.bracket_id]
        self.n_carried_promotions += b.n_carried_promotions
        if self.is_deepening(b.iteration + 1):
            self.finished[(b.iteration, b.first_rung)] = b

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "eta": self.eta,
            "rungs": list(self.rungs),
            "sizing": self.sizing,
            "variant": "efficient",
            "deepenings": self.deepenings,
            "initial_max": self.initial_max,
            "max_iterations": self.max_iterations,
            "n_iterations": self.n_iterations,
            "n_brackets": self.n_brackets,
            "n_carried": self.n_carried,
            "n_carried_promotions": self.n_carried_promotions,
        }
