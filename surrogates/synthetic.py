"""A synthetic learning-curve table with a realistic structure, for tests, demos and timings.

The ``"mlp"`` preset of :mod:`benchmarks.synthetic` (power-law curves towards a floor set by the
configuration, seed noise smooth along the curve, a cost that grows with width): nothing here is real
data, only a stand-in with the shapes a surrogate must reproduce.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.spaces import synthetic_mlp_space as synthetic_space
from benchmarks.synthetic import write_synthetic_table

__all__ = ["synthetic_space", "synthetic_table"]


def synthetic_table(
    path: str | Path,
    *,
    n_configs: int = 200,
    n_seeds: int = 3,
    n_epochs: int = 20,
    seed: int = 0,
    noise: float = 0.03,
    name: str = "synthetic",
    overwrite: bool = False,
) -> Path:
    """Write a synthetic table of ``n_configs`` random configurations x ``n_seeds`` x ``n_epochs`` and return its path.

    Metrics: ``valid_loss`` (objective), ``test_loss``, ``train_loss``, all
    minimized and non-negative, and ``valid_acc`` in [0, 1], maximized.
    """
    return write_synthetic_table(
        path,
        "mlp",
        n_configs=n_configs,
        seeds=n_seeds,
        fidelities=n_epochs,
        seed=seed,
        name=name,
        overwrite=overwrite,
        noise=noise,
    )
