"""Objectives as a list: derived metrics, checked names, parameter counts, the hypervolume normalization."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import catalog
from benchmarks.architectures import funnel, lcbench_layers, mlp_params
from benchmarks.objectives import (
    COST,
    INFER_COST,
    N_PARAMS,
    architecture_of,
    derived_metrics,
    inference_cost_of,
    objective_columns,
    objective_metrics,
    reference_bounds,
)
from benchmarks.protocol import MetricError

GENERATED = [n for n in catalog.SHIPPED_NAMES if n.startswith(("lcbench-", "fcnet-"))]


@pytest.mark.parametrize("name", GENERATED)
def test_parameter_counts_equal_those_the_training_pipeline_recorded(name):
    """The pipeline records each calibration run's trainable parameter count, counted on the torch model it
    trained (data/costmodel.py): n_params from the configuration and the table's sizes must equal it."""
    bench = catalog.load(name)
    arch = architecture_of(bench)
    assert arch is not None and arch.family == bench.provenance["family"]
    runs = bench.provenance["cost_model"]["calibration_runs"]
    assert len(runs) >= 8
    for r in runs:
        assert arch.n_params(bench.config(int(r["config_id"]))) == r["params"], r


def test_lcbench_layers_follow_the_funnel():
    cfg = {"num_layers": 3, "max_units": 100}
    assert lcbench_layers(cfg, 10, 2) == [10, 100, 51, 2]
    assert funnel(10, 2, 100, 3) == [100, 51, 2]
    assert mlp_params([10, 100, 51, 2]) == 11 * 100 + 101 * 51 + 52 * 2
    assert lcbench_layers({"num_layers": 1, "max_units": 100}, 10, 2) == [10, 2]  # a linear model


def test_derived_metrics_and_where_n_params_exists():
    assert set(derived_metrics(catalog.load("lcbench-car"))) == {COST, N_PARAMS, INFER_COST}
    assert set(derived_metrics(catalog.load("lcbench-kr_vs_kp"))) == {COST, N_PARAMS}  # merged before timing
    assert set(derived_metrics(catalog.load("fcnet-naval-surrogate"))) == {COST, N_PARAMS}
    assert set(derived_metrics(catalog.load("lcbench-kr_vs_kp-datasize"))) == {COST, N_PARAMS}
    pub = catalog.load("pub-fcnet-naval")
    assert set(derived_metrics(pub)) == {COST}
    with pytest.raises(
        MetricError, match="'n_params' is not available for pub-fcnet-naval.*allowed: valid_mse, cost"
    ):
        objective_metrics(pub, ["valid_mse", "n_params"])


def test_a_surrogate_counts_the_parameters_of_its_table():
    table, sur = catalog.load("lcbench-car"), catalog.load("lcbench-car-surrogate")
    cfg = table.config(7)
    assert architecture_of(sur).n_params(cfg) == architecture_of(table).n_params(cfg)


#: a shipped table merged with inference timings (data/inference.py)
TIMED = "lcbench-mnist_5k"


def test_infer_cost_is_the_measured_column_on_a_timed_table_and_absent_elsewhere():
    b = catalog.load(TIMED)
    assert set(derived_metrics(b)) == {COST, N_PARAMS, INFER_COST}
    measured = b.configs_frame["infer_seconds"].to_numpy()
    cfgs = [b.config(i) for i in (0, 7, 123)]
    ms = objective_metrics(b, ["objective", "infer_cost"])
    got = objective_columns(b, ms, {b.objective: np.zeros(3)}, np.zeros(3), configs=cfgs)
    np.testing.assert_array_equal(got[:, 1], measured[[0, 7, 123]])
    # tables merged before the pipeline timed inference do not offer it, and say why
    with pytest.raises(
        MetricError, match="'infer_cost' is not available for lcbench-kr_vs_kp: its table records no"
    ):
        objective_metrics(catalog.load("lcbench-kr_vs_kp"), ["objective", "infer_cost"])


def test_infer_cost_of_an_unheld_configuration_is_a_size_model_of_the_timings():
    """A configuration the table does not hold (a surrogate's) gets the non-negative least-squares model of
    the measurements on [1, layers, multiply-accumulates]: close to the measurement of a held configuration
    of the same network, and growing with the network."""
    b = catalog.load(TIMED)
    infer = inference_cost_of(b)
    assert infer.fit_error < 0.15 and (infer.coef >= 0).all()
    measured = b.configs_frame["infer_seconds"].to_numpy()
    i = int(np.argsort(measured)[len(measured) // 2])
    held = b.config(i)
    unheld = {**held, "learning_rate": held["learning_rate"] * 1.0001}  # the same network, not a table row
    model = infer([unheld])[0]
    assert model != measured[i] and model == pytest.approx(measured[i], rel=0.5)
    small, big = ({**held, "num_layers": 1}, {**held, "num_layers": 5, "max_units": 1024})
    assert 0 < infer([small])[0] < model < infer([big])[0]


def test_objective_lists_are_checked_and_name_what_is_allowed():
    b = catalog.load("lcbench-car")
    ms = objective_metrics(b, ["objective", "cost", "n_params"])
    assert [m.name for m in ms] == ["valid_cross_entropy", "cost", "n_params"]
    assert all(m.direction == "minimize" and m.lower == 0 for m in ms)
    assert objective_metrics(b, ["valid_accuracy"])[0].direction == "maximize"
    with pytest.raises(MetricError, match="test metric.*allowed: train_cross_entropy"):
        objective_metrics(b, ["test_cross_entropy", "cost"])
    with pytest.raises(MetricError, match="unknown objective 'valid_mse' for lcbench-car; allowed:"):
        objective_metrics(b, ["valid_mse", "cost"])
    with pytest.raises(MetricError, match="twice"):
        objective_metrics(b, ["cost", "cost"])
    with pytest.raises(MetricError, match="1 to 4"):
        objective_metrics(b, [])
    with pytest.raises(MetricError, match="list of metric names"):
        objective_metrics(b, "cost")


def test_reference_bounds_are_the_best_and_the_median_at_the_maximum_fidelity():
    b = catalog.load("lcbench-car")
    ms = objective_metrics(b, ["valid_accuracy", "cost", "n_params"])
    best, ref = reference_bounds(b, ms)
    acc, _ = b.values_at("valid_accuracy")
    acc = -acc[np.isfinite(acc)]  # maximized: lower-is-better form
    assert best[0] == pytest.approx(acc.min()) and ref[0] == pytest.approx(np.median(acc))
    cost = b.query_batch(b.configurations(), fidelities=b.fidelity.max, seeds=b.default_seed).cost
    assert best[1] == pytest.approx(np.min(cost)) and ref[1] == pytest.approx(np.median(cost))
    arch = architecture_of(b)
    params = [arch.n_params(c) for c in b.configurations()]
    assert best[2] == min(params) and ref[2] == np.median(params)
    assert np.all(best < ref)
