"""Do optimizers rank the same on a table and on its surrogate? The runner study behind the card's last part.

    python -m surrogates.card_study                    every shipped surrogate with a card
    python -m surrogates.card_study fcnet-naval --seeds 5 --budget 20

This module imports ``runners`` (the simulator and the optimizers), so it is a
study built on top of both packages: nothing in the surrogates core imports it.

Protocol: each optimizer (default: random search, Hyperband, ASHA,
regularized evolution, BOHB) runs with ``n_workers`` asynchronous workers on
the simulated clock, for ``n_seeds`` run seeds, with the same budget of
full-fidelity-equivalent evaluations, once on the table benchmark and once on
the surrogate benchmark (which samples from the whole space). Each run's
result is its final incumbent: the best objective value it observed. Per
benchmark, the optimizers are ordered by their mean final incumbent over the
seeds; the agreement is Kendall's tau between the two orderings (1: the same
ranking). Regrets are reported against each benchmark's own optimum. The
result is merged into the surrogate's ``card.json`` and ``card.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from benchmarks.catalog import is_available, load
from benchmarks.protocol import Benchmark
from runners.optimizers import OPTIMIZERS
from runners.simulator import Budget, simulate

from .benchmark import SurrogateBenchmark, shipped_path
from .quality import card_markdown, write_card

DEFAULT_OPTIMIZERS = ("rs", "hyperband", "asha", "re", "bohb")


def _final_incumbents(bench: Benchmark, optimizer: str, seeds: Sequence[int], n_workers: int, budget: float) -> list[float]:
    sign = bench.objective_metric.sign
    out = []
    for s in seeds:
        run = simulate(bench, OPTIMIZERS[optimizer], seed=int(s), n_workers=n_workers, budget=Budget("evaluations", budget))
        obj = run.events["objective"].to_numpy(dtype=np.float64)
        obj = obj[np.isfinite(obj)]
        out.append(float(sign * np.min(sign * obj)) if obj.size else math.nan)
    return out


def ranking_agreement(
    table: Benchmark,
    surrogate: Benchmark,
    *,
    optimizers: Sequence[str] = DEFAULT_OPTIMIZERS,
    n_seeds: int = 5,
    n_workers: int = 4,
    budget: float = 20.0,
) -> dict[str, Any]:
    """Kendall's tau between the optimizer rankings on ``table`` and on ``surrogate`` (see the module docstring)."""
    unknown = [o for o in optimizers if o not in OPTIMIZERS]
    if unknown:
        raise ValueError(f"unknown optimizer(s) {unknown}; allowed: {', '.join(OPTIMIZERS)}")
    if len(optimizers) < 2:
        raise ValueError(f"a ranking needs at least 2 optimizers, got {list(optimizers)}")
    seeds = list(range(n_seeds))
    res: dict[str, dict[str, float]] = {"table": {}, "surrogate": {}}
    raw: dict[str, dict[str, list[float]]] = {"table": {}, "surrogate": {}}
    for side, bench in (("table", table), ("surrogate", surrogate)):
        best = bench.optimum()
        sign = bench.objective_metric.sign
        for o in optimizers:
            inc = _final_incumbents(bench, o, seeds, n_workers, budget)
            raw[side][o] = inc
            res[side][o] = float(sign * (np.nanmean(inc) - best))  # mean final regret, >= 0
    a = [res["table"][o] for o in optimizers]
    b = [res["surrogate"][o] for o in optimizers]
    tau = float(kendalltau(a, b)[0])  # NaN when one side ranks every optimizer equal
    return {
        "optimizers": list(optimizers),
        "n_seeds": n_seeds,
        "n_workers": n_workers,
        "budget": {"kind": "evaluations", "amount": budget},
        "kendall_tau": tau,
        "table": res["table"],
        "surrogate": res["surrogate"],
        "final_incumbents": raw,
        "note": "ranked by mean final regret over seeds; regret against each benchmark's own optimum",
    }


def main(argv: list[str] | None = None) -> int:
    from .build import catalog_model, default_tables

    ap = argparse.ArgumentParser(prog="python -m surrogates.card_study", description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="*", help="tables whose surrogate card to complete (default: all shipped)")
    ap.add_argument("--model", default=None, help="default: the model the catalog names for each table")
    ap.add_argument("--optimizers", default=",".join(DEFAULT_OPTIMIZERS), help="comma-separated optimizer names")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--budget", type=float, default=20.0, help="full-fidelity-equivalent evaluations per run")
    args = ap.parse_args(argv)
    for t in args.tables or default_tables():
        path = shipped_path(t, args.model or catalog_model(t))
        if not is_available(t)[0] or not (path / "card.json").is_file():
            print(f"skip {t}: table or fitted surrogate with a card missing (make tables; make surrogates)")
            continue
        card = json.loads((path / "card.json").read_text())
        table = load(t)
        if len(table.fidelity.values) < 2:
            print(f"skip {t}: one fidelity, so the multi-fidelity optimizers cannot differ from random search")
            continue
        rk = ranking_agreement(
            table, SurrogateBenchmark.from_path(path, name=f"{t}-surrogate"),
            optimizers=args.optimizers.split(","), n_seeds=args.seeds, n_workers=args.workers, budget=args.budget,
        )
        card["optimizer_ranking"] = rk
        write_card(card, path, "card")
        print(f"{t}: Kendall tau between optimizer rankings on table and surrogate = {rk['kendall_tau']:.3f}")
    return 0


__all__ = ["DEFAULT_OPTIMIZERS", "card_markdown", "main", "ranking_agreement"]

if __name__ == "__main__":
    sys.exit(main())
