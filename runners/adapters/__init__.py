"""Adapters that run external HPO libraries (Optuna, DEHB, SMAC3) as CurveBench optimizers.

Each library is an optional extra (``pip install 'curvebench[optuna]'``, ``[dehb]``,
``[smac]``); an adapter whose library is missing raises :class:`MissingExtraError`
naming the extra when it is built. Importing this package imports none of them.

Their names (``optimizer=optuna-tpe``) are registered once, in runners/conf/optimizer
(:mod:`runners.registry`).
"""

from __future__ import annotations

from ._common import Checkpoints, MissingExtraError, require

__all__ = ["Checkpoints", "MissingExtraError", "require"]
