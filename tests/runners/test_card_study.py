"""The optimizer-ranking part of the card: optimizers run on a table and on its surrogate."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.table import read_table
from benchmarks.tabular import TabularBenchmark
from runners.card_study import bootstrap_tau, ranking_agreement
from surrogates import benchmark as sb
from surrogates.benchmark import SurrogateBenchmark
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
    # the table against itself with other run seeds, and bootstrap intervals around both taus
    assert all(len(v) == 2 for v in rk["final_incumbents"]["table_other_seeds"].values())
    assert rk["final_incumbents"]["table_other_seeds"] != rk["final_incumbents"]["table"]
    for key in ("kendall_tau", "table_self_tau"):
        lo, hi = rk[f"{key}_interval"]
        assert -1.0 <= lo <= hi <= 1.0
    with pytest.raises(ValueError, match="unknown optimizer"):
        ranking_agreement(table, sur, optimizers=["rs", "nope"])


def test_bootstrap_tau_is_tight_when_seeds_agree_and_wide_when_they_do_not():
    rng = np.random.default_rng(0)
    means = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    clear = {o: list(m + 0.01 * rng.normal(size=5)) for o, m in means.items()}
    assert bootstrap_tau(clear, clear) == (
        1.0,
        1.0,
    )  # separated far beyond the seed noise: always the same order
    noisy = {o: list(m + 5.0 * rng.normal(size=5)) for o, m in means.items()}
    lo, hi = bootstrap_tau(noisy, noisy)
    assert lo < 0.5 and hi == 1.0  # noise of the order of the gaps: the order moves from resample to resample
