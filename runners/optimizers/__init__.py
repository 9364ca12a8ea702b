"""Built-in optimizers. Each is an :class:`runners.optimizer.Optimizer`; see docs/optimizers.md.

``OPTIMIZERS`` maps the short names used in configs and results to the classes
(an explicit dict: nothing registers itself at import).
"""

from __future__ import annotations

from ..optimizer import Optimizer, RandomSearch
from .asha import ASHA
from .bohb import BOHB
from .dehb import DEHB
from .evolution import RegularizedEvolution
from .hyperband import BracketOptimizer, Hyperband, SuccessiveHalving
from .topk import TopK

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "rs": RandomSearch,
    "sh": SuccessiveHalving,
    "hyperband": Hyperband,
    "asha": ASHA,
    "bohb": BOHB,
    "dehb": DEHB,
    "re": RegularizedEvolution,
    "topk": TopK,
}

__all__ = [
    "ASHA",
    "BOHB",
    "DEHB",
    "OPTIMIZERS",
    "BracketOptimizer",
    "Hyperband",
    "RandomSearch",
    "RegularizedEvolution",
    "SuccessiveHalving",
    "TopK",
]
