"""CurveSurrogate: a regressor of whole learning curves (every metric and the cost) over a search space.

``CurveSurrogate(model="xgboost").fit(table)`` learns, for each configuration
of the table, the compressed curves of :mod:`surrogates.targets` (one
regressor per metric, plus one for the cost), and then predicts the full
curves of any configuration of the space at the table's fidelity grid, for any
seed. Training rows are configurations: all seeds and fidelities of one
configuration form one row, so any split of the rows is a split by
configuration.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from benchmarks.protocol import Fidelity, MetricError
from benchmarks.table import Table

from .encoding import SpaceEncoder, config_seed_hash, seed_hash_one
from .models import DEFAULTS, JOINT, MLPEnsembleRegressor, check_model, make_regressor, member_params
from .stacked import CostCurves, StackedMetrics, noise_amplitudes, stackable
from .targets import CostBlock, MetricBlock
from .trees import NumpyForest, NumpyTrees, UnsupportedModel

#: at most this many (config, seed) residual vectors are kept for the seed noise
BANK_SIZE = 1024
_BIG_BATCH = 4096
#: at most this many rows go through the numpy tree walk (surrogates.trees) instead of XGBoost's predict: each row
#: costs about 0.04 ms there, against about 0.2 ms of fixed cost per XGBoost call (docs/performance.md)
_NUMPY_TREE_ROWS = 4
#: each XGBoost booster's trees as numpy arrays, built on its first small prediction (None: not supported)
_numpy_trees: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: a surrogate's caches of derived objects: never copied or pickled, dropped by fit, remade on use
_CACHES = (
    "_bank32_cache",
    "_stacked_cache",
    "_columns_cache",
    "_forest_cache",
    "_blocks_cache",
    "_amp_rows_cache",
)
_CPUS = os.cpu_count() or 1
#: the student network of a distilled surrogate (see CurveSurrogate.distill)
DISTILL_MLP: dict[str, Any] = {
    "n_members": 1,
    "hidden": 192,
    "n_layers": 3,
    "max_steps": 5000,
    "batch_size": 512,
    "lr": 3e-3,
    "weight_decay": 1e-5,
}
#: threads for predictions on big batches (at most 2: the machines this runs on are often shared): xgboost's own,
#: or the workers of CurveSurrogate._predict_in_chunks
PREDICT_THREADS = max(
    1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
)
#: a big batch of a numpy surrogate is predicted in row chunks of about this many float32 values per curve array
_CHUNK_VALUES = 1 << 17
#: rows of one model call in a big batch of an xgboost surrogate (below _BIG_BATCH: one thread a call)
_MODEL_ROWS = 2048
#: rows of the call that lets a booster configure itself before the workers call it
_CONFIGURE_ROWS = 8


def _chunk_rows(n_fid: int, n_metrics: int) -> int:
    """Rows of a chunk of a big batch: about ``_CHUNK_VALUES`` curve values per metric array, a multiple of 4."""
    return max(64, _CHUNK_VALUES // (n_fid * max(1, n_metrics)) // 4 * 4)


def _median_seed_difference(by_seed: Sequence[np.ndarray], pairs: Sequence[tuple[int, int]]) -> float:
    """Median absolute difference between seeds s and t over the given pairs, finite values only (0 if none)."""
    with np.errstate(invalid="ignore"):
        d = np.concatenate([np.abs(by_seed[s] - by_seed[t]).ravel() for s, t in pairs])
    d = d[np.isfinite(d)]
    return float(np.median(d)) if d.size else 0.0


def _trees_of(reg: Any) -> NumpyTrees | None:
    """``reg``'s trees as numpy arrays, built once per booster (a refit makes a new one; None when
    :class:`NumpyTrees` does not support the model)."""
    booster = reg.get_booster()
    try:
        return _numpy_trees[booster]
    except KeyError:
        pass
    try:
        trees: NumpyTrees | None = NumpyTrees.from_booster(booster)
    except UnsupportedModel:
        trees = None
    _numpy_trees[booster] = trees
    return trees


class CurveSurrogate(BaseEstimator):
    """Predicts every metric's learning curve and the cumulative cost of any configuration, for any seed.

    Parameters
    ----------
    model: "xgboost" (default), "rf", "knn", "mlp", "gp" or "ensemble" (see :mod:`surrogates.models`).
        An ensemble averages its members' standardized predictions, block by block.
    model_params: overrides of the model's default parameters (for an ensemble, see
        :func:`surrogates.models.member_params`).
    max_components: at most this many PCA scores describe one mean curve.
    noise: reproduce seed-to-seed variation (False: every seed gets the mean curve).
    random_state: seeds the regressors and the choice of the noise bank.
    distill: 0 (default) keeps the fitted model. A positive number n distills it: the model
        labels n configurations sampled from the space (plus the training ones) with its
        predicted targets of every block, one MLP (``distill_params``, see :data:`DISTILL_MLP`)
        is fitted to those labels and replaces it. The student predicts in one small
        network call what an ensemble needs three models and a Gaussian-process kernel
        for; the quality card measures the student, since it is what answers.
    distill_params: overrides of :data:`DISTILL_MLP`.
    """

    def __init__(
        self,
        model: str = "xgboost",
        model_params: dict[str, Any] | None = None,
        max_components: int = 8,
        noise: bool = True,
        random_state: int = 0,
        distill: int = 0,
        distill_params: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.model_params = model_params
        self.max_components = max_components
        self.noise = noise
        self.random_state = random_state
        self.distill = distill
        self.distill_params = distill_params

    def __getstate__(self):  # the caches of derived arrays are not copied or pickled (remade on use)
        state = dict(super().__getstate__())
        for k in _CACHES:
            state.pop(k, None)
        return state

    # ------------------------------------------------------------ fit
    def fit(self, table: Table | Any, config_ids: Sequence[int] | np.ndarray | None = None) -> CurveSurrogate:
        """Fit on a table (a :class:`benchmarks.table.Table`, or a benchmark holding one as ``.table``).

        ``config_ids``: fit on these configurations only (e.g. a training fold).
        """
        check_model(self.model)
        if self.max_components < 1:
            raise ValueError(f"max_components={self.max_components!r}; allowed: an integer >= 1")
        table = getattr(table, "table", table)
        if not isinstance(table, Table):
            raise TypeError(
                f"fit needs a benchmarks.table.Table or a TabularBenchmark, got {type(table).__name__}"
            )
        t0 = time.perf_counter()
        for k in _CACHES:
            self.__dict__.pop(k, None)
        ids = np.arange(len(table.configs)) if config_ids is None else np.asarray(config_ids, dtype=np.int64)
        if ids.size < 2:
            raise ValueError(f"fit needs at least 2 configurations, got {ids.size}")
        self.space_ = table.space
        self.encoder_ = SpaceEncoder(table.space)
        self.fidelity_ = Fidelity(
            table.fidelity.name,
            table.fidelity.values,
            table.fidelity.unit,
            continuous=True,
            incremental=table.fidelity.incremental,  # a training-set size is not: a continuation pays in full
        )
        self.metrics_ = {m.name: m for m in table.metrics}
        self.objective_ = table.manifest["objective"]
        self.test_objective_ = table.manifest.get("test_objective")
        self.table_name_ = table.name
        self.table_seeds_ = tuple(table.seeds)
        n_seeds = len(table.seeds)
        self.noise_scale_ = float(np.sqrt(n_seeds / (n_seeds - 1))) if (self.noise and n_seeds > 1) else 0.0

        X = self.encoder_.encode(table.configs.iloc[ids], validated=True)
        fitted = [
            MetricBlock.fit(m, table.metric_values(m.name)[ids], self.max_components) for m in table.metrics
        ]
        fitted.append(CostBlock.fit(table.cost[ids], self.max_components))
        blocks, targets, resids, amps = (list(col) for col in zip(*fitted))

        self.blocks_ = blocks
        self.target_mean_, self.target_std_, zs = [], [], []
        for t in targets:
            mean, std = t.mean(axis=0), t.std(axis=0)
            std = np.where(std > 1e-12, std, 1.0)
            zs.append((t - mean) / std)
            self.target_mean_.append(mean)
            self.target_std_.append(std)
        self.block_columns_ = np.cumsum([0] + [z.shape[1] for z in zs])
        self.regressors_ = {}
        self.joint_ = {name: name in JOINT for name in self.members()}
        for name, params in self.members().items():
            if self.joint_[name]:  # one regressor for every block's targets together
                self.regressors_[name] = [
                    make_regressor(name, params, self.random_state).fit(X, np.hstack(zs))
                ]
            else:
                self.regressors_[name] = [
                    make_regressor(name, params, self.random_state).fit(X, z if z.shape[1] > 1 else z[:, 0])
                    for z in zs
                ]
        self.distilled_from_ = None
        if self.distill:
            self._distill(X)
        self.bank_ = self._make_bank(resids, amps)
        self.noise_calibration_ = np.ones(len(blocks))
        if self.noise_scale_ > 0:
            raw = {m.name: table.metric_values(m.name)[ids] for m in table.metrics}
            self.noise_calibration_ = self._noise_calibration(X, resids, raw)
        self.n_features_in_ = X.shape[1]
        self.n_train_configs_ = int(ids.size)
        teacher = getattr(self, "teacher_", None)
        if (
            self.distill and teacher is not None
        ):  # the teacher predicts as the student does, with its own model
            for k in ("bank_", "noise_calibration_", "n_features_in_", "n_train_configs_"):
                setattr(teacher, k, getattr(self, k))
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _sample_space(self, n: int, salt: int) -> np.ndarray:
        """``n`` configurations sampled from the space (seeded by random_state and ``salt``), encoded."""
        import copy

        space = copy.deepcopy(self.space_)
        space.seed(int(self.random_state) * 1000 + salt)
        configs = space.sample_configuration(n) if n > 1 else [space.sample_configuration()]
        return self.encoder_.encode(
            pd.DataFrame([dict(c) for c in configs], columns=list(space.keys())), validated=True
        )

    def _distill(self, X: np.ndarray) -> None:
        """Replace the fitted model by one MLP fitted to its predictions (see ``distill``)."""
        import copy

        n = int(self.distill)
        if n < 0:
            raise ValueError(
                f"distill={self.distill!r}; allowed: 0 (off) or a number of sampled configurations"
            )
        xs = np.vstack([X, self._sample_space(n, salt=0)])
        blocks = range(len(self.blocks_))
        labels = np.hstack([z for _, z in sorted(self._predict_z(blocks, xs).items())])
        params = {**DISTILL_MLP, **(self.distill_params or {})}
        student = make_regressor("mlp", params, self.random_state).fit(xs, labels)
        self.distilled_from_ = {
            "members": list(self.regressors_),
            "n_sampled": n,
            "n_train": int(len(X)),
            "student": params,
        }
        # the model before distillation, kept in memory only (not saved), so the quality card can compare
        self.teacher_ = copy.copy(self)
        self.regressors_ = {"mlp": [student]}
        self.joint_ = {"mlp": True}

    def _noise_calibration(
        self, X: np.ndarray, resids: list[np.ndarray], raw: dict[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """Per block, the factor that makes the median seed-to-seed difference match the table's.

        The median absolute difference between two real seeds over the training
        configurations is divided by the same median for the surrogate's seeds
        (drawn exactly as predictions draw them) over as many configurations
        sampled from the space. The surrogate's side is taken on configurations
        it was not fitted on because that is where it is used: on its own
        training configurations a flexible regressor predicts the large
        amplitudes of the noisiest runs, elsewhere it predicts typical ones.

        The factor is first found on the scale the residuals live on (normal
        scores of the log distance to the metric's bound), then, for each metric
        whose raw values ``raw`` (C, S, F) are given, refined on the log scale
        of the metric itself, where a difference between two seeds means the
        same at every level of the metric: the normal-score map stretches
        crowded ranges (a plateau of runs stuck at one loss), so a factor right
        in normal scores left seeds there too close together on the metric's
        own scale. The refinement rescales the factor until the medians agree
        (the map is monotone; a few steps suffice).
        """
        S = resids[0].shape[1]
        X = self._sample_space(max(256, X.shape[0]), salt=1)
        n = X.shape[0]
        pairs = [(s, t) for s in range(S) for t in range(s + 1, S)]
        idx = [
            (config_seed_hash(X, np.full(n, s)) % np.uint64(len(self.bank_[0]))).astype(np.int64)
            for s in range(S)
        ]
        out = []
        predicted = self._predict_targets(range(len(resids)), X)
        for j, r in enumerate(resids):
            b = self.blocks_[j]
            amp = np.maximum(np.exp(predicted[j][:, -1]) - b.amp_floor, 0.0)
            bank = self.bank_[j].astype(np.float64)
            fake = [amp[:, None] * self.noise_scale_ * bank[i] for i in idx]
            real_d = _median_seed_difference([r[:, s] for s in range(S)], pairs)
            fake_d = _median_seed_difference(fake, pairs)
            factor = float(real_d / fake_d) if real_d > 0 and fake_d > 0 else 1.0
            if raw is not None and b.kind == "metric" and b.name in raw:
                factor = self._refine_on_metric_scale(j, predicted[j], idx, pairs, raw[b.name], factor)
            out.append(factor)
        return np.asarray(out)

    def _refine_on_metric_scale(
        self,
        j: int,
        targets: np.ndarray,
        idx: list[np.ndarray],
        pairs: list[tuple[int, int]],
        raw: np.ndarray,
        factor: float,
    ) -> float:
        """Rescale block ``j``'s noise factor until the median seed difference matches on the metric's log scale."""
        b = self.blocks_[j]
        fwd = b.transform.forward
        with np.errstate(invalid="ignore"):
            g = fwd(raw.astype(np.float64))
            real_med = _median_seed_difference([g[:, s] for s in range(g.shape[1])], pairs)
        if not real_med > 0:
            return factor
        mean, log_amp = b.decode(targets)
        amp = np.maximum(np.exp(log_amp) - b.amp_floor, 0.0).astype(np.float32)
        lo, hi = factor / 8.0, factor * 8.0

        def median_at(c: float) -> float:
            curves = [
                fwd(
                    b.curves(
                        mean.copy(),
                        amp,
                        self._bank32(j)[i] * np.float32(self.noise_scale_ * c),
                        self.metrics_[b.name],
                    )
                )
                for i in idx
            ]
            return _median_seed_difference(curves, pairs)

        for _ in range(6):
            m = median_at(factor)
            if m <= 0:
                break
            ratio = real_med / m
            if abs(ratio - 1.0) < 0.01:
                break
            factor = float(np.clip(factor * ratio, lo, hi))
        return factor

    def _make_bank(self, resids: list[np.ndarray], amps: list[np.ndarray]) -> list[np.ndarray]:
        """Residual shapes per block, (n_bank, F_block) float16, one row per sampled (config, seed) of the table."""
        C, S = resids[0].shape[:2]
        rng = np.random.default_rng(self.random_state)
        rows = np.arange(C * S)
        if rows.size > BANK_SIZE:
            rows = np.sort(rng.choice(rows, BANK_SIZE, replace=False))
        c, s = np.divmod(rows, S)
        bank = []
        for r, a in zip(resids, amps):
            scale = np.where(a[c] > 0, a[c], 1.0)[:, None]
            bank.append((r[c, s] / scale).astype(np.float16))  # shapes; 3 significant digits are plenty
        return bank

    # ------------------------------------------------------------ predict
    def members(self) -> dict[str, dict[str, Any]]:
        """The regressor kinds this surrogate fits, each with its parameter overrides (one unless an ensemble)."""
        if self.model == "ensemble":
            return member_params(self.model_params)
        return {self.model: dict(self.model_params or {})}

    def only(self, member: str) -> CurveSurrogate:
        """A shallow copy that predicts with one member of this ensemble alone (for the quality card)."""
        import copy

        if member not in self.regressors_:
            raise ValueError(f"member {member!r}; allowed: {', '.join(self.regressors_)}")
        twin = copy.copy(self)
        twin.regressors_ = {member: self.regressors_[member]}
        twin.joint_ = {member: self.joint_[member]}
        return twin

    def fitted_params(self) -> dict[str, dict[str, Any]]:
        """Full parameters of each fitted regressor kind (after distillation: the student MLP only)."""
        if getattr(self, "distilled_from_", None):
            return {"mlp": {**DEFAULTS["mlp"], **self.distilled_from_["student"]}}
        return {name: {**DEFAULTS[name], **p} for name, p in self.members().items()}

    @staticmethod
    def _predict_one(name: str, reg: Any, X: np.ndarray) -> np.ndarray:
        if name == "xgboost" and X.shape[0] >= _BIG_BATCH:
            # a big batch: tree prediction splits rows across threads with no contention, unlike fitting
            booster = reg.get_booster()
            booster.set_param({"nthread": PREDICT_THREADS})
            try:
                z = np.asarray(booster.inplace_predict(X), dtype=np.float64)
            finally:
                booster.set_param({"nthread": 1})
        elif name == "xgboost":
            # a few rows: the trees walked in numpy give XGBoost's numbers bit for bit, without its per-call cost;
            # else the booster directly: what XGBRegressor.predict calls for a numpy array, without its
            # per-call configuration round trips (about 3/4 of a one-row predict)
            trees = _trees_of(reg) if X.shape[0] <= _NUMPY_TREE_ROWS else None
            out = reg.get_booster().inplace_predict(X) if trees is None else trees.predict(X)
            z = np.asarray(out, dtype=np.float64)
        else:
            z = np.asarray(reg.predict(X), dtype=np.float64)
        return z[:, None] if z.ndim == 1 else z

    def _predict_targets(self, blocks: Sequence[int], X: np.ndarray) -> dict[int, np.ndarray]:
        """Predicted targets of each block in ``blocks`` on the model's scale: {j: (n, k_j)}."""
        return {
            j: z * self.target_std_[j] + self.target_mean_[j] for j, z in self._predict_z(blocks, X).items()
        }

    def _predict_z(self, blocks: Sequence[int], X: np.ndarray) -> dict[int, np.ndarray]:
        """Standardized predicted targets of each block in ``blocks``: {j: (n, k_j)}.

        A joint member is called once for all blocks; an ensemble averages its members'
        standardized predictions.
        """
        blocks = list(blocks)
        cols = self.block_columns_
        total: dict[int, np.ndarray] = {}
        for name, regs in self.regressors_.items():
            joint = self.joint_[name]
            if joint:
                z = self._predict_one(name, regs[0], X)
                parts = {j: z[:, cols[j] : cols[j + 1]] for j in blocks}
            elif name == "xgboost" and len(blocks) > 1 and X.shape[0] <= _NUMPY_TREE_ROWS:
                parts = self._walk_together(regs, blocks, X)
            else:
                parts = {j: self._predict_one(name, regs[j], X) for j in blocks}
            for j, z in parts.items():
                if j in total:
                    total[j] += z
                else:
                    total[j] = z.copy() if joint else z
        k = float(len(self.regressors_))
        return {j: (total[j] / k if k > 1 else total[j]) for j in blocks}

    def _walk_together(self, regs: Sequence[Any], blocks: list[int], X: np.ndarray) -> dict[int, np.ndarray]:
        """:meth:`_predict_one` of a few rows for every block in ``blocks``, its boosters' trees walked together
        (:class:`trees.NumpyForest`: one walk's numpy calls for all of them; the same numbers). Made once per
        set of boosters (a refit makes new ones); boosters the walk does not support are called one by one."""
        boosters = tuple(regs[j].get_booster() for j in blocks)
        cache = self.__dict__.setdefault("_forest_cache", {})
        hit = cache.get(tuple(blocks))
        if hit is None or any(a is not b for a, b in zip(hit[0], boosters)):
            trees = [_trees_of(regs[j]) for j in blocks]
            forest = None if any(t is None for t in trees) else NumpyForest(trees)
            hit = cache[tuple(blocks)] = (boosters, forest)
        if hit[1] is None:
            return {j: self._predict_one("xgboost", regs[j], X) for j in blocks}
        return {j: np.asarray(z, dtype=np.float64) for j, z in zip(blocks, hit[1].predict(X))}

    def _bank32(self, j: int) -> np.ndarray:
        """The noise bank of block ``j`` as float32 (converted once, then kept)."""
        cache = self.__dict__.setdefault("_bank32_cache", {})
        if j not in cache:
            cache[j] = np.asarray(self.bank_[j], dtype=np.float32)
        return cache[j]

    @property
    def metric_names(self) -> list[str]:
        return list(self.metrics_)

    def encode(self, configs: Any, validated: bool = False) -> np.ndarray:
        """Encoded model inputs of ``configs`` (validated against the space unless ``validated``)."""
        return self.encoder_.encode(configs, validated=validated)

    def predict_curves(
        self,
        X: np.ndarray,
        seeds: np.ndarray | int | None = None,
        metrics: Sequence[str] | None = None,
        cost: bool = True,
        readonly: bool = False,
    ) -> dict[str, np.ndarray]:
        """Curves at the fidelity grid for encoded configurations ``X`` (see :meth:`encode`).

        Returns ``{metric: (n, F) float32, ..., "cost": (n, F) float64}``. ``seeds``: one
        int or an (n,) array; None gives the seed-mean curves (no noise). ``readonly``: the arrays
        come back read-only (for a caller that shares them; on a small batch the metrics' common
        buffer is locked before it is split, one flag instead of one per metric).

        The metric blocks are decoded together (:mod:`surrogates.stacked`; a few dozen numpy calls
        for one configuration and every metric). A big batch (``_BIG_BATCH`` rows or more) runs with
        BLAS at one thread; for a surrogate whose model is a numpy MLP it goes in row chunks that stay
        in cache, spread over ``PREDICT_THREADS`` worker threads that share nothing but the output
        (no barrier for a descheduled thread to hold up: on a busy machine the other one takes the
        next chunk); any other model is called once on the whole batch, and its curves are decoded in
        such chunks. Every path gives each row the same numbers (tested bit for bit).
        """
        names = self.metric_names if metrics is None else list(metrics)
        for m in names:
            if m not in self.metrics_:
                raise MetricError(f"unknown metric {m!r}; allowed: {', '.join(self.metrics_)}")
        if not names and not cost:
            return {}
        if X.shape[0] < _BIG_BATCH:
            return self._predict_curves(X, seeds, names, cost, readonly=readonly)
        # big batches: one BLAS thread; on a busy machine more threads than free cores are many times slower
        with threadpool_limits(1, user_api="blas"):
            if self._numpy_model():
                out = self._predict_in_chunks(X, seeds, names, cost)
            else:
                out = self._predict_then_decode(X, seeds, names, cost)
        if readonly:
            for a in out.values():
                a.flags.writeable = False
        return out

    def _shape_rows(self, X: np.ndarray, seeds: Any) -> np.ndarray | None:
        """The noise bank row of each (configuration, seed), or None for seed-mean curves."""
        if seeds is None or self.noise_scale_ <= 0:
            return None
        if X.shape[0] == 1 and isinstance(seeds, (int, np.integer)) and -(1 << 63) <= seeds < (1 << 63):
            # one query: the hash in Python ints (config_seed_hash's one-row form, without its array handling)
            return np.array([seed_hash_one(X[0].tolist(), int(seeds)) % len(self.bank_[0])], dtype=np.int64)
        seeds = np.broadcast_to(np.asarray(seeds, dtype=np.int64), (X.shape[0],))
        return (config_seed_hash(X, seeds) % np.uint64(len(self.bank_[0]))).astype(np.int64)

    def _metric_blocks(self, names: Sequence[str]) -> tuple[int, ...]:
        """The metric blocks of ``names``, in block order (worked out once per tuple of names)."""
        key = tuple(names)
        cache = self.__dict__.setdefault("_blocks_cache", {})
        js = cache.get(key)
        if js is None:
            js = cache[key] = tuple(
                j for j, b in enumerate(self.blocks_) if b.kind == "metric" and b.name in key
            )
        return js

    def _predict_curves(
        self,
        X: np.ndarray,
        seeds: Any,
        names: Sequence[str],
        cost: bool,
        limit_blas: bool = True,
        readonly: bool = False,
    ) -> dict[str, np.ndarray]:
        """The curves of ``X``: every requested metric block decoded at once (see :mod:`surrogates.stacked`)."""
        js = self._metric_blocks(names)
        if not js and not cost:
            return {}
        dec = self._stacked(js) if js else None
        if js and dec is None:  # blocks saved before the normal scores
            out = self._predict_curves_blockwise(X, seeds, names, cost)
            if readonly:
                for a in out.values():
                    a.flags.writeable = False
            return out
        shape_idx = self._shape_rows(X, seeds)
        cj = len(self.blocks_) - 1
        t = self._targets_of(js + ((cj,) if cost else ()), X, limit_blas)
        out: dict[str, np.ndarray] = {}
        width = 0 if dec is None else dec.width
        amp = None
        if shape_idx is not None and dec is not None and cost:
            # the metrics' and the cost's seed-noise amplitudes in one pass of numpy calls (the same numbers)
            rows, floors = self._amplitude_rows(js, dec, t.shape[1])
            amp = noise_amplitudes(t.T.take(rows, axis=0), floors)
        if dec is not None:
            g = dec.curves(t[:, :width], shape_idx, None if amp is None else amp[:-1])
            if readonly:
                g.flags.writeable = False  # before the split: the views are read-only too
            out = dict(zip(dec.names, g))
        if cost:
            c = out["cost"] = self._cost_curves().curves(
                t[:, width:], shape_idx, None if amp is None else amp[-1]
            )
            if readonly:
                c.flags.writeable = False
        return out

    def _amplitude_rows(
        self, js: tuple[int, ...], dec: StackedMetrics, width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The targets' columns of the log noise amplitudes of metric blocks ``js`` (decoded by ``dec``) and of
        the cost (the last of ``width`` columns), and their floors (B + 1, 1): made once per decoder."""
        cache = self.__dict__.setdefault("_amp_rows_cache", {})
        cc = self._cost_curves()
        hit = cache.get(js)
        if hit is None or hit[0] is not dec or hit[1] is not cc or hit[2] != width:
            floors = np.append(dec.amp_floor[:, 0], cc.amp_floor).reshape(-1, 1)
            hit = cache[js] = (dec, cc, width, np.append(dec.amp_rows, width - 1).astype(np.intp), floors)
        return hit[3], hit[4]

    def _numpy_model(self) -> bool:
        """Whether the model is one joint numpy MLP (a distilled surrogate, or model="mlp")."""
        regs = self.regressors_
        return (
            len(regs) == 1
            and "mlp" in regs
            and self.joint_["mlp"]
            and isinstance(regs["mlp"][0], MLPEnsembleRegressor)
        )

    def _predict_in_chunks(
        self, X: np.ndarray, seeds: Any, names: Sequence[str], cost: bool
    ) -> dict[str, np.ndarray]:
        """A big batch of a numpy model, in row chunks over worker threads (see :meth:`predict_curves`).

        A chunk goes the whole way (network, targets, curves) while its arrays stay in cache; the
        numpy calls release the GIL, so the workers run on separate cores. Rows are independent
        everywhere, so the chunks give the numbers of one call (tested). The caller holds BLAS at one
        thread.
        """
        n = X.shape[0]
        js = self._metric_blocks(names)
        if js and self._stacked(js) is None:
            return self._predict_curves_blockwise(X, seeds, names, cost)
        F = len(self.fidelity_.values)
        rows = _chunk_rows(F, len(js))
        if seeds is not None:
            seeds = np.broadcast_to(np.asarray(seeds, dtype=np.int64), (n,))
        for j in js + ((len(self.blocks_) - 1,) if cost else ()):
            self._bank32(j)  # fill the caches before the threads read them
        if cost:
            self._cost_curves()
        self._columns(js + ((len(self.blocks_) - 1,) if cost else ()))
        self.regressors_["mlp"][0].numpy_weights()

        def fill(out: dict[str, np.ndarray], sl: slice) -> None:
            got = self._predict_curves(
                X[sl], None if seeds is None else seeds[sl], names, cost, limit_blas=False
            )
            for k, v in got.items():
                out[k][sl] = v

        return self._chunked(
            n,
            rows,
            [self.blocks_[j].name for j in js],
            cost,
            fill,
        )

    def _predict_then_decode(
        self, X: np.ndarray, seeds: Any, names: Sequence[str], cost: bool
    ) -> dict[str, np.ndarray]:
        """A big batch of any other model: its targets, then the curves decoded in row chunks that stay in
        cache, over worker threads.

        An xgboost model is called on slices of ``_MODEL_ROWS`` rows by the workers too, each call on one
        thread (inplace prediction is thread-safe): its vector-leaf trees predict a batch no faster on
        two threads than on one, so two workers on their own rows are the faster way. Any other model is
        called once on the whole batch. Decoding chunks in cache is about twice as fast as decoding each
        block over the whole batch (:meth:`_predict_curves_blockwise`, the path before), and the numbers
        are the same (tested bit for bit). The caller holds BLAS at one thread.
        """
        js = self._metric_blocks(names)
        dec = self._stacked(js) if js else None
        if js and dec is None:  # blocks saved before the normal scores
            return self._predict_curves_blockwise(X, seeds, names, cost)
        blocks = js + ((len(self.blocks_) - 1,) if cost else ())
        trees = set(self.regressors_) == {"xgboost"}
        t_all = None if trees else self._targets_of(blocks, X)
        self._columns(blocks)  # cached here, before the threads read it
        if trees:
            # a booster configures itself on its first call after set_param: here, not in two threads at once
            for reg in self.regressors_["xgboost"]:
                reg.get_booster().inplace_predict(X[:_CONFIGURE_ROWS])
        shape_idx = self._shape_rows(X, seeds)
        width = 0 if dec is None else dec.width
        cc = self._cost_curves() if cost else None  # made here, before the threads read it
        F = len(self.fidelity_.values)
        rows = _chunk_rows(F, len(js))
        if trees:  # a model call below _BIG_BATCH rows leaves the booster's thread count (one) as it is
            rows = min(rows, _MODEL_ROWS)
            step = rows * (_MODEL_ROWS // rows)
        else:
            step = rows

        def fill(out: dict[str, np.ndarray], sl: slice) -> None:
            t = self._targets_of(blocks, X[sl]) if trees else t_all[sl]
            for a in range(0, t.shape[0], rows):
                r = slice(sl.start + a, sl.start + a + rows)
                s = None if shape_idx is None else shape_idx[r]
                tc = t[a : a + rows]
                if dec is not None:
                    for k, v in zip(dec.names, dec.curves(tc[:, :width], s)):
                        out[k][r] = v
                if cc is not None:
                    out["cost"][r] = cc.curves(tc[:, width:], s)

        return self._chunked(X.shape[0], step, [] if dec is None else list(dec.names), cost, fill)

    def _chunked(
        self, n: int, rows: int, names: list[str], cost: bool, fill: Callable[[dict, slice], None]
    ) -> dict[str, np.ndarray]:
        """The curves of ``n`` rows: ``fill(out, rows_slice)`` for each chunk of ``rows`` rows, over
        ``PREDICT_THREADS`` worker threads.

        The workers share nothing but the output, so a descheduled one holds nobody up: the other takes
        the next chunk.
        """
        F = len(self.fidelity_.values)
        out = {m: np.empty((n, F), dtype=np.float32) for m in names}
        if cost:
            out["cost"] = np.empty((n, F), dtype=np.float64)
        starts = range(0, n, rows)
        workers = min(PREDICT_THREADS, len(starts))
        if workers < 2:
            for i in starts:
                fill(out, slice(i, min(i + rows, n)))
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda i: fill(out, slice(i, min(i + rows, n))), starts))
        return out

    def _stacked(self, js: tuple[int, ...]) -> StackedMetrics | None:
        """The decoder of metric blocks ``js`` together (None if they cannot be stacked), made once.

        Remade when what it copies changes: a block's extrapolation rule, the noise bank or its calibration.
        """
        blocks = self.blocks_
        keep = (*(blocks[j].extrapolation for j in js), self.bank_, self.noise_calibration_)
        stamp = (tuple(map(id, keep)), self.noise_scale_)
        cache = self.__dict__.setdefault("_stacked_cache", {})
        hit = cache.get(js)
        if hit is not None and hit[0] == stamp:
            return hit[2]
        bs = [blocks[j] for j in js]
        dec = None
        if stackable(bs):
            dec = StackedMetrics(
                bs,
                [self.metrics_[b.name] for b in bs],
                [self.noise_scale_ * self.noise_calibration_[j] for j in js],
                [self._bank32(j) for j in js],
            )
        cache[js] = (stamp, keep, dec)  # keep: the objects stay alive, so their ids stay theirs
        return dec

    def _cost_curves(self) -> CostCurves:
        """The cost block's decoder (:class:`surrogates.stacked.CostCurves`), made once, remade as :meth:`_stacked`."""
        j = len(self.blocks_) - 1
        keep = (self.blocks_[j], self.bank_, self.noise_calibration_)
        stamp = (tuple(map(id, keep)), self.noise_scale_)
        cache = self.__dict__.setdefault("_stacked_cache", {})
        hit = cache.get("cost")
        if hit is None or hit[0] != stamp:
            hit = cache["cost"] = (
                stamp,
                keep,
                CostCurves(self.blocks_[j], self.noise_scale_ * self.noise_calibration_[j], self._bank32(j)),
            )
        return hit[2]

    def _columns(self, blocks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The model's output columns of ``blocks`` side by side, and their target scaling (std, mean)."""
        cache = self.__dict__.setdefault("_columns_cache", {})
        if blocks not in cache:
            cols = self.block_columns_
            sel = np.concatenate([np.arange(cols[j], cols[j + 1]) for j in blocks])
            cache[blocks] = (
                # None: every output column in order (the model's output is used as it is, no copy)
                None if np.array_equal(sel, np.arange(cols[-1])) else sel,
                np.concatenate([self.target_std_[j] for j in blocks]),
                np.concatenate([self.target_mean_[j] for j in blocks]),
            )
        return cache[blocks]

    def _targets_of(self, blocks: tuple[int, ...], X: np.ndarray, limit_blas: bool = True) -> np.ndarray:
        """Predicted targets of ``blocks`` side by side (n, their targets), on the model's scale.

        The numbers of :meth:`_predict_targets` (z x std + mean, elementwise), in one array; a joint
        model is called once and its columns picked.
        """
        sel, std, mean = self._columns(blocks)
        if len(self.regressors_) == 1:
            ((name, regs),) = self.regressors_.items()
            if self.joint_[name]:
                # a numpy MLP's output is a new array, this call's own
                fresh = isinstance(regs[0], MLPEnsembleRegressor)
                if fresh:
                    z = regs[0].predict(X, limit_blas=limit_blas)
                else:
                    z = self._predict_one(name, regs[0], X)
                z = z[:, None] if z.ndim == 1 else z
                # every column in order (sel None): the output itself where it is this call's, else a copy
                t = z[:, sel] if sel is not None else z if fresh else z.copy()
                t *= std
                t += mean
                return t
        zs = self._predict_z(blocks, X)
        t = np.hstack([zs[j] for j in blocks])
        t *= std
        t += mean
        return t

    def _block_curves(self, j: int, t: np.ndarray, shape_idx: np.ndarray | None) -> tuple[str, np.ndarray]:
        """The curves of block ``j`` alone from its predicted targets ``t`` (block by block; the cost block)."""
        b = self.blocks_[j]
        decoded = b.decode(t)
        shape = amp = None
        if shape_idx is not None:
            shape = self._bank32(j)[shape_idx]
            shape *= np.float32(self.noise_scale_ * self.noise_calibration_[j])
            amp = np.maximum(np.exp(decoded[-1]) - b.amp_floor, 0.0).astype(np.float32)
        if b.kind == "metric":
            return b.name, b.curves(decoded[0], amp, shape, self.metrics_[b.name])
        return "cost", b.curves(decoded[0], decoded[1], amp, shape)

    def _predict_curves_blockwise(
        self, X: np.ndarray, seeds: Any, names: Sequence[str], cost: bool
    ) -> dict[str, np.ndarray]:
        """The curves of ``X`` block by block (the path before :mod:`surrogates.stacked`; the tests compare the two).

        Blocks saved before the normal scores (which cannot be stacked) take it; a big batch of them runs one
        thread per block.
        """
        n = X.shape[0]
        shape_idx = self._shape_rows(X, seeds)
        want = [j for j, b in enumerate(self.blocks_) if (b.kind == "metric" and b.name in names)]
        if cost:
            want.append(len(self.blocks_) - 1)
        predicted = self._predict_targets(want, X)
        jobs = [(j, predicted.pop(j)) for j in want]
        workers = min(len(jobs), _CPUS)
        if n < _BIG_BATCH or workers < 2:
            return dict(self._block_curves(j, t, shape_idx) for j, t in jobs)
        # big batches: the blocks are independent elementwise numpy work, which releases the GIL, so one
        # thread per block uses the cores; each block's arithmetic is the same as in one thread
        for j, _ in jobs:
            self._bank32(j)  # fill the cache before the threads read it
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(pool.map(lambda job: self._block_curves(job[0], job[1], shape_idx), jobs))

    def predict_frame(
        self, configs: Any, seeds: np.ndarray | int | None = None, **kw: Any
    ) -> dict[str, np.ndarray]:
        """:meth:`predict_curves` for configurations given as a DataFrame or mappings (validated)."""
        return self.predict_curves(self.encode(configs), seeds, **kw)
