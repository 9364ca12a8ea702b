"""The regressors a surrogate can use, and how each is saved to and loaded from a portable file.

Every regressor maps encoded configurations (n, d) to standardized targets
(n, m) in one call and follows scikit-learn's estimator rules (``__init__``
stores parameters, ``fit`` returns self, fitted attributes end in ``_``):

=========  ==============================================  ======================================
name       estimator                                       file
=========  ==============================================  ======================================
xgboost    ``xgboost.XGBRegressor`` (hist, multi-output)   gzipped XGBoost UBJSON (``.ubj.gz``)
rf         ``sklearn.ensemble.RandomForestRegressor``      skops (``.skops``), no arbitrary pickle
knn        ``sklearn.neighbors.KNeighborsRegressor``       skops (``.skops``)
mlp        :class:`MLPEnsembleRegressor` (torch)           torch ``state_dict`` (``.pt``, loaded with
                                                           ``weights_only=True``) + its parameters
=========  ==============================================  ======================================
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

MODELS = ("xgboost", "rf", "knn", "mlp")

#: default parameters per model (overridable by ``model_params``)
DEFAULTS: dict[str, dict[str, Any]] = {
    "xgboost": {
        "n_estimators": 150,
        "max_depth": 6,
        "learning_rate": 0.12,
        "subsample": 0.9,
        "colsample_bytree": 0.9,
        "min_child_weight": 1.0,
        "tree_method": "hist",
        "multi_strategy": "multi_output_tree",
        # one thread: on a shared 2-core machine more threads than free cores slow xgboost down many times
        "n_jobs": 1,
    },
    "rf": {"n_estimators": 100, "min_samples_leaf": 2, "max_features": 0.6, "n_jobs": 1},
    "knn": {"n_neighbors": 8, "weights": "distance"},
    "mlp": {"n_members": 3, "hidden": 96, "n_layers": 3, "max_steps": 1500, "batch_size": 256, "lr": 3e-3,
            "weight_decay": 1e-5},
}


def check_model(name: str) -> str:
    if name not in MODELS:
        raise ValueError(f"unknown surrogate model {name!r}; allowed: {', '.join(MODELS)}")
    return name


def make_regressor(name: str, params: dict[str, Any] | None = None, random_state: int = 0) -> Any:
    """A fresh, unfitted regressor ``name`` with the defaults updated by ``params``."""
    check_model(name)
    p = {**DEFAULTS[name], **(params or {})}
    if name == "xgboost":
        import xgboost as xgb

        return xgb.XGBRegressor(random_state=random_state, **p)
    if name == "rf":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(random_state=random_state, **p)
    if name == "knn":
        from sklearn.neighbors import KNeighborsRegressor

        return KNeighborsRegressor(**p)
    return MLPEnsembleRegressor(random_state=random_state, **p)


# ---------------------------------------------------------------- torch MLP ensemble
class MLPEnsembleRegressor(RegressorMixin, BaseEstimator):
    """An ensemble of small torch MLPs for multi-output regression; the prediction is the members' mean.

    Members differ in their initialization and minibatch order. Inputs and
    targets are expected to be scaled (the surrogate standardizes targets; the
    encoded inputs lie in [0, 1]). Training is deterministic given
    ``random_state`` on a given machine and torch build.
    """

    def __init__(
        self,
        n_members: int = 3,
        hidden: int = 96,
        n_layers: int = 3,
        max_steps: int = 1500,
        batch_size: int = 256,
        lr: float = 3e-3,
        weight_decay: float = 1e-5,
        random_state: int = 0,
        n_threads: int = 1,
    ) -> None:
        self.n_members = n_members
        self.hidden = hidden
        self.n_layers = n_layers
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.n_threads = n_threads

    def _build(self, d_in: int, d_out: int):
        import torch

        layers: list[torch.nn.Module] = []
        width = d_in
        for _ in range(self.n_layers):
            layers += [torch.nn.Linear(width, self.hidden), torch.nn.SiLU()]
            width = self.hidden
        layers.append(torch.nn.Linear(width, d_out))
        return torch.nn.Sequential(*layers)

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPEnsembleRegressor:
        import torch

        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 1:
            y = y[:, None]
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = y.shape[1]
        prev = torch.get_num_threads()
        torch.set_num_threads(self.n_threads)
        try:
            xt, yt = torch.from_numpy(X), torch.from_numpy(y)
            members = []
            for m in range(self.n_members):
                gen = torch.Generator().manual_seed(int(self.random_state) * 1000 + m)
                torch.manual_seed(int(self.random_state) * 1000 + m)
                net = self._build(self.n_features_in_, self.n_outputs_)
                opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
                sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=self.max_steps)
                bs = min(self.batch_size, len(xt))
                for _ in range(self.max_steps):
                    idx = torch.randint(0, len(xt), (bs,), generator=gen)
                    loss = torch.nn.functional.mse_loss(net(xt[idx]), yt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                net.eval()
                members.append(net)
        finally:
            torch.set_num_threads(prev)
        self.members_ = members
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        import torch

        xt = torch.from_numpy(np.asarray(X, dtype=np.float32))
        with torch.inference_mode():
            out = sum(net(xt) for net in self.members_) / len(self.members_)
        out = out.numpy().astype(np.float64)
        return out[:, 0] if self.n_outputs_ == 1 else out

    def save(self, path: Path) -> None:
        import torch

        from benchmarks.io import atomic_path

        state = {f"m{i}.{k}": v for i, net in enumerate(self.members_) for k, v in net.state_dict().items()}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: Path, params: dict[str, Any], n_features: int, n_outputs: int) -> MLPEnsembleRegressor:
        import torch

        est = cls(**params)
        state = torch.load(path, map_location="cpu", weights_only=True)
        est.n_features_in_, est.n_outputs_ = n_features, n_outputs
        est.members_ = []
        for i in range(est.n_members):
            net = est._build(n_features, n_outputs)
            prefix = f"m{i}."
            net.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            net.eval()
            est.members_.append(net)
        return est


# ---------------------------------------------------------------- files
SUFFIX = {"xgboost": ".ubj.gz", "rf": ".skops", "knn": ".skops", "mlp": ".pt"}

#: the only types a skops file may hold when loaded (beyond skops' own defaults)
_SKOPS_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "scipy.")


def save_regressor(name: str, reg: Any, path: Path) -> None:
    """Write a fitted regressor to ``path`` (atomically) in the portable format of its kind."""
    from benchmarks.io import atomic_path

    if name == "xgboost":
        raw = reg.get_booster().save_raw(raw_format="ubj")
        with atomic_path(path) as tmp:
            tmp.write_bytes(gzip.compress(bytes(raw), compresslevel=9, mtime=0))
    elif name in ("rf", "knn"):
        import skops.io as sio

        with atomic_path(path) as tmp:
            sio.dump(reg, tmp)
    else:
        reg.save(path)


def load_regressor(name: str, path: Path, params: dict[str, Any], n_features: int, n_outputs: int) -> Any:
    """Read a regressor written by :func:`save_regressor`; no arbitrary code is unpickled."""
    check_model(name)
    if name == "xgboost":
        import xgboost as xgb

        reg = xgb.XGBRegressor(**{k: v for k, v in params.items() if k in ("n_jobs",)})
        reg.load_model(bytearray(gzip.decompress(Path(path).read_bytes())))
        return reg
    if name in ("rf", "knn"):
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        bad = [t for t in untrusted if not t.startswith(_SKOPS_TRUSTED_PREFIXES)]
        if bad:
            raise ValueError(f"{path}: refusing to load types outside scikit-learn/numpy/scipy: {bad}")
        return sio.load(path, trusted=untrusted)
    p = {k: v for k, v in params.items() if k in MLPEnsembleRegressor().get_params()}
    return MLPEnsembleRegressor.load(path, p, n_features, n_outputs)


def params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)
