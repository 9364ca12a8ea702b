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

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from benchmarks.protocol import Fidelity, Metric, MetricError
from benchmarks.table import Table

from .encoding import SpaceEncoder, config_seed_hash
from .models import check_model, make_regressor
from .targets import CostBlock, MetricBlock

#: at most this many (config, seed) residual vectors are kept for the seed noise
BANK_SIZE = 4096


class CurveSurrogate(BaseEstimator):
    """Predicts every metric's learning curve and the cumulative cost of any configuration, for any seed.

    Parameters
    ----------
    model: "xgboost" (default), "rf", "knn" or "mlp" (see :mod:`surrogates.models`).
    model_params: overrides of the model's default parameters.
    max_components: at most this many PCA scores describe one mean curve.
    noise: reproduce seed-to-seed variation (False: every seed gets the mean curve).
    random_state: seeds the regressors and the choice of the noise bank.
    """

    def __init__(
        self,
        model: str = "xgboost",
        model_params: dict[str, Any] | None = None,
        max_components: int = 8,
        noise: bool = True,
        random_state: int = 0,
    ) -> None:
        self.model = model
        self.model_params = model_params
        self.max_components = max_components
        self.noise = noise
        self.random_state = random_state

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
            raise TypeError(f"fit needs a benchmarks.table.Table or a TabularBenchmark, got {type(table).__name__}")
        t0 = time.perf_counter()
        ids = np.arange(len(table.configs)) if config_ids is None else np.asarray(config_ids, dtype=np.int64)
        if ids.size < 2:
            raise ValueError(f"fit needs at least 2 configurations, got {ids.size}")
        self.space_ = table.space
        self.encoder_ = SpaceEncoder(table.space)
        self.fidelity_ = Fidelity(table.fidelity.name, table.fidelity.values, table.fidelity.unit, continuous=True)
        self.metrics_ = {m.name: m for m in table.metrics}
        self.objective_ = table.manifest["objective"]
        self.test_objective_ = table.manifest.get("test_objective")
        self.table_name_ = table.name
        self.table_seeds_ = tuple(table.seeds)
        n_seeds = len(table.seeds)
        self.noise_scale_ = float(np.sqrt(n_seeds / (n_seeds - 1))) if (self.noise and n_seeds > 1) else 0.0

        X = self.encoder_.encode(table.configs.iloc[ids], validated=True)
        blocks: list[MetricBlock | CostBlock] = []
        targets, resids, amps = [], [], []
        for i, m in enumerate(table.metrics):
            b, t, r, a = MetricBlock.fit(m, table.values[i][ids], self.max_components)
            blocks.append(b), targets.append(t), resids.append(r), amps.append(a)
        b, t, r, a = CostBlock.fit(table.cost[ids], self.max_components)
        blocks.append(b), targets.append(t), resids.append(r), amps.append(a)

        self.blocks_ = blocks
        self.target_mean_, self.target_std_, self.regressors_ = [], [], []
        for t in targets:
            mean, std = t.mean(axis=0), t.std(axis=0)
            std = np.where(std > 1e-12, std, 1.0)
            reg = make_regressor(self.model, self.model_params, self.random_state)
            z = (t - mean) / std
            reg.fit(X, z if z.shape[1] > 1 else z[:, 0])
            self.target_mean_.append(mean)
            self.target_std_.append(std)
            self.regressors_.append(reg)
        self.amp_calibration_ = self._calibrate(X, amps)
        self.bank_ = self._make_bank(resids, amps)
        self.n_features_in_ = X.shape[1]
        self.n_train_configs_ = int(ids.size)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _calibrate(self, X: np.ndarray, amps: list[np.ndarray]) -> np.ndarray:
        """Per block, rms(true amplitude) / rms(predicted amplitude) on the training configurations.

        A regressor of the log amplitude predicts something like its geometric
        mean, which is smaller than the RMS that sets the seed spread; this
        factor puts the predicted spread back on the table's scale.
        """
        out = []
        for j, a_true in enumerate(amps):
            a_pred = self._decode(j, self._predict_targets(j, X))[-1]
            num, den = np.sqrt(np.mean(a_true**2)), np.sqrt(np.mean(a_pred**2))
            out.append(float(num / den) if den > 0 else 1.0)
        return np.asarray(out)

    def _make_bank(self, resids: list[np.ndarray], amps: list[np.ndarray]) -> list[np.ndarray]:
        """Residual shapes per block, (n_bank, F_block), one row per sampled (config, seed) of the table."""
        C, S = resids[0].shape[:2]
        rng = np.random.default_rng(self.random_state)
        rows = np.arange(C * S)
        if rows.size > BANK_SIZE:
            rows = np.sort(rng.choice(rows, BANK_SIZE, replace=False))
        c, s = np.divmod(rows, S)
        bank = []
        for r, a in zip(resids, amps):
            scale = np.where(a[c] > 0, a[c], 1.0)[:, None]
            bank.append((r[c, s] / scale).astype(np.float32))
        return bank

    # ------------------------------------------------------------ predict
    def _predict_targets(self, j: int, X: np.ndarray) -> np.ndarray:
        z = np.asarray(self.regressors_[j].predict(X), dtype=np.float64)
        if z.ndim == 1:
            z = z[:, None]
        return z * self.target_std_[j] + self.target_mean_[j]

    def _decode(self, j: int, t: np.ndarray):
        return self.blocks_[j].decode(t)

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
    ) -> dict[str, np.ndarray]:
        """Curves at the fidelity grid for encoded configurations ``X`` (see :meth:`encode`).

        Returns ``{metric: (n, F) float64, ..., "cost": (n, F)}``. ``seeds``: one
        int or an (n,) array; None gives the seed-mean curves (no noise).
        """
        names = self.metric_names if metrics is None else list(metrics)
        for m in names:
            if m not in self.metrics_:
                raise MetricError(f"unknown metric {m!r}; allowed: {', '.join(self.metrics_)}")
        n = X.shape[0]
        shape_idx = None
        if seeds is not None and self.noise_scale_ > 0:
            seeds = np.broadcast_to(np.asarray(seeds, dtype=np.int64), (n,))
            shape_idx = (config_seed_hash(X, seeds) % np.uint64(len(self.bank_[0]))).astype(np.int64)
        out: dict[str, np.ndarray] = {}
        want = [(j, b) for j, b in enumerate(self.blocks_) if (b.kind == "metric" and b.name in names)]
        if cost:
            want.append((len(self.blocks_) - 1, self.blocks_[-1]))
        for j, b in want:
            t = self._predict_targets(j, X)
            shape = None
            if shape_idx is not None:
                shape = self.bank_[j][shape_idx].astype(np.float64) * (self.noise_scale_ * self.amp_calibration_[j])
            if b.kind == "metric":
                mean, amp = b.decode(t)
                out[b.name] = b.curves(mean, amp, shape, self.metrics_[b.name])
            else:
                log_total, cum, amp = b.decode(t)
                out["cost"] = b.curves(log_total, cum, amp, shape)
        return out

    def predict_frame(self, configs: Any, seeds: np.ndarray | int | None = None, **kw: Any) -> dict[str, np.ndarray]:
        """:meth:`predict_curves` for configurations given as a DataFrame or mappings (validated)."""
        return self.predict_curves(self.encode(configs), seeds, **kw)
