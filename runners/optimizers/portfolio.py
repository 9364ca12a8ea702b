"""The zero-shot portfolio: configurations that did best on the other datasets, in order (transfer baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.transfer import TransferSource, greedy_portfolio

from ..optimizer import Optimizer, TableExhausted, Trial, TrialResult

__all__ = ["Portfolio", "portfolio_order", "transfer_record"]


class Portfolio(Optimizer):
    """Evaluate the table's configurations at the maximum fidelity in the order of a greedy zero-shot portfolio
    built from the other datasets of its configuration set (:func:`benchmarks.transfer.greedy_portfolio`;
    Wistuba, Schilling and Schmidt-Thieme 2015, and the portfolio of Auto-sklearn 2.0, Feurer et al. 2022).

    Leave-one-dataset-out: the runner passes ``transfer``, the objective of every *other* dataset that holds the
    target's configurations (:func:`benchmarks.transfer.transfer_sources`); the target's own values are never
    seen. It learns nothing while it runs (zero-shot): after the portfolio it goes on down the same order, so
    a run that lasts ends like random search without replacement, having evaluated every configuration once.
    The sources (names and checksums) are recorded in the run's meta.json.
    """

    name = "portfolio"

    def __init__(self, *, transfer: Sequence[TransferSource] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sources = list(transfer or ())
        self.order = portfolio_order(self, self.sources)
        self._next = 0

    def _ask(self) -> Trial | None:
        configs = self.sampler.configurations
        if self._next >= len(self.order):
            raise TableExhausted(f"the portfolio went through all {len(self.order)} configurations")
        i = self.order[self._next]
        self._next += 1
        return self.new_trial(dict(configs[i]), self.fidelity.max)

    def _tell(self, trial: Trial, result: TrialResult) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "transfer": transfer_record(self.sources)}


def portfolio_order(opt: Optimizer, sources: Sequence[TransferSource]) -> list[int]:
    """The greedy portfolio of ``sources`` for ``opt``'s table (config ids); ValueError naming what is missing
    when there are no sources, no table, or sources that do not hold the table's configurations."""
    if not sources:
        raise ValueError(
            f"{opt.name} needs other datasets that hold this benchmark's configurations (a shared-configuration "
            "table such as lcbench-car, whose related tables benchmarks.transfer.related lists); none were given"
        )
    if not opt.sampler.is_finite:
        raise ValueError(f"{opt.name} runs on a table (a finite set of configurations), not on a surrogate")
    n = len(opt.sampler)
    bad = [s.name for s in sources if len(s.values) != n]
    if bad:
        raise ValueError(f"transfer sources {bad} do not hold this table's {n} configurations")
    return greedy_portfolio([s.values for s in sources], opt.objective.direction)


def transfer_record(sources: Sequence[TransferSource]) -> dict[str, Any]:
    """What a transfer method records in meta.json: the protocol, and each source with its checksum."""
    return {
        "protocol": "leave-one-dataset-out: the other datasets of the target's configuration set",
        "sources": {s.name: s.checksum for s in sources},
    }
