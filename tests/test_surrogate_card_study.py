"""The optimizer-ranking part of the card: optimizers run on a table and on its surrogate."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.table import read_table
from benchmarks.tabular import TabularBenchmark
from surrogates import benchmark as sb
from surrogates.benchmark import SurrogateBenchmark
from surrogates.card_study import ranking_agreement
from surrogates.surrogate import CurveSurrogate
from surrogates.synthetic import synthetic_table


def test_ranking_agreement_runs_every_optimizer_on_both(tmp_path, monkeypatch):
    monkeypatch.setattr(sb, "OPTIMUM_SAMPLES", 2000)
    path = synthetic_table(tmp_path / "t", n_configs=60, n_seeds=2, n_epochs=9)
    table = TabularBenchmark.from_path(path)
    sur = SurrogateBenchmark(CurveSurrogate(model="knn").fit(read_table(path)))
    opts = ["rs", "hyperband", "asha", "re"]
    rk = ranking_agreement(table, sur, optimizers=opts, n_seeds=2, n_workers=2, budget=4)
    assert rk["optimizers"] == opts and rk["n_seeds"] == 2
    assert -1.0 <= rk["kendall_tau"] <= 1.0
    for side in ("table", "surrogate"):
        assert set(rk[side]) == set(opts)
        assert all(np.isfinite(v) and v >= -1e-9 for v in rk[side].values())  # regret against the optimum
        assert all(len(v) == 2 for v in rk["final_incumbents"][side].values())
    with pytest.raises(ValueError, match="unknown optimizer"):
        ranking_agreement(table, sur, optimizers=["rs", "nope"])
