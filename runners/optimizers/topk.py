"""The one-epoch top-K baseline (Egele et al., "Is One Epoch All You Need For Multi-Fidelity HPO?", 2023)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .hyperband import BracketOptimizer

__all__ = ["TopK"]


class TopK(BracketOptimizer):
    """Train every sampled configuration to the minimum fidelity, then the best ``k`` to the maximum.

    The paper trains every configuration for one epoch, keeps the best K = 3 by
    validation and trains those to the maximum budget. It leaves open how many
    configurations are sampled; here the run proceeds in rounds, each a
    two-round bracket of the shared bracket logic: ``n_configs`` configurations
    at ``min_fidelity`` (default: the smallest held fidelity, one epoch on the
    shipped tables), then the best ``k`` continued to the maximum fidelity
    (paying only the increment). ``n_configs`` defaults to ``round(max / min)``,
    so that a round's low-fidelity phase costs about one full training and the
    whole round about ``k + 1`` full trainings. Rounds repeat until the budget
    is spent (or ``max_rounds``); while a round waits for its low-fidelity
    results, the next round starts.

    With one fidelity (``min_fidelity`` equal to the maximum) there is nothing
    to select at a lower cost: each round is ``n_configs`` configurations
    (default ``k + 1``) at that fidelity, i.e. random search in rounds.
    """

    name = "topk"

    def __init__(
        self,
        *,
        k: int = 3,
        n_configs: int | None = None,
        min_fidelity: float | None = None,
        max_rounds: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(min_fidelity=min_fidelity, max_brackets=max_rounds, **kwargs)
        self.min_fidelity = self.fidelity.min if min_fidelity is None else self.fidelity.check(min_fidelity)
        #: one fidelity: no cheap selection phase; rounds of configurations at the maximum (random search)
        self.single_fidelity = not self.min_fidelity < self.fidelity.max
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k={k!r} must be an integer >= 1")
        if n_configs is None:
            n_configs = (
                max(k + 1, round(self.fidelity.max / self.min_fidelity)) if self.min_fidelity > 0 else 100
            )
        if isinstance(n_configs, bool) or not isinstance(n_configs, int) or n_configs <= k:
            raise ValueError(f"n_configs={n_configs!r} must be an integer > k={k}")
        self.k = k
        self.n_configs = n_configs

    def plan(self, k: int) -> tuple[Sequence[int], Sequence[float]]:
        if self.single_fidelity:
            return (self.n_configs,), (self.fidelity.max,)
        return (self.n_configs, self.k), (self.min_fidelity, self.fidelity.max)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        for key in ("eta", "rungs", "max_brackets"):
            d.pop(key, None)
        return {
            **d,
            "k": self.k,
            "n_configs": self.n_configs,
            "min_fidelity": self.min_fidelity,
            "max_rounds": self.max_brackets,
            "single_fidelity": self.single_fidelity,
        }
