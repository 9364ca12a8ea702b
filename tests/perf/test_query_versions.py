"""perf.query_versions: two checkouts' single-query times, alternating."""

from __future__ import annotations

from pathlib import Path

import pytest

from perf.query_versions import main
from surrogates.benchmark import surrogates_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give the checkout to compare"),
        ([str(ROOT), "--rounds", "0"], "--rounds '0'"),
        ([str(ROOT), "--queries", "many"], "--queries 'many'"),
    ],
)
def test_bad_arguments_are_named(argv, message):
    with pytest.raises(SystemExit, match=message):
        main(argv)


@pytest.mark.skipif(
    not (surrogates_dir() / "lcbench-car-ensemble" / "manifest.json").is_file(), reason="not fitted here"
)
def test_a_checkout_against_itself_prints_both_sides(capsys):
    assert main([str(ROOT), str(ROOT), "--rounds", "1", "--queries", "20", "lcbench-car-ensemble"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("lcbench-car-ensemble:"))
    assert "before" in line and "after" in line and line.endswith("x")


def test_a_failing_side_names_its_checkout(tmp_path):
    with pytest.raises(SystemExit, match=str(ROOT)):
        main([str(ROOT), "--rounds", "1", "--queries", "5", "no-such-surrogate"])
