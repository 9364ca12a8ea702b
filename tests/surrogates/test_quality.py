"""Quality cards: split by configuration, statistics beside the seed ceiling, JSON and Markdown."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.table import read_table
from surrogates.quality import (
    _stats,
    card_fidelity_indices,
    fold_configs,
    quality_card,
    split_configs,
    write_card,
)
from surrogates.synthetic import synthetic_table


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return read_table(
        synthetic_table(tmp_path_factory.mktemp("q") / "t", n_configs=150, n_seeds=3, n_epochs=12)
    )


def test_split_is_by_configuration_and_reproducible():
    train, test = split_configs(100, 0.2, seed=3)
    assert len(test) == 20 and not set(train) & set(test) and set(train) | set(test) == set(range(100))
    again = split_configs(100, 0.2, seed=3)
    np.testing.assert_array_equal(test, again[1])
    assert not np.array_equal(test, split_configs(100, 0.2, seed=4)[1])
    with pytest.raises(ValueError, match="test_size=1.5"):
        split_configs(10, 1.5)


def test_folds_hold_out_every_configuration_once():
    folds = fold_configs(53, 5, seed=1)
    tests = np.concatenate([te for _, te in folds])
    assert len(folds) == 5 and sorted(tests) == list(range(53))
    for tr, te in folds:
        assert not set(tr) & set(te) and len(tr) + len(te) == 53
    np.testing.assert_array_equal(folds[0][1], fold_configs(53, 5, seed=1)[0][1])
    with pytest.raises(ValueError, match="n_folds=1"):
        fold_configs(10, 1)


def test_cross_validated_card_covers_every_configuration(table):
    card = quality_card(table, model="knn", n_folds=3)
    assert card["split"]["n_test_configs"] == 150 and card["split"]["n_folds"] == 3
    assert card["split"]["n_train_configs"] == 100
    final = card["metrics"][0]["by_fidelity"][-1]
    # the ceiling is over every configuration: the same number as the two real seeds of the whole table give
    y = table.metric_values("valid_loss")[:, :, -1]
    from scipy.stats import spearmanr

    pairs = [spearmanr(y[:, t], y[:, s])[0] for s in range(3) for t in range(3) if s != t]
    assert final["ceiling"]["spearman"] == pytest.approx(np.mean(pairs))
    assert final["surrogate"]["spearman"] > 0.7


def test_card_fidelities():
    assert card_fidelity_indices(1) == [0]
    assert card_fidelity_indices(100) == [0, 10, 25, 50, 99]


def test_statistics_are_right_on_known_cases():
    real = np.arange(1.0, 31.0)
    perfect = _stats(real, real, 1.0, np.log)
    assert perfect["spearman"] == pytest.approx(1) and perfect["r2"] == pytest.approx(1)
    assert perfect["top10_regret"] == 0
    reverse = _stats(-real, real, 1.0, lambda v: v)
    assert reverse["spearman"] == pytest.approx(-1) and reverse["kendall"] == pytest.approx(-1)
    # predicted best 10 are the real worst 10: regret is the gap between the 21st and the 1st value
    assert reverse["top10_regret"] == pytest.approx(20.0)
    # maximize: the sign flips the choice and keeps regret non-negative
    assert _stats(real, real, -1.0, lambda v: v)["top10_regret"] == 0
    assert _stats(-real, real, -1.0, lambda v: v)["top10_regret"] == pytest.approx(20.0)


def test_card_reports_surrogate_beside_ceiling(table, tmp_path):
    card = quality_card(
        table, model="xgboost", model_params={"n_estimators": 40}, n_folds=None, test_size=0.2
    )
    assert card["split"]["n_test_configs"] == 30 and card["split"]["n_train_configs"] == 120
    ev = {e["metric"]: e for e in card["metrics"]}
    assert set(ev) == {"valid_loss", "test_loss"}
    rows = ev["valid_loss"]["by_fidelity"]
    assert [r["fidelity"] for r in rows] == [1.0, 2.0, 4.0, 7.0, 12.0]
    final = rows[-1]
    for k in ("spearman", "kendall", "r2", "top10_regret"):
        assert np.isfinite(final["surrogate"][k]) and np.isfinite(final["ceiling"][k])
    assert final["surrogate"]["spearman"] > 0.8 and final["ceiling"]["spearman"] > 0.8
    assert card["target"]["spearman_final"] == final["surrogate"]["spearman"]
    assert card["target"]["passes"] == (
        final["surrogate"]["spearman"] >= 0.9
        and final["surrogate"]["spearman"] >= 0.95 * final["ceiling"]["spearman"]
    )
    assert 0.6 < ev["valid_loss"]["seed_noise"]["ratio"] < 1.6
    assert 0.6 < ev["valid_loss"]["seed_noise"]["median_ratio"] < 1.6
    assert card["cost"]["never_decreases"] and card["cost"]["spearman_total"] > 0.9
    j, m = write_card(card, tmp_path, "card")
    assert json.loads(j.read_text())["benchmark"] == "synthetic"
    md = m.read_text()
    assert "| 12 |" in md and ("PASS" in md or "FAIL" in md) and "Seed noise" in md


def test_one_seed_table_has_no_ceiling(tmp_path):
    t = read_table(synthetic_table(tmp_path / "one", n_configs=60, n_seeds=1, n_epochs=4))
    card = quality_card(t, model="knn")
    final = card["metrics"][0]["by_fidelity"][-1]
    assert np.isnan(final["ceiling"]["spearman"]) and card["metrics"][0]["seed_noise"] is None
    json.dumps(card)  # NaN are written as null by write_card; the dict itself is still plain data


def test_ensemble_card_reports_each_member_alone(table, tmp_path):
    params = {"members": ["knn", "gp"], "gp": {"n_restarts": 0}}
    card = quality_card(table, model="ensemble", model_params=params, n_folds=3)
    alone = card["members_alone"]
    assert set(alone) == {"knn", "gp"} and all(-1 <= v["spearman"] <= 1 for v in alone.values())
    # a member alone is scored like the ensemble: the knn member equals a knn surrogate on the same folds
    knn = quality_card(table, model="knn", n_folds=3)
    assert alone["knn"]["spearman"] == pytest.approx(knn["target"]["spearman_final"], abs=1e-9)
    _, md = write_card(card, tmp_path, "card")
    assert "Ensemble members alone" in md.read_text() and "| knn |" in md.read_text()
