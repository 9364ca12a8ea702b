"""data.faithfulness: agreement of a generated table with a published one, against the published seeds' own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.protocol import Fidelity, Metric
from benchmarks.spaces import fcnet_space
from benchmarks.table import TableSpec, write_table
from benchmarks.tabular import TabularBenchmark
from data.faithfulness import compare, main

METRIC = Metric("valid_mse", "minimize", 0.0)


def _table(path, configs: pd.DataFrame, values: np.ndarray, epochs: tuple, name: str) -> TabularBenchmark:
    C, S, F = values.shape
    cost = np.cumsum(np.ones((C, S, F), dtype=np.float32), axis=-1)
    write_table(
        path,
        TableSpec(
            name=name,
            space=fcnet_space(),
            fidelity=Fidelity("epoch", epochs),
            metrics=[METRIC],
            objective="valid_mse",
            test_objective=None,
            seeds=list(range(S)),
        ),
        configs=configs,
        values={"valid_mse": values},
        cost=cost,
    )
    return TabularBenchmark.from_path(path)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A 'published' table (4 seeds, final epoch) and a faithful 'generated' one (2 seeds, 3 epochs) on 400 configs."""
    space = fcnet_space()
    space.seed(0)
    configs = (
        pd.DataFrame([dict(c) for c in space.sample_configuration(400)])
        .drop_duplicates()
        .reset_index(drop=True)
    )
    rng = np.random.default_rng(0)
    truth = rng.normal(size=len(configs)) * 2.0  # log valid_mse of each configuration
    pub = np.exp(truth[:, None, None] + 0.3 * rng.normal(size=(len(configs), 4, 1))).astype(np.float32)
    gen_final = np.exp(np.log(3.0) + truth[:, None] + 0.3 * rng.normal(size=(len(configs), 2)))
    gen = np.stack([gen_final * 4, gen_final * 2, gen_final], axis=-1).astype(np.float32)
    root = tmp_path_factory.mktemp("faith")
    p = _table(root / "pub", configs, pub, (100,), "pub")
    g = _table(root / "gen", configs, gen, (1, 50, 100), "gen")
    shuffled = _table(
        root / "shuffled", configs, gen[rng.permutation(len(configs))], (1, 50, 100), "shuffled"
    )
    return g, p, shuffled


def test_a_faithful_table_agrees_as_well_as_the_published_seeds(pair):
    g, p, _ = pair
    a = compare(g, p)
    assert a.n_shared == len(g.table.configs) and a.n_top == pytest.approx(0.1 * a.n_shared, abs=1)
    assert a.means[0] > 0.95 and abs(a.seed_vs_seed[0] - a.published_seeds[0]) < 0.03
    assert a.median_ratio[0] == pytest.approx(3.0, rel=0.1)  # the systematic offset is measured, not hidden
    assert "as well as its seeds agree" in a.verdict()


def test_an_unfaithful_table_is_called_out(pair):
    _, p, shuffled = pair
    a = compare(shuffled, p)
    assert abs(a.means[0]) < 0.2 and a.published_seeds[0] > 0.9
    assert "agrees less than the published seeds" in a.verdict()


def test_command_line_on_the_shipped_tables(capsys):
    assert main(["tables=fcnet-parkinsons", "json=true"]) == 0
    out = capsys.readouterr().out
    assert '"published": "pub-fcnet-parkinsons"' in out and '"n_shared": 1000' in out


@pytest.mark.slow
@pytest.mark.realdata
def test_the_naval_target_fix_closes_the_gap_on_the_best_published_configuration():
    """Re-trained with the compressor target (dataset revision 2), the best published shared configuration lands
    near its published value; a table on revision 1 (turbine target) is several times worse there."""
    import benchmarks
    from benchmarks.io import data_root
    from data.faithfulness import retrain_top

    if not (data_root() / "uci/naval-propulsion-plant.txt.gz").is_file():
        pytest.skip("naval is not under the data root (python -m data.datasets download names=naval)")
    (row,) = retrain_top(
        benchmarks.load("fcnet-naval"), benchmarks.load("pub-fcnet-naval"), 1, progress=False
    )
    assert row["dataset_revision"] == 2
    assert 0.5 < row["now"] / row["published_mean"] < 2.0
    if row["table_dataset_revision"] == 1:
        assert row["table"] / row["published_mean"] > 3.0
    else:  # the shipped table, regenerated on revision 2, lands there too
        assert 0.5 < row["table"] / row["published_mean"] < 2.0
