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
gp         :class:`GPRegressor` (exact Gaussian process,   arrays (``.npz``, no pickle): training
           hyperparameters by scikit-learn)                inputs, weights, kernel hyperparameters
ensemble   the mean of several of the above (default:   one file per member, each in its own
           xgboost, gp, mlp), fitted by CurveSurrogate     format
=========  ==============================================  ======================================

``gp`` and ``mlp`` are *joint* models: the surrogate fits one of them on the
targets of every block at once (one kernel, one network), which is what makes
them fast enough to fit and to predict; the others are fitted per block.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from benchmarks.io import atomic_path, atomic_write_bytes, npz_headers

MODELS = ("xgboost", "rf", "knn", "mlp", "gp", "ensemble")
#: models fitted once on every block's targets together (see CurveSurrogate); the others once per block
JOINT = ("mlp", "gp")

#: rows per call of a torch model at prediction time (see :func:`_in_fixed_chunks`)
ROW_CHUNK = 64


def _in_fixed_chunks(fn: Any, x: Any, chunk: int = ROW_CHUNK) -> Any:
    """``fn`` applied to row chunks of exactly ``chunk`` rows (the last one padded with zeros), joined.

    A matrix product's rounding depends on the shape of the call and on where a
    row falls in it, so the same configuration predicted alone or in a batch of
    7 could differ in the last bit. Calling the model on blocks of one fixed
    shape gives each row the same arithmetic whatever batch it came in (checked
    by a test); small chunks also stay in cache, so big batches get no slower.
    """
    import torch

    n = x.shape[0]
    pad = (-n) % chunk
    if pad:
        x = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))])
    return torch.cat([fn(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])[:n]


#: torch's intra-op threads while a model predicts (see :func:`torch_threads`)
PREDICT_TORCH_THREADS = 1


@contextmanager
def torch_threads(n: int = PREDICT_TORCH_THREADS) -> Iterator[None]:
    """Hold torch at ``n`` intra-op threads inside the context, then restore the previous count.

    The thread policy of predictions: at torch's default (one thread per core) every small
    operation is a parallel region whose threads wait for each other, and on a shared machine a
    descheduled thread holds up the rest: beside two busy processes on 2 cores, one query of a
    torch surrogate took about 40 ms and 100,000 curves 10-17 s, against 1.5 ms and 2.8 s at one
    thread. Predictions therefore run at one thread, in row chunks of a fixed shape; the
    predictions do not depend on the count (the tests compare them with references made before
    this policy and across thread counts). The count is set only when it differs, so the
    context costs a single query almost nothing.
    """
    import torch

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"torch threads {n!r}: give a whole number >= 1")
    prev = torch.get_num_threads()
    if prev != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if prev != n:
            torch.set_num_threads(prev)


#: a numpy forward pass pads its input to a multiple of this many rows (see :func:`mlp_forward`)
NP_MIN_ROWS = 4
#: rows per matrix product of a numpy forward pass on a big batch (stays in cache)
NP_CHUNK = 4096
_BLAS: list[Any] = []


def _blas_one_thread() -> Any:
    """A context that holds numpy's BLAS at one thread (the controller is made once: making one costs ~2 ms)."""
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def mlp_forward(
    members: list[list[tuple[np.ndarray, np.ndarray]]], x: np.ndarray, limit_blas: bool = True
) -> np.ndarray:
    """The mean of MLPs (Linear, SiLU, ..., Linear) on rows ``x`` (float32, or float64 cast to float32): numpy,
    float32, one BLAS thread.

    The same arithmetic for a row in any batch: BLAS picks its kernel by the shape of a product (a
    matrix-vector kernel for one row, small-matrix kernels for a few rows), and kernels round their
    sums differently, so the same configuration alone or in a batch could differ in the last bit.
    Here every product has one shape: the rows are padded with zeros to a multiple of
    ``NP_MIN_ROWS`` (4) and multiplied as a stack of 4-row blocks (one BLAS call per block, looped
    in C by numpy), so each row gets the same kernel wherever it falls (checked by tests for batches
    of 1 to 4,133 rows). A 4 x 192 x 192 product is below the size at which OpenBLAS starts threads,
    so one query pays no thread start-up; big batches are held at one BLAS thread as well. The
    members' mean is taken as torch took it: ((m1 + m2) + ...) / n. Compared with the torch forward
    pass it replaces, outputs differ by about 1e-6 (float32 rounding; tested). ``limit_blas=False``: the
    caller already holds BLAS at one thread (threadpoolctl's limit is process-wide; setting it from
    several threads at once could leave it wrong). ``members``: per member its layers (W^T, bias), each bias
    (out,) or repeated over a block, (1, NP_MIN_ROWS, out) (see :meth:`MLPEnsembleRegressor.numpy_weights`).
    """
    n = x.shape[0]
    pad = (-n) % NP_MIN_ROWS
    if pad:  # float64 rows are cast to float32 as they are copied in (astype's rounding)
        padded = np.zeros((n + pad, x.shape[1]), dtype=np.float32)
        padded[:n] = x
        x = padded
    elif x.dtype != np.float32:
        x = x.astype(np.float32)
    x = x.reshape(-1, NP_MIN_ROWS, x.shape[1])
    if x.shape[0] == 1:
        return _mlp_mean(members, x).reshape(-1, members[0][-1][1].shape[-1])[:n]
    step = NP_CHUNK // NP_MIN_ROWS
    with _blas_one_thread() if limit_blas else nullcontext():
        parts = [_mlp_mean(members, x[i : i + step]) for i in range(0, x.shape[0], step)]
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return out.reshape(-1, out.shape[-1])[:n]


#: 1 as a read-only 0-d float32 array (as an operand: less per-call work in numpy than a scalar)
_ONE32 = np.ones((), dtype=np.float32)
_ONE32.flags.writeable = False


def _mlp_mean(members: list[list[tuple[np.ndarray, np.ndarray]]], x: np.ndarray) -> np.ndarray:
    total = None
    one = _ONE32
    with np.errstate(over="ignore"):  # exp(-h) = inf for h << 0 gives h / inf = 0, SiLU's limit
        for layers in members:
            h = x
            last = len(layers) - 1
            for i, (w, b) in enumerate(layers):
                h = np.matmul(h, w)  # a stack of (4, in) x (in, out) products
                h += b
                if i < last:  # SiLU: h * sigmoid(h) = h / (1 + exp(-h)), in place
                    t = np.negative(h)
                    np.exp(t, out=t)
                    t += one
                    np.divide(h, t, out=h)
            total = h if total is None else total + h
    if len(members) > 1:
        total /= np.float32(len(members))
    return total


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
    "mlp": {
        "n_members": 3,
        "hidden": 96,
        "n_layers": 3,
        "max_steps": 1500,
        "batch_size": 256,
        "lr": 3e-3,
        "weight_decay": 1e-3,
    },
    "gp": {"nu": 2.5, "n_restarts": 1, "max_train": 1500},
    "ensemble": {"members": ["xgboost", "gp", "mlp"]},
}
#: what a member of an ensemble changes from its model's defaults (five networks: the MLP is the strongest member)
ENSEMBLE_MEMBER_DEFAULTS: dict[str, dict[str, Any]] = {"mlp": {"n_members": 5}}


def check_model(name: str) -> str:
    if name not in MODELS:
        raise ValueError(f"unknown surrogate model {name!r}; allowed: {', '.join(MODELS)}")
    return name


def member_params(params: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """An ensemble's members and each one's parameters, from ``model_params`` of ``model="ensemble"``.

    ``{"members": [...], "xgboost": {...}, ...}``: ``members`` lists the member models (default
    xgboost, gp, mlp); a key named after a member overrides that member's defaults (and
    :data:`ENSEMBLE_MEMBER_DEFAULTS`).
    """
    p = {**DEFAULTS["ensemble"], **(params or {})}
    members = list(p["members"])
    bad = [m for m in members if m not in MODELS or m == "ensemble"] + [
        k for k in p if k != "members" and k not in members
    ]
    if bad or not members or len(set(members)) != len(members):
        allowed = ", ".join(m for m in MODELS if m != "ensemble")
        raise ValueError(
            f"ensemble members {members!r} with parameters for {sorted(k for k in p if k != 'members')}: "
            f"each member once, from {allowed}; parameter keys must name members (bad: {bad})"
        )
    return {m: {**ENSEMBLE_MEMBER_DEFAULTS.get(m, {}), **(p.get(m) or {})} for m in members}


def make_regressor(name: str, params: dict[str, Any] | None = None, random_state: int = 0) -> Any:
    """A fresh, unfitted regressor ``name`` with the defaults updated by ``params``."""
    check_model(name)
    if name == "ensemble":
        raise ValueError(
            "an ensemble is not one regressor: CurveSurrogate fits its members (see member_params)"
        )
    p = {**DEFAULTS[name], **(params or {})}
    if name == "gp":
        return GPRegressor(random_state=random_state, **p)
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

    def predict(self, X: np.ndarray, limit_blas: bool = True) -> np.ndarray:
        """The members' mean prediction, by a numpy forward pass (:func:`mlp_forward`), float64 out."""
        x = np.asarray(X)
        if x.dtype != np.float64:
            x = x.astype(np.float32)
        out = mlp_forward(self.numpy_weights(), x, limit_blas).astype(np.float64)
        return out[:, 0] if self.n_outputs_ == 1 else out

    def predict_torch(self, X: np.ndarray) -> np.ndarray:
        """The same prediction by torch (the earlier path; within 1e-6 of :meth:`predict`, for the tests)."""
        import torch

        xt = torch.from_numpy(np.asarray(X, dtype=np.float32))
        with torch.inference_mode(), torch_threads():
            out = _in_fixed_chunks(lambda x: sum(net(x) for net in self.members_) / len(self.members_), xt)
        out = out.numpy().astype(np.float64)
        return out[:, 0] if self.n_outputs_ == 1 else out

    def numpy_weights(self) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """Per member, its layers as (W^T (in, out), bias) float32 arrays, exported from torch once and kept.

        Each bias is repeated over a block of ``NP_MIN_ROWS`` rows, (1, NP_MIN_ROWS, out): the shape of
        :func:`mlp_forward`'s products for one block, so that adding it to one query's block is an add of
        two arrays of one shape (numpy's quickest loop; the same sums as a broadcast (out,) bias).
        """
        cached = self.__dict__.get("_np_weights")
        if cached is None or cached[0] is not self.members_:
            import torch

            weights = [
                [
                    (
                        np.ascontiguousarray(layer.weight.detach().numpy().T, dtype=np.float32),
                        np.ascontiguousarray(
                            np.broadcast_to(
                                layer.bias.detach().numpy().astype(np.float32),
                                (1, NP_MIN_ROWS, layer.bias.shape[0]),
                            )
                        ),
                    )
                    for layer in net
                    if isinstance(layer, torch.nn.Linear)
                ]
                for net in self.members_
            ]
            cached = self.__dict__["_np_weights"] = (self.members_, weights)
        return cached[1]

    def __getstate__(self):  # the numpy copy of the weights is derived; not pickled, not cloned
        state = self.__dict__.copy()
        state.pop("_np_weights", None)
        return state

    def save(self, path: Path) -> None:
        import torch

        state = {f"m{i}.{k}": v for i, net in enumerate(self.members_) for k, v in net.state_dict().items()}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(
        cls, path: Path, params: dict[str, Any], n_features: int, n_outputs: int, data: bytes | None = None
    ) -> MLPEnsembleRegressor:
        """The ensemble :meth:`save` wrote to ``path`` (``data``: that file's bytes, already read): weights only."""
        import torch

        est = cls(**params)
        source = io.BytesIO(data) if data is not None else path
        try:
            state = torch.load(source, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile) as e:
            # not torch's message: it suggests loading with weights_only=False, which would run the file's code
            raise ValueError(
                f"{path}: not a file of torch weights ({type(e).__name__}); refused (it is read as weights only)"
            ) from None
        est._check_state(path, state, n_features, n_outputs)
        est.n_features_in_, est.n_outputs_ = n_features, n_outputs
        est.members_ = []
        for i in range(est.n_members):
            net = est._build(n_features, n_outputs)
            prefix = f"m{i}."
            net.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
            net.eval()
            est.members_.append(net)
        return est

    def _check_state(self, path: Path, state: Any, n_features: int, n_outputs: int) -> None:
        """Refuse weights that are not the ones this ensemble's settings (from a manifest) describe, before any
        network is built: a manifest that claims huge layers cannot make the loader allocate them."""
        import torch

        if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
        ):
            raise ValueError(f"{path}: not a state of named tensors")
        n_lin = self.n_layers + 1
        want = self.n_members * n_lin * 2
        if len(state) != want:
            raise ValueError(
                f"{path}: holds {len(state)} tensors; n_members={self.n_members} x n_layers+1={n_lin} "
                f"x (weight, bias) = {want} expected"
            )
        widths = [n_features, *[self.hidden] * self.n_layers, n_outputs]
        for i in range(self.n_members):
            for j in range(n_lin):
                for kind, shape in (("weight", (widths[j + 1], widths[j])), ("bias", (widths[j + 1],))):
                    key = f"m{i}.{2 * j}.{kind}"
                    t = state.get(key)
                    if t is None or tuple(t.shape) != shape or t.dtype != torch.float32:
                        got = "missing" if t is None else f"{t.dtype} {tuple(t.shape)}"
                        raise ValueError(
                            f"{path}: tensor {key} is {got}, expected torch.float32 {shape} (hidden={self.hidden}, "
                            f"n_layers={self.n_layers}, {n_features} inputs, {n_outputs} outputs)"
                        )


# ---------------------------------------------------------------- Gaussian process
def _matern_torch(d, nu: float):
    """Matern correlation of scaled distances ``d`` (a torch tensor, modified in place)."""
    import torch

    if nu == 0.5:
        return torch.exp(d.neg_())
    d.mul_(np.sqrt(3.0 if nu == 1.5 else 5.0))
    e = torch.exp(-d)
    if nu == 1.5:
        return e.mul_(d.add_(1.0))
    poly = d * d
    poly.mul_(1.0 / 3.0).add_(d).add_(1.0)
    return e.mul_(poly)


_LOG_BOUNDS = {"signal": (1e-3, 1e3), "length": (1e-2, 1e3), "noise": (1e-4, 1.0)}


def _matern_and_grads(X: np.ndarray, theta: np.ndarray, nu: float) -> tuple[np.ndarray, np.ndarray]:
    """K (n, n) with white noise on the diagonal, and dK/dtheta (p, n, n) for theta = log(signal, l_1..l_d, noise)."""
    sig, ls, noise = np.exp(theta[0]), np.exp(theta[1:-1]), np.exp(theta[-1])
    Z = X / ls
    diff2 = (Z[:, None, :] - Z[None, :, :]) ** 2  # (n, n, d): squared scaled differences per input
    r = np.sqrt(diff2.sum(axis=-1))
    if nu == 0.5:
        e = np.exp(-r)
        k = e
        with np.errstate(divide="ignore", invalid="ignore"):
            dk_dr2 = np.where(r > 0, -e / (2 * r), 0.0)  # d k / d (r^2)
    elif nu == 1.5:
        a = np.sqrt(3.0)
        e = np.exp(-a * r)
        k = (1 + a * r) * e
        dk_dr2 = -1.5 * e
    else:
        a = np.sqrt(5.0)
        e = np.exp(-a * r)
        k = (1 + a * r + 5.0 / 3.0 * r * r) * e
        dk_dr2 = -5.0 / 6.0 * (1 + a * r) * e
    grads = np.empty((len(theta), *r.shape))
    grads[0] = sig * k
    # d r^2 / d log l_d = -2 diff2_d
    grads[1:-1] = np.moveaxis(sig * dk_dr2[..., None] * (-2.0 * diff2), -1, 0)
    grads[-1] = noise * np.eye(len(X))
    K = sig * k + noise * np.eye(len(X))
    return K, grads


def _neg_lml(theta: np.ndarray, X: np.ndarray, Y: np.ndarray, nu: float) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood summed over the columns of Y, and its gradient."""
    from scipy.linalg import cho_factor, cho_solve

    K, grads = _matern_and_grads(X, theta, nu)
    try:
        L = cho_factor(K, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    A = cho_solve(L, Y, check_finite=False)  # (n, m)
    n, m = Y.shape
    logdet = 2.0 * np.log(np.diag(L[0])).sum()
    lml = -0.5 * np.sum(Y * A) - 0.5 * m * logdet - 0.5 * n * m * np.log(2 * np.pi)
    W = A @ A.T - m * cho_solve(L, np.eye(n), check_finite=False)
    grad = 0.5 * np.einsum("ij,pij->p", W, grads)
    return -lml, -grad


class GPRegressor(RegressorMixin, BaseEstimator):
    """Exact Gaussian-process regression of multi-output targets that share one kernel.

    Kernel: a signal variance times a Matern kernel (``nu`` 0.5, 1.5 or 2.5) with one
    length scale per input, plus white noise; the same kernel as scikit-learn's
    ``ConstantKernel * Matern + WhiteKernel``. The hyperparameters maximize the
    marginal likelihood summed over the outputs (L-BFGS-B on log scales, from a
    fixed start and ``n_restarts`` random ones). The likelihood is written here
    rather than taken from ``sklearn.gaussian_process`` because its gradient for m
    outputs builds an (n, n, m) tensor: with the 80 or so targets of a whole
    surrogate that is most of a minute per evaluation, against a few hundredths
    here (the gradient needs only the n x n matrix ``A A^T - m K^-1``); a test
    checks both give the same likelihood. The fitted model keeps only what the
    posterior mean needs (scaled training inputs, weights), so a prediction is a
    distance matrix and a matrix product, and the file is a plain array file.
    Above ``max_train`` training rows a fixed random subset of that size is used
    (an exact GP costs cubic time in its rows). Targets are expected to be
    standardized (the surrogate does it).
    """

    def __init__(
        self, nu: float = 2.5, n_restarts: int = 1, max_train: int = 1500, random_state: int = 0
    ) -> None:
        self.nu = nu
        self.n_restarts = n_restarts
        self.max_train = max_train
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> GPRegressor:
        from scipy.linalg import cho_factor, cho_solve
        from scipy.optimize import minimize

        if self.nu not in (0.5, 1.5, 2.5):
            raise ValueError(f"nu={self.nu!r}; allowed: 0.5, 1.5, 2.5")
        if int(self.max_train) < 2:
            raise ValueError(f"max_train={self.max_train!r}; allowed: an integer >= 2")
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(y, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        rng = np.random.default_rng(self.random_state)
        if len(X) > int(self.max_train):
            keep = np.sort(rng.choice(len(X), int(self.max_train), replace=False))
            X, Y = X[keep], Y[keep]
        d = X.shape[1]
        bounds = np.log([_LOG_BOUNDS["signal"], *[_LOG_BOUNDS["length"]] * d, _LOG_BOUNDS["noise"]])
        starts = [np.log([1.0, *[1.0] * d, 0.1])]
        starts += [rng.uniform(bounds[:, 0], bounds[:, 1]) for _ in range(int(self.n_restarts))]
        best = None
        for x0 in starts:
            res = minimize(
                _neg_lml, x0, args=(X, Y, float(self.nu)), jac=True, method="L-BFGS-B", bounds=bounds
            )
            if best is None or res.fun < best.fun:
                best = res
        theta = best.x
        K, _ = _matern_and_grads(X, theta, float(self.nu))
        alpha = cho_solve(cho_factor(K, lower=True), Y)
        self.signal_variance_ = float(np.exp(theta[0]))
        self.length_scale_ = np.exp(theta[1:-1])
        self.noise_variance_ = float(np.exp(theta[-1]))
        self.X_train_ = X / self.length_scale_
        self.alpha_ = alpha * self.signal_variance_
        self.n_features_in_ = d
        self.n_outputs_ = Y.shape[1]
        self.log_marginal_likelihood_ = float(-best.fun)
        probe = X[: min(len(X), 256)] + 0.01
        self.float32_ok_ = True
        diff = np.abs(self.predict(probe) - self.predict(probe, exact=True)).max()
        self.float32_ok_ = bool(diff <= 1e-4)
        return self

    def predict(self, X: np.ndarray, exact: bool | None = None) -> np.ndarray:
        """Posterior mean, in row chunks of one fixed size (see :func:`_in_fixed_chunks`), torch at one thread.

        In float32 (torch) when the fit found that float32 reproduces float64 within 1e-4
        on the training inputs (``float32_ok_``), else in float64; ``exact=True`` forces float64.
        """
        import torch

        use32 = getattr(self, "float32_ok_", False) if exact is None else not exact
        dtype = torch.float32 if use32 else torch.float64
        Xs = torch.as_tensor(np.asarray(X, dtype=np.float64) / self.length_scale_).to(dtype)
        xt = torch.as_tensor(self.X_train_).to(dtype)
        alpha = torch.as_tensor(self.alpha_).to(dtype)
        with torch.inference_mode(), torch_threads():
            out = _in_fixed_chunks(lambda x: _matern_torch(torch.cdist(x, xt), self.nu) @ alpha, Xs).numpy()
        out = out.astype(np.float64, copy=False)
        return out[:, 0] if self.n_outputs_ == 1 else out

    def save(self, path: Path) -> None:
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            X_train=self.X_train_,
            alpha=self.alpha_,
            length_scale=self.length_scale_,
            signal_variance=np.float64(self.signal_variance_),
            noise_variance=np.float64(self.noise_variance_),
            float32_ok=np.bool_(self.float32_ok_),
        )
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(
        cls, path: Path, params: dict[str, Any], n_features: int, n_outputs: int, data: bytes | None = None
    ) -> GPRegressor:
        """A GP written by :meth:`save` to ``path`` (``data``: that file's bytes, already read), checked as
        untrusted data: the writer's arrays only (headers read before anything is decompressed), their shapes
        those of ``n_features`` inputs and ``n_outputs`` outputs, finite numbers, and a Matern ``nu`` this class
        computes."""
        est = cls(**{k: v for k, v in params.items() if k in cls().get_params()})
        if est.nu not in _GP_NU:
            raise ValueError(f"{path}: nu={est.nu!r}; allowed: {', '.join(map(str, _GP_NU))}")
        with io.BytesIO(data) if data is not None else open(path, "rb") as fh:
            with zipfile.ZipFile(fh) as zf:
                headers = npz_headers(zf, MAX_MODEL_BYTES)
            if set(headers) != _GP_ARRAYS:
                raise ValueError(f"{path}: arrays {sorted(headers)}, expected {sorted(_GP_ARRAYS)}")
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as z:
                a = {k: z[k] for k in _GP_ARRAYS}
        n = a["X_train"].shape[0] if a["X_train"].ndim == 2 else -1
        shapes = {
            "X_train": (n, n_features),
            "alpha": (n, n_outputs),
            "length_scale": (n_features,),
            "signal_variance": (),
            "noise_variance": (),
            "float32_ok": (),
        }
        for k, shape in shapes.items():
            kind = "b" if k == "float32_ok" else "f"
            if a[k].shape != shape or n < 1 or a[k].dtype.kind != kind:
                raise ValueError(
                    f"{path}: array {k} is {a[k].dtype} {a[k].shape}, expected {'bool' if kind == 'b' else 'float'} "
                    f"{shape} ({n_features} inputs, {n_outputs} outputs, n >= 1 training rows)"
                )
            if kind == "f" and not np.isfinite(a[k]).all():
                raise ValueError(f"{path}: array {k} holds NaN or infinite values")
        if not (a["length_scale"] > 0).all() or not a["signal_variance"] > 0 or not a["noise_variance"] >= 0:
            raise ValueError(
                f"{path}: length scales and the signal variance must be > 0, the noise variance >= 0"
            )
        est.X_train_, est.alpha_, est.length_scale_ = a["X_train"], a["alpha"], a["length_scale"]
        est.signal_variance_, est.noise_variance_ = float(a["signal_variance"]), float(a["noise_variance"])
        est.float32_ok_ = bool(a["float32_ok"])
        est.n_features_in_, est.n_outputs_ = n_features, n_outputs
        return est


# ---------------------------------------------------------------- files
SUFFIX = {"xgboost": ".ubj.gz", "rf": ".skops", "knn": ".skops", "mlp": ".pt", "gp": ".npz"}

#: the exact types, beyond skops' own safe defaults, that a fitted RandomForestRegressor or KNeighborsRegressor
#: holds; a skops file naming any other type is refused before anything in it is built
SKOPS_ALLOWED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.EuclideanDistance32",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    }
)
#: the class each skops model file must hold
_SKOPS_CLASS = {
    "rf": "sklearn.ensemble.RandomForestRegressor",
    "knn": "sklearn.neighbors.KNeighborsRegressor",
}
#: a model file (a gzipped XGBoost model, a GP's arrays) larger than this when decompressed is refused before
#: it is decompressed further (no decompression bombs); the shipped ones are a few MiB at most
MAX_MODEL_BYTES = 256 << 20
#: the Matern smoothness values the GP computes, and the arrays its file holds
_GP_NU = (0.5, 1.5, 2.5)
_GP_ARRAYS = frozenset(
    {"X_train", "alpha", "length_scale", "signal_variance", "noise_variance", "float32_ok"}
)


def save_regressor(name: str, reg: Any, path: Path) -> None:
    """Write a fitted regressor to ``path`` (atomically) in the portable format of its kind."""
    if name == "xgboost":
        raw = reg.get_booster().save_raw(raw_format="ubj")
        with atomic_path(path) as tmp:
            tmp.write_bytes(gzip.compress(bytes(raw), compresslevel=9, mtime=0))
    elif name in ("rf", "knn"):
        import skops.io as sio

        with atomic_path(path) as tmp:
            sio.dump(reg, tmp)
    elif name in ("mlp", "gp"):
        reg.save(path)
    else:
        raise ValueError(f"no file format for model {name!r}; allowed: {', '.join(SUFFIX)}")


def load_regressor(
    name: str, path: Path, params: dict[str, Any], n_features: int, n_outputs: int, data: bytes | None = None
) -> Any:
    """Read a regressor written by :func:`save_regressor` to ``path``; no arbitrary code is unpickled.

    ``data``: the file's bytes, already read (and checked against its checksum: the model is built from the
    bytes that were checked); None reads ``path``.
    """
    check_model(name)
    path = Path(path)
    if data is None:
        data = path.read_bytes()
    if name == "xgboost":
        import xgboost as xgb

        reg = xgb.XGBRegressor(**{k: v for k, v in params.items() if k in ("n_jobs",)})
        try:
            reg.load_model(_gunzip(data, path))
        except (OSError, EOFError, zlib.error, xgb.core.XGBoostError) as e:
            raise ValueError(f"{path}: not a gzipped XGBoost model ({type(e).__name__}: {e})") from None
        # predictions call the booster directly (CurveSurrogate._predict_one): its own thread count must be set
        reg.get_booster().set_param({"nthread": int(params.get("n_jobs") or 1)})
        return reg
    if name in ("rf", "knn"):
        import importlib

        import skops.io as sio

        untrusted = sio.get_untrusted_types(data=data)
        bad = sorted(set(untrusted) - SKOPS_ALLOWED_TYPES)
        if bad:
            raise ValueError(
                f"{path}: refusing to load type(s) {bad}: a {name} model file may hold only "
                f"skops' defaults and {sorted(SKOPS_ALLOWED_TYPES)}"
            )
        reg = sio.loads(data, trusted=list(untrusted))
        module, cls = _SKOPS_CLASS[name].rsplit(".", 1)
        if type(reg) is not getattr(importlib.import_module(module), cls):
            raise ValueError(
                f"{path}: holds a {type(reg).__module__}.{type(reg).__name__}, expected {_SKOPS_CLASS[name]}"
            )
        return reg
    if name == "gp":
        return GPRegressor.load(path, params, n_features, n_outputs, data=data)
    if name != "mlp":
        raise ValueError(f"no file format for model {name!r}; allowed: {', '.join(SUFFIX)}")
    p = {k: v for k, v in params.items() if k in MLPEnsembleRegressor().get_params()}
    return MLPEnsembleRegressor.load(path, p, n_features, n_outputs, data=data)


def _gunzip(data: bytes, path: Path, chunk: int = 1 << 20) -> bytearray:
    """Decompress ``data``, a one-member gzip file read from ``path``, refusing output beyond MAX_MODEL_BYTES (in
    chunks: one copy in memory)."""
    d = zlib.decompressobj(wbits=31)
    out = bytearray()
    while not d.eof and len(out) <= MAX_MODEL_BYTES:
        piece = d.decompress(data, chunk)
        data = d.unconsumed_tail
        if not piece and not data:
            break
        out += piece
    if len(out) > MAX_MODEL_BYTES:
        raise ValueError(f"{path}: decompresses to more than {MAX_MODEL_BYTES} bytes; refusing it")
    if not d.eof or d.unused_data:
        raise ValueError(f"{path}: not one whole gzip stream (cut short, or data after its end)")
    return out


def params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)
