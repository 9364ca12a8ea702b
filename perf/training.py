"""Batched training throughput against one-configuration-at-a-time training, measured in the same run.

    python -m perf.training [--groups 3] [--max-runs 8] [--epochs 1] [--threads 1,2] [--seed 0] [--flops]

Takes groups of the fcnet-naval sweep plan (runs that share batch size and
widths, so the engine trains them together), drawn at random with a fixed seed,
and trains each group's runs for the same epochs:

* batched: all runs of the group together, as the sweeps train them;
* one at a time, plain PyTorch: each run alone in the loop one writes without
  this engine (``nn.Sequential`` of Linear, activation and Dropout layers,
  ``torch.optim.Adam``, a shuffled index per epoch, minibatches by indexing,
  every split evaluated after every epoch): what a sweep costs without it;
* one at a time, this engine: each run alone through the same engine (a group
  of one, one thread), which isolates what batching itself buys;
* plain PyTorch, one loop per core side by side: one-thread processes sharing
  the runs, the other way a user without batching fills a multi-core CPU.

Batched and plain runs are timed at each thread count, both sides at the same count (default: 1,
and all cores too when the machine is idle, a load (``perf.common.load_now``) below ``perf.common.UNDER_LOAD``: beside
other work torch's threads wait on each other and a multi-thread run takes many times longer, a
figure about the machine's load, not the method). Budget: ``make perf`` times 3 groups of at most
4 runs each (``--quick``: 1 group of 2 runs, and no side-by-side processes), one epoch, once (a round
of batched then plain at each thread count; the load is recorded beside every figure), which
keeps this section near a minute on a 2-core machine; ``--groups`` and ``--max-runs`` measure more.
The FLOP projection of the full grid (``--flops``) is not a comparison and is off by default. Prints
configuration-epochs per second and the ratios: per group, at equal thread counts, and each method at
its fastest thread count (the issue's 5x target is stated against that plain loop). Run it on an idle
machine: other work on the cores distorts the multi-thread numbers most. Needs the naval
dataset under the data root; without it, synthetic data of naval's shape is
used and the output says so.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from data import costmodel
from data.datasets import DatasetMissingError, Splits, load_splits
from data.engine import train_group
from data.families import get_family
from data.families.fcnet import BATCH_SIZES, UNITS, learning_rates
from data.projection import epoch_flops
from data.recipes import TABLES
from data.rng import run_key
from data.shards import make_plan
from perf.common import Report, clock, load_now, under_load


def _synthetic_like_naval() -> Splits:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(11934, 15)).astype(np.float32)
    y = (np.tanh(x @ rng.normal(size=15)) + 0.1 * rng.normal(size=11934)).astype(np.float32)
    y = (y - y.mean()) / y.std()
    tr, va = 7160, 7160 + 2387
    return Splits(
        "synthetic-naval-shape",
        "regression",
        x[:tr],
        y[:tr],
        x[tr:va],
        y[tr:va],
        x[va:],
        y[va:],
        0,
        [f"x{i}" for i in range(15)],
        {},
    )


def _groups(data: Splits, n_groups: int, seed: int, max_runs: int | None = None) -> list[list[dict]]:
    """``n_groups`` groups of the fcnet-naval plan drawn with ``seed``, each cut to its first ``max_runs`` runs."""
    fam = get_family("fcnet")
    recipe = TABLES["fcnet-naval"]
    configs = fam.sample(recipe["n_configs"], 0)
    records = configs.to_dict(orient="records")
    plan = make_plan(
        {},
        configs,
        [fam.group_key(r, data) for r in records],
        [fam.within_group_order(r) for r in records],
        recipe["seeds"],
        max_group=32,
        shard_runs=32,
        weights=[100 * costmodel.rough_seconds(fam.workload(r, data)) for r in records],
        shard_weight=900.0,
    )
    groups = [g for shard in plan.shards for g in shard]
    pick = np.random.default_rng(seed).choice(len(groups), size=min(n_groups, len(groups)), replace=False)
    return [[{**records[c], "_seed": s} for c, s in groups[i][:max_runs]] for i in sorted(pick)]


def _train(fam, runs: list[dict], data: Splits, epochs: int) -> float:
    configs = [{k: v for k, v in r.items() if k != "_seed"} for r in runs]
    keys = [run_key(c, r["_seed"]) for c, r in zip(configs, runs)]
    spec = fam.build(configs, keys, data, epochs=epochs, device=torch.device("cpu"))
    t0 = time.perf_counter()
    train_group(spec, data)
    return time.perf_counter() - t0


def _train_plain(run: dict, data: Splits, epochs: int) -> float:
    """One run trained alone by a plain PyTorch loop (the FCNet protocol, no batching); returns seconds."""
    from torch import nn

    torch.manual_seed(int(run["_seed"]))
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}
    model = nn.Sequential(
        nn.Linear(data.n_features, int(run["n_units_1"])),
        act[run["activation_fn_1"]](),
        nn.Dropout(run["dropout_1"]),
        nn.Linear(int(run["n_units_1"]), int(run["n_units_2"])),
        act[run["activation_fn_2"]](),
        nn.Dropout(run["dropout_2"]),
        nn.Linear(int(run["n_units_2"]), 1),
    )
    for layer in model:
        if isinstance(layer, nn.Linear):  # Keras' defaults, as the FCNet family uses
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(model.parameters(), lr=float(run["init_lr"]))
    lrs = learning_rates(float(run["init_lr"]), run["lr_schedule"], epochs)
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    evals = [
        (torch.as_tensor(getattr(data, f"x_{s}")), torch.as_tensor(getattr(data, f"y_{s}")))
        for s in ("train", "valid", "test")
    ]
    B, n = int(run["batch_size"]), len(y)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = float(lrs[epoch])
        model.train()
        perm = torch.randperm(n)
        for s in range(0, n, B):
            idx = perm[s : s + B]
            loss = nn.functional.mse_loss(model(x[idx]).squeeze(-1), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            [float(nn.functional.mse_loss(model(xe).squeeze(-1), ye)) for xe, ye in evals]
    return time.perf_counter() - t0


def flop_projection(data: Splits, gpu_tflops: float = 60.0, efficiency: float = 0.25) -> dict:
    """Measured FLOPs (torch's FlopCounterMode) of the full FCNet grid: 62,208 configs x 4 seeds x 100 epochs.

    Counts one training step (forward and backward) at each (batch size, widths)
    shape and the per-epoch evaluation of all splits, then sums over the grid
    (each shape occurs 62,208 / 144 = 432 times). Elementwise work (activations,
    dropout, Adam) is not in FlopCounterMode's count; it is memory-bound and
    adds roughly 10-20 bytes per parameter per step.
    """
    from torch.utils.flop_counter import FlopCounterMode

    fam = get_family("fcnet")
    n_train = len(data.y_train)
    n_eval = n_train + len(data.y_valid) + len(data.y_test)
    per_config_epoch, counted = [], []
    base = {
        "dropout_1": 0.0,
        "dropout_2": 0.0,
        "activation_fn_1": "relu",
        "activation_fn_2": "relu",
        "init_lr": 1e-3,
        "lr_schedule": "const",
    }
    for bs in BATCH_SIZES:
        for n1 in UNITS:
            for n2 in UNITS:
                c = {**base, "batch_size": bs, "n_units_1": n1, "n_units_2": n2}
                spec = fam.build([c], [0], data, epochs=1, device=torch.device("cpu"))
                xb = torch.as_tensor(data.x_train[:bs]).unsqueeze(0)
                yb = torch.as_tensor(data.y_train[:bs]).unsqueeze(0)
                with FlopCounterMode(display=False) as fc:
                    out = spec.model.forward(xb, train=True)
                    loss = (out.squeeze(-1) - yb).pow(2).mean()
                    torch.autograd.grad(loss, spec.model.params)
                step = fc.get_total_flops()
                with FlopCounterMode(display=False) as fc:
                    with torch.no_grad():
                        spec.model.forward(torch.as_tensor(data.x_valid[:1000]), train=False)
                eval_per_row = fc.get_total_flops() / 1000
                steps = -(-n_train // bs)
                per_config_epoch.append(steps * step + n_eval * eval_per_row)
                counted.append(epoch_flops(fam.workload(c, data)))
    per_shape = np.asarray(per_config_epoch)
    total = float(per_shape.sum() * (62208 / per_shape.size) * 4 * 100)
    seconds = total / (gpu_tflops * 1e12 * efficiency)
    return {
        "flops_total": total,
        "flops_per_config_epoch_mean": float(per_shape.mean()),
        # data.projection's count from the workloads (what `python -m data.sweep ... project=true` prints)
        "workload_flops_per_config_epoch_mean": float(np.mean(counted)),
        "gpu_tflops": gpu_tflops,
        "efficiency": efficiency,
        "gpu_hours": seconds / 3600,
    }


def _plain_worker_init() -> None:
    torch.set_num_threads(1)


def _plain_batch(runs: list[dict], data: Splits, epochs: int) -> float:
    return sum(_train_plain(r, data, epochs) for r in runs)


def _plain_side_by_side(groups: list[list[dict]], data: Splits, epochs: int, workers: int) -> float:
    """Wall seconds for ``workers`` one-thread processes each running the plain loop on their share of the runs.

    What a user without batching does with a multi-core CPU: several one-at-a-time loops side by side.
    Runs are dealt out longest first, so the processes finish close together; process start-up and
    imports are outside the timed span.
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    fam = get_family("fcnet")
    weighed = [
        (costmodel.rough_seconds(fam.workload({k: v for k, v in r.items() if k != "_seed"}, data)), r)
        for g in groups
        for r in g
    ]
    shares: list[list[dict]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for w, r in sorted(weighed, key=lambda wr: -wr[0]):
        k = loads.index(min(loads))
        shares[k].append(r)
        loads[k] += w
    with cf.ProcessPoolExecutor(
        workers, mp_context=mp.get_context("spawn"), initializer=_plain_worker_init
    ) as ex:
        list(ex.map(_plain_batch, [[]] * workers, [data] * workers, [epochs] * workers))  # start and import
        t0 = time.perf_counter()
        list(ex.map(_plain_batch, shares, [data] * workers, [epochs] * workers))
        return time.perf_counter() - t0


def _thread_counts(text: str | None) -> list[int]:
    cores = os.cpu_count() or 1
    if text is None:
        return [1] if under_load(load_now()) else sorted({1, cores})
    try:
        out = sorted({int(t) for t in text.split(",")})
    except ValueError:
        raise SystemExit(
            f"--threads {text!r}: give thread counts separated by commas, e.g. 1,{cores}"
        ) from None
    if out[0] < 1:
        raise SystemExit(f"--threads {text!r}: thread counts must be >= 1")
    return out


#: the group size from which the 5x target applies (the sweeps train groups of up to 32 runs together)
FULL_GROUP_RUNS = 16


def main(argv: list[str] | None = None, *, quick: bool = False):
    """Print (and save under .perf/training.json) batched vs one-at-a-time throughput; ``quick``: 1 group of 2 runs."""
    p = argparse.ArgumentParser(prog="python -m perf.training", description=__doc__.split("\n")[0])
    p.add_argument(
        "--groups",
        type=int,
        default=1 if quick else 3,
        help="how many groups of the fcnet-naval plan to time",
    )
    p.add_argument(
        "--max-runs",
        type=int,
        default=2 if quick else 4,
        help="at most this many runs of each group (its first ones)",
    )
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument(
        "--threads", default=None, help="thread counts to measure, comma-separated (default: 1 and all cores)"
    )
    p.add_argument("--seed", type=int, default=0, help="which groups are drawn")
    p.add_argument(
        "--flops",
        action="store_true",
        default=False,
        help="also print the FLOP projection of the full FCNet grid",
    )
    args = p.parse_args([] if argv is None else argv)
    if args.groups < 1 or args.max_runs < 1 or args.epochs < 1:
        raise SystemExit(
            f"--groups {args.groups}, --max-runs {args.max_runs}, --epochs {args.epochs}: each must be >= 1"
        )
    counts = _thread_counts(args.threads)
    threads = torch.get_num_threads()
    load = load_now()
    try:
        data = load_splits("naval", split_seed=0)
        note = "naval (real data)"
    except DatasetMissingError:
        data = _synthetic_like_naval()
        note = "synthetic data of naval's shape (naval not under the data root)"
    fam = get_family("fcnet")
    groups = _groups(data, args.groups, args.seed, args.max_runs)
    # seconds[(method, threads)] = per-group seconds
    seconds: dict[tuple[str, int], list[float]] = {}
    loads: dict[int, list[float]] = {}
    for i, t in enumerate(counts):
        torch.set_num_threads(t)
        seconds["batched", t], seconds["plain", t] = [], []
        # at the first thread count, a group is timed while the section's clock affords one more (at least
        # one); the later measures take the groups timed here, about as long again
        n = len(groups)
        part = clock().part(0.4 / len(counts), "training groups") if i == 0 else None
        for k in range(n) if part is None else part.rounds(n, 1, lambda k, n=n: f"{k} of {n} groups"):
            runs = groups[k]  # batched, plain, batched, plain, ...: a burst of other work falls on both
            seconds["batched", t].append(_train(fam, runs, data, args.epochs))
            seconds["plain", t].append(sum(_train_plain(r, data, args.epochs) for r in runs))
        if part is not None:
            part.done()
            groups = groups[: len(seconds["batched", t])]
        loads[t] = [load_now()]
    sizes = [len(g) * args.epochs for g in groups]
    n_total = sum(sizes)
    best_b = min(counts, key=lambda t: sum(seconds["batched", t]))
    best_p = min(counts, key=lambda t: sum(seconds["plain", t]))
    torch.set_num_threads(1)
    seconds["alone", 1] = [sum(_train(fam, [r], data, args.epochs) for r in runs) for runs in groups]
    cores = os.cpu_count() or 1
    side = _plain_side_by_side(groups, data, args.epochs, cores) if cores > 1 and not quick else None
    torch.set_num_threads(threads)

    report = Report("training")
    report.note(
        f"FCNet on {note}; {len(groups)} groups of the fcnet-naval plan (at most {args.max_runs} runs each), "
        f"{args.epochs} epoch(s), one round, cpu, "
        f"thread counts {counts}; rates in configuration-epochs per second; load (runnable tasks, sampled) at "
        f"start: {load:.0f} on {os.cpu_count()} CPUs"
    )
    report.note(
        f"per group: batched at {best_b} thread(s) against the plain loop at {best_p} thread(s) "
        f"(each at its fastest thread count over all groups) and against this engine with one run per "
        f"group at 1 thread"
    )
    for k, runs in enumerate(groups):
        r0, n = runs[0], sizes[k]
        label = f"bs {r0['batch_size']} {r0['n_units_1']}x{r0['n_units_2']} ({len(runs)} runs)"
        ours = n / seconds["batched", best_b][k]
        report.add(
            f"cfg-epochs/s {label}",
            ours,
            n / seconds["plain", best_p][k],
            "plain PyTorch, one at a time",
            lower_is_better=False,
        )
        report.add(
            f"cfg-epochs/s {label}",
            ours,
            n / seconds["alone", 1][k],
            "this engine, one run per group",
            lower_is_better=False,
        )

    def rate(method: str, t: int) -> float:
        return n_total / sum(seconds[method, t])

    for t in counts:
        report.add(
            f"all groups, both at {t} thread(s)",
            rate("batched", t),
            rate("plain", t),
            "plain PyTorch, one at a time",
            lower_is_better=False,
            setting=f"torch.set_num_threads({t}) on both sides",
            load=loads[t][0],
        )
    report.add(
        "all groups, batched 1 thread",
        rate("batched", 1),
        rate("alone", 1),
        "this engine, one run per group",
        lower_is_better=False,
    )
    headline = f"all groups, each at its best ({best_b} vs {best_p} thr)"
    report.add(
        headline,
        rate("batched", best_b),
        rate("plain", best_p),
        "plain PyTorch, one at a time",
        lower_is_better=False,
    )
    # the 5x target is for groups as the sweeps train them (up to 32 runs); a few runs per group gain less
    full = args.max_runs >= FULL_GROUP_RUNS
    report.add(
        f"batched / plain rate, each at its best ({best_b} vs {best_p} thr) (x)",
        rate("batched", best_b) / rate("plain", best_p),
        None,
        "",
        target=5.0 if full else None,
        lower_is_better=False,
    )
    if not full:
        report.note(
            f"groups cut to {args.max_runs} runs (the budget of make perf): no target; the 5x target is for "
            f"groups of {FULL_GROUP_RUNS} or more runs, as the sweeps train them "
            "(python -m perf.training --groups 6 --max-runs 32; docs/data.md)"
        )
    if side is not None:
        report.add(
            f"all groups, batched at {best_b} thr",
            rate("batched", best_b),
            n_total / side,
            f"{cores} plain one-thread loops side by side",
            lower_is_better=False,
        )
    if args.flops:
        f = flop_projection(data)
        report.note(
            f"FLOP projection, full FCNet grid on {note} (62,208 configs x 4 seeds x 100 epochs): "
            f"{f['flops_total']:.3e} FLOPs (mean {f['flops_per_config_epoch_mean']:.3e} per "
            f"configuration-epoch; data.projection's count from the workloads: "
            f"{f['workload_flops_per_config_epoch_mean']:.3e}); at {f['gpu_tflops']:.0f} TFLOP/s x "
            f"{f['efficiency']:.0%} utilization: {f['gpu_hours']:.1f} GPU-hours"
        )
    report.print()
    return report


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
