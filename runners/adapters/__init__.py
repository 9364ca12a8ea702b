"""Adapters that run external HPO libraries (Optuna, DEHB, SMAC3) as CurveBench optimizers.

Each library is an optional extra (``pip install 'curvebench[optuna]'``, ``[dehb]``,
``[smac]``); an adapter whose library is missing raises :class:`MissingExtraError`
naming the extra when it is built. Importing this package imports none of them.

``ADAPTERS`` maps short names to ``"module:Class"`` targets, resolved only when used.
"""

from __future__ import annotations

from ._common import Checkpoints, MissingExtraError, require

ADAPTERS: dict[str, str] = {
    "optuna-tpe": "runners.adapters.optuna_adapter:OptunaTPE",
    "optuna-sha": "runners.adapters.optuna_adapter:OptunaSHA",
    "optuna-hyperband": "runners.adapters.optuna_adapter:OptunaHyperband",
    "dehb-lib": "runners.adapters.dehb_adapter:DEHBLibrary",
    "smac-bo": "runners.adapters.smac_adapter:SMACBO",
    "smac-hyperband": "runners.adapters.smac_adapter:SMACHyperband",
}

__all__ = ["ADAPTERS", "Checkpoints", "MissingExtraError", "require"]
