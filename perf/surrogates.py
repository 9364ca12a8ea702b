"""Surrogate speed: predicting whole curves for 100,000 configurations, and fitting on a shipped table.

    python -m perf surrogates [--quick]
    python -m perf.surrogates --fit          # section 4 as well (minutes: outside make perf's budget)

1. Prediction: an xgboost surrogate fitted on a synthetic 100-epoch table
   (4 metrics + cost) predicts the full curves, with seed noise, of 100,000
   configurations sampled from the space: every metric and the cost, and the
   objective alone. Target: at most 2 s. Baseline, in the same run: the
   fidelity-as-a-feature design (one xgboost row per (configuration, epoch),
   as in Syne Tune's ``BlackboxSurrogate`` with the fidelity as an input) with
   the same number of trees, predicting the objective only, at the thread count
   ours predicts with (``PREDICT_THREADS``, stated beside the figure); it is timed on
   10,000 configurations and scaled linearly to 100,000 (noted). Ours and the
   baseline alternate, medians of 3 (``--quick``: 1).
2. The shipped surrogates (the catalog's ``NAME-surrogate`` of every generated
   table that is fitted here): the same two predictions on 100,000
   configurations of their own space (the objective with its cost, which is
   what an optimizer queries, and every metric).
3. One unseen configuration (what a sequential optimizer pays for every new configuration it
   proposes): ``SurrogateBenchmark.query`` of a configuration not asked before (the whole query:
   validation, encoding, the model call, every metric's curve, the cost; one thread: a numpy
   forward pass below the size at which BLAS starts threads), on the shipped surrogates named in
   ``QUERY_SURROGATES``, beside an xgboost one-row predict at the same thread count
   (``Booster.inplace_predict``, one thread, the surrogate's model call alone) and with its parts
   (model call; encoding) and its CPU time shown; and 100,000 full curves of the objective
   (``predict_curves``: row chunks over ``PREDICT_THREADS`` workers, BLAS at one thread each) beside
   an xgboost predict of as many rows at that thread count. Three states: as the machine is found,
   with one busy-loop process started by the script (with this one, a load of 2: every core of a
   2-core machine taken) and with two (a load of 3), each the median of alternating rounds; the load
   column gives the count of runnable tasks sampled after each round (a load started seconds ago
   shows there at once; the 1-minute average, which lags, is in the notes). Targets: a query
   <= 0.2 ms, 100k objective curves <= 1 s. ``python -m perf.surrogates --query [--quick]`` runs this section alone.
4. Fitting: the shipped recipe (the catalog's model, with its settings) on
   every shipped table present (data/tables), and xgboost on the published
   FCNet naval table (62,208 configurations x 4 seeds) when it can be loaded.
   Target: at most 120 s each. Only with ``--fit`` (``python -m perf.surrogates --fit``):
   the fits take minutes each, beyond ``make perf``'s budget.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.catalog import is_available, load, withheld_surrogate
from benchmarks.catalog import names as catalog_names
from benchmarks.sampling import as_dicts
from benchmarks.table import read_table
from surrogates.benchmark import SurrogateBenchmark, shipped_path, surrogates_dir
from surrogates.build import SHIPPED_SETTINGS, catalog_model
from surrogates.models import DEFAULTS
from surrogates.store import load_surrogate
from surrogates.surrogate import PREDICT_THREADS, CurveSurrogate
from surrogates.synthetic import synthetic_table

from .common import (
    Report,
    alternate,
    busy_loops,
    clock,
    load_average,
    load_now,
    runnable,
    set_threads,
    stop,
    threads_text,
)

N_PREDICT = 100_000
N_BASELINE = 10_000
PREDICT_TARGET_S = 2.0
FIT_TARGET_S = 120.0
QUERY_TARGET_MS = 0.2
#: the fewest rounds of the single-query measures when the section's clock runs short (of 5; see single_query)
QUERY_MIN_ROUNDS = 3
OBJECTIVE_TARGET_S = 1.0
#: the shipped surrogates whose single-configuration speed is measured (an MLP ensemble of each family, an xgboost one)
QUERY_SURROGATES = ("lcbench-car-ensemble", "fcnet-naval-ensemble", "pub-fcnet-naval-xgboost")


#: each sampled configuration stands in this many consecutive rows of a timed batch (with the seeds
#: ``arange(n) % 4`` of the 4-seed tables: one curve per (configuration, seed)); ConfigSpace draws 100,000
#: configurations in seconds, which the section's budget cannot spare for every surrogate
ROWS_PER_CONFIG = 4


def _sample_frame(space, n: int, cache: dict) -> pd.DataFrame:
    """``n`` rows of configurations of ``space`` (seed 7), each one drawn in ROWS_PER_CONFIG rows.

    Drawn once per space and size in ``cache``: the tables of a family share one space, and the
    single-query measures time the same batch in both states.
    """
    key = (json.dumps(space.to_serialized_dict(), sort_keys=True), n)
    if key not in cache:
        space.seed(7)
        k = -(-n // ROWS_PER_CONFIG)
        frame = pd.DataFrame(as_dicts(space, space.sample_configuration(k)), columns=list(space.keys()))
        cache[key] = frame.iloc[np.repeat(np.arange(k), ROWS_PER_CONFIG)[:n]].reset_index(drop=True)
    return cache[key]


def single_query(rep: Report, quick: bool = False, frames: dict | None = None) -> None:
    """Section 3 of the module docstring."""
    import xgboost as xgb

    # five rounds of 500 queries: on a shared machine one round's CPU per query varies by a third or more
    # (other tenants' cache and memory traffic), so the median needs more than three
    rounds = 3 if quick else 5
    n_q = 100 if quick else 500
    n_curves = 20_000 if quick else N_PREDICT
    # "as found": the machine as it is (the load column says how busy); "+1 busy loop": one more process
    # started here (with this one, a load of 2: on 2 cores, every core taken); "+2 busy loops": two more
    # (a load of 3). The load column of these rows is the count of runnable tasks sampled after each round
    # (this process included), which a load started seconds ago shows at once, where the 1-minute average
    # lags. --quick: as found only, on the first surrogate (a smoke test)
    frames = {} if frames is None else frames
    boosters: dict[int, object] = {}
    states = (("as found", 0),) if quick else (("as found", 0), ("+1 busy loop", 1), ("+2 busy loops", 2))
    # the single query may take 60 % of the section's clock: each (load, surrogate) pair an equal part of what is
    # left; on a slow machine a pair takes fewer rounds (never under QUERY_MIN_ROUNDS), and the load states after
    # the first are left out once one would end past the share
    whole = clock().part(0.6, "single query")
    names = QUERY_SURROGATES[:1] if quick else QUERY_SURROGATES
    n_pairs = len(states) * len(names)
    for i in whole.rounds(len(states), 1, lambda i: "not measured: " + ", ".join(s for s, _ in states[i:])):
        state, n_busy = states[i]
        procs = busy_loops(n_busy) if n_busy else []
        try:
            if procs:
                time.sleep(1.0)  # let them start
            for j, name in enumerate(names):
                path = surrogates_dir() / name
                if not (path / "manifest.json").is_file():
                    rep.note(f"{name}: not fitted here; single-query speed not measured")
                    continue
                bench = SurrogateBenchmark.from_path(path)
                sur = bench.surrogate
                sp = type(bench.space).from_serialized_dict(bench.space.to_serialized_dict())
                sp.seed(11)
                cfgs = [dict(c) for c in sp.sample_configuration(n_q * rounds + 20)]
                fr = _sample_frame(sp, n_curves, frames)
                x = sur.encode(fr, validated=True)
                seeds = np.arange(n_curves) % 4
                x1 = sur.encoder_.encode_one(cfgs[0])
                # the baseline: one row through an xgboost booster (150 multi-output trees of depth 6, one thread),
                # and the same trees on PREDICT_THREADS threads for 100k rows; fitted once per input width (the
                # fit takes seconds and is not what is timed)
                if x.shape[1] not in boosters:
                    rng = np.random.default_rng(0)
                    xb = rng.random((500, x.shape[1]))
                    base = xgb.XGBRegressor(**{**DEFAULTS["xgboost"], "n_jobs": 1}).fit(
                        xb, rng.random((500, 9))
                    )
                    boosters[x.shape[1]] = base.get_booster()
                booster = boosters[x.shape[1]].copy()
                booster.set_param({"nthread": 1})
                big_booster = boosters[x.shape[1]].copy()
                big_booster.set_param({"nthread": PREDICT_THREADS})
                for c in cfgs[:20]:
                    bench.query(c)
                q, qcpu, b1, mc, enc, cur, bbig, loads, runq = [], [], [], [], [], [], [], [], []
                k = 20
                part = whole.split(n_pairs - i * len(names) - j, f"{name} query, {state}")
                for _ in part.rounds(rounds, QUERY_MIN_ROUNDS):  # alternate the measures, take medians
                    t0, c0 = time.perf_counter(), time.process_time()
                    for c in cfgs[k : k + n_q]:
                        bench.query(c)
                    q.append((time.perf_counter() - t0) / n_q * 1e3)
                    qcpu.append((time.process_time() - c0) / n_q * 1e3)
                    runq.append(runnable())
                    t0 = time.perf_counter()
                    for _ in range(n_q):
                        booster.inplace_predict(x1)
                    b1.append((time.perf_counter() - t0) / n_q * 1e3)
                    t0 = time.perf_counter()
                    for _ in range(n_q):
                        sur._predict_z(range(len(sur.blocks_)), x1)
                    mc.append((time.perf_counter() - t0) / n_q * 1e3)
                    t0 = time.perf_counter()
                    for c in cfgs[k : k + n_q]:
                        sur.encoder_.encode_one(c)
                    enc.append((time.perf_counter() - t0) / n_q * 1e3)
                    k += n_q
                    t0 = time.perf_counter()
                    sur.predict_curves(x, seeds=seeds, metrics=[sur.objective_], cost=False)
                    cur.append((time.perf_counter() - t0) * (N_PREDICT / n_curves))
                    t0 = time.perf_counter()
                    big_booster.inplace_predict(x)
                    bbig.append((time.perf_counter() - t0) * (N_PREDICT / n_curves))
                    loads.append(os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"))
                part.done()
                med = float(np.median(loads))
                run_med = float(np.median(runq))
                rep.add(
                    f"{name}: one unseen-config query, {state} (ms)",
                    float(np.median(q)),
                    float(np.median(b1)),
                    "xgboost one-row predict, 1 thread",
                    target=QUERY_TARGET_MS,
                    load=run_med,
                    setting="xgboost: nthread=1; ours: one thread (numpy forward pass, BLAS below its threading "
                    "size); load: runnable tasks, sampled",
                )
                rep.add(f"{name}: the same, CPU time, {state} (ms)", float(np.median(qcpu)), None, "")
                rep.add(
                    f"{name}: model call of one config, {state} (ms)",
                    float(np.median(mc)),
                    float(np.median(b1)),
                    "xgboost one-row predict, 1 thread",
                )
                rep.add(
                    f"{name}: validate + encode one config, {state} (ms)", float(np.median(enc)), None, ""
                )
                rep.add(
                    f"{name}: 100k objective curves, {state} (s)",
                    float(np.median(cur)),
                    float(np.median(bbig)),
                    f"xgboost predict of 100k rows (model call only), {PREDICT_THREADS} threads",
                    target=OBJECTIVE_TARGET_S,
                    load=run_med,
                    setting=f"both at {PREDICT_THREADS} threads; load: runnable tasks, sampled",
                )
                rep.note(
                    f"{name} {state}: {run_med:.0f} runnable tasks (median of samples after each round, "
                    f"this process included), load average (1 min) {med:.2f} "
                    f"({len(q)} alternating rounds, medians; {n_q} queries per round; 100k curves on "
                    f"{PREDICT_THREADS} worker threads, BLAS at 1"
                    + (f"; timed on {n_curves:,} and scaled" if n_curves != N_PREDICT else "")
                    + ")"
                )
        finally:
            stop(procs)
    whole.done()


def _best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _fidelity_as_feature_baseline(table, x_train: np.ndarray, x_query: np.ndarray, threads: int):
    """A function timing the objective curves of ``x_query`` by one xgboost row per (config, epoch).

    The model is fitted here (outside the timing); it predicts at ``threads`` threads.
    """
    import xgboost as xgb

    F = len(table.fidelity.values)
    epochs = np.asarray(table.fidelity.values, dtype=np.float64)
    y = np.log(table.metric_values(table.manifest["objective"]).mean(axis=1))  # (C, F)
    rows = np.column_stack([np.repeat(x_train, F, axis=0), np.tile(epochs, len(x_train))])
    p = {k: v for k, v in DEFAULTS["xgboost"].items() if k != "multi_strategy"}
    reg = xgb.XGBRegressor(**p).fit(rows, y.reshape(-1))
    booster = reg.get_booster()
    booster.set_param({"nthread": threads})
    q = np.column_stack([np.repeat(x_query, F, axis=0), np.tile(epochs, len(x_query))])
    return lambda: _best_of(lambda: booster.inplace_predict(q), 1)


def main(quick: bool = False, fit: bool = False) -> Report:
    rep = Report("surrogates")
    rep.note(
        threads_text(set_threads(1))
        + f"; predictions of big batches: {PREDICT_THREADS} worker threads (ours and the xgboost baseline alike)"
    )
    rep.note(f"load average (1 min) at start: {load_average():.2f} on {os.cpu_count()} CPUs")
    frames: dict = {}  # the sampled batches, shared by the measures below (see _sample_frame)
    single_query(rep, quick, frames)
    n_pred = 20_000 if quick else N_PREDICT
    with tempfile.TemporaryDirectory() as tmp:
        table = read_table(
            synthetic_table(Path(tmp) / "syn", n_configs=1000, n_seeds=4, n_epochs=100, seed=1)
        )
    sur = CurveSurrogate(model="xgboost").fit(table)
    space = table.space
    frame = _sample_frame(space, n_pred, frames)
    x = sur.encode(frame, validated=True)
    seeds = np.arange(n_pred) % 4
    scale = N_PREDICT / n_pred
    x_train = sur.encode(table.configs.drop(columns="config_id"), validated=True)
    n_base = min(N_BASELINE, n_pred)
    base = _fidelity_as_feature_baseline(table, x_train, x[:n_base], PREDICT_THREADS)
    t = alternate(
        {
            "ours": lambda: (
                _best_of(lambda: sur.predict_curves(x, seeds=seeds, metrics=[sur.objective_], cost=False), 1)
                * scale
            ),
            "base": lambda: base() * (N_PREDICT / n_base),
        },
        1 if quick else 3,
        share=0.1,
        what="100k objective curves against xgboost",
    )
    t_all = _best_of(lambda: sur.predict_curves(x, seeds=seeds), 1) * scale
    t_enc = _best_of(lambda: sur.encode(frame), 1) * scale
    rep.add("predict 100k full curves, all metrics + cost (s)", t_all, None, "", target=PREDICT_TARGET_S)
    rep.add_timing(
        "predict 100k full curves, objective only (s)",
        t["ours"],
        t["base"],
        "xgboost row per (config, epoch)",
        target=PREDICT_TARGET_S,
        setting=f"both at {PREDICT_THREADS} threads; the same trees",
    )
    rep.add("validate + encode 100k configurations (s)", t_enc, None, "")
    rep.note(
        f"synthetic table: 1000 configs x 4 seeds x 100 epochs, {len(table.metrics)} metrics + cost; every timed "
        f"batch of {n_pred:,} rows holds {-(-n_pred // ROWS_PER_CONFIG):,} sampled configurations, "
        f"each in {ROWS_PER_CONFIG} rows (seeds 0-3); "
        f"baseline timed on {n_base:,} configurations and scaled to {N_PREDICT:,}"
        + (f"; --quick: timed on {n_pred:,} and scaled" if quick else "")
    )

    shipped = [n for n in catalog_names(kind="table") if is_available(n)[0]]
    shipped = shipped[:2] if quick else shipped
    part = clock().part(0.2, "shipped surrogates, 100k curves")
    for i in part.rounds(len(shipped), 1, lambda i: f"not timed: {', '.join(shipped[i:])}"):
        name = shipped[i]
        # below the quality target: no surrogate is shipped (catalog NO_SURROGATE)
        if withheld_surrogate(f"{name}-surrogate"):
            rep.note(f"{name}: no surrogate is shipped (below the quality target, docs/surrogates.md)")
            continue
        model = catalog_model(name)
        path = shipped_path(name, model)
        if not (path / "manifest.json").is_file():
            rep.note(f"{name}: its {model} surrogate is not fitted here (make surrogates)")
            continue
        sur_s, _ = load_surrogate(path)
        sp = sur_s.space_
        fr = _sample_frame(sp, n_pred, frames)
        xs = sur_s.encode(fr, validated=True)
        sd = np.arange(n_pred) % max(1, len(sur_s.table_seeds_))
        t_oc = _best_of(partial(sur_s.predict_curves, xs, seeds=sd, metrics=[sur_s.objective_]), 1)
        t_am = _best_of(partial(sur_s.predict_curves, xs, seeds=sd), 1)
        rep.add(
            f"{name}-surrogate ({model}): 100k objective + cost (s)",
            t_oc * scale,
            None,
            "",
            target=PREDICT_TARGET_S,
            load=load_now(),
        )
        rep.add(f"{name}-surrogate ({model}): 100k every metric + cost (s)", t_am * scale, None, "")
    part.done()
    if fit:
        _fits(rep, shipped)
    else:
        rep.note("fitting not measured in this run (python -m perf.surrogates --fit: minutes per table)")
    rep.print()
    return rep


def _fits(rep: Report, shipped: list[str]) -> None:
    """Section 4 of the module docstring."""
    for name in shipped + ["pub-fcnet-naval"]:
        try:
            bench = load(name)
        except Exception as e:  # an importer that cannot run here is reported, not fatal
            rep.note(f"{name}: not loaded ({type(e).__name__}: {e})")
            continue
        t = bench.table
        model = catalog_model(name)
        settings = SHIPPED_SETTINGS.get(model, {})
        s = CurveSurrogate(model=model, distill=settings.get("distill", 0)).fit(t)
        C, S, F = t.cost.shape
        rep.add(
            f"fit {model} on {name} ({C}x{S}x{F}) (s)",
            s.fit_seconds_,
            None,
            "",
            target=FIT_TARGET_S,
            load=load_now(),
        )
    if not shipped:
        rep.note(
            "no shipped table generated yet (make tables); fit time measured on the published FCNet table only"
        )


if __name__ == "__main__":
    import sys

    if "--query" in sys.argv:  # section 3 alone
        _rep = Report("surrogates-query")
        single_query(_rep, quick="--quick" in sys.argv)
        _rep.print()
    else:
        main(quick="--quick" in sys.argv, fit="--fit" in sys.argv)
