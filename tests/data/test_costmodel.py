"""The cost model: it recovers a known linear cost, reports its error, and picks a spread of calibration runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data import costmodel
from data.costmodel import Workload


def _workloads(n: int, seed: int = 0) -> list[Workload]:
    rng = np.random.default_rng(seed)
    return [
        Workload(
            steps=int(rng.integers(1, 900)),
            layers=int(rng.integers(1, 5)),
            params=int(rng.integers(50, 300_000)),
            macs=int(rng.integers(50, 300_000)),
            train_rows=7160,
            eval_rows=11934,
        )
        for _ in range(n)
    ]


def test_fit_recovers_a_known_cost_and_reports_small_error():
    true = np.array([2e-3, 5e-5, 2e-9, 4e-10, 1e-10])
    w = _workloads(16)
    seconds = [float(x.features() @ true) for x in w]
    model = costmodel.fit(w, seconds)
    assert model["loo_relative_error_max"] < 1e-3
    test = _workloads(5, seed=1)
    np.testing.assert_allclose(costmodel.predict(model, test), [x.features() @ true for x in test], rtol=1e-3)


def test_fit_reports_noise_as_error():
    true = np.array([2e-3, 5e-5, 2e-9, 4e-10, 1e-10])
    w = _workloads(16)
    noise = np.random.default_rng(2).uniform(0.7, 1.3, 16)
    model = costmodel.fit(w, [float(x.features() @ true) * e for x, e in zip(w, noise)])
    assert 0.01 < model["loo_relative_error_median"] < 0.5
    assert all(c >= 0 for c in model["coefficients"])


def test_fit_refuses_non_positive_timings():
    with pytest.raises(ValueError, match="positive"):
        costmodel.fit(_workloads(3), [0.1, 0.0, 0.2])


def test_calibration_picks_spread_over_batch_size_and_size():
    w = _workloads(200)
    picks = costmodel.pick_calibration(pd.DataFrame(index=range(200)), w, 16)
    assert 12 <= len(picks) <= 16 and len(set(picks)) == len(picks)
    steps = np.array([w[i].steps for i in picks])
    macs = np.array([w[i].macs for i in picks])
    all_steps = np.array([x.steps for x in w])
    assert steps.min() <= np.quantile(all_steps, 0.1) and steps.max() >= np.quantile(all_steps, 0.9)
    assert macs.max() / macs.min() > 10
