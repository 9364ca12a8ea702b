"""What the adapters share: optional imports with a clear error, scratch folders, resumable checkpoints."""

from __future__ import annotations

import importlib
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from ..optimizer import Optimizer, Trial


class MissingExtraError(ImportError):
    """An adapter's library is not installed."""


#: adapter module -> (the optional library it needs, the extra of the curvebench distribution that installs it)
LIBRARIES: dict[str, tuple[str, str]] = {
    "runners.adapters.optuna_adapter": ("optuna", "optuna"),
    "runners.adapters.dehb_adapter": ("dehb", "dehb"),
    "runners.adapters.smac_adapter": ("smac", "smac"),
}


def missing_library(target: str) -> str | None:
    """Why the optimizer class ``target`` (``module.Class`` or ``module:Class``) cannot be built here, or None.

    Only adapters need optional libraries; the check looks for the library
    without importing it.
    """
    import importlib.util

    module = target.replace(":", ".").rsplit(".", 1)[0]
    need = LIBRARIES.get(module)
    if need is None or importlib.util.find_spec(need[0]) is not None:
        return None
    return (
        f"needs the optional library {need[0]!r}, which is not installed: pip install 'curvebench[{need[1]}]'"
    )


def require(module: str, extra: str, adapter: str) -> ModuleType:
    """Import ``module`` or raise MissingExtraError telling which optional extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"the {adapter} adapter needs the optional library {module!r}, which is not installed "
            f"({e}); install it with: pip install 'curvebench[{extra}]'"
        ) from e


def scratch_dir(owner: object, prefix: str) -> str:
    """A new temporary folder for a library's own files, removed (with its contents) when ``owner`` is collected."""
    path = tempfile.mkdtemp(prefix=prefix)
    weakref.finalize(owner, shutil.rmtree, path, True)
    return path


def library_version(distribution: str) -> str:
    """``"NAME VERSION"`` of an installed distribution, for an adapter's ``describe()``."""
    from importlib.metadata import version

    return f"{distribution} {version(distribution)}"


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

    def trial_for(
        self,
        optimizer: Optimizer,
        config: Mapping[str, Any],
        fidelity: float,
        proposal: Mapping[str, Any] | None = None,
    ) -> Trial:
        """A trial of ``optimizer`` training ``config`` to ``fidelity``: continuing a checkpoint (:meth:`take`)
        when there is one, else from scratch.

        From scratch on a table, the configuration is ``sampler.project(proposal or config, fidelity)``: the
        nearest held one not yet trained to ``fidelity`` in the run, so the trial is no repeat. The adapter
        must then tell its library ``trial.config`` (what was evaluated), not its proposal.
        """
        prev = self.take(config, fidelity)
        if prev is not None:
            return optimizer.continue_trial(prev, fidelity)
        sampler = optimizer.sampler
        if sampler.is_finite:
            config = sampler.project(config if proposal is None else proposal, fidelity)
        return optimizer.new_trial(config, fidelity)
