"""Faithfulness of a generated table to a published one: do they agree as much as the published seeds agree?

    python -m data.faithfulness tables=fcnet-naval          # against pub-fcnet-naval
    python -m data.faithfulness tables=fcnet-protein json=true

A generated FCNet table holds configurations of the same 62,208-point grid as
the published FCNet table (Klein & Hutter 2019), so every generated
configuration is also a published one. On those shared configurations this
compares the objective at the published fidelity (valid MSE after 100 epochs,
on a log scale, where FCNet's values span orders of magnitude):

* generated vs published, seed means: Spearman's rho overall and within the
  published top decile (the configurations optimizers compete for);
* the same for one generated seed vs one published seed, averaged over pairs:
  the like-for-like comparison with ...
* ... the published seeds against each other (the noise ceiling: two runs of
  the *same* protocol agree this much), and the generated seeds against each other;
* the median ratio generated / published, overall and in the top decile (a
  systematic offset, e.g. a protocol that trains the best networks worse).

A generated table is faithful when its agreement with the published seeds is
about as high as theirs with each other. docs/data.md ("Faithfulness to the
published FCNet tables") gives the shipped tables' numbers and what was found.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from itertools import combinations, product
from typing import Any

import numpy as np
from scipy.stats import spearmanr

import benchmarks
from benchmarks.cli import UsageError, key_field, parse_command, usage_status
from benchmarks.protocol import CurveBenchError
from benchmarks.tabular import TabularBenchmark

from .datasets import load_splits

#: the fraction of shared configurations (best by the published seed mean) called the top
TOP_FRACTION = 0.1


@dataclass(frozen=True)
class Agreement:
    generated: str
    published: str
    metric: str
    n_shared: int
    n_top: int
    #: Spearman's rho on log values: (overall, within the published top decile)
    means: tuple[float, float]
    seed_vs_seed: tuple[float, float]
    published_seeds: tuple[float, float]
    generated_seeds: tuple[float, float]
    #: median of generated / published (seed means): (overall, top decile)
    median_ratio: tuple[float, float]
    best: tuple[float, float]  # best seed-mean value on the shared configurations: (generated, published)

    def verdict(self) -> str:
        """Where the like-for-like agreement falls short of the published seeds' own, by more than 0.05."""
        gaps = [
            name
            for name, a, b in (
                ("overall", self.seed_vs_seed[0], self.published_seeds[0]),
                ("top decile", self.seed_vs_seed[1], self.published_seeds[1]),
            )
            if a < b - 0.05
        ]
        if not gaps:
            return "agrees with the published table as well as its seeds agree with each other"
        return "agrees less than the published seeds agree with each other: " + ", ".join(gaps)


def _rho(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    m = mask & np.isfinite(a) & np.isfinite(b)
    return float(spearmanr(a[m], b[m])[0]) if m.sum() > 2 else float("nan")


def compare(generated: TabularBenchmark, published: TabularBenchmark, metric: str | None = None) -> Agreement:
    """Agreement of ``generated`` with ``published`` on their shared configurations (see the module docstring)."""
    metric = metric or published.objective
    names = list(published.space.keys())
    if list(generated.space.keys()) != names:
        raise CurveBenchError(f"{generated.name} and {published.name} have different spaces")
    fid = published.fidelity.max
    if fid not in generated.fidelity.values:
        raise CurveBenchError(
            f"{generated.name} holds no {generated.fidelity.name}={fid}, the published fidelity"
        )
    gi = generated.fidelity.values.index(fid)
    frame = generated.table.configs[names]
    pids = published.config_ids(frame)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.log(np.asarray(generated.table.arrays[metric][:, :, gi], dtype=np.float64))
        p = np.log(np.asarray(published.table.arrays[metric][pids][:, :, -1], dtype=np.float64))
    sign = published.metric(metric).sign
    gm, pm = np.nanmean(g, axis=1), np.nanmean(p, axis=1)
    every = np.ones(len(pm), dtype=bool)
    cut = np.nanquantile(sign * pm, TOP_FRACTION)
    top = sign * pm <= cut

    def pairs(a: np.ndarray, b: np.ndarray | None, mask: np.ndarray) -> float:
        idx = (
            combinations(range(a.shape[1]), 2) if b is None else product(range(a.shape[1]), range(b.shape[1]))
        )
        vals = [_rho(a[:, i], (a if b is None else b)[:, j], mask) for i, j in idx]
        return float(np.nanmean(vals)) if vals else float("nan")

    ratio = np.exp(gm - pm)
    return Agreement(
        generated=generated.name,
        published=published.name,
        metric=metric,
        n_shared=len(pm),
        n_top=int(top.sum()),
        means=(_rho(gm, pm, every), _rho(gm, pm, top)),
        seed_vs_seed=(pairs(g, p, every), pairs(g, p, top)),
        published_seeds=(pairs(p, None, every), pairs(p, None, top)),
        generated_seeds=(pairs(g, None, every), pairs(g, None, top)),
        median_ratio=(float(np.nanmedian(ratio)), float(np.nanmedian(ratio[top]))),
        best=(float(np.exp(np.nanmin(sign * gm) * sign)), float(np.exp(np.nanmin(sign * pm) * sign))),
    )


def retrain_top(
    generated: TabularBenchmark,
    published: TabularBenchmark,
    n: int,
    *,
    seed: int = 0,
    threads: int = 1,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train the ``n`` shared configurations that are best in the published table again, with the current
    protocol (the current dataset revision), and put each beside the generated table and the published mean.

    The check that a protocol change (a target column, an optimizer setting) closes a gap: the table's value
    is the protocol it was made with, ``now`` the current one.
    """
    import torch
    from tqdm.auto import tqdm

    from .engine import train_group  # lazy: imports torch, which only the retraining check needs
    from .families import get_family  # lazy: imports torch, which only the retraining check needs
    from .rng import run_key  # lazy: imports torch, which only the retraining check needs
    from .verify import sweep_settings  # lazy: imports torch, which only the retraining check needs

    metric = published.objective
    names = list(published.space.keys())
    pids = published.config_ids(generated.table.configs[names])
    pub = np.exp(
        np.nanmean(np.log(np.asarray(published.table.arrays[metric][pids][:, :, -1], dtype=np.float64)), 1)
    )
    order = np.argsort(published.metric(metric).sign * pub)[:n]
    sweep = sweep_settings(generated.table)
    family = get_family(sweep["family"])
    data = load_splits(
        sweep["dataset"],
        split_seed=sweep["split_seed"],
        max_train_rows=sweep.get("max_train_rows"),
        train_fraction=sweep.get("train_fraction"),
        **family.preprocessing,
    )
    gi = generated.fidelity.values.index(published.fidelity.max)
    si = generated.seeds.index(seed)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    out = []
    try:
        for cid in tqdm(order.tolist(), desc="re-training", disable=not progress):
            config = generated.config(cid)
            spec = family.build(
                [config],
                [run_key(config, seed)],
                data,
                epochs=int(sweep["epochs"]),
                device=torch.device("cpu"),
            )
            now = np.asarray(train_group(spec, data).metrics[metric]).reshape(-1)[gi]
            out.append(
                {
                    "config_id": int(cid),
                    "now": float(now),
                    "table": float(generated.table.arrays[metric][cid, si, gi]),
                    "published_mean": float(pub[cid]),
                    "dataset_revision": data.provenance["revision"],
                    "table_dataset_revision": int(sweep.get("dataset_revision", 1)),
                }
            )
    finally:
        torch.set_num_threads(before)
    return out


def render(a: Agreement) -> str:
    rows = [
        ("generated vs published, seed means", a.means),
        ("one generated seed vs one published seed", a.seed_vs_seed),
        ("published seeds with each other (ceiling)", a.published_seeds),
        ("generated seeds with each other", a.generated_seeds),
    ]
    out = [
        f"{a.generated} vs {a.published}: {a.metric} at the published fidelity, log scale, "
        f"{a.n_shared} shared configurations ({a.n_top} in the published top decile)",
        f"  {'Spearman rho':<44}{'overall':>9}{'top decile':>12}",
    ]
    out += [f"  {name:<44}{v[0]:>9.3f}{v[1]:>12.3f}" for name, v in rows]
    out.append(
        f"  {'median ratio generated / published':<44}{a.median_ratio[0]:>9.3g}{a.median_ratio[1]:>12.3g}"
    )
    out.append(
        f"  best seed mean on the shared configurations: generated {a.best[0]:.3g}, published {a.best[1]:.3g}"
    )
    out.append(f"  verdict: {a.verdict()}")
    return "\n".join(out)


#: the most published configurations ``retrain`` re-trains
MAX_RETRAIN = 1000


@dataclass
class FaithfulnessArgs:
    """``python -m data.faithfulness``'s keys."""

    tables: list[str] = key_field(
        help="generated tables (e.g. fcnet-naval); each is compared with pub-<name>", positional=True
    )
    published: str | None = key_field(None, "the published table to compare with (default: pub-<table>)")
    json: bool = key_field(False, "print JSON")
    retrain: int = key_field(
        0,
        f"also re-train the N best published configurations with the current protocol (seed 0), 0..{MAX_RETRAIN}",
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m data.faithfulness tables=[...] [key=value ...]``: a bad key or value (or table) prints
    ``error: <message>`` and returns 2."""
    try:
        _, args = parse_command(
            argv, FaithfulnessArgs, module="data.faithfulness", description=__doc__.splitlines()[0]
        )
        if not args.tables:
            raise UsageError("tables=[] names no table; give one or more, e.g. tables=[fcnet-naval]")
        if not 0 <= args.retrain <= MAX_RETRAIN:
            raise UsageError(f"retrain={args.retrain} is outside the allowed 0..{MAX_RETRAIN}")
    except CurveBenchError as e:
        return usage_status(e)
    results: list[dict[str, Any]] = []
    try:
        for name in args.tables:
            g, p = benchmarks.load(name), benchmarks.load(args.published or f"pub-{name}")
            a = compare(g, p)
            results.append({**asdict(a), "verdict": a.verdict()})
            if not args.json:
                print(render(a) + "\n")
            if args.retrain:
                rows = retrain_top(g, p, args.retrain, progress=not args.json)
                results[-1]["retrained"] = rows
                if not args.json:
                    print(
                        f"  re-trained now (dataset revision {rows[0]['dataset_revision']}) vs the table "
                        f"(revision {rows[0]['table_dataset_revision']}) vs the published seed mean, seed 0:"
                    )
                    for r in rows:
                        print(
                            f"    config {r['config_id']:>5}  now {r['now']:.3g}  table {r['table']:.3g}  "
                            f"published {r['published_mean']:.3g}"
                        )
                    print()
    except CurveBenchError as e:
        return usage_status(e)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
