"""Surrogate speed: predicting whole curves for 100,000 configurations, and fitting on a shipped table.

    python -m perf surrogates [--quick]

1. Prediction: an xgboost surrogate fitted on a synthetic 100-epoch table
   (4 metrics + cost) predicts the full curves, with seed noise, of 100,000
   configurations sampled from the space: every metric and the cost, and the
   objective alone. Target: at most 2 s. Baseline, in the same run: the
   fidelity-as-a-feature design (one xgboost row per (configuration, epoch),
   as in Syne Tune's ``BlackboxSurrogate`` with the fidelity as an input) with
   the same number of trees, predicting the objective only; it is timed on
   10,000 configurations and scaled linearly to 100,000 (noted).
2. The shipped surrogates (the catalog's ``NAME-surrogate`` of every generated
   table that is fitted here): the same two predictions on 100,000
   configurations of their own space (the objective with its cost, which is
   what an optimizer queries, and every metric).
3. Fitting: the shipped recipe (the catalog's model, with its settings) on
   every shipped table present (data/tables), and xgboost on the published
   FCNet naval table (62,208 configurations x 4 seeds) when it can be loaded.
   Target: at most 120 s each.
"""

from __future__ import annotations

import os
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.catalog import is_available, load
from benchmarks.catalog import names as catalog_names
from benchmarks.table import read_table
from surrogates.models import DEFAULTS
from surrogates.surrogate import CurveSurrogate
from surrogates.synthetic import synthetic_table

from .common import Report

N_PREDICT = 100_000
N_BASELINE = 10_000
PREDICT_TARGET_S = 2.0
FIT_TARGET_S = 120.0


def _best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _fidelity_as_feature_baseline(table, x_train: np.ndarray, x_query: np.ndarray) -> float:
    """Seconds to predict the objective curve of ``x_query`` with one xgboost row per (config, epoch)."""
    import xgboost as xgb

    F = len(table.fidelity.values)
    epochs = np.asarray(table.fidelity.values, dtype=np.float64)
    y = np.log(table.metric_values(table.manifest["objective"]).mean(axis=1))  # (C, F)
    rows = np.column_stack([np.repeat(x_train, F, axis=0), np.tile(epochs, len(x_train))])
    p = {k: v for k, v in DEFAULTS["xgboost"].items() if k != "multi_strategy"}
    reg = xgb.XGBRegressor(**p).fit(rows, y.reshape(-1))
    q = np.column_stack([np.repeat(x_query, F, axis=0), np.tile(epochs, len(x_query))])
    return _best_of(lambda: reg.predict(q), 1)


def main(quick: bool = False) -> Report:
    rep = Report("surrogates")
    if hasattr(os, "getloadavg"):  # other jobs on the machine slow every timing below
        rep.note(f"load average (1 min) at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    n_pred = 20_000 if quick else N_PREDICT
    with tempfile.TemporaryDirectory() as tmp:
        table = read_table(synthetic_table(Path(tmp) / "syn", n_configs=1000, n_seeds=4, n_epochs=100, seed=1))
    sur = CurveSurrogate(model="xgboost").fit(table)
    space = table.space
    space.seed(7)
    frame = pd.DataFrame([dict(c) for c in space.sample_configuration(n_pred)], columns=list(space.keys()))
    x = sur.encode(frame, validated=True)
    seeds = np.arange(n_pred) % 4
    scale = N_PREDICT / n_pred
    t_all = _best_of(lambda: sur.predict_curves(x, seeds=seeds), 1 if quick else 3) * scale
    t_obj = _best_of(lambda: sur.predict_curves(x, seeds=seeds, metrics=[sur.objective_], cost=False), 1 if quick else 3)
    t_obj *= scale
    t_enc = _best_of(lambda: sur.encode(frame), 1) * scale
    x_train = sur.encode(table.configs.drop(columns="config_id"), validated=True)
    t_base = _fidelity_as_feature_baseline(table, x_train, x[:N_BASELINE]) * (N_PREDICT / N_BASELINE)
    rep.add("predict 100k full curves, all metrics + cost (s)", t_all, None, "", target=PREDICT_TARGET_S)
    rep.add("predict 100k full curves, objective only (s)", t_obj, t_base, "xgboost row per (config, epoch)",
            target=PREDICT_TARGET_S)
    rep.add("validate + encode 100k configurations (s)", t_enc, None, "")
    rep.note(f"synthetic table: 1000 configs x 4 seeds x 100 epochs, {len(table.metrics)} metrics + cost; "
             f"baseline timed on {N_BASELINE:,} configurations and scaled to {N_PREDICT:,}"
             + (f"; --quick: timed on {n_pred:,} and scaled" if quick else ""))

    from surrogates.benchmark import shipped_path
    from surrogates.build import SHIPPED_SETTINGS, catalog_model
    from surrogates.store import load_surrogate

    shipped = [n for n in catalog_names(kind="table") if is_available(n)[0]]
    for name in shipped:
        model = catalog_model(name)
        path = shipped_path(name, model)
        if not (path / "manifest.json").is_file():
            rep.note(f"{name}: its {model} surrogate is not fitted here (make surrogates)")
            continue
        sur_s, _ = load_surrogate(path)
        sp = sur_s.space_
        sp.seed(7)
        fr = pd.DataFrame([dict(c) for c in sp.sample_configuration(n_pred)], columns=list(sp.keys()))
        xs = sur_s.encode(fr, validated=True)
        sd = np.arange(n_pred) % max(1, len(sur_s.table_seeds_))
        t_oc = _best_of(partial(sur_s.predict_curves, xs, seeds=sd, metrics=[sur_s.objective_]), 1 if quick else 2)
        t_am = _best_of(partial(sur_s.predict_curves, xs, seeds=sd), 1)
        rep.add(f"{name}-surrogate ({model}): 100k objective + cost (s)", t_oc * scale, None, "", target=PREDICT_TARGET_S)
        rep.add(f"{name}-surrogate ({model}): 100k every metric + cost (s)", t_am * scale, None, "")
    extra = [] if quick else ["pub-fcnet-naval"]
    for name in shipped + extra:
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
        rep.add(f"fit {model} on {name} ({C}x{S}x{F}) (s)", s.fit_seconds_, None, "", target=FIT_TARGET_S)
    if not shipped:
        rep.note("no shipped table generated yet (make tables); fit time measured on the published FCNet table only")
    rep.print()
    return rep


if __name__ == "__main__":
    main()
