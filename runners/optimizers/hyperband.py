"""Successive halving and Hyperband on the shared bracket logic, and the base class BOHB and top-K reuse.

Both are synchronous within a bracket and asynchronous across brackets: a
bracket's next round starts when its round's results are in, and while it
waits the next bracket starts (hpbandster's behaviour). Promotions continue
the earlier trial, so only the extra fidelity is paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..optimizer import Optimizer, TableExhausted, Trial, TrialResult
from .brackets import (
    SIZINGS,
    BracketScheduler,
    Sizing,
    SyncBracket,
    hyperband_brackets,
    rung_ladder,
    successive_halving_sizes,
)

__all__ = ["BracketOptimizer", "Hyperband", "SuccessiveHalving"]


class BracketOptimizer(Optimizer):
    """Base of the optimizers that run synchronous successive-halving brackets.

    Subclasses define :meth:`plan` (sizes and fidelities of the k-th bracket)
    and may override :meth:`new_config` (how a configuration for a bracket's
    first round is chosen; default: the sampler, uniformly) and :meth:`observe`
    (learn from a result). ``max_brackets=None`` runs brackets until the
    simulator's budget is spent; otherwise the optimizer is done after that many.
    """

    name = "brackets"

    def __init__(
        self,
        *,
        eta: float = 3,
        min_fidelity: float | None = None,
        max_brackets: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rungs = rung_ladder(self.fidelity, eta, min_fidelity)
        self.eta = float(eta)
        self.min_fidelity = self.rungs[0]
        self.scheduler = BracketScheduler(self.plan, max_brackets)
        self.max_brackets = max_brackets

    # -------------------------------------------------- to override
    def plan(self, k: int) -> tuple[Sequence[int], Sequence[float]]:
        """(round sizes, round fidelities) of the k-th bracket (k = 0, 1, ...)."""
        raise NotImplementedError

    def new_config(self, bracket: SyncBracket, fidelity: float) -> dict[str, Any]:
        """A configuration for the first round of ``bracket`` (default: uniform from the sampler).

        On a table: one not yet trained to ``fidelity`` in this run (never evaluated, when one is left).
        """
        return self.sampler.sample_one(self.rng, fidelity)

    def observe(self, trial: Trial, result: TrialResult) -> None:
        """Learn from a finished trial (default: nothing)."""

    # -------------------------------------------------- ask/tell
    def _next_slot(self) -> tuple[SyncBracket, int, int, float] | None:
        """The scheduler's next (bracket, rung, index in the rung) and the rung's fidelity; None: wait."""
        slot = self.scheduler.next_slot()
        if slot is None:
            return None
        bracket, rung, index = slot
        return bracket, rung, index, bracket.fidelities[rung]

    def _ask(self) -> Trial | None:
        slot = self._next_slot()
        if slot is None:
            return None
        bracket, rung, index, fid = slot
        info = {"bracket": bracket.bracket_id, "rung": rung}
        if rung == 0:
            try:
                config = self.new_config(bracket, fid)
            except TableExhausted:
                # a finite table has no new configuration left: the bracket promotes what it started (the slot
                # taken for this one would otherwise wait forever), and no new bracket starts
                self.exhausted = True
                self.scheduler.exhausted(bracket, self.eta)
                if self.scheduler.finished and not self.pending:
                    self.done = True
                return self._ask()  # a promotion this opened, or None: wait
            return self.new_trial(config, fid, **info)
        return self.continue_trial(bracket.promotion(rung, index).trial, fid, **info)

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        self.scheduler.record(trial.info["bracket"], trial.info["rung"], trial, result.loss)
        self.observe(trial, result)
        if self.scheduler.finished and not self.pending:
            self.done = True

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "eta": self.eta,
            "rungs": list(self.rungs),
            "max_brackets": self.max_brackets,
        }


class SuccessiveHalving(BracketOptimizer):
    """Successive halving (Jamieson & Talwalkar 2016; Karnin et al. 2013), repeated bracket after bracket.

    Each bracket starts ``n_configs`` configurations (default ``eta**(rungs - 1)``,
    so that exactly one reaches the maximum) at the lowest rung and keeps the
    best ``floor(n / eta)`` at each next rung, up to the maximum fidelity.
    """

    name = "sh"

    def __init__(self, *, n_configs: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        n_rounds = len(self.rungs)
        n = round(self.eta ** (n_rounds - 1)) if n_configs is None else n_configs
        self.sizes = successive_halving_sizes(n, n_rounds, self.eta)
        self.n_configs = self.sizes[0]

    def plan(self, k: int) -> tuple[Sequence[int], Sequence[float]]:
        return self.sizes, self.rungs

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "sizes": list(self.sizes)}


class Hyperband(BracketOptimizer):
    """Hyperband (Li et al., JMLR 2018, Algorithm 1), cycling through brackets s = s_max, ..., 0.

    ``s_max + 1`` is the number of rungs of the ladder (``floor(log_eta(max/min)) + 1``
    unless rounding to held fidelities merged rungs). Bracket s runs on the top
    ``s + 1`` rungs with the sizes of :func:`~runners.optimizers.brackets.hyperband_brackets`
    (``sizing="li"`` by default; ``"hpbandster"`` for BOHB's and DEHB's reference sizes).
    """

    name = "hyperband"

    def __init__(self, *, sizing: Sizing = "li", **kwargs: Any) -> None:
        if sizing not in SIZINGS:
            raise ValueError(f"sizing={sizing!r} is not one of {', '.join(SIZINGS)}")
        super().__init__(**kwargs)
        self.sizing = sizing
        self.s_max = len(self.rungs) - 1
        self.bracket_sizes = hyperband_brackets(self.s_max, self.eta, sizing)

    def bracket_s(self, k: int) -> int:
        """The s of the k-th bracket: s_max, s_max - 1, ..., 0, then again."""
        return self.s_max - k % (self.s_max + 1)

    def plan(self, k: int) -> tuple[Sequence[int], Sequence[float]]:
        s = self.bracket_s(k)
        return self.bracket_sizes[self.s_max - s], self.rungs[self.s_max - s :]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "sizing": self.sizing,
            "brackets": [list(b) for b in self.bracket_sizes],
        }
