"""benchmarks.sampling: the protocol's uniform sample of a space is the optimizers' (the same draws, the same
values)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.sampling import sample_configurations
from runners.optimizer import ConfigSampler
from runners.testing import lcbench_like_space, toy_space


@pytest.mark.parametrize("make_space", [toy_space, lcbench_like_space])
@pytest.mark.parametrize("n", [0, 1, 2, 50])
def test_the_same_configurations_as_an_optimizer_s_sampler(make_space, n):
    space = make_space()
    before = space.to_serialized_dict()
    ours = sample_configurations(space, n, np.random.default_rng(7))
    theirs = ConfigSampler(make_space()).sample(n, np.random.default_rng(7)) if n != 1 else None
    if theirs is not None:  # one at a time, the sampler draws a batch ahead; the protocol never samples one
        assert ours == theirs
    assert len(ours) == n and all(isinstance(c, dict) for c in ours)
    assert space.to_serialized_dict() == before  # the caller's space is not reseeded or changed
    assert ours == sample_configurations(space, n, np.random.default_rng(7))  # reproducible


@pytest.mark.parametrize("n", [-1, 1.5, True, "3"])
def test_a_bad_count_is_named(n):
    with pytest.raises(ValueError, match=f"n={n!r} must be an integer >= 0"):
        sample_configurations(toy_space(), n, np.random.default_rng(0))
