"""Every search space is defined once (benchmarks/spaces.py); the shipped folders record exactly those spaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.importers.published import SOURCES
from benchmarks.io import shipped_surrogates_dir, shipped_tables_dir
from benchmarks.space import grid_size
from benchmarks.spaces import (
    FCNET_GRID,
    FCNET_WHEEL_GRID,
    cnn_space,
    fcnet_space,
    grid_space,
    lcbench_space,
)
from data.families import get_family
from runners.testing import fcnet_like_space, lcbench_like_space

#: the space each shipped folder was written with, by the family or source that writes it
_WRITERS = {"fcnet": fcnet_space, "lcbench": lcbench_space}


def _shipped_manifests() -> list[Path]:
    return sorted(
        [*shipped_tables_dir().glob("*/manifest.json"), *shipped_surrogates_dir().glob("*/manifest.json")]
    )


@pytest.mark.parametrize("manifest", _shipped_manifests(), ids=lambda p: p.parent.name)
def test_shipped_folders_record_the_spaces_defined_here(manifest):
    recorded = json.loads(manifest.read_text())["space"]
    name = recorded["name"]
    if name.startswith("pub-fcnet-"):
        space = fcnet_space(name, wheel_order=True)
    else:
        space = _WRITERS[name]()
    assert space.to_serialized_dict() == recorded


def test_the_families_use_the_defined_spaces():
    assert get_family("fcnet").space().to_serialized_dict() == fcnet_space().to_serialized_dict()
    assert get_family("lcbench").space().to_serialized_dict() == lcbench_space().to_serialized_dict()
    assert get_family("cnn").space().to_serialized_dict() == cnn_space().to_serialized_dict()


def test_fcnet_grid_is_the_papers_and_the_wheel_reorders_it_only():
    assert grid_size(fcnet_space()) == 62_208
    assert list(FCNET_WHEEL_GRID) == sorted(FCNET_GRID)
    for hp, values in FCNET_GRID.items():
        assert sorted(map(str, FCNET_WHEEL_GRID[hp])) == sorted(map(str, values))
    assert FCNET_WHEEL_GRID["activation_fn_1"] == ("relu", "tanh")  # the wheel's digit 0 is relu
    assert SOURCES["hpolib"].params is FCNET_WHEEL_GRID


def test_stand_in_spaces_are_the_real_ones_renamed():
    for like, real in ((fcnet_like_space(), fcnet_space()), (lcbench_like_space(), lcbench_space())):
        a, b = like.to_serialized_dict(), real.to_serialized_dict()
        assert a.pop("name").endswith("-like") and b.pop("name") in ("fcnet", "lcbench")
        assert a == b


def test_a_grid_without_values_is_named():
    with pytest.raises(ValueError, match="hyperparameter 'x' of space 'g' has no values"):
        grid_space("g", {"x": []})
