"""Built-in optimizers. Each is an :class:`runners.optimizer.Optimizer`; see docs/optimizers.md.

Their names (``optimizer=asha``) and hyperparameters are registered once, in the YAML files of
runners/conf/optimizer; :data:`runners.registry.OPTIMIZERS` gives them as factories.
"""

from __future__ import annotations

from ..optimizer import RandomSearch
from .asha import ASHA
from .bohb import BOHB
from .dehb import DEHB
from .evolution import RegularizedEvolution
from .hyperband import BracketOptimizer, Hyperband, SuccessiveHalving
from .topk import TopK

__all__ = [
    "ASHA",
    "BOHB",
    "DEHB",
    "BracketOptimizer",
    "Hyperband",
    "RandomSearch",
    "RegularizedEvolution",
    "SuccessiveHalving",
    "TopK",
]
