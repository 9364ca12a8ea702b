"""Fuzzing (hypothesis) of the file readers and the public query API.

Whatever a shared table or surrogate folder holds, and whatever a caller passes, the answer is a
result or one of CurveBench's own errors (CurveBenchError) with a message, never a bare exception
from deep inside numpy, pandas or ConfigSpace, and never a silently wrong answer.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.io import sha256_file
from benchmarks.protocol import CurveBenchError
from benchmarks.table import CONFIGS, CURVES, MANIFEST, read_table
from benchmarks.tabular import TabularBenchmark
from surrogates.benchmark import SurrogateBenchmark
from surrogates.synthetic import synthetic_table

SHIPPED_SURROGATE = Path(__file__).resolve().parent.parent / "data" / "surrogates" / "pub-fcnet-naval-xgboost"
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["inf", "-inf", "../x", "/etc/passwd", "_target_"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(obj, prefix=()):
    """Every path (tuple of keys/indices) into a JSON tree."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


@pytest.fixture(scope="module")
def table_path(tmp_path_factory) -> Path:
    return synthetic_table(tmp_path_factory.mktemp("t") / "syn", n_configs=30, n_seeds=2, n_epochs=4)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _fresh(src: Path, work: Path) -> Path:
    dst = work / "copy"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


@FUZZ
@given(data=st.data())
def test_any_manifest_edit_loads_or_is_a_table_format_error(table_path, work, data):
    path = _fresh(table_path, work)
    manifest = json.loads((path / MANIFEST).read_text())
    paths = [p for p in _paths(manifest) if p]
    where = data.draw(st.sampled_from(paths), label="path")
    value = data.draw(json_values, label="value")
    edited = copy.deepcopy(manifest)
    _set(edited, where, value)
    (path / MANIFEST).write_text(json.dumps(edited))
    try:
        TabularBenchmark.from_path(path)
    except CurveBenchError as e:
        assert str(e)
    if data.draw(st.booleans(), label="drop"):
        del edited[where[0]]
        (path / MANIFEST).write_text(json.dumps(edited))
        try:
            read_table(path)
        except CurveBenchError as e:
            assert str(e)


@FUZZ
@given(data=st.data())
def test_any_damage_to_a_data_file_with_recomputed_checksums_loads_valid_or_errs(table_path, work, data):
    path = _fresh(table_path, work)
    fname = data.draw(st.sampled_from([CONFIGS, CURVES]), label="file")
    raw = bytearray((path / fname).read_bytes())
    kind = data.draw(st.sampled_from(["flip", "truncate", "append"]), label="kind")
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        raw += bytes(data.draw(st.binary(min_size=1, max_size=64)))
    (path / fname).write_bytes(bytes(raw))
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["files"][fname].update(sha256=sha256_file(path / fname), bytes=len(raw))
    (path / MANIFEST).write_text(json.dumps(manifest))
    try:
        b = TabularBenchmark.from_path(path)
    except CurveBenchError as e:
        assert str(e)
        return
    # whatever loaded obeys the writer's rules
    assert np.all(np.isfinite(b.table.cost)) and np.all(np.diff(b.table.cost, axis=-1) >= 0)


@FUZZ
@given(data=st.data())
def test_any_surrogate_manifest_edit_loads_or_is_a_format_error(work, data):
    path = _fresh(SHIPPED_SURROGATE, work)
    manifest = json.loads((path / MANIFEST).read_text())
    skip = ("space", "model_params", "provenance")  # large or free-form; the space has its own fuzz above
    paths = [p for p in _paths(manifest) if p and p[0] not in skip]
    where = data.draw(st.sampled_from(paths), label="path")
    value = data.draw(json_values, label="value")
    _set(manifest, where, value)
    (path / MANIFEST).write_text(json.dumps(manifest))
    try:
        SurrogateBenchmark.from_path(path)
    except CurveBenchError as e:
        assert str(e)


# ---------------------------------------------------------------- the public query API
anything = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.lists(st.integers(), max_size=2)
)


@pytest.fixture(scope="module")
def benches(table_path) -> dict:
    return {
        "table": TabularBenchmark.from_path(table_path),
        "surrogate": SurrogateBenchmark.from_path(SHIPPED_SURROGATE),
    }


@FUZZ
@given(kind=st.sampled_from(["table", "surrogate"]), data=st.data())
def test_query_with_any_values_answers_or_names_the_bad_one(benches, kind, data):
    b = benches[kind]
    cfg = dict(b.configurations()[0]) if kind == "table" else dict(b.space.get_default_configuration())
    name = data.draw(st.sampled_from([*cfg, "not_a_hyperparameter"]), label="name")
    cfg[name] = data.draw(anything, label="value")
    fidelity = data.draw(st.none() | anything, label="fidelity")
    seed = data.draw(st.none() | anything, label="seed")
    try:
        r = b.query(cfg, fidelity=fidelity, seed=seed)
    except CurveBenchError as e:
        assert str(e)
        return
    assert math.isfinite(r.cost) and r.cost >= 0


@FUZZ
@given(kind=st.sampled_from(["table", "surrogate"]), data=st.data())
def test_query_batch_with_any_seeds_and_fidelities_answers_or_errs(benches, kind, data):
    b = benches[kind]
    n = 3
    configs = np.arange(n) if kind == "table" else [dict(b.space.get_default_configuration())] * n
    ints = st.integers(-(2**65), 2**65)
    arrays = st.one_of(
        st.lists(ints, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=object).astype(float)),
        st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n).map(
            lambda v: np.array(v, dtype=np.int64)
        ),
        st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n).map(
            lambda v: np.array(v, dtype=np.uint64)
        ),
        st.lists(st.floats(), min_size=n, max_size=n).map(np.array),
        st.lists(st.integers(0, 3), min_size=1, max_size=5).map(np.array),
    )
    seeds = data.draw(st.none() | ints | arrays, label="seeds")
    fids = data.draw(st.none() | ints | st.floats() | arrays, label="fidelities")
    held_seeds = None if b.seeds is None else set(b.seeds)
    try:
        out = b.query_batch(configs, fidelities=fids, seeds=seeds)
    except CurveBenchError as e:
        assert str(e)
        return
    # an answer is only given for seeds the benchmark holds: never a wrapped-around index
    if held_seeds is not None and seeds is not None:
        assert set(np.atleast_1d(seeds).tolist()) <= held_seeds
    assert len(out) == n
