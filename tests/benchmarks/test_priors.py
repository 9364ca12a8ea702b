"""benchmarks.priors: four priors per benchmark at documented strengths, their measured quality, their sampling."""

from __future__ import annotations

import numpy as np
import pytest
from ConfigSpace import Configuration
from ConfigSpace.hyperparameters import UniformIntegerHyperparameter

from benchmarks import catalog
from benchmarks.__main__ import main as benchmarks_main
from benchmarks.priors import STRENGTHS, priors


@pytest.mark.parametrize("name", ["lcbench-car", "fcnet-naval", "lcbench-car-surrogate"])
def test_each_prior_sits_at_its_documented_rank_and_says_how_good_it_is(name):
    b = catalog.load(name)
    ps = priors(b)
    assert list(ps) == list(STRENGTHS)
    vals, _ = b.values_at(b.objective)
    n = len(vals)
    for strength, p in ps.items():
        assert abs(p.percentile - STRENGTHS[strength][0]) <= 1.0 / (n - 1) + 1e-12, (strength, p.percentile)
        assert p.spread == STRENGTHS[strength][1]
        Configuration(b.space, values=p.mode)  # a valid configuration of the space
        if b.configurations() is not None:
            assert p.mode in b.configurations()
    regrets = [ps[s].regret for s in ("good", "medium", "bad", "misleading")]
    assert (
        regrets == sorted(regrets) and regrets[0] < 1 < regrets[-1]
    )  # the median configuration has regret 1
    again = priors(catalog.load(name, cache=False))
    assert {k: p.describe() for k, p in again.items()} == {k: p.describe() for k, p in ps.items()}


def test_draws_stay_in_the_space_and_concentrate_by_the_spread():
    b = catalog.load("fcnet-naval")
    ps = priors(b)
    rng = np.random.default_rng(0)
    for p in ps.values():
        for c in p.sample(200, rng):
            Configuration(b.space, values=c)
    n = 4000
    cat = "lr_schedule"  # categorical: the mode kept with probability 1 - spread (+ spread / 2 by the uniform draw)
    for s in ("good", "misleading"):
        p = ps[s]
        kept = np.mean([c[cat] == p.mode[cat] for c in p.sample(n, np.random.default_rng(1))])
        want = 1 - p.spread + p.spread / len(b.space[cat].choices)
        assert abs(kept - want) < 4 * np.sqrt(want * (1 - want) / n), (s, kept, want)
    seq = list(b.space["n_units_1"].sequence)

    def spread_of(p):  # mean distance from the mode, in positions of the ordinal
        return np.mean(
            [abs(seq.index(c["n_units_1"]) - seq.index(p.mode["n_units_1"])) for c in p.sample(n, rng)]
        )

    assert spread_of(ps["misleading"]) < spread_of(ps["good"]) < spread_of(ps["medium"]) + 0.2
    assert priors(b)["good"].sample(5, np.random.default_rng(3)) == priors(b)["good"].sample(
        5, np.random.default_rng(3)
    )
    with pytest.raises(ValueError, match="n=-1"):
        ps["good"].sample(-1, rng)


@pytest.mark.parametrize(
    ("name", "strength", "hp"),
    [
        ("lcbench-car", "medium", "num_layers"),
        ("fcnet-naval", "good", "batch_size"),
        ("fcnet-naval", "good", "dropout_1"),
        ("lcbench-car", "good", "batch_size"),
    ],
)
def test_a_discrete_values_density_is_how_often_the_prior_draws_it(name, strength, hp):
    # piBO weights by log_density: it must be the distribution sample draws from (up to one constant), and the
    # mode, even at an end of the range, is the value drawn most (each value has a bin of one width)
    b = catalog.load(name)
    p = priors(b)[strength]
    n = 100_000
    draws = [c[hp] for c in p.sample(n, np.random.default_rng(5))]
    values, counts = np.unique(draws, return_counts=True)
    freq = counts / n
    if not isinstance(b.space[hp], UniformIntegerHyperparameter) or not b.space[hp].log:
        assert values[np.argmax(freq)] == p.mode[hp]  # (on a log scale a smaller value's bin is wider)
    dens = p.log_density([{**p.mode, hp: v.item()} for v in values])
    common = counts >= max(
        0.05 * counts.max(), 1000
    )  # the values drawn often enough to measure their frequency
    assert common.sum() >= 2
    want = np.log(freq[common] / freq[common].max())
    got = dens[common] - dens[common].max()
    np.testing.assert_allclose(got, want, atol=0.12)


def test_the_command_line_prints_every_prior_with_its_quality(capsys):
    assert benchmarks_main(["priors", "name=lcbench-car"]) == 0
    out = capsys.readouterr().out
    assert all(s in out for s in STRENGTHS) and "percentile" in out and "regret" in out
    assert benchmarks_main(["priors", "name=lcbench-cat"]) == 2
    assert "unknown benchmark 'lcbench-cat'" in capsys.readouterr().err
