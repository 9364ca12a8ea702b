"""What the adapters share: optional imports with a clear error, and resumable checkpoints."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from ..optimizer import Trial


class MissingExtraError(ImportError):
    """An adapter's library is not installed."""


def require(module: str, extra: str, adapter: str) -> ModuleType:
    """Import ``module`` or raise MissingExtraError telling which optional extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"the {adapter} adapter needs the optional library {module!r}, which is not installed "
            f"({e}); install it with: pip install 'curvebench[{extra}]'"
        ) from e


def config_key(config: Mapping[str, Any]) -> tuple:
    """A hashable key of a configuration (its items, sorted by name)."""
    return tuple(sorted(config.items()))


class Checkpoints:
    """Finished trials that can still be continued, by configuration.

    External libraries ask for a configuration at a fidelity without saying that
    it continues an earlier run. When the same configuration finished at a lower
    fidelity and that trial was not continued yet, :meth:`take` returns it, so
    the adapter continues it and pays only the increment (as a library with
    checkpointing would).
    """

    def __init__(self) -> None:
        self._by_key: dict[tuple, list[Trial]] = {}

    def add(self, trial: Trial) -> None:
        self._by_key.setdefault(config_key(trial.config), []).append(trial)

    def take(self, config: Mapping[str, Any], fidelity: float) -> Trial | None:
        """The finished, not yet continued trial of ``config`` with the highest fidelity below ``fidelity``."""
        trials = self._by_key.get(config_key(config))
        if not trials:
            return None
        below = [t for t in trials if t.fidelity < fidelity]
        if not below:
            return None
        best = max(below, key=lambda t: (t.fidelity, -t.trial_id))
        trials.remove(best)
        return best
