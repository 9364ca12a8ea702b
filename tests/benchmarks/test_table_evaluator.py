"""The table's evaluator: the row hint is checked before it is used, and its numbers are those of ``query``."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.protocol import ConfigError
from benchmarks.synthetic import make_synthetic_table
from benchmarks.tabular import TabularBenchmark, _python_scalars


@pytest.fixture()
def bench(tmp_path) -> TabularBenchmark:
    """A fresh table per test: one test changes the benchmark's list of configurations."""
    return TabularBenchmark.from_path(
        make_synthetic_table(tmp_path / "t", n_configs=12, n_seeds=2, n_epochs=4)
    )


def _point(bench: TabularBenchmark, row: int) -> tuple[dict, float, int]:
    return dict(bench.configurations()[row]), bench.fidelity.values[-1], bench.seeds[1]


def test_a_right_hint_and_no_hint_give_the_numbers_of_query(bench):
    ev = bench.evaluator(bench.objective)
    for row in range(bench.n_configs):
        config, fid, seed = _point(bench, row)
        res = bench.query(config, fid, seed)
        want = (res.metrics[bench.objective], res.cost)
        hinted, plain = ev.evaluate(config, fid, seed, row), ev.evaluate(config, fid, seed)
        assert hinted == plain and hinted[1:] == want
        assert type(hinted[1]) is float and type(hinted[2]) is float


@pytest.mark.parametrize("hint", [0, 5, -1, -12, 11, 12, 10**9, True])
def test_a_wrong_hint_costs_a_lookup_never_a_wrong_answer(bench, hint):
    ev = bench.evaluator(bench.objective)
    config, fid, seed = _point(bench, 3)
    assert ev.evaluate(config, fid, seed, hint) == ev.evaluate(config, fid, seed)


def test_a_configuration_the_table_lacks_is_an_error_naming_it_whatever_the_hint(bench):
    ev = bench.evaluator(bench.objective)
    config, fid, seed = _point(bench, 3)
    name = next(iter(config))
    changed = {**config, name: "not-a-value" if isinstance(config[name], str) else config[name] * 1.5 + 1}
    for hint in (None, 3, 4):
        with pytest.raises(ConfigError, match="not-a-value|is in the space but not in table|outside"):
            ev.evaluate(changed, fid, seed, hint)
    with pytest.raises(ConfigError):
        ev.evaluate({**config, "extra": 1}, fid, seed, 3)  # an unknown key: not the held configuration


def test_a_hint_is_checked_against_the_table_not_against_the_shared_list(bench):
    """Changing a dict of benchmark.configurations() (the list samplers share) cannot make a hint pass."""
    ev = bench.evaluator(bench.objective)
    config, fid, seed = _point(bench, 3)
    name = next(k for k, v in config.items() if isinstance(v, float))
    bench.configurations()[3][name] = (
        config[name] * 3 + 7
    )  # the shared list now holds a configuration the table lacks
    with pytest.raises(ConfigError):
        ev.evaluate(dict(bench.configurations()[3]), fid, seed, 3)
    assert ev.evaluate(config, fid, seed, 3) == ev.evaluate(config, fid, seed)


def test_the_rows_a_hint_is_checked_against_are_the_table_s_configurations(bench):
    rows = bench.rows_for_hints()
    assert rows == bench.configurations() and rows is not bench.configurations()
    assert all(a is not b for a, b in zip(rows, bench.configurations()))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", ">f4", "<f8", "int64", "bool"])
def test_the_evaluator_s_reads_are_the_python_numbers_of_item(dtype):
    values = (np.linspace(-3.7, 1e4, 50) * (1 if dtype != "bool" else 0)).astype(dtype)
    values[::7] = np.nan if values.dtype.kind == "f" else values[::7]
    view = _python_scalars(values[::2])  # a strided view: copied to a contiguous array
    expect = [values[::2].item(i) for i in range(25)]
    got = [view[i] for i in range(25)]
    assert [type(x) for x in got] == [type(x) for x in expect]
    assert np.array_equal(np.array(got, dtype=float), np.array(expect, dtype=float), equal_nan=True)
