"""A sweep's plan: the configurations stored in plan.json are the ones it trains, resumed on any machine."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.sampling import same_configuration
from data.shards import Plan, SweepStateError, load_or_write_plan


def _plan(lr: list[float], units: list[int]) -> Plan:
    configs = pd.DataFrame({"learning_rate": lr, "max_units": units})
    return Plan({"family": "lcbench", "n_configs": len(lr)}, configs, [[[(i, 0)] for i in range(len(lr))]])


def test_a_float_a_few_ulps_apart_is_the_same_draw_and_anything_more_is_not():
    x = 0.009058304112498486  # a learning rate numpy's exp gives one ulp apart on two CPUs
    near = float(np.nextafter(np.nextafter(x, 1.0), 1.0))
    assert near != x and same_configuration({"lr": x, "n": 3}, {"lr": near, "n": 3})
    assert not same_configuration({"lr": x, "n": 3}, {"lr": x * (1 + 1e-9), "n": 3})
    assert not same_configuration({"lr": x, "n": 3}, {"lr": x, "n": 4})  # integers exactly
    assert not same_configuration({"lr": x}, {"lr": x, "n": 3})  # the same names
    assert not same_configuration({"c": "a"}, {"c": "b"})
    # an inactive hyperparameter (NaN) on both sides is the same; NaN against a value is not
    assert same_configuration({"lr": x, "units": float("nan")}, {"lr": x, "units": float("nan")})
    assert not same_configuration({"units": float("nan")}, {"units": 64.0})
    # small magnitudes are compared relatively, not against an absolute tolerance
    assert not same_configuration({"wd": 1e-8}, {"wd": 1e-8 * (1 + 1e-9)})


def test_a_plan_resampled_up_to_round_off_resumes_with_the_stored_configurations(tmp_path):
    stored = _plan([1e-3, 0.009058304112498486, 0.1], [64, 128, 256])
    load_or_write_plan(tmp_path, stored)
    resampled = _plan([1e-3, float(np.nextafter(0.009058304112498486, 1.0)), 0.1], [64, 128, 256])
    got = load_or_write_plan(tmp_path, resampled)
    on_disk = json.loads((tmp_path / "plan.json").read_text())["configs"]
    assert got.configs.to_dict(orient="records") == on_disk  # the stored draw is trained, bit for bit
    assert on_disk[1]["learning_rate"] == 0.009058304112498486


def test_a_plan_with_inactive_hyperparameters_resumes(tmp_path):
    plan = _plan([1e-3, 0.0091, float("nan")], [64, 128, 256])
    load_or_write_plan(tmp_path, plan)
    assert load_or_write_plan(tmp_path, _plan([1e-3, 0.0091, float("nan")], [64, 128, 256])).n_runs == 3


@pytest.mark.parametrize(
    "lr, units, where",
    [([1e-3, 0.0091, 0.1], [64, 128, 256], 1), ([1e-3, 0.009058304112498486, 0.1], [64, 128, 512], 2)],
)
def test_a_plan_sampled_otherwise_is_refused_naming_the_first_config(tmp_path, lr, units, where):
    load_or_write_plan(tmp_path, _plan([1e-3, 0.009058304112498486, 0.1], [64, 128, 256]))
    with pytest.raises(SweepStateError, match=f"first at config_id {where}, beyond floating-point round-off"):
        load_or_write_plan(tmp_path, _plan(lr, units))
