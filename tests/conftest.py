"""Shared fixtures: tiny synthetic tables made in the test session, and the real-data marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.synthetic import make_synthetic_table
from benchmarks.tabular import TabularBenchmark


@pytest.fixture(scope="session")
def synthetic_table_path(tmp_path_factory) -> Path:
    """A 40-config x 2-seed x 10-epoch table over a mixed (continuous) space."""
    return make_synthetic_table(
        tmp_path_factory.mktemp("tables") / "synthetic", n_configs=40, n_seeds=2, n_epochs=10
    )


@pytest.fixture(scope="session")
def synthetic_bench(synthetic_table_path) -> TabularBenchmark:
    return TabularBenchmark.from_path(synthetic_table_path)


@pytest.fixture(scope="session")
def grid_bench(tmp_path_factory) -> TabularBenchmark:
    """A table that holds every configuration of a small finite grid (4 x 3 x 2) x 3 seeds x 5 epochs."""
    path = make_synthetic_table(
        tmp_path_factory.mktemp("tables") / "grid",
        n_configs=None,
        space="grid",
        n_seeds=3,
        n_epochs=5,
        name="grid",
    )
    return TabularBenchmark.from_path(path)


@pytest.fixture(scope="session")
def one_fidelity_bench(tmp_path_factory) -> TabularBenchmark:
    path = make_synthetic_table(
        tmp_path_factory.mktemp("tables") / "one", n_configs=30, n_seeds=2, n_epochs=1, name="one-fidelity"
    )
    return TabularBenchmark.from_path(path)


os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="module")
def loaded():
    """The shipped surrogates by folder name, each loaded once per test module."""
    from surrogates.benchmark import surrogates_dir
    from surrogates.store import load_surrogate

    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = load_surrogate(surrogates_dir() / name)[0]
        return cache[name]

    return get
