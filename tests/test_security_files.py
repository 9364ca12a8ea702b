"""Shared tables and surrogates are untrusted input: they never run code, and they load only as their writer made them.

One regression test per fault found when the suite was probed as an attacker and as a careless user
(docs/security.md); crafted payloads write a harmless marker file if they ever run.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest
import skops.io as sio

import benchmarks
from benchmarks.io import sha256_file
from benchmarks.protocol import ConfigError, SeedError, TableFormatError, UnknownBenchmarkError
from benchmarks.table import COST, CURVES, MANIFEST, read_table, table_checksum
from benchmarks.tabular import TabularBenchmark
from surrogates.benchmark import SurrogateBenchmark
from surrogates.store import SurrogateFormatError, save_surrogate
from surrogates.surrogate import CurveSurrogate
from surrogates.synthetic import synthetic_table

SHIPPED_SURROGATE = Path(__file__).resolve().parent.parent / "data" / "surrogates" / "pub-fcnet-naval-xgboost"


# ---------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def table_path(tmp_path_factory) -> Path:
    return synthetic_table(tmp_path_factory.mktemp("t") / "syn", n_configs=40, n_seeds=2, n_epochs=5)


@pytest.fixture
def table_copy(table_path, tmp_path) -> Path:
    dst = tmp_path / "table"
    shutil.copytree(table_path, dst)
    return dst


def _manifest(path: Path) -> dict:
    return json.loads((path / MANIFEST).read_text())


def _write_manifest(path: Path, m: dict) -> None:
    (path / MANIFEST).write_text(json.dumps(m))


def _rehash(path: Path, fname: str) -> None:
    """Recompute one file's checksum in the manifest, as an attacker would."""
    m = _manifest(path)
    f = path / fname
    m["files"][fname].update(sha256=sha256_file(f), bytes=f.stat().st_size)
    _write_manifest(path, m)


def _tamper_curves(path: Path, column: str, index: tuple[int, int, int], value: float) -> None:
    """Set one value of ``column`` in curves.arrow and recompute its checksum (bypassing the writer)."""
    t = read_table(path)
    C, S, F = t.shape
    tbl = feather.read_table(path / CURVES)
    a = np.array(t.arrays[column])
    a[index] = value
    i = tbl.schema.get_field_index(column)
    col = pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), F).cast(tbl.schema.field(column).type)
    tbl = tbl.set_column(i, tbl.schema.field(column), col)
    feather.write_feather(tbl, path / CURVES, compression="uncompressed", chunksize=C * S)
    _rehash(path, CURVES)


# ---------------------------------------------------------------- surrogates never run code
def _rf_surrogate(table_path: Path, out: Path) -> Path:
    sur = CurveSurrogate(model="rf", model_params={"n_estimators": 3}).fit(read_table(table_path))
    return save_surrogate(sur, out)


def test_skops_file_naming_a_builtin_function_is_refused(table_path, tmp_path):
    path = _rf_surrogate(table_path, tmp_path / "rf")
    SurrogateBenchmark.from_path(path)  # the honest folder loads
    marker = tmp_path / "MARKER"
    # a crafted block: a builtin that the old loader trusted because its name starts with "builtins."
    sio.dump({"payload": exec, "arg": f"open({str(marker)!r}, 'w').write('ran')"}, path / "block0.skops")
    _rehash(path, "block0.skops")
    with pytest.raises(SurrogateFormatError, match=r"refusing to load type\(s\) \['builtins.exec'\]"):
        SurrogateBenchmark.from_path(path)
    assert not marker.exists()


def test_skops_file_holding_another_class_is_refused(table_path, tmp_path):
    from sklearn.linear_model import LinearRegression

    path = _rf_surrogate(table_path, tmp_path / "rf")
    sio.dump(LinearRegression(), path / "block0.skops")
    _rehash(path, "block0.skops")
    with pytest.raises(SurrogateFormatError, match="expected sklearn.ensemble.RandomForestRegressor"):
        SurrogateBenchmark.from_path(path)


@pytest.fixture
def surrogate_copy(tmp_path) -> Path:
    dst = tmp_path / "sur"
    shutil.copytree(SHIPPED_SURROGATE, dst)
    return dst


def test_surrogate_manifest_cannot_point_outside_its_folder(surrogate_copy, tmp_path):
    outside = tmp_path / "evil.ubj.gz"
    shutil.copy(surrogate_copy / "block0.ubj.gz", outside)
    m = _manifest(surrogate_copy)
    m["regressors"]["xgboost"]["files"][0] = "../evil.ubj.gz"
    _write_manifest(surrogate_copy, m)
    with pytest.raises(SurrogateFormatError, match=r"file name '\.\./evil\.ubj\.gz' is not allowed"):
        SurrogateBenchmark.from_path(surrogate_copy)


def test_surrogate_regressor_file_must_be_checksummed(surrogate_copy):
    shutil.copy(surrogate_copy / "block0.ubj.gz", surrogate_copy / "other.ubj.gz")
    m = _manifest(surrogate_copy)
    m["regressors"]["xgboost"]["files"][0] = "other.ubj.gz"  # present in the folder, absent from "files"
    _write_manifest(surrogate_copy, m)
    with pytest.raises(SurrogateFormatError, match="'other.ubj.gz' is not listed .* under 'files'"):
        SurrogateBenchmark.from_path(surrogate_copy)


def test_surrogate_checksum_covers_its_manifest(surrogate_copy):
    before = SurrogateBenchmark.from_path(surrogate_copy).checksum
    m = _manifest(surrogate_copy)
    m["fidelity"]["values"] = [v + 1 for v in m["fidelity"]["values"]]
    _write_manifest(surrogate_copy, m)
    assert SurrogateBenchmark.from_path(surrogate_copy).checksum != before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_features", "12", r"'n_features' is '12' \(str\); expected an integer"),
        ("blocks", {"a": 1}, r"'blocks' is \{'a': 1\} \(dict\); expected a list"),
        ("noise_scale", float("nan"), "noise_scale nan must be finite"),
        ("n_features", 3, "n_features 3 does not match the space"),
        ("objective", "nope", "objective 'nope' is not a metric"),
        ("provenance", [1], r"'provenance' is \[1\] \(list\); expected a mapping"),
        ("description", ["x"], r"'description' is \['x'\] \(list\)"),
    ],
)
def test_surrogate_manifest_fields_are_checked(surrogate_copy, field, value, message):
    m = _manifest(surrogate_copy)
    m[field] = value
    _write_manifest(surrogate_copy, m)
    with pytest.raises(SurrogateFormatError, match=message):
        SurrogateBenchmark.from_path(surrogate_copy)


def _set_transform_kind(m):
    m["blocks"][0]["transform"]["kind"] = "log_lowr"


def _set_eps_string(m):
    m["blocks"][0]["transform"]["eps"] = "0.5"


def _set_amp_floor_negative(m):
    m["blocks"][0]["amp_floor"] = -5.0


def _set_log_range_strings(m):
    m["blocks"][-1]["log_range"] = ["0", "1"]


def _set_n_fid_bool(m):
    m["blocks"][-1]["n_fid"] = True


def _set_noise_string(m):
    m["noise"] = "garbage"


def _set_seeds_string(m):
    m["table"]["seeds"] = "0,1"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set_transform_kind, r"'blocks'\[0\]\.transform is .*kind one of log_lower, log_upper, identity"),
        (_set_eps_string, r"'blocks'\[0\]\.transform\.eps is '0\.5'; expected a finite number > 0"),
        (_set_amp_floor_negative, r"'blocks'\[0\]\.amp_floor is -5\.0; expected a finite number >= 0"),
        (_set_log_range_strings, r"log_range\[0\] is '0'; expected a finite number"),
        (_set_n_fid_bool, r"n_fid is True; expected an integer >= 1"),
        (_set_noise_string, r"'noise' is 'garbage' \(str\); expected"),
        (_set_seeds_string, r"'table'.seeds is '0,1' \(str\); expected a list"),
    ],
)
def test_surrogate_block_settings_are_checked_not_decoded_as_something_else(surrogate_copy, edit, message):
    # each of these loaded before and answered with other curves (an unknown transform was read as another)
    m = _manifest(surrogate_copy)
    edit(m)
    _write_manifest(surrogate_copy, m)
    with pytest.raises(SurrogateFormatError, match=message):
        SurrogateBenchmark.from_path(surrogate_copy)


def test_surrogate_arrays_must_be_finite_numbers(surrogate_copy):
    with np.load(surrogate_copy / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: np.array(z[k]) for k in z.files}
    key = next(k for k, v in arrays.items() if v.dtype.kind == "f" and v.size)
    arrays[key].reshape(-1)[0] = np.nan
    np.savez_compressed(surrogate_copy / "arrays.npz", **arrays)
    _rehash(surrogate_copy, "arrays.npz")
    with pytest.raises(SurrogateFormatError, match=f"array {key!r} holds NaN or infinite values"):
        SurrogateBenchmark.from_path(surrogate_copy)


def test_surrogate_arrays_cannot_hold_pickled_objects(surrogate_copy, tmp_path):
    marker = tmp_path / "MARKER"

    class Payload:
        def __reduce__(self):
            return (Path.write_text, (marker, "ran"))

    np.savez(surrogate_copy / "arrays.npz", noise_calibration=np.array([Payload()], dtype=object))
    _rehash(surrogate_copy, "arrays.npz")
    with pytest.raises(SurrogateFormatError, match="arrays.npz: cannot read"):
        SurrogateBenchmark.from_path(surrogate_copy)
    assert not marker.exists()


def _zip_bomb(path: Path, inflated: int, **arrays: np.ndarray) -> None:
    """An .npz whose extra member inflates to ``inflated`` bytes of zeros from a few KiB on disk."""
    import zipfile

    np.savez_compressed(path, **arrays)
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z,
        z.open("junk.npy", "w", force_zip64=True) as f,
    ):
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|u1", "fortran_order": False, "shape": (inflated,)}
        )
        block = bytes(1 << 20)
        for _ in range(inflated >> 20):
            f.write(block)


def test_surrogate_arrays_that_would_inflate_past_the_limit_are_refused_unread(surrogate_copy, monkeypatch):
    import surrogates.store as store

    with np.load(surrogate_copy / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: np.array(z[k]) for k in z.files}
    monkeypatch.setattr(store, "MAX_ARRAYS_BYTES", 32 << 20)  # the limit made small, so the bomb can be small
    _zip_bomb(surrogate_copy / "arrays.npz", 64 << 20, **arrays)
    _rehash(surrogate_copy, "arrays.npz")
    with pytest.raises(
        SurrogateFormatError, match=r"arrays\.npz: cannot read .*more than the 33554432 allowed"
    ):
        SurrogateBenchmark.from_path(surrogate_copy)


def test_surrogate_arrays_hold_only_the_writers_arrays(surrogate_copy):
    with np.load(surrogate_copy / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: np.array(z[k]) for k in z.files}
    n_blocks = len(_manifest(surrogate_copy)["blocks"])
    np.savez_compressed(surrogate_copy / "arrays.npz", **arrays, **{f"block{n_blocks}.mu": np.zeros(3)})
    _rehash(surrogate_copy, "arrays.npz")
    with pytest.raises(SurrogateFormatError, match=rf"\['block{n_blocks}\.mu'\] are not a surrogate's"):
        SurrogateBenchmark.from_path(surrogate_copy)


def test_a_gzipped_model_that_would_inflate_past_the_limit_is_refused(surrogate_copy, monkeypatch):
    import gzip

    import surrogates.models as models

    monkeypatch.setattr(models, "MAX_MODEL_BYTES", 8 << 20)
    (surrogate_copy / "block0.ubj.gz").write_bytes(gzip.compress(bytes(16 << 20)))
    _rehash(surrogate_copy, "block0.ubj.gz")
    with pytest.raises(SurrogateFormatError, match="decompresses to more than 8388608 bytes"):
        SurrogateBenchmark.from_path(surrogate_copy)
    (surrogate_copy / "block0.ubj.gz").write_bytes(gzip.compress(b"x" * 1000)[:-20])
    _rehash(surrogate_copy, "block0.ubj.gz")
    with pytest.raises(SurrogateFormatError, match="not one whole gzip stream"):
        SurrogateBenchmark.from_path(surrogate_copy)


def test_an_mlp_manifest_cannot_make_the_loader_build_networks_its_weights_do_not_have(tmp_path):
    path = tmp_path / "mlp"
    shutil.copytree(SHIPPED_SURROGATE.parent / "lcbench-car-ensemble", path)
    m = _manifest(path)
    m["regressors"]["mlp"]["params"]["hidden"] = 20_000  # layers of 1.6 GB each, were they built
    _write_manifest(path, m)
    # refused from the weights' shapes, before any network is built (a load_state_dict mismatch comes after)
    with pytest.raises(
        SurrogateFormatError, match=r"tensor m0\.0\.weight is torch\.float32 \(192, \d+\), expected"
    ):
        SurrogateBenchmark.from_path(path).validate()
    m["regressors"]["mlp"]["params"].update(hidden=192, n_members=3)
    _write_manifest(path, m)
    with pytest.raises(SurrogateFormatError, match=r"holds 8 tensors; n_members=3 x n_layers\+1=4"):
        SurrogateBenchmark.from_path(path).validate()


class _WritesMarker:
    path = ""

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "ran"))


def test_a_pickle_in_place_of_torch_weights_is_refused_without_torchs_advice(tmp_path):
    path = tmp_path / "mlp"
    shutil.copytree(SHIPPED_SURROGATE.parent / "lcbench-car-ensemble", path)
    marker = tmp_path / "MARKER"
    payload = _WritesMarker()
    payload.path = str(marker)
    (path / "joint.pt").write_bytes(pickle.dumps(payload, protocol=2))
    _rehash(path, "joint.pt")
    with pytest.raises(SurrogateFormatError, match=r"joint\.pt: not a file of torch weights") as e:
        SurrogateBenchmark.from_path(path)
    assert "weights_only=False" not in str(e.value) and "weights_only set to False" not in str(e.value)
    assert not marker.exists()


def test_a_surrogate_builds_from_the_bytes_it_checked_not_a_file_swapped_after(surrogate_copy, monkeypatch):
    import surrogates.store as store

    cfgs = [dict(c) for c in SurrogateBenchmark.from_path(surrogate_copy).space.sample_configuration(5)]
    want = SurrogateBenchmark.from_path(surrogate_copy).query_batch(cfgs, seeds=1).metrics
    read = store._read_member

    def read_then_swap(path, fname, rec, verify):
        data = read(path, fname, rec, verify)
        if fname == "block0.ubj.gz":  # another process replaces the file once it has been checked
            (path / fname).write_bytes(b"not the model that was checked")
        return data

    monkeypatch.setattr(store, "_read_member", read_then_swap)
    got = SurrogateBenchmark.from_path(surrogate_copy).query_batch(cfgs, seeds=1).metrics
    assert (surrogate_copy / "block0.ubj.gz").read_bytes() == b"not the model that was checked"
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_a_folder_manifest_nested_too_deep_is_an_unknown_benchmark_not_a_crash(tmp_path):
    from benchmarks.catalog import load_folder

    (tmp_path / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UnknownBenchmarkError, match="not valid JSON"):
        load_folder(tmp_path)
    (tmp_path / MANIFEST).write_text("[1]")
    with pytest.raises(UnknownBenchmarkError, match="a JSON object, got list"):
        load_folder(tmp_path)
    (tmp_path / MANIFEST).write_text('{"format": ["curvebench-table"]}')  # unhashable: was a bare TypeError
    with pytest.raises(UnknownBenchmarkError, match=r"format \['curvebench-table'\] is not one of"):
        load_folder(tmp_path)


# ---------------------------------------------------------------- tables: the checksum covers the manifest
def test_table_checksum_covers_the_manifest(table_copy):
    before = TabularBenchmark.from_path(table_copy).checksum
    m = _manifest(table_copy)
    obj = next(x for x in m["metrics"] if x["name"] == m["objective"])
    obj["direction"] = "maximize" if obj["direction"] == "minimize" else "minimize"
    _write_manifest(table_copy, m)
    after = TabularBenchmark.from_path(table_copy)
    assert after.checksum != before and after.checksum == table_checksum(_manifest(table_copy))
    m["provenance"]["created"] = "1999-01-01T00:00:00Z"  # how it was made does not change what it answers
    _write_manifest(table_copy, m)
    assert TabularBenchmark.from_path(table_copy).checksum == after.checksum


def test_table_manifest_cannot_name_files_outside_its_folder(table_copy):
    m = _manifest(table_copy)
    m["files"]["../../etc/passwd"] = dict(m["files"][CURVES])
    _write_manifest(table_copy, m)
    with pytest.raises(TableFormatError, match=r"'\.\./\.\./etc/passwd' is not allowed"):
        read_table(table_copy)


def test_symlinked_data_file_is_refused(table_copy, tmp_path):
    real = tmp_path / "elsewhere.arrow"
    shutil.move(table_copy / CURVES, real)
    (table_copy / CURVES).symlink_to(real)
    with pytest.raises(TableFormatError, match="not a plain file"):
        read_table(table_copy)


# ---------------------------------------------------------------- tables: the writer's rules, on read
@pytest.mark.parametrize(
    ("column", "index", "value", "message"),
    [
        (COST, (3, 1, 2), np.nan, r"'cost' at config_id 3, seed 1, epoch=3 is nan; cost must be finite"),
        (COST, (0, 0, 0), np.inf, r"'cost' at config_id 0, seed 0, epoch=1 is inf; cost must be finite"),
        (COST, (5, 0, 0), -1.0, r"config_id 5, seed 0, epoch=1 is -1.0; negative cost"),
        (COST, (2, 0, 3), 0.0, r"config_id 2, seed 0, epoch=4: cumulative cost decreases"),
        ("valid_loss", (1, 1, 1), np.inf, r"'valid_loss' at config_id 1, seed 1, epoch=2 is inf"),
        ("valid_acc", (4, 0, 4), 1.5, r"'valid_acc' at config_id 4, seed 0, epoch=5 is 1.5.*declared bounds"),
    ],
)
def test_table_values_are_validated_on_read(table_copy, column, index, value, message):
    t = read_table(table_copy)
    if column not in t.arrays:
        pytest.skip(f"the synthetic table has no {column}")
    _tamper_curves(table_copy, column, index, value)
    with pytest.raises(TableFormatError, match=message) as e:
        read_table(table_copy)
    assert CURVES in str(e.value)


def _rewrite_curves(
    path: Path, batches: int = 1, compression: str = "uncompressed", extra_rows: int = 0
) -> None:
    """curves.arrow written again in ``batches`` record batches (plus ``extra_rows`` repeated rows), checksum redone."""
    tbl = feather.read_table(path / CURVES)
    if extra_rows:
        tbl = pa.concat_tables([tbl, tbl.slice(0, extra_rows)])
    opts = pa.ipc.IpcWriteOptions(compression=None if compression == "uncompressed" else compression)
    with pa.OSFile(str(path / CURVES), "wb") as sink, pa.ipc.new_file(sink, tbl.schema, options=opts) as w:
        for b in tbl.to_batches(max_chunksize=-(-tbl.num_rows // batches)):
            w.write_batch(b)
    _rehash(path, CURVES)


def test_a_compressed_curves_file_is_refused_before_it_is_inflated(table_copy):
    # a compressed batch is inflated whole before its rows can be counted: 124 KB once asked for 3.9 GB
    _rewrite_curves(table_copy, compression="zstd")
    with pytest.raises(
        TableFormatError, match=r"curves\.arrow: record batch 0 is compressed; this reader reads"
    ):
        read_table(table_copy)


def test_curves_with_more_rows_than_the_manifest_are_refused_before_they_are_read(table_copy):
    _rewrite_curves(table_copy, batches=2, extra_rows=3)
    with pytest.raises(TableFormatError, match=r"record batches hold more than 80 rows, expected 80"):
        read_table(table_copy)


def test_curves_in_several_uncompressed_batches_still_read(table_copy, table_path):
    _rewrite_curves(table_copy, batches=3)
    np.testing.assert_array_equal(read_table(table_copy).cost, read_table(table_path).cost)


def test_a_configs_file_that_would_inflate_past_the_limit_is_refused_unread(table_copy, monkeypatch):
    import benchmarks.table as bt

    monkeypatch.setattr(bt, "MAX_CONFIGS_BYTES", 100)
    with pytest.raises(
        TableFormatError, match=r"configs\.parquet: its data inflates to [\d,]+ bytes; the limit is 100"
    ):
        read_table(table_copy)


def test_nan_metric_is_a_value_not_recorded(table_copy):
    metric = read_table(table_copy).metric_names[0]
    _tamper_curves(table_copy, metric, (0, 0, 4), np.nan)
    assert np.isnan(read_table(table_copy).arrays[metric][0, 0, 4])


def test_nan_cost_no_longer_gives_a_run_with_nan_times(table_copy):
    _tamper_curves(table_copy, COST, (0, 0, 4), np.nan)
    with pytest.raises(TableFormatError, match="cost must be finite"):
        TabularBenchmark.from_path(table_copy)


def test_configurations_outside_the_space_or_repeated_are_refused(table_copy):
    import pyarrow.parquet as pq

    t = read_table(table_copy)
    frame = t.configs.copy()
    hp = next(n for n in t.space.keys() if hasattr(t.space[n], "upper"))
    frame.loc[2, hp] = t.space[hp].upper * 10
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), table_copy / "configs.parquet")
    _rehash(table_copy, "configs.parquet")
    with pytest.raises(
        TableFormatError, match=f"configs.parquet: config row 2: {hp}=.* is outside the space"
    ):
        read_table(table_copy)
    frame = t.configs.copy()
    names = list(t.space.keys())
    frame.loc[7, names] = frame.loc[3, names]
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), table_copy / "configs.parquet")
    _rehash(table_copy, "configs.parquet")
    with pytest.raises(TableFormatError, match="config row 7 repeats an earlier configuration"):
        read_table(table_copy)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(seeds=[0, 0]), r"duplicate seeds in \[0, 0\]"),
        (lambda m: m.update(seeds=[0, 2**40]), r"seed 1099511627776 is outside the allowed range"),
        (lambda m: m.update(seeds=["0", 1]), r"'seeds'\[0\] is '0' \(str\); expected an integer"),
        (lambda m: m.update(n_configs="40"), r"'n_configs' is '40' \(str\); expected an integer"),
        (lambda m: m.update(n_configs=True), r"'n_configs' is True \(bool\); expected an integer"),
        (lambda m: m.update(metrics={"x": 1}), r"'metrics' is \{'x': 1\} \(dict\); expected a list"),
        (lambda m: m["fidelity"].update(values=[3, 2, 1, 4, 5]), "values must be strictly increasing"),
        (lambda m: m["fidelity"].update(values="12345"), r"'fidelity.values' is '12345'"),
        (lambda m: m["metrics"][0].update(direction="up"), "direction 'up' is not one of"),
        (lambda m: m["metrics"][0].update(upper="lots"), r"\.upper is 'lots'; expected a number"),
        (lambda m: m.update(objective="nope"), "objective 'nope' is not a metric"),
        (lambda m: m["files"]["curves.arrow"].update(sha256=5), r"sha256 is 5 \(int\)"),
        (lambda m: m.update(space=[1, 2]), r"'space' is \[1, 2\] \(list\); expected a mapping"),
        (lambda m: m.update(space={"hyperparameters": "x"}), "'space' is not a valid ConfigSpace space"),
        (lambda m: m.__setitem__("files", []), r"'files' is \[\] \(list\)"),
        (lambda m: m.update(provenance=[1]), r"'provenance' is \[1\] \(list\); expected a mapping"),
        (lambda m: m.update(task="x"), r"'task' is 'x' \(str\); expected a mapping"),
        (lambda m: m.update(description=3), r"'description' is 3 \(int\)"),
    ],
)
def test_table_manifest_fields_are_checked(table_copy, edit, message):
    m = _manifest(table_copy)
    edit(m)
    _write_manifest(table_copy, m)
    with pytest.raises(TableFormatError, match=message):
        read_table(table_copy)


def test_manifest_that_is_not_an_object_is_refused(table_copy):
    (table_copy / MANIFEST).write_text("[1, 2, 3]")
    with pytest.raises(TableFormatError, match="a manifest is a JSON object, got list"):
        read_table(table_copy)


# ---------------------------------------------------------------- silent wrong answers and bare exceptions
@pytest.fixture(scope="module")
def table_bench(table_path) -> TabularBenchmark:
    return TabularBenchmark.from_path(table_path)


def test_query_batch_seed_past_int32_is_an_error_not_seed_0(table_bench):
    ids = np.arange(3)
    for seeds in (np.full(3, 2**32), np.full(3, 2**32, dtype=np.uint64), np.full(3, -(2**32))):
        with pytest.raises(SeedError, match=f"seed {seeds[0]} is not held"):
            table_bench.query_batch(ids, seeds=seeds)
    n = len(table_bench.fidelity.values)
    with pytest.raises(Exception, match="not held|outside the range"):
        table_bench.query_batch(ids, fidelities=np.full(3, 2**32 + n, dtype=np.int64))


def test_two_dimensional_ids_are_an_error(table_bench):
    with pytest.raises(ConfigError, match=r"config ids must be a 1-D array; got shape \(2, 2\)"):
        table_bench.query_batch(np.zeros((2, 2), dtype=np.int64))


def test_a_withheld_surrogate_says_why_it_is_not_shipped():
    """The surrogate of a table in NO_SURROGATE is not in the catalog; asking for it gives the reason and
    points at the table, in the library and on the runner's command line."""
    from benchmarks.catalog import NO_SURROGATE
    from runners.checks import RunConfigError
    from runners.run import check_cli

    for table in NO_SURROGATE:
        assert f"{table}-surrogate" not in benchmarks.names() and table in benchmarks.names()
        with pytest.raises(
            UnknownBenchmarkError, match=rf"'{table}-surrogate' is not shipped: .*quality target"
        ):
            benchmarks.load(f"{table}-surrogate")
        with pytest.raises(RunConfigError, match=rf"the table '{table}' is there"):
            check_cli([f"benchmark={table}-surrogate"])
    with pytest.raises(UnknownBenchmarkError, match="unknown benchmark 'lcbench-nope-surrogate'"):
        benchmarks.load("lcbench-nope-surrogate")


def test_load_with_a_non_string_name_names_the_value():
    with pytest.raises(UnknownBenchmarkError, match=r"a benchmark name is a string, got 3 \(int\)"):
        benchmarks.load(3)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_integer_hyperparameter_is_a_config_error(table_bench, value):
    cfg = table_bench.config(0)
    name = next(n for n, hp in table_bench.space.items() if type(hp).__name__.startswith("UniformInteger"))
    with pytest.raises(ConfigError, match=f"{name}={value} is not a finite number"):
        table_bench.query({**cfg, name: value})


def test_surrogate_seed_past_int64_is_a_seed_error():
    b = SurrogateBenchmark.from_path(SHIPPED_SURROGATE)
    cfg = dict(b.space.sample_configuration())
    for seed in (2**63, 2**64, -1):
        with pytest.raises(
            SeedError, match=r"outside the allowed range; allowed: any integer in 0\.\.2\*\*63-1"
        ):
            b.query(cfg, seed=seed)
    with pytest.raises(SeedError, match="9223372036854775808 is outside the allowed range"):
        b.query_batch([cfg], seeds=np.array([2**63], dtype=np.uint64))
    assert np.isfinite(b.query(cfg, seed=2**63 - 1).metrics[b.objective])


# ---------------------------------------------------------------- the published tables' pickles
def test_published_pickles_are_read_as_plain_data(tmp_path):
    import io

    from benchmarks.importers.published import _DataOnlyUnpickler

    marker = tmp_path / "MARKER"

    class Payload:
        def __reduce__(self):
            return (Path.write_text, (marker, "ran"))

    data = pickle.dumps({"a": [1.0, 2.0], "b": Payload()})
    with pytest.raises(
        pickle.UnpicklingError, match="refusing pathlib.*published tables are read as plain data"
    ):
        _DataOnlyUnpickler(io.BytesIO(data)).load()
    assert not marker.exists()
    assert _DataOnlyUnpickler(io.BytesIO(pickle.dumps({"x": {"y": [1, 2.5, "s"]}}))).load() == {
        "x": {"y": [1, 2.5, "s"]}
    }


def test_a_published_pickle_of_another_layout_is_an_error_naming_the_file_and_the_entry(tmp_path):
    from benchmarks.importers.published import SOURCES, _check_raw

    src = next(iter(SOURCES.values()))
    names = list(src.params)
    fields = [*src.metrics, src.cost, *src.attributes]
    key = "0" * len(names)
    good = {key: {f: [1.0, 2.0] for f in fields}}
    pkl = tmp_path / "data.pkl"
    _check_raw(pkl, good, src)
    bad_digit = "9" * len(names) if len(src.params[names[0]]) < 10 else "x" * len(names)
    for raw, message in [
        ([1], "holds a list, expected a non-empty dict"),
        ({"0": good[key]}, r"key '0' is not a configuration: expected \d+ digits"),
        ({bad_digit: good[key]}, "is not a configuration"),
        ({key: {fields[0]: [1.0]}}, "holds .*; expected the fields"),
        (
            {key: {**good[key], fields[0]: ["n/a"]}},
            f"field {fields[0]!r} is \\['n/a'\\]; expected a list of numbers",
        ),
    ]:
        with pytest.raises(TableFormatError, match=f"data.pkl: .*{message}"):
            _check_raw(pkl, raw, src)


# ---------------------------------------------------------------- leftovers and the verify command
def test_a_killed_folder_write_leaves_nothing_the_next_write_keeps(table_path, tmp_path):
    import os
    import time

    from benchmarks.io import STALE_TMP_SECONDS, atomic_dir

    old = time.time() - STALE_TMP_SECONDS - 60
    stale = tmp_path / ".table.abc123.tmp"  # what a process killed inside atomic_dir leaves
    stale.mkdir()
    (stale / "configs.parquet").write_bytes(b"half")
    fresh = tmp_path / ".table.def456.tmp"  # another writer's, in progress: kept
    fresh.mkdir()
    other = tmp_path / ".other.abc.tmp"  # not this folder's: kept
    other.mkdir()
    for p in (stale, other):
        os.utime(p, (old, old))
    with atomic_dir(tmp_path / "table") as tmp:
        (tmp / "x").write_text("x")
    assert not stale.exists() and fresh.exists() and other.exists()
    assert (tmp_path / "table" / "x").read_text() == "x"


def test_verify_command_checks_a_folder_and_its_expected_checksum(table_copy, capsys):
    from benchmarks.__main__ import main

    assert main(["verify", f"target={table_copy}"]) == 0
    checksum = capsys.readouterr().out.split("checksum  ")[1].split()[0]
    assert checksum == table_checksum(_manifest(table_copy))
    assert main(["verify", f"target={table_copy}", f"expect={checksum}"]) == 0
    assert main(["verify", f"target={table_copy}", "expect=" + "0" * 64]) == 1
    _tamper_curves(table_copy, COST, (0, 0, 0), -5.0)
    assert main(["verify", f"target={table_copy}"]) == 2
    assert "negative cost" in capsys.readouterr().err


def test_verify_command_loads_a_surrogate_folder(surrogate_copy, capsys):
    from benchmarks.__main__ import main

    assert main(["verify", f"target={surrogate_copy}"]) == 0
    assert "SurrogateBenchmark" in capsys.readouterr().out
