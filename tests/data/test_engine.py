"""The training engine: grouped training equals solo training, divergence is contained, optimizers match torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data import rng
from data.datasets import load_splits
from data.engine import GroupSpec, resolve_device, train_group
from data.families import get_family
from data.families.lcbench import architecture, funnel
from data.nets import BatchedMLP
from data.optim import BatchedAdam, BatchedSGD


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def diabetes():
    return load_splits("diabetes", split_seed=0)


@pytest.fixture(scope="module")
def wine():
    return load_splits("wine", split_seed=0)


def test_fcnet_group_equals_alone(diabetes):
    fam = get_family("fcnet")
    base = {"n_units_1": 32, "n_units_2": 16, "batch_size": 16}
    configs = [
        {
            **base,
            "dropout_1": 0.0,
            "dropout_2": 0.3,
            "activation_fn_1": "relu",
            "activation_fn_2": "tanh",
            "init_lr": 1e-3,
            "lr_schedule": "cosine",
        },
        {
            **base,
            "dropout_1": 0.6,
            "dropout_2": 0.0,
            "activation_fn_1": "relu",
            "activation_fn_2": "relu",
            "init_lr": 1e-2,
            "lr_schedule": "const",
        },
        {
            **base,
            "dropout_1": 0.3,
            "dropout_2": 0.6,
            "activation_fn_1": "tanh",
            "activation_fn_2": "relu",
            "init_lr": 5e-3,
            "lr_schedule": "cosine",
        },
        {
            **base,
            "dropout_1": 0.0,
            "dropout_2": 0.0,
            "activation_fn_1": "tanh",
            "activation_fn_2": "tanh",
            "init_lr": 5e-4,
            "lr_schedule": "const",
        },
    ]
    keys = [rng.run_key(c, 0) for c in configs]
    cpu = torch.device("cpu")
    together = train_group(fam.build(configs, keys, diabetes, epochs=4, device=cpu), diabetes)
    for g, (c, k) in enumerate(zip(configs, keys)):
        alone = train_group(fam.build([c], [k], diabetes, epochs=4, device=cpu), diabetes)
        for m, a in together.metrics.items():
            np.testing.assert_allclose(a[g], alone.metrics[m][0], rtol=1e-5, atol=1e-7, err_msg=m)
        # training is bit-identical; only the evaluation's first product may round differently
        np.testing.assert_array_equal(together.metrics["train_loss"][g], alone.metrics["train_loss"][0])
    # the runs differ from one another (the test would be empty otherwise)
    assert len({round(float(v), 6) for v in together.metrics["valid_mse"][:, -1]}) == len(configs)


def test_lcbench_group_equals_alone(wine):
    fam = get_family("lcbench")
    c = {
        "batch_size": 32,
        "learning_rate": 0.02,
        "momentum": 0.9,
        "weight_decay": 1e-3,
        "num_layers": 3,
        "max_units": 64,
        "max_dropout": 0.5,
    }
    c2 = {**c, "learning_rate": 0.005, "momentum": 0.5, "max_dropout": 0.1}
    keys = [rng.run_key(c, 0), rng.run_key(c, 1), rng.run_key(c2, 0)]
    cpu = torch.device("cpu")
    together = train_group(fam.build([c, c, c2], keys, wine, epochs=3, device=cpu), wine)
    for g, cfg in enumerate([c, c, c2]):
        alone = train_group(fam.build([cfg], [keys[g]], wine, epochs=3, device=cpu), wine)
        for m, a in together.metrics.items():
            np.testing.assert_allclose(a[g], alone.metrics[m][0], rtol=1e-5, atol=1e-7, err_msg=m)
    # two seeds of one configuration give different curves
    assert not np.allclose(
        together.metrics["valid_cross_entropy"][0], together.metrics["valid_cross_entropy"][1]
    )


def test_same_seed_same_curve(diabetes):
    fam = get_family("fcnet")
    c = fam.sample(1, seed=3).iloc[0].to_dict()
    k = rng.run_key(c, 0)
    a = train_group(fam.build([c], [k], diabetes, epochs=2, device=torch.device("cpu")), diabetes)
    b = train_group(fam.build([c], [k], diabetes, epochs=2, device=torch.device("cpu")), diabetes)
    for m in a.metrics:
        np.testing.assert_array_equal(a.metrics[m], b.metrics[m])


def test_diverging_run_is_recorded_not_fatal(diabetes):
    keys = [11, 12]
    model = BatchedMLP(
        diabetes.n_features,
        [16, 16],
        1,
        keys=keys,
        activations=[["relu", "relu"]] * 2,
        dropout=np.zeros((2, 2)),
        init="glorot_uniform",
    )
    lr = np.array([[1e-3] * 4, [1e9] * 4])  # the second run blows up
    res = train_group(GroupSpec(model, BatchedAdam(model.params), lr, 8, keys), diabetes)
    assert res.diverged_epoch[0] == -1
    assert res.diverged_epoch[1] >= 0
    e = res.diverged_epoch[1]
    assert np.isnan(res.metrics["valid_mse"][1, e:]).all()
    assert np.isfinite(res.metrics["valid_mse"][0]).all()
    # the healthy run is unaffected by its diverged neighbour
    solo = BatchedMLP(
        diabetes.n_features,
        [16, 16],
        1,
        keys=keys[:1],
        activations=[["relu", "relu"]],
        dropout=np.zeros((1, 2)),
        init="glorot_uniform",
    )
    alone = train_group(GroupSpec(solo, BatchedAdam(solo.params), lr[:1], 8, keys[:1]), diabetes)
    np.testing.assert_allclose(res.metrics["valid_mse"][0], alone.metrics["valid_mse"][0], rtol=1e-5)


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bits of a float32 tensor, so that equality is bitwise (NaN payloads and zero signs included)."""
    return t.detach().contiguous().view(torch.int32)


def _train_both(make_spec, data):
    """Train the spec from ``make_spec()`` with autograd and with the manual step; return both (spec, result)."""
    out = {}
    for backward in ("autograd", "manual"):
        spec = make_spec()
        spec.backward = backward
        out[backward] = spec, train_group(spec, data)
    return out["autograd"], out["manual"]


def _assert_bitwise_same(a, b):
    (spec_a, res_a), (spec_m, res_m) = a, b
    assert res_a.metrics.keys() == res_m.metrics.keys()
    for m in res_a.metrics:
        np.testing.assert_array_equal(res_a.metrics[m], res_m.metrics[m], err_msg=m)
    np.testing.assert_array_equal(res_a.diverged_epoch, res_m.diverged_epoch)
    opt_a, opt_m = spec_a.optimizer, spec_m.optimizer
    for name, xs, ys in [
        ("params", spec_a.model.params, spec_m.model.params),
        ("adam m", opt_a.m, opt_m.m),
        ("adam v", opt_a.v, opt_m.v),
    ]:
        for k, (x, y) in enumerate(zip(xs, ys)):
            assert torch.equal(_bits(x), _bits(y)), f"{name}[{k}] differ"


_FCNET_BASE = {
    "lr_schedule": "cosine",
    "activation_fn_1": "relu",
    "activation_fn_2": "relu",
    "dropout_1": 0.0,
    "dropout_2": 0.0,
}


def _fcnet_configs(n_units_1, n_units_2, batch_size, runs):
    """FCNet configurations of one group from (act_1, act_2, dropout_1, dropout_2, init_lr) tuples."""
    return [
        {
            **_FCNET_BASE,
            "n_units_1": n_units_1,
            "n_units_2": n_units_2,
            "batch_size": batch_size,
            "activation_fn_1": a1,
            "activation_fn_2": a2,
            "dropout_1": p1,
            "dropout_2": p2,
            "init_lr": lr,
        }
        for a1, a2, p1, p2, lr in runs
    ]


# diabetes has 265 training rows: batch sizes 16 and 64 leave a last minibatch of 9 rows, 8 one of a single row
_MANUAL_GROUPS = {
    "mixed-activations-G6": _fcnet_configs(
        32,
        16,
        16,
        [
            ("relu", "relu", 0.0, 0.3, 1e-3),
            ("relu", "tanh", 0.6, 0.0, 1e-2),
            ("relu", "tanh", 0.3, 0.6, 5e-3),
            ("tanh", "relu", 0.3, 0.3, 5e-4),
            ("tanh", "relu", 0.0, 0.6, 1e-1),
            ("tanh", "tanh", 0.6, 0.6, 5e-2),
        ],
    ),
    "no-dropout-G3": _fcnet_configs(
        64,
        32,
        64,
        [
            ("tanh", "relu", 0.0, 0.0, 1e-2),
            ("relu", "relu", 0.0, 0.0, 5e-3),
            ("tanh", "tanh", 0.0, 0.0, 1e-3),
        ],
    ),
    "solo-relu-dropout": _fcnet_configs(16, 64, 8, [("relu", "relu", 0.6, 0.3, 5e-3)]),
    "solo-tanh": _fcnet_configs(16, 128, 16, [("tanh", "tanh", 0.0, 0.3, 1e-2)]),
}


@pytest.mark.parametrize("name", sorted(_MANUAL_GROUPS))
def test_fcnet_manual_step_is_bitwise_autograd(diabetes, name):
    """The hand-written MSE step gives exactly autograd's curves, parameters and Adam state (sweeps resume on it)."""
    fam = get_family("fcnet")
    configs = sorted(_MANUAL_GROUPS[name], key=fam.within_group_order)
    keys = [rng.run_key(c, 0) for c in configs]
    a, m = _train_both(
        lambda: fam.build(configs, keys, diabetes, epochs=3, device=torch.device("cpu")), diabetes
    )
    _assert_bitwise_same(a, m)
    assert np.isfinite(a[1].metrics["valid_mse"]).all()
    assert (a[1].metrics["train_loss"][:, -1] < a[1].metrics["train_loss"][:, 0]).any()  # it trained


@pytest.mark.realdata
def test_manual_step_is_bitwise_autograd_on_naval_heavy_group():
    """A sweep-sized shape (BLAS kernels, not the small-product loop): 4 runs, batch 8, 256x512, on real data."""
    import dataclasses

    from data.datasets import DatasetMissingError

    try:
        full = load_splits("naval", split_seed=0)
    except DatasetMissingError:
        pytest.skip("naval is not under the data root")
    data = dataclasses.replace(
        full,
        x_train=full.x_train[:800],
        y_train=full.y_train[:800],
        x_valid=full.x_valid[:200],
        y_valid=full.y_valid[:200],
        x_test=full.x_test[:200],
        y_test=full.y_test[:200],
    )
    fam = get_family("fcnet")
    configs = sorted(
        _fcnet_configs(
            256,
            512,
            8,
            [
                ("relu", "tanh", 0.0, 0.3, 1e-3),
                ("relu", "relu", 0.6, 0.0, 5e-3),
                ("tanh", "relu", 0.3, 0.6, 5e-4),
                ("tanh", "tanh", 0.0, 0.0, 1e-2),
            ],
        ),
        key=fam.within_group_order,
    )
    keys = [rng.run_key(c, 0) for c in configs]
    a, m = _train_both(lambda: fam.build(configs, keys, data, epochs=1, device=torch.device("cpu")), data)
    _assert_bitwise_same(a, m)


def test_manual_step_with_diverging_run_is_bitwise_autograd(diabetes):
    keys = [11, 12, 13]

    def make():
        model = BatchedMLP(
            diabetes.n_features,
            [16, 32],
            1,
            keys=keys,
            activations=[["relu", "tanh"], ["relu", "relu"], ["tanh", "relu"]],
            dropout=np.array([[0.0, 0.3], [0.3, 0.0], [0.6, 0.0]]),
            init="glorot_uniform",
        )
        lr = np.array([[1e-3] * 4, [1e9] * 4, [5e-3] * 4])  # the second run blows up
        return GroupSpec(model, BatchedAdam(model.params), lr, 16, keys)

    a, m = _train_both(make, diabetes)
    assert a[1].diverged_epoch[1] >= 0 and a[1].diverged_epoch[[0, 2]].tolist() == [-1, -1]
    _assert_bitwise_same(a, m)


def test_manual_step_gradients_equal_autograd(diabetes):
    """One step's gradients, a dead run's (all zero) included, and a minibatch smaller than the others."""
    from data.metrics import batch_loss
    from data.nets import MSEStep

    keys = [3, 4, 5, 6]
    model = BatchedMLP(
        diabetes.n_features,
        [24, 8],
        1,
        keys=keys,
        activations=[["relu", "tanh"], ["tanh", "relu"], ["tanh", "relu"], ["tanh", "tanh"]],
        dropout=np.array([[0.3, 0.0], [0.0, 0.6], [0.3, 0.3], [0.6, 0.0]]),
        init="glorot_uniform",
    )
    alive = torch.tensor([True, False, True, True])
    ref = [torch.zeros_like(p) for p in model.params]
    grads = [torch.zeros_like(p) for p in model.params]
    step = MSEStep(model, grads)
    for rows in (16, 9):
        idx = torch.as_tensor(np.stack([rng.permutation(k, 0, len(diabetes.y_train))[:rows] for k in keys]))
        xb, yb = torch.as_tensor(diabetes.x_train)[idx], torch.as_tensor(diabetes.y_train)[idx]
        for p, r in zip(model.params, ref):
            p.grad = r.zero_()
        loss_ref = torch.where(
            alive, batch_loss("regression", model.forward(xb, train=True, counter=7), yb), torch.zeros(())
        )
        loss_ref.sum().backward()
        loss = step(xb, yb, alive, counter=7)
        assert torch.equal(_bits(loss), _bits(loss_ref))
        for k, (g, r) in enumerate(zip(grads, ref)):
            assert torch.equal(g, r), f"gradient {k}"  # values; a zero's sign may differ (see MSEStep)
            assert not g[1].any()  # the dead run learns nothing
            assert g[0].abs().sum() > 0


def test_backward_path_is_chosen_by_task_and_model(diabetes, wine):
    from data.engine import _manual_step

    fcnet = get_family("fcnet").build(
        [{**_FCNET_BASE, "n_units_1": 16, "n_units_2": 16, "batch_size": 8, "init_lr": 1e-3}],
        [1],
        diabetes,
        epochs=1,
        device=torch.device("cpu"),
    )
    c = {
        "batch_size": 32,
        "learning_rate": 0.02,
        "momentum": 0.9,
        "weight_decay": 1e-3,
        "num_layers": 3,
        "max_units": 64,
        "max_dropout": 0.5,
    }
    lcbench = get_family("lcbench").build([c], [1], wine, epochs=1, device=torch.device("cpu"))
    grads = [torch.zeros_like(p) for p in fcnet.model.params]
    assert _manual_step(fcnet, "regression", grads) is not None  # on by default for FCNet
    fcnet.backward = "autograd"
    assert _manual_step(fcnet, "regression", grads) is None
    assert _manual_step(lcbench, "classification", grads) is None  # classification keeps autograd
    lcbench.backward = "manual"
    with pytest.raises(ValueError, match="manual"):
        _manual_step(lcbench, "classification", grads)
    lcbench.backward = "fast"
    with pytest.raises(ValueError, match="backward"):
        _manual_step(lcbench, "classification", grads)


@pytest.mark.parametrize("fused", [True, False])
def test_batched_adam_matches_torch(fused):
    torch.manual_seed(0)
    w0 = torch.randn(3, 5, 4)
    lrs = torch.tensor([1e-3, 1e-2, 1e-3])
    mine = w0.clone().requires_grad_(True)
    opt = BatchedAdam([mine], fused=fused and hasattr(torch, "_fused_adam_"))
    refs = [w0[i].clone().requires_grad_(True) for i in range(3)]
    ref_opts = [torch.optim.Adam([r], lr=float(lrs[i])) for i, r in enumerate(refs)]
    for _ in range(5):
        g = torch.randn(3, 5, 4)
        opt.step([g], lrs)
        for i in range(3):
            refs[i].grad = g[i].clone()
            ref_opts[i].step()
    for i in range(3):
        torch.testing.assert_close(mine[i].detach(), refs[i].detach(), rtol=1e-5, atol=1e-6)


def test_batched_sgd_matches_torch():
    torch.manual_seed(1)
    w0 = torch.randn(2, 4, 3)
    lrs, mom, wd = torch.tensor([0.1, 0.01]), torch.tensor([0.9, 0.3]), torch.tensor([1e-2, 1e-4])
    mine = w0.clone().requires_grad_(True)
    opt = BatchedSGD([mine], momentum=mom, weight_decay=wd)
    refs = [w0[i].clone().requires_grad_(True) for i in range(2)]
    ref_opts = [
        torch.optim.SGD([r], lr=float(lrs[i]), momentum=float(mom[i]), weight_decay=float(wd[i]))
        for i, r in enumerate(refs)
    ]
    for _ in range(4):
        g = torch.randn(2, 4, 3)
        opt.step([g], lrs)
        for i in range(2):
            refs[i].grad = g[i].clone()
            ref_opts[i].step()
    for i in range(2):
        torch.testing.assert_close(mine[i].detach(), refs[i].detach(), rtol=1e-5, atol=1e-6)


def test_batched_mlp_matches_torch_layers():
    """The batched network computes what torch.nn layers compute with the same weights (eval mode)."""
    m = BatchedMLP(
        5,
        [7, 3],
        2,
        keys=[1, 2],
        activations=[["tanh", "relu"], ["relu", "relu"]],
        dropout=np.zeros((2, 2)),
        init="torch_default",
    )
    x = torch.randn(6, 5)
    out = m.forward(x, train=False)
    for g, acts in enumerate([("tanh", "relu"), ("relu", "relu")]):
        h = x
        for i in range(3):
            h = h @ m.params[2 * i][g] + m.params[2 * i + 1][g]
            if i < 2:
                h = torch.tanh(h) if acts[i] == "tanh" else torch.relu(h)
        torch.testing.assert_close(out[g], h.detach())


def test_dropout_rate_and_independence():
    keys = torch.tensor([5, 6], dtype=torch.int64)
    u = rng.uniform(keys, counter=3, n=20000)
    assert 0.49 < float(u.mean()) < 0.51
    assert float((u[0] - u[1]).abs().mean()) > 0.2  # different runs, different masks
    assert torch.equal(u[0], rng.uniform(keys[:1], counter=3, n=20000)[0])  # independent of the group


def _uniform_int64_reference(keys: torch.Tensor, counter: int, n: int) -> torch.Tensor:
    """The dropout uniforms as first written (int64 arithmetic): the shipped tables were trained with these."""
    m32 = 0xFFFFFFFF
    c = rng._hash32_int(counter & m32)
    base = rng.hash32((keys ^ c) & m32)
    bits = rng.hash32((base[:, None] + torch.arange(n, dtype=torch.int64)[None, :] * 0x9E3779B9) & m32)
    return (bits >> 8).to(torch.float32) * (1.0 / (1 << 24))


@pytest.mark.parametrize("counter", [0, 1, 7, 65535 * 8 + 3, 99 * 65536 * 8 + 1, 2**32 + 5])
def test_int32_dropout_bits_match_int64_reference(counter):
    """The int32 hash gives the bits of the int64 one (so tables made before it reproduce), masks included."""
    keys = torch.tensor([0, 1, 5, 2**31 - 1, 0x7F3A_91C4, 123456789], dtype=torch.int64)
    n = 5000
    ref = _uniform_int64_reference(keys, counter, n)
    assert torch.equal(rng.uniform(keys, counter, n), ref)
    p = torch.tensor(
        [0.0, 0.3, 0.6, 1.0, 0.5, float(ref[5, 17])]
    )  # the last: a uniform drawn exactly equal to p
    scale = torch.where(p < 1, 1 / (1 - p).clamp_min(1e-12), torch.zeros(()))
    want = (ref >= p[:, None]).to(torch.float32) * scale[:, None]
    got = rng.dropout_multiplier(keys, counter, n, rng.keep_threshold(p[:, None]), scale[:, None])
    assert torch.equal(got, want)
    assert 0.25 < float((got[1] == 0).float().mean()) < 0.35  # p=0.3 drops about 30%


def test_funnel_follows_auto_pytorch():
    assert funnel(10, 2, 100, 1) == [2]
    assert funnel(10, 2, 100, 3) == [100, 51, 2]
    assert funnel(0, 0, 1000, 4) == [1000, 667, 334, 0]
    widths, drops = architecture({"num_layers": 3, "max_units": 100, "max_dropout": 0.5}, 10, 2)
    assert widths == [100, 51] and drops == [0.5, 0.25]
    assert architecture({"num_layers": 1, "max_units": 100, "max_dropout": 0.5}, 10, 2) == ([], [])


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")


def _images(n: int, seed: int = 0):
    """Synthetic 28x28 two-class images: a bright square on the left or on the right."""
    from data.datasets import Splits

    rng_ = np.random.default_rng(seed)
    y = rng_.integers(0, 2, n)
    x = rng_.uniform(0, 0.2, size=(n, 28, 28)).astype(np.float32)
    for i, c in enumerate(y):
        x[i, 10:18, (4 if c == 0 else 16) : (12 if c == 0 else 24)] += 0.8
    x = x.reshape(n, -1)
    a, b = int(0.6 * n), int(0.8 * n)
    return Splits(
        "images",
        "classification",
        x[:a],
        y[:a],
        x[a:b],
        y[a:b],
        x[b:],
        y[b:],
        2,
        [f"px{i}" for i in range(784)],
        {},
    )


def test_cnn_family_group_equals_alone_and_learns():
    data = _images(120)
    fam = get_family("cnn")
    base = {"n_filters_1": 4, "n_filters_2": 8, "batch_size": 32}
    configs = [
        {**base, "dropout": 0.25, "learning_rate": 3e-3},
        {**base, "dropout": 0.0, "learning_rate": 1e-3},
    ]
    keys = [rng.run_key(c, 0) for c in configs]
    cpu = torch.device("cpu")
    together = train_group(fam.build(configs, keys, data, epochs=4, device=cpu), data)
    for g in range(2):
        alone = train_group(fam.build(configs[g : g + 1], keys[g : g + 1], data, epochs=4, device=cpu), data)
        np.testing.assert_allclose(
            together.metrics["valid_cross_entropy"][g], alone.metrics["valid_cross_entropy"][0], rtol=1e-4
        )
    assert together.metrics["train_accuracy"][0, -1] > 0.9  # an easy task is learnt
